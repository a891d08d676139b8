//! The policy store: named policies inside the barrier, compiled ACLs cached per policy set.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use strongroom_policy::{Acl, Policy};
use strongroom_storage::Storage;

use crate::{Result, VaultError};

const PREFIX: &str = "sys/policy/";

use crate::tokens::WRAPPING_POLICY;

/// The policy of response-wrapping tokens (OpenBao 2.7's, fixed): read its own cubbyhole's
/// response, unwrap, revoke itself; nothing else.
const RESPONSE_WRAPPING: &str = r#"
path "cubbyhole/response" {
    capabilities = ["create", "read"]
}

path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}

path "auth/token/revoke-self" {
    capabilities = ["update"]
}
"#;

#[derive(Serialize, Deserialize)]
struct Stored {
    name: String,
    policy: String,
}

/// The most policy sets whose compiled ACLs are kept, and the most bytes of policy names their
/// keys may hold; past either the cache starts over (tokens share a few policy sets in
/// practice, so this is only reached by churn or abuse, and costs time, never a wrong answer).
const CACHE_LIMIT: usize = 4096;
const CACHE_KEY_BYTES: usize = 1 << 20;

pub(crate) struct PolicyStore {
    storage: Arc<dyn Storage>,
    cache: Mutex<AclCache>,
}

/// Compiled ACLs by policy set, with the generation of the policies they were compiled from.
#[derive(Default)]
struct AclCache {
    /// Bumped by every policy change, under the same lock as the map: an ACL compiled from
    /// policies read before a change is never inserted after it.
    generation: u64,
    acls: HashMap<Vec<String>, Arc<Acl>>,
    /// The bytes of policy names in `acls`' keys.
    key_bytes: usize,
}

/// Policy names: what Vault accepts (letters, digits, `-`, `_`, `.`, `/`... we keep it to a safe
/// subset that is also a valid storage key segment), lower-cased. Nothing else is changed: a
/// name with surrounding whitespace is refused rather than trimmed, so the name the ACL decided
/// on (the request path, lower-cased by `sys::fold_sys_names`) is the one acted on.
fn check_name(name: &str) -> Result<String> {
    let name = name.to_lowercase();
    let ok = !name.is_empty()
        && name.len() <= 128
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if ok {
        Ok(name)
    } else {
        Err(VaultError::invalid(format!(
            "invalid policy name {name:?}: use letters, digits, '-', '_', '.', '@'"
        )))
    }
}

impl PolicyStore {
    pub(crate) fn new(storage: Arc<dyn Storage>) -> Self {
        Self {
            storage,
            cache: Mutex::new(AclCache::default()),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, AclCache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops every compiled ACL and moves to a new generation. Called after a policy change is
    /// stored, so a lookup that read the old text cannot put its ACL back.
    pub(crate) fn invalidate(&self) {
        let mut cache = self.cache();
        cache.generation = cache.generation.wrapping_add(1);
        cache.acls.clear();
        cache.key_bytes = 0;
    }

    /// The text of a policy; `root` has none; `response-wrapping` is built in.
    pub(crate) async fn get(&self, name: &str) -> Result<Option<String>> {
        let name = check_name(name)?;
        if name == "root" {
            return Ok(Some(String::new()));
        }
        if name == WRAPPING_POLICY {
            return Ok(Some(RESPONSE_WRAPPING.to_owned()));
        }
        let Some(bytes) = self.storage.get(&format!("{PREFIX}{name}")).await? else {
            return Ok(None);
        };
        let stored: Stored = serde_json::from_slice(&bytes)
            .map_err(|_| VaultError::Internal("stored policy does not decode".into()))?;
        Ok(Some(stored.policy))
    }

    /// Creates or replaces a policy after parsing it. `root` cannot be changed.
    pub(crate) async fn set(&self, name: &str, text: &str) -> Result<()> {
        let name = check_name(name)?;
        if name == "root" || name == WRAPPING_POLICY {
            return Err(VaultError::invalid(format!(
                "cannot update {name:?} policy"
            )));
        }
        Policy::parse(&name, text).map_err(|e| {
            VaultError::invalid(match e {
                // Vault's words, with the path twice as its error chain has it.
                strongroom_policy::PolicyError::UnknownCapability {
                    capability, path, ..
                } => format!(
                    "failed to parse policy: path {path:?}: path {path:?}: invalid capability \
                     {capability:?}"
                ),
                other => format!("failed to parse policy: {other}"),
            })
        })?;
        let bytes = serde_json::to_vec(&Stored {
            name: name.clone(),
            policy: text.to_owned(),
        })
        .map_err(|e| VaultError::Internal(format!("encoding policy: {e}")))?;
        self.storage.put(&format!("{PREFIX}{name}"), bytes).await?;
        self.invalidate();
        Ok(())
    }

    /// Deletes a policy. `root` and `default` cannot be deleted.
    pub(crate) async fn delete(&self, name: &str) -> Result<()> {
        let name = check_name(name)?;
        if name == "root" || name == "default" || name == WRAPPING_POLICY {
            return Err(VaultError::invalid(if name == "default" {
                "cannot delete default policy".to_owned()
            } else {
                format!("cannot delete {name:?} policy")
            }));
        }
        self.storage.delete(&format!("{PREFIX}{name}")).await?;
        self.invalidate();
        Ok(())
    }

    /// Every policy name, with `root`.
    pub(crate) async fn list(&self) -> Result<Vec<String>> {
        let mut names = self.storage.list(PREFIX).await?;
        names.retain(|n| !n.ends_with('/'));
        names.sort();
        // Vault lists `root` last.
        names.push("root".into());
        Ok(names)
    }

    /// The compiled ACL for a set of policy names (unknown names grant nothing).
    pub(crate) async fn acl(&self, policies: &[String]) -> Result<Arc<Acl>> {
        // Token entries keep their policies sorted and deduplicated, so the hot path looks the
        // slice up as it is, without allocating.
        let generation = {
            let cache = self.cache();
            if let Some(acl) = cache.acls.get(policies) {
                return Ok(Arc::clone(acl));
            }
            cache.generation
        };
        let mut key = policies.to_vec();
        key.sort();
        key.dedup();
        let mut parsed = Vec::with_capacity(key.len());
        for name in &key {
            if name == "root" {
                parsed.push(Policy::root());
                continue;
            }
            // A name no policy can have (a token may carry one: Vault takes any string) names
            // no policy, and grants nothing.
            if check_name(name).is_err() {
                continue;
            }
            if let Some(text) = self.get(name).await? {
                parsed.push(Policy::parse(name, &text).map_err(|e| {
                    VaultError::Internal(format!("stored policy {name:?} no longer parses: {e}"))
                })?);
            }
        }
        let acl = Arc::new(Acl::new(&parsed));
        let mut cache = self.cache();
        // A policy changed while this one was compiled: the ACL answers this request (which
        // began before the change) but is not kept for later ones.
        if cache.generation == generation {
            let bytes: usize = key.iter().map(String::len).sum();
            if cache.acls.len() >= CACHE_LIMIT
                || cache.key_bytes.saturating_add(bytes) > CACHE_KEY_BYTES
            {
                cache.acls.clear();
                cache.key_bytes = 0;
            }
            if bytes <= CACHE_KEY_BYTES {
                cache.key_bytes += bytes;
                cache.acls.insert(key, Arc::clone(&acl));
            }
        }
        Ok(acl)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

    use std::sync::atomic::{AtomicBool, Ordering};

    use async_trait::async_trait;
    use strongroom_policy::Capabilities;
    use strongroom_storage::{MemoryStorage, Op};
    use tokio::sync::Notify;

    use super::*;

    /// Storage whose policy reads, once armed, take their value and then wait: the read has
    /// seen the old text when a change lands.
    #[derive(Debug, Default)]
    struct SlowRead {
        inner: MemoryStorage,
        armed: AtomicBool,
        read_done: Notify,
        release: Notify,
    }

    #[async_trait]
    impl Storage for SlowRead {
        async fn get(&self, key: &str) -> strongroom_storage::Result<Option<Vec<u8>>> {
            let value = self.inner.get(key).await?;
            if key.starts_with(PREFIX) && self.armed.swap(false, Ordering::SeqCst) {
                self.read_done.notify_one();
                self.release.notified().await;
            }
            Ok(value)
        }
        async fn put(&self, key: &str, value: Vec<u8>) -> strongroom_storage::Result<()> {
            self.inner.put(key, value).await
        }
        async fn delete(&self, key: &str) -> strongroom_storage::Result<()> {
            self.inner.delete(key).await
        }
        async fn list(&self, prefix: &str) -> strongroom_storage::Result<Vec<String>> {
            self.inner.list(prefix).await
        }
        async fn transaction(&self, ops: Vec<Op>) -> strongroom_storage::Result<()> {
            self.inner.transaction(ops).await
        }
    }

    const READ: &str = r#"path "secret/*" { capabilities = ["read"] }"#;
    const DENY: &str = r#"path "secret/*" { capabilities = ["deny"] }"#;

    #[tokio::test]
    async fn an_acl_compiled_from_text_read_before_a_change_is_not_kept() {
        let storage = Arc::new(SlowRead::default());
        let store = Arc::new(PolicyStore::new(storage.clone()));
        store.set("app", READ).await.unwrap();
        let names = vec!["app".to_owned()];

        storage.armed.store(true, Ordering::SeqCst);
        let lookup = tokio::spawn({
            let store = Arc::clone(&store);
            let names = names.clone();
            async move { store.acl(&names).await.unwrap() }
        });
        storage.read_done.notified().await;
        // The lookup holds the old text; the policy now changes to deny.
        store.set("app", DENY).await.unwrap();
        storage.release.notify_one();
        let raced = lookup.await.unwrap();
        assert!(raced.capabilities("secret/x").contains(Capabilities::READ));

        let fresh = store.acl(&names).await.unwrap();
        assert!(
            !fresh.capabilities("secret/x").contains(Capabilities::READ),
            "the ACL compiled from the old text was cached"
        );
    }

    #[tokio::test]
    async fn the_cache_is_bounded() {
        let store = PolicyStore::new(Arc::new(MemoryStorage::new()));
        store.set("app", READ).await.unwrap();
        for i in 0..CACHE_LIMIT + 10 {
            let names = vec!["app".to_owned(), format!("unknown-{i}")];
            store.acl(&names).await.unwrap();
            assert!(store.cache().acls.len() <= CACHE_LIMIT);
        }
        // Sets of many long policy names: the keys' bytes are bounded too.
        for i in 0..64 {
            let mut names: Vec<String> = (0..1000)
                .map(|n| format!("{i}-{n}-{}", "x".repeat(110)))
                .collect();
            names.push("app".to_owned());
            names.sort();
            store.acl(&names).await.unwrap();
            assert!(store.cache().key_bytes <= CACHE_KEY_BYTES);
        }
        let names = vec!["app".to_owned()];
        let first = store.acl(&names).await.unwrap();
        let second = store.acl(&names).await.unwrap();
        assert!(Arc::ptr_eq(&first, &second), "a cached ACL is reused");
    }
}
