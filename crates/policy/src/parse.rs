//! HCL and JSON front ends over one set of typed checks.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::time::Duration;

use hcl::edit::Span;
use hcl::edit::expr::{Expression, ObjectKey, UnaryOperator};
use hcl::edit::structure::{Block, Body, Structure};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::capability::Capabilities;
use crate::error::{Location, PolicyError};
use crate::pattern::{PLUS_STAR, Pattern, STAR_NOT_LAST};
use crate::policy::{ParameterMap, Policy, Rule, UnknownKey};
use crate::value::Value;

/// A problem found while checking one value, before its location is attached.
#[derive(Debug)]
enum Problem {
    /// The capability and the pattern of the rule it is in.
    UnknownCapability(String, String),
    InvalidPattern(String, &'static str),
    InvalidValue(String, String),
    Structure(String),
    Unsupported(String),
}

impl Problem {
    fn at(self, location: Location) -> PolicyError {
        match self {
            Problem::UnknownCapability(capability, path) => PolicyError::UnknownCapability {
                capability,
                path,
                location,
            },
            Problem::InvalidPattern(pattern, reason) => PolicyError::InvalidPattern {
                pattern,
                reason,
                location,
            },
            Problem::InvalidValue(key, message) => PolicyError::InvalidValue {
                key,
                message,
                location,
            },
            Problem::Structure(message) => PolicyError::Structure { message, location },
            Problem::Unsupported(key) => PolicyError::Unsupported { key, location },
        }
    }

    fn invalid(key: &str, message: impl Into<String>) -> Problem {
        Problem::InvalidValue(key.to_owned(), message.into())
    }
}

const ENTERPRISE_KEYS: [&str; 3] = ["mfa_methods", "control_group", "subscribe_event_types"];

fn pattern(text: &str) -> Result<Pattern, Problem> {
    Pattern::parse(text).map_err(|reason| Problem::InvalidPattern(text.to_owned(), reason))
}

fn capability(name: &str, rule: &Rule) -> Result<Capabilities, Problem> {
    Capabilities::parse(name)
        .ok_or_else(|| Problem::UnknownCapability(name.to_owned(), rule.pattern.to_string()))
}

/// The old `policy = "read"` form, mapped as Vault maps it.
fn legacy_policy(name: &str) -> Result<Capabilities, Problem> {
    use Capabilities as C;
    Ok(match name {
        "deny" => C::DENY,
        "read" => C::READ | C::LIST,
        "write" => C::CREATE | C::READ | C::UPDATE | C::DELETE | C::LIST,
        "sudo" => C::CREATE | C::READ | C::UPDATE | C::DELETE | C::LIST | C::SUDO,
        other => {
            return Err(Problem::invalid(
                "policy",
                format!("{other:?} is not one of deny, read, write, sudo"),
            ));
        }
    })
}

/// Checks a parameter name as Vault's `validateParameter` does and lower-cases it.
fn parameter_key(section: &str, key: &str, wildcard_ok: bool) -> Result<String, Problem> {
    if key.starts_with('/') {
        return Err(Problem::Unsupported(format!(
            "{section}: JSON-pointer parameter key {key:?}"
        )));
    }
    if key.contains('*') && !(wildcard_ok && key == "*") {
        return Err(Problem::invalid(
            section,
            format!("parameter key {key:?} may only be \"*\" when it has a wildcard"),
        ));
    }
    Ok(key.to_lowercase())
}

/// Vault's `ParseDurationSecond`: a number of seconds, or a string of seconds or of
/// `<n><unit>` groups (`s`, `m`, `h`, `d`), e.g. `"90s"`, `"1h30m"`.
fn duration(key: &str, v: &Value) -> Result<Duration, Problem> {
    let bad = || {
        Problem::invalid(
            key,
            format!("{v} is not a duration (seconds, or e.g. \"90s\", \"1h30m\")"),
        )
    };
    match v {
        Value::Number(n) if n.is_finite() && *n >= 0.0 && n.fract() == 0.0 && *n < 1e15 => {
            Ok(Duration::from_secs_f64(*n))
        }
        Value::String(s) => {
            let s = s.trim();
            if s.is_empty() {
                return Err(bad());
            }
            if let Ok(secs) = s.parse::<u64>() {
                return Ok(Duration::from_secs(secs));
            }
            let mut total: u64 = 0;
            let mut digits = String::new();
            for c in s.chars() {
                if c.is_ascii_digit() {
                    digits.push(c);
                    continue;
                }
                let unit: u64 = match c {
                    's' => 1,
                    'm' => 60,
                    'h' => 3600,
                    'd' => 86_400,
                    _ => return Err(bad()),
                };
                let n: u64 = digits.parse().map_err(|_| bad())?;
                digits.clear();
                total = n
                    .checked_mul(unit)
                    .and_then(|x| total.checked_add(x))
                    .ok_or_else(bad)?;
            }
            if !digits.is_empty() {
                return Err(bad());
            }
            Ok(Duration::from_secs(total))
        }
        _ => Err(bad()),
    }
}

/// Final checks on a complete rule.
fn finish(mut rule: Rule) -> Result<Rule, Problem> {
    if rule.capabilities.contains(Capabilities::DENY) {
        rule.capabilities = Capabilities::DENY;
    }
    if let (Some(min), Some(max)) = (rule.min_wrapping_ttl, rule.max_wrapping_ttl)
        && !min.is_zero()
        && !max.is_zero()
        && max < min
    {
        return Err(Problem::invalid(
            "max_wrapping_ttl",
            "max_wrapping_ttl cannot be less than min_wrapping_ttl",
        ));
    }
    Ok(rule)
}

// ---------------------------------------------------------------------------------------------
// HCL
// ---------------------------------------------------------------------------------------------

struct Hcl<'t> {
    text: &'t str,
}

impl Hcl<'_> {
    fn loc(&self, span: Option<Range<usize>>) -> Location {
        Location::of_offset(self.text, span.map_or(0, |r| r.start))
    }

    fn string<'e>(
        &self,
        key: &str,
        e: &'e Expression,
    ) -> Result<std::borrow::Cow<'e, str>, PolicyError> {
        match e {
            Expression::String(s) => Ok(std::borrow::Cow::Borrowed(s.as_str())),
            Expression::StringTemplate(t) => {
                // A template made of literals only (e.g. one written with `$${`) is a string.
                let mut out = String::new();
                for el in t.iter() {
                    match el.as_literal() {
                        Some(lit) => out.push_str(lit),
                        None => {
                            return Err(Problem::invalid(
                                key,
                                "template interpolation is not allowed in a policy",
                            )
                            .at(self.loc(e.span())));
                        }
                    }
                }
                Ok(std::borrow::Cow::Owned(out))
            }
            _ => Err(Problem::invalid(key, "expected a string").at(self.loc(e.span()))),
        }
    }

    fn value(&self, key: &str, e: &Expression) -> Result<Value, PolicyError> {
        Ok(match e {
            Expression::Null(_) => Value::Null,
            Expression::Bool(b) => Value::Bool(*b.value()),
            Expression::Number(n) => match n.value().as_f64() {
                Some(f) => Value::Number(f),
                None => {
                    return Err(Problem::invalid(key, "number out of range").at(self.loc(e.span())));
                }
            },
            Expression::UnaryOp(op)
                if matches!(op.operator.value(), UnaryOperator::Neg)
                    && matches!(op.expr, Expression::Number(_)) =>
            {
                match self.value(key, &op.expr)? {
                    Value::Number(f) => Value::Number(-f),
                    other => other,
                }
            }
            Expression::String(_) | Expression::StringTemplate(_) => {
                Value::String(self.string(key, e)?.into_owned())
            }
            Expression::Array(a) => Value::List(
                a.iter()
                    .map(|x| self.value(key, x))
                    .collect::<Result<_, _>>()?,
            ),
            Expression::Object(o) => {
                let mut map = BTreeMap::new();
                for (k, v) in o.iter() {
                    map.insert(self.object_key(key, k)?, self.value(key, v.expr())?);
                }
                Value::Map(map)
            }
            _ => {
                return Err(Problem::invalid(
                    key,
                    "only literal values (strings, numbers, booleans, lists, objects) are allowed",
                )
                .at(self.loc(e.span())));
            }
        })
    }

    fn object_key(&self, key: &str, k: &ObjectKey) -> Result<String, PolicyError> {
        match k {
            ObjectKey::Ident(id) => Ok(id.as_str().to_owned()),
            ObjectKey::Expression(e) => Ok(self.string(key, e)?.into_owned()),
        }
    }

    fn list<'e>(&self, key: &str, e: &'e Expression) -> Result<Vec<&'e Expression>, PolicyError> {
        match e {
            Expression::Array(a) => Ok(a.iter().collect()),
            _ => Err(Problem::invalid(key, "expected a list").at(self.loc(e.span()))),
        }
    }

    fn parameters_from_object(
        &self,
        key: &str,
        e: &Expression,
    ) -> Result<ParameterMap, PolicyError> {
        let Expression::Object(o) = e else {
            return Err(
                Problem::invalid(key, "expected an object of parameter name = [values]")
                    .at(self.loc(e.span())),
            );
        };
        let mut map = ParameterMap::new();
        for (k, v) in o.iter() {
            let name = self.object_key(key, k)?;
            let name = parameter_key(key, &name, true).map_err(|p| p.at(self.loc(k.span())))?;
            let values = self.parameter_values(key, v.expr())?;
            map.insert(name, values);
        }
        Ok(map)
    }

    fn parameters_from_body(&self, key: &str, body: &Body) -> Result<ParameterMap, PolicyError> {
        let mut map = ParameterMap::new();
        for s in body.iter() {
            let Structure::Attribute(a) = s else {
                return Err(
                    Problem::Structure(format!("{key}: expected `name = [values]`"))
                        .at(self.loc(s.span())),
                );
            };
            let name =
                parameter_key(key, a.key.as_str(), true).map_err(|p| p.at(self.loc(a.span())))?;
            map.insert(name, self.parameter_values(key, &a.value)?);
        }
        Ok(map)
    }

    fn parameter_values(&self, key: &str, e: &Expression) -> Result<Vec<Value>, PolicyError> {
        match self.value(key, e)? {
            Value::List(values) => Ok(values),
            _ => Err(
                Problem::invalid(key, "parameter values must be a list ([] for any value)")
                    .at(self.loc(e.span())),
            ),
        }
    }

    fn rule(&self, block: &Block) -> Result<Rule, PolicyError> {
        let block_loc = self.loc(block.span());
        let [label] = block.labels.as_slice() else {
            return Err(Problem::Structure(
                "a `path` block needs exactly one label, the path pattern: path \"secret/*\" { ... }".to_owned(),
            )
            .at(block_loc));
        };
        let mut rule =
            Rule::new(pattern(label.as_str()).map_err(|p| p.at(self.loc(label.span())))?);
        rule.location = Some(block_loc);
        let mut seen = HashSet::new();
        for s in block.body.iter() {
            let (key, span) = match s {
                Structure::Attribute(a) => (a.key.as_str(), a.span()),
                Structure::Block(b) => (b.ident.as_str(), b.span()),
            };
            let loc = self.loc(span);
            if !seen.insert(key) {
                return Err(Problem::Structure(format!("duplicate key {key:?}")).at(loc));
            }
            if ENTERPRISE_KEYS.contains(&key) {
                return Err(Problem::Unsupported(key.to_owned()).at(loc));
            }
            let value = match s {
                Structure::Attribute(a) => &a.value,
                Structure::Block(b) => {
                    match key {
                        "allowed_parameters" => {
                            rule.allowed_parameters = Some(self.parameters_from_body(key, &b.body)?)
                        }
                        "denied_parameters" => {
                            rule.denied_parameters = Some(self.parameters_from_body(key, &b.body)?)
                        }
                        _ => rule.unknown_keys.push(UnknownKey {
                            key: key.to_owned(),
                            location: Some(loc),
                        }),
                    }
                    continue;
                }
            };
            match key {
                "capabilities" => {
                    for item in self.list(key, value)? {
                        let name = self.string(key, item)?;
                        rule.capabilities |=
                            capability(&name, &rule).map_err(|p| p.at(self.loc(item.span())))?;
                    }
                }
                "policy" => {
                    let name = self.string(key, value)?;
                    rule.capabilities |=
                        legacy_policy(&name).map_err(|p| p.at(self.loc(value.span())))?;
                }
                "allowed_parameters" => {
                    rule.allowed_parameters = Some(self.parameters_from_object(key, value)?)
                }
                "denied_parameters" => {
                    rule.denied_parameters = Some(self.parameters_from_object(key, value)?)
                }
                "required_parameters" => {
                    for item in self.list(key, value)? {
                        let name = self.string(key, item)?;
                        let name = parameter_key(key, &name, false)
                            .map_err(|p| p.at(self.loc(item.span())))?;
                        rule.required_parameters.push(name);
                    }
                }
                "min_wrapping_ttl" | "max_wrapping_ttl" => {
                    let v = self.value(key, value)?;
                    let d = duration(key, &v).map_err(|p| p.at(self.loc(value.span())))?;
                    if key == "min_wrapping_ttl" {
                        rule.min_wrapping_ttl = Some(d);
                    } else {
                        rule.max_wrapping_ttl = Some(d);
                    }
                }
                "comment" => {}
                _ => rule.unknown_keys.push(UnknownKey {
                    key: key.to_owned(),
                    location: Some(loc),
                }),
            }
        }
        finish(rule).map_err(|p| p.at(block_loc))
    }
}

pub(crate) fn hcl(name: &str, text: &str) -> Result<Policy, PolicyError> {
    crate::hcl_guard::check_brackets(text).map_err(|e| PolicyError::Syntax {
        format: "HCL",
        location: e.location,
        message: e.message,
    })?;
    let body = hcl::edit::parser::parse_body(text).map_err(|e| PolicyError::Syntax {
        format: "HCL",
        location: Location {
            line: e.location().line(),
            column: e.location().column(),
        },
        message: e.message().to_owned(),
    })?;
    let h = Hcl { text };
    let mut policy = Policy {
        name: name.to_owned(),
        rules: Vec::new(),
        root: false,
        unknown_keys: Vec::new(),
    };
    for s in body.iter() {
        match s {
            Structure::Block(b) if b.ident.as_str() == "path" => policy.rules.push(h.rule(b)?),
            Structure::Attribute(a) if a.key.as_str() == "name" => {}
            Structure::Attribute(a) => policy.unknown_keys.push(UnknownKey {
                key: a.key.as_str().to_owned(),
                location: Some(h.loc(a.span())),
            }),
            Structure::Block(b) => policy.unknown_keys.push(UnknownKey {
                key: b.ident.as_str().to_owned(),
                location: Some(h.loc(b.span())),
            }),
        }
    }
    Ok(policy)
}

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------
//
// serde_json attaches the line and column of the point it reached to every error a visitor
// returns, so the checks run inside the visitors.

fn de_err<E: de::Error>(p: Problem) -> E {
    E::custom(JsonProblem(p))
}

/// Carries a [`Problem`] through serde as text; decoded again in [`json`].
struct JsonProblem(Problem);

const TAG: &str = "\u{1}strongroom-policy\u{1}";

impl fmt::Display for JsonProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A tagged, tab-separated record, so the error can be rebuilt with its location.
        let (kind, a, b) = match &self.0 {
            Problem::UnknownCapability(c, p) => ("cap", c.as_str(), p.as_str()),
            Problem::InvalidPattern(p, r) => ("pat", p.as_str(), *r),
            Problem::InvalidValue(k, m) => ("val", k.as_str(), m.as_str()),
            Problem::Structure(m) => ("str", m.as_str(), ""),
            Problem::Unsupported(k) => ("uns", k.as_str(), ""),
        };
        write!(
            f,
            "{TAG}{kind}\t{}\t{}{TAG}",
            a.replace('\t', " "),
            b.replace('\t', " ")
        )
    }
}

fn pattern_reason(reason: &str) -> &'static str {
    [STAR_NOT_LAST, PLUS_STAR]
        .into_iter()
        .find(|r| *r == reason)
        .unwrap_or("invalid pattern")
}

fn decode_problem(message: &str) -> Option<Problem> {
    let start = message.find(TAG)?.saturating_add(TAG.len());
    let rest = message.get(start..)?;
    let end = rest.find(TAG)?;
    let mut parts = rest.get(..end)?.splitn(3, '\t');
    let (kind, a, b) = (
        parts.next()?,
        parts.next()?.to_owned(),
        parts.next()?.to_owned(),
    );
    Some(match kind {
        "cap" => Problem::UnknownCapability(a, b),
        "pat" => Problem::InvalidPattern(a, pattern_reason(&b)),
        "val" => Problem::InvalidValue(a, b),
        "str" => Problem::Structure(a),
        _ => Problem::Unsupported(a),
    })
}

pub(crate) fn json(name: &str, text: &str) -> Result<Policy, PolicyError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let result = de::Deserialize::deserialize(&mut de).and_then(|p: JsonPolicy| {
        de.end()?;
        Ok(p)
    });
    match result {
        Ok(JsonPolicy {
            rules,
            unknown_keys,
        }) => Ok(Policy {
            name: name.to_owned(),
            rules,
            root: false,
            unknown_keys,
        }),
        Err(e) => {
            let location = Location {
                line: e.line().max(1),
                column: e.column().max(1),
            };
            let message = e.to_string();
            Err(match decode_problem(&message) {
                Some(p) => p.at(location),
                None => PolicyError::Syntax {
                    format: "JSON",
                    location,
                    message: strip_position(&message),
                },
            })
        }
    }
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message.get(..i).unwrap_or(message).to_owned(),
        None => message.to_owned(),
    }
}

struct JsonPolicy {
    rules: Vec<Rule>,
    unknown_keys: Vec<UnknownKey>,
}

impl<'de> de::Deserialize<'de> for JsonPolicy {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(PolicyVisitor)
    }
}

struct PolicyVisitor;

impl<'de> Visitor<'de> for PolicyVisitor {
    type Value = JsonPolicy;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a policy object with a \"path\" key")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonPolicy, A::Error> {
        let mut out = JsonPolicy {
            rules: Vec::new(),
            unknown_keys: Vec::new(),
        };
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "path" => map.next_value_seed(PathsSeed(&mut out.rules))?,
                "name" => {
                    map.next_value::<IgnoredAny>()?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    out.unknown_keys.push(UnknownKey {
                        key,
                        location: None,
                    });
                }
            }
        }
        Ok(out)
    }
}

/// `"path": {"<pattern>": {...}, ...}` or `"path": [{"<pattern>": {...}}, ...]`.
struct PathsSeed<'a>(&'a mut Vec<Rule>);

impl<'de> DeserializeSeed<'de> for PathsSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PathsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of path patterns to rules")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(text) = map.next_key::<String>()? {
            let pattern = pattern(&text).map_err(de_err)?;
            let rule = map.next_value_seed(RuleSeed(pattern))?;
            self.0.push(rule);
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(PathsSeed(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

struct RuleSeed(Pattern);

impl<'de> DeserializeSeed<'de> for RuleSeed {
    type Value = Rule;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Rule, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RuleSeed {
    type Value = Rule;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a rule object (capabilities, allowed_parameters, ...)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Rule, A::Error> {
        let mut rule = Rule::new(self.0);
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de_err(Problem::Structure(format!("duplicate key {key:?}"))));
            }
            if ENTERPRISE_KEYS.contains(&key.as_str()) {
                return Err(de_err(Problem::Unsupported(key)));
            }
            match key.as_str() {
                "capabilities" => {
                    for name in map.next_value::<Vec<String>>()? {
                        rule.capabilities |= capability(&name, &rule).map_err(de_err)?;
                    }
                }
                "policy" => {
                    let name = map.next_value::<String>()?;
                    rule.capabilities |= legacy_policy(&name).map_err(de_err)?;
                }
                "allowed_parameters" | "denied_parameters" => {
                    let raw = map.next_value::<BTreeMap<String, JsonValue>>()?;
                    let mut params = ParameterMap::new();
                    for (name, JsonValue(v)) in raw {
                        let name = parameter_key(&key, &name, true).map_err(de_err)?;
                        let Value::List(values) = v else {
                            return Err(de_err(Problem::invalid(
                                &key,
                                "parameter values must be a list ([] for any value)",
                            )));
                        };
                        params.insert(name, values);
                    }
                    if key == "allowed_parameters" {
                        rule.allowed_parameters = Some(params);
                    } else {
                        rule.denied_parameters = Some(params);
                    }
                }
                "required_parameters" => {
                    for name in map.next_value::<Vec<String>>()? {
                        rule.required_parameters
                            .push(parameter_key(&key, &name, false).map_err(de_err)?);
                    }
                }
                "min_wrapping_ttl" | "max_wrapping_ttl" => {
                    let JsonValue(v) = map.next_value()?;
                    let d = duration(&key, &v).map_err(de_err)?;
                    if key == "min_wrapping_ttl" {
                        rule.min_wrapping_ttl = Some(d);
                    } else {
                        rule.max_wrapping_ttl = Some(d);
                    }
                }
                "comment" => {
                    map.next_value::<IgnoredAny>()?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    rule.unknown_keys.push(UnknownKey {
                        key,
                        location: None,
                    });
                }
            }
        }
        finish(rule).map_err(de_err)
    }
}

/// A [`Value`] read from JSON.
struct JsonValue(Value);

impl<'de> de::Deserialize<'de> for JsonValue {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor).map(JsonValue)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    #[allow(
        clippy::cast_precision_loss,
        reason = "JSON numbers are f64 here, documented on Value"
    )]
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n as f64))
    }
    #[allow(
        clippy::cast_precision_loss,
        reason = "JSON numbers are f64 here, documented on Value"
    )]
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n as f64))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Value::Number(n))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(JsonValue(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::List(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = BTreeMap::new();
        while let Some((k, JsonValue(v))) = map.next_entry::<String, JsonValue>()? {
            out.insert(k, v);
        }
        Ok(Value::Map(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let d = |v: Value| duration("ttl", &v).map(|d| d.as_secs()).ok();
        assert_eq!(d(Value::from(90)), Some(90));
        assert_eq!(d(Value::from("90")), Some(90));
        assert_eq!(d(Value::from("90s")), Some(90));
        assert_eq!(d(Value::from("2m")), Some(120));
        assert_eq!(d(Value::from("1h30m")), Some(5400));
        assert_eq!(d(Value::from("1d")), Some(86_400));
        assert_eq!(d(Value::from("1x")), None);
        assert_eq!(d(Value::from("h")), None);
        assert_eq!(d(Value::from("")), None);
        assert_eq!(d(Value::from(-1)), None);
        assert_eq!(d(Value::from(1.5)), None);
        assert_eq!(d(Value::from("99999999999999999999h")), None);
    }
}
