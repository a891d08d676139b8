//! The PKI engine passes the backend conformance suite (`strongroom_logical::testing`): every
//! declared path is served by its own endpoint with the declared operations only, wrongly typed
//! fields are Vault's 400s and change nothing, and unknown paths are `unsupported path`.

use strongroom_logical::testing::{assert_conformance, context};
use strongroom_pki::Pki;

#[tokio::test]
async fn pki_conforms() {
    let pki = Pki::new();
    let report = assert_conformance(&pki, &context("pki/")).await;
    assert!(report.bad_fields > 0, "{report:?}");
    assert!(report.unknown_paths > 0, "{report:?}");
}
