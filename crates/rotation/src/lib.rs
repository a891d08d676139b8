//! A rotation scheduler you can trust with production credentials.
//!
//! Implement [`Rotator`] (the `create`, `set`, `test`, `finish` steps AWS Secrets Manager made
//! standard, plus `revoke_previous`), give each secret a [`Schedule`] (interval or cron, jitter,
//! a rotation window, a grace period for the previous credential), and call
//! [`Scheduler::tick`] (or [`Scheduler::run`]). The scheduler keeps a state machine per secret in
//! any `strongroom-storage` backend and persists it after every step, so a restart resumes at the
//! right step, never skips `test`, and never revokes the only working credential. Readers find the
//! working credential through the [`Labels`] (current, pending, previous). See [`scheduler`] for
//! the exact order and the failure rules.
//!
//! Time comes from a [`Clock`]: with a [`ManualClock`], a year of schedule runs in milliseconds.
#![forbid(unsafe_code)]

mod alert;
mod error;
mod schedule;
pub mod scheduler;

#[cfg(feature = "webhook")]
pub use alert::WebhookSink;
pub use alert::{Alert, AlertKind, AlertSink, LogSink, MemorySink};
pub use error::{Result, RotationError, StepError};
pub use schedule::{Cadence, Schedule, Window};
pub use scheduler::{
    Backoff, Clock, Labels, ManualClock, Metrics, Rotator, Scheduler, SchedulerConfig, SecretState,
    Step, StepContext, StepResult, SystemClock, TickReport,
};
