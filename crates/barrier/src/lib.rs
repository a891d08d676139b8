//! The encryption barrier of Strongroom: nothing readable ever reaches storage.
//!
//! Use this crate when you hold a [`Storage`](strongroom_storage::Storage) and need everything
//! written to it encrypted and authenticated. If you are embedding a whole vault, `strongroom-core`
//! sets the barrier up for you; its seal (Shamir shares or a key service) provides the root key.
//!
//! # Key hierarchy
//!
//! ```text
//!  seal (Shamir / auto-unseal) ──protects──▶ RootKey (256 bit)
//!  RootKey ──encrypts──▶ keyring at `core/keyring`: terms 1..n, each a 256-bit AES key
//!  active term ──encrypts──▶ every value written through the barrier
//! ```
//!
//! [`Barrier::rotate`] adds a term and makes it active; values written under older terms still
//! open. [`Barrier::rekey_root`] re-encrypts only the keyring; [`Barrier::rekey_root_with`] does
//! so in one transaction with the caller's own writes (the new wrapping of the root key), so that
//! a crash never separates the two. The barrier rotates by itself
//! before a term has done [`BarrierConfig::max_encryptions`] encryptions, and optionally once a
//! term is older than [`BarrierConfig::rotation_interval`].
//!
//! # Ciphertext format
//!
//! ```text
//! [version: u8 = 1][term: u32 BE][nonce: 12 bytes][AES-256-GCM ciphertext || 16-byte tag]
//! ```
//!
//! The storage key is the associated data, so a value copied to another key fails to open. The
//! keyring uses the same envelope under term 0 (the root key) at [`KEYRING_PATH`]. Reading a value
//! that is not barrier ciphertext is an error ([`BarrierError::UnknownVersion`] or
//! [`BarrierError::Truncated`]); there is no plaintext pass-through. Each failure has its own
//! error: [`BarrierError::WrongRootKey`], [`BarrierError::UnknownTerm`],
//! [`BarrierError::Truncated`], [`BarrierError::Tampered`].
//!
//! # Nonces: safe and fast
//!
//! AES-GCM breaks if a nonce ever repeats under one key. Purely random 96-bit nonces are safe up
//! to about 2^32 encryptions per key (NIST SP 800-38D), but reading 12 bytes from the OS random
//! source costs several times more than sealing a small value. Pure counters are fast but repeat
//! after a crash that loses the counter, or when two processes share a key.
//!
//! The barrier combines the two. When a process loads a term (unseal, rotation) it draws a random
//! 96-bit starting point for that term from the OS: a 32-bit prefix and a 64-bit counter start.
//! Each encryption then takes the next counter value (one atomic increment):
//! `nonce = prefix || (start + n mod 2^64)`.
//!
//! * Within one process a nonce cannot repeat: `n` is unique per call and stays far below 2^64
//!   (the term is retired after `max_encryptions`, under 2^32).
//! * Across processes (restarts, or other nodes with the same keyring) two sequences collide only
//!   if their random prefixes are equal *and* their counter ranges overlap. For `s` sequences
//!   doing `q` encryptions in total that probability is at most about `s·q / 2^96`, against
//!   `q² / 2^97` for purely random nonces: with a million restarts and 2^32 encryptions it is
//!   below 2^-44, far safer than the random-nonce bound Vault relies on, at the cost of one
//!   atomic add instead of a system call.
//!
//! The encryption count of each term is kept safe across crashes by *reservation*: before a term
//! passes its persisted count, the barrier writes a larger one (by
//! [`BarrierConfig::reservation_block`]) into the keyring. After a crash the count resumes from
//! the reservation, so it can only over-count. Rotation at the bound therefore always happens
//! before 2^32 encryptions under one key, however the process dies.
//!
//! # States
//!
//! Uninitialised (no keyring in storage) → [`Barrier::initialize`] → sealed →
//! [`Barrier::unseal`] → unsealed → [`Barrier::seal`] → sealed. While sealed every read and write
//! fails with [`BarrierError::Sealed`]; through the `Storage` trait the error arrives inside a
//! `StorageError`, and [`BarrierError::find`] / [`BarrierError::is_sealed`] recover it.
//!
//! # Secrets in memory
//!
//! The root key and term keys live in heap boxes zeroized on drop, and nothing prints them.
//! Sealing drops the keyring; keys still borrowed by calls in flight are zeroized when those
//! finish. ring's expanded AES key schedules cannot be cleared from outside ring (a limitation of
//! ring's API). Values are encrypted in place, so the plaintext buffer handed to `put` is
//! overwritten by the ciphertext.
//!
//! ```
//! use strongroom_barrier::{Barrier, RootKey};
//! use strongroom_storage::{MemoryStorage, Storage};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let barrier = Barrier::new(MemoryStorage::new());
//! let root = RootKey::generate()?;
//! barrier.initialize(&root).await?;
//! barrier.unseal(&root).await?;
//! barrier.put("secret/db", b"hunter2".to_vec()).await?;
//! assert_eq!(barrier.get("secret/db").await?.as_deref(), Some(&b"hunter2"[..]));
//! // What the storage below holds is ciphertext.
//! let raw = barrier.inner().get("secret/db").await?.unwrap();
//! assert!(!raw.windows(7).any(|w| w == b"hunter2"));
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
#![forbid(unsafe_code)]

mod barrier;
mod envelope;
mod error;
mod keyring;
mod root_key;

pub use barrier::{Barrier, BarrierConfig, BarrierStatus, KEYRING_PATH};
pub use envelope::OVERHEAD as CIPHERTEXT_OVERHEAD;
pub use error::{BarrierError, Result};
pub use root_key::RootKey;
