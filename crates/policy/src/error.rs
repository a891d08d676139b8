//! The error type of policy parsing.

use std::fmt;

/// A place in a policy document: 1-based line and column (columns count characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` in `text` (clamped to the text).
    pub(crate) fn of_offset(text: &str, offset: usize) -> Location {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset = offset.saturating_sub(1);
        }
        let before = text.get(..offset).unwrap_or("");
        let line = before.matches('\n').count().saturating_add(1);
        let line_start = before.rfind('\n').map_or(0, |i| i.saturating_add(1));
        let column = before
            .get(line_start..)
            .map_or(0, |s| s.chars().count())
            .saturating_add(1);
        Location { line, column }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Why a policy document was refused.
///
/// Every variant has the line and column where the problem is. Messages quote the offending
/// text of the policy (policies hold no secrets; parameter values in them are constraints).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The document is not well-formed HCL or JSON.
    #[error("{format} syntax error at {location}: {message}")]
    Syntax {
        /// `"HCL"` or `"JSON"`.
        format: &'static str,
        /// Where the parser stopped.
        location: Location,
        /// The parser's explanation.
        message: String,
    },
    /// A capability that does not exist (`"write"`, `"root"`, a typo).
    #[error(
        "unknown capability {capability:?} at {location}; expected one of create, read, update, patch, delete, list, sudo, deny"
    )]
    UnknownCapability {
        /// The capability as written.
        capability: String,
        /// The path pattern of the rule it is in.
        path: String,
        /// Where it is.
        location: Location,
    },
    /// A path pattern that is not allowed (`*` not at the end, `+*`).
    #[error("invalid path pattern {pattern:?} at {location}: {reason}")]
    InvalidPattern {
        /// The pattern as written.
        pattern: String,
        /// What is wrong.
        reason: &'static str,
        /// Where it is.
        location: Location,
    },
    /// A key has a value of the wrong shape or an invalid value (a capability list that is not
    /// a list, a TTL that is not a duration, a parameter key with a wildcard, ...).
    #[error("invalid value for {key:?} at {location}: {message}")]
    InvalidValue {
        /// The key whose value is wrong.
        key: String,
        /// What is wrong.
        message: String,
        /// Where it is.
        location: Location,
    },
    /// The document's structure is wrong (a `path` block without a pattern, a duplicate key).
    #[error("invalid policy structure at {location}: {message}")]
    Structure {
        /// What is wrong.
        message: String,
        /// Where it is.
        location: Location,
    },
    /// A Vault Enterprise key (`control_group`, `mfa_methods`, `subscribe_event_types`) or a
    /// JSON-pointer parameter key. Refused rather than ignored, so a policy never grants more
    /// than its author meant.
    #[error("{key:?} at {location} is not supported by Strongroom")]
    Unsupported {
        /// The key.
        key: String,
        /// Where it is.
        location: Location,
    },
}

impl PolicyError {
    /// Where in the document the problem is.
    pub fn location(&self) -> Location {
        match self {
            PolicyError::Syntax { location, .. }
            | PolicyError::UnknownCapability { location, .. }
            | PolicyError::InvalidPattern { location, .. }
            | PolicyError::InvalidValue { location, .. }
            | PolicyError::Structure { location, .. }
            | PolicyError::Unsupported { location, .. } => *location,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_to_lines_and_columns() {
        let text = "ab\ncdé\nf";
        assert_eq!(
            Location::of_offset(text, 0),
            Location { line: 1, column: 1 }
        );
        assert_eq!(
            Location::of_offset(text, 3),
            Location { line: 2, column: 1 }
        );
        assert_eq!(
            Location::of_offset(text, 7),
            Location { line: 2, column: 4 }
        );
        assert_eq!(
            Location::of_offset(text, 6),
            Location { line: 2, column: 3 }
        );
        assert_eq!(
            Location::of_offset(text, 99),
            Location { line: 3, column: 2 }
        );
    }
}
