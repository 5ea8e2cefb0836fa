//! The boundary between the engine and script code: the engine calls declared script
//! functions through [`ScriptHost`]; the rhai implementation lives in `rhai_host`.

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

/// Calls compiled script functions. Implementations must be pure from the engine's
/// point of view (no I/O visible to evaluation) and must bound their own running time.
pub trait ScriptHost: Send + Sync + std::fmt::Debug {
    /// Call function `func` of script `script` (indexes into the package's scripts), and
    /// convert the result to `ret`. `Err` carries a message for the outcome's `errors`.
    fn call(
        &self,
        script: usize,
        func: usize,
        ret: Ty,
        args: &[ScriptArg<'_>],
        tz: &TimeZone,
    ) -> Result<Value, String>;
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
    ) -> Result<Value, String> {
        Err("no script engine is loaded for this package".to_owned())
    }
}
