//! A real TLS handshake with what the engine issues: a rustls server presents an issued leaf
//! and its intermediate; a rustls client that trusts only our root, and checks the leaf
//! against our CRL, accepts it, and refuses it once it is revoked or expired.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{call, hierarchy, write};
use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName};
use serde_json::{Map, Value, json};
use strongroom_logical::Operation;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn der(pem_text: &str) -> Vec<u8> {
    pem::parse(pem_text).unwrap().into_contents()
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A handshake between a server presenting `issued` (leaf, intermediate) and a client trusting
/// `root` with `crl` checked for the leaf; returns the client's error, if any, after a round
/// trip of bytes on success.
async fn handshake(issued: &Map<String, Value>, root: &str, crl: Vec<u8>) -> Result<(), String> {
    let chain = vec![
        CertificateDer::from(der(issued["certificate"].as_str().unwrap())),
        CertificateDer::from(der(issued["ca_chain"][0].as_str().unwrap())),
    ];
    let key = PrivateKeyDer::Pkcs8(der(issued["private_key"].as_str().unwrap()).into());
    let server = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(der(root))).unwrap();
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
        .with_crls(vec![CertificateRevocationListDer::from(crl)])
        .only_check_end_entity_revocation()
        .build()
        .unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_webpki_verifier(verifier)
        .with_no_client_auth();
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let server_task = tokio::spawn(async move {
        let Ok(mut stream) = acceptor.accept(server_io).await else {
            return;
        };
        let mut buf = [0u8; 5];
        if stream.read_exact(&mut buf).await.is_ok() {
            let _ = stream.write_all(&buf).await;
            let _ = stream.flush().await;
        }
    });
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let name = ServerName::try_from("www.example.com").unwrap();
    let outcome = match connector.connect(name, client_io).await {
        Ok(mut stream) => {
            stream.write_all(b"hello").await.unwrap();
            let mut echo = [0u8; 5];
            stream.read_exact(&mut echo).await.unwrap();
            assert_eq!(&echo, b"hello");
            Ok(())
        }
        Err(err) => Err(err.to_string()),
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), server_task).await;
    outcome
}

async fn crl(int: &strongroom_pki::Pki, ctx: &strongroom_logical::Context) -> Vec<u8> {
    call(int, ctx, Operation::Read, "crl", json!({}))
        .await
        .raw
        .unwrap()
        .body
}

#[tokio::test]
async fn rustls_accepts_an_issued_leaf_and_refuses_it_revoked_or_expired() {
    for (key_type, bits) in [("ec", 256), ("rsa", 2048), ("ed25519", 0)] {
        let (int, ctx, root) = hierarchy(key_type, bits).await;
        let issue = |ttl: &str| json!({"common_name": "www.example.com", "ttl": ttl, "private_key_format": "pkcs8"});
        let issued = write(&int, &ctx, "issue/web", issue("1h")).await;
        handshake(&issued, &root, crl(&int, &ctx).await)
            .await
            .unwrap_or_else(|err| panic!("{key_type}: a good leaf was refused: {err}"));

        let serial = issued["serial_number"].clone();
        write(&int, &ctx, "revoke", json!({"serial_number": serial})).await;
        let err = handshake(&issued, &root, crl(&int, &ctx).await)
            .await
            .expect_err("a revoked leaf was accepted");
        assert!(err.contains("Revoked"), "{key_type}: {err}");

        if key_type == "ec" {
            // Expired: a one-second certificate, two seconds later.
            let short = write(&int, &ctx, "issue/web", issue("1s")).await;
            tokio::time::sleep(Duration::from_millis(2100)).await;
            let err = handshake(&short, &root, crl(&int, &ctx).await)
                .await
                .expect_err("an expired leaf was accepted");
            assert!(err.contains("certificate expired"), "{err}");
        }
    }
}
