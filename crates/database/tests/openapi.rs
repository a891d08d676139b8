//! The OpenAPI document of the database engine, checked by a real validator (`openapi-spec-validator`,
//! installed by `scripts/services.sh`) and complete: every declared path and field appears in it
//! (`strongroom_logical::testing`).

use strongroom_database::Database;
use strongroom_logical::Backend;

#[test]
fn the_database_document_is_valid_openapi_and_complete() {
    let database = Database::default();
    strongroom_logical::testing::assert_openapi_valid_and_complete(&[(
        "database/",
        database.endpoints(),
    )]);
}
