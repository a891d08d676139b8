//! Alerts: every failed step, a parked secret, an overdue rotation.

use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use serde::Serialize;

use crate::Step;

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AlertKind {
    /// A step failed; it will be retried (with a fresh pending credential after `set`/`test`).
    StepFailed {
        /// The step.
        step: Step,
        /// The rotator's message.
        error: String,
    },
    /// Revoking the previous credential failed; it will be retried.
    RevokeFailed {
        /// The rotator's message.
        error: String,
    },
    /// Too many consecutive failures: the secret waits for `rotate_now`.
    Parked {
        /// How many failures in a row.
        failures: u32,
    },
    /// A rotation did not start within its schedule's window; it waits for the next due time.
    Missed {
        /// The due time that was missed (Unix seconds).
        due: u64,
        /// The next due time (Unix seconds).
        next: u64,
    },
    /// The rotation is overdue by more than the configured margin.
    Overdue {
        /// Seconds past the due time.
        late_by: u64,
    },
}

/// One alert about one secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// The secret's id.
    pub secret: String,
    /// When (Unix seconds).
    pub at: u64,
    /// What happened.
    #[serde(flatten)]
    pub kind: AlertKind,
}

/// Where alerts go. Implementations must not block for long; failures to deliver are theirs to
/// log (an alert sink never stops a rotation).
#[async_trait]
pub trait AlertSink: Send + Sync {
    /// Delivers one alert.
    async fn alert(&self, alert: &Alert);
}

/// Alerts as `tracing` warnings.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogSink;

#[async_trait]
impl AlertSink for LogSink {
    async fn alert(&self, alert: &Alert) {
        tracing::warn!(secret = %alert.secret, at = alert.at, kind = ?alert.kind, "rotation alert");
    }
}

/// Posts each alert as JSON to a URL (Slack-style incoming webhooks, PagerDuty proxies, ...),
/// with a bounded timeout; a delivery failure is logged, never retried forever, and never
/// stops a rotation.
#[cfg(feature = "webhook")]
#[derive(Debug, Clone)]
pub struct WebhookSink {
    client: reqwest::Client,
    url: String,
}

#[cfg(feature = "webhook")]
impl WebhookSink {
    /// Posts to `url`, each delivery bounded by `timeout`.
    ///
    /// # Errors
    ///
    /// [`RotationError::Config`](crate::RotationError::Config) for a URL that is not http(s),
    /// or an HTTP client that cannot be built.
    pub fn new(url: &str, timeout: std::time::Duration) -> crate::Result<Self> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(crate::RotationError::Config(format!(
                "webhook URL must be http(s): {url:?}"
            )));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| crate::RotationError::Config(format!("webhook client: {e}")))?;
        Ok(Self {
            client,
            url: url.to_owned(),
        })
    }
}

#[cfg(feature = "webhook")]
#[async_trait]
impl AlertSink for WebhookSink {
    async fn alert(&self, alert: &Alert) {
        let sent = self.client.post(&self.url).json(alert).send().await;
        match sent.map(|r| r.status()) {
            Ok(status) if status.is_success() => {}
            Ok(status) => {
                tracing::warn!(secret = %alert.secret, %status, "the alert webhook refused an alert");
            }
            Err(err) => {
                tracing::warn!(secret = %alert.secret, error = %err.without_url(), "the alert webhook is unreachable");
            }
        }
    }
}

/// Keeps alerts in memory (tests, dashboards).
#[derive(Debug, Default)]
pub struct MemorySink {
    alerts: Mutex<Vec<Alert>>,
}

impl MemorySink {
    /// The alerts so far, oldest first.
    pub fn alerts(&self) -> Vec<Alert> {
        self.alerts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl AlertSink for MemorySink {
    async fn alert(&self, alert: &Alert) {
        self.alerts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(alert.clone());
    }
}
