//! Both KV engines pass the backend conformance suite (`strongroom_logical::testing`): every
//! declared path is served by its own endpoint with the declared operations only, wrongly typed
//! fields are Vault's 400s and change nothing, and unknown paths are `unsupported path`.

use strongroom_kv::{KvV1, KvV2};
use strongroom_logical::testing::{assert_conformance, context};

#[tokio::test]
async fn kv_v1_conforms() {
    let kv = KvV1::new();
    let report = assert_conformance(&kv, &context("kv/")).await;
    // One catch-all endpoint that takes arbitrary input: no typed body fields, no unknown path.
    assert_eq!(report.endpoints, 1);
    assert_eq!(report.unknown_paths, 0);
    assert!(report.served >= 5, "{report:?}");
}

#[tokio::test]
async fn kv_v2_conforms() {
    let kv = KvV2::new();
    let report = assert_conformance(&kv, &context("secret/")).await;
    assert!(report.bad_fields > 0, "{report:?}");
    assert!(report.unknown_paths > 0, "{report:?}");
}
