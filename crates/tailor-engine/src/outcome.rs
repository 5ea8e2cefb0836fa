//! The outcome of an evaluation (language.md §11) and its JSON form.

use jiff::Timestamp;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value as J;
use tailor_lang::ast::EventKind;

/// `digest`, `quiet` or `empty`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeKind {
    Digest,
    Quiet,
    Empty,
}

impl OutcomeKind {
    pub fn name(self) -> &'static str {
        match self {
            OutcomeKind::Digest => "digest",
            OutcomeKind::Quiet => "quiet",
            OutcomeKind::Empty => "empty",
        }
    }
}

/// Which pick chose an item: a rule's pick or the edition's fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickSource {
    /// Index of the rule in evaluation order, index of the pick among its picks.
    Rule {
        rule: usize,
        pick: usize,
    },
    Fallback {
        pick: usize,
    },
}

/// The reason an item chosen by the edition's fallback gives (language.md §10 step 5).
pub const FALLBACK: &str = "fallback";

/// One item of the digest.
///
/// The strings are borrowed from the catalog's block and the package's rule names for
/// `'a`, the life of the package (or index) and catalog evaluated: assembling a digest
/// copies no text and touches no reference count, so threads serving the same blocks
/// and rules do not contend. [`Outcome::to_json`] and [`Outcome::delivery`] give owned
/// forms.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestItem<'a> {
    pub id: &'a str,
    pub section: &'a str,
    pub title: &'a str,
    pub summary: Option<&'a str>,
    pub url: Option<&'a str>,
    pub image: Option<&'a str>,
    pub reasons: Vec<&'a str>,
    pub source: PickSource,
}

/// A script call that failed (language.md §8): it did not stop the evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    pub script: String,
    pub function: String,
    pub user: String,
    /// The block being looked at, for calls in `where`, `order by` and `drop where`.
    pub block: Option<String>,
    /// The message the outcome shows (`failure`'s text, with a note when the call was
    /// skipped because an earlier one ran past its budget).
    pub error: String,
    /// Why it failed, for code that branches on it (not serialized).
    pub failure: crate::script::ScriptFailure,
}

/// One learn statement applied (language.md §9).
#[derive(Debug, Clone, PartialEq)]
pub struct Learned {
    pub op: &'static str,
    pub field: String,
    pub value: Option<J>,
    pub key: Option<String>,
    pub by: Option<J>,
}

/// The outcome of one event for one user.
///
/// Rule names and items borrow from the package (or index) and catalog that were
/// evaluated, for `'a` (see [`DigestItem`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome<'a> {
    pub kind: OutcomeKind,
    pub user: String,
    pub edition: String,
    pub event: EventKind,
    pub at: Timestamp,
    /// `at` as RFC 3339 in the edition's time zone.
    pub at_local: String,
    /// Why the outcome is `quiet`.
    pub reason: Option<String>,
    pub items: Vec<DigestItem<'a>>,
    /// Fired rules in evaluation order, borrowed from the package's rule names.
    pub fired: Vec<&'a str>,
    pub errors: Vec<ScriptError>,
    pub learned: Vec<Learned>,
}

impl Outcome<'_> {
    /// The outcome object of language.md §11. `learned` appears only when something was learned.
    ///
    /// The same object as this type's `Serialize` (which writes it without building a
    /// tree: `serde_json::to_string(&outcome)` is the fast way to its text).
    pub fn to_json(&self) -> J {
        // Cannot fail: every key is a string and every value a string, an array of
        // strings or a JSON value.
        serde_json::to_value(self).unwrap_or(J::Null)
    }

    /// [`Outcome::to_json`] as compact text, written directly instead of through a tree
    /// of values: the same text as `to_json().to_string()`, in a fraction of the time
    /// (`tailor batch` writes one per reader).
    pub fn to_json_string(&self) -> String {
        // Cannot fail, as `to_json`.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("null"))
    }

    /// The delivery record to keep in history when this outcome is delivered (language.md §11);
    /// `None` unless the outcome is a digest.
    pub fn delivery(&self) -> Option<crate::data::Delivery> {
        (self.kind == OutcomeKind::Digest).then(|| crate::data::Delivery {
            user: self.user.clone(),
            at: self.at,
            event: self.event,
            blocks: self.items.iter().map(|i| i.id.to_owned()).collect(),
            fired: self.fired.iter().map(|&f| f.to_owned()).collect(),
            items: self
                .items
                .iter()
                .map(|i| crate::data::DeliveredItem {
                    id: i.id.to_owned(),
                    section: i.section.to_owned(),
                    // The item's reason: the rule that chose it, or `fallback`.
                    rule: i.reasons.first().copied().unwrap_or("fallback").to_owned(),
                    url: i.url.unwrap_or("").to_owned(),
                })
                .collect(),
        })
    }
}

/// The outcome object of language.md §11, in this key order: `outcome`, `user`, `edition`, `event`,
/// `at`, `reason` (when quiet), `items`, `fired`, `errors`, `learned` (when something was
/// learned).
impl Serialize for Outcome<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("outcome", self.kind.name())?;
        m.serialize_entry("user", &self.user)?;
        m.serialize_entry("edition", &self.edition)?;
        m.serialize_entry("event", self.event.name())?;
        m.serialize_entry("at", &self.at_local)?;
        if let Some(r) = &self.reason {
            m.serialize_entry("reason", r)?;
        }
        m.serialize_entry("items", &self.items)?;
        m.serialize_entry("fired", &self.fired)?;
        m.serialize_entry("errors", &self.errors)?;
        if !self.learned.is_empty() {
            m.serialize_entry("learned", &self.learned)?;
        }
        m.end()
    }
}

/// An item: `id`, `section`, `title`, then `summary`, `url` and `image` when present,
/// and `reasons`.
impl Serialize for DigestItem<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", self.id)?;
        m.serialize_entry("section", self.section)?;
        m.serialize_entry("title", self.title)?;
        for (k, v) in [
            ("summary", self.summary),
            ("url", self.url),
            ("image", self.image),
        ] {
            if let Some(v) = v {
                m.serialize_entry(k, v)?;
            }
        }
        m.serialize_entry("reasons", &self.reasons)?;
        m.end()
    }
}

/// `script`, `function`, `user`, `block` (when the call looked at one), `error`.
impl Serialize for ScriptError {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("script", &self.script)?;
        m.serialize_entry("function", &self.function)?;
        m.serialize_entry("user", &self.user)?;
        if let Some(b) = &self.block {
            m.serialize_entry("block", b)?;
        }
        m.serialize_entry("error", &self.error)?;
        m.end()
    }
}

/// `op`, `field`, then `key`, `value` and `by` when present.
impl Serialize for Learned {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("op", self.op)?;
        m.serialize_entry("field", &self.field)?;
        if let Some(k) = &self.key {
            m.serialize_entry("key", k)?;
        }
        if let Some(v) = &self.value {
            m.serialize_entry("value", v)?;
        }
        if let Some(b) = &self.by {
            m.serialize_entry("by", b)?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    /// The text of language.md §11's object, key by key: order, and which keys appear when.
    #[test]
    fn outcome_text_has_the_keys_in_order_and_only_when_present() {
        let item = |summary: Option<&'static str>| DigestItem {
            id: "b1",
            section: "local",
            title: "T",
            summary,
            url: Some("https://x/1"),
            image: None,
            reasons: vec!["r1", "r2"],
            source: PickSource::Fallback { pick: 0 },
        };
        let mut o = Outcome {
            kind: OutcomeKind::Digest,
            user: "u".into(),
            edition: "morning".into(),
            event: EventKind::Enter,
            at: Timestamp::UNIX_EPOCH,
            at_local: "1970-01-01T08:00:00+08:00".into(),
            reason: None,
            items: vec![item(Some("S")), item(None)],
            fired: vec!["r1", "r2"],
            errors: vec![ScriptError {
                script: "s".into(),
                function: "f".into(),
                user: "u".into(),
                block: Some("b1".into()),
                error: "boom".into(),
                failure: crate::script::ScriptFailure::Runtime("boom".into()),
            }],
            learned: vec![Learned {
                op: "add",
                field: "reads".into(),
                value: None,
                key: Some("k".into()),
                by: Some(J::from(1)),
            }],
        };
        let want = concat!(
            r#"{"outcome":"digest","user":"u","edition":"morning","event":"enter","#,
            r#""at":"1970-01-01T08:00:00+08:00","items":["#,
            r#"{"id":"b1","section":"local","title":"T","summary":"S","url":"https://x/1","reasons":["r1","r2"]},"#,
            r#"{"id":"b1","section":"local","title":"T","url":"https://x/1","reasons":["r1","r2"]}],"#,
            r#""fired":["r1","r2"],"errors":[{"script":"s","function":"f","user":"u","block":"b1","error":"boom"}],"#,
            r#""learned":[{"op":"add","field":"reads","key":"k","by":1}]}"#
        );
        assert_eq!(o.to_json_string(), want);
        assert_eq!(o.to_json().to_string(), want);

        o.kind = OutcomeKind::Quiet;
        o.reason = Some("cap".into());
        o.items.clear();
        o.errors[0].block = None;
        o.learned.clear();
        let want = concat!(
            r#"{"outcome":"quiet","user":"u","edition":"morning","event":"enter","#,
            r#""at":"1970-01-01T08:00:00+08:00","reason":"cap","items":[],"fired":["r1","r2"],"#,
            r#""errors":[{"script":"s","function":"f","user":"u","error":"boom"}]}"#
        );
        assert_eq!(o.to_json_string(), want);
    }
}
