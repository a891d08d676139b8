//! Parameter values: what a request carries and what `allowed_parameters` lists.

use std::collections::BTreeMap;
use std::fmt;

/// A parameter value, in JSON's data model.
///
/// Request parameters arrive as JSON; the values listed in `allowed_parameters` and
/// `denied_parameters` are HCL or JSON literals. Numbers are `f64`: integers beyond 2^53 lose
/// precision, which only matters when a policy lists such numbers.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(f64),
    /// A string. In a policy's value list, a leading and/or trailing `*` is a glob.
    String(String),
    /// A list of values.
    List(Vec<Value>),
    /// An object.
    Map(BTreeMap<String, Value>),
}

impl Value {
    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Value::Number(n)
    }
}

impl From<i32> for Value {
    fn from(n: i32) -> Self {
        Value::Number(f64::from(n))
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Value::List(v.into_iter().map(Into::into).collect())
    }
}

impl fmt::Display for Value {
    /// JSON text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::serialize::value_to_json(self).to_string())
    }
}

/// Vault's `GlobbedStringsMatch`: `item` may start and/or end with `*`.
pub(crate) fn glob_match(item: &str, val: &str) -> bool {
    if item.len() < 2 {
        return item == val;
    }
    let inner_start = item.strip_prefix('*');
    match (inner_start, item.ends_with('*')) {
        (Some(rest), true) => val.contains(rest.strip_suffix('*').unwrap_or(rest)),
        (Some(rest), false) => val.ends_with(rest),
        (None, true) => val.starts_with(item.strip_suffix('*').unwrap_or(item)),
        (None, false) => item == val,
    }
}

/// Vault's `valueInParameterList`: strings match by glob, other values by equality.
fn in_list(v: &Value, list: &[Value]) -> bool {
    list.iter().any(|el| match (el, v) {
        (Value::String(item), Value::String(val)) => glob_match(item, val),
        (Value::String(_), _) => false,
        (el, v) => el == v,
    })
}

/// The elements a value stands for when it may be a list: a list's elements, or the
/// comma-separated parts of a string (Vault assumes any string may be a comma-separated list).
fn elements(v: &Value) -> Option<Vec<Value>> {
    match v {
        Value::List(items) => Some(items.clone()),
        Value::String(s) if s.contains(',') => Some(
            s.split(',')
                .map(|part| Value::String(part.trim().to_owned()))
                .collect(),
        ),
        _ => None,
    }
}

/// Vault's `valueInAllowedParameterList`: an empty list allows anything; a list value passes
/// when every element is allowed; a comma-separated string when every part is.
pub(crate) fn allowed_by(v: &Value, list: &[Value]) -> bool {
    if list.is_empty() || in_list(v, list) {
        return true;
    }
    match elements(v) {
        Some(items) => items.iter().all(|e| in_list(e, list)),
        None => false,
    }
}

/// Vault's `valueInDeniedParameterList`: an empty list denies anything; a list value is denied
/// when any element is; a comma-separated string when any part is.
///
/// Stricter than Vault in one way: engines read fields with Vault's weak conversions (`"t"`,
/// `"1"` and `1` are `true` to a boolean field, `"0x0"` and `""` are `0` to an integer field),
/// so a denied value is also matched in those spellings ([`weakly_equal`]); otherwise a deny
/// list would have to name every spelling to hold. Allow lists keep exact matching, where an
/// unlisted spelling is refused.
pub(crate) fn denied_by(v: &Value, list: &[Value]) -> bool {
    let hit = |e: &Value| in_list(e, list) || list.iter().any(|d| weakly_equal(d, e));
    if list.is_empty() || hit(v) {
        return true;
    }
    match elements(v) {
        Some(items) => items.iter().any(hit),
        None => false,
    }
}

/// Whether `a` and `b` read as the same boolean, or as the same integer, under Vault's weak
/// conversions (mapstructure's `WeaklyTypedInput` with Go's `strconv` parsers).
fn weakly_equal(a: &Value, b: &Value) -> bool {
    let same_bool = matches!((weak_bool(a), weak_bool(b)), (Some(x), Some(y)) if x == y);
    let same_int = matches!((weak_int(a), weak_int(b)), (Some(x), Some(y)) if x == y);
    same_bool || same_int
}

/// A value as a boolean field reads it: Go's `strconv.ParseBool` spellings, `""` as false,
/// numbers as non-zero.
fn weak_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => Some(*n != 0.0),
        Value::String(s) => match s.as_str() {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
            "" | "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A value as an integer field reads it: whole numbers, booleans as 1 and 0, text as Go's
/// `strconv.ParseInt(s, 0, 64)` reads it (sign, `0x`/`0o`/`0b`/leading-`0` bases, `_` between
/// digits with a base prefix), `""` as 0.
fn weak_int(v: &Value) -> Option<i128> {
    match v {
        Value::Bool(b) => Some(i128::from(*b)),
        #[allow(
            clippy::cast_possible_truncation,
            reason = "checked to be whole and in range"
        )]
        Value::Number(n) if n.fract() == 0.0 && n.abs() < 9.2e18 => Some(*n as i128),
        Value::String(s) if s.is_empty() => Some(0),
        Value::String(s) => parse_go_int(s),
        _ => None,
    }
}

fn parse_go_int(text: &str) -> Option<i128> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, text.get(1..)?),
        Some(b'+') => (false, text.get(1..)?),
        _ => (false, text),
    };
    let lower = digits.to_ascii_lowercase();
    let (radix, body, prefixed) = if let Some(rest) = lower.strip_prefix("0x") {
        (16, rest.to_owned(), true)
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (8, rest.to_owned(), true)
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (2, rest.to_owned(), true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower.get(1..)?.to_owned(), true)
    } else {
        (10, lower.clone(), false)
    };
    let body = if prefixed {
        let trimmed = body.trim_start_matches('_');
        if body.ends_with('_') || body.contains("__") {
            return None;
        }
        trimmed.replace('_', "")
    } else {
        body
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from_str_radix(&body, radix).ok()?;
    Some(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deny list holds against the spellings an engine's weak decoding reads as the denied
    /// value (review finding: `"f"` slipped past `[false, "false"]`).
    #[test]
    fn denials_match_weak_spellings() {
        let denied_false = [Value::Bool(false), Value::from("false")];
        for spelling in ["f", "F", "0", "", "FALSE", "False"] {
            assert!(
                denied_by(&Value::from(spelling), &denied_false),
                "{spelling:?}"
            );
        }
        assert!(denied_by(&Value::Number(0.0), &denied_false));
        assert!(!denied_by(&Value::from("t"), &denied_false));
        let denied_true = [Value::Bool(true)];
        for spelling in ["t", "1", "TRUE", "True"] {
            assert!(
                denied_by(&Value::from(spelling), &denied_true),
                "{spelling:?}"
            );
        }
        assert!(denied_by(&Value::Number(1.0), &denied_true));
        let denied_zero = [Value::Number(0.0)];
        for spelling in ["0x0", "00", "-0", "", "0b0", "0o0", "+0"] {
            assert!(
                denied_by(&Value::from(spelling), &denied_zero),
                "{spelling:?}"
            );
        }
        assert!(denied_by(&Value::Bool(false), &denied_zero));
        assert!(!denied_by(&Value::from("0x1"), &denied_zero));
        // Comma-separated lists: any part.
        assert!(denied_by(&Value::from("5,0x0"), &denied_zero));
        // Allow lists stay exact: an unlisted spelling is refused.
        assert!(!allowed_by(&Value::from("t"), &[Value::Bool(true)]));
        assert_eq!(parse_go_int("0x_1f"), Some(31));
        assert_eq!(parse_go_int("1_000"), None);
        assert_eq!(parse_go_int("0x"), None);
    }

    #[test]
    fn globs_as_vault() {
        assert!(glob_match("foo-*", "foo-bar"));
        assert!(!glob_match("foo-*", "bar-foo"));
        assert!(glob_match("*-foo", "bar-foo"));
        assert!(glob_match("*oo*", "xooy"));
        assert!(glob_match("*", "*"));
        assert!(!glob_match("*", "anything"));
        assert!(glob_match("**", "anything"));
        assert!(glob_match("zip", "zip"));
        assert!(!glob_match("zip", "zipp"));
    }

    #[test]
    fn lists_and_comma_strings() {
        let list = vec![Value::from("a"), Value::from("b")];
        assert!(allowed_by(&Value::from("a"), &list));
        assert!(allowed_by(&Value::from("a, b"), &list));
        assert!(!allowed_by(&Value::from("a,c"), &list));
        assert!(allowed_by(&Value::from(vec!["a", "b"]), &list));
        assert!(!allowed_by(&Value::from(vec!["a", "c"]), &list));
        assert!(allowed_by(&Value::from("anything"), &[]));
        assert!(denied_by(&Value::from("c,a"), &list));
        assert!(denied_by(&Value::from(vec!["c", "b"]), &list));
        assert!(!denied_by(&Value::from("c"), &list));
        assert!(denied_by(&Value::from("c"), &[]));
        assert!(!allowed_by(&Value::from(1), &[Value::from("1")]));
        assert!(allowed_by(&Value::from(1), &[Value::from(1.0)]));
    }
}
