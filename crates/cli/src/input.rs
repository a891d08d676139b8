//! `key=value` arguments as Vault's CLI reads them: `key=value`, `key=@file` (the file's
//! contents), `key=-` (standard input), a lone `-` (a JSON object on standard input), and a
//! key given twice becomes a list.

use std::io::Read as _;

use anyhow::{Context as _, Result, bail};
use serde_json::{Map, Value};

/// Reads all of standard input.
fn stdin() -> Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("reading standard input")?;
    Ok(text)
}

/// Parses `args` into a JSON object.
///
/// # Errors
///
/// An argument without `=`, an unreadable `@file`, standard input that is not a JSON object.
pub(crate) fn parse(args: &[String]) -> Result<Map<String, Value>> {
    parse_with(args, &mut stdin, &|path| {
        std::fs::read_to_string(path).with_context(|| format!("reading {path}"))
    })
}

fn parse_with(
    args: &[String],
    stdin: &mut dyn FnMut() -> Result<String>,
    read_file: &dyn Fn(&str) -> Result<String>,
) -> Result<Map<String, Value>> {
    let mut map = Map::new();
    let mut stdin_used = false;
    let mut take_stdin = |stdin_used: &mut bool| -> Result<String> {
        if std::mem::replace(stdin_used, true) {
            bail!("standard input can be read only once");
        }
        stdin()
    };
    for arg in args {
        if arg == "-" {
            let text = take_stdin(&mut stdin_used)?;
            match serde_json::from_str::<Value>(&text).context("parsing standard input as JSON")? {
                Value::Object(object) => map.extend(object),
                _ => bail!("standard input must be a JSON object"),
            }
            continue;
        }
        let Some((key, value)) = arg.split_once('=') else {
            bail!("invalid key/value pair {arg:?}: expected key=value");
        };
        if key.is_empty() {
            bail!("invalid key/value pair {arg:?}: empty key");
        }
        let value = if value == "-" {
            take_stdin(&mut stdin_used)?
        } else if let Some(path) = value.strip_prefix('@') {
            read_file(path)?
        } else {
            value.to_owned()
        };
        match map.get_mut(key) {
            Some(Value::Array(items)) => items.push(Value::String(value)),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, Value::String(value)]);
            }
            None => {
                map.insert(key.to_owned(), Value::String(value));
            }
        }
    }
    Ok(map)
}

/// A duration as Vault's CLI flags read it (`parseutil.ParseDurationSecond`): whole seconds
/// (`300`), or Go's notation (`5m`, `1h30m`, `1.5h`, `90s`), in whole seconds.
///
/// # Errors
///
/// Text that is neither, a negative duration.
pub(crate) fn duration_seconds(text: &str) -> Result<u64> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(seconds);
    }
    if text.is_empty() || text.starts_with('-') {
        bail!("time: invalid duration {text:?}");
    }
    let mut total = 0f64;
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let value: f64 = number
            .parse()
            .map_err(|_| anyhow::anyhow!("time: invalid duration {text:?}"))?;
        let scale = match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            "" => bail!("time: missing unit in duration {text:?}"),
            other => bail!("time: unknown unit {other:?} in duration {text:?}"),
        };
        total += value * scale;
        rest = after;
    }
    if !total.is_finite() || total > 1e15 {
        bail!("time: invalid duration {text:?}");
    }
    // Whole seconds: the server's wrap ttl is in seconds.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "finite, non-negative and bounded above"
    )]
    Ok(total.floor() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse_test(args: &[&str], stdin_text: &str) -> Result<Map<String, Value>> {
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        let text = stdin_text.to_owned();
        parse_with(&args, &mut || Ok(text.clone()), &|path| {
            if path == "f.txt" {
                Ok("from file".into())
            } else {
                bail!("no file {path}")
            }
        })
    }

    #[test]
    fn pairs_files_stdin_and_lists() {
        let map = parse_test(
            &["a=b", "c=@f.txt", "d=-", "e=x=y", "l=1", "l=2", "l=3"],
            "in",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            Value::Object(map),
            json!({"a": "b", "c": "from file", "d": "in", "e": "x=y", "l": ["1", "2", "3"]})
        );
        let map = parse_test(&["-", "z=1"], r#"{"k": {"n": 1}}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(Value::Object(map), json!({"k": {"n": 1}, "z": "1"}));
    }

    #[test]
    fn durations_as_vaults_flags_read_them() {
        for (text, seconds) in [
            ("300", 300),
            ("5m", 300),
            ("1h30m", 5400),
            ("1.5h", 5400),
            ("90s", 90),
            ("0", 0),
        ] {
            assert_eq!(duration_seconds(text).ok(), Some(seconds), "{text}");
        }
        for text in ["", "x", "-5m", "5y", "m", "5m3"] {
            assert!(duration_seconds(text).is_err(), "{text}");
        }
    }

    #[test]
    fn bad_arguments() {
        assert!(parse_test(&["novalue"], "").is_err());
        assert!(parse_test(&["=v"], "").is_err());
        assert!(parse_test(&["a=@missing"], "").is_err());
        assert!(parse_test(&["-"], "[1]").is_err());
        assert!(parse_test(&["a=-", "b=-"], "x").is_err());
    }
}
