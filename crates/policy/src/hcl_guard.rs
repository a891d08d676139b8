//! A bracket check run before HCL text reaches the `hcl-edit` parser.
//!
//! That parser backtracks: on an expression whose brackets never close (`a = 9%0 -{b -{c -{…`)
//! its time doubles with each level (fuzzing found a 469-byte server config that took 3.5 s, and
//! each further level roughly doubles it), and deep nesting is slow even when closed. Policies
//! reach it over the API and configs from files, so both go through [`check_brackets`] first: a
//! single linear pass that follows HCL's lexical structure (quoted strings with escapes and
//! `${…}`/`%{…}` interpolations, heredocs, `#`, `//` and `/* */` comments) and refuses brackets
//! that do not match, or nest deeper than [`MAX_DEPTH`]. Input it accepts is handed to the parser
//! unchanged. Valid HCL always has matching brackets, so it is refused only in three deliberate
//! cases, none of which hand-written configs and policies use: nesting deeper than 32 (hcl-edit
//! allows 64), an empty heredoc (whose end hcl-edit decides by looking further ahead), and a
//! heredoc marker that is not an ASCII identifier.

use crate::Location;

/// The deepest bracket nesting accepted (Vault's own configs and policies stay below 5).
pub const MAX_DEPTH: usize = 32;

/// Why [`check_brackets`] refused a text: where, and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BracketError {
    /// The bracket at fault (1-based line and column).
    pub location: Location,
    /// What is wrong with it.
    pub message: String,
}

/// What the scanner is inside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Context {
    /// Code opened by a bracket (or by `${`/`%{`): it ends at `closer`.
    Code { closer: char },
    /// A quoted string.
    Quoted,
    /// A heredoc, ending at a line holding its marker (`marker` indexes `markers`).
    Heredoc { marker: usize },
}

/// A character that continues an ASCII identifier (heredoc markers are limited to those).
fn ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// The text, a position in it, and the line and column of that position.
struct Cursor {
    chars: Vec<char>,
    at: usize,
    line: usize,
    column: usize,
}

impl Cursor {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    /// The location of the character at the cursor.
    fn here(&self) -> Location {
        Location {
            line: self.line,
            column: self.column,
        }
    }

    /// Moves past `n` characters.
    fn skip(&mut self, n: usize) {
        for _ in 0..n {
            match self.peek(0) {
                Some('\n') => {
                    self.line += 1;
                    self.column = 1;
                }
                Some(_) => self.column += 1,
                None => return,
            }
            self.at += 1;
        }
    }

    /// Whether the text at the cursor is `s`.
    fn looking_at(&self, s: &str) -> bool {
        s.chars().enumerate().all(|(k, c)| self.peek(k) == Some(c))
    }

    fn skip_line(&mut self) {
        while let Some(c) = self.peek(0) {
            self.skip(1);
            if c == '\n' {
                return;
            }
        }
    }
}

fn refuse(location: Location, message: impl Into<String>) -> BracketError {
    BracketError {
        location,
        message: message.into(),
    }
}

/// Checks that the brackets of HCL `text` match and nest at most [`MAX_DEPTH`] deep.
///
/// # Errors
///
/// A [`BracketError`] at the first bracket that is unclosed, does not match, or is too deep;
/// and for the two heredoc forms this check does not follow (see the module docs).
pub fn check_brackets(text: &str) -> Result<(), BracketError> {
    let mut cursor = Cursor {
        chars: text.chars().collect(),
        at: 0,
        line: 1,
        column: 1,
    };
    let mut stack: Vec<(Context, Location)> = Vec::new();
    let mut markers: Vec<Vec<char>> = Vec::new();
    let mut depth = 0_usize;
    while let Some(c) = cursor.peek(0) {
        let here = cursor.here();
        match stack.last().map(|(context, _)| *context) {
            Some(Context::Heredoc { marker }) => {
                if c == '\n' {
                    cursor.skip(1);
                    // hcl-edit ends a heredoc at a line of spaces or tabs, the marker, and a
                    // character that cannot continue it.
                    let mut indent = 0;
                    while matches!(cursor.peek(indent), Some(' ' | '\t')) {
                        indent += 1;
                    }
                    let wanted = markers.get(marker).map_or(&[][..], Vec::as_slice);
                    let matches = wanted
                        .iter()
                        .enumerate()
                        .all(|(k, m)| cursor.peek(indent + k) == Some(*m));
                    let after = cursor.peek(indent + wanted.len());
                    if matches && after.is_none_or(|a| a.is_ascii()) {
                        if !after.is_some_and(ident_char) {
                            cursor.skip(indent + wanted.len());
                            stack.pop();
                        }
                    } else if matches {
                        return Err(refuse(
                            cursor.here(),
                            "a heredoc marker followed by a non-ASCII character is refused",
                        ));
                    }
                    continue;
                }
                in_template(&mut cursor, here, &mut stack, &mut depth)?;
            }
            Some(Context::Quoted) => match c {
                '\\' => cursor.skip(2),
                '"' => {
                    cursor.skip(1);
                    stack.pop();
                }
                _ => in_template(&mut cursor, here, &mut stack, &mut depth)?,
            },
            Some(Context::Code { .. }) | None => {
                if c == '#' || cursor.looking_at("//") {
                    cursor.skip_line();
                } else if cursor.looking_at("/*") {
                    cursor.skip(2);
                    while cursor.peek(0).is_some() && !cursor.looking_at("*/") {
                        cursor.skip(1);
                    }
                    cursor.skip(2);
                } else if c == '"' {
                    cursor.skip(1);
                    stack.push((Context::Quoted, here));
                } else if cursor.looking_at("<<") {
                    heredoc(&mut cursor, here, &mut stack, &mut markers)?;
                } else if let Some(closer) = match c {
                    '{' => Some('}'),
                    '[' => Some(']'),
                    '(' => Some(')'),
                    _ => None,
                } {
                    cursor.skip(1);
                    open(&mut stack, &mut depth, Context::Code { closer }, here)?;
                } else if matches!(c, '}' | ']' | ')') {
                    match stack.last() {
                        Some((Context::Code { closer }, _)) if *closer == c => {
                            stack.pop();
                            depth = depth.saturating_sub(1);
                        }
                        Some((Context::Code { closer }, opened)) => {
                            return Err(refuse(
                                here,
                                format!(
                                    "`{c}` does not close the bracket opened at line {} column \
                                     {} (expected `{closer}`)",
                                    opened.line, opened.column
                                ),
                            ));
                        }
                        _ => return Err(refuse(here, format!("`{c}` closes nothing"))),
                    }
                    cursor.skip(1);
                } else {
                    cursor.skip(1);
                }
            }
        }
    }
    // An unterminated string or heredoc is the parser's to report; an unclosed bracket is ours.
    match stack
        .iter()
        .rev()
        .find(|(context, _)| matches!(context, Context::Code { .. }))
    {
        Some((_, opened)) => Err(refuse(*opened, "this bracket is never closed")),
        None => Ok(()),
    }
}

/// At `<<` in code: a heredoc opener is `<<` or `<<-`, an identifier, and a line ending.
/// Anything else is left to the parser (HCL has no `<<` operator).
fn heredoc(
    cursor: &mut Cursor,
    here: Location,
    stack: &mut Vec<(Context, Location)>,
    markers: &mut Vec<Vec<char>>,
) -> Result<(), BracketError> {
    let start = if cursor.peek(2) == Some('-') { 3 } else { 2 };
    let mut end = start;
    while cursor
        .peek(end)
        .is_some_and(|c| !c.is_ascii() || ident_char(c))
    {
        end += 1;
    }
    let marker: Vec<char> = (start..end).filter_map(|k| cursor.peek(k)).collect();
    let line_ending = match (cursor.peek(end), cursor.peek(end + 1)) {
        (Some('\n'), _) => Some(1),
        (Some('\r'), Some('\n')) => Some(2),
        _ => None,
    };
    let Some(ending) = line_ending else {
        cursor.skip(2);
        return Ok(());
    };
    if marker.is_empty() {
        cursor.skip(2);
        return Ok(());
    }
    if marker.iter().any(|c| !c.is_ascii()) || marker.first().is_some_and(char::is_ascii_digit) {
        return Err(refuse(here, "heredoc markers must be ASCII identifiers"));
    }
    // hcl-edit reads a marker on the very next line as content when a later line also holds
    // it, and as the end otherwise; rather than follow that, empty heredocs are refused.
    let mut indent = 0;
    while matches!(cursor.peek(end + ending + indent), Some(' ' | '\t')) {
        indent += 1;
    }
    let first_line_is_marker = marker
        .iter()
        .enumerate()
        .all(|(k, m)| cursor.peek(end + ending + indent + k) == Some(*m))
        && !cursor
            .peek(end + ending + indent + marker.len())
            .is_some_and(|c| !c.is_ascii() || ident_char(c));
    if first_line_is_marker {
        return Err(refuse(
            here,
            "an empty heredoc is refused: write \"\" instead",
        ));
    }
    // Stop on the line ending, so that the next line is checked for the marker.
    cursor.skip(end + ending - 1);
    markers.push(marker);
    stack.push((
        Context::Heredoc {
            marker: markers.len() - 1,
        },
        here,
    ));
    Ok(())
}

/// Inside a string or heredoc: `${` and `%{` open an interpolation or directive; `$${` and
/// `%%{` are escapes; any other character is text.
fn in_template(
    cursor: &mut Cursor,
    here: Location,
    stack: &mut Vec<(Context, Location)>,
    depth: &mut usize,
) -> Result<(), BracketError> {
    if cursor.looking_at("$${") || cursor.looking_at("%%{") {
        cursor.skip(3);
    } else if cursor.looking_at("${") || cursor.looking_at("%{") {
        cursor.skip(2);
        open(stack, depth, Context::Code { closer: '}' }, here)?;
    } else {
        cursor.skip(1);
    }
    Ok(())
}

fn open(
    stack: &mut Vec<(Context, Location)>,
    depth: &mut usize,
    context: Context,
    here: Location,
) -> Result<(), BracketError> {
    *depth += 1;
    if *depth > MAX_DEPTH {
        return Err(refuse(
            here,
            format!("brackets nest more than {MAX_DEPTH} deep"),
        ));
    }
    stack.push((context, here));
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;

    fn refused_at(text: &str) -> (usize, usize) {
        let err = check_brackets(text).unwrap_err();
        (err.location.line, err.location.column)
    }

    #[test]
    fn valid_hcl_passes() {
        for text in [
            "",
            "path \"secret/*\" {\n  capabilities = [\"read\", \"list\"]\n}\n",
            "path \"secret/{{identity.entity.id}}/*\" { capabilities = [\"read\"] }",
            "a = \"}]) not brackets \\\" still a string {\"\nb = [1, (2), {c = 3}]",
            "a = \"${foo({x = \"}\"})} and $${literal {\"",
            "a = \"%{ if true }{%{ endif }\"",
            "# a comment with { ( [\n// another }\n/* and\n a block ] */ b = {}",
            "a = <<EOT\nheredoc with } and { and ${x[0]}\n  EOT\nb = [1]",
            "a = <<-EOT\n  {{{ unbalanced in a heredoc\n  EOT\n",
            "storage \"sqlite\" {\n  path = \"x.db\"\n}\nlistener \"tcp\" {\n  tls_disable = true\n}\n",
            "a = \"unterminated string {",
        ] {
            assert_eq!(check_brackets(text), Ok(()), "{text}");
        }
    }

    #[test]
    fn unbalanced_and_deep_brackets_are_refused_where_they_are() {
        assert_eq!(refused_at("a = {\n  b = [1\n}"), (3, 1));
        assert_eq!(refused_at("a = 1 }"), (1, 7));
        assert_eq!(refused_at("x {\n  y = (1"), (2, 7));
        assert_eq!(refused_at("a = \"${ {\""), (1, 9));
        let deep = format!(
            "a = {}{}",
            "[".repeat(MAX_DEPTH + 1),
            "]".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(refused_at(&deep), (1, MAX_DEPTH + 5));
        let ok = format!("a = {}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(check_brackets(&ok), Ok(()));
    }

    #[test]
    fn heredocs_and_escapes_as_hcl_edit_reads_them() {
        for text in [
            "a = [<<EOT\nhi\nEOT]",
            "x {\n a = <<EOT\nhi\nEOT # c\n}",
            "x {\n a = <<-EOT\n  hi ${b[1]} }}\n\t  EOT\n}",
            "a = \"$$${\"",
            "a = \"%%%{\"",
            "a = <<EOT\r\nhi {\r\nEOT\r\nb = [1]",
            "a = <<EOT\nEOTX is content\nEOT\n",
        ] {
            assert_eq!(check_brackets(text), Ok(()), "{text:?}");
        }
    }

    /// Ways to hide brackets from the check that the parser would still read (found in review):
    /// each is refused.
    #[test]
    fn hidden_brackets_are_still_found() {
        let deep = format!("l=9%0 -{{{}", "li1/p1/p%0 -{".repeat(200));
        for prefix in [
            "a = <<EOT\nhi\nEOT #\n",
            "a = <<EOT\n\u{a0}EOT\n\"\nEOT\n",
            "a = <<EOT\n\rEOT\n\"\nEOT\n",
            "a = <<EOT\nEOT\n\"\nEOT\n",
            "a = <<A\u{203f}\n\"\nA\u{203f}\n",
            "a = <<EOT\nhi\nEOT\u{20ac}\n\"\nEOT\n",
        ] {
            let text = format!("{prefix}{deep}");
            assert!(check_brackets(&text).is_err(), "{prefix:?}");
        }
        assert!(check_brackets(&format!("a = \"$$${{\"\n{deep}\"}}")).is_err());
    }

    /// The input the config fuzzer found (3.5 s in the parser), and the same shape 200 levels
    /// deep: refused at once.
    #[test]
    fn the_backtracking_shapes_are_refused() {
        let found = "l=90%0% -{li=-{zzzzzzzzzzzzzzzzzzzzzzzli=9%0%0 -{li=-{zzzzzli=9%0 -{l";
        assert!(check_brackets(found).is_err());
        let deep = format!("l=9%0 -{{{}", "li1/p1/p%0 -{".repeat(200));
        assert!(check_brackets(&deep).is_err());
    }
}
