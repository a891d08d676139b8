//! Arbitrary input to transit: as a ciphertext, a signature and an HMAC for keys of every type
//! (through `Key` directly), and as the JSON body of every operation path of the engine
//! (batches included). Nothing may panic; the engine may refuse input, but never with an
//! internal error, and what it encrypts must decrypt.

use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};
use strongroom_logical::{Backend, Context, ErrorKind, Operation, Request, StorageView};
use strongroom_storage::{MemoryStorage, Storage};
use strongroom_transit::{HashAlgorithm, KeyOptions, KeyType, Keyring, Marshaling, Transit};

struct Fixture {
    keyring: Keyring,
    engine: Transit,
    ctx: Context,
}

const TYPES: [(&str, KeyType); 7] = [
    ("aes256", KeyType::Aes256Gcm96),
    ("aes128", KeyType::Aes128Gcm96),
    ("chacha", KeyType::Chacha20Poly1305),
    ("ed25519", KeyType::Ed25519),
    ("p256", KeyType::EcdsaP256),
    ("p384", KeyType::EcdsaP384),
    ("hmac", KeyType::Hmac),
];

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let keyring = Keyring::new();
        let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let ctx = Context::new(StorageView::new(storage, "transit/").unwrap(), "transit/");
        let engine = Transit::default();
        for (name, kind) in TYPES {
            keyring.create(name, KeyOptions::new(kind)).unwrap();
            let mut body = Map::new();
            body.insert("type".into(), kind.name().into());
            body.insert("exportable".into(), true.into());
            body.insert("allow_plaintext_backup".into(), true.into());
            crate::common::now(engine.handle(
                &ctx,
                Request::new(Operation::Update, format!("keys/{name}")).with_data(body),
            ))
            .unwrap();
        }
        Fixture {
            keyring,
            engine,
            ctx,
        }
    })
}

const PATHS: [&str; 14] = [
    "encrypt/aes256",
    "decrypt/aes256",
    "rewrap/chacha",
    "encrypt/upserted",
    "sign/ed25519",
    "verify/p256",
    "sign/p384/sha2-384",
    "hmac/hmac/sha2-512",
    "verify/aes128",
    "datakey/plaintext/aes128",
    "hash",
    "random/32",
    "keys/aes256/config",
    "restore/restored",
];

/// One input.
pub fn run(data: &[u8]) {
    let fixture = fixture();
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if let Ok(text) = std::str::from_utf8(rest) {
        for (name, kind) in TYPES {
            let key = fixture.keyring.key(name).unwrap();
            if kind.encrypts() {
                if let Ok(plain) = key.decrypt(text, None, b"") {
                    let again = key.encrypt(&plain, None, b"", None).unwrap();
                    assert_eq!(*key.decrypt(&again, None, b"").unwrap(), *plain);
                }
                let _ = key.decrypt(text, Some(b"ctx"), rest);
            }
            for marshaling in [Marshaling::Asn1, Marshaling::Jws] {
                let _ = key.verify(rest, text, None, marshaling);
            }
            let _ = key.verify_hmac(rest, text, HashAlgorithm::Sha256);
        }
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(rest) else {
        return;
    };
    let path = PATHS[usize::from(selector) % PATHS.len()];
    let request = Request::new(Operation::Update, path).with_data(body);
    match crate::common::now(fixture.engine.handle(&fixture.ctx, request)) {
        Ok(response) => {
            // Whatever the engine encrypted decrypts again.
            if path == "encrypt/aes256"
                && response.failed.is_none()
                && let Some(Value::String(ct)) =
                    response.data.as_ref().and_then(|d| d.get("ciphertext"))
            {
                let mut body = Map::new();
                body.insert("ciphertext".into(), ct.clone().into());
                crate::common::now(fixture.engine.handle(
                    &fixture.ctx,
                    Request::new(Operation::Update, "decrypt/aes256").with_data(body),
                ))
                .unwrap();
            }
        }
        Err(err) => assert_ne!(err.kind(), ErrorKind::Internal, "{path}: {err}"),
    }
}
