//! `strongroom`: a Vault-compatible server over the Strongroom core.
//!
//! `strongroom server --dev` runs Vault's dev mode (in memory, initialised, unsealed, KV v2 at
//! `secret/`); `strongroom server --config FILE` serves what a Vault-style HCL file says (see
//! [`config`]); plain `strongroom server` serves the embedded default (SQLite at
//! `./strongroom.db`, plain HTTP on 127.0.0.1:8200), sealed until initialised and unsealed over
//! the API. Vault's single-dash flag spellings are accepted, so scripts written for
//! `vault`/`bao` run unchanged. `strongroom run --path secret/app -- CMD` starts a command with
//! secrets in its environment (see [`run`]).
#![forbid(unsafe_code)]

mod commands;
mod config;
mod input;
mod kv;
mod operator;
mod output;
mod run;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
use serde_json::json;
use strongroom_client::{Client, ClientBuilder};
use strongroom_core::{InitRequest, Vault, VaultBuilder};
use strongroom_storage::{MemoryStorage, PostgresConfig, PostgresStorage, SqliteStorage};

use crate::config::{ServerConfig, StorageConfig};

#[derive(Parser, Debug)]
#[command(
    name = "strongroom",
    version,
    about = "A Vault-compatible secret store"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The server's address (default: STRONGROOM_ADDR, VAULT_ADDR, https://127.0.0.1:8200).
    #[arg(long, global = true)]
    address: Option<String>,
    /// A PEM CA certificate to trust (default: STRONGROOM_CACERT or VAULT_CACERT).
    #[arg(long, global = true)]
    ca_cert: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs the server.
    Server(ServerArgs),
    /// Prints the seal status; exits 2 when sealed (as `vault status` does), 1 on error.
    Status {
        #[command(flatten)]
        out: output::OutputArgs,
    },
    /// Runs a command with KV secrets as environment variables (exit code passed through).
    Run(run::RunArgs),
    /// Initialise, unseal, seal, rekey, generate a root token.
    #[command(subcommand)]
    Operator(operator::OperatorCommand),
    /// KV secrets (v1 and v2).
    #[command(subcommand)]
    Kv(kv::KvCommand),
    /// Secrets engines.
    #[command(subcommand)]
    Secrets(commands::SecretsCommand),
    /// Auth methods.
    #[command(subcommand)]
    Auth(commands::AuthCommand),
    /// ACL policies.
    #[command(subcommand)]
    Policy(commands::PolicyCommand),
    /// Tokens.
    #[command(subcommand)]
    Token(commands::TokenCommand),
    /// Leases.
    #[command(subcommand)]
    Lease(commands::LeaseCommand),
    /// Audit devices.
    #[command(subcommand)]
    Audit(commands::AuditCommand),
    /// Reads any API path.
    Read(commands::PathArgs),
    /// Writes `key=value` pairs to any API path.
    Write(commands::PathArgs),
    /// Deletes any API path.
    Delete(commands::PathArgs),
    /// Lists any API path.
    List(commands::PathArgs),
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
    /// The SQLite database file when neither dev mode nor a config file is given.
    #[arg(long, default_value = "strongroom.db")]
    storage_path: PathBuf,
    /// A Vault-style HCL configuration file (storage, listeners, audit settings).
    #[arg(long, conflicts_with = "dev")]
    config: Option<PathBuf>,
}

/// Vault's single-dash spellings (`-dev`, `-dev-root-token-id=x`) become clap's double-dash
/// ones. Nothing after a bare `--` is touched: that is the command `run` starts.
fn normalize_args(args: impl Iterator<Item = OsString>) -> Vec<OsString> {
    let mut passthrough = false;
    args.enumerate()
        .map(|(i, arg)| {
            if passthrough || i == 0 {
                return arg;
            }
            match arg.to_str() {
                Some("--") => {
                    passthrough = true;
                    arg
                }
                Some(s) if s.starts_with('-') && !s.starts_with("--") && s.len() > 2 => {
                    format!("-{s}").into()
                }
                _ => arg,
            }
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse_from(normalize_args(std::env::args_os()));
    if let Command::Server(args) = cli.command {
        if let Err(error) = server(args).await {
            eprintln!("Error: {error:#}");
            std::process::exit(1);
        }
        return;
    }
    let mut builder = ClientBuilder::from_env();
    if let Some(address) = &cli.address {
        builder = builder.address(address);
    }
    if let Some(ca_cert) = &cli.ca_cert {
        builder = builder.ca_file(ca_cert);
    }
    let client = match builder.build() {
        Ok(client) => client,
        Err(error) => {
            eprintln!("Error: {error}");
            std::process::exit(1);
        }
    };
    let code = match client_command(&client, cli.command).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("{}", output::report(&error, client.address()));
            output::exit_code(&error)
        }
    };
    std::process::exit(code);
}

/// Runs a client command; returns the exit code.
async fn client_command(client: &Client, command: Command) -> Result<i32> {
    match command {
        Command::Server(_) => Ok(1),
        Command::Status { out } => operator::status(client, &out).await,
        Command::Run(args) => run::run(client, args).await,
        Command::Operator(command) => operator::run(client, command).await,
        Command::Kv(command) => kv::run(client, command).await,
        Command::Secrets(command) => commands::secrets(client, command).await,
        Command::Auth(command) => commands::auth(client, command).await,
        Command::Policy(command) => commands::policy(client, command).await,
        Command::Token(command) => commands::token(client, command).await,
        Command::Lease(command) => commands::lease(client, command).await,
        Command::Audit(command) => commands::audit(client, command).await,
        Command::Read(args) => commands::read(client, args).await,
        Command::Write(args) => commands::write(client, args).await,
        Command::Delete(args) => commands::delete(client, args).await,
        Command::List(args) => commands::list(client, args).await,
    }
}

async fn server(args: ServerArgs) -> Result<()> {
    if args.dev {
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
        serve(vault, &[args.dev_listen_address]).await
    } else {
        let config = match &args.config {
            Some(path) => config::load(path)?,
            None => ServerConfig {
                storage: StorageConfig::Sqlite {
                    path: args.storage_path.clone(),
                },
                listeners: vec![config::Listener {
                    address: args.dev_listen_address,
                }],
                api_addr: None,
                audit_dir: None,
                unsafe_allow_api_audit_creation: false,
                warnings: Vec::new(),
            },
        };
        for warning in &config.warnings {
            eprintln!("warning: {warning}");
        }
        let mut builder = open_storage(&config.storage).await?;
        if config.unsafe_allow_api_audit_creation {
            builder = builder.audit_dir("/");
        } else if let Some(dir) = &config.audit_dir {
            builder = builder.audit_dir(dir);
        }
        let vault = builder.build();
        let status = vault.seal_status().await?;
        println!("==> Strongroom server: {}", describe(&config.storage));
        for listener in &config.listeners {
            println!("    Listener: http://{}", listener.address);
        }
        if let Some(api_addr) = &config.api_addr {
            println!("    Api Address: {api_addr}");
        }
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
        let addrs: Vec<SocketAddr> = config.listeners.iter().map(|l| l.address).collect();
        serve(vault, &addrs).await
    }
}

/// Opens the configured storage and starts a vault builder over it.
async fn open_storage(storage: &StorageConfig) -> Result<VaultBuilder> {
    Ok(match storage {
        StorageConfig::Sqlite { path } => Vault::builder(
            SqliteStorage::open(path)
                .await
                .with_context(|| format!("opening SQLite storage {}", path.display()))?,
        ),
        StorageConfig::Postgresql {
            connection_url,
            table,
        } => {
            let mut pg = PostgresConfig::new(connection_url.clone());
            if let Some(table) = table {
                pg = pg.table(table.clone());
            }
            // The URL may carry a password: the error names the table, not the URL.
            Vault::builder(
                PostgresStorage::connect_with(pg)
                    .await
                    .context("connecting to PostgreSQL storage")?,
            )
        }
        StorageConfig::Inmem => Vault::builder(MemoryStorage::new()),
    })
}

/// The storage in words, for the startup banner (no connection URL: it may hold a password).
fn describe(storage: &StorageConfig) -> String {
    match storage {
        StorageConfig::Sqlite { path } => format!("SQLite at {}", path.display()),
        StorageConfig::Postgresql { table, .. } => format!(
            "PostgreSQL, table {}",
            table.as_deref().unwrap_or("strongroom_kv")
        ),
        StorageConfig::Inmem => "in memory (lost when the server stops)".to_owned(),
    }
}

/// Serves the API on every address until Ctrl-C or SIGTERM; in-flight requests finish first.
async fn serve(vault: Vault, addrs: &[SocketAddr]) -> Result<()> {
    let app = strongroom_http::router(vault);
    let (stop, _) = tokio::sync::watch::channel(false);
    let mut servers = tokio::task::JoinSet::new();
    for &addr in addrs {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening on {addr}"))?;
        let app = app.clone();
        let mut stopped = stop.subscribe();
        servers.spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await
        });
    }
    tokio::select! {
        () = shutdown_signal() => {}
        // A listener that fails stops the whole server rather than leaving it half up.
        Some(done) = servers.join_next() => {
            let _ = stop.send(true);
            done.context("listener task")?.context("serving")?;
        }
    }
    let _ = stop.send(true);
    while let Some(done) = servers.join_next().await {
        done.context("listener task")?.context("serving")?;
    }
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
            .map(OsString::from),
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
        let Command::Server(server) = cli.command else {
            panic!("not the server command");
        };
        assert!(server.dev);
        assert_eq!(server.dev_root_token_id.as_deref(), Some("root"));
    }

    /// The command after `--` reaches `run` exactly as typed, single-dash flags included.
    #[test]
    fn run_passes_the_command_through() {
        let args = normalize_args(
            [
                "strongroom",
                "run",
                "-path=secret/a",
                "--path",
                "secret/b",
                "--",
                "ls",
                "-lah",
                "--",
                "-x",
            ]
            .into_iter()
            .map(OsString::from),
        );
        let cli = Cli::parse_from(args);
        let Command::Run(run) = cli.command else {
            panic!("not the run command");
        };
        assert_eq!(
            format!("{run:?}"),
            r#"RunArgs { paths: ["secret/a", "secret/b"], command: ["ls", "-lah", "--", "-x"] }"#
        );
    }
}
