//! The local seals through the `Seal` trait, and what their errors and `Debug` output never show.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use strongroom_seal::{
    Seal, SealError, SecretBytes, ShamirSeal, StaticKeySeal, Submitted, UnsealProgress, WrappedKey,
    combine,
};

/// What every seal must do: wrap and unwrap round-trip, a tampered or truncated blob fails with a
/// typed error, and another instance's key does not open it.
async fn seal_contract(seal: &dyn Seal, other: &dyn Seal) {
    let root = SecretBytes::copy_from(&[0x5Au8; 32]);
    let wrapped = seal.wrap(&root).await.unwrap();
    assert!(
        !wrapped.as_bytes().windows(8).any(|w| w == [0x5A; 8]),
        "root key visible"
    );
    assert_eq!(
        seal.unwrap(&wrapped).await.unwrap().expose_secret(),
        root.expose_secret()
    );
    // Wrapping twice gives different blobs (fresh nonce), both valid.
    let again = seal.wrap(&root).await.unwrap();
    assert_ne!(again, wrapped);
    assert_eq!(
        seal.unwrap(&again).await.unwrap().expose_secret(),
        root.expose_secret()
    );
    for i in 0..wrapped.as_bytes().len() {
        let mut bytes = wrapped.as_bytes().to_vec();
        bytes[i] ^= 1;
        let err = seal
            .unwrap(&WrappedKey::from_bytes(bytes))
            .await
            .unwrap_err();
        assert!(
            matches!(err, SealError::Unwrap | SealError::MalformedWrappedKey(_)),
            "byte {i}: {err}"
        );
    }
    for len in 0..wrapped.as_bytes().len() {
        let bytes = wrapped.as_bytes()[..len].to_vec();
        assert!(seal.unwrap(&WrappedKey::from_bytes(bytes)).await.is_err());
    }
    assert!(matches!(
        other.unwrap(&wrapped).await,
        Err(SealError::Unwrap)
    ));
}

#[tokio::test]
async fn shamir_seal() {
    let a = ShamirSeal::generate(5, 3).unwrap();
    let b = ShamirSeal::generate(1, 1).unwrap();
    assert_eq!(a.seal.kind(), "shamir");
    assert!(a.seal.needs_shares());
    seal_contract(&a.seal, &b.seal).await;
    // The shares rebuild a seal that opens what the original wrapped.
    let root = SecretBytes::copy_from(&[9u8; 32]);
    let wrapped = a.seal.wrap(&root).await.unwrap();
    let kek = combine(&a.shares[2..]).unwrap();
    let rebuilt = ShamirSeal::from_key(&kek).unwrap();
    assert_eq!(
        rebuilt.unwrap(&wrapped).await.unwrap().expose_secret(),
        &[9u8; 32]
    );
    assert_eq!(format!("{:?}", a.seal), "ShamirSeal([REDACTED])");
}

/// The unseal flow as the core will run it: shares in, the verifier is "does the combined key
/// unwrap the stored root key".
#[tokio::test]
async fn unseal_through_the_shamir_seal() {
    let new = ShamirSeal::generate(3, 2).unwrap();
    let root = SecretBytes::copy_from(&[1u8; 32]);
    let wrapped = new.seal.wrap(&root).await.unwrap();
    let mut progress = UnsealProgress::new(2, ShamirSeal::KEY_LEN)
        .unwrap()
        .with_digests(new.digests.clone());
    let text = |i: usize| new.shares[i].to_base64();
    let share = |i: usize| {
        strongroom_seal::Share::parse(text(i).expose_secret(), ShamirSeal::KEY_LEN).unwrap()
    };
    let verify = |kek: &SecretBytes| -> Result<SecretBytes, strongroom_seal::BoxError> {
        let seal = ShamirSeal::from_key(kek)?;
        futures_lite_block_on(seal.unwrap(&wrapped)).map_err(Into::into)
    };
    assert!(matches!(
        progress.submit(share(2), verify).unwrap(),
        Submitted::Pending(_)
    ));
    let Submitted::Complete(unwrapped) = progress.submit(share(0), verify).unwrap() else {
        panic!("expected the root key");
    };
    assert_eq!(unwrapped.expose_secret(), root.expose_secret());
}

/// The local seals never wait, so a plain poll loop drives them inside a sync verifier.
fn futures_lite_block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

#[tokio::test]
async fn static_key_seal_sources() {
    let hex = "0123456789abcdef".repeat(4);
    let a = StaticKeySeal::from_text(&hex).unwrap();
    let b = StaticKeySeal::from_bytes(&[7; 32]).unwrap();
    assert_eq!(a.kind(), "static");
    assert!(!a.needs_shares());
    seal_contract(&a, &b).await;

    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw.key");
    std::fs::write(&raw, [7u8; 32]).unwrap();
    let from_raw = StaticKeySeal::from_file(&raw).unwrap();
    let b64 = dir.path().join("b64.key");
    std::fs::write(&b64, "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n").unwrap();
    let from_b64 = StaticKeySeal::from_file(&b64).unwrap();
    let wrapped = b.wrap(&SecretBytes::copy_from(b"root")).await.unwrap();
    assert_eq!(
        from_raw.unwrap(&wrapped).await.unwrap().expose_secret(),
        b"root"
    );
    assert_eq!(
        from_b64.unwrap(&wrapped).await.unwrap().expose_secret(),
        b"root"
    );

    // SAFETY of the test: the variable name is unique to this test.
    let var = "STRONGROOM_TEST_STATIC_SEAL_KEY_UNSET";
    assert!(matches!(
        StaticKeySeal::from_env(var),
        Err(SealError::KeySource(_))
    ));
}

#[test]
fn key_errors_never_echo_the_key() {
    let secret_text = "c2VjcmV0LWtleS10aGF0LWlzLXRoZS13cm9uZy1sZW5ndGg=";
    for err in [
        StaticKeySeal::from_text(secret_text).unwrap_err(),
        StaticKeySeal::from_text(&"zz".repeat(32)).unwrap_err(),
        StaticKeySeal::from_bytes(b"short").unwrap_err(),
    ] {
        let shown = format!("{err} {err:?}");
        assert!(
            !shown.contains(secret_text) && !shown.contains("zzzz") && !shown.contains("short"),
            "{shown}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.key");
    std::fs::write(&path, "hunter2-is-not-a-key").unwrap();
    let err = StaticKeySeal::from_file(&path).unwrap_err();
    assert!(!format!("{err} {err:?}").contains("hunter2"));
    let seal = StaticKeySeal::from_bytes(&[0x41; 32]).unwrap();
    assert_eq!(format!("{seal:?}"), "StaticKeySeal([REDACTED])");
}
