//! The boundary between the engine and script code: the engine calls declared script
//! functions through [`ScriptHost`]; the rhai implementation lives in `rhai_host`.
//!
//! A call either returns a value of the declared type or a [`ScriptFailure`]. The engine
//! never lets a failure stop an evaluation (language.md §8): the caller decides what it means for the
//! rule, pick or learn item that made the call, and the outcome lists it.

use jiff::tz::TimeZone;

use crate::data::{Block, Event, Profile};
use crate::value::{Ty, Value};

/// One argument of a script call.
#[derive(Debug)]
pub enum ScriptArg<'a> {
    Value(Value),
    Missing,
    Profile(&'a Profile),
    Block(&'a Block),
    Event(&'a Event),
}

/// Why a script call failed. Each limit of `rhai_host::Limits` has its own variant; the
/// text (lowercase, no final period) is what the outcome's `errors` list shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptFailure {
    /// `Limits::operations`: the call ran too long (an endless loop ends here).
    #[error("ran past its budget of {0} operations")]
    TooManyOperations(u64),
    /// `Limits::call_depth`: recursion too deep.
    #[error("nested function calls deeper than {0}")]
    CallTooDeep(usize),
    /// `Limits::expr_depth`: reported when the script is compiled, never at a call.
    #[error("nests expressions deeper than {0}")]
    ExprTooDeep(usize),
    /// `Limits::string_size`.
    #[error("built a string longer than {0} bytes")]
    StringTooLong(usize),
    /// `Limits::array_size`.
    #[error("built an array with more than {0} elements")]
    ArrayTooLarge(usize),
    /// `Limits::map_size`.
    #[error("built a map with more than {0} entries")]
    MapTooLarge(usize),
    /// `Limits::memory`: the call held more data (strings, arrays, maps and blobs
    /// together, counted as `rhai_host` describes) than its arguments plus this many
    /// bytes.
    #[error("held more than {0} bytes of data beyond its arguments")]
    TooMuchMemory(usize),
    /// The result does not convert to the declared return type.
    #[error("returned {found} where the declaration says `{expected}`")]
    WrongType { expected: String, found: String },
    /// The script raised an error (`throw`, a missing function, a bad index, …).
    #[error("failed: {0}")]
    Runtime(String),
    /// No script engine is loaded (a package built with `Package::from_sources`).
    #[error("no script engine is loaded for this package")]
    NoEngine,
}

impl ScriptFailure {
    /// Whether the call used up a per-call budget — operations or memory — rather than
    /// failing on its own terms. Such a function is not called again in the same
    /// evaluation (`eval.rs`): it would most likely spend the whole budget again.
    pub fn spent_a_budget(&self) -> bool {
        matches!(
            self,
            ScriptFailure::TooManyOperations(_) | ScriptFailure::TooMuchMemory(_)
        )
    }
}

/// Calls compiled script functions. Implementations must be pure from the engine's
/// point of view (no I/O visible to evaluation, no clock) and must bound their own
/// running time.
pub trait ScriptHost: Send + Sync + std::fmt::Debug {
    /// Call function `func` of script `script` (indexes into the package's scripts), and
    /// convert the result to `ret`.
    fn call(
        &self,
        script: usize,
        func: usize,
        ret: Ty,
        args: &[ScriptArg<'_>],
        tz: &TimeZone,
    ) -> Result<Value, ScriptFailure>;
}

/// A host for packages without scripts: every call fails.
#[derive(Debug, Default)]
pub struct NoScripts;

impl ScriptHost for NoScripts {
    fn call(
        &self,
        _: usize,
        _: usize,
        _: Ty,
        _: &[ScriptArg<'_>],
        _: &TimeZone,
    ) -> Result<Value, ScriptFailure> {
        Err(ScriptFailure::NoEngine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_are_recognised_by_type() {
        assert!(ScriptFailure::TooManyOperations(20_000).spent_a_budget());
        assert!(ScriptFailure::TooMuchMemory(1 << 20).spent_a_budget());
        for other in [
            ScriptFailure::CallTooDeep(32),
            ScriptFailure::StringTooLong(10),
            ScriptFailure::Runtime("held more than 1 bytes of data beyond its arguments".into()),
        ] {
            assert!(!other.spent_a_budget(), "{other}");
        }
    }
}
