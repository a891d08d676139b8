//! The embedded default in a few lines: an encrypted store in one SQLite file.
//!
//! `cargo run -p strongroom-examples --example quickstart [path/to/file.db]`
//!
//! Opens (or creates) the database, initialises the barrier with a fresh root key on first use,
//! writes and lists a few secrets, rotates the key term, and shows that the file holds no
//! plaintext. The root key is printed in hex only because this is a demo: a real vault splits it
//! into Shamir shares and never shows it.

use std::error::Error;

use strongroom_barrier::{Barrier, RootKey};
use strongroom_storage::{SqliteStorage, Storage};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::temp_dir().join("strongroom-quickstart");
    std::fs::create_dir_all(&dir)?;
    let path = std::env::args()
        .nth(1)
        .map_or_else(|| dir.join("vault.db"), Into::into);
    let key_file = path.with_extension("demo-root-key");

    let barrier = Barrier::new(SqliteStorage::open(&path).await?);
    let root = if barrier.is_initialized().await? {
        RootKey::from_bytes(&std::fs::read(&key_file)?)?
    } else {
        let root = RootKey::generate()?;
        barrier.initialize(&root).await?;
        std::fs::write(&key_file, root.expose_secret())?;
        println!("initialised a new store at {}", path.display());
        root
    };
    barrier.unseal(&root).await?;

    for (key, value) in [
        ("secret/app/db-password", "correct horse battery staple"),
        ("secret/app/api-token", "tok_5up3r53cr3t"),
        ("secret/ops/pager", "+1-555-0100"),
    ] {
        barrier.put(key, value.as_bytes().to_vec()).await?;
    }
    println!("secret/      -> {:?}", barrier.list("secret/").await?);
    println!("secret/app/  -> {:?}", barrier.list("secret/app/").await?);
    let password = barrier
        .get("secret/app/db-password")
        .await?
        .unwrap_or_default();
    println!("db-password  -> {} bytes read back", password.len());

    let term = barrier.rotate().await?;
    println!("rotated to key term {term}; older values still open:");
    let token = barrier
        .get("secret/app/api-token")
        .await?
        .unwrap_or_default();
    println!("api-token    -> {} bytes read back", token.len());

    let status = barrier.status()?;
    println!(
        "barrier: term {}, {} terms, {} encryptions under the active term",
        status.term, status.terms, status.encryptions
    );
    let raw = barrier
        .inner()
        .get("secret/app/db-password")
        .await?
        .unwrap_or_default();
    let leaked = raw.windows(5).any(|w| w == b"horse");
    println!(
        "on disk: {} bytes of ciphertext, plaintext visible: {leaked}",
        raw.len()
    );
    barrier.seal();
    Ok(())
}
