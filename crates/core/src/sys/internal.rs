//! `sys/internal/...`: what Vault's own clients ask before they act (the mount a path is in,
//! for `vault kv`) and the OpenAPI document of every mounted path.

use serde_json::json;
use strongroom_logical::{Context, EndpointInfo, Field, FieldType, Fields};
use strongroom_policy::{Acl, Capabilities};

use super::{Declared, System};
use crate::request::VaultResponse;
use crate::util::object;
use crate::{Result, Vault, VaultError};

pub(super) fn endpoints() -> Vec<Declared> {
    vec![
        Declared::new("internal/ui/mounts/{path*}")
            .field(
                "path",
                Field::new(FieldType::String, "A path; its mount is answered."),
            )
            .read(|s, c, f| Box::pin(mount_of(s, c, f)))
            .synopsis("The mount serving a path, and its type and options."),
        Declared::new("internal/specs/openapi")
            .read(|s, c, f| Box::pin(openapi(s, c, f)))
            .synopsis(
                "The OpenAPI 3 document of every path the caller's token can reach a mount of.",
            ),
    ]
}

/// What `vault kv` asks to find a mount and its KV version.
async fn mount_of(sys: &System, _ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    let target: &str = fields.get("path")?;
    let router = sys.active.router();
    let Some((mounted, _)) = router.route(target) else {
        // Vault's 403, naming the path as a folder.
        let shown = if target.ends_with('/') {
            target.to_owned()
        } else {
            format!("{target}/")
        };
        return Err(VaultError::Denied(format!(
            "preflight capability check returned 403, please ensure client's policies grant \
             access to path \"{shown}\""
        )));
    };
    let mut out = object(mounted.entry.to_json());
    out.insert("path".into(), json!(mounted.entry.path));
    Ok(VaultResponse::data(out))
}

/// The OpenAPI document (Vault's raw body): the system backend, the token store and every
/// mounted engine, each mount only when the caller's ACL reaches into it, as Vault filters.
async fn openapi(sys: &System, _ctx: &Context, _fields: Fields<'_>) -> Result<VaultResponse> {
    let acl = sys
        .active
        .policies()
        .acl(&sys.caller()?.entry.policies)
        .await?;
    let router = sys.active.router();
    let mut mounts: Vec<(&str, &[EndpointInfo])> = super::builtin_infos()
        .into_iter()
        .filter(|(path, _)| reaches(&acl, path))
        .collect();
    for mounted in router.mounted() {
        if reaches(&acl, &mounted.entry.path) {
            mounts.push((mounted.entry.path.as_str(), mounted.backend.endpoints()));
        }
    }
    let document = strongroom_logical::openapi_document(&mounts);
    let mut out = object(document);
    if let Some(info) = out.get_mut("info").and_then(|v| v.as_object_mut()) {
        info.insert("title".into(), json!("Strongroom"));
        info.insert("version".into(), json!(env!("CARGO_PKG_VERSION")));
    }
    Ok(VaultResponse {
        raw: true,
        ..VaultResponse::data(out)
    })
}

/// Whether `acl` grants anything on the mount at `mount` or below it (Vault's
/// `hasMountAccess`): a capability on the mount path itself, or a rule that is not a denial and
/// can match a path inside the mount.
fn reaches(acl: &Acl, mount: &str) -> bool {
    if acl.is_root() {
        return true;
    }
    let granted = |caps: Capabilities| !caps.is_empty() && !caps.contains(Capabilities::DENY);
    if granted(acl.capabilities(mount)) {
        return true;
    }
    acl.rules()
        .iter()
        .any(|rule| granted(rule.capabilities()) && reaches_into(rule.pattern().as_str(), mount))
}

/// Whether the policy path `pattern` (with `+` segments and a trailing `*`) can match a path at
/// or below `mount`, compared segment by segment: `kv` does not reach `kv-team-b/`, `secret/+/x`
/// reaches `secret/a/` but not `secret/a/y/`.
fn reaches_into(pattern: &str, mount: &str) -> bool {
    let (body, glob) = match pattern.strip_suffix('*') {
        Some(body) => (body, true),
        None => (pattern, false),
    };
    let wanted: Vec<&str> = body.split('/').collect();
    let last = wanted.len().saturating_sub(1);
    for (i, segment) in mount.trim_end_matches('/').split('/').enumerate() {
        match wanted.get(i) {
            // The pattern stops above the mount.
            None => return false,
            Some(prefix) if glob && i == last => return segment.starts_with(prefix),
            Some(&"+") => {}
            Some(literal) if *literal == segment => {}
            Some(_) => return false,
        }
    }
    // Every segment of the mount matched: the pattern goes on inside it (or names it).
    true
}

impl Vault {
    /// The OpenAPI 3 document of the paths `token` can reach, as `GET
    /// sys/internal/specs/openapi` answers it (through the request pipeline: authorised and
    /// audited).
    ///
    /// # Errors
    ///
    /// As [`Vault::handle`].
    pub async fn openapi(
        &self,
        token: &(impl crate::AsToken + ?Sized),
    ) -> Result<serde_json::Value> {
        let response = self.read(token, "sys/internal/specs/openapi").await?;
        Ok(response
            .data
            .map_or(serde_json::Value::Null, serde_json::Value::Object))
    }
}

#[cfg(test)]
mod tests {
    use super::reaches_into;

    #[test]
    fn rules_reach_a_mount_segment_by_segment() {
        for (pattern, mount) in [
            ("secret/*", "secret/"),
            ("secret/data/app", "secret/"),
            ("sec*", "secret/"),
            ("secret/+/x", "secret/a/"),
            ("secret/a*", "secret/ab/"),
            ("secret", "secret/"),
            ("*", "anything/"),
        ] {
            assert!(reaches_into(pattern, mount), "{pattern} reaches {mount}");
        }
        for (pattern, mount) in [
            ("kv", "kv-team-b/"),
            ("kv/*", "kv-team-b/"),
            ("secret/+/x", "secret/a/y/"),
            ("other/*", "secret/"),
            ("secret/a", "secret/b/"),
            ("team/*", "teams/"),
        ] {
            assert!(
                !reaches_into(pattern, mount),
                "{pattern} does not reach {mount}"
            );
        }
    }
}
