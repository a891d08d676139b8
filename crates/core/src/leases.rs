//! The lease manager: leases are persisted inside the barrier and indexed by expiry time, so
//! nothing per lease lives in memory — no timer, no record. Unsealing does not restore leases at
//! all: the expiry pass reads the time index for what is due, whenever it runs.
//!
//! Layout (inside the barrier):
//! * `sys/expire/id/<lease id>` — the lease (`<lease id>` = `<mount path><request path>/<uuid>`,
//!   so `revoke-prefix` lists one folder);
//! * `sys/expire/time/<minute bucket>/<lease key>` — the expiry index, in minute buckets (zero
//!   padded unix minutes, so buckets sort by time);
//! * `sys/expire/token/<token hash>/<lease key>` — the leases a token created (revoked with it).
//!
//! `<lease key>` is a hex SHA-256 of the lease id: one flat segment whatever the id holds.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use strongroom_logical::{Lease, SecretDescriptor};
use strongroom_storage::{Op, Storage, StorageError};

use crate::clock::unix;
use crate::mounts::{Mounted, Router};
use crate::{Result, VaultError};

const ID_PREFIX: &str = "sys/expire/id/";
const TIME_PREFIX: &str = "sys/expire/time/";
const TOKEN_PREFIX: &str = "sys/expire/token/";

/// How many leases an expiry pass or a revoke-prefix handles before yielding to other tasks.
const BATCH: usize = 64;
/// Revocation retries back off exponentially from this, capped at `MAX_BACKOFF`.
const FIRST_BACKOFF: u64 = 10;
const MAX_BACKOFF: u64 = 3600;

/// A lease as stored.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct LeaseEntry {
    pub(crate) lease_id: String,
    /// The mount path the secret came from (`database/`).
    pub(crate) mount: String,
    /// The request path below the mount.
    pub(crate) path: String,
    pub(crate) internal: Map<String, Value>,
    pub(crate) issue_time: u64,
    pub(crate) expire_time: u64,
    /// The hard limit (issue time + max TTL).
    pub(crate) max_expire_time: u64,
    pub(crate) renewable: bool,
    /// Hash of the token that created it.
    pub(crate) token: String,
    /// Failed revocation attempts so far.
    #[serde(default)]
    pub(crate) revoke_attempts: u32,
}

impl LeaseEntry {
    fn as_lease(&self) -> Lease {
        let mut lease = Lease::new(self.lease_id.clone(), self.path.clone());
        lease.internal = self.internal.clone();
        lease.issued = SystemTime::UNIX_EPOCH + Duration::from_secs(self.issue_time);
        lease
    }
}

fn lease_key(lease_id: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, lease_id.as_bytes());
    crate::util::hex(digest.as_ref())
}

fn bucket(unix_secs: u64) -> String {
    format!("{:012}", unix_secs / 60)
}

/// Checks a client-supplied lease id or prefix: a canonical relative path.
pub(crate) fn check_lease_path(id: &str) -> Result<()> {
    let trimmed = id.trim_end_matches('/');
    if trimmed.is_empty()
        || id.starts_with('/')
        || trimmed
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(VaultError::invalid(format!(
            "invalid lease id {:?}",
            id.chars().take(96).collect::<String>()
        )));
    }
    Ok(())
}

pub(crate) struct LeaseManager {
    storage: Arc<dyn Storage>,
}

/// The terms of a new lease.
pub(crate) struct NewLease<'a> {
    pub(crate) mount: &'a Mounted,
    pub(crate) path: &'a str,
    pub(crate) secret: SecretDescriptor,
    pub(crate) token_hash: &'a str,
    /// The token's own expiry: a lease never outlives the token that created it.
    pub(crate) token_expire: Option<u64>,
    pub(crate) default_ttl: Duration,
    pub(crate) max_ttl: Duration,
    pub(crate) now: SystemTime,
}

impl LeaseManager {
    pub(crate) fn new(storage: Arc<dyn Storage>) -> Self {
        Self { storage }
    }

    async fn load(&self, lease_id: &str) -> Result<Option<LeaseEntry>> {
        Ok(self.load_raw(lease_id).await?.map(|(entry, _)| entry))
    }

    /// The lease and its stored bytes (for a compare-and-swap write back).
    async fn load_raw(&self, lease_id: &str) -> Result<Option<(LeaseEntry, Vec<u8>)>> {
        let Some(bytes) = self.storage.get(&format!("{ID_PREFIX}{lease_id}")).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(|entry| Some((entry, bytes)))
            .map_err(|_| VaultError::Internal("stored lease does not decode".into()))
    }

    fn encode(entry: &LeaseEntry) -> Result<Vec<u8>> {
        serde_json::to_vec(entry).map_err(|e| VaultError::Internal(format!("encoding lease: {e}")))
    }

    /// Registers a lease for a secret an engine issued; returns its id, TTL and renewability.
    pub(crate) async fn register(&self, new: NewLease<'_>) -> Result<(String, u64, bool)> {
        let now = unix(new.now);
        let max_ttl = new
            .secret
            .max_ttl
            .unwrap_or(new.max_ttl)
            .min(new.max_ttl)
            .as_secs();
        let mut ttl = if new.secret.ttl.is_zero() {
            new.default_ttl.as_secs()
        } else {
            new.secret.ttl.as_secs()
        }
        .min(max_ttl);
        let mut max_expire = now.saturating_add(max_ttl);
        if let Some(token_expire) = new.token_expire {
            ttl = ttl.min(token_expire.saturating_sub(now));
            max_expire = max_expire.min(token_expire);
        }
        let uuid = crate::util::uuid()?;
        let path = new.path.trim_end_matches('/');
        let lease_id = format!("{}{path}/{uuid}", new.mount.entry.path);
        let entry = LeaseEntry {
            lease_id: lease_id.clone(),
            mount: new.mount.entry.path.clone(),
            path: path.to_owned(),
            internal: new.secret.internal,
            issue_time: now,
            expire_time: now.saturating_add(ttl),
            max_expire_time: max_expire,
            renewable: new.secret.renewable,
            token: new.token_hash.to_owned(),
            revoke_attempts: 0,
        };
        let key = lease_key(&lease_id);
        self.storage
            .transaction(vec![
                Op::put(format!("{ID_PREFIX}{lease_id}"), Self::encode(&entry)?),
                Op::put(
                    format!("{TIME_PREFIX}{}/{key}", bucket(entry.expire_time)),
                    lease_id.clone().into_bytes(),
                ),
                Op::put(
                    format!("{TOKEN_PREFIX}{}/{key}", entry.token),
                    lease_id.clone().into_bytes(),
                ),
            ])
            .await?;
        Ok((lease_id, ttl, entry.renewable))
    }

    /// Looks a lease up.
    pub(crate) async fn lookup(&self, lease_id: &str) -> Result<Option<LeaseEntry>> {
        check_lease_path(lease_id)?;
        self.load(lease_id).await
    }

    /// Renews a lease: the new TTL counts from now (Vault's rule), capped by the lease's hard
    /// limit; the engine is asked first.
    pub(crate) async fn renew(
        &self,
        router: &Router,
        lease_id: &str,
        increment: Option<Duration>,
        now: SystemTime,
    ) -> Result<LeaseEntry> {
        check_lease_path(lease_id)?;
        let (mut entry, stored) = self
            .load_raw(lease_id)
            .await?
            .ok_or_else(|| VaultError::invalid("lease not found"))?;
        if !entry.renewable {
            return Err(VaultError::invalid("lease is not renewable"));
        }
        let mounted = router
            .get(&entry.mount)
            .ok_or_else(|| VaultError::invalid("the lease's mount no longer exists"))?;
        let mut lease = entry.as_lease();
        lease.increment = increment;
        let ctx = crate::mounts::context(mounted, now);
        let response = mounted.backend.renew(&ctx, &lease).await?;
        let now_s = unix(now);
        let wanted = increment
            .or_else(|| response.secret.as_ref().map(|s| s.ttl))
            .filter(|d| !d.is_zero())
            .unwrap_or(ctx.default_lease_ttl)
            .as_secs();
        let old_bucket = bucket(entry.expire_time);
        entry.expire_time = now_s.saturating_add(wanted).min(entry.max_expire_time);
        let key = lease_key(lease_id);
        // Written back only over the lease as it was read: a revocation (or another renewal)
        // that landed while the engine renewed is never undone by this stale copy.
        let written = self
            .storage
            .transaction(vec![
                Op::check(format!("{ID_PREFIX}{lease_id}"), Some(stored)),
                Op::delete(format!("{TIME_PREFIX}{old_bucket}/{key}")),
                Op::put(format!("{ID_PREFIX}{lease_id}"), Self::encode(&entry)?),
                Op::put(
                    format!("{TIME_PREFIX}{}/{key}", bucket(entry.expire_time)),
                    lease_id.as_bytes().to_vec(),
                ),
            ])
            .await;
        match written {
            Ok(()) => Ok(entry),
            Err(StorageError::CheckFailed { .. }) => Err(VaultError::invalid(
                "the lease changed while it was renewed (revoked, or renewed by another request)",
            )),
            Err(err) => Err(err.into()),
        }
    }

    /// Revokes one lease: the engine revokes the secret, then the lease and its index entries
    /// go. With `force`, the lease goes even when the engine fails.
    pub(crate) async fn revoke(
        &self,
        router: &Router,
        lease_id: &str,
        now: SystemTime,
        force: bool,
    ) -> Result<()> {
        let Some(mut entry) = self.load(lease_id).await? else {
            return Ok(());
        };
        let outcome = match router.get(&entry.mount) {
            Some(mounted) => {
                let ctx = crate::mounts::context(mounted, now);
                mounted.backend.revoke(&ctx, &entry.as_lease()).await
            }
            // The mount is gone (and its data with it): nothing left to revoke.
            None => Ok(()),
        };
        let key = lease_key(lease_id);
        match outcome {
            Ok(()) => {}
            Err(_) if force => {}
            Err(err) => {
                // Keep the lease; retry later with exponential backoff.
                entry.revoke_attempts = entry.revoke_attempts.saturating_add(1);
                let backoff = FIRST_BACKOFF
                    .saturating_mul(1u64 << entry.revoke_attempts.min(20))
                    .min(MAX_BACKOFF);
                let old_bucket = bucket(entry.expire_time);
                entry.expire_time = unix(now).saturating_add(backoff);
                self.storage
                    .transaction(vec![
                        Op::delete(format!("{TIME_PREFIX}{old_bucket}/{key}")),
                        Op::put(format!("{ID_PREFIX}{lease_id}"), Self::encode(&entry)?),
                        Op::put(
                            format!("{TIME_PREFIX}{}/{key}", bucket(entry.expire_time)),
                            lease_id.as_bytes().to_vec(),
                        ),
                    ])
                    .await?;
                return Err(err.into());
            }
        }
        self.storage
            .transaction(vec![
                Op::delete(format!("{ID_PREFIX}{lease_id}")),
                Op::delete(format!("{TIME_PREFIX}{}/{key}", bucket(entry.expire_time))),
                Op::delete(format!("{TOKEN_PREFIX}{}/{key}", entry.token)),
            ])
            .await?;
        Ok(())
    }

    /// Every lease id under `prefix` (recursively), in batches handed to `each`.
    async fn walk_ids(&self, prefix: &str) -> Result<Vec<String>> {
        let root = format!("{ID_PREFIX}{}", prefix.trim_end_matches('/'));
        let mut out = Vec::new();
        let mut folders = vec![format!("{root}/")];
        // A prefix may also name a single lease exactly.
        if self.storage.get(&root).await?.is_some() {
            out.push(root.trim_start_matches(ID_PREFIX).to_owned());
        }
        while let Some(folder) = folders.pop() {
            for child in self.storage.list(&folder).await? {
                let path = format!("{folder}{child}");
                if child.ends_with('/') {
                    folders.push(path);
                } else {
                    out.push(path.trim_start_matches(ID_PREFIX).to_owned());
                }
            }
            tokio::task::yield_now().await;
        }
        Ok(out)
    }

    /// Lease ids under a prefix (for `sys/leases/lookup/<prefix>`): direct children only.
    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let folder = if prefix.is_empty() {
            ID_PREFIX.to_owned()
        } else {
            check_lease_path(prefix)?;
            format!("{ID_PREFIX}{}/", prefix.trim_end_matches('/'))
        };
        Ok(self.storage.list(&folder).await?)
    }

    /// Revokes every lease under `prefix`, a batch at a time, yielding between batches so other
    /// requests keep being served. Returns how many were revoked.
    pub(crate) async fn revoke_prefix(
        &self,
        router: &crate::mounts::RouterCell,
        prefix: &str,
        now: SystemTime,
        force: bool,
    ) -> Result<usize> {
        check_lease_path(prefix)?;
        let ids = self.walk_ids(prefix).await?;
        let mut revoked = 0;
        for chunk in ids.chunks(BATCH) {
            let router = router.snapshot();
            for id in chunk {
                self.revoke(&router, id, now, force).await?;
                revoked += 1;
            }
            tokio::task::yield_now().await;
        }
        Ok(revoked)
    }

    /// Revokes the leases created by the tokens in `token_hashes` (called when tokens go).
    pub(crate) async fn revoke_for_tokens(
        &self,
        router: &Router,
        token_hashes: &[String],
        now: SystemTime,
    ) -> Result<()> {
        for token in token_hashes {
            let folder = format!("{TOKEN_PREFIX}{token}/");
            for key in self.storage.list(&folder).await? {
                let Some(id) = self.storage.get(&format!("{folder}{key}")).await? else {
                    continue;
                };
                let id = String::from_utf8(id)
                    .map_err(|_| VaultError::Internal("token lease index is not text".into()))?;
                // A lease whose revocation fails stays scheduled for retry (with backoff) by
                // `revoke`; the token's other leases still go now.
                if let Err(err) = self.revoke(router, &id, now, false).await {
                    tracing::warn!(lease = %id, error = %err, "revoking a revoked token's lease failed; it will be retried");
                }
            }
        }
        Ok(())
    }

    /// One expiry pass: revokes every lease whose expiry bucket is due, oldest first, at most
    /// `limit` of them. Failed revocations are rescheduled with backoff. Returns how many leases
    /// were revoked.
    pub(crate) async fn expire_due(
        &self,
        router: &crate::mounts::RouterCell,
        now: SystemTime,
        limit: usize,
    ) -> Result<usize> {
        let now_s = unix(now);
        let due = bucket(now_s);
        let mut revoked = 0;
        for folder in self.storage.list(TIME_PREFIX).await? {
            let name = folder.trim_end_matches('/');
            if name > due.as_str() {
                break; // buckets sort by time
            }
            let bucket_path = format!("{TIME_PREFIX}{folder}");
            for key in self.storage.list(&bucket_path).await? {
                if revoked >= limit {
                    return Ok(revoked);
                }
                let Some(id) = self.storage.get(&format!("{bucket_path}{key}")).await? else {
                    continue;
                };
                let id = String::from_utf8(id)
                    .map_err(|_| VaultError::Internal("expiry index entry is not text".into()))?;
                let Some(entry) = self.load(&id).await? else {
                    // A stale index entry (the lease went another way): drop it.
                    self.storage.delete(&format!("{bucket_path}{key}")).await?;
                    continue;
                };
                if entry.expire_time > now_s {
                    continue; // due later within this minute
                }
                match self.revoke(&router.snapshot(), &id, now, false).await {
                    Ok(_) => revoked += 1,
                    // This node is no longer active: the next active node expires the rest.
                    Err(VaultError::Standby) => return Err(VaultError::Standby),
                    Err(_) => {}
                }
                if revoked % BATCH == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }
        Ok(revoked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_sort_by_time() {
        assert!(bucket(59) < bucket(60));
        assert!(bucket(1_800_000_000) < bucket(18_000_000_000));
        assert_eq!(bucket(120), "000000000002");
    }

    #[test]
    fn lease_paths() {
        assert!(check_lease_path("db/creds/ro/abc").is_ok());
        assert!(check_lease_path("db/").is_ok());
        for bad in ["", "/db", "db//x", "db/../sys", "./x"] {
            assert!(check_lease_path(bad).is_err(), "{bad}");
        }
    }
}
