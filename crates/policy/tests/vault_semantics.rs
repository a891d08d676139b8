//! Table tests from Vault's policy documentation: matching, the five priority rules, merging,
//! deny, parameter constraints, wrapping TTLs, list handling, built-in policies.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::time::Duration;

use strongroom_policy::{Acl, Capabilities, Operation, Policy, PriorityRule, Reason, Request};

fn acl(policies: &[(&str, &str)]) -> Acl {
    let parsed: Vec<Policy> = policies
        .iter()
        .map(|(name, text)| Policy::parse(name, text).unwrap())
        .collect();
    Acl::new(&parsed)
}

fn rule(pattern: &str, caps: &str) -> String {
    format!("path \"{pattern}\" {{ capabilities = [{caps}] }}\n")
}

/// The pattern that wins for a read of `path`.
fn winner(patterns: &[&str], path: &str) -> Option<String> {
    let text: String = patterns.iter().map(|p| rule(p, "\"read\"")).collect();
    let acl = acl(&[("p", &text)]);
    let req = Request::new(Operation::Read, path);
    acl.decide(&req).pattern().map(str::to_owned)
}

#[test]
fn documented_matching_examples() {
    // "Permit reading only secret/foo. An attached token cannot read secret/food or secret/foo/bar."
    let cases: &[(&str, &str, bool)] = &[
        ("secret/foo", "secret/foo", true),
        ("secret/foo", "secret/food", false),
        ("secret/foo", "secret/foo/bar", false),
        // "Permit reading everything under secret/bar": secret/bar/zip, secret/bar/zip/zap, but not secret/bars/zip.
        ("secret/bar/*", "secret/bar/zip", true),
        ("secret/bar/*", "secret/bar/zip/zap", true),
        ("secret/bar/*", "secret/bars/zip", false),
        // "Permit reading everything prefixed with zip-": secret/zip-zap, secret/zip-zap/zong, not secret/zip/zap.
        ("secret/zip-*", "secret/zip-zap", true),
        ("secret/zip-*", "secret/zip-zap/zong", true),
        ("secret/zip-*", "secret/zip/zap", false),
        // "secret/foo*" also matches "secret/foobar".
        ("secret/foo*", "secret/foobar", true),
        // "Permit reading the teamb path under any top-level path under secret/".
        ("secret/+/teamb", "secret/foo/teamb", true),
        ("secret/+/teamb", "secret/foo/bar/teamb", false),
        // OpenBao's matcher lets `+` take an empty segment (the core refuses such paths before
        // the ACL, but a list's trailing `/` is one: `secret/+` covers `secret/a/`).
        ("secret/+/teamb", "secret//teamb", true),
        ("secret/a/+", "secret/a/", true),
        // "Permit reading secret/foo/bar/teamb, secret/bar/foo/teamb, etc."
        ("secret/+/+/teamb", "secret/foo/bar/teamb", true),
        ("secret/+/+/teamb", "secret/bar/foo/teamb", true),
        ("secret/+/+/teamb", "secret/foo/teamb", false),
        // Combinations.
        ("secret/+/team-*", "secret/a/team-b/c", true),
        ("secret/+/team-*", "secret/a/tea", false),
        ("+/data/*", "kv/data/x", true),
        ("+", "kv", true),
        ("+", "kv/x", false),
    ];
    for (pattern, path, expect) in cases {
        let got = winner(&[pattern], path).is_some();
        assert_eq!(got, *expect, "{pattern} vs {path}");
    }
}

#[test]
fn priority_rules_each_decided_as_documented() {
    // (higher, lower, a path both match, the rule that decides)
    let cases: &[(&str, &str, &str, PriorityRule)] = &[
        // Exact beats everything.
        ("secret/foo", "secret/*", "secret/foo", PriorityRule::Exact),
        ("secret/foo", "secret/+", "secret/foo", PriorityRule::Exact),
        // Rule 2 (both wildcards at offset 7): `secret/*` ends in `*`.
        (
            "secret/+/foo",
            "secret/*",
            "secret/a/foo",
            PriorityRule::NotPrefix,
        ),
        // Rule 1: the first wildcard occurs earlier in the lower one.
        (
            "secret/foo/*",
            "secret/+/foo",
            "secret/foo/foo",
            PriorityRule::LaterWildcard,
        ),
        ("foo/a*", "foo/+", "foo/ab", PriorityRule::LaterWildcard),
        (
            "foo/bar/+/baz",
            "foo/+/bar/baz",
            "foo/bar/bar/baz",
            PriorityRule::LaterWildcard,
        ),
        (
            "secret/bar/*",
            "secret/*",
            "secret/bar/x",
            PriorityRule::LaterWildcard,
        ),
        // Rule 2: ending in * is lower.
        (
            "foo/+/bar",
            "foo/+/ba*",
            "foo/x/bar",
            PriorityRule::NotPrefix,
        ),
        ("foo/+", "foo/*", "foo/x", PriorityRule::NotPrefix),
        (
            "secret/+/foo",
            "secret/+/fo*",
            "secret/a/foo",
            PriorityRule::NotPrefix,
        ),
        // Rule 3: more + segments is lower.
        (
            "secret/*",
            "secret/+/+/foo/*",
            "secret/a/b/foo/c",
            PriorityRule::FewerPlusSegments,
        ),
        (
            "foo/bar/+/baz",
            "foo/bar/+/+",
            "foo/bar/x/baz",
            PriorityRule::FewerPlusSegments,
        ),
        // Rule 4: shorter is lower.
        (
            "foo/+/bar/ba*",
            "foo/+/bar/b*",
            "foo/x/bar/baz",
            PriorityRule::Longer,
        ),
        (
            "foo/+/bar/+/x",
            "foo/+/b*",
            "foo/a/bar/b/x",
            PriorityRule::NotPrefix,
        ),
        // Rule 5: lexicographically smaller is lower.
        (
            "foo/+/b/+",
            "foo/+/+/a",
            "foo/x/b/a",
            PriorityRule::LexicographicallyLarger,
        ),
    ];
    for (hi, lo, path, rule) in cases {
        for order in [[*hi, *lo], [*lo, *hi]] {
            assert_eq!(
                winner(&order, path).as_deref(),
                Some(*hi),
                "{hi} vs {lo} on {path}"
            );
        }
        let (hi_p, lo_p) = (
            strongroom_policy::Pattern::parse(hi).unwrap(),
            strongroom_policy::Pattern::parse(lo).unwrap(),
        );
        let (ord, by) = hi_p.cmp_priority(&lo_p);
        assert!(ord.is_gt(), "{hi} should outrank {lo}");
        assert_eq!(by, Some(*rule), "{hi} vs {lo}");
    }
}

#[test]
fn deny_overrides_same_pattern_and_exact_deny_beats_glob() {
    let acl = acl(&[
        (
            "a",
            r#"path "secret/*" { capabilities = ["create", "read", "update", "patch", "delete", "list"] }
               path "secret/super-secret" { capabilities = ["deny"] }"#,
        ),
        (
            "b",
            r#"path "secret/super-secret" { capabilities = ["read", "sudo"] }"#,
        ),
        ("c", r#"path "shared/*" { capabilities = ["read"] }"#),
        (
            "d",
            r#"path "shared/*" { capabilities = ["deny", "read"] }"#,
        ),
    ]);
    let d = acl.decide(&Request::new(Operation::Read, "secret/super-secret"));
    assert!(!d.allowed);
    assert_eq!(d.reason, Reason::Denied);
    assert_eq!(d.capabilities, Capabilities::DENY);
    assert!(
        acl.decide(&Request::new(Operation::Read, "secret/other"))
            .allowed
    );
    let d = acl.decide(&Request::new(Operation::Read, "shared/x"));
    assert_eq!(d.reason, Reason::Denied);
    assert_eq!(d.rule.unwrap().sources().len(), 2);
    // A deny on a lower-priority pattern does not affect a path a higher one wins.
    let acl2 = acl_from(&[r#"path "secret/*" { capabilities = ["deny"] }
        path "secret/+/x" { capabilities = ["read"] }"#]);
    assert!(
        acl2.decide(&Request::new(Operation::Read, "secret/a/x"))
            .allowed
    );
    assert!(
        !acl2
            .decide(&Request::new(Operation::Read, "secret/a/y"))
            .allowed
    );
}

fn acl_from(texts: &[&str]) -> Acl {
    let ps: Vec<Policy> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| Policy::parse(&format!("p{i}"), t).unwrap())
        .collect();
    Acl::new(&ps)
}

#[test]
fn capabilities_merge_by_union_across_policies() {
    let acl = acl_from(&[
        r#"path "secret/foo" { capabilities = ["read"] }"#,
        r#"path "secret/foo" { capabilities = ["update", "sudo"] }"#,
    ]);
    let d = acl.decide(&Request::new(Operation::Update, "secret/foo"));
    assert!(d.allowed);
    assert_eq!(
        d.capabilities,
        Capabilities::READ | Capabilities::UPDATE | Capabilities::SUDO
    );
    assert_eq!(
        acl.capabilities("secret/foo").to_vault_list(),
        ["sudo", "read", "update"]
    );
    let d = acl.decide(&Request::new(Operation::Delete, "secret/foo"));
    assert_eq!(
        d.reason,
        Reason::MissingCapability {
            needed: Capabilities::DELETE
        }
    );
    assert_eq!(
        acl.decide(&Request::new(Operation::Read, "nope")).reason,
        Reason::NoMatchingRule
    );
}

fn create(acl: &Acl, params: &[(&str, strongroom_policy::Value)]) -> String {
    let mut req = Request::new(Operation::Create, "secret/foo");
    for (k, v) in params {
        req = req.with_parameter(*k, v.clone());
    }
    let d = acl.decide(&req);
    if d.allowed {
        "ok".to_owned()
    } else {
        format!("{:?}", d.reason)
    }
}

#[test]
fn documented_parameter_constraints() {
    use strongroom_policy::Value as V;
    // required_parameters = ["bar", "baz"]
    let a = acl_from(&[r#"path "secret/foo" {
        capabilities = ["create"]
        required_parameters = ["bar", "baz"]
    }"#]);
    assert_eq!(
        create(&a, &[("bar", V::from("1")), ("baz", V::from("2"))]),
        "ok"
    );
    assert!(create(&a, &[("bar", V::from("1"))]).contains("MissingRequiredParameter"));
    assert!(create(&a, &[]).contains("\"bar\""));

    // "bar" = [] : only bar, any value.
    let a = acl_from(&[r#"path "secret/foo" {
        capabilities = ["create"]
        allowed_parameters = { "bar" = [] }
    }"#]);
    assert_eq!(create(&a, &[("bar", V::from("anything"))]), "ok");
    assert!(
        create(&a, &[("bar", V::from("x")), ("other", V::from("y"))])
            .contains("ParameterNotAllowed")
    );
    assert_eq!(create(&a, &[]), "ok");

    // "bar" = ["zip", "zap"]
    let a = acl_from(&[r#"path "secret/foo" {
        capabilities = ["create"]
        allowed_parameters = { "bar" = ["zip", "zap"] }
    }"#]);
    assert_eq!(create(&a, &[("bar", V::from("zap"))]), "ok");
    assert!(create(&a, &[("bar", V::from("zoom"))]).contains("ValueNotAllowed"));

    // "bar" = ["zip", "zap"], "*" = [] : others allowed with any value.
    let a = acl_from(&[r#"path "secret/foo" {
        capabilities = ["create"]
        allowed_parameters = { "bar" = ["zip", "zap"], "*" = [] }
    }"#]);
    assert_eq!(
        create(&a, &[("bar", V::from("zip")), ("other", V::from(1))]),
        "ok"
    );
    assert!(create(&a, &[("bar", V::from("nope"))]).contains("ValueNotAllowed"));

    // Globbed values: "foo-*".
    let a = acl_from(&[r#"path "secret/foo" {
        capabilities = ["create"]
        allowed_parameters = { "bar" = ["foo-*"] }
    }"#]);
    assert_eq!(create(&a, &[("bar", V::from("foo-x"))]), "ok");
    assert!(create(&a, &[("bar", V::from("x-foo"))]).contains("ValueNotAllowed"));

    // denied "bar" = [] : any other parameter.
    let a = acl_from(&[r#"path "secret/foo" {
        capabilities = ["create"]
        denied_parameters = { "bar" = [] }
    }"#]);
    assert!(create(&a, &[("bar", V::from("x"))]).contains("ParameterDenied"));
    assert_eq!(create(&a, &[("baz", V::from("x"))]), "ok");

    // denied "bar" = ["zip", "zap"]
    let a = acl_from(&[r#"path "secret/foo" {
        capabilities = ["create"]
        denied_parameters = { "bar" = ["zip", "zap"] }
    }"#]);
    assert!(create(&a, &[("bar", V::from("zip"))]).contains("ParameterDenied"));
    assert!(create(&a, &[("bar", V::from("ok,zap"))]).contains("ParameterDenied"));
    assert_eq!(create(&a, &[("bar", V::from("zoom"))]), "ok");

    // denied "*" = [] : no parameters at all.
    let a = acl_from(&[r#"path "secret/foo" {
        capabilities = ["create"]
        denied_parameters = { "*" = [] }
    }"#]);
    assert!(create(&a, &[("x", V::from("y"))]).contains("ParameterDenied"));
    assert_eq!(create(&a, &[]), "ok");

    // denied takes precedence over allowed.
    let a = acl_from(&[r#"path "secret/foo" {
        capabilities = ["create"]
        allowed_parameters = { "bar" = [] }
        denied_parameters = { "bar" = ["evil"] }
    }"#]);
    assert!(create(&a, &[("bar", V::from("evil"))]).contains("ParameterDenied"));
    assert_eq!(create(&a, &[("bar", V::from("good"))]), "ok");

    // Parameter names are case-insensitive on the policy side.
    let a = acl_from(&[r#"path "secret/foo" {
        capabilities = ["create"]
        allowed_parameters = { "Bar" = ["x"] }
    }"#]);
    assert_eq!(create(&a, &[("BAR", V::from("x"))]), "ok");

    // Parameters are not checked for delete and list.
    let a = acl_from(&[r#"path "secret/foo" {
        capabilities = ["delete"]
        denied_parameters = { "*" = [] }
    }"#]);
    let req = Request::new(Operation::Delete, "secret/foo").with_parameter("x", "y");
    assert!(a.decide(&req).allowed);
}

#[test]
fn parameter_lists_merge_as_vault_merges_them() {
    use strongroom_policy::Value as V;
    let a = acl_from(&[
        r#"path "secret/foo" {
        capabilities = ["create"]
        allowed_parameters = { "bar" = ["zip"], "baz" = [] }
    }"#,
        r#"path "secret/foo" {
        capabilities = ["create"]
        allowed_parameters = { "bar" = ["zap"], "baz" = ["only"], "new" = ["n"] }
    }"#,
    ]);
    assert_eq!(create(&a, &[("bar", V::from("zip"))]), "ok");
    assert_eq!(create(&a, &[("bar", V::from("zap"))]), "ok");
    // An empty list (any value) wins over a list.
    assert_eq!(create(&a, &[("baz", V::from("whatever"))]), "ok");
    assert_eq!(create(&a, &[("new", V::from("n"))]), "ok");
    assert!(create(&a, &[("other", V::from("n"))]).contains("ParameterNotAllowed"));

    let a = acl_from(&[
        r#"path "secret/foo" {
        capabilities = ["create"]
        required_parameters = ["a"]
    }"#,
        r#"path "secret/foo" {
        capabilities = ["create"]
        required_parameters = ["b"]
    }"#,
    ]);
    assert!(create(&a, &[("a", V::from(1))]).contains("\"b\""));
    assert_eq!(create(&a, &[("a", V::from(1)), ("b", V::from(2))]), "ok");
}

#[test]
fn wrapping_ttls() {
    let a = acl_from(&[r#"path "auth/approle/role/my-role/secret-id" {
        capabilities = ["create", "update"]
        min_wrapping_ttl = "1s"
        max_wrapping_ttl = "90s"
    }"#]);
    let req = |ttl: Option<u64>| {
        let r = Request::new(Operation::Update, "auth/approle/role/my-role/secret-id");
        match ttl {
            Some(t) => r.with_wrap_ttl(Duration::from_secs(t)),
            None => r,
        }
    };
    assert!(!a.decide(&req(None)).allowed);
    assert!(a.decide(&req(Some(1))).allowed);
    assert!(a.decide(&req(Some(90))).allowed);
    assert!(matches!(
        a.decide(&req(Some(91))).reason,
        Reason::WrappingTtl { .. }
    ));
    // Merged: the smaller maximum wins.
    let a = acl_from(&[
        r#"path "x" {
        capabilities = ["read"]
        max_wrapping_ttl = 300
    }"#,
        r#"path "x" {
        capabilities = ["read"]
        max_wrapping_ttl = "1m"
    }"#,
    ]);
    let r = Request::new(Operation::Read, "x").with_wrap_ttl(Duration::from_secs(120));
    assert!(!a.decide(&r).allowed);
}

#[test]
fn list_tries_the_path_without_trailing_slash_first() {
    let a = acl_from(&[r#"
        path "foo/sys/policies/acl" { capabilities = ["list"] }
        path "+/sys/leases" { capabilities = ["list"] }
        path "bar/*" { capabilities = ["deny"] }
        path "bar/x" { capabilities = ["list"] }
    "#]);
    for path in [
        "foo/sys/policies/acl/",
        "foo/sys/policies/acl",
        "ns/sys/leases/",
        "bar/x/",
    ] {
        assert!(
            a.decide(&Request::new(Operation::List, path)).allowed,
            "{path}"
        );
    }
    assert!(
        !a.decide(&Request::new(Operation::Read, "ns/sys/leases/"))
            .allowed
    );
}

/// A broad allow reachable only through the trimmed spelling of a list must not override a
/// narrower deny (OpenBao 2.7 pools the candidates of both spellings; checked against a running
/// OpenBao 2.7.2 with these policies).
#[test]
fn list_deny_beats_a_broader_trimmed_allow() {
    for (rules, path, allowed) in [
        (
            r#"path "secret/metadata/*" { capabilities = ["list"] }
               path "secret/metadata/private/*" { capabilities = ["deny"] }"#,
            "secret/metadata/private/",
            false,
        ),
        (
            r#"path "secret/metadata/*" { capabilities = ["list"] }
               path "secret/metadata/private/+" { capabilities = ["deny"] }"#,
            "secret/metadata/private/",
            false,
        ),
        (
            r#"path "secret/metadata/*" { capabilities = ["list"] }
               path "secret/metadata/priv*" { capabilities = ["deny"] }"#,
            "secret/metadata/private/",
            false,
        ),
        (
            r#"path "secret/metadata/*" { capabilities = ["list"] }
               path "secret/metadata/private/a" { capabilities = ["deny"] }"#,
            "secret/metadata/private/",
            true,
        ),
        (
            r#"path "secret/metadata/*" { capabilities = ["list"] }"#,
            "secret/metadata/private/",
            true,
        ),
        // A more specific rule granting list still wins over a broader deny.
        (
            r#"path "secret/metadata/*" { capabilities = ["deny"] }
               path "secret/metadata/private/*" { capabilities = ["list"] }"#,
            "secret/metadata/private/",
            true,
        ),
        // The most specific rule neither denies nor lists: the deny below it still wins
        // over the broad allow.
        (
            r#"path "secret/metadata/*" { capabilities = ["list"] }
               path "secret/metadata/private/*" { capabilities = ["deny"] }
               path "secret/metadata/private/+" { capabilities = ["read"] }"#,
            "secret/metadata/private/",
            false,
        ),
    ] {
        let a = acl_from(&[rules]);
        assert_eq!(
            a.decide(&Request::new(Operation::List, path)).allowed,
            allowed,
            "{rules} on {path}"
        );
    }
}

#[test]
fn root_and_default_policies() {
    let root = Acl::new(&[Policy::root(), Policy::default_policy()]);
    let d = root.decide(&Request::new(Operation::Delete, "sys/audit/file"));
    assert!(d.allowed);
    assert_eq!(d.reason, Reason::Root);
    assert_eq!(root.capabilities("anything").to_vault_list(), ["root"]);

    let def = Acl::new(&[Policy::default_policy()]);
    assert!(
        def.decide(&Request::new(Operation::Read, "auth/token/lookup-self"))
            .allowed
    );
    assert!(
        def.decide(&Request::new(Operation::Update, "sys/capabilities-self"))
            .allowed
    );
    assert!(
        def.decide(&Request::new(Operation::List, "cubbyhole/"))
            .allowed
    );
    assert!(
        def.decide(&Request::new(
            Operation::Read,
            "identity/oidc/provider/p1/authorize"
        ))
        .allowed
    );
    assert!(
        !def.decide(&Request::new(Operation::Read, "secret/data/x"))
            .allowed
    );
    assert!(
        !def.decide(&Request::new(Operation::Update, "sys/mounts/x"))
            .allowed
    );
    assert_eq!(
        def.capabilities("sys/tools/hash/sha2-256").to_vault_list(),
        ["update"]
    );
}

#[test]
fn explain_names_winner_policy_and_rule() {
    let ps = vec![
        Policy::parse("broad", "path \"secret/*\" { capabilities = [\"read\"] }\n").unwrap(),
        Policy::parse(
            "narrow",
            "\n\npath \"secret/+/foo\" { capabilities = [\"deny\"] }\n",
        )
        .unwrap(),
    ];
    let acl = Acl::new(&ps);
    let e = acl.explain("secret/a/foo", Operation::Read);
    assert!(!e.allowed);
    assert_eq!(e.candidates.len(), 2);
    assert!(e.candidates[0].winner);
    assert_eq!(e.candidates[0].pattern, "secret/+/foo");
    assert_eq!(e.candidates[0].sources[0].policy, "narrow");
    assert_eq!(e.candidates[0].sources[0].location.unwrap().line, 3);
    assert_eq!(e.candidates[1].beaten_by, Some(PriorityRule::NotPrefix));
    let text = e.to_string();
    assert!(text.contains("wins: path \"secret/+/foo\""), "{text}");
    assert!(text.contains("rule 2"), "{text}");
    let none = acl.explain("other", Operation::Read).to_string();
    assert!(none.contains("no rule matches"), "{none}");
}
