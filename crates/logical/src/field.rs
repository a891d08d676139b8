//! Request fields decoded as Vault's framework field types decode them.
//!
//! Vault reads JSON bodies with numbers kept as text and converts each field with mapstructure's
//! weak decoding, so `"3"` is an integer, `"false"` a boolean and `""` the type's zero value, while
//! `1.0` is not an integer and `"yes"` not a boolean. The rules here follow OpenBao 2.7's
//! `sdk/framework/field_data.go` and `parseutil`; a value that does not convert is refused with
//! OpenBao's wording (`Field validation failed: error converting input for field "num_uses": ...`,
//! a 400), never turned into a default.
//!
//! Every getter returns `Ok(None)` when the field is absent or JSON `null` (Vault's `GetOk`
//! reports those as unset), so callers keep their own defaults for unset fields only.
//!
//! ```
//! use serde_json::json;
//! use strongroom_logical::field;
//!
//! let data = json!({"num_uses": "3", "renewable": "false", "ttl": "1h30m"});
//! let data = data.as_object().unwrap();
//! assert_eq!(field::int(data, "num_uses").unwrap(), Some(3));
//! assert_eq!(field::bool(data, "renewable").unwrap(), Some(false));
//! assert_eq!(field::duration(data, "ttl").unwrap().map(|d| d.as_secs()), Some(5400));
//! assert!(field::int(&json!({"n": 1.5}).as_object().unwrap(), "n").is_err());
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::{LogicalError, Result};

/// The refusal for a field whose value does not convert, in OpenBao's words.
fn refuse(name: &str, detail: impl std::fmt::Display) -> LogicalError {
    LogicalError::invalid(format!(
        "Field validation failed: error converting input for field {name:?}: {detail}"
    ))
}

/// The field's value, `None` when absent or `null`.
fn raw<'a>(data: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    data.get(name).filter(|v| !v.is_null())
}

/// A JSON value as the text Vault's weak decoding sees for a scalar (numbers as written).
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(true) => Some("1".to_owned()),
        Value::Bool(false) => Some("0".to_owned()),
        _ => None,
    }
}

/// The Go type Vault's JSON decoding gives `value` (bodies are decoded with `UseNumber`), as
/// mapstructure names it in its errors.
fn go_type(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "string",
        Value::Number(_) => "json.Number",
        Value::Bool(_) => "bool",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
        Value::Null => "<nil>",
    }
}

/// mapstructure's refusal of a value of the wrong shape, e.g.
/// `'' expected type 'int', got unconvertible type '[]interface {}'`.
fn unconvertible(at: &str, expected: &str, value: &Value) -> String {
    format!(
        "'{at}' expected type '{expected}', got unconvertible type '{}'",
        go_type(value)
    )
}

/// Go's `strconv.ParseInt(s, 0, 64)`: an optional sign, then decimal, or `0x`/`0o`/`0b`/`0`
/// prefixed hexadecimal, octal or binary, with `_` between digits allowed only with a prefix.
/// `Err(true)` when the text is an integer out of range, `Err(false)` for bad syntax.
fn parse_go_int(text: &str) -> std::result::Result<i64, bool> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, text.get(1..).ok_or(false)?),
        Some(b'+') => (false, text.get(1..).ok_or(false)?),
        _ => (false, text),
    };
    let lower = digits.to_ascii_lowercase();
    let (radix, body) = if let Some(rest) = lower.strip_prefix("0x") {
        (16, rest.trim_start_matches('_'))
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (8, rest.trim_start_matches('_'))
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (2, rest.trim_start_matches('_'))
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower.get(1..).ok_or(false)?.trim_start_matches('_'))
    } else {
        (10, lower.as_str())
    };
    // Underscores may separate digits, as in Go literals (not lead, trail or double up).
    if body.starts_with('_') || body.ends_with('_') || body.contains("__") {
        return Err(false);
    }
    let body = body.replace('_', "");
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return Err(false);
    }
    let magnitude = u64::from_str_radix(&body, radix).map_err(|_| true)?;
    if negative {
        0_i64.checked_sub_unsigned(magnitude).ok_or(true)
    } else {
        i64::try_from(magnitude).map_err(|_| true)
    }
}

/// A `TypeInt` value (at `at`, `''` for the field itself).
fn int_at(at: &str, value: &Value) -> std::result::Result<i64, String> {
    let text = scalar_text(value).ok_or_else(|| unconvertible(at, "int", value))?;
    if text.is_empty() {
        return Ok(0);
    }
    parse_go_int(&text).map_err(|out_of_range| {
        let why = if out_of_range {
            "value out of range"
        } else {
            "invalid syntax"
        };
        format!("'{at}' cannot parse value as 'int': strconv.ParseInt: {why}")
    })
}

/// Converts a `TypeInt` value: integers, integer strings (`"3"`, `"-1"`, `"0x10"`), booleans
/// (1 or 0) and `""` (0). The error is mapstructure's detail, without the field name.
pub(crate) fn convert_int(value: &Value) -> std::result::Result<i64, String> {
    int_at("", value)
}

/// Converts a `TypeBool` value.
pub(crate) fn convert_bool(value: &Value) -> std::result::Result<bool, String> {
    if let Value::Bool(b) = value {
        return Ok(*b);
    }
    let text = scalar_text(value).ok_or_else(|| unconvertible("", "bool", value))?;
    match text.as_str() {
        "" | "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        _ => Err("'' cannot parse value as 'bool': strconv.ParseBool: invalid syntax".to_owned()),
    }
}

/// Converts a `TypeString` value: strings, and numbers and booleans as their text.
pub(crate) fn convert_string(value: &Value) -> std::result::Result<String, String> {
    scalar_text(value).ok_or_else(|| unconvertible("", "string", value))
}

/// Converts a `TypeDurationSecond` (`signed == false`: negatives refused) or
/// `TypeSignedDurationSecond` value to whole seconds.
pub(crate) fn convert_duration(value: &Value, signed: bool) -> std::result::Result<i64, String> {
    let text = match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return Err("could not parse duration from input".to_owned()),
    };
    let seconds = duration_seconds(&text)?;
    if !signed && seconds < 0 {
        return Err(format!("cannot provide negative value '{seconds}'"));
    }
    Ok(seconds)
}

/// The items of a list-of-strings value, each a scalar converted as [`string`] does.
fn list_items(items: &[Value]) -> std::result::Result<Vec<String>, String> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            scalar_text(item).ok_or_else(|| unconvertible(&format!("[{i}]"), "string", item))
        })
        .collect()
}

/// Converts a `TypeStringSlice` (`comma == false`: one string is one item) or
/// `TypeCommaStringSlice` (a string is split at commas) value. Items are trimmed; `""` is the
/// empty list.
pub(crate) fn convert_string_slice(
    value: &Value,
    comma: bool,
) -> std::result::Result<Vec<String>, String> {
    let items = match value {
        Value::Array(items) => list_items(items)?,
        Value::String(s) if s.is_empty() => Vec::new(),
        Value::String(s) if comma => s.split(',').map(str::to_owned).collect(),
        Value::Object(_) => return Err(unconvertible("", "[]string", value)),
        other => vec![scalar_text(other).ok_or_else(|| unconvertible("", "[]string", other))?],
    };
    Ok(items.into_iter().map(|s| s.trim().to_owned()).collect())
}

/// Converts a `TypeCommaIntSlice` value: a JSON array of integers (or integer strings), or a
/// string of comma-separated integers; `""` is the empty list.
pub(crate) fn convert_comma_int_slice(value: &Value) -> std::result::Result<Vec<i64>, String> {
    match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| int_at(&format!("[{i}]"), item))
            .collect(),
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::String(s) => s
            .split(',')
            .enumerate()
            .map(|(i, item)| int_at(&format!("[{i}]"), &Value::String(item.to_owned())))
            .collect(),
        Value::Object(_) => Err(unconvertible("", "[]int", value)),
        other => Ok(vec![int_at("[0]", other)?]),
    }
}

/// Converts a `TypeMap` value (a JSON object; `""` is the empty map), taking it by value so an
/// object is moved, never copied.
pub(crate) fn convert_map(value: Value) -> std::result::Result<Map<String, Value>, String> {
    match value {
        Value::Object(map) => Ok(map),
        Value::String(s) if s.is_empty() => Ok(Map::new()),
        other => Err(unconvertible("", "map[string]interface {}", &other)),
    }
}

/// Whether a value converts as a `TypeMap` (without taking it).
pub(crate) fn check_map(value: &Value) -> std::result::Result<(), String> {
    match value {
        Value::Object(_) => Ok(()),
        Value::String(s) if s.is_empty() => Ok(()),
        other => Err(unconvertible("", "map[string]interface {}", other)),
    }
}

/// Converts a `TypeKVPairs` value: an object whose values are scalars, or a list of `key=value`
/// strings.
pub(crate) fn convert_kv_pairs(
    value: &Value,
) -> std::result::Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                let text = if value.is_null() {
                    String::new()
                } else {
                    scalar_text(value)
                        .ok_or_else(|| unconvertible(&format!("[{key}]"), "string", value))?
                };
                out.insert(key.clone(), text);
            }
        }
        Value::Array(items) => {
            for item in list_items(items)? {
                match item.split_once('=') {
                    Some((key, value)) if !key.is_empty() => {
                        out.insert(key.to_owned(), value.to_owned());
                    }
                    _ => return Err(format!("invalid key pair {item:?}")),
                }
            }
        }
        Value::String(s) if s.is_empty() => {}
        other => return Err(unconvertible("", "map[string]string", other)),
    }
    Ok(out)
}

/// Vault's weak conversion of one scalar to text (`3` is `"3"`, `true` is `"1"`), for values
/// inside a map field that an engine reads as strings (KV's `custom_metadata`).
///
/// # Errors
///
/// mapstructure's wording for arrays and objects (`'' expected type 'string', got unconvertible
/// type '[]interface {}'`).
pub fn weak_string(value: &Value) -> std::result::Result<String, String> {
    if value.is_null() {
        return Ok(String::new());
    }
    convert_string(value)
}

/// Converts one value of a `TypeInt` nested inside another field (KV's `options.cas`).
///
/// # Errors
///
/// mapstructure's wording for a value that is not an integer.
pub fn weak_int(value: &Value) -> std::result::Result<i64, String> {
    convert_int(value)
}

/// A `TypeInt` field: integers, integer strings (`"3"`, `"-1"`, `"0x10"`), booleans (1 or 0) and
/// `""` (0). Fractions (`1.0`, `"1.5"`) and other text are refused.
///
/// # Errors
///
/// [`LogicalError::InvalidRequest`] for a value that is not an integer.
pub fn int(data: &Map<String, Value>, name: &str) -> Result<Option<i64>> {
    raw(data, name)
        .map(|v| convert_int(v).map_err(|d| refuse(name, d)))
        .transpose()
}

/// A `TypeInt` field that must not be negative and must fit `T` (counts, sizes, lengths).
///
/// # Errors
///
/// As [`int`]; negative values and values too large for `T` are refused too.
pub fn count<T: TryFrom<i64>>(data: &Map<String, Value>, name: &str) -> Result<Option<T>> {
    match int(data, name)? {
        None => Ok(None),
        Some(n) if n < 0 => Err(refuse(
            name,
            format_args!("cannot provide negative value '{n}'"),
        )),
        Some(n) => T::try_from(n)
            .map(Some)
            .map_err(|_| refuse(name, format_args!("value {n} is too large"))),
    }
}

/// A `TypeBool` field: booleans, Go's `strconv.ParseBool` strings (`1 t T TRUE true True`,
/// `0 f F FALSE false False`), `""` (false), and the numbers 1 and 0.
///
/// # Errors
///
/// [`LogicalError::InvalidRequest`] for anything else.
pub fn bool(data: &Map<String, Value>, name: &str) -> Result<Option<bool>> {
    raw(data, name)
        .map(|v| convert_bool(v).map_err(|d| refuse(name, d)))
        .transpose()
}

/// Go's `time.ParseDuration` for durations that are not negative: `"1h30m"`, `"1.5s"`,
/// `"500ms"`; `None` for anything else. For settings finer than the seconds Vault's duration
/// fields keep.
pub fn go_duration(text: &str) -> Option<std::time::Duration> {
    let nanos = u64::try_from(parse_go_duration(text)?).ok()?;
    Some(std::time::Duration::from_nanos(nanos))
}

/// Go's `time.ParseDuration`, in nanoseconds: signed decimal numbers with optional fractions,
/// each with a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), e.g. `"1h30m"`, `"1.5s"`, `"-2m"`.
fn parse_go_duration(text: &str) -> Option<i128> {
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, text.get(1..)?),
        Some(b'+') => (false, text.get(1..)?),
        _ => (false, text),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(number_len);
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
            return None;
        }
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        let whole: i128 = if whole.is_empty() {
            0
        } else {
            whole.parse().ok()?
        };
        let mut amount = whole.checked_mul(scale)?;
        let mut place = scale;
        for digit in fraction.bytes() {
            place /= 10;
            amount = amount.checked_add(i128::from(digit - b'0').checked_mul(place)?)?;
        }
        total = total.checked_add(amount)?;
        // Go refuses durations beyond i64 nanoseconds (about 292 years).
        if total > i128::from(i64::MAX) {
            return None;
        }
        rest = next;
    }
    Some(if negative { -total } else { total })
}

/// Seconds as `parseutil.ParseDurationSecond` reads them: `""` is 0; text ending in `s`, `m` or
/// `h` is a Go duration (`"90s"`, `"1h30m"`, `"1.5h"`, `"500ms"`, truncated to whole seconds);
/// text ending in `d` is whole days; anything else (a JSON integer or integer text) is seconds.
fn duration_seconds(text: &str) -> std::result::Result<i64, String> {
    if text.is_empty() {
        return Ok(0);
    }
    if text.ends_with(['s', 'm', 'h']) {
        let nanos =
            parse_go_duration(text).ok_or_else(|| format!("time: invalid duration {text:?}"))?;
        return i64::try_from(nanos / 1_000_000_000).map_err(|_| "duration too large".to_owned());
    }
    if let Some(days) = text.strip_suffix('d') {
        let days: i64 = days
            .parse()
            .map_err(|_| format!("invalid duration {text:?}"))?;
        return days
            .checked_mul(86_400)
            .ok_or_else(|| "duration too large".to_owned());
    }
    text.parse::<i64>()
        .map_err(|_| format!("time: invalid duration {text:?}"))
}

/// A `TypeDurationSecond` field: `"1h30m"`, `"90s"`, `"2d"`, `3600`, `"3600"`, `""` (zero).
/// Negative durations, fractions without a unit (`1.5`) and other text are refused.
///
/// # Errors
///
/// [`LogicalError::InvalidRequest`] for a value that is not a duration or is negative.
pub fn duration(data: &Map<String, Value>, name: &str) -> Result<Option<Duration>> {
    let Some(value) = raw(data, name) else {
        return Ok(None);
    };
    let seconds = convert_duration(value, false).map_err(|detail| refuse(name, detail))?;
    Ok(Some(Duration::from_secs(seconds.unsigned_abs())))
}

/// A `TypeString` field: strings, and numbers and booleans as their text (`3` is `"3"`, `true`
/// is `"1"`, as Go's weak decoding writes them).
///
/// # Errors
///
/// [`LogicalError::InvalidRequest`] for an array or object.
pub fn string(data: &Map<String, Value>, name: &str) -> Result<Option<String>> {
    raw(data, name)
        .map(|v| convert_string(v).map_err(|d| refuse(name, d)))
        .transpose()
}

/// A `TypeStringSlice` field: a JSON array of scalars, or one string taken as a one-item list
/// (not split at commas); `""` is the empty list. Items are trimmed.
///
/// # Errors
///
/// [`LogicalError::InvalidRequest`] for objects or nested arrays.
pub fn string_slice(data: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>> {
    raw(data, name)
        .map(|v| convert_string_slice(v, false).map_err(|d| refuse(name, d)))
        .transpose()
}

/// A `TypeCommaStringSlice` field: a JSON array of scalars, or a string split at commas; `""` is
/// the empty list. Items are trimmed.
///
/// # Errors
///
/// [`LogicalError::InvalidRequest`] for objects or nested arrays.
pub fn comma_string_slice(data: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>> {
    raw(data, name)
        .map(|v| convert_string_slice(v, true).map_err(|d| refuse(name, d)))
        .transpose()
}

/// A `TypeMap` field: a JSON object (`""` is the empty map).
///
/// # Errors
///
/// [`LogicalError::InvalidRequest`] for anything that is not an object.
pub fn map(data: &Map<String, Value>, name: &str) -> Result<Option<Map<String, Value>>> {
    raw(data, name)
        .map(|v| convert_map(v.clone()).map_err(|d| refuse(name, d)))
        .transpose()
}

/// A `TypeKVPairs` field: an object whose values are scalars (converted as [`string`] does), or
/// a list of `key=value` strings.
///
/// # Errors
///
/// [`LogicalError::InvalidRequest`] for nested values or a list item without `=`.
pub fn kv_pairs(data: &Map<String, Value>, name: &str) -> Result<Option<BTreeMap<String, String>>> {
    raw(data, name)
        .map(|v| convert_kv_pairs(v).map_err(|d| refuse(name, d)))
        .transpose()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    //! The conversion rules themselves are one table, in the path framework's tests
    //! (`framework::tests::conversion_rules`); these check the map-level wrappers around them.

    use super::*;
    use serde_json::json;

    fn one(value: Value) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("f".into(), value);
        map
    }

    #[test]
    fn wrappers_treat_absent_and_null_as_unset_and_word_refusals_as_vault() {
        assert_eq!(int(&one(Value::Null), "f").unwrap(), None);
        assert_eq!(int(&Map::new(), "f").unwrap(), None);
        assert_eq!(int(&one(json!("3")), "f").unwrap(), Some(3));
        assert_eq!(bool(&one(json!("false")), "f").unwrap(), Some(false));
        assert_eq!(
            duration(&one(json!("1h30m")), "f").unwrap(),
            Some(Duration::from_secs(5400))
        );
        assert_eq!(string(&one(json!(3)), "f").unwrap().as_deref(), Some("3"));
        assert_eq!(
            comma_string_slice(&one(json!("a, b")), "f").unwrap(),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(
            string_slice(&one(json!("a,b")), "f").unwrap(),
            Some(vec!["a,b".to_owned()])
        );
        assert_eq!(map(&one(json!({"a": 1})), "f").unwrap().unwrap()["a"], 1);
        assert_eq!(
            kv_pairs(&one(json!(["a=1"])), "f").unwrap().unwrap()["a"],
            "1"
        );
        let err = int(&one(json!("x")), "f").unwrap_err().to_string();
        assert_eq!(
            err,
            "Field validation failed: error converting input for field \"f\": '' cannot parse \
             value as 'int': strconv.ParseInt: invalid syntax"
        );
        let err = duration(&one(json!(-5)), "f").unwrap_err().to_string();
        assert!(err.contains("cannot provide negative value '-5'"), "{err}");
    }

    #[test]
    fn count_rules() {
        assert_eq!(count::<u32>(&one(json!("3")), "f").unwrap(), Some(3));
        assert!(count::<u32>(&one(json!(-1)), "f").is_err());
        assert!(count::<u32>(&one(json!(5_000_000_000_u64)), "f").is_err());
        assert_eq!(count::<u32>(&one(json!("")), "f").unwrap(), Some(0));
    }
}
