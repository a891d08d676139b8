//! The OpenAPI document of the SSH engine, checked by a real validator (`openapi-spec-validator`,
//! installed by `scripts/services.sh`) and complete: every declared path and field appears in it
//! (`strongroom_logical::testing`).

use strongroom_logical::Backend;
use strongroom_ssh::Ssh;

#[test]
fn the_ssh_document_is_valid_openapi_and_complete() {
    let ssh = Ssh::new();
    strongroom_logical::testing::assert_openapi_valid_and_complete(&[("ssh/", ssh.endpoints())]);
}
