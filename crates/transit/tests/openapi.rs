//! The OpenAPI document of the transit engine, checked by a real validator
//! (`openapi-spec-validator`, installed by `scripts/services.sh`), and complete: every declared
//! path and field appears in it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::process::Command;

use serde_json::Value;
use strongroom_logical::{Backend, FieldSpec, Operation, openapi_document};
use strongroom_transit::Transit;

fn required() -> bool {
    std::env::var("STRONGROOM_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

#[test]
fn the_transit_document_is_valid_openapi_and_complete() {
    let transit = Transit::new();
    let mounts = [("transit/", transit.endpoints())];
    let doc = openapi_document(&mounts);
    let paths = doc["paths"].as_object().unwrap();

    // Every declared field appears: captures as path parameters, the rest in the request body
    // of writes or as query parameters of reads and lists.
    for (mount, infos) in mounts {
        for info in infos {
            // Optional captures give one path per number present: check the longest.
            let fixed = info.pattern().trim_end_matches("/?").replace("?}", "}");
            let path = format!("/{mount}{fixed}");
            let list_path = format!("{path}/");
            let item = paths
                .get(&path)
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

    let file = std::env::temp_dir().join(format!(
        "strongroom-transit-openapi-{}.json",
        std::process::id()
    ));
    std::fs::write(&file, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
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
