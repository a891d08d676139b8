//! Criterion benches for Strongroom. Nothing to use here: see `benches/` and BENCHMARKS.md.
//!
//! Every bench measures a baseline in the same run (a raw `BTreeMap`, a raw sqlx query) so the
//! figures in BENCHMARKS.md are ratios, not absolute numbers that depend on the machine.
#![forbid(unsafe_code)]
