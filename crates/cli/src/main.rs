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
mod login;
mod operator;
mod output;
mod run;
mod server;
mod token_helper;

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};
use strongroom_client::{Client, ClientBuilder};

#[derive(Parser, Debug)]
#[command(name = "strongroom", about = "A Vault-compatible secret store")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The server's address (default: STRONGROOM_ADDR, VAULT_ADDR, https://127.0.0.1:8200).
    #[arg(long, global = true)]
    address: Option<String>,
    /// A PEM CA certificate to trust (default: STRONGROOM_CACERT or VAULT_CACERT).
    #[arg(long, global = true)]
    ca_cert: Option<PathBuf>,
    /// The token to use (default: STRONGROOM_TOKEN, VAULT_TOKEN, then the token helper's,
    /// `~/.vault-token`).
    #[arg(
        long = "token",
        id = "global_token",
        global = true,
        value_name = "TOKEN"
    )]
    token: Option<String>,
    /// Asks the server to wrap the response in a single-use token for this long (`30s`, `5m`,
    /// or seconds; default: VAULT_WRAP_TTL); `unwrap` gets it back.
    #[arg(
        long = "wrap-ttl",
        id = "global_wrap_ttl",
        global = true,
        value_name = "DURATION"
    )]
    wrap_ttl: Option<String>,
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
    /// Authenticates and stores the token with the token helper (`~/.vault-token`).
    Login(login::LoginArgs),
    /// Returns the response behind a wrapping token.
    Unwrap(commands::UnwrapArgs),
    /// Prints what the CLI would use (`print token`).
    #[command(subcommand)]
    Print(commands::PrintCommand),
    /// Prints the server's help for an API path.
    PathHelp(commands::PathHelpArgs),
    /// Prints the CLI's version.
    Version,
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
                // `vault -v`, `-version`, `--version`: the `version` command.
                Some("-v" | "-version" | "--version") if i == 1 => "version".into(),
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
    if let Command::Version = cli.command {
        println!("{}", commands::version_line());
        return;
    }
    let mut builder = ClientBuilder::from_env();
    if let Some(address) = &cli.address {
        builder = builder.address(address);
    }
    if let Some(ca_cert) = &cli.ca_cert {
        builder = builder.ca_file(ca_cert);
    }
    if let Some(ttl) = &cli.wrap_ttl {
        match input::duration_seconds(ttl) {
            // 0 is no wrapping, as Vault's flag reads it.
            Ok(0) => builder = builder.wrap_ttl(""),
            Ok(seconds) => builder = builder.wrap_ttl(seconds.to_string()),
            Err(error) => {
                eprintln!("invalid value {ttl:?} for flag -wrap-ttl: {error}");
                std::process::exit(1);
            }
        }
    }
    // The one place a client command's token is chosen: `-token`, the environment, then the
    // token helper. `login` finds its own (and must work while the helper has none).
    let env = token_helper::ProcessEnv;
    let mut token = None;
    if !matches!(cli.command, Command::Login(_)) {
        match token_helper::resolve(cli.token.as_deref(), &env) {
            Ok(Some((resolved, _))) => {
                builder = builder.token(resolved.as_str());
                token = Some(resolved);
            }
            Ok(None) => {}
            Err(error) => {
                eprintln!("{error:#}");
                std::process::exit(2);
            }
        }
    }
    if let Command::Print(commands::PrintCommand::Token) = cli.command {
        println!("{}", token.as_deref().map_or("", |t| t.as_str()));
        return;
    }
    drop(token);
    let client = match builder.build() {
        Ok(client) => client,
        Err(error) => {
            eprintln!("Error: {error}");
            std::process::exit(1);
        }
    };
    let code = match client_command(&client, cli.command, &env).await {
        Ok(code) => code,
        Err(error) => {
            if error.downcast_ref::<output::Reported>().is_none() {
                eprintln!("{}", output::report(&error, client.address()));
            }
            output::exit_code(&error)
        }
    };
    std::process::exit(code);
}

/// Runs a client command; returns the exit code.
async fn client_command(
    client: &Client,
    command: Command,
    env: &dyn token_helper::Env,
) -> Result<i32> {
    match command {
        Command::Server(_) | Command::Version | Command::Print(_) => Ok(1),
        Command::Login(args) => login::run(client, args, env).await,
        Command::Unwrap(args) => commands::unwrap(client, args).await,
        Command::PathHelp(args) => commands::path_help(client, args).await,
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
