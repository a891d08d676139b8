//! The seal of Strongroom: what keeps a restarted vault from reading its own data until enough
//! key holders agree, or until a trusted key service unwraps its root key.
//!
//! Use this crate for Shamir secret sharing with the flows people need around it — unseal
//! progress, rekey with verification, break-glass root generation — or to implement a new way of
//! protecting a root key ([`Seal`]). It knows nothing of storage or of the barrier:
//! `strongroom-core` wires them together.
//!
//! # Pieces
//!
//! * [`split`] / [`combine`]: Shamir over GF(256) (vsss-rs), shares as [`Share`] with hex and
//!   base64 encodings carrying their x-coordinate. Threshold 1 means one share, the key itself.
//! * [`ShareDigests`]: keyed digests that recognise a single share on its own.
//! * [`UnsealProgress`]: shares one at a time, progress and nonce, duplicates refused, reset; at
//!   the threshold the caller's verifier accepts or rejects the combined key (reset on reject).
//! * [`Rekey`]: a quorum of current shares makes new shares (new count and threshold, same or
//!   rotated secret); with `require_verification` the new shares take effect only after a
//!   quorum of them has been presented back.
//! * [`RootGeneration`]: the break-glass quorum with a one-time pad; starting and cancelling need
//!   a share.
//! * [`Seal`]: [`ShamirSeal`] (shares combine into the key that wraps the root key),
//!   `TransitSeal` (feature `transit`: auto-unseal through a Vault-compatible transit engine) and
//!   [`StaticKeySeal`] (development); other key services implement the same trait.
//!
//! ```
//! use strongroom_seal::{combine, split};
//!
//! let root_key = [42u8; 32];
//! let mut shares = split(&root_key, 5, 3)?;
//! // Any three shares, in any order, give the key back.
//! let again = combine(&[shares.swap_remove(4), shares.swap_remove(0), shares.swap_remove(2)])?;
//! assert_eq!(again.expose_secret(), &root_key);
//! # Ok::<_, strongroom_seal::SealError>(())
//! ```
//!
//! # Secrets
//!
//! Keys, shares and pads live in zeroizing containers ([`SecretBytes`], [`SecretString`],
//! [`Share`]) whose `Debug` output is redacted; nothing secret appears in an error message.
//! Shares are zeroized as soon as they are combined or discarded. Share decoding and every
//! comparison of secrets are constant-time.
#![forbid(unsafe_code)]

mod error;
mod quorum;
mod rng;
mod seal;
mod secret;
mod shamir;
#[cfg(feature = "transit")]
mod transit;

pub use error::{BoxError, Result, SealError, ShareProblem};
pub use quorum::{
    Progress, Rekey, RekeyConfig, RekeyOutput, RekeyStep, RootGeneration, RootQuorum, RootStep,
    ShareDigests, Started, Submitted, UnsealProgress, decode_with_otp,
};
pub use seal::{NewShamirSeal, Seal, ShamirSeal, StaticKeySeal, WrappedKey};
pub use secret::{SecretBytes, SecretString};
pub use shamir::{MAX_SHARES, Share, check_split, combine, split};
#[cfg(feature = "transit")]
pub use transit::{TransitConfig, TransitSeal};
