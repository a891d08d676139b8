//! The typed embedding API (`Vault::kv`, `sys`, `policies`, `tokens`) through the public
//! surface: serde round trips on KV v1 and v2, refusals from the same pipeline as any request
//! (policy, token, audit), token lifecycle, and the settings `build()` refuses.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use strongroom_core::{
    AuditDevice, BuildError, ClientToken, FileAuditDevice, InitRequest, MountRequest, TokenRequest,
    Vault, VaultError,
};
use strongroom_seal::{SecretBytes, ShamirSeal, StaticKeySeal};
use strongroom_storage::MemoryStorage;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Db {
    user: String,
    password: String,
    port: u16,
}

fn db(password: &str) -> Db {
    Db {
        user: "app".into(),
        password: password.into(),
        port: 5432,
    }
}

/// An unsealed vault over memory and its root token.
async fn unsealed(vault: Vault) -> (Vault, ClientToken) {
    let init = vault.init(InitRequest::new(1, 1)).await.unwrap();
    vault.unseal(init.keys[0].expose_secret()).await.unwrap();
    (vault, init.root_token)
}

async fn vault() -> (Vault, ClientToken) {
    unsealed(Vault::builder(MemoryStorage::new()).build().unwrap()).await
}

#[tokio::test]
async fn kv_v1_round_trips_a_serde_struct() {
    let (vault, root) = vault().await;
    vault
        .sys()
        .mount(&root, "secret", &MountRequest::new("kv"))
        .await
        .unwrap();
    let kv = vault.kv("secret");
    assert_eq!(kv.get::<Db>(&root, "app/db").await.unwrap(), None);
    assert_eq!(kv.put(&root, "app/db", &db("hunter2")).await.unwrap(), None);
    assert_eq!(
        kv.get::<Db>(&root, "app/db").await.unwrap(),
        Some(db("hunter2"))
    );
    let entry = kv.get_entry::<Db>(&root, "app/db").await.unwrap().unwrap();
    assert_eq!((entry.data, entry.metadata), (db("hunter2"), None));
    // The same secret through the string API: the typed one writes what it would.
    let raw = vault.read(&root, "secret/app/db").await.unwrap();
    assert_eq!(raw.data.unwrap()["password"], "hunter2");
    kv.put(&root, "app/cache", &BTreeMap::from([("url", "redis://")]))
        .await
        .unwrap();
    assert_eq!(kv.list(&root, "").await.unwrap(), ["app/"]);
    assert_eq!(kv.list(&root, "app/").await.unwrap(), ["cache", "db"]);
    assert!(kv.list(&root, "nothing").await.unwrap().is_empty());
    kv.delete(&root, "app/db").await.unwrap();
    assert_eq!(kv.get::<Db>(&root, "app/db").await.unwrap(), None);
}

#[tokio::test]
async fn kv_v2_round_trips_with_version_metadata() {
    let (vault, root) = vault().await;
    vault
        .sys()
        .mount(
            &root,
            "kv2",
            &MountRequest::new("kv").option("version", "2"),
        )
        .await
        .unwrap();
    let kv = vault.kv("kv2/");
    let first = kv.put(&root, "app/db", &db("one")).await.unwrap().unwrap();
    let second = kv.put(&root, "app/db", &db("two")).await.unwrap().unwrap();
    assert_eq!((first.version, second.version), (1, 2));
    assert!(!second.destroyed && second.deletion_time.is_empty());
    let entry = kv.get_entry::<Db>(&root, "app/db").await.unwrap().unwrap();
    assert_eq!(entry.data, db("two"));
    assert_eq!(entry.metadata.unwrap().version, 2);
    // Stored under v2's data path, as a Vault client would find it.
    let raw = vault.read(&root, "kv2/data/app/db").await.unwrap();
    assert_eq!(raw.data.unwrap()["data"]["password"], "two");
    assert_eq!(kv.list(&root, "app").await.unwrap(), ["db"]);

    // A soft delete hides the latest version (it is still listed, as in Vault).
    kv.delete(&root, "app/db").await.unwrap();
    assert_eq!(kv.get::<Db>(&root, "app/db").await.unwrap(), None);
    assert_eq!(kv.list(&root, "app").await.unwrap(), ["db"]);
    // Deleting everything removes the metadata too.
    kv.delete_all(&root, "app/db").await.unwrap();
    assert!(kv.list(&root, "app").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_value_of_the_wrong_shape_is_a_decode_error_without_the_value() {
    let (vault, root) = vault().await;
    vault
        .sys()
        .mount(&root, "secret", &MountRequest::new("kv-v2"))
        .await
        .unwrap();
    let kv = vault.kv("secret");
    kv.put(&root, "app/db", &db("hunter2")).await.unwrap();

    #[derive(Debug, Deserialize)]
    #[allow(dead_code, reason = "only decoded")]
    struct Wrong {
        user: String,
        password: u64,
    }
    let err = kv.get::<Wrong>(&root, "app/db").await.unwrap_err();
    assert!(matches!(err, VaultError::Decode(_)), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("expected u64"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");

    let err = kv.put(&root, "app/list", &["a", "b"]).await.unwrap_err();
    assert!(matches!(err, VaultError::Decode(_)), "{err:?}");
}

#[tokio::test]
async fn typed_calls_meet_the_policy_like_any_request() {
    let (vault, root) = vault().await;
    let sys = vault.sys();
    sys.mount(&root, "secret", &MountRequest::new("kv"))
        .await
        .unwrap();
    sys.mount(&root, "kv2", &MountRequest::new("kv-v2"))
        .await
        .unwrap();
    let policy = r#"
        path "secret/app/*" { capabilities = ["create", "read", "update", "list"] }
        path "kv2/data/app/*" { capabilities = ["create", "read", "update"] }
    "#;
    vault.policies().put(&root, "app", policy).await.unwrap();
    let app = vault
        .tokens()
        .create(&root, &TokenRequest::new().policies(["app"]))
        .await
        .unwrap()
        .client_token;

    for mount in ["secret", "kv2"] {
        let kv = vault.kv(mount);
        kv.put(&app, "app/db", &db("pw")).await.unwrap();
        assert_eq!(kv.get::<Db>(&app, "app/db").await.unwrap(), Some(db("pw")));
        for denied in [
            kv.put(&app, "other/db", &db("pw")).await.map(drop),
            kv.get::<Db>(&app, "other/db").await.map(drop),
            kv.delete(&app, "app/db").await,
        ] {
            assert!(
                matches!(denied, Err(VaultError::PermissionDenied)),
                "{mount}: {denied:?}"
            );
        }
    }
    // Nor may it manage the vault.
    let refused = [
        vault
            .sys()
            .mount(&app, "mine", &MountRequest::new("kv"))
            .await,
        vault.policies().put(&app, "app", "").await,
        vault
            .tokens()
            .create(&app, &TokenRequest::new().policies(["root"]))
            .await
            .map(drop),
    ];
    for result in refused {
        assert!(
            matches!(result, Err(VaultError::PermissionDenied)),
            "{result:?}"
        );
    }
    // And an unknown token gets nothing, typed or not.
    let stranger = ClientToken::new("s.unknown");
    assert!(matches!(
        vault.kv("secret").get::<Db>(&stranger, "app/db").await,
        Err(VaultError::PermissionDenied)
    ));
}

#[tokio::test]
async fn tokens_are_created_looked_up_and_revoked() {
    let (vault, root) = vault().await;
    let tokens = vault.tokens();
    vault
        .policies()
        .put(
            &root,
            "reader",
            r#"
                path "secret/*" { capabilities = ["read"] }
                path "auth/token/create" { capabilities = ["update"] }
            "#,
        )
        .await
        .unwrap();
    let request = TokenRequest::new()
        .policies(["reader"])
        .ttl(Duration::from_secs(600))
        .num_uses(10)
        .display_name("ci")
        .meta("team", "payments");
    let created = tokens.create(&root, &request).await.unwrap();
    assert_eq!(created.policies, ["default", "reader"]);
    assert_eq!(created.lease_duration, 600);
    assert!(!format!("{created:?}").contains(created.client_token.expose_secret()));

    let info = tokens.lookup(&root, &created.client_token).await.unwrap();
    assert_eq!(info.accessor, created.accessor);
    assert_eq!(info.policies, ["default", "reader"]);
    assert_eq!(info.display_name, "token-ci");
    assert_eq!(info.meta["team"], "payments");
    assert_eq!(info.num_uses, 10);
    assert_eq!(info.creation_ttl, Duration::from_secs(600));
    assert!(info.ttl <= Duration::from_secs(600) && !info.ttl.is_zero());
    assert!(!info.orphan && info.renewable);

    // Its own lookup spends one of its uses.
    let own = tokens.lookup_self(&created.client_token).await.unwrap();
    assert_eq!(own.num_uses, 9);
    let by_accessor = tokens.lookup_accessor(&root, &info.accessor).await.unwrap();
    assert_eq!(by_accessor.num_uses, 9);

    // A token with limited uses makes no children (Vault's rule).
    let limited = tokens
        .create(&created.client_token, &TokenRequest::new())
        .await
        .unwrap_err();
    assert!(
        matches!(limited, VaultError::InvalidRequest(_)),
        "{limited:?}"
    );
    tokens.revoke(&root, &created.client_token).await.unwrap();
    assert!(matches!(
        tokens.lookup_self(&created.client_token).await,
        Err(VaultError::PermissionDenied)
    ));

    // A child goes with its parent; an orphan needs sudo.
    let parent = tokens
        .create(&root, &TokenRequest::new().policies(["reader"]))
        .await
        .unwrap();
    let child = tokens
        .create(&parent.client_token, &TokenRequest::new())
        .await
        .unwrap();
    assert_eq!(child.policies, ["default", "reader"]);
    let orphan = tokens
        .create(&parent.client_token, &TokenRequest::new().orphan())
        .await
        .unwrap_err();
    assert!(orphan.to_string().contains("sudo"), "{orphan:?}");
    tokens.revoke(&root, &parent.client_token).await.unwrap();
    for gone in [&parent.client_token, &child.client_token] {
        assert!(matches!(
            tokens.lookup_self(gone).await,
            Err(VaultError::PermissionDenied)
        ));
    }
    // Revoking by accessor, and revoking oneself.
    let a = tokens.create(&root, &TokenRequest::new()).await.unwrap();
    tokens.revoke_accessor(&root, &a.accessor).await.unwrap();
    assert!(tokens.lookup_self(&a.client_token).await.is_err());
    let b = tokens
        .create(&root, &TokenRequest::new().ttl(Duration::from_secs(60)))
        .await
        .unwrap();
    let renewed = tokens
        .renew_self(&b.client_token, Some(Duration::from_secs(120)))
        .await
        .unwrap();
    assert_eq!(renewed.lease_duration, 120);
    assert_eq!(renewed.client_token, b.client_token);
    tokens.revoke_self(&b.client_token).await.unwrap();
    assert!(tokens.lookup_self(&b.client_token).await.is_err());
}

#[tokio::test]
async fn mounts_and_policies_are_managed_typed() {
    let (vault, root) = vault().await;
    let sys = vault.sys();
    sys.mount(
        &root,
        "team/kv",
        &MountRequest::new("kv")
            .option("version", "2")
            .description("team secrets")
            .max_lease_ttl(Duration::from_secs(3600)),
    )
    .await
    .unwrap();
    let mounts = sys.mounts(&root).await.unwrap();
    let team = mounts.iter().find(|m| m.path == "team/kv/").unwrap();
    assert_eq!(team.kind, "kv");
    assert_eq!(team.description, "team secrets");
    assert_eq!(team.options["version"], "2");
    assert!(
        mounts
            .iter()
            .any(|m| m.path == "sys/" && m.kind == "system")
    );
    let again = sys
        .mount(&root, "team/kv", &MountRequest::new("kv"))
        .await
        .unwrap_err();
    assert!(matches!(again, VaultError::InvalidRequest(_)), "{again:?}");
    sys.unmount(&root, "team/kv").await.unwrap();
    assert!(
        !sys.mounts(&root)
            .await
            .unwrap()
            .iter()
            .any(|m| m.path == "team/kv/")
    );
    let auth = sys.auth_methods(&root).await.unwrap();
    assert!(auth.iter().any(|m| m.path == "token/" && m.kind == "token"));

    let policies = vault.policies();
    assert_eq!(policies.get(&root, "ops").await.unwrap(), None);
    let text = r#"path "sys/mounts" { capabilities = ["read"] }"#;
    policies.put(&root, "ops", text).await.unwrap();
    assert_eq!(
        policies.get(&root, "ops").await.unwrap().as_deref(),
        Some(text)
    );
    let names = policies.list(&root).await.unwrap();
    assert!(names.contains(&"ops".to_owned()) && names.contains(&"default".to_owned()));
    let bad = policies.put(&root, "bad", "path {").await.unwrap_err();
    assert!(!matches!(bad, VaultError::PermissionDenied), "{bad:?}");
    policies.delete(&root, "ops").await.unwrap();
    assert_eq!(policies.get(&root, "ops").await.unwrap(), None);
}

#[cfg(feature = "auth")]
#[tokio::test]
async fn auth_methods_are_enabled_and_disabled_typed() {
    let (vault, root) = vault().await;
    let sys = vault.sys();
    sys.enable_auth(&root, "people", &MountRequest::new("userpass"))
        .await
        .unwrap();
    let methods = sys.auth_methods(&root).await.unwrap();
    assert!(
        methods
            .iter()
            .any(|m| m.path == "people/" && m.kind == "userpass")
    );
    // A secrets engine is not an auth method.
    assert!(
        sys.enable_auth(&root, "kv", &MountRequest::new("kv"))
            .await
            .is_err()
    );
    sys.disable_auth(&root, "people").await.unwrap();
    assert!(
        !sys.auth_methods(&root)
            .await
            .unwrap()
            .iter()
            .any(|m| m.path == "people/")
    );
}

/// Keeps every audit line in memory.
#[derive(Debug, Default)]
struct Lines(Mutex<Vec<String>>);

#[async_trait]
impl AuditDevice for Lines {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn write_line(&self, line: &[u8]) -> std::io::Result<()> {
        self.0
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(line).into_owned());
        Ok(())
    }
}

#[tokio::test]
async fn typed_calls_are_audited_with_nothing_secret_in_clear() {
    let lines = Arc::new(Lines::default());
    let (vault, root) = unsealed(
        Vault::builder(MemoryStorage::new())
            .declared_audit_device("memory", "test", lines.clone())
            .build()
            .unwrap(),
    )
    .await;
    vault
        .sys()
        .mount(&root, "secret", &MountRequest::new("kv"))
        .await
        .unwrap();
    vault
        .kv("secret")
        .put(&root, "app/db", &db("hunter2"))
        .await
        .unwrap();
    let created = vault
        .tokens()
        .create(&root, &TokenRequest::new())
        .await
        .unwrap();
    let lines = lines.0.lock().unwrap().clone();
    let put = lines
        .iter()
        .find(|l| l.contains("\"secret/app/db\"") && l.contains("\"request\""))
        .expect("the typed write is audited");
    assert!(put.contains("hmac-sha256:"), "{put}");
    for line in &lines {
        for secret in [
            "hunter2",
            root.expose_secret(),
            created.client_token.expose_secret(),
        ] {
            assert!(!line.contains(secret), "{line}");
        }
    }
}

fn refused(builder: strongroom_core::VaultBuilder) -> BuildError {
    match builder.build() {
        Ok(vault) => panic!("built {vault:?}"),
        Err(err) => err,
    }
}

#[test]
fn build_refuses_contradictory_settings() {
    let storage = || Vault::builder(MemoryStorage::new());
    let shamir = ShamirSeal::from_key(&SecretBytes::new(vec![7; 32])).unwrap();
    assert_eq!(
        refused(storage().seal(Arc::new(shamir))),
        BuildError::SealNeedsShares {
            kind: "shamir".into()
        }
    );
    let device = || Arc::new(Lines::default());
    assert!(matches!(
        refused(storage().declared_audit_device("", "", device())),
        BuildError::AuditPath { .. }
    ));
    assert!(matches!(
        refused(storage().declared_audit_device("a/../b", "", device())),
        BuildError::AuditPath { .. }
    ));
    assert_eq!(
        refused(
            storage()
                .declared_audit_device("main", "", device())
                .declared_audit_device("main/", "", device())
        ),
        BuildError::DuplicateAuditPath {
            path: "main/".into()
        }
    );
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir").join("audit.log");
    assert!(matches!(
        refused(storage().declared_audit_device(
            "file",
            "",
            Arc::new(FileAuditDevice::new(&missing))
        )),
        BuildError::AuditDevice { .. }
    ));
    assert!(matches!(
        refused(storage().declared_audit_device(
            "file",
            "",
            Arc::new(FileAuditDevice::new(dir.path()))
        )),
        BuildError::AuditDevice { .. }
    ));
    for bad in ["relative/audit", "/var/../etc"] {
        assert!(
            matches!(
                refused(storage().audit_dir(bad)),
                BuildError::AuditDir { .. }
            ),
            "{bad}"
        );
    }
    assert_eq!(
        refused(storage().audit_timeout(Duration::ZERO)),
        BuildError::AuditTimeout
    );
    let engine = |_: &serde_json::Map<String, serde_json::Value>| {
        Err(strongroom_logical::LogicalError::invalid("unused"))
    };
    for kind in ["", "kv-v2", "system", "token", "my engine", "a/b"] {
        assert!(
            matches!(
                refused(storage().engine(kind, engine)),
                BuildError::EngineKind { .. }
            ),
            "{kind:?}"
        );
    }
}

#[tokio::test]
async fn build_accepts_what_can_work() {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::builder(MemoryStorage::new())
        .audit_dir(dir.path())
        .declared_audit_device(
            "file",
            "",
            Arc::new(FileAuditDevice::new(dir.path().join("audit.log"))),
        )
        .seal(Arc::new(StaticKeySeal::from_bytes(&[9; 32]).unwrap()))
        .build()
        .unwrap();
    // The auto-unseal seal was kept: init unseals through it.
    let init = vault.init(InitRequest::new(1, 1)).await.unwrap();
    assert!(init.recovery);
    assert!(!vault.seal_status().await.unwrap().sealed);
    // And the declared device records requests.
    vault.tokens().lookup_self(&init.root_token).await.unwrap();
    let log = std::fs::read_to_string(dir.path().join("audit.log")).unwrap();
    assert!(log.contains("auth/token/lookup-self"), "{log}");
}
