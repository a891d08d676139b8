//! `strongroom`: a Vault-compatible server over the Strongroom core.
//!
//! `strongroom server --dev` runs Vault's dev mode (in memory, initialised, unsealed, KV v2 at
//! `secret/`); `strongroom server --config FILE` serves what a Vault-style HCL file says (see
//! [`strongroom_cli::config`]); plain `strongroom server` serves the embedded default (SQLite at
//! `./strongroom.db`, plain HTTP on 127.0.0.1:8200), sealed until initialised and unsealed over
//! the API. Vault's single-dash flag spellings are accepted, so scripts written for
//! `vault`/`bao` run unchanged. `strongroom run --path secret/app -- CMD` starts a command with
//! secrets in its environment (see [`run`]).
#![forbid(unsafe_code)]

mod commands;
mod input;
mod kv;
mod listen;
mod operator;
mod output;
mod run;
mod server;

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};
use strongroom_client::{Client, ClientBuilder};

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
    Server(server::ServerArgs),
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
        if let Err(error) = server::run(args).await {
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
            r#"RunArgs { paths: ["secret/a", "secret/b"], allow_env: [], command: ["ls", "-lah", "--", "-x"] }"#
        );
    }
}
