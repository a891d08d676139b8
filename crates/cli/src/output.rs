//! How client commands print: Vault's tables (`Key    Value`), `-format=json`, `-field=NAME`,
//! and Vault's error report. Values are formatted as Vault's Go CLI prints them (`<nil>`,
//! `[a b]`, `map[k:v]`, durations as `768h`), so scripts that parse `vault` output parse ours.

use std::io::{IsTerminal as _, Write as _};

use anyhow::{Result, bail};
use serde_json::{Map, Value};
use strongroom_client::Secret;

/// The output flags every client command takes.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct OutputArgs {
    /// Output format: `table` or `json`.
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub(crate) format: String,
    /// Print only this field's value (no trailing newline unless printing to a terminal).
    #[arg(long)]
    pub(crate) field: Option<String>,
}

impl OutputArgs {
    /// Whether JSON was asked for.
    pub(crate) fn json(&self) -> bool {
        self.format == "json"
    }
}

/// A value as Go's `%v` prints it, which is how Vault's tables show values.
pub(crate) fn go_value(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(go_value).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", map.get(k).map(go_value).unwrap_or_default()))
                .collect();
            format!("map[{}]", inner.join(" "))
        }
    }
}

/// Seconds as Vault prints durations: Go's format with zero units dropped (`768h`, `1h30m`,
/// `1h1s`, `45s`, `0s`).
pub(crate) fn duration(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// Whether Vault's CLI prints the field `key` as a duration (its `looksLikeDuration`).
fn looks_like_duration(key: &str) -> bool {
    ["period", "ttl", "duration"]
        .iter()
        .any(|name| key == *name || key.strip_suffix(name).is_some_and(|k| k.ends_with('_')))
        || key == "lease_max"
        || key == "ttl_max"
}

/// A data field's cell: integer durations for duration-like keys, Go's `%v` otherwise.
pub(crate) fn cell(key: &str, value: &Value) -> String {
    match value.as_u64() {
        Some(seconds) if looks_like_duration(key) => duration(seconds),
        _ => go_value(value),
    }
}

/// A list of strings as Go's `%q` prints a `[]string`: `["a" "b"]`.
fn quoted_list(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|item| serde_json::to_string(item).unwrap_or_default())
        .collect();
    format!("[{}]", quoted.join(" "))
}

/// Columns separated by four spaces, with a dashed line under the headers, empty cells shown
/// as `n/a` (Vault's columnize settings).
pub(crate) fn columns(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(i) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        let last = cells.len().saturating_sub(1);
        for (i, cell) in cells.into_iter().enumerate() {
            let cell = if cell.is_empty() {
                "n/a".to_owned()
            } else {
                cell
            };
            if i == last {
                out.push_str(&cell);
            } else {
                let width = widths.get(i).copied().unwrap_or(0);
                out.push_str(&format!("{cell:<width$}    "));
            }
        }
        out.trim_end().to_owned()
    };
    let mut lines = vec![
        line(headers.iter().map(|h| (*h).to_owned()).collect()),
        line(headers.iter().map(|h| "-".repeat(h.len())).collect()),
    ];
    lines.extend(rows.iter().map(|row| line(row.clone())));
    lines.join("\n")
}

/// A `Key    Value` table.
pub(crate) fn kv_table(rows: &[(String, String)]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|(k, v)| vec![k.clone(), v.clone()])
        .collect();
    columns(&["Key", "Value"], &rows)
}

/// A header padded with `=` to about `width`, as Vault's `padEqualSigns` prints it (an odd
/// number of signs rounds up on both sides; too narrow a width gets two on each side).
pub(crate) fn header(title: &str, width: usize) -> String {
    let signs = match width.saturating_sub(title.len() + 2) {
        0 => 4,
        n => n,
    };
    let half = "=".repeat(signs.div_ceil(2));
    format!("{half} {title} {half}")
}

/// The header over a `Key    Value` table of `rows`: sized by the longest key plus the
/// column gap and `Value` (Vault's `getHeaderForMap`).
pub(crate) fn table_header(title: &str, rows: &[(String, String)]) -> String {
    let longest = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    header(title, longest + 4 + 5)
}

/// A map's entries, sorted, as table rows.
pub(crate) fn map_rows(map: &Map<String, Value>) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> =
        map.iter().map(|(k, v)| (k.clone(), cell(k, v))).collect();
    rows.sort();
    rows
}

/// The rows Vault prints for a secret: lease fields, the auth block, then the data.
pub(crate) fn secret_rows(secret: &Secret, data: &Map<String, Value>) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    if secret.lease_duration > 0 {
        if secret.lease_id.is_empty() {
            rows.push(("refresh_interval".into(), duration(secret.lease_duration)));
        } else {
            rows.push(("lease_id".into(), secret.lease_id.clone()));
            rows.push(("lease_duration".into(), duration(secret.lease_duration)));
            rows.push(("lease_renewable".into(), secret.renewable.to_string()));
        }
    }
    if let Some(auth) = &secret.auth {
        rows.push(("token".into(), auth.client_token.to_string()));
        rows.push(("token_accessor".into(), auth.accessor.clone()));
        let ttl = if auth.lease_duration == 0 {
            "∞".to_owned()
        } else {
            duration(auth.lease_duration)
        };
        rows.push(("token_duration".into(), ttl));
        rows.push(("token_renewable".into(), auth.renewable.to_string()));
        rows.push(("token_policies".into(), quoted_list(&auth.token_policies)));
        rows.push(("identity_policies".into(), "[]".into()));
        rows.push(("policies".into(), quoted_list(&auth.policies)));
        if let Some(meta) = &auth.metadata {
            for (k, v) in meta {
                rows.push((format!("token_meta_{k}"), go_value(v)));
            }
        }
    }
    rows.extend(map_rows(data));
    rows
}

/// Prints warnings as Vault does, to stderr.
fn warnings(secret: &Secret) {
    if let Some(warnings) = secret.warnings.as_ref().filter(|w| !w.is_empty()) {
        eprintln!("WARNING! The following warnings were returned from Vault:\n");
        for warning in warnings {
            eprintln!("  * {warning}\n");
        }
    }
}

/// Prints `value` raw (for `-field`): strings as they are, others as JSON; a newline only on a
/// terminal, as Vault does, so `$(strongroom kv get -field=password ...)` is exact.
pub(crate) fn raw_field(value: &Value) -> Result<()> {
    let text = match value {
        Value::String(s) => s.clone(),
        other => go_value(other),
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    if stdout.is_terminal() {
        stdout.write_all(b"\n")?;
    }
    stdout.flush()?;
    Ok(())
}

/// Looks up `-field` in the secret: `data` first, then the auth and lease fields.
fn find_field(secret: &Secret, data: &Map<String, Value>, field: &str) -> Option<Value> {
    if let Some(value) = data.get(field) {
        return Some(value.clone());
    }
    secret_rows(secret, &Map::new())
        .into_iter()
        .find(|(k, _)| k == field)
        .map(|(_, v)| Value::String(v))
}

/// Prints a secret as asked: JSON (the whole envelope), one field, or a table of `data`.
pub(crate) fn print_secret(
    secret: &Secret,
    data: &Map<String, Value>,
    out: &OutputArgs,
) -> Result<()> {
    if let Some(field) = &out.field {
        let Some(value) = find_field(secret, data, field) else {
            bail!("field {field:?} not present in secret");
        };
        return raw_field(&value);
    }
    if out.json() {
        println!("{}", serde_json::to_string_pretty(secret)?);
        return Ok(());
    }
    warnings(secret);
    println!("{}", kv_table(&secret_rows(secret, data)));
    Ok(())
}

/// Prints a listing: `Keys` and a line each, or the JSON array.
pub(crate) fn print_keys(keys: &[String], out: &OutputArgs) -> Result<()> {
    if out.json() {
        println!("{}", serde_json::to_string_pretty(keys)?);
    } else {
        let rows: Vec<Vec<String>> = keys.iter().map(|k| vec![k.clone()]).collect();
        println!("{}", columns(&["Keys"], &rows));
    }
    Ok(())
}

/// Prints the success line of a write (nothing with `-format=json`, as Vault).
pub(crate) fn success(message: &str, out: &OutputArgs) {
    if !out.json() {
        println!("Success! {message}");
    }
}

/// Vault's report of a failed API request:
///
/// ```text
/// Error reading secret/x: Error making API request.
///
/// URL: GET http://127.0.0.1:8200/v1/secret/x
/// Code: 403. Errors:
///
/// * permission denied
/// ```
pub(crate) fn report(error: &anyhow::Error, address: &str) -> String {
    let Some(strongroom_client::Error::Api {
        method,
        path,
        status,
        errors,
    }) = error
        .root_cause()
        .downcast_ref::<strongroom_client::Error>()
    else {
        return format!("Error: {error:#}");
    };
    let mut text = String::new();
    if error.chain().count() > 1 {
        text.push_str(&format!("Error {error}: "));
    }
    text.push_str(&format!(
        "Error making API request.\n\nURL: {method} {address}/v1/{path}\nCode: {status}. Errors:\n"
    ));
    for e in errors {
        text.push_str(&format!("\n* {e}"));
    }
    text
}

/// Vault's exit codes: 2 when the server answered with an error or could not be reached, 1 for
/// anything local (bad arguments, unreadable files).
pub(crate) fn exit_code(error: &anyhow::Error) -> i32 {
    if error
        .chain()
        .any(|e| e.downcast_ref::<strongroom_client::Error>().is_some())
    {
        2
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_print_as_go_does() {
        assert_eq!(go_value(&json!(null)), "<nil>");
        assert_eq!(go_value(&json!(["a", 1, true])), "[a 1 true]");
        assert_eq!(go_value(&json!({"b": 1, "a": ["x"]})), "map[a:[x] b:1]");
        assert_eq!(go_value(&json!([])), "[]");
    }

    #[test]
    fn durations_print_as_vault_does() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(45), "45s");
        assert_eq!(duration(90), "1m30s");
        assert_eq!(duration(3600), "1h");
        assert_eq!(duration(3660), "1h1m");
        assert_eq!(duration(2_764_800), "768h");
        assert_eq!(duration(3601), "1h1s");
        assert_eq!(cell("token_ttl", &json!(60)), "1m");
        assert_eq!(cell("lease_duration", &json!(0)), "0s");
        assert_eq!(cell("rotation_period", &json!("1h")), "1h");
        assert_eq!(cell("ttl_count", &json!(60)), "60");
        assert_eq!(
            quoted_list(&["default".into(), "a b".into()]),
            r#"["default" "a b"]"#
        );
    }

    #[test]
    fn tables_and_headers() {
        let table = kv_table(&[
            ("created_time".into(), "t".into()),
            ("custom_metadata".into(), "<nil>".into()),
        ]);
        assert_eq!(
            table,
            "Key                Value\n---                -----\ncreated_time       t\ncustom_metadata    <nil>"
        );
        // As bao 2.7.2 prints them.
        assert_eq!(
            header("Secret Path", "secret/data/myapp/db".len()),
            "==== Secret Path ===="
        );
        assert_eq!(header("Data", 17), "====== Data ======");
        assert_eq!(header("Metadata", 24), "======= Metadata =======");
        assert_eq!(header("Secret Path", 13), "== Secret Path ==");
    }
}
