//! The client against a real server: Strongroom's router on an ephemeral loopback port.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use serde_json::{Map, Value, json};
use strongroom_client::{Client, Error};
use strongroom_core::Vault;
use strongroom_storage::MemoryStorage;

/// Serves a fresh, uninitialised in-memory vault on 127.0.0.1:0; returns its address.
async fn serve(audit_dir: &std::path::Path) -> String {
    let vault = Vault::builder(MemoryStorage::new())
        .audit_dir(audit_dir)
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, strongroom_http::router(vault)).await;
    });
    format!("http://{addr}")
}

fn map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// Init, unseal, and a root client.
async fn unsealed(dir: &std::path::Path) -> Client {
    let anonymous = Client::builder(serve(dir).await).build().unwrap();
    let sys = anonymous.sys();
    assert!(!sys.is_initialized().await.unwrap());
    assert_eq!(sys.health().await.unwrap().status, 501);
    let init = sys.init(3, 2).await.unwrap();
    assert_eq!(init.keys.len(), 3);
    assert!(!format!("{init:?}").contains(init.root_token.as_str()));
    let status = sys.unseal(&init.keys_base64[0]).await.unwrap();
    assert!(status.sealed);
    assert_eq!((status.t, status.n, status.progress), (2, 3, 1));
    // Reset forgets the share: one more is not enough.
    assert_eq!(sys.unseal_reset().await.unwrap().progress, 0);
    sys.unseal(&init.keys[1]).await.unwrap();
    let status = sys.unseal(&init.keys_base64[2]).await.unwrap();
    assert!(!status.sealed);
    assert_eq!(sys.health().await.unwrap().status, 200);
    anonymous.with_token(&init.root_token).unwrap()
}

#[tokio::test]
async fn lifecycle_kv_policies_tokens_and_audit() {
    let dir = tempfile_dir();
    let root = unsealed(dir.path()).await;
    let sys = root.sys();

    // KV v2.
    sys.enable_secrets(
        "secret",
        &json!({"type": "kv", "options": {"version": "2"}, "description": "app secrets"}),
    )
    .await
    .unwrap();
    let mount = root.kv_mount("secret/myapp/db").await.unwrap();
    assert_eq!(
        (mount.mount.as_str(), mount.version, mount.path.as_str()),
        ("secret", 2, "myapp/db")
    );
    let kv = root.kv2("secret");
    assert!(kv.get("myapp/db", None).await.unwrap().is_none());
    let v1 = kv
        .put("myapp/db", &map(json!({"password": "p1"})), Some(0))
        .await
        .unwrap();
    assert_eq!(v1.version, 1);
    let conflict = kv
        .put("myapp/db", &map(json!({"password": "x"})), Some(0))
        .await
        .unwrap_err();
    assert_eq!(conflict.status(), Some(400), "{conflict}");
    let v2 = kv
        .patch("myapp/db", &map(json!({"user": "app"})), None)
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    let latest = kv.get("myapp/db", None).await.unwrap().unwrap();
    assert_eq!(
        latest.data.clone().unwrap(),
        map(json!({"password": "p1", "user": "app"}))
    );
    assert!(!format!("{latest:?}").contains("p1"));
    kv.delete("myapp/db", &[]).await.unwrap();
    // A soft-deleted version is a 404 with metadata: Some, without data.
    let deleted = kv.get("myapp/db", None).await.unwrap().unwrap();
    assert!(deleted.data.is_none());
    assert!(!deleted.metadata.deletion_time.is_empty());
    kv.undelete("myapp/db", &[2]).await.unwrap();
    assert!(
        kv.get("myapp/db", Some(2))
            .await
            .unwrap()
            .unwrap()
            .data
            .is_some()
    );
    kv.destroy("myapp/db", &[1]).await.unwrap();
    assert!(
        kv.get("myapp/db", Some(1))
            .await
            .unwrap()
            .unwrap()
            .metadata
            .destroyed
    );
    assert_eq!(kv.list("").await.unwrap(), ["myapp/"]);
    assert_eq!(kv.list("myapp").await.unwrap(), ["db"]);
    kv.write_metadata(
        "myapp/db",
        &map(json!({"max_versions": 5, "custom_metadata": {"team": "a"}})),
    )
    .await
    .unwrap();
    let metadata = kv.metadata("myapp/db").await.unwrap().unwrap();
    assert_eq!(metadata.data["max_versions"], 5);
    assert_eq!(metadata.data["custom_metadata"], json!({"team": "a"}));
    kv.delete_metadata("myapp/db").await.unwrap();
    assert!(kv.metadata("myapp/db").await.unwrap().is_none());

    // KV v1, and paths that need percent-encoding.
    sys.enable_secrets("kv", &json!({"type": "kv"}))
        .await
        .unwrap();
    assert_eq!(root.kv_mount("kv/x").await.unwrap().version, 1);
    let kv1 = root.kv1("kv");
    kv1.put("a b/c?d", &map(json!({"k": "v"}))).await.unwrap();
    assert_eq!(kv1.get("a b/c?d").await.unwrap().unwrap().data["k"], "v");
    assert_eq!(kv1.list("a b").await.unwrap(), ["c?d"]);
    kv1.delete("a b/c?d").await.unwrap();
    assert!(kv1.get("a b/c?d").await.unwrap().is_none());
    let not_kv = root.kv_mount("sys/x").await.unwrap_err();
    assert!(not_kv.status().is_some(), "{not_kv}");

    // Policies and a limited token.
    sys.put_policy(
        "reader",
        r#"path "kv/*" { capabilities = ["read", "list"] }"#,
    )
    .await
    .unwrap();
    assert!(
        sys.list_policies()
            .await
            .unwrap()
            .contains(&"reader".to_owned())
    );
    assert!(
        sys.read_policy("reader")
            .await
            .unwrap()
            .unwrap()
            .contains("kv/*")
    );
    assert!(sys.read_policy("nope").await.unwrap().is_none());
    let bad = sys.put_policy("bad", "path {").await.unwrap_err();
    assert_eq!(bad.status(), Some(400));
    let created = root
        .write(
            "auth/token/create",
            &json!({"policies": ["reader"], "ttl": "1h"}),
        )
        .await
        .unwrap()
        .unwrap();
    let auth = created.auth.unwrap();
    assert_eq!(auth.policies, ["default", "reader"]);
    assert!(auth.lease_duration > 3500);
    let reader = root.with_token(&auth.client_token).unwrap();
    kv1.put("x", &map(json!({"a": "b"}))).await.unwrap();
    assert_eq!(
        reader.kv1("kv").get("x").await.unwrap().unwrap().data["a"],
        "b"
    );
    let denied = reader
        .kv1("kv")
        .put("x", &map(json!({})))
        .await
        .unwrap_err();
    assert_eq!(denied.status(), Some(403));
    assert_eq!(denied.errors(), ["permission denied"]);
    assert!(matches!(denied, Error::Api { .. }));
    let lookup = reader
        .read("auth/token/lookup-self")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lookup.data["accessor"], auth.accessor.as_str());

    // Audit: enabled over the API, every request after it is logged.
    let log = dir.path().join("audit.log");
    sys.enable_audit("file", "file", json!({"file_path": log.to_str().unwrap()}))
        .await
        .unwrap();
    root.read("sys/mounts").await.unwrap();
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("sys/mounts")
    );
    sys.disable_audit("file").await.unwrap();
    sys.delete_policy("reader").await.unwrap();
    sys.disable_secrets("kv").await.unwrap();
    assert!(!sys.mounts().await.unwrap().data.contains_key("kv/"));

    // Seal: the server answers 503 until unsealed again.
    sys.seal().await.unwrap();
    assert!(sys.seal_status().await.unwrap().sealed);
    let sealed = root.read("secret/data/x").await.unwrap_err();
    assert_eq!(sealed.status(), Some(503), "{sealed}");
}

#[tokio::test]
async fn unreachable_server_is_a_transport_error() {
    // A port nobody listens on: bind, take the port, drop the listener.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = Client::builder(format!("http://127.0.0.1:{port}"))
        .token("s.secret-token")
        .build()
        .unwrap();
    let err = client.read("secret/x").await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");
    assert!(!err.to_string().contains("secret-token"));
}

fn tempfile_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}
