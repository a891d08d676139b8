//! The policy store: named policies inside the barrier, compiled ACLs cached per policy set.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use strongroom_policy::{Acl, Policy};
use strongroom_storage::Storage;

use crate::{Result, VaultError};

const PREFIX: &str = "sys/policy/";

#[derive(Serialize, Deserialize)]
struct Stored {
    name: String,
    policy: String,
}

pub(crate) struct PolicyStore {
    storage: Arc<dyn Storage>,
    cache: Mutex<HashMap<Vec<String>, Arc<Acl>>>,
}

/// Policy names: what Vault accepts (letters, digits, `-`, `_`, `.`, `/`... we keep it to a safe
/// subset that is also a valid storage key segment), lower-cased. Nothing else is changed: a
/// name with surrounding whitespace is refused rather than trimmed, so the name the ACL decided
/// on (the request path, lower-cased by `request_path::fold_sys_names`) is the one acted on.
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
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn invalidate(&self) {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// The text of a policy; `root` has none.
    pub(crate) async fn get(&self, name: &str) -> Result<Option<String>> {
        let name = check_name(name)?;
        if name == "root" {
            return Ok(Some(String::new()));
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
        if name == "root" {
            return Err(VaultError::invalid("cannot update \"root\" policy"));
        }
        Policy::parse(&name, text)
            .map_err(|e| VaultError::invalid(format!("failed to parse policy: {e}")))?;
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
        if name == "root" || name == "default" {
            return Err(VaultError::invalid(format!(
                "cannot delete {name:?} policy"
            )));
        }
        self.storage.delete(&format!("{PREFIX}{name}")).await?;
        self.invalidate();
        Ok(())
    }

    /// Every policy name, with `root`.
    pub(crate) async fn list(&self) -> Result<Vec<String>> {
        let mut names = self.storage.list(PREFIX).await?;
        names.retain(|n| !n.ends_with('/'));
        names.push("root".into());
        names.sort();
        Ok(names)
    }

    /// The compiled ACL for a set of policy names (unknown names grant nothing).
    pub(crate) async fn acl(&self, policies: &[String]) -> Result<Arc<Acl>> {
        // Token entries keep their policies sorted and deduplicated, so the hot path looks the
        // slice up as it is, without allocating.
        if let Some(acl) = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(policies)
        {
            return Ok(Arc::clone(acl));
        }
        let mut key = policies.to_vec();
        key.sort();
        key.dedup();
        let mut parsed = Vec::with_capacity(key.len());
        for name in &key {
            if name == "root" {
                parsed.push(Policy::root());
                continue;
            }
            if let Some(text) = self.get(name).await? {
                parsed.push(Policy::parse(name, &text).map_err(|e| {
                    VaultError::Internal(format!("stored policy {name:?} no longer parses: {e}"))
                })?);
            }
        }
        let acl = Arc::new(Acl::new(&parsed));
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, Arc::clone(&acl));
        Ok(acl)
    }
}
