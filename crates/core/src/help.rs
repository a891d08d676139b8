//! Help for a path (`GET /v1/<path>?help=1`, what `vault path-help` asks), made from the path
//! framework's declarations as Vault's `sdk/framework` makes it: the endpoint's synopsis, its
//! fields (sorted, with Vault's type names) and description in Vault's layout, and the
//! endpoint's own OpenAPI document. A mount's root answers the engine's help and its paths.
//!
//! As Vault: any valid token may ask (its ACL allows help everywhere), no token may not.

use serde_json::{Value, json};
use strongroom_logical::{EndpointInfo, FieldType, Operation};

use crate::route::Target;
use crate::{ClientToken, Result, Vault, VaultError};

/// Vault's name for a field type (`FieldType.String()`).
fn type_name(ty: FieldType) -> &'static str {
    match ty {
        FieldType::String | FieldType::SecretString => "string",
        FieldType::LowerCaseString => "lowercase string",
        FieldType::Int => "int",
        FieldType::Bool => "bool",
        FieldType::Map => "map",
        FieldType::KvPairs => "keypair",
        FieldType::DurationSecond | FieldType::SignedDurationSecond => "duration (sec)",
        FieldType::Slice
        | FieldType::StringSlice
        | FieldType::CommaStringSlice
        | FieldType::CommaIntSlice => "slice",
        _ => "unknown type",
    }
}

/// Every line of `text` after `n` spaces (empty lines too, as Vault's `indent`).
fn indent(n: usize, text: &str) -> String {
    let pad = " ".repeat(n);
    text.split('\n')
        .map(|line| format!("{pad}{line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A declared pattern as the regular expression Vault shows (`^data/(?P<path>.*)$`).
fn route_pattern(pattern: &str) -> String {
    let (body, slash) = match pattern.strip_suffix("/?") {
        Some(body) => (body, "/?"),
        None => (pattern, ""),
    };
    let segments: Vec<String> = body
        .split('/')
        .map(
            |part| match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(inner) => match inner.char_indices().last() {
                    Some((at, '*')) => format!("(?P<{}>.*)", inner.get(..at).unwrap_or("")),
                    Some((at, '+')) => format!("(?P<{}>.+)", inner.get(..at).unwrap_or("")),
                    Some((at, '?')) => format!("(?P<{}>[^/]*)", inner.get(..at).unwrap_or("")),
                    _ => format!("(?P<{inner}>[^/]+)"),
                },
                None => part.to_owned(),
            },
        )
        .collect();
    format!("^{}{slash}$", segments.join("/"))
}

fn or_none(text: &str, none: &str) -> String {
    match text.trim() {
        "" => none.to_owned(),
        text => text.to_owned(),
    }
}

/// An endpoint's help text in Vault's `pathHelpTemplate` layout.
fn endpoint_help(request: &str, info: &EndpointInfo) -> String {
    let mut out = format!(
        "Request:        {request}\nMatching Route: {}\n\n{}\n\n",
        route_pattern(info.pattern()),
        or_none(info.synopsis(), "<no synopsis>")
    );
    let mut fields: Vec<_> = info.fields().iter().collect();
    fields.sort_by(|a, b| a.name().cmp(b.name()));
    if !fields.is_empty() {
        out.push_str("## PARAMETERS\n");
        for spec in fields {
            out.push_str(&format!(
                "\n{} ({})\n\n{}\n",
                indent(4, spec.name()),
                type_name(spec.field().ty()),
                indent(8, &or_none(spec.field().description(), "<no description>"))
            ));
        }
    }
    out.push_str(&format!(
        "\n## DESCRIPTION\n\n{}",
        or_none(info.description(), "<no description>")
    ));
    out.trim().to_owned()
}

/// A mount's help in Vault's `backendHelpTemplate` layout: the engine's help and its paths.
fn backend_help(help: &str, infos: &[EndpointInfo]) -> String {
    let mut out = format!(
        "## DESCRIPTION\n\n{}\n\n## PATHS\n\nThe following paths are supported by this backend. \
         To view help for\nany of the paths below, use the help command with any route \
         matching\nthe path pattern. Note that depending on the policy of your auth token,\n\
         you may or may not be able to access certain paths.\n\n",
        help.trim()
    );
    for info in infos {
        out.push_str(&format!(
            "{}\n{}\n\n",
            indent(4, &route_pattern(info.pattern())),
            indent(8, info.synopsis().trim())
        ));
    }
    out.trim().to_owned()
}

/// The OpenAPI document of `infos` (mount-relative paths, as Vault's help gives them).
fn document(infos: &[EndpointInfo]) -> Value {
    let mut document = strongroom_logical::openapi_document(&[("", infos)]);
    if let Some(info) = document.get_mut("info").and_then(Value::as_object_mut) {
        info.insert("title".into(), json!("Strongroom"));
        info.insert("version".into(), json!(env!("CARGO_PKG_VERSION")));
    }
    document
}

impl Vault {
    /// Vault's help for `path`: `{"help": TEXT, "openapi": DOCUMENT}` for the endpoint that
    /// serves it (the mount's own help and every path at a mount's root), as `GET
    /// /v1/<path>?help=1` answers.
    ///
    /// # Errors
    ///
    /// [`VaultError::Sealed`]; [`VaultError::PermissionDenied`] without a valid token, or
    /// from outside the token's bound CIDRs (`connection` is where the request came from);
    /// [`VaultError::UnsupportedPath`] where nothing is mounted or no endpoint matches.
    pub async fn help(
        &self,
        token: Option<&ClientToken>,
        path: &str,
        connection: &strongroom_logical::Connection,
    ) -> Result<Value> {
        let active = self.active().await?;
        let now = active.clock().now();
        let token = token.ok_or(VaultError::PermissionDenied)?;
        let entry = active
            .lookup_token(token.expose_secret(), now)
            .await?
            .ok_or(VaultError::PermissionDenied)?;
        // The token is checked as for any request: its CIDR bounds hold, and a use is counted
        // (help is no way to probe a token without spending it).
        if !entry.bound_cidrs.is_empty() {
            let blocks = strongroom_logical::cidr::Cidr::parse_all(&entry.bound_cidrs)?;
            if !strongroom_logical::cidr::allowed(&blocks, connection.remote_addr) {
                return Err(VaultError::PermissionDenied);
            }
        }
        let used = active
            .tokens()
            .use_once(entry)
            .await?
            .ok_or(VaultError::PermissionDenied)?;
        if used.last {
            active.revoke_token_tree(&used.entry.id, now).await?;
        }
        let mut path = crate::request_path::canonical(Operation::Read, path)?;
        let (rest, infos, help): (String, &[EndpointInfo], &str) =
            match Self::route(&active, Operation::Read, &mut path).await {
                Target::Sys(rest) => (
                    rest,
                    crate::sys::system().infos(),
                    crate::sys::system().help(),
                ),
                Target::Token(rest) => (
                    rest,
                    crate::sys::token_store().infos(),
                    crate::sys::token_store().help(),
                ),
                Target::Engine(mounted, rest) => {
                    let infos = mounted.backend.endpoints();
                    let rest = rest.trim_end_matches('/').to_owned();
                    if rest.is_empty() {
                        return Ok(json!({
                            "help": backend_help("", infos),
                            "openapi": document(infos),
                            "see_also": Value::Null,
                        }));
                    }
                    let Some(info) = infos.iter().find(|i| i.matches(&rest)) else {
                        return Err(VaultError::UnsupportedPath);
                    };
                    return Ok(json!({
                        "help": endpoint_help(&rest, info),
                        "openapi": document(std::slice::from_ref(info)),
                        "see_also": Value::Null,
                    }));
                }
                // Nothing mounted there (and the cubbyhole, which declares no help).
                _ => return Err(VaultError::UnsupportedPath),
            };
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() {
            return Ok(json!({
                "help": backend_help(help, infos),
                "openapi": document(infos),
                "see_also": Value::Null,
            }));
        }
        let info = infos
            .iter()
            .find(|i| i.matches(rest))
            .ok_or(VaultError::UnsupportedPath)?;
        Ok(json!({
            "help": endpoint_help(rest, info),
            "openapi": document(std::slice::from_ref(info)),
            "see_also": Value::Null,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_read_as_vaults_routes() {
        assert_eq!(route_pattern("mounts"), "^mounts$");
        assert_eq!(route_pattern("data/{path*}"), "^data/(?P<path>.*)$");
        assert_eq!(route_pattern("keys/{name}"), "^keys/(?P<name>[^/]+)$");
        assert_eq!(route_pattern("keys/?"), "^keys/?$");
    }

    /// The layout of OpenBao 2.7.2's `GET auth/token/lookup?help=1` (recorded).
    #[test]
    fn endpoint_help_has_vaults_layout() {
        let info = crate::sys::token_store()
            .infos()
            .iter()
            .find(|i| i.pattern() == "lookup")
            .unwrap_or_else(|| panic!("no lookup endpoint"));
        let help = endpoint_help("lookup", info);
        assert!(
            help.starts_with("Request:        lookup\nMatching Route: ^lookup$\n\n"),
            "{help}"
        );
        assert!(
            help.contains("\n\n## PARAMETERS\n\n    token (string)\n\n        "),
            "{help}"
        );
        assert!(help.contains("\n\n## DESCRIPTION\n\n"), "{help}");
        assert_eq!(indent(4, "a\n\nb"), "    a\n    \n    b");
    }
}
