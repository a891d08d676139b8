//! When rotations are due: a fixed interval or a cron expression, with jitter, an optional daily
//! rotation window, and a grace period for the previous credential — all checked when the
//! schedule is built, not at 3 a.m.

use std::str::FromStr as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Result, RotationError};

/// A daily window (UTC) in which rotations may start, e.g. 02:00–05:00. A rotation that falls
/// due outside it waits for the next opening.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Seconds after midnight UTC when the window opens.
    pub start: u32,
    /// Seconds after midnight UTC when it closes (may be before `start`: it spans midnight).
    pub end: u32,
}

const DAY: u64 = 86_400;

impl Window {
    /// The window from `start_hour`:00 to `end_hour`:00 UTC.
    ///
    /// # Errors
    ///
    /// [`RotationError::Config`] for hours past 24 or an empty window.
    pub fn hours(start_hour: u32, end_hour: u32) -> Result<Self> {
        if start_hour > 24 || end_hour > 24 || start_hour == end_hour {
            return Err(RotationError::Config(format!(
                "rotation window {start_hour}:00-{end_hour}:00 is empty or not within a day"
            )));
        }
        Ok(Self {
            start: start_hour * 3600 % 86_400,
            end: end_hour * 3600 % 86_400,
        })
    }

    fn contains(self, second_of_day: u32) -> bool {
        if self.start < self.end {
            (self.start..self.end).contains(&second_of_day)
        } else {
            second_of_day >= self.start || second_of_day < self.end
        }
    }

    /// `at` if it is inside the window, else the window's next opening.
    fn next_open(self, at: u64) -> u64 {
        let second = u32::try_from(at % DAY).unwrap_or(0);
        if self.contains(second) {
            return at;
        }
        let day_start = at - at % DAY;
        let open = day_start + u64::from(self.start);
        if open > at { open } else { open + DAY }
    }
}

/// How often a secret rotates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Cadence {
    /// Every `seconds` after the last successful rotation.
    Interval {
        /// The interval.
        seconds: u64,
    },
    /// At the times of a standard five-field cron expression (UTC).
    Cron {
        /// The expression, e.g. `0 3 * * 0`.
        expression: String,
    },
}

/// A secret's rotation schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    cadence: Cadence,
    /// Up to this many seconds are added to each due time (spreads load; deterministic per
    /// secret and due time, so a restart computes the same time).
    jitter: u64,
    window: Option<Window>,
    /// How long the previous credential stays valid after a rotation.
    grace: u64,
    /// A rotation must start within this many seconds of its due time, or it waits for the
    /// next one (0: no limit). Vault's `rotation_window`.
    #[serde(default)]
    start_within: u64,
}

impl Schedule {
    /// Every `interval`, with no jitter, no window and no grace period.
    ///
    /// # Errors
    ///
    /// [`RotationError::Config`] for a zero interval.
    pub fn every(interval: Duration) -> Result<Self> {
        if interval.as_secs() == 0 {
            return Err(RotationError::Config(
                "the rotation interval must be at least one second".into(),
            ));
        }
        Ok(Self {
            cadence: Cadence::Interval {
                seconds: interval.as_secs(),
            },
            jitter: 0,
            window: None,
            grace: 0,
            start_within: 0,
        })
    }

    /// At the times of the five-field cron `expression` (UTC).
    ///
    /// # Errors
    ///
    /// [`RotationError::Config`] for an expression that does not parse, or never fires.
    pub fn cron(expression: &str) -> Result<Self> {
        let schedule = Self {
            cadence: Cadence::Cron {
                expression: expression.to_owned(),
            },
            jitter: 0,
            window: None,
            grace: 0,
            start_within: 0,
        };
        // Parse and find one occurrence now, so a bad expression fails at configuration time.
        schedule.next_cron(expression, 0)?;
        Ok(schedule)
    }

    /// Adds up to `jitter` to each due time.
    ///
    /// # Errors
    ///
    /// [`RotationError::Config`] if the jitter is not shorter than the interval.
    pub fn jitter(mut self, jitter: Duration) -> Result<Self> {
        if let Cadence::Interval { seconds } = self.cadence
            && jitter.as_secs() >= seconds
        {
            return Err(RotationError::Config(
                "jitter must be shorter than the rotation interval".into(),
            ));
        }
        self.jitter = jitter.as_secs();
        Ok(self)
    }

    /// Rotations start only inside `window`.
    pub fn window(mut self, window: Window) -> Self {
        self.window = Some(window);
        self
    }

    /// The previous credential stays valid for `grace` after each rotation, then is revoked.
    ///
    /// # Errors
    ///
    /// [`RotationError::Config`] if the grace period is not shorter than the interval: two
    /// previous credentials would overlap.
    pub fn grace(mut self, grace: Duration) -> Result<Self> {
        if let Cadence::Interval { seconds } = self.cadence
            && grace.as_secs() >= seconds
        {
            return Err(RotationError::Config(format!(
                "the grace period ({} s) must be shorter than the rotation interval ({seconds} s)",
                grace.as_secs()
            )));
        }
        self.grace = grace.as_secs();
        Ok(self)
    }

    /// A rotation that has not started within `window` of its due time (the scheduler was
    /// down, or failures backed it off past the window) is skipped until the next due time
    /// (Vault's `rotation_window` for cron schedules).
    ///
    /// # Errors
    ///
    /// [`RotationError::Config`] for a zero window, or one not shorter than the interval.
    pub fn start_within(mut self, window: Duration) -> Result<Self> {
        if window.is_zero() {
            return Err(RotationError::Config(
                "the rotation window must be positive".into(),
            ));
        }
        if let Cadence::Interval { seconds } = self.cadence
            && window.as_secs() >= seconds
        {
            return Err(RotationError::Config(
                "the rotation window must be shorter than the rotation interval".into(),
            ));
        }
        self.start_within = window.as_secs();
        Ok(self)
    }

    /// The start window in seconds (0: none).
    pub fn start_within_secs(&self) -> u64 {
        self.start_within
    }

    /// Whether a rotation due at `due` can no longer start at `now` (its window has passed).
    pub(crate) fn missed(&self, due: u64, now: u64) -> bool {
        self.start_within != 0 && now > due.saturating_add(self.start_within)
    }

    /// The grace period in seconds.
    pub fn grace_secs(&self) -> u64 {
        self.grace
    }

    /// The cadence.
    pub fn cadence(&self) -> &Cadence {
        &self.cadence
    }

    fn next_cron(&self, expression: &str, after: u64) -> Result<u64> {
        let cron = croner::Cron::from_str(expression).map_err(|e| {
            RotationError::Config(format!("invalid cron expression {expression:?}: {e}"))
        })?;
        let start: DateTime<Utc> =
            DateTime::from_timestamp(i64::try_from(after).unwrap_or(0), 0)
                .ok_or_else(|| RotationError::Config("time out of range".into()))?;
        let next = cron.find_next_occurrence(&start, false).map_err(|e| {
            RotationError::Config(format!("cron expression {expression:?} never fires: {e}"))
        })?;
        u64::try_from(next.timestamp())
            .map_err(|_| RotationError::Config("cron time out of range".into()))
    }

    /// When the next rotation is due, given the last successful one (or registration), as Unix
    /// seconds; `salt` makes the jitter differ between secrets.
    ///
    /// # Errors
    ///
    /// [`RotationError::Config`] for a cron expression that stopped firing.
    pub fn next_due(&self, last: u64, salt: &str) -> Result<u64> {
        let base = match &self.cadence {
            Cadence::Interval { seconds } => last.saturating_add(*seconds),
            Cadence::Cron { expression } => self.next_cron(expression, last)?,
        };
        let jittered = base.saturating_add(jitter_for(salt, base, self.jitter));
        Ok(match self.window {
            Some(window) => window.next_open(jittered),
            None => jittered,
        })
    }
}

/// A deterministic jitter in `[0, max]` for this secret and due time.
fn jitter_for(salt: &str, base: u64, max: u64) -> u64 {
    if max == 0 {
        return 0;
    }
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!("{salt}\u{0}{base}").as_bytes(),
    );
    let mut bytes = [0_u8; 8];
    bytes.copy_from_slice(digest.as_ref().get(..8).unwrap_or(&[0; 8]));
    u64::from_be_bytes(bytes) % (max + 1)
}

/// Unix seconds of `time`.
pub(crate) fn secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

    use super::*;

    const DAY_S: u64 = 86_400;

    #[test]
    fn bad_schedules_fail_when_built() {
        assert!(Schedule::every(Duration::ZERO).is_err());
        assert!(Schedule::cron("not cron").is_err());
        assert!(Schedule::cron("61 * * * *").is_err());
        assert!(
            Schedule::cron("0 0 31 2 *").is_err(),
            "February 31st never comes"
        );
        let daily = Schedule::every(Duration::from_secs(DAY_S)).unwrap();
        assert!(daily.clone().grace(Duration::from_secs(DAY_S)).is_err());
        assert!(daily.clone().jitter(Duration::from_secs(DAY_S)).is_err());
        assert!(daily.grace(Duration::from_secs(3600)).is_ok());
        assert!(Window::hours(3, 3).is_err());
        assert!(Window::hours(25, 3).is_err());
    }

    #[test]
    fn interval_cron_jitter_window() {
        let every = Schedule::every(Duration::from_secs(30 * DAY_S)).unwrap();
        assert_eq!(every.next_due(1_000, "a").unwrap(), 1_000 + 30 * DAY_S);
        // Sundays at 03:00 UTC; 2026-11-27 is a Friday.
        let weekly = Schedule::cron("0 3 * * 0").unwrap();
        let friday = 1_795_737_600; // 2026-11-27T00:00:00Z
        assert_eq!(
            weekly.next_due(friday, "a").unwrap(),
            friday + 2 * DAY_S + 3 * 3600
        );
        let jittered = Schedule::every(Duration::from_secs(DAY_S))
            .unwrap()
            .jitter(Duration::from_secs(600))
            .unwrap();
        let a = jittered.next_due(0, "secret-a").unwrap();
        assert!((DAY_S..=DAY_S + 600).contains(&a));
        assert_eq!(
            a,
            jittered.next_due(0, "secret-a").unwrap(),
            "deterministic"
        );
        // Due at 12:00 but the window is 02:00-05:00: wait for 02:00 the next day.
        let windowed = Schedule::every(Duration::from_secs(DAY_S))
            .unwrap()
            .window(Window::hours(2, 5).unwrap());
        assert_eq!(
            windowed.next_due(12 * 3600, "a").unwrap(),
            2 * DAY_S + 2 * 3600
        );
        assert_eq!(windowed.next_due(3 * 3600, "a").unwrap(), DAY_S + 3 * 3600);
        // A window across midnight.
        // Vault's rotation_window: a due time missed by more than the window is skipped.
        let windowed = Schedule::cron("0 3 * * *")
            .unwrap()
            .start_within(Duration::from_secs(3600))
            .unwrap();
        assert!(!windowed.missed(3 * 3600, 4 * 3600));
        assert!(windowed.missed(3 * 3600, 4 * 3600 + 1));
        assert!(!Schedule::cron("0 3 * * *").unwrap().missed(0, u64::MAX));
        assert!(
            Schedule::every(Duration::from_secs(60))
                .unwrap()
                .start_within(Duration::from_secs(60))
                .is_err()
        );
        let night = Window::hours(22, 2).unwrap();
        assert!(night.contains(23 * 3600) && night.contains(3600) && !night.contains(12 * 3600));
    }
}
