//! Every fuzz target's seeds (`fuzz/seeds/<target>/`) and saved crash reproducers
//! (`fuzz/regressions/<target>/`, when a run finds one) replayed on the stable toolchain through
//! the very code the fuzzer runs (`fuzz/logic/<target>.rs`), so CI catches a regression without
//! cargo-fuzz or nightly sanitizers.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_in_result,
    missing_docs,
    unreachable_pub,
    dead_code,
    reason = "test code shared with the fuzz targets"
)]

#[path = "../../fuzz/logic/common.rs"]
mod common;

#[path = "../../fuzz/logic/barrier_decrypt.rs"]
mod barrier_decrypt;
#[path = "../../fuzz/logic/config_parse.rs"]
mod config_parse;
#[path = "../../fuzz/logic/http_router.rs"]
mod http_router;
#[path = "../../fuzz/logic/jwt_parse.rs"]
mod jwt_parse;
#[path = "../../fuzz/logic/pki_input.rs"]
mod pki_input;
#[path = "../../fuzz/logic/policy_parse.rs"]
mod policy_parse;
#[path = "../../fuzz/logic/seal_shares.rs"]
mod seal_shares;
#[path = "../../fuzz/logic/ssh_input.rs"]
mod ssh_input;
#[path = "../../fuzz/logic/storage_ops.rs"]
mod storage_ops;
#[path = "../../fuzz/logic/transit_ops.rs"]
mod transit_ops;

/// Runs every file of the target's seed and regression folders; returns how many ran.
fn replay(target: &str, run: fn(&[u8])) -> usize {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz");
    let mut ran = 0;
    for folder in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(format!("{root}/{folder}/{target}")) else {
            continue;
        };
        let mut paths: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        paths.sort();
        for path in paths {
            let data = std::fs::read(&path).unwrap();
            run(&data);
            ran += 1;
        }
    }
    assert!(ran > 0, "no seeds for {target}");
    ran
}

#[test]
fn barrier_decrypt_seeds() {
    replay("barrier_decrypt", barrier_decrypt::run);
}

#[test]
fn config_parse_seeds() {
    replay("config_parse", config_parse::run);
}

#[test]
fn http_router_seeds() {
    replay("http_router", http_router::run);
}

#[test]
fn jwt_parse_seeds() {
    replay("jwt_parse", jwt_parse::run);
}

#[test]
fn ssh_input_seeds() {
    replay("ssh_input", ssh_input::run);
}

#[test]
fn pki_input_seeds() {
    replay("pki_input", pki_input::run);
}

/// The PKI seeds are real: the CSRs parse (and the engine signs them, as `run` checks), each
/// certificate-and-key bundle (EC and RSA; PKCS#8, SEC1 and PKCS#1 keys) reads as two blocks,
/// and the broken CSRs are refused.
#[test]
fn pki_input_seeds_are_real() {
    let seed = |name: &str| {
        std::fs::read_to_string(format!(
            "{}/../fuzz/seeds/pki_input/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    for csr in ["csr_ec.pem", "csr_rsa.pem"] {
        strongroom_pki::fuzzing::parse_csr(&seed(csr)).unwrap();
    }
    for bundle in [
        "bundle_ec_pkcs8.pem",
        "bundle_ec_sec1_key_first.pem",
        "bundle_rsa_pkcs8.pem",
        "bundle_rsa_pkcs1.pem",
    ] {
        assert_eq!(
            strongroom_pki::fuzzing::parse_bundle(&seed(bundle)).unwrap(),
            2,
            "{bundle}"
        );
    }
    // The label of a CSR's block is not read, as Vault's `pem.Decode` does not read it.
    strongroom_pki::fuzzing::parse_csr(&seed("csr_labelled_certificate.pem")).unwrap();
    for refused in ["csr_bad_signature.pem", "csr_truncated_base64.pem", "empty"] {
        assert!(
            strongroom_pki::fuzzing::parse_csr(&seed(refused)).is_err(),
            "{refused}"
        );
    }
}

#[test]
fn policy_parse_seeds() {
    replay("policy_parse", policy_parse::run);
}

#[test]
fn seal_shares_seeds() {
    replay("seal_shares", seal_shares::run);
}

#[test]
fn storage_ops_seeds() {
    replay("storage_ops", storage_ops::run);
}

#[test]
fn transit_ops_seeds() {
    replay("transit_ops", transit_ops::run);
}
