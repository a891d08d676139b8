//! Vault's HTTP API over the Strongroom core, as an axum [`Router`].
//!
//! Use this crate to serve a [`Vault`] over HTTP — from the `strongroom` binary, or mounted
//! inside your own axum server next to your own routes. Everything goes through the same
//! [`Vault::handle`] pipeline an embedded caller uses; this crate only translates: Vault's paths
//! under `/v1/`, `X-Vault-Token` (or `Authorization: Bearer`), the `LIST` method and `?list=true`,
//! the response envelope, `{"errors": [...]}` bodies and Vault's status codes. It is the only
//! crate that knows status codes.
//!
//! ```
//! use strongroom_core::Vault;
//! use strongroom_storage::MemoryStorage;
//!
//! let vault = Vault::builder(MemoryStorage::new()).build()?;
//! let app: axum::Router = strongroom_http::router(vault);
//! # let _ = app;
//! # Ok::<_, strongroom_core::BuildError>(())
//! ```
#![forbid(unsafe_code)]

mod forward;
mod limits;
mod metrics;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Map, Value, json};
use strongroom_core::{
    ClientToken, InitRequest, SealStatus, Vault, VaultError, VaultRequest, VaultResponse,
};
use strongroom_logical::{ErrorKind, Operation};

/// The largest request body accepted, as Vault's default `max_request_size`: 32 MiB.
pub const MAX_REQUEST_SIZE: usize = 32 * 1024 * 1024;

/// What a server opens beyond Vault's default API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// Serve Vault's legacy rekey endpoints (`sys/rekey/init`, `update`, `verify`) without a
    /// token, as Vault does (OpenBao's listener option `disable_unauthed_rekey_endpoints =
    /// false`). Off by default: they then need a token whose policy grants the path, like
    /// OpenBao 2.7's `sys/rotate/root/*`.
    pub unauthenticated_rekey: bool,
    /// Serve Vault's legacy root generation endpoints (`sys/generate-root/attempt`, `update`)
    /// without a token (OpenBao's `disable_unauthed_generate_root_endpoints = false`). Off by
    /// default, as in OpenBao 2.7.
    pub unauthenticated_generate_root: bool,
    /// The largest request body (Vault's `max_request_size`): 32 MiB.
    pub max_request_size: usize,
    /// The most memory a request's JSON may be estimated to take once parsed (OpenBao's
    /// `max_request_json_memory`, same estimate): 32 MiB + 512 KiB; `None`: unlimited.
    pub max_request_json_memory: Option<usize>,
    /// The most strings (object keys included) a request's JSON may hold (OpenBao's
    /// `max_request_json_strings`): 1000; `None`: unlimited.
    pub max_request_json_strings: Option<usize>,
    /// How long a client may take to send the whole request body (Vault's
    /// `http_read_timeout`): 30 s.
    pub http_read_timeout: std::time::Duration,
    /// Requests handled at once; beyond it the answer is 503 (`sys/health` and
    /// `sys/seal-status` are exempt): 1024.
    pub max_requests_in_flight: usize,
    /// Request body bytes held at once by bodies larger than 64 KiB; beyond it such a request
    /// is answered 503: 256 MiB.
    pub max_request_body_memory: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            unauthenticated_rekey: false,
            unauthenticated_generate_root: false,
            max_request_size: MAX_REQUEST_SIZE,
            max_request_json_memory: Some(32 * 1024 * 1024 + 512 * 1024),
            max_request_json_strings: Some(1000),
            http_read_timeout: limits::DEFAULT_READ_TIMEOUT,
            max_requests_in_flight: 1024,
            max_request_body_memory: 256 * 1024 * 1024,
        }
    }
}

/// The router serving Vault's API for `vault`, with the default [`Options`].
///
/// It counts and times every request for `sys/metrics` (Prometheus text with
/// `?format=prometheus`, for a token allowed to read `sys/metrics`) and logs each request
/// through `tracing` at debug level, server errors at warn: method, path, status and duration,
/// never headers, query strings or bodies.
pub fn router(vault: Vault) -> Router {
    router_with(vault, Options::default())
}

/// The router serving Vault's API for `vault`, opening what `options` says.
pub fn router_with(vault: Vault, options: Options) -> Router {
    let metrics = Arc::new(metrics::Metrics::default());
    let sys_metrics = {
        let metrics = Arc::clone(&metrics);
        move |State(vault): State<Vault>,
              headers: HeaderMap,
              Query(query): Query<BTreeMap<String, String>>| {
            sys_metrics(vault, metrics, headers, query)
        }
    };
    let mut app = Router::new()
        .route("/v1/sys/health", get(health).head(health))
        .route("/v1/sys/seal-status", get(seal_status))
        .route("/v1/sys/init", get(init_status).put(init).post(init))
        .route("/v1/sys/unseal", post(unseal).put(unseal))
        .route("/v1/sys/leader", get(leader))
        .route("/v1/sys/metrics", get(sys_metrics));
    let mut legacy = Vec::new();
    if options.unauthenticated_rekey {
        legacy.extend([
            "/v1/sys/rekey/init",
            "/v1/sys/rekey/update",
            "/v1/sys/rekey/verify",
        ]);
    }
    if options.unauthenticated_generate_root {
        legacy.extend([
            "/v1/sys/generate-root/attempt",
            "/v1/sys/generate-root/update",
        ]);
    }
    for path in legacy {
        app = app.route(path, any(quorum_without_token));
    }
    let limits = Arc::new(limits::Limits::new(options));
    let forwarder = forward::Forwarder::new(vault.clone());
    app.route("/v1/{*path}", any(logical))
        // Inside the limits: a forwarded body was read and checked once, here.
        .layer(axum::middleware::from_fn_with_state(
            forwarder,
            forward::standby,
        ))
        // The limits read the body themselves (size, time, budget, JSON complexity).
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            limits,
            limits::enforce,
        ))
        .layer(axum::middleware::from_fn(clean_paths))
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            metrics::track,
        ))
        .with_state(vault)
}

/// Vault's legacy, unauthenticated rekey and root generation endpoints, for servers that
/// opened them: the core serves them through the same pipeline (audited), without a token, and
/// the answer is Vault's bare JSON (no envelope).
async fn quorum_without_token(
    State(vault): State<Vault>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    method: Method,
    uri: axum::http::Uri,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return body_rejected(&rejection),
    };
    let data = match body_object(&body) {
        Ok(data) => data,
        Err(message) => return bad_request(message),
    };
    let operation = match method.as_str() {
        "GET" => Operation::Read,
        "PUT" | "POST" => Operation::Update,
        "DELETE" => Operation::Delete,
        _ => {
            return with_headers(
                StatusCode::METHOD_NOT_ALLOWED,
                Some(json!({"errors": ["unsupported operation"]})),
            );
        }
    };
    let path = uri.path().trim_start_matches("/v1/");
    let mut request = VaultRequest::new(operation, path)
        .with_data(data)
        .without_token_for_quorum();
    if let Some(axum::Extension(axum::extract::ConnectInfo(peer))) = peer {
        request = request.with_connection(strongroom_logical::Connection::from_addr(peer.ip()));
    }
    match vault.handle(request).await {
        Ok(response) => match response.data {
            Some(data) => with_headers(StatusCode::OK, Some(Value::Object(data))),
            None => with_headers(StatusCode::NO_CONTENT, None),
        },
        Err(err) => error_response(&err),
    }
}

/// `GET sys/metrics`: authorised and audited by the core like any read of `sys/metrics`, then
/// rendered from the router's counters.
async fn sys_metrics(
    vault: Vault,
    metrics: Arc<metrics::Metrics>,
    headers: HeaderMap,
    query: BTreeMap<String, String>,
) -> Response {
    if !root_namespace(&headers) {
        return with_headers(
            StatusCode::NOT_FOUND,
            Some(json!({"errors": ["namespace not found"]})),
        );
    }
    let mut request = VaultRequest::new(Operation::Read, "sys/metrics");
    request.token = token_of(&headers);
    if let Err(err) = vault.handle(request).await {
        return error_response(&err);
    }
    let status = match vault.seal_status().await {
        Ok(status) => status,
        Err(err) => return error_response(&err),
    };
    let prometheus = query.get("format").is_some_and(|f| f == "prometheus");
    metrics::render(&metrics, prometheus, status.initialized, !status.sealed)
}

/// Go's `path.Clean`, keeping a trailing `/`: what Go's `ServeMux` redirects Vault's request
/// paths to (`//`, `.` and `..` segments as written in the URL; percent-encoded ones are the
/// core's to refuse).
fn clean(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut cleaned = String::with_capacity(path.len());
    cleaned.push('/');
    cleaned.push_str(&segments.join("/"));
    if path.ends_with('/') && cleaned.len() > 1 {
        cleaned.push('/');
    }
    cleaned
}

/// Middleware: a request whose path has empty, `.` or `..` segments is redirected (307, the
/// query kept) to its clean spelling, as OpenBao answers; no handler ever sees such a path.
async fn clean_paths(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let path = request.uri().path();
    let cleaned = clean(path);
    if cleaned == path {
        return next.run(request).await;
    }
    let location = match request.uri().query() {
        Some(query) => format!("{cleaned}?{query}"),
        None => cleaned,
    };
    let mut response = with_headers(StatusCode::TEMPORARY_REDIRECT, None);
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Every response says: do not cache (secrets travel in bodies).
fn with_headers(status: StatusCode, body: Option<Value>) -> Response {
    let mut response = match body {
        Some(body) => (status, axum::Json(body)).into_response(),
        None => status.into_response(),
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A raw body (Vault's `HTTPRawBody`): sent as it is with its content type; an empty one is
/// "no content", as Vault answers `ca/pem` on a mount without a CA.
fn raw_response(raw: strongroom_logical::RawBody) -> Response {
    if raw.body.is_empty() {
        return with_headers(StatusCode::NO_CONTENT, None);
    }
    let mut response = (StatusCode::OK, raw.body).into_response();
    let content_type = HeaderValue::from_str(&raw.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Vault's status code for an error category.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::UnsupportedPath => StatusCode::NOT_FOUND,
        ErrorKind::UnsupportedOperation => StatusCode::METHOD_NOT_ALLOWED,
        ErrorKind::InvalidRequest => StatusCode::BAD_REQUEST,
        ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        ErrorKind::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        ErrorKind::Sealed => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn error_response(err: &VaultError) -> Response {
    let kind = err.kind();
    let message = match kind {
        // Vault's wording for a 405, and for a path a mount does not serve, is a multi-error
        // list (a path no mount serves is not: `VaultError::NoRoute`).
        ErrorKind::UnsupportedOperation => format!("1 error occurred:\n\t* {err}\n\n"),
        _ if matches!(err, VaultError::UnsupportedPath) => {
            format!("1 error occurred:\n\t* {err}\n\n")
        }
        _ => err.to_string(),
    };
    let mut response = with_headers(status_of(kind), Some(json!({ "errors": [message] })));
    if matches!(err, VaultError::Standby) {
        // On a standby that tried to serve it: the forwarding layer sends it on instead (and
        // takes this header off whatever it answers).
        forward::mark_not_served_here(&mut response);
    }
    response
}

fn seal_status_json(status: &SealStatus) -> Value {
    let mut out = json!({
        "type": status.kind,
        "initialized": status.initialized,
        "sealed": status.sealed,
        "t": status.t,
        "n": status.n,
        "progress": status.progress,
        "nonce": status.nonce,
        "version": status.version,
        // OpenBao's name for the build's date.
        "commit_date": "",
        "migration": false,
        "recovery_seal": status.recovery_seal,
        "storage_type": status.storage_type,
    });
    // Vault tells the cluster's name and id only while unsealed.
    if let (Some(name), Some(id), Value::Object(fields)) =
        (&status.cluster_name, &status.cluster_id, &mut out)
    {
        fields.insert("cluster_name".into(), json!(name));
        fields.insert("cluster_id".into(), json!(id));
    }
    out
}

async fn seal_status(State(vault): State<Vault>) -> Response {
    match vault.seal_status().await {
        Ok(status) => with_headers(StatusCode::OK, Some(seal_status_json(&status))),
        Err(err) => error_response(&err),
    }
}

async fn health(
    State(vault): State<Vault>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let status = match vault.seal_status().await {
        Ok(status) => status,
        Err(err) => return error_response(&err),
    };
    // `None`: a value that is no status code.
    let code = |name: &str, default: u16| -> Option<StatusCode> {
        match query.get(name) {
            None => Some(StatusCode::from_u16(default).unwrap_or(StatusCode::OK)),
            Some(value) => value
                .parse::<u16>()
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok()),
        }
    };
    let standby_ok = match query.get("standbyok").map(String::as_str) {
        None => false,
        Some(value) => match parse_go_bool(value) {
            Some(ok) => ok,
            None => return with_headers(StatusCode::BAD_REQUEST, Some(json!({"errors": []}))),
        },
    };
    // Every code is checked, whichever applies, as OpenBao does.
    let (Some(uninit), Some(sealed), Some(standby_code), Some(active)) = (
        code("uninitcode", 501),
        code("sealedcode", 503),
        code("standbycode", 429),
        code("activecode", 200),
    ) else {
        // OpenBao's answer: a 400 with no message.
        return with_headers(StatusCode::BAD_REQUEST, Some(json!({"errors": []})));
    };
    let standby = vault.is_standby();
    let http = if !status.initialized {
        uninit
    } else if status.sealed {
        sealed
    } else if standby && !standby_ok {
        standby_code
    } else {
        active
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // OpenBao's answer while sealed or uninitialised: a standby whose replication is unknown.
    let (standby, replication) = if status.sealed {
        (true, "unknown")
    } else {
        (standby, "disabled")
    };
    let mut body = json!({
        "initialized": status.initialized,
        "sealed": status.sealed,
        "standby": standby,
        "replication_performance_mode": replication,
        "replication_dr_mode": replication,
        "server_time_utc": now,
        "version": status.version,
    });
    // As Vault: the cluster's name and id only while unsealed.
    if let (Some(name), Some(id), Value::Object(fields)) =
        (&status.cluster_name, &status.cluster_id, &mut body)
    {
        fields.insert("cluster_name".into(), json!(name));
        fields.insert("cluster_id".into(), json!(id));
    }
    with_headers(http, Some(body))
}

/// Go's `strconv.ParseBool`, as Vault reads `standbyok`.
fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// `sys/leader`, what `bao status` asks: without HA only `ha_enabled`, as OpenBao answers;
/// with HA the active node's addresses, and on the active node itself `is_self` and when it
/// became active. Fields without a value are left out, as OpenBao's `omitempty` does.
async fn leader(State(vault): State<Vault>) -> Response {
    let status = match vault.leader_status().await {
        Ok(status) => status,
        Err(err) => return error_response(&err),
    };
    let mut body = Map::new();
    body.insert("ha_enabled".into(), json!(status.ha_enabled));
    if status.is_self {
        body.insert("is_self".into(), json!(true));
    }
    if let Some(at) = status.active_time {
        let nanos = at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        body.insert(
            "active_time".into(),
            json!(strongroom_logical::time::rfc3339_nanos(nanos)),
        );
    }
    if !status.leader_address.is_empty() {
        body.insert("leader_address".into(), json!(status.leader_address));
    }
    if !status.leader_cluster_address.is_empty() {
        body.insert(
            "leader_cluster_address".into(),
            json!(status.leader_cluster_address),
        );
    }
    with_headers(StatusCode::OK, Some(Value::Object(body)))
}

async fn init_status(State(vault): State<Vault>) -> Response {
    match vault.is_initialized().await {
        Ok(initialized) => {
            with_headers(StatusCode::OK, Some(json!({ "initialized": initialized })))
        }
        Err(err) => error_response(&err),
    }
}

/// The request body as a JSON object (empty when there is no body), or the 400 to answer.
fn body_object(body: &Bytes) -> Result<Map<String, Value>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        // `bao write -f` sends `null`; Vault reads it as no data.
        Ok(Value::Null) => Ok(Map::new()),
        // Go's wording, as Vault decodes the body into a map.
        Ok(other) => Err(format!(
            "failed to decode JSON input: json: cannot unmarshal {} into Go value of type \
             map[string]interface {{}}",
            match other {
                Value::Array(_) => "array",
                Value::String(_) => "string",
                Value::Number(_) => "number",
                _ => "bool",
            }
        )),
        // serde_json stops at 128 levels of nesting, so no body can exhaust the stack;
        // OpenBao words its own depth limit this way.
        Err(e) if e.to_string().starts_with("recursion limit exceeded") => {
            Err("failed to decode JSON input: exceeded max depth".into())
        }
        Err(e) if e.is_eof() => Err("failed to decode JSON input: unexpected EOF".into()),
        Err(e) => Err(format!("failed to decode JSON input: {e}")),
    }
}

/// A body that could not be read: over the size limit is Vault's 413 with Go's message,
/// anything else a 400; both in Vault's error shape rather than axum's plain text.
fn body_rejected(rejection: &axum::extract::rejection::BytesRejection) -> Response {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return with_headers(
            StatusCode::PAYLOAD_TOO_LARGE,
            Some(json!({"errors": ["http: request body too large"]})),
        );
    }
    bad_request(format!(
        "failed to read the request body: {}",
        rejection.body_text()
    ))
}

fn bad_request(message: String) -> Response {
    with_headers(
        StatusCode::BAD_REQUEST,
        Some(json!({ "errors": [message] })),
    )
}

fn usize_field(data: &Map<String, Value>, name: &str) -> usize {
    data.get(name)
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0)
}

async fn init(State(vault): State<Vault>, body: Bytes) -> Response {
    let data = match body_object(&body) {
        Ok(data) => data,
        Err(message) => return bad_request(message),
    };
    let (mut shares, mut threshold) = (
        usize_field(&data, "secret_shares"),
        usize_field(&data, "secret_threshold"),
    );
    if shares == 0 {
        // With an auto-unseal seal Vault takes the recovery settings instead.
        shares = usize_field(&data, "recovery_shares");
        threshold = usize_field(&data, "recovery_threshold");
    }
    // PGP-encrypted shares are not offered: refused, never answered in the clear.
    for name in ["pgp_keys", "recovery_pgp_keys", "root_token_pgp_key"] {
        let given = match data.get(name) {
            Some(Value::Array(keys)) => Some(keys.len()),
            Some(Value::String(key)) if !key.is_empty() => Some(1),
            _ => None,
        };
        if let Some(count) = given {
            return bad_request(if name != "root_token_pgp_key" && count != shares {
                "invalid seal configuration: count mismatch between number of provided PGP keys \
                 and number of shares"
                    .to_owned()
            } else {
                format!("{name} is not supported: PGP-encrypted shares and tokens are not offered")
            });
        }
    }
    match vault.init(InitRequest::new(shares, threshold)).await {
        Ok(init) => {
            let hex: Vec<&str> = init.keys.iter().map(|k| k.expose_secret()).collect();
            let b64: Vec<&str> = init.keys_base64.iter().map(|k| k.expose_secret()).collect();
            let body = if init.recovery {
                json!({"keys": [], "keys_base64": [], "recovery_keys": hex, "recovery_keys_base64": b64, "root_token": init.root_token.expose_secret()})
            } else {
                json!({"keys": hex, "keys_base64": b64, "root_token": init.root_token.expose_secret()})
            };
            with_headers(StatusCode::OK, Some(body))
        }
        Err(err) => error_response(&err),
    }
}

async fn unseal(State(vault): State<Vault>, body: Bytes) -> Response {
    let data = match body_object(&body) {
        Ok(data) => data,
        Err(message) => return bad_request(message),
    };
    if data.get("reset").and_then(Value::as_bool) == Some(true) {
        // Vault's answer to a reset of an unsealed vault.
        if vault.seal_status().await.is_ok_and(|status| !status.sealed) {
            return bad_request("vault is unsealed".to_owned());
        }
        vault.unseal_reset();
        return seal_status(State(vault)).await;
    }
    let Some(key) = data.get("key").and_then(Value::as_str) else {
        return with_headers(
            StatusCode::BAD_REQUEST,
            Some(
                json!({"errors": ["'key' must be specified in request body as JSON, or 'reset' set to true"]}),
            ),
        );
    };
    match vault.unseal(key).await {
        Ok(status) => with_headers(StatusCode::OK, Some(seal_status_json(&status))),
        // Vault answers 400 here (its barrier's "not initialized"), where other requests to an
        // uninitialised server get 503.
        Err(VaultError::NotInitialized) => bad_request("Vault is not initialized".to_owned()),
        Err(err) => error_response(&err),
    }
}

fn token_of(headers: &HeaderMap) -> Option<ClientToken> {
    if let Some(token) = headers.get("x-vault-token").and_then(|v| v.to_str().ok()) {
        return Some(ClientToken::new(token));
    }
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(ClientToken::new)
}

/// The media type a PATCH must have.
const MERGE_PATCH: &str = "application/merge-patch+json";

/// OpenBao's answer to a PATCH that is not a JSON merge patch: 400 with Go's `mime` error for a
/// missing or malformed Content-Type, 415 for another media type. `None`: the PATCH may go on.
fn patch_content_type_refusal(headers: &HeaderMap) -> Option<Response> {
    let header = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = header.split(';').next().unwrap_or("").trim();
    if media.is_empty() {
        return Some(bad_request("mime: no media type".to_owned()));
    }
    let media = media.to_ascii_lowercase();
    (media != MERGE_PATCH).then(|| {
        with_headers(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Some(json!({"errors": [format!(
                "PATCH requires Content-Type of {MERGE_PATCH}, provided {media}"
            )]})),
        )
    })
}

/// Vault's response envelope (see [`VaultResponse::envelope`]), with a new request id.
fn envelope(response: &VaultResponse, path: &str) -> Value {
    response.envelope(path, &strongroom_core::new_request_id())
}

/// The TTL asked for in `X-Vault-Wrap-TTL`, as Vault reads it (seconds, or a Go duration);
/// `Err` holds Vault's 400 message.
fn wrap_ttl_of(headers: &HeaderMap) -> Result<Option<std::time::Duration>, String> {
    let Some(value) = headers.get("x-vault-wrap-ttl") else {
        return Ok(None);
    };
    let prefix = "error parsing X-Vault-Wrap-TTL header";
    // A value that does not read is refused, never taken for no wrapping.
    let text = value
        .to_str()
        .map_err(|_| format!("{prefix}: not valid text"))?
        .trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.starts_with('-') {
        return Err(format!("{prefix}: requested wrap ttl cannot be negative"));
    }
    strongroom_logical::time::parse_duration(&Value::String(text.to_owned()))
        .map(Some)
        .ok_or_else(|| format!("{prefix}: time: invalid duration \"{text}\""))
}

/// Whether the request's `X-Vault-Namespace` (if any) names the root namespace, the only one
/// there is: absent, empty, or `root`, with surrounding slashes ignored, as OpenBao 2.7.2
/// reads it (case-sensitive: `ROOT` is another namespace). Other namespaces do not exist, and
/// OpenBao answers 404 `namespace not found` for them before looking at the token.
fn root_namespace(headers: &HeaderMap) -> bool {
    headers
        .get("x-vault-namespace")
        .is_none_or(|v| matches!(v.to_str().map(|s| s.trim_matches('/')), Ok("" | "root")))
}

async fn logical(
    State(vault): State<Vault>,
    extensions: axum::http::Extensions,
    method: Method,
    headers: HeaderMap,
    path: Result<axum::extract::Path<String>, axum::extract::rejection::PathRejection>,
    Query(query): Query<BTreeMap<String, String>>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    // The TCP peer, or the client a verified standby forwarded for.
    let peer = extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0);
    // A path that does not decode (percent-encoded bytes that are not UTF-8): Vault's error
    // body, not the framework's plain text.
    let Ok(axum::extract::Path(path)) = path else {
        return bad_request("invalid request path: not UTF-8".to_owned());
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return body_rejected(&rejection),
    };
    if !root_namespace(&headers) {
        return with_headers(
            StatusCode::NOT_FOUND,
            Some(json!({"errors": ["namespace not found"]})),
        );
    }
    // Help for the path (`?help=1`, or the HELP method), from the declarations: whatever the
    // method, as Vault answers it.
    if query.get("help").is_some_and(|v| !v.is_empty()) || method.as_str() == "HELP" {
        let connection = peer.map_or_else(strongroom_logical::Connection::default, |p| {
            strongroom_logical::Connection::from_addr(p.ip())
        });
        return match vault
            .help(token_of(&headers).as_ref(), &path, &connection)
            .await
        {
            Ok(help) => with_headers(StatusCode::OK, Some(help)),
            Err(err) => error_response(&err),
        };
    }
    // OpenBao's rule, before the body is decoded: a PATCH is a JSON merge patch, said so in its
    // Content-Type.
    if method == Method::PATCH
        && let Some(refusal) = patch_content_type_refusal(&headers)
    {
        return refusal;
    }
    let mut data = match body_object(&body) {
        Ok(data) => data,
        Err(message) => return bad_request(message),
    };
    let list_query = query.get("list").is_some_and(|v| v == "true" || v == "1");
    let operation = match method.as_str() {
        // A read can have effects (issuing a credential); HEAD would run them and throw the
        // answer away. OpenBao answers 405, before anything runs.
        "HEAD" => {
            return with_headers(
                StatusCode::METHOD_NOT_ALLOWED,
                Some(json!({"errors": ["1 error occurred:\n\t* unsupported operation\n\n"]})),
            );
        }
        "GET" if list_query => Operation::List,
        "GET" => Operation::Read,
        "LIST" => Operation::List,
        "POST" | "PUT" => Operation::Update,
        "PATCH" => Operation::Patch,
        "DELETE" => Operation::Delete,
        _ => {
            return with_headers(
                StatusCode::METHOD_NOT_ALLOWED,
                Some(json!({"errors": ["unsupported method"]})),
            );
        }
    };
    if matches!(operation, Operation::Read | Operation::List) {
        for (key, value) in query {
            if key != "list" {
                data.entry(key).or_insert(Value::String(value));
            }
        }
    }
    let mut request = VaultRequest::new(operation, path.clone()).with_data(data);
    let standby_read = extensions.get::<forward::StandbyRead>().is_some();
    if standby_read {
        request = request.allow_standby_read();
    }
    if let Some(peer) = peer {
        // The TCP peer (no proxy headers are trusted): CIDR bounds are checked against it.
        request = request.with_connection(strongroom_logical::Connection::from_addr(peer.ip()));
    }
    // Sealing a sealed vault has nothing to do: Vault answers 204 (no token can be checked
    // while sealed, and nothing is opened by the answer).
    if operation == Operation::Update
        && path.trim_matches('/') == "sys/seal"
        && vault.seal_status().await.is_ok_and(|status| status.sealed)
    {
        return with_headers(StatusCode::NO_CONTENT, None);
    }
    request.token = token_of(&headers);
    match wrap_ttl_of(&headers) {
        Ok(ttl) => request.wrap_ttl = ttl,
        Err(message) => return bad_request(message),
    }
    match vault.handle(request).await {
        Ok(response) if response.raw_body.is_some() => {
            raw_response(response.raw_body.unwrap_or_default())
        }
        Ok(response) if response.accepted => {
            // Vault's 202 is a raw body made from the response: its request id is empty.
            let mut body = envelope(&response, &path);
            if let Some(id) = body.get_mut("request_id") {
                *id = json!("");
            }
            with_headers(StatusCode::ACCEPTED, Some(body))
        }
        Ok(response) if response.not_found => {
            with_headers(StatusCode::NOT_FOUND, Some(envelope(&response, &path)))
        }
        Ok(response) if response.failed.is_some() => with_headers(
            response.failed.map_or(StatusCode::BAD_REQUEST, status_of),
            Some(envelope(&response, &path)),
        ),
        Ok(response) if response.raw => with_headers(
            StatusCode::OK,
            Some(response.data.map_or(Value::Null, Value::Object)),
        ),
        Ok(response) if !response.has_body() => {
            if matches!(operation, Operation::Read | Operation::List) {
                with_headers(StatusCode::NOT_FOUND, Some(json!({"errors": []})))
            } else {
                with_headers(StatusCode::NO_CONTENT, None)
            }
        }
        Ok(response) => with_headers(StatusCode::OK, Some(envelope(&response, &path))),
        Err(err) => error_response(&err),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn wrap_ttl_headers_read_as_vault_reads_them() {
        use axum::http::{HeaderMap, HeaderValue};
        let of = |value: HeaderValue| {
            let mut headers = HeaderMap::new();
            headers.insert("x-vault-wrap-ttl", value);
            super::wrap_ttl_of(&headers)
        };
        let secs = std::time::Duration::from_secs;
        assert_eq!(super::wrap_ttl_of(&HeaderMap::new()), Ok(None));
        assert_eq!(of(HeaderValue::from_static("")), Ok(None));
        assert_eq!(of(HeaderValue::from_static("90")), Ok(Some(secs(90))));
        assert_eq!(of(HeaderValue::from_static("5m")), Ok(Some(secs(300))));
        assert_eq!(of(HeaderValue::from_static("1h")), Ok(Some(secs(3600))));
        assert_eq!(
            of(HeaderValue::from_static("-5")),
            Err(
                "error parsing X-Vault-Wrap-TTL header: requested wrap ttl cannot be negative"
                    .into()
            )
        );
        assert!(of(HeaderValue::from_static("soon")).is_err());
        // Bytes that are not text are refused, never read as "no wrapping".
        assert!(of(HeaderValue::from_bytes(b"\xff5m").unwrap()).is_err());
    }

    #[test]
    fn clean_is_go_path_clean_with_the_trailing_slash() {
        for (raw, clean) in [
            ("/v1/sys/seal", "/v1/sys/seal"),
            ("/v1/sys//seal", "/v1/sys/seal"),
            ("/v1/sys/./seal", "/v1/sys/seal"),
            ("/v1/sys/../sys/seal", "/v1/sys/seal"),
            ("/v1/sys/seal/.", "/v1/sys/seal"),
            ("/v1/secret/", "/v1/secret/"),
            ("/v1//secret//", "/v1/secret/"),
            ("/../..", "/"),
            ("/", "/"),
            ("/v1/sys/%2e/seal", "/v1/sys/%2e/seal"),
        ] {
            assert_eq!(super::clean(raw), clean, "{raw}");
        }
    }
}
