//! Path patterns, compiled once into segments and matched without allocating.

use std::ops::Range;

/// One piece of a compiled pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    /// A fixed segment (`keys`).
    Literal(String),
    /// `{name}`: exactly one non-empty segment.
    One(usize),
    /// `{name?}`: one segment or nothing (only at the end, after the fixed part).
    Optional(usize),
    /// `{name*}` (may be empty) or `{name+}` (non-empty, not ending in `/`): the rest of the path.
    Rest { capture: usize, non_empty: bool },
}

/// A compiled pattern: segments, the names it captures (in order) and whether a trailing `/` is
/// optional (`/?` at the end).
#[derive(Clone, Debug)]
pub(crate) struct Pattern {
    segments: Vec<Segment>,
    captures: Vec<String>,
    optional_slash: bool,
    problems: Vec<String>,
}

impl Pattern {
    /// Compiles `text`. Never fails: what does not parse is reported by [`Pattern::problems`]
    /// (checked by each engine's tests) and matches nothing it should not.
    pub(crate) fn compile(text: &str) -> Self {
        let mut problems = Vec::new();
        let (body, optional_slash) = match text.strip_suffix("/?") {
            Some(body) => (body, true),
            None => (text, false),
        };
        let mut segments = Vec::new();
        let mut captures: Vec<String> = Vec::new();
        if !body.is_empty() {
            for part in body.split('/') {
                let segment = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    None => {
                        if part.is_empty() || part.contains(['{', '}']) {
                            problems.push(format!("pattern {text:?}: bad segment {part:?}"));
                        }
                        Segment::Literal(part.to_owned())
                    }
                    Some(inner) => {
                        let (name, kind) = match inner.char_indices().last() {
                            Some((at, c @ ('*' | '+' | '?'))) => {
                                (inner.get(..at).unwrap_or(""), Some(c))
                            }
                            _ => (inner, None),
                        };
                        if name.is_empty()
                            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        {
                            problems.push(format!("pattern {text:?}: bad capture name {name:?}"));
                        }
                        if captures.iter().any(|c| c == name) {
                            problems.push(format!("pattern {text:?}: {name:?} captured twice"));
                        }
                        let index = captures.len();
                        captures.push(name.to_owned());
                        match kind {
                            Some('*') => Segment::Rest {
                                capture: index,
                                non_empty: false,
                            },
                            Some('+') => Segment::Rest {
                                capture: index,
                                non_empty: true,
                            },
                            Some(_) => Segment::Optional(index),
                            None => Segment::One(index),
                        }
                    }
                };
                if let Some(last) = segments.last() {
                    let after_rest = segments.iter().any(|s| matches!(s, Segment::Rest { .. }));
                    match (last, &segment) {
                        // `mounts/{path+}/tune`: fixed segments may end the path after a
                        // non-empty rest capture (Vault's `mounts/(?P<path>.+?)/tune$`).
                        (_, Segment::Literal(_))
                            if after_rest
                                && segments.iter().any(|s| {
                                    matches!(
                                        s,
                                        Segment::Rest {
                                            non_empty: true,
                                            ..
                                        }
                                    )
                                }) => {}
                        _ if after_rest => problems.push(format!(
                            "pattern {text:?}: only fixed segments may follow a rest capture, \
                             and only a non-empty one ({{name+}})"
                        )),
                        (Segment::Optional(_), s) if !matches!(s, Segment::Optional(_)) => problems
                            .push(format!(
                                "pattern {text:?}: only optional captures may follow one"
                            )),
                        _ => {}
                    }
                }
                segments.push(segment);
            }
        }
        Self {
            segments,
            captures,
            optional_slash,
            problems,
        }
    }

    /// The names the pattern captures, in order.
    pub(crate) fn captures(&self) -> &[String] {
        &self.captures
    }

    /// What is wrong with the pattern (empty when it is well formed).
    pub(crate) fn problems(&self) -> &[String] {
        &self.problems
    }

    /// Matches `path`, filling `spans` (one per capture, `None` for an absent optional one)
    /// with byte ranges into `path`. First segment first, no backtracking: patterns are
    /// prefix-free per segment, so one pass decides.
    pub(crate) fn matches(&self, path: &str, spans: &mut Vec<Option<Range<usize>>>) -> bool {
        spans.clear();
        spans.resize(self.captures.len(), None);
        let mut at = 0;
        for (i, segment) in self.segments.iter().enumerate() {
            let optional = matches!(segment, Segment::Optional(_));
            let rest = path.get(at..).unwrap_or("");
            if i > 0 {
                match rest.strip_prefix('/') {
                    Some(after) if !(optional && after.is_empty()) => at += 1,
                    _ if optional => continue,
                    _ => return false,
                }
            } else if optional && rest.is_empty() {
                continue;
            }
            let rest = path.get(at..).unwrap_or("");
            if let Segment::Rest { capture, non_empty } = segment {
                let Some(end) = self.rest_end(i, rest) else {
                    return false;
                };
                let captured = rest.get(..end).unwrap_or("");
                if *non_empty && (captured.is_empty() || captured.ends_with('/')) {
                    return false;
                }
                if let Some(slot) = spans.get_mut(*capture) {
                    *slot = Some(at..at + end);
                }
                return true;
            }
            let len = rest.find('/').unwrap_or(rest.len());
            let head = rest.get(..len).unwrap_or("");
            match segment {
                Segment::Literal(literal) if head != literal => return false,
                Segment::One(capture) | Segment::Optional(capture) => {
                    if head.is_empty() {
                        return false;
                    }
                    if let Some(slot) = spans.get_mut(*capture) {
                        *slot = Some(at..at + len);
                    }
                }
                _ => {}
            }
            at += len;
        }
        let rest = path.get(at..).unwrap_or("");
        rest.is_empty() || (self.optional_slash && rest == "/")
    }

    /// Where the rest capture at segment `index` ends in `rest` (the path from the capture on):
    /// at the end, or before the fixed segments that follow it, which must then end the path
    /// (with one optional `/` after them when the pattern allows it). `None`: they do not.
    fn rest_end(&self, index: usize, rest: &str) -> Option<usize> {
        let suffix: Vec<&str> = self
            .segments
            .get(index + 1..)
            .unwrap_or_default()
            .iter()
            .filter_map(|s| match s {
                Segment::Literal(literal) => Some(literal.as_str()),
                _ => None,
            })
            .collect();
        if suffix.is_empty() {
            return Some(rest.len());
        }
        let body = match rest.strip_suffix('/') {
            Some(body) if self.optional_slash => body,
            _ => rest,
        };
        let tail = format!("/{}", suffix.join("/"));
        body.strip_suffix(tail.as_str()).map(str::len)
    }

    /// Concrete paths this pattern matches, for tests: every capture replaced by `value(name)`
    /// (a rest capture takes the value as it is, so it may hold `/`). A pattern with optional
    /// captures gives one path per number of them present (none first), and one with a trailing
    /// `/?` each of those with and without the `/`.
    pub(crate) fn example_paths(&self, value: &mut dyn FnMut(&str) -> String) -> Vec<String> {
        let optional = self
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Optional(_)))
            .count();
        let fixed = self.segments.len() - optional;
        let mut paths = Vec::new();
        for present in 0..=optional {
            let mut path = String::new();
            for (i, segment) in self.segments.iter().take(fixed + present).enumerate() {
                if i > 0 {
                    path.push('/');
                }
                match segment {
                    Segment::Literal(literal) => path.push_str(literal),
                    Segment::One(c) | Segment::Optional(c) | Segment::Rest { capture: c, .. } => {
                        path.push_str(&value(self.captures.get(*c).map_or("", String::as_str)));
                    }
                }
            }
            if self.optional_slash {
                paths.push(format!("{path}/"));
            }
            paths.push(path);
        }
        paths
    }

    /// The OpenAPI path(s) for the pattern below `prefix` (ending in `/`): `{name}` for every
    /// capture; a pattern with optional captures gives one path per number of them present.
    pub(crate) fn openapi_paths(&self, prefix: &str) -> Vec<(String, Vec<String>)> {
        let optional = self
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Optional(_)))
            .count();
        let fixed = self.segments.len() - optional;
        (0..=optional)
            .map(|present| {
                let mut path = String::from("/");
                path.push_str(prefix);
                let mut params = Vec::new();
                for (i, segment) in self.segments.iter().take(fixed + present).enumerate() {
                    if i > 0 {
                        path.push('/');
                    }
                    match segment {
                        Segment::Literal(literal) => path.push_str(literal),
                        Segment::One(c)
                        | Segment::Optional(c)
                        | Segment::Rest { capture: c, .. } => {
                            let name = self.captures.get(*c).map_or("", String::as_str);
                            path.push('{');
                            path.push_str(name);
                            path.push('}');
                            params.push(name.to_owned());
                        }
                    }
                }
                (path, params)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pattern: &str, path: &str) -> Option<Vec<Option<String>>> {
        let pattern = Pattern::compile(pattern);
        assert!(pattern.problems().is_empty(), "{:?}", pattern.problems());
        let mut spans = Vec::new();
        pattern.matches(path, &mut spans).then(|| {
            spans
                .iter()
                .map(|s| s.clone().map(|r| path[r].to_owned()))
                .collect()
        })
    }

    fn some(values: &[&str]) -> Option<Vec<Option<String>>> {
        Some(values.iter().map(|v| Some((*v).to_owned())).collect())
    }

    #[test]
    fn segments_match_as_documented() {
        assert_eq!(run("config", "config"), some(&[]));
        assert_eq!(run("config", "config/"), None);
        assert_eq!(run("config", "configs"), None);
        assert_eq!(run("config", "config/x"), None);
        assert_eq!(run("keys/?", "keys/"), some(&[]));
        assert_eq!(run("keys/?", "keys"), some(&[]));
        assert_eq!(run("keys/{name}", "keys/a"), some(&["a"]));
        assert_eq!(run("keys/{name}", "keys/"), None);
        assert_eq!(run("keys/{name}", "keys/a/b"), None);
        assert_eq!(run("keys/{name}/rotate", "keys/a/rotate"), some(&["a"]));
        assert_eq!(run("keys/{name}/rotate", "keys/a/rotatex"), None);
        assert_eq!(run("data/{path*}", "data/a/b/"), some(&["a/b/"]));
        assert_eq!(
            run("mounts/{path+}/tune", "mounts/a/b/tune"),
            some(&["a/b"])
        );
        assert_eq!(
            run("mounts/{path+}/tune", "mounts/a/tune/tune"),
            some(&["a/tune"])
        );
        assert_eq!(run("mounts/{path+}/tune", "mounts/tune"), None);
        assert_eq!(run("mounts/{path+}/tune", "mounts//tune"), None);
        assert_eq!(run("mounts/{path+}/tune", "mounts/a/tune/"), None);
        assert_eq!(run("mounts/{path+}/tune", "mounts/a/tunes"), None);
        assert_eq!(run("mounts/{path+}/tune/?", "mounts/a/tune/"), some(&["a"]));
        assert_eq!(run("a/{p+}/x/y", "a/q/x/y"), some(&["q"]));
        assert_eq!(run("a/{p+}/x/y", "a/q/y"), None);
        assert_eq!(run("data/{path*}", "data/"), some(&[""]));
        assert_eq!(run("data/{path*}", "data"), None);
        assert_eq!(run("data/{path+}", "data/a/b"), some(&["a/b"]));
        assert_eq!(run("data/{path+}", "data/"), None);
        assert_eq!(run("data/{path+}", "data/a/"), None);
        assert_eq!(run("{path*}", ""), some(&[""]));
        assert_eq!(run("{path*}", "a/b"), some(&["a/b"]));
        assert_eq!(run("", ""), some(&[]));
        assert_eq!(run("", "a"), None);
        let export = "export/{type}/{name}/{version?}";
        assert_eq!(
            run(export, "export/k/n"),
            Some(vec![Some("k".into()), Some("n".into()), None])
        );
        assert_eq!(run(export, "export/k/n/3"), some(&["k", "n", "3"]));
        assert_eq!(run(export, "export/k/n/"), None);
        assert_eq!(run(export, "export/k/n/3/4"), None);
    }

    #[test]
    fn malformed_patterns_are_reported() {
        for bad in [
            "a/{x*}/b",
            "a/{x+}/{y}",
            "a/{x+}/b/{y?}",
            "a//b",
            "{}",
            "a/{x}/{x}",
            "a/{v?}/b",
            "a{b}",
        ] {
            assert!(!Pattern::compile(bad).problems().is_empty(), "{bad}");
        }
    }

    #[test]
    fn example_paths_match_their_pattern() {
        let mut sample = |name: &str| format!("<{name}>");
        let cases: [(&str, &[&str]); 7] = [
            ("config", &["config"]),
            ("mounts/{path+}/tune", &["mounts/<path>/tune"]),
            ("keys/?", &["keys/", "keys"]),
            ("keys/{name}/rotate", &["keys/<name>/rotate"]),
            ("data/{path+}", &["data/<path>"]),
            (
                "random/{source?}/{bytes?}",
                &["random", "random/<source>", "random/<source>/<bytes>"],
            ),
            ("", &[""]),
        ];
        for (text, expected) in cases {
            let pattern = Pattern::compile(text);
            let paths = pattern.example_paths(&mut sample);
            assert_eq!(paths, expected, "{text}");
            for path in &paths {
                assert!(pattern.matches(path, &mut Vec::new()), "{text}: {path}");
            }
        }
    }

    #[test]
    fn openapi_paths_expand_optional_captures() {
        let p = Pattern::compile("export/{type}/{version?}");
        let paths: Vec<String> = p
            .openapi_paths("transit/")
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(
            paths,
            ["/transit/export/{type}", "/transit/export/{type}/{version}"]
        );
    }
}
