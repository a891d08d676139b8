//! `explain`: which rule of which policy wins for a path, and why.

use std::fmt;

use crate::acl::{Acl, CompiledRule, RuleSource};
use crate::capability::{Capabilities, Operation};
use crate::decision::Request;
use crate::pattern::{PatternKind, PriorityRule};

/// Why an [`Acl`] decides a path and operation the way it does: every rule that matches, the one
/// that wins, and for each loser the priority rule that beat it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Explanation {
    /// The path explained (without leading `/`).
    pub path: String,
    /// The operation explained.
    pub operation: Operation,
    /// The decision for a request without parameters or wrapping.
    pub allowed: bool,
    /// The decision's reason, in words.
    pub reason: String,
    /// True when the `root` policy decided.
    pub root: bool,
    /// Every matching rule, the winner first, then in decreasing priority.
    pub candidates: Vec<Candidate>,
}

/// One rule that matches the explained path.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Candidate {
    /// The rule's pattern.
    pub pattern: String,
    /// Exact, prefix or segment.
    pub kind: PatternKind,
    /// The merged capabilities of the pattern.
    pub capabilities: Capabilities,
    /// The policies (and stanzas) that contribute to it.
    pub sources: Vec<RuleSource>,
    /// True for the rule that applies.
    pub winner: bool,
    /// For a losing rule, the priority rule by which the winner beat it; `None` when it lost
    /// because Vault tries a `list` path without its trailing `/` first.
    pub beaten_by: Option<PriorityRule>,
    /// The form of the path this rule matched (differs from [`Explanation::path`] only for a
    /// `list` of a path with a trailing `/`).
    pub matched_path: String,
}

impl Acl {
    /// Explains the decision for `operation` on `path`: which rule of which policy wins and
    /// why the others lose. This scans every rule; use it for tooling, not per request.
    pub fn explain(&self, path: &str, operation: Operation) -> Explanation {
        let path = path.trim_start_matches('/');
        let request = Request::new(operation, path);
        let decision = self.decide(&request);
        let winner = decision.rule;
        let mut forms = vec![path];
        if operation == Operation::List
            && let Some(trimmed) = path.strip_suffix('/')
        {
            forms.push(trimmed);
        }
        let mut candidates: Vec<(&CompiledRule, &str)> = Vec::new();
        for rule in self.rules() {
            if let Some(form) = forms.iter().find(|f| rule.pattern().matches(f)) {
                candidates.push((rule, form));
            }
        }
        candidates.sort_by(|(a, _), (b, _)| b.pattern().cmp_priority(a.pattern()).0);
        if let Some(w) = winner
            && let Some(i) = candidates.iter().position(|(r, _)| std::ptr::eq(*r, w))
        {
            let win = candidates.remove(i);
            candidates.insert(0, win);
        }
        let candidates = candidates
            .into_iter()
            .map(|(rule, form)| {
                let is_winner = winner.is_some_and(|w| std::ptr::eq(w, rule));
                let beaten_by = match winner {
                    Some(w) if !is_winner => w
                        .pattern()
                        .cmp_priority(rule.pattern())
                        .1
                        .filter(|_| w.pattern().cmp_priority(rule.pattern()).0.is_gt()),
                    _ => None,
                };
                Candidate {
                    pattern: rule.pattern().as_str().to_owned(),
                    kind: rule.pattern().kind(),
                    capabilities: rule.capabilities(),
                    sources: rule.sources().to_vec(),
                    winner: is_winner,
                    beaten_by,
                    matched_path: form.to_owned(),
                }
            })
            .collect();
        Explanation {
            path: path.to_owned(),
            operation,
            allowed: decision.allowed,
            reason: decision.reason.to_string(),
            root: self.is_root(),
            candidates,
        }
    }
}

fn sources(f: &mut fmt::Formatter<'_>, sources: &[RuleSource]) -> fmt::Result {
    for (i, s) in sources.iter().enumerate() {
        f.write_str(if i == 0 { "policy " } else { ", policy " })?;
        write!(f, "{:?}", s.policy)?;
        if let Some(l) = s.location {
            write!(f, " ({l})")?;
        }
    }
    Ok(())
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.allowed { "allowed" } else { "denied" };
        writeln!(
            f,
            "{} {}: {verdict} ({})",
            self.operation, self.path, self.reason
        )?;
        if self.root {
            return Ok(());
        }
        if self.candidates.is_empty() {
            return writeln!(f, "  no rule matches this path");
        }
        for c in &self.candidates {
            let kind = match c.kind {
                PatternKind::Exact => "exact",
                PatternKind::Prefix => "prefix",
                PatternKind::Segment => "segment",
            };
            let role = if c.winner { "wins:" } else { "loses:" };
            write!(
                f,
                "  {role} path {:?} ({kind}) {} from ",
                c.pattern, c.capabilities
            )?;
            sources(f, &c.sources)?;
            if !c.winner {
                match c.beaten_by {
                    Some(rule) => write!(f, "; the winner has priority because {rule}")?,
                    None => write!(
                        f,
                        "; Vault tries {:?} first for a list",
                        c.matched_path.trim_end_matches('/')
                    )?,
                }
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
