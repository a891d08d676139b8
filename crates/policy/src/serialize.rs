//! Printing policies back as HCL and JSON.

use std::fmt::Write as _;
use std::time::Duration;

use crate::policy::{ParameterMap, Policy, Rule};
use crate::value::Value;

/// A string literal HCL reads back as the same string: JSON-style escapes, plus `$${` and
/// `%%{` so no template sequence is formed.
fn hcl_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len().saturating_add(2));
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{n:.0}")
    } else {
        format!("{n}")
    }
}

fn hcl_value(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number(*n)),
        Value::String(s) => out.push_str(&hcl_string(s)),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                hcl_value(item, out);
            }
            out.push(']');
        }
        Value::Map(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&hcl_string(k));
                out.push_str(" = ");
                hcl_value(item, out);
            }
            out.push('}');
        }
    }
}

fn hcl_params(out: &mut String, key: &str, params: &ParameterMap) {
    if params.is_empty() {
        let _ = writeln!(out, "  {key} = {{}}");
        return;
    }
    let _ = writeln!(out, "  {key} = {{");
    for (name, values) in params {
        let _ = write!(out, "    {} = ", hcl_string(name));
        hcl_value(&Value::List(values.clone()), out);
        out.push('\n');
    }
    out.push_str("  }\n");
}

/// The pattern as it must be written to parse back: the parser drops one leading `/`, so a
/// pattern that (still) starts with `/` gets it back.
fn written_pattern(rule: &Rule) -> String {
    let p = rule.pattern.as_str();
    if p.starts_with('/') {
        format!("/{p}")
    } else {
        p.to_owned()
    }
}

fn ttl(d: Duration) -> String {
    format!("{}s", d.as_secs())
}

fn hcl_rule(out: &mut String, rule: &Rule) {
    let _ = writeln!(out, "path {} {{", hcl_string(&written_pattern(rule)));
    let caps: Vec<String> = rule.capabilities.names().map(hcl_string).collect();
    let _ = writeln!(out, "  capabilities = [{}]", caps.join(", "));
    if let Some(p) = &rule.allowed_parameters {
        hcl_params(out, "allowed_parameters", p);
    }
    if let Some(p) = &rule.denied_parameters {
        hcl_params(out, "denied_parameters", p);
    }
    if !rule.required_parameters.is_empty() {
        let names: Vec<String> = rule
            .required_parameters
            .iter()
            .map(|s| hcl_string(s))
            .collect();
        let _ = writeln!(out, "  required_parameters = [{}]", names.join(", "));
    }
    if let Some(d) = rule.min_wrapping_ttl {
        let _ = writeln!(out, "  min_wrapping_ttl = {}", hcl_string(&ttl(d)));
    }
    if let Some(d) = rule.max_wrapping_ttl {
        let _ = writeln!(out, "  max_wrapping_ttl = {}", hcl_string(&ttl(d)));
    }
    out.push_str("}\n");
}

pub(crate) fn to_hcl(policy: &Policy) -> String {
    let mut out = String::new();
    for (i, rule) in policy.rules.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        hcl_rule(&mut out, rule);
    }
    out
}

pub(crate) fn value_to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Number(n) => serde_json::Number::from_f64(*n).map_or(J::Null, J::Number),
        Value::String(s) => J::String(s.clone()),
        Value::List(items) => J::Array(items.iter().map(value_to_json).collect()),
        Value::Map(map) => J::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), value_to_json(v)))
                .collect(),
        ),
    }
}

fn json_params(params: &ParameterMap) -> serde_json::Value {
    serde_json::Value::Object(
        params
            .iter()
            .map(|(k, values)| {
                (
                    k.clone(),
                    serde_json::Value::Array(values.iter().map(value_to_json).collect()),
                )
            })
            .collect(),
    )
}

fn json_rule(rule: &Rule) -> serde_json::Value {
    use serde_json::Value as J;
    let mut obj = serde_json::Map::new();
    obj.insert(
        "capabilities".to_owned(),
        J::Array(
            rule.capabilities
                .names()
                .map(|n| J::String(n.to_owned()))
                .collect(),
        ),
    );
    if let Some(p) = &rule.allowed_parameters {
        obj.insert("allowed_parameters".to_owned(), json_params(p));
    }
    if let Some(p) = &rule.denied_parameters {
        obj.insert("denied_parameters".to_owned(), json_params(p));
    }
    if !rule.required_parameters.is_empty() {
        obj.insert(
            "required_parameters".to_owned(),
            J::Array(
                rule.required_parameters
                    .iter()
                    .map(|s| J::String(s.clone()))
                    .collect(),
            ),
        );
    }
    if let Some(d) = rule.min_wrapping_ttl {
        obj.insert("min_wrapping_ttl".to_owned(), J::String(ttl(d)));
    }
    if let Some(d) = rule.max_wrapping_ttl {
        obj.insert("max_wrapping_ttl".to_owned(), J::String(ttl(d)));
    }
    J::Object(obj)
}

pub(crate) fn to_json(policy: &Policy) -> String {
    use serde_json::Value as J;
    // A list of single-pattern objects keeps document order and repeated patterns.
    let paths: Vec<J> = policy
        .rules
        .iter()
        .map(|rule| {
            let mut one = serde_json::Map::new();
            one.insert(written_pattern(rule), json_rule(rule));
            J::Object(one)
        })
        .collect();
    let mut top = serde_json::Map::new();
    top.insert("path".to_owned(), J::Array(paths));
    serde_json::to_string_pretty(&J::Object(top)).unwrap_or_default()
}
