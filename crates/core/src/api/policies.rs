//! [`Policies`]: ACL policies by name.

use serde_json::{Map, Value};
use strongroom_logical::Operation;

use super::{keys, trim};
use crate::{ClientToken, Result, Vault};

/// ACL policies, from [`Vault::policies`]: `sys/policies/acl/<name>`, through the request
/// pipeline. Policies are Vault's HCL (or JSON) text, checked when written.
///
/// ```
/// use strongroom_core::{InitRequest, Vault};
/// use strongroom_storage::MemoryStorage;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let vault = Vault::builder(MemoryStorage::new()).build()?;
/// let init = vault.init(InitRequest::new(1, 1)).await?;
/// vault.unseal(init.keys[0].expose_secret()).await?;
/// let root = &init.root_token;
/// let app = r#"path "secret/app/*" { capabilities = ["read"] }"#;
/// vault.policies().put(root, "app", app).await?;
/// assert_eq!(vault.policies().get(root, "app").await?.as_deref(), Some(app));
/// assert!(vault.policies().list(root).await?.contains(&"app".to_owned()));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Policies<'v> {
    pub(super) vault: &'v Vault,
}

impl Policies<'_> {
    fn path(name: &str) -> String {
        format!("sys/policies/acl/{}", trim(name))
    }

    /// Writes the policy `name` (creating or replacing it).
    ///
    /// # Errors
    ///
    /// The pipeline's errors: [`VaultError::PermissionDenied`](crate::VaultError::PermissionDenied),
    /// [`VaultError::InvalidRequest`](crate::VaultError::InvalidRequest) for a policy that does
    /// not parse or a name that cannot be changed (`root`).
    pub async fn put(&self, token: &ClientToken, name: &str, policy: &str) -> Result<()> {
        let mut body = Map::new();
        body.insert("policy".into(), Value::String(policy.to_owned()));
        self.vault
            .call(token, Operation::Update, Self::path(name), body)
            .await?;
        Ok(())
    }

    /// The text of the policy `name`, or `None` if there is none.
    ///
    /// # Errors
    ///
    /// The pipeline's errors, as for [`put`](Self::put).
    pub async fn get(&self, token: &ClientToken, name: &str) -> Result<Option<String>> {
        let response = self
            .vault
            .call(token, Operation::Read, Self::path(name), Map::new())
            .await?;
        Ok(response
            .data
            .and_then(|mut data| data.remove("policy"))
            .and_then(|text| match text {
                Value::String(text) => Some(text),
                _ => None,
            }))
    }

    /// Deletes the policy `name`; tokens holding it lose what it granted. Deleting nothing
    /// succeeds.
    ///
    /// # Errors
    ///
    /// The pipeline's errors, as for [`put`](Self::put).
    pub async fn delete(&self, token: &ClientToken, name: &str) -> Result<()> {
        self.vault
            .call(token, Operation::Delete, Self::path(name), Map::new())
            .await?;
        Ok(())
    }

    /// The names of the ACL policies (`default` and `root` among them).
    ///
    /// # Errors
    ///
    /// The pipeline's errors, as for [`put`](Self::put).
    pub async fn list(&self, token: &ClientToken) -> Result<Vec<String>> {
        keys(
            self.vault
                .call(
                    token,
                    Operation::List,
                    "sys/policies/acl/".to_owned(),
                    Map::new(),
                )
                .await?,
        )
    }
}
