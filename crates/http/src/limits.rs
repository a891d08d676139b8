//! What a request may cost before anything looks at it: body size, the time to send it, the
//! memory its JSON would take and the number of strings in it (OpenBao's
//! `max_request_json_memory` and `max_request_json_strings`), and how many requests and how
//! many body bytes may be in flight at once. All of it is checked before the token, so an
//! unauthenticated client cannot make the server parse, audit or hold more than the limits
//! allow.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::Options;

/// Bodies up to this size are read without drawing on the in-flight budget (most requests).
const SMALL_BODY: usize = 64 * 1024;
/// The budget is counted in units of this many bytes.
const UNIT: usize = 1024;

/// The shared state of the limits: the options and the semaphores they size.
pub(crate) struct Limits {
    pub(crate) options: Options,
    requests: Arc<Semaphore>,
    body_budget: Arc<Semaphore>,
}

impl Limits {
    pub(crate) fn new(options: Options) -> Self {
        let units = (options.max_request_body_memory / UNIT).clamp(1, Semaphore::MAX_PERMITS);
        Self {
            requests: Arc::new(Semaphore::new(
                options
                    .max_requests_in_flight
                    .clamp(1, Semaphore::MAX_PERMITS),
            )),
            body_budget: Arc::new(Semaphore::new(units)),
            options,
        }
    }
}

fn refuse(status: StatusCode, message: &str) -> Response {
    crate::with_headers(status, Some(json!({ "errors": [message] })))
}

/// OpenBao's cost estimate for one JSON token (`http/util.go` `memoryForToken`).
const COST_BASE: usize = 8 + 8;
const COST_STRING: usize = 16;
const COST_NUMBER: usize = 8;
const COST_LITERAL: usize = 1;
const COST_ARRAY: usize = 8 + 8 + 8;
const COST_OBJECT: usize = 8 + 64;

/// Why a body's JSON was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Complexity {
    Memory,
    Strings,
}

impl Complexity {
    fn message(&self) -> &'static str {
        match self {
            Self::Memory => {
                "refused JSON input due to high complexity: exceeded maximum estimated memory limits"
            }
            Self::Strings => {
                "refused JSON input due to high complexity: exceeded maximum number of strings"
            }
        }
    }
}

/// One linear pass over `body` counting what parsing it would allocate, as OpenBao's
/// `EnforceJSONComplexityLimits` does: every string (object keys included) and an estimated
/// memory cost per value, stopping at the first limit passed. Malformed JSON is left for the
/// parser to refuse; the pass never allocates.
pub(crate) fn check_json(
    body: &[u8],
    max_memory: Option<usize>,
    max_strings: Option<usize>,
) -> Result<(), Complexity> {
    let (mut memory, mut strings) = (0usize, 0usize);
    let mut i = 0;
    while let Some(&byte) = body.get(i) {
        let cost = match byte {
            b'"' => {
                // The string's end, skipping escaped characters.
                let mut j = i + 1;
                while let Some(&c) = body.get(j) {
                    match c {
                        b'\\' => j += 2,
                        b'"' => break,
                        _ => j += 1,
                    }
                }
                strings += 1;
                if max_strings.is_some_and(|max| strings > max) {
                    return Err(Complexity::Strings);
                }
                let len = j.saturating_sub(i + 1);
                i = j + 1;
                COST_BASE + COST_STRING + len
            }
            b'{' => {
                i += 1;
                COST_BASE + COST_OBJECT
            }
            b'[' => {
                i += 1;
                COST_BASE + COST_ARRAY
            }
            b'-' | b'0'..=b'9' => {
                while body
                    .get(i)
                    .is_some_and(|c| matches!(c, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                {
                    i += 1;
                }
                COST_BASE + COST_NUMBER
            }
            b't' | b'f' | b'n' => {
                while body.get(i).is_some_and(u8::is_ascii_alphabetic) {
                    i += 1;
                }
                COST_BASE + COST_LITERAL
            }
            _ => {
                i += 1;
                0
            }
        };
        memory = memory.saturating_add(cost);
        if max_memory.is_some_and(|max| memory > max) {
            return Err(Complexity::Memory);
        }
    }
    Ok(())
}

/// Middleware: caps the requests in flight, reads the body within `http_read_timeout` and
/// `max_request_size` (bodies above [`SMALL_BODY`] draw on the in-flight budget, released when
/// the response is done), and refuses JSON whose complexity passes the limits — all before the
/// request reaches a handler, the token check included.
pub(crate) async fn enforce(
    State(limits): State<Arc<Limits>>,
    request: Request,
    next: Next,
) -> Response {
    let exempt = matches!(
        request.uri().path(),
        "/v1/sys/health" | "/v1/sys/seal-status"
    );
    let _in_flight: Option<OwnedSemaphorePermit> = if exempt {
        None
    } else {
        match Arc::clone(&limits.requests).try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                return refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many requests in flight; try again",
                );
            }
        }
    };
    let options = &limits.options;
    let (parts, body) = request.into_parts();
    let mut permits = Vec::new();
    let read = read_body(
        body,
        options.max_request_size,
        &limits.body_budget,
        &mut permits,
    );
    let bytes = match tokio::time::timeout(options.http_read_timeout, read).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(refusal)) => return refusal,
        Err(_) => {
            return refuse(
                StatusCode::REQUEST_TIMEOUT,
                "timed out reading the request body",
            );
        }
    };
    if !bytes.iter().all(u8::is_ascii_whitespace)
        && let Err(why) = check_json(
            &bytes,
            options.max_request_json_memory,
            options.max_request_json_strings,
        )
    {
        return refuse(StatusCode::BAD_REQUEST, why.message());
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    drop(permits);
    response
}

/// Reads `body` up to `max` bytes, taking budget permits for what passes [`SMALL_BODY`].
async fn read_body(
    mut body: Body,
    max: usize,
    budget: &Arc<Semaphore>,
    permits: &mut Vec<OwnedSemaphorePermit>,
) -> Result<Bytes, Response> {
    let mut buffer: Vec<u8> = Vec::new();
    let mut held = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|_| refuse(StatusCode::BAD_REQUEST, "failed to read the request body"))?;
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        if buffer.len().saturating_add(chunk.len()) > max {
            return Err(refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "http: request body too large",
            ));
        }
        buffer.extend_from_slice(&chunk);
        if buffer.len() > SMALL_BODY {
            let wanted = buffer.len().div_ceil(UNIT);
            if wanted > held {
                let more = u32::try_from(wanted - held).unwrap_or(u32::MAX);
                let permit = Arc::clone(budget)
                    .try_acquire_many_owned(more)
                    .map_err(|_| {
                        refuse(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "too much request data in flight; try again",
                        )
                    })?;
                held = wanted;
                permits.push(permit);
            }
        }
    }
    Ok(Bytes::from(buffer))
}

/// The defaults, for the docs and the listener configuration.
pub(crate) const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(n: usize) -> Vec<u8> {
        let items: Vec<String> = (0..n).map(|i| format!("\"s{i}\"")).collect();
        format!("{{\"a\": [{}]}}", items.join(",")).into_bytes()
    }

    #[test]
    fn counts_strings_as_openbao() {
        // One key plus 998 values: 999 strings pass a limit of 1000; 1000 values do not.
        assert_eq!(check_json(&strings(998), None, Some(1000)), Ok(()));
        assert_eq!(check_json(&strings(999), None, Some(1000)), Ok(()));
        assert_eq!(
            check_json(&strings(1000), None, Some(1000)),
            Err(Complexity::Strings)
        );
        // Escaped quotes stay inside their string.
        assert_eq!(
            check_json(br#"{"a": "x\"y\\", "b": "\\\""}"#, None, Some(4)),
            Ok(())
        );
        assert_eq!(
            check_json(br#"{"a": "x\"y\\", "b": "\\\""}"#, None, Some(3)),
            Err(Complexity::Strings)
        );
        assert_eq!(check_json(&strings(100_000), None, None), Ok(()));
    }

    #[test]
    fn estimates_memory_as_openbao() {
        // {"a": [1, true, null]}: object 88, key 32+1, array 40, number 24, two literals 17.
        let body = br#"{"a": [1, true, null]}"#;
        let cost = 88 + 33 + 40 + 24 + 17 + 17;
        assert_eq!(check_json(body, Some(cost), None), Ok(()));
        assert_eq!(
            check_json(body, Some(cost - 1), None),
            Err(Complexity::Memory)
        );
        // Deeply nested arrays cost per level.
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(
            check_json(deep.as_bytes(), Some(100_000), None),
            Err(Complexity::Memory)
        );
    }

    #[test]
    fn malformed_input_is_left_to_the_parser() {
        for body in [&b"\"unterminated"[..], b"{\"a\":", b"\\\\\\", b"", b"nul"] {
            assert_eq!(check_json(body, Some(1000), Some(10)), Ok(()));
        }
    }
}
