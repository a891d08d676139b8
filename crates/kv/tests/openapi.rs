//! The OpenAPI document of the KV engines, checked by a real validator (`openapi-spec-validator`,
//! installed by `scripts/services.sh`) and complete: every declared path and field appears in it
//! (`strongroom_logical::testing`).

use strongroom_kv::{KvV1, KvV2};
use strongroom_logical::Backend;

#[test]
fn the_kv_document_is_valid_openapi_and_complete() {
    let (v1, v2) = (KvV1::new(), KvV2::new());
    strongroom_logical::testing::assert_openapi_valid_and_complete(&[
        ("kv/", v1.endpoints()),
        ("secret/", v2.endpoints()),
    ]);
}
