//! KV v1 behaves as OpenBao does: the sequence recorded against OpenBao 2.7.2 by
//! `compat/kv1/record_openbao.py` is replayed through the core and every response compared:
//! status class, `data`, `lease_duration`, and error messages.

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

const FIXTURE: &str = include_str!("../../../compat/kv1/fixtures/openbao-2.7.2.json");

#[tokio::test]
async fn kv1_matches_openbao_step_by_step() {
    let steps: Vec<Value> = serde_json::from_str(FIXTURE).unwrap();
    assert!(steps.len() >= 21, "fixture has {} steps", steps.len());
    let vault = Vault::builder(MemoryStorage::new()).build();
    let init = vault.init(InitRequest::new(1, 1)).await.unwrap();
    vault.unseal(init.keys[0].expose_secret()).await.unwrap();
    let root = init.root_token.expose_secret().to_owned();

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
            (200, Ok(r)) if r.data.is_some() => {
                let ours = Value::Object(r.data.clone().unwrap());
                let theirs = &expected["data"];
                if &ours != theirs {
                    Err(format!("data differs:\n ours   {ours}\n theirs {theirs}"))
                } else if expected["lease_duration"] != json!(r.lease_duration) {
                    Err(format!(
                        "lease_duration differs: ours {} theirs {}",
                        r.lease_duration, expected["lease_duration"]
                    ))
                } else if expected["lease_id"] != json!(r.lease_id)
                    || expected["renewable"] != json!(r.renewable)
                {
                    Err("lease_id or renewable differs".into())
                } else {
                    Ok(())
                }
            }
            (204, Ok(r)) if r.data.is_none() => Ok(()),
            (404, Ok(r)) if r.data.is_none() && expected["errors"] == json!([]) => Ok(()),
            (400, Err(e)) if e.kind() == ErrorKind::InvalidRequest => {
                let message = expected["errors"][0].as_str().unwrap_or_default();
                (e.to_string() == message)
                    .then_some(())
                    .ok_or(format!("message differs:\n ours   {e}\n theirs {message}"))
            }
            // Vault wraps this one in its multi-error text; the HTTP layer will format it.
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
