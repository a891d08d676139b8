//! Property tests: the compiled `Acl` against the linear-scan reference, and print/parse round
//! trips in HCL and JSON.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use proptest::prelude::*;
use strongroom_policy::internal::ReferenceAcl;
use strongroom_policy::{Acl, Operation, Policy, Request, Value};

/// Segments from a small alphabet so random patterns and paths collide often.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("ab".to_owned()),
        Just("data".to_owned()),
        Just(String::new()),
    ]
}

fn pattern() -> impl Strategy<Value = String> {
    let seg = prop_oneof![4 => segment(), 2 => Just("+".to_owned())];
    (prop::collection::vec(seg, 1..4), 0u8..3, "[ab]{0,2}").prop_map(|(segs, tail, extra)| {
        let mut p = segs.join("/");
        match tail {
            0 => {}
            1 => {
                if p.ends_with('+') {
                    p.push('/');
                }
                p.push_str(&extra);
                p.push('*');
            }
            _ => {
                p.push('/');
                p.push('*');
            }
        }
        p
    })
}

fn path() -> impl Strategy<Value = String> {
    (prop::collection::vec(segment(), 1..5), any::<bool>()).prop_map(|(segs, slash)| {
        let mut p = segs.join("/");
        if slash {
            p.push('/');
        }
        p
    })
}

const CAPS: [&str; 8] = [
    "create", "read", "update", "patch", "delete", "list", "sudo", "deny",
];

fn rule() -> impl Strategy<Value = String> {
    (
        pattern(),
        prop::sample::subsequence(CAPS.to_vec(), 0..4),
        prop::option::of(prop::collection::btree_map(
            "[ab*]",
            prop::collection::vec("[xy]\\*?", 0..2),
            0..3,
        )),
        prop::option::of(prop::collection::btree_map(
            "[ab]",
            prop::collection::vec("[xy]", 0..2),
            0..2,
        )),
        prop::collection::vec("[ab]", 0..2),
    )
        .prop_map(|(pattern, caps, allowed, denied, required)| {
            let q = |s: &str| format!("{s:?}");
            let mut out = format!(
                "path {} {{\n  capabilities = [{}]\n",
                q(&pattern),
                caps.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ")
            );
            for (key, map) in [
                ("allowed_parameters", allowed),
                ("denied_parameters", denied),
            ] {
                let Some(map) = map else { continue };
                out.push_str(&format!("  {key} = {{\n"));
                for (k, vs) in map {
                    out.push_str(&format!(
                        "    {} = [{}]\n",
                        q(&k),
                        vs.iter().map(|v| q(v)).collect::<Vec<_>>().join(", ")
                    ));
                }
                out.push_str("  }\n");
            }
            if !required.is_empty() {
                out.push_str(&format!(
                    "  required_parameters = [{}]\n",
                    required.iter().map(|v| q(v)).collect::<Vec<_>>().join(", ")
                ));
            }
            out.push_str("}\n");
            out
        })
}

fn policies() -> impl Strategy<Value = Vec<Policy>> {
    prop::collection::vec(prop::collection::vec(rule(), 0..8), 1..4).prop_map(|ps| {
        ps.into_iter()
            .enumerate()
            .map(|(i, rules)| Policy::parse_hcl(&format!("p{i}"), &rules.concat()).unwrap())
            .collect()
    })
}

fn request() -> impl Strategy<Value = Request> {
    (
        prop::sample::select(Operation::ALL.to_vec()),
        path(),
        prop::collection::btree_map("[abAc]", "[xy,]{0,3}", 0..3),
    )
        .prop_map(|(op, path, params)| {
            let mut r = Request::new(op, path);
            for (k, v) in params {
                r = r.with_parameter(k, v);
            }
            r
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn compiled_acl_decides_like_the_reference(ps in policies(), reqs in prop::collection::vec(request(), 1..16)) {
        let acl = Acl::new(&ps);
        let reference = ReferenceAcl::new(&ps);
        for req in &reqs {
            prop_assert_eq!(acl.decide(req), reference.decide(req), "{:?}", req);
            prop_assert_eq!(acl.capabilities(&req.path), reference.capabilities(&req.path));
        }
    }

    #[test]
    fn hcl_round_trip(ps in policies()) {
        for p in &ps {
            let text = p.to_hcl();
            let back = Policy::parse_hcl(p.name(), &text).unwrap();
            prop_assert_eq!(&back, p, "{}", text);
        }
    }

    #[test]
    fn json_round_trip(ps in policies()) {
        for p in &ps {
            let text = p.to_json();
            let back = Policy::parse_json(p.name(), &text).unwrap();
            prop_assert_eq!(&back, p, "{}", text);
        }
    }

    #[test]
    fn odd_strings_round_trip(pattern in "[a-z/${}%\"\\\\\n\t é]{0,12}", value in any::<String>()) {
        prop_assume!(strongroom_policy::Pattern::parse(&pattern).is_ok());
        let text = format!(
            "{{\"path\": {{{}: {{\"capabilities\": [\"read\"], \"allowed_parameters\": {{\"k\": [{}, 1.5, -2, true, null]}}}}}}}}",
            serde_json_string(&pattern),
            serde_json_string(&value),
        );
        let p = Policy::parse_json("odd", &text).unwrap();
        let hcl = p.to_hcl();
        prop_assert_eq!(&Policy::parse_hcl("odd", &hcl).unwrap(), &p, "{}", hcl);
        prop_assert_eq!(&Policy::parse_json("odd", &p.to_json()).unwrap(), &p);
        let v = &p.rules()[0].allowed_parameters.as_ref().unwrap()["k"];
        prop_assert_eq!(&v[0], &Value::String(value));
    }
}

fn serde_json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[test]
fn default_policy_round_trips() {
    let p = Policy::default_policy();
    assert_eq!(Policy::parse_hcl("default", &p.to_hcl()).unwrap(), p);
    assert_eq!(Policy::parse_json("default", &p.to_json()).unwrap(), p);
}
