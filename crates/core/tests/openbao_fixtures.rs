//! KV v1 and v2 behave as OpenBao does: the sequences recorded against OpenBao 2.7.2 by
//! `compat/kv{1,2}/record_openbao.py` are replayed through the core and every response compared:
//! status class, `data` field by field (timestamps normalised), lease fields, and error messages.
//! (`strongroom-http`'s tests replay the same recordings over HTTP, envelopes included.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use serde_json::{Map, Value, json};
use strongroom_core::{InitRequest, Vault, VaultError, VaultRequest, VaultResponse};
use strongroom_logical::{ErrorKind, Operation};
use strongroom_storage::MemoryStorage;

/// Replaces every non-empty timestamp by a marker, so that only structure and values compare.
fn normalize(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("created_time" | "updated_time" | "deletion_time", Value::String(s))
                            if !s.is_empty() =>
                        {
                            json!("<time>")
                        }
                        _ => normalize(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

/// Compares our answer with OpenBao's for one step.
fn compare(
    status: u64,
    expected: &Value,
    result: &Result<VaultResponse, VaultError>,
) -> Result<(), String> {
    let same_data = |r: &VaultResponse| {
        let ours = normalize(&Value::Object(r.data.clone().unwrap_or_default()));
        let theirs = normalize(&expected["data"]);
        (ours == theirs)
            .then_some(())
            .ok_or(format!("data differs:\n ours   {ours}\n theirs {theirs}"))
    };
    match (status, result) {
        (200, Ok(r)) if !r.not_found && r.data.is_some() => {
            same_data(r)?;
            if expected["lease_duration"] != json!(r.lease_duration)
                || expected["lease_id"] != json!(r.lease_id)
                || expected["renewable"] != json!(r.renewable)
            {
                return Err(format!(
                    "lease fields differ: ours {}/{}/{} theirs {}/{}/{}",
                    r.lease_duration,
                    r.lease_id,
                    r.renewable,
                    expected["lease_duration"],
                    expected["lease_id"],
                    expected["renewable"]
                ));
            }
            Ok(())
        }
        (204, Ok(r)) if r.data.is_none() => Ok(()),
        (404, Ok(r)) if r.not_found => same_data(r),
        (404, Ok(r)) if r.data.is_none() && expected["errors"] == json!([]) => Ok(()),
        (400, Err(e)) if e.kind() == ErrorKind::InvalidRequest => {
            let message = expected["errors"][0].as_str().unwrap_or_default();
            (e.to_string() == message)
                .then_some(())
                .ok_or(format!("message differs:\n ours   {e}\n theirs {message}"))
        }
        // Vault wraps this one in its multi-error text; the HTTP layer formats it.
        (405, Err(e)) if e.kind() == ErrorKind::UnsupportedOperation => {
            let message = expected["errors"][0].as_str().unwrap_or_default();
            message
                .contains(&e.to_string())
                .then_some(())
                .ok_or(format!(
                    "message differs:\n ours   {e}\n theirs {message:?}"
                ))
        }
        (_, other) => Err(format!("status {status} expected, got {other:?}")),
    }
}

/// Replays a recording through a fresh vault; `setup` runs first with the root token.
async fn replay(fixture: &str, setup: &[(&str, Value)]) {
    let steps: Vec<Value> = serde_json::from_str(fixture).unwrap();
    let vault = Vault::builder(MemoryStorage::new()).build().unwrap();
    let init = vault.init(InitRequest::new(1, 1)).await.unwrap();
    vault.unseal(init.keys[0].expose_secret()).await.unwrap();
    let root = init.root_token.expose_secret().to_owned();
    for (path, body) in setup {
        vault.write(&root, path, body.clone()).await.unwrap();
    }
    let mut failures = Vec::new();
    for step in &steps {
        let path = step["path"].as_str().unwrap().trim_start_matches("/v1/");
        let operation = match step["method"].as_str().unwrap() {
            "GET" => Operation::Read,
            "LIST" => Operation::List,
            "POST" | "PUT" => Operation::Update,
            "PATCH" => Operation::Patch,
            "DELETE" => Operation::Delete,
            other => panic!("unexpected method {other}"),
        };
        let mut data = Map::new();
        for part in ["query", "body"] {
            if let Some(Value::Object(fields)) = step.get(part) {
                data.extend(fields.clone());
            }
        }
        let result = vault
            .handle(
                VaultRequest::new(operation, path)
                    .with_token(&root)
                    .with_data(data),
            )
            .await;
        if let Err(why) = compare(step["status"].as_u64().unwrap(), &step["response"], &result) {
            failures.push(format!("step {} {}: {why}", step["step"], step["name"]));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} steps differ:\n{}",
        failures.len(),
        steps.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn kv1_matches_openbao_step_by_step() {
    // The recording mounts kv1/ itself (step 0).
    replay(
        include_str!("../../../compat/kv1/fixtures/openbao-2.7.2.json"),
        &[],
    )
    .await;
}

#[tokio::test]
async fn kv2_matches_openbao_step_by_step() {
    // OpenBao's dev server mounts KV v2 at secret/.
    replay(
        include_str!("../../../compat/kv2/fixtures/openbao-2.7.2.json"),
        &[(
            "sys/mounts/secret",
            json!({"type": "kv", "options": {"version": "2"}}),
        )],
    )
    .await;
}
