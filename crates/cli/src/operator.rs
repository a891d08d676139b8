//! `strongroom operator ...` and `strongroom status`: initialise, unseal, seal, rekey and
//! generate a root token, as Vault's `operator` commands do. Keys given as arguments may be
//! replaced by `-` (or left out) to read them from standard input, hidden on a terminal.

use std::io::{BufRead as _, IsTerminal as _};

use anyhow::{Context as _, Result, bail};
use reqwest::Method;
use serde_json::{Value, json};
use strongroom_client::{Client, RawResponse, SealStatus};
use zeroize::Zeroizing;

use crate::output::{self, OutputArgs};

/// The `operator` subcommands.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum OperatorCommand {
    /// Initialises the server: prints the unseal key shares and the initial root token.
    Init {
        /// Number of key shares.
        #[arg(long, default_value_t = 5)]
        key_shares: u64,
        /// Shares needed to unseal.
        #[arg(long, default_value_t = 3)]
        key_threshold: u64,
        /// Only report whether the server is initialised (exit 0 yes, 2 no).
        #[arg(long)]
        status: bool,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Enters one unseal key share (from the argument, or standard input).
    Unseal {
        /// Forget the shares entered so far.
        #[arg(long)]
        reset: bool,
        /// The key share; `-` or absent to read it from standard input.
        key: Option<String>,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Seals the server (needs a token with sudo on sys/seal).
    Seal {
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Replaces the unseal key shares: `-init`, then each holder enters a share with `-nonce`.
    Rekey {
        /// Start a rekey.
        #[arg(long)]
        init: bool,
        /// Cancel the rekey in progress.
        #[arg(long)]
        cancel: bool,
        /// Print the rekey's progress.
        #[arg(long)]
        status: bool,
        /// Verification: enter a *new* share to prove the new shares work.
        #[arg(long)]
        verify: bool,
        /// New number of key shares (with `-init`).
        #[arg(long, default_value_t = 5)]
        key_shares: u64,
        /// New threshold (with `-init`).
        #[arg(long, default_value_t = 3)]
        key_threshold: u64,
        /// The rekey's nonce (when entering a share).
        #[arg(long)]
        nonce: Option<String>,
        /// A current (or, with `-verify`, new) key share; `-` or absent: standard input.
        key: Option<String>,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Generates a root token from a quorum of unseal key shares.
    ///
    /// As OpenBao 2.7's CLI: through `sys/generate-root-token/*`, with the caller's token
    /// (its policy must grant the path); the one-time pad is printed to the starter only.
    GenerateRoot {
        /// Start an attempt.
        #[arg(long)]
        init: bool,
        /// Cancel the attempt.
        #[arg(long)]
        cancel: bool,
        /// Print the attempt's progress.
        #[arg(long)]
        status: bool,
        /// Decode this encoded token with `-otp`.
        #[arg(long)]
        decode: Option<String>,
        /// The one-time pad printed by `-init` (with `-decode`).
        #[arg(long)]
        otp: Option<String>,
        /// The attempt's nonce (when entering a share).
        #[arg(long)]
        nonce: Option<String>,
        /// A key share; `-` or absent: standard input.
        key: Option<String>,
        #[command(flatten)]
        out: OutputArgs,
    },
}

/// A key share from the argument, or from standard input (hidden on a terminal).
fn read_key(arg: Option<String>, prompt: &str) -> Result<Zeroizing<String>> {
    if let Some(key) = arg.filter(|k| k != "-") {
        return Ok(Zeroizing::new(key));
    }
    let key = if std::io::stdin().is_terminal() {
        Zeroizing::new(rpassword::prompt_password(format!(
            "{prompt} (will be hidden): "
        ))?)
    } else {
        let mut line = Zeroizing::new(String::new());
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the key from standard input")?;
        line
    };
    let key = Zeroizing::new(key.trim().to_owned());
    if key.is_empty() {
        bail!("no key given");
    }
    Ok(key)
}

/// Sends a request to a lifecycle endpoint; an error status is an error.
async fn call(client: &Client, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
    let RawResponse { status, body, .. } = client
        .request(method.clone(), path, &[], body.as_ref())
        .await?;
    if !(200..300).contains(&status) {
        let errors = body
            .get("errors")
            .and_then(Value::as_array)
            .map(|e| {
                e.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        return Err(strongroom_client::Error::Api {
            method: method.to_string(),
            path: path.into(),
            status,
            errors,
        }
        .into());
    }
    Ok(body)
}

/// Prints a JSON object's fields as a table (in the order given), or the object as JSON.
fn print_fields(body: &Value, fields: &[(&str, &str)], out: &OutputArgs) -> Result<()> {
    if let Some(field) = &out.field {
        let Some(value) = body.get(field) else {
            bail!("field {field:?} not present");
        };
        return output::raw_field(value);
    }
    if out.json() {
        println!("{}", serde_json::to_string_pretty(body)?);
        return Ok(());
    }
    let rows: Vec<(String, String)> = fields
        .iter()
        .filter_map(|(label, key)| {
            body.get(*key)
                .filter(|v| !v.is_null() && v.as_str() != Some(""))
                .map(|v| ((*label).to_owned(), output::go_value(v)))
        })
        .collect();
    println!("{}", output::kv_table(&rows));
    Ok(())
}

/// Prints the seal status as `vault status` and `vault operator unseal` do: progress and
/// nonce only while sealed, then version, storage type and whether HA is enabled.
async fn print_seal_status(client: &Client, body: &Value, out: &OutputArgs) -> Result<()> {
    let ha = ha_enabled(client).await;
    if out.field.is_some() {
        return print_fields(body, &[], out);
    }
    if out.json() {
        println!("{}", status_json(body, ha)?);
        return Ok(());
    }
    let get = |key: &str| body.get(key).map(output::go_value).unwrap_or_default();
    let mut rows = vec![
        ("Seal Type".to_owned(), get("type")),
        ("Initialized".to_owned(), get("initialized")),
        ("Sealed".to_owned(), get("sealed")),
        ("Total Shares".to_owned(), get("n")),
        ("Threshold".to_owned(), get("t")),
    ];
    let sealed = body.get("sealed").and_then(Value::as_bool) != Some(false);
    if sealed {
        rows.push((
            "Unseal Progress".into(),
            format!("{}/{}", get("progress"), get("t")),
        ));
        rows.push(("Unseal Nonce".into(), get("nonce")));
    }
    rows.push(("Version".into(), get("version")));
    for (label, key) in [
        ("Build Date", "build_date"),
        ("Storage Type", "storage_type"),
        ("Cluster Name", "cluster_name"),
        ("Cluster ID", "cluster_id"),
    ] {
        if body
            .get(key)
            .is_some_and(|v| v.as_str().is_some_and(|s| !s.is_empty()))
        {
            rows.push((label.into(), get(key)));
        }
    }
    rows.push(("HA Enabled".into(), ha.to_string()));
    println!("{}", output::kv_table(&rows));
    Ok(())
}

/// Whether the server runs with HA (`sys/leader`); a sealed server cannot say, and counts as
/// not, as Vault's CLI reports it.
async fn ha_enabled(client: &Client) -> bool {
    match client.request(Method::GET, "sys/leader", &[], None).await {
        Ok(leader) if leader.status == 200 => leader
            .body
            .get("ha_enabled")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        _ => false,
    }
}

/// `status -format=json`: the fields of `sys/seal-status` plus `ha_enabled`, in the order
/// Vault's CLI prints them (a struct there, so not sorted as a map would be).
fn status_json(body: &Value, ha_enabled: bool) -> Result<String> {
    #[derive(serde::Serialize)]
    struct Status {
        #[serde(rename = "type")]
        seal_type: Value,
        initialized: Value,
        sealed: Value,
        t: Value,
        n: Value,
        progress: Value,
        nonce: Value,
        version: Value,
        commit_date: Value,
        migration: Value,
        #[serde(skip_serializing_if = "Option::is_none")]
        cluster_name: Option<Value>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cluster_id: Option<Value>,
        recovery_seal: Value,
        storage_type: Value,
        build_date: Value,
        ha_enabled: bool,
    }
    let text = |key: &str| body.get(key).cloned().unwrap_or_else(|| json!(""));
    let flag = |key: &str| body.get(key).cloned().unwrap_or(Value::Bool(false));
    let count = |key: &str| body.get(key).cloned().unwrap_or_else(|| json!(0));
    let status = Status {
        seal_type: text("type"),
        initialized: flag("initialized"),
        sealed: flag("sealed"),
        t: count("t"),
        n: count("n"),
        progress: count("progress"),
        nonce: text("nonce"),
        version: text("version"),
        commit_date: text("commit_date"),
        migration: flag("migration"),
        // Present only while unsealed, as Vault's CLI prints them (`omitempty` there).
        cluster_name: body.get("cluster_name").cloned(),
        cluster_id: body.get("cluster_id").cloned(),
        recovery_seal: flag("recovery_seal"),
        storage_type: text("storage_type"),
        build_date: text("build_date"),
        ha_enabled,
    };
    Ok(serde_json::to_string_pretty(&status)?)
}

/// `strongroom status`: the seal status; 0 unsealed, 2 sealed (as `vault status`).
pub(crate) async fn status(client: &Client, out: &OutputArgs) -> Result<i32> {
    let body = call(client, Method::GET, "sys/seal-status", None).await?;
    print_seal_status(client, &body, out).await?;
    let status: SealStatus = serde_json::from_value(body).unwrap_or_default();
    Ok(if status.sealed { 2 } else { 0 })
}

/// Runs an `operator` subcommand; returns the exit code.
pub(crate) async fn run(client: &Client, command: OperatorCommand) -> Result<i32> {
    match command {
        OperatorCommand::Init {
            key_shares,
            key_threshold,
            status,
            out,
        } => {
            if status {
                let initialized = client.sys().is_initialized().await?;
                if !out.json() {
                    println!(
                        "{}",
                        if initialized {
                            "Vault is initialized"
                        } else {
                            "Vault is not initialized"
                        }
                    );
                }
                return Ok(if initialized { 0 } else { 2 });
            }
            init(client, key_shares, key_threshold, &out).await
        }
        OperatorCommand::Unseal { reset, key, out } => {
            let body = if reset {
                json!({ "reset": true })
            } else {
                let key = read_key(key, "Unseal Key")?;
                json!({ "key": key.as_str() })
            };
            let status = call(client, Method::PUT, "sys/unseal", Some(body)).await?;
            print_seal_status(client, &status, &out).await?;
            Ok(0)
        }
        OperatorCommand::Seal { out } => {
            client.sys().seal().await.context("sealing")?;
            output::success("Vault is sealed.", &out);
            Ok(0)
        }
        OperatorCommand::Rekey {
            init,
            cancel,
            status,
            verify,
            key_shares,
            key_threshold,
            nonce,
            key,
            out,
        } => {
            let fields: &[(&str, &str)] = &[
                ("Nonce", "nonce"),
                ("Started", "started"),
                ("Rekey Progress", "progress"),
                ("New Shares", "n"),
                ("New Threshold", "t"),
                ("Verification Required", "verification_required"),
                ("Verification Nonce", "verification_nonce"),
            ];
            let base = if verify {
                "sys/rekey/verify"
            } else {
                "sys/rekey/init"
            };
            if init {
                let body = json!({
                    "secret_shares": key_shares, "secret_threshold": key_threshold,
                    "require_verification": verify,
                });
                let started = call(client, Method::PUT, "sys/rekey/init", Some(body)).await?;
                print_fields(&started, fields, &out)?;
            } else if cancel {
                call(client, Method::DELETE, base, None).await?;
                output::success("Rekey canceled.", &out);
            } else if status {
                let progress = call(client, Method::GET, base, None).await?;
                print_fields(&progress, fields, &out)?;
            } else {
                let Some(nonce) = nonce else {
                    bail!("entering a share needs the rekey's -nonce (see -status)");
                };
                let key = read_key(key, "Rekey Key")?;
                let path = if verify {
                    "sys/rekey/verify"
                } else {
                    "sys/rekey/update"
                };
                let update = call(
                    client,
                    Method::PUT,
                    path,
                    Some(json!({ "key": key.as_str(), "nonce": nonce })),
                )
                .await?;
                print_rekey_update(&update, fields, &out)?;
            }
            Ok(0)
        }
        OperatorCommand::GenerateRoot {
            init,
            cancel,
            status,
            decode,
            otp,
            nonce,
            key,
            out,
        } => generate_root(client, init, cancel, status, decode, otp, nonce, key, &out).await,
    }
}

async fn init(client: &Client, shares: u64, threshold: u64, out: &OutputArgs) -> Result<i32> {
    let body = json!({ "secret_shares": shares, "secret_threshold": threshold });
    let init = call(client, Method::PUT, "sys/init", Some(body)).await?;
    let list = |key: &str| -> Vec<String> {
        init.get(key)
            .and_then(Value::as_array)
            .map(|v| {
                v.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let keys_b64 = Zeroizing::new(list("keys_base64"));
    let recovery_b64 = Zeroizing::new(list("recovery_keys_base64"));
    let root = init
        .get("root_token")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if out.json() {
        // The shape `vault operator init -format=json` prints.
        let printed = json!({
            "unseal_keys_b64": *keys_b64,
            "unseal_keys_hex": list("keys"),
            "unseal_shares": shares,
            "unseal_threshold": threshold,
            "recovery_keys_b64": *recovery_b64,
            "recovery_keys_hex": list("recovery_keys"),
            "recovery_keys_shares": if recovery_b64.is_empty() { 0 } else { shares },
            "recovery_keys_threshold": if recovery_b64.is_empty() { 0 } else { threshold },
            "root_token": root,
        });
        println!("{}", serde_json::to_string_pretty(&printed)?);
        return Ok(0);
    }
    for (i, key) in keys_b64.iter().enumerate() {
        println!("Unseal Key {}: {key}", i + 1);
    }
    for (i, key) in recovery_b64.iter().enumerate() {
        println!("Recovery Key {}: {key}", i + 1);
    }
    println!();
    println!("Initial Root Token: {root}");
    println!();
    if recovery_b64.is_empty() {
        println!(
            "Vault initialized with {shares} key shares and a key threshold of {threshold}. \
             Please securely\ndistribute the key shares printed above. When the Vault is \
             re-sealed,\nrestarted, or stopped, you must supply at least {threshold} of these \
             keys to unseal it\nbefore it can start servicing requests."
        );
    } else {
        println!(
            "Vault initialized with {shares} recovery key shares and a threshold of \
             {threshold}; the seal unseals it by itself. Keep the recovery keys safe: they \
             authorise rekeys and root token generation."
        );
    }
    Ok(0)
}

fn print_rekey_update(update: &Value, fields: &[(&str, &str)], out: &OutputArgs) -> Result<()> {
    let issued = update
        .get("keys_base64")
        .and_then(Value::as_array)
        .filter(|k| !k.is_empty());
    match issued {
        Some(keys) if !out.json() && out.field.is_none() => {
            for (i, key) in keys.iter().enumerate() {
                println!("Key {}: {}", i + 1, key.as_str().unwrap_or_default());
            }
            println!();
            if update.get("verification_required").and_then(Value::as_bool) == Some(true) {
                println!(
                    "Rekey needs verification: enter {} of the new keys with \
                     `operator rekey -verify -nonce={}`. Until then the old keys stay valid.",
                    update.get("t").map(output::go_value).unwrap_or_default(),
                    update
                        .get("verification_nonce")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                );
            } else {
                println!(
                    "Operation nonce: {}\n\nVault rekeyed with {} key shares. The old keys no \
                     longer unseal it.",
                    update
                        .get("nonce")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                    keys.len()
                );
            }
            Ok(())
        }
        _ if update.get("complete").and_then(Value::as_bool) == Some(true)
            && !out.json()
            && out.field.is_none() =>
        {
            println!("Success! Rekey verified: the new keys are now in force.");
            Ok(())
        }
        _ => print_fields(update, fields, out),
    }
}

#[allow(
    clippy::too_many_arguments,
    clippy::fn_params_excessive_bools,
    reason = "one parameter per flag of the command, as parsed"
)]
async fn generate_root(
    client: &Client,
    init: bool,
    cancel: bool,
    status: bool,
    decode: Option<String>,
    otp: Option<String>,
    nonce: Option<String>,
    key: Option<String>,
    out: &OutputArgs,
) -> Result<i32> {
    let fields: &[(&str, &str)] = &[
        ("Nonce", "nonce"),
        ("Started", "started"),
        ("Progress", "progress"),
        ("Required", "required"),
        ("Complete", "complete"),
        ("OTP", "otp"),
        ("OTP Length", "otp_length"),
        ("Encoded Token", "encoded_token"),
    ];
    if let Some(encoded) = decode {
        let Some(otp) = otp else {
            bail!("-decode needs the -otp printed when the attempt started");
        };
        let token = strongroom_seal::decode_with_otp(&encoded, &otp)
            .map_err(|e| anyhow::anyhow!("decoding the token: {e}"))?;
        output::raw_field(&Value::String(token.expose_secret().to_owned()))?;
        return Ok(0);
    }
    // OpenBao 2.7's paths, as its CLI uses them: ACL-checked, the token is the caller's.
    const PATH: &str = "sys/generate-root-token/attempt";
    if status {
        let progress = call(client, Method::GET, PATH, None).await?;
        print_fields(&progress, fields, out)?;
        return Ok(0);
    }
    if init {
        let started = call(
            client,
            Method::PUT,
            PATH,
            Some(json!({ "otp": "", "pgp_key": "" })),
        )
        .await?;
        print_fields(&started, fields, out)?;
    } else if cancel {
        call(client, Method::DELETE, PATH, None).await?;
        output::success("Root token generation canceled (if it was started)", out);
    } else {
        let key = read_key(key, "Unseal Key")?;
        let Some(nonce) = nonce else {
            bail!("entering a share needs the attempt's -nonce (see -status)");
        };
        let update = call(
            client,
            Method::PUT,
            "sys/generate-root-token/update",
            Some(json!({ "key": key.as_str(), "nonce": nonce })),
        )
        .await?;
        print_fields(&update, fields, out)?;
    }
    Ok(0)
}
