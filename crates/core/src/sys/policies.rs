//! `sys/policy`, `sys/policies/acl` and `sys/capabilities(-self)`.

use serde_json::{Map, Value, json};
use strongroom_logical::{Operation, field};

use crate::active::Active;
use crate::request::VaultResponse;
use crate::util::object;
use crate::{Result, Vault, VaultError};

pub(super) async fn capabilities(
    active: &Active,
    policies: &[String],
    data: &Map<String, Value>,
) -> Result<VaultResponse> {
    let mut paths: Vec<String> = field::comma_string_slice(data, "paths")?
        .unwrap_or_default()
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect();
    if let Some(path) = field::string(data, "path")?.filter(|p| !p.is_empty()) {
        paths.push(path);
    }
    if paths.is_empty() {
        return Err(VaultError::invalid("missing path"));
    }
    let acl = active.policies.acl(policies).await?;
    let mut out = Map::new();
    let mut all: Vec<String> = Vec::new();
    for path in &paths {
        // Reported on the path the pipeline would decide on (canonical, names folded).
        let mut decided = crate::request_path::canonical(Operation::Read, path)
            .unwrap_or_else(|_| path.trim_start_matches('/').to_owned());
        let _ = Vault::route(active, Operation::Read, &mut decided).await;
        let caps: Vec<String> = acl
            .capabilities(&decided)
            .to_vault_list()
            .into_iter()
            .map(str::to_owned)
            .collect();
        all.extend(caps.iter().cloned());
        out.insert(path.clone(), json!(caps));
    }
    if paths.len() == 1 {
        out.insert("capabilities".into(), json!(all));
    }
    Ok(VaultResponse::data(out))
}

pub(super) async fn policy_endpoints(
    active: &Active,
    operation: Operation,
    name: &str,
    data: &Map<String, Value>,
    legacy: bool,
) -> Result<VaultResponse> {
    if name.is_empty() {
        let names = active.policies.list().await?;
        let mut out = Map::new();
        out.insert("keys".into(), json!(names));
        if legacy {
            out.insert("policies".into(), json!(names));
        }
        return Ok(VaultResponse::data(out));
    }
    match operation {
        Operation::Read => {
            let Some(text) = active.policies.get(name).await? else {
                return Ok(VaultResponse::empty());
            };
            let field = if legacy { "rules" } else { "policy" };
            Ok(VaultResponse::data(object(
                json!({"name": name, field: text}),
            )))
        }
        Operation::Create | Operation::Update => {
            let text = data
                .get("policy")
                .or_else(|| data.get("rules"))
                .and_then(Value::as_str)
                .ok_or_else(|| VaultError::invalid("'policy' parameter not supplied or empty"))?;
            active.policies.set(name, text).await?;
            Ok(VaultResponse::empty())
        }
        Operation::Delete => {
            active.policies.delete(name).await?;
            Ok(VaultResponse::empty())
        }
        _ => Err(VaultError::Logical(
            strongroom_logical::LogicalError::UnsupportedOperation,
        )),
    }
}
