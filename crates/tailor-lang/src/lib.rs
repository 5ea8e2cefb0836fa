//! The Tailor rules language front end: grammar, parsing to a typed AST with spans,
//! diagnostics, and the canonical pretty-printer.
//!
//! This crate knows nothing of evaluation, scripts, storage or HTTP: it turns text into
//! [`ast::File`]s and reports what is wrong with the text.
//!
//! ```
//! use tailor_lang::{parse_file, print_file, FileId};
//!
//! let (file, diags) = parse_file(FileId(0), "segment senior = profile.age >= 60");
//! assert!(diags.is_empty());
//! assert_eq!(print_file(&file), "segment senior = profile.age >= 60\n");
//! ```

pub mod ast;
pub mod diagnostic;
mod erase;
mod lower;
pub mod printer;
pub mod span;

pub use diagnostic::{Diagnostic, Diagnostics, Label, Severity, suggest};
pub use erase::map_expr_spans;
pub use lower::{parse_expr, parse_file};
pub use printer::{format_file, print_expr, print_file};
pub use span::{FileId, Source, SourceMap, Span};

/// The reserved words of language.md §2: they cannot be names.
pub const KEYWORDS: [&str; 49] = [
    "and",
    "or",
    "not",
    "in",
    "intersects",
    "matches",
    "exists",
    "true",
    "false",
    "profile",
    "content",
    "edition",
    "segment",
    "script",
    "rule",
    "learn",
    "on",
    "when",
    "pick",
    "from",
    "where",
    "order",
    "by",
    "asc",
    "desc",
    "newest",
    "oldest",
    "drop",
    "priority",
    "cap",
    "per",
    "repeat",
    "after",
    "sections",
    "max",
    "min",
    "fallback",
    "title",
    "timezone",
    "fn",
    "set",
    "unset",
    "add",
    "remove",
    "incr",
    "to",
    "now",
    "event",
    "block",
];
