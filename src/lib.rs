//! Tailor facade: re-exports the language front end and the engine. The package also
//! holds the repository-level tests (the editor grammar) and the benches; the benches'
//! workload generator is the unpublished crate `tailor-workload`.
pub use tailor_engine as engine;
pub use tailor_lang as lang;
