//! Vault's TTL arithmetic for tokens (its `framework.CalculateTTL`), and durations printed as
//! its warnings print them.

use crate::{Result, VaultError};

/// Vault's `CalculateTTL`, in whole seconds: the TTL a token gets at creation or renewal, and
/// Vault's warnings when a cap applied.
///
/// The effective maximum is the system maximum, or `explicit_max` when smaller. A periodic
/// token gets its period (capped at that maximum) and lives at most `explicit_max` from
/// `start`; any other gets `increment`, else `backend_ttl`, else the system default, and lives
/// at most the effective maximum from `start`.
///
/// # Errors
///
/// [`VaultError::InvalidRequest`] "past the max TTL, cannot renew" when the token's lifetime is
/// used up; [`VaultError::Internal`] for a zero system maximum.
#[allow(
    clippy::too_many_arguments,
    reason = "Vault's own function: one argument per input keeps the port checkable"
)]
pub(crate) fn calculate_ttl(
    sys_max: u64,
    sys_default: u64,
    increment: u64,
    backend_ttl: u64,
    period: u64,
    explicit_max: u64,
    start: u64,
    now: u64,
) -> Result<(u64, Vec<String>)> {
    let mut max = sys_max;
    if explicit_max > 0 && explicit_max < max {
        max = explicit_max;
    }
    if max == 0 {
        return Err(VaultError::Internal(
            "max TTL must be greater than zero".into(),
        ));
    }
    let mut warnings = Vec::new();
    let (mut ttl, valid_until) = if period > 0 {
        let mut period = period;
        if period > max {
            warnings.push(format!(
                "period of {:?} exceeded the effective max_ttl of {:?}; period value is capped \
                 accordingly",
                human_duration(period),
                human_duration(max)
            ));
            period = max;
        }
        (
            period,
            (explicit_max > 0).then(|| start.saturating_add(explicit_max)),
        )
    } else {
        let ttl = if increment > 0 {
            increment
        } else if backend_ttl > 0 {
            backend_ttl
        } else {
            sys_default
        };
        (ttl, Some(start.saturating_add(max)))
    };
    if let Some(until) = valid_until {
        if until <= now {
            return Err(VaultError::invalid("past the max TTL, cannot renew"));
        }
        let left = until - now;
        if left < ttl {
            warnings.push(format!(
                "TTL of {:?} exceeded the effective max_ttl of {:?}; TTL value is capped \
                 accordingly",
                human_duration(ttl),
                human_duration(left)
            ));
            ttl = left;
        }
    }
    Ok((ttl, warnings))
}

/// Seconds as Vault's `humanDuration` prints them: Go's `time.Duration` text without zero
/// parts (`1h`, `1h30m`, `2m`, `45s`, `1h0m5s` is `1h5s`).
pub(crate) fn human_duration(secs: u64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut text = if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    };
    if let Some(stripped) = text.strip_suffix("m0s") {
        text = format!("{stripped}m");
    }
    if let Some(at) = text.find("h0m")
        && at > 0
    {
        text = format!("{}h{}", &text[..at], &text[at + 3..]);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_vault_warnings_do() {
        for (secs, text) in [
            (0, "0s"),
            (45, "45s"),
            (60, "1m"),
            (150, "2m30s"),
            (3600, "1h"),
            (5400, "1h30m"),
            (3605, "1h5s"),
            (2_764_800, "768h"),
        ] {
            assert_eq!(human_duration(secs), text, "{secs}");
        }
    }

    #[test]
    fn ttl_follows_calculate_ttl() {
        // Asked 2h, explicit max 90m from creation: capped, with Vault's warning.
        let (ttl, warnings) = calculate_ttl(2_764_800, 2_764_800, 7200, 3600, 0, 5400, 0, 0)
            .expect("within the lifetime");
        assert_eq!(ttl, 5400);
        assert_eq!(
            warnings,
            [
                "TTL of \"2h\" exceeded the effective max_ttl of \"1h30m\"; TTL value is capped \
              accordingly"
            ]
        );
        // A period above the explicit maximum is capped to it.
        let (ttl, warnings) = calculate_ttl(2_764_800, 2_764_800, 0, 0, 600, 300, 0, 0).unwrap();
        assert_eq!(ttl, 300);
        assert_eq!(
            warnings,
            [
                "period of \"10m\" exceeded the effective max_ttl of \"5m\"; period value is \
              capped accordingly"
            ]
        );
        // No increment, no TTL: the system default.
        assert_eq!(
            calculate_ttl(100, 40, 0, 0, 0, 0, 0, 0).unwrap(),
            (40, vec![])
        );
        // Past the lifetime.
        assert!(calculate_ttl(100, 40, 0, 0, 0, 50, 0, 50).is_err());
    }
}
