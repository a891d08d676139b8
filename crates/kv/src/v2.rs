//! KV version 2: versioned secrets with check-and-set, soft delete, undelete, destroy, metadata
//! and sub-keys, with Vault's paths and JSON shapes.
//!
//! Storage, inside the mount's view (which the core places inside the barrier):
//! * `config` — engine-wide settings;
//! * `salt` — the mount's path key: 32 random bytes made on first use (one writer wins a
//!   create-if-absent; everyone else reads the winner's), with the layout version of the keyed
//!   segments (`{"layout": 1, "key": "<hex>"}`). It never changes, so engines cache it;
//! * `metadata/<path>` — one small record per secret: settings, custom metadata, the current
//!   version, the range of versions kept (constant size whatever the number of versions) and the
//!   secret's record layout (`layout`);
//! * `vmeta/<seg>/<version>` — each version's state (created, deleted, destroyed, the deletion
//!   `delete_version_after` scheduled when it was written) and the path that owns it;
//! * `versions/<seg>/<version>` — each version's data and the path that owns it.
//!
//! `<seg>` is HMAC-SHA256(path key, path) in lowercase hex (layout 2), so no one who does not
//! hold the key can make two paths share version records, and every version record names its
//! path: a record that names another path is an internal error, never data served.
//!
//! Secrets written before layout 2 (`layout` missing from their metadata) used an FNV-1a hash of
//! the path for `<seg>` and records without their path. The first access to such a secret moves
//! its records to the keyed segment (in one transaction with the metadata record, checked against
//! it, when it fits in one; otherwise copies first, each batch checked against the old metadata,
//! then the switch, then the clean-up), fixing each version's scheduled deletion as it goes.
//!
//! Reading a version therefore costs three lookups whatever the number of versions, and a write
//! touches the metadata record, one version's two records and the ones it prunes, in one
//! transaction that checks the metadata record did not change underneath (concurrent writers
//! cannot both win a check-and-set). Only `metadata/` reads, which list every version, grow with
//! the version count.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use strongroom_logical::{
    Context, Endpoint, Endpoints, Field, FieldType, Fields, LogicalError, Request, Response,
    Result, field,
};
use strongroom_storage::{Op, Storage, StorageError};

/// Vault's default for `max_versions` when neither the key nor the engine sets one.
const DEFAULT_MAX_VERSIONS: u64 = 10;
/// Attempts at the metadata compare-and-swap under contention.
const CAS_ATTEMPTS: usize = 32;
/// Where the mount's path key lives in its view.
const SALT_KEY: &str = "salt";
/// The version of the `salt` record: HMAC-SHA256 under a 32-byte key, hex.
const SALT_LAYOUT: u32 = 1;
/// Secrets whose metadata has no `layout`: FNV-1a segments, records without their path.
const LAYOUT_FNV: u32 = 1;
/// Keyed segments ([`PathKey::segment`]), records naming their path.
const LAYOUT_KEYED: u32 = 2;
/// Ops per transaction when a batch may be large (the default storage limit is 1024).
const BATCH_OPS: usize = 512;

fn layout_fnv() -> u32 {
    LAYOUT_FNV
}

/// The mount's key for version-record segments. Zeroed on drop, never printed, never cloned.
struct PathKey(Box<Zeroizing<[u8; 32]>>);

impl std::fmt::Debug for PathKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PathKey([REDACTED])")
    }
}

/// The stored form of [`PathKey`] (only ever inside the barrier).
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct SaltRecord {
    layout: u32,
    /// 64 lowercase hex digits.
    key: String,
}

impl PathKey {
    fn generate() -> Result<Self> {
        let mut key = Box::new(Zeroizing::new([0u8; 32]));
        SystemRandom::new()
            .fill(&mut key[..])
            .map_err(|_| LogicalError::Internal("no randomness for the kv v2 path key".into()))?;
        Ok(Self(key))
    }

    fn encode(&self) -> Result<Zeroizing<Vec<u8>>> {
        let record = SaltRecord {
            layout: SALT_LAYOUT,
            key: hex(&self.0[..]),
        };
        serde_json::to_vec(&record)
            .map(Zeroizing::new)
            .map_err(|e| LogicalError::Internal(format!("encoding: {e}")))
    }

    fn decode(bytes: &[u8]) -> Result<Self> {
        let broken = || LogicalError::Internal("the kv v2 path key does not decode".into());
        let record: SaltRecord = serde_json::from_slice(bytes).map_err(|_| broken())?;
        if record.layout != SALT_LAYOUT || record.key.len() != 64 {
            return Err(broken());
        }
        let mut key = Box::new(Zeroizing::new([0u8; 32]));
        for (out, pair) in key.iter_mut().zip(record.key.as_bytes().chunks_exact(2)) {
            let digit = |c: u8| {
                char::from(c)
                    .to_digit(16)
                    .and_then(|d| u8::try_from(d).ok())
            };
            match (
                pair.first().copied().and_then(digit),
                pair.get(1).copied().and_then(digit),
            ) {
                (Some(hi), Some(lo)) => *out = hi << 4 | lo,
                _ => return Err(broken()),
            }
        }
        Ok(Self(key))
    }

    /// HMAC-SHA256(key, path), lowercase hex: the path's segment under `versions/` and `vmeta/`.
    fn segment(&self, path: &str) -> String {
        // ring copies the key into its own (not zeroized) HMAC state for the call.
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.0[..]);
        hex(hmac::sign(&key, path.as_bytes()).as_ref())
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|byte| [byte >> 4, byte & 0x0f])
        .map(|nibble| char::from(DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0')))
        .collect()
}

/// The version records of one secret (layout 2).
struct Records {
    segment: String,
}

impl Records {
    fn version(&self, number: u64) -> String {
        format!("versions/{}/{number}", self.segment)
    }

    fn vmeta(&self, number: u64) -> String {
        format!("vmeta/{}/{number}", self.segment)
    }
}

/// A version's data record as written (layout 2).
#[derive(Serialize)]
struct VersionDataOut<'a> {
    path: &'a str,
    data: &'a Value,
}

/// A version's data record as read (layout 2).
#[derive(Deserialize)]
struct VersionData {
    path: String,
    data: Value,
}

fn not_owned() -> LogicalError {
    LogicalError::Internal("a kv v2 version record does not belong to the path read".into())
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
struct EngineConfig {
    max_versions: u64,
    cas_required: bool,
    /// Seconds; 0 = not set (each key's own setting applies).
    delete_version_after: u64,
    /// A negative `delete_version_after` was written: no version gets a scheduled deletion,
    /// whatever its key says (Vault's `IsDeleteVersionAfterDisabled`).
    #[serde(default)]
    delete_version_after_disabled: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
struct VersionMeta {
    /// Unix nanoseconds.
    created: u128,
    /// Unix nanoseconds, when soft-deleted.
    deleted: Option<u128>,
    destroyed: bool,
    /// The deletion `delete_version_after` scheduled for this version (Unix nanoseconds; inner
    /// `None`: none), fixed when the version was written (or undeleted), as Vault does: changing
    /// the settings later only affects versions written later.
    ///
    /// Outer `None`: a record written before the time was stored. Such a record gets the time the
    /// old code computed at read time from the current settings, and keeps it once it is
    /// rewritten. Treating it as "no scheduled deletion" instead would make versions that were
    /// already expired under the old rule readable again after the upgrade; computing it keeps
    /// exactly what the old code served at the moment of the upgrade.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    deletion_time: Option<Option<u128>>,
    /// The secret's path (layout 2; empty in older records).
    #[serde(default)]
    path: String,
}

/// Deserializes a field that is present (possibly `null`) as `Some`, so that `#[serde(default)]`
/// leaves only a missing field as `None`.
fn present<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<u128>>, D::Error> {
    Option::<u128>::deserialize(d).map(Some)
}

/// When a version created (or undeleted) at `from` is deleted by `delete_version_after`: `from`
/// plus the smaller of the key's and the engine's setting where both are set, the one that is set
/// otherwise, never when neither is or the engine disabled it (Vault's `deletionTime`).
fn scheduled_deletion(from: u128, key_after: u64, config: &EngineConfig) -> Option<u128> {
    if config.delete_version_after_disabled {
        return None;
    }
    let after = match (key_after, config.delete_version_after) {
        (0, 0) => return None,
        (0, mount) => mount,
        (key, 0) => key,
        (key, mount) => key.min(mount),
    };
    Some(from.saturating_add(u128::from(after).saturating_mul(1_000_000_000)))
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
struct KeyMeta {
    created: u128,
    updated: u128,
    current_version: u64,
    oldest_version: u64,
    max_versions: u64,
    cas_required: bool,
    delete_version_after: u64,
    custom_metadata: BTreeMap<String, String>,
    /// The lowest version whose records are kept (0: none yet). Versions `first_kept..=
    /// current_version` exist; pruning moves this up.
    #[serde(default)]
    first_kept: u64,
    /// Writes to the metadata itself (OpenBao's `current_metadata_version`).
    #[serde(default)]
    metadata_version: u64,
    /// How the secret's version records are stored ([`LAYOUT_FNV`] when missing).
    #[serde(default = "layout_fnv")]
    layout: u32,
}

impl KeyMeta {
    /// A new secret's metadata, in the current layout.
    fn new(now: u128) -> Self {
        Self {
            created: now,
            layout: LAYOUT_KEYED,
            ..Self::default()
        }
    }
}

fn nanos(time: SystemTime) -> u128 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

use strongroom_logical::time::rfc3339_nanos;

fn duration_text(secs: u64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 || h > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{s}s"));
    out
}

/// FNV-1a (128 bit) of the path: the segment of [`LAYOUT_FNV`] secrets, read only to move them
/// to keyed segments. Not collision resistant, which is why it was replaced.
fn path_hash(path: &str) -> String {
    let mut hash: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for byte in path.bytes() {
        hash ^= u128::from(byte);
        hash = hash.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013B);
    }
    // Lowercase hex of the big-endian bytes, as `{hash:032x}` prints it.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    hash.to_be_bytes()
        .iter()
        .flat_map(|byte| [byte >> 4, byte & 0x0f])
        .map(|nibble| char::from(DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0')))
        .collect()
}

fn meta_key(path: &str) -> String {
    format!("metadata/{path}")
}

fn legacy_version_key(path: &str, version: u64) -> String {
    format!("versions/{}/{version}", path_hash(path))
}

fn legacy_vmeta_key(path: &str, version: u64) -> String {
    format!("vmeta/{}/{version}", path_hash(path))
}

/// A key's custom metadata as Vault shows it: `null` when there is none.
fn custom_json(meta: &KeyMeta) -> Value {
    if meta.custom_metadata.is_empty() {
        Value::Null
    } else {
        Value::Object(
            meta.custom_metadata
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        )
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn invalid(message: impl Into<String>) -> LogicalError {
    LogicalError::InvalidRequest(message.into())
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| LogicalError::Internal(format!("encoding: {e}")))
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|_| LogicalError::Internal("stored kv v2 record does not decode".into()))
}

/// What a metadata write sets (the fields a client sent, decoded).
struct MetadataInput {
    max_versions: Option<u64>,
    cas_required: Option<bool>,
    delete_version_after: Option<u64>,
    /// Values `None`: a `null` (a patch removes the key; a write stores `""`, as Vault).
    custom_metadata: Option<BTreeMap<String, Option<String>>>,
}

/// OpenBao's prefix for custom metadata refusals.
const CUSTOM_METADATA_REFUSED: &str = "custom_metadata validation failed";
/// OpenBao's limit on custom metadata keys.
const MAX_CUSTOM_METADATA_KEYS: usize = 64;

impl MetadataInput {
    fn from_fields(fields: &Fields<'_>) -> Result<Self> {
        let custom_metadata = match fields.get_ok::<&Map<String, Value>>("custom_metadata")? {
            None => None,
            Some(map) => {
                if map.len() > MAX_CUSTOM_METADATA_KEYS {
                    return Err(invalid(format!(
                        "{CUSTOM_METADATA_REFUSED}: payload must contain at most \
                         {MAX_CUSTOM_METADATA_KEYS} keys, provided {}",
                        map.len()
                    )));
                }
                let mut out = BTreeMap::new();
                for (key, value) in map {
                    let text = if value.is_null() {
                        None
                    } else {
                        Some(
                            field::weak_string(value)
                                .map_err(|e| invalid(format!("{CUSTOM_METADATA_REFUSED}: {e}")))?,
                        )
                    };
                    out.insert(key.clone(), text);
                }
                Some(out)
            }
        };
        Ok(Self {
            max_versions: fields.get_ok("max_versions")?,
            cas_required: fields.get_ok("cas_required")?,
            delete_version_after: fields.get_ok("delete_version_after")?,
            custom_metadata,
        })
    }
}

/// The check-and-set version in a data write's `options` (`options.cas`), decoded as Vault's
/// `validateCheckAndSetOption` does: weakly, refused with its message when it is not an integer.
/// A negative number matches no version (Go's `uint64` of it).
fn cas_option(fields: &Fields<'_>) -> Result<Option<u64>> {
    let Some(options) = fields.get_ok::<&Map<String, Value>>("options")? else {
        return Ok(None);
    };
    let Some(cas) = options.get("cas") else {
        return Ok(None);
    };
    let cas = if cas.is_null() {
        0
    } else {
        field::weak_int(cas).map_err(|_| invalid("error parsing check-and-set parameter"))?
    };
    Ok(Some(u64::try_from(cas).unwrap_or(u64::MAX)))
}

/// The versions a delete, undelete or destroy names (a `TypeCommaIntSlice`); negative numbers
/// name no version.
fn versions(fields: &Fields<'_>) -> Result<Vec<u64>> {
    let versions: Vec<i64> = fields.get("versions")?;
    if versions.is_empty() {
        return Err(invalid("No version number provided"));
    }
    // Each version once, in order: a request repeating a version must not repeat the work.
    let distinct: std::collections::BTreeSet<u64> = versions
        .into_iter()
        .filter_map(|v| u64::try_from(v).ok())
        .collect();
    Ok(distinct.into_iter().collect())
}

/// The secret a `metadata/` request names, for anything but a list: a folder (empty, or ending
/// in `/`) names none.
fn secret_path<'f>(fields: &'f Fields<'_>) -> Result<&'f str> {
    let path: &str = fields.get("path")?;
    if path.is_empty() || path.ends_with('/') {
        return Err(LogicalError::UnsupportedPath);
    }
    Ok(path)
}

/// RFC 7396 merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(patch) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(target) = target {
                for (key, value) in patch {
                    if value.is_null() {
                        target.remove(key);
                    } else {
                        merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// The keys of `value`, with leaf values replaced by null, to `depth` levels (0: unlimited).
fn subkeys(value: &Value, depth: u64, level: u64) -> Value {
    match value {
        Value::Object(map) if depth == 0 || level < depth => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let inner = match v {
                        Value::Object(_) => subkeys(v, depth, level + 1),
                        _ => Value::Null,
                    };
                    (k.clone(), inner)
                })
                .collect(),
        ),
        _ => Value::Null,
    }
}

/// A change of versions' state.
#[derive(Clone, Copy, Debug)]
enum Change {
    Delete,
    Undelete,
    Destroy,
}

/// KV version 2.
///
/// One engine may serve several mounts (storage views); it caches each mount's path key by the
/// view's prefix after the first load (the key never changes).
#[derive(Debug)]
pub struct KvV2 {
    keys: Mutex<HashMap<String, Arc<PathKey>>>,
    endpoints: Endpoints<KvV2>,
}

impl Default for KvV2 {
    fn default() -> Self {
        Self::new()
    }
}

impl KvV2 {
    /// The engine.
    pub fn new() -> Self {
        Self {
            keys: Mutex::default(),
            endpoints: declarations(),
        }
    }

    fn cached_key(&self, prefix: &str) -> Option<Arc<PathKey>> {
        self.keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(prefix)
            .map(Arc::clone)
    }

    fn cache_key(&self, prefix: &str, key: PathKey) -> Arc<PathKey> {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            keys.entry(prefix.to_owned())
                .or_insert_with(|| Arc::new(key)),
        )
    }

    /// The mount's path key: cached, else read, else made and stored if still absent. Racing
    /// first writers (on this node or another) all end with the one key that was stored first.
    async fn path_key(&self, ctx: &Context) -> Result<Arc<PathKey>> {
        let prefix = ctx.storage.prefix();
        if let Some(key) = self.cached_key(prefix) {
            return Ok(key);
        }
        for _ in 0..CAS_ATTEMPTS {
            if let Some(bytes) = ctx.storage.get(SALT_KEY).await? {
                let bytes = Zeroizing::new(bytes);
                return Ok(self.cache_key(prefix, PathKey::decode(&bytes)?));
            }
            let key = PathKey::generate()?;
            let bytes = key.encode()?;
            let ops = vec![Op::check(SALT_KEY, None), Op::put(SALT_KEY, bytes.to_vec())];
            match ctx.storage.transaction(ops).await {
                Ok(()) => return Ok(self.cache_key(prefix, key)),
                // Someone else stored one first: read theirs.
                Err(StorageError::CheckFailed { .. } | StorageError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(LogicalError::Internal(
            "kv v2 path key under heavy contention".into(),
        ))
    }

    async fn records(&self, ctx: &Context, path: &str) -> Result<Records> {
        Ok(Records {
            segment: self.path_key(ctx).await?.segment(path),
        })
    }

    async fn config(&self, ctx: &Context) -> Result<EngineConfig> {
        match ctx.storage.get("config").await? {
            Some(bytes) => decode(&bytes),
            None => Ok(EngineConfig::default()),
        }
    }

    /// The secret's metadata (and its stored bytes, for compare-and-swap), in the current layout:
    /// a secret still in the FNV layout is moved first.
    async fn meta(&self, ctx: &Context, path: &str) -> Result<Option<(KeyMeta, Vec<u8>)>> {
        for _ in 0..CAS_ATTEMPTS {
            let Some(bytes) = ctx.storage.get(&meta_key(path)).await? else {
                return Ok(None);
            };
            let meta: KeyMeta = decode(&bytes)?;
            match meta.layout {
                LAYOUT_KEYED => return Ok(Some((meta, bytes))),
                LAYOUT_FNV => self.migrate(ctx, path, meta, bytes).await?,
                _ => {
                    return Err(LogicalError::Internal(
                        "a kv v2 metadata record has an unknown layout".into(),
                    ));
                }
            }
        }
        Err(LogicalError::Internal(
            "kv v2 migration under heavy contention".into(),
        ))
    }

    /// Moves a [`LAYOUT_FNV`] secret's version records to its keyed segment, naming the path in
    /// each and fixing each version's scheduled deletion from the current settings (what the old
    /// code computed at read time). Returns once the metadata record no longer holds `old`
    /// (migrated here or by someone else, or changed: the caller reads it again).
    ///
    /// Crash safety: the new records are unreachable until the metadata record says
    /// [`LAYOUT_KEYED`], and every batch that writes them checks it still holds `old`, so a late
    /// copy cannot overwrite what happened after the switch. A secret that fits in one
    /// transaction moves in one (copies, switch and removal of the old records together).
    /// Otherwise a crash between the switch and the clean-up leaves old records no secret reads.
    async fn migrate(
        &self,
        ctx: &Context,
        path: &str,
        mut meta: KeyMeta,
        old: Vec<u8>,
    ) -> Result<()> {
        let config = self.config(ctx).await?;
        let records = self.records(ctx, path).await?;
        let mut copies = Vec::new();
        let mut removals = Vec::new();
        if meta.first_kept > 0 {
            for n in meta.first_kept..=meta.current_version {
                let (old_vmeta, old_data) =
                    (legacy_vmeta_key(path, n), legacy_version_key(path, n));
                if let Some(bytes) = ctx.storage.get(&old_vmeta).await? {
                    let mut state: VersionMeta = decode(&bytes)?;
                    if state.deletion_time.is_none() {
                        state.deletion_time = Some(Self::scheduled(&meta, &config, &state));
                    }
                    state.path = path.to_owned();
                    copies.push(Op::put(records.vmeta(n), encode(&state)?));
                }
                if let Some(bytes) = ctx.storage.get(&old_data).await? {
                    let data: Value = decode(&bytes)?;
                    let record = VersionDataOut { path, data: &data };
                    copies.push(Op::put(records.version(n), encode(&record)?));
                }
                removals.push(Op::delete(old_vmeta));
                removals.push(Op::delete(old_data));
            }
        }
        meta.layout = LAYOUT_KEYED;
        let check = Op::check(meta_key(path), Some(old));
        let switch = Op::put(meta_key(path), encode(&meta)?);
        let result = if copies.len() + removals.len() + 2 <= BATCH_OPS {
            let mut ops = vec![check];
            ops.append(&mut copies);
            ops.push(switch);
            ops.append(&mut removals);
            ctx.storage.transaction(ops).await
        } else {
            async {
                for chunk in copies.chunks(BATCH_OPS - 1) {
                    let mut ops = vec![check.clone()];
                    ops.extend_from_slice(chunk);
                    ctx.storage.transaction(ops).await?;
                }
                ctx.storage.transaction(vec![check, switch]).await?;
                for chunk in removals.chunks(BATCH_OPS) {
                    ctx.storage.transaction(chunk.to_vec()).await?;
                }
                Ok(())
            }
            .await
        };
        match result {
            Ok(()) | Err(StorageError::CheckFailed { .. } | StorageError::Conflict) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The version's scheduled deletion: the stored one, or for a record written before it was
    /// stored, the one computed from the current settings (see [`VersionMeta::deletion_time`]).
    fn scheduled(meta: &KeyMeta, config: &EngineConfig, version: &VersionMeta) -> Option<u128> {
        version.deletion_time.unwrap_or_else(|| {
            scheduled_deletion(version.created, meta.delete_version_after, config)
        })
    }

    /// When the version stops being readable: the earlier of its soft delete and its scheduled
    /// deletion (as Vault's single `deletion_time`).
    fn deleted_at(meta: &KeyMeta, config: &EngineConfig, version: &VersionMeta) -> Option<u128> {
        match (version.deleted, Self::scheduled(meta, config, version)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A version's metadata as the data endpoints return it. `deletion_time` is the soft delete,
    /// or the stored scheduled one when `delete_version_after` applied (as Vault shows it).
    fn version_json(
        meta: &KeyMeta,
        config: &EngineConfig,
        number: u64,
        version: &VersionMeta,
    ) -> Value {
        let deletion = Self::deleted_at(meta, config, version).map_or(String::new(), rfc3339_nanos);
        // Built field by field: `json!` would copy each value through the serializer.
        let mut out = Map::new();
        out.insert("created_time".into(), rfc3339_nanos(version.created).into());
        out.insert("custom_metadata".into(), custom_json(meta));
        out.insert("deletion_time".into(), deletion.into());
        out.insert("destroyed".into(), version.destroyed.into());
        out.insert("version".into(), number.into());
        Value::Object(out)
    }

    /// The state of version `number`, if it is kept. A record naming another path is an error.
    async fn version_meta(
        &self,
        ctx: &Context,
        records: &Records,
        path: &str,
        meta: &KeyMeta,
        number: u64,
    ) -> Result<Option<VersionMeta>> {
        if meta.first_kept == 0 || number < meta.first_kept || number > meta.current_version {
            return Ok(None);
        }
        match ctx.storage.get(&records.vmeta(number)).await? {
            Some(bytes) => {
                let state: VersionMeta = decode(&bytes)?;
                if state.path != path {
                    return Err(not_owned());
                }
                Ok(Some(state))
            }
            None => Ok(None),
        }
    }

    /// The data of version `number`. A record naming another path is an error.
    async fn version_data(
        &self,
        ctx: &Context,
        records: &Records,
        path: &str,
        number: u64,
    ) -> Result<Option<Value>> {
        match ctx.storage.get(&records.version(number)).await? {
            Some(bytes) => {
                let record: VersionData = decode(&bytes)?;
                if record.path != path {
                    return Err(not_owned());
                }
                Ok(Some(record.data))
            }
            None => Ok(None),
        }
    }

    async fn metadata_json(
        &self,
        ctx: &Context,
        path: &str,
        meta: &KeyMeta,
        config: &EngineConfig,
    ) -> Result<Map<String, Value>> {
        let mut versions = Map::new();
        if meta.first_kept > 0 {
            let records = self.records(ctx, path).await?;
            for n in meta.first_kept..=meta.current_version {
                let Some(v) = self.version_meta(ctx, &records, path, meta, n).await? else {
                    continue;
                };
                let deletion =
                    Self::deleted_at(meta, config, &v).map_or(String::new(), rfc3339_nanos);
                versions.insert(
                    n.to_string(),
                    json!({
                        "created_time": rfc3339_nanos(v.created),
                        "deletion_time": deletion,
                        "destroyed": v.destroyed,
                    }),
                );
            }
        }
        Ok(object(json!({
            "cas_required": meta.cas_required,
            "created_time": rfc3339_nanos(meta.created),
            "current_metadata_version": meta.metadata_version,
            "current_version": meta.current_version,
            "custom_metadata": custom_json(meta),
            "delete_version_after": duration_text(meta.delete_version_after),
            "max_versions": meta.max_versions,
            "metadata_cas_required": false,
            "oldest_version": meta.oldest_version,
            "updated_time": rfc3339_nanos(meta.updated),
            "versions": versions,
        })))
    }

    /// Writes a new version under check-and-set rules: the given data, or (patch) the latest
    /// data with `patch` merged in.
    async fn write_version(
        &self,
        ctx: &Context,
        path: &str,
        cas: Option<u64>,
        patch: Option<&Value>,
        data: Option<Map<String, Value>>,
    ) -> Result<Response> {
        let config = self.config(ctx).await?;
        let records = self.records(ctx, path).await?;
        for _ in 0..CAS_ATTEMPTS {
            let now = nanos(ctx.now);
            let existing = self.meta(ctx, path).await?;
            let (mut meta, old_bytes) = match existing {
                Some((meta, bytes)) => (meta, Some(bytes)),
                None => (KeyMeta::new(now), None),
            };
            if (meta.cas_required || config.cas_required) && cas.is_none() {
                return Err(invalid("check-and-set parameter required for this call"));
            }
            if let Some(cas) = cas
                && cas != meta.current_version
            {
                return Err(invalid(
                    "check-and-set parameter did not match the current version",
                ));
            }
            let new_data = match (patch, &data) {
                (Some(patch), _) => {
                    let latest = meta.current_version;
                    let live = self
                        .version_meta(ctx, &records, path, &meta, latest)
                        .await?
                        .filter(|v| {
                            !v.destroyed
                                && Self::deleted_at(&meta, &config, v).is_none_or(|d| d > now)
                        });
                    if live.is_none() {
                        return Ok(Response::empty()); // 404: nothing to patch
                    }
                    let Some(mut current) = self.version_data(ctx, &records, path, latest).await?
                    else {
                        return Ok(Response::empty());
                    };
                    merge_patch(&mut current, patch);
                    object(current)
                }
                (None, Some(data)) => data.clone(),
                (None, None) => return Err(invalid("no data provided")),
            };
            let version = meta.current_version + 1;
            meta.current_version = version;
            meta.updated = now;
            if meta.first_kept == 0 {
                meta.first_kept = version;
            }
            // As OpenBao: the larger of the key's and the engine's setting, 10 when neither is set
            // (recorded against OpenBao 2.7.2 in compat/kv2).
            let max = match meta.max_versions.max(config.max_versions) {
                0 => DEFAULT_MAX_VERSIONS,
                n => n,
            };
            let mut ops = Vec::new();
            while version - meta.first_kept + 1 > max {
                ops.push(Op::delete(records.version(meta.first_kept)));
                ops.push(Op::delete(records.vmeta(meta.first_kept)));
                meta.first_kept += 1;
                meta.oldest_version = meta.first_kept;
            }
            let deletion = scheduled_deletion(now, meta.delete_version_after, &config);
            let state = VersionMeta {
                created: now,
                deleted: None,
                destroyed: false,
                deletion_time: Some(deletion),
                path: path.to_owned(),
            };
            ops.push(Op::check(meta_key(path), old_bytes));
            ops.push(Op::put(meta_key(path), encode(&meta)?));
            ops.push(Op::put(records.vmeta(version), encode(&state)?));
            let data = Value::Object(new_data);
            let record = VersionDataOut { path, data: &data };
            ops.push(Op::put(records.version(version), encode(&record)?));
            match ctx.storage.transaction(ops).await {
                Ok(()) => {
                    return Ok(Response::with_data(object(json!({
                        "created_time": rfc3339_nanos(now),
                        "custom_metadata": custom_json(&meta),
                        "deletion_time": deletion.map_or(String::new(), rfc3339_nanos),
                        "destroyed": false,
                        "version": version,
                    }))));
                }
                Err(StorageError::CheckFailed { .. } | StorageError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(LogicalError::Internal(
            "kv v2 write under heavy contention".into(),
        ))
    }

    /// Applies `change` to the state of the listed versions; destroying also drops the version's
    /// data.
    async fn change_versions(
        &self,
        ctx: &Context,
        path: &str,
        versions: &[u64],
        change: Change,
    ) -> Result<Response> {
        let config = self.config(ctx).await?;
        for _ in 0..CAS_ATTEMPTS {
            let now = nanos(ctx.now);
            let Some((meta, bytes)) = self.meta(ctx, path).await? else {
                return Ok(Response::empty());
            };
            let records = self.records(ctx, path).await?;
            // Version state changes do not count as updates of the secret (as OpenBao).
            let mut ops = vec![Op::check(meta_key(path), Some(bytes))];
            // Only versions the secret keeps can change: the rest are skipped without a read.
            let kept = meta.first_kept.max(1)..=meta.current_version;
            for &number in versions.iter().filter(|n| kept.contains(n)) {
                let Some(mut state) = self
                    .version_meta(ctx, &records, path, &meta, number)
                    .await?
                else {
                    continue;
                };
                // A record from before the scheduled time was stored keeps the one it had.
                if state.deletion_time.is_none() {
                    state.deletion_time = Some(Self::scheduled(&meta, &config, &state));
                }
                match change {
                    Change::Delete => {
                        if state.deleted.is_none() && !state.destroyed {
                            state.deleted = Some(now);
                        }
                    }
                    // As Vault: the deletion time is cleared and scheduled afresh from now under
                    // the current settings (undelete is the one way to move it).
                    Change::Undelete => {
                        if !state.destroyed {
                            state.deleted = None;
                            state.deletion_time =
                                Some(scheduled_deletion(now, meta.delete_version_after, &config));
                        }
                    }
                    Change::Destroy => {
                        state.destroyed = true;
                        ops.push(Op::delete(records.version(number)));
                    }
                }
                ops.push(Op::put(records.vmeta(number), encode(&state)?));
            }
            match ctx.storage.transaction(ops).await {
                Ok(()) => return Ok(Response::empty()),
                Err(StorageError::CheckFailed { .. } | StorageError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(LogicalError::Internal(
            "kv v2 update under heavy contention".into(),
        ))
    }

    /// Reads version `requested` (0 or less: the latest, as Vault) of the secret at `path`.
    async fn read(&self, ctx: &Context, path: &str, requested: i64) -> Result<Response> {
        let requested = u64::try_from(requested).unwrap_or(0);
        let Some((meta, _)) = self.meta(ctx, path).await? else {
            return Ok(Response::empty());
        };
        let number = if requested == 0 {
            meta.current_version
        } else {
            requested
        };
        let records = self.records(ctx, path).await?;
        let Some(state) = self
            .version_meta(ctx, &records, path, &meta, number)
            .await?
        else {
            return Ok(Response::empty());
        };
        let version = &state;
        // Three lookups: every record of the current layout carries its scheduled deletion, so
        // the engine config is only read for one that does not.
        let config = match version.deletion_time {
            Some(_) => EngineConfig::default(),
            None => self.config(ctx).await?,
        };
        let now = nanos(ctx.now);
        let metadata = Self::version_json(&meta, &config, number, version);
        let gone = version.destroyed
            || Self::deleted_at(&meta, &config, version).is_some_and(|d| d <= now);
        if gone {
            let mut response =
                Response::with_data(object(json!({"data": null, "metadata": metadata})));
            response.not_found = true;
            return Ok(response);
        }
        let Some(value) = self.version_data(ctx, &records, path, number).await? else {
            return Ok(Response::empty());
        };
        let mut out = Map::new();
        out.insert("data".into(), value);
        out.insert("metadata".into(), metadata);
        Ok(Response::with_data(out))
    }

    async fn write_metadata(
        &self,
        ctx: &Context,
        path: &str,
        input: MetadataInput,
        patch: bool,
    ) -> Result<Response> {
        let MetadataInput {
            max_versions,
            cas_required,
            delete_version_after: delete_after,
            custom_metadata: custom,
        } = input;
        for _ in 0..CAS_ATTEMPTS {
            let now = nanos(ctx.now);
            let existing = self.meta(ctx, path).await?;
            if patch && existing.is_none() {
                return Ok(Response::empty());
            }
            let (mut meta, old) = match existing {
                Some((meta, bytes)) => (meta, Some(bytes)),
                None => (KeyMeta::new(now), None),
            };
            if let Some(v) = max_versions {
                meta.max_versions = v;
            }
            if let Some(v) = cas_required {
                meta.cas_required = v;
            }
            if let Some(v) = delete_after {
                meta.delete_version_after = v;
            }
            if let Some(custom) = &custom {
                if !patch {
                    meta.custom_metadata.clear();
                }
                for (key, value) in custom {
                    match value {
                        Some(value) => {
                            meta.custom_metadata.insert(key.clone(), value.clone());
                        }
                        // A merge patch removes a key set to null; a write stores "" (as Vault).
                        None if patch => {
                            meta.custom_metadata.remove(key);
                        }
                        None => {
                            meta.custom_metadata.insert(key.clone(), String::new());
                        }
                    }
                }
            }
            meta.updated = now;
            meta.metadata_version += 1;
            let ops = vec![
                Op::check(meta_key(path), old),
                Op::put(meta_key(path), encode(&meta)?),
            ];
            match ctx.storage.transaction(ops).await {
                Ok(()) => return Ok(Response::empty()),
                Err(StorageError::CheckFailed { .. } | StorageError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(LogicalError::Internal(
            "kv v2 metadata under heavy contention".into(),
        ))
    }

    async fn delete_metadata(&self, ctx: &Context, path: &str) -> Result<Response> {
        for _ in 0..CAS_ATTEMPTS {
            let Some((meta, bytes)) = self.meta(ctx, path).await? else {
                return Ok(Response::empty());
            };
            let mut ops = Vec::new();
            if meta.first_kept > 0 {
                let records = self.records(ctx, path).await?;
                for n in meta.first_kept..=meta.current_version {
                    ops.push(Op::delete(records.version(n)));
                    ops.push(Op::delete(records.vmeta(n)));
                }
            }
            // The metadata record goes last, in the last batch, checked to be the one read: a
            // version written meanwhile makes the delete start over (and go too), instead of
            // surviving unreachable in storage.
            let last = [
                Op::check(meta_key(path), Some(bytes)),
                Op::delete(meta_key(path)),
            ];
            let result = if ops.len() + last.len() <= 512 {
                ops.extend(last);
                ctx.storage.transaction(ops).await
            } else {
                for chunk in ops.chunks(512) {
                    ctx.storage.transaction(chunk.to_vec()).await?;
                }
                ctx.storage.transaction(last.to_vec()).await
            };
            match result {
                Ok(()) => return Ok(Response::empty()),
                Err(StorageError::CheckFailed { .. }) => continue,
                Err(err) => return Err(err.into()),
            }
        }
        Err(LogicalError::Internal(
            "the secret kept changing while it was deleted; try again".into(),
        ))
    }

    /// The engine's endpoints (routing, existence checks, help, OpenAPI).
    pub fn endpoint_declarations(&self) -> &Endpoints<Self> {
        &self.endpoints
    }

    /// Handles a request to a KV v2 mount.
    ///
    /// # Errors
    ///
    /// Vault's errors for KV v2 (invalid versions, non-object data, check-and-set mismatches).
    pub async fn handle(&self, ctx: &Context, request: Request) -> Result<Response> {
        self.endpoints.handle(self, ctx, request).await
    }

    /// Whether the write target exists (create vs update in policies): for `data/<path>` and
    /// `metadata/<path>` the secret's metadata; `config` declares no check (a write is an update).
    ///
    /// # Errors
    ///
    /// A storage error; a field that does not convert.
    pub async fn exists(&self, ctx: &Context, request: &Request) -> Result<Option<bool>> {
        self.endpoints.exists(self, ctx, request).await
    }

    async fn secret_exists(&self, ctx: &Context, fields: Fields<'_>) -> Result<bool> {
        let path: &str = fields.get("path")?;
        if path.is_empty() || path.ends_with('/') {
            return Ok(false);
        }
        Ok(ctx.storage.get(&meta_key(path)).await?.is_some())
    }

    async fn config_read(&self, ctx: &Context, _fields: Fields<'_>) -> Result<Response> {
        let config = self.config(ctx).await?;
        Ok(Response::with_data(object(json!({
            "max_versions": config.max_versions,
            "cas_required": config.cas_required,
            "delete_version_after": if config.delete_version_after_disabled {
                "-1s".to_owned()
            } else {
                duration_text(config.delete_version_after)
            },
            "metadata_cas_required": false,
        }))))
    }

    async fn config_write(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let mut config = self.config(ctx).await?;
        if let Some(v) = fields.get_ok::<u64>("max_versions")? {
            config.max_versions = v;
        }
        if let Some(v) = fields.get_ok::<bool>("cas_required")? {
            config.cas_required = v;
        }
        // Vault's signed duration: negative disables, zero clears, positive sets.
        if let Some(seconds) = fields.get_ok::<i64>("delete_version_after")? {
            match u64::try_from(seconds) {
                Err(_) => {
                    config.delete_version_after = 0;
                    config.delete_version_after_disabled = true;
                }
                Ok(v) => {
                    config.delete_version_after = v;
                    config.delete_version_after_disabled = false;
                }
            }
        }
        ctx.storage.put("config", encode(&config)?).await?;
        Ok(Response::empty())
    }

    async fn data_read(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        self.read(ctx, fields.get("path")?, fields.get("version")?)
            .await
    }

    async fn data_write(&self, ctx: &Context, mut fields: Fields<'_>) -> Result<Response> {
        let cas = cas_option(&fields)?;
        let Some(data) = fields.take_map("data")? else {
            return Err(invalid("no data provided"));
        };
        self.write_version(ctx, fields.get("path")?, cas, None, Some(data))
            .await
    }

    async fn data_patch(&self, ctx: &Context, mut fields: Fields<'_>) -> Result<Response> {
        let cas = cas_option(&fields)?;
        let Some(patch) = fields.take_map("data")? else {
            return Err(invalid("no data provided"));
        };
        let patch = Value::Object(patch);
        self.write_version(ctx, fields.get("path")?, cas, Some(&patch), None)
            .await
    }

    async fn data_delete(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let path: &str = fields.get("path")?;
        let Some((meta, _)) = self.meta(ctx, path).await? else {
            return Ok(Response::empty());
        };
        let latest = [meta.current_version];
        self.change_versions(ctx, path, &latest, Change::Delete)
            .await
    }

    async fn versions_delete(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let versions = versions(&fields)?;
        self.change_versions(ctx, fields.get("path")?, &versions, Change::Delete)
            .await
    }

    async fn versions_undelete(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let versions = versions(&fields)?;
        self.change_versions(ctx, fields.get("path")?, &versions, Change::Undelete)
            .await
    }

    async fn versions_destroy(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let versions = versions(&fields)?;
        self.change_versions(ctx, fields.get("path")?, &versions, Change::Destroy)
            .await
    }

    async fn metadata_list(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let key: &str = fields.get("path")?;
        let folder = if key.is_empty() || key.ends_with('/') {
            format!("metadata/{key}")
        } else {
            format!("metadata/{key}/")
        };
        let keys = ctx.storage.list(&folder).await?;
        if keys.is_empty() {
            return Ok(Response::empty());
        }
        Ok(Response::list(keys))
    }

    async fn metadata_read(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let key = secret_path(&fields)?;
        let config = self.config(ctx).await?;
        match self.meta(ctx, key).await? {
            Some((meta, _)) => Ok(Response::with_data(
                self.metadata_json(ctx, key, &meta, &config).await?,
            )),
            None => Ok(Response::empty()),
        }
    }

    async fn metadata_write(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let key = secret_path(&fields)?;
        let input = MetadataInput::from_fields(&fields)?;
        self.write_metadata(ctx, key, input, false).await
    }

    async fn metadata_patch(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let key = secret_path(&fields)?;
        let input = MetadataInput::from_fields(&fields)?;
        self.write_metadata(ctx, key, input, true).await
    }

    async fn metadata_delete(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let key = secret_path(&fields)?;
        self.delete_metadata(ctx, key).await
    }

    async fn subkeys_read(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let depth: u64 = fields.get("depth")?;
        let read = self
            .read(ctx, fields.get("path")?, fields.get("version")?)
            .await?;
        if read.not_found || read.data.is_none() {
            return Ok(read);
        }
        let mut body = read.data.unwrap_or_default();
        let value = body.remove("data").unwrap_or(Value::Null);
        let metadata = body.remove("metadata").unwrap_or(Value::Null);
        Ok(Response::with_data(object(json!({
            "subkeys": subkeys(&value, depth, 0),
            "metadata": metadata,
        }))))
    }
}

const SECRET_PATH: &str = "Location of the secret.";

/// The engine's endpoints, as OpenBao's KV v2 plugin declares them (its fields, types and help).
fn declarations() -> Endpoints<KvV2> {
    let path = || Field::new(FieldType::String, SECRET_PATH);
    let versions = |what: &str| Field::new(FieldType::CommaIntSlice, what);
    Endpoints::new(
        KV2_HELP,
        vec![
            Endpoint::<KvV2>::new("config")
                .field(
                    "max_versions",
                    Field::new(
                        FieldType::Int,
                        "The number of versions to keep for each key. Defaults to 10",
                    ),
                )
                .field(
                    "cas_required",
                    Field::new(
                        FieldType::Bool,
                        "If true, the backend will require the cas parameter to be set for \
                         each write",
                    ),
                )
                .field(
                    "delete_version_after",
                    Field::new(
                        FieldType::SignedDurationSecond,
                        "If set, the length of time before a version is deleted. A negative \
                         duration disables the use of delete_version_after on all keys. A zero \
                         duration clears the current setting. Accepts a Go duration format \
                         string.",
                    ),
                )
                .read(|kv, ctx, f| Box::pin(kv.config_read(ctx, f)))
                .write(|kv, ctx, f| Box::pin(kv.config_write(ctx, f)))
                .synopsis("Configures settings for the KV store")
                .description(
                    "This path configures backend level settings that are applied to every key \
                     in the key-value store.",
                ),
            Endpoint::<KvV2>::new("data/{path+}")
                .field("path", path())
                .field(
                    "version",
                    Field::new(
                        FieldType::Int,
                        "If provided during a read, the value at the version number will be \
                         returned",
                    ),
                )
                .field(
                    "options",
                    Field::new(
                        FieldType::Map,
                        "Options for writing a KV entry. Set the \"cas\" value to use a \
                         Check-And-Set operation. If not set the write will be allowed. If set \
                         to 0 a write will only be allowed if the key doesn't exist. If the \
                         index is non-zero the write will only be allowed if the key's current \
                         version matches the version specified in the cas parameter.",
                    ),
                )
                .field(
                    "data",
                    Field::new(
                        FieldType::Map,
                        "The contents of the data map will be stored and returned on read.",
                    ),
                )
                .read(|kv, ctx, f| Box::pin(kv.data_read(ctx, f)))
                .write(|kv, ctx, f| Box::pin(kv.data_write(ctx, f)))
                .patch(|kv, ctx, f| Box::pin(kv.data_patch(ctx, f)))
                .delete(|kv, ctx, f| Box::pin(kv.data_delete(ctx, f)))
                .exists(|kv, ctx, f| Box::pin(kv.secret_exists(ctx, f)))
                .synopsis("Write, Patch, Read, and Delete data in the Key-Value Store.")
                .description(
                    "This path takes a key name and based on the operation stores, retrieves or \
                     deletes versions of data. If a write operation is used the endpoint takes \
                     an options object and a data object.",
                ),
            Endpoint::<KvV2>::new("metadata/{path*}")
                .field("path", path())
                .field(
                    "cas_required",
                    Field::new(
                        FieldType::Bool,
                        "If true the key will require the cas parameter to be set on all write \
                         requests. If false, the backend's configuration will be used.",
                    ),
                )
                .field(
                    "max_versions",
                    Field::new(
                        FieldType::Int,
                        "The number of versions to keep. If not set, the backend's configured \
                         max version is used.",
                    ),
                )
                .field(
                    "delete_version_after",
                    Field::new(
                        FieldType::DurationSecond,
                        "The length of time before a version is deleted. If not set, the \
                         backend's configured delete_version_after is used. A zero duration \
                         clears the current setting. A negative duration will cause an error.",
                    ),
                )
                .field(
                    "custom_metadata",
                    Field::new(
                        FieldType::Map,
                        "User-provided key-value pairs that are used to describe arbitrary and \
                         version-agnostic information about a secret.",
                    ),
                )
                .read(|kv, ctx, f| Box::pin(kv.metadata_read(ctx, f)))
                .write(|kv, ctx, f| Box::pin(kv.metadata_write(ctx, f)))
                .patch(|kv, ctx, f| Box::pin(kv.metadata_patch(ctx, f)))
                .delete(|kv, ctx, f| Box::pin(kv.metadata_delete(ctx, f)))
                .list(|kv, ctx, f| Box::pin(kv.metadata_list(ctx, f)))
                .exists(|kv, ctx, f| Box::pin(kv.secret_exists(ctx, f)))
                .synopsis("Allows interaction with key metadata and settings in the KV store.")
                .description(
                    "This endpoint allows for reading, information about a key in the key-value \
                     store, writing key settings, and permanently deleting a key and all \
                     versions.",
                ),
            Endpoint::<KvV2>::new("delete/{path+}")
                .field("path", path())
                .field(
                    "versions",
                    versions(
                        "The versions to be archived. The versioned data will not be deleted, \
                         but it will no longer be returned in normal get requests.",
                    ),
                )
                .write(|kv, ctx, f| Box::pin(kv.versions_delete(ctx, f)))
                .synopsis("Marks one or more versions as deleted in the KV store."),
            Endpoint::<KvV2>::new("undelete/{path+}")
                .field("path", path())
                .field(
                    "versions",
                    versions(
                        "The versions to unarchive. The versions will be restored and their \
                         data will be returned on normal get requests.",
                    ),
                )
                .write(|kv, ctx, f| Box::pin(kv.versions_undelete(ctx, f)))
                .synopsis("Undeletes one or more versions from the KV store."),
            Endpoint::<KvV2>::new("destroy/{path+}")
                .field("path", path())
                .field("versions", versions("The versions to destroy. Their data will be permanently deleted."))
                .write(|kv, ctx, f| Box::pin(kv.versions_destroy(ctx, f)))
                .synopsis("Permanently removes one or more versions in the KV store"),
            Endpoint::<KvV2>::new("subkeys/{path+}")
                .field("path", path())
                .field(
                    "version",
                    Field::new(
                        FieldType::Int,
                        "Specifies which version to retrieve. If not provided, the current \
                         version will be used.",
                    ),
                )
                .field(
                    "depth",
                    Field::new(
                        FieldType::Int,
                        "Specifies the depth of keys to retrieve; 0 (the default) means all \
                         levels.",
                    ),
                )
                .read(|kv, ctx, f| Box::pin(kv.subkeys_read(ctx, f)))
                .synopsis("Read the structure of a secret entry from the Key-Value store with the values removed."),
        ],
    )
}

const KV2_HELP: &str = "The kv backend reads and writes versioned secrets: each write makes a new \
                        version, kept up to max_versions, with check-and-set, soft delete, \
                        undelete and destroy.";

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "test code")]
mod tests {
    use super::*;

    /// Version keys are stored: the hash must print exactly as it always has (`{:032x}` of the
    /// FNV-1a value), or existing versions would not be found.
    #[test]
    fn path_hash_is_stable() {
        assert_eq!(path_hash(""), "6c62272e07bb014262b821756295c58d");
        for path in ["a", "app/db", "é/ü/x", &"p".repeat(300)] {
            let mut hash: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
            for byte in path.bytes() {
                hash ^= u128::from(byte);
                hash = hash.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013B);
            }
            assert_eq!(path_hash(path), format!("{hash:032x}"));
        }
    }

    proptest::proptest! {
        /// Vault's `deletionTime`: the smaller non-zero setting wins; none when both are zero or
        /// the engine disabled it; never before the start.
        #[test]
        fn scheduled_deletion_is_the_min_rule(
            from in 0u128..(1u128 << 100),
            key in proptest::prop_oneof![proptest::strategy::Just(0u64), 0u64..10_000_000],
            mount in proptest::prop_oneof![proptest::strategy::Just(0u64), 0u64..10_000_000],
            disabled: bool,
        ) {
            let config = EngineConfig {
                delete_version_after: mount,
                delete_version_after_disabled: disabled,
                ..EngineConfig::default()
            };
            let got = scheduled_deletion(from, key, &config);
            let expected = if disabled {
                None
            } else {
                [key, mount].into_iter().filter(|&s| s > 0).min()
            };
            proptest::prop_assert_eq!(got, expected.map(|s| from + u128::from(s) * 1_000_000_000));
        }
    }

    /// Records written before the scheduled deletion was stored decode with it missing (computed
    /// from the settings), records written now keep an explicit "none".
    #[test]
    fn version_meta_tells_missing_from_none() {
        let old: VersionMeta =
            serde_json::from_str(r#"{"created":5,"deleted":null,"destroyed":false}"#).unwrap();
        assert_eq!(old.deletion_time, None);
        let none = VersionMeta {
            deletion_time: Some(None),
            ..VersionMeta::default()
        };
        let back: VersionMeta = serde_json::from_slice(&encode(&none).unwrap()).unwrap();
        assert_eq!(back.deletion_time, Some(None));
        let some = VersionMeta {
            deletion_time: Some(Some(7)),
            ..VersionMeta::default()
        };
        let back: VersionMeta = serde_json::from_slice(&encode(&some).unwrap()).unwrap();
        assert_eq!(back.deletion_time, Some(Some(7)));
    }

    fn fixed_key() -> PathKey {
        let mut key = Box::new(Zeroizing::new([0u8; 32]));
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::try_from(i).unwrap();
        }
        PathKey(key)
    }

    /// Known answer: HMAC-SHA256 with the key 00 01 .. 1f over "app/db" (Python's `hmac`).
    #[test]
    fn segment_is_hmac_sha256_hex() {
        assert_eq!(
            fixed_key().segment("app/db"),
            "a473d970f0a68a5e92b9c192074a6e9df22b23f4dc6779a5b90f2bdb6426d490"
        );
        let key = PathKey::generate().unwrap();
        assert_ne!(key.segment("a"), key.segment("b"));
        assert_ne!(key.segment("a"), PathKey::generate().unwrap().segment("a"));
    }

    #[test]
    fn salt_record_round_trips_and_refuses_nonsense() {
        let key = fixed_key();
        let bytes = key.encode().unwrap();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(text.contains("\"layout\":1"), "{text}");
        assert_eq!(
            PathKey::decode(&bytes).unwrap().segment("x"),
            key.segment("x")
        );
        let hex64 = "00".repeat(32);
        for bad in [
            format!(r#"{{"layout":2,"key":"{hex64}"}}"#),
            format!(r#"{{"layout":1,"key":"{}"}}"#, "0".repeat(63)),
            format!(r#"{{"layout":1,"key":"{}zz"}}"#, "00".repeat(31)),
            "not json".to_owned(),
        ] {
            let err = PathKey::decode(bad.as_bytes()).unwrap_err();
            assert!(!format!("{err}").contains(&hex64));
        }
    }

    #[test]
    fn path_keys_are_redacted() {
        let key = fixed_key();
        let shown = format!("{key:?}");
        assert_eq!(shown, "PathKey([REDACTED])");
        let engine = KvV2::new();
        engine.cache_key("logical/x/", fixed_key());
        let shown = format!("{engine:?}");
        assert!(shown.contains("REDACTED"), "{shown}");
        assert!(
            !shown.contains("000102") && !shown.contains("[0, 1, 2"),
            "{shown}"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(duration_text(0), "0s");
        assert_eq!(duration_text(3600), "1h0m0s");
        assert_eq!(duration_text(90), "1m30s");
    }

    #[test]
    fn merge_patch_is_rfc7396() {
        let mut target = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": 4});
        merge_patch(&mut target, &json!({"a": null, "b": {"c": 5}, "f": 6}));
        assert_eq!(target, json!({"b": {"c": 5, "d": 3}, "e": 4, "f": 6}));
    }

    #[test]
    fn subkeys_replace_leaves_with_null() {
        let value = json!({"a": {"b": 1, "c": {"d": 2}}, "e": "x"});
        assert_eq!(
            subkeys(&value, 0, 0),
            json!({"a": {"b": null, "c": {"d": null}}, "e": null})
        );
        assert_eq!(subkeys(&value, 1, 0), json!({"a": null, "e": null}));
    }
}
