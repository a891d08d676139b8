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
use strongroom_logical::{
    Backend, Context, Endpoint, EndpointInfo, Endpoints, Field, FieldType, Fields, LogicalError,
    Operation, Request, Response, Result, SecretText,
};
use strongroom_storage::Storage as _;
use zeroize::Zeroizing;

use crate::{TokenFields, check_name, random_bytes, token_fields};

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
pub struct Userpass {
    /// A hash of a random password: what a login for an unknown user is verified against.
    dummy: tokio::sync::OnceCell<String>,
    /// The paths, declared (routing, fields, existence checks, help).
    endpoints: Endpoints<Userpass>,
}

impl Default for Userpass {
    fn default() -> Self {
        Self::new()
    }
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
    Ok(Arc::new(Userpass::new()))
}

const USERNAME: &str = "Username for this user.";
const PASSWORD: &str = "Password for this user.";

/// The paths as OpenBao's userpass declares them (fields, types, help), plus the `token_*`
/// fields of `tokenutil`.
fn declarations() -> Endpoints<Userpass> {
    let username = || Field::new(FieldType::String, USERNAME);
    let password = || Field::new(FieldType::SecretString, PASSWORD);
    Endpoints::new(
        USERPASS_HELP,
        vec![
            Endpoint::<Userpass>::new("users/?")
                .list(|up, ctx, f| Box::pin(up.list_users(ctx, f)))
                .synopsis(USERS_SYNOPSIS)
                .description(USERS_DESCRIPTION),
            token_fields(
                Endpoint::<Userpass>::new("users/{username}")
                    .field("username", username())
                    .field("password", password()),
            )
            .write(|up, ctx, f| Box::pin(up.write_user(ctx, f)))
            .read(|up, ctx, f| Box::pin(up.read_user(ctx, f)))
            .delete(|up, ctx, f| Box::pin(up.delete_user(ctx, f)))
            .exists(|up, ctx, f| Box::pin(up.user_exists(ctx, f)))
            .synopsis(USERS_SYNOPSIS)
            .description(USERS_DESCRIPTION),
            Endpoint::<Userpass>::new("users/{username}/password")
                .field("username", username())
                .field("password", password())
                .write(|up, ctx, f| Box::pin(up.update_password(ctx, f)))
                .synopsis("Reset user's password.")
                .description("This endpoint allows resetting the user's password."),
            Endpoint::<Userpass>::new("users/{username}/policies")
                .field("username", username())
                .field(
                    "token_policies",
                    Field::new(
                        FieldType::CommaStringSlice,
                        "Comma-separated list of policies",
                    ),
                )
                .field(
                    "policies",
                    Field::new(
                        FieldType::CommaStringSlice,
                        crate::deprecated("token_policies"),
                    ),
                )
                .write(|up, ctx, f| Box::pin(up.update_policies(ctx, f)))
                .synopsis("Update the policies associated with the username.")
                .description(
                    "This endpoint allows updating the policies associated with the username.",
                ),
            Endpoint::<Userpass>::new("login/{username}")
                .field(
                    "username",
                    Field::new(FieldType::String, "Username of the user."),
                )
                .field("password", password())
                .write(|up, ctx, f| Box::pin(up.login(ctx, f)))
                .unauthenticated()
                .synopsis("Log in with a username and password.")
                .description("This endpoint authenticates using a username and password."),
        ],
    )
}

const USERPASS_HELP: &str = "The \"userpass\" credential provider allows authentication using a \
                             combination of a username and password. No additional factors are \
                             supported.";
const USERS_SYNOPSIS: &str = "Manage users allowed to authenticate.";
const USERS_DESCRIPTION: &str = "This endpoint allows you to create, read, update, and delete \
                                 users that are allowed to authenticate. Deleting a user will \
                                 not revoke auth for prior authenticated users with that name.";

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

/// A password as sent (a declared [`FieldType::SecretString`]): `None` when not sent; refused
/// when empty or longer than [`MAX_PASSWORD`].
fn password(fields: &Fields<'_>) -> Result<Option<Zeroizing<String>>> {
    let Some(secret) = fields.get_ok::<SecretText>("password")? else {
        return Ok(None);
    };
    let password = secret.expose();
    if password.is_empty() || password.len() > MAX_PASSWORD {
        return Err(LogicalError::invalid(format!(
            "the password must be 1 to {MAX_PASSWORD} bytes"
        )));
    }
    Ok(Some(Zeroizing::new(password.to_owned())))
}

/// A login's password: one that does not convert is refused in Vault's words; one missing,
/// empty or too long is `missing password`.
fn login_password(fields: &Fields<'_>) -> Result<Zeroizing<String>> {
    match password(fields) {
        Ok(Some(password)) => Ok(password),
        Err(err @ LogicalError::Internal(_)) => Err(err),
        Ok(None) | Err(_) => Err(LogicalError::invalid("missing password")),
    }
}

/// The (lower-cased, checked) user name a path captured.
fn username(fields: &Fields<'_>) -> Result<String> {
    let name = fields.get::<&str>("username")?.to_lowercase();
    check_name("user", &name)?;
    Ok(name)
}

fn user_key(name: &str) -> String {
    format!("users/{name}")
}

impl Userpass {
    /// The method, with its paths declared.
    pub fn new() -> Self {
        Self {
            dummy: tokio::sync::OnceCell::new(),
            endpoints: declarations(),
        }
    }

    /// The method's endpoints (routing, existence checks, help, OpenAPI).
    pub fn endpoint_declarations(&self) -> &Endpoints<Self> {
        &self.endpoints
    }

    async fn list_users(&self, ctx: &Context, _fields: Fields<'_>) -> Result<Response> {
        Ok(Response::list(ctx.storage.list("users/").await?))
    }

    /// `users/<name>` exists or not (a policy's `create` and `update` tell them apart).
    async fn user_exists(&self, ctx: &Context, fields: Fields<'_>) -> Result<bool> {
        let name = fields.get::<&str>("username")?.to_lowercase();
        Ok(ctx.storage.get(&user_key(&name)).await?.is_some())
    }

    async fn write_user(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name = username(&fields)?;
        let key = user_key(&name);
        let existing: Option<User> = ctx.storage.get_json(&key).await?;
        let password = password(&fields)?;
        let password_hash = match (password, &existing) {
            (Some(p), _) => hash(p).await?,
            (None, Some(user)) => user.password_hash.clone(),
            (None, None) => {
                return Err(LogicalError::invalid(
                    "must provide either password or password_hash",
                ));
            }
        };
        let token = existing
            .as_ref()
            .map(|u| u.token.clone())
            .unwrap_or_default()
            .update(&fields)?;
        ctx.storage
            .put_json(
                &key,
                &User {
                    password_hash,
                    token,
                },
            )
            .await?;
        Ok(Response::empty())
    }

    /// The stored user a path names, or `username does not exist`.
    async fn existing_user(&self, ctx: &Context, name: &str) -> Result<User> {
        ctx.storage
            .get_json(&user_key(name))
            .await?
            .ok_or_else(|| LogicalError::invalid("username does not exist"))
    }

    async fn update_password(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name = username(&fields)?;
        let mut user = self.existing_user(ctx, &name).await?;
        let password =
            password(&fields)?.ok_or_else(|| LogicalError::invalid("missing password"))?;
        user.password_hash = hash(password).await?;
        ctx.storage.put_json(&user_key(&name), &user).await?;
        Ok(Response::empty())
    }

    async fn update_policies(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name = username(&fields)?;
        let mut user = self.existing_user(ctx, &name).await?;
        let policies = match fields.get_ok::<Vec<String>>("token_policies")? {
            Some(policies) => policies,
            None => fields
                .get_ok::<Vec<String>>("policies")?
                .ok_or_else(|| LogicalError::invalid("missing token_policies"))?,
        };
        user.token.policies = crate::policy_names(policies)?;
        ctx.storage.put_json(&user_key(&name), &user).await?;
        Ok(Response::empty())
    }

    async fn read_user(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name = username(&fields)?;
        let Some(user) = ctx.storage.get_json::<User>(&user_key(&name)).await? else {
            return Ok(Response::empty());
        };
        let mut out = Map::new();
        user.token.write_into(&mut out);
        Ok(Response::with_data(out))
    }

    async fn delete_user(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name = username(&fields)?;
        ctx.storage.delete(&user_key(&name)).await?;
        Ok(Response::empty())
    }

    async fn login(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let failed = || LogicalError::InvalidCredentials(LOGIN_FAILED.into());
        let name = fields.get::<&str>("username")?.to_lowercase();
        let password = login_password(&fields)?;
        let user = if check_name("user", &name).is_ok() {
            ctx.storage.get_json::<User>(&user_key(&name)).await?
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
        let mut auth = user.token.login(&name, &[]);
        auth.metadata.insert("username".into(), name.clone());
        auth.internal.insert("username".into(), name.into());
        Ok(Response::login(auth))
    }

    /// A locked user's login: the same answer as a wrong password, after the same work (the
    /// password is verified against the dummy hash), so neither the body nor the time tells a
    /// locked account from a wrong password.
    async fn locked(&self, request: &Request) -> LogicalError {
        // Decoded as the login decodes it: the same refusals, in the same words.
        let fields = match self.endpoints.decode(request) {
            Ok(fields) => fields,
            Err(err) => return err,
        };
        let password = match login_password(&fields) {
            Ok(password) => password,
            Err(err) => return err,
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
        self.endpoints.handle(self, ctx, request).await
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
        self.locked(request).await
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
