//! The request pipeline every entry point shares: canonical path, token, use count, route,
//! existence check, policy, sudo, audit, dispatch, lease registration, login tokens.

use std::sync::Arc;

use serde_json::{Map, Value};
use strongroom_logical::{Context, Operation, Request};

use crate::active::Active;
use crate::audit::{AuditAuth, AuditRecord, Broker};
use crate::clock::unix;
use crate::leases::NewLease;
use crate::mounts::{Mounted, context};
use crate::request::{AuthInfo, VaultRequest, VaultResponse};
use crate::route::Target;
use crate::vault::Vault;
use crate::{Result, VaultError, sys};

/// Converts a JSON request field for the policy engine's parameter checks.
fn policy_value(value: &Value) -> strongroom_policy::Value {
    use strongroom_policy::Value as P;
    match value {
        Value::Null => P::Null,
        Value::Bool(b) => P::Bool(*b),
        Value::Number(n) => P::Number(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => P::String(s.clone()),
        Value::Array(items) => P::List(items.iter().map(policy_value).collect()),
        Value::Object(map) => P::Map(
            map.iter()
                .map(|(k, v)| (k.clone(), policy_value(v)))
                .collect(),
        ),
    }
}

fn policy_operation(op: Operation) -> strongroom_policy::Operation {
    use strongroom_policy::Operation as P;
    match op {
        Operation::Read => P::Read,
        Operation::Create => P::Create,
        Operation::Update => P::Update,
        Operation::Patch => P::Patch,
        Operation::Delete => P::Delete,
        Operation::List => P::List,
        // `Operation` is non-exhaustive; anything new is treated as the most demanding write.
        _ => P::Update,
    }
}

/// The mount a routed request goes to, for its audit entries.
fn audit_mount(target: &Target, cluster_id: &str) -> Option<crate::audit::AuditMount> {
    let builtin = |point: &str, kind: &str, class| crate::audit::AuditMount {
        point: point.into(),
        kind: kind.into(),
        accessor: sys::builtin_accessor(cluster_id, point, kind),
        class,
    };
    match target {
        Target::Sys(_) => Some(builtin("sys/", "system", "secret")),
        Target::Token(_) => Some(builtin("auth/token/", "token", "auth")),
        Target::Cubbyhole(_) => Some(builtin("cubbyhole/", "cubbyhole", "secret")),
        Target::Engine(mounted, _) => Some(crate::audit::AuditMount {
            point: mounted.entry.path.clone(),
            kind: mounted.entry.kind.clone(),
            accessor: mounted.entry.accessor.clone(),
            class: if mounted.entry.path.starts_with("auth/") {
                "auth"
            } else {
                "secret"
            },
        }),
        Target::Nowhere | Target::Vacant => None,
    }
}

/// An authorised request, ready to dispatch.
struct Prepared {
    target: Target,
    operation: Operation,
    /// The canonical path (see [`crate::request_path`]).
    path: String,
    /// The caller's token as it stands after this request's use was counted; `None` on an auth
    /// method's login paths.
    entry: Option<crate::tokens::TokenEntry>,
    /// This request took the token's last use.
    last_use: bool,
    /// The caller holds `sudo` (or root) on the path.
    sudo: bool,
}

impl Prepared {
    /// A request served without a token (a login, a tokenless quorum step, an unauthenticated
    /// system path): no token entry, no use counted, no sudo.
    fn tokenless(target: Target, operation: Operation, path: String) -> Self {
        Self {
            target,
            operation,
            path,
            entry: None,
            last_use: false,
            sudo: false,
        }
    }
}

impl Vault {
    /// Handles a request: canonical path -> token -> use count -> route -> existence check ->
    /// policy -> sudo -> audit -> engine -> audit, the same pipeline for every entry point.
    ///
    /// # Errors
    ///
    /// [`VaultError::Sealed`]; [`VaultError::PermissionDenied`] for a missing, malformed, unknown,
    /// expired or used-up token, or a policy refusal; [`VaultError::UnsupportedPath`]; the
    /// engine's errors; [`VaultError::Internal`] when no audit device could record the request
    /// (fail closed: nothing was done).
    pub async fn handle(&self, mut request: VaultRequest) -> Result<VaultResponse> {
        let active = match self.active().await {
            Err(VaultError::Standby) if request.standby_read => {
                let reader = self.standby_reader().ok_or(VaultError::Standby)?;
                // Before any audit line: what a standby does not serve goes to the active node.
                if !Self::standby_may_serve(&reader, &request).await {
                    return Err(VaultError::Standby);
                }
                reader
            }
            other => other?,
        };
        let broker = active.audit_snapshot();
        let now = active.clock().now();
        // Set once this request has taken the token's last use: whatever happens next, the
        // token's children and leases go when the request ends.
        let mut spent = None;
        let result = if broker.devices().is_empty() {
            // No audit device enabled: nothing to record, so skip building the records, and the
            // body moves to the handler without a copy.
            match self.prepare(&active, &mut request, None, &mut spent).await {
                Ok(prepared) => {
                    let data = std::mem::take(&mut request.data);
                    self.respond(&active, prepared, &request, data, now).await
                }
                Err(err) => Err(err),
            }
        } else {
            self.handle_audited(&active, &broker, &mut request, now, &mut spent)
                .await
        };
        if let Some(id) = spent {
            active.revoke_token_tree(&id, now).await?;
        }
        result
    }

    /// Whether a standby serves `request` itself: a KV read or list, a transit encryption or
    /// decryption, or a token's lookup of itself, with no wrapping.
    async fn standby_may_serve(reader: &Active, request: &VaultRequest) -> bool {
        if request.wrap_ttl.is_some() {
            return false;
        }
        // A token with uses to count, or one that expired (it is revoked on the spot), needs a
        // write: the active node's, before anything is audited here.
        if let Some(token) = &request.token {
            match reader
                .tokens()
                .resolve(token.expose_secret(), reader.clock().now())
                .await
            {
                Ok(crate::tokens::Resolved::Live(entry)) if entry.num_uses == 0 => {}
                Ok(crate::tokens::Resolved::Unknown) => {}
                _ => return false,
            }
        }
        let Ok(mut path) = crate::request_path::canonical(request.operation, &request.path) else {
            return false;
        };
        match Self::route(reader, request.operation, &mut path).await {
            // KV reads and lists; transit encryption and decryption (a key's settings are read
            // from the store on every request, only its immutable versions are cached).
            Target::Engine(mounted, rest) => match mounted.entry.kind.as_str() {
                "kv" => matches!(request.operation, Operation::Read | Operation::List),
                "transit" => {
                    request.operation == Operation::Update
                        && (rest.starts_with("encrypt/") || rest.starts_with("decrypt/"))
                }
                _ => false,
            },
            Target::Token(rest) => rest == "lookup-self" && request.operation == Operation::Read,
            _ => false,
        }
    }

    async fn handle_audited(
        &self,
        active: &Arc<Active>,
        broker: &Broker,
        request: &mut VaultRequest,
        now: std::time::SystemTime,
        spent: &mut Option<String>,
    ) -> Result<VaultResponse> {
        let id = crate::util::uuid()?;
        let mut auth = AuditAuth {
            client_token: request
                .token
                .as_ref()
                .map(|t| t.expose_secret().to_owned())
                .unwrap_or_default(),
            ..AuditAuth::default()
        };
        let prepared = self.prepare(active, request, Some(&mut auth), spent).await;
        let remote_address = request.connection.remote_addr.map(|a| a.to_string());
        let path = match &prepared {
            Ok(prepared) => prepared.path.clone(),
            Err(_) => request.path.trim_start_matches('/').to_owned(),
        };
        let mount = prepared
            .as_ref()
            .ok()
            .and_then(|p| audit_mount(&p.target, &active.cluster().id));
        let record = AuditRecord {
            id: &id,
            operation: request.operation.capability(),
            path: &path,
            data: &request.data,
            remote_address,
            auth: &auth,
            mount,
            wrap_ttl: request.wrap_ttl.map(|t| t.as_secs()),
        };
        let prepared = match prepared {
            Ok(prepared) => prepared,
            Err(err) => {
                broker
                    .log_request(&record, unix(now), Some(&err.to_string()))
                    .await?;
                return Err(err);
            }
        };
        broker.log_request(&record, unix(now), None).await?;
        // The one copy of the body: the handler takes it, the response's audit line still
        // shows the request as it came.
        let result = self
            .respond(active, prepared, request, request.data.clone(), now)
            .await;
        match &result {
            Ok(response) => {
                broker
                    .log_response(&record, unix(now), Some(response), None)
                    .await?;
            }
            Err(err) => {
                broker
                    .log_response(&record, unix(now), None, Some(&err.to_string()))
                    .await?;
            }
        }
        result
    }

    /// Authenticates, routes and authorises a request; fills in `auth` for the audit line as
    /// soon as the token is known. When the request takes the token's last use, `spent` is set
    /// to the token's hash (even if the request is then refused: a use is counted before the
    /// policy check, as Vault counts it).
    async fn prepare(
        &self,
        active: &Arc<Active>,
        request: &mut VaultRequest,
        auth: Option<&mut AuditAuth>,
        spent: &mut Option<String>,
    ) -> Result<Prepared> {
        let mut path = crate::request_path::canonical(request.operation, &request.path)?;
        let now = active.clock().now();
        let target = Self::route(active, request.operation, &mut path).await;
        // A wrapping token is checked before anything else looks at it, so that its one use
        // is not spent on a request that could not unwrap (Vault's order).
        if let Target::Sys(rest) = &target
            && matches!(
                rest.as_str(),
                "wrapping/lookup" | "wrapping/unwrap" | "wrapping/rewrap"
            )
        {
            check_wrapping_token(active, request, now).await?;
        }
        // The system paths Vault serves without a token (`sys/wrapping/lookup`): a token
        // presented is neither checked nor used.
        if let Target::Sys(rest) = &target
            && sys::system().is_unauthenticated(rest)
        {
            return Ok(Prepared::tokenless(target, request.operation, path));
        }
        // Logins (an auth method's unauthenticated paths) need no token; a secrets engine's
        // unauthenticated paths (PKI's CA certificate and CRL) are served tokenless only to
        // reads: nothing written, and no lease can be issued without a token.
        if let Target::Engine(mounted, rest) = &target
            && (mounted.entry.path.starts_with("auth/") || request.operation == Operation::Read)
            && mounted.backend.is_unauthenticated(rest)
        {
            return Ok(Prepared::tokenless(target, request.operation, path));
        }
        if request.quorum_without_token
            && let Target::Sys(rest) = &target
            && sys::is_tokenless_quorum(rest)
        {
            return Ok(Prepared::tokenless(target, request.operation, path));
        }
        let token = request
            .token
            .as_ref()
            .ok_or(VaultError::PermissionDenied)?
            .expose_secret();
        let entry = active
            .lookup_token(token, now)
            .await?
            .ok_or(VaultError::PermissionDenied)?;
        if !entry.bound_cidrs.is_empty() {
            let blocks = strongroom_logical::cidr::Cidr::parse_all(&entry.bound_cidrs)?;
            if !strongroom_logical::cidr::allowed(&blocks, request.connection.remote_addr) {
                return Err(VaultError::PermissionDenied);
            }
        }
        // The use is counted before anything else can refuse the request, so a refused request
        // spends a use too (Vault's order); the entry the rest of the pipeline sees is the one
        // after the count.
        let used = active
            .tokens()
            .use_once(entry)
            .await?
            .ok_or(VaultError::PermissionDenied)?;
        if used.last {
            *spent = Some(used.entry.id.clone());
        }
        let entry = used.entry;
        if let Some(auth) = auth {
            auth.accessor = entry.accessor.clone();
            auth.display_name = entry.display_name.clone();
            auth.policies = entry.policies.clone();
            auth.metadata = entry.meta.clone();
        }

        let mut operation = request.operation;
        if let Target::Engine(mounted, rest) = &target
            && matches!(operation, Operation::Create | Operation::Update)
        {
            // The body moves into the probe and back: the check reads it, nothing copies it.
            let mut probe =
                Request::new(operation, rest.clone()).with_data(std::mem::take(&mut request.data));
            let ctx = context(mounted, now);
            let exists = mounted.backend.exists(&ctx, &probe).await;
            request.data = std::mem::take(&mut probe.data);
            operation = match exists? {
                Some(false) => Operation::Create,
                _ => Operation::Update,
            };
        }
        if let Target::Cubbyhole(rest) = &target
            && matches!(operation, Operation::Create | Operation::Update)
            && !entry.is_batch()
        {
            // The caller's own cubbyhole decides create or update, as an engine's check does.
            let exists = sys::cubbyhole_exists(active, &entry.id, rest).await?;
            operation = if exists {
                Operation::Update
            } else {
                Operation::Create
            };
        }
        // The token store's roles have an existence check too (a new role is a create).
        if let Target::Token(rest) = &target
            && matches!(operation, Operation::Create | Operation::Update)
        {
            let probe =
                Request::new(operation, rest.clone()).with_data(std::mem::take(&mut request.data));
            let exists = sys::exists(sys::token_store(), self, active, &probe).await;
            request.data = probe.data;
            operation = match exists? {
                Some(false) => Operation::Create,
                _ => Operation::Update,
            };
        }

        let acl = active.policies().acl(&entry.policies).await?;
        let mut policy_request =
            strongroom_policy::Request::new(policy_operation(operation), path.clone());
        // `min_wrapping_ttl` and `max_wrapping_ttl` decide on the TTL asked for.
        if let Some(ttl) = request.wrap_ttl.filter(|t| !t.is_zero()) {
            policy_request = policy_request.with_wrap_ttl(ttl);
        }
        let mut decision = acl.decide(&policy_request);
        // The body is converted for the policy only when the rule that decides looks at
        // parameters (allowed, denied or required ones); otherwise it is not copied, and the
        // decision without them is the decision.
        if decision
            .rule
            .is_some_and(strongroom_policy::CompiledRule::reads_parameters)
        {
            let mut with_parameters = policy_request;
            for (name, value) in &request.data {
                with_parameters = with_parameters.with_parameter(name.clone(), policy_value(value));
            }
            decision = acl.decide(&with_parameters);
        }
        if !decision.allowed {
            return Err(VaultError::PermissionDenied);
        }
        let caps = decision.capabilities;
        let sudo = caps.contains(strongroom_policy::Capabilities::SUDO)
            || caps.contains(strongroom_policy::Capabilities::ROOT);
        let needs_sudo = match &target {
            Target::Sys(rest) => sys::needs_sudo(sys::system(), rest),
            Target::Token(rest) => sys::needs_sudo(sys::token_store(), rest),
            Target::Engine(mounted, rest) => {
                // As written or without its trailing `/`, as for the core's own lists.
                mounted.backend.needs_sudo(rest)
                    || mounted.backend.needs_sudo(rest.trim_end_matches('/'))
            }
            Target::Cubbyhole(_) | Target::Nowhere | Target::Vacant => false,
        };
        if needs_sudo && !sudo {
            return Err(VaultError::PermissionDenied);
        }
        if let Target::Nowhere = target {
            return Err(VaultError::NoRoute(path));
        }
        Ok(Prepared {
            target,
            operation,
            path,
            entry: Some(entry),
            last_use: used.last,
            sudo,
        })
    }

    /// Dispatches an authorised request, then wraps the answer if it was asked to be.
    async fn respond(
        &self,
        active: &Arc<Active>,
        prepared: Prepared,
        request: &VaultRequest,
        data: Map<String, Value>,
        now: std::time::SystemTime,
    ) -> Result<VaultResponse> {
        let path = prepared.path.clone();
        let list = prepared.operation == Operation::List;
        // A system path served without a token (`sys/wrapping/lookup`) makes no wrapping
        // tokens: anyone could mint them without limit.
        // Nor does a secrets engine's tokenless read (PKI's `ca/pem`): only a login (an auth
        // mount's tokenless path) is wrapped without a token.
        let wrap_ttl = match (&prepared.target, &prepared.entry) {
            (Target::Sys(_), None) => None,
            (Target::Engine(mounted, _), None) if !mounted.entry.path.starts_with("auth/") => None,
            _ => request.wrap_ttl,
        };
        let approle = matches!(&prepared.target, Target::Engine(m, _) if m.entry.kind == "approle");
        let response = self.dispatch(active, prepared, request, data, now).await?;
        // A raw body (a certificate, a CRL) is public and sent as it is, never wrapped.
        let wrap_ttl = if response.raw_body.is_some() {
            None
        } else {
            wrap_ttl
        };
        if list && !response.has_body() && wrap_ttl.is_some_and(|t| !t.is_zero()) {
            // Nothing to list is nothing to wrap: Vault answers 404 before making a token.
            return Err(VaultError::UnsupportedPath);
        }
        wrap(active, &path, approle, wrap_ttl, response, now).await
    }

    async fn dispatch(
        &self,
        active: &Arc<Active>,
        prepared: Prepared,
        request: &VaultRequest,
        data: Map<String, Value>,
        now: std::time::SystemTime,
    ) -> Result<VaultResponse> {
        let Prepared {
            target,
            operation,
            path,
            entry,
            last_use,
            sudo,
        } = prepared;
        let token = request
            .token
            .as_ref()
            .map_or("", crate::ClientToken::expose_secret);
        // `None` only for the quorum endpoints a server opens without a token (see `prepare`).
        let caller = |entry: Option<crate::tokens::TokenEntry>| {
            entry.map(|entry| sys::Caller {
                entry,
                token: token.to_owned(),
                last_use,
                sudo,
            })
        };
        let builtin = match &target {
            Target::Token(_) => sys::token_store(),
            _ => sys::system(),
        };
        match target {
            Target::Sys(rest) | Target::Token(rest) => {
                let system = sys::System::new(self, active, caller(entry), request);
                sys::handle(builtin, system, operation, &rest, data).await
            }
            Target::Cubbyhole(rest) => {
                // A batch token has no cubbyhole (nothing of it is stored), as in Vault.
                if entry
                    .as_ref()
                    .is_some_and(crate::tokens::TokenEntry::is_batch)
                {
                    return Err(VaultError::invalid(
                        "cubbyhole operations are only supported by 'service' type tokens",
                    ));
                }
                let system = sys::System::new(self, active, caller(entry), request);
                sys::handle(sys::cubbyhole(), system, operation, &rest, data).await
            }
            Target::Nowhere => Err(VaultError::NoRoute(path)),
            Target::Vacant if operation == Operation::Read => Ok(VaultResponse::empty()),
            Target::Vacant => Err(VaultError::UnsupportedPath),
            Target::Engine(mounted, rest) => {
                // Held until the lease or login token is registered: an unmount waits for it,
                // then revokes what the mount issued (see `Mounted::gate`).
                let gate = Arc::clone(&mounted.gate);
                let open = gate.read().await;
                if !*open {
                    return Err(VaultError::UnsupportedPath);
                }
                let ctx = context(&mounted, now);
                let mut engine_request = Request::new(operation, rest)
                    .with_data(data)
                    .with_connection(request.connection.clone());
                // The token's details move into the engine's view of the caller (no copies on
                // the hot path); what a lease needs of the token is kept aside.
                let mut lease_owner = None;
                if let Some(entry) = entry {
                    lease_owner = Some((entry.lease_owner().to_owned(), entry.expire_time));
                    let mut client = strongroom_logical::ClientInfo::default();
                    client.accessor = entry.accessor;
                    client.policies = entry.policies;
                    client.display_name = entry.display_name;
                    client.metadata = entry.meta;
                    engine_request = engine_request.with_client(client);
                }
                // User lockout: a login (no token) naming an identity the method can lock.
                let mut ticket = None;
                if lease_owner.is_none()
                    && mounted.entry.path.starts_with("auth/")
                    && let Some(identity) = mounted.backend.login_identity(&engine_request)
                {
                    let config = crate::lockout::resolve(
                        active.user_lockouts(),
                        &mounted.entry.kind,
                        mounted.entry.config.user_lockout_config.as_ref(),
                    );
                    if !config.disabled {
                        match active
                            .lockouts()
                            .admit(&mounted.entry.accessor, &identity, &config, now)
                            .await?
                        {
                            crate::lockout::Admission::Locked => {
                                return Err(mounted
                                    .backend
                                    .locked_login(&ctx, &engine_request)
                                    .await
                                    .into());
                            }
                            crate::lockout::Admission::Proceed(admitted) => {
                                ticket = Some(admitted);
                            }
                            crate::lockout::Admission::Uncounted => {}
                        }
                    }
                }
                let response = match mounted.backend.handle(&ctx, engine_request).await {
                    Ok(response) => response,
                    Err(err) => {
                        if let (
                            Some(ticket),
                            strongroom_logical::LogicalError::InvalidCredentials(_),
                        ) = (ticket, &err)
                        {
                            ticket.failed(now).await?;
                        }
                        return Err(err.into());
                    }
                };
                let mut out = VaultResponse {
                    not_found: response.not_found,
                    failed: response.failed,
                    raw_body: response.raw,
                    accepted: response.accepted,
                    lease_duration: response.lease_duration_hint.map_or(0, |d| d.as_secs()),
                    data: response.data,
                    warnings: response.warnings,
                    ..VaultResponse::default()
                };
                if let Some(secret) = response.secret {
                    // A secret is tracked under the token that asked for it; a login path has
                    // none to tie it to.
                    let (token_hash, token_expire) = lease_owner.as_ref().ok_or_else(|| {
                        VaultError::Internal("a secret was issued without a token".into())
                    })?;
                    let below = path
                        .strip_prefix(mounted.entry.path.as_str())
                        .unwrap_or(&path);
                    let (lease_id, ttl, renewable) = active
                        .leases()
                        .register(NewLease {
                            mount: &mounted,
                            path: below,
                            secret,
                            token_hash,
                            token_expire: *token_expire,
                            default_ttl: ctx.default_lease_ttl,
                            max_ttl: ctx.max_lease_ttl,
                            now,
                        })
                        .await?;
                    if last_use {
                        // The lease goes with the token when this request ends; the secret
                        // must not leave (Vault's rule and wording).
                        return Err(VaultError::invalid(
                            "Secret cannot be returned; token had one use left, so leased \
                             credentials were immediately revoked.",
                        ));
                    }
                    out.lease_id = lease_id;
                    out.lease_duration = ttl;
                    out.renewable = renewable;
                }
                if let Some(login) = response.auth {
                    if !mounted.entry.path.starts_with("auth/") {
                        return Err(VaultError::Internal(
                            "a secrets engine answered with a login".into(),
                        ));
                    }
                    // As in Vault: a login whose token could not be used from here fails.
                    let blocks = strongroom_logical::cidr::Cidr::parse_all(&login.bound_cidrs)?;
                    if !strongroom_logical::cidr::allowed(&blocks, request.connection.remote_addr) {
                        return Err(VaultError::PermissionDenied);
                    }
                    out.auth = Some(login_token(active, &mounted, &ctx, login, &path, now).await?);
                    if let Some(ticket) = ticket {
                        ticket.succeeded();
                    }
                }
                Ok(out)
            }
        }
    }

    /// Logs in through an auth method (`auth/userpass/login/alice`, `auth/approle/login`):
    /// no token needed; the answer's `auth` holds the new one.
    ///
    /// # Errors
    ///
    /// The method's refusal ([`VaultError::Logical`] with an invalid-request error), or
    /// [`VaultError::PermissionDenied`] for a path that is not a login path.
    pub async fn login(&self, path: &str, data: Value) -> Result<VaultResponse> {
        let data = match data {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        self.handle(VaultRequest::new(Operation::Update, path).with_data(data))
            .await
    }

    /// Reads `path` with `token`.
    ///
    /// # Errors
    ///
    /// As [`handle`](Self::handle).
    pub async fn read(
        &self,
        token: &(impl crate::AsToken + ?Sized),
        path: &str,
    ) -> Result<VaultResponse> {
        self.handle(
            VaultRequest::new(Operation::Read, path)
                .with_token(crate::client_token::token_text(token)),
        )
        .await
    }

    /// Writes `data` to `path` with `token`.
    ///
    /// # Errors
    ///
    /// As [`handle`](Self::handle).
    pub async fn write(
        &self,
        token: &(impl crate::AsToken + ?Sized),
        path: &str,
        data: Value,
    ) -> Result<VaultResponse> {
        let data = match data {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            _ => return Err(VaultError::invalid("request data must be a JSON object")),
        };
        self.handle(
            VaultRequest::new(Operation::Update, path)
                .with_token(crate::client_token::token_text(token))
                .with_data(data),
        )
        .await
    }

    /// Lists `path` with `token`.
    ///
    /// # Errors
    ///
    /// As [`handle`](Self::handle).
    pub async fn list(
        &self,
        token: &(impl crate::AsToken + ?Sized),
        path: &str,
    ) -> Result<VaultResponse> {
        self.handle(
            VaultRequest::new(Operation::List, path)
                .with_token(crate::client_token::token_text(token)),
        )
        .await
    }

    /// Deletes `path` with `token`.
    ///
    /// # Errors
    ///
    /// As [`handle`](Self::handle).
    pub async fn delete(
        &self,
        token: &(impl crate::AsToken + ?Sized),
        path: &str,
    ) -> Result<VaultResponse> {
        self.handle(
            VaultRequest::new(Operation::Delete, path)
                .with_token(crate::client_token::token_text(token)),
        )
        .await
    }
}

/// Checks the wrapping token a `sys/wrapping/{lookup,unwrap,rewrap}` request names (its `token`
/// field, else its own token) before the pipeline counts any use: a token that is not a live
/// wrapping token gets Vault's 400, a `token` field that is no string or empty Vault's 403.
async fn check_wrapping_token(
    active: &Active,
    request: &VaultRequest,
    now: std::time::SystemTime,
) -> Result<()> {
    let denied = |why: &str| VaultError::Denied(format!("error validating wrapping token: {why}"));
    let token = match request.data.get("token") {
        None | Some(Value::Null) => match &request.token {
            Some(token) if !token.expose_secret().is_empty() => token.expose_secret(),
            _ => return Err(denied("token is empty")),
        },
        Some(Value::String(token)) if token.is_empty() => {
            return Err(denied("empty token in request body"));
        }
        Some(Value::String(token)) => token.as_str(),
        Some(_) => return Err(denied("could not decode token in request body")),
    };
    match active.lookup_token(token, now).await? {
        Some(entry) if sys::wrapping::is_wrapping(&entry) => Ok(()),
        _ => Err(VaultError::invalid(sys::wrapping::INVALID)),
    }
}

/// Wraps `response` when the request asked for it (`wrap_ttl`) or the answer is a rewrap: a new
/// single-use token holds the answer in its cubbyhole (its warnings too), and the caller gets
/// only the token. Errors and empty answers are never wrapped.
async fn wrap(
    active: &Active,
    path: &str,
    approle: bool,
    wrap_ttl: Option<std::time::Duration>,
    mut response: VaultResponse,
    now: std::time::SystemTime,
) -> Result<VaultResponse> {
    use strongroom_storage::Storage as _;
    let rewrap = response.rewrap.take();
    let asked = wrap_ttl.filter(|t| !t.is_zero());
    // The shorter of the two wins, as in Vault.
    let ttl = match (asked, rewrap.as_ref().map(|r| r.ttl)) {
        (Some(a), Some(r)) => a.min(r),
        (a, r) => match a.or(r) {
            Some(ttl) => ttl,
            None => return Ok(response),
        },
    };
    // Anything with a body is wrapped, a partly failed or not-found answer included: what a
    // policy requires to be wrapped never leaves in the clear.
    if ttl.is_zero() || !response.has_body() {
        return Ok(response);
    }
    let creation_path = rewrap
        .as_ref()
        .map_or_else(|| path.to_owned(), |r| r.creation_path.clone());
    let wrapped_accessor = match (&response.auth, &response.data) {
        (Some(auth), _) => auth.accessor.clone(),
        (None, Some(data)) if approle => data
            .get("secret_id_accessor")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    };
    let body = match rewrap {
        Some(rewrap) => rewrap.response,
        None => serde_json::to_string(&response.envelope(path, &crate::util::uuid()?))
            .map_err(|e| VaultError::Internal(format!("encoding the wrapped response: {e}")))?,
    };
    let (token, entry) = active.tokens().create_wrapping(path, ttl, now).await?;
    let store = async {
        let cubbyhole = crate::tokens::cubbyhole(active.storage(), &entry.id)?;
        let encode = |value: Value| {
            serde_json::to_vec(&value)
                .map_err(|e| VaultError::Internal(format!("encoding wrapping information: {e}")))
        };
        cubbyhole
            .put(
                sys::wrapping::RESPONSE_KEY,
                encode(serde_json::json!({ "response": body }))?,
            )
            .await?;
        cubbyhole
            .put(
                sys::wrapping::WRAPINFO_KEY,
                encode(serde_json::json!({
                    "creation_ttl": entry.ttl,
                    "creation_time": crate::util::rfc3339(entry.creation_time),
                    "creation_path": creation_path,
                }))?,
            )
            .await?;
        Ok::<_, VaultError>(())
    };
    if let Err(err) = store.await {
        // Nothing half made is left: the token goes, its cubbyhole with it.
        active.revoke_token_tree(&entry.id, now).await?;
        return Err(err);
    }
    // The warnings stay inside the wrapped answer, as OpenBao keeps them.
    Ok(VaultResponse {
        wrap_info: Some(crate::request::WrapInfo {
            token: token.into(),
            accessor: entry.accessor,
            ttl: entry.ttl,
            creation_time: entry.creation_time,
            creation_path,
            wrapped_accessor,
        }),
        ..VaultResponse::default()
    })
}

/// The token of a login an auth method accepted: its TTL within the auth mount's default and
/// maximum, its display name prefixed with the mount (`userpass-alice`), an orphan.
async fn login_token(
    active: &Active,
    mounted: &Mounted,
    ctx: &Context,
    login: strongroom_logical::AuthDescriptor,
    path: &str,
    now: std::time::SystemTime,
) -> Result<AuthInfo> {
    let source = mounted
        .entry
        .path
        .trim_start_matches("auth/")
        .replace('/', "-");
    let max = login
        .max_ttl
        .filter(|d| !d.is_zero())
        .map_or(ctx.max_lease_ttl, |d| d.min(ctx.max_lease_ttl));
    let ttl = if login.ttl.is_zero() {
        ctx.default_lease_ttl
    } else {
        login.ttl
    }
    .min(max);
    let periodic = login.period.is_some_and(|p| !p.is_zero());
    // Policy names as Vault sanitises them: trimmed, lower-cased, without duplicates.
    let mut policies: Vec<String> = login
        .policies
        .iter()
        .map(|p| p.trim().to_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    policies.sort();
    policies.dedup();
    let request = crate::tokens::TokenRequest {
        policies,
        no_default_policy: login.no_default_policy,
        ttl: Some(ttl),
        explicit_max_ttl: (!periodic || login.max_ttl.is_some()).then_some(max),
        // A period never exceeds the mount's maximum.
        period: login.period.filter(|p| !p.is_zero()).map(|p| p.min(max)),
        num_uses: login.num_uses,
        renewable: Some(login.renewable),
        no_parent: true,
        display_name: format!("{source}{}", login.display_name)
            .trim_end_matches('-')
            .to_owned(),
        meta: login.metadata,
        bound_cidrs: login.bound_cidrs,
        mount: Some(mounted.entry.path.clone()),
        internal: login.internal,
        token_type: None,
    };
    let (token, entry) = active.tokens().create_login(request, path, now).await?;
    Ok(AuthInfo {
        client_token: token.into(),
        accessor: entry.accessor,
        policies: entry.policies,
        metadata: entry.meta,
        lease_duration: entry.ttl,
        renewable: entry.renewable,
        orphan: true,
        num_uses: entry.num_uses,
        token_type: entry.token_type,
    })
}
