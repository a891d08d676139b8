//! Real verification of what the engine issues, by OpenSSL (not by our own parser): the chain
//! root -> intermediate -> leaf passes `openssl verify` for every key type, `openssl x509
//! -text` shows the SANs, key usages and URLs the role and `config/urls` asked for, and after
//! a revocation `openssl crl` lists the serial and `openssl verify -crl_check` refuses the
//! certificate.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use common::{call, hierarchy, openssl, save, write};
use serde_json::json;
use strongroom_logical::{Backend, Operation, Request};

#[tokio::test]
async fn openssl_verifies_every_chain_shows_the_extensions_and_honours_the_crl() {
    for (key_type, bits) in [("ec", 256), ("ec", 384), ("rsa", 2048), ("ed25519", 0)] {
        let (int, ctx, root_pem) = hierarchy(key_type, bits).await;
        let issued = write(
            &int,
            &ctx,
            "issue/web",
            json!({"common_name": "www.example.com", "alt_names": "api.example.com",
                   "ip_sans": "127.0.0.1", "ttl": "1h"}),
        )
        .await;
        let dir = tempfile::tempdir().unwrap();
        let root = save(dir.path(), "root.pem", &root_pem);
        let chain = issued["ca_chain"].as_array().unwrap();
        assert_eq!(chain.len(), 2, "{key_type}: intermediate and root");
        let int_pem = save(dir.path(), "int.pem", chain[0].as_str().unwrap());
        let leaf = save(
            dir.path(),
            "leaf.pem",
            issued["certificate"].as_str().unwrap(),
        );
        let (ok, text) = openssl(&["verify", "-CAfile", &root, "-untrusted", &int_pem, &leaf]);
        assert!(ok, "{key_type}-{bits}: openssl verify: {text}");
        assert!(text.contains("leaf.pem: OK"), "{text}");

        let (ok, text) = openssl(&["x509", "-noout", "-text", "-in", &leaf]);
        assert!(ok, "{text}");
        for expected in [
            "DNS:www.example.com",
            "DNS:api.example.com",
            "IP Address:127.0.0.1",
            "TLS Web Server Authentication",
            "TLS Web Client Authentication",
            "Digital Signature",
            "CA Issuers - URI:http://127.0.0.1:8200/v1/int/ca",
            "OCSP - URI:http://127.0.0.1:8200/v1/int/ocsp",
            "URI:http://127.0.0.1:8200/v1/int/crl",
            "X509v3 Subject Key Identifier",
            "X509v3 Authority Key Identifier",
            "Subject: CN = www.example.com",
        ] {
            assert!(
                text.contains(expected),
                "{key_type}: {expected:?} missing from:\n{text}"
            );
        }
        assert!(!text.contains("CA:TRUE"), "{text}");
        let (_, int_text) = openssl(&["x509", "-noout", "-text", "-in", &int_pem]);
        assert!(int_text.contains("CA:TRUE"), "{int_text}");
        assert!(
            int_text.contains("Certificate Sign, CRL Sign"),
            "{int_text}"
        );

        // Revoke: the CRL lists the serial and verification against it refuses the leaf.
        let serial = issued["serial_number"].as_str().unwrap().to_owned();
        write(&int, &ctx, "revoke", json!({"serial_number": serial})).await;
        let crl = call(&int, &ctx, Operation::Read, "crl/pem", json!({})).await;
        let crl_pem = String::from_utf8(crl.raw.unwrap().body).unwrap();
        let crl_path = save(dir.path(), "crl.pem", &crl_pem);
        let (ok, text) = openssl(&["crl", "-noout", "-text", "-in", &crl_path]);
        assert!(ok, "{text}");
        let hex = serial.replace(':', "").to_uppercase();
        assert!(text.contains(&hex), "{hex} not in the CRL:\n{text}");
        let (ok, text) = openssl(&[
            "verify",
            "-crl_check",
            "-CAfile",
            &root,
            "-untrusted",
            &int_pem,
            "-CRLfile",
            &crl_path,
            &leaf,
        ]);
        assert!(!ok, "a revoked certificate verified: {text}");
        assert!(text.contains("certificate revoked"), "{text}");
        // Another leaf, not revoked, still verifies against the same CRL.
        let other = write(
            &int,
            &ctx,
            "issue/web",
            json!({"common_name": "db.example.com"}),
        )
        .await;
        let other = save(
            dir.path(),
            "other.pem",
            other["certificate"].as_str().unwrap(),
        );
        let (ok, text) = openssl(&[
            "verify",
            "-crl_check",
            "-CAfile",
            &root,
            "-untrusted",
            &int_pem,
            "-CRLfile",
            &crl_path,
            &other,
        ]);
        assert!(ok, "{text}");
    }
}

#[tokio::test]
async fn signed_csrs_verify_and_names_outside_the_role_are_refused() {
    let (int, ctx, root_pem) = hierarchy("ec", 256).await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    let csr_path = dir.path().join("req.csr");
    let (ok, text) = openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-subj",
        "/CN=api.example.com",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        csr_path.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    let csr = std::fs::read_to_string(&csr_path).unwrap();
    // cert-manager's call: every field a string.
    let signed = write(
        &int,
        &ctx,
        "sign/web",
        json!({"csr": csr, "common_name": "api.example.com", "alt_names": "api.example.com",
               "ip_sans": "", "uri_sans": "", "ttl": "24h0m0s", "exclude_cn_from_sans": "true"}),
    )
    .await;
    for field in [
        "certificate",
        "issuing_ca",
        "ca_chain",
        "serial_number",
        "expiration",
    ] {
        assert!(signed.contains_key(field), "{field}");
    }
    let root = save(dir.path(), "root.pem", &root_pem);
    let int_pem = save(
        dir.path(),
        "int.pem",
        signed["issuing_ca"].as_str().unwrap(),
    );
    let leaf = save(
        dir.path(),
        "leaf.pem",
        signed["certificate"].as_str().unwrap(),
    );
    let (ok, text) = openssl(&["verify", "-CAfile", &root, "-untrusted", &int_pem, &leaf]);
    assert!(ok, "{text}");
    // The certificate certifies the CSR's key.
    let (_, from_cert) = openssl(&["x509", "-noout", "-pubkey", "-in", &leaf]);
    let (_, from_key) = openssl(&["pkey", "-pubout", "-in", key.to_str().unwrap()]);
    assert_eq!(from_cert.trim(), from_key.trim());

    let err = int
        .handle(
            &ctx,
            Request::new(Operation::Update, "issue/web").with_data(
                json!({"common_name": "www.other.org"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "common name www.other.org not allowed by this role"
    );
    let listed = call(&int, &ctx, Operation::List, "certs/", json!({})).await;
    assert_eq!(
        listed.data.unwrap()["keys"].as_array().unwrap().len(),
        1,
        "nothing stored for the refusal"
    );
}

/// Review findings: a role whose CN checks are disabled still checks the CN as a SAN, and a
/// leaf never gets keyCertSign (OpenSSL would take it for a CA without basic constraints).
#[tokio::test]
async fn disabled_cn_checks_and_cert_sign_usage_cannot_widen_a_leaf() {
    let (int, ctx, _) = hierarchy("ec", 256).await;
    write(
        &int,
        &ctx,
        "roles/loose",
        json!({"allowed_domains": ["example.com"], "allow_subdomains": true,
               "cn_validations": ["disabled"], "key_type": "ec",
               "key_usage": ["DigitalSignature", "CertSign", "CRLSign"]}),
    )
    .await;
    let err = int
        .handle(
            &ctx,
            Request::new(Operation::Update, "issue/loose").with_data(
                json!({"common_name": "bank.com"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "subject alternate name bank.com not allowed by this role"
    );
    let issued = write(
        &int,
        &ctx,
        "issue/loose",
        json!({"common_name": "www.example.com"}),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let leaf = save(
        dir.path(),
        "leaf.pem",
        issued["certificate"].as_str().unwrap(),
    );
    let (_, text) = openssl(&["x509", "-noout", "-text", "-in", &leaf]);
    assert!(text.contains("Digital Signature"), "{text}");
    assert!(
        !text.contains("Certificate Sign") && !text.contains("CRL Sign"),
        "{text}"
    );
}
