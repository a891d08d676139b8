//! `?help=1` on any path: Vault's `{"help", "openapi"}` answer from the path framework's
//! declarations, for any valid token (Vault's ACL allows help everywhere) and no one else.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use strongroom_core::{InitRequest, MountRequest, TokenRequest, Vault};
use strongroom_storage::MemoryStorage;
use tower::ServiceExt;

async fn get(app: &Router, uri: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut request = Request::builder().method("GET").uri(uri);
    if let Some(token) = token {
        request = request.header("X-Vault-Token", token);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn help_comes_from_the_declarations() {
    let vault = Vault::builder(MemoryStorage::new()).build().unwrap();
    let init = vault.init(InitRequest::new(1, 1)).await.unwrap();
    vault.unseal(init.keys[0].expose_secret()).await.unwrap();
    let root = init.root_token.clone();
    vault
        .sys()
        .mount(
            &root,
            "secret",
            &MountRequest::new("kv").option("version", "2"),
        )
        .await
        .unwrap();
    let plain = vault
        .tokens()
        .create(&root, &TokenRequest::new().policies(["default"]))
        .await
        .unwrap();
    let app = strongroom_http::router(vault);
    let root = root.expose_secret();

    let (status, body) = get(&app, "/v1/auth/token/lookup?help=1", Some(root)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let help = body["help"].as_str().unwrap();
    assert!(
        help.starts_with("Request:        lookup\nMatching Route: ^lookup$\n\n"),
        "{help}"
    );
    assert!(
        help.contains("## PARAMETERS\n\n    token (string)\n"),
        "{help}"
    );
    assert!(help.contains("\n## DESCRIPTION\n\n"), "{help}");
    let paths = body["openapi"]["paths"].as_object().unwrap();
    assert_eq!(paths.keys().collect::<Vec<_>>(), ["/lookup"], "{body}");
    assert!(paths["/lookup"]["post"].is_object(), "{body}");

    // A mounted engine: the endpoint below the mount, and the mount's own list of paths. Any
    // valid token may ask, even one whose policy reaches nothing there.
    let token = plain.client_token.expose_secret();
    let (status, body) = get(&app, "/v1/secret/data/app?help=1", Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["help"]
            .as_str()
            .unwrap()
            .starts_with("Request:        data/app\nMatching Route: ^data/"),
        "{body}"
    );
    let (status, body) = get(&app, "/v1/secret/?help=1", Some(root)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let help = body["help"].as_str().unwrap();
    assert!(help.contains("## PATHS\n"), "{help}");
    assert!(help.contains("    ^data/"), "{help}");

    // No token, a bad token: refused; nothing mounted there: 404.
    for token in [None, Some("s.nope")] {
        let (status, body) = get(&app, "/v1/sys/mounts?help=1", token).await;
        assert_eq!(
            (status, body),
            (
                StatusCode::FORBIDDEN,
                json!({"errors": ["permission denied"]})
            )
        );
    }
    let (status, _) = get(&app, "/v1/nope/x?help=1", Some(root)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // `help=` empty is not a help request.
    let (status, body) = get(&app, "/v1/sys/mounts?help=", Some(root)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("help").is_none(), "{body}");
}

/// Help checks the token as any request does: a one-use token spends its use on it, and a
/// CIDR-bound token is refused from elsewhere (help is no way to probe a token for free).
#[tokio::test]
async fn help_spends_a_use_and_holds_cidr_bounds() {
    let vault = Vault::builder(MemoryStorage::new()).build().unwrap();
    let init = vault.init(InitRequest::new(1, 1)).await.unwrap();
    vault.unseal(init.keys[0].expose_secret()).await.unwrap();
    let root = init.root_token.expose_secret().to_owned();
    let one_use = vault
        .write(&root, "auth/token/create", json!({"num_uses": 1}))
        .await
        .unwrap()
        .auth
        .unwrap()
        .client_token;
    let bound = vault
        .write(
            &root,
            "auth/token/create",
            json!({"bound_cidrs": ["10.9.9.0/24"], "ttl": "1h"}),
        )
        .await
        .unwrap()
        .auth
        .unwrap()
        .client_token;
    let app = strongroom_http::router(vault);
    let uri = "/v1/sys/mounts?help=1";
    let (status, _) = get(&app, uri, Some(one_use.expose_secret())).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = get(&app, uri, Some(one_use.expose_secret())).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the one use went on the first help"
    );
    // No peer address here (an in-process call): outside every CIDR bound.
    let (status, _) = get(&app, uri, Some(bound.expose_secret())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
