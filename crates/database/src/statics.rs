//! Static roles: existing database users whose password the rotation scheduler rotates, on a
//! `rotation_period` or a cron `rotation_schedule` (with Vault's `rotation_window`), or on
//! `rotate-role/<name>`.
//!
//! Each rotation follows the scheduler's persisted steps: `create` draws a password and records
//! it (under its version id, inside the barrier) before the database is told; `set` runs the
//! rotation statements as the admin; `test` logs in as the user with the new password; only then
//! does `finish` make it current — what `static-creds` returns. A failed `set` or `test`
//! restores the current password in the database (so the old one keeps working), alerts, and
//! retries with backoff; after ten failures in a row the role is parked until `rotate-role`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use strongroom_logical::{
    Context, Fields, LogicalError, Response, Result, SecretText, StorageView,
};
use strongroom_rotation::{
    AlertSink, Backoff, Clock, Rotator, Schedule, Scheduler, SchedulerConfig, Step, StepContext,
    StepError, StepResult,
};
use strongroom_storage::Storage as _;
use zeroize::Zeroizing;

use crate::db::{self, Conn};
use crate::{DbConfig, check_name, now_secs, scrub};

/// Where static roles are stored.
pub(crate) const ROLES: &str = "static-roles/";
/// Each role's passwords by version id: `static-passwords/<role>/<version>`.
const PASSWORDS: &str = "static-passwords/";
/// The scheduler's state per role.
const STATE: &str = "static-rotation/";
/// `static-unrestored/<role>`: the version a failed rotation may have left in the database
/// (its test failed and giving the database the current password back failed too, or there
/// was no current password). Cleared when a rotation finishes or a login proves which holds.
const UNRESTORED: &str = "static-unrestored/";

/// Vault's shortest `rotation_period`.
const MIN_PERIOD: u64 = 5;
/// Vault's shortest `rotation_window`.
const MIN_WINDOW: u64 = 3600;

/// A static role as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StaticRole {
    db_name: String,
    username: String,
    rotation_statements: Vec<String>,
    rotation_period: Option<u64>,
    rotation_schedule: Option<String>,
    rotation_window: Option<u64>,
    skip_import_rotation: bool,
}

impl StaticRole {
    fn schedule(&self) -> Result<Schedule> {
        let schedule = match (&self.rotation_schedule, self.rotation_period) {
            (Some(cron), _) => {
                let schedule = Schedule::cron(cron).map_err(config_error)?;
                match self.rotation_window {
                    Some(window) => schedule
                        .start_within(Duration::from_secs(window))
                        .map_err(config_error)?,
                    None => schedule,
                }
            }
            (None, Some(period)) => {
                Schedule::every(Duration::from_secs(period)).map_err(config_error)?
            }
            (None, None) => {
                return Err(LogicalError::invalid(
                    "one of rotation_period or rotation_schedule is required",
                ));
            }
        };
        Ok(schedule)
    }

    /// The schedule fields as Vault shows them.
    fn schedule_fields(&self, out: &mut Map<String, Value>) {
        match &self.rotation_schedule {
            Some(cron) => {
                out.insert("rotation_schedule".into(), cron.clone().into());
                out.insert(
                    "rotation_window".into(),
                    self.rotation_window.unwrap_or(0).into(),
                );
            }
            None => {
                out.insert(
                    "rotation_period".into(),
                    self.rotation_period.unwrap_or(0).into(),
                );
            }
        }
    }
}

fn config_error(err: strongroom_rotation::RotationError) -> LogicalError {
    LogicalError::invalid(err.to_string())
}

fn internal(err: strongroom_rotation::RotationError) -> LogicalError {
    LogicalError::Internal(err.to_string())
}

/// An existing user's name: it is quoted into the rotation statements, so only characters that
/// cannot end a quoted identifier or string are accepted.
fn check_username(name: &str, max: usize) -> Result<()> {
    if name.is_empty()
        || name.len() > max
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'))
    {
        return Err(LogicalError::invalid(format!(
            "invalid username {:?}: 1-{max} letters, digits, '-', '_', '.' or '@'",
            name.chars().take(80).collect::<String>()
        )));
    }
    Ok(())
}

/// The scheduler's clock: the core's time as last seen in a request or periodic call (so a
/// manual clock in tests drives rotations), advanced by the real time since.
#[derive(Debug)]
pub(crate) struct EngineClock {
    seen: Mutex<(SystemTime, Instant)>,
}

impl Default for EngineClock {
    fn default() -> Self {
        Self {
            seen: Mutex::new((SystemTime::now(), Instant::now())),
        }
    }
}

impl EngineClock {
    pub(crate) fn observe(&self, now: SystemTime) {
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = (now, Instant::now());
    }
}

impl Clock for EngineClock {
    fn now(&self) -> SystemTime {
        let (seen, at) = *self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen + at.elapsed()
    }
}

/// The scheduler of one mount's static roles, made on first use (it needs the mount's storage)
/// with every stored role registered: a restart resumes each role where it stopped.
pub(crate) async fn scheduler(
    ctx: &Context,
    clock: Arc<EngineClock>,
    alerts: Arc<dyn AlertSink>,
) -> Result<Scheduler> {
    let mut config = SchedulerConfig::default();
    config.prefix = STATE.into();
    config.backoff = Backoff::new(Duration::from_secs(10), Duration::from_secs(3600), 2);
    config.max_failures = 10;
    config.step_timeout = Duration::from_secs(120);
    let scheduler =
        Scheduler::new(Arc::new(ctx.storage.clone()), clock, alerts, config).map_err(internal)?;
    for name in ctx.storage.list(ROLES).await? {
        let Some(role) = ctx
            .storage
            .get_json::<StaticRole>(&format!("{ROLES}{name}"))
            .await?
        else {
            continue;
        };
        // Validated when written; a role that no longer builds a schedule must not stop the
        // others from rotating.
        match role.schedule() {
            Ok(schedule) => {
                scheduler
                    .register(&name, schedule, rotator(ctx, &name), None)
                    .await
                    .map_err(internal)?;
            }
            Err(err) => {
                tracing::warn!(role = %name, error = %err, "static role not scheduled");
            }
        }
    }
    Ok(scheduler)
}

fn rotator(ctx: &Context, role: &str) -> Arc<dyn Rotator> {
    Arc::new(StaticRotator {
        storage: ctx.storage.clone(),
        role: role.to_owned(),
    })
}

fn password_key(role: &str, version: &str) -> String {
    format!("{PASSWORDS}{role}/{version}")
}

/// `static-roles/<name>` written: validated, stored, scheduled; a new role's password is
/// rotated at once (unless `skip_import_rotation`), and the role is not created if that fails.
pub(crate) async fn write_role(
    ctx: &Context,
    scheduler: &Scheduler,
    fields: &Fields<'_>,
) -> Result<Response> {
    let name: &str = fields.get("name")?;
    check_name("role", name)?;
    let key = format!("{ROLES}{name}");
    let existing: Option<StaticRole> = ctx.storage.get_json(&key).await?;
    let db_name = fields
        .get_ok::<String>("db_name")?
        .or_else(|| existing.as_ref().map(|r| r.db_name.clone()))
        .ok_or_else(|| LogicalError::invalid("'db_name' is required"))?;
    check_name("connection", &db_name)?;
    if existing.as_ref().is_some_and(|old| old.db_name != db_name) {
        return Err(LogicalError::invalid(
            "the db_name of a static role cannot change: delete it and create it anew",
        ));
    }
    let config: DbConfig = ctx
        .storage
        .get_json(&format!("config/{db_name}"))
        .await?
        .ok_or_else(|| LogicalError::invalid(format!("unknown database {db_name:?}")))?;
    if !config.allows(name) {
        return Err(LogicalError::invalid(format!(
            "{name:?} is not an allowed role"
        )));
    }
    let kind = config.kind()?;
    let username = match (fields.get_ok::<String>("username")?, &existing) {
        (Some(new), Some(old)) if new != old.username => {
            return Err(LogicalError::invalid(
                "the username of a static role cannot change",
            ));
        }
        (Some(new), _) => new,
        (None, Some(old)) => old.username.clone(),
        (None, None) => return Err(LogicalError::invalid("'username' is required")),
    };
    check_username(&username, kind.max_username())?;
    if existing.is_none() {
        for other in ctx.storage.list(ROLES).await? {
            if let Some(role) = ctx
                .storage
                .get_json::<StaticRole>(&format!("{ROLES}{other}"))
                .await?
                && role.db_name == db_name
                && role.username == username
            {
                return Err(LogicalError::invalid(format!(
                    "{username:?} is already managed by static role {other:?}"
                )));
            }
        }
    }
    let period = fields.get_ok::<u64>("rotation_period")?;
    let cron = fields
        .get_ok::<String>("rotation_schedule")?
        .filter(|s| !s.trim().is_empty());
    // 0 is what a read shows for "no window": writing it back means none.
    let window = fields.get_ok::<u64>("rotation_window")?.filter(|w| *w > 0);
    if period.is_some() && cron.is_some() {
        return Err(LogicalError::invalid(
            "rotation_period and rotation_schedule are mutually exclusive",
        ));
    }
    let (rotation_period, rotation_schedule, rotation_window) = match (period, cron) {
        (Some(p), None) => (Some(p), None, None),
        (None, Some(c)) => (None, Some(c), window),
        _ => match &existing {
            Some(old) => (
                old.rotation_period,
                old.rotation_schedule.clone(),
                window.or(old.rotation_window),
            ),
            None => (None, None, None),
        },
    };
    if window.is_some() && rotation_schedule.is_none() {
        return Err(LogicalError::invalid(
            "rotation_window is only valid with rotation_schedule",
        ));
    }
    if rotation_period.is_some_and(|p| p < MIN_PERIOD) {
        return Err(LogicalError::invalid(format!(
            "rotation_period must be {MIN_PERIOD} seconds or more"
        )));
    }
    if rotation_window.is_some_and(|w| w < MIN_WINDOW) {
        return Err(LogicalError::invalid(
            "rotation_window must be 3600 seconds (1h) or more",
        ));
    }
    let skip = fields
        .get_ok::<bool>("skip_import_rotation")?
        .unwrap_or_else(|| existing.as_ref().is_some_and(|r| r.skip_import_rotation));
    let role = StaticRole {
        db_name,
        username,
        rotation_statements: fields
            .get_ok::<Vec<String>>("rotation_statements")?
            .or_else(|| existing.as_ref().map(|r| r.rotation_statements.clone()))
            .unwrap_or_default(),
        rotation_period,
        rotation_schedule,
        rotation_window,
        skip_import_rotation: skip,
    };
    let schedule = role.schedule()?;
    let imported = fields
        .get_ok::<SecretText>("password")?
        .map(|p| Zeroizing::new(p.expose().to_owned()));
    if let Some(password) = &imported
        && (password.is_empty()
            || password.len() > 1024
            || password
                .chars()
                .any(|c| c.is_control() || matches!(c, '\'' | '"' | '\\' | '`')))
    {
        // It is quoted into the rotation statements (to restore it after a failed rotation).
        return Err(LogicalError::invalid(
            "an imported password must be 1-1024 characters without quotes, backslashes or \
             control characters",
        ));
    }
    if imported.is_some() && !(skip && existing.is_none()) {
        return Err(LogicalError::invalid(
            "'password' is only accepted when a role is created with skip_import_rotation",
        ));
    }
    ctx.storage.put_json(&key, &role).await?;
    if existing.is_some() {
        // The state (labels, last rotation) stays; only the schedule changes.
        scheduler
            .register(name, schedule, rotator(ctx, name), None)
            .await
            .map_err(internal)?;
        return Ok(Response::empty());
    }
    let current = match &imported {
        Some(password) => {
            let version = format!("{name}-import");
            ctx.storage
                .put_json(&password_key(name, &version), &password.as_str())
                .await?;
            Some(version)
        }
        None => None,
    };
    scheduler
        .register(name, schedule, rotator(ctx, name), current)
        .await
        .map_err(internal)?;
    if skip {
        return Ok(Response::empty());
    }
    scheduler.rotate(name).await.map_err(internal)?;
    let state = scheduler.state(name).await.map_err(internal)?;
    if state.as_ref().is_some_and(|s| s.labels.current.is_some()) {
        return Ok(Response::empty());
    }
    let error = state
        .as_ref()
        .and_then(|s| s.last_error.clone())
        .unwrap_or_else(|| "the rotation did not finish".into());
    if state.and_then(|s| s.last_failed_step) == Some(Step::Test) {
        // The database took the new password but logging in with it failed: the old one is
        // gone and the new one must not be lost, so the role stays (retrying; static-creds
        // answers with whichever password logs in).
        return Err(LogicalError::invalid(format!(
            "static role {name:?} was created, but logging in with its first rotated password \
             failed: {error}. The role is kept and retried in the background; fix the cause \
             and call rotate-role/{name}, or delete the role"
        )));
    }
    forget(ctx, scheduler, name).await?;
    Err(LogicalError::invalid(format!(
        "the initial password rotation of static role {name:?} failed, so the role was not \
         created: {error}"
    )))
}

/// Removes a role: its schedule, its state, its passwords (the database user stays, as in
/// Vault).
pub(crate) async fn forget(ctx: &Context, scheduler: &Scheduler, name: &str) -> Result<()> {
    scheduler.deregister(name).await.map_err(internal)?;
    let folder = format!("{PASSWORDS}{name}/");
    for version in ctx.storage.list(&folder).await? {
        ctx.storage.delete(&format!("{folder}{version}")).await?;
    }
    ctx.storage.delete(&format!("{UNRESTORED}{name}")).await?;
    ctx.storage.delete(&format!("{ROLES}{name}")).await?;
    Ok(())
}

/// `static-roles/<name>` read, in Vault's shape, plus the rotation's health.
pub(crate) async fn read_role(
    ctx: &Context,
    scheduler: &Scheduler,
    name: &str,
) -> Result<Response> {
    check_name("role", name)?;
    let Some(role) = ctx
        .storage
        .get_json::<StaticRole>(&format!("{ROLES}{name}"))
        .await?
    else {
        return Ok(Response::empty());
    };
    let state = scheduler.state(name).await.map_err(internal)?;
    let mut out = Map::new();
    out.insert("db_name".into(), role.db_name.clone().into());
    out.insert("username".into(), role.username.clone().into());
    out.insert(
        "rotation_statements".into(),
        role.rotation_statements.clone().into(),
    );
    out.insert("credential_type".into(), "password".into());
    out.insert(
        "skip_import_rotation".into(),
        role.skip_import_rotation.into(),
    );
    role.schedule_fields(&mut out);
    if let Some(state) = state {
        last_rotation(&state, &mut out);
        out.insert(
            "next_vault_rotation".into(),
            strongroom_logical::time::rfc3339(state.next_due).into(),
        );
        out.insert(
            "rotation_failures".into(),
            state.consecutive_failures.into(),
        );
        if state.consecutive_failures > 0
            && let Some(error) = state.last_error
        {
            out.insert("last_rotation_error".into(), error.into());
        }
        out.insert("rotation_parked".into(), state.parked.into());
    }
    Ok(Response::with_data(out))
}

/// Vault's `last_vault_rotation`, once there was one.
fn last_rotation(state: &strongroom_rotation::SecretState, out: &mut Map<String, Value>) {
    if let Some(last) = state.last_success {
        out.insert(
            "last_vault_rotation".into(),
            strongroom_logical::time::rfc3339(last).into(),
        );
    }
}

/// `static-creds/<name>`: the current password, when it was rotated, and the time until the
/// next rotation.
pub(crate) async fn creds(ctx: &Context, scheduler: &Scheduler, name: &str) -> Result<Response> {
    check_name("role", name)?;
    let role: StaticRole = ctx
        .storage
        .get_json(&format!("{ROLES}{name}"))
        .await?
        .ok_or_else(|| LogicalError::invalid(format!("unknown role: {name}")))?;
    let state = scheduler
        .state(name)
        .await
        .map_err(internal)?
        .ok_or_else(|| LogicalError::Internal(format!("static role {name:?} is not scheduled")))?;
    let (password, warning) = current_password(ctx, &role, name, &state).await?;
    let mut out = Map::new();
    out.insert("username".into(), role.username.clone().into());
    out.insert("password".into(), password.as_str().into());
    last_rotation(&state, &mut out);
    out.insert(
        "ttl".into(),
        state.next_due.saturating_sub(now_secs(ctx)).into(),
    );
    role.schedule_fields(&mut out);
    let response = Response::with_data(out);
    Ok(match warning {
        Some(warning) => response.warn(warning),
        None => response,
    })
}

/// The password that logs in: the current one — unless a failed rotation may have left another
/// in the database, then whichever of the two a login proves (clearing the doubt when it is the
/// current one).
async fn current_password(
    ctx: &Context,
    role: &StaticRole,
    name: &str,
    state: &strongroom_rotation::SecretState,
) -> Result<(Zeroizing<String>, Option<String>)> {
    let stored = |version: String| async move {
        ctx.storage
            .get_json::<String>(&password_key(name, &version))
            .await
            .map(|p| p.map(Zeroizing::new))
    };
    let current = match state.labels.current.clone() {
        Some(version) => stored(version).await?,
        None => None,
    };
    let marker = format!("{UNRESTORED}{name}");
    let Some(doubt) = ctx.storage.get_json::<String>(&marker).await? else {
        return current.map(|p| (p, None)).ok_or_else(|| {
            LogicalError::invalid(format!(
                "static role {name:?} has no password yet: its first rotation has not succeeded"
            ))
        });
    };
    let config: DbConfig = ctx
        .storage
        .get_json(&format!("config/{}", role.db_name))
        .await?
        .ok_or_else(|| LogicalError::invalid(format!("unknown database {:?}", role.db_name)))?;
    let logs_in = |password: Zeroizing<String>| {
        let config = config.clone();
        let username = role.username.clone();
        async move {
            let kind = config.kind().ok()?;
            let url = Zeroizing::new(db::login_url(
                kind,
                &config.connection_url,
                &username,
                &password,
            ));
            let conn = Conn::open(kind, &url).await.ok()?;
            conn.close().await;
            Some(password)
        }
    };
    if let Some(current) = current.clone()
        && let Some(current) = logs_in(current).await
    {
        ctx.storage.delete(&marker).await?;
        ctx.storage.delete(&password_key(name, &doubt)).await?;
        return Ok((current, None));
    }
    if let Some(pending) = stored(doubt).await?
        && let Some(pending) = logs_in(pending).await
    {
        return Ok((
            pending,
            Some(
                "a failed rotation left this password in the database; the next rotation \
                  settles it"
                    .into(),
            ),
        ));
    }
    current
        .map(|p| {
            (
                p,
                Some("this password could not be proven by a login; a rotation is pending".into()),
            )
        })
        .ok_or_else(|| {
            LogicalError::invalid(format!(
                "static role {name:?} has no password that logs in yet"
            ))
        })
}

/// `rotate-role/<name>`: rotates now and reports the outcome.
pub(crate) async fn rotate(ctx: &Context, scheduler: &Scheduler, name: &str) -> Result<Response> {
    check_name("role", name)?;
    if ctx
        .storage
        .get_json::<StaticRole>(&format!("{ROLES}{name}"))
        .await?
        .is_none()
    {
        // Vault's words.
        return Err(LogicalError::invalid("no static role found for role name"));
    }
    let report = scheduler.rotate(name).await.map_err(internal)?;
    if report.rotated == 0 && report.failures > 0 {
        let error = scheduler
            .state(name)
            .await
            .ok()
            .flatten()
            .and_then(|s| s.last_error)
            .unwrap_or_default();
        return Err(LogicalError::Internal(format!(
            "rotating static role {name:?} failed (the current password stays; retries continue \
             in the background): {error}"
        )));
    }
    Ok(Response::empty())
}

/// The rotation steps for one static role.
struct StaticRotator {
    storage: StorageView,
    role: String,
}

fn step_error(err: LogicalError) -> StepError {
    StepError::new(err.to_string())
}

impl StaticRotator {
    async fn target(&self) -> std::result::Result<(StaticRole, DbConfig), StepError> {
        let role: StaticRole = self
            .storage
            .get_json(&format!("{ROLES}{}", self.role))
            .await
            .map_err(step_error)?
            .ok_or_else(|| StepError::new(format!("static role {:?} is gone", self.role)))?;
        let config: DbConfig = self
            .storage
            .get_json(&format!("config/{}", role.db_name))
            .await
            .map_err(step_error)?
            .ok_or_else(|| StepError::new(format!("unknown database {:?}", role.db_name)))?;
        Ok((role, config))
    }

    async fn password(
        &self,
        version: Option<&str>,
    ) -> std::result::Result<Zeroizing<String>, StepError> {
        let version = version.ok_or_else(|| StepError::new("no version to act on"))?;
        self.storage
            .get_json::<String>(&password_key(&self.role, version))
            .await
            .map_err(step_error)?
            .map(Zeroizing::new)
            .ok_or_else(|| StepError::new(format!("the password of version {version} is missing")))
    }

    /// Deletes a version's stored password.
    async fn forget_version(&self, version: Option<&str>) -> StepResult {
        if let Some(version) = version {
            self.storage
                .delete(&password_key(&self.role, version))
                .await
                .map_err(|e| step_error(e.into()))?;
        }
        Ok(())
    }

    /// Sets the user's password in the database, as the admin.
    async fn apply(&self, role: &StaticRole, config: &DbConfig, password: &str) -> StepResult {
        let kind = config.kind().map_err(step_error)?;
        let templates = if role.rotation_statements.is_empty() {
            vec![kind.default_rotation().to_owned()]
        } else {
            role.rotation_statements.clone()
        };
        let values = [
            ("name", role.username.as_str()),
            ("username", role.username.as_str()),
            ("password", password),
        ];
        let statements = db::render_all(&templates, &values);
        let mut conn = config.connect().await.map_err(step_error)?;
        let result = conn.run(&statements).await;
        conn.close().await;
        result.map_err(|err| step_error(scrub(err, password)))
    }
}

#[async_trait]
impl Rotator for StaticRotator {
    async fn create(&self, ctx: &StepContext) -> StepResult {
        let version = ctx
            .pending
            .as_deref()
            .ok_or_else(|| StepError::new("no pending version"))?;
        let key = password_key(&self.role, version);
        // Idempotent: a password already drawn for this version (a crash after the write)
        // is kept, since the database may already have it.
        if self
            .storage
            .get(&key)
            .await
            .map_err(|e| step_error(e.into()))?
            .is_some()
        {
            return Ok(());
        }
        let (_, config) = self.target().await?;
        let password = crate::password(config.password_length).map_err(step_error)?;
        self.storage
            .put_json(&key, &password.as_str())
            .await
            .map_err(step_error)
    }

    async fn set(&self, ctx: &StepContext) -> StepResult {
        let (role, config) = self.target().await?;
        let password = self.password(ctx.pending.as_deref()).await?;
        self.apply(&role, &config, &password).await
    }

    async fn test(&self, ctx: &StepContext) -> StepResult {
        let (role, config) = self.target().await?;
        let password = self.password(ctx.pending.as_deref()).await?;
        let kind = config.kind().map_err(step_error)?;
        let url = Zeroizing::new(db::login_url(
            kind,
            &config.connection_url,
            &role.username,
            &password,
        ));
        let conn = Conn::open(kind, &url)
            .await
            .map_err(|err| step_error(scrub(err, &password)))?;
        conn.close().await;
        Ok(())
    }

    async fn finish(&self, ctx: &StepContext) -> StepResult {
        // The labels move in the scheduler: static-creds reads the current one. A doubt left
        // by an earlier failed rotation is settled: the database holds this password now.
        let marker = format!("{UNRESTORED}{}", self.role);
        if let Some(doubt) = self
            .storage
            .get_json::<String>(&marker)
            .await
            .map_err(step_error)?
        {
            if ctx.pending.as_deref() != Some(doubt.as_str()) {
                self.forget_version(Some(&doubt)).await?;
            }
            self.storage
                .delete(&marker)
                .await
                .map_err(|e| step_error(e.into()))?;
        }
        Ok(())
    }

    async fn revoke_previous(&self, ctx: &StepContext) -> StepResult {
        // The database no longer takes the previous password; forget it.
        self.forget_version(ctx.previous.as_deref()).await
    }

    async fn discard_pending(&self, ctx: &StepContext) -> StepResult {
        // The database may hold the pending password (set ran, test failed): give it back the
        // current one, so the password static-creds returns keeps working. Until that is done
        // the pending version is recorded as a doubt (static-creds then proves by a login
        // which password holds); without a current password there is nothing to restore.
        let pending = ctx
            .pending
            .as_deref()
            .ok_or_else(|| StepError::new("no pending version"))?;
        let has_pending = self
            .storage
            .get(&password_key(&self.role, pending))
            .await
            .map_err(|e| step_error(e.into()))?
            .is_some();
        if !has_pending {
            return Ok(());
        }
        let marker = format!("{UNRESTORED}{}", self.role);
        self.storage
            .put_json(&marker, &pending)
            .await
            .map_err(step_error)?;
        let Some(current) = ctx.current.as_deref() else {
            return Ok(());
        };
        let (role, config) = self.target().await?;
        let password = self.password(Some(current)).await?;
        self.apply(&role, &config, &password).await?;
        self.forget_version(Some(pending)).await?;
        self.storage
            .delete(&marker)
            .await
            .map_err(|e| step_error(e.into()))
    }
}
