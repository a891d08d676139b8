//! Internals for tests, benches and fuzzing. Not a stable API.

use std::cmp::Ordering;

use crate::acl::{CompiledRule, merge};
use crate::capability::{Capabilities, Operation};
use crate::decision::{Decision, Request, decide_with};
use crate::policy::Policy;

/// A deliberately simple ACL: scans every rule for every request, with matching and priority
/// written straight from Vault's documentation. The oracle the compiled [`Acl`](crate::Acl) is
/// tested and benchmarked against. It shares only the per-pattern merge and the parameter checks
/// with the `Acl`.
#[derive(Clone, Debug)]
pub struct ReferenceAcl {
    root: bool,
    rules: Vec<CompiledRule>,
}

/// Does `pattern` (a `path` string) match `path`? `+` is one non-empty segment, a trailing `*`
/// anything.
fn matches(pattern: &str, path: &str) -> bool {
    let (body, glob) = match pattern.strip_suffix('*') {
        Some(body) => (body, true),
        None => (pattern, false),
    };
    if !body.split('/').any(|s| s == "+") {
        return if glob {
            path.starts_with(body)
        } else {
            body == path
        };
    }
    let want: Vec<&str> = body.split('/').collect();
    let have: Vec<&str> = path.split('/').collect();
    if have.len() < want.len() || (!glob && have.len() != want.len()) {
        return false;
    }
    want.iter().zip(&have).enumerate().all(|(i, (w, h))| {
        if glob && i + 1 == want.len() {
            h.starts_with(w)
        } else if *w == "+" {
            // Any segment, the empty one too (OpenBao's matcher does not check).
            let _ = h;
            true
        } else {
            w == h
        }
    })
}

/// Position of the first wildcard (`+` segment) or glob (`*`), if any.
fn first_wildcard(pattern: &str) -> Option<usize> {
    let bytes = pattern.as_bytes();
    (0..bytes.len()).find(|&i| match bytes.get(i) {
        Some(b'+') => {
            (i == 0 || bytes.get(i - 1) == Some(&b'/'))
                && matches!(bytes.get(i + 1), None | Some(b'/'))
        }
        Some(b'*') => i + 1 == bytes.len(),
        _ => false,
    })
}

/// Vault's documented rules: is `p1` lower priority than `p2`?
fn lower_priority(p1: &str, p2: &str) -> bool {
    let (w1, w2) = (first_wildcard(p1), first_wildcard(p2));
    // Exact rules come before any wildcard rule.
    match (w1, w2) {
        (None, _) => return false,
        (Some(_), None) => return true,
        _ => {}
    }
    // 1. If the first wildcard (+) or glob (*) occurs earlier in P1, P1 is lower priority.
    if w1 != w2 {
        return w1 < w2;
    }
    // 2. If P1 ends in * and P2 doesn't, P1 is lower priority.
    let (s1, s2) = (p1.ends_with('*'), p2.ends_with('*'));
    if s1 != s2 {
        return s1;
    }
    // 3. If P1 has more + (wildcard) segments, P1 is lower priority.
    let plus = |p: &str| {
        p.trim_end_matches('*')
            .split('/')
            .filter(|s| *s == "+")
            .count()
    };
    if plus(p1) != plus(p2) {
        return plus(p1) > plus(p2);
    }
    // 4. If P1 is shorter, it is lower priority.
    let (b1, b2) = (p1.trim_end_matches('*'), p2.trim_end_matches('*'));
    if b1.len() != b2.len() {
        return b1.len() < b2.len();
    }
    // 5. If P1 is smaller lexicographically, it is lower priority.
    b1.cmp(b2) == Ordering::Less
}

impl ReferenceAcl {
    /// Merges the policies' rules by pattern (as [`Acl::new`](crate::Acl::new) does).
    pub fn new(policies: &[Policy]) -> ReferenceAcl {
        let (rules, root) = merge(policies);
        ReferenceAcl { root, rules }
    }

    fn best(&self, path: &str, exact_only: bool) -> Option<&CompiledRule> {
        let mut best: Option<&CompiledRule> = None;
        for rule in &self.rules {
            let p = rule.pattern().as_str();
            let is_exact = first_wildcard(p).is_none();
            if exact_only != is_exact || !matches(p, path) {
                continue;
            }
            if best.is_none_or(|b| lower_priority(b.pattern().as_str(), p)) {
                best = Some(rule);
            }
        }
        best
    }

    /// The wildcard rules OpenBao weighs for `path`: the longest pure prefix rule, and every
    /// rule with a `+` segment that matches.
    fn candidates<'a>(&'a self, path: &str, out: &mut Vec<&'a CompiledRule>) {
        let mut longest: Option<&CompiledRule> = None;
        for rule in &self.rules {
            let p = rule.pattern().as_str();
            if first_wildcard(p).is_none() || !matches(p, path) {
                continue;
            }
            let plus = p.trim_end_matches('*').split('/').any(|s| s == "+");
            if plus {
                out.push(rule);
            } else if longest.is_none_or(|l| l.pattern().as_str().len() < p.len()) {
                longest = Some(rule);
            }
        }
        out.extend(longest);
    }

    fn find(&self, path: &str, op: Operation) -> Option<&CompiledRule> {
        if let Some(rule) = self.best(path, true) {
            return Some(rule);
        }
        let Some(trimmed) = path.strip_suffix('/').filter(|_| op == Operation::List) else {
            return self.best(path, false);
        };
        if let Some(rule) = self.best(trimmed, true) {
            return Some(rule);
        }
        // A list: the candidates of both spellings, the most specific deny winning unless a
        // more specific rule grants `list` (OpenBao 2.7's `resolveACLPermsForListOp`).
        let mut pool = Vec::new();
        self.candidates(trimmed, &mut pool);
        self.candidates(path, &mut pool);
        let best = |keep: &dyn Fn(&CompiledRule) -> bool| {
            pool.iter()
                .copied()
                .filter(|r| keep(r))
                .fold(None, |best: Option<&CompiledRule>, r| {
                    if best
                        .is_none_or(|b| lower_priority(b.pattern().as_str(), r.pattern().as_str()))
                    {
                        Some(r)
                    } else {
                        best
                    }
                })
        };
        let deny = best(&|r| r.capabilities().contains(Capabilities::DENY));
        let list = best(&|r| r.capabilities().contains(Capabilities::LIST));
        match (deny, list) {
            (Some(d), Some(l)) if lower_priority(d.pattern().as_str(), l.pattern().as_str()) => {
                Some(l)
            }
            (Some(d), _) => Some(d),
            (None, Some(l)) => Some(l),
            (None, None) => best(&|_| true),
        }
    }

    /// Decides a request by scanning every rule.
    pub fn decide(&self, request: &Request) -> Decision<'_> {
        if self.root {
            return Decision::root();
        }
        let path = request.path.trim_start_matches('/');
        decide_with(self.find(path, request.operation), request)
    }

    /// Capabilities on a path, by scanning every rule.
    pub fn capabilities(&self, path: &str) -> Capabilities {
        if self.root {
            return Capabilities::ROOT;
        }
        self.find(path.trim_start_matches('/'), Operation::List)
            .map_or(Capabilities::NONE, CompiledRule::capabilities)
    }
}
