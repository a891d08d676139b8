//! The quorum ceremonies over the API: rekey and root token generation, at Vault's paths
//! (`sys/rekey/*`, `sys/generate-root/*`) and OpenBao 2.7's (`sys/rotate/root/*`,
//! `sys/generate-root-token/*`), with Vault's JSON.
//!
//! They go through the request pipeline like any other path: a token whose policy grants the
//! path is needed (OpenBao 2.7's rule; no `sudo`), and every step is audited. A server may opt
//! in to Vault's unauthenticated spelling of the legacy paths (OpenBao's listener options
//! `disable_unauthed_rekey_endpoints = false`, `disable_unauthed_generate_root_endpoints =
//! false`): see [`VaultRequest::without_token_for_quorum`](crate::VaultRequest). SECURITY.md says
//! why the default is what it is.

use serde_json::{Map, Value, json};
use strongroom_logical::{Operation, field};

use crate::vault::{GenerateRootUpdate, RekeyStatus, RekeyUpdate, VaultResponse};
use crate::{Result, Vault, VaultError};

/// One of the ceremony endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    RekeyInit,
    RekeyUpdate,
    RekeyVerify,
    RootAttempt,
    RootUpdate,
}

impl Endpoint {
    /// The endpoint a path below `sys/` names, and whether the path is one of Vault's legacy
    /// spellings (the only ones a server may open without a token).
    pub(crate) fn parse(rest: &str) -> Option<(Self, bool)> {
        Some(match rest {
            "rekey/init" => (Self::RekeyInit, true),
            "rekey/update" => (Self::RekeyUpdate, true),
            "rekey/verify" => (Self::RekeyVerify, true),
            "generate-root/attempt" => (Self::RootAttempt, true),
            "generate-root/update" => (Self::RootUpdate, true),
            "rotate/root/init" => (Self::RekeyInit, false),
            "rotate/root/update" => (Self::RekeyUpdate, false),
            "rotate/root/verify" => (Self::RekeyVerify, false),
            "generate-root-token/attempt" => (Self::RootAttempt, false),
            "generate-root-token/update" => (Self::RootUpdate, false),
            _ => return None,
        })
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A `usize` field (share counts), decoded as Vault's `TypeInt`.
fn count(data: &Map<String, Value>, name: &str) -> Result<usize> {
    Ok(field::count::<usize>(data, name)?.unwrap_or(0))
}

/// The `key` and `nonce` of a share submission.
fn key_and_nonce(data: &Map<String, Value>) -> Result<(String, String)> {
    let key = field::string(data, "key")?
        .filter(|k| !k.is_empty())
        .ok_or_else(|| VaultError::invalid("'key' must be specified in request body as JSON"))?;
    let nonce = field::string(data, "nonce")?.unwrap_or_default();
    Ok((key, nonce))
}

/// PGP encryption of shares or tokens is not offered: refuse rather than hand out plaintext the
/// caller expected to be encrypted.
fn refuse_pgp(data: &Map<String, Value>, names: &[&str]) -> Result<()> {
    for name in names {
        let given = match data.get(*name) {
            None | Some(Value::Null) => false,
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Array(items)) => !items.is_empty(),
            Some(_) => true,
        };
        if given {
            return Err(VaultError::invalid(format!(
                "{name} is not supported: PGP-encrypted shares and tokens are not offered"
            )));
        }
    }
    if field::bool(data, "backup")?.unwrap_or(false) {
        return Err(VaultError::invalid(
            "backup is not supported: it needs PGP-encrypted shares",
        ));
    }
    Ok(())
}

fn rekey_status_json(status: Option<&RekeyStatus>) -> Map<String, Value> {
    object(match status {
        Some(s) => json!({
            "started": true,
            "nonce": s.nonce,
            "t": s.t,
            "n": s.n,
            "progress": s.progress,
            "required": s.required,
            "pgp_fingerprints": null,
            "backup": false,
            "verification_required": s.verifying,
        }),
        None => json!({
            "started": false, "nonce": "", "t": 0, "n": 0, "progress": 0, "required": 0,
            "pgp_fingerprints": null, "backup": false, "verification_required": false,
        }),
    })
}

fn rekey_update_json(vault: &Vault, update: RekeyUpdate, nonce: &str) -> Map<String, Value> {
    match update {
        RekeyUpdate::Issued {
            keys,
            keys_base64,
            verification_nonce,
        } => object(json!({
            "complete": true,
            "nonce": nonce,
            "keys": keys.iter().map(|k| k.expose_secret()).collect::<Vec<_>>(),
            "keys_base64": keys_base64.iter().map(|k| k.expose_secret()).collect::<Vec<_>>(),
            "pgp_fingerprints": null,
            "verification_required": verification_nonce.is_some(),
            "verification_nonce": verification_nonce.unwrap_or_default(),
            "backup": false,
        })),
        RekeyUpdate::Complete => object(json!({"complete": true, "nonce": nonce})),
        _ => rekey_status_json(vault.rekey_status().as_ref()),
    }
}

fn root_status_json(progress: Option<&crate::Progress>) -> Map<String, Value> {
    object(match progress {
        Some(p) => json!({
            "started": true, "nonce": p.nonce, "progress": p.have, "required": p.need,
            "complete": false, "encoded_token": "", "encoded_root_token": "",
            "pgp_fingerprint": "", "otp": "", "otp_length": crate::tokens::TOKEN_LEN,
        }),
        None => json!({
            "started": false, "nonce": "", "progress": 0, "required": 0, "complete": false,
            "encoded_token": "", "encoded_root_token": "", "pgp_fingerprint": "",
            "otp": "", "otp_length": crate::tokens::TOKEN_LEN,
        }),
    })
}

/// Serves a ceremony endpoint (already authorised, or opened without a token by the server).
pub(crate) async fn handle(
    vault: &Vault,
    endpoint: Endpoint,
    operation: Operation,
    data: &Map<String, Value>,
) -> Result<VaultResponse> {
    let writes = matches!(operation, Operation::Create | Operation::Update);
    let out = match (endpoint, operation) {
        (Endpoint::RekeyInit | Endpoint::RekeyVerify, Operation::Read) => {
            rekey_status_json(vault.rekey_status().as_ref())
        }
        (Endpoint::RekeyInit, _) if writes => {
            refuse_pgp(data, &["pgp_keys"])?;
            let config = strongroom_seal::RekeyConfig::new(
                count(data, "secret_shares")?,
                count(data, "secret_threshold")?,
            )
            .require_verification(field::bool(data, "require_verification")?.unwrap_or(false));
            let status = vault.rekey_init(config).await?;
            rekey_status_json(Some(&status))
        }
        (Endpoint::RekeyInit, Operation::Delete) => {
            vault.rekey_cancel();
            return Ok(VaultResponse::empty());
        }
        (Endpoint::RekeyUpdate, _) if writes => {
            let (key, nonce) = key_and_nonce(data)?;
            let update = vault.rekey_update(&key, &nonce).await?;
            rekey_update_json(vault, update, &nonce)
        }
        (Endpoint::RekeyVerify, _) if writes => {
            let (key, nonce) = key_and_nonce(data)?;
            let update = vault.rekey_verify(&key, &nonce).await?;
            rekey_update_json(vault, update, &nonce)
        }
        (Endpoint::RootAttempt, Operation::Read) => {
            root_status_json(vault.generate_root_status().as_ref())
        }
        (Endpoint::RootAttempt, _) if writes => {
            refuse_pgp(data, &["pgp_key"])?;
            if field::string(data, "otp")?.is_some_and(|otp| !otp.is_empty()) {
                return Err(VaultError::invalid(
                    "a client-generated otp is not supported: leave otp empty and use the one \
                     this server returns",
                ));
            }
            let started = vault.generate_root_init().await?;
            let mut out = root_status_json(Some(&started.progress));
            out.insert("otp".into(), json!(started.otp.expose_secret()));
            out
        }
        (Endpoint::RootAttempt, Operation::Delete) => {
            vault.generate_root_cancel();
            return Ok(VaultResponse::empty());
        }
        (Endpoint::RootUpdate, _) if writes => {
            let (key, nonce) = key_and_nonce(data)?;
            match vault.generate_root_update(&key, &nonce).await? {
                GenerateRootUpdate::Complete { encoded_token } => object(json!({
                    "started": true, "nonce": nonce, "progress": 0, "required": 0,
                    "complete": true, "encoded_token": encoded_token,
                    "encoded_root_token": encoded_token, "pgp_fingerprint": "",
                    "otp": "", "otp_length": crate::tokens::TOKEN_LEN,
                })),
                GenerateRootUpdate::Pending(progress) => root_status_json(Some(&progress)),
            }
        }
        _ => {
            return Err(VaultError::Logical(
                strongroom_logical::LogicalError::UnsupportedOperation,
            ));
        }
    };
    Ok(VaultResponse::data(out))
}
