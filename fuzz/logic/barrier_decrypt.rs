//! Arbitrary bytes into the decrypt path of an unsealed barrier: it must return an error or a
//! plaintext, never panic. The barrier is unsealed from the frozen v1 golden keyring (root key
//! 0x11 * 32), so the seed corpus holds real ciphertexts the fuzzer can mutate.

use std::sync::OnceLock;

use strongroom_barrier::{Barrier, KEYRING_PATH, RootKey};
use strongroom_storage::{MemoryStorage, Storage};

const GOLDEN_KEYRING: &str = "010000000020c1821ce57168ed57a3367c6d772ca9895127a9d7ce7b5ca8d3e68eb574ab2beadf796e3946ac4c1ca7ce34ee750b67b0a93bdcc00040818717db4e3e2b0b933e6fcf650bf655eef0bae0a7351a60a8e025f3febcae80bd76e17b6708";

fn barrier() -> &'static Barrier<MemoryStorage> {
    static BARRIER: OnceLock<Barrier<MemoryStorage>> = OnceLock::new();
    BARRIER.get_or_init(|| {
        let inner = MemoryStorage::new();
        crate::common::now(inner.put(KEYRING_PATH, crate::common::unhex(GOLDEN_KEYRING))).unwrap();
        let barrier = Barrier::new(inner);
        crate::common::now(barrier.unseal(&RootKey::from_bytes(&[0x11; 32]).unwrap())).unwrap();
        barrier
    })
}

/// One input.
pub fn run(data: &[u8]) {
    let barrier = barrier();
    // The golden value was written under this key; other keys exercise the AAD mismatch.
    for key in ["golden/value", "golden/other"] {
        if let Ok(plain) = barrier.decrypt(key, data.to_vec()) {
            assert!(data.len() >= strongroom_barrier::CIPHERTEXT_OVERHEAD);
            assert_eq!(
                plain.len() + strongroom_barrier::CIPHERTEXT_OVERHEAD,
                data.len()
            );
        }
    }
    // Through the Storage trait as well.
    crate::common::now(barrier.inner().put("golden/raw", data.to_vec())).unwrap();
    let _ = crate::common::now(barrier.get("golden/raw"));
}
