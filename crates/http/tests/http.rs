//! The HTTP API through the router (no network): lifecycle endpoints, the envelope, status codes
//! and error bodies, and the KV v2 sequence recorded from OpenBao 2.7.2 replayed over HTTP with
//! exact status codes and envelopes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{call, initialised};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use strongroom_core::Vault;
use strongroom_storage::MemoryStorage;
use tower::ServiceExt;

#[tokio::test]
async fn lifecycle_over_http() {
    let app = strongroom_http::router(Vault::builder(MemoryStorage::new()).build().unwrap());
    let (status, body, headers) = call(&app, "GET", "/v1/sys/health", None, None).await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "uninitialised");
    assert_eq!(body.unwrap()["initialized"], false);
    assert_eq!(headers["cache-control"], "no-store");
    let (status, _, _) = call(&app, "GET", "/v1/sys/health?uninitcode=200", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, body, _) = call(&app, "GET", "/v1/sys/init", None, None).await;
    assert_eq!(body.unwrap(), json!({"initialized": false}));
    // Vault's answer to an unseal before init: 400, not the 503 of other requests.
    let (status, body, _) = call(
        &app,
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({"key": "00".repeat(32)})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body.unwrap(),
        json!({"errors": ["Vault is not initialized"]})
    );

    let (status, init, _) = call(
        &app,
        "PUT",
        "/v1/sys/init",
        None,
        Some(json!({"secret_shares": 3, "secret_threshold": 2})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let init = init.unwrap();
    assert_eq!(init["keys"].as_array().unwrap().len(), 3);
    assert_eq!(init["keys_base64"].as_array().unwrap().len(), 3);
    let root = init["root_token"].as_str().unwrap().to_owned();

    let (status, _, _) = call(&app, "GET", "/v1/sys/health", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "sealed");
    let (status, body, _) = call(&app, "GET", "/v1/secret/x", Some(&root), None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body.unwrap(), json!({"errors": ["Vault is sealed"]}));

    let (_, status1, _) = call(
        &app,
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({"key": init["keys"][0]})),
    )
    .await;
    let status1 = status1.unwrap();
    assert_eq!(
        (
            status1["sealed"].clone(),
            status1["progress"].clone(),
            status1["t"].clone()
        ),
        (json!(true), json!(1), json!(2))
    );
    let (_, reset, _) = call(
        &app,
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({"reset": true})),
    )
    .await;
    assert_eq!(reset.unwrap()["progress"], 0);
    let (status, bad, _) = call(
        &app,
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({"key": "nonsense"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad.unwrap()["errors"][0].as_str().is_some());
    call(
        &app,
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({"key": init["keys"][1]})),
    )
    .await;
    let (_, done, _) = call(
        &app,
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({"key": init["keys_base64"][2]})),
    )
    .await;
    assert_eq!(done.unwrap()["sealed"], false);
    let (status, health, _) = call(&app, "GET", "/v1/sys/health", None, None).await;
    assert_eq!(status, StatusCode::OK);
    // The cluster's id is a UUID fixed at init, its name Vault's `vault-cluster-<8 hex>`, the
    // same in sys/seal-status, and told only while unsealed.
    let health = health.unwrap();
    let cluster_id = health["cluster_id"].as_str().unwrap().to_owned();
    assert_eq!(cluster_id.len(), 36, "{cluster_id}");
    assert_eq!(
        health["cluster_name"],
        format!("vault-cluster-{}", &cluster_id[..8])
    );
    let (_, sealed_status, _) = call(&app, "GET", "/v1/sys/seal-status", None, None).await;
    assert_eq!(sealed_status.unwrap()["cluster_id"], cluster_id);
    // Vault refuses to reset the unseal progress of an unsealed vault.
    let (status, body, _) = call(
        &app,
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({"reset": true})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body.unwrap(), json!({"errors": ["vault is unsealed"]}));

    // sys reads answer at the top level and under data.
    let (status, mounts, _) = call(&app, "GET", "/v1/sys/mounts", Some(&root), None).await;
    assert_eq!(status, StatusCode::OK);
    let mounts = mounts.unwrap();
    assert_eq!(mounts["sys/"]["type"], "system");
    assert_eq!(mounts["data"]["sys/"]["type"], "system");

    // Auth: missing or bad token -> 403 with Vault's body; Bearer works too.
    let (status, body, _) = call(&app, "GET", "/v1/sys/mounts", None, None).await;
    assert_eq!(
        (status, body.unwrap()),
        (
            StatusCode::FORBIDDEN,
            json!({"errors": ["permission denied"]})
        )
    );
    let request = Request::builder()
        .uri("/v1/auth/token/lookup-self")
        .header("Authorization", format!("Bearer {root}"))
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // Sealing over the API.
    let (status, _, _) = call(&app, "PUT", "/v1/sys/seal", Some(&root), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, sealed, _) = call(&app, "GET", "/v1/sys/seal-status", None, None).await;
    let sealed = sealed.unwrap();
    assert_eq!(sealed["sealed"], true);
    assert!(sealed.get("cluster_id").is_none(), "{sealed}");
    // Unsealed again: the same cluster.
    for key in [&init["keys"][0], &init["keys"][1]] {
        call(
            &app,
            "PUT",
            "/v1/sys/unseal",
            None,
            Some(json!({ "key": key })),
        )
        .await;
    }
    let (_, health, _) = call(&app, "GET", "/v1/sys/health", None, None).await;
    assert_eq!(health.unwrap()["cluster_id"], cluster_id);
}

#[tokio::test]
async fn list_method_and_query_and_token_creation_envelope() {
    let (app, root) = initialised().await;
    call(
        &app,
        "POST",
        "/v1/sys/mounts/kv",
        Some(&root),
        Some(json!({"type": "kv"})),
    )
    .await;
    call(
        &app,
        "POST",
        "/v1/kv/a/b",
        Some(&root),
        Some(json!({"v": 1})),
    )
    .await;
    for (method, uri) in [("LIST", "/v1/kv/a"), ("GET", "/v1/kv/a?list=true")] {
        let (status, body, _) = call(&app, method, uri, Some(&root), None).await;
        assert_eq!(status, StatusCode::OK, "{method} {uri}");
        assert_eq!(body.unwrap()["data"]["keys"], json!(["b"]));
    }
    let (status, body, _) = call(&app, "GET", "/v1/kv/missing", Some(&root), None).await;
    assert_eq!(
        (status, body.unwrap()),
        (StatusCode::NOT_FOUND, json!({"errors": []}))
    );
    let (status, created, _) = call(
        &app,
        "POST",
        "/v1/auth/token/create",
        Some(&root),
        Some(json!({"policies": ["default"], "ttl": "1h"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let created = created.unwrap();
    let keys: Vec<&str> = created
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "auth",
            "data",
            "lease_duration",
            "lease_id",
            "renewable",
            "request_id",
            "warnings",
            "wrap_info"
        ]
    );
    assert_eq!(created["auth"]["lease_duration"], 3600);
    assert_eq!(created["auth"]["policies"], json!(["default"]));
    let (status, body, _) = call(
        &app,
        "POST",
        "/v1/kv/a/b",
        Some(&root),
        Some(json!(["not", "an", "object"])),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body.unwrap()["errors"][0],
        "failed to decode JSON input: json: cannot unmarshal array into Go value of type \
         map[string]interface {}"
    );
}

/// The `auth` block tells the token's real type, and a batch token is used, looked up and
/// refused over HTTP as OpenBao 2.7.2 answers (checked against `bao server -dev`).
#[tokio::test]
async fn batch_tokens_over_http() {
    let (app, root) = initialised().await;
    let (status, service, _) = call(
        &app,
        "POST",
        "/v1/auth/token/create",
        Some(&root),
        Some(json!({"policies": ["default"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(service.unwrap()["auth"]["token_type"], "service");
    let (status, batch, _) = call(
        &app,
        "POST",
        "/v1/auth/token/create",
        Some(&root),
        Some(json!({"policies": ["default"], "type": "batch", "ttl": "1h"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let auth = batch.unwrap()["auth"].clone();
    assert_eq!(auth["token_type"], "batch");
    assert_eq!(auth["accessor"], "");
    assert_eq!(auth["renewable"], false);
    assert_eq!(auth["orphan"], false);
    let token = auth["client_token"].as_str().unwrap().to_owned();
    let (status, me, _) = call(
        &app,
        "GET",
        "/v1/auth/token/lookup-self",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me.unwrap()["data"]["type"], "batch");
    let (status, body, _) = call(
        &app,
        "POST",
        "/v1/auth/token/renew-self",
        Some(&token),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (status, body.unwrap()),
        (
            StatusCode::BAD_REQUEST,
            json!({"errors": ["batch tokens cannot be renewed"]})
        )
    );
    // Damaged: 403 as a token, 403 "bad token" to a lookup; nothing panics.
    let cut = &token[..token.len() - 5];
    let (status, body, _) = call(&app, "GET", "/v1/auth/token/lookup-self", Some(cut), None).await;
    assert_eq!(
        (status, body.unwrap()),
        (
            StatusCode::FORBIDDEN,
            json!({"errors": ["permission denied"]})
        )
    );
    let (status, body, _) = call(
        &app,
        "POST",
        "/v1/auth/token/lookup",
        Some(&root),
        Some(json!({"token": format!("{token}x")})),
    )
    .await;
    assert_eq!(
        (status, body.unwrap()),
        (StatusCode::FORBIDDEN, json!({"errors": ["bad token"]}))
    );
    // Warnings alone are answered with a body, as Vault does.
    let (status, body, _) = call(
        &app,
        "POST",
        "/v1/auth/token/revoke-accessor",
        Some(&root),
        Some(json!({"accessor": "nope"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body.unwrap()["warnings"],
        json!(["No token found with this accessor"])
    );
}

/// Replaces every non-empty timestamp and the request id by markers.
fn normalize(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("created_time" | "updated_time" | "deletion_time", Value::String(s))
                            if !s.is_empty() =>
                        {
                            json!("<time>")
                        }
                        ("request_id", _) => json!("<id>"),
                        _ => normalize(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

/// Replays an OpenBao recording over HTTP; returns the steps that differ.
async fn replay(app: &Router, root: &str, fixture: &str) -> Vec<String> {
    let steps: Vec<Value> = serde_json::from_str(fixture).unwrap();
    let mut failures = Vec::new();
    for step in &steps {
        let mut uri = step["path"].as_str().unwrap().to_owned();
        if let Some(query) = step["query"].as_object().filter(|q| !q.is_empty()) {
            let pairs: Vec<String> = query
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            uri = format!("{uri}?{}", pairs.join("&"));
        }
        let body = step.get("body").filter(|b| !b.is_null()).cloned();
        let (status, response, _) = call(
            app,
            step["method"].as_str().unwrap(),
            &uri,
            Some(root),
            body,
        )
        .await;
        let expected_status = step["status"].as_u64().unwrap();
        let expected = normalize(&step["response"]);
        let ours = response.as_ref().map_or(Value::Null, normalize);
        if u64::from(status.as_u16()) != expected_status {
            failures.push(format!(
                "step {} {}: status {status} vs {expected_status}",
                step["step"], step["name"]
            ));
        } else if ours != expected {
            failures.push(format!(
                "step {} {}: body differs\n ours   {ours}\n theirs {expected}",
                step["step"], step["name"]
            ));
        }
    }
    failures
}

/// Replays an OpenBao recording and fails listing every step that differs.
async fn assert_replays(app: &Router, root: &str, fixture: &str) {
    let failures = replay(app, root, fixture).await;
    assert!(
        failures.is_empty(),
        "{} steps differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn kv2_over_http_matches_openbao() {
    let (app, root) = initialised().await;
    call(
        &app,
        "POST",
        "/v1/sys/mounts/secret",
        Some(&root),
        Some(json!({"type": "kv", "options": {"version": "2"}})),
    )
    .await;
    assert_replays(
        &app,
        &root,
        include_str!("../../../compat/kv2/fixtures/openbao-2.7.2.json"),
    )
    .await;
}

#[tokio::test]
async fn kv1_over_http_matches_openbao() {
    let (app, root) = initialised().await;
    assert_replays(
        &app,
        &root,
        include_str!("../../../compat/kv1/fixtures/openbao-2.7.2.json"),
    )
    .await;
}

/// An initialised, unsealed vault behind `app`: its shares (3, threshold 2) and root token.
async fn init_3_of_2(app: &Router) -> (Vec<String>, String) {
    let (_, init, _) = call(
        app,
        "PUT",
        "/v1/sys/init",
        None,
        Some(json!({"secret_shares": 3, "secret_threshold": 2})),
    )
    .await;
    let init = init.unwrap();
    let keys: Vec<String> = init["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    for key in &keys[..2] {
        call(
            app,
            "PUT",
            "/v1/sys/unseal",
            None,
            Some(json!({"key": key})),
        )
        .await;
    }
    (keys, init["root_token"].as_str().unwrap().to_owned())
}

/// Rekey to 2 of 2 at `base` (`sys/rekey` or `sys/rotate/root`), then a root token generation
/// at `root_base` (`sys/generate-root` or `sys/generate-root-token`) with the new shares; the
/// decoded token works. `token`: what the ceremony requests carry.
async fn ceremonies(
    app: &Router,
    keys: &[String],
    token: Option<&str>,
    base: &str,
    root_base: &str,
) {
    let (status, started, _) = call(
        app,
        "PUT",
        &format!("/v1/{base}/init"),
        token,
        Some(json!({"secret_shares": 2, "secret_threshold": 2, "pgp_keys": null})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{started:?}");
    let started = started.unwrap();
    assert_eq!(
        (started["started"].clone(), started["required"].clone()),
        (json!(true), json!(2))
    );
    let nonce = started["nonce"].as_str().unwrap().to_owned();
    let (_, progress, _) = call(
        app,
        "PUT",
        &format!("/v1/{base}/update"),
        token,
        Some(json!({"key": keys[0], "nonce": nonce})),
    )
    .await;
    assert_eq!(progress.unwrap()["progress"], 1);
    let (_, done, _) = call(
        app,
        "PUT",
        &format!("/v1/{base}/update"),
        token,
        Some(json!({"key": keys[2], "nonce": nonce})),
    )
    .await;
    let done = done.unwrap();
    assert_eq!(done["complete"], true);
    let new_keys: Vec<String> = done["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(new_keys.len(), 2);
    let (_, status_after, _) = call(app, "GET", &format!("/v1/{base}/init"), token, None).await;
    assert_eq!(status_after.unwrap()["started"], false);

    // Root generation: no share to start (the server makes the pad); the token comes back
    // encoded with it.
    let (status, attempt, _) = call(
        app,
        "PUT",
        &format!("/v1/{root_base}/attempt"),
        token,
        Some(json!({"otp": "", "pgp_key": ""})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{attempt:?}");
    let attempt = attempt.unwrap();
    let otp = attempt["otp"].as_str().unwrap().to_owned();
    assert_eq!(attempt["otp_length"], otp.len());
    assert_eq!(attempt["progress"], 0);
    let nonce = attempt["nonce"].as_str().unwrap().to_owned();
    let mut finished = Value::Null;
    for key in &new_keys {
        let (status, step, _) = call(
            app,
            "PUT",
            &format!("/v1/{root_base}/update"),
            token,
            Some(json!({"key": key, "nonce": nonce})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{step:?}");
        finished = step.unwrap();
    }
    assert_eq!(finished["complete"], true);
    let token = strongroom_seal::decode_with_otp(finished["encoded_token"].as_str().unwrap(), &otp)
        .unwrap();
    let (status, _, _) = call(
        app,
        "GET",
        "/v1/auth/token/lookup-self",
        Some(token.expose_secret()),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

/// By default the quorum ceremonies need a token whose policy grants the path (OpenBao 2.7's
/// rule), at Vault's paths and OpenBao's alike; without one they are refused and nothing starts.
#[tokio::test]
async fn rekey_and_generate_root_need_a_token_by_default() {
    let app = strongroom_http::router(Vault::builder(MemoryStorage::new()).build().unwrap());
    let (keys, root) = init_3_of_2(&app).await;
    for (method, path) in [
        ("PUT", "/v1/sys/rekey/init"),
        ("GET", "/v1/sys/rekey/init"),
        ("DELETE", "/v1/sys/rekey/init"),
        ("PUT", "/v1/sys/rekey/update"),
        ("PUT", "/v1/sys/generate-root/attempt"),
        ("DELETE", "/v1/sys/generate-root/attempt"),
        ("PUT", "/v1/sys/rotate/root/init"),
        ("PUT", "/v1/sys/generate-root-token/attempt"),
    ] {
        let (status, body, _) = call(
            &app,
            method,
            path,
            None,
            Some(json!({"secret_shares": 1, "secret_threshold": 1})),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body:?}");
    }
    let (_, progress, _) = call(&app, "GET", "/v1/sys/rekey/init", Some(&root), None).await;
    assert_eq!(progress.unwrap()["started"], false, "nothing started");
    // A token whose policy grants the paths, without sudo, may (as in OpenBao 2.7).
    let (status, _, _) = call(
        &app,
        "PUT",
        "/v1/sys/policies/acl/ceremony",
        Some(&root),
        Some(json!({"policy": r#"
path "sys/rotate/root/*" { capabilities = ["read", "update", "delete"] }
path "sys/generate-root-token/*" { capabilities = ["read", "update", "delete"] }
path "sys/rekey/*" { capabilities = ["read", "update", "delete"] }
path "sys/generate-root/*" { capabilities = ["read", "update", "delete"] }
"#})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, made, _) = call(
        &app,
        "POST",
        "/v1/auth/token/create",
        Some(&root),
        Some(json!({"policies": ["ceremony"]})),
    )
    .await;
    let operator = made.unwrap()["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    ceremonies(
        &app,
        &keys,
        Some(&operator),
        "sys/rotate/root",
        "sys/generate-root-token",
    )
    .await;
}

/// Vault's legacy paths work with a token too (the `bao` CLI's `operator rekey` sends one).
#[tokio::test]
async fn legacy_ceremony_paths_with_a_token() {
    let app = strongroom_http::router(Vault::builder(MemoryStorage::new()).build().unwrap());
    let (keys, root) = init_3_of_2(&app).await;
    ceremonies(&app, &keys, Some(&root), "sys/rekey", "sys/generate-root").await;
}

/// A server that opted in (`disable_unauthed_*_endpoints = false`) serves Vault's legacy paths
/// without a token, with Vault's bare JSON; OpenBao's paths still need one.
#[tokio::test]
async fn opted_in_legacy_ceremonies_without_a_token() {
    let mut options = strongroom_http::Options::default();
    options.unauthenticated_rekey = true;
    options.unauthenticated_generate_root = true;
    let app = strongroom_http::router_with(
        Vault::builder(MemoryStorage::new()).build().unwrap(),
        options,
    );
    let (keys, _root) = init_3_of_2(&app).await;
    let (status, _, _) = call(&app, "PUT", "/v1/sys/rotate/root/init", None, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body, _) = call(&app, "GET", "/v1/sys/rekey/init", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.unwrap().get("data").is_none(),
        "bare JSON, no envelope"
    );
    ceremonies(&app, &keys, None, "sys/rekey", "sys/generate-root").await;
    let (status, _, _) = call(&app, "DELETE", "/v1/sys/generate-root/attempt", None, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

/// External Secrets Operator and other clients send `X-Vault-Namespace`, `X-Vault-Index` and
/// `X-Vault-Inconsistent`. The root namespace (absent, empty, `root`, `/root/`) works; any other
/// namespace is 404 `namespace not found` before the token is looked at, as OpenBao 2.7.2
/// answers; the consistency headers are tolerated.
#[tokio::test]
async fn namespace_and_consistency_headers() {
    let (app, root) = initialised().await;
    let send = |namespace: &'static str, token: String| {
        let app = app.clone();
        async move {
            let request = Request::builder()
                .method(Method::GET)
                .uri("/v1/sys/mounts")
                .header("X-Vault-Token", token)
                .header("X-Vault-Namespace", namespace)
                .header("X-Vault-Index", "v1:AAAA")
                .header("X-Vault-Inconsistent", "forward-active-node")
                .body(Body::empty())
                .unwrap();
            let response = app.oneshot(request).await.unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }
    };
    for namespace in ["", "root", "/root/", "root/"] {
        let (status, body) = send(namespace, root.clone()).await;
        assert_eq!(status, StatusCode::OK, "{namespace:?}: {body}");
        assert!(body["data"]["sys/"].is_object(), "{namespace:?}: {body}");
    }
    for namespace in ["team1", "ROOT", "team1/", "root/team1"] {
        for token in [root.clone(), "not-a-token".to_owned()] {
            let (status, body) = send(namespace, token).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{namespace:?}");
            assert_eq!(body, json!({"errors": ["namespace not found"]}));
        }
    }
}

/// Hostile bodies get a 4xx and leave the server as it was: JSON nested deeper than 128
/// levels (serde_json's recursion limit, so parsing cannot exhaust the stack) is a 400, and a
/// body over 32 MiB (Vault's default `max_request_size`) is a 413; both with OpenBao 2.7.2's
/// error bodies.
#[tokio::test]
async fn deep_and_huge_bodies_are_refused() {
    let (app, root) = initialised().await;
    let send = |body: Vec<u8>| {
        let app = app.clone();
        let root = root.clone();
        async move {
            let request = Request::builder()
                .method(Method::PUT)
                .uri("/v1/sys/policies/acl/p")
                .header("X-Vault-Token", root)
                .body(Body::from(body))
                .unwrap();
            let response = app.oneshot(request).await.unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&bytes).into_owned())
        }
    };
    let depth = 100_000;
    let mut deep = b"{\"policy\":".to_vec();
    deep.extend(std::iter::repeat_n(b'[', depth));
    deep.extend(std::iter::repeat_n(b']', depth));
    deep.push(b'}');
    let (status, body) = send(deep).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"errors": ["failed to decode JSON input: exceeded max depth"]}),
        "OpenBao 2.7.2's answer"
    );

    let mut huge = b"{\"policy\":\"".to_vec();
    huge.resize(strongroom_http::MAX_REQUEST_SIZE + 1, b'a');
    let (status, body) = send(huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"errors": ["http: request body too large"]})
    );

    let (status, _, _) = call(&app, "GET", "/v1/sys/policies/acl/p", Some(&root), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was written");
}

/// `sys/metrics`: refused without a token that may read it, Prometheus text with
/// `?format=prometheus` counting the requests served so far, Vault's in-memory-sink JSON
/// otherwise.
#[tokio::test]
async fn metrics_count_requests_for_an_allowed_token() {
    let (app, root) = initialised().await;
    let (status, body, _) = call(&app, "GET", "/v1/sys/metrics", None, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body:?}");
    for _ in 0..3 {
        call(&app, "GET", "/v1/secret/data/nope", Some(&root), None).await;
    }
    let response = app
        .clone()
        .oneshot(
            Request::builder()
                .uri("/v1/sys/metrics?format=prometheus")
                .header("X-Vault-Token", &root)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4"
    );
    let text = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert!(
        text.contains("strongroom_http_requests_total{method=\"GET\",code=\"403\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("strongroom_core_unsealed 1\n"), "{text}");
    assert!(text.contains("# TYPE strongroom_http_request_duration_seconds histogram"));
    let (status, body, _) = call(&app, "GET", "/v1/sys/metrics", Some(&root), None).await;
    assert_eq!(status, StatusCode::OK);
    let body = body.unwrap();
    assert_eq!(body["Gauges"][1]["Name"], "strongroom.core.unsealed");
    assert!(body["Samples"][0]["Count"].as_u64().unwrap() >= 5, "{body}");
}

/// Logins over HTTP with garbage: bodies that are not UTF-8 or not JSON, a user name that is not
/// UTF-8, an oversized JWT, malformed role names — each a clean 4xx with Vault's error body,
/// nothing stored, the server still serving.
#[tokio::test]
async fn auth_logins_refuse_garbage_cleanly() {
    let (app, root) = initialised().await;
    for kind in ["userpass", "approle", "jwt"] {
        let (status, _, _) = call(
            &app,
            "POST",
            &format!("/v1/sys/auth/{kind}"),
            Some(&root),
            Some(json!({"type": kind})),
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{kind}");
    }
    let raw = |path: &'static str, body: Vec<u8>| {
        let app = app.clone();
        async move {
            let request = Request::builder()
                .method(Method::POST)
                .uri(path)
                .body(Body::from(body))
                .unwrap();
            let response = app.oneshot(request).await.unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).ok())
        }
    };
    for (path, body) in [
        ("/v1/auth/userpass/login/alice", b"\xff\xfe\x00{".to_vec()),
        (
            "/v1/auth/userpass/login/alice",
            b"{\"password\": \"\xff\xfe\"}".to_vec(),
        ),
        (
            "/v1/auth/userpass/login/%FF%FE",
            b"{\"password\": \"x\"}".to_vec(),
        ),
        ("/v1/auth/approle/login", b"[1, 2, 3]".to_vec()),
        (
            "/v1/auth/approle/login",
            b"{\"role_id\": {\"a\": 1}}".to_vec(),
        ),
        (
            "/v1/auth/jwt/login",
            format!("{{\"role\": \"r\", \"jwt\": \"{}\"}}", "A.".repeat(60_000)).into_bytes(),
        ),
        (
            "/v1/auth/jwt/login",
            b"{\"role\": \"../../sys\", \"jwt\": \"a.b.c\"}".to_vec(),
        ),
    ] {
        let (status, body) = raw(path, body).await;
        assert!(status.is_client_error(), "{path}: {status}");
        let body = body.unwrap_or_else(|| panic!("{path}: no JSON error body"));
        assert!(
            body["errors"].as_array().is_some_and(|e| !e.is_empty()),
            "{path}: {body}"
        );
    }
    for path in [
        "/v1/auth/approle/role/bad%20name",
        "/v1/auth/userpass/users/a%2Fb",
    ] {
        let (status, _, _) = call(
            &app,
            "POST",
            path,
            Some(&root),
            Some(json!({"password": "x"})),
        )
        .await;
        assert!(status.is_client_error(), "{path}: {status}");
    }
    let (status, users, _) = call(&app, "LIST", "/v1/auth/userpass/users", Some(&root), None).await;
    assert!(
        status == StatusCode::NOT_FOUND || users.is_some_and(|u| u["data"]["keys"] == json!([])),
        "nothing was stored"
    );
}

/// OpenBao refuses a PATCH that does not say it is a JSON merge patch, before anything else.
#[tokio::test]
async fn a_patch_must_be_a_merge_patch() {
    let (app, root) = initialised().await;
    call(
        &app,
        "POST",
        "/v1/sys/mounts/secret",
        Some(&root),
        Some(json!({"type": "kv-v2"})),
    )
    .await;
    call(
        &app,
        "POST",
        "/v1/secret/data/app",
        Some(&root),
        Some(json!({"data": {"a": 1}})),
    )
    .await;
    let patch = |content_type: Option<&str>| {
        let mut request = Request::builder()
            .method(Method::PATCH)
            .uri("/v1/secret/data/app")
            .header("X-Vault-Token", &root);
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        request
            .body(Body::from(json!({"data": {"a": 2}}).to_string()))
            .unwrap()
    };
    for (content_type, status, message) in [
        (None, StatusCode::BAD_REQUEST, "mime: no media type"),
        (
            Some("application/json"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "PATCH requires Content-Type of application/merge-patch+json, provided application/json",
        ),
    ] {
        let response = app.clone().oneshot(patch(content_type)).await.unwrap();
        assert_eq!(response.status(), status, "{content_type:?}");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body, json!({"errors": [message]}));
    }
    let response = app
        .clone()
        .oneshot(patch(Some("application/merge-patch+json; charset=utf-8")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (_, read, _) = call(&app, "GET", "/v1/secret/data/app", Some(&root), None).await;
    assert_eq!(read.unwrap()["data"]["data"]["a"], 2);
}

#[tokio::test]
async fn sys_tools_random_and_hash() {
    let (app, root) = initialised().await;
    let (status, body, _) = call(
        &app,
        "PUT",
        "/v1/sys/tools/random/16",
        Some(&root),
        Some(json!({"format": "hex"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let hex = body.unwrap()["data"]["random_bytes"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(hex.len(), 32);
    assert!(hex.chars().all(|c| c.is_ascii_hexdigit()));
    let (_, body, _) = call(&app, "PUT", "/v1/sys/tools/random", Some(&root), None).await;
    // 32 bytes by default, base64: 44 characters with padding.
    assert_eq!(
        body.unwrap()["data"]["random_bytes"]
            .as_str()
            .unwrap()
            .len(),
        44
    );
    let (status, body, _) = call(
        &app,
        "PUT",
        "/v1/sys/tools/random",
        Some(&root),
        Some(json!({"bytes": 0})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body.unwrap()["errors"][0], "'bytes' cannot be less than 1");
    let (status, body, _) = call(
        &app,
        "PUT",
        "/v1/sys/tools/hash/sha2-512",
        Some(&root),
        Some(json!({"input": "aGVsbG8=", "format": "base64"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body.unwrap()["data"]["sum"],
        "m3HSJL1i83hdltRq0+o9czGb+8KJDKra4t/3JRlnPKcjI8PZm6XBHXx6zG4UuMXaDEZjR1wuXDre9G9zvN7AQw=="
    );
    let (status, body, _) = call(
        &app,
        "PUT",
        "/v1/sys/tools/hash",
        Some(&root),
        Some(json!({"input": "not base64!"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body.unwrap()["errors"][0],
        "unable to decode input as base64: illegal base64 data at input byte 3"
    );
}

#[tokio::test]
async fn key_status_tells_the_barrier_term() {
    let (app, root) = initialised().await;
    let (status, body, _) = call(&app, "GET", "/v1/sys/key-status", Some(&root), None).await;
    assert_eq!(status, StatusCode::OK);
    let body = body.unwrap();
    assert_eq!(body["data"]["term"], 1);
    assert!(body["data"]["encryptions"].as_u64().unwrap() > 0);
    assert!(
        body["data"]["install_time"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    let (status, _, _) = call(&app, "GET", "/v1/sys/key-status", None, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
