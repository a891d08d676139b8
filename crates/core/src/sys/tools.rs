//! `sys/tools/random` and `sys/tools/hash`: random bytes and hash sums, as Vault serves them
//! (transit has the same two under its own mount).

use base64ct::{Base64, Encoding};
use ring::digest;
use serde_json::Map;
use strongroom_logical::{Context, Field, FieldType, Fields};

use super::{Declared, System};
use crate::request::VaultResponse;
use crate::{Result, VaultError};

/// Vault's limit on one request's random bytes.
const MAX_RANDOM_BYTES: u64 = 128 * 1024;

pub(super) fn endpoints() -> Vec<Declared> {
    let format = |default: &str| {
        Field::new(FieldType::String, "`hex` or `base64`.").default(default.to_owned())
    };
    vec![
        Declared::new("tools/random/{source?}/{urlbytes?}")
            .field(
                "source",
                Field::new(
                    FieldType::String,
                    "`platform`, `seal` or `all` (a number here is the byte count).",
                ),
            )
            .field(
                "urlbytes",
                Field::new(FieldType::String, "The number of bytes (in the path)."),
            )
            .field(
                "bytes",
                Field::new(FieldType::Int, "The number of bytes; 32 by default.").default(32),
            )
            .field("format", format("base64"))
            .write(|s, c, f| Box::pin(random(s, c, f)))
            .synopsis("Random bytes from the platform's source."),
        Declared::new("tools/hash/{urlalgorithm?}")
            .field(
                "urlalgorithm",
                Field::new(FieldType::String, "The algorithm (in the path)."),
            )
            .field(
                "algorithm",
                Field::new(
                    FieldType::String,
                    "`sha2-256` (the default), `sha2-384` or `sha2-512`.",
                )
                .default("sha2-256"),
            )
            .field(
                "input",
                Field::new(FieldType::String, "The data to hash, base64-encoded."),
            )
            .field("format", format("hex"))
            .write(|s, c, f| Box::pin(hash(s, c, f)))
            .synopsis("The hash sum of some data."),
    ]
}

async fn random(_sys: &System, _ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    let mut bytes: u64 = fields.get("bytes")?;
    for segment in [
        fields.get_ok::<&str>("source")?,
        fields.get_ok::<&str>("urlbytes")?,
    ]
    .into_iter()
    .flatten()
    {
        match segment {
            "platform" | "seal" | "all" => {}
            n => {
                bytes = n.parse().map_err(|_| {
                    VaultError::invalid(format!("unsupported entropy source {n:?}"))
                })?;
            }
        }
    }
    if bytes == 0 {
        return Err(VaultError::invalid("'bytes' cannot be less than 1"));
    }
    if bytes > MAX_RANDOM_BYTES {
        return Err(VaultError::invalid(format!(
            "'bytes' should be less than {MAX_RANDOM_BYTES}"
        )));
    }
    let format: &str = fields.get("format")?;
    if !matches!(format, "hex" | "base64") {
        return Err(VaultError::invalid(format!(
            "unsupported encoding format {format:?}; must be \"hex\" or \"base64\""
        )));
    }
    let mut random =
        vec![0_u8; usize::try_from(bytes).map_err(|_| VaultError::invalid("too many bytes"))?];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random)
        .map_err(|_| VaultError::Internal("system random source failed".into()))?;
    let mut out = Map::new();
    out.insert("random_bytes".into(), encode(&random, format).into());
    Ok(VaultResponse::data(out))
}

async fn hash(_sys: &System, _ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    let name = match fields.get_ok::<&str>("urlalgorithm")? {
        Some(name) if !name.is_empty() => name,
        _ => fields.get::<&str>("algorithm")?,
    };
    let algorithm = match name {
        "sha2-256" => &digest::SHA256,
        "sha2-384" => &digest::SHA384,
        "sha2-512" => &digest::SHA512,
        other => {
            return Err(VaultError::invalid(format!(
                "unsupported algorithm {other}"
            )));
        }
    };
    let format: &str = fields.get("format")?;
    if !matches!(format, "hex" | "base64") {
        return Err(VaultError::invalid(format!(
            "unsupported encoding format {format}; must be \"hex\" or \"base64\""
        )));
    }
    let input: &str = fields.get("input")?;
    let input = Base64::decode_vec(input).map_err(|_| {
        // Go's words, with the offset of the first byte that is not base64.
        let at = input
            .bytes()
            .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')))
            .unwrap_or(input.len());
        VaultError::invalid(format!(
            "unable to decode input as base64: illegal base64 data at input byte {at}"
        ))
    })?;
    let mut out = Map::new();
    out.insert(
        "sum".into(),
        encode(digest::digest(algorithm, &input).as_ref(), format).into(),
    );
    Ok(VaultResponse::data(out))
}

fn encode(bytes: &[u8], format: &str) -> String {
    if format == "hex" {
        crate::util::hex(bytes)
    } else {
        Base64::encode_string(bytes)
    }
}
