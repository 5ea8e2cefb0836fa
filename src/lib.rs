//! Tailor facade: re-exports the language front end and the engine.
pub use tailor_engine as engine;
pub use tailor_lang as lang;
