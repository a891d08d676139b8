//! The database paths on the path framework: the declarations are sound, wrong JSON types are
//! 400s in Vault's words (before any database is contacted), undeclared parameters are warned
//! about, and the existence checks of `config/`, `roles/` and `static-roles/` entries hold.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use serde_json::json;
use strongroom_database::Database;
use strongroom_logical::testing::{call, request};
use strongroom_logical::{Backend, Context, ErrorKind, LogicalError, Operation, Request};

fn setup() -> (Database, Context) {
    (
        Database::default(),
        strongroom_logical::testing::context("database/"),
    )
}

#[test]
fn the_declarations_are_sound() {
    let db = Database::default();
    assert!(
        db.endpoint_declarations().problems().is_empty(),
        "{:?}",
        db.endpoint_declarations().problems()
    );
    assert!(!db.needs_sudo("rotate-root/pg"));
    assert!(!db.is_unauthenticated("creds/r"));
}

#[tokio::test]
async fn wrong_json_types_are_refused_in_vaults_words() {
    let (db, ctx) = setup();
    for (path, body, name) in [
        (
            "config/pg",
            json!({"plugin_name": ["postgresql-database-plugin"]}),
            "plugin_name",
        ),
        (
            "config/pg",
            json!({"verify_connection": "maybe"}),
            "verify_connection",
        ),
        (
            "config/pg",
            json!({"allowed_roles": {"a": 1}}),
            "allowed_roles",
        ),
        (
            "config/pg",
            json!({"password_length": "long"}),
            "password_length",
        ),
        (
            "config/pg",
            json!({"password": {"secret": true}}),
            "password",
        ),
        ("roles/r", json!({"default_ttl": "forever"}), "default_ttl"),
        ("roles/r", json!({"max_ttl": -5}), "max_ttl"),
        (
            "roles/r",
            json!({"creation_statements": [["nested"]]}),
            "creation_statements",
        ),
        (
            "static-roles/s",
            json!({"rotation_period": "often"}),
            "rotation_period",
        ),
        (
            "static-roles/s",
            json!({"skip_import_rotation": 2}),
            "skip_import_rotation",
        ),
    ] {
        let err = call(&db, &ctx, Operation::Update, path, body)
            .await
            .expect_err(path);
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{path}: {err}");
        let prefix =
            format!("Field validation failed: error converting input for field \"{name}\": ");
        assert!(err.to_string().starts_with(&prefix), "{path}: {err}");
    }
    // At the existence check too, in the words Vault uses there.
    let err = db
        .exists(
            &ctx,
            &request(Operation::Update, "roles/r", json!({"max_ttl": "never"})),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("error converting input for field \"max_ttl\""),
        "{err}"
    );
}

#[tokio::test]
async fn roles_take_vaults_weak_types_and_warn_about_the_rest() {
    let (db, ctx) = setup();
    let written = call(
        &db,
        &ctx,
        Operation::Update,
        "roles/r",
        json!({
            "db_name": "pg",
            "creation_statements": "CREATE ROLE \"{{name}}\"",
            "default_ttl": "1h",
            "max_ttl": 7200,
        }),
    )
    .await
    .unwrap();
    assert!(written.data.is_none());
    let read = call(
        &db,
        &ctx,
        Operation::Read,
        "roles/r",
        json!({"colour": "red", "db": "x"}),
    )
    .await
    .unwrap();
    assert_eq!(
        read.warnings,
        ["Endpoint ignored these unrecognized parameters: [colour db]"]
    );
    let data = read.data.unwrap();
    assert_eq!(
        data["creation_statements"],
        json!(["CREATE ROLE \"{{name}}\""])
    );
    assert_eq!(data["default_ttl"], 3600);
    assert_eq!(data["max_ttl"], 7200);
    let list = call(&db, &ctx, Operation::List, "roles/", json!({}))
        .await
        .unwrap();
    assert_eq!(list.data.unwrap()["keys"], json!(["r"]));
    // The engine's own refusals keep their words.
    let err = call(
        &db,
        &ctx,
        Operation::Update,
        "roles/r2",
        json!({"db_name": "pg", "creation_statements": ""}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.to_string(), "'creation_statements' is required");
}

#[tokio::test]
async fn existence_checks_come_from_the_declarations() {
    let (db, ctx) = setup();
    async fn exists_at(db: &Database, ctx: &Context, path: &str) -> Option<bool> {
        db.exists(ctx, &Request::new(Operation::Update, path))
            .await
            .unwrap()
    }
    assert_eq!(exists_at(&db, &ctx, "roles/r").await, Some(false));
    assert_eq!(exists_at(&db, &ctx, "config/pg").await, Some(false));
    assert_eq!(exists_at(&db, &ctx, "static-roles/s").await, Some(false));
    assert_eq!(exists_at(&db, &ctx, "roles/bad name").await, Some(false));
    call(
        &db,
        &ctx,
        Operation::Update,
        "roles/r",
        json!({"db_name": "pg", "creation_statements": ["SELECT 1"]}),
    )
    .await
    .unwrap();
    assert_eq!(exists_at(&db, &ctx, "roles/r").await, Some(true));
    assert_eq!(exists_at(&db, &ctx, "rotate-root/pg").await, None);
    let err = call(&db, &ctx, Operation::Read, "rotate-role/r", json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, LogicalError::UnsupportedOperation), "{err}");
    let err = call(&db, &ctx, Operation::Read, "nowhere/r", json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, LogicalError::UnsupportedPath), "{err}");
}
