//! The token store against OpenBao 2.7.2's behaviour (each expectation was checked against
//! `bao server -dev`): batch tokens (not stored, not renewable or revocable, no accessor, dead
//! with their parent or at their TTL, refused when tampered with, their key kept across a seal),
//! token roles (read shape and defaults, Vault's policy rules and wording, path, orphan, type,
//! limits at creation and renewal), and the details of create-orphan, lookups of unknown tokens
//! and renewal warnings.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use serde_json::{Value, json};
use strongroom_core::{InitRequest, ManualClock, TokenType, Vault, VaultError, VaultResponse};
use strongroom_logical::ErrorKind;
use strongroom_storage::{MemoryStorage, Storage};

struct Setup {
    vault: Vault,
    root: String,
    key: String,
    clock: Arc<ManualClock>,
    storage: Arc<dyn Storage>,
}

async fn setup() -> Setup {
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let vault = Vault::builder(Arc::clone(&storage))
        .clock(clock.clone())
        .background_expiry(false)
        .build()
        .unwrap();
    let init = vault.init(InitRequest::new(1, 1)).await.unwrap();
    let key = init.keys[0].expose_secret().to_owned();
    vault.unseal(&key).await.unwrap();
    let root = init.root_token.expose_secret().to_owned();
    vault
        .write(
            &root,
            "sys/policies/acl/creator",
            json!({"policy": r#"
                path "auth/token/create" { capabilities = ["update"] }
                path "auth/token/create-orphan" { capabilities = ["update"] }
                path "auth/token/create/*" { capabilities = ["update"] }
            "#}),
        )
        .await
        .unwrap();
    Setup {
        vault,
        root,
        key,
        clock,
        storage,
    }
}

impl Setup {
    async fn create(&self, token: &str, path: &str, body: Value) -> VaultResponse {
        self.vault
            .write(token, &format!("auth/token/{path}"), body)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    async fn token(&self, token: &str, path: &str, body: Value) -> String {
        self.create(token, path, body)
            .await
            .auth
            .unwrap()
            .client_token
            .expose_secret()
            .to_owned()
    }

    async fn refused(&self, token: &str, path: &str, body: Value) -> VaultError {
        match self.vault.write(token, path, body).await {
            Ok(answer) => panic!("{path} was accepted: {answer:?}"),
            Err(err) => err,
        }
    }

    async fn lookup(&self, token: &str) -> serde_json::Map<String, Value> {
        self.vault
            .write(&self.root, "auth/token/lookup", json!({"token": token}))
            .await
            .unwrap()
            .data
            .unwrap()
    }

    /// How many service token entries storage holds.
    async fn stored_tokens(&self) -> usize {
        self.storage.list("sys/token/id/").await.unwrap().len()
    }
}

fn invalid(err: &VaultError) -> String {
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err:?}");
    err.to_string()
}

#[tokio::test]
async fn a_batch_token_is_its_own_record() {
    let s = setup().await;
    let before = s.stored_tokens().await;
    let made = s
        .create(
            &s.root,
            "create",
            json!({"type": "batch", "ttl": "1h", "policies": ["default"], "meta": {"a": "b"}}),
        )
        .await;
    let auth = made.auth.unwrap();
    let batch = auth.client_token.expose_secret().to_owned();
    assert!(batch.starts_with("b."), "{batch}");
    assert!(batch.len() > 100 && batch.len() < 400, "{}", batch.len());
    assert_eq!(auth.token_type, TokenType::Batch);
    assert_eq!(auth.accessor, "");
    assert!(!auth.renewable);
    assert!(!auth.orphan, "a child of root");
    assert_eq!(auth.lease_duration, 3600);
    assert_eq!(s.stored_tokens().await, before, "nothing stored");

    let me = s
        .vault
        .read(&batch, "auth/token/lookup-self")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(me["type"], "batch");
    assert_eq!(me["accessor"], "");
    assert_eq!(me["id"], batch.as_str());
    assert_eq!(me["renewable"], false);
    assert_eq!(me["orphan"], false);
    assert_eq!(me["creation_ttl"], 3600);
    assert_eq!(me["meta"], json!({"a": "b"}));
    assert_eq!(me["path"], "auth/token/create");
    assert!(me.get("period").is_none());
    assert_eq!(s.lookup(&batch).await["type"], "batch");

    // Not renewable, not revocable, by itself or by root.
    for (token, path, body, text) in [
        (
            &batch,
            "auth/token/renew-self",
            json!({}),
            "batch tokens cannot be renewed",
        ),
        (
            &batch,
            "auth/token/revoke-self",
            json!({}),
            "batch tokens cannot be revoked",
        ),
        (
            &s.root,
            "auth/token/renew",
            json!({"token": batch}),
            "batch tokens cannot be renewed",
        ),
        (
            &s.root,
            "auth/token/revoke",
            json!({"token": batch}),
            "batch tokens cannot be revoked",
        ),
        (
            &s.root,
            "auth/token/revoke-orphan",
            json!({"token": batch}),
            "batch tokens cannot be revoked",
        ),
    ] {
        assert_eq!(invalid(&s.refused(token, path, body).await), text, "{path}");
    }
    // Still valid after all that.
    s.vault
        .read(&batch, "auth/token/lookup-self")
        .await
        .unwrap();
}

#[tokio::test]
async fn batch_tokens_have_vaults_limits() {
    let s = setup().await;
    for (body, text) in [
        (
            json!({"type": "batch", "num_uses": 2}),
            "batch tokens cannot have \"num_uses\" set",
        ),
        (
            json!({"type": "batch", "num_uses": -1}),
            "batch tokens cannot have \"num_uses\" set",
        ),
        (
            json!({"type": "batch", "period": "1h"}),
            "batch tokens cannot have \"period\" set",
        ),
        (
            json!({"type": "batch", "explicit_max_ttl": "1h"}),
            "batch tokens cannot have \"explicit_max_ttl\" set",
        ),
        // Root's policies are inherited: root.
        (
            json!({"type": "batch"}),
            "batch tokens cannot be root tokens",
        ),
        (json!({"type": "bogus"}), "invalid 'token_type' value"),
        (json!({"type": "default"}), "invalid 'token_type' value"),
    ] {
        let err = s.refused(&s.root, "auth/token/create", body.clone()).await;
        assert_eq!(invalid(&err), text, "{body}");
    }
    // A batch token cannot make tokens, even where its policy allows it.
    let batch = s
        .token(
            &s.root,
            "create",
            json!({"type": "batch", "policies": ["creator"]}),
        )
        .await;
    for path in ["auth/token/create", "auth/token/create-orphan"] {
        let err = s.refused(&batch, path, json!({})).await;
        assert_eq!(invalid(&err), "batch tokens cannot create more tokens");
    }
    // renewable=true is ignored; no_parent with sudo makes an orphan.
    let made = s
        .create(
            &s.root,
            "create",
            json!({"type": "batch", "renewable": true, "no_parent": true, "policies": ["default"]}),
        )
        .await
        .auth
        .unwrap();
    assert!(!made.renewable);
    assert!(made.orphan);
}

#[tokio::test]
async fn a_batch_token_dies_with_its_parent_and_at_its_ttl() {
    let s = setup().await;
    let parent = s
        .token(&s.root, "create", json!({"policies": ["creator"]}))
        .await;
    let child = s
        .token(&parent, "create", json!({"type": "batch", "ttl": "10m"}))
        .await;
    let orphan = s
        .token(
            &parent,
            "create-orphan",
            json!({"type": "batch", "ttl": "10m"}),
        )
        .await;
    assert_eq!(s.lookup(&orphan).await["orphan"], true);
    assert_eq!(s.lookup(&orphan).await["path"], "auth/token/create-orphan");
    s.vault
        .read(&child, "auth/token/lookup-self")
        .await
        .unwrap();
    s.create(&parent, "revoke-self", json!({})).await;
    // The child is dead: refused as a token, "bad token" to a lookup.
    assert!(matches!(
        s.vault.read(&child, "auth/token/lookup-self").await,
        Err(VaultError::PermissionDenied)
    ));
    let err = s
        .refused(&s.root, "auth/token/lookup", json!({"token": child}))
        .await;
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    assert_eq!(err.to_string(), "bad token");
    // The orphan lives on, until its TTL.
    s.vault
        .read(&orphan, "auth/token/lookup-self")
        .await
        .unwrap();
    s.clock.advance(Duration::from_secs(599));
    s.vault
        .read(&orphan, "auth/token/lookup-self")
        .await
        .unwrap();
    s.clock.advance(Duration::from_secs(1));
    assert!(matches!(
        s.vault.read(&orphan, "auth/token/lookup-self").await,
        Err(VaultError::PermissionDenied)
    ));
}

#[tokio::test]
async fn a_batch_token_dies_with_an_expired_parent() {
    let s = setup().await;
    let parent = s
        .token(
            &s.root,
            "create",
            json!({"policies": ["creator"], "ttl": "1m"}),
        )
        .await;
    // Vault lets a child ask for more than its parent has; the parent's expiry ends it anyway.
    let child = s
        .token(&parent, "create", json!({"type": "batch", "ttl": "1h"}))
        .await;
    s.clock.advance(Duration::from_secs(61));
    assert!(matches!(
        s.vault.read(&child, "auth/token/lookup-self").await,
        Err(VaultError::PermissionDenied)
    ));
}

#[tokio::test]
async fn the_batch_key_is_kept_inside_the_barrier_across_a_seal() {
    let s = setup().await;
    assert!(
        s.storage
            .get("sys/token/batch-key")
            .await
            .unwrap()
            .is_none(),
        "made by the first batch token, not before"
    );
    let batch = s
        .token(
            &s.root,
            "create",
            json!({"type": "batch", "policies": ["default"]}),
        )
        .await;
    let stored = s.storage.get("sys/token/batch-key").await.unwrap().unwrap();
    assert!(stored.len() > 32, "barrier ciphertext, not the raw key");
    s.vault.seal().await;
    assert!(
        s.vault
            .read(&batch, "auth/token/lookup-self")
            .await
            .is_err()
    );
    s.vault.unseal(&s.key).await.unwrap();
    let me = s
        .vault
        .read(&batch, "auth/token/lookup-self")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(me["type"], "batch");
    // A second batch token uses the same key.
    let again = s
        .token(
            &s.root,
            "create",
            json!({"type": "batch", "policies": ["default"]}),
        )
        .await;
    s.vault
        .read(&again, "auth/token/lookup-self")
        .await
        .unwrap();
    assert_eq!(
        s.storage.get("sys/token/batch-key").await.unwrap().unwrap(),
        stored
    );
}

/// One way to damage a token.
#[derive(Clone, Debug)]
enum Damage {
    Replace(usize, u8),
    Truncate(usize),
    Insert(usize, u8),
    Remove(usize),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Damage::Replace(i, b)),
        any::<usize>().prop_map(Damage::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Damage::Insert(i, b)),
        any::<usize>().prop_map(Damage::Remove),
    ]
}

fn apply(token: &str, damages: &[Damage]) -> String {
    // Printable ASCII mostly, base64url characters often: damaged tokens that still parse.
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!= ";
    let mut bytes = token.as_bytes().to_vec();
    for d in damages {
        let len = bytes.len().max(1);
        match *d {
            Damage::Replace(i, b) => {
                if !bytes.is_empty() {
                    bytes[i % len] = alphabet[usize::from(b) % alphabet.len()];
                }
            }
            Damage::Truncate(i) => bytes.truncate(i % len),
            Damage::Insert(i, b) => bytes.insert(
                i % (bytes.len() + 1),
                alphabet[usize::from(b) % alphabet.len()],
            ),
            Damage::Remove(i) => {
                if !bytes.is_empty() {
                    bytes.remove(i % len);
                }
            }
        }
    }
    String::from_utf8(bytes).unwrap()
}

#[test]
fn damaged_batch_tokens_are_refused_without_panics() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (s, batch) = runtime.block_on(async {
        let s = setup().await;
        let batch = s
            .token(
                &s.root,
                "create",
                json!({"type": "batch", "policies": ["default"], "meta": {"k": "v"}}),
            )
            .await;
        (s, batch)
    });
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 400,
        ..ProptestConfig::default()
    });
    runner
        .run(&proptest::collection::vec(damage(), 1..4), |damages| {
            let damaged = apply(&batch, &damages);
            if damaged == batch {
                return Ok(());
            }
            runtime.block_on(async {
                // As the request's token: 403 permission denied.
                let used = s.vault.read(&damaged, "auth/token/lookup-self").await;
                prop_assert!(
                    matches!(used, Err(VaultError::PermissionDenied)),
                    "{damaged:?} gave {used:?}"
                );
                // Looked up: 403 bad token (or, for an empty one, Vault's missing token).
                let looked = s
                    .vault
                    .write(&s.root, "auth/token/lookup", json!({"token": damaged}))
                    .await;
                match looked {
                    Err(err) if damaged.is_empty() => {
                        prop_assert_eq!(err.kind(), ErrorKind::InvalidRequest);
                    }
                    Err(err) => {
                        prop_assert_eq!(err.kind(), ErrorKind::PermissionDenied);
                        prop_assert_eq!(err.to_string(), "bad token");
                    }
                    Ok(answer) => prop_assert!(false, "{damaged:?} looked up: {answer:?}"),
                }
                Ok(())
            })
        })
        .unwrap();
    // The original still works.
    runtime
        .block_on(s.vault.read(&batch, "auth/token/lookup-self"))
        .unwrap();
}

#[tokio::test]
async fn roles_read_as_vault_reads_them() {
    let s = setup().await;
    assert!(
        s.create(&s.root, "roles/r1", json!({}))
            .await
            .data
            .is_none()
    );
    let r1 = s
        .vault
        .read(&s.root, "auth/token/roles/r1")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(
        Value::Object(r1),
        json!({
            "allowed_entity_aliases": null,
            "allowed_policies": [],
            "allowed_policies_glob": [],
            "disallowed_policies": [],
            "disallowed_policies_glob": [],
            "explicit_max_ttl": 0,
            "name": "r1",
            "orphan": false,
            "path_suffix": "",
            "period": 0,
            "renewable": true,
            "token_explicit_max_ttl": 0,
            "token_no_default_policy": false,
            "token_period": 0,
            "token_type": "default-service",
        })
    );
    s.create(
        &s.root,
        "roles/r2",
        json!({
            "allowed_policies": "a,B,default", "disallowed_policies": "x,Y",
            "allowed_policies_glob": "g*", "disallowed_policies_glob": "d*",
            "orphan": true, "renewable": false, "path_suffix": "v1.0",
            "token_explicit_max_ttl": "2h", "token_period": "1h",
            "token_type": "default-batch", "token_bound_cidrs": "127.0.0.1/32",
            "token_no_default_policy": true, "token_num_uses": 3,
            "allowed_entity_aliases": "e1,E2",
        }),
    )
    .await;
    let r2 = s
        .vault
        .read(&s.root, "auth/token/roles/r2")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(
        Value::Object(r2),
        json!({
            "allowed_entity_aliases": ["e1", "e2"],
            "allowed_policies": ["a", "b", "default"],
            "allowed_policies_glob": ["g*"],
            "disallowed_policies": ["x", "y"],
            "disallowed_policies_glob": ["d*"],
            "explicit_max_ttl": 0,
            "name": "r2",
            "orphan": true,
            "path_suffix": "v1.0",
            "period": 0,
            "renewable": false,
            "token_bound_cidrs": ["127.0.0.1"],
            "token_explicit_max_ttl": 7200,
            "token_no_default_policy": true,
            "token_num_uses": 3,
            "token_period": 3600,
            "token_type": "default-batch",
        })
    );
    // The deprecated names are kept for reads, and feed the token_ ones.
    s.create(
        &s.root,
        "roles/r3",
        json!({"period": "1h", "explicit_max_ttl": "2h", "bound_cidrs": "10.0.0.0/8"}),
    )
    .await;
    let r3 = s
        .vault
        .read(&s.root, "auth/token/roles/r3")
        .await
        .unwrap()
        .data
        .unwrap();
    for (field, value) in [
        ("period", json!(3600)),
        ("token_period", json!(3600)),
        ("explicit_max_ttl", json!(7200)),
        ("token_explicit_max_ttl", json!(7200)),
        ("bound_cidrs", json!(["10.0.0.0/8"])),
        ("token_bound_cidrs", json!(["10.0.0.0/8"])),
    ] {
        assert_eq!(r3[field], value, "{field}");
    }
    let warned = s
        .create(
            &s.root,
            "roles/r7",
            json!({"token_period": "1h", "period": "2h"}),
        )
        .await;
    assert_eq!(
        warned.warnings,
        [
            "Both 'token_period' and deprecated 'period' value supplied, ignoring the deprecated value"
        ]
    );
    let warned = s
        .create(
            &s.root,
            "roles/r8",
            json!({"token_explicit_max_ttl": "999999h"}),
        )
        .await;
    assert_eq!(
        warned.warnings,
        [
            "Given explicit max TTL of 3599996400 is greater than system/mount allowed value of \
          2764800 seconds; until this is fixed attempting to create tokens against this role \
          will result in an error"
        ]
    );

    let keys = s
        .vault
        .list(&s.root, "auth/token/roles")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(keys["keys"], json!(["r1", "r2", "r3", "r7", "r8"]));
    // Inside the barrier, under the token store's prefix.
    assert!(s.storage.get("sys/token/roles/r1").await.unwrap().is_some());
    s.vault
        .delete(&s.root, "auth/token/roles/r1")
        .await
        .unwrap();
    assert!(
        s.vault
            .read(&s.root, "auth/token/roles/r1")
            .await
            .unwrap()
            .data
            .is_none()
    );
    // Deleting what is not there is fine.
    s.vault
        .delete(&s.root, "auth/token/roles/r1")
        .await
        .unwrap();
}

#[tokio::test]
async fn role_writes_refuse_what_vault_refuses() {
    let s = setup().await;
    for (name, body, text) in [
        (
            "b1",
            json!({"token_type": "batch"}),
            "'token_type' cannot be 'batch' when role is set to generate non-orphan tokens",
        ),
        (
            "b1",
            json!({"token_type": "batch", "orphan": true}),
            "'token_type' cannot be 'batch' when role is set to generate renewable tokens",
        ),
        (
            "b1",
            json!({"token_type": "batch", "orphan": true, "renewable": false, "token_period": "1h"}),
            "'token_type' cannot be 'batch' when role is set to generate periodic tokens",
        ),
        (
            "t",
            json!({"token_type": "bogus"}),
            "invalid 'token_type' value \"bogus\"",
        ),
        (
            "t",
            json!({"token_type": "default"}),
            "invalid 'token_type' value \"default\"",
        ),
        (
            "p",
            json!({"path_suffix": "a/../b"}),
            "given role path suffix contains invalid characters; must match \\w[\\w-.]+\\w",
        ),
        (
            "p",
            json!({"path_suffix": "x!"}),
            "given role path suffix contains invalid characters; must match \\w[\\w-.]+\\w",
        ),
        (
            "p",
            json!({"path_suffix": "a..b"}),
            "error registering path suffix: path cannot contain parent references",
        ),
        (
            "c",
            json!({"token_bound_cidrs": "notacidr"}),
            "error parsing role fields: error parsing address \"notacidr\": Unable to convert \
             \"notacidr\" to an IPv4 or IPv6 address, or a UNIX Socket",
        ),
        (
            "n",
            json!({"token_num_uses": -1}),
            "error parsing role fields: 'token_num_uses' cannot be negative",
        ),
    ] {
        let err = s
            .refused(&s.root, &format!("auth/token/roles/{name}"), body.clone())
            .await;
        assert_eq!(invalid(&err), text, "{body}");
    }
    assert!(
        s.vault
            .read(&s.root, "auth/token/roles/b1")
            .await
            .unwrap()
            .data
            .is_none(),
        "a refused write changes nothing"
    );
    for name in ["a!b", "-ab", "ab."] {
        let err = s
            .refused(&s.root, &format!("auth/token/roles/{name}"), json!({}))
            .await;
        assert!(
            matches!(err, VaultError::UnsupportedPath),
            "{name}: {err:?}"
        );
    }
}

#[tokio::test]
async fn creating_against_a_role() {
    let s = setup().await;
    let err = s
        .refused(&s.root, "auth/token/create/nope", json!({}))
        .await;
    assert_eq!(invalid(&err), "unknown role nope");

    // A role without policy lists: the usual rules, the role's path and name.
    s.create(&s.root, "roles/plain", json!({})).await;
    let token = s.token(&s.root, "create/plain", json!({})).await;
    let info = s.lookup(&token).await;
    assert_eq!(info["path"], "auth/token/create/plain");
    assert_eq!(info["role"], "plain");
    assert_eq!(info["policies"], json!(["root"]));

    // Allowed and disallowed lists replace the subset-of-parent rule.
    s.create(
        &s.root,
        "roles/r9",
        json!({"allowed_policies": "a,b", "disallowed_policies": "b"}),
    )
    .await;
    let err = s.refused(&s.root, "auth/token/create/r9", json!({})).await;
    assert_eq!(
        invalid(&err),
        "token policy \"b\" is disallowed by this role"
    );
    let made = s
        .create(&s.root, "create/r9", json!({"policies": ["a"]}))
        .await;
    assert_eq!(made.warnings, ["Policy \"a\" does not exist"]);
    assert_eq!(made.auth.unwrap().policies, ["a", "default"]);
    let err = s
        .refused(
            &s.root,
            "auth/token/create/r9",
            json!({"policies": ["a", "zz"]}),
        )
        .await;
    assert_eq!(
        invalid(&err),
        "token policies ([\"a\" \"default\" \"zz\"]) must be subset of the role's allowed \
         policies ([\"a\" \"b\" \"default\"]) or glob policies ([])"
    );
    // A caller without sudo gets policies outside its own through the role.
    let creator = s
        .token(&s.root, "create", json!({"policies": ["creator"]}))
        .await;
    let made = s
        .create(&creator, "create/r9", json!({"policies": ["a"]}))
        .await;
    assert_eq!(made.auth.unwrap().policies, ["a", "default"]);
    let err = s
        .refused(&creator, "auth/token/create", json!({"policies": ["a"]}))
        .await;
    assert_eq!(invalid(&err), "child policies must be subset of parent");

    // Disallowed `default` (exact or glob) is not added.
    s.create(
        &s.root,
        "roles/r11",
        json!({"disallowed_policies_glob": "d*"}),
    )
    .await;
    let made = s
        .create(&s.root, "create/r11", json!({"policies": ["y"]}))
        .await;
    assert_eq!(made.auth.unwrap().policies, ["y"]);

    // Orphan, suffix, use limit, CIDRs, not renewable; default-batch gives way to type=service.
    s.create(
        &s.root,
        "roles/r2",
        json!({
            "allowed_policies": "a", "orphan": true, "renewable": false, "path_suffix": "v1.0",
            "token_explicit_max_ttl": "2h", "token_period": "1h", "token_type": "default-batch",
            "token_bound_cidrs": "127.0.0.1/32", "token_num_uses": 3,
        }),
    )
    .await;
    let made = s
        .create(&s.root, "create/r2", json!({"type": "service"}))
        .await
        .auth
        .unwrap();
    assert_eq!(made.token_type, TokenType::Service);
    assert!(made.orphan);
    assert!(!made.renewable);
    assert_eq!(made.num_uses, 3);
    assert_eq!(made.lease_duration, 3600, "the role's period");
    let info = s.lookup(made.client_token.expose_secret()).await;
    assert_eq!(info["path"], "auth/token/create/r2/v1.0");
    assert_eq!(info["bound_cidrs"], json!(["127.0.0.1"]));
    assert_eq!(info["orphan"], true);
    // Without a type the role makes batch tokens, which cannot count its uses: refused, not
    // issued with a limit shown and never enforced (OpenBao issues them).
    let refused = s
        .vault
        .write(&s.root, "auth/token/create/r2", json!({}))
        .await;
    assert_eq!(
        refused.err().map(|e| e.to_string()).as_deref(),
        Some("batch tokens cannot have \"num_uses\" set: the role sets token_num_uses")
    );

    // Both the request and the role set limits: the lesser, with Vault's warnings.
    s.create(
        &s.root,
        "roles/r13",
        json!({"allowed_policies": "p1", "token_explicit_max_ttl": "1h", "token_period": "30m"}),
    )
    .await;
    let made = s
        .create(
            &s.root,
            "create/r13",
            json!({"explicit_max_ttl": "2h", "period": "10m"}),
        )
        .await;
    assert_eq!(
        made.warnings,
        [
            "Explicit max TTL specified both during creation call and in role; using the \
             lesser value of 3600 seconds",
            "Period specified both during creation call and in role; using the lesser value \
             of 600 seconds",
            "Policy \"p1\" does not exist",
        ]
    );
    assert_eq!(made.auth.unwrap().lease_duration, 600);
}

#[tokio::test]
async fn a_role_token_renews_by_the_role_as_it_is_now() {
    let s = setup().await;
    s.create(
        &s.root,
        "roles/periodic",
        json!({"allowed_policies": "default", "token_period": "1h"}),
    )
    .await;
    let token = s.token(&s.root, "create/periodic", json!({})).await;
    assert_eq!(s.lookup(&token).await["ttl"], 3600);
    s.create(&s.root, "roles/periodic", json!({"token_period": "2h"}))
        .await;
    let renewed = s.create(&token, "renew-self", json!({})).await;
    assert_eq!(renewed.auth.unwrap().lease_duration, 7200);
    s.vault
        .delete(&s.root, "auth/token/roles/periodic")
        .await
        .unwrap();
    let err = s.refused(&token, "auth/token/renew-self", json!({})).await;
    assert_eq!(
        invalid(&err),
        "original token role \"periodic\" could not be found, not renewing"
    );
}

#[tokio::test]
async fn create_orphan_needs_only_its_acl_and_no_parent_needs_sudo() {
    let s = setup().await;
    let creator = s
        .token(&s.root, "create", json!({"policies": ["creator"]}))
        .await;
    let made = s
        .create(&creator, "create-orphan", json!({}))
        .await
        .auth
        .unwrap();
    assert!(made.orphan);
    assert_eq!(made.policies, ["creator", "default"]);
    for (path, body) in [
        ("auth/token/create", json!({"no_parent": true})),
        // Vault checks no_parent before the path's own orphaning.
        ("auth/token/create-orphan", json!({"no_parent": true})),
    ] {
        let err = s.refused(&creator, path, body).await;
        assert_eq!(
            invalid(&err),
            "root or sudo privileges required to create orphan token"
        );
    }
    let err = s
        .refused(&creator, "auth/token/create", json!({"period": "1h"}))
        .await;
    assert_eq!(
        invalid(&err),
        "root or sudo privileges required to create periodic token"
    );
    let err = s
        .refused(&creator, "auth/token/create", json!({"id": "abc"}))
        .await;
    assert_eq!(
        invalid(&err),
        "root or sudo privileges required to specify token id"
    );
}

#[tokio::test]
async fn token_details_as_vault_answers_them() {
    let s = setup().await;
    // Unknown tokens: lookup 403 "bad token"; renew and revoke-orphan 400; revoke is a no-op.
    let err = s
        .refused(
            &s.root,
            "auth/token/lookup",
            json!({"token": "s.nonexistent"}),
        )
        .await;
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    assert_eq!(err.to_string(), "bad token");
    for (path, text) in [
        ("auth/token/renew", "token not found"),
        ("auth/token/revoke-orphan", "token to revoke not found"),
    ] {
        let err = s
            .refused(&s.root, path, json!({"token": "s.unknown"}))
            .await;
        assert_eq!(invalid(&err), text, "{path}");
    }
    s.create(&s.root, "revoke", json!({"token": "s.unknown"}))
        .await;
    let answer = s
        .create(&s.root, "revoke-accessor", json!({"accessor": "zz"}))
        .await;
    assert_eq!(answer.warnings, ["No token found with this accessor"]);

    // The explicit maximum caps a renewal, with Vault's warning; the renewal is recorded.
    let token = s
        .token(
            &s.root,
            "create",
            json!({"ttl": "1h", "explicit_max_ttl": "90m", "policies": ["default"]}),
        )
        .await;
    let renewed = s
        .create(&token, "renew-self", json!({"increment": "2h"}))
        .await;
    assert_eq!(
        renewed.warnings,
        [
            "TTL of \"2h\" exceeded the effective max_ttl of \"1h30m\"; TTL value is capped \
          accordingly"
        ]
    );
    assert_eq!(renewed.auth.unwrap().lease_duration, 5400);
    let me = s
        .vault
        .read(&token, "auth/token/lookup-self")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(me["creation_ttl"], 3600, "the TTL it was created with");
    assert_eq!(me["ttl"], 5400);
    assert!(me["last_renewal_time"].is_u64(), "{me:?}");
    assert!(me["last_renewal"].is_string());

    // A period above the explicit maximum: capped, with Vault's warning.
    let made = s
        .create(
            &s.root,
            "create",
            json!({"period": "10m", "explicit_max_ttl": "5m", "policies": ["default"]}),
        )
        .await;
    assert_eq!(
        made.warnings,
        [
            "period of \"10m\" exceeded the effective max_ttl of \"5m\"; period value is capped \
          accordingly"
        ]
    );
    assert_eq!(made.auth.unwrap().lease_duration, 300);

    // `policies` is Vault's TypeStringSlice: a string is one name, commas and all.
    let made = s
        .create(&s.root, "create", json!({"policies": "a,b"}))
        .await;
    assert_eq!(made.warnings, ["Policy \"a,b\" does not exist"]);
    let odd = made.auth.unwrap();
    assert_eq!(odd.policies, ["a,b", "default"]);
    // Such a token works (its odd policy grants nothing).
    s.vault
        .read(odd.client_token.expose_secret(), "auth/token/lookup-self")
        .await
        .unwrap();

    // Display names as Vault sanitises them; unassignable policies refused.
    let token = s
        .token(
            &s.root,
            "create",
            json!({"display_name": "a b/c!d-", "policies": ["default"]}),
        )
        .await;
    assert_eq!(s.lookup(&token).await["display_name"], "token-a-b-c-d");
    let err = s
        .refused(
            &s.root,
            "auth/token/create",
            json!({"policies": ["response-wrapping"]}),
        )
        .await;
    assert_eq!(invalid(&err), "cannot assign policy \"response-wrapping\"");
}

#[tokio::test]
async fn writing_a_new_role_is_a_create() {
    let s = setup().await;
    for (name, capability) in [("creates", "create"), ("updates", "update")] {
        s.vault
            .write(
                &s.root,
                &format!("sys/policies/acl/{name}"),
                json!({"policy": format!(
                    "path \"auth/token/roles/*\" {{ capabilities = [\"{capability}\"] }}"
                )}),
            )
            .await
            .unwrap();
    }
    let creates = s
        .token(&s.root, "create", json!({"policies": ["creates"]}))
        .await;
    let updates = s
        .token(&s.root, "create", json!({"policies": ["updates"]}))
        .await;
    let denied =
        |r: Result<VaultResponse, VaultError>| matches!(r, Err(VaultError::PermissionDenied));
    assert!(denied(
        s.vault
            .write(&updates, "auth/token/roles/new", json!({}))
            .await
    ));
    s.vault
        .write(&creates, "auth/token/roles/new", json!({}))
        .await
        .unwrap();
    assert!(denied(
        s.vault
            .write(&creates, "auth/token/roles/new", json!({"orphan": true}))
            .await
    ));
    s.vault
        .write(&updates, "auth/token/roles/new", json!({"orphan": true}))
        .await
        .unwrap();
    let role = s
        .vault
        .read(&s.root, "auth/token/roles/new")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(role["orphan"], true);
}

#[tokio::test]
async fn batch_tokens_through_the_embedded_api() {
    let s = setup().await;
    let root = strongroom_core::ClientToken::new(s.root.clone());
    let request = strongroom_core::TokenRequest::new()
        .policies(["default"])
        .ttl(Duration::from_secs(600))
        .token_type(TokenType::Batch);
    let made = s.vault.tokens().create(&root, &request).await.unwrap();
    assert_eq!(made.token_type, TokenType::Batch);
    let info = s
        .vault
        .tokens()
        .lookup(&root, &made.client_token)
        .await
        .unwrap();
    assert_eq!(info.token_type, TokenType::Batch);
    assert_eq!(info.accessor, "");
    assert_eq!(info.role, None);
    assert!(!info.renewable);
    let err = s
        .vault
        .tokens()
        .lookup(
            &root,
            &strongroom_core::ClientToken::new("s.nope".to_owned()),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
}

/// A role's lists and a token's policies and CIDR blocks are bounded (one comma-separated
/// string would otherwise carry a million entries past the JSON strings limit), and a refused
/// write changes nothing.
#[tokio::test]
async fn lists_are_bounded() {
    let s = setup().await;
    let many = (0..1025)
        .map(|i| format!("p{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let refused = s
        .vault
        .write(
            &s.root,
            "auth/token/roles/big",
            json!({"allowed_policies": many}),
        )
        .await;
    assert_eq!(
        refused.err().map(|e| e.to_string()).as_deref(),
        Some("allowed_policies has 1025 entries; at most 1024 are allowed")
    );
    assert!(
        s.vault
            .read(&s.root, "auth/token/roles/big")
            .await
            .unwrap()
            .data
            .is_none()
    );
    let enough = (0..1024).map(|i| format!("p{i}")).collect::<Vec<_>>();
    s.vault
        .write(
            &s.root,
            "auth/token/roles/big",
            json!({"allowed_policies": enough}),
        )
        .await
        .unwrap();
    let cidrs: Vec<String> = (0..1025)
        .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
        .collect();
    let refused = s
        .vault
        .write(&s.root, "auth/token/create", json!({"bound_cidrs": cidrs}))
        .await;
    assert!(refused.is_err());
}
