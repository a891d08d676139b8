//! Arbitrary bytes as a policy, in HCL and in JSON: parsing must return a policy or an error
//! with a line and column, never panic. A policy that parses must print and parse back to
//! itself in both formats, and compile into an `Acl` that decides without panicking.

use strongroom_policy::{Acl, Operation, Policy, Request, lint};

/// One input.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for result in [
        Policy::parse_hcl("fuzz", text),
        Policy::parse_json("fuzz", text),
    ] {
        match result {
            Ok(policy) => {
                let hcl = policy.to_hcl();
                assert_eq!(
                    Policy::parse_hcl("fuzz", &hcl).as_ref(),
                    Ok(&policy),
                    "{hcl}"
                );
                let json = policy.to_json();
                assert_eq!(
                    Policy::parse_json("fuzz", &json).as_ref(),
                    Ok(&policy),
                    "{json}"
                );
                let acl = Acl::new(std::slice::from_ref(&policy));
                for rule in policy.rules() {
                    let path = rule.pattern.as_str().replace(['+', '*'], "x");
                    for op in Operation::ALL {
                        let _ = acl.decide(&Request::new(op, path.as_str()));
                    }
                    let _ = acl.explain(&path, Operation::Read);
                }
                let _ = lint(std::slice::from_ref(&policy), &["secret/"]);
            }
            Err(e) => {
                let at = e.location();
                assert!(at.line >= 1 && at.column >= 1);
            }
        }
    }
}
