//! Path patterns: exact, trailing `*` (prefix) and `+` (one segment), and their priority.

use std::cmp::Ordering;
use std::collections::{HashSet, VecDeque};
use std::fmt;

/// Why a pattern with `*` before its end is refused.
pub(crate) const STAR_NOT_LAST: &str = "`*` is only allowed as the last character of a path";
/// Why a pattern with `+*` is refused.
pub(crate) const PLUS_STAR: &str = "`+*` is not allowed (a `+` segment cannot also be a glob)";

/// A parsed `path "<pattern>"`.
///
/// * no wildcard: the exact path;
/// * a trailing `*`: every path that starts with the text before it (`secret/zip-*` matches
///   `secret/zip-zap/zong`);
/// * a `+` segment: exactly one non-empty path segment (`secret/+/teamb`);
/// * combinations: `secret/+/team-*`.
///
/// `*` anywhere but at the end, and `+*`, are errors. A `+` inside a segment (`a+b`) is a plain
/// character. One leading `/` is dropped, as Vault does.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Pattern {
    text: Box<str>,
    /// True when the pattern ends in `*`.
    prefix: bool,
    /// Number of `+` segments.
    plus: u16,
    /// Byte offset of the first wildcard: the first `+` segment, else the `*`; `None` for an
    /// exact pattern.
    first_wildcard: Option<usize>,
}

/// What kind of pattern a [`Pattern`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PatternKind {
    /// No wildcard.
    Exact,
    /// A trailing `*` and no `+`.
    Prefix,
    /// At least one `+` segment (maybe also a trailing `*`).
    Segment,
}

/// Which of Vault's priority rules decided between two matching patterns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PriorityRule {
    /// An exact rule beats every wildcard rule.
    Exact,
    /// Rule 1: the first wildcard (`+`) or glob (`*`) occurs later.
    LaterWildcard,
    /// Rule 2: it does not end in `*` and the other does.
    NotPrefix,
    /// Rule 3: it has fewer `+` segments.
    FewerPlusSegments,
    /// Rule 4: it is longer.
    Longer,
    /// Rule 5: it is larger lexicographically.
    LexicographicallyLarger,
}

impl fmt::Display for PriorityRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PriorityRule::Exact => "an exact rule beats every wildcard rule",
            PriorityRule::LaterWildcard => {
                "its first wildcard (+) or glob (*) occurs later (rule 1)"
            }
            PriorityRule::NotPrefix => "it does not end in * and the other does (rule 2)",
            PriorityRule::FewerPlusSegments => "it has fewer + segments (rule 3)",
            PriorityRule::Longer => "it is longer (rule 4)",
            PriorityRule::LexicographicallyLarger => "it is larger lexicographically (rule 5)",
        })
    }
}

impl Pattern {
    /// Parses a pattern.
    ///
    /// # Errors
    ///
    /// A message saying what is wrong when `*` is not at the end or `+*` occurs.
    pub fn parse(text: &str) -> Result<Pattern, &'static str> {
        let text = text.strip_prefix('/').unwrap_or(text);
        let body = text.strip_suffix('*');
        let prefix = body.is_some();
        let body = body.unwrap_or(text);
        if body.contains('*') {
            return Err(STAR_NOT_LAST);
        }
        if text.contains("+*") {
            return Err(PLUS_STAR);
        }
        let mut plus: u16 = 0;
        let mut first_plus = None;
        let mut offset = 0usize;
        for seg in body.split('/') {
            if seg == "+" {
                plus = plus.saturating_add(1);
                first_plus.get_or_insert(offset);
            }
            offset = offset.saturating_add(seg.len()).saturating_add(1);
        }
        let first_wildcard = first_plus.or(if prefix { Some(body.len()) } else { None });
        Ok(Pattern {
            text: text.into(),
            prefix,
            plus,
            first_wildcard,
        })
    }

    /// The pattern as written (without a leading `/`).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Exact, prefix or segment.
    pub fn kind(&self) -> PatternKind {
        match (self.plus, self.prefix) {
            (0, false) => PatternKind::Exact,
            (0, true) => PatternKind::Prefix,
            _ => PatternKind::Segment,
        }
    }

    /// True when the pattern ends in `*`.
    pub fn is_prefix(&self) -> bool {
        self.prefix
    }

    /// The number of `+` segments.
    pub fn plus_segments(&self) -> usize {
        usize::from(self.plus)
    }

    /// The pattern without its trailing `*`.
    pub(crate) fn body(&self) -> &str {
        if self.prefix {
            self.text
                .get(..self.text.len().saturating_sub(1))
                .unwrap_or("")
        } else {
            &self.text
        }
    }

    /// The literal text before the first wildcard: every path the pattern matches starts with
    /// it.
    pub(crate) fn literal_prefix(&self) -> &str {
        match self.first_wildcard {
            Some(i) => self.text.get(..i).unwrap_or(""),
            None => &self.text,
        }
    }

    /// True if `path` (already without leading `/`) matches.
    pub fn matches(&self, path: &str) -> bool {
        match self.kind() {
            PatternKind::Exact => *self.text == *path,
            PatternKind::Prefix => path.starts_with(self.body()),
            PatternKind::Segment => self.matches_segments(path),
        }
    }

    fn matches_segments(&self, path: &str) -> bool {
        let mut segs = self.body().split('/').peekable();
        let mut parts = path.split('/');
        while let Some(seg) = segs.next() {
            let Some(part) = parts.next() else {
                return false;
            };
            let last = segs.peek().is_none();
            if last && self.prefix {
                // `+*` is refused at parse time, so the last segment is literal here.
                return part.starts_with(seg);
            }
            let ok = if seg == "+" {
                !part.is_empty()
            } else {
                seg == part
            };
            if !ok {
                return false;
            }
        }
        parts.next().is_none()
    }

    /// Compares the priority of two patterns that both match a path. `Greater` means `self`
    /// wins; the rule says why. Equal patterns compare `Equal`.
    pub fn cmp_priority(&self, other: &Pattern) -> (Ordering, Option<PriorityRule>) {
        match (self.first_wildcard, other.first_wildcard) {
            (None, None) => {
                return (self.text.cmp(&other.text), Some(PriorityRule::Exact));
            }
            (None, Some(_)) => return (Ordering::Greater, Some(PriorityRule::Exact)),
            (Some(_), None) => return (Ordering::Less, Some(PriorityRule::Exact)),
            (Some(a), Some(b)) if a != b => {
                return (a.cmp(&b), Some(PriorityRule::LaterWildcard));
            }
            _ => {}
        }
        if self.prefix != other.prefix {
            let o = if self.prefix {
                Ordering::Less
            } else {
                Ordering::Greater
            };
            return (o, Some(PriorityRule::NotPrefix));
        }
        if self.plus != other.plus {
            return (
                other.plus.cmp(&self.plus),
                Some(PriorityRule::FewerPlusSegments),
            );
        }
        let (la, lb) = (self.body().len(), other.body().len());
        if la != lb {
            return (la.cmp(&lb), Some(PriorityRule::Longer));
        }
        match self.body().cmp(other.body()) {
            Ordering::Equal => (Ordering::Equal, None),
            o => (o, Some(PriorityRule::LexicographicallyLarger)),
        }
    }

    /// True if every path `other` matches is also matched by `self` (language inclusion, decided
    /// on the product of the two patterns' automata).
    pub(crate) fn covers(&self, other: &Pattern) -> bool {
        let p = Automaton::new(other);
        let q = Automaton::new(self);
        // The alphabet, in classes: every byte either pattern names, `/`, and one byte neither
        // names (`None`).
        let mut alphabet: Vec<Option<u8>> = p
            .tokens
            .iter()
            .chain(q.tokens.iter())
            .filter_map(|t| match t {
                Token::Lit(b) => Some(Some(*b)),
                _ => None,
            })
            .collect();
        alphabet.push(Some(b'/'));
        alphabet.push(None);
        alphabet.sort_unstable();
        alphabet.dedup();

        let start = (Some(State::default()), Some(State::default()));
        let mut seen = HashSet::from([start]);
        let mut queue = VecDeque::from([start]);
        while let Some((ps, qs)) = queue.pop_front() {
            let Some(ps) = ps else { continue };
            if p.accepts(ps) && !qs.is_some_and(|qs| q.accepts(qs)) {
                return false;
            }
            for c in &alphabet {
                let next = (p.step(ps, *c), qs.and_then(|qs| q.step(qs, *c)));
                if next.0.is_some() && seen.insert(next) {
                    queue.push_back(next);
                }
            }
        }
        true
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.text)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Token {
    Lit(u8),
    /// One or more bytes other than `/`.
    Seg,
    /// Anything (the trailing `*`).
    Any,
}

/// A pattern as a deterministic automaton over bytes: position in the token list, and whether
/// a `+` segment has consumed at least one byte.
struct Automaton {
    tokens: Vec<Token>,
}

#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
struct State {
    pos: usize,
    in_seg: bool,
}

impl Automaton {
    fn new(p: &Pattern) -> Automaton {
        let mut tokens = Vec::new();
        for (i, seg) in p.body().split('/').enumerate() {
            if i > 0 {
                tokens.push(Token::Lit(b'/'));
            }
            if seg == "+" {
                tokens.push(Token::Seg);
            } else {
                tokens.extend(seg.bytes().map(Token::Lit));
            }
        }
        if p.prefix {
            tokens.push(Token::Any);
        }
        Automaton { tokens }
    }

    fn accepts(&self, s: State) -> bool {
        let len = self.tokens.len();
        if s.in_seg {
            return s.pos.saturating_add(1) == len;
        }
        s.pos == len || self.tokens.get(s.pos) == Some(&Token::Any)
    }

    fn step(&self, s: State, c: Option<u8>) -> Option<State> {
        if s.in_seg {
            if c != Some(b'/') {
                return Some(s);
            }
            // The segment ends; a `/` must follow it in the pattern.
            let next = s.pos.saturating_add(1);
            return (self.tokens.get(next) == Some(&Token::Lit(b'/'))).then_some(State {
                pos: next.saturating_add(1),
                in_seg: false,
            });
        }
        match self.tokens.get(s.pos)? {
            Token::Lit(b) => (Some(*b) == c).then_some(State {
                pos: s.pos.saturating_add(1),
                in_seg: false,
            }),
            Token::Seg => (c != Some(b'/')).then_some(State {
                pos: s.pos,
                in_seg: true,
            }),
            Token::Any => Some(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pattern {
        Pattern::parse(s).unwrap()
    }

    #[test]
    fn kinds_and_errors() {
        assert_eq!(p("secret/foo").kind(), PatternKind::Exact);
        assert_eq!(p("secret/*").kind(), PatternKind::Prefix);
        assert_eq!(p("secret/+/foo").kind(), PatternKind::Segment);
        assert_eq!(p("secret/+/foo*").kind(), PatternKind::Segment);
        assert_eq!(p("/secret/foo").as_str(), "secret/foo");
        assert_eq!(p("a+b/c").kind(), PatternKind::Exact);
        assert!(Pattern::parse("secret/*/foo").is_err());
        assert!(Pattern::parse("secret/**").is_err());
        assert!(Pattern::parse("secret/+*").is_err());
        assert!(Pattern::parse("*").is_ok());
        assert!(Pattern::parse("+").is_ok());
    }

    #[test]
    fn matching() {
        assert!(p("secret/foo").matches("secret/foo"));
        assert!(!p("secret/foo").matches("secret/food"));
        assert!(p("secret/bar/*").matches("secret/bar/zip/zap"));
        assert!(!p("secret/bar/*").matches("secret/bars/zip"));
        assert!(p("secret/zip-*").matches("secret/zip-zap/zong"));
        assert!(!p("secret/zip-*").matches("secret/zip/zap"));
        assert!(p("secret/+/teamb").matches("secret/foo/teamb"));
        assert!(!p("secret/+/teamb").matches("secret//teamb"));
        assert!(!p("secret/+/teamb").matches("secret/a/b/teamb"));
        assert!(p("secret/+/+/teamb").matches("secret/a/b/teamb"));
        assert!(p("secret/+/team-*").matches("secret/a/team-x/y"));
        assert!(!p("secret/+/team-*").matches("secret/a/tea"));
        assert!(p("+").matches("sys"));
        assert!(!p("+").matches("sys/"));
        assert!(p("*").matches(""));
    }

    #[test]
    fn coverage() {
        assert!(p("secret/*").covers(&p("secret/+/*")));
        assert!(p("secret/*").covers(&p("secret/+/foo")));
        assert!(!p("secret/+/*").covers(&p("secret/*")));
        assert!(p("secret/+/*").covers(&p("secret/+/+/x")));
        assert!(!p("secret/+/+").covers(&p("secret/+/*")));
        assert!(p("a/+").covers(&p("a/x")));
        assert!(!p("a/+").covers(&p("a/x/")));
        assert!(p("a/+/").covers(&p("a/x/")));
        assert!(p("a/*").covers(&p("a/*")));
    }
}
