//! `strongroom kv ...`: Vault's `kv` commands. Whether the mount is KV v1 or v2 is asked of
//! the server (`sys/internal/ui/mounts`), so paths are written as for `vault kv` (`secret/app`,
//! or `-mount=secret app`).

use anyhow::{Context as _, Result, bail};
use serde_json::{Map, Value, json};
use strongroom_client::{Client, KvMount, Secret};

use crate::input;
use crate::output::{self, OutputArgs};

/// The flags every `kv` command takes.
#[derive(clap::Args, Debug)]
pub(crate) struct KvArgs {
    /// The engine's mount; the path is then relative to it.
    #[arg(long)]
    mount: Option<String>,
    #[command(flatten)]
    out: OutputArgs,
}

/// The `kv` subcommands.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum KvCommand {
    /// Reads a secret (the latest version, or `-version=N`).
    Get {
        #[command(flatten)]
        args: KvArgs,
        /// The version to read (KV v2).
        #[arg(long)]
        version: Option<u64>,
        /// The secret's path.
        path: String,
    },
    /// Writes a secret (a new version on KV v2) from `key=value` pairs.
    Put {
        #[command(flatten)]
        args: KvArgs,
        /// Write only if the current version is this (0: only if absent).
        #[arg(long)]
        cas: Option<u64>,
        /// The secret's path.
        path: String,
        /// `key=value`, `key=@file`, `key=-`, or `-` for a JSON object on stdin.
        pairs: Vec<String>,
    },
    /// Merges `key=value` pairs into the latest version (KV v2).
    Patch {
        #[command(flatten)]
        args: KvArgs,
        /// Patch only if the current version is this.
        #[arg(long)]
        cas: Option<u64>,
        /// The secret's path.
        path: String,
        /// `key=value` pairs.
        pairs: Vec<String>,
    },
    /// Lists the keys under a path.
    List {
        #[command(flatten)]
        args: KvArgs,
        /// The folder.
        #[arg(default_value = "")]
        path: String,
    },
    /// Deletes the latest version (or `-versions=1,2` on KV v2).
    Delete {
        #[command(flatten)]
        args: KvArgs,
        /// The versions to delete.
        #[arg(long, value_delimiter = ',')]
        versions: Vec<u64>,
        /// The secret's path.
        path: String,
    },
    /// Restores deleted versions (KV v2).
    Undelete {
        #[command(flatten)]
        args: KvArgs,
        /// The versions to restore.
        #[arg(long, value_delimiter = ',', required = true)]
        versions: Vec<u64>,
        /// The secret's path.
        path: String,
    },
    /// Destroys versions for good (KV v2).
    Destroy {
        #[command(flatten)]
        args: KvArgs,
        /// The versions to destroy.
        #[arg(long, value_delimiter = ',', required = true)]
        versions: Vec<u64>,
        /// The secret's path.
        path: String,
    },
    /// A secret's metadata (KV v2).
    #[command(subcommand)]
    Metadata(MetadataCommand),
}

/// `kv metadata ...`.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum MetadataCommand {
    /// Reads the metadata and every version's state.
    Get {
        #[command(flatten)]
        args: KvArgs,
        /// The secret's path.
        path: String,
    },
    /// Writes metadata settings.
    Put {
        #[command(flatten)]
        args: KvArgs,
        /// Versions kept (0: the engine's setting).
        #[arg(long)]
        max_versions: Option<u64>,
        /// Require `-cas` on every write.
        #[arg(long)]
        cas_required: Option<bool>,
        /// Delete versions this long after they are written (e.g. `24h`).
        #[arg(long)]
        delete_version_after: Option<String>,
        /// `key=value` custom metadata (repeatable).
        #[arg(long)]
        custom_metadata: Vec<String>,
        /// The secret's path.
        path: String,
    },
    /// Deletes the secret: metadata and all versions.
    Delete {
        #[command(flatten)]
        args: KvArgs,
        /// The secret's path.
        path: String,
    },
}

/// Finds the mount and version for `path` (relative to `-mount` when given).
async fn resolve(client: &Client, args: &KvArgs, path: &str) -> Result<KvMount> {
    let full = match &args.mount {
        Some(mount) => format!("{}/{}", mount.trim_matches('/'), path.trim_matches('/')),
        None => path.trim_matches('/').to_owned(),
    };
    // As Vault's CLI: a failed mount lookup is reported without a prefix.
    Ok(client.kv_mount(&full).await?)
}

fn api_path(mount: &KvMount, middle: &str) -> String {
    [mount.mount.as_str(), middle, mount.path.as_str()]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

fn v2_only(mount: &KvMount, what: &str) -> Result<()> {
    if mount.version != 2 {
        bail!(
            "{what} is only supported on KV version 2; {}/ is version 1",
            mount.mount
        );
    }
    Ok(())
}

/// Prints a `== title ==` header over the table of `rows` (Vault's sections).
fn section(title: &str, rows: &[(String, String)]) {
    println!("{}", output::table_header(title, rows));
    println!("{}", output::kv_table(rows));
}

/// Prints the KV v2 "Secret Path" and "Metadata" sections of a write or read.
fn print_path_and_metadata(path: &str, metadata: &Map<String, Value>) {
    println!("{}", output::header("Secret Path", path.len()));
    println!("{path}");
    println!();
    section("Metadata", &output::map_rows(metadata));
}

fn not_found(path: &str) -> i32 {
    eprintln!("No value found at {path}");
    2
}

/// Runs a `kv` subcommand; returns the exit code.
pub(crate) async fn run(client: &Client, command: KvCommand) -> Result<i32> {
    match command {
        KvCommand::Get {
            args,
            version,
            path,
        } => get(client, &args, version, &path).await,
        KvCommand::Put {
            args,
            cas,
            path,
            pairs,
        } => write(client, &args, cas, &path, &pairs, false).await,
        KvCommand::Patch {
            args,
            cas,
            path,
            pairs,
        } => write(client, &args, cas, &path, &pairs, true).await,
        KvCommand::List { args, path } => {
            let mount = resolve(client, &args, &path).await?;
            let list_path = if mount.version == 2 {
                api_path(&mount, "metadata")
            } else {
                api_path(&mount, "")
            };
            match client
                .list(&list_path)
                .await
                .with_context(|| format!("listing {list_path}"))?
            {
                Some(secret) => output::print_keys(&secret.string_list("keys"), &args.out)?,
                None => return Ok(not_found(&list_path)),
            }
            Ok(0)
        }
        KvCommand::Delete {
            args,
            versions,
            path,
        } => {
            let mount = resolve(client, &args, &path).await?;
            let shown = if mount.version == 2 {
                client
                    .kv2(&mount.mount)
                    .delete(&mount.path, &versions)
                    .await
                    .with_context(|| format!("deleting {}", api_path(&mount, "data")))?;
                api_path(&mount, "data")
            } else {
                if !versions.is_empty() {
                    bail!("-versions is only supported on KV version 2");
                }
                client
                    .kv1(&mount.mount)
                    .delete(&mount.path)
                    .await
                    .with_context(|| format!("deleting {}", api_path(&mount, "")))?;
                api_path(&mount, "")
            };
            output::success(
                &format!("Data deleted (if it existed) at: {shown}"),
                &args.out,
            );
            Ok(0)
        }
        KvCommand::Undelete {
            args,
            versions,
            path,
        } => versions_op(client, &args, "undelete", &versions, &path).await,
        KvCommand::Destroy {
            args,
            versions,
            path,
        } => versions_op(client, &args, "destroy", &versions, &path).await,
        KvCommand::Metadata(command) => metadata(client, command).await,
    }
}

/// `kv undelete` and `kv destroy`: `op` on the listed versions (KV v2).
async fn versions_op(
    client: &Client,
    args: &KvArgs,
    op: &str,
    versions: &[u64],
    path: &str,
) -> Result<i32> {
    let mount = resolve(client, args, path).await?;
    v2_only(&mount, op)?;
    let kv = client.kv2(&mount.mount);
    let shown = api_path(&mount, op);
    if op == "destroy" {
        kv.destroy(&mount.path, versions).await
    } else {
        kv.undelete(&mount.path, versions).await
    }
    .with_context(|| format!("writing data to {shown}"))?;
    output::success(&format!("Data written to: {shown}"), &args.out);
    Ok(0)
}

async fn get(client: &Client, args: &KvArgs, version: Option<u64>, path: &str) -> Result<i32> {
    let mount = resolve(client, args, path).await?;
    if mount.version == 1 {
        if version.is_some() {
            bail!("-version is only supported on KV version 2");
        }
        let Some(secret) = client
            .kv1(&mount.mount)
            .get(&mount.path)
            .await
            .with_context(|| format!("reading {}", api_path(&mount, "")))?
        else {
            return Ok(not_found(&api_path(&mount, "")));
        };
        // A wrapped answer prints as the wrapping token's table, as Vault's `kv get`.
        if args.out.field.is_some() || args.out.json() || secret.wrap_info.is_some() {
            output::print_secret(&secret, &secret.data, &args.out)?;
        } else {
            section("Data", &output::map_rows(&secret.data));
        }
        return Ok(0);
    }
    let shown = api_path(&mount, "data");
    let Some(secret) = client
        .kv2(&mount.mount)
        .read(&mount.path, version)
        .await
        .with_context(|| format!("reading {shown}"))?
    else {
        return Ok(not_found(&shown));
    };
    let data = match secret.data.get("data") {
        Some(Value::Object(map)) => map.clone(),
        _ => Map::new(),
    };
    if args.out.field.is_some() || args.out.json() || secret.wrap_info.is_some() {
        output::print_secret(&secret, &data, &args.out)?;
        return Ok(0);
    }
    let metadata = match secret.data.get("metadata") {
        Some(Value::Object(map)) => map.clone(),
        _ => Map::new(),
    };
    print_path_and_metadata(&shown, &metadata);
    println!();
    if secret.data.get("data").is_some_and(|d| !d.is_null()) {
        section("Data", &output::secret_rows(&Secret::default(), &data));
    }
    Ok(0)
}

async fn write(
    client: &Client,
    args: &KvArgs,
    cas: Option<u64>,
    path: &str,
    pairs: &[String],
    patch: bool,
) -> Result<i32> {
    let data = input::parse(pairs)?;
    if data.is_empty() {
        bail!("must supply data: key=value pairs, or - for a JSON object on stdin");
    }
    let mount = resolve(client, args, path).await?;
    if mount.version == 1 {
        if patch {
            bail!("patch is only supported on KV version 2");
        }
        if cas.is_some() {
            bail!("-cas is only supported on KV version 2");
        }
        client
            .kv1(&mount.mount)
            .put(&mount.path, &data)
            .await
            .with_context(|| format!("writing data to {}", api_path(&mount, "")))?;
        output::success(
            &format!("Data written to: {}", api_path(&mount, "")),
            &args.out,
        );
        return Ok(0);
    }
    let shown = api_path(&mount, "data");
    let mut body = json!({ "data": data });
    if let (Some(cas), Value::Object(map)) = (cas, &mut body) {
        map.insert("options".into(), json!({ "cas": cas }));
    }
    let response = if patch {
        client.patch(&shown, &body).await
    } else {
        client.write(&shown, &body).await
    }
    .with_context(|| format!("writing data to {shown}"))?
    .unwrap_or_default();
    if args.out.field.is_some() || args.out.json() || response.wrap_info.is_some() {
        output::print_secret(&response, &response.data, &args.out)?;
    } else {
        print_path_and_metadata(&shown, &response.data);
    }
    Ok(0)
}

async fn metadata(client: &Client, command: MetadataCommand) -> Result<i32> {
    match command {
        MetadataCommand::Get { args, path } => {
            let mount = resolve(client, &args, &path).await?;
            v2_only(&mount, "metadata")?;
            let shown = api_path(&mount, "metadata");
            let Some(secret) = client
                .kv2(&mount.mount)
                .metadata(&mount.path)
                .await
                .with_context(|| format!("reading {shown}"))?
            else {
                return Ok(not_found(&shown));
            };
            if args.out.field.is_some() || args.out.json() {
                output::print_secret(&secret, &secret.data, &args.out)?;
                return Ok(0);
            }
            println!("{}", output::header("Metadata Path", shown.len()));
            println!("{shown}");
            println!();
            let mut top = secret.data.clone();
            let versions = top.remove("versions");
            section("Metadata", &output::map_rows(&top));
            if let Some(Value::Object(versions)) = versions {
                let mut numbered: Vec<(u64, &Value)> = versions
                    .iter()
                    .filter_map(|(k, v)| k.parse().ok().map(|n| (n, v)))
                    .collect();
                numbered.sort_by_key(|(n, _)| *n);
                for (n, version) in numbered {
                    if let Value::Object(map) = version {
                        println!();
                        section(&format!("Version {n}"), &output::map_rows(map));
                    }
                }
            }
            Ok(0)
        }
        MetadataCommand::Put {
            args,
            max_versions,
            cas_required,
            delete_version_after,
            custom_metadata,
            path,
        } => {
            let mount = resolve(client, &args, &path).await?;
            v2_only(&mount, "metadata")?;
            let mut body = Map::new();
            if let Some(n) = max_versions {
                body.insert("max_versions".into(), n.into());
            }
            if let Some(required) = cas_required {
                body.insert("cas_required".into(), required.into());
            }
            if let Some(after) = delete_version_after {
                body.insert("delete_version_after".into(), after.into());
            }
            if !custom_metadata.is_empty() {
                body.insert(
                    "custom_metadata".into(),
                    Value::Object(input::parse(&custom_metadata)?),
                );
            }
            client
                .kv2(&mount.mount)
                .write_metadata(&mount.path, &body)
                .await
                .with_context(|| format!("writing data to {}", api_path(&mount, "metadata")))?;
            output::success(
                &format!("Data written to: {}", api_path(&mount, "metadata")),
                &args.out,
            );
            Ok(0)
        }
        MetadataCommand::Delete { args, path } => {
            let mount = resolve(client, &args, &path).await?;
            v2_only(&mount, "metadata")?;
            client
                .kv2(&mount.mount)
                .delete_metadata(&mount.path)
                .await
                .with_context(|| format!("deleting {}", api_path(&mount, "metadata")))?;
            output::success(
                &format!(
                    "Data deleted (if it existed) at: {}",
                    api_path(&mount, "metadata")
                ),
                &args.out,
            );
            Ok(0)
        }
    }
}
