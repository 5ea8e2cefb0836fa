//! Tailor facade: re-exports the language front end and the engine, and holds the
//! deterministic workload generator used by benches.
pub use tailor_engine as engine;
pub use tailor_lang as lang;

pub mod workload;
