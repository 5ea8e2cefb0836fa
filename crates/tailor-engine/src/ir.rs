//! The compiled form of a package: names resolved to indexes, fields to slots, regexes
//! compiled, rules sorted in evaluation order. Immutable once built.

use std::sync::Arc;

use jiff::SignedDuration;
use tailor_lang::Span;
use tailor_lang::ast::{BinaryOp, EventKind};

use crate::schema::EventField;
use crate::value::{Ty, Value};

/// A typed, resolved expression.
#[derive(Debug, Clone)]
pub enum CExpr {
    Const(Value),
    Now,
    Profile(usize),
    Block(usize),
    Event(EventField),
    /// A bare record, only as a script argument.
    Record(tailor_lang::ast::Root),
    Segment(usize),
    Index(Box<CExpr>, Box<CExpr>),
    Call(Builtin, Vec<CExpr>),
    Script(ScriptCall),
    Not(Box<CExpr>),
    Neg(Box<CExpr>),
    And(Box<CExpr>, Box<CExpr>),
    Or(Box<CExpr>, Box<CExpr>),
    /// Comparisons, membership and arithmetic.
    Binary(BinaryOp, Box<CExpr>, Box<CExpr>),
    Matches(Box<CExpr>, Arc<regex::Regex>),
    Exists(Box<CExpr>),
}

impl CExpr {
    pub fn walk(&self, f: &mut dyn FnMut(&CExpr)) {
        f(self);
        match self {
            CExpr::Const(_)
            | CExpr::Now
            | CExpr::Profile(_)
            | CExpr::Block(_)
            | CExpr::Event(_)
            | CExpr::Record(_)
            | CExpr::Segment(_) => {}
            CExpr::Index(a, b) | CExpr::And(a, b) | CExpr::Or(a, b) | CExpr::Binary(_, a, b) => {
                a.walk(f);
                b.walk(f);
            }
            CExpr::Call(_, args) => args.iter().for_each(|a| a.walk(f)),
            CExpr::Script(c) => c.args.iter().for_each(|a| a.walk(f)),
            CExpr::Not(a) | CExpr::Neg(a) | CExpr::Matches(a, _) | CExpr::Exists(a) => a.walk(f),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ScriptCall {
    pub script: usize,
    pub func: usize,
    pub args: Vec<CExpr>,
    pub ret: Ty,
    pub span: Span,
}

/// A built-in function (language.md §7.5): an entry of the one table in `builtins.rs`.
pub use crate::builtins::Builtin;

/// The compiled edition.
#[derive(Debug, Clone)]
pub struct CEdition {
    pub name: String,
    pub title: Option<String>,
    pub timezone: jiff::tz::TimeZone,
    pub timezone_name: String,
    pub max: usize,
    pub min: usize,
    /// Sections in display order with their quotas.
    pub sections: Vec<(String, usize)>,
    pub cap: Option<CCap>,
    pub repeat: Option<SignedDuration>,
    pub fallback: Vec<CPick>,
}

impl CEdition {
    pub fn section_index(&self, name: &str) -> Option<usize> {
        self.sections.iter().position(|(n, _)| n == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CCap {
    pub count: usize,
    pub per: SignedDuration,
}

#[derive(Debug, Clone)]
pub struct CSegment {
    pub name: String,
    pub expr: CExpr,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum COrder {
    Newest,
    Oldest,
    Asc(CExpr),
    Desc(CExpr),
}

#[derive(Debug, Clone)]
pub struct CPick {
    pub count: usize,
    /// Index into the edition's sections.
    pub section: usize,
    pub filter: Option<CExpr>,
    pub order: COrder,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum CAction {
    Pick(CPick),
    Drop { filter: CExpr, span: Span },
}

#[derive(Debug, Clone)]
pub struct CRule {
    pub name: String,
    pub on: Vec<EventKind>,
    pub priority: i64,
    pub when: Option<CExpr>,
    pub actions: Vec<CAction>,
    pub cap: Option<CCap>,
    pub span: Span,
}

impl CRule {
    pub fn answers(&self, kind: EventKind) -> bool {
        self.on.contains(&kind)
    }

    pub fn picks(&self) -> impl Iterator<Item = &CPick> {
        self.actions.iter().filter_map(|a| match a {
            CAction::Pick(p) => Some(p),
            CAction::Drop { .. } => None,
        })
    }

    pub fn drops(&self) -> impl Iterator<Item = &CExpr> {
        self.actions.iter().filter_map(|a| match a {
            CAction::Drop { filter, .. } => Some(filter),
            CAction::Pick(_) => None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct CLearn {
    pub on: Vec<EventKind>,
    pub when: Option<CExpr>,
    pub stmts: Vec<CStmt>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum CStmt {
    Set { slot: usize, value: CExpr },
    Unset { slot: usize },
    Add { slot: usize, value: CExpr },
    Remove { slot: usize, value: CExpr },
    Incr { slot: usize, key: CExpr, by: CExpr },
}

/// A declared script: its functions' signatures; the compiled code lives in the script host.
#[derive(Debug, Clone)]
pub struct CScript {
    pub name: String,
    pub path: String,
    pub fns: Vec<CScriptFn>,
    /// The path's string literal, where errors about the file point.
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct CScriptFn {
    pub name: String,
    pub params: Vec<Ty>,
    pub ret: Ty,
    pub span: Span,
}
