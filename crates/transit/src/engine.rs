//! The `transit` engine: Vault's transit paths over [`Key`], with storage laid out so that a key
//! with thousands of versions still loads and rotates fast.
//!
//! Storage (inside the mount's view, so inside the barrier):
//!
//! - `keys/<name>` — the key's settings ([`KeyConfig`]): small, read on every request; they
//!   name the key's random id, new for every created or restored key;
//! - `material/<id>/v/<n>` — version `n`'s material, loaded only when an operation needs it and
//!   cached by (key id, version);
//! - `material/<id>/i/<n / 1000>` — creation times (and public keys) of a thousand versions, read
//!   only to list the key's versions.
//!
//! (Keys stored before the material moved under the id keep it at `keys/<name>/v/<n>` and
//! `keys/<name>/i/<chunk>`; their settings say so.) A key too large for one transaction (a
//! restore of many versions) is written in full under its new id first, then made the key by one
//! compare-and-swap of the settings: until then every request sees the old key whole, a request
//! that changed the key meanwhile makes the switch fail instead of being overwritten, and a crash
//! leaves only unreferenced material. The replaced key's material is removed after the switch.
//!
//! A rotation writes one version entry, one index chunk and the settings, in one transaction
//! guarded by a compare-and-swap on the settings: its cost does not grow with the number of
//! versions (Vault keeps every version in one entry and breaks its 1 MiB limit: vault#26309).
//!
//! Auto-rotation: the engine's periodic function (the core runs it about once a minute) rotates
//! every key whose `auto_rotate_period` has passed since its latest version; and a request that
//! touches such a key first rotates it, so no encryption uses an overdue version even between
//! two passes.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::UNIX_EPOCH;

use async_trait::async_trait;
use base64ct::{Base64, Encoding};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use strongroom_logical::{Backend, Context, LogicalError, Operation, Request, Response};
use strongroom_storage::{Op, Storage, StorageError};
use zeroize::Zeroizing;

use crate::key::{
    HashAlgorithm, Key, KeyConfig, KeyOptions, KeyType, Marshaling, Version, check_name,
    check_rotate_period, new_version, pem, random_bytes,
};

type Result<T> = std::result::Result<T, LogicalError>;

/// Versions per index chunk.
const CHUNK: u32 = 1000;

/// Decoded versions kept in memory; the cache is emptied when it grows past this.
const CACHE_LIMIT: usize = 4096;

/// How often a write retries after losing a compare-and-swap race.
const CAS_RETRIES: usize = 8;

/// The most items one `batch_input` may hold. Over HTTP the JSON limits (1000 strings by
/// default) stop a batch long before this; it bounds the work one embedded call can ask for.
pub const MAX_BATCH_ITEMS: usize = 10_000;

/// The largest `random` request, in bytes.
const MAX_RANDOM_BYTES: u64 = 128 * 1024;

/// The transit engine. Register it with `VaultBuilder::engine("transit", factory)`.
#[derive(Debug, Default)]
pub struct Transit {
    cache: Mutex<HashMap<(String, u32), Arc<Version>>>,
}

/// The engine factory (no mount options).
///
/// # Errors
///
/// None today; the signature is the registry's.
pub fn factory(_options: &Map<String, Value>) -> Result<Arc<dyn Backend>> {
    Ok(Arc::new(Transit::default()))
}

/// One entry of an index chunk.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct VersionInfo {
    created: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    public_key: Option<String>,
}

fn config_key(name: &str) -> String {
    format!("keys/{name}")
}

/// The folder of a key's material: its versions (`v/`) and index chunks (`i/`).
fn material(config: &KeyConfig) -> String {
    if config.layout >= 1 {
        format!("material/{}/", config.id)
    } else {
        format!("keys/{}/", config.name)
    }
}

fn version_key(config: &KeyConfig, version: u32) -> String {
    format!("{}v/{version}", material(config))
}

/// The index chunk numbered `chunk`.
fn chunk_path(config: &KeyConfig, chunk: u32) -> String {
    format!("{}i/{chunk}", material(config))
}

/// The index chunk holding `version`.
fn chunk_key(config: &KeyConfig, version: u32) -> String {
    chunk_path(config, version / CHUNK)
}

/// Operations per transaction when a write is split.
const BATCH: usize = 200;

fn internal(message: impl std::fmt::Display) -> LogicalError {
    LogicalError::Internal(message.to_string())
}

fn now_secs(ctx: &Context) -> u64 {
    ctx.now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A request field as a string.
fn text<'a>(data: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(LogicalError::invalid(format!("'{key}' must be a string"))),
    }
}

/// A request field as a boolean (Vault accepts `true`, `"true"`, `1`...).
fn flag(data: &Map<String, Value>, key: &str) -> Result<Option<bool>> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s == "true" || s == "1" => Ok(Some(true)),
        Some(Value::String(s)) if s == "false" || s == "0" || s.is_empty() => Ok(Some(false)),
        Some(Value::Number(n)) if n.as_u64() == Some(1) => Ok(Some(true)),
        Some(Value::Number(n)) if n.as_u64() == Some(0) => Ok(Some(false)),
        Some(_) => Err(LogicalError::invalid(format!("'{key}' must be a boolean"))),
    }
}

/// A request field as a non-negative integer.
fn number(data: &Map<String, Value>, key: &str) -> Result<Option<u64>> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| {
            LogicalError::invalid(format!("'{key}' must be a non-negative integer"))
        }),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| LogicalError::invalid(format!("'{key}' must be a non-negative integer"))),
        Some(_) => Err(LogicalError::invalid(format!(
            "'{key}' must be a non-negative integer"
        ))),
    }
}

fn version_field(data: &Map<String, Value>, key: &str) -> Result<Option<u32>> {
    number(data, key)?
        .map(|v| u32::try_from(v).map_err(|_| LogicalError::invalid("invalid key version")))
        .transpose()
}

/// A base64 field, decoded (into a zeroizing buffer: it is often plaintext).
fn base64_field(data: &Map<String, Value>, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
    text(data, key)?
        .map(|s| {
            Base64::decode_vec(s)
                .map(Zeroizing::new)
                .map_err(|_| LogicalError::invalid(format!("failed to base64-decode {key}")))
        })
        .transpose()
}

fn duration_field(data: &Map<String, Value>, key: &str) -> Result<Option<u64>> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => strongroom_logical::time::parse_duration(value)
            .map(|d| Some(d.as_secs()))
            .ok_or_else(|| LogicalError::invalid(format!("invalid duration for '{key}'"))),
    }
}

impl Transit {
    async fn load_config(&self, ctx: &Context, name: &str) -> Result<Option<(KeyConfig, Vec<u8>)>> {
        check_name(name)?;
        let Some(bytes) = ctx.storage.get(&config_key(name)).await? else {
            return Ok(None);
        };
        let config: KeyConfig =
            serde_json::from_slice(&bytes).map_err(|_| internal("a stored key does not decode"))?;
        Ok(Some((config, bytes)))
    }

    /// Loads `versions` of a key (from the cache when possible).
    async fn with_versions(
        &self,
        ctx: &Context,
        config: KeyConfig,
        versions: &[u32],
    ) -> Result<Key> {
        let mut loaded = BTreeMap::new();
        for &v in versions {
            if v == 0 || v > config.latest_version || v < config.min_available_version {
                continue;
            }
            let cache_key = (config.id.clone(), v);
            let cached = self
                .cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&cache_key)
                .cloned();
            let version = match cached {
                Some(version) => version,
                None => {
                    let bytes = Zeroizing::new(
                        ctx.storage
                            .get(&version_key(&config, v))
                            .await?
                            .ok_or_else(|| internal("a key version is missing from storage"))?,
                    );
                    let version: Arc<Version> = Arc::new(
                        serde_json::from_slice(&bytes)
                            .map_err(|_| internal("a stored key version does not decode"))?,
                    );
                    let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
                    if cache.len() >= CACHE_LIMIT {
                        cache.clear();
                    }
                    cache.insert(cache_key, Arc::clone(&version));
                    version
                }
            };
            loaded.insert(v, version);
        }
        Ok(Key {
            config,
            versions: loaded,
        })
    }

    /// The key's settings, auto-rotated first if its period has passed.
    async fn config(&self, ctx: &Context, name: &str) -> Result<KeyConfig> {
        let (config, raw) = self
            .load_config(ctx, name)
            .await?
            .ok_or_else(|| LogicalError::invalid("encryption key not found"))?;
        if config.auto_rotate_period == 0 {
            return Ok(config);
        }
        // The settings carry the latest version's creation time (no extra read); keys stored
        // before they did fall back to the index.
        let created = if config.latest_created != 0 {
            config.latest_created
        } else {
            self.index(ctx, &config, config.latest_version..=config.latest_version)
                .await?
                .get(&config.latest_version)
                .map_or(0, |info| info.created)
        };
        if now_secs(ctx).saturating_sub(created) < config.auto_rotate_period {
            return Ok(config);
        }
        match self.rotate_once(ctx, config, &raw).await {
            Ok(config) => Ok(config),
            // Someone else changed the key meanwhile (likely rotated it): use theirs.
            Err(LogicalError::Storage(StorageError::CheckFailed { .. })) => self
                .load_config(ctx, name)
                .await?
                .map(|(c, _)| c)
                .ok_or_else(|| LogicalError::invalid("encryption key not found")),
            Err(err) => Err(err),
        }
    }

    /// Index entries for `range` of versions.
    async fn index(
        &self,
        ctx: &Context,
        config: &KeyConfig,
        range: std::ops::RangeInclusive<u32>,
    ) -> Result<BTreeMap<u32, VersionInfo>> {
        let mut out = BTreeMap::new();
        let (first, last) = (*range.start() / CHUNK, *range.end() / CHUNK);
        for chunk in first..=last {
            if let Some(bytes) = ctx.storage.get(&chunk_path(config, chunk)).await? {
                let entries: BTreeMap<u32, VersionInfo> = serde_json::from_slice(&bytes)
                    .map_err(|_| internal("a key index does not decode"))?;
                out.extend(entries.into_iter().filter(|(v, _)| range.contains(v)));
            }
        }
        Ok(out)
    }

    /// The index entry of a new version.
    fn info(key: &Key, version: &Version) -> Result<VersionInfo> {
        Ok(VersionInfo {
            created: version.created,
            public_key: key.public_key(version.version)?,
        })
    }

    /// Writes a new version: material, index chunk, settings — one transaction, guarded by
    /// the settings' previous bytes.
    async fn rotate_once(
        &self,
        ctx: &Context,
        mut config: KeyConfig,
        raw: &[u8],
    ) -> Result<KeyConfig> {
        let next = config
            .latest_version
            .checked_add(1)
            .filter(|v| *v <= crate::key::MAX_VERSIONS)
            .ok_or_else(|| LogicalError::invalid("the key has too many versions"))?;
        let version = new_version(config.key_type, next, now_secs(ctx))?;
        config.latest_version = next;
        config.latest_created = version.created;
        let key = Key {
            config: config.clone(),
            versions: BTreeMap::from([(next, Arc::new(version.clone()))]),
        };
        let mut chunk: BTreeMap<u32, VersionInfo> =
            match ctx.storage.get(&chunk_key(&config, next)).await? {
                Some(bytes) => serde_json::from_slice(&bytes)
                    .map_err(|_| internal("a key index does not decode"))?,
                None => BTreeMap::new(),
            };
        chunk.insert(next, Self::info(&key, &version)?);
        let ops = vec![
            Op::check(config_key(&config.name), Some(raw.to_vec())),
            Op::put(
                version_key(&config, next),
                Zeroizing::new(serde_json::to_vec(&version).map_err(internal)?).to_vec(),
            ),
            Op::put(
                chunk_key(&config, next),
                serde_json::to_vec(&chunk).map_err(internal)?,
            ),
            Op::put(
                config_key(&config.name),
                serde_json::to_vec(&config).map_err(internal)?,
            ),
        ];
        ctx.storage.transaction(ops).await?;
        Ok(config)
    }

    /// Stores a newly created (or restored) key: every version and the index under the key's
    /// id, then the settings, which must still be `replace` (`None`: no key of that name).
    /// One transaction when it fits; otherwise the material is staged first and the settings'
    /// compare-and-swap alone makes the key (the staged material is removed if it fails).
    async fn store_new(&self, ctx: &Context, key: &Key, replace: Option<Vec<u8>>) -> Result<()> {
        let config = &key.config;
        let mut material_ops = Vec::new();
        let mut chunks: BTreeMap<u32, BTreeMap<u32, VersionInfo>> = BTreeMap::new();
        for (v, version) in &key.versions {
            material_ops.push(Op::put(
                version_key(config, *v),
                Zeroizing::new(serde_json::to_vec(&**version).map_err(internal)?).to_vec(),
            ));
            chunks
                .entry(v / CHUNK)
                .or_default()
                .insert(*v, Self::info(key, version)?);
        }
        for (chunk, entries) in chunks {
            material_ops.push(Op::put(
                chunk_path(config, chunk),
                serde_json::to_vec(&entries).map_err(internal)?,
            ));
        }
        let switch = [
            Op::check(config_key(&config.name), replace),
            Op::put(
                config_key(&config.name),
                serde_json::to_vec(config).map_err(internal)?,
            ),
        ];
        if material_ops.len() + switch.len() <= BATCH {
            material_ops.extend(switch);
            return Ok(ctx.storage.transaction(material_ops).await?);
        }
        for batch in material_ops.chunks(BATCH) {
            ctx.storage.transaction(batch.to_vec()).await?;
        }
        if let Err(err) = ctx.storage.transaction(switch.to_vec()).await {
            // Nothing references the staged material; remove it (a failure here leaves only
            // unreachable entries).
            let _ = self.delete_material(ctx, config).await;
            return Err(err.into());
        }
        Ok(())
    }

    /// Removes a key's versions and index (after its settings stopped naming them).
    async fn delete_material(&self, ctx: &Context, config: &KeyConfig) -> Result<()> {
        let prefix = material(config);
        let mut ops = Vec::new();
        for folder in ["v", "i"] {
            for child in ctx.storage.list(&format!("{prefix}{folder}/")).await? {
                ops.push(Op::delete(format!("{prefix}{folder}/{child}")));
            }
        }
        for batch in ops.chunks(BATCH) {
            ctx.storage.transaction(batch.to_vec()).await?;
        }
        Ok(())
    }

    /// Deletes a key: its settings in one compare-and-swap (so a concurrent change is not lost
    /// silently), then its material.
    async fn delete_all(&self, ctx: &Context, config: &KeyConfig, raw: Vec<u8>) -> Result<()> {
        ctx.storage
            .transaction(vec![
                Op::check(config_key(&config.name), Some(raw)),
                Op::delete(config_key(&config.name)),
            ])
            .await?;
        self.delete_material(ctx, config).await
    }

    /// Applies `change` to the key's settings under compare-and-swap, retrying lost races.
    async fn update_config(
        &self,
        ctx: &Context,
        name: &str,
        change: impl Fn(&mut KeyConfig) -> Result<()>,
    ) -> Result<KeyConfig> {
        for _ in 0..CAS_RETRIES {
            let (mut config, raw) = self
                .load_config(ctx, name)
                .await?
                .ok_or_else(|| LogicalError::invalid("encryption key not found"))?;
            change(&mut config)?;
            let ops = vec![
                Op::check(config_key(name), Some(raw)),
                Op::put(
                    config_key(name),
                    serde_json::to_vec(&config).map_err(internal)?,
                ),
            ];
            match ctx.storage.transaction(ops).await {
                Ok(()) => return Ok(config),
                Err(StorageError::CheckFailed { .. }) => continue,
                Err(err) => return Err(err.into()),
            }
        }
        Err(internal("the key kept changing; try again"))
    }
}

#[async_trait]
impl Backend for Transit {
    async fn handle(&self, ctx: &Context, request: Request) -> Result<Response> {
        let path = request.path.trim_end_matches('/').to_owned();
        let segments: Vec<&str> = path.split('/').collect();
        let op = request.operation;
        let data = &request.data;
        let writes = matches!(op, Operation::Create | Operation::Update);
        match segments.as_slice() {
            ["keys"] if op == Operation::List => self.list_keys(ctx).await,
            ["keys", name] => match op {
                Operation::Create | Operation::Update => self.create_key(ctx, name, data).await,
                Operation::Read => self.read_key(ctx, name).await,
                Operation::Delete => self.delete_key(ctx, name).await,
                _ => Err(LogicalError::UnsupportedOperation),
            },
            ["keys", name, "config"] if writes => self.configure(ctx, name, data).await,
            ["keys", name, "rotate"] if writes => self.rotate(ctx, name).await,
            ["keys", name, "trim"] if writes => self.trim(ctx, name, data).await,
            ["encrypt", name] if writes => self.encrypt(ctx, name, data).await,
            ["decrypt", name] if writes => self.decrypt(ctx, name, data).await,
            ["rewrap", name] if writes => self.rewrap(ctx, name, data).await,
            ["datakey", kind, name] if writes => self.datakey(ctx, kind, name, None, data).await,
            ["datakey", kind, name, bits] if writes => {
                self.datakey(ctx, kind, name, Some(bits), data).await
            }
            ["sign", name] if writes => self.sign(ctx, name, None, data).await,
            ["sign", name, hash] if writes => self.sign(ctx, name, Some(hash), data).await,
            ["verify", name] if writes => self.verify(ctx, name, None, data).await,
            ["verify", name, hash] if writes => self.verify(ctx, name, Some(hash), data).await,
            ["hmac", name] if writes => self.hmac(ctx, name, None, data).await,
            ["hmac", name, algo] if writes => self.hmac(ctx, name, Some(algo), data).await,
            ["random", rest @ ..] if writes && rest.len() <= 2 => random(rest, data),
            ["hash"] if writes => hash(None, data),
            ["hash", algo] if writes => hash(Some(algo), data),
            ["export", kind, name] if op == Operation::Read => {
                self.export(ctx, kind, name, None).await
            }
            ["export", kind, name, version] if op == Operation::Read => {
                self.export(ctx, kind, name, Some(version)).await
            }
            ["backup", name] if op == Operation::Read => self.backup(ctx, name).await,
            ["restore"] if writes => self.restore(ctx, None, data).await,
            ["restore", name] if writes => self.restore(ctx, Some(name), data).await,
            [
                "keys" | "encrypt" | "decrypt" | "rewrap" | "datakey" | "sign" | "verify" | "hmac"
                | "random" | "hash" | "export" | "backup" | "restore",
                ..,
            ] => Err(LogicalError::UnsupportedOperation),
            _ => Err(LogicalError::UnsupportedPath),
        }
    }

    /// Rotates every key whose `auto_rotate_period` has passed since its latest version, so
    /// idle keys rotate on schedule too (the request path also rotates a due key before using
    /// it, so no encryption ever waits for this pass).
    async fn periodic(&self, ctx: &Context) -> Result<()> {
        let mut failures = Vec::new();
        for name in ctx.storage.list("keys/").await? {
            if name.ends_with('/') {
                continue;
            }
            // One key that fails (a storage hiccup, a lost race) must not stop the others.
            let outcome = match self.load_config(ctx, &name).await {
                Ok(Some((config, _))) if config.auto_rotate_period > 0 => {
                    // `config` rotates the key when its period has passed.
                    self.config(ctx, &name).await.map(drop)
                }
                Ok(_) => Ok(()),
                Err(err) => Err(err),
            };
            if let Err(err) = outcome {
                failures.push(format!("{name}: {err}"));
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(LogicalError::Internal(format!(
                "auto-rotation failed for {} key(s): {}",
                failures.len(),
                failures.join("; ")
            )))
        }
    }

    async fn exists(&self, ctx: &Context, request: &Request) -> Result<Option<bool>> {
        let path = request.path.trim_end_matches('/');
        match path.split('/').collect::<Vec<_>>().as_slice() {
            ["keys" | "encrypt", name] => {
                if check_name(name).is_err() {
                    return Ok(Some(false));
                }
                Ok(Some(ctx.storage.get(&config_key(name)).await?.is_some()))
            }
            _ => Ok(None),
        }
    }
}

/// Splits a request into its batch items, or one item made of the request itself.
fn items(data: &Map<String, Value>) -> Result<(bool, Vec<Map<String, Value>>)> {
    match data.get("batch_input") {
        None | Some(Value::Null) => Ok((false, vec![data.clone()])),
        Some(Value::Array(items)) => {
            if items.is_empty() {
                return Err(LogicalError::invalid("missing batch input to process"));
            }
            if items.len() > MAX_BATCH_ITEMS {
                return Err(LogicalError::invalid(format!(
                    "batch_input holds {} items; at most {MAX_BATCH_ITEMS} are processed in one \
                     request",
                    items.len()
                )));
            }
            let items = items
                .iter()
                .map(|item| match item {
                    Value::Object(map) => Ok(map.clone()),
                    _ => Err(LogicalError::invalid("batch_input items must be objects")),
                })
                .collect::<Result<Vec<_>>>()?;
            Ok((true, items))
        }
        Some(_) => Err(LogicalError::invalid("batch_input must be an array")),
    }
}

/// Runs `each` over the items: one result as the response's data, or `batch_results` in input
/// order with per-item errors and each item's `reference` echoed (empty when not given).
fn run_batch(
    data: &Map<String, Value>,
    mut each: impl FnMut(&Map<String, Value>) -> Result<Map<String, Value>>,
) -> Result<Response> {
    let (batch, items) = items(data)?;
    if !batch {
        let item = items.first().ok_or_else(|| internal("no item"))?;
        return Ok(Response::with_data(each(item)?));
    }
    let mut results = Vec::with_capacity(items.len());
    let mut first_error: Option<LogicalError> = None;
    for item in &items {
        let mut result = match each(item) {
            Ok(result) => result,
            Err(err) => {
                let message = err.to_string();
                first_error.get_or_insert(err);
                let mut map = Map::new();
                map.insert("error".into(), message.into());
                map
            }
        };
        result.insert(
            "reference".into(),
            item.get("reference").cloned().unwrap_or_else(|| "".into()),
        );
        results.push(Value::Object(result));
    }
    let mut out = Map::new();
    out.insert("batch_results".into(), Value::Array(results));
    let mut response = Response::with_data(out);
    // As OpenBao: any failed item makes the batch a 400 (500 if an item failed inside), and the
    // results still come back, so the caller sees which items failed and why.
    response.failed = first_error.map(|err| err.kind());
    Ok(response)
}

/// `{"ciphertext": ..., "key_version": N}`.
fn ciphertext_result(
    key: &Key,
    ciphertext: String,
    version: Option<u32>,
) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    out.insert("ciphertext".into(), ciphertext.into());
    out.insert("key_version".into(), key.write_version(version)?.into());
    Ok(out)
}

fn context_of(item: &Map<String, Value>) -> Result<Option<Zeroizing<Vec<u8>>>> {
    base64_field(item, "context")
}

fn aad_of(item: &Map<String, Value>) -> Result<Zeroizing<Vec<u8>>> {
    Ok(base64_field(item, "associated_data")?.unwrap_or_default())
}

/// The versions named by the ciphertexts (or signatures, HMACs) in `field` of the items.
fn framed_versions(data: &Map<String, Value>, field: &str) -> Result<Vec<u32>> {
    let (_, items) = items(data)?;
    Ok(items
        .iter()
        .filter_map(|item| item.get(field).and_then(Value::as_str))
        .filter_map(|text| crate::key::parse_framed(text).ok().map(|(v, _)| v))
        .collect())
}

/// The versions the items ask to write with (or the latest).
fn write_versions(config: &KeyConfig, data: &Map<String, Value>) -> Result<Vec<u32>> {
    let (_, items) = items(data)?;
    let mut out = vec![config.latest_version];
    for item in &items {
        if let Some(v) = version_field(item, "key_version")? {
            out.push(v);
        }
    }
    if let Some(v) = version_field(data, "key_version")? {
        out.push(v);
    }
    Ok(out)
}

impl Transit {
    /// The key with the versions a write needs (the latest and any asked for), and the
    /// request-level `key_version`.
    async fn for_writing(
        &self,
        ctx: &Context,
        config: KeyConfig,
        data: &Map<String, Value>,
    ) -> Result<(Key, Option<u32>)> {
        let versions = write_versions(&config, data)?;
        let key = self.with_versions(ctx, config, &versions).await?;
        Ok((key, version_field(data, "key_version")?))
    }

    async fn list_keys(&self, ctx: &Context) -> Result<Response> {
        let keys: Vec<String> = ctx
            .storage
            .list("keys/")
            .await?
            .into_iter()
            .filter(|k| !k.ends_with('/'))
            .collect();
        Ok(Response::list(keys))
    }

    async fn create_key(
        &self,
        ctx: &Context,
        name: &str,
        data: &Map<String, Value>,
    ) -> Result<Response> {
        check_name(name)?;
        let options = KeyOptions {
            key_type: KeyType::parse(text(data, "type")?.unwrap_or("aes256-gcm96"))?,
            derived: flag(data, "derived")?.unwrap_or(false),
            convergent_encryption: flag(data, "convergent_encryption")?.unwrap_or(false),
            exportable: flag(data, "exportable")?.unwrap_or(false),
            allow_plaintext_backup: flag(data, "allow_plaintext_backup")?.unwrap_or(false),
            auto_rotate_period: duration_field(data, "auto_rotate_period")?.unwrap_or(0),
        };
        if self.load_config(ctx, name).await?.is_some() {
            // Vault answers a create of an existing key with success and changes nothing.
            return self.read_key(ctx, name).await;
        }
        let key = Key::create(name, options, now_secs(ctx))?;
        match self.store_new(ctx, &key, None).await {
            Ok(()) | Err(LogicalError::Storage(StorageError::CheckFailed { .. })) => {}
            Err(err) => return Err(err),
        }
        self.read_key(ctx, name).await
    }

    async fn read_key(&self, ctx: &Context, name: &str) -> Result<Response> {
        let Some((_, _)) = self.load_config(ctx, name).await? else {
            return Ok(Response::empty());
        };
        let config = self.config(ctx, name).await?;
        let index = self
            .index(
                ctx,
                &config,
                config.min_available_version..=config.latest_version,
            )
            .await?;
        let mut keys = Map::new();
        for (v, info) in index {
            let entry = if config.key_type.signs() {
                let mut entry = json!({
                    "certificate_chain": "",
                    "creation_time": strongroom_logical::time::rfc3339(info.created),
                    "name": match config.key_type {
                        KeyType::EcdsaP256 => "P-256",
                        KeyType::EcdsaP384 => "P-384",
                        _ => "ed25519",
                    },
                });
                if let (Some(pk), Value::Object(map)) = (info.public_key, &mut entry) {
                    map.insert("public_key".into(), pk.into());
                }
                entry
            } else {
                json!(info.created)
            };
            keys.insert(v.to_string(), entry);
        }
        let mut out = json!({
            "name": config.name,
            "type": config.key_type.name(),
            "deletion_allowed": config.deletion_allowed,
            "derived": config.derived,
            "exportable": config.exportable,
            "allow_plaintext_backup": config.allow_plaintext_backup,
            "keys": keys,
            "latest_version": config.latest_version,
            "min_available_version": if config.min_available_version <= 1 { 0 } else { config.min_available_version },
            "min_decryption_version": config.min_decryption_version,
            "min_encryption_version": config.min_encryption_version,
            "auto_rotate_period": config.auto_rotate_period,
            "supports_encryption": config.key_type.encrypts(),
            "supports_decryption": config.key_type.encrypts(),
            "supports_derivation": config.key_type.derivable(),
            "supports_signing": config.key_type.signs(),
            "imported_key": false,
            "soft_deleted": false,
        });
        if config.derived
            && let Value::Object(map) = &mut out
        {
            map.insert("kdf".into(), "hkdf_sha256".into());
            map.insert(
                "convergent_encryption".into(),
                config.convergent_encryption.into(),
            );
            if config.convergent_encryption {
                map.insert("convergent_encryption_version".into(), (-1).into());
            }
        }
        match out {
            Value::Object(map) => Ok(Response::with_data(map)),
            _ => Err(internal("key read")),
        }
    }

    async fn delete_key(&self, ctx: &Context, name: &str) -> Result<Response> {
        let Some((config, raw)) = self.load_config(ctx, name).await? else {
            return Ok(Response::empty());
        };
        if !config.deletion_allowed {
            return Err(LogicalError::invalid(format!(
                "error deleting policy {name}: deletion is not allowed for this key"
            )));
        }
        self.delete_all(ctx, &config, raw).await?;
        Ok(Response::empty())
    }

    async fn configure(
        &self,
        ctx: &Context,
        name: &str,
        data: &Map<String, Value>,
    ) -> Result<Response> {
        let min_dec = version_field(data, "min_decryption_version")?;
        let min_enc = version_field(data, "min_encryption_version")?;
        let deletion = flag(data, "deletion_allowed")?;
        let exportable = flag(data, "exportable")?;
        let backup = flag(data, "allow_plaintext_backup")?;
        let period = duration_field(data, "auto_rotate_period")?;
        if let Some(period) = period {
            check_rotate_period(period)?;
        }
        self.update_config(ctx, name, |config| {
            if let Some(v) = min_dec {
                if v > config.latest_version {
                    return Err(LogicalError::invalid(
                        "cannot set min decryption version to a value greater than the latest version",
                    ));
                }
                config.min_decryption_version = v.max(config.min_available_version).max(1);
            }
            if let Some(v) = min_enc {
                if v > config.latest_version {
                    return Err(LogicalError::invalid(
                        "cannot set min encryption version to a value greater than the latest version",
                    ));
                }
                config.min_encryption_version = v;
            }
            if config.min_encryption_version != 0
                && config.min_encryption_version < config.min_decryption_version
            {
                return Err(LogicalError::invalid(
                    "min encryption version must be 0 or at least min decryption version",
                ));
            }
            if let Some(d) = deletion {
                config.deletion_allowed = d;
            }
            if let Some(e) = exportable {
                if config.exportable && !e {
                    return Err(LogicalError::invalid(
                        "exportability cannot be disabled after being enabled",
                    ));
                }
                config.exportable = e;
            }
            if let Some(b) = backup {
                if config.allow_plaintext_backup && !b {
                    return Err(LogicalError::invalid(
                        "plaintext backup cannot be disabled after being enabled",
                    ));
                }
                config.allow_plaintext_backup = b;
            }
            if let Some(p) = period {
                config.auto_rotate_period = p;
            }
            Ok(())
        })
        .await?;
        self.read_key(ctx, name).await
    }

    /// `keys/<name>/rotate`: rotates, then answers with the key as a read does (OpenBao's
    /// response; it lists every version, so its size grows with them).
    async fn rotate(&self, ctx: &Context, name: &str) -> Result<Response> {
        self.rotate_key(ctx, name).await?;
        self.read_key(ctx, name).await
    }

    /// Rotates key `name` in the mount of `ctx`; returns the new latest version. This is what
    /// `keys/<name>/rotate` does, without building the response: for embedders and schedulers.
    /// Its cost does not depend on how many versions the key has.
    ///
    /// # Errors
    ///
    /// [`LogicalError::InvalidRequest`] for an unknown key; storage errors.
    pub async fn rotate_key(&self, ctx: &Context, name: &str) -> Result<u32> {
        for _ in 0..CAS_RETRIES {
            let (config, raw) = self
                .load_config(ctx, name)
                .await?
                .ok_or_else(|| LogicalError::invalid("encryption key not found"))?;
            match self.rotate_once(ctx, config, &raw).await {
                Ok(config) => return Ok(config.latest_version),
                Err(LogicalError::Storage(StorageError::CheckFailed { .. })) => continue,
                Err(err) => return Err(err),
            }
        }
        Err(internal("the key kept changing; try again"))
    }

    async fn trim(&self, ctx: &Context, name: &str, data: &Map<String, Value>) -> Result<Response> {
        let target = version_field(data, "min_available_version")?
            .ok_or_else(|| LogicalError::invalid("missing min_available_version"))?;
        let before = self
            .load_config(ctx, name)
            .await?
            .ok_or_else(|| LogicalError::invalid("encryption key not found"))?
            .0;
        let config = self
            .update_config(ctx, name, |config| {
                if target == 0 {
                    return Err(LogicalError::invalid(
                        "minimum available version should be positive",
                    ));
                }
                if config.min_encryption_version == 0 {
                    return Err(LogicalError::invalid(
                        "minimum available version cannot be set when minimum encryption version \
                         is not set",
                    ));
                }
                if target > config.min_decryption_version || target > config.min_encryption_version
                {
                    return Err(LogicalError::invalid(
                        "cannot set min available version above min decryption or min encryption \
                         version",
                    ));
                }
                config.min_available_version = config.min_available_version.max(target);
                Ok(())
            })
            .await?;
        // The versions below the floor are now unreachable; remove them and their index rows.
        let mut ops = Vec::new();
        for v in before.min_available_version..config.min_available_version {
            ops.push(Op::delete(version_key(&before, v)));
        }
        let old = self
            .index(
                ctx,
                &before,
                before.min_available_version..=config.min_available_version,
            )
            .await?;
        let mut chunks: BTreeMap<u32, ()> = BTreeMap::new();
        for v in old.keys() {
            chunks.insert(v / CHUNK, ());
        }
        for chunk in chunks.keys() {
            let key = chunk_path(&before, *chunk);
            if let Some(bytes) = ctx.storage.get(&key).await? {
                let mut entries: BTreeMap<u32, VersionInfo> = serde_json::from_slice(&bytes)
                    .map_err(|_| internal("a key index does not decode"))?;
                entries.retain(|v, _| *v >= config.min_available_version);
                ops.push(if entries.is_empty() {
                    Op::delete(key)
                } else {
                    Op::put(key, serde_json::to_vec(&entries).map_err(internal)?)
                });
            }
        }
        for batch in ops.chunks(BATCH) {
            ctx.storage.transaction(batch.to_vec()).await?;
        }
        self.read_key(ctx, name).await
    }

    async fn encrypt(
        &self,
        ctx: &Context,
        name: &str,
        data: &Map<String, Value>,
    ) -> Result<Response> {
        // Upsert, as Vault: encrypting with a key that does not exist creates it.
        if self.load_config(ctx, name).await?.is_none() {
            let (_, items) = items(data)?;
            let derived = items
                .first()
                .and_then(|i| i.get("context"))
                .is_some_and(|c| c.as_str().is_some_and(|s| !s.is_empty()));
            let mut create = Map::new();
            create.insert(
                "type".into(),
                text(data, "type")?.unwrap_or("aes256-gcm96").into(),
            );
            create.insert("derived".into(), derived.into());
            if let Some(convergent) = flag(data, "convergent_encryption")? {
                create.insert("convergent_encryption".into(), convergent.into());
            }
            self.create_key(ctx, name, &create).await?;
        }
        let config = self.config(ctx, name).await?;
        let (key, default_version) = self.for_writing(ctx, config, data).await?;
        run_batch(data, |item| {
            let plaintext = base64_field(item, "plaintext")?
                .ok_or_else(|| LogicalError::invalid("missing plaintext to encrypt"))?;
            let version = version_field(item, "key_version")?.or(default_version);
            let ciphertext = key.encrypt(
                &plaintext,
                context_of(item)?.as_deref().map(Vec::as_slice),
                &aad_of(item)?,
                version,
            )?;
            ciphertext_result(&key, ciphertext, version)
        })
    }

    async fn decrypt(
        &self,
        ctx: &Context,
        name: &str,
        data: &Map<String, Value>,
    ) -> Result<Response> {
        let config = self.config(ctx, name).await?;
        let versions = framed_versions(data, "ciphertext")?;
        let key = self.with_versions(ctx, config, &versions).await?;
        run_batch(data, |item| {
            let ciphertext = text(item, "ciphertext")?
                .filter(|c| !c.is_empty())
                .ok_or_else(|| LogicalError::invalid("missing ciphertext to decrypt"))?;
            let plaintext = key.decrypt(
                ciphertext,
                context_of(item)?.as_deref().map(Vec::as_slice),
                &aad_of(item)?,
            )?;
            let mut out = Map::new();
            out.insert("plaintext".into(), Base64::encode_string(&plaintext).into());
            Ok(out)
        })
    }

    async fn rewrap(
        &self,
        ctx: &Context,
        name: &str,
        data: &Map<String, Value>,
    ) -> Result<Response> {
        let config = self.config(ctx, name).await?;
        let mut versions = framed_versions(data, "ciphertext")?;
        versions.extend(write_versions(&config, data)?);
        let key = self.with_versions(ctx, config, &versions).await?;
        let default_version = version_field(data, "key_version")?;
        run_batch(data, |item| {
            let ciphertext = text(item, "ciphertext")?
                .filter(|c| !c.is_empty())
                .ok_or_else(|| LogicalError::invalid("missing ciphertext to rewrap"))?;
            let version = version_field(item, "key_version")?.or(default_version);
            let rewrapped = key.rewrap(
                ciphertext,
                context_of(item)?.as_deref().map(Vec::as_slice),
                &aad_of(item)?,
                version,
            )?;
            ciphertext_result(&key, rewrapped, version)
        })
    }

    async fn datakey(
        &self,
        ctx: &Context,
        kind: &str,
        name: &str,
        bits_segment: Option<&str>,
        data: &Map<String, Value>,
    ) -> Result<Response> {
        let include_plaintext = match kind {
            "plaintext" => true,
            "wrapped" => false,
            other => {
                return Err(LogicalError::invalid(format!(
                    "invalid type {other:?}: plaintext or wrapped"
                )));
            }
        };
        let bits = match bits_segment {
            Some(segment) => segment
                .parse::<u64>()
                .map_err(|_| LogicalError::invalid("invalid bits"))?,
            None => number(data, "bits")?.unwrap_or(256),
        };
        if !matches!(bits, 128 | 256 | 512) {
            return Err(LogicalError::invalid("invalid bits"));
        }
        let config = self.config(ctx, name).await?;
        let (key, version) = self.for_writing(ctx, config, data).await?;
        let len = usize::try_from(bits / 8).map_err(internal)?;
        let new_key = random_bytes(len)?;
        let ciphertext = key.encrypt(
            &new_key,
            base64_field(data, "context")?.as_deref().map(Vec::as_slice),
            &base64_field(data, "associated_data")?.unwrap_or_default(),
            version,
        )?;
        let mut out = Map::new();
        out.insert("ciphertext".into(), ciphertext.into());
        out.insert("key_version".into(), key.write_version(version)?.into());
        if include_plaintext {
            out.insert("plaintext".into(), Base64::encode_string(&new_key).into());
        }
        Ok(Response::with_data(out))
    }

    async fn sign(
        &self,
        ctx: &Context,
        name: &str,
        hash_segment: Option<&str>,
        data: &Map<String, Value>,
    ) -> Result<Response> {
        let config = self.config(ctx, name).await?;
        check_sign_hash(&config, hash_segment, data)?;
        if flag(data, "prehashed")? == Some(true) {
            return Err(LogicalError::invalid(
                "prehashed input is not supported by Strongroom's transit (ring signs messages, \
                 not digests); send the message itself",
            ));
        }
        let marshaling = Marshaling::parse(text(data, "marshaling_algorithm")?.unwrap_or(""))?;
        let (key, default_version) = self.for_writing(ctx, config, data).await?;
        run_batch(data, |item| {
            let input = base64_field(item, "input")?
                .ok_or_else(|| LogicalError::invalid("missing input to sign"))?;
            let version = version_field(item, "key_version")?.or(default_version);
            let signature = key.sign(
                &input,
                context_of(item)?.as_deref().map(Vec::as_slice),
                marshaling,
                version,
            )?;
            let mut out = Map::new();
            out.insert("signature".into(), signature.into());
            out.insert("key_version".into(), key.write_version(version)?.into());
            Ok(out)
        })
    }

    async fn verify(
        &self,
        ctx: &Context,
        name: &str,
        hash_segment: Option<&str>,
        data: &Map<String, Value>,
    ) -> Result<Response> {
        let config = self.config(ctx, name).await?;
        let (_, items) = items(data)?;
        let hmac_mode = items
            .iter()
            .any(|i| i.get("hmac").is_some_and(|h| !h.is_null()));
        if hmac_mode {
            let algorithm = HashAlgorithm::parse(
                hash_segment
                    .or(text(data, "algorithm")?)
                    .or(text(data, "hash_algorithm")?)
                    .unwrap_or(""),
            )?;
            let versions = framed_versions(data, "hmac")?;
            let key = self.with_versions(ctx, config, &versions).await?;
            return run_batch(data, |item| {
                let input = base64_field(item, "input")?
                    .ok_or_else(|| LogicalError::invalid("missing input"))?;
                let mac =
                    text(item, "hmac")?.ok_or_else(|| LogicalError::invalid("missing hmac"))?;
                let mut out = Map::new();
                out.insert(
                    "valid".into(),
                    key.verify_hmac(&input, mac, algorithm)?.into(),
                );
                Ok(out)
            });
        }
        check_sign_hash(&config, hash_segment, data)?;
        let marshaling = Marshaling::parse(text(data, "marshaling_algorithm")?.unwrap_or(""))?;
        let versions = framed_versions(data, "signature")?;
        let key = self.with_versions(ctx, config, &versions).await?;
        run_batch(data, |item| {
            let input = base64_field(item, "input")?
                .ok_or_else(|| LogicalError::invalid("missing input"))?;
            let signature = text(item, "signature")?
                .ok_or_else(|| LogicalError::invalid("missing signature"))?;
            let mut out = Map::new();
            out.insert(
                "valid".into(),
                key.verify(
                    &input,
                    signature,
                    context_of(item)?.as_deref().map(Vec::as_slice),
                    marshaling,
                )?
                .into(),
            );
            Ok(out)
        })
    }

    async fn hmac(
        &self,
        ctx: &Context,
        name: &str,
        algo_segment: Option<&str>,
        data: &Map<String, Value>,
    ) -> Result<Response> {
        let algorithm =
            HashAlgorithm::parse(algo_segment.or(text(data, "algorithm")?).unwrap_or(""))?;
        let config = self.config(ctx, name).await?;
        let (key, default_version) = self.for_writing(ctx, config, data).await?;
        run_batch(data, |item| {
            let input = base64_field(item, "input")?
                .ok_or_else(|| LogicalError::invalid("missing input for HMAC"))?;
            let version = version_field(item, "key_version")?.or(default_version);
            let mut out = Map::new();
            out.insert("hmac".into(), key.hmac(&input, algorithm, version)?.into());
            Ok(out)
        })
    }

    async fn export(
        &self,
        ctx: &Context,
        kind: &str,
        name: &str,
        version: Option<&str>,
    ) -> Result<Response> {
        let config = self.config(ctx, name).await?;
        if kind != "public-key" && !config.exportable {
            return Err(LogicalError::invalid(
                "private key material is not exportable",
            ));
        }
        match kind {
            "encryption-key" if !config.key_type.encrypts() => {
                return Err(LogicalError::invalid(
                    "encryption key not supported for this key type",
                ));
            }
            "signing-key" | "public-key" if !config.key_type.signs() => {
                return Err(LogicalError::invalid(
                    "signing key not supported for this key type",
                ));
            }
            "encryption-key" | "signing-key" | "hmac-key" | "public-key" => {}
            other => {
                return Err(LogicalError::invalid(format!(
                    "invalid export type {other:?}"
                )));
            }
        }
        let versions: Vec<u32> = match version {
            None => (config.min_available_version.max(1)..=config.latest_version).collect(),
            Some("latest") => vec![config.latest_version],
            Some(v) => vec![
                v.parse::<u32>()
                    .ok()
                    .filter(|v| *v >= config.min_available_version && *v <= config.latest_version)
                    .ok_or_else(|| LogicalError::invalid("invalid key version"))?,
            ],
        };
        let key_type = config.key_type;
        let key_name = config.name.clone();
        let key = self.with_versions(ctx, config, &versions).await?;
        let mut keys = Map::new();
        for v in versions {
            let material = key.version(v)?;
            let exported = match (kind, key_type) {
                ("hmac-key", KeyType::Hmac) | ("encryption-key", _) => {
                    Base64::encode_string(&material.key)
                }
                ("hmac-key", _) => Base64::encode_string(&material.hmac_key),
                ("public-key", _) => key.public_key(v)?.unwrap_or_default(),
                ("signing-key", KeyType::Ed25519) => {
                    // Go's ed25519.PrivateKey: seed ‖ public key, as Vault exports it.
                    let public = key.public_key_bytes(v, None)?;
                    Base64::encode_string(&[material.key.as_slice(), &public].concat())
                }
                // ECDSA keys as PKCS#8 PEM (Vault exports SEC1; both carry the same key).
                (_, _) => pem("PRIVATE KEY", &material.key),
            };
            keys.insert(v.to_string(), exported.into());
        }
        let mut out = Map::new();
        out.insert("name".into(), key_name.into());
        out.insert("type".into(), key_type.name().into());
        out.insert("keys".into(), Value::Object(keys));
        Ok(Response::with_data(out))
    }

    async fn backup(&self, ctx: &Context, name: &str) -> Result<Response> {
        let config = self.config(ctx, name).await?;
        if !config.allow_plaintext_backup || !config.exportable {
            return Err(LogicalError::invalid(
                "plaintext backup is disallowed on this key: set exportable and \
                 allow_plaintext_backup",
            ));
        }
        let versions: Vec<u32> =
            (config.min_available_version.max(1)..=config.latest_version).collect();
        let key = self.with_versions(ctx, config, &versions).await?;
        let backup = Backup {
            config: key.config.clone(),
            versions: key.versions.values().map(|v| (**v).clone()).collect(),
        };
        let json = Zeroizing::new(serde_json::to_vec(&backup).map_err(internal)?);
        let mut out = Map::new();
        out.insert("backup".into(), Base64::encode_string(&json).into());
        Ok(Response::with_data(out))
    }

    async fn restore(
        &self,
        ctx: &Context,
        name: Option<&str>,
        data: &Map<String, Value>,
    ) -> Result<Response> {
        let blob = base64_field(data, "backup")?
            .ok_or_else(|| LogicalError::invalid("'backup' must be supplied"))?;
        let backup: Backup = serde_json::from_slice(&blob)
            .map_err(|_| LogicalError::invalid("the backup does not decode"))?;
        let name = name.unwrap_or(&backup.config.name).to_owned();
        check_name(&name)?;
        let force = flag(data, "force")?.unwrap_or(false);
        let existing = self.load_config(ctx, &name).await?;
        if existing.is_some() && !force {
            return Err(LogicalError::invalid(
                "key already exists; to force a restore, set force=true",
            ));
        }
        let mut config = backup.config.clone();
        config.name.clone_from(&name);
        config.id = crate::key::random_id()?;
        config.layout = 1;
        let mut versions = BTreeMap::new();
        for version in backup.versions {
            if version.version < config.min_available_version
                || version.version > config.latest_version
            {
                return Err(LogicalError::invalid(
                    "the backup's versions do not match its settings",
                ));
            }
            versions.insert(version.version, Arc::new(version));
        }
        let floor = config.min_available_version.max(1);
        let valid = config.latest_version >= floor
            && config.min_decryption_version >= floor
            && config.min_decryption_version <= config.latest_version
            && (config.min_encryption_version == 0
                || (config.min_encryption_version >= config.min_decryption_version
                    && config.min_encryption_version <= config.latest_version));
        if !valid {
            return Err(LogicalError::invalid(
                "the backup's version settings are inconsistent",
            ));
        }
        let expected = config
            .latest_version
            .saturating_sub(floor)
            .saturating_add(1);
        if u32::try_from(versions.len()).ok() != Some(expected) {
            return Err(LogicalError::invalid("the backup is missing versions"));
        }
        let key = Key { config, versions };
        let (old, raw) = existing.map_or((None, None), |(config, raw)| (Some(config), Some(raw)));
        // The old key serves every request until the switch; a request that changed it meanwhile
        // (a rotation, a create by upsert) makes the restore fail rather than be overwritten.
        match self.store_new(ctx, &key, raw).await {
            Ok(()) => {}
            Err(LogicalError::Storage(StorageError::CheckFailed { .. })) => {
                return Err(LogicalError::invalid(if old.is_some() {
                    "the key changed during the restore; try again"
                } else {
                    "key already exists; to force a restore, set force=true"
                }));
            }
            Err(err) => return Err(err),
        }
        if let Some(old) = old {
            // Unreferenced now; a failure leaves only unreachable entries.
            let _ = self.delete_material(ctx, &old).await;
        }
        Ok(Response::empty())
    }
}

/// What `backup` exports (Strongroom's own format: Vault's backups do not restore here, nor
/// ours there).
#[derive(Serialize, Deserialize)]
struct Backup {
    config: KeyConfig,
    versions: Vec<Version>,
}

/// Signing hashes: Ed25519 takes none; ECDSA uses its curve's own (P-256: sha2-256, P-384:
/// sha2-384), the only pairings `ring` signs with.
fn check_sign_hash(
    config: &KeyConfig,
    segment: Option<&str>,
    data: &Map<String, Value>,
) -> Result<()> {
    if !config.key_type.signs() {
        return Err(LogicalError::invalid(format!(
            "key type {} does not support signing",
            config.key_type.name()
        )));
    }
    let asked = segment.or(text(data, "hash_algorithm")?.filter(|h| !h.is_empty()));
    let Some(asked) = asked else {
        return Ok(());
    };
    let ok = match config.key_type {
        KeyType::Ed25519 => true,
        KeyType::EcdsaP256 => asked == "sha2-256",
        KeyType::EcdsaP384 => asked == "sha2-384",
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(LogicalError::invalid(format!(
            "unsupported hash algorithm {asked} for key type {}",
            config.key_type.name()
        )))
    }
}

/// `random[/<source>][/<bytes>]`.
fn random(rest: &[&str], data: &Map<String, Value>) -> Result<Response> {
    let mut bytes = number(data, "bytes")?.unwrap_or(32);
    for segment in rest {
        match *segment {
            "platform" | "seal" | "all" => {}
            n => {
                bytes = n.parse().map_err(|_| {
                    LogicalError::invalid(format!("unsupported source or byte count {n:?}"))
                })?;
            }
        }
    }
    if bytes == 0 || bytes > MAX_RANDOM_BYTES {
        return Err(LogicalError::invalid(format!(
            "bytes must be between 1 and {MAX_RANDOM_BYTES}"
        )));
    }
    let random = random_bytes(usize::try_from(bytes).map_err(internal)?)?;
    let mut out = Map::new();
    out.insert(
        "random_bytes".into(),
        encode(&random, text(data, "format")?.unwrap_or("base64"))?.into(),
    );
    Ok(Response::with_data(out))
}

/// `hash[/<algorithm>]`.
fn hash(segment: Option<&str>, data: &Map<String, Value>) -> Result<Response> {
    let algorithm = HashAlgorithm::parse(segment.or(text(data, "algorithm")?).unwrap_or(""))?;
    let input =
        base64_field(data, "input")?.ok_or_else(|| LogicalError::invalid("missing input"))?;
    let mut out = Map::new();
    out.insert(
        "sum".into(),
        encode(
            &algorithm.digest(&input),
            text(data, "format")?.unwrap_or("hex"),
        )?
        .into(),
    );
    Ok(Response::with_data(out))
}

fn encode(bytes: &[u8], format: &str) -> Result<String> {
    match format {
        "hex" => Ok(bytes.iter().map(|b| format!("{b:02x}")).collect()),
        "base64" => Ok(Base64::encode_string(bytes)),
        other => Err(LogicalError::invalid(format!(
            "unsupported encoding format {other}"
        ))),
    }
}
