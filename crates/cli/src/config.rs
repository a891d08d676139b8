//! The server's Vault-style HCL configuration file.
//!
//! Understood: `storage "sqlite" { path }`, `storage "postgresql" { connection_url, table }`,
//! `storage "inmem" {}`, one or more `listener "tcp" { address, tls_disable }`, `api_addr`,
//! `audit_dir` and `unsafe_allow_api_audit_creation` (who may enable file audit devices over
//! the API). `ui`, `disable_mlock`, `cluster_addr`, `log_level` and `log_format` are accepted
//! and ignored with a warning, so existing Vault configs load. Anything else — including
//! stanzas this build does not implement yet (`seal`, `audit`, TLS listeners) — is an error
//! naming the file, line and field, never silently dropped: a server that quietly ignores
//! `tls_cert_file` would serve secrets in plain text.

use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use hcl::edit::Span as _;
use hcl::edit::expr::Expression;
use hcl::edit::structure::{Attribute, Block, Structure};

/// Where the server keeps its data.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum StorageConfig {
    /// One SQLite file (the embedded default).
    Sqlite {
        /// The database file.
        path: PathBuf,
    },
    /// A PostgreSQL database.
    Postgresql {
        /// The connection URL; may hold a password, so never shown by `Debug`.
        connection_url: String,
        /// The table, if not the default.
        table: Option<String>,
    },
    /// Memory only: everything is lost when the process stops.
    Inmem,
}

impl fmt::Debug for StorageConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite { path } => f.debug_struct("Sqlite").field("path", path).finish(),
            Self::Postgresql { table, .. } => f
                .debug_struct("Postgresql")
                .field("connection_url", &"[REDACTED]")
                .field("table", table)
                .finish(),
            Self::Inmem => f.write_str("Inmem"),
        }
    }
}

/// One `listener "tcp"` stanza.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listener {
    /// Where to listen.
    pub(crate) address: SocketAddr,
}

/// A parsed server configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerConfig {
    /// The storage backend.
    pub(crate) storage: StorageConfig,
    /// The listeners (at least one).
    pub(crate) listeners: Vec<Listener>,
    /// The address clients are told to use, if set.
    pub(crate) api_addr: Option<String>,
    /// The directory under which file audit devices may be enabled over the API.
    pub(crate) audit_dir: Option<PathBuf>,
    /// OpenBao's `unsafe_allow_api_audit_creation`: file audit devices anywhere over the API.
    pub(crate) unsafe_allow_api_audit_creation: bool,
    /// Accepted-but-ignored settings, for the operator to see at startup.
    pub(crate) warnings: Vec<String>,
}

/// A configuration error: the file, the line and column, and what is wrong with which field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigError {
    /// The file.
    pub(crate) file: PathBuf,
    /// 1-based line.
    pub(crate) line: usize,
    /// 1-based column.
    pub(crate) column: usize,
    /// What is wrong, naming the field.
    pub(crate) message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

impl std::error::Error for ConfigError {}

/// Reads and parses the configuration file at `path`.
pub(crate) fn load(path: &Path) -> anyhow::Result<ServerConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("reading config file {}: {e}", path.display()))?;
    Ok(parse(path, &text)?)
}

/// Settings Vault's configs commonly carry that mean nothing here.
const IGNORED: &[&str] = &[
    "ui",
    "disable_mlock",
    "cluster_addr",
    "log_level",
    "log_format",
    "cluster_name",
    "disable_cache",
];

/// Parses configuration `text`; `file` is only used in error messages.
pub(crate) fn parse(file: &Path, text: &str) -> Result<ServerConfig, ConfigError> {
    let p = Parser { file, text };
    let body = hcl::edit::parser::parse_body(text).map_err(|e| ConfigError {
        file: file.to_owned(),
        line: e.location().line(),
        column: e.location().column(),
        message: e.message().to_owned(),
    })?;
    let mut storage = None;
    let mut listeners = Vec::new();
    let mut api_addr = None;
    let mut audit_dir = None;
    let mut unsafe_audit = false;
    let mut warnings = Vec::new();
    for s in body.iter() {
        match s {
            Structure::Block(b) => match b.ident.as_str() {
                "storage" | "backend" => {
                    if storage.is_some() {
                        return Err(p.err(b.span(), "only one `storage` stanza is allowed"));
                    }
                    storage = Some(p.storage(b)?);
                }
                "listener" => listeners.push(p.listener(b)?),
                "seal" | "audit" => {
                    return Err(p.err(
                        b.span(),
                        format!(
                            "`{}` stanzas are not supported yet by this build; remove it \
                             (enable audit devices over sys/audit instead)",
                            b.ident.as_str()
                        ),
                    ));
                }
                other => {
                    return Err(p.err(b.span(), format!("unknown stanza `{other}`")));
                }
            },
            Structure::Attribute(a) => match a.key.as_str() {
                "api_addr" => api_addr = Some(p.string(a)?),
                "audit_dir" => audit_dir = Some(PathBuf::from(p.string(a)?)),
                "unsafe_allow_api_audit_creation" => unsafe_audit = p.boolean(a)?,
                key if IGNORED.contains(&key) => {
                    warnings.push(format!("`{key}` is ignored by Strongroom"));
                }
                other => return Err(p.err(a.span(), format!("unknown setting `{other}`"))),
            },
        }
    }
    let storage = storage.ok_or_else(|| p.err(None, "a `storage` stanza is required"))?;
    if listeners.is_empty() {
        return Err(p.err(None, "at least one `listener \"tcp\"` stanza is required"));
    }
    Ok(ServerConfig {
        storage,
        listeners,
        api_addr,
        audit_dir,
        unsafe_allow_api_audit_creation: unsafe_audit,
        warnings,
    })
}

struct Parser<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Parser<'_> {
    fn err(&self, span: Option<Range<usize>>, message: impl Into<String>) -> ConfigError {
        let offset = span.map_or(0, |r| r.start).min(self.text.len());
        let before = self.text.get(..offset).unwrap_or("");
        let line_start = before.rfind('\n').map_or(0, |i| i.saturating_add(1));
        ConfigError {
            file: self.file.to_owned(),
            line: before.matches('\n').count().saturating_add(1),
            column: before
                .get(line_start..)
                .map_or(0, |s| s.chars().count())
                .saturating_add(1),
            message: message.into(),
        }
    }

    /// The single label of `block`, e.g. `"sqlite"` in `storage "sqlite" { ... }`.
    fn label<'b>(&self, block: &'b Block) -> Result<&'b str, ConfigError> {
        match block.labels.as_slice() {
            [label] => Ok(label.as_str()),
            _ => Err(self.err(
                block.span(),
                format!(
                    "`{}` needs exactly one label, e.g. {} \"{}\" {{ ... }}",
                    block.ident.as_str(),
                    block.ident.as_str(),
                    if block.ident.as_str() == "listener" {
                        "tcp"
                    } else {
                        "sqlite"
                    }
                ),
            )),
        }
    }

    fn attributes<'b>(
        &self,
        block: &'b Block,
        allowed: &[&str],
    ) -> Result<Vec<&'b Attribute>, ConfigError> {
        let kind = format!(
            "{} \"{}\"",
            block.ident.as_str(),
            self.label(block).unwrap_or("")
        );
        let mut out: Vec<&Attribute> = Vec::new();
        for s in block.body.iter() {
            match s {
                Structure::Attribute(a) if allowed.contains(&a.key.as_str()) => {
                    if out.iter().any(|o| o.key.as_str() == a.key.as_str()) {
                        return Err(self.err(
                            a.span(),
                            format!("`{}` is set twice in {kind}", a.key.as_str()),
                        ));
                    }
                    out.push(a);
                }
                Structure::Attribute(a) => {
                    return Err(self.err(
                        a.span(),
                        format!("unknown field `{}` in {kind}", a.key.as_str()),
                    ));
                }
                Structure::Block(b) => {
                    return Err(self.err(
                        b.span(),
                        format!("unexpected block `{}` in {kind}", b.ident.as_str()),
                    ));
                }
            }
        }
        Ok(out)
    }

    fn storage(&self, block: &Block) -> Result<StorageConfig, ConfigError> {
        let kind = self.label(block)?;
        let get = |attrs: &[&Attribute], key: &str| -> Result<Option<String>, ConfigError> {
            attrs
                .iter()
                .find(|a| a.key.as_str() == key)
                .map(|a| self.string(a))
                .transpose()
        };
        match kind {
            "sqlite" => {
                let attrs = self.attributes(block, &["path"])?;
                let path = get(&attrs, "path")?
                    .ok_or_else(|| self.err(block.span(), "storage \"sqlite\" needs `path`"))?;
                Ok(StorageConfig::Sqlite { path: path.into() })
            }
            "postgresql" => {
                let attrs = self.attributes(block, &["connection_url", "table"])?;
                let connection_url = get(&attrs, "connection_url")?.ok_or_else(|| {
                    self.err(
                        block.span(),
                        "storage \"postgresql\" needs `connection_url`",
                    )
                })?;
                Ok(StorageConfig::Postgresql {
                    connection_url,
                    table: get(&attrs, "table")?,
                })
            }
            "inmem" => {
                self.attributes(block, &[])?;
                Ok(StorageConfig::Inmem)
            }
            other => Err(self.err(
                block.span(),
                format!(
                    "unsupported storage type `{other}` (this build has sqlite, postgresql and \
                     inmem)"
                ),
            )),
        }
    }

    fn listener(&self, block: &Block) -> Result<Listener, ConfigError> {
        let kind = self.label(block)?;
        if kind != "tcp" {
            return Err(self.err(
                block.span(),
                format!("unsupported listener type `{kind}` (only tcp)"),
            ));
        }
        let attrs = self.attributes(
            block,
            &["address", "tls_disable", "tls_cert_file", "tls_key_file"],
        )?;
        let mut address: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 8200));
        let mut tls_disable = false;
        for a in &attrs {
            match a.key.as_str() {
                "address" => {
                    let text = self.string(a)?;
                    address = text.parse().map_err(|_| {
                        self.err(
                            a.value.span(),
                            format!(
                                "`address` must be an IP address and port such as \
                                 127.0.0.1:8200, not {text:?}"
                            ),
                        )
                    })?;
                }
                "tls_disable" => tls_disable = self.boolean(a)?,
                _ => {
                    return Err(self.err(
                        a.span(),
                        format!(
                            "`{}`: TLS listeners are not supported yet by this build; terminate \
                             TLS in front of Strongroom and set tls_disable = true",
                            a.key.as_str()
                        ),
                    ));
                }
            }
        }
        if !tls_disable {
            // Vault's default is TLS on; serving plain HTTP must be asked for, never assumed.
            return Err(self.err(
                block.span(),
                "listener \"tcp\" would use TLS, which this build does not support yet; set \
                 tls_disable = true to serve plain HTTP (behind a TLS-terminating proxy)",
            ));
        }
        Ok(Listener { address })
    }

    fn string(&self, a: &Attribute) -> Result<String, ConfigError> {
        match &a.value {
            Expression::String(s) => Ok(s.as_str().to_owned()),
            Expression::StringTemplate(t) => {
                let mut out = String::new();
                for el in t.iter() {
                    match el.as_literal() {
                        Some(lit) => out.push_str(lit),
                        None => {
                            return Err(self.err(
                                a.value.span(),
                                format!("`{}`: interpolation is not allowed", a.key.as_str()),
                            ));
                        }
                    }
                }
                Ok(out)
            }
            _ => Err(self.err(
                a.value.span(),
                format!("`{}` must be a string", a.key.as_str()),
            )),
        }
    }

    /// A boolean as Vault accepts one: `true`, `"true"`, `1`, `"1"` (and their false forms).
    fn boolean(&self, a: &Attribute) -> Result<bool, ConfigError> {
        let bad = || {
            self.err(
                a.value.span(),
                format!("`{}` must be true or false", a.key.as_str()),
            )
        };
        match &a.value {
            Expression::Bool(b) => Ok(*b.value()),
            Expression::Number(n) => match n.value().as_u64() {
                Some(0) => Ok(false),
                Some(1) => Ok(true),
                _ => Err(bad()),
            },
            Expression::String(_) | Expression::StringTemplate(_) => {
                match self.string(a)?.as_str() {
                    "true" | "1" => Ok(true),
                    "false" | "0" => Ok(false),
                    _ => Err(bad()),
                }
            }
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

    use super::*;

    fn parse_str(text: &str) -> Result<ServerConfig, ConfigError> {
        parse(Path::new("server.hcl"), text)
    }

    #[test]
    fn a_vault_style_config() {
        let config = parse_str(
            r#"
ui = true
disable_mlock = true
api_addr = "http://127.0.0.1:8300"

storage "sqlite" {
  path = "/var/lib/strongroom/vault.db"
}

listener "tcp" {
  address     = "127.0.0.1:8300"
  tls_disable = "true"
}

listener "tcp" {
  address     = "[::1]:8301"
  tls_disable = 1
}

unsafe_allow_api_audit_creation = true
"#,
        )
        .unwrap();
        assert_eq!(
            config.storage,
            StorageConfig::Sqlite {
                path: "/var/lib/strongroom/vault.db".into()
            }
        );
        assert_eq!(
            config.listeners,
            vec![
                Listener {
                    address: "127.0.0.1:8300".parse().unwrap()
                },
                Listener {
                    address: "[::1]:8301".parse().unwrap()
                }
            ]
        );
        assert_eq!(config.api_addr.as_deref(), Some("http://127.0.0.1:8300"));
        assert!(config.unsafe_allow_api_audit_creation);
        assert_eq!(config.audit_dir, None);
        assert_eq!(config.warnings.len(), 2, "{:?}", config.warnings);
    }

    #[test]
    fn postgresql_and_inmem_storage() {
        let config = parse_str(
            r#"
storage "postgresql" {
  connection_url = "postgres://vault:hunter2@db:5432/vault"
  table = "vault_kv"
}
listener "tcp" {
  tls_disable = true
}
audit_dir = "/var/log/strongroom"
"#,
        )
        .unwrap();
        assert_eq!(
            config.storage,
            StorageConfig::Postgresql {
                connection_url: "postgres://vault:hunter2@db:5432/vault".into(),
                table: Some("vault_kv".into())
            }
        );
        assert!(!format!("{config:?}").contains("hunter2"));
        assert_eq!(config.listeners[0].address.to_string(), "127.0.0.1:8200");
        assert_eq!(
            config.audit_dir.as_deref(),
            Some(Path::new("/var/log/strongroom"))
        );

        let config =
            parse_str("storage \"inmem\" {}\nlistener \"tcp\" { tls_disable = true }\n").unwrap();
        assert_eq!(config.storage, StorageConfig::Inmem);
    }

    /// Each bad config fails at the right line, naming the field.
    #[test]
    fn errors_name_the_line_and_field() {
        let cases: &[(&str, usize, &str)] = &[
            (
                "storage \"sqlite\" {\n  path = \"x\"\n  paht = \"y\"\n}\n",
                3,
                "unknown field `paht` in storage \"sqlite\"",
            ),
            (
                "storage \"sqlite\" { path = \"x\" }\nlistener \"tcp\" {\n  address = \"localhost\"\n  tls_disable = true\n}\n",
                3,
                "`address` must be an IP address",
            ),
            (
                "storage \"sqlite\" { path = \"x\" }\n\nlistener \"tcp\" {\n  address = \"127.0.0.1:1\"\n}\n",
                3,
                "set tls_disable = true",
            ),
            (
                "storage \"sqlite\" { path = \"x\" }\nlistener \"tcp\" {\n  tls_disable = true\n  tls_cert_file = \"c.pem\"\n}\n",
                4,
                "`tls_cert_file`: TLS listeners are not supported",
            ),
            (
                "storage \"raft\" { path = \"x\" }\n",
                1,
                "unsupported storage type `raft`",
            ),
            (
                "storage \"sqlite\" { path = 3 }\n",
                1,
                "`path` must be a string",
            ),
            (
                "storage \"sqlite\" { path = \"x\" }\nlistener \"tcp\" { tls_disable = true }\nseal \"transit\" {\n}\n",
                3,
                "`seal` stanzas are not supported",
            ),
            (
                "storage \"sqlite\" { path = \"x\" }\nstorage \"inmem\" {}\n",
                2,
                "only one `storage`",
            ),
            (
                "storage \"sqlite\" { path = \"x\" }\nlistener \"tcp\" { tls_disable = \"maybe\" }\n",
                2,
                "`tls_disable` must be true or false",
            ),
            (
                "listener \"tcp\" { tls_disable = true }\n",
                1,
                "a `storage` stanza is required",
            ),
            (
                "storage \"sqlite\" { path = \"x\" }\nmax_lease_ttl = \"1h\"\n",
                2,
                "unknown setting `max_lease_ttl`",
            ),
            (
                "storage \"sqlite\" {\n  path = \n}\n",
                2,
                "invalid expression",
            ),
        ];
        for (text, line, message) in cases {
            let err = parse_str(text).expect_err(text);
            assert_eq!(err.line, *line, "{text}: {err}");
            assert!(err.message.contains(message), "{text}: {err}");
            assert!(err.to_string().starts_with("server.hcl:"), "{err}");
        }
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = load(Path::new("/nonexistent/strongroom.hcl")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/strongroom.hcl"));
    }
}
