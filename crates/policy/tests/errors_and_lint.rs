//! Bad input gives located errors (never a panic); `lint` finds what Vault accepts silently.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use proptest::prelude::*;
use strongroom_policy::{LintKind, Location, Policy, PolicyError, PriorityRule, lint};

fn err(text: &str) -> PolicyError {
    Policy::parse("t", text).unwrap_err()
}

fn at(line: usize, column: usize) -> Location {
    Location { line, column }
}

#[test]
fn errors_have_line_and_column() {
    let e = err("path \"secret/*\" {\n  capabilities = [\"read\", \"write\"]\n}\n");
    assert_eq!(
        e,
        PolicyError::UnknownCapability {
            capability: "write".into(),
            path: "secret/*".into(),
            location: at(2, 27)
        }
    );
    assert!(e.to_string().contains("line 2, column 27"), "{e}");

    let e = err("\npath \"secret/*/foo\" {\n  capabilities = [\"read\"]\n}\n");
    assert!(
        matches!(e, PolicyError::InvalidPattern { location, .. } if location == at(2, 6)),
        "{e:?}"
    );
    assert!(matches!(
        err("path \"a/+*\" { capabilities = [] }"),
        PolicyError::InvalidPattern { .. }
    ));

    let e = err("path \"x\" {\n  capabilities = [\"read\"\n");
    assert!(
        matches!(e, PolicyError::Syntax { format: "HCL", .. }),
        "{e:?}"
    );
    assert!(e.location().line >= 2);

    let e =
        err("{\n  \"path\": {\n    \"secret/*\": {\"capabilities\": [\"read\", \"root\"]}\n  }\n}");
    assert!(
        matches!(e, PolicyError::UnknownCapability { ref capability, location, .. } if capability == "root" && location.line == 3),
        "{e:?}"
    );
    let e = err("{\"path\": {\"a*b\": {}}}");
    assert!(
        matches!(e, PolicyError::InvalidPattern { location, .. } if location.line == 1),
        "{e:?}"
    );
    let e = err("{\"path\": {\"a\": {\"capabilities\": \"read\"}}");
    assert!(
        matches!(e, PolicyError::Syntax { format: "JSON", .. }),
        "{e:?}"
    );
    let e = err("{\"path\": \n{\"a\": {\"capabilities\": [\"read\"]}},}");
    assert!(
        matches!(e, PolicyError::Syntax { location, .. } if location.line == 2),
        "{e:?}"
    );
}

#[test]
fn refusals() {
    let cases = [
        "path { capabilities = [\"read\"] }",
        "path \"a\" \"b\" { capabilities = [\"read\"] }",
        "path \"a\" {\n capabilities = [\"read\"]\n capabilities = [\"list\"]\n}",
        "path \"a\" { control_group = {} }",
        "path \"a\" { mfa_methods = [\"x\"] }",
        "path \"a\" { allowed_parameters = { \"a*\" = [] } }",
        "path \"a\" { allowed_parameters = { \"/a/b\" = [] } }",
        "path \"a\" { allowed_parameters = { \"a\" = \"b\" } }",
        "path \"a\" { required_parameters = [\"*\"] }",
        "path \"a\" {\n min_wrapping_ttl = \"2m\"\n max_wrapping_ttl = \"1m\"\n}",
        "path \"a\" { max_wrapping_ttl = \"soon\" }",
        "path \"a\" { capabilities = [\"${var.x}\"] }",
        "path \"a\" { capabilities = [upper(\"read\")] }",
        "path \"a\" { policy = \"admin\" }",
        "{\"path\": {\"a\": {\"capabilities\": [\"read\"], \"capabilities\": []}}}",
        "{\"path\": {\"a\": {\"subscribe_event_types\": []}}}",
        "{\"path\": {\"a\": {\"allowed_parameters\": {\"x\": 1}}}}",
        "{",
        "",
    ];
    for text in cases {
        if text.is_empty() {
            assert!(Policy::parse("t", text).unwrap().rules().is_empty());
            continue;
        }
        let e = Policy::parse("t", text).expect_err(text);
        assert!(
            e.location().line >= 1 && e.location().column >= 1,
            "{text}: {e}"
        );
    }
}

#[test]
fn accepted_forms() {
    // Legacy `policy`, nested parameter blocks, TTL numbers, JSON list form, name key.
    let p = Policy::parse(
        "t",
        r#"
        name = "ignored"
        path "a" { policy = "write" }
        path "b" {
          capabilities = ["create"]
          allowed_parameters {
            foo = []
          }
          min_wrapping_ttl = 5
          comment = "fine"
        }
    "#,
    )
    .unwrap();
    assert_eq!(
        p.rules()[0].capabilities.to_string(),
        "[create, read, update, delete, list]"
    );
    assert!(
        p.rules()[1]
            .allowed_parameters
            .as_ref()
            .unwrap()
            .contains_key("foo")
    );
    let j = Policy::parse(
        "t",
        r#"{"path": [{"a": {"policy": "read"}}, {"b": {"capabilities": ["deny", "read"]}}]}"#,
    )
    .unwrap();
    assert_eq!(j.rules()[0].capabilities.to_string(), "[read, list]");
    assert_eq!(j.rules()[1].capabilities.to_string(), "[deny]");
}

/// Pieces of HCL's lexical structure, for texts the bracket check and the parser both see.
const HCL_PIECES: &[&str] = &[
    "a",
    "b = ",
    "\"",
    "${",
    "%{",
    "$${",
    "%%{",
    "}",
    "{",
    "[",
    "]",
    "(",
    ")",
    "\n",
    "# c\n",
    "// c\n",
    "/*",
    "*/",
    "<<EOT\n",
    "EOT\n",
    "<<-EOT\n",
    "  EOT\n",
    "\\\"",
    ", ",
    "1",
    "-",
    "x {",
    "path \"p\" ",
    "$$$",
    "%%%",
    "EOT]",
    "EOT #",
    "\r\n",
    "\u{a0}EOT\n",
    "<<EOTX\n",
];

proptest! {
    /// The bracket check runs before the parser and must never refuse what the parser accepts
    /// (but for its documented refusals).
    #[test]
    fn the_bracket_check_accepts_whatever_parses(
        pieces in proptest::collection::vec(proptest::sample::select(HCL_PIECES), 0..14)
    ) {
        let text = pieces.concat();
        if hcl::edit::parser::parse_body(&text).is_ok() {
            // Save for the documented refusals (empty heredocs, non-ASCII markers, depth).
            if let Err(e) = strongroom_policy::hcl_guard::check_brackets(&text) {
                prop_assert!(e.message.contains("empty heredoc"), "{:?}: {}", text, e.message);
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let _ = Policy::parse_hcl("f", &text);
        let _ = Policy::parse_json("f", &text);
    }

    #[test]
    fn mangled_policies_never_panic(cut in 0usize..200, junk in "[{}\\[\\]\"=*+/,:a-z \n]{0,8}") {
        let base = strongroom_policy::DEFAULT_POLICY_HCL;
        let mut text: String = base.chars().take(cut * 7).collect();
        text.push_str(&junk);
        let _ = Policy::parse("f", &text);
        let json = Policy::default_policy().to_json();
        let mut text: String = json.chars().take(cut * 9).collect();
        text.push_str(&junk);
        let _ = Policy::parse("f", &text);
    }
}

#[test]
fn lint_finds_unknown_keys_shadowing_ineffective_parameters_and_kv_v2() {
    let a = Policy::parse(
        "a",
        r#"
path "secret/*" {
  capabilities = ["read"]
}
path "secret/+/*" {
  capabilities = ["update"]
}
path "kv/app/config" {
  capabilites = ["read"]
}
path "kv/data/app/*" {
  capabilities = ["read"]
}
path "kv/+/team" {
  capabilities = ["read"]
}
path "sys/x" {
  capabilities = ["list"]
  allowed_parameters = { "a" = [] }
}
polcy = "x"
"#,
    )
    .unwrap();
    let b = Policy::parse("b", "path \"secret/a/b\" {\n  capabilities = [\"deny\"]\n  denied_parameters = { \"x\" = [] }\n}\n").unwrap();
    let lints = lint(&[a, b], &["kv/", "/secret"]);
    let text: Vec<String> = lints.iter().map(ToString::to_string).collect();
    let has = |pred: &dyn Fn(&LintKind) -> bool| lints.iter().any(|l| pred(&l.kind));
    assert!(
        has(&|k| matches!(k, LintKind::UnknownKey { key } if key == "capabilites")),
        "{text:#?}"
    );
    assert!(
        has(&|k| matches!(k, LintKind::UnknownKey { key } if key == "polcy")),
        "{text:#?}"
    );
    assert!(lints.iter().any(|l| l.pattern.as_deref() == Some("secret/+/*")
        && matches!(&l.kind, LintKind::Shadowed { by, because: PriorityRule::FewerPlusSegments, .. } if by == "secret/*")), "{text:#?}");
    assert!(lints.iter().any(|l| l.pattern.as_deref() == Some("kv/app/config")
        && matches!(&l.kind, LintKind::KvV2Path { suggestions, .. } if suggestions[0] == "kv/data/app/config")), "{text:#?}");
    assert!(
        !lints
            .iter()
            .any(|l| matches!(l.kind, LintKind::KvV2Path { .. })
                && l.pattern.as_deref() != Some("kv/app/config")
                && l.pattern.as_deref() != Some("secret/a/b")),
        "{text:#?}"
    );
    assert!(
        lints.iter().any(|l| l.pattern.as_deref() == Some("sys/x")
            && matches!(l.kind, LintKind::IneffectiveParameters { .. })),
        "{text:#?}"
    );
    assert!(
        lints.iter().any(|l| l.policy == "b"
            && matches!(l.kind, LintKind::IneffectiveParameters { why } if why.contains("deny"))),
        "{text:#?}"
    );
    // `secret/*` itself and exact rules are not shadowed.
    assert!(
        !lints
            .iter()
            .any(|l| l.pattern.as_deref() == Some("secret/*")
                && matches!(l.kind, LintKind::Shadowed { .. }))
    );
    assert!(text.iter().any(|t| t.contains("line 5")), "{text:#?}");
    // The default policy is clean.
    assert!(lint(&[Policy::default_policy()], &["secret/"]).is_empty());
}
