//! The SSH engine passes the backend conformance suite (`strongroom_logical::testing`): every
//! declared path is served by its own endpoint with the declared operations only, wrongly typed
//! fields are Vault's 400s and change nothing, and unknown paths are `unsupported path`.

use strongroom_logical::testing::{assert_conformance, context};
use strongroom_ssh::Ssh;

#[tokio::test]
async fn ssh_conforms() {
    let ssh = Ssh::new();
    let report = assert_conformance(&ssh, &context("ssh/")).await;
    assert!(report.bad_fields > 0, "{report:?}");
    assert!(report.unknown_paths > 0, "{report:?}");
}
