//! Compiled schemas: the declared fields of profiles and blocks, each with a slot index so
//! that records are vectors and evaluation does no field-name lookups.

use std::collections::HashMap;

use tailor_lang::ast::Type;

/// One declared field.
#[derive(Debug, Clone)]
pub struct Field {
    /// `family.grandson.city` as its parts.
    pub path: Vec<String>,
    pub dotted: String,
    pub ty: Type,
}

/// The fields of one record kind; a field's slot is its index in `fields`.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    pub fields: Vec<Field>,
    by_name: HashMap<String, usize>,
}

impl Schema {
    pub fn push(&mut self, dotted: &str, ty: Type) -> usize {
        let slot = self.fields.len();
        self.fields.push(Field {
            path: dotted.split('.').map(str::to_owned).collect(),
            dotted: dotted.to_owned(),
            ty,
        });
        self.by_name.insert(dotted.to_owned(), slot);
        slot
    }

    pub fn slot(&self, dotted: &str) -> Option<usize> {
        self.by_name.get(dotted).copied()
    }

    pub fn field(&self, slot: usize) -> Option<&Field> {
        self.fields.get(slot)
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|f| f.dotted.as_str())
    }
}

/// Slots of the built-in block fields (language.md §3); `content { … }` fields follow them.
pub mod block {
    pub const ID: usize = 0;
    pub const SECTION: usize = 1;
    pub const TITLE: usize = 2;
    pub const SUMMARY: usize = 3;
    pub const URL: usize = 4;
    pub const IMAGE: usize = 5;
    pub const TAGS: usize = 6;
    pub const PUBLISHED: usize = 7;
    pub const EXPIRES: usize = 8;
}

/// The profile's built-in `id` is slot 0.
pub const PROFILE_ID: usize = 0;

pub fn block_builtins() -> Schema {
    let mut s = Schema::default();
    for (name, ty) in [
        ("id", Type::String),
        ("section", Type::String),
        ("title", Type::String),
        ("summary", Type::String),
        ("url", Type::String),
        ("image", Type::String),
        ("tags", Type::SetString),
        ("published", Type::Time),
        ("expires", Type::Time),
    ] {
        s.push(name, ty);
    }
    s
}

pub fn profile_builtins() -> Schema {
    let mut s = Schema::default();
    s.push("id", Type::String);
    s
}

/// Required block fields (language.md §3).
pub const REQUIRED_BLOCK_FIELDS: [&str; 4] = ["id", "section", "title", "published"];

/// Event fields (language.md §7) and their types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventField {
    Kind,
    At,
    Text,
    Key,
    Url,
    Lat,
    Lon,
    Precision,
    /// `open` (language.md §12): the opened item's reason, a rule name or `fallback`.
    Rule,
    /// `open` (language.md §12): the opened item's section.
    Section,
    /// `open` (language.md §12): when the digest that carried the opened item was sent.
    Delivered,
}

impl EventField {
    pub const ALL: [EventField; 11] = [
        EventField::Kind,
        EventField::At,
        EventField::Text,
        EventField::Key,
        EventField::Url,
        EventField::Lat,
        EventField::Lon,
        EventField::Precision,
        EventField::Rule,
        EventField::Section,
        EventField::Delivered,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventField::Kind => "kind",
            EventField::At => "at",
            EventField::Text => "text",
            EventField::Key => "key",
            EventField::Url => "url",
            EventField::Lat => "lat",
            EventField::Lon => "lon",
            EventField::Precision => "precision",
            EventField::Rule => "rule",
            EventField::Section => "section",
            EventField::Delivered => "delivered",
        }
    }

    pub fn ty(self) -> Type {
        match self {
            EventField::Kind
            | EventField::Text
            | EventField::Key
            | EventField::Url
            | EventField::Rule
            | EventField::Section => Type::String,
            EventField::At | EventField::Delivered => Type::Time,
            EventField::Lat | EventField::Lon | EventField::Precision => Type::Float,
        }
    }

    pub fn parse(s: &str) -> Option<EventField> {
        EventField::ALL.into_iter().find(|f| f.name() == s)
    }
}
