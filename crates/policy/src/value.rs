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
pub(crate) fn denied_by(v: &Value, list: &[Value]) -> bool {
    if list.is_empty() || in_list(v, list) {
        return true;
    }
    match elements(v) {
        Some(items) => items.iter().any(|e| in_list(e, list)),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
