//! The transit paths on the path framework: the declarations are sound, wrong JSON types are
//! 400s in Vault's words (at the field, and inside `batch_input` items), undeclared parameters
//! are warned about, and the existence checks of `keys/<name>` and `encrypt/<name>` hold.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use serde_json::{Value, json};
use strongroom_logical::testing::{call, request};
use strongroom_logical::{Backend, Context, ErrorKind, LogicalError, Operation, Request};
use strongroom_transit::Transit;

fn setup() -> (Transit, Context) {
    (
        Transit::new(),
        strongroom_logical::testing::context("transit/"),
    )
}

async fn refused(t: &Transit, ctx: &Context, path: &str, body: Value) -> String {
    let err = call(t, ctx, Operation::Update, path, body)
        .await
        .expect_err(path);
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{path}: {err}");
    err.to_string()
}

#[test]
fn the_declarations_are_sound() {
    let t = Transit::new();
    assert!(
        t.endpoint_declarations().problems().is_empty(),
        "{:?}",
        t.endpoint_declarations().problems()
    );
    assert!(!t.needs_sudo("keys/k"));
    assert!(!t.is_unauthenticated("encrypt/k"));
}

#[tokio::test]
async fn wrong_json_types_are_refused_in_vaults_words() {
    let (t, ctx) = setup();
    call(&t, &ctx, Operation::Update, "keys/k", json!({}))
        .await
        .unwrap();
    let field = |name: &str| {
        format!("Field validation failed: error converting input for field \"{name}\": ")
    };
    for (path, body, name) in [
        ("keys/k2", json!({"derived": "maybe"}), "derived"),
        ("keys/k2", json!({"exportable": [true]}), "exportable"),
        (
            "keys/k2",
            json!({"auto_rotate_period": "soon"}),
            "auto_rotate_period",
        ),
        (
            "keys/k/config",
            json!({"min_decryption_version": "one"}),
            "min_decryption_version",
        ),
        (
            "keys/k/config",
            json!({"deletion_allowed": {}}),
            "deletion_allowed",
        ),
        (
            "keys/k/trim",
            json!({"min_available_version": 1.5}),
            "min_available_version",
        ),
        ("encrypt/k", json!({"plaintext": ["x"]}), "plaintext"),
        ("encrypt/k", json!({"key_version": "latest"}), "key_version"),
        ("datakey/plaintext/k", json!({"bits": "many"}), "bits"),
        ("random", json!({"bytes": [32]}), "bytes"),
        ("random", json!({"format": {}}), "format"),
        ("hash", json!({"input": {"a": 1}}), "input"),
        (
            "restore/k",
            json!({"backup": "x", "force": "perhaps"}),
            "force",
        ),
    ] {
        let err = refused(&t, &ctx, path, body).await;
        assert!(err.starts_with(&field(name)), "{path}: {err}");
    }
    // Negative values for unsigned settings.
    let err = refused(&t, &ctx, "random", json!({"bytes": -1})).await;
    assert!(err.contains("cannot provide negative value '-1'"), "{err}");
    // Inside batch items: Vault's batch decoder, every item at once.
    let err = refused(
        &t,
        &ctx,
        "encrypt/k",
        json!({"batch_input": [
            {"plaintext": 5},
            {"plaintext": "eA==", "context": true, "key_version": [1]},
        ]}),
    )
    .await;
    assert_eq!(
        err,
        "failed to parse batch input: 3 error(s) decoding:\n\n\
         * '[0].plaintext' expected type 'string', got unconvertible type 'json.Number'\n\
         * '[1].context' expected type 'string', got unconvertible type 'bool'\n\
         * '[1].key_version' expected type 'int', got unconvertible type '[]interface {}'"
    );
    let err = refused(
        &t,
        &ctx,
        "decrypt/k",
        json!({"batch_input": [{"ciphertext": "vault:v1:x", "key_version": "two"}]}),
    )
    .await;
    assert!(
        err.contains("error decoding string into [0].key_version: strconv.ParseInt"),
        "{err}"
    );
    // The batch's own rules and words are kept.
    for (body, needle) in [
        (json!({"batch_input": []}), "missing batch input to process"),
        (json!({"batch_input": {}}), "missing batch input to process"),
        (
            json!({"batch_input": [1]}),
            "batch_input items must be objects",
        ),
        (
            json!({"batch_input": "x"}),
            "batch_input items must be objects",
        ),
    ] {
        let err = refused(&t, &ctx, "encrypt/k", body).await;
        assert_eq!(err, needle);
    }
    let many: Vec<Value> = (0..=strongroom_transit::MAX_BATCH_ITEMS)
        .map(|_| json!({"plaintext": "eA=="}))
        .collect();
    let err = refused(&t, &ctx, "encrypt/k", json!({ "batch_input": many })).await;
    assert!(err.starts_with("batch_input holds 10001 items"), "{err}");
    // Weak conversions, as Vault's: numbers as text, text as numbers and booleans.
    let out = call(
        &t,
        &ctx,
        Operation::Update,
        "random",
        json!({"bytes": "16", "format": "hex"}),
    )
    .await
    .unwrap();
    assert_eq!(
        out.data.unwrap()["random_bytes"].as_str().unwrap().len(),
        32
    );
    let out = call(
        &t,
        &ctx,
        Operation::Update,
        "keys/weak",
        json!({"exportable": "true", "auto_rotate_period": "2h"}),
    )
    .await
    .unwrap()
    .data
    .unwrap();
    assert_eq!(out["exportable"], true);
    assert_eq!(out["auto_rotate_period"], 7200);
    // A batch item's key version may be a number or its text.
    let out = call(
        &t,
        &ctx,
        Operation::Update,
        "encrypt/k",
        json!({"batch_input": [{"plaintext": "eA==", "key_version": "1", "reference": "a"}]}),
    )
    .await
    .unwrap()
    .data
    .unwrap();
    assert_eq!(out["batch_results"][0]["key_version"], 1);
    assert_eq!(out["batch_results"][0]["reference"], "a");
}

#[tokio::test]
async fn undeclared_parameters_are_warned_about() {
    let (t, ctx) = setup();
    let out = call(
        &t,
        &ctx,
        Operation::Update,
        "encrypt/k",
        json!({"plaintext": "eA==", "colour": "red", "nonce": "x"}),
    )
    .await
    .unwrap();
    assert_eq!(
        out.warnings,
        ["Endpoint ignored these unrecognized parameters: [colour nonce]"]
    );
    assert!(out.data.unwrap()["ciphertext"].is_string());
    let out = call(
        &t,
        &ctx,
        Operation::Update,
        "hash",
        json!({"input": "eA=="}),
    )
    .await
    .unwrap();
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
}

#[tokio::test]
async fn existence_checks_come_from_the_declarations() {
    let (t, ctx) = setup();
    async fn exists_at(t: &Transit, ctx: &Context, path: &str, op: Operation) -> Option<bool> {
        t.exists(ctx, &Request::new(op, path)).await.unwrap()
    }

    assert_eq!(
        exists_at(&t, &ctx, "keys/k", Operation::Update).await,
        Some(false)
    );
    assert_eq!(
        exists_at(&t, &ctx, "encrypt/k", Operation::Create).await,
        Some(false)
    );
    assert_eq!(
        exists_at(&t, &ctx, "keys/bad..name", Operation::Update).await,
        Some(false)
    );
    call(&t, &ctx, Operation::Update, "keys/k", json!({}))
        .await
        .unwrap();
    assert_eq!(
        exists_at(&t, &ctx, "keys/k", Operation::Update).await,
        Some(true)
    );
    assert_eq!(
        exists_at(&t, &ctx, "encrypt/k", Operation::Update).await,
        Some(true)
    );
    // Other paths have none; reads are not asked about.
    assert_eq!(
        exists_at(&t, &ctx, "decrypt/k", Operation::Update).await,
        None
    );
    assert_eq!(exists_at(&t, &ctx, "keys/k", Operation::Read).await, None);
    // A wrong type is refused at the check too, without the handler's prefix.
    let err = t
        .exists(
            &ctx,
            &request(Operation::Update, "keys/k", json!({"derived": "maybe"})),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("error converting input for field \"derived\""),
        "{err}"
    );
}

#[tokio::test]
async fn routing_answers_as_before() {
    let (t, ctx) = setup();
    call(&t, &ctx, Operation::Update, "keys/k", json!({}))
        .await
        .unwrap();
    let list = call(&t, &ctx, Operation::List, "keys/", json!({}))
        .await
        .unwrap();
    assert_eq!(list.data.unwrap()["keys"], json!(["k"]));
    let err = call(&t, &ctx, Operation::Read, "encrypt/k", json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, LogicalError::UnsupportedOperation), "{err}");
    let err = call(&t, &ctx, Operation::Read, "nowhere/k", json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, LogicalError::UnsupportedPath), "{err}");
    // The optional segments: sign/<name>/<hash>, random/<source>/<bytes>, hash/<algorithm>.
    let out = call(
        &t,
        &ctx,
        Operation::Update,
        "random/platform/8",
        json!({"format": "hex"}),
    )
    .await
    .unwrap();
    assert_eq!(
        out.data.unwrap()["random_bytes"].as_str().unwrap().len(),
        16
    );
    let out = call(
        &t,
        &ctx,
        Operation::Update,
        "hash/sha2-512",
        json!({"input": "eA=="}),
    )
    .await
    .unwrap();
    assert_eq!(out.data.unwrap()["sum"].as_str().unwrap().len(), 128);
    call(
        &t,
        &ctx,
        Operation::Update,
        "keys/s",
        json!({"type": "ecdsa-p384"}),
    )
    .await
    .unwrap();
    let err = refused(&t, &ctx, "sign/s/sha2-256", json!({"input": "eA=="})).await;
    assert!(err.contains("unsupported hash algorithm sha2-256"), "{err}");
    let sig = call(
        &t,
        &ctx,
        Operation::Update,
        "sign/s/sha2-384",
        json!({"input": "eA=="}),
    )
    .await
    .unwrap()
    .data
    .unwrap();
    let ok = call(
        &t,
        &ctx,
        Operation::Update,
        "verify/s",
        json!({"input": "eA==", "signature": sig["signature"]}),
    )
    .await
    .unwrap()
    .data
    .unwrap();
    assert_eq!(ok["valid"], true);
    let key = call(
        &t,
        &ctx,
        Operation::Update,
        "datakey/wrapped/k/128",
        json!({}),
    )
    .await
    .unwrap()
    .data
    .unwrap();
    assert!(key.get("plaintext").is_none());
    assert!(key["ciphertext"].is_string());
}
