//! The memory backend against the conformance suite and the model.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::sync::Arc;

use strongroom_storage::{MemoryStorage, conformance};

strongroom_storage::conformance_tests!(|_name: &'static str| async { Some(MemoryStorage::new()) });

#[test]
fn matches_the_model() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    conformance::model_test(&runtime, Arc::new(MemoryStorage::new()), 512);
}
