//! Vault's `username_template`: the subset of Go's `text/template` that Vault's username
//! templates use — text, `{{ }}` actions (with `{{-`/`-}}` trimming), pipelines with `|`,
//! parenthesised sub-pipelines, string and integer literals, the fields `.DisplayName` and
//! `.RoleName`, and Vault's functions: `printf`, `random`, `truncate`, `truncate_sha256`,
//! `uppercase`, `lowercase`, `replace`, `sha256`, `base64`, `hex`, `unix_time`,
//! `unix_time_millis`, `uuid`.
//!
//! Vault's default PostgreSQL template, for example, parses and renders unchanged:
//! `{{ printf "v-%s-%s-%s-%s" (.DisplayName | truncate 8) (.RoleName | truncate 8) (random 20)
//! (unix_time) | truncate 63 }}`.
//!
//! Templates are parsed when a config or role is written (a bad one is refused then), and every
//! rendered name is checked by the caller before it reaches SQL. Sizes are bounded: a template
//! cannot make a string longer than [`MAX_LEN`] bytes.

use std::time::{SystemTime, UNIX_EPOCH};

/// The longest template source accepted, and the longest string any step may produce.
pub(crate) const MAX_LEN: usize = 4096;

/// The most nested parentheses.
const MAX_DEPTH: usize = 16;

/// What a template is rendered with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Values<'a> {
    /// The requesting token's display name (`.DisplayName`).
    pub(crate) display_name: &'a str,
    /// The role's name (`.RoleName`).
    pub(crate) role_name: &'a str,
    /// Now (`unix_time`, `unix_time_millis`).
    pub(crate) now: SystemTime,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Text(String),
    Action(Pipeline),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pipeline(Vec<Command>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Command(Vec<Operand>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Operand {
    DisplayName,
    RoleName,
    Str(String),
    Int(i64),
    Func(Func),
    Sub(Pipeline),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Printf,
    Random,
    Truncate,
    TruncateSha256,
    Uppercase,
    Lowercase,
    Replace,
    Sha256,
    Base64,
    Hex,
    UnixTime,
    UnixTimeMillis,
    Uuid,
}

const FUNCS: [(&str, Func); 13] = [
    ("printf", Func::Printf),
    ("random", Func::Random),
    ("truncate", Func::Truncate),
    ("truncate_sha256", Func::TruncateSha256),
    ("uppercase", Func::Uppercase),
    ("lowercase", Func::Lowercase),
    ("replace", Func::Replace),
    ("sha256", Func::Sha256),
    ("base64", Func::Base64),
    ("hex", Func::Hex),
    ("unix_time", Func::UnixTime),
    ("unix_time_millis", Func::UnixTimeMillis),
    ("uuid", Func::Uuid),
];

impl Func {
    fn named(name: &str) -> Result<Self, String> {
        FUNCS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
            .ok_or_else(|| format!("function {name:?} not defined"))
    }

    fn name(self) -> &'static str {
        FUNCS
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("?", |(n, _)| n)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Val {
    Str(String),
    Int(i64),
}

impl Val {
    fn text(&self) -> String {
        match self {
            Self::Str(s) => s.clone(),
            Self::Int(n) => n.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Pipe,
    Open,
    Close,
    Str(String),
    Int(i64),
    Field(String),
    Ident(String),
}

/// Splits one action's inside into tokens.
fn lex(action: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = action.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '|' => tokens.push(Token::Pipe),
            '(' => tokens.push(Token::Open),
            ')' => tokens.push(Token::Close),
            '"' => {
                let mut text = String::new();
                loop {
                    match chars.next() {
                        None => return Err("unterminated quoted string".into()),
                        Some((_, '"')) => break,
                        Some((_, '\\')) => match chars.next().map(|(_, c)| c) {
                            Some('n') => text.push('\n'),
                            Some('t') => text.push('\t'),
                            Some(c @ ('\\' | '"')) => text.push(c),
                            _ => return Err("unsupported escape in a quoted string".into()),
                        },
                        Some((_, c)) => text.push(c),
                    }
                }
                tokens.push(Token::Str(text));
            }
            '`' => {
                let mut text = String::new();
                loop {
                    match chars.next() {
                        None => return Err("unterminated raw string".into()),
                        Some((_, '`')) => break,
                        Some((_, c)) => text.push(c),
                    }
                }
                tokens.push(Token::Str(text));
            }
            '-' | '0'..='9' => {
                let mut text = String::from(c);
                while let Some((_, d)) = chars.peek().copied().filter(|(_, d)| d.is_ascii_digit()) {
                    text.push(d);
                    chars.next();
                }
                let n = text
                    .parse::<i64>()
                    .map_err(|_| format!("bad number {text:?}"))?;
                tokens.push(Token::Int(n));
            }
            '.' | 'a'..='z' | 'A'..='Z' | '_' => {
                let mut text = String::from(c);
                while let Some((_, d)) = chars
                    .peek()
                    .copied()
                    .filter(|(_, d)| d.is_ascii_alphanumeric() || *d == '_')
                {
                    text.push(d);
                    chars.next();
                }
                tokens.push(match text.strip_prefix('.') {
                    Some(field) => Token::Field(field.to_owned()),
                    None => Token::Ident(text),
                });
            }
            other => return Err(format!("unexpected {other:?}")),
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn pipeline(&mut self, depth: usize) -> Result<Pipeline, String> {
        if depth > MAX_DEPTH {
            return Err("too deeply nested".into());
        }
        let mut commands = vec![self.command(depth)?];
        while self.peek() == Some(&Token::Pipe) {
            self.at += 1;
            commands.push(self.command(depth)?);
        }
        Ok(Pipeline(commands))
    }

    fn command(&mut self, depth: usize) -> Result<Command, String> {
        let mut operands = Vec::new();
        while let Some(token) = self.peek().cloned() {
            let operand = match token {
                Token::Pipe | Token::Close => break,
                Token::Open => {
                    self.at += 1;
                    let inner = self.pipeline(depth + 1)?;
                    if self.peek() != Some(&Token::Close) {
                        return Err("unclosed '('".into());
                    }
                    Operand::Sub(inner)
                }
                Token::Str(s) => Operand::Str(s),
                Token::Int(n) => Operand::Int(n),
                Token::Field(name) => match name.as_str() {
                    "DisplayName" => Operand::DisplayName,
                    "RoleName" => Operand::RoleName,
                    _ => return Err(format!("unknown field .{name}: .DisplayName or .RoleName")),
                },
                Token::Ident(name) => Operand::Func(Func::named(&name)?),
            };
            self.at += 1;
            operands.push(operand);
        }
        if operands.is_empty() {
            return Err("empty command".into());
        }
        if operands.len() > 1 && !matches!(operands.first(), Some(Operand::Func(_))) {
            return Err("only a function takes arguments".into());
        }
        Ok(Command(operands))
    }
}

impl Template {
    /// Parses `source`.
    ///
    /// # Errors
    ///
    /// What is wrong with it, for the operator.
    pub(crate) fn parse(source: &str) -> Result<Self, String> {
        if source.len() > MAX_LEN {
            return Err(format!("longer than {MAX_LEN} bytes"));
        }
        let mut nodes = Vec::new();
        let mut rest = source;
        let mut trim_next = false;
        while !rest.is_empty() {
            let (text, after) = match rest.find("{{") {
                Some(open) => (&rest[..open], Some(&rest[open + 2..])),
                None => (rest, None),
            };
            let mut text = if trim_next { text.trim_start() } else { text };
            let Some(after) = after else {
                push_text(&mut nodes, text);
                break;
            };
            // Go's trim markers: `{{-` and `-}}` next to whitespace.
            let (trim_before, after) = match after.strip_prefix('-') {
                Some(stripped) if stripped.starts_with(char::is_whitespace) => (true, stripped),
                _ => (false, after),
            };
            if trim_before {
                text = text.trim_end();
            }
            push_text(&mut nodes, text);
            let close = after
                .find("}}")
                .ok_or("unclosed action: '{{' without '}}'")?;
            let mut inside = &after[..close];
            trim_next = false;
            if let Some(stripped) = inside.strip_suffix('-')
                && stripped.ends_with(char::is_whitespace)
            {
                inside = stripped;
                trim_next = true;
            }
            let tokens = lex(inside)?;
            let mut parser = Parser { tokens, at: 0 };
            let pipeline = parser.pipeline(0)?;
            if parser.at != parser.tokens.len() {
                return Err("unexpected ')' or trailing input in an action".into());
            }
            nodes.push(Node::Action(pipeline));
            rest = &after[close + 2..];
        }
        Ok(Self { nodes })
    }

    /// Renders the template.
    ///
    /// # Errors
    ///
    /// A function given the wrong arguments, or a string grown past [`MAX_LEN`].
    pub(crate) fn render(&self, values: &Values<'_>) -> Result<String, String> {
        let mut out = String::new();
        for node in &self.nodes {
            match node {
                Node::Text(text) => out.push_str(text),
                Node::Action(pipeline) => out.push_str(&pipeline.eval(values)?.text()),
            }
            if out.len() > MAX_LEN {
                return Err(format!("the result is longer than {MAX_LEN} bytes"));
            }
        }
        Ok(out)
    }
}

fn push_text(nodes: &mut Vec<Node>, text: &str) {
    if !text.is_empty() {
        nodes.push(Node::Text(text.to_owned()));
    }
}

impl Pipeline {
    fn eval(&self, values: &Values<'_>) -> Result<Val, String> {
        let mut piped = None;
        for command in &self.0 {
            piped = Some(command.eval(values, piped)?);
        }
        piped.ok_or_else(|| "empty pipeline".into())
    }
}

impl Command {
    fn eval(&self, values: &Values<'_>, piped: Option<Val>) -> Result<Val, String> {
        let (first, rest) = self.0.split_first().ok_or("empty command")?;
        let Operand::Func(func) = first else {
            if piped.is_some() {
                return Err("a value cannot take a piped argument".into());
            }
            return first.eval(values);
        };
        let mut args = rest
            .iter()
            .map(|operand| operand.eval(values))
            .collect::<Result<Vec<_>, _>>()?;
        args.extend(piped);
        let value = call(*func, &args, values)?;
        if let Val::Str(s) = &value
            && s.len() > MAX_LEN
        {
            return Err(format!("a value longer than {MAX_LEN} bytes"));
        }
        Ok(value)
    }
}

impl Operand {
    fn eval(&self, values: &Values<'_>) -> Result<Val, String> {
        Ok(match self {
            Self::DisplayName => Val::Str(values.display_name.to_owned()),
            Self::RoleName => Val::Str(values.role_name.to_owned()),
            Self::Str(s) => Val::Str(s.clone()),
            Self::Int(n) => Val::Int(*n),
            Self::Func(func) => call(*func, &[], values)?,
            Self::Sub(pipeline) => pipeline.eval(values)?,
        })
    }
}

fn int_arg(func: &str, value: &Val) -> Result<usize, String> {
    match value {
        Val::Int(n) => usize::try_from(*n)
            .ok()
            .filter(|n| (1..=MAX_LEN).contains(n))
            .ok_or_else(|| format!("{func}: the length must be 1 to {MAX_LEN}, not {n}")),
        Val::Str(_) => Err(format!("{func}: the length must be a number")),
    }
}

fn str_arg(func: &str, value: &Val) -> Result<String, String> {
    match value {
        Val::Str(s) => Ok(s.clone()),
        Val::Int(_) => Err(format!("{func}: expected a string, not a number")),
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn prefix(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

fn sha256_hex(s: &str) -> String {
    base16(ring::digest::digest(&ring::digest::SHA256, s.as_bytes()).as_ref())
}

fn base16(bytes: &[u8]) -> String {
    base16ct::lower::encode_string(bytes)
}

fn random_bytes<const N: usize>() -> Result<[u8; N], String> {
    ring::rand::generate::<[u8; N]>(&ring::rand::SystemRandom::new())
        .map(ring::rand::Random::expose)
        .map_err(|_| "the system random source failed".to_owned())
}

fn call(func: Func, args: &[Val], values: &Values<'_>) -> Result<Val, String> {
    let since_epoch = values.now.duration_since(UNIX_EPOCH).unwrap_or_default();
    Ok(match (func, args) {
        (Func::Printf, [format, rest @ ..]) => Val::Str(printf(&str_arg("printf", format)?, rest)?),
        (Func::Printf, []) => return Err("printf: wants a format".into()),
        (Func::Random, [n]) => {
            let n = int_arg("random", n)?;
            Val::Str(crate::random_string(crate::ALPHANUMERIC, n).map_err(|e| e.to_string())?)
        }
        (Func::Truncate, [n, s]) => {
            Val::Str(prefix(&str_arg("truncate", s)?, int_arg("truncate", n)?).to_owned())
        }
        (Func::TruncateSha256, [n, s]) => {
            let max = int_arg("truncate_sha256", n)?;
            let s = str_arg("truncate_sha256", s)?;
            if max <= 8 {
                return Err("truncate_sha256: the length must be more than 8".into());
            }
            if s.len() <= max {
                Val::Str(s)
            } else {
                let keep = prefix(&s, max - 8);
                let hash = sha256_hex(s.get(keep.len()..).unwrap_or_default());
                Val::Str(format!("{keep}{}", hash.get(..8).unwrap_or_default()))
            }
        }
        (Func::Uppercase, [s]) => Val::Str(str_arg("uppercase", s)?.to_uppercase()),
        (Func::Lowercase, [s]) => Val::Str(str_arg("lowercase", s)?.to_lowercase()),
        (Func::Replace, [find, with, s]) => {
            let find = str_arg("replace", find)?;
            let s = str_arg("replace", s)?;
            if find.is_empty() {
                Val::Str(s)
            } else {
                Val::Str(s.replace(&find, &str_arg("replace", with)?))
            }
        }
        (Func::Sha256, [s]) => Val::Str(sha256_hex(&str_arg("sha256", s)?)),
        (Func::Base64, [s]) => {
            use base64::Engine as _;
            Val::Str(base64::engine::general_purpose::STANDARD.encode(str_arg("base64", s)?))
        }
        (Func::Hex, [s]) => Val::Str(base16(str_arg("hex", s)?.as_bytes())),
        (Func::UnixTime, []) => Val::Int(i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX)),
        (Func::UnixTimeMillis, []) => {
            Val::Int(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
        }
        (Func::Uuid, []) => {
            let mut b = random_bytes::<16>()?;
            if let Some(v) = b.get_mut(6) {
                *v = (*v & 0x0f) | 0x40;
            }
            if let Some(v) = b.get_mut(8) {
                *v = (*v & 0x3f) | 0x80;
            }
            let h = base16(&b);
            Val::Str(format!(
                "{}-{}-{}-{}-{}",
                h.get(..8).unwrap_or_default(),
                h.get(8..12).unwrap_or_default(),
                h.get(12..16).unwrap_or_default(),
                h.get(16..20).unwrap_or_default(),
                h.get(20..).unwrap_or_default()
            ))
        }
        (func, args) => {
            return Err(format!(
                "{}: wrong number of arguments ({} given)",
                func.name(),
                args.len()
            ));
        }
    })
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%s`, `%d`, `%v`, `%%`.
fn printf(format: &str, args: &[Val]) -> Result<String, String> {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('s' | 'd' | 'v') => {
                let arg = args.next().ok_or("printf: too few arguments")?;
                out.push_str(&arg.text());
            }
            Some(other) => return Err(format!("printf: unsupported verb %{other}")),
            None => return Err("printf: a lone '%' at the end".into()),
        }
        if out.len() > MAX_LEN {
            return Err(format!("printf: longer than {MAX_LEN} bytes"));
        }
    }
    if args.next().is_some() {
        return Err("printf: too many arguments".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use std::time::Duration;

    use super::*;

    fn values() -> Values<'static> {
        Values {
            display_name: "token-approle-my-application",
            role_name: "readonly",
            now: UNIX_EPOCH + Duration::from_millis(1_795_737_600_123),
        }
    }

    fn render(source: &str) -> Result<String, String> {
        Template::parse(source)?.render(&values())
    }

    #[test]
    fn vaults_default_templates() {
        let pg = render(
            r#"{{ printf "v-%s-%s-%s-%s" (.DisplayName | truncate 8) (.RoleName | truncate 8) (random 20) (unix_time) | truncate 63 }}"#,
        )
        .unwrap();
        let parts: Vec<&str> = pg.split('-').collect();
        assert_eq!(parts[..3], ["v", "token", "ap"], "{pg}");
        assert_eq!(parts[3], "readonly");
        assert_eq!(parts[4].len(), 20);
        assert!(parts[4].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(parts[5], "1795737600");
        let mysql = render(
            r#"{{ printf "v-%s-%s-%s" (.DisplayName | truncate 10) (.RoleName | truncate 10) (random 20) | truncate 32 }}"#,
        )
        .unwrap();
        assert_eq!(mysql.len(), 32);
        assert!(mysql.starts_with("v-token-appr-readonly-"), "{mysql}");
    }

    #[test]
    fn functions_match_vaults() {
        assert_eq!(render("{{ .RoleName | uppercase }}").unwrap(), "READONLY");
        assert_eq!(
            render(r#"{{ .DisplayName | replace "-" "_" }}"#).unwrap(),
            "token_approle_my_application"
        );
        assert_eq!(
            render("{{ sha256 \"abc\" }}").unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(render("{{ \"hi\" | base64 }}").unwrap(), "aGk=");
        assert_eq!(render("{{ \"hi\" | hex }}").unwrap(), "6869");
        assert_eq!(render("{{unix_time_millis}}").unwrap(), "1795737600123");
        // truncate_sha256: the first max-8 bytes, then 8 hex of the hash of the rest.
        let cut = render("{{ .DisplayName | truncate_sha256 12 }}").unwrap();
        assert_eq!(&cut[..4], "toke");
        assert_eq!(&cut[4..], &sha256_hex("n-approle-my-application")[..8]);
        assert_eq!(
            render("{{ .RoleName | truncate_sha256 20 }}").unwrap(),
            "readonly"
        );
        let uuid = render("{{uuid}}").unwrap();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
        assert_ne!(uuid, render("{{uuid}}").unwrap());
        assert_eq!(
            render("app_{{- \"  x \" -}}  _end").unwrap(),
            "app_  x _end",
            "trim markers remove the whitespace outside the action"
        );
        assert_eq!(render("a {{- .RoleName -}} b").unwrap(), "areadonlyb");
        assert_eq!(render("a {{-\t.RoleName\n-}} b").unwrap(), "areadonlyb");
        assert_eq!(
            render("{{-3}}").unwrap(),
            "-3",
            "a negative number, not a trim marker"
        );
        assert_eq!(render("{{ printf \"%d%%\" 5 }}").unwrap(), "5%");
        assert_eq!(render("plain").unwrap(), "plain");
    }

    #[test]
    fn bad_templates_are_refused_cleanly() {
        for bad in [
            "{{ .RoleName",
            "{{ .Secret }}",
            "{{ exec \"rm\" }}",
            "{{ }}",
            "{{ truncate 0 .RoleName }}",
            "{{ truncate \"x\" .RoleName }}",
            "{{ random 100000 }}",
            "{{ .RoleName .RoleName }}",
            "{{ (.RoleName }}",
            "{{ .RoleName) }}",
            "{{ printf \"%s %s\" .RoleName }}",
            "{{ printf \"%x\" .RoleName }}",
            "{{ \"a\" | \"b\" }}",
            "{{ uppercase }}",
            "{{ \"unterminated }}",
            "{{ 99999999999999999999 }}",
            "{{ @ }}",
        ] {
            assert!(render(bad).is_err(), "{bad}");
        }
        let deep = format!("{{{{ {}.RoleName{} }}}}", "(".repeat(40), ")".repeat(40));
        assert!(render(&deep).is_err());
        // Growth is bounded: doubling a string through printf cannot exceed MAX_LEN.
        let mut grow = String::from("(random 1000)");
        for _ in 0..5 {
            grow = format!("(printf \"%s%s\" {grow} {grow})");
        }
        assert!(render(&format!("{{{{ {grow} }}}}")).is_err());
    }
}
