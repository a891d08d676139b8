//! The library face: named, versioned, rotatable keys in process memory, without a vault.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use zeroize::Zeroizing;

use crate::error::{Result, TransitError};
use crate::key::{HashAlgorithm, Key, KeyOptions, Marshaling};

/// Named keys in memory: create, rotate, encrypt, decrypt, rewrap, sign, verify, HMAC — the same
/// keys, formats and rules as the transit engine, at the speed of the cipher. Thread-safe and
/// cheap to share (`Arc<Keyring>`); operations take a read lock only long enough to clone an
/// `Arc` of the key.
///
/// ```
/// use strongroom_transit::{KeyOptions, Keyring};
///
/// let keyring = Keyring::new();
/// keyring.create("pii", KeyOptions::default())?;
/// let ciphertext = keyring.encrypt("pii", b"4111 1111 1111 1111", None)?;
/// assert!(ciphertext.starts_with("vault:v1:"));
/// keyring.rotate("pii")?;
/// let rewrapped = keyring.rewrap("pii", &ciphertext, None)?;
/// assert!(rewrapped.starts_with("vault:v2:"));
/// assert_eq!(&*keyring.decrypt("pii", &rewrapped, None)?, b"4111 1111 1111 1111");
/// # Ok::<(), strongroom_transit::TransitError>(())
/// ```
#[derive(Debug, Default)]
pub struct Keyring {
    keys: RwLock<HashMap<String, Arc<Key>>>,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Keyring {
    /// An empty keyring.
    pub fn new() -> Self {
        Self::default()
    }

    fn get(&self, name: &str) -> Result<Arc<Key>> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
            .ok_or(TransitError::NotFound)
    }

    /// Creates key `name` with version 1.
    ///
    /// # Errors
    ///
    /// [`TransitError::Invalid`] if the name is taken or invalid, or the options inconsistent.
    pub fn create(&self, name: &str, options: KeyOptions) -> Result<()> {
        let key = Key::create(name, options, now())?;
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        if keys.contains_key(name) {
            return Err(TransitError::Invalid(format!("key {name} already exists")));
        }
        keys.insert(name.to_owned(), Arc::new(key));
        Ok(())
    }

    /// Adds a version to `name`; returns the new latest version.
    ///
    /// # Errors
    ///
    /// [`TransitError::NotFound`].
    pub fn rotate(&self, name: &str) -> Result<u32> {
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        let key = keys.get_mut(name).ok_or(TransitError::NotFound)?;
        Arc::make_mut(key).rotate(now())
    }

    /// A snapshot of key `name` (its settings and versions).
    ///
    /// # Errors
    ///
    /// [`TransitError::NotFound`].
    pub fn key(&self, name: &str) -> Result<Arc<Key>> {
        self.get(name)
    }

    /// Encrypts with the latest version.
    ///
    /// # Errors
    ///
    /// [`TransitError::NotFound`]; as [`Key::encrypt`].
    pub fn encrypt(&self, name: &str, plaintext: &[u8], context: Option<&[u8]>) -> Result<String> {
        self.get(name)?.encrypt(plaintext, context, &[], None)
    }

    /// Decrypts a ciphertext of any readable version.
    ///
    /// # Errors
    ///
    /// [`TransitError::NotFound`]; as [`Key::decrypt`].
    pub fn decrypt(
        &self,
        name: &str,
        ciphertext: &str,
        context: Option<&[u8]>,
    ) -> Result<Zeroizing<Vec<u8>>> {
        self.get(name)?.decrypt(ciphertext, context, &[])
    }

    /// Re-encrypts a ciphertext with the latest version.
    ///
    /// # Errors
    ///
    /// [`TransitError::NotFound`]; as [`Key::rewrap`].
    pub fn rewrap(&self, name: &str, ciphertext: &str, context: Option<&[u8]>) -> Result<String> {
        self.get(name)?.rewrap(ciphertext, context, &[], None)
    }

    /// Signs `input` with the latest version.
    ///
    /// # Errors
    ///
    /// [`TransitError::NotFound`]; as [`Key::sign`].
    pub fn sign(&self, name: &str, input: &[u8], marshaling: Marshaling) -> Result<String> {
        self.get(name)?.sign(input, None, marshaling, None)
    }

    /// Verifies a signature.
    ///
    /// # Errors
    ///
    /// [`TransitError::NotFound`]; as [`Key::verify`].
    pub fn verify(
        &self,
        name: &str,
        input: &[u8],
        signature: &str,
        marshaling: Marshaling,
    ) -> Result<bool> {
        self.get(name)?.verify(input, signature, None, marshaling)
    }

    /// HMAC-SHA256 of `input` with the latest version.
    ///
    /// # Errors
    ///
    /// [`TransitError::NotFound`].
    pub fn hmac(&self, name: &str, input: &[u8]) -> Result<String> {
        self.get(name)?.hmac(input, HashAlgorithm::Sha256, None)
    }
}
