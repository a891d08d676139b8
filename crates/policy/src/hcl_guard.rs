//! A bracket check run before HCL text reaches the `hcl-edit` parser.
//!
//! That parser backtracks: on an expression whose brackets never close (`a = 9%0 -{b -{c -{…`)
//! its time doubles with each level (fuzzing found a 469-byte server config that took 3.5 s, and
//! each further level roughly doubles it), and deep nesting is slow even when closed. Policies
//! reach it over the API and configs from files, so both go through [`check_brackets`] first: a
//! single linear pass that follows HCL's lexical structure (quoted strings with escapes and
//! `${…}`/`%{…}` interpolations, heredocs, `#`, `//` and `/* */` comments) and refuses brackets
//! that do not match, or nest deeper than [`MAX_DEPTH`]. Input it accepts is handed to the parser
//! unchanged, so it never turns valid HCL away: valid HCL always has matching brackets, and
//! nothing written by hand nests 32 deep.

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
    /// A heredoc, ending at the line holding only its marker (`ends` indexes `markers`).
    Heredoc { ends: usize },
}

/// Checks that the brackets of HCL `text` match and nest at most [`MAX_DEPTH`] deep.
///
/// # Errors
///
/// A [`BracketError`] at the first bracket that is unclosed, does not match, or is too deep.
pub fn check_brackets(text: &str) -> Result<(), BracketError> {
    let mut stack: Vec<(Context, Location)> = Vec::new();
    let mut markers: Vec<String> = Vec::new();
    let mut depth = 0_usize;
    let mut chars = text.chars().peekable();
    let (mut line, mut column) = (1_usize, 0_usize);
    let mut at_line_start = true;
    while let Some(c) = chars.next() {
        column += 1;
        let here = Location { line, column };
        let starts_line = std::mem::replace(&mut at_line_start, false);
        if c == '\n' {
            line += 1;
            column = 0;
            at_line_start = true;
        }
        match stack.last().map(|(context, _)| *context) {
            Some(Context::Heredoc { ends }) => {
                // The marker line ends the heredoc: look at the line as a whole.
                if starts_line {
                    let rest: String = std::iter::once(c)
                        .chain(chars.clone().take_while(|&n| n != '\n'))
                        .collect();
                    let candidate = if c == '\n' { "" } else { rest.trim() };
                    if markers.get(ends).is_some_and(|m| m == candidate) {
                        for _ in 1..rest.chars().count() {
                            chars.next();
                        }
                        column += rest.chars().count().saturating_sub(1);
                        stack.pop();
                        continue;
                    }
                }
                interpolation(c, &mut chars, &mut column, here, &mut stack, &mut depth)?;
            }
            Some(Context::Quoted) => match c {
                '\\' => {
                    chars.next();
                    column += 1;
                }
                '"' => {
                    stack.pop();
                }
                _ => interpolation(c, &mut chars, &mut column, here, &mut stack, &mut depth)?,
            },
            Some(Context::Code { .. }) | None => match c {
                '#' => skip_line(&mut chars, &mut line, &mut column, &mut at_line_start),
                '/' if chars.peek() == Some(&'/') => {
                    skip_line(&mut chars, &mut line, &mut column, &mut at_line_start);
                }
                '/' if chars.peek() == Some(&'*') => {
                    chars.next();
                    column += 1;
                    let mut previous = ' ';
                    for n in chars.by_ref() {
                        column += 1;
                        if n == '\n' {
                            line += 1;
                            column = 0;
                        }
                        if previous == '*' && n == '/' {
                            break;
                        }
                        previous = n;
                    }
                }
                '"' => stack.push((Context::Quoted, here)),
                '<' if chars.peek() == Some(&'<') => {
                    // `<<MARKER` or `<<-MARKER` then a newline opens a heredoc.
                    let after: String = chars.clone().skip(1).take_while(|&n| n != '\n').collect();
                    let marker = after.strip_prefix('-').unwrap_or(&after).trim_end();
                    let is_marker = !marker.is_empty()
                        && marker
                            .chars()
                            .all(|m| m.is_alphanumeric() || m == '_' || m == '-');
                    if is_marker && chars.clone().nth(after.chars().count() + 1) == Some('\n') {
                        for _ in 0..after.chars().count() + 2 {
                            chars.next();
                        }
                        line += 1;
                        column = 0;
                        at_line_start = true;
                        markers.push(marker.to_owned());
                        stack.push((
                            Context::Heredoc {
                                ends: markers.len() - 1,
                            },
                            here,
                        ));
                    }
                }
                '{' | '[' | '(' => {
                    let closer = match c {
                        '{' => '}',
                        '[' => ']',
                        _ => ')',
                    };
                    open(&mut stack, &mut depth, Context::Code { closer }, here)?;
                }
                '}' | ']' | ')' => match stack.last() {
                    Some((Context::Code { closer }, _)) if *closer == c => {
                        stack.pop();
                        depth = depth.saturating_sub(1);
                    }
                    Some((Context::Code { closer }, opened)) => {
                        return Err(BracketError {
                            location: here,
                            message: format!(
                                "`{c}` does not close the bracket opened at line {} column {} \
                                 (expected `{closer}`)",
                                opened.line, opened.column
                            ),
                        });
                    }
                    _ => {
                        return Err(BracketError {
                            location: here,
                            message: format!("`{c}` closes nothing"),
                        });
                    }
                },
                _ => {}
            },
        }
    }
    // An unterminated string or heredoc is the parser's to report; an unclosed bracket is ours.
    match stack
        .iter()
        .rev()
        .find(|(context, _)| matches!(context, Context::Code { .. }))
    {
        Some((_, opened)) => Err(BracketError {
            location: *opened,
            message: "this bracket is never closed".into(),
        }),
        None => Ok(()),
    }
}

/// Inside a string or heredoc: `${` and `%{` open an interpolation (`$${` and `%%{` do not).
fn interpolation(
    c: char,
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    column: &mut usize,
    here: Location,
    stack: &mut Vec<(Context, Location)>,
    depth: &mut usize,
) -> Result<(), BracketError> {
    if c != '$' && c != '%' {
        return Ok(());
    }
    match chars.peek() {
        Some(&n) if n == c => {
            // `$$` or `%%`: an escaped sigil, whatever follows.
            chars.next();
            *column += 1;
        }
        Some('{') => {
            chars.next();
            *column += 1;
            open(stack, depth, Context::Code { closer: '}' }, here)?;
        }
        _ => {}
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
        return Err(BracketError {
            location: here,
            message: format!("brackets nest more than {MAX_DEPTH} deep"),
        });
    }
    stack.push((context, here));
    Ok(())
}

fn skip_line(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    line: &mut usize,
    column: &mut usize,
    at_line_start: &mut bool,
) {
    for n in chars.by_ref() {
        if n == '\n' {
            *line += 1;
            *column = 0;
            *at_line_start = true;
            return;
        }
    }
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
