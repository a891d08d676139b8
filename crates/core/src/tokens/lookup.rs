//! Looking tokens up (by token, hash or accessor; an expired one or a child of one is refused),
//! counting uses, renewing, revoking trees or orphaning children, and the expiry index.

use std::time::{Duration, SystemTime};

use strongroom_storage::{Op, StorageError};

use super::*;
use crate::clock::unix;
use crate::{Result, VaultError};

/// What a token lookup found.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "returned once per request and unpacked at once; boxing would allocate per request"
)]
pub(crate) enum Resolved {
    /// A live token, every ancestor live too.
    Live(TokenEntry),
    /// No usable token: malformed, unknown, used up or revoked.
    Unknown,
    /// The token, or an ancestor of it, is past its expiry (or an ancestor is missing): the
    /// tree rooted at `revoke` must go, leases included.
    Expired {
        /// The hash of the token whose tree is to be revoked.
        revoke: String,
    },
}

/// What counting one use of a token left.
#[derive(Debug)]
pub(crate) struct Used {
    /// The entry after the use was counted (`num_uses` is the uses left; for the last use it is
    /// the value before, see `last`).
    pub(crate) entry: TokenEntry,
    /// This request took the token's last use: the entry is already gone from storage, and the
    /// token's children and leases go when the request ends.
    pub(crate) last: bool,
}

/// The deepest token tree a lookup walks before it refuses (fail closed).
const MAX_DEPTH: usize = 1024;

impl TokenStore {
    /// Looks a token up, checking that neither it nor any ancestor has expired: a child never
    /// outlives its parent, even before the expiry pass revokes the parent's tree.
    pub(crate) async fn resolve(&self, token: &str, now: SystemTime) -> Result<Resolved> {
        if !well_formed(token) {
            return Ok(Resolved::Unknown);
        }
        self.resolve_id(&self.token_hash(token), now).await
    }

    /// As [`resolve`](Self::resolve), by the token's hash.
    pub(crate) async fn resolve_id(&self, id: &str, now: SystemTime) -> Result<Resolved> {
        let Some((entry, _)) = self.load(id).await? else {
            return Ok(Resolved::Unknown);
        };
        if entry.expired(now) {
            return Ok(Resolved::Expired {
                revoke: entry.id.clone(),
            });
        }
        let mut parent = entry.parent.clone();
        let mut depth = 0;
        while let Some(ancestor_id) = parent {
            depth += 1;
            if depth > MAX_DEPTH {
                return Ok(Resolved::Unknown);
            }
            match self.load(&ancestor_id).await? {
                Some((ancestor, _)) if ancestor.expired(now) => {
                    return Ok(Resolved::Expired {
                        revoke: ancestor.id,
                    });
                }
                Some((ancestor, _)) => parent = ancestor.parent,
                // A parent that is gone took (or is taking) its children with it.
                None => {
                    return Ok(Resolved::Expired {
                        revoke: entry.id.clone(),
                    });
                }
            }
        }
        Ok(Resolved::Live(entry))
    }

    /// The accessors of every live token (`LIST auth/token/accessors`), sorted. Reads every
    /// token entry: an administrator's listing, not a hot path.
    pub(crate) async fn accessors(&self, now: SystemTime) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for id in self.storage.list(ID_PREFIX).await? {
            if id.ends_with('/') {
                continue;
            }
            if let Some((entry, _)) = self.load(&id).await?
                && !entry.expired(now)
            {
                out.push(entry.accessor);
            }
        }
        out.sort();
        Ok(out)
    }

    /// The hash of the token an accessor names, if any.
    pub(crate) async fn accessor_id(&self, accessor: &str) -> Result<Option<String>> {
        let key = format!("{ACCESSOR_PREFIX}{}", self.hash("accessor", accessor));
        let Some(id) = self.storage.get(&key).await? else {
            return Ok(None);
        };
        String::from_utf8(id)
            .map(Some)
            .map_err(|_| VaultError::Internal("accessor index entry is not text".into()))
    }

    /// Applies `change` to the stored entry of token `id` by compare-and-swap (retried under
    /// contention, `change` re-run on the fresh entry each time): every mutation of a token
    /// entry goes through here, so no write can bring back an older copy. Returns the entry as
    /// stored, or `None` when the token is gone.
    async fn update(
        &self,
        id: &str,
        mut change: impl FnMut(&mut TokenEntry) -> Result<()>,
        extra: impl Fn(&TokenEntry) -> Vec<Op>,
    ) -> Result<Option<TokenEntry>> {
        let key = format!("{ID_PREFIX}{id}");
        for _ in 0..CAS_ATTEMPTS {
            let Some((current, bytes)) = self.load(id).await? else {
                return Ok(None);
            };
            let mut next = current.clone();
            change(&mut next)?;
            let encoded = serde_json::to_vec(&next)
                .map_err(|e| VaultError::Internal(format!("encoding token entry: {e}")))?;
            let mut ops = vec![
                Op::check(key.clone(), Some(bytes)),
                Op::put(key.clone(), encoded),
            ];
            // The expiry index follows the entry in the same transaction.
            if current.expire_time != next.expire_time {
                if let Some(at) = current.expire_time {
                    ops.push(Op::delete(expiry_key(at, id)));
                }
                if let Some(at) = next.expire_time {
                    ops.push(Op::put(expiry_key(at, id), Vec::new()));
                }
            }
            ops.extend(extra(&next));
            match self.storage.transaction(ops).await {
                Ok(()) => return Ok(Some(next)),
                Err(StorageError::CheckFailed { .. } | StorageError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(VaultError::Internal(
            "token entry under heavy contention; try again".into(),
        ))
    }

    /// Counts one use of `entry`'s token. Unlimited tokens pass untouched. Otherwise the count
    /// goes down by compare-and-swap, and the last use deletes the entry (check-and-delete in
    /// one transaction), so of any number of concurrent requests exactly as many pass as the
    /// token had uses. `None`: no use was left (or the token is gone).
    pub(crate) async fn use_once(&self, entry: TokenEntry) -> Result<Option<Used>> {
        if entry.num_uses == 0 {
            return Ok(Some(Used { entry, last: false }));
        }
        let key = format!("{ID_PREFIX}{}", entry.id);
        for _ in 0..CAS_ATTEMPTS {
            let Some((mut current, bytes)) = self.load(&entry.id).await? else {
                return Ok(None);
            };
            let last = current.num_uses == 1;
            let ops = if last {
                let mut ops = vec![Op::check(key.clone(), Some(bytes))];
                ops.extend(self.removal_ops(&current));
                ops
            } else {
                current.num_uses = current.num_uses.saturating_sub(1);
                let next = serde_json::to_vec(&current)
                    .map_err(|e| VaultError::Internal(format!("encoding token entry: {e}")))?;
                vec![
                    Op::check(key.clone(), Some(bytes)),
                    Op::put(key.clone(), next),
                ]
            };
            match self.storage.transaction(ops).await {
                Ok(()) => {
                    return Ok(Some(Used {
                        entry: current,
                        last,
                    }));
                }
                Err(StorageError::CheckFailed { .. } | StorageError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(VaultError::Internal(
            "token use count under heavy contention; try again".into(),
        ))
    }

    /// Renews token `id`: the new TTL counts from now, capped by the system maximum and the
    /// explicit maximum (from creation); periodic tokens get their period. Applied to the entry
    /// as stored now (compare-and-swap), never to a copy read earlier. Returns the renewed entry
    /// and whether the explicit maximum cut the renewal short; `None` when the token is gone.
    pub(crate) async fn renew(
        &self,
        id: &str,
        increment: Option<Duration>,
        now: SystemTime,
    ) -> Result<Option<(TokenEntry, bool)>> {
        let now_s = unix(now);
        let max = self.max_ttl.as_secs();
        let mut capped = false;
        let renewed = self
            .update(
                id,
                |entry| {
                    if !entry.renewable {
                        return Err(VaultError::invalid("lease is not renewable"));
                    }
                    let mut ttl = if entry.period > 0 {
                        entry.period
                    } else {
                        increment.map_or(entry.ttl, |d| d.as_secs())
                    };
                    capped = false;
                    // Vault's `CalculateTTL`: a token lives at most its maximum TTL from its
                    // creation (the system maximum, or `explicit_max_ttl` when smaller); a
                    // periodic token only by its `explicit_max_ttl`.
                    let mut lifetime = if entry.period > 0 { 0 } else { max };
                    if entry.explicit_max_ttl > 0 {
                        lifetime = if lifetime == 0 {
                            entry.explicit_max_ttl
                        } else {
                            lifetime.min(entry.explicit_max_ttl)
                        };
                    }
                    if entry.period > 0 {
                        ttl = ttl.min(max);
                    }
                    if lifetime > 0 {
                        let left = entry
                            .creation_time
                            .saturating_add(lifetime)
                            .saturating_sub(now_s);
                        if ttl > left {
                            ttl = left;
                            capped = true;
                        }
                    }
                    entry.ttl = ttl;
                    entry.expire_time = Some(now_s.saturating_add(ttl));
                    entry.last_renewal_time = Some(now_s);
                    Ok(())
                },
                |_| Vec::new(),
            )
            .await?;
        Ok(renewed.map(|entry| (entry, capped)))
    }

    /// Revokes a token and every token created from it, depth first (children before their
    /// parent, so a crash part way leaves a tree whose root still revokes the rest); returns
    /// the hashes of the tokens revoked (their leases go next).
    pub(crate) async fn revoke_tree(&self, id: &str) -> Result<Vec<String>> {
        let mut revoked = Vec::new();
        // An explicit stack instead of recursion: a deep tree cannot overflow ours.
        let mut stack = vec![(id.to_owned(), false)];
        let mut seen = std::collections::HashSet::new();
        while let Some((current, children_done)) = stack.pop() {
            if children_done {
                self.revoke_one(&current).await?;
                revoked.push(current);
                continue;
            }
            if !seen.insert(current.clone()) {
                return Err(VaultError::Internal("token cycle found".into()));
            }
            stack.push((current.clone(), true));
            for child in self
                .storage
                .list(&format!("{PARENT_PREFIX}{current}/"))
                .await?
            {
                stack.push((child, false));
            }
        }
        Ok(revoked)
    }

    /// Revokes a token but not its children, which become orphans (each by compare-and-swap,
    /// its parent index entry removed in the same transaction).
    pub(crate) async fn revoke_orphan(&self, id: &str) -> Result<()> {
        for child in self.storage.list(&format!("{PARENT_PREFIX}{id}/")).await? {
            let index = format!("{PARENT_PREFIX}{id}/{child}");
            let updated = self
                .update(
                    &child,
                    |entry| {
                        entry.parent = None;
                        Ok(())
                    },
                    |_| vec![Op::delete(index.clone())],
                )
                .await?;
            if updated.is_none() {
                // The child went meanwhile; its index entry is stale.
                self.storage.delete(&index).await?;
            }
        }
        self.revoke_one(id).await
    }

    /// What removing `entry` from storage deletes: the entry and every index naming it.
    fn removal_ops(&self, entry: &TokenEntry) -> Vec<Op> {
        let id = &entry.id;
        let mut ops = vec![
            Op::delete(format!("{ID_PREFIX}{id}")),
            Op::delete(format!(
                "{ACCESSOR_PREFIX}{}",
                self.hash("accessor", &entry.accessor)
            )),
        ];
        if let Some(parent) = &entry.parent {
            ops.push(Op::delete(format!("{PARENT_PREFIX}{parent}/{id}")));
        }
        if let Some(mount) = &entry.mount {
            ops.push(Op::delete(format!("{}{id}", mount_index(mount))));
        }
        if let Some(at) = entry.expire_time {
            ops.push(Op::delete(expiry_key(at, id)));
        }
        ops
    }

    async fn revoke_one(&self, id: &str) -> Result<()> {
        let Some((entry, _)) = self.load(id).await? else {
            return Ok(());
        };
        self.storage.transaction(self.removal_ops(&entry)).await?;
        Ok(())
    }

    /// The tokens whose expiry is due by `now`, oldest bucket first, at most `limit`: the
    /// expiry pass revokes their trees. Index entries of tokens that are gone are dropped.
    pub(crate) async fn due(&self, now: SystemTime, limit: usize) -> Result<Vec<String>> {
        let now_s = unix(now);
        let due_bucket = expiry_bucket(now_s);
        let mut out = Vec::new();
        for folder in self.storage.list(EXPIRE_PREFIX).await? {
            let name = folder.trim_end_matches('/');
            if name > due_bucket.as_str() {
                break; // buckets sort by time
            }
            let bucket = format!("{EXPIRE_PREFIX}{folder}");
            for id in self.storage.list(&bucket).await? {
                if out.len() >= limit {
                    return Ok(out);
                }
                match self.load(&id).await? {
                    None => self.storage.delete(&format!("{bucket}{id}")).await?,
                    Some((entry, _)) if entry.expired(now) => out.push(id),
                    Some(_) => {} // due later within this bucket
                }
            }
        }
        Ok(out)
    }
}
