//! Field declarations, their decoding (Vault's field types) and the typed accessor handlers get.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::field as conv;
use crate::{LogicalError, Request, Result};

/// How a field's value is decoded: Vault's framework field types. Each converts the JSON a client
/// sent exactly as OpenBao 2.7's `FieldData` does (weak decoding: `"3"` is 3, `"false"` is false,
/// `""` is the zero value); see the [`field`](crate::field) module for the rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FieldType {
    /// `TypeString`: text; numbers and booleans as their text.
    String,
    /// `TypeLowerCaseString`: text, lower-cased.
    LowerCaseString,
    /// A `TypeString` that holds a secret (a password, a secret id): read only as
    /// [`SecretText`], marked sensitive in the OpenAPI document.
    SecretString,
    /// `TypeInt`/`TypeInt64`: a 64-bit integer.
    Int,
    /// `TypeBool`.
    Bool,
    /// `TypeDurationSecond`: `"1h"`, `"90s"`, `"2d"` or seconds; negatives refused.
    DurationSecond,
    /// `TypeSignedDurationSecond`: as [`DurationSecond`](Self::DurationSecond), negatives allowed.
    SignedDurationSecond,
    /// `TypeStringSlice`: a list of strings; one string is a one-item list.
    StringSlice,
    /// `TypeCommaStringSlice`: a list of strings, or one string split at commas.
    CommaStringSlice,
    /// `TypeCommaIntSlice`: a list of integers, or one string of comma-separated integers.
    CommaIntSlice,
    /// `TypeMap`: a JSON object, kept as it is.
    Map,
    /// `TypeKVPairs`: a map of strings, or a list of `key=value` strings.
    KvPairs,
    /// `TypeSlice`: a list of any JSON values, kept as they are (transit's `batch_input`). As
    /// mapstructure's weak decoding does, an empty object is the empty list and any other
    /// value that is not a list is a one-item list.
    Slice,
}

impl FieldType {
    /// The type's name in Vault's terms (`TypeInt`, ...).
    pub fn vault_name(self) -> &'static str {
        match self {
            Self::String | Self::SecretString => "TypeString",
            Self::LowerCaseString => "TypeLowerCaseString",
            Self::Int => "TypeInt",
            Self::Bool => "TypeBool",
            Self::DurationSecond => "TypeDurationSecond",
            Self::SignedDurationSecond => "TypeSignedDurationSecond",
            Self::StringSlice => "TypeStringSlice",
            Self::CommaStringSlice => "TypeCommaStringSlice",
            Self::CommaIntSlice => "TypeCommaIntSlice",
            Self::Map => "TypeMap",
            Self::KvPairs => "TypeKVPairs",
            Self::Slice => "TypeSlice",
        }
    }

    /// The canonical value a field of this type holds when unset and without a default.
    fn zero(self) -> Value {
        match self {
            Self::String | Self::LowerCaseString | Self::SecretString => {
                Value::String(String::new())
            }
            Self::Int | Self::DurationSecond | Self::SignedDurationSecond => Value::from(0),
            Self::Bool => Value::Bool(false),
            Self::StringSlice | Self::CommaStringSlice | Self::CommaIntSlice | Self::Slice => {
                Value::Array(Vec::new())
            }
            Self::Map | Self::KvPairs => Value::Object(Map::new()),
        }
    }

    /// Decodes a client's value into the canonical form (`Int` a JSON integer, durations whole
    /// seconds, lists arrays of strings or integers, `KvPairs` an object of strings). The error
    /// is mapstructure's detail, without the field name.
    pub(crate) fn decode(self, value: Value) -> std::result::Result<Value, String> {
        Ok(match self {
            // A secret is moved, never copied (a copy would be freed without being wiped).
            Self::SecretString => match value {
                Value::String(text) => Value::String(text),
                other => Value::String(conv::convert_string(&other)?),
            },
            Self::String => Value::String(conv::convert_string(&value)?),
            Self::LowerCaseString => Value::String(conv::convert_string(&value)?.to_lowercase()),
            Self::Int => Value::from(conv::convert_int(&value)?),
            Self::Bool => Value::Bool(conv::convert_bool(&value)?),
            Self::DurationSecond => Value::from(conv::convert_duration(&value, false)?),
            Self::SignedDurationSecond => Value::from(conv::convert_duration(&value, true)?),
            Self::StringSlice => strings(conv::convert_string_slice(&value, false)?),
            Self::CommaStringSlice => strings(conv::convert_string_slice(&value, true)?),
            Self::CommaIntSlice => Value::Array(
                conv::convert_comma_int_slice(&value)?
                    .into_iter()
                    .map(Value::from)
                    .collect(),
            ),
            Self::Map => Value::Object(conv::convert_map(value)?),
            Self::KvPairs => Value::Object(
                conv::convert_kv_pairs(&value)?
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect(),
            ),
            Self::Slice => match value {
                Value::Array(items) => Value::Array(items),
                Value::Object(map) if map.is_empty() => Value::Array(Vec::new()),
                other => Value::Array(vec![other]),
            },
        })
    }

    /// Checks that a client's value decodes, without keeping the result (and without copying a
    /// map).
    pub(crate) fn check(self, value: &Value) -> std::result::Result<(), String> {
        match self {
            Self::Map => conv::check_map(value),
            // Every value is a list or becomes one; nothing to check (and nothing to copy).
            Self::Slice => Ok(()),
            // Text always converts; checking it must not copy it (it may be a secret).
            Self::String | Self::SecretString | Self::LowerCaseString if value.is_string() => {
                Ok(())
            }
            _ => self.decode(value.clone()).map(drop),
        }
    }
}

fn strings(items: Vec<String>) -> Value {
    Value::Array(items.into_iter().map(Value::String).collect())
}

/// One field of an endpoint: its type, description, default and whether it is required.
///
/// `required` is documentation, as in Vault (it marks the field required in the OpenAPI
/// document; the framework does not refuse a request without it — handlers decide, with the
/// error Vault's handler gives).
#[derive(Clone, Debug)]
pub struct Field {
    pub(crate) ty: FieldType,
    pub(crate) description: String,
    pub(crate) default: Option<Value>,
    pub(crate) required: bool,
}

impl Field {
    /// A field of type `ty`.
    pub fn new(ty: FieldType, description: impl Into<String>) -> Self {
        Self {
            ty,
            description: description.into(),
            default: None,
            required: false,
        }
    }

    /// The value an unset field reads as (written as a client would send it; it is decoded by
    /// the field's type when the endpoints are built).
    #[must_use]
    pub fn default(mut self, value: impl Into<Value>) -> Self {
        self.default = Some(value.into());
        self
    }

    /// Marks the field required (in the OpenAPI document).
    #[must_use]
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// The field's type.
    pub fn ty(&self) -> FieldType {
        self.ty
    }

    /// The field's description.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The declared default, as written.
    pub fn default_value(&self) -> Option<&Value> {
        self.default.as_ref()
    }

    /// Whether the field is marked required.
    pub fn is_required(&self) -> bool {
        self.required
    }
}

/// A declared field, compiled: its name, whether the path captures it, and the canonical value
/// it reads as when unset (its default, else its type's zero value).
#[derive(Clone, Debug)]
pub struct FieldSpec {
    pub(crate) name: String,
    pub(crate) field: Field,
    pub(crate) capture: bool,
    pub(crate) fallback: Value,
    pub(crate) has_default: bool,
}

impl FieldSpec {
    pub(crate) fn new(
        name: String,
        field: Field,
        capture: bool,
        problems: &mut Vec<String>,
    ) -> Self {
        let (fallback, has_default) = match &field.default {
            None => (field.ty.zero(), false),
            Some(value) => match field.ty.decode(value.clone()) {
                Ok(canonical) => (canonical, true),
                Err(detail) => {
                    problems.push(format!("field {name:?}: default does not decode: {detail}"));
                    (field.ty.zero(), false)
                }
            },
        };
        Self {
            name,
            field,
            capture,
            fallback,
            has_default,
        }
    }

    /// The field's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The declaration.
    pub fn field(&self) -> &Field {
        &self.field
    }

    /// Whether the value comes from the path (a `{name}` in the pattern) rather than the body.
    pub fn is_captured(&self) -> bool {
        self.capture
    }
}

/// The refusal of a value that does not decode, as Vault's request handler words it (a 400).
pub(crate) fn validation_failed(name: &str, detail: &str) -> LogicalError {
    LogicalError::invalid(format!(
        "Field validation failed: error converting input for field {name:?}: {detail}"
    ))
}

/// A secret string field's value (a [`FieldType::SecretString`]): `Debug` shows `[REDACTED]`,
/// the text is zeroed when dropped, and it is read with [`expose`](Self::expose).
pub struct SecretText(zeroize::Zeroizing<String>);

impl SecretText {
    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretText([REDACTED])")
    }
}

/// A Rust type a declared field can be read as: each type reads the field types it names
/// ([`accepts`](Self::accepts)), from the canonical value the framework decoded.
pub trait FromField<'a>: Sized {
    /// Whether a field of type `ty` reads as `Self`.
    fn accepts(ty: FieldType) -> bool;

    /// Reads the canonical value.
    ///
    /// # Errors
    ///
    /// Why the value does not fit `Self` (a negative number read as unsigned, ...), in
    /// mapstructure's words; the framework answers 400 with it.
    fn from_canonical(value: &'a Value) -> std::result::Result<Self, String>;
}

fn wrong_shape() -> String {
    "the decoded value has an unexpected shape (please file a bug)".to_owned()
}

impl<'a> FromField<'a> for &'a str {
    fn accepts(ty: FieldType) -> bool {
        matches!(ty, FieldType::String | FieldType::LowerCaseString)
    }
    fn from_canonical(value: &'a Value) -> std::result::Result<Self, String> {
        value.as_str().ok_or_else(wrong_shape)
    }
}

impl FromField<'_> for String {
    fn accepts(ty: FieldType) -> bool {
        <&str>::accepts(ty)
    }
    fn from_canonical(value: &Value) -> std::result::Result<Self, String> {
        value.as_str().map(str::to_owned).ok_or_else(wrong_shape)
    }
}

impl FromField<'_> for SecretText {
    fn accepts(ty: FieldType) -> bool {
        ty == FieldType::SecretString
    }
    fn from_canonical(value: &Value) -> std::result::Result<Self, String> {
        value
            .as_str()
            .map(|s| Self(zeroize::Zeroizing::new(s.to_owned())))
            .ok_or_else(wrong_shape)
    }
}

impl FromField<'_> for i64 {
    fn accepts(ty: FieldType) -> bool {
        matches!(
            ty,
            FieldType::Int | FieldType::DurationSecond | FieldType::SignedDurationSecond
        )
    }
    fn from_canonical(value: &Value) -> std::result::Result<Self, String> {
        value.as_i64().ok_or_else(wrong_shape)
    }
}

macro_rules! unsigned {
    ($($t:ty),*) => {$(
        impl FromField<'_> for $t {
            fn accepts(ty: FieldType) -> bool {
                matches!(ty, FieldType::Int | FieldType::DurationSecond)
            }
            fn from_canonical(value: &Value) -> std::result::Result<Self, String> {
                let n = value.as_i64().ok_or_else(wrong_shape)?;
                if n < 0 {
                    return Err(format!("cannot provide negative value '{n}'"));
                }
                <$t>::try_from(n).map_err(|_| format!("value {n} is too large"))
            }
        }
    )*};
}
unsigned!(u64, u32, usize);

impl FromField<'_> for bool {
    fn accepts(ty: FieldType) -> bool {
        ty == FieldType::Bool
    }
    fn from_canonical(value: &Value) -> std::result::Result<Self, String> {
        value.as_bool().ok_or_else(wrong_shape)
    }
}

impl FromField<'_> for Duration {
    fn accepts(ty: FieldType) -> bool {
        ty == FieldType::DurationSecond
    }
    fn from_canonical(value: &Value) -> std::result::Result<Self, String> {
        value
            .as_u64()
            .map(Duration::from_secs)
            .ok_or_else(wrong_shape)
    }
}

impl FromField<'_> for Vec<String> {
    fn accepts(ty: FieldType) -> bool {
        matches!(ty, FieldType::StringSlice | FieldType::CommaStringSlice)
    }
    fn from_canonical(value: &Value) -> std::result::Result<Self, String> {
        value
            .as_array()
            .ok_or_else(wrong_shape)?
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(wrong_shape))
            .collect()
    }
}

impl FromField<'_> for Vec<i64> {
    fn accepts(ty: FieldType) -> bool {
        ty == FieldType::CommaIntSlice
    }
    fn from_canonical(value: &Value) -> std::result::Result<Self, String> {
        value
            .as_array()
            .ok_or_else(wrong_shape)?
            .iter()
            .map(|v| v.as_i64().ok_or_else(wrong_shape))
            .collect()
    }
}

impl<'a> FromField<'a> for &'a Map<String, Value> {
    fn accepts(ty: FieldType) -> bool {
        ty == FieldType::Map
    }
    fn from_canonical(value: &'a Value) -> std::result::Result<Self, String> {
        value.as_object().ok_or_else(wrong_shape)
    }
}

impl<'a> FromField<'a> for &'a [Value] {
    fn accepts(ty: FieldType) -> bool {
        ty == FieldType::Slice
    }
    fn from_canonical(value: &'a Value) -> std::result::Result<Self, String> {
        value.as_array().map(Vec::as_slice).ok_or_else(wrong_shape)
    }
}

impl FromField<'_> for BTreeMap<String, String> {
    fn accepts(ty: FieldType) -> bool {
        ty == FieldType::KvPairs
    }
    fn from_canonical(value: &Value) -> std::result::Result<Self, String> {
        value
            .as_object()
            .ok_or_else(wrong_shape)?
            .iter()
            .map(|(k, v)| Ok((k.clone(), v.as_str().ok_or_else(wrong_shape)?.to_owned())))
            .collect()
    }
}

/// The decoded fields of one request, as a handler receives them: every declared field already
/// converted by its type (a value that did not convert was refused before the handler ran), read
/// with typed getters that only work for declared names and fitting types.
///
/// [`get`](Self::get) is Vault's `Get` (the value, else the default, else the type's zero value);
/// [`get_ok`](Self::get_ok) is `GetOk` (only what the client sent). The request itself (client,
/// connection, operation, path) is [`request`](Self::request); its `data` is empty, the body
/// having moved into the fields.
pub struct Fields<'a> {
    request: &'a Request,
    specs: &'a [FieldSpec],
    values: Vec<Option<Value>>,
    unrecognized: Map<String, Value>,
}

impl std::fmt::Debug for Fields<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fields")
            .field("path", &self.request.path)
            .field(
                "set",
                &self
                    .specs
                    .iter()
                    .zip(&self.values)
                    .filter(|(_, v)| v.is_some())
                    .map(|(s, _)| s.name.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("unrecognized", &crate::Redacted(&self.unrecognized))
            .finish()
    }
}

/// The decoded values of secret fields are wiped when the fields go.
impl Drop for Fields<'_> {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for (spec, value) in self.specs.iter().zip(&mut self.values) {
            if spec.field.ty == FieldType::SecretString
                && let Some(Value::String(text)) = value
            {
                text.zeroize();
            }
        }
    }
}

impl<'a> Fields<'a> {
    pub(crate) fn new(
        request: &'a Request,
        specs: &'a [FieldSpec],
        values: Vec<Option<Value>>,
        unrecognized: Map<String, Value>,
    ) -> Self {
        Self {
            request,
            specs,
            values,
            unrecognized,
        }
    }

    /// The request (its `data` moved into these fields).
    pub fn request(&self) -> &'a Request {
        self.request
    }

    fn slot<'s, T: FromField<'s>>(&'s self, name: &str) -> Result<(usize, &'s FieldSpec)> {
        let (index, spec) = self
            .specs
            .iter()
            .enumerate()
            .find(|(_, s)| s.name == name)
            .ok_or_else(|| {
                LogicalError::Internal(format!(
                    "field {name:?} is not declared for this endpoint (please file a bug)"
                ))
            })?;
        if !T::accepts(spec.field.ty) {
            return Err(LogicalError::Internal(format!(
                "field {name:?} is a {} and cannot be read as {} (please file a bug)",
                spec.field.ty.vault_name(),
                std::any::type_name::<T>()
            )));
        }
        Ok((index, spec))
    }

    /// The field's value: what the client sent, else the declared default, else the type's zero
    /// value (Vault's `Get`).
    ///
    /// # Errors
    ///
    /// [`LogicalError::Internal`] for a name not declared or a type that does not fit the
    /// declaration (a bug in the engine); [`LogicalError::InvalidRequest`] when the value does not
    /// fit `T` (a negative number read as unsigned).
    pub fn get<'s, T: FromField<'s>>(&'s self, name: &str) -> Result<T> {
        let (index, spec) = self.slot::<T>(name)?;
        let value = self
            .values
            .get(index)
            .and_then(Option::as_ref)
            .unwrap_or(&spec.fallback);
        T::from_canonical(value).map_err(|detail| validation_failed(name, &detail))
    }

    /// The field's value when the client sent one (not `null`), or its declared default when it
    /// has one; `None` otherwise (Vault's `GetOk`, which also ignores the zero value).
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    pub fn get_ok<'s, T: FromField<'s>>(&'s self, name: &str) -> Result<Option<T>> {
        let (index, spec) = self.slot::<T>(name)?;
        let value = match self.values.get(index).and_then(Option::as_ref) {
            Some(value) => value,
            None if spec.has_default => &spec.fallback,
            None => return Ok(None),
        };
        T::from_canonical(value)
            .map(Some)
            .map_err(|detail| validation_failed(name, &detail))
    }

    /// Whether the endpoint declares the field.
    pub fn is_declared(&self, name: &str) -> bool {
        self.specs.iter().any(|s| s.name == name)
    }

    /// Whether the client sent the field (not `null`).
    pub fn is_set(&self, name: &str) -> bool {
        self.specs
            .iter()
            .zip(&self.values)
            .any(|(s, v)| s.name == name && v.is_some())
    }

    /// Takes a [`FieldType::Map`] field's object out of the fields (moved, not copied: for a
    /// secret's data). `None` when the client did not send it; a second take gets `None`.
    ///
    /// # Errors
    ///
    /// [`LogicalError::Internal`] for a name not declared as a map.
    pub fn take_map(&mut self, name: &str) -> Result<Option<Map<String, Value>>> {
        let (index, _) = self.slot::<&Map<String, Value>>(name)?;
        match self.values.get_mut(index).and_then(Option::take) {
            Some(Value::Object(map)) => Ok(Some(map)),
            Some(_) => Err(LogicalError::Internal(wrong_shape())),
            None => Ok(None),
        }
    }

    /// The body's fields the endpoint does not declare (for endpoints that take arbitrary
    /// input, such as KV version 1, this is the data to store).
    pub fn unrecognized(&self) -> &Map<String, Value> {
        &self.unrecognized
    }

    /// Takes the undeclared fields out (moved, not copied).
    pub fn take_unrecognized(&mut self) -> Map<String, Value> {
        std::mem::take(&mut self.unrecognized)
    }

    /// Decodes every declared field into `T` after canonical conversion: each field the client
    /// sent or that has a default is a member of the object `T` deserialises from (named as
    /// declared), durations as whole seconds, lists as arrays, maps as objects. Fields neither
    /// sent nor defaulted are left out, so `Option` members read `None`. Values are copied.
    ///
    /// # Errors
    ///
    /// [`LogicalError::InvalidRequest`] when `T` refuses the values (serde's message).
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        let mut object = Map::new();
        for (spec, value) in self.specs.iter().zip(&self.values) {
            match value {
                Some(value) => {
                    object.insert(spec.name.clone(), value.clone());
                }
                None if spec.has_default => {
                    object.insert(spec.name.clone(), spec.fallback.clone());
                }
                None => {}
            }
        }
        serde_json::from_value(Value::Object(object))
            .map_err(|e| LogicalError::invalid(format!("Field validation failed: {e}")))
    }
}
