//! The auth methods pass the backend conformance suite (`strongroom_logical::testing`): every
//! declared path is served by its own endpoint with the declared operations only (logins are the
//! unauthenticated ones), wrongly typed fields are Vault's 400s and change nothing, and unknown
//! paths are `unsupported path`.

use strongroom_auth::{approle::AppRole, jwt::Jwt, userpass::Userpass};
use strongroom_logical::testing::{assert_conformance, context};

#[tokio::test]
async fn userpass_conforms() {
    let report = assert_conformance(&Userpass::new(), &context("auth/userpass/")).await;
    assert!(report.bad_fields > 0, "{report:?}");
    assert!(report.unknown_paths > 0, "{report:?}");
}

#[tokio::test]
async fn approle_conforms() {
    let report = assert_conformance(&AppRole::new(), &context("auth/approle/")).await;
    assert!(report.bad_fields > 0, "{report:?}");
    assert!(report.unknown_paths > 0, "{report:?}");
}

#[tokio::test]
async fn jwt_conforms() {
    let report = assert_conformance(&Jwt::new(), &context("auth/jwt/")).await;
    assert!(report.bad_fields > 0, "{report:?}");
    assert!(report.unknown_paths > 0, "{report:?}");
}
