//! `GET sys/internal/specs/openapi`: the document the server serves is valid OpenAPI 3 (checked
//! by a real validator), documents every declared path and field of the system backend, the
//! token store and every mounted engine, and shows a limited token only the mounts its policy
//! reaches, as Vault filters.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use serde_json::json;
use strongroom_core::{InitRequest, Vault};
use strongroom_logical::EndpointInfo;
use strongroom_logical::testing::{assert_openapi_complete, assert_openapi_valid};
use strongroom_storage::MemoryStorage;

async fn vault() -> (Vault, String) {
    let vault = Vault::builder(MemoryStorage::new()).build().unwrap();
    let init = vault.init(InitRequest::new(1, 1)).await.unwrap();
    vault.unseal(init.keys[0].expose_secret()).await.unwrap();
    let root = init.root_token.expose_secret().to_owned();
    for (path, body) in [
        ("sys/mounts/secret", json!({"type": "kv-v2"})),
        ("sys/mounts/kv1", json!({"type": "kv"})),
        ("sys/mounts/transit", json!({"type": "transit"})),
        ("sys/mounts/database", json!({"type": "database"})),
        ("sys/auth/userpass", json!({"type": "userpass"})),
        ("sys/auth/approle", json!({"type": "approle"})),
        ("sys/auth/jwt", json!({"type": "jwt"})),
    ] {
        vault.write(&root, path, body).await.unwrap();
    }
    (vault, root)
}

#[tokio::test]
async fn the_served_document_is_valid_and_documents_every_declared_field() {
    let (vault, root) = vault().await;
    let doc = vault.openapi(&root).await.unwrap();
    assert_eq!(doc["openapi"], "3.0.2", "{}", doc["openapi"]);
    assert!(
        doc.get("request_id").is_none(),
        "the document is the raw body"
    );

    let mut mounts: Vec<(&str, &[EndpointInfo])> = vec![
        ("sys/", strongroom_core::system_endpoints()),
        ("auth/token/", strongroom_core::token_store_endpoints()),
    ];
    let mut registry = strongroom_logical::Registry::new();
    registry.register("kv", strongroom_kv::factory);
    registry.register("transit", strongroom_transit::factory);
    registry.register("database", strongroom_database::factory);
    registry.register("userpass", strongroom_auth::userpass::factory);
    registry.register("approle", strongroom_auth::approle::factory);
    registry.register("jwt", strongroom_auth::jwt::factory);
    let engines = [
        ("secret/", "kv", json!({"version": "2"})),
        ("kv1/", "kv", json!({})),
        ("transit/", "transit", json!({})),
        ("database/", "database", json!({})),
        ("auth/userpass/", "userpass", json!({})),
        ("auth/approle/", "approle", json!({})),
        ("auth/jwt/", "jwt", json!({})),
    ];
    let backends: Vec<_> = engines
        .iter()
        .map(|(_, kind, options)| registry.create(kind, options.as_object().unwrap()).unwrap())
        .collect();
    for ((path, _, _), backend) in engines.iter().zip(&backends) {
        assert!(!backend.endpoints().is_empty(), "{path} declares endpoints");
        mounts.push((path, backend.endpoints()));
    }
    assert_openapi_complete(&doc, &mounts);
    assert_openapi_valid(&doc);

    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(paths["/sys/seal"]["x-vault-sudo"], true);
    assert_eq!(paths["/auth/token/revoke-orphan"]["x-vault-sudo"], true);
    assert!(paths.contains_key("/sys/mounts/{path}/tune"));
    assert!(paths.contains_key("/secret/data/{path}"));
    assert!(paths.contains_key("/transit/encrypt/{name}"));
}

#[tokio::test]
async fn a_limited_token_sees_only_the_mounts_its_policy_reaches() {
    let (vault, root) = vault().await;
    vault
        .write(
            &root,
            "sys/policies/acl/app",
            json!({"policy": r#"
                path "secret/data/app/*" { capabilities = ["read"] }
                path "sys/internal/specs/openapi" { capabilities = ["read"] }
            "#}),
        )
        .await
        .unwrap();
    let made = vault
        .write(&root, "auth/token/create", json!({"policies": ["app"]}))
        .await
        .unwrap();
    let token = made.auth.unwrap().client_token;
    let doc = vault.openapi(&token).await.unwrap();
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    assert!(paths.iter().any(|p| p.starts_with("/secret/")), "{paths:?}");
    // sys/ is reached (the policy names a path in it); transit and the auth methods are not.
    assert!(paths.iter().any(|p| p.starts_with("/sys/")), "{paths:?}");
    for hidden in ["/transit/", "/kv1/", "/database/", "/auth/userpass/"] {
        assert!(
            !paths.iter().any(|p| p.starts_with(hidden)),
            "{hidden} shown: {paths:?}"
        );
    }
    assert_openapi_valid(&doc);

    // Without the policy's grant on the endpoint itself: refused like any other path.
    vault
        .write(
            &root,
            "sys/policies/acl/app",
            json!({"policy": r#"path "secret/data/app/*" { capabilities = ["read"] }"#}),
        )
        .await
        .unwrap();
    assert!(vault.openapi(&token).await.is_err());
}
