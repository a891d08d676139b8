//! The OpenAPI document of the PKI engine, checked by a real validator (`openapi-spec-validator`,
//! installed by `scripts/services.sh`) and complete: every declared path and field appears in it
//! (`strongroom_logical::testing`).

use strongroom_logical::Backend;
use strongroom_pki::Pki;

#[test]
fn the_pki_document_is_valid_openapi_and_complete() {
    let pki = Pki::new();
    strongroom_logical::testing::assert_openapi_valid_and_complete(&[("pki/", pki.endpoints())]);
}
