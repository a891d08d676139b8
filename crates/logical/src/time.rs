//! Times as Vault prints them (RFC 3339, UTC) and durations as Vault reads them, shared by the
//! core and the engines.

use std::time::Duration;

use serde_json::Value;

/// The civil date and time of `secs` seconds after the Unix epoch:
/// (year, month, day, hour, minute, second). Howard Hinnant's days-to-civil algorithm.
fn civil(secs: u64) -> (u64, u64, u64, u64, u64, u64) {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Appends `n` in decimal, zero-padded to at least `width` digits (as `{n:0width$}` does; this
/// is on every KV v2 read, where the formatting machinery cost more than the rest of the time).
fn push_padded(out: &mut String, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut len = 0;
    while n > 0 || len < width {
        if let Some(slot) = digits.get_mut(len) {
            // `n % 10` is a single digit.
            *slot = b'0' + u8::try_from(n % 10).unwrap_or(0);
        }
        n /= 10;
        len += 1;
        if len == digits.len() {
            break;
        }
    }
    out.extend(digits.iter().take(len).rev().map(|&d| char::from(d)));
}

/// `YYYY-MM-DDTHH:MM:SS` for unix seconds.
fn push_civil(out: &mut String, secs: u64) {
    let (y, mo, d, h, mi, s) = civil(secs);
    push_padded(out, y, 4);
    for (separator, value) in [('-', mo), ('-', d), ('T', h), (':', mi), (':', s)] {
        out.push(separator);
        push_padded(out, value, 2);
    }
}

/// `2026-11-18T11:06:40Z` for unix seconds (token and lease times).
pub fn rfc3339(secs: u64) -> String {
    let mut out = String::with_capacity(20);
    push_civil(&mut out, secs);
    out.push('Z');
    out
}

/// `2026-11-18T11:06:40.123456789Z` for unix nanoseconds (KV v2 times).
pub fn rfc3339_nanos(nanos: u128) -> String {
    let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    let frac = nanos % 1_000_000_000;
    let mut out = String::with_capacity(30);
    push_civil(&mut out, secs);
    out.push('.');
    push_padded(&mut out, u64::try_from(frac).unwrap_or(0), 9);
    out.push('Z');
    out
}

/// Parses a duration as Vault accepts them: whole seconds (a number or a numeric string), or
/// integer amounts with units `s`, `m`, `h`, `d` (`"1h30m"`, `"90s"`, `"2d"`). `None` for anything
/// else.
pub fn parse_duration(value: &Value) -> Option<Duration> {
    match value {
        Value::Number(n) => n.as_u64().map(Duration::from_secs),
        Value::String(s) => parse_duration_str(s),
        _ => None,
    }
}

fn parse_duration_str(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
        let n: u64 = number.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        number.clear();
    }
    if !number.is_empty() {
        return None;
    }
    Some(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        // The hand-written digits agree with the formatting machinery, up to the largest input.
        for secs in [
            0,
            59,
            86_399,
            951_782_400,
            1_795_000_000,
            253_402_300_799,
            253_402_300_800,
        ]
        .into_iter()
        .chain((0..2000).map(|i| i * 7_919_999_999_u64 % 400_000_000_000))
        .chain([u64::MAX / 1_000_000_000, u64::MAX])
        {
            let (y, mo, d, h, mi, s) = civil(secs);
            assert_eq!(
                rfc3339(secs),
                format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
            );
            let nanos = u128::from(secs) * 1_000_000_000 + u128::from(secs % 1_000_000_000);
            let frac = nanos % 1_000_000_000;
            assert_eq!(
                rfc3339_nanos(nanos),
                format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{frac:09}Z")
            );
        }
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(rfc3339_nanos(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339_nanos(1_795_000_000_123_456_789),
            "2026-11-18T11:06:40.123456789Z"
        );
    }
}
