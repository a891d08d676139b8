//! How client commands print: Vault's tables (`Key    Value`), `-format=json`, `-field=NAME`,
//! and Vault's error report. Values are formatted as Vault's Go CLI prints them (`<nil>`,
//! `[a b]`, `map[k:v]`, durations as `768h`), so scripts that parse `vault` output parse ours.

use std::io::{IsTerminal as _, Write as _};

use anyhow::Result;
use serde_json::{Map, Value};
use strongroom_client::{Secret, WrapInfo};

/// An error already reported to the user (Vault's words, on standard error): the command
/// exits with this code and nothing more is printed.
#[derive(Debug)]
pub(crate) struct Reported(pub(crate) i32);

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}", self.0)
    }
}

impl std::error::Error for Reported {}

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

/// `value` as Go's `json.Marshal` writes it: compact, object keys sorted, and `<`, `>`, `&`,
/// U+2028 and U+2029 escaped (they can only occur inside strings).
pub(crate) fn go_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), map.get(k).map(sorted).unwrap_or_default()))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_string(&sorted(value))
        .unwrap_or_default()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
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
        rows.push((
            "identity_policies".into(),
            quoted_list(auth.identity_policies.as_deref().unwrap_or_default()),
        ));
        rows.push(("policies".into(), quoted_list(&auth.policies)));
        if let Some(meta) = &auth.metadata {
            for (k, v) in meta {
                rows.push((format!("token_meta_{k}"), go_value(v)));
            }
        }
    }
    if let Some(wrap) = &secret.wrap_info {
        rows.extend(wrap_rows(wrap));
    }
    rows.extend(map_rows(data));
    rows
}

/// The rows of a wrapped response, as Vault's table prints them (the keys end with a colon
/// there; `-field` names them without it).
fn wrap_rows(wrap: &WrapInfo) -> Vec<(String, String)> {
    let mut rows = vec![
        ("wrapping_token:".to_owned(), wrap.token.to_string()),
        ("wrapping_accessor:".to_owned(), wrap.accessor.clone()),
        ("wrapping_token_ttl:".to_owned(), duration(wrap.ttl)),
        (
            "wrapping_token_creation_time:".to_owned(),
            go_time(&wrap.creation_time),
        ),
        (
            "wrapping_token_creation_path:".to_owned(),
            wrap.creation_path.clone(),
        ),
    ];
    if !wrap.wrapped_accessor.is_empty() {
        rows.push((
            "wrapped_accessor:".to_owned(),
            wrap.wrapped_accessor.clone(),
        ));
    }
    rows
}

/// An RFC 3339 time as Go's `time.Time.String()` prints it (how Vault's table shows a wrapping
/// token's creation time): `2026-12-03 12:25:22.277111089 +0000 UTC`, the fraction without
/// trailing zeros. Text that is not RFC 3339 is shown as it is.
pub(crate) fn go_time(rfc3339: &str) -> String {
    let Some((date, rest)) = rfc3339.split_once('T') else {
        return rfc3339.to_owned();
    };
    let zone_at = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
    let (clock, zone) = rest.split_at(zone_at);
    let clock = match clock.split_once('.') {
        Some((whole, fraction)) => {
            let fraction = fraction.trim_end_matches('0');
            if fraction.is_empty() {
                whole.to_owned()
            } else {
                format!("{whole}.{fraction}")
            }
        }
        None => clock.to_owned(),
    };
    let zone = match zone {
        "Z" | "z" => "+0000 UTC".to_owned(),
        offset if offset.len() == 6 && offset.as_bytes().get(3) == Some(&b':') => {
            let numeric = offset.replace(':', "");
            format!("{numeric} {numeric}")
        }
        _ => return rfc3339.to_owned(),
    };
    format!("{date} {clock} {zone}")
}

/// `text` wrapped at 78 columns with the least raggedness, as Vault's `wrapAtLength` (kr/text's
/// `Wrap`) lays out its messages.
pub(crate) fn wrap_at_length(text: &str) -> String {
    const LIMIT: usize = 78;
    const PENALTY: usize = 100_000;
    let flat = text.trim().replace('\n', " ");
    let words: Vec<&str> = flat.split(' ').collect();
    let n = words.len();
    // starts[k]: the width of words 0..k joined by single spaces, plus one; so the width of
    // words i..j (exclusive) is starts[j] - starts[i] - 1.
    let mut starts = Vec::with_capacity(n + 1);
    starts.push(0usize);
    for word in &words {
        let last = starts.last().copied().unwrap_or(0);
        starts.push(last + word.len() + 1);
    }
    let width = |i: usize, j: usize| -> usize {
        let end = starts.get(j).copied().unwrap_or(0);
        let start = starts.get(i).copied().unwrap_or(0);
        end.saturating_sub(start).saturating_sub(1)
    };
    // cost[i]: the least raggedness of laying out words i.. ; next[i]: where its first line
    // ends. Filled from the last word back (kr/text's WrapWords).
    let mut cost = vec![usize::MAX; n + 1];
    let mut next = vec![n; n + 1];
    for i in (0..n).rev() {
        let (mut best, mut best_next) = (usize::MAX, n);
        if width(i, n) <= LIMIT {
            best = 0;
        } else {
            for j in i + 1..n {
                let line = width(i, j);
                let slack = LIMIT.abs_diff(line);
                let mut c = slack
                    .saturating_mul(slack)
                    .saturating_add(cost.get(j).copied().unwrap_or(usize::MAX));
                if line > LIMIT {
                    c = c.saturating_add(PENALTY);
                }
                if c < best {
                    (best, best_next) = (c, j);
                }
            }
        }
        if let (Some(c), Some(b)) = (cost.get_mut(i), next.get_mut(i)) {
            (*c, *b) = (best, best_next);
        }
    }
    let mut lines = Vec::new();
    let mut i = 0;
    while i < n {
        let end = next.get(i).copied().unwrap_or(n).max(i + 1);
        lines.push(words.get(i..end).unwrap_or_default().join(" "));
        i = end;
    }
    lines.join("\n")
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

/// Looks up `-field` in the secret: the wrapping fields of a wrapped response, `data`, then
/// the auth and lease fields.
fn find_field(secret: &Secret, data: &Map<String, Value>, field: &str) -> Option<Value> {
    if let Some(wrap) = &secret.wrap_info {
        let value = match field {
            "wrapping_token" => Some(wrap.token.to_string()),
            "wrapping_accessor" => Some(wrap.accessor.clone()),
            "wrapping_token_ttl" => Some(duration(wrap.ttl)),
            "wrapping_token_creation_time" => Some(go_time(&wrap.creation_time)),
            "wrapping_token_creation_path" => Some(wrap.creation_path.clone()),
            "wrapped_accessor" => Some(wrap.wrapped_accessor.clone()),
            _ => None,
        };
        if let Some(value) = value {
            return Some(Value::String(value));
        }
    }
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
            eprintln!("Field {field:?} not present in secret");
            return Err(Reported(1).into());
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
    let Some(api) = error
        .root_cause()
        .downcast_ref::<strongroom_client::Error>()
        .and_then(|e| api_text(e, address))
    else {
        return format!("Error: {error:#}");
    };
    // Each context, outermost first ("Error unwrapping: error reading ...: "), then the
    // client's words.
    let contexts: Vec<String> = error
        .chain()
        .take(error.chain().count().saturating_sub(1))
        .map(ToString::to_string)
        .collect();
    let mut text = String::new();
    if !contexts.is_empty() {
        text.push_str(&format!("Error {}: ", contexts.join(": ")));
    }
    text.push_str(&api);
    text
}

/// An API error as Vault's client words it (`Error making API request. ...`); `None` for
/// other errors.
pub(crate) fn api_text(error: &strongroom_client::Error, address: &str) -> Option<String> {
    let strongroom_client::Error::Api {
        method,
        path,
        status,
        errors,
    } = error
    else {
        return None;
    };
    let mut text = format!(
        "Error making API request.\n\nURL: {method} {address}/v1/{path}\nCode: {status}. Errors:\n"
    );
    for e in errors {
        text.push_str(&format!("\n* {e}"));
    }
    Some(text)
}

/// `what: context: ...: cause`, as Vault's CLI chains an error's messages, with an API error
/// worded as Vault's client words it.
pub(crate) fn chained(what: &str, error: &anyhow::Error, address: &str) -> String {
    let mut parts = vec![what.to_owned()];
    for cause in error.chain() {
        if let Some(client_error) = cause.downcast_ref::<strongroom_client::Error>() {
            parts.push(api_text(client_error, address).unwrap_or_else(|| client_error.to_string()));
            break;
        }
        parts.push(cause.to_string());
    }
    parts.join(": ")
}

/// Vault's exit codes: 2 when the server answered with an error or could not be reached, 1 for
/// anything local (bad arguments, unreadable files).
pub(crate) fn exit_code(error: &anyhow::Error) -> i32 {
    if let Some(Reported(code)) = error.downcast_ref::<Reported>() {
        return *code;
    }
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

    /// `bao kv get -wrap-ttl=5m secret/w` and `bao token create -wrap-ttl=90s`, as OpenBao
    /// 2.7.2 printed them (recorded).
    #[test]
    fn wrapped_responses_print_as_bao_prints_them() {
        let secret: Secret = serde_json::from_value(json!({
            "request_id": "", "data": null, "wrap_info": {
                "token": "s.oIeh0TlfQcIHDgUFifiAJW3w", "accessor": "JRFRAMuF6mcSHxfkMpS9aGVE",
                "ttl": 300, "creation_time": "2026-12-03T12:25:22.277111089Z",
                "creation_path": "secret/data/w"}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            kv_table(&secret_rows(&secret, &secret.data)),
            "\
Key                              Value
---                              -----
wrapping_token:                  s.oIeh0TlfQcIHDgUFifiAJW3w
wrapping_accessor:               JRFRAMuF6mcSHxfkMpS9aGVE
wrapping_token_ttl:              5m
wrapping_token_creation_time:    2026-12-03 12:25:22.277111089 +0000 UTC
wrapping_token_creation_path:    secret/data/w"
        );
        let token: Secret = serde_json::from_value(json!({
            "wrap_info": {
                "token": "s.6FiVZhg5Klo8atJjjlKVUpgf", "accessor": "v0dcGTfTRoKgI3v6WiFHS7UQ",
                "ttl": 90, "creation_time": "2026-12-03T12:25:22.896750532Z",
                "creation_path": "auth/token/create",
                "wrapped_accessor": "qP8RURRnBPXkHTEN5AKlcmyd"}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            kv_table(&secret_rows(&token, &Map::new())),
            "\
Key                              Value
---                              -----
wrapping_token:                  s.6FiVZhg5Klo8atJjjlKVUpgf
wrapping_accessor:               v0dcGTfTRoKgI3v6WiFHS7UQ
wrapping_token_ttl:              1m30s
wrapping_token_creation_time:    2026-12-03 12:25:22.896750532 +0000 UTC
wrapping_token_creation_path:    auth/token/create
wrapped_accessor:                qP8RURRnBPXkHTEN5AKlcmyd"
        );
        assert_eq!(
            find_field(&token, &Map::new(), "wrapping_token"),
            Some(json!("s.6FiVZhg5Klo8atJjjlKVUpgf"))
        );
        assert_eq!(find_field(&secret, &Map::new(), "a"), None);
    }

    /// `bao unwrap` against a server without `sys/wrapping/unwrap`, as OpenBao 2.7.2 words it
    /// (recorded), and a login's error chain.
    #[test]
    fn errors_chain_their_contexts_as_vaults_cli() {
        let api = || strongroom_client::Error::Api {
            method: "GET".into(),
            path: "cubbyhole/response".into(),
            status: 403,
            errors: vec!["permission denied".into()],
        };
        let error = anyhow::Error::new(api())
            .context("error reading \"cubbyhole/response\"")
            .context("unwrapping");
        assert_eq!(
            report(&error, "http://127.0.0.1:8200"),
            "Error unwrapping: error reading \"cubbyhole/response\": Error making API request.\n\n\
             URL: GET http://127.0.0.1:8200/v1/cubbyhole/response\nCode: 403. Errors:\n\n\
             * permission denied"
        );
        let error = anyhow::Error::new(api()).context("error looking up token");
        assert!(
            chained("Error authenticating", &error, "http://x").starts_with(
                "Error authenticating: error looking up token: Error making API request.\n\nURL: GET http://x/v1/"
            )
        );
        assert_eq!(
            report(&anyhow::anyhow!("local"), "http://x"),
            "Error: local"
        );
        assert_eq!(exit_code(&Reported(1).into()), 1);
        assert_eq!(exit_code(&anyhow::Error::new(api())), 2);
    }

    #[test]
    fn json_as_go_marshals_it() {
        assert_eq!(
            go_json(&json!({"b": 1, "a": {"z": "<x> & y", "c": [true]}})),
            r#"{"a":{"c":[true],"z":"\u003cx\u003e \u0026 y"},"b":1}"#
        );
    }

    #[test]
    fn times_print_as_go_prints_them() {
        assert_eq!(
            go_time("2026-12-03T12:25:22.277111089Z"),
            "2026-12-03 12:25:22.277111089 +0000 UTC"
        );
        assert_eq!(
            go_time("2026-12-03T12:25:22.500Z"),
            "2026-12-03 12:25:22.5 +0000 UTC"
        );
        assert_eq!(
            go_time("2026-12-03T12:25:22Z"),
            "2026-12-03 12:25:22 +0000 UTC"
        );
        assert_eq!(
            go_time("2026-12-03T14:25:22.1+02:00"),
            "2026-12-03 14:25:22.1 +0200 +0200"
        );
        assert_eq!(go_time("yesterday"), "yesterday");
    }

    /// The paragraphs of `bao login`, as OpenBao 2.7.2 wraps them (recorded).
    #[test]
    fn messages_wrap_as_vaults_do() {
        assert_eq!(
            wrap_at_length(
                "Success! You are now authenticated. The token information displayed below \
                 is already stored in the token helper. You do NOT need to run \"bao login\" \
                 again. Future OpenBao requests will automatically use this token."
            ),
            "Success! You are now authenticated. The token information displayed below is\n\
             already stored in the token helper. You do NOT need to run \"bao login\" again.\n\
             Future OpenBao requests will automatically use this token."
        );
        assert_eq!(
            wrap_at_length(
                "WARNING! The BAO_TOKEN environment variable is set! The value of this \
                 variable will take precedence; if this is unwanted please unset BAO_TOKEN or \
                 update its value accordingly."
            ),
            "WARNING! The BAO_TOKEN environment variable is set! The value of this variable\n\
             will take precedence; if this is unwanted please unset BAO_TOKEN or update its\n\
             value accordingly."
        );
        assert_eq!(
            wrap_at_length(
                "Unknown auth method: approle. Use \"bao auth list\" to see the complete list \
                 of auth methods. Additionally, some auth methods are only available via the \
                 HTTP API."
            ),
            "Unknown auth method: approle. Use \"bao auth list\" to see the complete list of\n\
             auth methods. Additionally, some auth methods are only available via the HTTP\n\
             API."
        );
        assert_eq!(wrap_at_length("short"), "short");
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
