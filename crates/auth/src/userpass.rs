//! The `userpass` auth method: users and passwords, with Vault's paths and JSON.
//!
//! - `users/<name>` (create, update, read, delete; list `users/`): `password` (required on
//!   create, never read back) and the `token_*` fields.
//! - `users/<name>/password`: a new password. `users/<name>/policies`: new `token_policies`.
//! - `login/<name>` with `password` (unauthenticated): a token with the user's settings, its
//!   display name `userpass-<name>` and metadata `username`.
//!
//! Passwords are hashed with argon2id, m = 19 MiB, t = 2, p = 1 (OWASP's recommended minimum
//! for argon2id), a 16-byte random salt per hash, in PHC string form; hashing runs on the
//! blocking pool, not on the async workers. A login for a user that does not exist verifies the
//! password against a dummy hash with the same parameters, so it takes the same time as a wrong
//! password for a real user, and both answer `invalid username or password`. Names are
//! lower-cased, as Vault does.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use strongroom_logical::{Backend, Context, LogicalError, Operation, Request, Response, Result};
use strongroom_storage::Storage as _;
use zeroize::Zeroizing;

use crate::{TokenFields, check_name, load, random_bytes, store, text};

/// argon2id memory cost in KiB (19 MiB).
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
/// argon2id passes.
pub const ARGON2_PASSES: u32 = 2;
/// argon2id lanes.
pub const ARGON2_LANES: u32 = 1;

/// The longest password accepted (bytes).
const MAX_PASSWORD: usize = 4096;

/// What every failed login answers.
const LOGIN_FAILED: &str = "invalid username or password";

/// The userpass auth method. Mount it with `sys/auth/<path>` type `userpass`.
#[derive(Default)]
pub struct Userpass {
    /// A hash of a random password: what a login for an unknown user is verified against.
    dummy: tokio::sync::OnceCell<String>,
}

impl std::fmt::Debug for Userpass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Userpass").finish_non_exhaustive()
    }
}

/// The factory (no mount options).
///
/// # Errors
///
/// None; the signature is the registry's.
pub fn factory(_options: &Map<String, Value>) -> Result<Arc<dyn Backend>> {
    Ok(Arc::new(Userpass::default()))
}

#[derive(Serialize, Deserialize)]
struct User {
    password_hash: String,
    token: TokenFields,
}

fn argon2() -> Result<Argon2<'static>> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES, None)
        .map_err(|e| LogicalError::Internal(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// At most this many argon2 computations at once (each holds 19 MiB): a flood of logins
/// queues instead of exhausting memory and the blocking pool.
fn argon2_permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        tokio::sync::Semaphore::new(cpus.max(2))
    })
}

async fn permit() -> Result<tokio::sync::SemaphorePermit<'static>> {
    argon2_permits()
        .acquire()
        .await
        .map_err(|_| LogicalError::Internal("the password hashing queue is closed".into()))
}

/// Hashes `password` (on the blocking pool).
async fn hash(password: Zeroizing<String>) -> Result<String> {
    let _permit = permit().await?;
    let salt = SaltString::encode_b64(&random_bytes::<16>()?)
        .map_err(|e| LogicalError::Internal(format!("salt: {e}")))?;
    tokio::task::spawn_blocking(move || {
        argon2()?
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| LogicalError::Internal(format!("hashing the password: {e}")))
    })
    .await
    .map_err(|_| LogicalError::Internal("the password hashing task failed".into()))?
}

/// Whether `password` matches `stored` (on the blocking pool; constant-time comparison).
async fn verify(password: Zeroizing<String>, stored: String) -> Result<bool> {
    let _permit = permit().await?;
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&stored)
            .map_err(|_| LogicalError::Internal("a stored password hash does not parse".into()))?;
        Ok(argon2()?
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(|_| LogicalError::Internal("the password verification task failed".into()))?
}

fn password_field(data: &Map<String, Value>) -> Result<Option<Zeroizing<String>>> {
    let password = text(data, "password")?.map(Zeroizing::new);
    if let Some(p) = &password
        && (p.is_empty() || p.len() > MAX_PASSWORD)
    {
        return Err(LogicalError::invalid(format!(
            "the password must be 1 to {MAX_PASSWORD} bytes"
        )));
    }
    Ok(password)
}

fn user_key(name: &str) -> String {
    format!("users/{name}")
}

impl Userpass {
    async fn write_user(
        &self,
        ctx: &Context,
        name: &str,
        data: &Map<String, Value>,
    ) -> Result<Response> {
        let key = user_key(name);
        let existing: Option<User> = load(&ctx.storage, &key).await?;
        let password = password_field(data)?;
        let password_hash = match (password, &existing) {
            (Some(p), _) => hash(p).await?,
            (None, Some(user)) => user.password_hash.clone(),
            (None, None) => return Err(LogicalError::invalid("missing password")),
        };
        let token = existing
            .as_ref()
            .map(|u| u.token.clone())
            .unwrap_or_default()
            .update(data)?;
        store(
            &ctx.storage,
            &key,
            &User {
                password_hash,
                token,
            },
        )
        .await?;
        Ok(Response::empty())
    }

    async fn update_user(
        &self,
        ctx: &Context,
        name: &str,
        data: &Map<String, Value>,
        field: &str,
    ) -> Result<Response> {
        let key = user_key(name);
        let mut user: User = load(&ctx.storage, &key)
            .await?
            .ok_or_else(|| LogicalError::invalid("username does not exist"))?;
        if field == "password" {
            let password =
                password_field(data)?.ok_or_else(|| LogicalError::invalid("missing password"))?;
            user.password_hash = hash(password).await?;
        } else {
            let mut policies = Map::new();
            let value = data
                .get("token_policies")
                .or_else(|| data.get("policies"))
                .cloned()
                .ok_or_else(|| LogicalError::invalid("missing token_policies"))?;
            policies.insert("token_policies".into(), value);
            user.token = user.token.update(&policies)?;
        }
        store(&ctx.storage, &key, &user).await?;
        Ok(Response::empty())
    }

    async fn read_user(&self, ctx: &Context, name: &str) -> Result<Response> {
        let Some(user) = load::<User>(&ctx.storage, &user_key(name)).await? else {
            return Ok(Response::empty());
        };
        let mut out = Map::new();
        user.token.write_into(&mut out);
        Ok(Response::with_data(out))
    }

    async fn login(
        &self,
        ctx: &Context,
        name: &str,
        data: &Map<String, Value>,
    ) -> Result<Response> {
        let failed = || LogicalError::InvalidCredentials(LOGIN_FAILED.into());
        let password = password_field(data)
            .ok()
            .flatten()
            .ok_or_else(|| LogicalError::invalid("missing password"))?;
        let user = if check_name("user", name).is_ok() {
            load::<User>(&ctx.storage, &user_key(name)).await?
        } else {
            None
        };
        let (stored, known) = match &user {
            Some(user) => (user.password_hash.clone(), true),
            None => (self.dummy_hash().await?, false),
        };
        // Verified either way: an unknown user costs the same as a wrong password.
        let matches = verify(password, stored).await?;
        let Some(user) = user.filter(|_| known && matches) else {
            return Err(failed());
        };
        let mut auth = user.token.login(name, &[]);
        auth.metadata.insert("username".into(), name.to_owned());
        auth.internal.insert("username".into(), name.into());
        Ok(Response::login(auth))
    }

    /// A locked user's login: the same answer as a wrong password, after the same work (the
    /// password is verified against the dummy hash), so neither the body nor the time tells a
    /// locked account from a wrong password.
    async fn locked(&self, data: &Map<String, Value>) -> LogicalError {
        let Some(password) = password_field(data).ok().flatten() else {
            return LogicalError::invalid("missing password");
        };
        match self.dummy_hash().await {
            Ok(stored) => match verify(password, stored).await {
                Ok(_) => LogicalError::InvalidCredentials(LOGIN_FAILED.into()),
                Err(err) => err,
            },
            Err(err) => err,
        }
    }

    async fn dummy_hash(&self) -> Result<String> {
        self.dummy
            .get_or_try_init(|| async {
                let random = Zeroizing::new(crate::hex(&random_bytes::<16>()?));
                hash(random).await
            })
            .await
            .cloned()
    }
}

#[async_trait]
impl Backend for Userpass {
    async fn handle(&self, ctx: &Context, request: Request) -> Result<Response> {
        let path = request.path.trim_end_matches('/').to_owned();
        let op = request.operation;
        let writes = matches!(op, Operation::Create | Operation::Update);
        let segments: Vec<&str> = path.split('/').collect();
        match segments.as_slice() {
            ["users"] if op == Operation::List => {
                let keys = ctx.storage.list("users/").await?;
                Ok(Response::list(keys))
            }
            ["login", name] if writes => self.login(ctx, &name.to_lowercase(), &request.data).await,
            ["users", name, rest @ ..] => {
                let name = name.to_lowercase();
                check_name("user", &name)?;
                match (rest, op) {
                    ([], _) if writes => self.write_user(ctx, &name, &request.data).await,
                    ([], Operation::Read) => self.read_user(ctx, &name).await,
                    ([], Operation::Delete) => {
                        ctx.storage.delete(&user_key(&name)).await?;
                        Ok(Response::empty())
                    }
                    ([field @ ("password" | "policies")], _) if writes => {
                        self.update_user(ctx, &name, &request.data, field).await
                    }
                    ([] | ["password" | "policies"], _) => Err(LogicalError::UnsupportedOperation),
                    _ => Err(LogicalError::UnsupportedPath),
                }
            }
            ["login" | "users", ..] => Err(LogicalError::UnsupportedOperation),
            _ => Err(LogicalError::UnsupportedPath),
        }
    }

    /// A token renews while its user exists with the same policies.
    async fn renew_login(
        &self,
        ctx: &Context,
        internal: &Map<String, Value>,
        policies: &[String],
    ) -> Result<()> {
        crate::renew_named(
            ctx,
            internal,
            "username",
            "users",
            |u: &User| &u.token,
            policies,
        )
        .await
    }

    /// `users/<name>` exists or not (a policy's `create` and `update` tell them apart).
    async fn exists(&self, ctx: &Context, request: &Request) -> Result<Option<bool>> {
        crate::exists_named(ctx, request, "users").await
    }

    fn unauthenticated_paths(&self) -> &[&str] {
        &["login/*"]
    }

    /// `login/<name>`: the lower-cased user name (whether or not the user exists: unknown names
    /// are counted too, so lockout tells nothing about which users exist).
    fn login_identity(&self, request: &Request) -> Option<String> {
        if !matches!(request.operation, Operation::Create | Operation::Update) {
            return None;
        }
        let name = request.path.trim_end_matches('/').strip_prefix("login/")?;
        (!name.is_empty() && !name.contains('/')).then(|| name.to_lowercase())
    }

    async fn locked_login(&self, _ctx: &Context, request: &Request) -> LogicalError {
        self.locked(&request.data).await
    }

    /// User names are lower-cased (as Vault does) before the policy check.
    fn canonical_path(&self, path: &str) -> Option<String> {
        strongroom_logical::fold_segment(path, "users", 1)
            .or_else(|| strongroom_logical::fold_segment(path, "login", 1))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_with_the_documented_cost_and_verify() {
        let stored = hash(Zeroizing::new("correct horse".into())).await.unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(
            verify(Zeroizing::new("correct horse".into()), stored.clone())
                .await
                .unwrap()
        );
        assert!(
            !verify(Zeroizing::new("correct horsf".into()), stored.clone())
                .await
                .unwrap()
        );
        let again = hash(Zeroizing::new("correct horse".into())).await.unwrap();
        assert_ne!(stored, again, "a fresh salt per hash");
        assert!(
            verify(Zeroizing::new("x".into()), "garbage".into())
                .await
                .is_err()
        );
    }
}
