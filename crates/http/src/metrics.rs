//! Request metrics and `sys/metrics`: counters by method and status code, a latency histogram,
//! and the vault's seal state, as Prometheus text (`?format=prometheus`) or in the JSON shape
//! of Vault's in-memory sink. Every request is also logged through `tracing` (method, path,
//! status, duration: never a header or a body, so never a token or a secret).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

/// The request counters and latency histogram of one router.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    /// Requests by (method, status code). Both are bounded sets: unknown methods count as
    /// `OTHER`, so no client can grow the label space.
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    /// Cumulative counts per bucket of [`BUCKETS`], then +Inf.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    /// Total latency in nanoseconds.
    sum_nanos: AtomicU64,
}

fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "PUT" => "PUT",
        "POST" => "POST",
        "DELETE" => "DELETE",
        "LIST" => "LIST",
        "PATCH" => "PATCH",
        "HEAD" => "HEAD",
        _ => "OTHER",
    }
}

impl Metrics {
    fn record(&self, method: &Method, status: StatusCode, elapsed: Duration) {
        *self
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((method_label(method), status.as_u16()))
            .or_insert(0) += 1;
        let seconds = elapsed.as_secs_f64();
        let index = BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BUCKETS.len());
        if let Some(bucket) = self.buckets.get(index) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    fn requests(&self) -> BTreeMap<(&'static str, u16), u64> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Per-bucket counts (not cumulative), the total count and the sum in seconds.
    fn histogram(&self) -> (Vec<u64>, u64, f64) {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total = counts.iter().sum();
        #[allow(
            clippy::cast_precision_loss,
            reason = "a latency sum in seconds needs no more than f64's 52 bits"
        )]
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        (counts, total, sum)
    }

    /// The Prometheus text exposition.
    pub(crate) fn prometheus(&self, initialized: bool, unsealed: bool) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP strongroom_http_requests_total HTTP requests served, by method and status code."
        );
        let _ = writeln!(out, "# TYPE strongroom_http_requests_total counter");
        for ((method, code), count) in self.requests() {
            let _ = writeln!(
                out,
                "strongroom_http_requests_total{{method=\"{method}\",code=\"{code}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP strongroom_http_request_duration_seconds Time from request to response."
        );
        let _ = writeln!(
            out,
            "# TYPE strongroom_http_request_duration_seconds histogram"
        );
        let (counts, total, sum) = self.histogram();
        let mut cumulative = 0_u64;
        for (bound, count) in BUCKETS.iter().zip(&counts) {
            cumulative += count;
            let _ = writeln!(
                out,
                "strongroom_http_request_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "strongroom_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {total}"
        );
        let _ = writeln!(out, "strongroom_http_request_duration_seconds_sum {sum}");
        let _ = writeln!(
            out,
            "strongroom_http_request_duration_seconds_count {total}"
        );
        for (name, help, value) in [
            (
                "strongroom_core_initialized",
                "1 when the vault has been initialised.",
                initialized,
            ),
            (
                "strongroom_core_unsealed",
                "1 when the vault is unsealed.",
                unsealed,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} gauge");
            let _ = writeln!(out, "{name} {}", u8::from(value));
        }
        out
    }

    /// The JSON shape of Vault's in-memory metrics sink (`Gauges`, `Counters`, `Samples`).
    pub(crate) fn json(&self, initialized: bool, unsealed: bool) -> Value {
        let counters: Vec<Value> = self
            .requests()
            .into_iter()
            .map(|((method, code), count)| {
                json!({
                    "Name": "strongroom.http.requests",
                    "Count": count, "Sum": count, "Rate": 0, "Min": 1, "Max": 1, "Mean": 1,
                    "Stddev": 0, "Labels": {"method": method, "code": code.to_string()},
                })
            })
            .collect();
        let (_, total, sum) = self.histogram();
        #[allow(
            clippy::cast_precision_loss,
            reason = "a request count far below 2^52 converts exactly"
        )]
        let mean = if total == 0 { 0.0 } else { sum / total as f64 };
        json!({
            "Timestamp": humantime_now(),
            "Gauges": [
                {"Name": "strongroom.core.initialized", "Value": u8::from(initialized), "Labels": {}},
                {"Name": "strongroom.core.unsealed", "Value": u8::from(unsealed), "Labels": {}},
            ],
            "Points": [],
            "Counters": counters,
            "Samples": [{
                "Name": "strongroom.http.request_duration_seconds",
                "Count": total, "Sum": sum, "Mean": mean, "Labels": {},
            }],
        })
    }
}

/// The current UTC time as Go prints it (`2026-11-27 08:00:00 +0000 UTC`), as Vault's sink
/// does.
fn humantime_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    strongroom_logical::time::rfc3339(secs)
        .replacen('T', " ", 1)
        .replace('Z', " +0000 UTC")
}

/// Middleware: counts and times every request, and logs it at debug level (server errors at
/// warn). The path is logged; query strings, headers and bodies are not.
pub(crate) async fn track(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status();
    metrics.record(&method, status, elapsed);
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    if status.is_server_error() {
        tracing::warn!(%method, %path, status = status.as_u16(), micros, "request failed");
    } else {
        tracing::debug!(%method, %path, status = status.as_u16(), micros, "request");
    }
    response
}

/// The `sys/metrics` body in the format asked for.
pub(crate) fn render(
    metrics: &Metrics,
    prometheus: bool,
    initialized: bool,
    unsealed: bool,
) -> Response {
    let mut response = if prometheus {
        (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            )],
            metrics.prometheus(initialized, unsealed),
        )
            .into_response()
    } else {
        (
            StatusCode::OK,
            axum::Json(metrics.json(initialized, unsealed)),
        )
            .into_response()
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_buckets() {
        let metrics = Metrics::default();
        metrics.record(&Method::GET, StatusCode::OK, Duration::from_micros(50));
        metrics.record(&Method::GET, StatusCode::OK, Duration::from_millis(3));
        metrics.record(
            &Method::from_bytes(b"BREW").unwrap_or(Method::GET),
            StatusCode::METHOD_NOT_ALLOWED,
            Duration::from_secs(2),
        );
        let text = metrics.prometheus(true, false);
        assert!(text.contains("strongroom_http_requests_total{method=\"GET\",code=\"200\"} 2\n"));
        assert!(text.contains("strongroom_http_requests_total{method=\"OTHER\",code=\"405\"} 1\n"));
        assert!(
            text.contains("strongroom_http_request_duration_seconds_bucket{le=\"0.0001\"} 1\n")
        );
        assert!(text.contains("strongroom_http_request_duration_seconds_bucket{le=\"0.005\"} 2\n"));
        assert!(text.contains("strongroom_http_request_duration_seconds_bucket{le=\"1\"} 2\n"));
        assert!(text.contains("strongroom_http_request_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("strongroom_http_request_duration_seconds_count 3\n"));
        assert!(text.contains("strongroom_core_initialized 1\n"));
        assert!(text.contains("strongroom_core_unsealed 0\n"));
        let json = metrics.json(true, true);
        assert_eq!(json["Samples"][0]["Count"], 3);
        assert_eq!(json["Gauges"][1]["Value"], 1);
    }

    #[test]
    fn go_time_format() {
        let now = humantime_now();
        assert_eq!(now.len(), "2026-11-27 08:00:00 +0000 UTC".len(), "{now}");
        assert!(now.ends_with(" +0000 UTC"), "{now}");
    }
}
