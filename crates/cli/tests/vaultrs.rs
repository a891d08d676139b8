//! vaultrs 0.8.0 (crates.io, a Vault client nobody here wrote) against `strongroom server -dev`
//! and OpenBao's `bao server -dev`: KV v2, transit, token and approle flows through vaultrs's
//! typed API, asserting every answer. The same flows pass against both servers, so they encode
//! Vault's behaviour as vaultrs sees it; vaultrs also deserialises every answer into its own
//! structs, so a missing or mistyped field fails here too.
//!
//! The OpenBao half needs the `bao` binary (`scripts/services.sh` installs it); without it that
//! test says why and passes, unless `STRONGROOM_REQUIRE_SERVICES=1`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use std::collections::HashMap;

use base64::Engine as _;
use common::*;
use serde_json::json;
use vaultrs::api::ResponseWrapper as _;
use vaultrs::api::auth::approle::requests::{GenerateNewSecretIDRequest, SetAppRoleRequest};
use vaultrs::api::kv2::requests::{
    ReadSecretRequest, SetSecretMetadataRequest, SetSecretRequestOptions,
};
use vaultrs::api::kv2::responses::ReadSecretResponse;
use vaultrs::api::token::requests::{CreateOrphanTokenRequest, CreateTokenRequest};
use vaultrs::api::transit::KeyType;
use vaultrs::api::transit::requests::UpdateKeyConfigurationRequest;
use vaultrs::api::transit::responses::ReadKeyData;
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;
use vaultrs::{auth::approle, kv2, sys, token, transit};

#[test]
fn vaultrs_flows_pass_against_strongroom() {
    flows_against(env!("CARGO_BIN_EXE_strongroom"), true);
}

/// The same flows against OpenBao's dev server: they encode Vault's behaviour.
#[test]
fn vaultrs_flows_pass_against_openbao_too() {
    if bao_available() {
        flows_against("bao", true);
    }
}

fn flows_against(program: &str, wrapping: bool) {
    let addr = free_addr();
    let _server = dev_server_of(program, &addr);
    // vaultrs is built on reqwest's rustls without a provider: ours is ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let root = client(&addr, "root");
        kv2_flow(&root).await;
        transit_flow(&root).await;
        token_flow(&addr, &root).await;
        approle_flow(&addr, &root).await;
        if wrapping {
            wrapping_flow(&addr, &root).await;
        }
    });
}

fn client(addr: &str, token: &str) -> VaultClient {
    VaultClient::new(
        VaultClientSettingsBuilder::default()
            .address(format!("http://{addr}"))
            .token(token)
            .build()
            .unwrap(),
    )
    .unwrap()
}

/// The HTTP status of a refused call, and Vault's `errors` (empty when the body had none, as
/// for a KV v2 read of a deleted version, whose 404 carries the metadata instead).
fn refusal<T: std::fmt::Debug>(result: Result<T, ClientError>) -> (u16, Vec<String>) {
    match result {
        Err(ClientError::APIError { code, errors }) => (code, errors),
        Err(ClientError::RestClientError {
            source: rustify::errors::ClientError::ServerResponseError { code, .. },
        }) => (code, Vec::new()),
        other => panic!("expected an HTTP refusal, got {other:?}"),
    }
}

fn assert_refused<T: std::fmt::Debug>(result: Result<T, ClientError>, status: u16, contains: &str) {
    let (code, errors) = refusal(result);
    assert_eq!(code, status, "{errors:?}");
    assert!(
        errors.iter().any(|e| e.contains(contains)),
        "expected an error containing {contains:?}, got {errors:?}"
    );
}

fn strings(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn kv2_flow(root: &VaultClient) {
    let first = kv2::set(
        root,
        "secret",
        "rs/app",
        &json!({"user": "u1", "pass": "p1"}),
    )
    .await
    .unwrap();
    assert_eq!(first.version, 1);
    assert!(!first.destroyed);
    assert_eq!(first.deletion_time, "");
    let cas = |n: u32| SetSecretRequestOptions { cas: n };
    let second = kv2::set_with_options(
        root,
        "secret",
        "rs/app",
        &json!({"user": "u1", "pass": "p2"}),
        cas(1),
    )
    .await
    .unwrap();
    assert_eq!(second.version, 2);
    assert_refused(
        kv2::set_with_options(root, "secret", "rs/app", &json!({"pass": "late"}), cas(1)).await,
        400,
        "check-and-set parameter did not match the current version",
    );

    let latest: HashMap<String, String> = kv2::read(root, "secret", "rs/app").await.unwrap();
    assert_eq!(latest, strings(&[("user", "u1"), ("pass", "p2")]));
    let old: HashMap<String, String> = kv2::read_version(root, "secret", "rs/app", 1)
        .await
        .unwrap();
    assert_eq!(old["pass"], "p1");
    kv2::set(root, "secret", "rs/other", &json!({"x": "1"}))
        .await
        .unwrap();
    assert_eq!(
        kv2::list(root, "secret", "rs").await.unwrap(),
        ["app", "other"]
    );

    kv2::set_metadata(
        root,
        "secret",
        "rs/app",
        Some(
            SetSecretMetadataRequest::builder()
                .max_versions(5_u64)
                .custom_metadata(strings(&[("owner", "team-rs")])),
        ),
    )
    .await
    .unwrap();
    let meta = kv2::read_metadata(root, "secret", "rs/app").await.unwrap();
    assert_eq!(meta.current_version, 2);
    assert_eq!(meta.oldest_version, 0);
    assert_eq!(meta.max_versions, 5);
    assert!(!meta.cas_required);
    assert_eq!(meta.custom_metadata, Some(strings(&[("owner", "team-rs")])));
    let mut versions: Vec<_> = meta.versions.keys().cloned().collect();
    versions.sort();
    assert_eq!(versions, ["1", "2"]);

    kv2::delete_latest(root, "secret", "rs/app").await.unwrap();
    assert_eq!(
        refusal(kv2::read::<serde_json::Value>(root, "secret", "rs/app").await).0,
        404
    );
    kv2::undelete_versions(root, "secret", "rs/app", vec![2])
        .await
        .unwrap();
    let back: HashMap<String, String> = kv2::read(root, "secret", "rs/app").await.unwrap();
    assert_eq!(back["pass"], "p2");
    kv2::delete_versions(root, "secret", "rs/app", vec![1])
        .await
        .unwrap();
    kv2::destroy_versions(root, "secret", "rs/app", vec![2])
        .await
        .unwrap();
    let meta = kv2::read_metadata(root, "secret", "rs/app").await.unwrap();
    assert_ne!(meta.versions["1"].deletion_time, "");
    assert!(!meta.versions["1"].destroyed);
    assert!(meta.versions["2"].destroyed);
    assert_eq!(
        refusal(kv2::read_version::<serde_json::Value>(root, "secret", "rs/app", 2).await).0,
        404
    );

    kv2::delete_metadata(root, "secret", "rs/app")
        .await
        .unwrap();
    assert_eq!(
        refusal(kv2::read_metadata(root, "secret", "rs/app").await).0,
        404
    );
    assert_eq!(kv2::list(root, "secret", "rs").await.unwrap(), ["other"]);
}

async fn transit_flow(root: &VaultClient) {
    sys::mount::enable(root, "transit", "transit", None)
        .await
        .unwrap();
    let mounts = sys::mount::list(root).await.unwrap();
    assert_eq!(mounts["transit/"].mount_type, "transit");

    transit::key::create(root, "transit", "rk", None)
        .await
        .unwrap();
    let key = transit::key::read(root, "transit", "rk").await.unwrap();
    assert_eq!(key.name, "rk");
    assert!(matches!(key.key_type, KeyType::Aes256Gcm96));
    assert!(!key.deletion_allowed && !key.derived && !key.exportable);
    assert!(key.supports_encryption && key.supports_decryption && !key.supports_signing);
    assert_eq!(key.min_decryption_version, 1);
    let ReadKeyData::Symmetric(versions) = &key.keys else {
        panic!("an AES key lists its versions with their creation times: {key:?}")
    };
    assert_eq!(versions.keys().collect::<Vec<_>>(), ["1"]);
    assert!(
        transit::key::list(root, "transit")
            .await
            .unwrap()
            .keys
            .contains(&"rk".to_owned())
    );

    let plaintext = base64::engine::general_purpose::STANDARD.encode("attack at dawn");
    let enc = transit::data::encrypt(root, "transit", "rk", &plaintext, None)
        .await
        .unwrap();
    assert!(
        enc.ciphertext.starts_with("vault:v1:"),
        "{}",
        enc.ciphertext
    );
    let dec = transit::data::decrypt(root, "transit", "rk", &enc.ciphertext, None)
        .await
        .unwrap();
    assert_eq!(dec.plaintext, plaintext);
    let mut tampered = base64::engine::general_purpose::STANDARD
        .decode(&enc.ciphertext["vault:v1:".len()..])
        .unwrap();
    *tampered.last_mut().unwrap() ^= 1;
    let tampered = format!(
        "vault:v1:{}",
        base64::engine::general_purpose::STANDARD.encode(tampered)
    );
    assert_eq!(
        refusal(transit::data::decrypt(root, "transit", "rk", &tampered, None).await).0,
        400
    );

    transit::key::rotate(root, "transit", "rk").await.unwrap();
    let key = transit::key::read(root, "transit", "rk").await.unwrap();
    let ReadKeyData::Symmetric(versions) = &key.keys else {
        panic!("{key:?}")
    };
    let mut versions: Vec<_> = versions.keys().cloned().collect();
    versions.sort();
    assert_eq!(versions, ["1", "2"]);
    let rewrapped = transit::data::rewrap(root, "transit", "rk", &enc.ciphertext, None)
        .await
        .unwrap();
    assert!(rewrapped.ciphertext.starts_with("vault:v2:"));
    let again = transit::data::decrypt(root, "transit", "rk", &rewrapped.ciphertext, None)
        .await
        .unwrap();
    assert_eq!(again.plaintext, plaintext);

    transit::key::update(
        root,
        "transit",
        "rk",
        Some(UpdateKeyConfigurationRequest::builder().min_decryption_version(2_u64)),
    )
    .await
    .unwrap();
    assert_eq!(
        transit::key::read(root, "transit", "rk")
            .await
            .unwrap()
            .min_decryption_version,
        2
    );
    assert_eq!(
        refusal(transit::data::decrypt(root, "transit", "rk", &enc.ciphertext, None).await).0,
        400
    );

    assert_refused(
        transit::key::delete(root, "transit", "rk").await,
        400,
        "deletion is not allowed for this key",
    );
    transit::key::update(
        root,
        "transit",
        "rk",
        Some(UpdateKeyConfigurationRequest::builder().deletion_allowed(true)),
    )
    .await
    .unwrap();
    transit::key::delete(root, "transit", "rk").await.unwrap();
    assert_eq!(
        refusal(transit::key::read(root, "transit", "rk").await).0,
        404
    );
}

async fn token_flow(addr: &str, root: &VaultClient) {
    sys::policy::set(
        root,
        "rs-creator",
        r#"path "auth/token/create" { capabilities = ["update"] }"#,
    )
    .await
    .unwrap();
    let made = token::new(
        root,
        Some(
            CreateTokenRequest::builder()
                .policies(vec!["default".to_owned(), "rs-creator".to_owned()])
                .ttl("1h")
                .renewable(true)
                .meta(strings(&[("app", "rs")]))
                .display_name("rs"),
        ),
    )
    .await
    .unwrap();
    assert_eq!(made.policies, ["default", "rs-creator"]);
    assert_eq!(made.token_policies, ["default", "rs-creator"]);
    assert_eq!(made.metadata, Some(strings(&[("app", "rs")])));
    assert_eq!(made.lease_duration, 3600);
    assert!(made.renewable);
    assert!(!made.orphan);
    assert_eq!(made.token_type, "service");
    let child = made.client_token.clone();

    let looked = token::lookup(root, &child).await.unwrap();
    assert_eq!(looked.id, child);
    assert_eq!(looked.accessor, made.accessor);
    assert_eq!(looked.display_name, "token-rs");
    assert_eq!(looked.policies, ["default", "rs-creator"]);
    assert_eq!(looked.meta, Some(strings(&[("app", "rs")])));
    assert_eq!(looked.path, "auth/token/create");
    assert_eq!(looked.creation_ttl, 3600);
    assert!(looked.ttl > 3500 && looked.ttl <= 3600, "{}", looked.ttl);
    assert_eq!(looked.num_uses, 0);
    assert_eq!(looked.explicit_max_ttl, 0);
    assert!(!looked.orphan);
    assert!(looked.creation_time > 1_700_000_000);

    let by_accessor = token::lookup_accessor(root, &made.accessor).await.unwrap();
    assert_eq!(
        by_accessor.id, "",
        "a lookup by accessor does not tell the token"
    );
    assert_eq!(by_accessor.display_name, "token-rs");

    let child_client = client(addr, &child);
    assert_eq!(token::lookup_self(&child_client).await.unwrap().id, child);
    let renewed = token::renew(root, &child, Some("2h")).await.unwrap();
    assert_eq!(renewed.client_token, child);
    assert_eq!(renewed.lease_duration, 7200);
    let renewed = token::renew_self(&child_client, Some("30m")).await.unwrap();
    assert_eq!(renewed.lease_duration, 1800);
    let ttl = token::lookup(root, &child).await.unwrap().ttl;
    assert!(ttl > 1700 && ttl <= 1800, "{ttl}");

    // A child's child dies with it; an orphan does not.
    let grandchild = token::new(
        &child_client,
        Some(CreateTokenRequest::builder().ttl("30m")),
    )
    .await
    .unwrap();
    let orphan = token::new_orphan(
        root,
        Some(CreateOrphanTokenRequest::builder().policies(vec!["default".to_owned()])),
    )
    .await
    .unwrap();
    assert!(orphan.orphan);
    token::revoke(root, &child).await.unwrap();
    assert_refused(
        token::lookup_self(&child_client).await,
        403,
        "permission denied",
    );
    assert_refused(
        token::lookup_self(&client(addr, &grandchild.client_token)).await,
        403,
        "permission denied",
    );
    assert!(
        token::lookup_self(&client(addr, &orphan.client_token))
            .await
            .unwrap()
            .orphan
    );

    // revoke-orphan keeps the children, now orphans.
    let parent = token::new(
        root,
        Some(CreateTokenRequest::builder().policies(vec!["rs-creator".to_owned()])),
    )
    .await
    .unwrap();
    let kept = token::new(&client(addr, &parent.client_token), None)
        .await
        .unwrap();
    token::revoke_orphan(root, &parent.client_token)
        .await
        .unwrap();
    assert_eq!(
        refusal(token::lookup_self(&client(addr, &parent.client_token)).await).0,
        403
    );
    let kept_client = client(addr, &kept.client_token);
    assert!(token::lookup_self(&kept_client).await.unwrap().orphan);

    token::revoke_accessor(root, &orphan.accessor)
        .await
        .unwrap();
    assert_eq!(
        refusal(token::lookup_self(&client(addr, &orphan.client_token)).await).0,
        403
    );
    token::revoke_self(&kept_client).await.unwrap();
    assert_eq!(refusal(token::lookup_self(&kept_client).await).0, 403);

    // A token limited by a policy reads what it grants and nothing else.
    sys::policy::set(
        root,
        "rs-reader",
        r#"path "secret/data/rs/*" { capabilities = ["read"] }"#,
    )
    .await
    .unwrap();
    let reader = token::new(
        root,
        Some(
            CreateTokenRequest::builder()
                .policies(vec!["rs-reader".to_owned()])
                .ttl("10m"),
        ),
    )
    .await
    .unwrap();
    assert_eq!(reader.policies, ["default", "rs-reader"]);
    let reader = client(addr, &reader.client_token);
    let other: HashMap<String, String> = kv2::read(&reader, "secret", "rs/other").await.unwrap();
    assert_eq!(other["x"], "1");
    assert_refused(
        kv2::set(&reader, "secret", "rs/other", &json!({"x": "2"})).await,
        403,
        "permission denied",
    );
}

async fn approle_flow(addr: &str, root: &VaultClient) {
    sys::auth::enable(root, "approle", "approle", None)
        .await
        .unwrap();
    assert_eq!(
        sys::auth::list(root).await.unwrap()["approle/"].mount_type,
        "approle"
    );
    sys::policy::set(
        root,
        "rs-app",
        r#"path "secret/data/rs/app-*" { capabilities = ["create", "read", "update"] }"#,
    )
    .await
    .unwrap();
    approle::role::set(
        root,
        "approle",
        "web",
        Some(
            SetAppRoleRequest::builder()
                .token_policies(vec!["rs-app".to_owned()])
                .token_ttl("10m")
                .token_max_ttl("20m")
                .secret_id_ttl("1h")
                .secret_id_num_uses(3_u64),
        ),
    )
    .await
    .unwrap();
    let role = approle::role::read(root, "approle", "web").await.unwrap();
    assert_eq!(role.token_policies, ["rs-app"]);
    assert_eq!(role.token_ttl, 600);
    assert_eq!(role.token_max_ttl, 1200);
    assert_eq!(role.secret_id_ttl, 3600);
    assert_eq!(role.secret_id_num_uses, 3);
    assert!(role.bind_secret_id);
    assert_eq!(role.token_type, "default");
    assert!(role.token_bound_cidrs.is_empty());
    assert_eq!(
        approle::role::list(root, "approle").await.unwrap().keys,
        ["web"]
    );

    let role_id = approle::role::read_id(root, "approle", "web")
        .await
        .unwrap()
        .role_id;
    assert_eq!(role_id.len(), 36, "{role_id}");
    let secret = approle::role::secret::generate(
        root,
        "approle",
        "web",
        Some(GenerateNewSecretIDRequest::builder().metadata(r#"{"team":"rs"}"#)),
    )
    .await
    .unwrap();
    assert_eq!(secret.secret_id_ttl, 3600);
    assert_eq!(
        approle::role::secret::list(root, "approle", "web")
            .await
            .unwrap()
            .keys,
        std::slice::from_ref(&secret.secret_id_accessor)
    );
    let read = approle::role::secret::read(root, "approle", "web", &secret.secret_id)
        .await
        .unwrap();
    assert_eq!(read.secret_id_accessor, secret.secret_id_accessor);
    assert_eq!(read.metadata, Some(strings(&[("team", "rs")])));
    assert_eq!(read.secret_id_num_uses, 3);
    assert_eq!(read.secret_id_ttl, 3600);
    assert!(read.cidr_list.is_empty());

    let anonymous = client(addr, "");
    let login = approle::login(&anonymous, "approle", &role_id, &secret.secret_id)
        .await
        .unwrap();
    assert_eq!(login.policies, ["default", "rs-app"]);
    assert_eq!(login.token_policies, ["default", "rs-app"]);
    // The secret id's metadata joins the token's.
    assert_eq!(
        login.metadata,
        Some(strings(&[("role_name", "web"), ("team", "rs")]))
    );
    assert_eq!(login.lease_duration, 600);
    assert!(login.renewable);
    assert_eq!(login.token_type, "service");

    let app = client(addr, &login.client_token);
    kv2::set(&app, "secret", "rs/app-cfg", &json!({"from": "approle"}))
        .await
        .unwrap();
    let cfg: HashMap<String, String> = kv2::read(&app, "secret", "rs/app-cfg").await.unwrap();
    assert_eq!(cfg["from"], "approle");
    assert_refused(
        kv2::read::<serde_json::Value>(&app, "secret", "rs/other").await,
        403,
        "permission denied",
    );
    let me = token::lookup_self(&app).await.unwrap();
    assert_eq!(me.path, "auth/approle/login");
    assert_eq!(me.display_name, "approle");
    assert_eq!(
        approle::role::secret::read(root, "approle", "web", &secret.secret_id)
            .await
            .unwrap()
            .secret_id_num_uses,
        2,
        "one use of three is spent"
    );

    assert_refused(
        approle::login(&anonymous, "approle", &role_id, "not-the-secret").await,
        400,
        "invalid role or secret ID",
    );
    approle::role::update_id(root, "approle", "web", "web-role-id")
        .await
        .unwrap();
    assert_eq!(
        approle::role::read_id(root, "approle", "web")
            .await
            .unwrap()
            .role_id,
        "web-role-id"
    );
    approle::login(&anonymous, "approle", "web-role-id", &secret.secret_id)
        .await
        .unwrap();
    approle::role::secret::delete(root, "approle", "web", &secret.secret_id)
        .await
        .unwrap();
    assert_refused(
        approle::login(&anonymous, "approle", "web-role-id", &secret.secret_id).await,
        400,
        "invalid role or secret ID",
    );
    let other = approle::role::secret::generate(root, "approle", "web", None)
        .await
        .unwrap();
    let by_accessor =
        approle::role::secret::read_accessor(root, "approle", "web", &other.secret_id_accessor)
            .await
            .unwrap();
    assert_eq!(by_accessor.secret_id_accessor, other.secret_id_accessor);
    approle::role::secret::delete_accessor(root, "approle", "web", &other.secret_id_accessor)
        .await
        .unwrap();
    assert_refused(
        approle::login(&anonymous, "approle", "web-role-id", &other.secret_id).await,
        400,
        "invalid role or secret ID",
    );
    approle::role::delete(root, "approle", "web").await.unwrap();
    assert_eq!(
        refusal(approle::role::read(root, "approle", "web").await).0,
        404
    );
}

/// vaultrs's `ResponseWrapper::wrap` (any endpoint, 10 minutes), `lookup` and `unwrap`.
async fn wrapping_flow(addr: &str, root: &VaultClient) {
    kv2::set(root, "secret", "rs/wrapped", &json!({"pass": "hidden"}))
        .await
        .unwrap();
    let read = || {
        ReadSecretRequest::builder()
            .mount("secret")
            .path("rs/wrapped")
            .build()
            .unwrap()
    };
    let wrapped = read().wrap(root).await.unwrap();
    assert_eq!(wrapped.info.ttl, 600);
    assert_eq!(wrapped.info.creation_path, "secret/data/rs/wrapped");
    let lookup = wrapped.lookup(root).await.unwrap();
    assert_eq!(lookup.creation_ttl, 600);
    assert_eq!(lookup.creation_path, "secret/data/rs/wrapped");
    let secret: ReadSecretResponse = wrapped.unwrap(root).await.unwrap();
    assert_eq!(secret.data, json!({"pass": "hidden"}));
    assert_eq!(secret.metadata.version, 1);
    assert_refused(
        wrapped.unwrap(root).await,
        400,
        "wrapping token is not valid or does not exist",
    );

    // Unwrapping with the wrapping token as the client token.
    let again = read().wrap(root).await.unwrap();
    let secret: ReadSecretResponse = sys::wrapping::unwrap(&client(addr, &again.info.token), None)
        .await
        .unwrap();
    assert_eq!(secret.data, json!({"pass": "hidden"}));

    // A wrapped approle secret id logs in once unwrapped.
    sys::auth::enable(root, "approle-w", "approle", None)
        .await
        .unwrap();
    approle::role::set(
        root,
        "approle-w",
        "w",
        Some(SetAppRoleRequest::builder().token_ttl("5m")),
    )
    .await
    .unwrap();
    let role_id = approle::role::read_id(root, "approle-w", "w")
        .await
        .unwrap()
        .role_id;
    let wrapped = GenerateNewSecretIDRequest::builder()
        .mount("approle-w")
        .role_name("w")
        .build()
        .unwrap()
        .wrap(root)
        .await
        .unwrap();
    assert_eq!(
        wrapped.info.creation_path,
        "auth/approle-w/role/w/secret-id"
    );
    let secret = wrapped.unwrap(root).await.unwrap();
    let login = approle::login(&client(addr, ""), "approle-w", &role_id, &secret.secret_id)
        .await
        .unwrap();
    assert_eq!(login.metadata, Some(strings(&[("role_name", "w")])));
}
