//! The outcome of an evaluation (§11) and its JSON form.

use jiff::Timestamp;
use serde_json::{Map, Value as J, json};
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

/// The reason an item chosen by the edition's fallback gives (§10 step 5).
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

/// A script call that failed (§8): it did not stop the evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    pub script: String,
    pub function: String,
    pub user: String,
    /// The block being looked at, for calls in `where`, `order by` and `drop where`.
    pub block: Option<String>,
    pub error: String,
}

/// One learn statement applied (§9).
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
    /// The outcome object of §11. `learned` appears only when something was learned.
    pub fn to_json(&self) -> J {
        let mut o = Map::new();
        o.insert("outcome".into(), J::from(self.kind.name()));
        o.insert("user".into(), J::from(self.user.clone()));
        o.insert("edition".into(), J::from(self.edition.clone()));
        o.insert("event".into(), J::from(self.event.name()));
        o.insert("at".into(), J::from(self.at_local.clone()));
        if let Some(r) = &self.reason {
            o.insert("reason".into(), J::from(r.clone()));
        }
        let items: Vec<J> = self
            .items
            .iter()
            .map(|i| {
                let mut m = Map::new();
                m.insert("id".into(), J::from(i.id));
                m.insert("section".into(), J::from(i.section));
                m.insert("title".into(), J::from(i.title));
                for (k, v) in [
                    ("summary", &i.summary),
                    ("url", &i.url),
                    ("image", &i.image),
                ] {
                    if let Some(v) = v {
                        m.insert(k.into(), J::from(*v));
                    }
                }
                m.insert("reasons".into(), json!(i.reasons));
                J::Object(m)
            })
            .collect();
        o.insert("items".into(), J::Array(items));
        o.insert("fired".into(), json!(self.fired));
        let errors: Vec<J> = self
            .errors
            .iter()
            .map(|e| {
                let mut m = Map::new();
                m.insert("script".into(), J::from(e.script.clone()));
                m.insert("function".into(), J::from(e.function.clone()));
                m.insert("user".into(), J::from(e.user.clone()));
                if let Some(b) = &e.block {
                    m.insert("block".into(), J::from(b.clone()));
                }
                m.insert("error".into(), J::from(e.error.clone()));
                J::Object(m)
            })
            .collect();
        o.insert("errors".into(), J::Array(errors));
        if !self.learned.is_empty() {
            let learned: Vec<J> = self
                .learned
                .iter()
                .map(|l| {
                    let mut m = Map::new();
                    m.insert("op".into(), J::from(l.op));
                    m.insert("field".into(), J::from(l.field.clone()));
                    if let Some(k) = &l.key {
                        m.insert("key".into(), J::from(k.clone()));
                    }
                    if let Some(v) = &l.value {
                        m.insert("value".into(), v.clone());
                    }
                    if let Some(b) = &l.by {
                        m.insert("by".into(), b.clone());
                    }
                    J::Object(m)
                })
                .collect();
            o.insert("learned".into(), J::Array(learned));
        }
        J::Object(o)
    }

    /// The delivery record to keep in history when this outcome is delivered (§11);
    /// `None` unless the outcome is a digest.
    pub fn delivery(&self) -> Option<crate::data::Delivery> {
        (self.kind == OutcomeKind::Digest).then(|| crate::data::Delivery {
            user: self.user.clone(),
            at: self.at,
            event: self.event,
            blocks: self.items.iter().map(|i| i.id.to_owned()).collect(),
            fired: self.fired.iter().map(|&f| f.to_owned()).collect(),
        })
    }
}
