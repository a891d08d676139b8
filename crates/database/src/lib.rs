//! The `database` engine: dynamic credentials for PostgreSQL and MySQL/MariaDB, with Vault's
//! paths and JSON.
//!
//! - `config/<name>`: `plugin_name` (`postgresql-database-plugin`, `mysql-database-plugin`),
//!   `connection_url` with `{{username}}`/`{{password}}`, `username`, `password` (never read
//!   back), `allowed_roles`, `verify_connection` (default true: the config is refused if the
//!   database cannot be reached), `password_length`, `username_template`,
//!   `root_rotation_statements`. An update that changes where the stored password would be
//!   sent (the `plugin_name`, or the URL's scheme, host, port, database or parameters — all but
//!   its user information) must give `password` again, else it is refused before anything is
//!   stored or connected to.
//! - `roles/<name>`: `db_name`, `creation_statements`, `revocation_statements`,
//!   `rollback_statements`, `renew_statements`, `default_ttl`, `max_ttl`.
//! - `creds/<role>`: a new user (`v-<role>-<random>`, within the database's name limit) with a
//!   random password, made by the creation statements in one transaction, returned with a
//!   lease. If they fail, no lease is created, and the rollback statements (or else the default
//!   revocation) undo only what this request made: they run only if the user did not exist
//!   before (a `username_template` without random parts can name an existing user, which is
//!   never dropped), exists afterwards, and the database did not refuse the very first
//!   statement; when either existence check fails nothing is rolled back (on MySQL the check
//!   reads `mysql.user`, so the admin needs `SELECT` on it for rollbacks). Renewal runs
//!   the renew statements (PostgreSQL default: `VALID UNTIL`); revocation — explicit, by expiry,
//!   or after a restart — runs the revocation statements or a safe default that ends the user's
//!   sessions and drops it.
//!
//! Safety: role and config names are validated; generated names and passwords come from safe
//! alphabets, so template substitution cannot inject SQL; connecting and every set of statements
//! are bounded by timeouts. Connections are opened per operation and closed after.
//!
//! - `rotate-root/<name>`: a new admin password only the engine knows, recorded as pending
//!   before the database is told (a crash in between cannot lose it).
//! - `static-roles/<name>`, `static-creds/<name>`, `rotate-role/<name>`: existing users whose
//!   password the rotation scheduler rotates on a `rotation_period` or a cron
//!   `rotation_schedule` (with `rotation_window`), testing a login with the new password before
//!   it counts, restoring the old password and alerting when the test fails.
//! - `username_template` (on the connection, or on a role): Vault's template language for
//!   dynamic user names; the rendered name is validated before it reaches SQL.
#![forbid(unsafe_code)]

mod db;
mod paths;
mod statics;
mod template;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use strongroom_logical::{
    Backend, Context, EndpointInfo, Endpoints, Fields, Lease, LogicalError, Request, Response,
    Result, SecretDescriptor, SecretText,
};
use strongroom_rotation::{AlertSink, LogSink, Scheduler};
use strongroom_storage::Storage as _;
use zeroize::Zeroizing;

use crate::db::{Conn, Kind};
use crate::statics::EngineClock;
use crate::template::Template;

/// The database engine. Register it with `VaultBuilder::engine("database", factory)`.
pub struct Database {
    /// Where static-role rotation alerts go.
    alerts: Arc<dyn AlertSink>,
    clock: Arc<EngineClock>,
    /// The static roles' scheduler, made on first use (it needs the mount's storage).
    statics: tokio::sync::OnceCell<Scheduler>,
    /// The paths, declared once: routing, fields, existence checks, help, OpenAPI.
    endpoints: Endpoints<Database>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").finish_non_exhaustive()
    }
}

impl Database {
    /// An engine whose static-role rotation alerts go to `alerts`.
    pub fn new(alerts: Arc<dyn AlertSink>) -> Self {
        Self {
            alerts,
            clock: Arc::default(),
            statics: tokio::sync::OnceCell::new(),
            endpoints: paths::declarations(),
        }
    }

    /// The engine's endpoints (for help, the OpenAPI document and the declarations' checks).
    pub fn endpoint_declarations(&self) -> &Endpoints<Self> {
        &self.endpoints
    }
}

impl Default for Database {
    /// Alerts as `tracing` warnings.
    fn default() -> Self {
        Self::new(Arc::new(LogSink))
    }
}

/// The engine factory (no mount options); static-role rotation alerts are logged.
///
/// # Errors
///
/// None; the signature is the registry's.
pub fn factory(_options: &Map<String, Value>) -> Result<Arc<dyn Backend>> {
    Ok(Arc::new(Database::default()))
}

/// A factory whose engines send static-role rotation alerts to `alerts` (a webhook, a pager).
pub fn factory_with_alerts(
    alerts: Arc<dyn AlertSink>,
) -> impl Fn(&Map<String, Value>) -> Result<Arc<dyn Backend>> + Send + Sync + 'static {
    move |_options| Ok(Arc::new(Database::new(Arc::clone(&alerts))) as Arc<dyn Backend>)
}

/// A database connection's settings, as stored (inside the barrier).
#[derive(Clone, Serialize, Deserialize)]
struct DbConfig {
    plugin_name: String,
    connection_url: String,
    username: String,
    password: String,
    allowed_roles: Vec<String>,
    password_length: usize,
    /// A root password being rotated in: recorded before the database is told, so a crash
    /// between the two cannot lose the admin credential.
    #[serde(default)]
    pending_password: Option<String>,
    #[serde(default)]
    root_rotation_statements: Vec<String>,
    /// Vault's `username_template` for dynamic users.
    #[serde(default)]
    username_template: Option<String>,
}

impl std::fmt::Debug for DbConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbConfig")
            .field("plugin_name", &self.plugin_name)
            .field("username", &self.username)
            .field("password", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

impl DbConfig {
    fn kind(&self) -> Result<Kind> {
        Kind::from_plugin(&self.plugin_name)
    }

    fn url(&self) -> Zeroizing<String> {
        Zeroizing::new(db::connection_url(
            &self.connection_url,
            &self.username,
            &self.password,
        ))
    }

    fn allows(&self, role: &str) -> bool {
        self.allowed_roles.iter().any(|r| r == "*" || r == role)
    }

    /// Connects as the admin: with the password, or — after a rotation interrupted between
    /// the database and the stored config — with the pending one.
    async fn connect(&self) -> Result<Conn> {
        let kind = self.kind()?;
        match Conn::open(kind, &self.url()).await {
            Ok(conn) => Ok(conn),
            Err(err) => match &self.pending_password {
                Some(pending) => {
                    let url = Zeroizing::new(db::connection_url(
                        &self.connection_url,
                        &self.username,
                        pending,
                    ));
                    Conn::open(kind, &url).await.map_err(|_| err)
                }
                None => Err(err),
            },
        }
    }
}

/// A role: how its users are made, renewed and removed.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Role {
    db_name: String,
    creation_statements: Vec<String>,
    revocation_statements: Vec<String>,
    rollback_statements: Vec<String>,
    renew_statements: Vec<String>,
    default_ttl: u64,
    max_ttl: u64,
    /// Overrides the connection's `username_template` for this role.
    #[serde(default)]
    username_template: Option<String>,
}

/// Names of configs and roles: letters, digits, `-`, `_`; 1–64 characters.
fn check_name(kind: &str, name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
    {
        return Err(LogicalError::invalid(format!(
            "invalid {kind} name {:?}: 1-64 letters, digits, '-' or '_'",
            name.chars().take(80).collect::<String>()
        )));
    }
    Ok(())
}

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `len` characters from `alphabet`, uniformly (rejection sampling).
fn random_string(alphabet: &[u8], len: usize) -> Result<String> {
    let rng = ring::rand::SystemRandom::new();
    let limit = 256 - 256 % alphabet.len();
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let byte: [u8; 1] = ring::rand::generate(&rng)
            .map_err(|_| LogicalError::Internal("the system random source failed".into()))?
            .expose();
        let b = usize::from(byte[0]);
        if b < limit
            && let Some(c) = alphabet.get(b % alphabet.len())
        {
            out.push(char::from(*c));
        }
    }
    Ok(out)
}

/// A password with upper, lower and digit characters (what password policies usually ask).
fn password(len: usize) -> Result<Zeroizing<String>> {
    let len = len.max(20);
    loop {
        let candidate = Zeroizing::new(random_string(ALPHANUMERIC, len)?);
        if candidate.bytes().any(|b| b.is_ascii_uppercase())
            && candidate.bytes().any(|b| b.is_ascii_lowercase())
            && candidate.bytes().any(|b| b.is_ascii_digit())
        {
            return Ok(candidate);
        }
    }
}

/// A new user's name: from `template` (the role's or the connection's `username_template`), or
/// else `v-<role>-<random>` cut to the database's limit (the random part always survives). A
/// templated name is checked before it goes near SQL: 1 to the database's limit of letters,
/// digits, `-`, `_` or `.`.
fn username(kind: Kind, template: Option<&str>, values: &template::Values<'_>) -> Result<String> {
    let Some(source) = template else {
        let random = random_string(b"abcdefghijklmnopqrstuvwxyz0123456789", 20)?;
        let budget = kind.max_username().saturating_sub(2 + 1 + random.len());
        let role: String = values.role_name.chars().take(budget).collect();
        return Ok(format!("v-{role}-{random}"));
    };
    let name = Template::parse(source)
        .and_then(|t| t.render(values))
        .map_err(|e| LogicalError::invalid(format!("username_template: {e}")))?;
    let max = kind.max_username();
    if name.is_empty()
        || name.len() > max
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(LogicalError::invalid(format!(
            "the username template produced an invalid name {:?}: it must be 1-{max} letters, \
             digits, '-', '_' or '.'",
            name.chars().take(80).collect::<String>()
        )));
    }
    Ok(name)
}

/// Checks a `username_template` when it is written: it must parse and, rendered for a sample
/// request, give a valid name.
fn check_template(kind: Kind, source: &str, role: &str, now: std::time::SystemTime) -> Result<()> {
    username(
        kind,
        Some(source),
        &template::Values {
            display_name: "token",
            role_name: role,
            now,
        },
    )
    .map(drop)
}

/// Refuses a config update that would send the stored admin password somewhere new without the
/// password being given again: the password is never read back, so a caller allowed to update
/// the config but not to know the password could otherwise point the connection at a server
/// of their own and receive it. "Somewhere new" is a changed `plugin_name` or a changed
/// connection target ([`db::connection_target`]: everything in `connection_url` but the user
/// information). A new `username` alone is allowed: the password still goes only to the server
/// it was given for. A config holding no password (nor a pending one) has nothing to protect.
fn check_target_kept(old: &DbConfig, new: &DbConfig, password_given: bool) -> Result<()> {
    let holds_password = !old.password.is_empty() || old.pending_password.is_some();
    let moved = old.plugin_name != new.plugin_name
        || db::connection_target(&old.connection_url) != db::connection_target(&new.connection_url);
    if holds_password && moved && !password_given {
        return Err(LogicalError::invalid(
            "'password' must be given again: the connection target changed (the plugin_name, or \
             the connection_url's scheme, host, port, database or parameters), and the stored \
             password is only sent to the target it was given for",
        ));
    }
    Ok(())
}

/// After a failed creation, undoes what this request made — and only that. A
/// `username_template` without random parts can name a user that already exists; removing it
/// would destroy someone else's account. So the role's rollback statements (or else the default
/// revocation) run only when the user did not exist before the creation (`existed_before`) and
/// exists now, checked on a fresh connection (a timed-out one is unusable). When either check
/// fails, nothing is rolled back (a leftover user is the lesser harm). Best effort: the
/// creation's error is what the caller reports, and nothing here is logged with a secret.
async fn roll_back_creation(
    config: &DbConfig,
    kind: Kind,
    role: &Role,
    role_name: &str,
    existed_before: Result<bool>,
    values: &[(&str, &str)],
) {
    match existed_before {
        Ok(false) => {}
        Ok(true) => {
            tracing::warn!(
                role = %role_name,
                "creating a user failed, and its name was already taken by an existing user: \
                 nothing is rolled back (is the username_template deterministic?)"
            );
            return;
        }
        Err(err) => {
            tracing::warn!(
                role = %role_name,
                error = %err,
                "creating a user failed, and whether the user existed before is unknown: nothing \
                 is rolled back"
            );
            return;
        }
    }
    let mut fresh = match config.connect().await {
        Ok(conn) => conn,
        Err(err) => {
            tracing::warn!(
                role = %role_name,
                error = %err,
                "creating a user failed, and reconnecting to roll it back failed"
            );
            return;
        }
    };
    match fresh.user_exists(value(values, "name")).await {
        Ok(true) => {
            let templates = if role.rollback_statements.is_empty() {
                vec![kind.default_revocation().to_owned()]
            } else {
                role.rollback_statements.clone()
            };
            let rollback: Vec<String> = db::render_all(&templates, values);
            if let Err(err) = fresh.run(&rollback).await {
                tracing::warn!(
                    role = %role_name,
                    error = %scrub(err, value(values, "password")),
                    "creating a user failed, and rolling it back failed too"
                );
            }
        }
        // Nothing was left behind (PostgreSQL rolled the whole transaction back).
        Ok(false) => {}
        Err(err) => tracing::warn!(
            role = %role_name,
            error = %err,
            "creating a user failed, and whether it was left behind is unknown: nothing is \
             rolled back"
        ),
    }
    fresh.close().await;
}

/// The value of `key` among template values ("" when absent).
fn value<'a>(values: &[(&str, &'a str)], key: &str) -> &'a str {
    values
        .iter()
        .find(|(k, _)| *k == key)
        .map_or("", |(_, v)| *v)
}

/// `err` with every occurrence of `secret` replaced.
fn scrub(err: LogicalError, secret: &str) -> LogicalError {
    let message = err.to_string();
    if secret.is_empty() || !message.contains(secret) {
        return err;
    }
    LogicalError::invalid(message.replace(secret, "[redacted]"))
}

fn now_secs(ctx: &Context) -> u64 {
    ctx.now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Database {
    async fn write_config(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name: &str = fields.get("name")?;
        check_name("connection", name)?;
        let existing: Option<DbConfig> = ctx.storage.get_json(&format!("config/{name}")).await?;
        let pick = |key: &str, old: Option<&String>| -> Result<String> {
            fields
                .get_ok::<String>(key)?
                .or_else(|| old.cloned())
                .ok_or_else(|| LogicalError::invalid(format!("'{key}' is required")))
        };
        let password = fields.get_ok::<SecretText>("password")?;
        let config = DbConfig {
            plugin_name: pick("plugin_name", existing.as_ref().map(|c| &c.plugin_name))?,
            connection_url: pick(
                "connection_url",
                existing.as_ref().map(|c| &c.connection_url),
            )?,
            username: fields
                .get_ok::<String>("username")?
                .or_else(|| existing.as_ref().map(|c| c.username.clone()))
                .unwrap_or_default(),
            password: password
                .as_ref()
                .map(|p| p.expose().to_owned())
                .or_else(|| existing.as_ref().map(|c| c.password.clone()))
                .unwrap_or_default(),
            allowed_roles: fields
                .get_ok::<Vec<String>>("allowed_roles")?
                .or_else(|| existing.as_ref().map(|c| c.allowed_roles.clone()))
                .unwrap_or_default(),
            password_length: match fields.get_ok::<i64>("password_length")? {
                Some(n) if (20..=128).contains(&n) => usize::try_from(n).unwrap_or(20),
                Some(_) => return Err(LogicalError::invalid("password_length must be 20 to 128")),
                None => existing.as_ref().map_or(24, |c| c.password_length),
            },
            // An interrupted rotate-root's pending password survives a config update, unless
            // the operator sets the password anew.
            pending_password: if password.is_some() {
                None
            } else {
                existing.as_ref().and_then(|c| c.pending_password.clone())
            },
            root_rotation_statements: fields
                .get_ok::<Vec<String>>("root_rotation_statements")?
                .or_else(|| {
                    existing
                        .as_ref()
                        .map(|c| c.root_rotation_statements.clone())
                })
                .unwrap_or_default(),
            username_template: fields
                .get_ok::<String>("username_template")?
                .or_else(|| existing.as_ref().and_then(|c| c.username_template.clone()))
                .filter(|t| !t.is_empty()),
        };
        if let Some(old) = &existing {
            check_target_kept(old, &config, password.is_some())?;
        }
        let kind = config.kind()?;
        if let Some(template) = &config.username_template {
            check_template(kind, template, "role", ctx.now)?;
        }
        if fields.get::<bool>("verify_connection")? {
            let conn = config.connect().await?;
            conn.close().await;
        }
        ctx.storage
            .put_json(&format!("config/{name}"), &config)
            .await?;
        Ok(match db::tls_warning(kind, &config.url()) {
            Some(warning) => Response::empty().warn(warning),
            None => Response::empty(),
        })
    }

    async fn read_config(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name: &str = fields.get("name")?;
        let Some(config) = ctx
            .storage
            .get_json::<DbConfig>(&format!("config/{name}"))
            .await?
        else {
            return Ok(Response::empty());
        };
        let mut details = Map::new();
        details.insert(
            "connection_url".into(),
            config.connection_url.clone().into(),
        );
        if !config.username.is_empty() {
            details.insert("username".into(), config.username.clone().into());
        }
        if let Some(template) = &config.username_template {
            details.insert("username_template".into(), template.clone().into());
        }
        let mut out = Map::new();
        out.insert("plugin_name".into(), config.plugin_name.into());
        out.insert("connection_details".into(), Value::Object(details));
        out.insert("allowed_roles".into(), config.allowed_roles.into());
        out.insert("password_policy".into(), "".into());
        out.insert("plugin_version".into(), "".into());
        out.insert(
            "root_credentials_rotate_statements".into(),
            config.root_rotation_statements.clone().into(),
        );
        Ok(Response::with_data(out))
    }

    async fn write_role(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name: &str = fields.get("name")?;
        check_name("role", name)?;
        let existing: Option<Role> = ctx.storage.get_json(&format!("roles/{name}")).await?;
        let db_name = fields
            .get_ok::<String>("db_name")?
            .or_else(|| existing.as_ref().map(|r| r.db_name.clone()))
            .ok_or_else(|| LogicalError::invalid("'db_name' is required"))?;
        check_name("connection", &db_name)?;
        let list = |key: &str, old: Option<&Vec<String>>| -> Result<Vec<String>> {
            Ok(fields
                .get_ok::<Vec<String>>(key)?
                .or_else(|| old.cloned())
                .unwrap_or_default())
        };
        let role = Role {
            creation_statements: list(
                "creation_statements",
                existing.as_ref().map(|r| &r.creation_statements),
            )?,
            revocation_statements: list(
                "revocation_statements",
                existing.as_ref().map(|r| &r.revocation_statements),
            )?,
            rollback_statements: list(
                "rollback_statements",
                existing.as_ref().map(|r| &r.rollback_statements),
            )?,
            renew_statements: list(
                "renew_statements",
                existing.as_ref().map(|r| &r.renew_statements),
            )?,
            default_ttl: fields
                .get_ok::<u64>("default_ttl")?
                .or(existing.as_ref().map(|r| r.default_ttl))
                .unwrap_or(0),
            max_ttl: fields
                .get_ok::<u64>("max_ttl")?
                .or(existing.as_ref().map(|r| r.max_ttl))
                .unwrap_or(0),
            username_template: fields
                .get_ok::<String>("username_template")?
                .or_else(|| existing.as_ref().and_then(|r| r.username_template.clone()))
                .filter(|t| !t.is_empty()),
            db_name,
        };
        if role.creation_statements.iter().all(|s| s.trim().is_empty()) {
            return Err(LogicalError::invalid("'creation_statements' is required"));
        }
        if role.max_ttl != 0 && role.default_ttl > role.max_ttl {
            return Err(LogicalError::invalid(
                "default_ttl cannot be greater than max_ttl",
            ));
        }
        if let Some(template) = &role.username_template {
            // Checked against the connection's name limit when it exists, else for syntax and
            // the tighter limit of the two databases.
            let kind = match ctx
                .storage
                .get_json::<DbConfig>(&format!("config/{}", role.db_name))
                .await?
            {
                Some(config) => config.kind()?,
                None => Kind::Mysql,
            };
            check_template(kind, template, name, ctx.now)?;
        }
        ctx.storage
            .put_json(&format!("roles/{name}"), &role)
            .await?;
        Ok(Response::empty())
    }

    async fn read_role(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name: &str = fields.get("name")?;
        let Some(role) = ctx
            .storage
            .get_json::<Role>(&format!("roles/{name}"))
            .await?
        else {
            return Ok(Response::empty());
        };
        let mut out = Map::new();
        out.insert("db_name".into(), role.db_name.into());
        out.insert(
            "creation_statements".into(),
            role.creation_statements.into(),
        );
        out.insert(
            "revocation_statements".into(),
            role.revocation_statements.into(),
        );
        out.insert(
            "rollback_statements".into(),
            role.rollback_statements.into(),
        );
        out.insert("renew_statements".into(), role.renew_statements.into());
        out.insert("default_ttl".into(), role.default_ttl.into());
        out.insert("max_ttl".into(), role.max_ttl.into());
        out.insert("credential_type".into(), "password".into());
        if let Some(template) = role.username_template {
            out.insert("username_template".into(), template.into());
        }
        Ok(Response::with_data(out))
    }

    async fn list(&self, ctx: &Context, folder: &str) -> Result<Response> {
        let keys = ctx
            .storage
            .list(folder)
            .await?
            .into_iter()
            .filter(|k| !k.ends_with('/'))
            .collect();
        Ok(Response::list(keys))
    }

    /// `rotate-root/<name>`: a new admin password, known only to the engine from now on. The
    /// new password is recorded (as pending) before the database is told, then promoted.
    async fn rotate_root(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name: &str = fields.get("name")?;
        check_name("connection", name)?;
        let key = format!("config/{name}");
        let mut config: DbConfig = ctx
            .storage
            .get_json(&key)
            .await?
            .ok_or_else(|| LogicalError::invalid(format!("unknown database {name:?}")))?;
        if config.username.is_empty() {
            return Err(LogicalError::invalid(
                "rotate-root needs the connection's 'username' (and the URL's {{username}} and \
                 {{password}} templates)",
            ));
        }
        let kind = config.kind()?;
        // An earlier rotation interrupted after the database took its password: settle it
        // first, or that password would be overwritten and lost.
        if let Some(pending) = config.pending_password.clone() {
            if Conn::open(kind, &config.url()).await.is_err() {
                config.password = pending;
            }
            config.pending_password = None;
            ctx.storage.put_json(&key, &config).await?;
        }
        let new = password(config.password_length)?;
        config.pending_password = Some(new.to_string());
        ctx.storage.put_json(&key, &config).await?;
        let templates = if config.root_rotation_statements.is_empty() {
            vec![kind.default_rotation().to_owned()]
        } else {
            config.root_rotation_statements.clone()
        };
        let values = [
            ("name", config.username.as_str()),
            ("username", config.username.as_str()),
            ("password", new.as_str()),
        ];
        let statements: Vec<String> = db::render_all(&templates, &values);
        let mut conn = config.connect().await?;
        let result = conn.run(&statements).await;
        conn.close().await;
        match result {
            Ok(()) => {
                config.password = new.to_string();
                config.pending_password = None;
                ctx.storage.put_json(&key, &config).await?;
                Ok(Response::empty())
            }
            Err(err) => {
                // The statements may have taken effect before the failure was seen (a commit
                // that timed out): if the new password logs in, it is the password now.
                let mut probe = config.clone();
                probe.password = new.to_string();
                if let Ok(conn) = Conn::open(kind, &probe.url()).await {
                    conn.close().await;
                    config.password = new.to_string();
                }
                config.pending_password = None;
                ctx.storage.put_json(&key, &config).await?;
                Err(scrub(err, &new))
            }
        }
    }

    /// `creds/<role>`: a new user with a lease.
    async fn creds(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let role_name: &str = fields.get("name")?;
        let display_name = fields
            .request()
            .client
            .as_ref()
            .map_or("", |c| c.display_name.as_str());
        check_name("role", role_name)?;
        let role: Role = ctx
            .storage
            .get_json(&format!("roles/{role_name}"))
            .await?
            .ok_or_else(|| LogicalError::invalid(format!("unknown role: {role_name}")))?;
        let config: DbConfig = ctx
            .storage
            .get_json(&format!("config/{}", role.db_name))
            .await?
            .ok_or_else(|| LogicalError::invalid(format!("unknown database {:?}", role.db_name)))?;
        if !config.allows(role_name) {
            return Err(LogicalError::invalid(format!(
                "{role_name:?} is not an allowed role"
            )));
        }
        let kind = config.kind()?;
        let ttl = match role.default_ttl {
            0 => ctx.default_lease_ttl,
            secs => Duration::from_secs(secs),
        };
        let max_ttl = match role.max_ttl {
            0 => ctx.max_lease_ttl,
            secs => Duration::from_secs(secs).min(ctx.max_lease_ttl),
        };
        let ttl = ttl.min(max_ttl);
        let template = role
            .username_template
            .as_deref()
            .or(config.username_template.as_deref());
        let name = username(
            kind,
            template,
            &template::Values {
                display_name,
                role_name,
                now: ctx.now,
            },
        )?;
        let password = password(config.password_length)?;
        let expiration = kind.expiration(now_secs(ctx).saturating_add(ttl.as_secs()));
        let values = [
            ("name", name.as_str()),
            ("username", name.as_str()),
            ("password", password.as_str()),
            ("expiration", expiration.as_str()),
        ];
        let statements: Vec<String> = db::render_all(&role.creation_statements, &values);
        let mut conn = config.connect().await?;
        // Whether the name is taken already, so that a failure below never removes a user this
        // request did not make.
        let existed_before = conn.user_exists(&name).await;
        if let Err(failed) = conn.run_tracked(&statements).await {
            conn.close().await;
            // Undo what the statements did outside the transaction (MySQL commits user
            // statements implicitly) — unless the database refused the very first statement,
            // when nothing was made.
            if failed.may_have_changed {
                roll_back_creation(&config, kind, &role, role_name, existed_before, &values).await;
            }
            // A driver message may quote the statement near a syntax error: never let the
            // generated password out in an error.
            return Err(scrub(failed.error, &password));
        }
        conn.close().await;
        let mut data = Map::new();
        data.insert("username".into(), name.clone().into());
        data.insert("password".into(), password.as_str().into());
        let mut secret = SecretDescriptor::default();
        secret.ttl = ttl;
        secret.max_ttl = Some(max_ttl);
        secret.renewable = true;
        secret.internal.insert("username".into(), name.into());
        secret.internal.insert("role".into(), role_name.into());
        secret
            .internal
            .insert("db_name".into(), role.db_name.into());
        let mut response = Response::with_data(data);
        response.secret = Some(secret);
        Ok(response)
    }

    /// The config and kind for a lease, and the role's statements when the role still exists.
    async fn lease_target(
        &self,
        ctx: &Context,
        lease: &Lease,
    ) -> Result<(DbConfig, Kind, Option<Role>, String)> {
        let field = |key: &str| {
            lease
                .internal
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| LogicalError::Internal(format!("the lease has no {key}")))
        };
        let username = field("username")?;
        let db_name = field("db_name")?;
        let role_name = field("role")?;
        let config: DbConfig = ctx
            .storage
            .get_json(&format!("config/{db_name}"))
            .await?
            .ok_or_else(|| LogicalError::invalid(format!("unknown database {db_name:?}")))?;
        let kind = config.kind()?;
        let role = ctx
            .storage
            .get_json::<Role>(&format!("roles/{role_name}"))
            .await?;
        Ok((config, kind, role, username))
    }
}

impl Database {
    /// The static roles' scheduler (made on first use), its clock brought to the request's.
    async fn scheduler(&self, ctx: &Context) -> Result<&Scheduler> {
        self.clock.observe(ctx.now);
        self.statics
            .get_or_try_init(|| {
                statics::scheduler(ctx, Arc::clone(&self.clock), Arc::clone(&self.alerts))
            })
            .await
    }
}

#[async_trait]
impl Backend for Database {
    /// Runs the static roles' rotations that are due.
    async fn periodic(&self, ctx: &Context) -> Result<()> {
        let report = self
            .scheduler(ctx)
            .await?
            .tick()
            .await
            .map_err(|e| LogicalError::Internal(e.to_string()))?;
        let _ = report;
        Ok(())
    }

    /// Static roles rotate within five seconds of their due time (Vault's queue tick).
    fn periodic_interval(&self) -> Duration {
        Duration::from_secs(5)
    }

    async fn handle(&self, ctx: &Context, request: Request) -> Result<Response> {
        self.endpoints.handle(self, ctx, request).await
    }

    async fn exists(&self, ctx: &Context, request: &Request) -> Result<Option<bool>> {
        self.endpoints.exists(self, ctx, request).await
    }

    fn is_unauthenticated(&self, path: &str) -> bool {
        self.endpoints.is_unauthenticated(path)
    }

    fn needs_sudo(&self, path: &str) -> bool {
        self.endpoints.needs_sudo(path)
    }

    fn endpoints(&self) -> &[EndpointInfo] {
        self.endpoints.infos()
    }

    async fn renew(&self, ctx: &Context, lease: &Lease) -> Result<Response> {
        let (config, kind, role, username) = self.lease_target(ctx, lease).await?;
        let asked = lease
            .increment
            .filter(|d| !d.is_zero())
            .or_else(|| {
                role.as_ref()
                    .and_then(|r| (r.default_ttl > 0).then(|| Duration::from_secs(r.default_ttl)))
            })
            .unwrap_or(ctx.default_lease_ttl);
        // The account's own expiry never outlives the lease's hard limit.
        let max_ttl = match role.as_ref().map_or(0, |r| r.max_ttl) {
            0 => ctx.max_lease_ttl,
            secs => Duration::from_secs(secs).min(ctx.max_lease_ttl),
        };
        let issued = lease
            .issued
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let limit = issued
            .saturating_add(max_ttl.as_secs())
            .saturating_sub(now_secs(ctx));
        let ttl = asked.min(Duration::from_secs(limit));
        let expiration = kind.expiration(now_secs(ctx).saturating_add(ttl.as_secs()));
        let templates = match role.as_ref().map(|r| &r.renew_statements) {
            Some(statements) if !statements.is_empty() => statements.clone(),
            _ => vec![kind.default_renewal().to_owned()],
        };
        let values = [
            ("name", username.as_str()),
            ("username", username.as_str()),
            ("expiration", expiration.as_str()),
        ];
        let statements: Vec<String> = db::render_all(&templates, &values);
        if !statements.is_empty() {
            let mut conn = config.connect().await?;
            let result = conn.run(&statements).await;
            conn.close().await;
            result?;
        }
        let mut secret = SecretDescriptor::default();
        secret.ttl = ttl;
        secret.renewable = true;
        let mut response = Response::empty();
        response.secret = Some(secret);
        Ok(response)
    }

    async fn revoke(&self, ctx: &Context, lease: &Lease) -> Result<()> {
        let (config, kind, role, username) = self.lease_target(ctx, lease).await?;
        let templates = match role.as_ref().map(|r| &r.revocation_statements) {
            Some(statements) if !statements.is_empty() => statements.clone(),
            _ => vec![kind.default_revocation().to_owned()],
        };
        let values = [("name", username.as_str()), ("username", username.as_str())];
        let statements: Vec<String> = db::render_all(&templates, &values);
        let mut conn = config.connect().await?;
        let result = conn.run(&statements).await;
        conn.close().await;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_never_carry_the_password() {
        let err = scrub(
            LogicalError::invalid("syntax error at or near \"Secr3tPassw0rdXYZ\""),
            "Secr3tPassw0rdXYZ",
        );
        assert!(!err.to_string().contains("Secr3t"), "{err}");
        assert!(err.to_string().contains("[redacted]"));
    }

    #[test]
    fn generated_names_and_passwords() {
        for kind in [Kind::Postgres, Kind::Mysql] {
            let values = template::Values {
                display_name: "token",
                role_name: &"r".repeat(64),
                now: UNIX_EPOCH,
            };
            let name = username(kind, None, &values).unwrap_or_default();
            assert!(name.len() <= kind.max_username(), "{name}");
            assert!(name.starts_with("v-r"));
            assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        }
        let a = password(24).unwrap_or_default();
        assert_eq!(a.len(), 24);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(*a, *password(24).unwrap_or_default());
        assert!(check_name("role", "ok-role_1").is_ok());
        for bad in ["", "a b", "x;DROP", "\"q\"", "é"] {
            assert!(check_name("role", bad).is_err(), "{bad}");
        }
    }
}
