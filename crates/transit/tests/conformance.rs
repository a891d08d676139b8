//! Transit passes the backend conformance suite (`strongroom_logical::testing`): every declared
//! path is served by its own endpoint with the declared operations only, wrongly typed fields are
//! Vault's 400s and change nothing, and unknown paths are `unsupported path`.

use strongroom_logical::testing::{assert_conformance, context};
use strongroom_transit::Transit;

#[tokio::test]
async fn transit_conforms() {
    let transit = Transit::new();
    let report = assert_conformance(&transit, &context("transit/")).await;
    assert!(report.bad_fields > 0, "{report:?}");
    assert!(report.unknown_paths > 0, "{report:?}");
}
