//! The embeddable vault through its public API only: lifecycle, tokens, policies, routing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value, json};
use strongroom_core::{InitRequest, ManualClock, Vault, VaultError, VaultRequest};
use strongroom_logical::{ErrorKind, Operation};
use strongroom_storage::{MemoryStorage, SqliteStorage, Storage, conformance};

struct Fixture {
    vault: Vault,
    root: String,
    keys: Vec<String>,
    clock: Arc<ManualClock>,
}

async fn unsealed_with(storage: impl Storage + 'static) -> Fixture {
    let clock = Arc::new(ManualClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ));
    let vault = Vault::builder(storage)
        .clock(clock.clone())
        .build()
        .unwrap();
    let init = vault.init(InitRequest::new(5, 3)).await.unwrap();
    let keys: Vec<String> = init
        .keys
        .iter()
        .map(|k| k.expose_secret().to_owned())
        .collect();
    for key in &keys[..3] {
        vault.unseal(key).await.unwrap();
    }
    Fixture {
        vault,
        root: init.root_token.expose_secret().to_owned(),
        keys,
        clock,
    }
}

async fn unsealed() -> Fixture {
    unsealed_with(MemoryStorage::new()).await
}

fn kind(err: &VaultError) -> ErrorKind {
    err.kind()
}

async fn child_token(f: &Fixture, body: Value) -> String {
    let created = f
        .vault
        .write(&f.root, "auth/token/create", body)
        .await
        .unwrap();
    created
        .auth
        .unwrap()
        .client_token
        .expose_secret()
        .to_owned()
}

#[tokio::test]
async fn full_lifecycle() {
    let vault = Vault::builder(MemoryStorage::new()).build().unwrap();
    let status = vault.seal_status().await.unwrap();
    assert!(!status.initialized && status.sealed);
    assert!(matches!(
        vault.unseal("00").await,
        Err(VaultError::NotInitialized)
    ));
    assert!(matches!(
        vault.read("s.x", "sys/mounts").await,
        Err(VaultError::Sealed)
    ));

    let init = vault.init(InitRequest::new(5, 3)).await.unwrap();
    assert_eq!(init.keys.len(), 5);
    assert_eq!(init.keys_base64.len(), 5);
    assert!(matches!(
        vault.init(InitRequest::new(1, 1)).await,
        Err(VaultError::AlreadyInitialized)
    ));
    let status = vault.seal_status().await.unwrap();
    assert!(status.initialized && status.sealed);
    assert_eq!((status.t, status.n, status.progress), (3, 5, 0));

    // Progress, duplicates not counted, mixed encodings.
    let s = vault.unseal(init.keys[0].expose_secret()).await.unwrap();
    assert_eq!(s.progress, 1);
    assert!(!s.nonce.is_empty());
    assert!(
        vault
            .unseal(init.keys_base64[0].expose_secret())
            .await
            .is_err()
    );
    assert_eq!(vault.seal_status().await.unwrap().progress, 1);
    // A share of some other vault is refused at once.
    assert!(vault.unseal(&"01".repeat(33)).await.is_err());
    assert_eq!(vault.seal_status().await.unwrap().progress, 1);
    vault
        .unseal(init.keys_base64[3].expose_secret())
        .await
        .unwrap();
    let s = vault.unseal(init.keys[4].expose_secret()).await.unwrap();
    assert!(!s.sealed);

    let root = init.root_token.expose_secret();
    vault
        .write(
            root,
            "sys/mounts/secret",
            json!({"type": "kv", "description": "app secrets"}),
        )
        .await
        .unwrap();
    vault
        .write(root, "secret/app/db", json!({"password": "hunter2"}))
        .await
        .unwrap();

    vault.seal().await;
    assert!(vault.seal_status().await.unwrap().sealed);
    assert!(matches!(
        vault.read(root, "secret/app/db").await,
        Err(VaultError::Sealed)
    ));

    for key in &init.keys[1..4] {
        vault.unseal(key.expose_secret()).await.unwrap();
    }
    let read = vault.read(root, "secret/app/db").await.unwrap();
    assert_eq!(read.data.unwrap()["password"], "hunter2");
    let mounts = vault.read(root, "sys/mounts").await.unwrap().data.unwrap();
    assert_eq!(mounts["secret/"]["type"], "kv");
    assert_eq!(mounts["secret/"]["description"], "app secrets");
    assert_eq!(mounts["sys/"]["type"], "system");
}

#[tokio::test]
async fn survives_a_restart_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.db");
    let (keys, root) = {
        let f = unsealed_with(SqliteStorage::open(&path).await.unwrap()).await;
        f.vault
            .write(&f.root, "sys/mounts/kv", json!({"type": "kv"}))
            .await
            .unwrap();
        f.vault
            .write(&f.root, "kv/a", json!({"v": 1}))
            .await
            .unwrap();
        (f.keys, f.root)
    };
    let vault = Vault::builder(SqliteStorage::open(&path).await.unwrap())
        .build()
        .unwrap();
    assert!(vault.seal_status().await.unwrap().sealed);
    for key in &keys[2..5] {
        vault.unseal(key).await.unwrap();
    }
    assert_eq!(
        vault.read(&root, "kv/a").await.unwrap().data.unwrap()["v"],
        1
    );
}

#[tokio::test]
async fn wrong_quorum_resets_progress() {
    let a = unsealed().await;
    let b = Vault::builder(MemoryStorage::new()).build().unwrap();
    let init = b.init(InitRequest::new(3, 2)).await.unwrap();
    // Shares of vault `a` are unknown to `b`: refused one by one, never counted.
    assert!(b.unseal(&a.keys[0]).await.is_err());
    assert_eq!(b.seal_status().await.unwrap().progress, 0);
    b.unseal(init.keys[0].expose_secret()).await.unwrap();
    b.unseal_reset();
    assert_eq!(b.seal_status().await.unwrap().progress, 0);
    b.unseal(init.keys[1].expose_secret()).await.unwrap();
    assert!(!b.unseal(init.keys[2].expose_secret()).await.unwrap().sealed);
}

#[tokio::test]
async fn limited_token_is_denied_exactly_where_its_policy_says() {
    let f = unsealed().await;
    let v = &f.vault;
    v.write(&f.root, "sys/mounts/secret", json!({"type": "kv"}))
        .await
        .unwrap();
    for (path, value) in [
        ("secret/team/a/config", "a"),
        ("secret/team/b/config", "b"),
        ("secret/team/a/admin", "x"),
        ("secret/public/readme", "r"),
    ] {
        v.write(&f.root, path, json!({"v": value})).await.unwrap();
    }
    let policy = r#"
        path "secret/team/+/config" { capabilities = ["read"] }
        path "secret/public/*"      { capabilities = ["read", "list", "create"] }
        path "secret/team/a/*"      { capabilities = ["read", "update"] }
        path "secret/team/a/admin"  { capabilities = ["deny"] }
    "#;
    v.write(&f.root, "sys/policies/acl/app", json!({"policy": policy}))
        .await
        .unwrap();
    let token = child_token(&f, json!({"policies": ["app"]})).await;

    let allowed = [
        (Operation::Read, "secret/team/a/config"),
        (Operation::Read, "secret/team/b/config"),
        (Operation::Read, "secret/public/readme"),
        (Operation::List, "secret/public/"),
        (Operation::Read, "secret/team/a/other"),
    ];
    for (op, path) in allowed {
        let r = v
            .handle(VaultRequest::new(op, path).with_token(&token))
            .await;
        assert!(r.is_ok(), "{op} {path}: {r:?}");
    }
    let denied = [
        (Operation::Read, "secret/team/a/admin"),
        (Operation::Update, "secret/team/b/config"),
        (Operation::List, "secret/team/"),
        (Operation::Read, "secret/team/b/other"),
        (Operation::Delete, "secret/public/readme"),
        (Operation::Read, "sys/mounts"),
    ];
    for (op, path) in denied {
        let err = v
            .handle(VaultRequest::new(op, path).with_token(&token))
            .await
            .unwrap_err();
        assert_eq!(kind(&err), ErrorKind::PermissionDenied, "{op} {path}");
    }
    // Create vs update: the policy grants create on public/*, update on team/a/*.
    v.write(&token, "secret/public/new", json!({"v": 1}))
        .await
        .unwrap();
    let err = v
        .write(&token, "secret/public/readme", json!({"v": 2}))
        .await
        .unwrap_err();
    assert_eq!(
        kind(&err),
        ErrorKind::PermissionDenied,
        "update needs update"
    );
    v.write(&token, "secret/team/a/config2", json!({"v": 1}))
        .await
        .unwrap_err();
    v.write(&token, "secret/team/a/config", json!({"v": 2}))
        .await
        .unwrap();
    // Capabilities as Vault reports them.
    let caps = v
        .write(
            &token,
            "sys/capabilities-self",
            json!({"path": "secret/team/a/admin"}),
        )
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(caps["capabilities"], json!(["deny"]));
}

#[tokio::test]
async fn token_tree_revocation_and_subset_rule() {
    let f = unsealed().await;
    let v = &f.vault;
    v.write(
        &f.root,
        "sys/policies/acl/p1",
        json!({"policy": r#"path "auth/token/*" { capabilities = ["create", "update", "read"] }"#}),
    )
    .await
    .unwrap();
    v.write(
        &f.root,
        "sys/policies/acl/p2",
        json!({"policy": r#"path "x/*" { capabilities = ["read"] }"#}),
    )
    .await
    .unwrap();
    let parent = child_token(&f, json!({"policies": ["p1"]})).await;
    // A non-root parent may only hand out its own policies.
    let err = v
        .write(&parent, "auth/token/create", json!({"policies": ["p2"]}))
        .await
        .unwrap_err();
    assert_eq!(kind(&err), ErrorKind::InvalidRequest);
    let child = v
        .write(&parent, "auth/token/create", json!({"policies": ["p1"]}))
        .await
        .unwrap()
        .auth
        .unwrap()
        .client_token;
    let grandchild = v
        .write(&child, "auth/token/create", json!({}))
        .await
        .unwrap()
        .auth
        .unwrap();
    // No policies asked for: the parent's, as Vault (OpenBao 2.7.2 answers the same).
    assert_eq!(grandchild.policies, ["default", "p1"]);
    let orphan = child_token(&f, json!({"no_parent": true})).await;

    v.write(&f.root, "auth/token/revoke", json!({"token": parent}))
        .await
        .unwrap();
    for gone in [
        parent.as_str(),
        child.expose_secret(),
        grandchild.client_token.expose_secret(),
    ] {
        let err = v.read(gone, "auth/token/lookup-self").await.unwrap_err();
        assert_eq!(kind(&err), ErrorKind::PermissionDenied);
    }
    let me = v
        .read(&orphan, "auth/token/lookup-self")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(me["orphan"], true);
}

#[tokio::test]
async fn num_uses_and_expiry() {
    let f = unsealed().await;
    let v = &f.vault;
    let limited = child_token(&f, json!({"num_uses": 2})).await;
    v.read(&limited, "auth/token/lookup-self").await.unwrap();
    v.read(&limited, "auth/token/lookup-self").await.unwrap();
    let err = v
        .read(&limited, "auth/token/lookup-self")
        .await
        .unwrap_err();
    assert_eq!(kind(&err), ErrorKind::PermissionDenied);

    let short = child_token(&f, json!({"ttl": "1h"})).await;
    let me = v
        .read(&short, "auth/token/lookup-self")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(me["ttl"], 3600);
    assert_eq!(me["creation_ttl"], 3600);
    f.clock.advance(Duration::from_secs(1800));
    let renewed = v
        .write(&short, "auth/token/renew-self", json!({"increment": "2h"}))
        .await
        .unwrap();
    assert_eq!(renewed.auth.unwrap().lease_duration, 7200);
    f.clock.advance(Duration::from_secs(7201));
    let err = v.read(&short, "auth/token/lookup-self").await.unwrap_err();
    assert_eq!(kind(&err), ErrorKind::PermissionDenied);

    let capped = child_token(&f, json!({"ttl": "1h", "explicit_max_ttl": "90m"})).await;
    f.clock.advance(Duration::from_secs(3000));
    let renewed = v
        .write(&capped, "auth/token/renew-self", json!({"increment": "1h"}))
        .await
        .unwrap();
    assert_eq!(
        renewed.auth.unwrap().lease_duration,
        2400,
        "capped by explicit max ttl"
    );
}

#[tokio::test]
async fn malformed_and_unknown_tokens() {
    let f = unsealed().await;
    for token in [
        "",
        "nope",
        "s.tooshort",
        &format!("s.{}", "A".repeat(24)),
        &"x".repeat(10_000),
    ] {
        let err = f.vault.read(token, "sys/mounts").await.unwrap_err();
        assert_eq!(kind(&err), ErrorKind::PermissionDenied, "{token:.20}");
    }
    let err = f
        .vault
        .handle(VaultRequest::new(Operation::Read, "sys/mounts"))
        .await
        .unwrap_err();
    assert_eq!(kind(&err), ErrorKind::PermissionDenied);
}

#[tokio::test]
async fn paths_cannot_escape_their_mount() {
    let f = unsealed().await;
    let v = &f.vault;
    v.write(&f.root, "sys/mounts/a", json!({"type": "kv"}))
        .await
        .unwrap();
    v.write(&f.root, "sys/mounts/b", json!({"type": "kv"}))
        .await
        .unwrap();
    v.write(&f.root, "b/secret", json!({"v": "b's"}))
        .await
        .unwrap();
    for path in [
        "a/../b/secret",
        "a/x/../../b/secret",
        "a//b",
        "a/./x",
        &format!("a/{}", "x/".repeat(700)),
    ] {
        let err = v
            .write(&f.root, path, json!({"v": "evil"}))
            .await
            .unwrap_err();
        assert!(
            matches!(
                kind(&err),
                ErrorKind::InvalidRequest | ErrorKind::UnsupportedPath
            ),
            "{path:.40}: {err}"
        );
    }
    v.write(&f.root, "a/x%2F..%2Fb", json!({"v": 1}))
        .await
        .unwrap();
    assert_eq!(
        v.read(&f.root, "b/secret").await.unwrap().data.unwrap()["v"],
        "b's"
    );
    assert_eq!(
        v.list(&f.root, "a/").await.unwrap().data.unwrap()["keys"],
        json!(["x%2F..%2Fb"])
    );
    let err = v.read(&f.root, "nothing/here").await.unwrap_err();
    assert_eq!(kind(&err), ErrorKind::UnsupportedPath);
}

#[tokio::test]
async fn mounts_enable_tune_disable() {
    let f = unsealed().await;
    let v = &f.vault;
    v.write(
        &f.root,
        "sys/mounts/team/kv",
        json!({"type": "kv", "config": {"default_lease_ttl": "1h"}}),
    )
    .await
    .unwrap();
    let err = v
        .write(&f.root, "sys/mounts/team", json!({"type": "kv"}))
        .await
        .unwrap_err();
    assert_eq!(kind(&err), ErrorKind::InvalidRequest, "overlapping mount");
    let err = v
        .write(&f.root, "sys/mounts/sys", json!({"type": "kv"}))
        .await
        .unwrap_err();
    assert_eq!(kind(&err), ErrorKind::InvalidRequest, "reserved");
    let err = v
        .write(&f.root, "sys/mounts/x", json!({"type": "nope"}))
        .await
        .unwrap_err();
    assert_eq!(kind(&err), ErrorKind::InvalidRequest, "unknown type");
    v.write(&f.root, "team/kv/k", json!({"v": 1}))
        .await
        .unwrap();
    let read = v.read(&f.root, "team/kv/k").await.unwrap();
    assert_eq!(
        read.lease_duration, 3600,
        "kv v1 reports the mount's default ttl"
    );
    v.write(
        &f.root,
        "sys/mounts/team/kv/tune",
        json!({"default_lease_ttl": 60}),
    )
    .await
    .unwrap();
    let tuned = v
        .read(&f.root, "sys/mounts/team/kv/tune")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(tuned["default_lease_ttl"], 60);
    assert_eq!(
        v.read(&f.root, "team/kv/k").await.unwrap().lease_duration,
        60
    );

    v.delete(&f.root, "sys/mounts/team/kv").await.unwrap();
    let err = v.read(&f.root, "team/kv/k").await.unwrap_err();
    assert_eq!(kind(&err), ErrorKind::UnsupportedPath);
    // Remounting at the same path starts empty: the old data was deleted.
    v.write(&f.root, "sys/mounts/team/kv", json!({"type": "kv"}))
        .await
        .unwrap();
    assert!(v.read(&f.root, "team/kv/k").await.unwrap().data.is_none());
}

#[tokio::test]
async fn policy_store_rules() {
    let f = unsealed().await;
    let v = &f.vault;
    let err = v
        .write(&f.root, "sys/policies/acl/root", json!({"policy": ""}))
        .await
        .unwrap_err();
    assert_eq!(kind(&err), ErrorKind::InvalidRequest);
    let err = v
        .delete(&f.root, "sys/policies/acl/default")
        .await
        .unwrap_err();
    assert_eq!(kind(&err), ErrorKind::InvalidRequest);
    let err = v
        .write(
            &f.root,
            "sys/policies/acl/bad",
            json!({"policy": r#"path "a" { capabilities = ["fly"] }"#}),
        )
        .await
        .unwrap_err();
    assert_eq!(kind(&err), ErrorKind::InvalidRequest);
    v.write(
        &f.root,
        "sys/policy/legacy",
        json!({"rules": r#"path "k/*" { capabilities = ["read"] }"#}),
    )
    .await
    .unwrap();
    let listed = v.read(&f.root, "sys/policy").await.unwrap().data.unwrap();
    assert_eq!(listed["policies"], json!(["default", "legacy", "root"]));
    let default = v
        .read(&f.root, "sys/policies/acl/default")
        .await
        .unwrap()
        .data
        .unwrap();
    assert!(
        default["policy"]
            .as_str()
            .unwrap()
            .contains("auth/token/lookup-self")
    );
}

#[tokio::test]
async fn nothing_secret_reaches_storage_in_the_clear() {
    let storage = Arc::new(MemoryStorage::new());
    let f = unsealed_with(Arc::clone(&storage)).await;
    f.vault
        .write(&f.root, "sys/mounts/secret", json!({"type": "kv"}))
        .await
        .unwrap();
    f.vault
        .write(&f.root, "secret/x", json!({"v": "CANARY-in-the-vault"}))
        .await
        .unwrap();
    let everything = conformance::snapshot(&*storage).await;
    for (key, value) in &everything {
        assert!(!key.contains(&f.root), "token in a storage key");
        let text = String::from_utf8_lossy(value);
        assert!(!text.contains("CANARY"), "plaintext at {key}");
        assert!(!text.contains(&f.root), "root token at {key}");
    }
}

/// Counts the reads that reach storage.
#[derive(Debug, Default)]
struct Counting {
    inner: MemoryStorage,
    gets: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl Storage for Counting {
    async fn get(&self, key: &str) -> strongroom_storage::Result<Option<Vec<u8>>> {
        self.gets.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: Vec<u8>) -> strongroom_storage::Result<()> {
        self.inner.put(key, value).await
    }
    async fn delete(&self, key: &str) -> strongroom_storage::Result<()> {
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> strongroom_storage::Result<Vec<String>> {
        self.inner.list(prefix).await
    }
    async fn transaction(
        &self,
        ops: Vec<strongroom_storage::Op>,
    ) -> strongroom_storage::Result<()> {
        self.inner.transaction(ops).await
    }
}

#[tokio::test]
async fn malformed_tokens_are_refused_without_a_storage_lookup() {
    let storage = Arc::new(Counting::default());
    let f = unsealed_with(Arc::clone(&storage)).await;
    let before = storage.gets.load(std::sync::atomic::Ordering::SeqCst);
    for token in [
        "",
        "with space",
        "s.ünïcode",
        "semi;colon",
        &"s.".repeat(5000),
    ] {
        let err = f.vault.read(token, "sys/mounts").await.unwrap_err();
        assert_eq!(kind(&err), ErrorKind::PermissionDenied);
    }
    assert_eq!(
        storage.gets.load(std::sync::atomic::Ordering::SeqCst),
        before,
        "no lookup"
    );
    // A plausible but unknown token costs exactly one lookup.
    f.vault
        .read(&format!("s.{}", "B".repeat(24)), "sys/mounts")
        .await
        .unwrap_err();
    assert_eq!(
        storage.gets.load(std::sync::atomic::Ordering::SeqCst),
        before + 1
    );
}

#[test]
fn debug_output_hides_tokens_and_values() {
    let mut data = Map::new();
    data.insert("password".into(), json!("hunter2"));
    let request = VaultRequest::new(Operation::Update, "secret/x")
        .with_token("s.supersecrettokenvalue12")
        .with_data(data.clone());
    let shown = format!("{request:?}");
    assert!(shown.contains("password"), "{shown}");
    assert!(
        !shown.contains("hunter2") && !shown.contains("supersecret"),
        "{shown}"
    );
}

/// `LIST auth/token/accessors`: every live token's accessor, for a caller with sudo on the path
/// only (Vault's root path `accessors*`).
#[tokio::test]
async fn token_accessors_are_listed_for_sudo_only() {
    let f = unsealed().await;
    let accessor_of =
        |created: &strongroom_core::VaultResponse| created.auth.as_ref().unwrap().accessor.clone();
    let a = f
        .vault
        .write(&f.root, "auth/token/create", json!({"ttl": "1h"}))
        .await
        .unwrap();
    let b = f
        .vault
        .write(&f.root, "auth/token/create", json!({"ttl": "2h"}))
        .await
        .unwrap();
    let listed = f.vault.list(&f.root, "auth/token/accessors").await.unwrap();
    let keys: Vec<String> = serde_json::from_value(listed.data.unwrap()["keys"].clone()).unwrap();
    assert_eq!(keys.len(), 3, "root's and the two children's: {keys:?}");
    for created in [&a, &b] {
        assert!(keys.contains(&accessor_of(created)));
    }
    // Expired tokens are not listed.
    f.clock.advance(Duration::from_secs(90 * 60));
    let listed = f.vault.list(&f.root, "auth/token/accessors").await.unwrap();
    let keys: Vec<String> = serde_json::from_value(listed.data.unwrap()["keys"].clone()).unwrap();
    assert!(!keys.contains(&accessor_of(&a)) && keys.contains(&accessor_of(&b)));

    for (name, caps) in [("lister", r#"["list"]"#), ("sudoer", r#"["list", "sudo"]"#)] {
        f.vault
            .write(
                &f.root,
                &format!("sys/policies/acl/{name}"),
                json!({"policy": format!(r#"path "auth/token/accessors*" {{ capabilities = {caps} }}"#)}),
            )
            .await
            .unwrap();
    }
    let lister = child_token(&f, json!({"policies": ["lister"]})).await;
    let refused = f
        .vault
        .list(&lister, "auth/token/accessors")
        .await
        .unwrap_err();
    assert_eq!(
        kind(&refused),
        ErrorKind::PermissionDenied,
        "sudo is needed"
    );
    let sudoer = child_token(&f, json!({"policies": ["sudoer"]})).await;
    let listed = f.vault.list(&sudoer, "auth/token/accessors").await.unwrap();
    assert!(listed.data.unwrap()["keys"].as_array().unwrap().len() >= 3);
}
