//! Converting between the pipeline's JSON and the caller's types, with errors that name the
//! mismatch but never a value (a secret must not end up in an error message or a log).

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::{Result, VaultError};

/// `value` as a `T`; `what` names it in the error ("the secret at secret/app").
pub(crate) fn from_value<T: DeserializeOwned>(value: Value, what: &str) -> Result<T> {
    serde_json::from_value(value)
        .map_err(|err| VaultError::Decode(format!("{what} does not decode: {}", scrub(&err))))
}

/// `value` as a JSON object (a request body): a struct or a map.
pub(crate) fn to_object<T: Serialize + ?Sized>(
    value: &T,
    what: &str,
) -> Result<Map<String, Value>> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(VaultError::Decode(format!(
            "{what} must serialize to a JSON object (a struct or a map)"
        ))),
        Err(err) => Err(VaultError::Decode(format!(
            "{what} does not serialize: {}",
            scrub(&err)
        ))),
    }
}

/// serde's message without the data it quotes. serde_json says `invalid type: string
/// "hunter2", expected u32` or `unknown variant `hunter2``: what was found is data, so only
/// what was expected is kept. Messages naming a field (`missing field `password``) name keys,
/// which are not secret. Anything else (a custom error) becomes a generic phrase.
fn scrub(err: &serde_json::Error) -> String {
    let message = err.to_string();
    let expected = || {
        message
            .rsplit_once(", expected ")
            .map(|(_, expected)| format!(", expected {expected}"))
            .unwrap_or_default()
    };
    if message.starts_with("missing field ")
        || message.starts_with("duplicate field ")
        || message.starts_with("unknown field ")
        || message.starts_with("invalid length ")
    {
        message
    } else if message.starts_with("invalid type: ") {
        format!("invalid type{}", expected())
    } else if message.starts_with("invalid value: ") {
        format!("invalid value{}", expected())
    } else if message.starts_with("unknown variant ") {
        format!("unknown variant{}", expected())
    } else {
        "the data does not fit the type".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::{from_value, to_object};

    #[derive(Debug, Deserialize)]
    #[allow(dead_code, reason = "only decoded")]
    struct Db {
        user: String,
        port: u16,
        mode: Mode,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Primary,
    }

    fn error(value: serde_json::Value) -> String {
        match from_value::<Db>(value, "the secret") {
            Ok(db) => panic!("decoded {db:?}"),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn errors_name_the_mismatch_never_the_value() {
        let cases = [
            (
                json!({"user": "u", "port": "hunter2, expected hunter2", "mode": "primary"}),
                "the secret does not decode: invalid type, expected u16",
            ),
            (
                json!({"user": "u", "port": 1, "mode": "hunter2"}),
                "the secret does not decode: unknown variant, expected `primary`",
            ),
            (
                json!({"user": "u", "port": 99999, "mode": "primary"}),
                "the secret does not decode: invalid value, expected u16",
            ),
            (
                json!({"port": 1, "mode": "primary"}),
                "the secret does not decode: missing field `user`",
            ),
        ];
        for (value, want) in cases {
            let got = error(value);
            assert_eq!(got, want);
            assert!(!got.contains("hunter2") && !got.contains("99999"), "{got}");
        }
    }

    #[test]
    fn a_body_must_be_an_object() {
        assert!(to_object(&json!({"a": 1}), "the value").is_ok());
        let err = to_object(&"hunter2", "the value").unwrap_err().to_string();
        assert!(
            err.contains("JSON object") && !err.contains("hunter2"),
            "{err}"
        );
    }
}
