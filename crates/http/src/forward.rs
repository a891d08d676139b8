//! High availability over HTTP: a standby forwards what it cannot serve to the active node,
//! or redirects the client there (307), as Vault does.
//!
//! A standby serves `sys/health`, `sys/seal-status`, `sys/init`, `sys/unseal` and
//! `sys/leader` itself; everything else goes to the active node's `api_addr` (as the active
//! node advertised it inside the barrier), with the client's headers (its token among them),
//! body and query. The active node must be able to tell a forwarded request from a client's,
//! since it takes the client's address from it (for audit and CIDR-bound tokens): a standby
//! signs what it forwards with HMAC-SHA256 under a key kept inside the barrier (only unsealed
//! nodes of the cluster have it), over a timestamp, a random nonce, the client's address, the
//! method, the path and query, the headers that carry authority (token, namespace, wrapping,
//! MFA, policy override) and the body's digest. A request with a bad or stale signature, or a
//! nonce seen before, is refused; a request signed by no one carries no client address but its
//! own. Use `https` API addresses: forwarded requests carry tokens.
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
/// A random nonce (hex), refused the second time within the window.
const FORWARDED_NONCE: &str = "x-strongroom-forwarded-nonce";

/// The request headers a signature covers (their values as sent, in this order): whatever
/// says who is asking, where, and how the answer is wrapped.
const SIGNED_HEADERS: &[&str] = &[
    "x-vault-token",
    "authorization",
    "x-vault-namespace",
    "x-vault-wrap-ttl",
    "x-vault-wrap-format",
    "x-vault-mfa",
    "x-vault-policy-override",
    "x-vault-request",
    "x-vault-index",
    "x-vault-inconsistent",
    "content-type",
];

/// How far a signature's timestamp may be from the receiving node's clock.
const MAX_SKEW: Duration = Duration::from_secs(30);
/// The most nonces remembered (beyond it, forwarded requests are refused until old ones age
/// out of the window): far above what one node forwards in a window.
const MAX_NONCES: usize = 1 << 20;
/// The largest answer relayed from the active node.
const MAX_FORWARDED_RESPONSE: usize = 64 * 1024 * 1024;
/// The longest a forwarded request may take (Vault's default maximum request duration).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(90);

/// What the forwarding middleware needs: the vault and an HTTP client for the active node.
#[derive(Clone)]
pub(crate) struct Forwarder {
    vault: Vault,
    client: Option<reqwest::Client>,
    /// Nonces of forwarded requests accepted within the window, with their timestamps.
    nonces: std::sync::Arc<std::sync::Mutex<Nonces>>,
}

/// The nonces seen, by arrival order, for the replay check.
#[derive(Default)]
pub(crate) struct Nonces {
    seen: std::collections::HashSet<String>,
    order: std::collections::VecDeque<(u64, String)>,
}

impl Nonces {
    /// Records `nonce` (signed at `at`): `false` when it was seen before or the cache is full.
    fn fresh(&mut self, nonce: &str, at: u64, now: u64) -> bool {
        while let Some((t, _)) = self.order.front() {
            if now.saturating_sub(*t) <= 2 * MAX_SKEW.as_secs() {
                break;
            }
            if let Some((_, old)) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        if self.seen.len() >= MAX_NONCES || self.seen.contains(nonce) {
            return false;
        }
        self.seen.insert(nonce.to_owned());
        self.order.push_back((at.max(now), nonce.to_owned()));
        true
    }
}

impl Forwarder {
    pub(crate) fn new(vault: Vault) -> Self {
        let client = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(2))
            .timeout(FORWARD_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| tracing::warn!(error = %e, "no HTTP client for request forwarding; standbys will redirect"))
            .ok();
        Self {
            vault,
            client,
            nonces: std::sync::Arc::default(),
        }
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
    )
}

/// What a signature covers.
struct Signed<'a> {
    at: u64,
    nonce: &'a str,
    client: &'a str,
    method: &'a Method,
    path_and_query: &'a str,
    headers: &'a HeaderMap,
    body: &'a [u8],
}

/// The text the standby signs: every field on its own line (headers as their index and
/// value, so no value can pose as another), ending with the body's SHA-256 (a captured
/// signature cannot carry another body).
fn signed_text(signed: &Signed<'_>) -> Vec<u8> {
    let mut text = format!(
        "strongroom-forward-v2\n{}\n{}\n{}\n{}\n{}\n",
        signed.at, signed.nonce, signed.client, signed.method, signed.path_and_query
    )
    .into_bytes();
    for (index, name) in SIGNED_HEADERS.iter().enumerate() {
        for value in signed.headers.get_all(*name) {
            text.extend_from_slice(format!("{index}:{}:", value.len()).as_bytes());
            text.extend_from_slice(value.as_bytes());
            text.push(b'\n');
        }
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, signed.body);
    text.extend_from_slice(base16ct::lower::encode_string(digest.as_ref()).as_bytes());
    text
}

fn sign(key: &[u8], text: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let tag = ring::hmac::sign(&key, text);
    base16ct::lower::encode_string(tag.as_ref())
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    base16ct::mixed::decode_vec(text).ok()
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
/// a request nobody forwarded, `Err` (a 403) for a bad, stale or replayed one. The body is
/// read (it is in memory already) and put back.
async fn verify(
    forwarder: &Forwarder,
    request: Request,
) -> Result<(Option<IpAddr>, Request), Response> {
    let headers = request.headers();
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (for_, at, sig, nonce) = (
        text(FORWARDED_FOR),
        text(FORWARDED_AT),
        text(FORWARDED_SIG),
        text(FORWARDED_NONCE),
    );
    if for_.is_none() && at.is_none() && sig.is_none() && nonce.is_none() {
        return Ok((None, request));
    }
    let (Some(client), Some(at), Some(sig), Some(nonce)) = (for_, at, sig, nonce) else {
        return Err(refused_signature());
    };
    let Some(key) = forwarder.vault.forwarding_key() else {
        return Err(refused_signature());
    };
    let (Ok(at_secs), Some(tag), Ok(ip)) =
        (at.parse::<u64>(), unhex(&sig), client.parse::<IpAddr>())
    else {
        return Err(refused_signature());
    };
    let now = now_secs();
    if now.abs_diff(at_secs) > MAX_SKEW.as_secs() || nonce.len() != 32 {
        return Err(refused_signature());
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = body.collect().await.map(|b| b.to_bytes()) else {
        return Err(refused_signature());
    };
    let text = signed_text(&Signed {
        at: at_secs,
        nonce: &nonce,
        client: &client,
        method: &parts.method,
        path_and_query: parts.uri.path_and_query().map_or("/", |p| p.as_str()),
        headers: &parts.headers,
        body: &bytes,
    });
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_slice());
    // Constant-time comparison inside ring.
    ring::hmac::verify(&key, &text, &tag).map_err(|_| refused_signature())?;
    // Only a good signature's nonce is remembered (nobody can fill the cache without the key).
    let fresh = forwarder
        .nonces
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .fresh(&nonce, at_secs, now);
    if !fresh {
        return Err(refused_signature());
    }
    Ok((Some(ip), Request::from_parts(parts, Body::from(bytes))))
}

/// The 307 to the active node, Vault's `respondStandby`.
async fn redirect(vault: &Vault, uri: &axum::http::Uri) -> Response {
    let Some(active) = vault.find_active_address().await else {
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
    location.set_path(uri.path());
    location.set_query(uri.query());
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
            | FORWARDED_NONCE
    )
}

/// Sends `request` to the active node at `active`; `Err` with the request back when it could
/// not be delivered at all (the caller redirects instead). Once it may have reached the active
/// node, a failure is a 502: repeating it elsewhere could run it twice.
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
    let Ok(nonce) = ring::rand::generate::<[u8; 16]>(&ring::rand::SystemRandom::new()) else {
        return Err(Request::from_parts(parts, Body::from(bytes)));
    };
    let nonce = base16ct::lower::encode_string(&nonce.expose());
    let mut headers = HeaderMap::new();
    for (name, value) in &parts.headers {
        if !hop_by_hop(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    // Signed as the active node will see it: the path and query as the URL spells them.
    let sent_path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let signature = sign(
        key,
        &signed_text(&Signed {
            at,
            nonce: &nonce,
            client: &client_text,
            method: &parts.method,
            path_and_query: &sent_path,
            headers: &headers,
            body: &bytes,
        }),
    );
    for (name, value) in [
        (FORWARDED_FOR, client_text.as_str()),
        (FORWARDED_AT, &at.to_string()),
        (FORWARDED_SIG, signature.as_str()),
        (FORWARDED_NONCE, nonce.as_str()),
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
    let mut answer = match sent {
        Ok(answer) => answer,
        Err(err) if err.is_connect() => {
            tracing::warn!(error = %err.without_url(), "the active node is unreachable; redirecting");
            return Err(Request::from_parts(parts, Body::from(bytes)));
        }
        Err(err) => {
            tracing::warn!(error = %err.without_url(), "forwarding to the active node failed");
            return Ok(lost_answer());
        }
    };
    let status = answer.status();
    let mut out_headers = HeaderMap::new();
    for (name, value) in answer.headers() {
        if !hop_by_hop(name) {
            out_headers.append(name.clone(), value.clone());
        }
    }
    if answer
        .content_length()
        .is_some_and(|len| len > MAX_FORWARDED_RESPONSE as u64)
    {
        return Ok(lost_answer());
    }
    let mut body = Vec::new();
    loop {
        match answer.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_FORWARDED_RESPONSE {
                    return Ok(lost_answer());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(_) => return Ok(lost_answer()),
        }
    }
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = out_headers;
    Ok(response)
}

/// The request may have reached the active node, but its answer did not come back whole.
fn lost_answer() -> Response {
    with_headers(
        StatusCode::BAD_GATEWAY,
        Some(json!({"errors": ["the active node's answer to the forwarded request was lost"]})),
    )
}

/// Marks a request a standby tries to serve itself (a read; see
/// [`VaultRequest::allow_standby_read`](strongroom_core::VaultRequest::allow_standby_read)).
#[derive(Clone, Copy, Debug)]
pub(crate) struct StandbyRead;

/// The header on the answer to a request a standby tried and could not serve itself (never
/// sent to a client: the request goes on to the active node).
const NOT_SERVED_HERE: &str = "x-strongroom-not-served-here";

/// Marks the answer to a request that needs the active node ([`VaultError::Standby`]).
///
/// [`VaultError::Standby`]: strongroom_core::VaultError::Standby
pub(crate) fn mark_not_served_here(response: &mut Response) {
    response
        .headers_mut()
        .insert(NOT_SERVED_HERE, HeaderValue::from_static("1"));
}

/// Takes the mark off an answer going to the client.
fn unmarked(mut response: Response) -> Response {
    response.headers_mut().remove(NOT_SERVED_HERE);
    response
}

/// Two copies of a request whose body is in memory (the limits read it): one to try here,
/// one to send on, each with the request's extensions.
async fn two_of(request: Request) -> Option<(Request, Request)> {
    let (parts, body) = request.into_parts();
    let bytes = body.collect().await.ok()?.to_bytes();
    let copy = |bytes: axum::body::Bytes| {
        let mut builder = axum::http::Request::builder()
            .method(parts.method.clone())
            .uri(parts.uri.clone())
            .version(parts.version);
        if let Some(headers) = builder.headers_mut() {
            headers.clone_from(&parts.headers);
        }
        let mut request = builder.body(Body::from(bytes)).ok()?;
        // Everything routing and the layers before put there (the matched path's parameters,
        // the client's address).
        *request.extensions_mut() = parts.extensions.clone();
        Some(request)
    };
    Some((copy(bytes.clone())?, copy(bytes)?))
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
        return unmarked(next.run(request).await);
    }
    let (forwarded_from, mut request) = match verify(&forwarder, request).await {
        Ok(verified) => verified,
        Err(refusal) => return refusal,
    };
    if let Some(ip) = forwarded_from {
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(ip, 0)));
    }
    if !vault.is_standby() || served_locally(request.uri().path()) {
        return unmarked(next.run(request).await);
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
    // Reads a standby may serve itself, while it follows the active node's change feed (the
    // core decides; a POST is tried only where transit's encrypt and decrypt could be).
    let path = request.uri().path();
    let readable = match request.method().as_str() {
        "GET" | "LIST" => true,
        "POST" | "PUT" => path.contains("/encrypt/") || path.contains("/decrypt/"),
        _ => false,
    };
    if readable && vault.serves_standby_reads() {
        let Some((mut here, onward)) = two_of(request).await else {
            return lost_answer();
        };
        here.extensions_mut().insert(StandbyRead);
        let answer = next.run(here).await;
        if answer.headers().get(NOT_SERVED_HERE).is_none() {
            return answer;
        }
        request = onward;
    }
    let no_forwarding = request
        .headers()
        .get(NO_FORWARDING)
        .is_some_and(|v| !v.is_empty());
    // A forwarded request is never forwarded again (the node that sent it thought this one
    // active): the client is told where the active node is now.
    if no_forwarding || forwarded_from.is_some() {
        return redirect(vault, request.uri()).await;
    }
    let Some(active) = vault.find_active_address().await else {
        return with_headers(
            StatusCode::INTERNAL_SERVER_ERROR,
            Some(json!({"errors": ["local node not active but active cluster node not found"]})),
        );
    };
    let (Some(client), Some(key)) = (&forwarder.client, vault.forwarding_key()) else {
        return redirect(vault, request.uri()).await;
    };
    let client_ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    match forward(client, key.as_slice(), &active, client_ip, request).await {
        Ok(response) => response,
        Err(request) => redirect(vault, request.uri()).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(at: u64, nonce: &str, token: &str, path: &str, body: &[u8]) -> Vec<u8> {
        let mut headers = HeaderMap::new();
        headers.insert("x-vault-token", HeaderValue::from_str(token).unwrap());
        signed_text(&Signed {
            at,
            nonce,
            client: "10.0.0.1",
            method: &Method::GET,
            path_and_query: path,
            headers: &headers,
            body,
        })
    }

    #[test]
    fn signatures_bind_every_part() {
        let key = [7_u8; 32];
        let base = sign(&key, &text(1, "n", "t", "/v1/a?b=1", b"{}"));
        for other in [
            text(2, "n", "t", "/v1/a?b=1", b"{}"),
            text(1, "m", "t", "/v1/a?b=1", b"{}"),
            text(1, "n", "u", "/v1/a?b=1", b"{}"),
            text(1, "n", "t", "/v1/a?b=2", b"{}"),
            text(1, "n", "t", "/v1/a?b=1", b"{ }"),
        ] {
            assert_ne!(sign(&key, &other), base);
        }
        assert_eq!(unhex(&base).map(|t| t.len()), Some(32));
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("abc"), None);
    }

    #[test]
    fn nonces_are_accepted_once_within_the_window() {
        let mut nonces = Nonces::default();
        assert!(nonces.fresh("a", 100, 100));
        assert!(!nonces.fresh("a", 100, 101), "a replay");
        assert!(nonces.fresh("b", 100, 101));
        // Long after the window the old ones are forgotten (their signatures are stale anyway).
        assert!(nonces.fresh("c", 500, 500));
        assert_eq!(nonces.seen.len(), 1);
    }

    #[test]
    fn local_paths() {
        assert!(served_locally("/v1/sys/health"));
        assert!(!served_locally("/v1/sys/health/"));
        assert!(!served_locally("/v1/secret/data/x"));
        assert!(!served_locally("/v1/sys/step-down"));
        assert!(
            !served_locally("/v1/sys/metrics"),
            "needs a token: the active node checks it"
        );
    }
}
