//! A real vault inside your process: SQLite storage in a temp dir, a 3-of-5 Shamir seal, a KV
//! mount, a policy, a limited token, typed secrets; then seal, unseal again and read the secret
//! back. Checks itself: exits non-zero if anything is not as shown.
//!
//! `cargo run -p strongroom-examples --example embedded`

use std::time::Duration;

use serde::{Deserialize, Serialize};
use strongroom_core::{InitRequest, MountRequest, TokenRequest, Vault, VaultError};
use strongroom_storage::SqliteStorage;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct DbCredentials {
    user: String,
    password: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let storage = SqliteStorage::open(dir.path().join("vault.db")).await?;
    let vault = Vault::builder(storage).build()?;

    let init = vault.init(InitRequest::new(5, 3)).await?;
    for key in init.keys.iter().take(3) {
        vault.unseal(key.expose_secret()).await?;
    }
    let root = &init.root_token;

    vault
        .sys()
        .mount(root, "secret", &MountRequest::new("kv-v2"))
        .await?;
    let policy = r#"path "secret/data/app/*" { capabilities = ["create", "read", "update"] }"#;
    vault.policies().put(root, "app", policy).await?;
    let request = TokenRequest::new()
        .policies(["app"])
        .ttl(Duration::from_secs(3600));
    let app = vault.tokens().create(root, &request).await?.client_token;

    let kv = vault.kv("secret");
    let creds = DbCredentials {
        user: "app".into(),
        password: "correct horse".into(),
    };
    let version = kv.put(&app, "app/db", &creds).await?;
    println!(
        "wrote secret/app/db, version {:?}",
        version.map(|v| v.version)
    );
    let denied = kv.get::<DbCredentials>(&app, "other").await;
    println!("app token reading secret/other: {denied:?}");
    if !matches!(denied, Err(VaultError::PermissionDenied)) {
        return Err("the app token read outside its policy".into());
    }

    vault.seal().await;
    println!("sealed: {}", vault.seal_status().await?.sealed);
    for key in init.keys.iter().skip(2) {
        vault.unseal(key.expose_secret()).await?;
    }
    let read = kv.get::<DbCredentials>(&app, "app/db").await?;
    println!(
        "after unseal, secret/app/db user = {:?}",
        read.as_ref().map(|c| &c.user)
    );
    if read.as_ref() != Some(&creds) {
        return Err("the secret did not survive seal and unseal".into());
    }
    Ok(())
}
