//! A real vault inside your process: SQLite storage in a temp dir, a 5-of-3 Shamir seal, a KV
//! mount, a policy, a limited token; then seal, unseal again and read the secret back.
//!
//! `cargo run --example embedded`

use serde_json::json;
use strongroom_core::{InitRequest, Vault};
use strongroom_storage::SqliteStorage;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let vault = Vault::builder(SqliteStorage::open(dir.path().join("vault.db")).await?).build();

    let init = vault.init(InitRequest::new(5, 3)).await?;
    for key in init.keys.iter().take(3) {
        vault.unseal(key.expose_secret()).await?;
    }
    let root = init.root_token.expose_secret();

    vault
        .write(root, "sys/mounts/secret", json!({"type": "kv"}))
        .await?;
    let policy = r#"path "secret/app/*" { capabilities = ["create", "read", "update"] }"#;
    vault
        .write(root, "sys/policies/acl/app", json!({"policy": policy}))
        .await?;
    let created = vault
        .write(
            root,
            "auth/token/create",
            json!({"policies": ["app"], "ttl": "1h"}),
        )
        .await?;
    let app = created.auth.ok_or("no token")?.client_token;

    vault
        .write(&app, "secret/app/db", json!({"password": "correct horse"}))
        .await?;
    let denied = vault.read(&app, "secret/other").await;
    println!(
        "app token reading secret/other: {}",
        denied.err().map_or("allowed?!".into(), |e| e.to_string())
    );

    vault.seal().await;
    println!("sealed: {}", vault.seal_status().await?.sealed);
    for key in init.keys.iter().skip(2) {
        vault.unseal(key.expose_secret()).await?;
    }
    let secret = vault.read(&app, "secret/app/db").await?;
    println!("after unseal, secret/app/db = {}", json!(secret.data));
    Ok(())
}
