//! The OpenAPI 3 document of declared endpoints (what Vault's `sys/internal/specs/openapi`
//! serves), made from the declarations alone.

use serde_json::{Map, Value, json};

use super::endpoint::EndpointInfo;
use super::fields::{FieldSpec, FieldType};
use crate::Operation;

/// The JSON schema of a field.
fn schema(spec: &FieldSpec) -> Value {
    let field = spec.field();
    let mut out = match field.ty() {
        FieldType::String | FieldType::LowerCaseString => json!({"type": "string"}),
        FieldType::SecretString => json!({
            "type": "string",
            "format": "password",
            "x-vault-displayAttrs": {"sensitive": true},
        }),
        FieldType::Int => json!({"type": "integer"}),
        FieldType::Bool => json!({"type": "boolean"}),
        FieldType::DurationSecond | FieldType::SignedDurationSecond => {
            json!({"type": "string", "format": "duration"})
        }
        FieldType::StringSlice | FieldType::CommaStringSlice => {
            json!({"type": "array", "items": {"type": "string"}})
        }
        FieldType::CommaIntSlice => json!({"type": "array", "items": {"type": "integer"}}),
        FieldType::Map => json!({"type": "object"}),
        FieldType::Slice => json!({"type": "array", "items": {"type": "object"}}),
        FieldType::KvPairs => {
            json!({"type": "object", "additionalProperties": {"type": "string"}})
        }
    };
    if let Value::Object(map) = &mut out {
        if !field.description().is_empty() {
            map.insert("description".into(), field.description().into());
        }
        if spec.has_default {
            let default = match (field.ty(), &spec.fallback) {
                // Durations are documented as text (`"3600s"`), as the schema's type says.
                (FieldType::DurationSecond | FieldType::SignedDurationSecond, Value::Number(n)) => {
                    Value::String(format!("{n}s"))
                }
                (_, canonical) => canonical.clone(),
            };
            map.insert("default".into(), default);
        }
    }
    out
}

fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

fn operation(
    info: &EndpointInfo,
    method: &str,
    path: &str,
    extra: Vec<Value>,
) -> Map<String, Value> {
    let mut op = Map::new();
    if !info.synopsis().is_empty() {
        op.insert("summary".into(), info.synopsis().into());
    }
    if !info.description().is_empty() {
        op.insert("description".into(), info.description().into());
    }
    op.insert(
        "operationId".into(),
        format!("{method}-{}", slug(path)).into(),
    );
    if !extra.is_empty() {
        op.insert("parameters".into(), Value::Array(extra));
    }
    let ok = match method {
        "post" | "patch" | "delete" => json!({
            "200": {"description": "OK"},
            "204": {"description": "empty body"},
        }),
        _ => json!({"200": {"description": "OK"}}),
    };
    op.insert("responses".into(), ok);
    op
}

fn body_fields(info: &EndpointInfo) -> impl Iterator<Item = &FieldSpec> {
    info.fields().iter().filter(|f| !f.is_captured())
}

fn query_parameters(info: &EndpointInfo) -> Vec<Value> {
    body_fields(info)
        .map(|spec| {
            json!({
                "name": spec.name(),
                "in": "query",
                "description": spec.field().description(),
                "schema": schema(spec),
            })
        })
        .collect()
}

fn request_body(info: &EndpointInfo, content_type: &str) -> Option<Value> {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for spec in body_fields(info) {
        properties.insert(spec.name().to_owned(), schema(spec));
        if spec.field().is_required() {
            required.push(Value::String(spec.name().to_owned()));
        }
    }
    if properties.is_empty() && !info.takes_arbitrary_input() {
        return None;
    }
    let mut object = Map::new();
    object.insert("type".into(), "object".into());
    object.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        object.insert("required".into(), Value::Array(required));
    }
    if info.takes_arbitrary_input() {
        object.insert("additionalProperties".into(), Value::Bool(true));
    }
    Some(json!({"content": {content_type: {"schema": object}}}))
}

fn path_item(info: &EndpointInfo, params: &[String]) -> Map<String, Value> {
    let mut item = Map::new();
    if !info.synopsis().is_empty() {
        item.insert("description".into(), info.synopsis().into());
    }
    let parameters: Vec<Value> = params
        .iter()
        .map(|name| {
            let spec = info.fields().iter().find(|f| f.name() == name);
            json!({
                "name": name,
                "in": "path",
                "required": true,
                "description": spec.map_or("", |s| s.field().description()),
                "schema": {"type": "string"},
            })
        })
        .collect();
    if !parameters.is_empty() {
        item.insert("parameters".into(), Value::Array(parameters));
    }
    if info.is_sudo() {
        item.insert("x-vault-sudo".into(), Value::Bool(true));
    }
    if info.is_unauthenticated() {
        item.insert("x-vault-unauthenticated".into(), Value::Bool(true));
    }
    if info.operations().contains(&Operation::Create) {
        item.insert("x-vault-createSupported".into(), Value::Bool(true));
    }
    item
}

/// Merges `item` into the document's `paths` at `path` (operations already there win).
fn insert(paths: &mut Map<String, Value>, path: String, item: Map<String, Value>) {
    match paths.get_mut(&path) {
        Some(Value::Object(existing)) => {
            for (key, value) in item {
                existing.entry(key).or_insert(value);
            }
        }
        _ => {
            paths.insert(path, Value::Object(item));
        }
    }
}

/// The OpenAPI 3.0 document for `mounts`, each a mount path (with its trailing `/`, e.g.
/// `secret/`) and the endpoints mounted there, as Vault's `sys/internal/specs/openapi` builds it:
/// one path per pattern (optional captures give one per number present), `{name}` path
/// parameters for captures, `get` for reads, `post` for creates and updates (with a request body
/// schema from the field types), `patch` (a merge-patch body), `delete`, and lists as `get` on
/// the path with a trailing `/` and `list=true`. Fields become query parameters for `get`,
/// `delete` and lists. Sudo and unauthenticated endpoints carry `x-vault-sudo` and
/// `x-vault-unauthenticated`; secret fields `format: password`.
pub fn openapi_document(mounts: &[(&str, &[EndpointInfo])]) -> Value {
    let mut paths = Map::new();
    for (mount, infos) in mounts {
        for info in *infos {
            for (path, params) in info.pattern.openapi_paths(mount) {
                let ops = info.operations();
                let mut item = path_item(info, &params);
                if ops.contains(&Operation::Read) {
                    item.insert(
                        "get".into(),
                        Value::Object(operation(info, "get", &path, query_parameters(info))),
                    );
                }
                if ops.contains(&Operation::Create) || ops.contains(&Operation::Update) {
                    let mut op = operation(info, "post", &path, Vec::new());
                    if let Some(body) = request_body(info, "application/json") {
                        op.insert("requestBody".into(), body);
                    }
                    item.insert("post".into(), Value::Object(op));
                }
                if ops.contains(&Operation::Patch) {
                    let mut op = operation(info, "patch", &path, Vec::new());
                    if let Some(body) = request_body(info, "application/merge-patch+json") {
                        op.insert("requestBody".into(), body);
                    }
                    item.insert("patch".into(), Value::Object(op));
                }
                if ops.contains(&Operation::Delete) {
                    item.insert(
                        "delete".into(),
                        Value::Object(operation(info, "delete", &path, query_parameters(info))),
                    );
                }
                let lists = ops.contains(&Operation::List);
                let other = item
                    .keys()
                    .any(|k| ["get", "post", "patch", "delete"].contains(&k.as_str()));
                if other {
                    insert(&mut paths, path.clone(), item.clone());
                }
                if lists {
                    let mut list_item = item;
                    for method in ["get", "post", "patch", "delete", "x-vault-createSupported"] {
                        list_item.remove(method);
                    }
                    let list_path = if path.ends_with('/') {
                        path.clone()
                    } else {
                        format!("{path}/")
                    };
                    let mut parameters = vec![json!({
                        "name": "list",
                        "in": "query",
                        "description": "Must be set to `true`",
                        "required": true,
                        "schema": {"type": "string", "enum": ["true"]},
                    })];
                    parameters.extend(query_parameters(info));
                    let op = operation(info, "get", &format!("{list_path}list"), parameters);
                    list_item.insert("get".into(), Value::Object(op));
                    insert(&mut paths, list_path, list_item);
                }
            }
        }
    }
    json!({
        "openapi": "3.0.2",
        "info": {
            "title": "Strongroom",
            "description": "The Vault-compatible HTTP API of Strongroom",
            "version": env!("CARGO_PKG_VERSION"),
            "license": {"name": "MIT OR Apache-2.0"},
        },
        "servers": [{"url": "/v1"}],
        "paths": paths,
    })
}
