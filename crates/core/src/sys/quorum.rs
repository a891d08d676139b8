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
use strongroom_logical::{Context, Field, FieldType, Fields, SecretText};

use super::{Declared, System};
use crate::quorum::{GenerateRootUpdate, RekeyStatus, RekeyUpdate};
use crate::request::VaultResponse;
use crate::util::object;
use crate::{Result, Vault, VaultError};

/// The patterns a server may open without a token: Vault's legacy spellings.
pub(super) const TOKENLESS: &[&str] = &[
    "rekey/init",
    "rekey/update",
    "rekey/verify",
    "generate-root/attempt",
    "generate-root/update",
];

/// The rekey and root generation endpoints, at the legacy and at OpenBao 2.7's paths.
pub(super) fn endpoints() -> Vec<Declared> {
    let key = || {
        Field::new(
            FieldType::SecretString,
            "One unseal (or recovery) key share.",
        )
    };
    let nonce = || Field::new(FieldType::String, "The attempt's nonce.");
    let mut out = Vec::new();
    for (rekey, root) in [
        ("rekey", "generate-root"),
        ("rotate/root", "generate-root-token"),
    ] {
        out.push(
            Declared::new(&format!("{rekey}/init"))
                .field(
                    "secret_shares",
                    Field::new(FieldType::Int, "The number of new shares."),
                )
                .field(
                    "secret_threshold",
                    Field::new(FieldType::Int, "The shares needed to unseal."),
                )
                .field(
                    "pgp_keys",
                    Field::new(
                        FieldType::CommaStringSlice,
                        "Not supported: PGP-encrypted shares are not offered.",
                    ),
                )
                .field(
                    "backup",
                    Field::new(
                        FieldType::Bool,
                        "Not supported: needs PGP-encrypted shares.",
                    ),
                )
                .field(
                    "require_verification",
                    Field::new(
                        FieldType::Bool,
                        "The new shares take effect only once a quorum of them is presented.",
                    ),
                )
                .read(|s, c, f| Box::pin(rekey_status(s, c, f)))
                .write(|s, c, f| Box::pin(rekey_init(s, c, f)))
                .delete(|s, c, f| Box::pin(rekey_cancel(s, c, f)))
                .synopsis("Start, read or cancel a rekey."),
        );
        out.push(
            Declared::new(&format!("{rekey}/update"))
                .field("key", key())
                .field("nonce", nonce())
                .write(|s, c, f| Box::pin(rekey_update(s, c, f, false)))
                .synopsis("Present a share of the current quorum to the rekey."),
        );
        out.push(
            Declared::new(&format!("{rekey}/verify"))
                .field("key", key())
                .field("nonce", nonce())
                .read(|s, c, f| Box::pin(rekey_status(s, c, f)))
                .write(|s, c, f| Box::pin(rekey_update(s, c, f, true)))
                .synopsis("Present a new share to verify the rekey."),
        );
        out.push(
            Declared::new(&format!("{root}/attempt"))
                .field(
                    "pgp_key",
                    Field::new(
                        FieldType::String,
                        "Not supported: PGP encryption is not offered.",
                    ),
                )
                .field(
                    "otp",
                    Field::new(
                        FieldType::String,
                        "Not supported: the server returns the one-time pad to use.",
                    ),
                )
                .read(|s, c, f| Box::pin(root_status(s, c, f)))
                .write(|s, c, f| Box::pin(root_init(s, c, f)))
                .delete(|s, c, f| Box::pin(root_cancel(s, c, f)))
                .synopsis("Start, read or cancel a root token generation."),
        );
        out.push(
            Declared::new(&format!("{root}/update"))
                .field("key", key())
                .field("nonce", nonce())
                .write(|s, c, f| Box::pin(root_update(s, c, f)))
                .synopsis("Present a share to the root token generation."),
        );
    }
    out
}

/// The `key` and `nonce` of a share submission.
fn key_and_nonce(fields: &Fields<'_>) -> Result<(SecretText, String)> {
    let key: SecretText = fields.get("key")?;
    if key.expose().is_empty() {
        return Err(VaultError::invalid(
            "'key' must be specified in request body as JSON",
        ));
    }
    Ok((key, fields.get("nonce")?))
}

/// PGP encryption of shares or tokens is not offered: refuse rather than hand out plaintext the
/// caller expected to be encrypted.
fn refuse_pgp(fields: &Fields<'_>, name: &str) -> Result<()> {
    let given = if name == "pgp_keys" {
        !fields.get::<Vec<String>>(name)?.is_empty()
    } else {
        !fields.get::<&str>(name)?.is_empty()
    };
    if given {
        return Err(VaultError::invalid(format!(
            "{name} is not supported: PGP-encrypted shares and tokens are not offered"
        )));
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

async fn rekey_status(sys: &System, _ctx: &Context, _fields: Fields<'_>) -> Result<VaultResponse> {
    Ok(VaultResponse::data(rekey_status_json(
        sys.vault.rekey_status().as_ref(),
    )))
}

async fn rekey_init(sys: &System, _ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    refuse_pgp(&fields, "pgp_keys")?;
    if fields.get::<bool>("backup")? {
        return Err(VaultError::invalid(
            "backup is not supported: it needs PGP-encrypted shares",
        ));
    }
    let config = strongroom_seal::RekeyConfig::new(
        fields.get("secret_shares")?,
        fields.get("secret_threshold")?,
    )
    .require_verification(fields.get("require_verification")?);
    let status = sys.vault.rekey_init(config).await?;
    Ok(VaultResponse::data(rekey_status_json(Some(&status))))
}

async fn rekey_cancel(sys: &System, _ctx: &Context, _fields: Fields<'_>) -> Result<VaultResponse> {
    sys.vault.rekey_cancel();
    Ok(VaultResponse::empty())
}

async fn rekey_update(
    sys: &System,
    _ctx: &Context,
    fields: Fields<'_>,
    verify: bool,
) -> Result<VaultResponse> {
    let (key, nonce) = key_and_nonce(&fields)?;
    let update = if verify {
        sys.vault.rekey_verify(key.expose(), &nonce).await?
    } else {
        sys.vault.rekey_update(key.expose(), &nonce).await?
    };
    Ok(VaultResponse::data(rekey_update_json(
        &sys.vault, update, &nonce,
    )))
}

async fn root_status(sys: &System, _ctx: &Context, _fields: Fields<'_>) -> Result<VaultResponse> {
    Ok(VaultResponse::data(root_status_json(
        sys.vault.generate_root_status().as_ref(),
    )))
}

async fn root_init(sys: &System, _ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    refuse_pgp(&fields, "pgp_key")?;
    if !fields.get::<&str>("otp")?.is_empty() {
        return Err(VaultError::invalid(
            "a client-generated otp is not supported: leave otp empty and use the one this \
             server returns",
        ));
    }
    let started = sys.vault.generate_root_init().await?;
    let mut out = root_status_json(Some(&started.progress));
    out.insert("otp".into(), json!(started.otp.expose_secret()));
    Ok(VaultResponse::data(out))
}

async fn root_cancel(sys: &System, _ctx: &Context, _fields: Fields<'_>) -> Result<VaultResponse> {
    sys.vault.generate_root_cancel();
    Ok(VaultResponse::empty())
}

async fn root_update(sys: &System, _ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    let (key, nonce) = key_and_nonce(&fields)?;
    let out = match sys.vault.generate_root_update(key.expose(), &nonce).await? {
        GenerateRootUpdate::Complete { encoded_token } => object(json!({
            "started": true, "nonce": nonce, "progress": 0, "required": 0,
            "complete": true, "encoded_token": encoded_token,
            "encoded_root_token": encoded_token, "pgp_fingerprint": "",
            "otp": "", "otp_length": crate::tokens::TOKEN_LEN,
        })),
        GenerateRootUpdate::Pending(progress) => root_status_json(Some(&progress)),
    };
    Ok(VaultResponse::data(out))
}
