//! `strongroom run --path secret/myapp -- CMD ARGS...`: reads secrets and starts a command with
//! them as environment variables, passing its exit code through.
//!
//! Each `--path` is a KV secret; whether its mount is KV v1 or v2 is asked of the server
//! (`sys/internal/ui/mounts/<path>`, as the `vault kv` commands do), so the path is written the
//! way an operator writes it for `vault kv get`. Every key of the secret becomes a variable of
//! the same name; with several paths a later path's key replaces an earlier one's. A key that is
//! not a valid variable name is an error, not silently dropped, and values are never printed.
//!
//! Two rules keep the secret's writer from acting as whoever runs the command:
//! * the caller's own token (`STRONGROOM_TOKEN`, `VAULT_TOKEN`) is not passed to the command:
//!   it needs the secrets, not the right to read them (and everything else the token can do);
//! * a secret may not set a variable that makes a loader, shell or interpreter run code or load
//!   libraries from elsewhere (`LD_PRELOAD`, `PATH`, `BASH_ENV`, `NODE_OPTIONS`, `PYTHON*`, ...;
//!   see [`RISKY_EXACT`] and [`RISKY_PREFIXES`]) unless the caller names it with `--allow-env`.

use std::collections::BTreeMap;
use std::ffi::OsString;

use anyhow::{Context as _, Result, anyhow, bail};
use serde_json::Value;
use zeroize::Zeroizing;

use strongroom_client::Client;

/// The `run` subcommand's arguments.
#[derive(clap::Args, Debug)]
pub(crate) struct RunArgs {
    /// A KV secret to inject, e.g. `secret/myapp` (repeatable; later paths win).
    #[arg(long = "path", required = true)]
    paths: Vec<String>,
    /// A variable a secret may set although it changes how programs are loaded or interpreted
    /// (`LD_PRELOAD`, `PATH`, `PYTHONPATH`, ...); repeatable. Without it such a key is an error.
    #[arg(long = "allow-env", value_name = "NAME")]
    allow_env: Vec<String>,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true)]
    command: Vec<OsString>,
}

/// The key/value pairs of the KV secret at `path` (v1 or v2, asked of the server, as the
/// `vault kv` commands find it).
async fn kv_secret(client: &Client, path: &str) -> Result<serde_json::Map<String, Value>> {
    let mount = client
        .kv_mount(path)
        .await
        .with_context(|| format!("finding the mount of {path}"))?;
    let data = if mount.version == 2 {
        client
            .kv2(&mount.mount)
            .get(&mount.path, None)
            .await
            .with_context(|| format!("reading the secret {path}"))?
            .and_then(|version| version.data)
    } else {
        client
            .kv1(&mount.mount)
            .get(&mount.path)
            .await
            .with_context(|| format!("reading the secret {path}"))?
            .map(|secret| secret.data)
    };
    data.ok_or_else(|| anyhow!("{path}: no secret there"))
}

/// The caller's token variables, never passed to the command.
const TOKEN_VARIABLES: &[&str] = &["STRONGROOM_TOKEN", "VAULT_TOKEN"];

/// Variables that make the dynamic loader, a shell, an interpreter or a common tool load or
/// run code from a place the variable names, read configuration that does, or send traffic
/// elsewhere (compared in ASCII upper case).
const RISKY_EXACT: &[&str] = &[
    // Shells and the programs they start.
    "PATH",
    "IFS",
    "ENV",
    "BASH_ENV",
    "SHELLOPTS",
    "BASHOPTS",
    "PS0",
    "PS1",
    "PS2",
    "PS3",
    "PS4",
    "PROMPT_COMMAND",
    "CDPATH",
    "GLOBIGNORE",
    "SHELL",
    "HOME",
    "ZDOTDIR",
    "XDG_CONFIG_HOME",
    "XDG_CONFIG_DIRS",
    "XDG_DATA_DIRS",
    "COMSPEC",
    "PATHEXT",
    // Programs that tools run through a shell.
    "PAGER",
    "MANPAGER",
    "EDITOR",
    "VISUAL",
    "BROWSER",
    "LESSOPEN",
    "LESSCLOSE",
    "SSH_ASKPASS",
    "SUDO_ASKPASS",
    // The C library and OpenSSL.
    "GCONV_PATH",
    "HOSTALIASES",
    "OPENSSL_CONF",
    "OPENSSL_ENGINES",
    "SSLKEYLOGFILE",
    // Interpreters and build tools.
    "NODE_OPTIONS",
    "RUBYOPT",
    "RUBYLIB",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "JAVA_OPTS",
    "MAVEN_OPTS",
    "GRADLE_OPTS",
    "CLASSPATH",
    "PHPRC",
    "PHP_INI_SCAN_DIR",
    "TCLLIBPATH",
    "GEM_PATH",
    "GEM_HOME",
    "GOFLAGS",
    "RUSTFLAGS",
    "RUSTDOCFLAGS",
    "CC",
    "CXX",
    "LD",
    "MAKEFLAGS",
    "MFLAGS",
    // Configuration files that name programs to run.
    "AWS_CONFIG_FILE",
    "DOCKER_CONFIG",
    "KUBECONFIG",
    // Where traffic goes and which certificates are trusted.
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "FTP_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
];

/// Prefixes of variable families with the same effect: the loader's (`LD_PRELOAD`,
/// `LD_LIBRARY_PATH`, `LD_AUDIT`, macOS's `DYLD_*`), glibc's tunables, exported Bash
/// functions, Python's, Node's, Perl's, Lua's (`LUA_INIT_5_4`, ...), Git's (`GIT_SSH_COMMAND`,
/// `GIT_PAGER`, ...), Cargo's and rustc's (`CARGO_TARGET_<triple>_RUNNER`, `RUSTC_WRAPPER`),
/// npm's and pip's settings, .NET's profiler and startup hooks, and the Vault clients' own
/// (`VAULT_ADDR` would send the command's next token elsewhere).
const RISKY_PREFIXES: &[&str] = &[
    "LD_",
    "DYLD_",
    "GLIBC_",
    "MALLOC_",
    "BASH_FUNC_",
    "PYTHON",
    "NODE_",
    "NPM_CONFIG_",
    "PERL",
    "LUA_",
    "GIT_",
    "CARGO_",
    "RUSTC_",
    "PIP_",
    "DOTNET_",
    "CORECLR_",
    "COR_",
    "VAULT_",
    "STRONGROOM_",
];

/// Whether a secret setting `name` could make the command run someone else's code.
fn risky(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    RISKY_EXACT.contains(&upper.as_str())
        || RISKY_PREFIXES
            .iter()
            .any(|prefix| upper.starts_with(prefix))
}

/// Whether `name` is a portable environment variable name.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A secret's value as an environment variable: strings as they are, anything else as JSON.
fn env_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Builds the variables from the secrets at `paths`, in order.
async fn variables(
    client: &Client,
    paths: &[String],
    allowed: &[String],
) -> Result<BTreeMap<String, Zeroizing<String>>> {
    let mut vars = BTreeMap::new();
    for path in paths {
        for (key, value) in kv_secret(client, path).await? {
            if !valid_name(&key) {
                bail!(
                    "{path}: key {key:?} is not a valid environment variable name \
                     (letters, digits and _, not starting with a digit)"
                );
            }
            if risky(&key) && !allowed.iter().any(|a| a == &key) {
                bail!(
                    "{path}: key {key:?} would change how the command is loaded or interpreted; \
                     pass --allow-env {key} if the secret is meant to set it"
                );
            }
            vars.insert(key, Zeroizing::new(env_value(&value)));
        }
    }
    Ok(vars)
}

/// Runs the command with the secrets in its environment; returns its exit code (128 + the
/// signal number if a signal ended it, as shells report).
pub(crate) async fn run(client: &Client, args: RunArgs) -> Result<i32> {
    if !client.has_token() {
        bail!("no token: set STRONGROOM_TOKEN (or VAULT_TOKEN)");
    }
    let vars = variables(client, &args.paths, &args.allow_env).await?;
    let (program, rest) = args
        .command
        .split_first()
        .context("no command given after --")?;
    let mut command = tokio::process::Command::new(program);
    for name in TOKEN_VARIABLES {
        command.env_remove(name);
    }
    let mut child = command
        .args(rest)
        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .spawn()
        .with_context(|| format!("starting {}", program.to_string_lossy()))?;
    drop(vars);
    // Ctrl-C reaches the child through the terminal's process group; the wrapper waits for the
    // child to finish rather than dying first and orphaning it.
    let status = loop {
        tokio::select! {
            status = child.wait() => break status.context("waiting for the command")?,
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    if let Some(code) = status.code() {
        return Ok(code);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if let Some(signal) = status.signal() {
            return Ok(128_i32.saturating_add(signal));
        }
    }
    Ok(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names() {
        for ok in ["DB_PASS", "_x", "a1"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "1A", "A-B", "A B", "A=B", "é"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn risky_variables() {
        for bad in [
            "LD_PRELOAD",
            "ld_preload",
            "LD_LIBRARY_PATH",
            "DYLD_INSERT_LIBRARIES",
            "PATH",
            "BASH_ENV",
            "BASH_FUNC_x%%",
            "NODE_OPTIONS",
            "PYTHONPATH",
            "PYTHONSTARTUP",
            "PERL5OPT",
            "GIT_SSH_COMMAND",
            "JAVA_TOOL_OPTIONS",
            "LUA_INIT_5_4",
            "PAGER",
            "LESSOPEN",
            "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER",
            "RUSTC_WRAPPER",
            "npm_config_script_shell",
            "CORECLR_PROFILER_PATH",
            "HTTPS_PROXY",
            "SSL_CERT_FILE",
            "VAULT_ADDR",
            "HOME",
        ] {
            assert!(risky(bad), "{bad}");
        }
        for ok in [
            "DB_PASS",
            "PORT",
            "API_KEY",
            "PATHWAY_ID",
            "HOME_REGION",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "DATABASE_URL",
            "CCACHE",
        ] {
            assert!(!risky(ok), "{ok}");
        }
    }

    #[test]
    fn values() {
        assert_eq!(env_value(&Value::from("p w")), "p w");
        assert_eq!(env_value(&Value::from(5432)), "5432");
        assert_eq!(env_value(&Value::from(true)), "true");
        assert_eq!(env_value(&serde_json::json!({"a": [1]})), r#"{"a":[1]}"#);
    }
}
