//! `strongroom`: a Vault-compatible server over the Strongroom core.
//!
//! `strongroom server --dev` runs Vault's dev mode (in memory, initialised, unsealed, KV v2 at
//! `secret/`); `strongroom server` serves the embedded default (SQLite at `./strongroom.db`),
//! sealed until initialised and unsealed over the API. Vault's single-dash flag spellings are
//! accepted, so scripts written for `vault`/`bao` run unchanged.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
use serde_json::json;
use strongroom_core::{InitRequest, Vault};
use strongroom_storage::{MemoryStorage, SqliteStorage};

#[derive(Parser, Debug)]
#[command(
    name = "strongroom",
    version,
    about = "A Vault-compatible secret store"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs the server.
    Server(ServerArgs),
}

#[derive(clap::Args, Debug)]
struct ServerArgs {
    /// Development mode: in-memory storage, initialised and unsealed, KV v2 at secret/.
    #[arg(long)]
    dev: bool,
    /// The root token id in dev mode (default: a random token).
    #[arg(long)]
    dev_root_token_id: Option<String>,
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8200")]
    dev_listen_address: SocketAddr,
    /// The SQLite database file when not in dev mode.
    #[arg(long, default_value = "strongroom.db")]
    storage_path: PathBuf,
}

/// Vault's single-dash spellings (`-dev`, `-dev-root-token-id=x`) become clap's double-dash ones.
fn normalize_args(args: impl Iterator<Item = String>) -> Vec<String> {
    args.enumerate()
        .map(|(i, arg)| {
            if i > 0 && arg.starts_with('-') && !arg.starts_with("--") && arg.len() > 2 {
                format!("-{arg}")
            } else {
                arg
            }
        })
        .collect()
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse_from(normalize_args(std::env::args()));
    match cli.command {
        Command::Server(args) => server(args).await,
    }
}

async fn server(args: ServerArgs) -> Result<()> {
    let vault = if args.dev {
        // Dev mode allows API audit devices anywhere the process can write, as Vault's does.
        let vault = Vault::builder(MemoryStorage::new()).audit_dir("/").build();
        let init = vault.init(InitRequest::new(1, 1)).await?;
        let key = init
            .keys_base64
            .first()
            .map(|k| k.expose_secret().to_owned())
            .context("init returned no unseal key")?;
        vault.unseal(&key).await?;
        let root = match &args.dev_root_token_id {
            Some(id) => {
                vault.dev_root_token(id).await?;
                id.clone()
            }
            None => init.root_token.expose_secret().to_owned(),
        };
        vault
            .write(
                &root,
                "sys/mounts/secret",
                json!({"type": "kv", "options": {"version": "2"}}),
            )
            .await?;
        println!("==> Strongroom server started in dev mode. Do not use it in production.");
        println!();
        println!("    Api Address: http://{}", args.dev_listen_address);
        println!("    Unseal Key: {key}");
        println!("    Root Token: {root}");
        println!();
        println!("    export VAULT_ADDR='http://{}'", args.dev_listen_address);
        vault
    } else {
        let storage = SqliteStorage::open(&args.storage_path)
            .await
            .with_context(|| format!("opening {}", args.storage_path.display()))?;
        let vault = Vault::builder(storage).build();
        let status = vault.seal_status().await?;
        println!(
            "==> Strongroom server: SQLite at {}",
            args.storage_path.display()
        );
        println!("    Api Address: http://{}", args.dev_listen_address);
        if !status.initialized {
            println!(
                "    Not initialised: PUT /v1/sys/init, then PUT /v1/sys/unseal with the keys \
                 (e.g. `bao operator init` with VAULT_ADDR set)."
            );
        } else if status.sealed {
            println!(
                "    Sealed: PUT /v1/sys/unseal with {} unseal keys.",
                status.t
            );
        }
        vault
    };
    let app = strongroom_http::router(vault);
    let listener = tokio::net::TcpListener::bind(args.dev_listen_address)
        .await
        .with_context(|| format!("listening on {}", args.dev_listen_address))?;
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

/// Ctrl-C, or SIGTERM on Unix: in-flight requests finish, then the server stops.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_spellings() {
        let args = normalize_args(
            [
                "strongroom",
                "server",
                "-dev",
                "-dev-root-token-id=root",
                "--dev-listen-address=127.0.0.1:1",
            ]
            .into_iter()
            .map(String::from),
        );
        assert_eq!(
            args,
            [
                "strongroom",
                "server",
                "--dev",
                "--dev-root-token-id=root",
                "--dev-listen-address=127.0.0.1:1"
            ]
        );
        let cli = Cli::parse_from(args);
        let Command::Server(server) = cli.command;
        assert!(server.dev);
        assert_eq!(server.dev_root_token_id.as_deref(), Some("root"));
    }
}
