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
use strongroom_logical::{
    Backend, Context, Endpoint, EndpointInfo, Endpoints, Field, FieldType, Fields, LogicalError,
    Request, Response,
};
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
///
/// Its paths are declared once on the path framework ([`Endpoints`]): routing, field types and
/// defaults (Vault's), the existence checks of `keys/<name>` and `encrypt/<name>`, help and the
/// OpenAPI document all come from those declarations.
#[derive(Debug)]
pub struct Transit {
    cache: Mutex<HashMap<(String, u32), Arc<Version>>>,
    endpoints: Endpoints<Transit>,
}

impl Default for Transit {
    fn default() -> Self {
        Self::new()
    }
}

impl Transit {
    /// The engine, with an empty version cache.
    pub fn new() -> Self {
        Self {
            cache: Mutex::default(),
            endpoints: declarations(),
        }
    }

    /// The engine's endpoints (for help, the OpenAPI document and the declarations' checks).
    pub fn endpoint_declarations(&self) -> &Endpoints<Self> {
        &self.endpoints
    }
}

/// The engine factory (no mount options).
///
/// # Errors
///
/// None today; the signature is the registry's.
pub fn factory(_options: &Map<String, Value>) -> Result<Arc<dyn Backend>> {
    Ok(Arc::new(Transit::new()))
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
        self.endpoints.handle(self, ctx, request).await
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
        self.endpoints.exists(self, ctx, request).await
    }

    fn is_unauthenticated(&self, path: &str) -> bool {
        self.endpoints.is_unauthenticated(path)
    }

    fn needs_sudo(&self, path: &str) -> bool {
        self.endpoints.needs_sudo(path)
    }

    fn endpoints(&self) -> &[EndpointInfo] {
        self.endpoints.infos()
    }
}

const HELP: &str = "The transit backend provides encryption as a service: it encrypts and \
                    decrypts data, signs and verifies it, computes HMACs and hashes, and \
                    generates data keys and random bytes, with named keys that never leave it.";

fn name_field() -> Field {
    Field::new(FieldType::String, "Name of the key")
}

fn context_field() -> Field {
    Field::new(
        FieldType::String,
        "Base64 encoded context for key derivation. Required if key derivation is enabled",
    )
}

fn key_version_field(what: &str) -> Field {
    Field::new(
        FieldType::Int,
        format!(
            "The version of the key to use for {what}. Must be 0 (for latest) or a value \
             greater than or equal to the min_encryption_version configured on the key."
        ),
    )
}

fn associated_data_field() -> Field {
    Field::new(
        FieldType::String,
        "When using an AEAD cipher mode, such as AES-GCM, this parameter allows passing \
         associated data (AD/AAD) into the encryption function; this data must be passed on \
         subsequent decryption requests but can be transited in plaintext.",
    )
}

fn batch_field(what: &str) -> Field {
    Field::new(
        FieldType::Slice,
        format!(
            "Specifies a list of items to be {what} in a single batch. When this parameter is \
             set, the single-item parameters are ignored. Any batch output will preserve the \
             order of the batch input. At most {MAX_BATCH_ITEMS} items."
        ),
    )
}

fn url_algorithm_field() -> Field {
    Field::new(
        FieldType::String,
        "Hash algorithm to use (POST URL parameter)",
    )
}

fn hash_algorithm_field() -> Field {
    Field::new(
        FieldType::String,
        "Hash algorithm to use (POST body parameter): sha2-256, sha2-384 or sha2-512. Defaults \
         to \"sha2-256\".",
    )
}

fn input_field() -> Field {
    Field::new(FieldType::String, "The base64-encoded input data")
}

fn datakey_kind_field() -> Field {
    Field::new(
        FieldType::String,
        "\"plaintext\" will return the key in both plaintext and ciphertext; \"wrapped\" will \
         return the ciphertext only.",
    )
}

fn datakey_name_field() -> Field {
    Field::new(
        FieldType::String,
        "The backend key used for encrypting the data key",
    )
}

/// Every transit endpoint, in routing order (first match wins).
fn declarations() -> Endpoints<Transit> {
    type E = Endpoint<Transit>;
    Endpoints::new(
        HELP,
        vec![
            E::new("keys/?")
                .list(|t, ctx, _| Box::pin(t.list_keys(ctx)))
                .synopsis("Managed named encryption keys")
                .description("This path lists the named keys that are available."),
            E::new("keys/{name}")
                .field("name", name_field())
                .field(
                    "type",
                    Field::new(
                        FieldType::String,
                        "The type of key to create: \"aes128-gcm96\", \"aes256-gcm96\", \
                         \"chacha20-poly1305\" (symmetric), \"ecdsa-p256\", \"ecdsa-p384\", \
                         \"ed25519\" (asymmetric) or \"hmac\". Defaults to \"aes256-gcm96\".",
                    )
                    .default("aes256-gcm96"),
                )
                .field(
                    "derived",
                    Field::new(
                        FieldType::Bool,
                        "Enables key derivation mode. This allows for per-transaction unique \
                         keys for encryption operations.",
                    ),
                )
                .field(
                    "convergent_encryption",
                    Field::new(
                        FieldType::Bool,
                        "Whether to support convergent encryption. This is only supported when \
                         using a key with key derivation enabled and will require all requests \
                         to carry a context.",
                    ),
                )
                .field(
                    "key_size",
                    Field::new(
                        FieldType::Int,
                        "The key size in bytes, for hmac keys: 32 (the only size offered).",
                    ),
                )
                .field(
                    "exportable",
                    Field::new(
                        FieldType::Bool,
                        "Enables keys to be exportable. This allows for all the valid keys in \
                         the key ring to be exported.",
                    ),
                )
                .field(
                    "allow_plaintext_backup",
                    Field::new(
                        FieldType::Bool,
                        "Enables taking a backup of the named key in plaintext format. Once \
                         set, this cannot be disabled.",
                    ),
                )
                .field(
                    "auto_rotate_period",
                    Field::new(
                        FieldType::DurationSecond,
                        "Amount of time the key should live before being automatically \
                         rotated. A value of 0 (default) disables automatic rotation for the \
                         key.",
                    )
                    .default(0),
                )
                .read(|t, ctx, f| Box::pin(t.read_key_at(ctx, f)))
                .write(|t, ctx, f| Box::pin(t.write_key(ctx, f)))
                .delete(|t, ctx, f| Box::pin(t.delete_key(ctx, f)))
                .exists(|t, ctx, f| Box::pin(t.key_exists(ctx, f)))
                .synopsis("Managed named encryption keys")
                .description(
                    "This path is used to manage the named keys that are available. Doing a \
                     write with no value against a new named key will create it using a \
                     randomly generated key.",
                ),
            E::new("keys/{name}/config")
                .field("name", name_field())
                .field(
                    "min_decryption_version",
                    Field::new(
                        FieldType::Int,
                        "If set, the minimum version of the key allowed to be decrypted. For \
                         signing keys, the minimum version allowed to be used for verification.",
                    ),
                )
                .field(
                    "min_encryption_version",
                    Field::new(
                        FieldType::Int,
                        "If set, the minimum version of the key allowed to be used for \
                         encryption; or for signing keys, to be used for signing. If set to \
                         zero, only the latest version of the key is allowed.",
                    ),
                )
                .field(
                    "deletion_allowed",
                    Field::new(FieldType::Bool, "Whether to allow deletion of the key"),
                )
                .field(
                    "exportable",
                    Field::new(
                        FieldType::Bool,
                        "Enables export of the key. Once set, this cannot be disabled.",
                    ),
                )
                .field(
                    "allow_plaintext_backup",
                    Field::new(
                        FieldType::Bool,
                        "Enables taking a backup of the named key in plaintext format. Once \
                         set, this cannot be disabled.",
                    ),
                )
                .field(
                    "auto_rotate_period",
                    Field::new(
                        FieldType::DurationSecond,
                        "Amount of time the key should live before being automatically \
                         rotated. A value of 0 disables automatic rotation for the key.",
                    ),
                )
                .write(|t, ctx, f| Box::pin(t.configure(ctx, f)))
                .synopsis("Configure a named encryption key")
                .description(
                    "This path is used to configure the named key: the minimum versions \
                     allowed for decryption and encryption, deletion, exportability, \
                     plaintext backup and automatic rotation.",
                ),
            E::new("keys/{name}/rotate")
                .field("name", name_field())
                .write(|t, ctx, f| Box::pin(t.rotate(ctx, f)))
                .synopsis("Rotate named encryption key")
                .description(
                    "This path is used to rotate the named key. After rotation, new \
                     encryption requests using this name will use the new key, but decryption \
                     will still be supported for older versions.",
                ),
            E::new("keys/{name}/trim")
                .field("name", name_field())
                .field(
                    "min_available_version",
                    Field::new(
                        FieldType::Int,
                        "The minimum available version for the key ring. All versions before \
                         this version will be permanently deleted. This value can at most be \
                         equal to the lesser of min_decryption_version and \
                         min_encryption_version.",
                    ),
                )
                .write(|t, ctx, f| Box::pin(t.trim(ctx, f)))
                .synopsis("Trim key versions of a named key")
                .description(
                    "This path is used to trim key versions of a named key. Trimming only \
                     happens from the lower end of version numbers.",
                ),
            E::new("encrypt/{name}")
                .field("name", name_field())
                .field(
                    "plaintext",
                    Field::new(
                        FieldType::String,
                        "Base64 encoded plaintext value to be encrypted",
                    ),
                )
                .field("context", context_field())
                .field(
                    "type",
                    Field::new(
                        FieldType::String,
                        "This parameter is required when encryption key is expected to be \
                         created. When performing an upsert operation, the type of key to \
                         create. Defaults to \"aes256-gcm96\".",
                    )
                    .default("aes256-gcm96"),
                )
                .field(
                    "convergent_encryption",
                    Field::new(
                        FieldType::Bool,
                        "This parameter will only be used when a key is expected to be \
                         created. Whether to support convergent encryption. This is only \
                         supported when using a key with key derivation enabled.",
                    ),
                )
                .field("key_version", key_version_field("encryption"))
                .field("associated_data", associated_data_field())
                .field("batch_input", batch_field("encrypted"))
                .write(|t, ctx, f| Box::pin(t.encrypt(ctx, f)))
                .exists(|t, ctx, f| Box::pin(t.key_exists(ctx, f)))
                .synopsis(
                    "Encrypt a plaintext value or a batch of plaintext blocks using a named key",
                )
                .description(
                    "This path uses the named key from the request path to encrypt a user \
                     provided plaintext or a batch of plaintext blocks. The plaintext must be \
                     base64 encoded.",
                ),
            E::new("decrypt/{name}")
                .field("name", name_field())
                .field(
                    "ciphertext",
                    Field::new(
                        FieldType::String,
                        "The ciphertext to decrypt, provided as returned by encrypt.",
                    ),
                )
                .field("context", context_field())
                .field("associated_data", associated_data_field())
                .field("batch_input", batch_field("decrypted"))
                .write(|t, ctx, f| Box::pin(t.decrypt(ctx, f)))
                .synopsis("Decrypt a ciphertext value using a named key")
                .description(
                    "This path uses the named key from the request path to decrypt a user \
                     provided ciphertext. The plaintext is returned base64 encoded.",
                ),
            E::new("rewrap/{name}")
                .field("name", name_field())
                .field(
                    "ciphertext",
                    Field::new(FieldType::String, "Ciphertext value to rewrap"),
                )
                .field("context", context_field())
                .field("associated_data", associated_data_field())
                .field("key_version", key_version_field("encryption"))
                .field("batch_input", batch_field("rewrapped"))
                .write(|t, ctx, f| Box::pin(t.rewrap(ctx, f)))
                .synopsis("Rewrap ciphertext")
                .description(
                    "After key rotation, this function can be used to rewrap the given \
                     ciphertext or a batch of given ciphertext blocks with the latest version \
                     of the named key.",
                ),
            E::new("datakey/{plaintext}/{name}")
                .field("plaintext", datakey_kind_field())
                .field("name", datakey_name_field())
                .field("context", context_field())
                .field("associated_data", associated_data_field())
                .field(
                    "bits",
                    Field::new(
                        FieldType::Int,
                        "Number of bits for the key; currently 128, 256, and 512 bits are \
                         supported. Defaults to 256.",
                    )
                    .default(256),
                )
                .field(
                    "key_version",
                    key_version_field("encryption of the data key"),
                )
                .write(|t, ctx, f| Box::pin(t.datakey(ctx, f, false)))
                .synopsis("Generate a data key")
                .description(
                    "This path can be used to generate a data key: a random key of a certain \
                     length that can be used for encryption and decryption, protected by the \
                     named backend key.",
                ),
            E::new("datakey/{plaintext}/{name}/{bits}")
                .field("plaintext", datakey_kind_field())
                .field("name", datakey_name_field())
                .field(
                    "bits",
                    Field::new(
                        FieldType::String,
                        "Number of bits for the key (URL parameter): 128, 256 or 512.",
                    ),
                )
                .field("context", context_field())
                .field("associated_data", associated_data_field())
                .field(
                    "key_version",
                    key_version_field("encryption of the data key"),
                )
                .write(|t, ctx, f| Box::pin(t.datakey(ctx, f, true)))
                .synopsis("Generate a data key")
                .description(
                    "This path can be used to generate a data key of the number of bits the \
                     path names, protected by the named backend key.",
                ),
            E::new("sign/{name}/{urlalgorithm?}")
                .field("name", Field::new(FieldType::String, "The key to use"))
                .field("urlalgorithm", url_algorithm_field())
                .field("input", input_field())
                .field("context", context_field())
                .field("hash_algorithm", hash_algorithm_field())
                .field("key_version", key_version_field("signing"))
                .field(
                    "prehashed",
                    Field::new(
                        FieldType::Bool,
                        "Set to 'true' when the input is already hashed (refused: Strongroom \
                         signs messages, not digests).",
                    ),
                )
                .field(
                    "marshaling_algorithm",
                    Field::new(
                        FieldType::String,
                        "The method by which to marshal the signature: 'asn1' (the default) \
                         or 'jws'.",
                    )
                    .default("asn1"),
                )
                .field("batch_input", batch_field("signed"))
                .write(|t, ctx, f| Box::pin(t.sign(ctx, f)))
                .synopsis("Generate a signature for input data using the named key")
                .description(
                    "Generates a signature of the input data using the named key and the \
                     given hash algorithm.",
                ),
            E::new("verify/{name}/{urlalgorithm?}")
                .field("name", Field::new(FieldType::String, "The key to use"))
                .field("urlalgorithm", url_algorithm_field())
                .field("context", context_field())
                .field(
                    "signature",
                    Field::new(
                        FieldType::String,
                        "The signature, including the vault header/key version",
                    ),
                )
                .field(
                    "hmac",
                    Field::new(
                        FieldType::String,
                        "The HMAC, including the vault header/key version",
                    ),
                )
                .field(
                    "input",
                    Field::new(FieldType::String, "The base64-encoded input data to verify"),
                )
                .field("hash_algorithm", hash_algorithm_field())
                .field(
                    "algorithm",
                    Field::new(
                        FieldType::String,
                        "Deprecated: use \"hash_algorithm\" instead.",
                    ),
                )
                .field(
                    "marshaling_algorithm",
                    Field::new(
                        FieldType::String,
                        "The method by which to unmarshal the signature when verifying: \
                         'asn1' (the default) or 'jws'.",
                    )
                    .default("asn1"),
                )
                .field("batch_input", batch_field("verified"))
                .write(|t, ctx, f| Box::pin(t.verify(ctx, f)))
                .synopsis("Verify a signature or HMAC for input data created using the named key")
                .description(
                    "Verifies a signature or HMAC of the input data using the named key and \
                     the given hash algorithm.",
                ),
            E::new("hmac/{name}/{urlalgorithm?}")
                .field(
                    "name",
                    Field::new(FieldType::String, "The key to use for the HMAC function"),
                )
                .field("urlalgorithm", url_algorithm_field())
                .field("input", input_field())
                .field(
                    "algorithm",
                    Field::new(
                        FieldType::String,
                        "Algorithm to use (POST body parameter): sha2-256, sha2-384 or \
                         sha2-512. Defaults to \"sha2-256\".",
                    )
                    .default("sha2-256"),
                )
                .field("key_version", key_version_field("the HMAC function"))
                .field("batch_input", batch_field("HMACed"))
                .write(|t, ctx, f| Box::pin(t.hmac(ctx, f)))
                .synopsis("Generate an HMAC for input data using the named key")
                .description(
                    "Generates an HMAC sum of the given algorithm and key for the input data.",
                ),
            E::new("random/{source?}/{urlbytes?}")
                .field(
                    "source",
                    Field::new(
                        FieldType::String,
                        "Which system to source random data from: \"platform\", \"seal\" or \
                         \"all\" (a number here is the byte count).",
                    ),
                )
                .field(
                    "urlbytes",
                    Field::new(
                        FieldType::String,
                        "The number of bytes to generate (POST URL parameter)",
                    ),
                )
                .field(
                    "bytes",
                    Field::new(
                        FieldType::Int,
                        "The number of bytes to generate (POST body parameter). Defaults to \
                         32 (256 bits).",
                    )
                    .default(32),
                )
                .field(
                    "format",
                    Field::new(
                        FieldType::String,
                        "Encoding format to use. Can be \"hex\" or \"base64\". Defaults to \
                         \"base64\".",
                    )
                    .default("base64"),
                )
                .write(|t, _, f| Box::pin(t.random(f)))
                .synopsis("Generate random bytes")
                .description("This function can be used to generate high-entropy random bytes."),
            E::new("hash/{urlalgorithm?}")
                .field("urlalgorithm", url_algorithm_field())
                .field("input", input_field())
                .field(
                    "algorithm",
                    Field::new(
                        FieldType::String,
                        "Algorithm to use (POST body parameter): sha2-256, sha2-384 or \
                         sha2-512. Defaults to \"sha2-256\".",
                    )
                    .default("sha2-256"),
                )
                .field(
                    "format",
                    Field::new(
                        FieldType::String,
                        "Encoding format to use. Can be \"hex\" or \"base64\". Defaults to \
                         \"hex\".",
                    )
                    .default("hex"),
                )
                .write(|t, _, f| Box::pin(t.hash(f)))
                .synopsis("Generate a hash sum for input data")
                .description(
                    "Generates a hash sum of the given algorithm against the given input data.",
                ),
            E::new("export/{type}/{name}/{version?}")
                .field(
                    "type",
                    Field::new(
                        FieldType::String,
                        "Type of key to export (encryption-key, signing-key, hmac-key, \
                         public-key)",
                    ),
                )
                .field("name", name_field())
                .field(
                    "version",
                    Field::new(FieldType::String, "Version of the key"),
                )
                .read(|t, ctx, f| Box::pin(t.export(ctx, f)))
                .synopsis("Export named encryption or signing key")
                .description(
                    "This path is used to export the named keys that are configured as \
                     exportable.",
                ),
            E::new("backup/{name}")
                .field("name", name_field())
                .read(|t, ctx, f| Box::pin(t.backup(ctx, f)))
                .synopsis("Backup the named key")
                .description("This path is used to backup the named key (Strongroom's format)."),
            E::new("restore/{name?}")
                .field(
                    "name",
                    Field::new(
                        FieldType::String,
                        "If set, this will be the name of the restored key.",
                    ),
                )
                .field(
                    "backup",
                    Field::new(
                        FieldType::String,
                        "Backed up key data to be restored. This should be the output from the \
                         'backup/' endpoint.",
                    ),
                )
                .field(
                    "force",
                    Field::new(
                        FieldType::Bool,
                        "If set and a key by the given name exists, force the restore \
                         operation and override the key.",
                    )
                    .default(false),
                )
                .write(|t, ctx, f| Box::pin(t.restore(ctx, f)))
                .synopsis("Restore the named key")
                .description("This path is used to restore the named key from a backup."),
        ],
    )
}

/// One item of a request: a `batch_input` entry, or the request's own fields. These are the
/// values transit reads per item, typed as Vault's batch decoder types them.
#[derive(Default)]
struct Item<'a> {
    plaintext: Option<&'a str>,
    ciphertext: Option<&'a str>,
    context: Option<&'a str>,
    associated_data: Option<&'a str>,
    input: Option<&'a str>,
    signature: Option<&'a str>,
    hmac: Option<&'a str>,
    key_version: Option<u32>,
    /// Echoed in the item's result (batches only).
    reference: Option<&'a Value>,
}

/// The text members of an item.
const ITEM_TEXT: [&str; 7] = [
    "plaintext",
    "ciphertext",
    "context",
    "associated_data",
    "input",
    "signature",
    "hmac",
];

/// The Go type Vault's JSON decoding gives a value, as its batch decoder names it.
fn go_type(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "string",
        Value::Number(_) => "json.Number",
        Value::Bool(_) => "bool",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
        Value::Null => "<nil>",
    }
}

/// A key version as a client gave it: 0 or more, and small enough.
fn key_version(value: Option<i64>) -> Result<Option<u32>> {
    value
        .map(|v| u32::try_from(v).map_err(|_| LogicalError::invalid("invalid key version")))
        .transpose()
}

impl<'a> Item<'a> {
    fn text_mut(&mut self, name: &str) -> Option<&mut Option<&'a str>> {
        Some(match name {
            "plaintext" => &mut self.plaintext,
            "ciphertext" => &mut self.ciphertext,
            "context" => &mut self.context,
            "associated_data" => &mut self.associated_data,
            "input" => &mut self.input,
            "signature" => &mut self.signature,
            "hmac" => &mut self.hmac,
            _ => return None,
        })
    }

    /// The request's own fields as its one item (those the endpoint declares).
    fn from_fields(fields: &'a Fields<'_>) -> Result<Self> {
        let mut item = Self::default();
        for name in ITEM_TEXT {
            if fields.is_declared(name) {
                let value = fields.get_ok::<&str>(name)?;
                if let Some(slot) = item.text_mut(name) {
                    *slot = value;
                }
            }
        }
        if fields.is_declared("key_version") {
            item.key_version = key_version(fields.get_ok::<i64>("key_version")?)?;
        }
        Ok(item)
    }

    /// Entry `index` of `batch_input`; what does not decode is added to `errors` in the words
    /// of Vault's batch decoder.
    fn from_entry(index: usize, entry: &'a Map<String, Value>, errors: &mut Vec<String>) -> Self {
        let mut item = Self {
            reference: entry.get("reference"),
            ..Self::default()
        };
        for name in ITEM_TEXT {
            match entry.get(name) {
                None | Some(Value::Null) => {}
                Some(Value::String(text)) => {
                    if let Some(slot) = item.text_mut(name) {
                        *slot = Some(text);
                    }
                }
                Some(other) => errors.push(format!(
                    "'[{index}].{name}' expected type 'string', got unconvertible type '{}'",
                    go_type(other)
                )),
            }
        }
        match entry.get("key_version") {
            None | Some(Value::Null) => {}
            Some(value @ (Value::Number(_) | Value::String(_))) => {
                match strongroom_logical::field::weak_int(value) {
                    Ok(n) => match key_version(Some(n)) {
                        Ok(v) => item.key_version = v,
                        Err(err) => errors.push(format!("'[{index}].key_version' {err}")),
                    },
                    Err(_) => errors.push(format!(
                        "error decoding {} into [{index}].key_version: strconv.ParseInt: \
                         parsing \"{}\": invalid syntax",
                        go_type(value),
                        value
                            .as_str()
                            .map_or_else(|| value.to_string(), str::to_owned)
                    )),
                }
            }
            Some(other) => errors.push(format!(
                "'[{index}].key_version' expected type 'int', got unconvertible type '{}'",
                go_type(other)
            )),
        }
        item
    }

    fn context(&self) -> Result<Option<Zeroizing<Vec<u8>>>> {
        self.context.map(|c| unbase64(c, "context")).transpose()
    }

    fn associated_data(&self) -> Result<Zeroizing<Vec<u8>>> {
        Ok(self
            .associated_data
            .map(|a| unbase64(a, "associated_data"))
            .transpose()?
            .unwrap_or_default())
    }
}

/// Decodes base64 text (into a zeroizing buffer: it is often plaintext).
fn unbase64(text: &str, what: &str) -> Result<Zeroizing<Vec<u8>>> {
    Base64::decode_vec(text).map(Zeroizing::new).map_err(|_| {
        // Go's words, with the offset of the first byte that is not base64.
        let at = text
            .bytes()
            .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')))
            .unwrap_or(text.len());
        let go = format!("illegal base64 data at input byte {at}");
        LogicalError::invalid(match what {
            "plaintext" => go,
            "input" => format!("unable to decode input as base64: {go}"),
            _ => format!("failed to base64-decode {what}: {go}"),
        })
    })
}

/// A request's items: `batch_input`'s entries, or one item made of the request itself.
struct Items<'a> {
    batch: bool,
    items: Vec<Item<'a>>,
}

/// Splits a request into its batch items, or one item made of the request itself.
fn items<'a>(fields: &'a Fields<'_>) -> Result<Items<'a>> {
    let Some(entries) = fields.get_ok::<&[Value]>("batch_input")? else {
        return Ok(Items {
            batch: false,
            items: vec![Item::from_fields(fields)?],
        });
    };
    if entries.is_empty() {
        return Err(LogicalError::invalid("missing batch input to process"));
    }
    if entries.len() > MAX_BATCH_ITEMS {
        return Err(LogicalError::invalid(format!(
            "batch_input holds {} items; at most {MAX_BATCH_ITEMS} are processed in one \
             request",
            entries.len()
        )));
    }
    let mut errors = Vec::new();
    let items = entries
        .iter()
        .enumerate()
        .map(|(index, entry)| match entry {
            Value::Object(map) => Ok(Item::from_entry(index, map, &mut errors)),
            _ => Err(LogicalError::invalid("batch_input items must be objects")),
        })
        .collect::<Result<Vec<_>>>()?;
    if !errors.is_empty() {
        // mapstructure's summary of several decoding errors.
        let mut points: Vec<String> = errors.iter().map(|e| format!("* {e}")).collect();
        points.sort();
        return Err(LogicalError::invalid(format!(
            "failed to parse batch input: {} error(s) decoding:\n\n{}",
            points.len(),
            points.join("\n")
        )));
    }
    Ok(Items { batch: true, items })
}

/// Runs `each` over the items: one result as the response's data, or `batch_results` in input
/// order with per-item errors and each item's `reference` echoed (empty when not given).
fn run_batch(
    items: &Items<'_>,
    mut each: impl FnMut(&Item<'_>) -> Result<Map<String, Value>>,
) -> Result<Response> {
    if !items.batch {
        let item = items.items.first().ok_or_else(|| internal("no item"))?;
        return Ok(Response::with_data(each(item)?));
    }
    let mut results = Vec::with_capacity(items.items.len());
    let mut first_error: Option<LogicalError> = None;
    for item in &items.items {
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
            item.reference.cloned().unwrap_or_else(|| "".into()),
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

/// The versions named by the ciphertexts (or signatures, HMACs) `framed` picks from the items.
fn framed_versions<'i>(
    items: &'i Items<'_>,
    framed: impl Fn(&'i Item<'_>) -> Option<&'i str>,
) -> Vec<u32> {
    items
        .items
        .iter()
        .filter_map(framed)
        .filter_map(|text| crate::key::parse_framed(text).ok().map(|(v, _)| v))
        .collect()
}

/// The versions the items ask to write with (or the latest), and the request's own.
fn write_versions(config: &KeyConfig, items: &Items<'_>, default: Option<u32>) -> Vec<u32> {
    let mut out = vec![config.latest_version];
    out.extend(items.items.iter().filter_map(|item| item.key_version));
    out.extend(default);
    out
}

impl Transit {
    /// The key with the versions a write needs (the latest and any asked for: by the items or
    /// the request's `default` version).
    async fn for_writing(
        &self,
        ctx: &Context,
        config: KeyConfig,
        items: &Items<'_>,
        default: Option<u32>,
    ) -> Result<Key> {
        let versions = write_versions(&config, items, default);
        self.with_versions(ctx, config, &versions).await
    }

    /// Whether key `name` exists (the existence check of `keys/<name>` and `encrypt/<name>`).
    async fn key_exists(&self, ctx: &Context, fields: Fields<'_>) -> Result<bool> {
        let name: &str = fields.get("name")?;
        if check_name(name).is_err() {
            return Ok(false);
        }
        Ok(ctx.storage.get(&config_key(name)).await?.is_some())
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

    /// `keys/<name>` written: creates the key (a write to an existing key changes nothing).
    async fn write_key(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name: &str = fields.get("name")?;
        check_name(name)?;
        let key_type = KeyType::parse(fields.get("type")?)?;
        // Vault's hmac keys take a size of 32 to 512 bytes; ours are 32.
        if key_type == KeyType::Hmac {
            let size: i64 = fields.get("key_size")?;
            if size != 0 && size != 32 {
                return Err(LogicalError::invalid(format!(
                    "key_size {size} is not supported: hmac keys are 32 bytes"
                )));
            }
        }
        let options = KeyOptions {
            key_type,
            derived: fields.get("derived")?,
            convergent_encryption: fields.get("convergent_encryption")?,
            exportable: fields.get("exportable")?,
            allow_plaintext_backup: fields.get("allow_plaintext_backup")?,
            auto_rotate_period: fields.get("auto_rotate_period")?,
        };
        self.create_key(ctx, name, options).await
    }

    async fn create_key(&self, ctx: &Context, name: &str, options: KeyOptions) -> Result<Response> {
        check_name(name)?;
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

    async fn read_key_at(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        self.read_key(ctx, fields.get("name")?).await
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
                // Vault shows the versions that can still decrypt.
                config
                    .min_decryption_version
                    .max(config.min_available_version)..=config.latest_version,
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
        // Vault shows an hmac key's size, not its versions' times.
        if config.key_type == KeyType::Hmac
            && let Value::Object(map) = &mut out
        {
            map.remove("keys");
            map.insert("key_size".into(), 32.into());
        }
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

    async fn delete_key(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name: &str = fields.get("name")?;
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

    async fn configure(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name: &str = fields.get("name")?;
        let min_dec = key_version(fields.get_ok::<i64>("min_decryption_version")?)?;
        let min_enc = key_version(fields.get_ok::<i64>("min_encryption_version")?)?;
        let deletion = fields.get_ok::<bool>("deletion_allowed")?;
        let exportable = fields.get_ok::<bool>("exportable")?;
        let backup = fields.get_ok::<bool>("allow_plaintext_backup")?;
        let period = fields.get_ok::<u64>("auto_rotate_period")?;
        if let Some(period) = period {
            check_rotate_period(period)?;
        }
        self.update_config(ctx, name, |config| {
            if let Some(v) = min_dec {
                if v > config.latest_version {
                    return Err(LogicalError::invalid(format!(
                        "cannot set min decryption version of {v}, latest key version is {}",
                        config.latest_version
                    )));
                }
                config.min_decryption_version = v.max(config.min_available_version).max(1);
            }
            if let Some(v) = min_enc {
                if v > config.latest_version {
                    return Err(LogicalError::invalid(format!(
                        "cannot set min encryption version of {v}, latest key version is {}",
                        config.latest_version
                    )));
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
    async fn rotate(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name: &str = fields.get("name")?;
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

    async fn trim(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name: &str = fields.get("name")?;
        let target = key_version(fields.get_ok::<i64>("min_available_version")?)?
            .ok_or_else(|| LogicalError::invalid("missing min_available_version"))?;
        let before = self
            .load_config(ctx, name)
            .await?
            .ok_or_else(|| LogicalError::invalid("invalid key name"))?
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

    async fn encrypt(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name: &str = fields.get("name")?;
        let items = items(&fields)?;
        // Upsert, as Vault: encrypting with a key that does not exist creates it.
        if self.load_config(ctx, name).await?.is_none() {
            let derived = items
                .items
                .first()
                .and_then(|i| i.context)
                .is_some_and(|c| !c.is_empty());
            let options = KeyOptions {
                key_type: KeyType::parse(fields.get("type")?)?,
                derived,
                convergent_encryption: fields.get("convergent_encryption")?,
                ..KeyOptions::default()
            };
            self.create_key(ctx, name, options).await?;
        }
        let config = self.config(ctx, name).await?;
        let default_version = key_version(fields.get_ok::<i64>("key_version")?)?;
        let key = self
            .for_writing(ctx, config, &items, default_version)
            .await?;
        run_batch(&items, |item| {
            let plaintext = item
                .plaintext
                .map(|p| unbase64(p, "plaintext"))
                .transpose()?
                .ok_or_else(|| LogicalError::invalid("missing plaintext to encrypt"))?;
            let version = item.key_version.or(default_version);
            let ciphertext = key.encrypt(
                &plaintext,
                item.context()?.as_deref().map(Vec::as_slice),
                &item.associated_data()?,
                version,
            )?;
            ciphertext_result(&key, ciphertext, version)
        })
    }

    async fn decrypt(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name: &str = fields.get("name")?;
        let config = self.config(ctx, name).await?;
        let items = items(&fields)?;
        let versions = framed_versions(&items, |item| item.ciphertext);
        let key = self.with_versions(ctx, config, &versions).await?;
        run_batch(&items, |item| {
            let ciphertext = item
                .ciphertext
                .filter(|c| !c.is_empty())
                .ok_or_else(|| LogicalError::invalid("missing ciphertext to decrypt"))?;
            let plaintext = key.decrypt(
                ciphertext,
                item.context()?.as_deref().map(Vec::as_slice),
                &item.associated_data()?,
            )?;
            let mut out = Map::new();
            out.insert("plaintext".into(), Base64::encode_string(&plaintext).into());
            Ok(out)
        })
        .map(|mut response| {
            // Vault's batch items always have `plaintext` (empty beside an error).
            if let Some(Value::Array(results)) = response
                .data
                .as_mut()
                .and_then(|data| data.get_mut("batch_results"))
            {
                for result in results.iter_mut().filter_map(Value::as_object_mut) {
                    result.entry("plaintext").or_insert_with(|| "".into());
                }
            }
            response
        })
    }

    async fn rewrap(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name: &str = fields.get("name")?;
        let config = self.config(ctx, name).await?;
        let items = items(&fields)?;
        let default_version = key_version(fields.get_ok::<i64>("key_version")?)?;
        let mut versions = framed_versions(&items, |item| item.ciphertext);
        versions.extend(write_versions(&config, &items, default_version));
        let key = self.with_versions(ctx, config, &versions).await?;
        run_batch(&items, |item| {
            let ciphertext = item
                .ciphertext
                .filter(|c| !c.is_empty())
                .ok_or_else(|| LogicalError::invalid("missing ciphertext to rewrap"))?;
            let version = item.key_version.or(default_version);
            let rewrapped = key.rewrap(
                ciphertext,
                item.context()?.as_deref().map(Vec::as_slice),
                &item.associated_data()?,
                version,
            )?;
            ciphertext_result(&key, rewrapped, version)
        })
    }

    /// `datakey/<plaintext|wrapped>/<name>[/<bits>]`: `bits_in_path` for the second form.
    async fn datakey(
        &self,
        ctx: &Context,
        fields: Fields<'_>,
        bits_in_path: bool,
    ) -> Result<Response> {
        let kind: &str = fields.get("plaintext")?;
        let name: &str = fields.get("name")?;
        let include_plaintext = match kind {
            "plaintext" => true,
            "wrapped" => false,
            other => {
                let _ = other;
                return Err(LogicalError::invalid(
                    "Invalid path, must be 'plaintext' or 'wrapped'",
                ));
            }
        };
        let bits = if bits_in_path {
            fields
                .get::<&str>("bits")?
                .parse::<u64>()
                .map_err(|_| LogicalError::invalid("invalid bit length"))?
        } else {
            fields.get::<u64>("bits")?
        };
        if !matches!(bits, 128 | 256 | 512) {
            return Err(LogicalError::invalid("invalid bit length"));
        }
        let config = self.config(ctx, name).await?;
        let item = Item::from_fields(&fields)?;
        let version = item.key_version;
        let key = self
            .for_writing(
                ctx,
                config,
                &Items {
                    batch: false,
                    items: Vec::new(),
                },
                version,
            )
            .await?;
        let len = usize::try_from(bits / 8).map_err(internal)?;
        let new_key = random_bytes(len)?;
        let ciphertext = key.encrypt(
            &new_key,
            item.context()?.as_deref().map(Vec::as_slice),
            &item.associated_data()?,
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

    async fn sign(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name: &str = fields.get("name")?;
        let hash_segment = fields.get_ok::<&str>("urlalgorithm")?;
        let config = self.config(ctx, name).await?;
        check_sign_hash(
            &config,
            hash_segment,
            fields.get_ok::<&str>("hash_algorithm")?,
        )?;
        if fields.get::<bool>("prehashed")? {
            return Err(LogicalError::invalid(
                "prehashed input is not supported by Strongroom's transit (ring signs messages, \
                 not digests); send the message itself",
            ));
        }
        let marshaling = Marshaling::parse(fields.get("marshaling_algorithm")?)?;
        let items = items(&fields)?;
        let default_version = key_version(fields.get_ok::<i64>("key_version")?)?;
        let key = self
            .for_writing(ctx, config, &items, default_version)
            .await?;
        run_batch(&items, |item| {
            let input = item
                .input
                .map(|i| unbase64(i, "input"))
                .transpose()?
                .ok_or_else(|| LogicalError::invalid("missing input to sign"))?;
            let version = item.key_version.or(default_version);
            let signature = key.sign(
                &input,
                item.context()?.as_deref().map(Vec::as_slice),
                marshaling,
                version,
            )?;
            let mut out = Map::new();
            out.insert("signature".into(), signature.into());
            out.insert("key_version".into(), key.write_version(version)?.into());
            Ok(out)
        })
    }

    async fn verify(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name: &str = fields.get("name")?;
        let hash_segment = fields.get_ok::<&str>("urlalgorithm")?;
        let config = self.config(ctx, name).await?;
        let items = items(&fields)?;
        let hmac_mode = items.items.iter().any(|i| i.hmac.is_some());
        if hmac_mode {
            let algorithm = HashAlgorithm::parse(
                hash_segment
                    .or(fields.get_ok::<&str>("algorithm")?)
                    .or(fields.get_ok::<&str>("hash_algorithm")?)
                    .unwrap_or(""),
            )?;
            let versions = framed_versions(&items, |item| item.hmac);
            let key = self.with_versions(ctx, config, &versions).await?;
            return run_batch(&items, |item| {
                let input = item
                    .input
                    .map(|i| unbase64(i, "input"))
                    .transpose()?
                    .ok_or_else(|| LogicalError::invalid("missing input"))?;
                let mac = item
                    .hmac
                    .ok_or_else(|| LogicalError::invalid("missing hmac"))?;
                let mut out = Map::new();
                out.insert(
                    "valid".into(),
                    key.verify_hmac(&input, mac, algorithm)?.into(),
                );
                Ok(out)
            });
        }
        check_sign_hash(
            &config,
            hash_segment,
            fields.get_ok::<&str>("hash_algorithm")?,
        )?;
        let marshaling = Marshaling::parse(fields.get("marshaling_algorithm")?)?;
        let versions = framed_versions(&items, |item| item.signature);
        let key = self.with_versions(ctx, config, &versions).await?;
        run_batch(&items, |item| {
            let input = item
                .input
                .map(|i| unbase64(i, "input"))
                .transpose()?
                .ok_or_else(|| LogicalError::invalid("missing input"))?;
            let signature = item.signature.ok_or_else(|| {
                LogicalError::invalid("neither a 'signature' nor an 'hmac' were given to verify")
            })?;
            let mut out = Map::new();
            out.insert(
                "valid".into(),
                key.verify(
                    &input,
                    signature,
                    item.context()?.as_deref().map(Vec::as_slice),
                    marshaling,
                )?
                .into(),
            );
            Ok(out)
        })
    }

    async fn hmac(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name: &str = fields.get("name")?;
        let algorithm = HashAlgorithm::parse(
            fields
                .get_ok::<&str>("urlalgorithm")?
                .map_or_else(|| fields.get::<&str>("algorithm"), Ok)?,
        )?;
        let config = self.config(ctx, name).await?;
        let items = items(&fields)?;
        let default_version = key_version(fields.get_ok::<i64>("key_version")?)?;
        let key = self
            .for_writing(ctx, config, &items, default_version)
            .await?;
        run_batch(&items, |item| {
            let input = item
                .input
                .map(|i| unbase64(i, "input"))
                .transpose()?
                .ok_or_else(|| LogicalError::invalid("missing input for HMAC"))?;
            let version = item.key_version.or(default_version);
            let mut out = Map::new();
            out.insert("hmac".into(), key.hmac(&input, algorithm, version)?.into());
            Ok(out)
        })
    }

    async fn export(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let kind: &str = fields.get("type")?;
        let name: &str = fields.get("name")?;
        let version = fields.get_ok::<&str>("version")?;
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

    async fn backup(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name: &str = fields.get("name")?;
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

    async fn restore(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name = fields.get_ok::<&str>("name")?;
        let blob = fields
            .get_ok::<&str>("backup")?
            .map(|b| unbase64(b, "backup"))
            .transpose()?
            .ok_or_else(|| LogicalError::invalid("'backup' must be supplied"))?;
        let backup: Backup = serde_json::from_slice(&blob)
            .map_err(|_| LogicalError::invalid("the backup does not decode"))?;
        let name = name.unwrap_or(&backup.config.name).to_owned();
        check_name(&name)?;
        let force: bool = fields.get("force")?;
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
    hash_algorithm: Option<&str>,
) -> Result<()> {
    if !config.key_type.signs() {
        return Err(LogicalError::invalid(format!(
            "key type {} does not support signing",
            config.key_type.name()
        )));
    }
    let asked = segment.or(hash_algorithm.filter(|h| !h.is_empty()));
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
    } else if !matches!(
        asked,
        "sha2-224" | "sha2-256" | "sha2-384" | "sha2-512" | "none"
    ) {
        // A name Vault does not know at all.
        Err(LogicalError::invalid(format!(
            "invalid hash algorithm {asked:?}"
        )))
    } else {
        Err(LogicalError::invalid(format!(
            "unsupported hash algorithm {asked} for key type {}",
            config.key_type.name()
        )))
    }
}

impl Transit {
    /// `random[/<source>][/<bytes>]`: each path segment names a source or the byte count.
    async fn random(&self, fields: Fields<'_>) -> Result<Response> {
        let mut bytes: u64 = fields.get("bytes")?;
        let segments = [
            fields.get_ok::<&str>("source")?,
            fields.get_ok::<&str>("urlbytes")?,
        ];
        for segment in segments.into_iter().flatten() {
            match segment {
                "platform" | "seal" | "all" => {}
                n => {
                    bytes = n.parse().map_err(|_| {
                        LogicalError::invalid(format!("unsupported source or byte count {n:?}"))
                    })?;
                }
            }
        }
        if bytes == 0 {
            return Err(LogicalError::invalid("'bytes' cannot be less than 1"));
        }
        if bytes > MAX_RANDOM_BYTES {
            return Err(LogicalError::invalid(format!(
                "'bytes' should be less than {MAX_RANDOM_BYTES}"
            )));
        }
        let random = random_bytes(usize::try_from(bytes).map_err(internal)?)?;
        let mut out = Map::new();
        out.insert(
            "random_bytes".into(),
            encode(&random, fields.get("format")?, true)?.into(),
        );
        Ok(Response::with_data(out))
    }

    /// `hash[/<algorithm>]`.
    async fn hash(&self, fields: Fields<'_>) -> Result<Response> {
        let algorithm = HashAlgorithm::parse(
            fields
                .get_ok::<&str>("urlalgorithm")?
                .map_or_else(|| fields.get::<&str>("algorithm"), Ok)?,
        )?;
        let input = fields
            .get_ok::<&str>("input")?
            .map(|i| unbase64(i, "input"))
            .transpose()?
            .ok_or_else(|| LogicalError::invalid("missing input"))?;
        let mut out = Map::new();
        out.insert(
            "sum".into(),
            encode(&algorithm.digest(&input), fields.get("format")?, false)?.into(),
        );
        Ok(Response::with_data(out))
    }
}

/// `bytes` as `hex` or `base64`; `quoted` words a refusal as `random` does (`hash` does not
/// quote the format).
fn encode(bytes: &[u8], format: &str, quoted: bool) -> Result<String> {
    match format {
        "hex" => Ok(bytes.iter().map(|b| format!("{b:02x}")).collect()),
        "base64" => Ok(Base64::encode_string(bytes)),
        other => Err(LogicalError::invalid(if quoted {
            format!("unsupported encoding format {other:?}; must be \"hex\" or \"base64\"")
        } else {
            format!("unsupported encoding format {other}; must be \"hex\" or \"base64\"")
        })),
    }
}
