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
    fn bad_arguments() {
        assert!(parse_test(&["novalue"], "").is_err());
        assert!(parse_test(&["=v"], "").is_err());
        assert!(parse_test(&["a=@missing"], "").is_err());
        assert!(parse_test(&["-"], "[1]").is_err());
        assert!(parse_test(&["a=-", "b=-"], "x").is_err());
    }
}
