//! The comparison harness lives in `benches/peers.rs` (`cargo bench -p tailor-peers`):
//! Tailor's indexed and reference evaluators beside a rhai baseline and zen-engine, on
//! the same generated workload, with every peer's matches checked equal. This library is
//! empty; the package exists to keep zen-engine's dependencies out of the rest of the
//! workspace. See BENCHMARKS.md, "Peers".
