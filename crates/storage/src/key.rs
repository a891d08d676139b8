//! Key and prefix rules, shared by every backend so that all of them accept and refuse exactly the
//! same inputs.

use std::fmt;

/// The longest key any backend accepts, in bytes.
///
/// Fixed rather than configurable: a key must fit in one B-tree index entry on every backend
/// (PostgreSQL refuses index rows over about 2.7 KB), and Vault's own paths are far shorter.
pub const MAX_KEY_LEN: usize = 1024;

/// The rule a key or a list prefix broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyRule {
    /// A key must not be empty.
    Empty,
    /// A key must not start with `/`.
    LeadingSlash,
    /// Segments between `/` must not be empty: no `//`, and no trailing `/` on a key.
    EmptySegment,
    /// A segment must not be `.` or `..`.
    DotSegment,
    /// A key must not contain the NUL character.
    Nul,
    /// A key must not be longer than [`MAX_KEY_LEN`] bytes.
    TooLong,
    /// A list prefix must be empty or end with `/`.
    PrefixNotFolder,
}

impl fmt::Display for KeyRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "a key must not be empty",
            Self::LeadingSlash => "a key must not start with '/'",
            Self::EmptySegment => {
                "a key must not contain an empty segment ('//' or a trailing '/')"
            }
            Self::DotSegment => "a key must not contain a '.' or '..' segment",
            Self::Nul => "a key must not contain a NUL character",
            Self::TooLong => "a key must be at most 1024 bytes long",
            Self::PrefixNotFolder => "a list prefix must be empty or end with '/'",
        })
    }
}

/// Checks `key` against every key rule.
///
/// # Errors
///
/// The first rule the key breaks.
pub fn check_key(key: &str) -> Result<(), KeyRule> {
    if key.is_empty() {
        return Err(KeyRule::Empty);
    }
    if key.len() > MAX_KEY_LEN {
        return Err(KeyRule::TooLong);
    }
    if key.starts_with('/') {
        return Err(KeyRule::LeadingSlash);
    }
    if key.contains('\0') {
        return Err(KeyRule::Nul);
    }
    for segment in key.split('/') {
        match segment {
            "" => return Err(KeyRule::EmptySegment),
            "." | ".." => return Err(KeyRule::DotSegment),
            _ => {}
        }
    }
    Ok(())
}

/// Checks a list prefix: the empty string (the root), or a valid key followed by `/`.
///
/// # Errors
///
/// The first rule the prefix breaks.
pub fn check_prefix(prefix: &str) -> Result<(), KeyRule> {
    if prefix.is_empty() {
        return Ok(());
    }
    match prefix.strip_suffix('/') {
        Some(folder) => check_key(folder),
        None => Err(KeyRule::PrefixNotFolder),
    }
}

/// The direct child of `prefix` that `key` lies under: the next segment, with a trailing `/` when
/// the key lies deeper (a folder). `None` when `key` does not start with `prefix`.
pub(crate) fn child_of<'k>(prefix: &str, key: &'k str) -> Option<&'k str> {
    let rest = key.strip_prefix(prefix)?;
    Some(match rest.find('/') {
        Some(slash) => rest.get(..=slash).unwrap_or(rest),
        None => rest,
    })
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
/// Turns the keys found under `prefix` into Vault's list answer: each direct child once, folders
/// with a trailing `/`, sorted by byte order.
pub(crate) fn children<'k>(prefix: &str, keys: impl IntoIterator<Item = &'k str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for key in keys {
        if let Some(child) = child_of(prefix, key)
            && out.last().map(String::as_str) != Some(child)
        {
            out.push(child.to_owned());
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The smallest string that sorts after every string starting with `folder` (which ends in `/`):
/// the same string with its final `/` replaced by `0`, the next byte. Used to skip a whole folder
/// in one index seek.
pub(crate) fn folder_upper_bound(folder: &str) -> String {
    let mut upper = folder.strip_suffix('/').unwrap_or(folder).to_owned();
    upper.push('0');
    upper
}

/// Truncates a key for an error message: keys are not secret (see DESIGN.md), but an error should
/// stay readable when someone sends a megabyte of path.
pub(crate) fn shown(key: &str) -> String {
    const SHOWN: usize = 96;
    if key.len() <= SHOWN {
        return key.to_owned();
    }
    let mut end = SHOWN;
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}… ({} bytes)",
        key.get(..end).unwrap_or_default(),
        key.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_keys() {
        for key in [
            "a",
            "a/b",
            "core/mounts",
            "logical/6f1c/secret/data/x",
            "a.b/..c/.d",
            "ünïcødé/ключ",
            "space in/key",
        ] {
            assert_eq!(check_key(key), Ok(()), "{key}");
        }
        assert_eq!(check_key(&"k".repeat(MAX_KEY_LEN)), Ok(()));
    }

    #[test]
    fn refuses_each_rule() {
        let cases = [
            ("", KeyRule::Empty),
            ("/a", KeyRule::LeadingSlash),
            ("a/", KeyRule::EmptySegment),
            ("a//b", KeyRule::EmptySegment),
            ("a/./b", KeyRule::DotSegment),
            ("..", KeyRule::DotSegment),
            ("a/..", KeyRule::DotSegment),
            ("a\0b", KeyRule::Nul),
        ];
        for (key, rule) in cases {
            assert_eq!(check_key(key), Err(rule), "{key:?}");
        }
        assert_eq!(
            check_key(&"k".repeat(MAX_KEY_LEN + 1)),
            Err(KeyRule::TooLong)
        );
    }

    #[test]
    fn prefixes() {
        assert_eq!(check_prefix(""), Ok(()));
        assert_eq!(check_prefix("a/"), Ok(()));
        assert_eq!(check_prefix("a/b/"), Ok(()));
        assert_eq!(check_prefix("a"), Err(KeyRule::PrefixNotFolder));
        assert_eq!(check_prefix("/"), Err(KeyRule::Empty));
        assert_eq!(check_prefix("a//"), Err(KeyRule::EmptySegment));
        assert_eq!(check_prefix("../"), Err(KeyRule::DotSegment));
    }

    #[test]
    fn child_and_children() {
        assert_eq!(child_of("a/", "a/b"), Some("b"));
        assert_eq!(child_of("a/", "a/b/c"), Some("b/"));
        assert_eq!(child_of("", "a/b/c"), Some("a/"));
        assert_eq!(child_of("a/", "b/c"), None);
        #[cfg(any(feature = "sqlite", feature = "postgres"))]
        {
            let keys = ["a/x", "a/x/y", "a/x-1", "a/x/z", "a/w/q"];
            assert_eq!(children("a/", keys), ["w/", "x", "x-1", "x/"]);
        }
    }

    #[test]
    fn folder_bounds_sort_after_every_descendant() {
        let upper = folder_upper_bound("a/b/");
        assert_eq!(upper, "a/b0");
        for inside in ["a/b/", "a/b/c", "a/b/\u{10FFFF}"] {
            assert!(inside < upper.as_str());
        }
        assert!("a/b-" < "a/b/");
    }

    #[test]
    fn shown_truncates_on_char_boundary() {
        assert_eq!(shown("abc"), "abc");
        let long = "é".repeat(100);
        let s = shown(&long);
        assert!(s.ends_with("(200 bytes)"));
    }
}
