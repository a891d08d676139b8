//! The client commands besides `kv` and `operator`: `secrets`, `auth`, `policy`, `token`,
//! `lease`, `audit`, and the generic `read`, `write`, `delete`, `list`. Output and exit codes
//! follow Vault's CLI.

use anyhow::{Context as _, Result, bail};
use serde_json::{Map, Value, json};
use strongroom_client::{Client, Secret};

use crate::input;
use crate::output::{self, OutputArgs};

/// `secrets ...`.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum SecretsCommand {
    /// Mounts a secrets engine.
    Enable {
        /// Where to mount it (default: the type's name).
        #[arg(long)]
        path: Option<String>,
        /// A human-readable description.
        #[arg(long, default_value = "")]
        description: String,
        /// The engine version (`-version=2` for KV v2).
        #[arg(long)]
        version: Option<u32>,
        /// Engine options, `key=value` (repeatable).
        #[arg(long = "options")]
        options: Vec<String>,
        /// Default lease ttl (e.g. `1h`).
        #[arg(long)]
        default_lease_ttl: Option<String>,
        /// Maximum lease ttl.
        #[arg(long)]
        max_lease_ttl: Option<String>,
        /// The engine type (`kv`, `transit`, ...).
        kind: String,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Unmounts a secrets engine, revoking its leases and deleting its data.
    Disable {
        /// The mount path.
        path: String,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Lists the mounted secrets engines.
    List {
        /// Show options and ttls too.
        #[arg(long)]
        detailed: bool,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Changes a mount's ttls, description or options.
    Tune {
        /// Default lease ttl.
        #[arg(long)]
        default_lease_ttl: Option<String>,
        /// Maximum lease ttl.
        #[arg(long)]
        max_lease_ttl: Option<String>,
        /// A new description.
        #[arg(long)]
        description: Option<String>,
        /// Engine options, `key=value` (repeatable).
        #[arg(long = "options")]
        options: Vec<String>,
        /// The mount path.
        path: String,
        #[command(flatten)]
        out: OutputArgs,
    },
}

/// `auth ...`.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum AuthCommand {
    /// Enables an auth method.
    Enable {
        /// Where to mount it (default: the type's name).
        #[arg(long)]
        path: Option<String>,
        /// A human-readable description.
        #[arg(long, default_value = "")]
        description: String,
        /// The method type (`approle`, `userpass`, `jwt`, ...).
        kind: String,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Disables an auth method, revoking the tokens it issued.
    Disable {
        /// The mount path.
        path: String,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Lists the enabled auth methods.
    List {
        /// Show ttls too.
        #[arg(long)]
        detailed: bool,
        #[command(flatten)]
        out: OutputArgs,
    },
}

/// `policy ...`.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum PolicyCommand {
    /// Uploads a policy from a file (or `-` for standard input).
    Write {
        /// The policy's name.
        name: String,
        /// The HCL or JSON file.
        file: String,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Prints a policy.
    Read {
        /// The policy's name.
        name: String,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Lists the policies.
    List {
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Deletes a policy.
    Delete {
        /// The policy's name.
        name: String,
        #[command(flatten)]
        out: OutputArgs,
    },
}

/// `token ...`.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum TokenCommand {
    /// Creates a child token (or an orphan with `-orphan`).
    Create {
        /// A policy (repeatable).
        #[arg(long = "policy")]
        policies: Vec<String>,
        /// The token's ttl (e.g. `1h`).
        #[arg(long)]
        ttl: Option<String>,
        /// A hard ttl that renewals cannot pass.
        #[arg(long)]
        explicit_max_ttl: Option<String>,
        /// A periodic token's period.
        #[arg(long)]
        period: Option<String>,
        /// No parent: not revoked with its creator (needs sudo).
        #[arg(long)]
        orphan: bool,
        /// Leave the `default` policy out.
        #[arg(long)]
        no_default_policy: bool,
        /// The display name.
        #[arg(long)]
        display_name: Option<String>,
        /// How many uses the token has (0: unlimited).
        #[arg(long)]
        use_limit: Option<u64>,
        /// Whether the token can be renewed.
        #[arg(long)]
        renewable: Option<bool>,
        /// The token's id (root only).
        #[arg(long)]
        id: Option<String>,
        /// `key=value` metadata (repeatable).
        #[arg(long)]
        metadata: Vec<String>,
        /// Create the token through this token role (`auth/token/create/<role>`).
        #[arg(long)]
        role: Option<String>,
        /// The token type: `service` or `batch`.
        #[arg(long = "type")]
        token_type: Option<String>,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Looks up a token (default: the one in use).
    Lookup {
        /// Look up by accessor instead.
        #[arg(long)]
        accessor: bool,
        /// The token or accessor.
        token: Option<String>,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Renews a token (default: the one in use).
    Renew {
        /// The increment asked for (e.g. `1h`).
        #[arg(long)]
        increment: Option<String>,
        /// The token.
        token: Option<String>,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Revokes a token and its children.
    Revoke {
        /// Revoke the token in use.
        #[arg(long = "self")]
        this: bool,
        /// Revoke by accessor.
        #[arg(long)]
        accessor: bool,
        /// `orphan`: revoke only the token, orphaning its children.
        #[arg(long, value_parser = ["orphan", "path"])]
        mode: Option<String>,
        /// The token or accessor.
        token: Option<String>,
        #[command(flatten)]
        out: OutputArgs,
    },
}

/// `lease ...`.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum LeaseCommand {
    /// Renews a lease.
    Renew {
        /// The increment asked for (e.g. `1h`).
        #[arg(long)]
        increment: Option<String>,
        /// The lease id.
        lease_id: String,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Revokes a lease (or, with `-prefix`, every lease under a prefix).
    Revoke {
        /// Treat the id as a prefix.
        #[arg(long)]
        prefix: bool,
        /// With `-prefix`: forget the leases even if their revocation fails.
        #[arg(long)]
        force: bool,
        /// The lease id or prefix.
        lease_id: String,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Looks up a lease.
    Lookup {
        /// The lease id.
        lease_id: String,
        #[command(flatten)]
        out: OutputArgs,
    },
}

/// `audit ...`.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum AuditCommand {
    /// Enables an audit device, e.g. `audit enable file file_path=/var/log/audit.log`.
    Enable {
        /// Where to enable it (default: the type's name).
        #[arg(long)]
        path: Option<String>,
        /// A human-readable description.
        #[arg(long, default_value = "")]
        description: String,
        /// The device type (`file`).
        kind: String,
        /// Device options, `key=value`.
        options: Vec<String>,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Lists the audit devices.
    List {
        /// Show options too.
        #[arg(long)]
        detailed: bool,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Disables an audit device.
    Disable {
        /// The device's path.
        path: String,
        #[command(flatten)]
        out: OutputArgs,
    },
}

/// The generic commands on any API path.
#[derive(clap::Args, Debug)]
pub(crate) struct PathArgs {
    /// The API path (below `/v1/`).
    pub(crate) path: String,
    /// `key=value` pairs (`read`: query parameters; `write`: the body).
    pub(crate) pairs: Vec<String>,
    /// `write`: allow a write without data (`-f`, `-force`).
    #[arg(short = 'f', long = "force")]
    pub(crate) force: bool,
    #[command(flatten)]
    pub(crate) out: OutputArgs,
}

fn mount_path(path: Option<&str>, kind: &str) -> String {
    format!("{}/", path.unwrap_or(kind).trim_matches('/'))
}

/// Prints a table with one row per mount (`sys/mounts`, `sys/auth`, `sys/audit`).
fn print_mounts(secret: &Secret, columns: &[(&str, &str)], out: &OutputArgs) -> Result<()> {
    if out.json() {
        println!("{}", serde_json::to_string_pretty(&secret.data)?);
        return Ok(());
    }
    let mut paths: Vec<(&String, &Value)> =
        secret.data.iter().filter(|(_, v)| v.is_object()).collect();
    paths.sort_by(|a, b| a.0.cmp(b.0));
    let rows: Vec<Vec<String>> = paths
        .into_iter()
        .map(|(path, entry)| {
            let mut row = vec![path.clone()];
            row.extend(
                columns
                    .iter()
                    .map(|(_, pointer)| match entry.pointer(pointer) {
                        Some(Value::String(s)) if s.is_empty() => "n/a".to_owned(),
                        Some(v) => output::go_value(v),
                        None => "n/a".to_owned(),
                    }),
            );
            row
        })
        .collect();
    let mut headers = vec!["Path"];
    headers.extend(columns.iter().map(|(h, _)| *h));
    println!("{}", output::columns(&headers, &rows));
    Ok(())
}

fn ttl_fields(
    body: &mut Map<String, Value>,
    default_lease_ttl: Option<String>,
    max_lease_ttl: Option<String>,
) {
    if let Some(ttl) = default_lease_ttl {
        body.insert("default_lease_ttl".into(), ttl.into());
    }
    if let Some(ttl) = max_lease_ttl {
        body.insert("max_lease_ttl".into(), ttl.into());
    }
}

/// Runs a `secrets` subcommand.
pub(crate) async fn secrets(client: &Client, command: SecretsCommand) -> Result<i32> {
    match command {
        SecretsCommand::Enable {
            path,
            description,
            version,
            options,
            default_lease_ttl,
            max_lease_ttl,
            kind,
            out,
        } => {
            let path = mount_path(path.as_deref(), &kind);
            let mut options = input::parse(&options)?;
            if let Some(version) = version {
                options.insert("version".into(), version.to_string().into());
            }
            let mut config = Map::new();
            ttl_fields(&mut config, default_lease_ttl, max_lease_ttl);
            let body = json!({
                "type": kind, "description": description, "options": options, "config": config,
            });
            client
                .sys()
                .enable_secrets(&path, &body)
                .await
                .context("enabling")?;
            output::success(
                &format!("Enabled the {kind} secrets engine at: {path}"),
                &out,
            );
            Ok(0)
        }
        SecretsCommand::Disable { path, out } => {
            let path = mount_path(Some(&path), "");
            client
                .delete(&format!("sys/mounts/{path}"))
                .await
                .with_context(|| format!("disabling secrets engine at {path}"))?;
            output::success(
                &format!("Disabled the secrets engine (if it existed) at: {path}"),
                &out,
            );
            Ok(0)
        }
        SecretsCommand::List { detailed, out } => {
            let mounts = client
                .sys()
                .mounts()
                .await
                .context("listing secrets engines")?;
            let mut columns = vec![
                ("Type", "/type"),
                ("Accessor", "/accessor"),
                ("Description", "/description"),
            ];
            if detailed {
                columns.extend([
                    ("Default TTL", "/config/default_lease_ttl"),
                    ("Max TTL", "/config/max_lease_ttl"),
                    ("Options", "/options"),
                    ("UUID", "/uuid"),
                ]);
            }
            print_mounts(&mounts, &columns, &out)?;
            Ok(0)
        }
        SecretsCommand::Tune {
            default_lease_ttl,
            max_lease_ttl,
            description,
            options,
            path,
            out,
        } => {
            let path = mount_path(Some(&path), "");
            let mut body = Map::new();
            ttl_fields(&mut body, default_lease_ttl, max_lease_ttl);
            if let Some(description) = description {
                body.insert("description".into(), description.into());
            }
            if !options.is_empty() {
                body.insert("options".into(), Value::Object(input::parse(&options)?));
            }
            client
                .post(&format!("sys/mounts/{path}tune"), &Value::Object(body))
                .await
                .with_context(|| format!("tuning secrets engine {path}"))?;
            output::success(&format!("Tuned the secrets engine at: {path}"), &out);
            Ok(0)
        }
    }
}

/// Runs an `auth` subcommand.
pub(crate) async fn auth(client: &Client, command: AuthCommand) -> Result<i32> {
    match command {
        AuthCommand::Enable {
            path,
            description,
            kind,
            out,
        } => {
            let path = mount_path(path.as_deref(), &kind);
            client
                .post(
                    &format!("sys/auth/{path}"),
                    &json!({ "type": kind, "description": description }),
                )
                .await
                .with_context(|| format!("enabling {kind} auth"))?;
            output::success(&format!("Enabled {kind} auth method at: {path}"), &out);
            Ok(0)
        }
        AuthCommand::Disable { path, out } => {
            let path = mount_path(Some(&path), "");
            client
                .delete(&format!("sys/auth/{path}"))
                .await
                .with_context(|| format!("disabling auth method at {path}"))?;
            output::success(
                &format!("Disabled the auth method (if it existed) at: {path}"),
                &out,
            );
            Ok(0)
        }
        AuthCommand::List { detailed, out } => {
            let methods = client
                .read("sys/auth")
                .await
                .context("listing enabled authentications")?
                .unwrap_or_default();
            let mut columns = vec![
                ("Type", "/type"),
                ("Accessor", "/accessor"),
                ("Description", "/description"),
                ("Version", "/plugin_version"),
            ];
            if detailed {
                columns.extend([
                    ("Default TTL", "/config/default_lease_ttl"),
                    ("Max TTL", "/config/max_lease_ttl"),
                ]);
            }
            print_mounts(&methods, &columns, &out)?;
            Ok(0)
        }
    }
}

/// Runs a `policy` subcommand.
pub(crate) async fn policy(client: &Client, command: PolicyCommand) -> Result<i32> {
    let sys = client.sys();
    match command {
        PolicyCommand::Write { name, file, out } => {
            let text = if file == "-" {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                    .context("reading the policy from standard input")?;
                text
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("reading {file}"))?
            };
            sys.put_policy(&name, &text)
                .await
                .context("uploading policy")?;
            output::success(&format!("Uploaded policy: {name}"), &out);
            Ok(0)
        }
        PolicyCommand::Read { name, out } => {
            let Some(text) = sys
                .read_policy(&name)
                .await
                .with_context(|| format!("reading policy named {name}"))?
            else {
                eprintln!("No policy named: {name}");
                return Ok(2);
            };
            if out.json() {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({ "name": name, "policy": text }))?
                );
            } else {
                println!("{}", text.trim_end());
            }
            Ok(0)
        }
        PolicyCommand::List { out } => {
            let names = sys.list_policies().await.context("listing policies")?;
            if out.json() {
                println!("{}", serde_json::to_string_pretty(&names)?);
            } else {
                for name in names {
                    println!("{name}");
                }
            }
            Ok(0)
        }
        PolicyCommand::Delete { name, out } => {
            sys.delete_policy(&name)
                .await
                .with_context(|| format!("deleting {name}"))?;
            output::success(&format!("Deleted policy: {name}"), &out);
            Ok(0)
        }
    }
}

/// Prints a response that may be empty: its data (or auth) as a table, or the success line.
fn print_response(secret: Option<Secret>, success: &str, out: &OutputArgs) -> Result<()> {
    match secret {
        Some(secret)
            if !secret.data.is_empty() || secret.auth.is_some() || secret.wrap_info.is_some() =>
        {
            output::print_secret(&secret, &secret.data, out)
        }
        _ => {
            output::success(success, out);
            Ok(())
        }
    }
}

/// Runs a `token` subcommand.
pub(crate) async fn token(client: &Client, command: TokenCommand) -> Result<i32> {
    match command {
        TokenCommand::Create {
            policies,
            ttl,
            explicit_max_ttl,
            period,
            orphan,
            no_default_policy,
            display_name,
            use_limit,
            renewable,
            id,
            metadata,
            role,
            token_type,
            out,
        } => {
            let mut body = Map::new();
            if !policies.is_empty() {
                body.insert("policies".into(), policies.into());
            }
            // Sent as the bao CLI sends it (empty unless a role maps it), so servers answer
            // both CLIs alike (OpenBao warns that it ignored it).
            body.insert("entity_alias".into(), "".into());
            for (key, value) in [
                ("ttl", ttl),
                ("explicit_max_ttl", explicit_max_ttl),
                ("period", period),
                ("display_name", display_name),
                ("id", id),
                ("type", token_type),
            ] {
                if let Some(value) = value {
                    body.insert(key.into(), value.into());
                }
            }
            if no_default_policy {
                body.insert("no_default_policy".into(), true.into());
            }
            if let Some(uses) = use_limit {
                body.insert("num_uses".into(), uses.into());
            }
            if let Some(renewable) = renewable {
                body.insert("renewable".into(), renewable.into());
            }
            if !metadata.is_empty() {
                body.insert("meta".into(), Value::Object(input::parse(&metadata)?));
            }
            // As the bao CLI chooses: a role first, then an orphan.
            let path = match (&role, orphan) {
                (Some(role), _) => format!("auth/token/create/{role}"),
                (None, true) => "auth/token/create-orphan".to_owned(),
                (None, false) => "auth/token/create".to_owned(),
            };
            let secret = client
                .post(&path, &Value::Object(body))
                .await
                .context("creating token")?
                .unwrap_or_default();
            output::print_secret(&secret, &Map::new(), &out)?;
            Ok(0)
        }
        TokenCommand::Lookup {
            accessor,
            token,
            out,
        } => {
            let secret = match (token, accessor) {
                (Some(accessor), true) => {
                    client
                        .write(
                            "auth/token/lookup-accessor",
                            &json!({ "accessor": accessor }),
                        )
                        .await
                }
                (None, true) => bail!("-accessor needs the accessor as an argument"),
                (Some(token), false) => {
                    client
                        .write("auth/token/lookup", &json!({ "token": token }))
                        .await
                }
                (None, false) => client.read("auth/token/lookup-self").await,
            }
            .context("looking up token")?
            .unwrap_or_default();
            output::print_secret(&secret, &secret.data, &out)?;
            Ok(0)
        }
        TokenCommand::Renew {
            increment,
            token,
            out,
        } => {
            let mut body = Map::new();
            if let Some(increment) = increment {
                body.insert("increment".into(), increment.into());
            }
            let path = match token {
                Some(token) => {
                    body.insert("token".into(), token.into());
                    "auth/token/renew"
                }
                None => "auth/token/renew-self",
            };
            let secret = client
                .write(path, &Value::Object(body))
                .await
                .context("renewing token")?
                .unwrap_or_default();
            output::print_secret(&secret, &Map::new(), &out)?;
            Ok(0)
        }
        TokenCommand::Revoke {
            this,
            accessor,
            mode,
            token,
            out,
        } => {
            let orphan = mode.as_deref() == Some("orphan");
            let (path, body) = match (this, accessor, token) {
                (true, false, None) => ("auth/token/revoke-self", json!({})),
                (false, true, Some(accessor)) => (
                    "auth/token/revoke-accessor",
                    json!({ "accessor": accessor }),
                ),
                (false, false, Some(token)) if orphan => {
                    ("auth/token/revoke-orphan", json!({ "token": token }))
                }
                (false, false, Some(token)) => ("auth/token/revoke", json!({ "token": token })),
                _ => bail!("give a token (or an accessor with -accessor), or -self alone"),
            };
            client.write(path, &body).await.context("revoking token")?;
            output::success("Revoked token (if it existed)", &out);
            Ok(0)
        }
    }
}

/// Runs a `lease` subcommand.
pub(crate) async fn lease(client: &Client, command: LeaseCommand) -> Result<i32> {
    match command {
        LeaseCommand::Renew {
            increment,
            lease_id,
            out,
        } => {
            let mut body = json!({ "lease_id": lease_id });
            if let (Some(increment), Value::Object(map)) = (increment, &mut body) {
                map.insert("increment".into(), increment.into());
            }
            let secret = client
                .write("sys/leases/renew", &body)
                .await
                .with_context(|| format!("renewing {lease_id}"))?
                .unwrap_or_default();
            output::print_secret(&secret, &secret.data, &out)?;
            Ok(0)
        }
        LeaseCommand::Revoke {
            prefix,
            force,
            lease_id,
            out,
        } => {
            let (path, body) = match (prefix, force) {
                (true, true) => (format!("sys/leases/revoke-force/{lease_id}"), json!({})),
                (true, false) => (format!("sys/leases/revoke-prefix/{lease_id}"), json!({})),
                (false, true) => bail!("-force needs -prefix"),
                (false, false) => (
                    "sys/leases/revoke".to_owned(),
                    json!({ "lease_id": lease_id }),
                ),
            };
            client
                .write(&path, &body)
                .await
                .with_context(|| format!("revoking lease {lease_id}"))?;
            output::success(
                if prefix {
                    "All revocation operations queued successfully!"
                } else {
                    "Revoked lease: the secret is no longer valid"
                },
                &out,
            );
            Ok(0)
        }
        LeaseCommand::Lookup { lease_id, out } => {
            let secret = client
                .write("sys/leases/lookup", &json!({ "lease_id": lease_id }))
                .await
                .with_context(|| format!("looking up {lease_id}"))?
                .unwrap_or_default();
            output::print_secret(&secret, &secret.data, &out)?;
            Ok(0)
        }
    }
}

/// Runs an `audit` subcommand.
pub(crate) async fn audit(client: &Client, command: AuditCommand) -> Result<i32> {
    match command {
        AuditCommand::Enable {
            path,
            description,
            kind,
            options,
            out,
        } => {
            let path = mount_path(path.as_deref(), &kind);
            let options = input::parse(&options)?;
            client
                .write(
                    &format!("sys/audit/{path}"),
                    &json!({ "type": kind, "description": description, "options": options }),
                )
                .await
                .context("enabling audit device")?;
            output::success(&format!("Enabled the {kind} audit device at: {path}"), &out);
            Ok(0)
        }
        AuditCommand::List { detailed, out } => {
            let devices = client
                .read("sys/audit")
                .await
                .context("listing audits")?
                .unwrap_or_default();
            let known = devices.data.values().any(Value::is_object);
            if !known && !out.json() {
                println!("No audit devices are enabled.");
                return Ok(2);
            }
            let mut columns = vec![("Type", "/type"), ("Description", "/description")];
            if detailed {
                columns.push(("Options", "/options"));
            }
            print_mounts(&devices, &columns, &out)?;
            Ok(0)
        }
        AuditCommand::Disable { path, out } => {
            let path = mount_path(Some(&path), "");
            client
                .delete(&format!("sys/audit/{path}"))
                .await
                .context("disabling audit device")?;
            output::success(
                &format!("Disabled audit device (if it was enabled) at: {path}"),
                &out,
            );
            Ok(0)
        }
    }
}

/// `read PATH [k=v...]`: 2 and "No value found" when nothing is there.
pub(crate) async fn read(client: &Client, args: PathArgs) -> Result<i32> {
    let query = input::parse(&args.pairs)?;
    let query: Vec<(String, String)> = query
        .into_iter()
        .map(|(k, v)| (k, output::go_value(&v)))
        .collect();
    let query: Vec<(&str, &str)> = query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    match client
        .read_with_query(&args.path, &query)
        .await
        .with_context(|| format!("reading {}", args.path))?
    {
        Some(secret) => {
            output::print_secret(&secret, &secret.data, &args.out)?;
            Ok(0)
        }
        None => {
            eprintln!("No value found at {}", args.path);
            Ok(2)
        }
    }
}

/// `write PATH k=v...`.
pub(crate) async fn write(client: &Client, args: PathArgs) -> Result<i32> {
    let body = input::parse(&args.pairs)?;
    if body.is_empty() && !args.force {
        eprintln!("Must supply data or use -force");
        return Ok(1);
    }
    let response = client
        .write(&args.path, &Value::Object(body))
        .await
        .with_context(|| format!("writing data to {}", args.path))?;
    print_response(
        response,
        &format!("Data written to: {}", args.path),
        &args.out,
    )?;
    Ok(0)
}

/// `delete PATH`.
pub(crate) async fn delete(client: &Client, args: PathArgs) -> Result<i32> {
    if !args.pairs.is_empty() {
        bail!("delete takes only a path");
    }
    let response = client
        .delete(&args.path)
        .await
        .with_context(|| format!("deleting {}", args.path))?;
    print_response(
        response,
        &format!("Data deleted (if it existed) at: {}", args.path),
        &args.out,
    )?;
    Ok(0)
}

/// `list PATH`.
pub(crate) async fn list(client: &Client, args: PathArgs) -> Result<i32> {
    match client
        .list(&args.path)
        .await
        .with_context(|| format!("listing {}", args.path))?
    {
        // A wrapped listing prints as the wrapping token's table, as Vault's `list`.
        Some(secret)
            if args.out.json() || args.out.field.is_some() || secret.wrap_info.is_some() =>
        {
            output::print_secret(&secret, &secret.data, &args.out)?;
            Ok(0)
        }
        Some(secret) => {
            output::print_keys(&secret.string_list("keys"), &args.out)?;
            Ok(0)
        }
        None => {
            eprintln!("No value found at {}", args.path);
            Ok(2)
        }
    }
}

/// `unwrap [TOKEN]`: the response behind a wrapping token (without one, the token in use is
/// the wrapping token, as Vault's `unwrap`).
#[derive(clap::Args, Debug)]
pub(crate) struct UnwrapArgs {
    /// The wrapping token (default: the token in use).
    pub(crate) token: Option<String>,
    #[command(flatten)]
    pub(crate) out: OutputArgs,
}

/// Runs `unwrap`.
pub(crate) async fn unwrap(client: &Client, args: UnwrapArgs) -> Result<i32> {
    let secret = match client.unwrap(args.token.as_deref()).await {
        Ok(secret) => secret,
        // The old-style fallback's read, named as Vault's client names it.
        Err(error @ strongroom_client::Error::Api { .. })
            if error.to_string().starts_with("GET cubbyhole/response") =>
        {
            return Err(anyhow::Error::new(error)
                .context("error reading \"cubbyhole/response\"")
                .context("unwrapping"));
        }
        Err(error) => return Err(anyhow::Error::new(error).context("unwrapping")),
    };
    let Some(secret) = secret else {
        if !args.out.json() {
            println!("Successfully unwrapped. There was no data in the wrapped secret.");
        }
        return Ok(0);
    };
    if args.out.field.is_none()
        && !args.out.json()
        && secret.wrap_info.is_none()
        && secret.data.get("keys").is_some_and(Value::is_array)
    {
        // A wrapped listing prints as a listing (Vault's `extractListData`).
        output::print_keys(&secret.string_list("keys"), &args.out)?;
        return Ok(0);
    }
    output::print_secret(&secret, &secret.data, &args.out)?;
    Ok(0)
}

/// `print ...`.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum PrintCommand {
    /// Prints the token the CLI would use (from `-token`, the environment or the token
    /// helper), as Vault's `print token`.
    Token,
}

/// `path-help PATH`: the server's help for an API path (`GET /v1/PATH?help=1`).
#[derive(clap::Args, Debug)]
pub(crate) struct PathHelpArgs {
    /// The API path.
    pub(crate) path: String,
    /// Output format: `table` (the help text) or `json` (the path's OpenAPI document).
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub(crate) format: String,
}

/// Runs `path-help`.
pub(crate) async fn path_help(client: &Client, args: PathHelpArgs) -> Result<i32> {
    let path = args.path.trim_matches('/');
    let response = client
        .request(reqwest::Method::GET, path, &[("help", "1")], None)
        .await
        .context("retrieving help")?;
    if !(200..300).contains(&response.status) {
        let errors: Vec<String> = response
            .body
            .get("errors")
            .and_then(Value::as_array)
            .map(|e| {
                e.iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if errors.iter().any(|e| e.contains("Vault is sealed")) {
            eprintln!("{PATH_HELP_SEALED}");
            return Ok(2);
        }
        let error = strongroom_client::Error::Api {
            method: "GET".into(),
            path: format!("{path}?help=1"),
            status: response.status,
            errors,
        };
        eprintln!(
            "Error retrieving help: {}",
            output::api_text(&error, client.address()).unwrap_or_default()
        );
        return Ok(2);
    }
    if args.format == "json" {
        let openapi = response.body.get("openapi").cloned().unwrap_or(Value::Null);
        println!("{}", output::go_json(&openapi));
    } else {
        println!(
            "{}",
            response
                .body
                .get("help")
                .and_then(Value::as_str)
                .unwrap_or_default()
        );
    }
    Ok(0)
}

/// What `path-help` says on a sealed server (Vault's `pathHelpVaultSealedMessage`).
const PATH_HELP_SEALED: &str = "Error: Vault is sealed.

The \"path-help\" command requires the Vault to be unsealed so that the mount
points of the secret engines are known.";

/// What `version` prints, in Vault's shape (`ProductName vX.Y.Z`).
pub(crate) fn version_line() -> String {
    format!("Strongroom v{}", env!("CARGO_PKG_VERSION"))
}
