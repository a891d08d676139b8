//! KV v2 behaves as OpenBao does: the sequence recorded against OpenBao 2.7.2 by
//! `compat/kv2/record_openbao.py` is replayed through the core and every response compared field
//! by field (timestamps and request ids ignored): status class, `data`, and error messages.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use serde_json::{Map, Value, json};
use strongroom_core::{InitRequest, Vault, VaultRequest};
use strongroom_logical::{ErrorKind, Operation};
use strongroom_storage::MemoryStorage;

const FIXTURE: &str = include_str!("../../../compat/kv2/fixtures/openbao-2.7.2.json");

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

#[tokio::test]
async fn kv2_matches_openbao_step_by_step() {
    let steps: Vec<Value> = serde_json::from_str(FIXTURE).unwrap();
    assert!(steps.len() >= 39, "fixture has {} steps", steps.len());
    let vault = Vault::builder(MemoryStorage::new()).build();
    let init = vault.init(InitRequest::new(1, 1)).await.unwrap();
    vault.unseal(init.keys[0].expose_secret()).await.unwrap();
    let root = init.root_token.expose_secret().to_owned();
    // OpenBao's dev server mounts KV v2 at secret/.
    vault
        .write(
            &root,
            "sys/mounts/secret",
            json!({"type": "kv", "options": {"version": "2"}}),
        )
        .await
        .unwrap();

    let mut failures = Vec::new();
    for step in &steps {
        let name = step["name"].as_str().unwrap();
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
        if let Some(Value::Object(query)) = step.get("query") {
            data.extend(query.clone());
        }
        if let Some(Value::Object(body)) = step.get("body") {
            data.extend(body.clone());
        }
        let result = vault
            .handle(
                VaultRequest::new(operation, path)
                    .with_token(&root)
                    .with_data(data),
            )
            .await;
        let status = step["status"].as_u64().unwrap();
        let expected = &step["response"];
        let outcome = match (status, &result) {
            (200, Ok(r)) if !r.not_found && r.data.is_some() => {
                let ours = normalize(&Value::Object(r.data.clone().unwrap()));
                let theirs = normalize(&expected["data"]);
                (ours == theirs)
                    .then_some(())
                    .ok_or(format!("data differs:\n ours   {ours}\n theirs {theirs}"))
            }
            (204, Ok(r)) if r.data.is_none() => Ok(()),
            (404, Ok(r)) if r.not_found => {
                let ours = normalize(&Value::Object(r.data.clone().unwrap_or_default()));
                let theirs = normalize(&expected["data"]);
                (ours == theirs).then_some(()).ok_or(format!(
                    "404 body differs:\n ours   {ours}\n theirs {theirs}"
                ))
            }
            (404, Ok(r)) if r.data.is_none() && expected["errors"] == json!([]) => Ok(()),
            (400, Err(e)) if e.kind() == ErrorKind::InvalidRequest => {
                let message = expected["errors"][0].as_str().unwrap_or_default();
                (e.to_string() == message)
                    .then_some(())
                    .ok_or(format!("message differs:\n ours   {e}\n theirs {message}"))
            }
            (_, other) => Err(format!("status {status} expected, got {other:?}")),
        };
        if let Err(why) = outcome {
            failures.push(format!("step {} {name}: {why}", step["step"]));
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
