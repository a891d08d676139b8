//! The server's Vault-style HCL configuration file.
//!
//! Understood: `storage "sqlite" { path }`, `storage "postgresql" { connection_url, table,
//! max_parallel, ha_enabled, ha_table, ha_lease_time, ha_renew_interval, ha_retry_interval }`
//! (high availability as Vault configures it, with the lock's timing added), `cluster_addr`,
//! `storage "inmem" {}`; one or more `listener "tcp" { address, tls_disable, tls_cert_file,
//! tls_key_file, tls_min_version }`; `seal "shamir" {}` or `seal "transit" { address, token,
//! key_name, mount_path, namespace, tls_ca_cert }` (auto-unseal); OpenBao's declarative audit
//! devices, `audit "file" "<path>" { description, options { file_path } }`; `api_addr`,
//! `audit_dir` and `unsafe_allow_api_audit_creation` (who may enable file audit devices over the
//! API); Vault's user lockout settings, `user_lockout "<all|userpass|approle|ldap>" {
//! lockout_threshold, lockout_duration, lockout_counter_reset, disable_lockout }` (what a method's
//! stanza leaves out comes from `"all"`, then Vault's defaults: 5, 15m, 15m, false); `log_level`
//! and `log_format`. `ui`, `disable_mlock`, `cluster_addr` and the like are
//! accepted and ignored with a warning, so existing Vault configs load. Anything else is an error
//! naming the file, line and field, never silently dropped: a server that quietly ignored a
//! setting such as an audit option would do something the operator did not ask for.

use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use hcl::edit::Span as _;
use hcl::edit::expr::Expression;
use hcl::edit::structure::{Attribute, Block, Structure};

/// Where the server keeps its data.
#[derive(Clone, PartialEq, Eq)]
pub enum StorageConfig {
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
        /// Vault's `max_parallel`: the most connections, if not the default.
        max_parallel: Option<u32>,
        /// High availability (`ha_enabled = "true"`), with its settings.
        ha: Option<HaSettings>,
    },
    /// Memory only: everything is lost when the process stops.
    Inmem,
}

/// The HA settings of a `storage "postgresql"` stanza.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HaSettings {
    /// Vault's `ha_table`, if not the default.
    pub table: Option<String>,
    /// `ha_lease_time`: how long the lock is held without a renewal (default 5 s).
    pub lease: Option<std::time::Duration>,
    /// `ha_renew_interval`: how often the active node renews (default 1 s).
    pub renew_interval: Option<std::time::Duration>,
    /// `ha_retry_interval`: how often a standby tries to take the lock (default 1 s).
    pub retry_interval: Option<std::time::Duration>,
}

impl fmt::Debug for StorageConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite { path } => f.debug_struct("Sqlite").field("path", path).finish(),
            Self::Postgresql {
                table,
                max_parallel,
                ha,
                ..
            } => f
                .debug_struct("Postgresql")
                .field("connection_url", &"[REDACTED]")
                .field("table", table)
                .field("max_parallel", max_parallel)
                .field("ha", ha)
                .finish(),
            Self::Inmem => f.write_str("Inmem"),
        }
    }
}

/// One `listener "tcp"` stanza.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Where to listen.
    pub address: SocketAddr,
    /// TLS settings; `None` with `tls_disable = true`.
    pub tls: Option<TlsFiles>,
    /// What the listener opens beyond the default API: OpenBao's
    /// `disable_unauthed_rekey_endpoints = false` and
    /// `disable_unauthed_generate_root_endpoints = false` serve Vault's legacy quorum
    /// endpoints without a token (both default to true: closed).
    pub http: strongroom_http::Options,
    /// How long a client may take to send a request's headers, counted from when the
    /// connection opens or the previous response was sent, so it also bounds idle keep-alive
    /// connections (Vault's `http_read_header_timeout`): 10 s.
    pub http_read_header_timeout: std::time::Duration,
    /// Connections open at once (`max_connections`); `None`: 4096, or three quarters of the
    /// file-descriptor limit when lower.
    pub max_connections: Option<usize>,
    /// How long writing a response may make no progress (the client stopped reading) before
    /// the connection is closed (`http_write_stall_timeout`, Strongroom's own: Vault has no
    /// equivalent): 30 s.
    pub http_write_stall_timeout: std::time::Duration,
}

/// The default `http_write_stall_timeout`.
pub const DEFAULT_WRITE_STALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Vault's `http_read_header_timeout` default.
pub const DEFAULT_READ_HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A TLS listener's certificate chain and key (PEM files), read when the server starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// Whether TLS 1.2 is refused (`tls_min_version = "tls13"`); the default allows 1.2 and 1.3.
    pub tls13_only: bool,
}

/// The `seal` stanza: how the root key is protected.
#[derive(Clone, PartialEq, Eq)]
pub enum SealConfig {
    /// Shamir key shares (the default).
    Shamir,
    /// Auto-unseal through a Vault-compatible transit engine.
    Transit {
        /// The transit server's address.
        address: String,
        /// Its token (from the file, else `VAULT_TOKEN`); never shown by `Debug`.
        token: String,
        /// The transit key's name.
        key_name: String,
        /// The transit engine's mount path.
        mount_path: String,
        /// A namespace on the transit server.
        namespace: Option<String>,
        /// A CA certificate file to trust for the transit server.
        tls_ca_cert: Option<PathBuf>,
    },
}

impl fmt::Debug for SealConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Shamir => f.write_str("Shamir"),
            Self::Transit {
                address,
                key_name,
                mount_path,
                ..
            } => f
                .debug_struct("Transit")
                .field("address", address)
                .field("token", &"[REDACTED]")
                .field("key_name", key_name)
                .field("mount_path", mount_path)
                .finish_non_exhaustive(),
        }
    }
}

/// An `audit "file" "<path>"` stanza: a file audit device enabled at every unseal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    /// Where the device is listed in `sys/audit` (e.g. `file/`).
    pub path: String,
    /// The description.
    pub description: String,
    /// The file the lines go to.
    pub file_path: PathBuf,
}

/// The `log_level` and `log_format` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// JSON lines instead of text.
    pub json: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            json: false,
        }
    }
}

/// A parsed server configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The storage backend.
    pub storage: StorageConfig,
    /// The listeners (at least one).
    pub listeners: Vec<Listener>,
    /// The address clients are told to use, if set (with HA: where standbys send clients and
    /// forwarded requests).
    pub api_addr: Option<String>,
    /// The address other nodes reach this one at (Vault's `cluster_addr`), if set.
    pub cluster_addr: Option<String>,
    /// The directory under which file audit devices may be enabled over the API.
    pub audit_dir: Option<PathBuf>,
    /// OpenBao's `unsafe_allow_api_audit_creation`: file audit devices anywhere over the API.
    pub unsafe_allow_api_audit_creation: bool,
    /// The seal.
    pub seal: SealConfig,
    /// Audit devices declared in the file.
    pub audit: Vec<AuditConfig>,
    /// Logging.
    pub log: LogConfig,
    /// The `user_lockout` stanzas.
    pub user_lockouts: strongroom_core::UserLockouts,
    /// Accepted-but-ignored settings, for the operator to see at startup.
    pub warnings: Vec<String>,
}

/// A configuration error: the file, the line and column, and what is wrong with which field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong, naming the field.
    pub message: String,
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
///
/// # Errors
///
/// The file cannot be read, or does not parse (a [`ConfigError`] naming the line and field).
pub fn load(path: &Path) -> anyhow::Result<ServerConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("reading config file {}: {e}", path.display()))?;
    Ok(parse(path, &text)?)
}

/// Settings Vault's configs commonly carry that mean nothing here.
const IGNORED: &[&str] = &["ui", "disable_mlock", "cluster_name", "disable_cache"];

/// Parses configuration `text`; `file` is only used in error messages.
///
/// # Errors
///
/// A [`ConfigError`] with the line, column and what is wrong with which field: HCL syntax,
/// unknown stanzas or fields, missing or invalid values.
pub fn parse(file: &Path, text: &str) -> Result<ServerConfig, ConfigError> {
    let p = Parser { file, text };
    // The parser's time can grow exponentially with unclosed brackets: check them first.
    strongroom_policy::hcl_guard::check_brackets(text).map_err(|e| ConfigError {
        file: file.to_owned(),
        line: e.location.line,
        column: e.location.column,
        message: e.message,
    })?;
    let body = hcl::edit::parser::parse_body(text).map_err(|e| ConfigError {
        file: file.to_owned(),
        line: e.location().line(),
        column: e.location().column(),
        message: e.message().to_owned(),
    })?;
    let mut storage = None;
    let mut listeners = Vec::new();
    let mut api_addr = None;
    let mut cluster_addr = None;
    let mut audit_dir = None;
    let mut unsafe_audit = false;
    let mut seal = None;
    let mut audit: Vec<AuditConfig> = Vec::new();
    let mut log = LogConfig::default();
    let mut user_lockouts = strongroom_core::UserLockouts::new();
    let mut lockout_methods: Vec<String> = Vec::new();
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
                "seal" => {
                    if seal.is_some() {
                        return Err(p.err(
                            b.span(),
                            "only one `seal` stanza is allowed (seal migration is not supported)",
                        ));
                    }
                    seal = Some(p.seal(b)?);
                }
                "audit" => {
                    let device = p.audit(b)?;
                    if audit.iter().any(|d| d.path == device.path) {
                        return Err(
                            p.err(b.span(), format!("two audit devices at `{}`", device.path))
                        );
                    }
                    audit.push(device);
                }
                "user_lockout" => {
                    let (method, stanza) = p.user_lockout(b)?;
                    if lockout_methods.contains(&method) {
                        return Err(
                            p.err(b.span(), format!("two `user_lockout \"{method}\"` stanzas"))
                        );
                    }
                    user_lockouts
                        .set(&method, stanza)
                        .map_err(|e| p.err(b.span(), format!("user_lockout: {e}")))?;
                    lockout_methods.push(method);
                }
                other => {
                    return Err(p.err(b.span(), format!("unknown stanza `{other}`")));
                }
            },
            Structure::Attribute(a) => match a.key.as_str() {
                "api_addr" => api_addr = Some(p.string(a)?),
                "cluster_addr" => cluster_addr = Some(p.string(a)?),
                "audit_dir" => audit_dir = Some(PathBuf::from(p.string(a)?)),
                "unsafe_allow_api_audit_creation" => unsafe_audit = p.boolean(a)?,
                "log_level" => {
                    let level = p.string(a)?.to_ascii_lowercase();
                    log.level = match level.as_str() {
                        "trace" | "debug" | "info" | "warn" | "error" => level,
                        "warning" => "warn".into(),
                        "err" => "error".into(),
                        _ => {
                            return Err(p.err(
                                a.value.span(),
                                "`log_level` must be trace, debug, info, warn or error",
                            ));
                        }
                    };
                }
                "log_format" => {
                    log.json = match p.string(a)?.as_str() {
                        "json" => true,
                        "standard" | "text" => false,
                        _ => {
                            return Err(
                                p.err(a.value.span(), "`log_format` must be standard or json")
                            );
                        }
                    };
                }
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
    for (name, addr) in [("api_addr", &api_addr), ("cluster_addr", &cluster_addr)] {
        if let Some(addr) = addr
            && !(addr.starts_with("http://") || addr.starts_with("https://"))
        {
            return Err(p.err(
                None,
                format!("`{name}` must be an http:// or https:// URL, not {addr:?}"),
            ));
        }
    }
    if let StorageConfig::Postgresql { ha: Some(_), .. } = &storage
        && api_addr.is_none()
    {
        return Err(p.err(
            None,
            "`ha_enabled` needs `api_addr`: the address standbys send clients and forwarded \
             requests to",
        ));
    }
    Ok(ServerConfig {
        storage,
        listeners,
        api_addr,
        cluster_addr,
        audit_dir,
        unsafe_allow_api_audit_creation: unsafe_audit,
        seal: seal.unwrap_or(SealConfig::Shamir),
        audit,
        log,
        user_lockouts,
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
                let attrs = self.attributes(
                    block,
                    &[
                        "connection_url",
                        "table",
                        "max_parallel",
                        "ha_enabled",
                        "ha_table",
                        "ha_lease_time",
                        "ha_renew_interval",
                        "ha_retry_interval",
                    ],
                )?;
                let connection_url = get(&attrs, "connection_url")?.ok_or_else(|| {
                    self.err(
                        block.span(),
                        "storage \"postgresql\" needs `connection_url`",
                    )
                })?;
                let find = |key: &str| attrs.iter().find(|a| a.key.as_str() == key).copied();
                let duration = |key: &str| find(key).map(|a| self.fine_duration(a)).transpose();
                let max_parallel = match find("max_parallel") {
                    None => None,
                    Some(a) => {
                        let n = match &a.value {
                            Expression::Number(n) => {
                                n.value().as_u64().and_then(|n| u32::try_from(n).ok())
                            }
                            _ => self.string(a)?.parse::<u32>().ok(),
                        };
                        Some(n.filter(|n| *n > 0).ok_or_else(|| {
                            self.err(a.value.span(), "`max_parallel` must be a positive number")
                        })?)
                    }
                };
                let ha_enabled = match find("ha_enabled") {
                    None => false,
                    Some(a) => self.boolean(a)?,
                };
                let ha = ha_enabled
                    .then(|| -> Result<HaSettings, ConfigError> {
                        Ok(HaSettings {
                            table: get(&attrs, "ha_table")?,
                            lease: duration("ha_lease_time")?,
                            renew_interval: duration("ha_renew_interval")?,
                            retry_interval: duration("ha_retry_interval")?,
                        })
                    })
                    .transpose()?;
                Ok(StorageConfig::Postgresql {
                    connection_url,
                    table: get(&attrs, "table")?,
                    max_parallel,
                    ha,
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
            &[
                "address",
                "tls_disable",
                "tls_cert_file",
                "tls_key_file",
                "tls_min_version",
                "disable_unauthed_rekey_endpoints",
                "disable_unauthed_generate_root_endpoints",
                "max_request_size",
                "max_request_json_memory",
                "max_request_json_strings",
                "http_read_timeout",
                "http_read_header_timeout",
                "http_idle_timeout",
                "http_write_stall_timeout",
                "max_connections",
                "max_requests_in_flight",
            ],
        )?;
        let mut http = strongroom_http::Options::default();
        let mut header_timeout = DEFAULT_READ_HEADER_TIMEOUT;
        let mut write_stall = DEFAULT_WRITE_STALL_TIMEOUT;
        let mut max_connections = None;
        let mut address: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 8200));
        let mut tls_disable = false;
        let (mut cert_file, mut key_file, mut tls13_only) = (None, None, false);
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
                "tls_cert_file" => cert_file = Some(PathBuf::from(self.string(a)?)),
                "tls_key_file" => key_file = Some(PathBuf::from(self.string(a)?)),
                "disable_unauthed_rekey_endpoints" => {
                    http.unauthenticated_rekey = !self.boolean(a)?;
                }
                "disable_unauthed_generate_root_endpoints" => {
                    http.unauthenticated_generate_root = !self.boolean(a)?;
                }
                // Vault's and OpenBao's size limits: 0 is the default, negative unlimited.
                "max_request_size" => {
                    http.max_request_size = self.limit(a)?.map_or(usize::MAX, |n| {
                        if n == 0 {
                            strongroom_http::MAX_REQUEST_SIZE
                        } else {
                            n
                        }
                    });
                }
                "max_request_json_memory" => {
                    let default = strongroom_http::Options::default().max_request_json_memory;
                    http.max_request_json_memory = self
                        .limit(a)?
                        .and_then(|n| if n == 0 { default } else { Some(n) });
                }
                "max_request_json_strings" => {
                    let default = strongroom_http::Options::default().max_request_json_strings;
                    http.max_request_json_strings = self
                        .limit(a)?
                        .and_then(|n| if n == 0 { default } else { Some(n) });
                }
                "max_requests_in_flight" => {
                    http.max_requests_in_flight = self.limit(a)?.unwrap_or(usize::MAX).max(1);
                }
                "max_connections" => {
                    max_connections = Some(self.limit(a)?.unwrap_or(usize::MAX).max(1))
                }
                "http_read_timeout" => http.http_read_timeout = self.timeout(a)?,
                "http_read_header_timeout" => header_timeout = self.timeout(a)?,
                "http_write_stall_timeout" => write_stall = self.timeout(a)?,
                "http_idle_timeout" => {
                    // Idle keep-alive connections close after `http_read_header_timeout`;
                    // a longer idle time is not offered (it only holds sockets open).
                    let idle = self.timeout(a)?;
                    if idle < header_timeout {
                        header_timeout = idle;
                    }
                }
                _ => {
                    tls13_only = match self.string(a)?.as_str() {
                        "tls12" => false,
                        "tls13" => true,
                        _ => {
                            return Err(self.err(
                                a.value.span(),
                                "`tls_min_version` must be tls12 or tls13 (older versions are \
                                 not offered)",
                            ));
                        }
                    }
                }
            }
        }
        if tls_disable {
            // Both at once is a contradiction, most likely a mistake: say so rather than serve
            // plain HTTP where the operator may have meant TLS.
            if let Some(a) = attrs
                .iter()
                .find(|a| a.key.as_str().starts_with("tls_") && a.key.as_str() != "tls_disable")
            {
                return Err(self.err(
                    a.span(),
                    format!(
                        "`{}` is set but tls_disable = true; remove one of them",
                        a.key.as_str()
                    ),
                ));
            }
            return Ok(Listener {
                address,
                tls: None,
                http,
                http_read_header_timeout: header_timeout,
                max_connections,
                http_write_stall_timeout: write_stall,
            });
        }
        // Vault's default is TLS on: without certificate files that is an error, never a silent
        // fall back to plain HTTP.
        match (cert_file, key_file) {
            (Some(cert_file), Some(key_file)) => Ok(Listener {
                address,
                http,
                http_read_header_timeout: header_timeout,
                max_connections,
                http_write_stall_timeout: write_stall,
                tls: Some(TlsFiles {
                    cert_file,
                    key_file,
                    tls13_only,
                }),
            }),
            (cert, _) => Err(self.err(
                block.span(),
                format!(
                    "listener \"tcp\" uses TLS unless tls_disable = true, and needs `{}`",
                    if cert.is_none() {
                        "tls_cert_file"
                    } else {
                        "tls_key_file"
                    }
                ),
            )),
        }
    }

    fn seal(&self, block: &Block) -> Result<SealConfig, ConfigError> {
        match self.label(block)? {
            "shamir" => {
                self.attributes(block, &[])?;
                Ok(SealConfig::Shamir)
            }
            "transit" => {
                let attrs = self.attributes(
                    block,
                    &[
                        "address",
                        "token",
                        "key_name",
                        "mount_path",
                        "namespace",
                        "tls_ca_cert",
                        "disable_renewal",
                    ],
                )?;
                let get = |key: &str| -> Result<Option<String>, ConfigError> {
                    attrs
                        .iter()
                        .find(|a| a.key.as_str() == key)
                        .map(|a| self.string(a))
                        .transpose()
                };
                let required = |key: &str| -> Result<String, ConfigError> {
                    get(key)?.ok_or_else(|| {
                        self.err(block.span(), format!("seal \"transit\" needs `{key}`"))
                    })
                };
                let address = required("address")?;
                let key_name = required("key_name")?;
                // As Vault: the token may come from the environment instead of the file.
                let token = match get("token")? {
                    Some(token) => token,
                    None => std::env::var("VAULT_TOKEN")
                        .ok()
                        .filter(|t| !t.is_empty())
                        .ok_or_else(|| {
                            self.err(
                                block.span(),
                                "seal \"transit\" needs `token` (or VAULT_TOKEN in the \
                                 environment)",
                            )
                        })?,
                };
                Ok(SealConfig::Transit {
                    address,
                    token,
                    key_name,
                    mount_path: get("mount_path")?
                        .map_or_else(|| "transit".to_owned(), |m| m.trim_matches('/').to_owned()),
                    namespace: get("namespace")?,
                    tls_ca_cert: get("tls_ca_cert")?.map(PathBuf::from),
                })
            }
            other => Err(self.err(
                block.span(),
                format!("unsupported seal type `{other}` (this build has shamir and transit)"),
            )),
        }
    }

    /// `audit "file" "<path>" { description = "...", options { file_path = "..." } }`; the
    /// options may also be written as an attribute, `options = { ... }`.
    fn audit(&self, block: &Block) -> Result<AuditConfig, ConfigError> {
        let (kind, path) = match block.labels.as_slice() {
            [kind, path] => (kind.as_str(), path.as_str()),
            _ => {
                return Err(self.err(
                    block.span(),
                    "`audit` needs a type and a path, e.g. audit \"file\" \"file\" { ... }",
                ));
            }
        };
        if kind != "file" {
            return Err(self.err(
                block.span(),
                format!("unsupported audit device type `{kind}` (this build has file)"),
            ));
        }
        let path = path.trim_matches('/');
        if path.is_empty()
            || !path
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(self.err(
                block.span(),
                format!("audit device path {path:?} must be letters, digits, -, _ or ."),
            ));
        }
        let mut description = String::new();
        let mut file_path = None;
        let mut option = |key: &str, value: String, span| -> Result<(), ConfigError> {
            match key {
                "file_path" => {
                    file_path = Some(PathBuf::from(value));
                    Ok(())
                }
                // Refused rather than ignored: `log_raw = true` would write secrets in clear.
                other => Err(self.err(
                    span,
                    format!(
                        "unsupported option `{other}` for audit \"file\" (this build has file_path)"
                    ),
                )),
            }
        };
        for s in block.body.iter() {
            match s {
                Structure::Attribute(a) if a.key.as_str() == "description" => {
                    description = self.string(a)?;
                }
                Structure::Attribute(a) if a.key.as_str() == "options" => {
                    let Expression::Object(object) = &a.value else {
                        return Err(self.err(a.value.span(), "`options` must be an object"));
                    };
                    for (key, value) in object.iter() {
                        let key_text = match key {
                            hcl::edit::expr::ObjectKey::Ident(ident) => ident.as_str().to_owned(),
                            hcl::edit::expr::ObjectKey::Expression(Expression::String(s)) => {
                                s.as_str().to_owned()
                            }
                            _ => return Err(self.err(a.value.span(), "bad key in `options`")),
                        };
                        let Expression::String(text) = value.expr() else {
                            return Err(self.err(
                                value.expr().span(),
                                format!("option `{key_text}` must be a string"),
                            ));
                        };
                        option(&key_text, text.as_str().to_owned(), value.expr().span())?;
                    }
                }
                Structure::Block(b) if b.ident.as_str() == "options" => {
                    for inner in b.body.iter() {
                        match inner {
                            Structure::Attribute(a) => {
                                option(a.key.as_str(), self.string(a)?, a.span())?;
                            }
                            Structure::Block(x) => {
                                return Err(self.err(x.span(), "unexpected block in `options`"));
                            }
                        }
                    }
                }
                Structure::Attribute(a) => {
                    return Err(self.err(
                        a.span(),
                        format!("unknown field `{}` in audit \"file\"", a.key.as_str()),
                    ));
                }
                Structure::Block(b) => {
                    return Err(self.err(
                        b.span(),
                        format!("unexpected block `{}` in audit \"file\"", b.ident.as_str()),
                    ));
                }
            }
        }
        let file_path = file_path.ok_or_else(|| {
            self.err(
                block.span(),
                "audit \"file\" needs options { file_path = \"...\" }",
            )
        })?;
        Ok(AuditConfig {
            path: format!("{path}/"),
            description,
            file_path,
        })
    }

    /// `user_lockout "<method>" { lockout_threshold, lockout_duration, lockout_counter_reset,
    /// disable_lockout }` (Vault's field names; numbers or strings, durations as `"15m"` or
    /// seconds).
    fn user_lockout(
        &self,
        block: &Block,
    ) -> Result<(String, strongroom_core::UserLockout), ConfigError> {
        let method = match block.labels.as_slice() {
            [method] => method.as_str().to_lowercase(),
            _ => {
                return Err(self.err(
                    block.span(),
                    "auth type for user lockout must be specified, if it applies to all auth \
                     methods specify \"all\"",
                ));
            }
        };
        let mut stanza = strongroom_core::UserLockout::new();
        for a in self.attributes(
            block,
            &[
                "lockout_threshold",
                "lockout_duration",
                "lockout_counter_reset",
                "disable_lockout",
            ],
        )? {
            match a.key.as_str() {
                "lockout_threshold" => {
                    let n = self.limit(a)?.ok_or_else(|| {
                        self.err(a.value.span(), "`lockout_threshold` must not be negative")
                    })?;
                    stanza = stanza.threshold(u64::try_from(n).unwrap_or(u64::MAX));
                }
                "lockout_duration" => stanza = stanza.duration(self.duration(a)?),
                "lockout_counter_reset" => stanza = stanza.counter_reset(self.duration(a)?),
                _ => stanza = stanza.disabled(self.boolean(a)?),
            }
        }
        Ok((method, stanza))
    }

    /// A duration: seconds, or Vault's duration text (`"30s"`, `"15m"`); never negative.
    fn duration(&self, a: &Attribute) -> Result<std::time::Duration, ConfigError> {
        let value = match &a.value {
            Expression::Number(n) => {
                serde_json::Value::from(n.value().as_i64().ok_or_else(|| {
                    self.err(
                        a.value.span(),
                        format!("`{}` must be a duration", a.key.as_str()),
                    )
                })?)
            }
            _ => serde_json::Value::from(self.string(a)?),
        };
        let mut map = serde_json::Map::new();
        map.insert(a.key.as_str().to_owned(), value);
        strongroom_logical::field::duration(&map, a.key.as_str())
            .map_err(|e| self.err(a.value.span(), e.to_string()))
            .map(Option::unwrap_or_default)
    }

    /// A duration to the nanosecond: Go's syntax (`"500ms"`, `"1.5s"`) or whole seconds.
    fn fine_duration(&self, a: &Attribute) -> Result<std::time::Duration, ConfigError> {
        let bad = || {
            self.err(
                a.value.span(),
                format!(
                    "`{}` must be a duration such as \"5s\" or \"500ms\"",
                    a.key.as_str()
                ),
            )
        };
        match &a.value {
            Expression::Number(n) => n
                .value()
                .as_u64()
                .map(std::time::Duration::from_secs)
                .ok_or_else(bad),
            _ => {
                let text = self.string(a)?;
                match text.parse::<u64>() {
                    Ok(secs) => Ok(std::time::Duration::from_secs(secs)),
                    Err(_) => strongroom_logical::field::go_duration(&text).ok_or_else(bad),
                }
            }
        }
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
    /// A size or count limit: a non-negative integer (`Some`), or a negative one (`None`:
    /// unlimited), as Vault's listener options read them.
    fn limit(&self, a: &Attribute) -> Result<Option<usize>, ConfigError> {
        let bad = || {
            self.err(
                a.value.span(),
                format!("`{}` must be an integer", a.key.as_str()),
            )
        };
        let n: i64 = match &a.value {
            Expression::Number(n) => n.value().as_i64().ok_or_else(bad)?,
            Expression::String(_) | Expression::StringTemplate(_) => {
                self.string(a)?.trim().parse().map_err(|_| bad())?
            }
            _ => return Err(bad()),
        };
        Ok(usize::try_from(n).ok())
    }

    /// A timeout: seconds, or a duration such as `"30s"` or `"5m"`; `0` is none (a century).
    fn timeout(&self, a: &Attribute) -> Result<std::time::Duration, ConfigError> {
        let value = match &a.value {
            Expression::Number(n) => {
                serde_json::Value::from(n.value().as_u64().ok_or_else(|| {
                    self.err(
                        a.value.span(),
                        format!("`{}` must not be negative", a.key.as_str()),
                    )
                })?)
            }
            _ => serde_json::Value::from(self.string(a)?),
        };
        let mut map = serde_json::Map::new();
        map.insert(a.key.as_str().to_owned(), value);
        let duration = strongroom_logical::field::duration(&map, a.key.as_str())
            .map_err(|e| self.err(a.value.span(), e.to_string()))?
            .unwrap_or_default();
        Ok(if duration.is_zero() {
            std::time::Duration::from_secs(100 * 365 * 24 * 3600)
        } else {
            duration
        })
    }

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
                    address: "127.0.0.1:8300".parse().unwrap(),
                    tls: None,
                    http: strongroom_http::Options::default(),
                    http_read_header_timeout: DEFAULT_READ_HEADER_TIMEOUT,
                    max_connections: None,
                    http_write_stall_timeout: DEFAULT_WRITE_STALL_TIMEOUT,
                },
                Listener {
                    address: "[::1]:8301".parse().unwrap(),
                    tls: None,
                    http: strongroom_http::Options::default(),
                    http_read_header_timeout: DEFAULT_READ_HEADER_TIMEOUT,
                    max_connections: None,
                    http_write_stall_timeout: DEFAULT_WRITE_STALL_TIMEOUT,
                }
            ]
        );
        assert_eq!(config.api_addr.as_deref(), Some("http://127.0.0.1:8300"));
        assert!(config.unsafe_allow_api_audit_creation);
        assert_eq!(config.audit_dir, None);
        assert_eq!(config.warnings.len(), 2, "{:?}", config.warnings);
    }

    /// Unclosed brackets make the HCL parser's time grow exponentially (the fuzzer found a
    /// 469-byte file that took seconds): they are refused before it runs, with their place.
    #[test]
    fn unclosed_brackets_are_refused_before_the_parser() {
        let err = parse_str("listener \"tcp\" {\n  address = -{a -{b\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 18), "{err}");
        assert!(err.message.contains("never closed"), "{err}");
        let deep = format!("x = 9%0 -{{{}", "a1/p%0 -{".repeat(400));
        assert!(parse_str(&deep).is_err());
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
                table: Some("vault_kv".into()),
                max_parallel: None,
                ha: None,
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

    /// Vault's HA configuration, unchanged, starts an HA node; the lock's timing is ours.
    #[test]
    fn vault_ha_config() {
        let config = parse_str(
            r#"
storage "postgresql" {
  connection_url = "postgres://vault@db:5432/vault"
  ha_enabled     = "true"
  ha_table       = "vault_ha"
  max_parallel   = "16"
}
listener "tcp" {
  address     = "0.0.0.0:8200"
  tls_disable = "true"
}
api_addr     = "http://10.0.0.1:8200"
cluster_addr = "https://10.0.0.1:8201"
"#,
        )
        .unwrap();
        let StorageConfig::Postgresql {
            ha: Some(ha),
            max_parallel,
            ..
        } = &config.storage
        else {
            panic!("{config:?}")
        };
        assert_eq!(ha.table.as_deref(), Some("vault_ha"));
        assert_eq!(*max_parallel, Some(16));
        assert_eq!(ha.lease, None);
        assert_eq!(
            config.cluster_addr.as_deref(),
            Some("https://10.0.0.1:8201")
        );
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);

        let timed = parse_str(
            "storage \"postgresql\" {\n connection_url = \"postgres://db/v\"\n ha_enabled = true\n \
             ha_lease_time = \"3s\"\n ha_renew_interval = \"500ms\"\n ha_retry_interval = 1\n}\n\
             listener \"tcp\" { tls_disable = true }\napi_addr = \"http://a:8200\"\n",
        )
        .unwrap();
        let StorageConfig::Postgresql { ha: Some(ha), .. } = &timed.storage else {
            panic!()
        };
        assert_eq!(ha.lease, Some(std::time::Duration::from_secs(3)));
        assert_eq!(
            ha.renew_interval,
            Some(std::time::Duration::from_millis(500))
        );
        assert_eq!(ha.retry_interval, Some(std::time::Duration::from_secs(1)));

        let off = parse_str(
            "storage \"postgresql\" {\n connection_url = \"postgres://db/v\"\n ha_enabled = \"false\"\n}\n\
             listener \"tcp\" { tls_disable = true }\n",
        )
        .unwrap();
        assert!(matches!(
            off.storage,
            StorageConfig::Postgresql { ha: None, .. }
        ));
        let err = parse_str(
            "storage \"postgresql\" {\n connection_url = \"postgres://db/v\"\n ha_enabled = \"true\"\n}\n\
             listener \"tcp\" { tls_disable = true }\n",
        )
        .unwrap_err();
        assert!(err.message.contains("api_addr"), "{err}");
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
                "uses TLS unless tls_disable = true, and needs `tls_cert_file`",
            ),
            (
                "storage \"sqlite\" { path = \"x\" }\nlistener \"tcp\" {\n  tls_cert_file = \"c.pem\"\n}\n",
                2,
                "needs `tls_key_file`",
            ),
            (
                "storage \"sqlite\" { path = \"x\" }\nlistener \"tcp\" {\n  tls_cert_file = \"c.pem\"\n  tls_key_file = \"k.pem\"\n  tls_min_version = \"tls10\"\n}\n",
                5,
                "`tls_min_version` must be tls12 or tls13",
            ),
            (
                "storage \"sqlite\" { path = \"x\" }\nseal \"awskms\" {}\n",
                2,
                "unsupported seal type `awskms`",
            ),
            (
                "storage \"sqlite\" { path = \"x\" }\naudit \"file\" \"a\" {\n  options {\n    file_path = \"/a\"\n    log_raw = \"true\"\n  }\n}\n",
                5,
                "unsupported option `log_raw`",
            ),
            (
                "storage \"sqlite\" { path = \"x\" }\naudit \"file\" \"a\" {}\n",
                2,
                "needs options { file_path",
            ),
            (
                "storage \"sqlite\" { path = \"x\" }\naudit \"socket\" \"a\" {}\n",
                2,
                "unsupported audit device type `socket`",
            ),
            (
                "storage \"sqlite\" { path = \"x\" }\nlog_level = \"loud\"\n",
                2,
                "`log_level` must be",
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
                "seal \"transit\" needs `address`",
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

    /// TLS listeners, the transit seal, declared audit devices (block and attribute forms) and
    /// logging, as a Vault/OpenBao config writes them.
    #[test]
    fn tls_seal_audit_and_logging() {
        let config = parse_str(
            r#"
storage "inmem" {}
listener "tcp" {
  address         = "0.0.0.0:8200"
  tls_cert_file   = "/etc/strongroom/cert.pem"
  tls_key_file    = "/etc/strongroom/key.pem"
  tls_min_version = "tls13"
}
seal "transit" {
  address    = "https://kms.internal:8200"
  token      = "s.hunter2"
  key_name   = "autounseal"
  mount_path = "transit/"
}
audit "file" "main" {
  description = "everything"
  options {
    file_path = "/var/log/strongroom/audit.log"
  }
}
audit "file" "second" {
  options = { file_path = "/var/log/strongroom/second.log" }
}
log_level  = "DEBUG"
log_format = "json"
"#,
        )
        .unwrap();
        assert_eq!(
            config.listeners[0].tls,
            Some(TlsFiles {
                cert_file: "/etc/strongroom/cert.pem".into(),
                key_file: "/etc/strongroom/key.pem".into(),
                tls13_only: true,
            })
        );
        let SealConfig::Transit {
            address,
            token,
            key_name,
            mount_path,
            ..
        } = &config.seal
        else {
            panic!("not a transit seal: {:?}", config.seal);
        };
        assert_eq!(
            (
                address.as_str(),
                token.as_str(),
                key_name.as_str(),
                mount_path.as_str()
            ),
            (
                "https://kms.internal:8200",
                "s.hunter2",
                "autounseal",
                "transit"
            )
        );
        assert!(!format!("{config:?}").contains("hunter2"));
        assert_eq!(
            config.audit,
            vec![
                AuditConfig {
                    path: "main/".into(),
                    description: "everything".into(),
                    file_path: "/var/log/strongroom/audit.log".into(),
                },
                AuditConfig {
                    path: "second/".into(),
                    description: String::new(),
                    file_path: "/var/log/strongroom/second.log".into(),
                },
            ]
        );
        assert_eq!(
            config.log,
            LogConfig {
                level: "debug".into(),
                json: true
            }
        );
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    }

    #[test]
    fn user_lockout_stanzas() {
        let config = parse_str(
            r#"
storage "inmem" {}
listener "tcp" { tls_disable = true }
user_lockout "all" {
  lockout_threshold = "3"
  lockout_duration = "10m"
}
user_lockout "userpass" {
  lockout_counter_reset = 30
  disable_lockout = "false"
}
user_lockout "approle" {
  disable_lockout = true
}
"#,
        )
        .unwrap();
        let userpass = config.user_lockouts.for_method("userpass");
        assert_eq!(userpass.threshold, 3);
        assert_eq!(userpass.duration, std::time::Duration::from_secs(600));
        assert_eq!(userpass.counter_reset, std::time::Duration::from_secs(30));
        assert!(!userpass.disabled);
        assert!(config.user_lockouts.for_method("approle").disabled);
        let defaults = parse_str("storage \"inmem\" {}\nlistener \"tcp\" { tls_disable = true }\n")
            .unwrap()
            .user_lockouts
            .for_method("userpass");
        assert_eq!(defaults, strongroom_core::UserLockoutConfig::default());
        for (bad, needle) in [
            ("user_lockout \"jwt\" {}", "unsupported auth type"),
            (
                "user_lockout {}",
                "auth type for user lockout must be specified",
            ),
            (
                "user_lockout \"all\" { lockout_treshold = 3 }",
                "unknown field `lockout_treshold`",
            ),
            (
                "user_lockout \"all\" { lockout_duration = \"-1s\" }",
                "lockout_duration",
            ),
            (
                "user_lockout \"all\" {}\nuser_lockout \"ALL\" {}",
                "two `user_lockout",
            ),
        ] {
            let text = format!(
                "storage \"inmem\" {{}}\nlistener \"tcp\" {{ tls_disable = true }}\n{bad}\n"
            );
            let err = parse_str(&text).unwrap_err();
            assert!(err.message.contains(needle), "{bad}: {}", err.message);
        }
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = load(Path::new("/nonexistent/strongroom.hcl")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/strongroom.hcl"));
    }
}
