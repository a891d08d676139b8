//! The OpenAPI document of the transit engine, checked by a real validator (`openapi-spec-validator`,
//! installed by `scripts/services.sh`) and complete: every declared path and field appears in it
//! (`strongroom_logical::testing`).

use strongroom_logical::Backend;
use strongroom_transit::Transit;

#[test]
fn the_transit_document_is_valid_openapi_and_complete() {
    let transit = Transit::new();
    strongroom_logical::testing::assert_openapi_valid_and_complete(&[(
        "transit/",
        transit.endpoints(),
    )]);
}
