use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use ring::rand::{SecureRandom, SystemRandom};
use strongroom_storage::{Limits, Op, Storage, StorageError};
use subtle::ConstantTimeEq;

use crate::envelope::{self, Input};

use crate::keyring::{Keyring, TermKey, unix_now};
use crate::{BarrierError, Result, RootKey};

/// Where the encrypted keyring lives in the storage under the barrier. Reserved: the barrier
/// refuses reads and writes of this key from above, and hides it from lists.
pub const KEYRING_PATH: &str = "core/keyring";

/// The folder and name of [`KEYRING_PATH`].
const KEYRING_FOLDER: &str = "core/";
const KEYRING_NAME: &str = "keyring";

/// The key term used for the keyring's own envelope (term 0 never names a data key).
const ROOT_TERM: u32 = 0;

/// How a [`Barrier`] behaves. `Default` is what Vault does.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BarrierConfig {
    /// Limits on the plaintext keys and values the barrier accepts (checked before encrypting).
    /// The storage below must accept values [`CIPHERTEXT_OVERHEAD`](crate::CIPHERTEXT_OVERHEAD) bytes longer.
    pub limits: Limits,
    /// Encryptions under one term after which the barrier rotates to a new term by itself.
    /// Default 3 865 470 566: 10% under 2^32, the limit NIST SP 800-38D sets for random 96-bit
    /// nonces, as Vault does.
    pub max_encryptions: u64,
    /// Rotate by itself once the active term is older than this. Default: never.
    pub rotation_interval: Option<Duration>,
    /// How many encryptions are reserved (persisted in the keyring) at a time. A crash loses at
    /// most this many from the term's budget; larger blocks mean fewer keyring writes.
    /// Default 65 536.
    pub reservation_block: u64,
}

impl BarrierConfig {
    /// Vault's default bound on encryptions per term.
    pub const DEFAULT_MAX_ENCRYPTIONS: u64 = 3_865_470_566;
    /// The default reservation block.
    pub const DEFAULT_RESERVATION_BLOCK: u64 = 1 << 16;

    /// Sets the plaintext limits.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the per-term encryption bound.
    #[must_use]
    pub fn max_encryptions(mut self, max: u64) -> Self {
        self.max_encryptions = max;
        self
    }

    /// Sets the time after which the active term is rotated.
    #[must_use]
    pub fn rotation_interval(mut self, interval: Option<Duration>) -> Self {
        self.rotation_interval = interval;
        self
    }

    /// Sets the reservation block.
    #[must_use]
    pub fn reservation_block(mut self, block: u64) -> Self {
        self.reservation_block = block;
        self
    }
}

impl Default for BarrierConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            max_encryptions: Self::DEFAULT_MAX_ENCRYPTIONS,
            rotation_interval: None,
            reservation_block: Self::DEFAULT_RESERVATION_BLOCK,
        }
    }
}

/// What [`Barrier::status`] reports about the active key term.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BarrierStatus {
    /// The active term.
    pub term: u32,
    /// When the active term was installed (second precision).
    pub installed: SystemTime,
    /// Encryptions under the active term so far (an upper bound: reserved but unused ones after
    /// a restart count as used).
    pub encryptions: u64,
    /// How many terms the keyring holds.
    pub terms: usize,
}

/// Why an encryption could not proceed on the fast path.
enum Attention {
    /// The active term's reservation is used up: persist a larger one.
    Reserve,
    /// The active term reached its bound (count or age): rotate.
    Rotate,
}

/// The outcome of one attempt at the fast path.
enum Step<'a> {
    /// Encrypted.
    Done(Vec<u8>),
    /// Not encrypted: the input comes back, and the barrier must attend to something first.
    Wait(Attention, Input<'a>),
}

/// The encryption barrier: a [`Storage`] over a [`Storage`] that encrypts every value.
///
/// See the [crate docs](crate) for the format, the nonce construction and the states.
pub struct Barrier<S> {
    inner: S,
    config: BarrierConfig,
    /// `None` while sealed.
    state: RwLock<Option<Arc<Keyring>>>,
    /// Serialises every change to the stored keyring (reservations, rotation, rekey).
    keyring_lock: tokio::sync::Mutex<()>,
    random: SystemRandom,
}

impl<S: std::fmt::Debug> std::fmt::Debug for Barrier<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Barrier")
            .field("inner", &self.inner)
            .field("sealed", &self.is_sealed())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S> Barrier<S> {
    /// Whether the barrier is sealed.
    pub fn is_sealed(&self) -> bool {
        self.state_ref().is_none()
    }

    // Every write to `state` is a single assignment, so a panic elsewhere cannot leave it half
    // written: a poisoned lock is still consistent.
    fn state_ref(&self) -> std::sync::RwLockReadGuard<'_, Option<Arc<Keyring>>> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn state_mut(&self) -> std::sync::RwLockWriteGuard<'_, Option<Arc<Keyring>>> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<S: Storage> Barrier<S> {
    /// A sealed barrier over `inner` with the default configuration.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            config: BarrierConfig::default(),
            state: RwLock::new(None),
            keyring_lock: tokio::sync::Mutex::new(()),
            random: SystemRandom::new(),
        }
    }

    /// A sealed barrier over `inner`.
    ///
    /// # Errors
    ///
    /// [`StorageError::Config`] (inside [`BarrierError::Storage`]) for a zero bound or block.
    pub fn with_config(inner: S, config: BarrierConfig) -> Result<Self> {
        if config.max_encryptions == 0 || config.reservation_block == 0 {
            return Err(StorageError::Config(
                "max_encryptions and reservation_block must be at least 1".into(),
            )
            .into());
        }
        Ok(Self {
            config,
            ..Self::new(inner)
        })
    }

    /// The storage under the barrier (it only ever holds ciphertext and the encrypted keyring).
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Whether the storage holds a keyring.
    ///
    /// # Errors
    ///
    /// A storage error.
    pub async fn is_initialized(&self) -> Result<bool> {
        Ok(self.inner.get(KEYRING_PATH).await?.is_some())
    }

    /// Creates a keyring with one fresh term, encrypted under `root`, and stores it. The barrier
    /// stays sealed: call [`unseal`](Self::unseal) next.
    ///
    /// # Errors
    ///
    /// [`BarrierError::AlreadyInitialized`] if the storage already holds a keyring (nothing is
    /// changed); a storage error.
    pub async fn initialize(&self, root: &RootKey) -> Result<()> {
        let _guard = self.keyring_lock.lock().await;
        let ring = Keyring::generate(root.duplicate(), &self.random)?;
        let blob = self.seal_keyring(&ring, None)?;
        // Check-and-put, so two racing initialisations cannot both win.
        match self
            .inner
            .transaction(vec![
                Op::check(KEYRING_PATH, None),
                Op::put(KEYRING_PATH, blob),
            ])
            .await
        {
            Ok(()) => Ok(()),
            Err(StorageError::CheckFailed { .. }) => Err(BarrierError::AlreadyInitialized),
            Err(e) => Err(e.into()),
        }
    }

    /// Opens the keyring with `root`. On any error the barrier stays sealed.
    ///
    /// # Errors
    ///
    /// [`BarrierError::NotInitialized`], [`BarrierError::WrongRootKey`],
    /// [`BarrierError::KeyringCorrupt`], or a storage error.
    pub async fn unseal(&self, root: &RootKey) -> Result<()> {
        let _guard = self.keyring_lock.lock().await;
        let ring = self.open_stored(root).await?;
        *self.state_mut() = Some(Arc::new(ring));
        Ok(())
    }

    /// Reads the stored keyring again, opening it with the root key this barrier holds. For a
    /// barrier whose storage another process writes too (the nodes of a high-availability
    /// cluster): terms that process added since are then known here. Every term gets a fresh
    /// nonce sequence, as at an unseal.
    ///
    /// # Errors
    ///
    /// [`BarrierError::Sealed`]; as [`unseal`](Self::unseal) (a keyring now under another root
    /// key is [`BarrierError::WrongRootKey`]); on any error the barrier is left as it was.
    pub async fn reload(&self) -> Result<()> {
        let _guard = self.keyring_lock.lock().await;
        let root = self.current()?.root.duplicate();
        let ring = self.open_stored(&root).await?;
        self.replace(ring);
        Ok(())
    }

    /// The stored keyring, opened with `root`.
    async fn open_stored(&self, root: &RootKey) -> Result<Keyring> {
        let blob = self
            .inner
            .get(KEYRING_PATH)
            .await?
            .ok_or(BarrierError::NotInitialized)?;
        let (term, nonce) = envelope::header(&blob).map_err(|e| match e {
            BarrierError::Truncated { .. } | BarrierError::UnknownVersion { .. } => {
                BarrierError::KeyringCorrupt("stored keyring is not a barrier envelope")
            }
            other => other,
        })?;
        if term != ROOT_TERM {
            return Err(BarrierError::KeyringCorrupt(
                "stored keyring is not under the root key",
            ));
        }
        let root_aead = envelope::aead_key(root.expose_secret())?;
        let plain = zeroize::Zeroizing::new(
            envelope::open(&root_aead, nonce, KEYRING_PATH.as_bytes(), blob).map_err(
                |e| match e {
                    BarrierError::Tampered => BarrierError::WrongRootKey,
                    other => other,
                },
            )?,
        );
        Keyring::decode(&plain, root.duplicate(), &self.random)
    }

    /// Seals the barrier: drops the keyring and the root key (zeroized as soon as calls in flight
    /// finish). Every later call fails with [`BarrierError::Sealed`] until the next unseal.
    pub fn seal(&self) {
        *self.state_mut() = None;
    }

    /// The active term, its age and use.
    ///
    /// # Errors
    ///
    /// [`BarrierError::Sealed`].
    pub fn status(&self) -> Result<BarrierStatus> {
        let ring = self.current()?;
        Ok(BarrierStatus {
            term: ring.active.term,
            installed: ring.active.installed_at(),
            encryptions: ring.active.encryptions(),
            terms: ring.terms.len(),
        })
    }

    /// Installs a new active term; older terms stay for decryption. Returns the new term.
    ///
    /// # Errors
    ///
    /// [`BarrierError::Sealed`], [`BarrierError::TermsExhausted`], or a storage error (the
    /// keyring is then unchanged).
    pub async fn rotate(&self) -> Result<u32> {
        let _guard = self.keyring_lock.lock().await;
        self.rotate_locked().await
    }

    /// Re-encrypts the keyring under `new_root`. Data is not touched.
    ///
    /// # Errors
    ///
    /// [`BarrierError::Sealed`], or a storage error (the old root key then still opens the
    /// keyring).
    pub async fn rekey_root(&self, new_root: &RootKey) -> Result<()> {
        self.rekey_root_with(new_root, Vec::new()).await
    }

    /// Re-encrypts the keyring under `new_root` and applies `extra` to the storage under the
    /// barrier in the *same* transaction: either all of it happens or none of it. Data is not
    /// touched.
    ///
    /// This is how whatever protects the root key changes together with the keyring: a caller
    /// that stores the new root key's wrapping beside the barrier (a seal configuration) passes
    /// that write here, usually behind an [`Op::check`] of the value it replaces. A crash or a
    /// failed write then leaves the old keyring with the old wrapping, or the new keyring with
    /// the new wrapping, never a keyring that no wrapping opens. The ops in `extra` go to the
    /// storage below the barrier as given, unencrypted.
    ///
    /// The new keyring is used in memory only once the transaction has committed. When the
    /// storage reports a failure the barrier reads the keyring back: if the one it wrote is
    /// there (the commit happened, only its acknowledgement was lost) it counts as done.
    ///
    /// # Errors
    ///
    /// [`BarrierError::Sealed`]; [`BarrierError::ReservedKey`] if an op in `extra` names
    /// [`KEYRING_PATH`]; a storage error, [`StorageError::CheckFailed`] among them when a check
    /// in `extra` does not hold (the old root key then still opens the keyring and nothing in
    /// `extra` was applied).
    pub async fn rekey_root_with(&self, new_root: &RootKey, extra: Vec<Op>) -> Result<()> {
        for op in &extra {
            not_reserved(op.key())?;
        }
        let _guard = self.keyring_lock.lock().await;
        let ring = self.current()?;
        let next = ring.with_root(new_root.duplicate());
        let blob = self.seal_keyring(&next, None)?;
        let mut ops = extra;
        ops.push(Op::put(KEYRING_PATH, blob.clone()));
        if let Err(err) = self.inner.transaction(ops).await {
            // The blob has a fresh random nonce: finding exactly it means this commit happened.
            // (A failed read leaves the outcome unknown; the error is reported either way.)
            match self.inner.get(KEYRING_PATH).await {
                Ok(Some(stored)) if stored == blob => {}
                _ => return Err(err.into()),
            }
        }
        self.replace(next);
        Ok(())
    }

    /// Encrypts `plaintext` for the storage key `key`: the ciphertext the barrier would store.
    ///
    /// # Errors
    ///
    /// [`BarrierError::Sealed`], or a storage error while persisting a reservation or rotation.
    pub async fn encrypt(&self, key: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
        self.encrypt_input(key, Input::Borrowed(plaintext)).await
    }

    /// Encrypts a buffer the caller hands over; no plaintext is left in it (see
    /// [`envelope::seal`]).
    async fn encrypt_owned(&self, key: &str, value: Vec<u8>) -> Result<Vec<u8>> {
        self.encrypt_input(key, Input::Owned(value)).await
    }

    async fn encrypt_input(&self, key: &str, mut input: Input<'_>) -> Result<Vec<u8>> {
        loop {
            let attention = {
                let state = self.state_ref();
                let ring = state.as_ref().ok_or(BarrierError::Sealed)?;
                match self.try_encrypt(&ring.active, key, input)? {
                    Step::Done(sealed) => return Ok(sealed),
                    Step::Wait(attention, back) => {
                        input = back;
                        attention
                    }
                }
            };
            match attention {
                Attention::Reserve => self.reserve().await?,
                Attention::Rotate => self.rotate_if_due().await?,
            }
        }
    }

    /// Decrypts a stored value read from the storage key `key`.
    ///
    /// # Errors
    ///
    /// [`BarrierError::Sealed`], [`BarrierError::Truncated`], [`BarrierError::UnknownVersion`],
    /// [`BarrierError::UnknownTerm`], [`BarrierError::Tampered`].
    pub fn decrypt(&self, key: &str, value: Vec<u8>) -> Result<Vec<u8>> {
        let (term, nonce) = envelope::header(&value)?;
        let state = self.state_ref();
        let ring = state.as_ref().ok_or(BarrierError::Sealed)?;
        let term_key = ring
            .terms
            .get(&term)
            .ok_or(BarrierError::UnknownTerm { term })?;
        envelope::open(&term_key.aead, nonce, key.as_bytes(), value)
    }

    fn try_encrypt<'a>(&self, active: &TermKey, key: &str, input: Input<'a>) -> Result<Step<'a>> {
        // Claiming a nonce we then do not use (on the slow path) is harmless: it is skipped.
        let (n, nonce) = active.nonces.next();
        let total = active.base.saturating_add(n);
        if total >= self.config.max_encryptions || self.too_old(active) {
            return Ok(Step::Wait(Attention::Rotate, input));
        }
        if total >= active.reserved.load(Ordering::Acquire) {
            return Ok(Step::Wait(Attention::Reserve, input));
        }
        envelope::seal(&active.aead, active.term, nonce, key.as_bytes(), input).map(Step::Done)
    }

    fn too_old(&self, term: &TermKey) -> bool {
        self.config
            .rotation_interval
            .is_some_and(|age| unix_now() >= term.installed.saturating_add(age.as_secs()))
    }

    /// Persists a larger reservation for the active term (or rotates if its budget is spent).
    async fn reserve(&self) -> Result<()> {
        let _guard = self.keyring_lock.lock().await;
        let ring = self.current()?;
        let active = &ring.active;
        let total = active.encryptions();
        if total < active.reserved.load(Ordering::Acquire) {
            return Ok(()); // another task reserved meanwhile
        }
        if total >= self.config.max_encryptions {
            return self.rotate_locked().await.map(drop);
        }
        let new = total
            .saturating_add(self.config.reservation_block)
            .min(self.config.max_encryptions);
        let blob = self.seal_keyring(&ring, Some((active.term, new)))?;
        self.inner.put(KEYRING_PATH, blob).await?;
        active.reserved.fetch_max(new, Ordering::AcqRel);
        Ok(())
    }

    async fn rotate_if_due(&self) -> Result<()> {
        let _guard = self.keyring_lock.lock().await;
        let ring = self.current()?;
        if ring.active.encryptions() >= self.config.max_encryptions || self.too_old(&ring.active) {
            self.rotate_locked().await?;
        }
        Ok(())
    }

    /// Rotation proper; the caller holds `keyring_lock`.
    async fn rotate_locked(&self) -> Result<u32> {
        let ring = self.current()?;
        let term = ring.next_term()?;
        let next = ring.with_term(TermKey::generate(term, &self.random)?);
        let first = self
            .config
            .reservation_block
            .min(self.config.max_encryptions);
        let blob = self.seal_keyring(&next, Some((term, first)))?;
        self.inner.put(KEYRING_PATH, blob).await?;
        next.active.reserved.fetch_max(first, Ordering::AcqRel);
        self.replace(next);
        Ok(term)
    }

    /// Encrypts the serialized keyring under its root key, with a fresh random nonce (keyring
    /// writes are rare, so the OS random source's cost does not matter here).
    fn seal_keyring(&self, ring: &Keyring, reserve: Option<(u32, u64)>) -> Result<Vec<u8>> {
        let mut plain = ring.encode(reserve)?;
        let mut nonce = [0u8; ring::aead::NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| BarrierError::Random)?;
        let root_aead = envelope::aead_key(ring.root.expose_secret())?;
        // `encode` allocated room for the envelope, so sealing in place does not reallocate and
        // leaves no plaintext copy behind.
        let buffer = std::mem::take(&mut *plain);
        envelope::seal(
            &root_aead,
            ROOT_TERM,
            nonce,
            KEYRING_PATH.as_bytes(),
            Input::Owned(buffer),
        )
    }

    fn current(&self) -> Result<Arc<Keyring>> {
        self.state_ref().clone().ok_or(BarrierError::Sealed)
    }

    /// Installs a new keyring, unless the barrier was sealed meanwhile.
    fn replace(&self, ring: Keyring) {
        let mut state = self.state_mut();
        if state.is_some() {
            *state = Some(Arc::new(ring));
        }
    }

    fn ensure_unsealed(&self) -> Result<()> {
        if self.is_sealed() {
            Err(BarrierError::Sealed)
        } else {
            Ok(())
        }
    }
}

fn not_reserved(key: &str) -> Result<()> {
    if key == KEYRING_PATH {
        Err(BarrierError::ReservedKey(KEYRING_PATH))
    } else {
        Ok(())
    }
}

/// Plaintext comparison for [`Op::Check`]: constant time in the contents (lengths may differ
/// visibly, as with any comparison of secrets of varying length).
fn same(a: Option<&[u8]>, b: Option<&[u8]>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.ct_eq(b).into(),
        _ => false,
    }
}

#[async_trait]
impl<S: Storage> Storage for Barrier<S> {
    async fn get(&self, key: &str) -> strongroom_storage::Result<Option<Vec<u8>>> {
        self.config.limits.check_key(key)?;
        not_reserved(key)?;
        self.ensure_unsealed()?;
        match self.inner.get(key).await? {
            Some(value) => Ok(Some(self.decrypt(key, value)?)),
            None => Ok(None),
        }
    }

    async fn put(&self, key: &str, value: Vec<u8>) -> strongroom_storage::Result<()> {
        self.config.limits.check_put(key, &value)?;
        not_reserved(key)?;
        let sealed = self.encrypt_owned(key, value).await?;
        self.inner.put(key, sealed).await
    }

    async fn delete(&self, key: &str) -> strongroom_storage::Result<()> {
        self.config.limits.check_key(key)?;
        not_reserved(key)?;
        self.ensure_unsealed()?;
        self.inner.delete(key).await
    }

    async fn list(&self, prefix: &str) -> strongroom_storage::Result<Vec<String>> {
        self.config.limits.check_prefix(prefix)?;
        self.ensure_unsealed()?;
        let mut children = self.inner.list(prefix).await?;
        // Hide the keyring, and its folder when nothing else is in it, so that the barrier is a
        // Storage like any other: an empty barrier lists as empty.
        if prefix == KEYRING_FOLDER {
            children.retain(|child| child != KEYRING_NAME);
        } else if prefix.is_empty()
            && children.iter().any(|child| child == KEYRING_FOLDER)
            && self.inner.list(KEYRING_FOLDER).await? == [KEYRING_NAME]
        {
            children.retain(|child| child != KEYRING_FOLDER);
        }
        Ok(children)
    }

    async fn transaction(&self, ops: Vec<Op>) -> strongroom_storage::Result<()> {
        self.config.limits.check_ops(&ops)?;
        for op in &ops {
            not_reserved(op.key())?;
        }
        self.ensure_unsealed()?;
        let has_checks = ops.iter().any(|op| matches!(op, Op::Check { .. }));
        // Plaintext written earlier in this batch, for checks that come after it.
        let mut pending: HashMap<String, Option<Vec<u8>>> = HashMap::new();
        let mut inner_ops = Vec::with_capacity(ops.len());
        for op in ops {
            match op {
                Op::Put { key, value } => {
                    if has_checks {
                        pending.insert(key.clone(), Some(value.clone()));
                    }
                    let sealed = self.encrypt_owned(&key, value).await?;
                    inner_ops.push(Op::put(key, sealed));
                }
                Op::Delete { key } => {
                    if has_checks {
                        pending.insert(key.clone(), None);
                    }
                    inner_ops.push(Op::delete(key));
                }
                Op::Check { key, expected } => {
                    let current = match pending.get(&key) {
                        Some(value) => value.clone(),
                        None => {
                            // Pin the ciphertext we judged, so the inner transaction fails if
                            // anyone changes it before we commit.
                            let stored = self.inner.get(&key).await?;
                            inner_ops.push(Op::check(key.clone(), stored.clone()));
                            stored.map(|value| self.decrypt(&key, value)).transpose()?
                        }
                    };
                    if !same(current.as_deref(), expected.as_deref()) {
                        return Err(StorageError::CheckFailed { key });
                    }
                }
            }
        }
        self.inner.transaction(inner_ops).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn barrier_futures_are_send() {
        fn assert_send<T: Send>(_: &T) {}
        let barrier = Barrier::new(strongroom_storage::MemoryStorage::new());
        let root = RootKey::generate().unwrap();
        assert_send(&barrier.unseal(&root));
        assert_send(&barrier.encrypt("k", b""));
        assert_send(&barrier.encrypt_owned("k", Vec::new()));
        assert_send(&barrier.rotate());
    }

    #[test]
    fn keyring_path_parts() {
        assert_eq!(format!("{KEYRING_FOLDER}{KEYRING_NAME}"), KEYRING_PATH);
    }

    #[test]
    fn expires_by_age() {
        let barrier = Barrier::with_config(
            strongroom_storage::MemoryStorage::new(),
            BarrierConfig::default().rotation_interval(Some(Duration::from_secs(60))),
        )
        .unwrap();
        let random = SystemRandom::new();
        let mut term = TermKey::generate(1, &random).unwrap();
        assert!(!barrier.too_old(&term));
        term.installed -= 61;
        assert!(barrier.too_old(&term));
    }

    #[test]
    fn constant_time_check_semantics() {
        assert!(same(None, None));
        assert!(same(Some(b"a"), Some(b"a")));
        assert!(!same(Some(b"a"), Some(b"b")));
        assert!(!same(Some(b""), None));
        assert!(!same(Some(b"ab"), Some(b"a")));
    }
}
