//! The comparison harness lives in `benches/peers.rs`
//! (`cargo bench --manifest-path crates/tailor-peers/Cargo.toml --bench peers`): Tailor's
//! indexed and reference evaluators beside a rhai baseline and zen-engine, on the same
//! generated workload (`tailor-workload`), with every peer's matches checked equal. This
//! library is empty; the package is a workspace of its own (excluded from the root one) to
//! keep zen-engine's dependencies out of every other build. See BENCHMARKS.md, "Peers".
