//! Property: where `Acl::reads_parameters` says the deciding rule ignores parameters, the
//! decision is the same with the request's parameters as without them (the core then skips
//! converting the body); where a rule constrains parameters, it says so.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]

use proptest::prelude::*;
use strongroom_policy::{Acl, Operation, Policy, Request, Value};

const POLICIES: &[&str] = &[
    r#"path "secret/*" { capabilities = ["create", "update", "read"] }"#,
    "path \"secret/*\" {\n capabilities = [\"update\"]\n allowed_parameters = { \"a\" = [] }\n}",
    "path \"secret/*\" {\n capabilities = [\"update\"]\n denied_parameters = { \"b\" = [\"x\"] }\n}",
    "path \"secret/*\" {\n capabilities = [\"update\"]\n required_parameters = [\"c\"]\n}",
    "path \"secret/+/x\" {\n capabilities = [\"update\"]\n allowed_parameters = { \"*\" = [] }\n}",
    r#"path "secret/a" { capabilities = ["deny"] }"#,
    "path \"other/*\" {\n capabilities = [\"update\"]\n denied_parameters = { \"*\" = [] }\n}",
];

fn acl(picks: &[usize]) -> Acl {
    let policies: Vec<Policy> = picks
        .iter()
        .enumerate()
        .map(|(i, &p)| Policy::parse(&format!("p{i}"), POLICIES[p % POLICIES.len()]).unwrap())
        .collect();
    Acl::new(&policies)
}

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        Just(Operation::Read),
        Just(Operation::Create),
        Just(Operation::Update),
        Just(Operation::Delete),
        Just(Operation::List),
        Just(Operation::Patch),
    ]
}

proptest! {
    #[test]
    fn ignoring_parameters_never_changes_a_decision(
        picks in proptest::collection::vec(0usize..16, 1..4),
        op in operation(),
        path in prop_oneof![
            Just("secret/a"), Just("secret/b"), Just("secret/q/x"), Just("other/z"), Just("none"),
        ],
        params in proptest::collection::btree_map(
            prop_oneof![Just("a"), Just("b"), Just("c"), Just("d")],
            prop_oneof![Just("x"), Just("y")],
            0..4,
        ),
    ) {
        let acl = acl(&picks);
        let bare = Request::new(op, path);
        let mut full = Request::new(op, path);
        for (name, value) in &params {
            full = full.with_parameter(*name, Value::String((*value).to_owned()));
        }
        if !acl.reads_parameters(op, path) {
            let (a, b) = (acl.decide(&bare), acl.decide(&full));
            prop_assert_eq!(a.allowed, b.allowed);
            prop_assert_eq!(a.capabilities, b.capabilities);
        }
    }
}

#[test]
fn constrained_rules_say_they_read_parameters() {
    assert!(!acl(&[0]).reads_parameters(Operation::Update, "secret/x"));
    for pick in [1, 2, 3] {
        assert!(
            acl(&[pick]).reads_parameters(Operation::Update, "secret/x"),
            "{pick}"
        );
    }
    assert!(acl(&[4]).reads_parameters(Operation::Update, "secret/q/x"));
    assert!(acl(&[6]).reads_parameters(Operation::Update, "other/z"));
    assert!(!acl(&[6]).reads_parameters(Operation::Update, "secret/x"));
    assert!(!Acl::new(&[Policy::root()]).reads_parameters(Operation::Update, "x"));
}
