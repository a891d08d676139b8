//! `sys/leases/...`: lookup, renew, revoke.

use serde_json::{Map, Value, json};
use strongroom_logical::{Operation, field};

use crate::active::Active;
use crate::request::VaultResponse;
use crate::util::object;
use crate::util::rfc3339;
use crate::{Result, VaultError};

fn lease_json(entry: &crate::leases::LeaseEntry, now: u64) -> Map<String, Value> {
    object(json!({
        "id": entry.lease_id,
        "issue_time": rfc3339(entry.issue_time),
        "expire_time": rfc3339(entry.expire_time),
        "last_renewal": Value::Null,
        "renewable": entry.renewable,
        "ttl": entry.expire_time.saturating_sub(now),
    }))
}

pub(super) async fn lease_endpoints(
    active: &Active,
    operation: Operation,
    tail: &str,
    data: &Map<String, Value>,
) -> Result<VaultResponse> {
    let now = active.clock.now();
    let now_s = crate::clock::unix(now);
    let lease_id = || {
        field::string(data, "lease_id")?
            .filter(|id| !id.is_empty())
            .ok_or_else(|| VaultError::invalid("missing lease_id"))
    };
    let (head, rest) = tail.split_once('/').unwrap_or((tail, ""));
    match (head, operation) {
        ("lookup", Operation::List) => {
            let keys = active.leases.list(rest).await?;
            if keys.is_empty() {
                return Ok(VaultResponse::empty());
            }
            Ok(VaultResponse::data(object(json!({"keys": keys}))))
        }
        ("lookup", Operation::Create | Operation::Update) => {
            let id = lease_id()?;
            let entry = active
                .leases
                .lookup(&id)
                .await?
                .ok_or_else(|| VaultError::invalid("invalid lease"))?;
            Ok(VaultResponse::data(lease_json(&entry, now_s)))
        }
        ("renew", Operation::Create | Operation::Update) => {
            let id = if rest.is_empty() {
                lease_id()?
            } else {
                rest.to_owned()
            };
            let increment = field::duration(data, "increment")?.filter(|d| !d.is_zero());
            let router = active.router.snapshot();
            let entry = active.leases.renew(&router, &id, increment, now).await?;
            Ok(VaultResponse {
                lease_id: entry.lease_id.clone(),
                lease_duration: entry.expire_time.saturating_sub(now_s),
                renewable: entry.renewable,
                ..VaultResponse::default()
            })
        }
        ("revoke", Operation::Create | Operation::Update) => {
            let id = if rest.is_empty() {
                lease_id()?
            } else {
                rest.to_owned()
            };
            crate::leases::check_lease_path(&id)?;
            let router = active.router.snapshot();
            active.leases.revoke(&router, &id, now, false).await?;
            Ok(VaultResponse::empty())
        }
        ("revoke-prefix" | "revoke-force", Operation::Create | Operation::Update) => {
            active
                .leases
                .revoke_prefix(&active.router, rest, now, head == "revoke-force")
                .await?;
            Ok(VaultResponse::empty())
        }
        _ => Err(VaultError::UnsupportedPath),
    }
}
