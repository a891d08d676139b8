//! Policies compiled into one [`Acl`]: merged rules in a radix tree.

use std::collections::HashMap;

use crate::capability::{Capabilities, Operation};
use crate::decision::{Decision, Permissions, Request, decide_with};
use crate::error::Location;
use crate::pattern::{Pattern, PatternKind};
use crate::policy::Policy;

/// The rules of every policy that share one pattern, merged as Vault merges them.
#[derive(Clone, Debug, PartialEq)]
pub struct CompiledRule {
    pub(crate) pattern: Pattern,
    pub(crate) permissions: Permissions,
    pub(crate) sources: Vec<RuleSource>,
}

/// Where a compiled rule came from: a policy and, when known, the stanza's location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSource {
    /// The policy's name.
    pub policy: String,
    /// The `path` stanza's location in that policy's text.
    pub location: Option<Location>,
}

impl CompiledRule {
    /// The pattern.
    pub fn pattern(&self) -> &Pattern {
        &self.pattern
    }

    /// The merged capabilities (only `deny` when any of the merged rules denies).
    pub fn capabilities(&self) -> Capabilities {
        self.permissions.capabilities
    }

    /// The policies (and stanzas) whose rules were merged into this one, in the order given.
    pub fn sources(&self) -> &[RuleSource] {
        &self.sources
    }

    /// Whether deciding a request by this rule looks at its parameters (it allows, denies or
    /// requires some): when not, the decision is the same with or without them.
    pub fn reads_parameters(&self) -> bool {
        self.permissions.reads_parameters()
    }
}

/// Groups the rules of `policies` by pattern and merges each group. Returns the merged rules in
/// first-seen order and whether the root policy is among them.
pub(crate) fn merge(policies: &[Policy]) -> (Vec<CompiledRule>, bool) {
    let mut rules: Vec<CompiledRule> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut root = false;
    for policy in policies {
        root |= policy.is_root();
        for rule in policy.rules() {
            let source = RuleSource {
                policy: policy.name().to_owned(),
                location: rule.location,
            };
            match index.get(rule.pattern.as_str()) {
                Some(&i) => {
                    if let Some(c) = rules.get_mut(i) {
                        c.permissions.merge(rule);
                        c.sources.push(source);
                    }
                }
                None => {
                    index.insert(rule.pattern.as_str(), rules.len());
                    rules.push(CompiledRule {
                        pattern: rule.pattern.clone(),
                        permissions: Permissions::from_rule(rule),
                        sources: vec![source],
                    });
                }
            }
        }
    }
    (rules, root)
}

/// A compiled set of policies: what a token's policies allow, ready to decide requests.
///
/// Built once per set of policies (Vault builds one per token), then shared. Deciding does not
/// scan the rules: exact and wildcard rules live in one radix tree keyed by their literal text
/// (for a wildcard rule, the text before its first wildcard), so a lookup walks the path once.
/// On the way back up, each node passed offers its prefix rule and the `+` rules hung on it,
/// found through a trie over path segments (literal segments by name, `+` as one edge). Every
/// rule on a deeper node outranks every rule on a shallower one (rule 1: its first wildcard is
/// later), so the deepest node with a match holds the winner.
#[derive(Clone, Debug)]
pub struct Acl {
    root: bool,
    rules: Vec<CompiledRule>,
    tree: Radix,
}

impl Acl {
    /// Compiles policies into one ACL. Rules with the same pattern are merged (capabilities
    /// united, `deny` wins, parameter lists joined, the smaller wrapping TTLs kept). With the
    /// `root` policy among them, the ACL allows everything (Vault never combines root with other
    /// policies).
    pub fn new(policies: &[Policy]) -> Acl {
        let (rules, root) = merge(policies);
        let mut tree = Radix::default();
        for (i, rule) in rules.iter().enumerate() {
            let Ok(id) = u32::try_from(i) else { break };
            match rule.pattern.kind() {
                PatternKind::Exact => {
                    let node = tree.node_for(rule.pattern.as_str().as_bytes());
                    if let Some(n) = tree.nodes.get_mut(node) {
                        n.exact = Some(id);
                    }
                }
                PatternKind::Prefix => {
                    let node = tree.node_for(rule.pattern.literal_prefix().as_bytes());
                    if let Some(n) = tree.nodes.get_mut(node) {
                        n.prefix = Some(id);
                    }
                }
                PatternKind::Segment => {
                    let literal = rule.pattern.literal_prefix();
                    let node = tree.node_for(literal.as_bytes());
                    let rest = rule.pattern.body().get(literal.len()..).unwrap_or("");
                    if let Some(n) = tree.nodes.get_mut(node) {
                        n.segments.get_or_insert_with(Box::default).insert(
                            rest,
                            rule.pattern.is_prefix(),
                            id,
                        );
                    }
                }
            }
        }
        Acl { root, rules, tree }
    }

    /// True if the `root` policy is part of this ACL.
    pub fn is_root(&self) -> bool {
        self.root
    }

    /// The merged rules, one per distinct pattern.
    pub fn rules(&self) -> &[CompiledRule] {
        &self.rules
    }

    fn rule(&self, id: Option<u32>) -> Option<&CompiledRule> {
        id.and_then(|i| self.rules.get(i as usize))
    }

    /// The rule Vault would apply to `op` on `path` (leading `/` already removed).
    pub(crate) fn find(&self, path: &str, op: Operation) -> Option<&CompiledRule> {
        let (exact, wild) = self.tree.lookup(path, &self.rules);
        if exact.is_some() {
            return self.rule(exact);
        }
        if op == Operation::List
            && let Some(trimmed) = path.strip_suffix('/')
        {
            // An exact rule for the path without its trailing slash applies first.
            let (exact, _) = self.tree.lookup(trimmed, &self.rules);
            if exact.is_some() {
                return self.rule(exact);
            }
            return self.rule(self.list_winner(trimmed, path));
        }
        self.rule(wild)
    }

    /// The wildcard rule a `list` of `path` (ending in `/`) falls under, as OpenBao 2.7 decides
    /// it: the candidates of both spellings (`trimmed`, without the slash, so `kv/+` still
    /// grants listing `kv/a/`; and `path`, so a deny on `kv/a/*` is seen) are pooled, and the
    /// most specific deny wins unless a more specific rule grants `list`. Without that, a
    /// broad allow reachable through the trimmed spelling would override a narrower deny.
    fn list_winner(&self, trimmed: &str, path: &str) -> Option<u32> {
        let mut pool = Vec::new();
        self.tree.candidates(trimmed, &mut pool);
        self.tree.candidates(path, &mut pool);
        let best = |keep: &dyn Fn(&CompiledRule) -> bool| {
            let mut best = None;
            for &id in &pool {
                if self.rules.get(id as usize).is_some_and(keep) {
                    keep_best(&mut best, id, &self.rules);
                }
            }
            best
        };
        let deny = best(&|r| r.capabilities().contains(Capabilities::DENY));
        let list = best(&|r| r.capabilities().contains(Capabilities::LIST));
        match (deny, list) {
            (Some(deny), Some(list)) => {
                let (d, l) = (self.rules.get(deny as usize), self.rules.get(list as usize));
                match (d, l) {
                    (Some(d), Some(l)) if l.pattern.cmp_priority(&d.pattern).0.is_gt() => {
                        Some(list)
                    }
                    _ => Some(deny),
                }
            }
            (Some(deny), None) => Some(deny),
            (None, Some(list)) => Some(list),
            (None, None) => best(&|_| true),
        }
    }

    /// Decides a request: finds the rule Vault would apply and checks capability, wrapping TTL
    /// and parameters. Allocates nothing on the way to `allowed` unless a request parameter name
    /// has upper-case letters.
    pub fn decide(&self, request: &Request) -> Decision<'_> {
        if self.root {
            return Decision::root();
        }
        let path = request.path.trim_start_matches('/');
        decide_with(self.find(path, request.operation), request)
    }

    /// Whether deciding `operation` on `path` looks at the request's parameters: the rule Vault
    /// would apply allows, denies or requires some. When it does not, [`decide`](Self::decide)
    /// answers the same with or without them, so a host need not convert the body.
    pub fn reads_parameters(&self, operation: Operation, path: &str) -> bool {
        if self.root {
            return false;
        }
        self.find(path.trim_start_matches('/'), operation)
            .is_some_and(|rule| rule.permissions.reads_parameters())
    }

    /// The capabilities this ACL grants on `path`, as `sys/capabilities-self` reports them
    /// (use [`Capabilities::to_vault_list`] for Vault's list of names). Looked up as a `list`
    /// would be, as Vault does; parameters are not considered.
    pub fn capabilities(&self, path: &str) -> Capabilities {
        if self.root {
            return Capabilities::ROOT;
        }
        self.find(path.trim_start_matches('/'), Operation::List)
            .map_or(Capabilities::NONE, CompiledRule::capabilities)
    }
}

/// A radix tree over the literal text of the rules.
#[derive(Clone, Debug)]
struct Radix {
    nodes: Vec<Node>,
}

#[derive(Clone, Debug, Default)]
struct Node {
    /// The edge label from the parent.
    label: Box<[u8]>,
    /// First byte of each child's label, sorted; parallel to `children`.
    keys: Vec<u8>,
    children: Vec<usize>,
    /// The exact rule whose text is this node's string.
    exact: Option<u32>,
    /// The prefix rule (`<node string>*`, no `+`).
    prefix: Option<u32>,
    /// The `+` rules whose literal prefix is this node's string, indexed by segment.
    segments: Option<Box<SegTrie>>,
}

/// The `+` rules of one radix node, as a trie over path segments: literal segments by name,
/// `+` as one wildcard edge. Matching follows the path's segments down both kinds of edge.
#[derive(Clone, Debug, Default)]
struct SegTrie {
    nodes: Vec<SegNode>,
}

#[derive(Clone, Debug, Default)]
struct SegNode {
    literal: HashMap<Box<str>, usize>,
    plus: Option<usize>,
    /// Rules without trailing `*` that end here.
    end: Vec<u32>,
    /// Rules with trailing `*` whose last segment (a prefix of the path's segment) comes next.
    glob: Vec<(Box<str>, u32)>,
}

impl SegTrie {
    fn insert(&mut self, rest: &str, prefix: bool, id: u32) {
        if self.nodes.is_empty() {
            self.nodes.push(SegNode::default());
        }
        let segs: Vec<&str> = rest.split('/').collect();
        let (walk, last) = if prefix {
            match segs.split_last() {
                Some((last, walk)) => (walk, Some(*last)),
                None => (&[][..], None),
            }
        } else {
            (&segs[..], None)
        };
        let mut at = 0usize;
        for seg in walk {
            let existing = self.nodes.get(at).and_then(|n| {
                if *seg == "+" {
                    n.plus
                } else {
                    n.literal.get(*seg).copied()
                }
            });
            at = match existing {
                Some(next) => next,
                None => {
                    let next = self.nodes.len();
                    self.nodes.push(SegNode::default());
                    if let Some(n) = self.nodes.get_mut(at) {
                        if *seg == "+" {
                            n.plus = Some(next);
                        } else {
                            n.literal.insert((*seg).into(), next);
                        }
                    }
                    next
                }
            };
        }
        if let Some(n) = self.nodes.get_mut(at) {
            match last {
                Some(lit) => n.glob.push((lit.into(), id)),
                None => n.end.push(id),
            }
        }
    }

    /// The best rule matching `rest` (the path after the node's literal prefix), or `best`.
    fn find(&self, at: usize, rest: Option<&str>, rules: &[CompiledRule], best: &mut Option<u32>) {
        let Some(node) = self.nodes.get(at) else {
            return;
        };
        let Some(rest) = rest else {
            for id in &node.end {
                keep_best(best, *id, rules);
            }
            return;
        };
        let (seg, tail) = match rest.split_once('/') {
            Some((seg, tail)) => (seg, Some(tail)),
            None => (rest, None),
        };
        for (lit, id) in &node.glob {
            if seg.starts_with(&**lit) {
                keep_best(best, *id, rules);
            }
        }
        if let Some(&next) = node.literal.get(seg) {
            self.find(next, tail, rules, best);
        }
        // `+` is any one segment, the empty one too (OpenBao's matcher does not check).
        if let Some(next) = node.plus {
            self.find(next, tail, rules, best);
        }
    }
}

impl SegTrie {
    /// Every rule matching `rest` (the path after the node's literal prefix), into `out`.
    fn find_all(&self, at: usize, rest: Option<&str>, out: &mut Vec<u32>) {
        let Some(node) = self.nodes.get(at) else {
            return;
        };
        let Some(rest) = rest else {
            out.extend(&node.end);
            return;
        };
        let (seg, tail) = match rest.split_once('/') {
            Some((seg, tail)) => (seg, Some(tail)),
            None => (rest, None),
        };
        for (lit, id) in &node.glob {
            if seg.starts_with(&**lit) {
                out.push(*id);
            }
        }
        if let Some(&next) = node.literal.get(seg) {
            self.find_all(next, tail, out);
        }
        // `+` is any one segment, the empty one too (OpenBao's matcher does not check).
        if let Some(next) = node.plus {
            self.find_all(next, tail, out);
        }
    }
}

fn keep_best(best: &mut Option<u32>, id: u32, rules: &[CompiledRule]) {
    let better = match (*best, rules.get(id as usize)) {
        (None, Some(_)) => true,
        (Some(b), Some(new)) => rules
            .get(b as usize)
            .is_none_or(|old| new.pattern.cmp_priority(&old.pattern).0.is_gt()),
        _ => false,
    };
    if better {
        *best = Some(id);
    }
}

impl Default for Radix {
    fn default() -> Self {
        Radix {
            nodes: vec![Node::default()],
        }
    }
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl Radix {
    /// The node for `key`, created (splitting an edge if needed) when absent.
    fn node_for(&mut self, key: &[u8]) -> usize {
        let mut at = 0usize;
        let mut rest = key;
        loop {
            let Some(&first) = rest.first() else {
                return at;
            };
            let Some(node) = self.nodes.get(at) else {
                return at;
            };
            match node.keys.binary_search(&first) {
                Err(pos) => {
                    let new = self.nodes.len();
                    self.nodes.push(Node {
                        label: rest.into(),
                        ..Node::default()
                    });
                    if let Some(node) = self.nodes.get_mut(at) {
                        node.keys.insert(pos, first);
                        node.children.insert(pos, new);
                    }
                    return new;
                }
                Ok(pos) => {
                    let Some(&child) = node.children.get(pos) else {
                        return at;
                    };
                    let label = self
                        .nodes
                        .get(child)
                        .map(|c| c.label.clone())
                        .unwrap_or_default();
                    let common = common_prefix(&label, rest);
                    if common < label.len() {
                        // Split the edge: parent -> mid (label[..common]) -> child (label[common..]).
                        let mid = self.nodes.len();
                        let tail = label.get(common..).unwrap_or_default();
                        self.nodes.push(Node {
                            label: label.get(..common).unwrap_or_default().into(),
                            keys: tail.first().copied().into_iter().collect(),
                            children: vec![child],
                            ..Node::default()
                        });
                        if let Some(c) = self.nodes.get_mut(child) {
                            c.label = tail.into();
                        }
                        if let Some(slot) =
                            self.nodes.get_mut(at).and_then(|n| n.children.get_mut(pos))
                        {
                            *slot = mid;
                        }
                        at = mid;
                    } else {
                        at = child;
                    }
                    rest = rest.get(common..).unwrap_or_default();
                }
            }
        }
    }

    /// The wildcard rules OpenBao weighs for `path`: the longest prefix rule, and every
    /// segment (`+`) rule that matches, into `out`.
    fn candidates(&self, path: &str, out: &mut Vec<u32>) {
        let mut at = 0usize;
        let mut rest = path.as_bytes();
        let mut longest_prefix = None;
        while let Some(node) = self.nodes.get(at) {
            if node.prefix.is_some() {
                longest_prefix = node.prefix;
            }
            if let Some(segments) = &node.segments {
                let offset = path.len().saturating_sub(rest.len());
                segments.find_all(0, path.get(offset..), out);
            }
            let Some(first) = rest.first() else {
                break;
            };
            let Ok(pos) = node.keys.binary_search(first) else {
                break;
            };
            let child = node.children.get(pos).copied().unwrap_or(usize::MAX);
            match self.nodes.get(child) {
                Some(c) if rest.starts_with(&c.label) => {
                    rest = rest.get(c.label.len()..).unwrap_or_default();
                    at = child;
                }
                _ => break,
            }
        }
        out.extend(longest_prefix);
    }

    /// The exact rule for `path`, and the best wildcard rule matching it.
    fn lookup(&self, path: &str, rules: &[CompiledRule]) -> (Option<u32>, Option<u32>) {
        self.walk(0, path.as_bytes(), path, rules)
    }

    /// Walks down from `at` with `rest` left of the path; on the way back up, tries the
    /// wildcard rules of each node (deepest first).
    fn walk(
        &self,
        at: usize,
        rest: &[u8],
        path: &str,
        rules: &[CompiledRule],
    ) -> (Option<u32>, Option<u32>) {
        let Some(node) = self.nodes.get(at) else {
            return (None, None);
        };
        let (exact, deeper) = match rest.first() {
            None => (node.exact, None),
            Some(first) => match node.keys.binary_search(first) {
                Ok(pos) => {
                    let child = node.children.get(pos).copied().unwrap_or(usize::MAX);
                    match self.nodes.get(child) {
                        Some(c) if rest.starts_with(&c.label) => {
                            let rest = rest.get(c.label.len()..).unwrap_or_default();
                            self.walk(child, rest, path, rules)
                        }
                        _ => (None, None),
                    }
                }
                Err(_) => (None, None),
            },
        };
        if exact.is_some() || deeper.is_some() {
            return (exact, deeper);
        }
        // Every rule on this node has its first wildcard right after the node's string, so they
        // tie on rule 1 and the priority comparison settles the rest.
        let mut best = node.prefix;
        if let Some(segments) = &node.segments {
            let at = path.len().saturating_sub(rest.len());
            segments.find(0, path.get(at..), rules, &mut best);
        }
        (None, best)
    }
}
