//! High availability over HTTP: a standby forwards what it cannot serve to the active node,
//! or redirects the client there (307), as Vault does.
//!
//! A standby serves `sys/health`, `sys/seal-status`, `sys/init`, `sys/unseal`, `sys/leader`
//! and `sys/metrics` itself; everything else goes to the active node's `api_addr`, with the
//! client's headers (its token among them), body and query. The active node must be able to
//! tell a forwarded request from a client's, since it takes the client's address from it (for
//! audit and CIDR-bound tokens): a standby signs what it forwards with HMAC-SHA256 under a key
//! kept inside the barrier (only unsealed nodes of the cluster have it), over the client's
//! address, a timestamp, the method and the path. A request with a bad or stale signature is
//! refused; a request signed by no one carries no client address but its own.
//!
//! When the client sends `X-Vault-No-Request-Forwarding`, when forwarding fails (the active
//! node unreachable) or when a forwarded request arrives at a node that is no longer active,
//! the answer is a 307 to the active node's address, with the same path and query.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;
use serde_json::json;
use strongroom_core::Vault;

use crate::with_headers;

/// The header a client sends to be redirected rather than forwarded (Vault's).
pub(crate) const NO_FORWARDING: &str = "x-vault-no-request-forwarding";
/// The client's address, as the forwarding standby saw it.
const FORWARDED_FOR: &str = "x-strongroom-forwarded-for";
/// When the standby forwarded the request (Unix seconds).
const FORWARDED_AT: &str = "x-strongroom-forwarded-at";
/// The standby's signature (hex HMAC-SHA256) over the forwarded request.
const FORWARDED_SIG: &str = "x-strongroom-forwarded-signature";

/// How far a signature's timestamp may be from the receiving node's clock.
const MAX_SKEW: Duration = Duration::from_secs(60);
/// The longest a forwarded request may take (Vault's default maximum request duration).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(90);

/// What the forwarding middleware needs: the vault and an HTTP client for the active node.
#[derive(Clone)]
pub(crate) struct Forwarder {
    vault: Vault,
    client: Option<reqwest::Client>,
}

impl Forwarder {
    pub(crate) fn new(vault: Vault) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(FORWARD_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| tracing::warn!(error = %e, "no HTTP client for request forwarding; standbys will redirect"))
            .ok();
        Self { vault, client }
    }
}

/// Paths a standby answers itself.
fn served_locally(path: &str) -> bool {
    matches!(
        path,
        "/v1/sys/health"
            | "/v1/sys/seal-status"
            | "/v1/sys/init"
            | "/v1/sys/unseal"
            | "/v1/sys/leader"
            | "/v1/sys/metrics"
    )
}

/// The text the standby signs: the time, the client's address, the method, the path and
/// query, and the body's SHA-256 (so a captured signature cannot carry another body).
fn signed_text(
    at: u64,
    client: &str,
    method: &Method,
    path_and_query: &str,
    body: &[u8],
) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, body);
    let digest: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("strongroom-forward-v1\n{at}\n{client}\n{method}\n{path_and_query}\n{digest}")
}

fn sign(key: &[u8], text: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let tag = ring::hmac::sign(&key, text.as_bytes());
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Why a request claiming to be forwarded was not believed.
fn refused_signature() -> Response {
    with_headers(
        StatusCode::FORBIDDEN,
        Some(json!({"errors": ["invalid request forwarding signature"]})),
    )
}

/// Checks a forwarded request's signature: `Ok(Some(client))` for a good one, `Ok(None)` for
/// a request nobody forwarded, `Err` (a 403) for a bad or stale one. The body is read (it is
/// in memory already) and put back.
async fn verify(vault: &Vault, request: Request) -> Result<(Option<IpAddr>, Request), Response> {
    let headers = request.headers();
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (for_, at, sig) = (text(FORWARDED_FOR), text(FORWARDED_AT), text(FORWARDED_SIG));
    if for_.is_none() && at.is_none() && sig.is_none() {
        return Ok((None, request));
    }
    let (Some(client), Some(at), Some(sig)) = (for_, at, sig) else {
        return Err(refused_signature());
    };
    let Some(key) = vault.forwarding_key() else {
        return Err(refused_signature());
    };
    let (Ok(at_secs), Some(tag), Ok(ip)) =
        (at.parse::<u64>(), unhex(&sig), client.parse::<IpAddr>())
    else {
        return Err(refused_signature());
    };
    if now_secs().abs_diff(at_secs) > MAX_SKEW.as_secs() {
        return Err(refused_signature());
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = body.collect().await.map(|b| b.to_bytes()) else {
        return Err(refused_signature());
    };
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let text = signed_text(at_secs, &client, &parts.method, path_and_query, &bytes);
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_slice());
    // Constant-time comparison inside ring.
    ring::hmac::verify(&key, text.as_bytes(), &tag).map_err(|_| refused_signature())?;
    Ok((Some(ip), Request::from_parts(parts, Body::from(bytes))))
}

/// The 307 to the active node, Vault's `respondStandby`.
fn redirect(vault: &Vault, request: &Request) -> Response {
    let Some(active) = vault.active_address() else {
        return with_headers(
            StatusCode::SERVICE_UNAVAILABLE,
            Some(json!({"errors": ["no active Vault instance found"]})),
        );
    };
    let Ok(base) = reqwest::Url::parse(&active) else {
        return with_headers(
            StatusCode::SERVICE_UNAVAILABLE,
            Some(json!({"errors": ["no active Vault instance found"]})),
        );
    };
    let mut location = base;
    location.set_path(request.uri().path());
    location.set_query(request.uri().query());
    let mut response = with_headers(StatusCode::TEMPORARY_REDIRECT, None);
    if let Ok(value) = HeaderValue::from_str(location.as_str()) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Headers that belong to one connection, not to the request (RFC 9110 §7.6.1), and ours.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
            | FORWARDED_FOR
            | FORWARDED_AT
            | FORWARDED_SIG
    )
}

/// Sends `request` to the active node at `active`; `None` when it could not be delivered (the
/// caller redirects instead).
async fn forward(
    client: &reqwest::Client,
    key: &[u8],
    active: &str,
    client_ip: Option<IpAddr>,
    request: Request,
) -> Result<Response, Request> {
    let Ok(mut url) = reqwest::Url::parse(active) else {
        return Err(request);
    };
    url.set_path(request.uri().path());
    url.set_query(request.uri().query());
    let (parts, body) = request.into_parts();
    // The limits middleware has read the body already (and checked its size): this is a copy
    // of bytes in memory.
    let Ok(bytes) = body.collect().await.map(|b| b.to_bytes()) else {
        return Err(Request::from_parts(parts, Body::empty()));
    };
    let client_text = client_ip.map_or_else(String::new, |ip| ip.to_string());
    let at = now_secs();
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let signature = sign(
        key,
        &signed_text(at, &client_text, &parts.method, path_and_query, &bytes),
    );
    let mut headers = HeaderMap::new();
    for (name, value) in &parts.headers {
        if !hop_by_hop(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    for (name, value) in [
        (FORWARDED_FOR, client_text.as_str()),
        (FORWARDED_AT, &at.to_string()),
        (FORWARDED_SIG, signature.as_str()),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    let sent = client
        .request(parts.method.clone(), url)
        .headers(headers)
        .body(bytes.clone())
        .send()
        .await;
    let answer = match sent {
        Ok(answer) => answer,
        Err(err) => {
            tracing::warn!(error = %err, "forwarding to the active node failed; redirecting");
            return Err(Request::from_parts(parts, Body::from(bytes)));
        }
    };
    let status = answer.status();
    let mut out_headers = HeaderMap::new();
    for (name, value) in answer.headers() {
        if !hop_by_hop(name) {
            out_headers.append(name.clone(), value.clone());
        }
    }
    let Ok(body) = answer.bytes().await else {
        // The request reached the active node; its answer was lost. Not safe to redirect (it
        // may have been applied): a gateway error.
        return Ok(with_headers(
            StatusCode::BAD_GATEWAY,
            Some(json!({"errors": ["the active node's answer to the forwarded request was lost"]})),
        ));
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = out_headers;
    Ok(response)
}

/// Middleware: on a standby, forwards (or redirects) every request it cannot serve; on any
/// node, checks the signature of a forwarded request and takes the client's address from it.
pub(crate) async fn standby(
    State(forwarder): State<Forwarder>,
    request: Request,
    next: Next,
) -> Response {
    let vault = &forwarder.vault;
    if !vault.ha_enabled() {
        return next.run(request).await;
    }
    let (forwarded_from, mut request) = match verify(vault, request).await {
        Ok(verified) => verified,
        Err(refusal) => return refusal,
    };
    if let Some(ip) = forwarded_from {
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(ip, 0)));
    }
    if !vault.is_standby() || served_locally(request.uri().path()) {
        return next.run(request).await;
    }
    if request.uri().path() == "/v1/sys/seal" {
        // Vault's answer: a standby holds nothing to seal for the cluster.
        return with_headers(
            StatusCode::INTERNAL_SERVER_ERROR,
            Some(
                json!({"errors": ["vault cannot seal when in standby mode; please restart instead"]}),
            ),
        );
    }
    let no_forwarding = request
        .headers()
        .get(NO_FORWARDING)
        .is_some_and(|v| !v.is_empty());
    // A forwarded request is never forwarded again (the node that sent it thought this one
    // active): the client is told where the active node is now.
    if no_forwarding || forwarded_from.is_some() {
        return redirect(vault, &request);
    }
    let Some(active) = vault.active_address() else {
        return with_headers(
            StatusCode::INTERNAL_SERVER_ERROR,
            Some(json!({"errors": ["local node not active but active cluster node not found"]})),
        );
    };
    let (Some(client), Some(key)) = (&forwarder.client, vault.forwarding_key()) else {
        return redirect(vault, &request);
    };
    let client_ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    match forward(client, key.as_slice(), &active, client_ip, request).await {
        Ok(response) => response,
        Err(request) => redirect(vault, &request),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_bind_every_part() {
        let key = [7_u8; 32];
        let base = sign(
            &key,
            &signed_text(1, "10.0.0.1", &Method::GET, "/v1/a?b=1", b"{}"),
        );
        for other in [
            signed_text(2, "10.0.0.1", &Method::GET, "/v1/a?b=1", b"{}"),
            signed_text(1, "10.0.0.2", &Method::GET, "/v1/a?b=1", b"{}"),
            signed_text(1, "10.0.0.1", &Method::PUT, "/v1/a?b=1", b"{}"),
            signed_text(1, "10.0.0.1", &Method::GET, "/v1/a?b=2", b"{}"),
            signed_text(1, "10.0.0.1", &Method::GET, "/v1/a?b=1", b"{ }"),
        ] {
            assert_ne!(sign(&key, &other), base);
        }
        assert_eq!(unhex(&base).map(|t| t.len()), Some(32));
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("abc"), None);
    }

    #[test]
    fn local_paths() {
        assert!(served_locally("/v1/sys/health"));
        assert!(!served_locally("/v1/sys/health/"));
        assert!(!served_locally("/v1/secret/data/x"));
        assert!(!served_locally("/v1/sys/step-down"));
    }
}
