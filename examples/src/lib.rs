//! Runnable examples: see `examples/*.rs` and the README.
