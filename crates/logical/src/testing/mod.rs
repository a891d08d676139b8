//! Test helpers for engines built on the path framework (feature `testing`): an in-memory
//! [`context`], [`request`] and [`call`] to drive an engine directly, the backend conformance
//! suite ([`assert_conformance`], [`Conformance`]: what an engine declares is what it serves),
//! and the OpenAPI check ([`assert_openapi_valid_and_complete`]).

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers: a failed check is a failed test"
)]

mod conformance;

pub use conformance::{Conformance, Report, assert_conformance, refused_values};

use std::process::Command;
use std::sync::Arc;

use serde_json::Value;

use crate::{
    Backend, Context, EndpointInfo, FieldSpec, Operation, Request, Response, Result, StorageView,
    openapi_document,
};

/// A context for an engine mounted at `mount` (e.g. `"transit/"`) over fresh in-memory storage.
///
/// # Panics
///
/// When `mount` is not a valid storage prefix.
pub fn context(mount: &str) -> Context {
    let storage = Arc::new(strongroom_storage::MemoryStorage::new());
    let view = StorageView::new(storage, mount).expect("a valid mount prefix");
    Context::new(view, mount)
}

/// A request for `path` carrying `body` (a JSON object).
///
/// # Panics
///
/// When `body` is not a JSON object.
pub fn request(op: Operation, path: &str, body: Value) -> Request {
    let Value::Object(data) = body else {
        panic!("the body must be a JSON object: {body}")
    };
    Request::new(op, path).with_data(data)
}

/// Hands `backend` the request [`request`] builds.
///
/// # Errors
///
/// The engine's.
pub async fn call(
    backend: &dyn Backend,
    ctx: &Context,
    op: Operation,
    path: &str,
    body: Value,
) -> Result<Response> {
    backend.handle(ctx, request(op, path, body)).await
}

/// Whether `STRONGROOM_REQUIRE_SERVICES=1`: a missing tool then fails the test.
fn required() -> bool {
    std::env::var("STRONGROOM_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// Builds the OpenAPI document of `mounts` and checks it: every declared path and field appears
/// (captures as path parameters, the rest in a write's request body or as query parameters),
/// every list endpoint has its `get`, and a real validator (`python3 -m openapi_spec_validator`,
/// installed by `scripts/services.sh`) accepts it. Without python3 or the validator the
/// validation is skipped with a message, unless `STRONGROOM_REQUIRE_SERVICES=1`.
///
/// # Panics
///
/// When a check fails.
pub fn assert_openapi_valid_and_complete(mounts: &[(&str, &[EndpointInfo])]) {
    let doc = openapi_document(mounts);
    assert_openapi_complete(&doc, mounts);
    assert_openapi_valid(&doc);
}

/// Checks that `doc` (an OpenAPI document, as built or as a server served it) documents every
/// endpoint of `mounts`: each path, each declared field (captures as path parameters, the rest
/// in a write's request body or as query parameters), and a `get` for every list endpoint.
///
/// # Panics
///
/// When something is missing.
pub fn assert_openapi_complete(doc: &Value, mounts: &[(&str, &[EndpointInfo])]) {
    let paths = doc["paths"].as_object().expect("the document has paths");
    for (mount, infos) in mounts {
        for info in *infos {
            // Optional captures give one path per number present: fields are checked on the one
            // with every capture.
            let generated = info.pattern.openapi_paths(mount);
            let (path, _) = generated
                .iter()
                .max_by_key(|(_, params)| params.len())
                .unwrap_or_else(|| panic!("{mount}{}: no path", info.pattern()));
            let list_path = if path.ends_with('/') {
                path.clone()
            } else {
                format!("{path}/")
            };
            let item = paths
                .get(path)
                .or_else(|| paths.get(&list_path))
                .unwrap_or_else(|| panic!("{path} missing"));
            for spec in info.fields() {
                assert!(
                    documented(item, spec),
                    "{path}: field {} missing",
                    spec.name()
                );
            }
            if info.operations().contains(&Operation::List) {
                assert!(paths[&list_path]["get"].is_object(), "{list_path} lists");
            }
        }
    }
}

/// Runs a real validator (`python3 -m openapi_spec_validator`, installed by
/// `scripts/services.sh`) on `doc`. Without python3 or the validator the check is skipped with
/// a message, unless `STRONGROOM_REQUIRE_SERVICES=1`.
///
/// # Panics
///
/// When the validator refuses the document, or is required and missing.
pub fn assert_openapi_valid(doc: &Value) {
    validate(doc);
}

/// Runs `openapi-spec-validator` on `doc`.
fn validate(doc: &Value) {
    let file = tempfile_path();
    std::fs::write(&file, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    let run = Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output();
    let output = match run {
        Ok(output) => output,
        Err(e) if !required() => {
            eprintln!("skipping the OpenAPI validation: no python3 ({e})");
            return;
        }
        Err(e) => panic!("python3 is required (STRONGROOM_REQUIRE_SERVICES=1): {e}"),
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("No module named openapi_spec_validator") {
        assert!(
            !required(),
            "openapi-spec-validator is required (STRONGROOM_REQUIRE_SERVICES=1): run scripts/services.sh"
        );
        eprintln!("skipping the OpenAPI validation: pip install openapi-spec-validator");
        return;
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}:\n{stdout}\n{stderr}",
        file.display()
    );
    assert!(stdout.contains("OK"), "{stdout}");
    std::fs::remove_file(&file).ok();
}

/// A file name of this process's own, for the document.
fn tempfile_path() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "strongroom-openapi-{}-{}.json",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Whether `spec` appears in `item`: as a path parameter when captured, else in a write's
/// request body or a read's or delete's query parameters.
fn documented(item: &Value, spec: &FieldSpec) -> bool {
    let named = |params: &Value| {
        params
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["name"] == spec.name()))
    };
    if spec.is_captured() {
        return named(&item["parameters"]);
    }
    ["post", "patch"].iter().any(|method| {
        item[method]["requestBody"]["content"]
            .as_object()
            .is_some_and(|c| {
                c.values()
                    .any(|v| v["schema"]["properties"].get(spec.name()).is_some())
            })
    }) || ["get", "delete"]
        .iter()
        .any(|m| named(&item[m]["parameters"]))
}
