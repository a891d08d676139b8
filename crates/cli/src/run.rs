//! `strongroom run --path secret/myapp -- CMD ARGS...`: reads secrets and starts a command with
//! them as environment variables, passing its exit code through.
//!
//! Each `--path` is a KV secret; whether its mount is KV v1 or v2 is asked of the server
//! (`sys/internal/ui/mounts/<path>`, as the `vault kv` commands do), so the path is written the
//! way an operator writes it for `vault kv get`. Every key of the secret becomes a variable of
//! the same name; with several paths a later path's key replaces an earlier one's. A key that is
//! not a valid variable name is an error, not silently dropped, and values are never printed.

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
    let vars = variables(client, &args.paths).await?;
    let (program, rest) = args
        .command
        .split_first()
        .context("no command given after --")?;
    let mut child = tokio::process::Command::new(program)
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
    fn values() {
        assert_eq!(env_value(&Value::from("p w")), "p w");
        assert_eq!(env_value(&Value::from(5432)), "5432");
        assert_eq!(env_value(&Value::from(true)), "true");
        assert_eq!(env_value(&serde_json::json!({"a": [1]})), r#"{"a":[1]}"#);
    }
}
