//! The `approle` auth method: machines log in with a role id and a secret id, with Vault's paths
//! and JSON.
//!
//! - `role/<name>` (list `role/`): `bind_secret_id` (default true), `secret_id_bound_cidrs`,
//!   `secret_id_num_uses`, `secret_id_ttl`, and the `token_*` fields (`token_policies`,
//!   `token_ttl`, `token_max_ttl`, `token_num_uses`, `token_bound_cidrs`, ...).
//! - `role/<name>/role-id`: read, or set a custom one.
//! - `role/<name>/secret-id`: generate (with `metadata`, `cidr_list`, `token_bound_cidrs`,
//!   `ttl`, `num_uses`), or list the accessors; `role/<name>/custom-secret-id`;
//!   `role/<name>/secret-id/lookup` and `/destroy`; `role/<name>/secret-id-accessor/lookup` and
//!   `/destroy`.
//! - `login` with `role_id` and `secret_id` (unauthenticated).
//!
//! Role ids and secret ids never reach storage in clear: they are keyed by an HMAC under a key
//! made for the mount (inside the barrier). A secret id's use count is spent with a
//! compare-and-swap, so concurrent logins cannot use it more often than allowed; expired and
//! used-up secret ids are deleted. CIDR bounds are checked against the connection's address
//! (a request without one, such as an embedded call, is outside every bound).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use strongroom_logical::cidr::{self, Cidr};
use strongroom_logical::json::{decode, encode};
use strongroom_logical::{
    Backend, Context, Endpoint, EndpointInfo, Endpoints, Field, FieldType, Fields, LogicalError,
    Operation, Request, Response, Result, SecretText,
};
use strongroom_storage::{Op, Storage as _};

use crate::{TokenFields, check_name, cidr_list, keyed_hash, mount_key, token_fields, uuid};

/// What every wrong role id or secret id answers (Vault's wording).
const LOGIN_FAILED: &str = "invalid role or secret ID";

/// How often spending a secret id's use is retried when concurrent logins race for it.
const CAS_ATTEMPTS: usize = 32;

/// The approle auth method. Mount it with `sys/auth/<path>` type `approle`.
pub struct AppRole {
    /// The mount's HMAC key for role and secret ids (read once from the mount's storage).
    key: tokio::sync::OnceCell<ring::hmac::Key>,
    /// The paths, declared (routing, fields, existence checks, help).
    endpoints: Endpoints<AppRole>,
}

impl Default for AppRole {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for AppRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppRole").finish_non_exhaustive()
    }
}

/// The factory (no mount options).
///
/// # Errors
///
/// None; the signature is the registry's.
pub fn factory(_options: &Map<String, Value>) -> Result<Arc<dyn Backend>> {
    Ok(Arc::new(AppRole::new()))
}

const ROLE_NAME: &str = "Name of the role. Must be less than 4096 bytes.";
const SECRET_ID: &str = "SecretID attached to the role.";
const ACCESSOR: &str = "Accessor of the SecretID";

/// The fields a new secret id takes (`secret-id` and `custom-secret-id`).
fn secret_id_fields(endpoint: Endpoint<AppRole>) -> Endpoint<AppRole> {
    endpoint
        .field(
            "metadata",
            Field::new(
                FieldType::String,
                "Metadata to be tied to the SecretID. This should be a JSON formatted string \
                 containing metadata in key value pairs.",
            ),
        )
        .field(
            "cidr_list",
            Field::new(
                FieldType::CommaStringSlice,
                "Comma separated string or list of CIDR blocks enforcing secret IDs to be used \
                 from specific set of IP addresses. If 'bound_cidr_list' is set on the role, \
                 then the list of CIDR blocks listed here should be a subset of the CIDR blocks \
                 listed on the role.",
            ),
        )
        .field(
            "token_bound_cidrs",
            Field::new(
                FieldType::CommaStringSlice,
                "Comma separated string or list of CIDR blocks. If set, specifies the blocks of \
                 IP addresses which can use the returned token. Should be a subset of the token \
                 CIDR blocks listed on the role, if any.",
            ),
        )
        .field(
            "num_uses",
            Field::new(
                FieldType::Int,
                "Number of times this SecretID can be used, after which the SecretID expires. \
                 Overrides secret_id_num_uses role option when supplied. May not be higher than \
                 role's secret_id_num_uses.",
            ),
        )
        .field(
            "ttl",
            Field::new(
                FieldType::DurationSecond,
                "Duration in seconds after which this SecretID expires. Overrides secret_id_ttl \
                 role option when supplied. May not be longer than role's secret_id_ttl.",
            ),
        )
}

/// The paths as OpenBao's approle declares them (fields, types, help), plus the `token_*`
/// fields of `tokenutil` on roles.
fn declarations() -> Endpoints<AppRole> {
    let role_name = || Field::new(FieldType::String, ROLE_NAME);
    let role = |rest: &str| {
        Endpoint::<AppRole>::new(&format!("role/{{role_name}}{rest}"))
            .field("role_name", role_name())
    };
    Endpoints::new(
        APPROLE_HELP,
        vec![
            Endpoint::<AppRole>::new("login")
                .field(
                    "role_id",
                    Field::new(FieldType::String, "Unique identifier of the Role. Required to be supplied when the 'bind_secret_id' constraint is set."),
                )
                .field(
                    "secret_id",
                    Field::new(
                        FieldType::SecretString,
                        "SecretID belong to the App role",
                    )
                    .default(""),
                )
                .write(|ar, ctx, f| Box::pin(ar.login(ctx, f)))
                .unauthenticated()
                .synopsis("Issue a token based on the credentials supplied")
                .description(
                    "While the credential 'role_id' is required at all times, other credentials \
                     required depends on the properties App role to which the 'role_id' belongs \
                     to. The 'bind_secret_id' constraint (enabled by default) on the App role \
                     requires the 'secret_id' credential to be presented.",
                ),
            Endpoint::<AppRole>::new("role/?")
                .list(|ar, ctx, f| Box::pin(ar.list_roles(ctx, f)))
                .synopsis("Lists all the roles registered with the backend.")
                .description("The list will contain the names of the roles."),
            token_fields(
                role("")
                    .field(
                        "bind_secret_id",
                        Field::new(
                            FieldType::Bool,
                            "Impose secret_id to be presented when logging in using this role. \
                             Defaults to 'true'.",
                        )
                        .default(true),
                    )
                    .field(
                        "bound_cidr_list",
                        Field::new(FieldType::CommaStringSlice, "Use \"secret_id_bound_cidrs\" instead."),
                    )
                    .field(
                        "secret_id_bound_cidrs",
                        Field::new(
                            FieldType::CommaStringSlice,
                            "Comma separated string or list of CIDR blocks. If set, specifies the \
                             blocks of IP addresses which can perform the login operation.",
                        ),
                    )
                    .field(
                        "secret_id_num_uses",
                        Field::new(
                            FieldType::Int,
                            "Number of times a SecretID can access the role, after which the \
                             SecretID will expire. Defaults to 0 meaning that the the secret_id is \
                             of unlimited use.",
                        ),
                    )
                    .field(
                        "secret_id_ttl",
                        Field::new(
                            FieldType::DurationSecond,
                            "Duration in seconds after which the issued SecretID should expire. \
                             Defaults to 0, meaning no expiration.",
                        ),
                    )
                    .field(
                        "role_id",
                        Field::new(FieldType::String, "Identifier of the role. Defaults to a UUID."),
                    ),
            )
            .write(|ar, ctx, f| Box::pin(ar.write_role(ctx, f)))
            .read(|ar, ctx, f| Box::pin(ar.read_role(ctx, f)))
            .delete(|ar, ctx, f| Box::pin(ar.delete_role(ctx, f)))
            .exists(|ar, ctx, f| Box::pin(ar.role_exists(ctx, f)))
            .synopsis("Register an role with the backend.")
            .description(
                "A role can represent a service, a machine or anything that can be IDed. The set \
                 of policies on the role defines access to the role, meaning, any Vault token \
                 with a policy set that is a superset of the policies on the role registered \
                 here will have access to the role.",
            ),
            role("/role-id")
                .field(
                    "role_id",
                    Field::new(FieldType::String, "Identifier of the role. Defaults to a UUID."),
                )
                .read(|ar, ctx, f| Box::pin(ar.read_role_id(ctx, f)))
                .write(|ar, ctx, f| Box::pin(ar.write_role_id(ctx, f)))
                .synopsis("Returns the 'role_id' of the role.")
                .description(
                    "If login is performed from an role, then its 'role_id' should be presented \
                     as a credential during the login. This 'role_id' can be retrieved using this \
                     endpoint.",
                ),
            secret_id_fields(role("/secret-id/?"))
                .write(|ar, ctx, f| Box::pin(ar.issue_secret_id(ctx, f)))
                .list(|ar, ctx, f| Box::pin(ar.list_secret_ids(ctx, f)))
                .synopsis("Generate a SecretID against this role.")
                .description(
                    "The SecretID generated using this endpoint will be scoped to access just \
                     this role and none else.",
                ),
            secret_id_fields(role("/custom-secret-id").field(
                "secret_id",
                Field::new(FieldType::SecretString, "SecretID to be attached to the role."),
            ))
            .write(|ar, ctx, f| Box::pin(ar.issue_custom_secret_id(ctx, f)))
            .synopsis("Assign a SecretID of choice against the role.")
            .description(
                "This option is not recommended unless there is a specific need to do so. This \
                 will assign a client supplied SecretID to be used to access the role. This \
                 SecretID will behave similarly to the SecretIDs generated by the backend.",
            ),
            role("/secret-id/lookup/?")
                .field("secret_id", Field::new(FieldType::SecretString, SECRET_ID))
                .write(|ar, ctx, f| Box::pin(ar.lookup_secret(ctx, f)))
                .synopsis("Read the properties of an issued secret_id")
                .description("This endpoint is used to read the properties of a secret_id associated to a role."),
            role("/secret-id/destroy/?")
                .field("secret_id", Field::new(FieldType::SecretString, SECRET_ID))
                .write(|ar, ctx, f| Box::pin(ar.destroy_secret(ctx, f)))
                .delete(|ar, ctx, f| Box::pin(ar.destroy_secret(ctx, f)))
                .synopsis("Invalidate an issued secret_id")
                .description("This endpoint is used to delete the properties of a secret_id associated to a role."),
            role("/secret-id-accessor/lookup/?")
                .field("secret_id_accessor", Field::new(FieldType::String, ACCESSOR))
                .write(|ar, ctx, f| Box::pin(ar.lookup_secret(ctx, f)))
                .synopsis("Read an issued secret_id, using its accessor")
                .description(
                    "This is particularly useful to lookup the non-expiring 'secret_id's. The \
                     list operation on the 'role/<role_name>/secret-id' endpoint will return the \
                     'secret_id_accessor's. This endpoint can be used to read the properties of \
                     the secret. If the 'secret_id_num_uses' field in the response is 0, it \
                     represents a non-expiring 'secret_id'.",
                ),
            role("/secret-id-accessor/destroy/?")
                .field("secret_id_accessor", Field::new(FieldType::String, ACCESSOR))
                .write(|ar, ctx, f| Box::pin(ar.destroy_secret(ctx, f)))
                .delete(|ar, ctx, f| Box::pin(ar.destroy_secret(ctx, f)))
                .synopsis("Delete an issued secret_id, using its accessor")
                .description(
                    "This is particularly useful to clean-up the non-expiring 'secret_id's. The \
                     list operation on the 'role/<role_name>/secret-id' endpoint will return the \
                     'secret_id_accessor's. This endpoint can be used to delete the properties \
                     of the secret.",
                ),
        ],
    )
}

const APPROLE_HELP: &str = "Any registered Role can authenticate itself with Vault. The \
                            credentials depends on the constraints that are set on the Role. One \
                            common required credential is the 'role_id' which is a unique \
                            identifier of the Role. It can be retrieved from the \
                            'role/<appname>/role-id' endpoint. The default constraint \
                            configuration is 'bind_secret_id', which requires a credential \
                            'secret_id' to be presented during login. Refer to the documentation \
                            for other types of constraints.";

/// The (lower-cased, checked) role name a path captured.
fn role_name(fields: &Fields<'_>) -> Result<String> {
    let name = fields.get::<&str>("role_name")?.to_lowercase();
    check_name("role", &name)?;
    Ok(name)
}

/// A secret id field: `None` when missing or empty.
fn secret_id(fields: &Fields<'_>) -> Result<Option<SecretText>> {
    Ok(fields
        .get_ok::<SecretText>("secret_id")?
        .filter(|s| !s.expose().is_empty()))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Role {
    role_id: String,
    bind_secret_id: bool,
    secret_id_bound_cidrs: Vec<String>,
    secret_id_num_uses: u32,
    secret_id_ttl: u64,
    token: TokenFields,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SecretId {
    accessor: String,
    cidr_list: Vec<String>,
    token_bound_cidrs: Vec<String>,
    metadata: BTreeMap<String, String>,
    /// Uses left (0: unlimited).
    num_uses: u32,
    ttl: u64,
    creation_time: u64,
    /// Unix seconds; 0: never.
    expiration_time: u64,
    last_updated_time: u64,
}

/// A failed uniqueness check (a compare-and-swap that found the id taken) as the caller's error.
fn in_use(what: &'static str) -> impl Fn(strongroom_storage::StorageError) -> LogicalError {
    move |err| match err {
        strongroom_storage::StorageError::CheckFailed { .. } => {
            LogicalError::invalid(format!("{what} already in use"))
        }
        other => other.into(),
    }
}

fn now(ctx: &Context) -> u64 {
    ctx.now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn role_key(name: &str) -> String {
    format!("role/{name}")
}

fn secret_folder(role: &str) -> String {
    format!("secret-id/{role}/")
}

fn accessor_key(role: &str, accessor: &str) -> String {
    format!("accessor/{role}/{accessor}")
}

/// Vault's secret id `metadata`: a JSON object of strings, given as a JSON string.
fn metadata(text: Option<&str>) -> Result<BTreeMap<String, String>> {
    let bad = || LogicalError::invalid("'metadata' must be a JSON object of strings");
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Ok(BTreeMap::new());
    };
    serde_json::from_str::<Map<String, Value>>(text)
        .map_err(|_| bad())?
        .into_iter()
        .map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())).ok_or_else(bad))
        .collect()
}

fn rfc3339(secs: u64) -> Value {
    strongroom_logical::time::rfc3339(secs).into()
}

impl AppRole {
    /// The method, with its paths declared.
    pub fn new() -> Self {
        Self {
            key: tokio::sync::OnceCell::new(),
            endpoints: declarations(),
        }
    }

    /// The method's endpoints (routing, existence checks, help, OpenAPI).
    pub fn endpoint_declarations(&self) -> &Endpoints<Self> {
        &self.endpoints
    }

    async fn list_roles(&self, ctx: &Context, _fields: Fields<'_>) -> Result<Response> {
        Ok(Response::list(ctx.storage.list("role/").await?))
    }

    /// `role/<name>` exists or not (a policy's `create` and `update` tell them apart).
    async fn role_exists(&self, ctx: &Context, fields: Fields<'_>) -> Result<bool> {
        let name = fields.get::<&str>("role_name")?.to_lowercase();
        Ok(ctx.storage.get(&role_key(&name)).await?.is_some())
    }

    async fn read_role_id(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let role = self.load_role(ctx, &role_name(&fields)?).await?;
        let mut out = Map::new();
        out.insert("role_id".into(), role.role_id.into());
        Ok(Response::with_data(out))
    }

    async fn write_role_id(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name = role_name(&fields)?;
        let old = self.load_role(ctx, &name).await?;
        let mut role = old.clone();
        role.role_id = fields
            .get_ok::<String>("role_id")?
            .ok_or_else(|| LogicalError::invalid("missing role_id"))?;
        self.save_role(ctx, &name, Some(&old), &role).await?;
        Ok(Response::empty())
    }

    /// The mount's HMAC key, made or read on first use.
    async fn key(&self, ctx: &Context) -> Result<&ring::hmac::Key> {
        self.key.get_or_try_init(|| mount_key(&ctx.storage)).await
    }

    async fn load_role(&self, ctx: &Context, name: &str) -> Result<Role> {
        ctx.storage
            .get_json(&role_key(name))
            .await?
            .ok_or_else(|| LogicalError::invalid(format!("role {name:?} does not exist")))
    }

    async fn write_role(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name = &role_name(&fields)?;
        let key = role_key(name);
        let existing: Option<Role> = ctx.storage.get_json(&key).await?;
        let mut role = match existing.clone() {
            Some(role) => role,
            None => Role {
                role_id: uuid()?,
                bind_secret_id: true,
                secret_id_bound_cidrs: Vec::new(),
                secret_id_num_uses: 0,
                secret_id_ttl: 0,
                token: TokenFields::default(),
            },
        };
        if fields.is_set("bind_secret_id") {
            role.bind_secret_id = fields.get("bind_secret_id")?;
        }
        let bounds = if fields.is_set("secret_id_bound_cidrs") {
            "secret_id_bound_cidrs"
        } else {
            "bound_cidr_list"
        };
        if let Some(c) = fields.get_ok::<Vec<String>>(bounds)? {
            role.secret_id_bound_cidrs = cidr_list(c)?;
        }
        if let Some(n) = fields.get_ok::<u32>("secret_id_num_uses")? {
            role.secret_id_num_uses = n;
        }
        if let Some(d) = fields.get_ok::<u64>("secret_id_ttl")? {
            role.secret_id_ttl = d;
        }
        role.token = role.token.update(&fields)?;
        if let Some(custom) = fields.get_ok::<String>("role_id")? {
            role.role_id = custom;
        }
        if !role.bind_secret_id
            && role.secret_id_bound_cidrs.is_empty()
            && role.token.bound_cidrs.is_empty()
        {
            return Err(LogicalError::invalid(
                "at least one constraint should be enabled on the role",
            ));
        }
        self.save_role(ctx, name, existing.as_ref(), &role).await?;
        Ok(Response::empty())
    }

    /// Stores `role` with its role-id index, refusing a role id another role holds.
    async fn save_role(
        &self,
        ctx: &Context,
        name: &str,
        old: Option<&Role>,
        role: &Role,
    ) -> Result<()> {
        if role.role_id.is_empty() || role.role_id.len() > 4096 {
            return Err(LogicalError::invalid("role_id must be 1 to 4096 bytes"));
        }
        let key = self.key(ctx).await?;
        let index = format!("role-id/{}", keyed_hash(key, "role-id", &role.role_id));
        let holder = ctx.storage.get(&index).await?;
        if let Some(bytes) = &holder
            && decode::<String>("role-id", bytes).ok().as_deref() != Some(name)
        {
            return Err(LogicalError::invalid("role_id already in use"));
        }
        // The index must still be as read: two roles racing for one role id cannot both win.
        let mut ops = vec![
            Op::check(index.clone(), holder),
            Op::put(role_key(name), encode("role", role)?),
            Op::put(index, encode("role-id", &name)?),
        ];
        if let Some(old) = old
            && old.role_id != role.role_id
        {
            ops.push(Op::delete(format!(
                "role-id/{}",
                keyed_hash(key, "role-id", &old.role_id)
            )));
        }
        ctx.storage
            .transaction(ops)
            .await
            .map_err(in_use("role_id"))?;
        Ok(())
    }

    async fn read_role(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let Some(role) = ctx
            .storage
            .get_json::<Role>(&role_key(&role_name(&fields)?))
            .await?
        else {
            return Ok(Response::empty());
        };
        let mut out = Map::new();
        out.insert("bind_secret_id".into(), role.bind_secret_id.into());
        out.insert(
            "secret_id_bound_cidrs".into(),
            if role.secret_id_bound_cidrs.is_empty() {
                Value::Null
            } else {
                role.secret_id_bound_cidrs.clone().into()
            },
        );
        out.insert("secret_id_num_uses".into(), role.secret_id_num_uses.into());
        out.insert("secret_id_ttl".into(), role.secret_id_ttl.into());
        out.insert("local_secret_ids".into(), false.into());
        role.token.write_into(&mut out);
        Ok(Response::with_data(out))
    }

    async fn delete_role(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name = &role_name(&fields)?;
        let Some(role) = ctx.storage.get_json::<Role>(&role_key(name)).await? else {
            return Ok(Response::empty());
        };
        for hashed in ctx.storage.list(&secret_folder(name)).await? {
            self.destroy_hashed(ctx, name, &hashed).await?;
        }
        let key = self.key(ctx).await?;
        ctx.storage
            .transaction(vec![
                Op::delete(role_key(name)),
                Op::delete(format!(
                    "role-id/{}",
                    keyed_hash(key, "role-id", &role.role_id)
                )),
            ])
            .await?;
        Ok(Response::empty())
    }

    /// `role/<name>/secret-id`: a new secret id for the role.
    async fn issue_secret_id(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        self.issue(ctx, &fields, None).await
    }

    /// `role/<name>/custom-secret-id`: the client's secret id for the role.
    async fn issue_custom_secret_id(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let custom = fields
            .get_ok::<SecretText>("secret_id")?
            .ok_or_else(|| LogicalError::invalid("missing secret_id"))?;
        self.issue(ctx, &fields, Some(custom)).await
    }

    /// A new secret id for the role (`custom`, or a fresh UUID).
    async fn issue(
        &self,
        ctx: &Context,
        fields: &Fields<'_>,
        custom: Option<SecretText>,
    ) -> Result<Response> {
        let name = &role_name(fields)?;
        let role = self.load_role(ctx, name).await?;
        if !role.bind_secret_id {
            return Err(LogicalError::invalid(
                "bind_secret_id is not set on the role: it takes no secret ids",
            ));
        }
        let secret_id = match custom.as_ref().map(SecretText::expose) {
            Some(s) if !s.is_empty() && s.len() <= 4096 => s.to_owned(),
            Some(_) => return Err(LogicalError::invalid("secret_id must be 1 to 4096 bytes")),
            None => uuid()?,
        };
        // A secret id may narrow the role's CIDR bounds, never widen them.
        let cidr_list = cidr_list(fields.get_ok("cidr_list")?.unwrap_or_default())?;
        if !cidr::all_within(
            &Cidr::parse_all(&cidr_list)?,
            &Cidr::parse_all(&role.secret_id_bound_cidrs)?,
        ) {
            return Err(LogicalError::invalid(
                "cidr_list must lie within the role's secret_id_bound_cidrs",
            ));
        }
        let token_bound_cidrs =
            crate::cidr_list(fields.get_ok("token_bound_cidrs")?.unwrap_or_default())?;
        if !cidr::all_within(
            &Cidr::parse_all(&token_bound_cidrs)?,
            &Cidr::parse_all(&role.token.bound_cidrs)?,
        ) {
            return Err(LogicalError::invalid(
                "token_bound_cidrs must lie within the role's token_bound_cidrs",
            ));
        }
        // The role's limits are ceilings a secret id may tighten, never loosen.
        let ttl = match (fields.get_ok::<u64>("ttl")?, role.secret_id_ttl) {
            (Some(t), 0) => t,
            (Some(t), max) if t > 0 && t <= max => t,
            (Some(0) | None, max) => max,
            (Some(_), max) => {
                return Err(LogicalError::invalid(format!(
                    "ttl cannot be longer than the role's secret_id_ttl ({max} s)"
                )));
            }
        };
        let num_uses = match (fields.get_ok::<u32>("num_uses")?, role.secret_id_num_uses) {
            (Some(n), 0) => n,
            (Some(n), max) if n > 0 && n <= max => n,
            (Some(0) | None, max) => max,
            (Some(_), max) => {
                return Err(LogicalError::invalid(format!(
                    "num_uses cannot be more than the role's secret_id_num_uses ({max})"
                )));
            }
        };
        let now = now(ctx);
        let entry = SecretId {
            accessor: uuid()?,
            cidr_list,
            token_bound_cidrs,
            metadata: metadata(fields.get_ok::<&str>("metadata")?)?,
            num_uses,
            ttl,
            creation_time: now,
            expiration_time: if ttl > 0 { now.saturating_add(ttl) } else { 0 },
            last_updated_time: now,
        };
        let key = self.key(ctx).await?;
        let hashed = keyed_hash(key, "secret-id", &secret_id);
        let path = format!("{}{hashed}", secret_folder(name));
        ctx.storage
            .transaction(vec![
                Op::check(path.clone(), None),
                Op::put(path, encode("secret-id", &entry)?),
                Op::put(accessor_key(name, &entry.accessor), hashed.into_bytes()),
            ])
            .await
            .map_err(in_use("secret_id"))?;
        let mut out = Map::new();
        out.insert("secret_id".into(), secret_id.into());
        out.insert("secret_id_accessor".into(), entry.accessor.into());
        out.insert("secret_id_ttl".into(), ttl.into());
        out.insert("secret_id_num_uses".into(), num_uses.into());
        Ok(Response::with_data(out))
    }

    /// The stored secret id under `hashed`, deleted (and `None`) if it has expired.
    async fn live_secret(
        &self,
        ctx: &Context,
        role: &str,
        hashed: &str,
    ) -> Result<Option<(SecretId, Vec<u8>)>> {
        let path = format!("{}{hashed}", secret_folder(role));
        let Some(bytes) = ctx.storage.get(&path).await? else {
            return Ok(None);
        };
        let entry: SecretId = decode("secret id", &bytes)?;
        if entry.expiration_time != 0 && now(ctx) >= entry.expiration_time {
            self.destroy_hashed(ctx, role, hashed).await?;
            return Ok(None);
        }
        Ok(Some((entry, bytes)))
    }

    async fn destroy_hashed(&self, ctx: &Context, role: &str, hashed: &str) -> Result<()> {
        let path = format!("{}{hashed}", secret_folder(role));
        let mut ops = vec![Op::delete(path.clone())];
        if let Some(bytes) = ctx.storage.get(&path).await?
            && let Ok(entry) = decode::<SecretId>("secret id", &bytes)
        {
            ops.push(Op::delete(accessor_key(role, &entry.accessor)));
        }
        ctx.storage.transaction(ops).await?;
        Ok(())
    }

    /// The hash a request names: by `secret_id_accessor` when the endpoint declares it, else
    /// by `secret_id`.
    async fn hashed_from(
        &self,
        ctx: &Context,
        role: &str,
        fields: &Fields<'_>,
    ) -> Result<Option<String>> {
        if fields.is_declared("secret_id_accessor") {
            let accessor = fields
                .get_ok::<String>("secret_id_accessor")?
                .filter(|a| !a.is_empty())
                .ok_or_else(|| LogicalError::invalid("missing secret_id_accessor"))?;
            if check_name("accessor", &accessor).is_err() {
                return Ok(None);
            }
            return Ok(ctx
                .storage
                .get(&accessor_key(role, &accessor))
                .await?
                .and_then(|b| String::from_utf8(b).ok()));
        }
        let secret_id =
            secret_id(fields)?.ok_or_else(|| LogicalError::invalid("missing secret_id"))?;
        let key = self.key(ctx).await?;
        Ok(Some(keyed_hash(key, "secret-id", secret_id.expose())))
    }

    async fn lookup_secret(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let role = &role_name(&fields)?;
        self.load_role(ctx, role).await?;
        let Some(hashed) = self.hashed_from(ctx, role, &fields).await? else {
            return Ok(Response::empty());
        };
        let Some((entry, _)) = self.live_secret(ctx, role, &hashed).await? else {
            return Ok(Response::empty());
        };
        let mut out = Map::new();
        out.insert("secret_id_accessor".into(), entry.accessor.into());
        out.insert("cidr_list".into(), entry.cidr_list.into());
        out.insert("token_bound_cidrs".into(), entry.token_bound_cidrs.into());
        out.insert(
            "metadata".into(),
            serde_json::to_value(&entry.metadata).unwrap_or(Value::Null),
        );
        out.insert("secret_id_num_uses".into(), entry.num_uses.into());
        out.insert("secret_id_ttl".into(), entry.ttl.into());
        out.insert("creation_time".into(), rfc3339(entry.creation_time));
        out.insert(
            "expiration_time".into(),
            if entry.expiration_time == 0 {
                "0001-01-01T00:00:00Z".into()
            } else {
                rfc3339(entry.expiration_time)
            },
        );
        out.insert("last_updated_time".into(), rfc3339(entry.last_updated_time));
        Ok(Response::with_data(out))
    }

    async fn destroy_secret(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let role = &role_name(&fields)?;
        self.load_role(ctx, role).await?;
        if let Some(hashed) = self.hashed_from(ctx, role, &fields).await? {
            self.destroy_hashed(ctx, role, &hashed).await?;
        }
        Ok(Response::empty())
    }

    async fn list_secret_ids(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let role = &role_name(&fields)?;
        self.load_role(ctx, role).await?;
        let keys = ctx.storage.list(&format!("accessor/{role}/")).await?;
        Ok(Response::list(keys))
    }

    /// `login`: the role by its role id, then the secret id (bounds, expiry, uses).
    async fn login(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let role_id = fields
            .get_ok::<String>("role_id")?
            .filter(|r| !r.is_empty())
            .ok_or_else(|| LogicalError::invalid("missing role_id"))?;
        let key = self.key(ctx).await?;
        let index = format!("role-id/{}", keyed_hash(key, "role-id", &role_id));
        let invalid_role = || LogicalError::InvalidCredentials(LOGIN_FAILED.into());
        let name: String = ctx
            .storage
            .get_json(&index)
            .await?
            .ok_or_else(invalid_role)?;
        let role: Role = ctx
            .storage
            .get_json(&role_key(&name))
            .await?
            .ok_or_else(invalid_role)?;
        let remote = fields.request().connection.remote_addr;
        let mut metadata = BTreeMap::new();
        let mut token_cidrs = Vec::new();
        if role.bind_secret_id {
            let secret_id =
                secret_id(&fields)?.ok_or_else(|| LogicalError::invalid("missing secret_id"))?;
            let hashed = keyed_hash(key, "secret-id", secret_id.expose());
            let entry = self.spend(ctx, &name, &hashed, remote, &role).await?;
            metadata = entry.metadata;
            token_cidrs = entry.token_bound_cidrs;
        }
        if !cidr::allowed(&Cidr::parse_all(&role.secret_id_bound_cidrs)?, remote) {
            return Err(LogicalError::invalid(
                "source address unauthorized through CIDR restrictions on the role",
            ));
        }
        let mut auth = role.token.login("", &token_cidrs);
        auth.internal
            .insert("role_name".into(), name.clone().into());
        metadata.insert("role_name".into(), name);
        auth.metadata = metadata;
        Ok(Response::login(auth))
    }

    /// A locked role id's login: the answer a wrong secret id gets, with the same checks of
    /// the request before it (missing fields), and nothing spent.
    async fn locked(&self, ctx: &Context, request: &Request) -> Result<LogicalError> {
        // Decoded as the login decodes it: the same refusals, in the same words.
        let fields = self.endpoints.decode(request)?;
        let Some(role_id) = fields
            .get_ok::<String>("role_id")?
            .filter(|r| !r.is_empty())
        else {
            return Ok(LogicalError::invalid("missing role_id"));
        };
        let key = self.key(ctx).await?;
        let index = format!("role-id/{}", keyed_hash(key, "role-id", &role_id));
        let failed = LogicalError::InvalidCredentials(LOGIN_FAILED.into());
        let Some(name) = ctx.storage.get_json::<String>(&index).await? else {
            return Ok(failed);
        };
        let Some(role) = ctx.storage.get_json::<Role>(&role_key(&name)).await? else {
            return Ok(failed);
        };
        if role.bind_secret_id && secret_id(&fields)?.is_none() {
            return Ok(LogicalError::invalid("missing secret_id"));
        }
        Ok(failed)
    }

    /// Checks a secret id and spends one of its uses (compare-and-swap: racing logins cannot
    /// spend more uses than it has).
    async fn spend(
        &self,
        ctx: &Context,
        role_name: &str,
        hashed: &str,
        remote: Option<std::net::IpAddr>,
        role: &Role,
    ) -> Result<SecretId> {
        let invalid = || LogicalError::InvalidCredentials(LOGIN_FAILED.into());
        let path = format!("{}{hashed}", secret_folder(role_name));
        for _ in 0..CAS_ATTEMPTS {
            let (entry, bytes) = self
                .live_secret(ctx, role_name, hashed)
                .await?
                .ok_or_else(invalid)?;
            let bounds = Cidr::parse_all(&entry.cidr_list)?;
            let role_bounds = Cidr::parse_all(&role.secret_id_bound_cidrs)?;
            if !cidr::allowed(&bounds, remote) || !cidr::allowed(&role_bounds, remote) {
                return Err(LogicalError::invalid(
                    "source address unauthorized through CIDR restrictions on the secret ID",
                ));
            }
            // The token this login would make must be usable from here (the core refuses it
            // otherwise): checked before a use is spent.
            let token_bounds = if entry.token_bound_cidrs.is_empty() {
                &role.token.bound_cidrs
            } else {
                &entry.token_bound_cidrs
            };
            if !cidr::allowed(&Cidr::parse_all(token_bounds)?, remote) {
                return Err(LogicalError::PermissionDenied);
            }
            let ops = match entry.num_uses {
                0 => return Ok(entry),
                1 => vec![
                    Op::check(path.clone(), Some(bytes)),
                    Op::delete(path.clone()),
                    Op::delete(accessor_key(role_name, &entry.accessor)),
                ],
                n => {
                    let mut next = entry.clone();
                    next.num_uses = n - 1;
                    next.last_updated_time = now(ctx);
                    vec![
                        Op::check(path.clone(), Some(bytes)),
                        Op::put(path.clone(), encode("secret-id", &next)?),
                    ]
                }
            };
            match ctx.storage.transaction(ops).await {
                Ok(()) => return Ok(entry),
                Err(strongroom_storage::StorageError::CheckFailed { .. }) => {}
                Err(err) if err.is_retryable() => {}
                Err(err) => return Err(err.into()),
            }
        }
        Err(LogicalError::Internal(
            "the secret id is contended; try again".into(),
        ))
    }
}

#[async_trait]
impl Backend for AppRole {
    async fn handle(&self, ctx: &Context, request: Request) -> Result<Response> {
        self.endpoints.handle(self, ctx, request).await
    }

    /// A token renews while its role exists with the same policies.
    async fn renew_login(
        &self,
        ctx: &Context,
        internal: &Map<String, Value>,
        policies: &[String],
    ) -> Result<()> {
        crate::renew_named(
            ctx,
            internal,
            "role_name",
            "role",
            |r: &Role| &r.token,
            policies,
        )
        .await
    }

    /// Role names are lower-cased (as Vault does) before the policy check.
    fn canonical_path(&self, path: &str) -> Option<String> {
        strongroom_logical::fold_segment(path, "role", 1)
    }

    /// `role/<name>` exists or not (a policy's `create` and `update` tell them apart).
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

    /// `login`: the role id as given (known or not: unknown role ids are counted too).
    fn login_identity(&self, request: &Request) -> Option<String> {
        if !matches!(request.operation, Operation::Create | Operation::Update)
            || request.path.trim_end_matches('/') != "login"
        {
            return None;
        }
        // The role id as the login handler will read it (Vault's weak string conversion: a JSON
        // number is its text), so no spelling of an id logs in uncounted. A body that does not
        // decode fails the login before any credential is checked.
        let fields = self.endpoints.decode(request).ok()?;
        fields
            .get_ok::<String>("role_id")
            .ok()
            .flatten()
            .filter(|r| !r.is_empty())
    }

    async fn locked_login(&self, ctx: &Context, request: &Request) -> LogicalError {
        self.locked(ctx, request).await.unwrap_or_else(|err| err)
    }
}
