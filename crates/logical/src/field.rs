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

/// Go's `strconv.ParseInt(s, 0, 64)`: an optional sign, then decimal, or `0x`/`0o`/`0b`/`0`
/// prefixed hexadecimal, octal or binary, with `_` between digits allowed only with a prefix.
fn parse_go_int(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, text.get(1..)?),
        Some(b'+') => (false, text.get(1..)?),
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
        (8, lower.get(1..)?.trim_start_matches('_'))
    } else {
        (10, lower.as_str())
    };
    // Underscores may separate digits, as in Go literals (not lead, trail or double up).
    if body.starts_with('_') || body.ends_with('_') || body.contains("__") {
        return None;
    }
    let body = body.replace('_', "");
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(&body, radix).ok()?;
    if negative {
        0_i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// A `TypeInt` field: integers, integer strings (`"3"`, `"-1"`, `"0x10"`), booleans (1 or 0) and
/// `""` (0). Fractions (`1.0`, `"1.5"`) and other text are refused.
///
/// # Errors
///
/// [`LogicalError::InvalidRequest`] for a value that is not an integer.
pub fn int(data: &Map<String, Value>, name: &str) -> Result<Option<i64>> {
    let Some(value) = raw(data, name) else {
        return Ok(None);
    };
    let text = scalar_text(value).ok_or_else(|| refuse(name, "expected an integer"))?;
    if text.is_empty() {
        return Ok(Some(0));
    }
    parse_go_int(&text)
        .map(Some)
        .ok_or_else(|| refuse(name, format_args!("cannot parse {text:?} as an integer")))
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
    let Some(value) = raw(data, name) else {
        return Ok(None);
    };
    if let Value::Bool(b) = value {
        return Ok(Some(*b));
    }
    let text = scalar_text(value).ok_or_else(|| refuse(name, "expected a boolean"))?;
    match text.as_str() {
        "" | "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(Some(false)),
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(Some(true)),
        other => Err(refuse(
            name,
            format_args!("cannot parse {other:?} as a boolean"),
        )),
    }
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
    let text = match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return Err(refuse(name, "could not parse duration from input")),
    };
    let seconds = duration_seconds(&text).map_err(|detail| refuse(name, detail))?;
    u64::try_from(seconds)
        .map(|s| Some(Duration::from_secs(s)))
        .map_err(|_| {
            refuse(
                name,
                format_args!("cannot provide negative value '{seconds}'"),
            )
        })
}

/// A `TypeString` field: strings, and numbers and booleans as their text (`3` is `"3"`, `true`
/// is `"1"`, as Go's weak decoding writes them).
///
/// # Errors
///
/// [`LogicalError::InvalidRequest`] for an array or object.
pub fn string(data: &Map<String, Value>, name: &str) -> Result<Option<String>> {
    let Some(value) = raw(data, name) else {
        return Ok(None);
    };
    scalar_text(value)
        .map(Some)
        .ok_or_else(|| refuse(name, "expected a string"))
}

/// The items of a list-of-strings value, each a scalar converted as [`string`] does.
fn list_items(name: &str, items: &[Value]) -> Result<Vec<String>> {
    items
        .iter()
        .map(|item| scalar_text(item).ok_or_else(|| refuse(name, "expected a list of strings")))
        .collect()
}

/// A `TypeStringSlice` field: a JSON array of scalars, or one string taken as a one-item list
/// (not split at commas); `""` is the empty list. Items are trimmed.
///
/// # Errors
///
/// [`LogicalError::InvalidRequest`] for objects or nested arrays.
pub fn string_slice(data: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>> {
    let Some(value) = raw(data, name) else {
        return Ok(None);
    };
    let items = match value {
        Value::Array(items) => list_items(name, items)?,
        Value::String(s) if s.is_empty() => Vec::new(),
        other => {
            vec![scalar_text(other).ok_or_else(|| refuse(name, "expected a list of strings"))?]
        }
    };
    Ok(Some(
        items.into_iter().map(|s| s.trim().to_owned()).collect(),
    ))
}

/// A `TypeCommaStringSlice` field: a JSON array of scalars, or a string split at commas; `""` is
/// the empty list. Items are trimmed.
///
/// # Errors
///
/// [`LogicalError::InvalidRequest`] for objects or nested arrays.
pub fn comma_string_slice(data: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>> {
    let Some(value) = raw(data, name) else {
        return Ok(None);
    };
    let items = match value {
        Value::Array(items) => list_items(name, items)?,
        Value::String(s) if s.is_empty() => Vec::new(),
        Value::String(s) => s.split(',').map(str::to_owned).collect(),
        other => {
            vec![scalar_text(other).ok_or_else(|| refuse(name, "expected a list of strings"))?]
        }
    };
    Ok(Some(
        items.into_iter().map(|s| s.trim().to_owned()).collect(),
    ))
}

/// A `TypeMap` field: a JSON object (`""` is the empty map).
///
/// # Errors
///
/// [`LogicalError::InvalidRequest`] for anything that is not an object.
pub fn map(data: &Map<String, Value>, name: &str) -> Result<Option<Map<String, Value>>> {
    match raw(data, name) {
        None => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map.clone())),
        Some(Value::String(s)) if s.is_empty() => Ok(Some(Map::new())),
        Some(_) => Err(refuse(name, "expected a map")),
    }
}

/// A `TypeKVPairs` field: an object whose values are scalars (converted as [`string`] does), or
/// a list of `key=value` strings.
///
/// # Errors
///
/// [`LogicalError::InvalidRequest`] for nested values or a list item without `=`.
pub fn kv_pairs(data: &Map<String, Value>, name: &str) -> Result<Option<BTreeMap<String, String>>> {
    let Some(value) = raw(data, name) else {
        return Ok(None);
    };
    let mut out = BTreeMap::new();
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                let text = if value.is_null() {
                    String::new()
                } else {
                    scalar_text(value).ok_or_else(|| refuse(name, "expected a map of strings"))?
                };
                out.insert(key.clone(), text);
            }
        }
        Value::Array(items) => {
            for item in list_items(name, items)? {
                let (key, value) = item
                    .split_once('=')
                    .ok_or_else(|| refuse(name, format_args!("invalid key pair {item:?}")))?;
                out.insert(key.to_owned(), value.to_owned());
            }
        }
        Value::String(s) if s.is_empty() => {}
        _ => return Err(refuse(name, "expected a map of strings")),
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;
    use serde_json::json;

    fn one(value: Value) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("f".into(), value);
        map
    }

    /// The conversion rules, one row per input: what Vault (OpenBao 2.7) makes of it, or `None`
    /// for a 400.
    #[test]
    fn int_rules() {
        let rows: &[(Value, Option<i64>)] = &[
            (json!(3), Some(3)),
            (json!("3"), Some(3)),
            (json!(" 3"), None),
            (json!("-1"), Some(-1)),
            (json!(-1), Some(-1)),
            (json!(""), Some(0)),
            (json!(true), Some(1)),
            (json!(false), Some(0)),
            (json!("0x10"), Some(16)),
            (json!("010"), Some(8)),
            (json!("0b11"), Some(3)),
            (json!("1_000"), Some(1000)),
            (json!("_1"), None),
            (json!("1__0"), None),
            (json!("0x1_0"), Some(16)),
            (json!(1.0), None),
            (json!(1.5), None),
            (json!("1.0"), None),
            (json!("abc"), None),
            (json!("9223372036854775807"), Some(i64::MAX)),
            (json!("9223372036854775808"), None),
            (json!("-9223372036854775808"), Some(i64::MIN)),
            (json!([1]), None),
            (json!({"a": 1}), None),
        ];
        for (input, expected) in rows {
            let got = int(&one(input.clone()), "f").ok().flatten();
            assert_eq!(got, *expected, "{input}");
        }
        assert_eq!(int(&one(Value::Null), "f").unwrap(), None);
        assert_eq!(int(&Map::new(), "f").unwrap(), None);
        let err = int(&one(json!("x")), "f").unwrap_err().to_string();
        assert!(
            err.starts_with("Field validation failed: error converting input for field \"f\""),
            "{err}"
        );
    }

    #[test]
    fn count_rules() {
        assert_eq!(count::<u32>(&one(json!("3")), "f").unwrap(), Some(3));
        assert!(count::<u32>(&one(json!(-1)), "f").is_err());
        assert!(count::<u32>(&one(json!(5_000_000_000_u64)), "f").is_err());
        assert_eq!(count::<u32>(&one(json!("")), "f").unwrap(), Some(0));
    }

    #[test]
    fn bool_rules() {
        let rows: &[(Value, Option<bool>)] = &[
            (json!(true), Some(true)),
            (json!(false), Some(false)),
            (json!("false"), Some(false)),
            (json!("False"), Some(false)),
            (json!("FALSE"), Some(false)),
            (json!("f"), Some(false)),
            (json!("0"), Some(false)),
            (json!(""), Some(false)),
            (json!("true"), Some(true)),
            (json!("t"), Some(true)),
            (json!("1"), Some(true)),
            (json!(1), Some(true)),
            (json!(0), Some(false)),
            (json!(2), None),
            (json!("yes"), None),
            (json!("fAlse"), None),
            (json!(1.0), None),
            (json!([true]), None),
        ];
        for (input, expected) in rows {
            let got = bool(&one(input.clone()), "f").ok().flatten();
            assert_eq!(got, *expected, "{input}");
        }
    }

    #[test]
    fn duration_rules() {
        let rows: &[(Value, Option<u64>)] = &[
            (json!(3600), Some(3600)),
            (json!("3600"), Some(3600)),
            (json!("1h"), Some(3600)),
            (json!("1h30m"), Some(5400)),
            (json!("90s"), Some(90)),
            (json!("1.5h"), Some(5400)),
            (json!("1500ms"), Some(1)),
            (json!("2d"), Some(172_800)),
            (json!(""), Some(0)),
            (json!("0"), Some(0)),
            (json!(0), Some(0)),
            (json!("-1h"), None),
            (json!(-5), None),
            (json!("-5"), None),
            (json!(1.5), None),
            (json!("1.5"), None),
            (json!("1x"), None),
            (json!("h"), None),
            (json!("1d12h"), None),
            (json!(true), None),
            (json!("100000000h"), None),
        ];
        for (input, expected) in rows {
            let got = duration(&one(input.clone()), "f")
                .ok()
                .flatten()
                .map(|d| d.as_secs());
            assert_eq!(got, *expected, "{input}");
        }
        let err = duration(&one(json!(-5)), "f").unwrap_err().to_string();
        assert!(err.contains("cannot provide negative value '-5'"), "{err}");
    }

    #[test]
    fn string_and_list_rules() {
        assert_eq!(string(&one(json!(3)), "f").unwrap().as_deref(), Some("3"));
        assert_eq!(
            string(&one(json!(true)), "f").unwrap().as_deref(),
            Some("1")
        );
        assert!(string(&one(json!(["a"])), "f").is_err());
        assert_eq!(
            string_slice(&one(json!("a,b")), "f").unwrap(),
            Some(vec!["a,b".to_owned()])
        );
        assert_eq!(
            string_slice(&one(json!([" a", 2])), "f").unwrap(),
            Some(vec!["a".to_owned(), "2".to_owned()])
        );
        assert_eq!(string_slice(&one(json!("")), "f").unwrap(), Some(vec![]));
        assert!(string_slice(&one(json!([["a"]])), "f").is_err());
        assert_eq!(
            comma_string_slice(&one(json!("a, b")), "f").unwrap(),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(
            comma_string_slice(&one(json!(["a,b"])), "f").unwrap(),
            Some(vec!["a,b".to_owned()])
        );
        assert!(comma_string_slice(&one(json!({"a": 1})), "f").is_err());
    }

    #[test]
    fn kv_pair_rules() {
        let map = kv_pairs(&one(json!({"a": "1", "b": 2, "c": true})), "f")
            .unwrap()
            .unwrap();
        assert_eq!(map["a"], "1");
        assert_eq!(map["b"], "2");
        assert_eq!(map["c"], "1");
        let list = kv_pairs(&one(json!(["a=1", "b=x=y"])), "f")
            .unwrap()
            .unwrap();
        assert_eq!(list["b"], "x=y");
        assert!(kv_pairs(&one(json!(["a"])), "f").is_err());
        assert!(kv_pairs(&one(json!({"a": {"b": 1}})), "f").is_err());
        assert!(kv_pairs(&one(json!(3)), "f").is_err());
        assert_eq!(
            super::map(&one(json!({"a": 1})), "f").unwrap().unwrap()["a"],
            1
        );
        assert!(super::map(&one(json!("a=1")), "f").is_err());
        assert!(super::map(&one(json!([1])), "f").is_err());
    }
}
