//! The embeddable Strongroom vault.
//!
//! Link this crate to get a real vault inside your Rust service, with no server to run: storage
//! of your choice (SQLite by default), everything persisted through the encryption barrier, a
//! Shamir seal with unseal progress, tokens, Vault-compatible policies and mounted engines. The
//! HTTP server (`strongroom-http`) is a thin layer over this same [`Vault`], so what you test
//! embedded is what you serve.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use strongroom_core::{InitRequest, MountRequest, Vault};
//! use strongroom_storage::MemoryStorage;
//!
//! #[derive(Serialize, Deserialize, PartialEq, Debug)]
//! struct Db {
//!     password: String,
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let vault = Vault::builder(MemoryStorage::new()).build()?;
//! let init = vault.init(InitRequest::new(3, 2)).await?;
//! for key in &init.keys[..2] {
//!     vault.unseal(key.expose_secret()).await?;
//! }
//! let root = &init.root_token;
//! vault.sys().mount(root, "secret", &MountRequest::new("kv")).await?;
//! let db = Db { password: "hunter2".into() };
//! vault.kv("secret").put(root, "app", &db).await?;
//! assert_eq!(vault.kv("secret").get::<Db>(root, "app").await?, Some(db));
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Two ways in, one pipeline
//!
//! The typed API ([`Vault::kv`], [`Vault::sys`], [`Vault::policies`], [`Vault::tokens`]) takes
//! serde types and a [`ClientToken`]; [`Vault::handle`] (and [`read`](Vault::read),
//! [`write`](Vault::write), [`list`](Vault::list), [`delete`](Vault::delete)) take any path and
//! JSON, as the HTTP layer does, for every engine including your own (registered with
//! [`VaultBuilder::engine`]). Both make the same [`VaultRequest`]s, so token checks, policies,
//! `sudo`, audit and leases apply to each alike.
//!
//! # The request pipeline
//!
//! Every request, whatever its entry point: resolve the token (malformed tokens are refused
//! without a storage lookup; expired and used-up ones are refused and revoked) → route to the
//! mount (longest prefix) → tell `create` from `update` with the engine's existence check → the
//! policy decision (with `sudo` on root-protected paths) → count the token's use → the engine.
//!
//! Logins through `userpass` and `approle` are subject to user lockout (see [`UserLockouts`]
//! and [`VaultBuilder::user_lockouts`]): a locked login gets the same answer as a wrong one.
//!
//! Storage layout inside the barrier: `core/mounts`, `core/login/lockedUsers/...` (locked
//! logins, keyed by HMAC), `sys/token/...` (keyed hashes of tokens and
//! accessors), `sys/policy/...`, `logical/<mount uuid>/...` and `auth/<mount uuid>/...`; outside
//! it only `core/seal-config` (seal configuration, share digests, the wrapped root key) and the
//! barrier's own keyring.
#![forbid(unsafe_code)]

mod active;
mod api;
mod audit;
mod background;
mod builder;
mod client_token;
mod clock;
mod election;
mod error;
mod ha;
mod help;
mod leases;
mod lifecycle;
mod load;
mod lockout;
mod mounts;
mod pipeline;
mod policies;
mod quorum;
mod request;
mod request_path;
mod rotation;
mod route;
mod seal_config;
mod sys;
mod tokens;
mod util;
mod vault;

pub use api::{Kv, KvEntry, KvMetadata, MountInfo, MountRequest, Policies, Sys, TokenInfo, Tokens};
pub use audit::{AuditDevice, FileAuditDevice};
pub use client_token::{AsToken, ClientToken};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{BuildError, Result, VaultError};
pub use ha::{DEFAULT_STEP_DOWN_WAIT, HaConfig, HaMember, LeaderStatus};
pub use lockout::{
    DEFAULT_LOCKOUT_COUNTER_RESET, DEFAULT_LOCKOUT_DURATION, DEFAULT_LOCKOUT_THRESHOLD,
    LOCKOUT_METHODS, MountLockout, UserLockout, UserLockoutConfig, UserLockouts,
};
pub use mounts::{MountConfig, MountEntry};
pub use strongroom_seal::{Progress, RekeyConfig};
// What an embedder names when using this crate's API, so `strongroom_core` (and a storage
// backend from `strongroom_storage`) is all it imports: requests' operations and origins, error
// categories, the unseal shares' type, auto-unseal seals, engine factories, rotation settings.
// Custom engines are written against `strongroom_logical` (the engine interface), as the
// built-in ones are.
pub use strongroom_logical::{Connection, ErrorKind, Factory, Operation};
pub use strongroom_rotation::{AlertSink, Schedule};
pub use strongroom_seal::{Seal, SecretString, StaticKeySeal};

/// A fresh request id (a random UUID), as Vault puts in every response envelope.
pub fn new_request_id() -> String {
    util::uuid().unwrap_or_default()
}
pub use tokens::{TokenRequest, TokenType};

/// The system backend's endpoints (below `sys/`) as declared: patterns, fields, operations,
/// which need `sudo`. Routing, the sudo check and the OpenAPI document come from these.
pub fn system_endpoints() -> &'static [strongroom_logical::EndpointInfo] {
    sys::system().infos()
}

/// The token store's endpoints (below `auth/token/`) as declared.
pub fn token_store_endpoints() -> &'static [strongroom_logical::EndpointInfo] {
    sys::token_store().infos()
}
pub use builder::VaultBuilder;
pub use lifecycle::{InitRequest, InitResponse, SealStatus};
pub use quorum::{GenerateRootStarted, GenerateRootUpdate, RekeyStatus, RekeyUpdate};
pub use request::{AuthInfo, VaultRequest, VaultResponse};
pub use vault::Vault;
