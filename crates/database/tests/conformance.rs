//! The database engine passes the backend conformance suite (`strongroom_logical::testing`),
//! mounted with no connection configured (no database is needed): every declared path is served
//! by its own endpoint with the declared operations only, wrongly typed fields are Vault's 400s
//! and change nothing, and unknown paths are `unsupported path`.

use strongroom_database::Database;
use strongroom_logical::testing::{assert_conformance, context};

#[tokio::test]
async fn database_conforms() {
    let database = Database::default();
    let report = assert_conformance(&database, &context("database/")).await;
    assert!(report.bad_fields > 0, "{report:?}");
    assert!(report.unknown_paths > 0, "{report:?}");
}
