//! Quorum flows: collecting shares one at a time from different people, with progress, a nonce per
//! attempt, duplicate refusal and reset. Unseal, rekey (with verification) and break-glass root
//! generation (with a one-time pad) are built on the same collector.

use base64ct::{Base64Unpadded, Encoding};
use ring::hmac;
use zeroize::Zeroize;

use crate::rng::{random_bytes, uuid};
use crate::shamir::{check_split, combine, split};
use crate::{BoxError, Result, SealError, SecretBytes, SecretString, Share, ShareProblem};

/// Keyed digests of every share of a split, so that one share can be recognised on its own.
///
/// Shamir alone cannot tell a real share from garbage until a full quorum is combined. With these
/// digests, an unseal rejects a mistyped share at once (instead of wasting everyone's quorum), and
/// starting or cancelling a break-glass attempt can require proof that the caller holds a share.
/// The digests are HMAC-SHA256 under a random 256-bit salt; shares carry 256 bits of entropy, so
/// storing the digests (outside the barrier, with the seal configuration) reveals nothing usable.
#[derive(Clone, PartialEq, Eq)]
pub struct ShareDigests {
    salt: [u8; 32],
    digests: Vec<(u8, [u8; 32])>,
}

impl std::fmt::Debug for ShareDigests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShareDigests")
            .field("shares", &self.digests.len())
            .finish_non_exhaustive()
    }
}

impl ShareDigests {
    /// Digests of `shares`, under a fresh salt.
    ///
    /// # Errors
    ///
    /// [`SealError::Random`].
    pub fn compute(shares: &[Share]) -> Result<Self> {
        let salt: [u8; 32] = random_bytes(32)?
            .try_into()
            .map_err(|_| SealError::Unreachable("32 random bytes"))?;
        let key = hmac::Key::new(hmac::HMAC_SHA256, &salt);
        let digests = shares
            .iter()
            .map(|share| {
                let tag = hmac::sign(&key, share.to_bytes().expose_secret());
                let mut digest = [0u8; 32];
                digest.copy_from_slice(tag.as_ref());
                (share.x(), digest)
            })
            .collect();
        Ok(Self { salt, digests })
    }

    /// Whether `share` is one of the digested shares (constant time in the share's value).
    pub fn verify(&self, share: &Share) -> bool {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.salt);
        self.digests.iter().any(|(x, digest)| {
            *x == share.x() && hmac::verify(&key, share.to_bytes().expose_secret(), digest).is_ok()
        })
    }

    /// How many shares are known.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Whether no share is known.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Serialized: `salt (32) || count (1) || (x (1) || digest (32))*`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(33 + self.digests.len() * 33);
        out.extend_from_slice(&self.salt);
        out.push(u8::try_from(self.digests.len()).unwrap_or(u8::MAX));
        for (x, digest) in &self.digests {
            out.push(*x);
            out.extend_from_slice(digest);
        }
        out
    }

    /// Parses [`to_bytes`](Self::to_bytes)' output.
    ///
    /// # Errors
    ///
    /// [`SealError::MalformedWrappedKey`] when the bytes are not a digest list.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bad = SealError::MalformedWrappedKey("share digests");
        let (salt, rest) = bytes.split_first_chunk::<32>().ok_or(bad)?;
        let (&count, mut rest) = rest
            .split_first()
            .ok_or(SealError::MalformedWrappedKey("share digests"))?;
        if rest.len() != usize::from(count) * 33 {
            return Err(SealError::MalformedWrappedKey("share digests"));
        }
        let mut digests = Vec::with_capacity(usize::from(count));
        while let Some((&x, tail)) = rest.split_first() {
            let (digest, tail) = tail
                .split_first_chunk::<32>()
                .ok_or(SealError::MalformedWrappedKey("share digests"))?;
            digests.push((x, *digest));
            rest = tail;
        }
        Ok(Self {
            salt: *salt,
            digests,
        })
    }
}

/// Collects distinct shares up to a threshold for one attempt.
struct Collector {
    threshold: usize,
    key_len: usize,
    nonce: String,
    shares: Vec<Share>,
}

impl Collector {
    fn new(threshold: usize, key_len: usize) -> Result<Self> {
        if threshold == 0 || threshold > crate::MAX_SHARES {
            return Err(SealError::InvalidSplit {
                shares: threshold,
                threshold,
            });
        }
        Ok(Self {
            threshold,
            key_len,
            nonce: uuid()?,
            shares: Vec::with_capacity(threshold),
        })
    }

    /// Adds a share; `Some(shares)` once the threshold is reached (the collector is then empty,
    /// with a new nonce).
    fn add(&mut self, share: Share, digests: Option<&ShareDigests>) -> Result<Option<Vec<Share>>> {
        if share.key_len() != self.key_len {
            return Err(SealError::InvalidShare(ShareProblem::Length {
                got: share.key_len() + 1,
                expected: self.key_len + 1,
            }));
        }
        if self.shares.iter().any(|s| s.x() == share.x()) {
            return Err(SealError::DuplicateShare { x: share.x() });
        }
        if let Some(digests) = digests
            && !digests.verify(&share)
        {
            return Err(SealError::InvalidShare(ShareProblem::Unknown));
        }
        self.shares.push(share);
        if self.shares.len() < self.threshold {
            return Ok(None);
        }
        let shares = std::mem::take(&mut self.shares);
        self.nonce = uuid()?;
        Ok(Some(shares))
    }

    fn reset(&mut self) -> Result<()> {
        self.shares.clear(); // each Share zeroizes itself on drop
        self.nonce = uuid()?;
        Ok(())
    }

    fn check_nonce(&self, nonce: &str) -> Result<()> {
        if subtle::ConstantTimeEq::ct_eq(nonce.as_bytes(), self.nonce.as_bytes()).into() {
            Ok(())
        } else {
            Err(SealError::NonceMismatch)
        }
    }
}

/// Combines a full quorum and runs the caller's verifier on the result.
fn combine_verified<T>(
    shares: Vec<Share>,
    verify: impl FnOnce(&SecretBytes) -> Result<T, BoxError>,
) -> Result<(SecretBytes, T)> {
    let secret = combine(&shares)?;
    drop(shares);
    let checked = verify(&secret).map_err(SealError::Rejected)?;
    Ok((secret, checked))
}

/// Where a quorum stands.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// The attempt's nonce (a UUID), as Vault reports it.
    pub nonce: String,
    /// Shares collected so far in this attempt.
    pub have: usize,
    /// Shares needed.
    pub need: usize,
}

/// The unseal state machine: shares arrive one at a time (from different people, perhaps over
/// minutes); at the threshold they are combined and checked by the caller's verifier.
///
/// Duplicates (same x-coordinate) are refused without counting. With [`ShareDigests`], a share
/// that is not one of the key's shares is refused at once, also without counting. A combined key
/// the verifier rejects resets the progress and says so ([`SealError::Rejected`]). Shares are
/// zeroized as soon as they are combined or discarded.
pub struct UnsealProgress {
    collector: Collector,
    digests: Option<ShareDigests>,
}

impl std::fmt::Debug for UnsealProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnsealProgress")
            .field("progress", &self.progress())
            .finish_non_exhaustive()
    }
}

/// What a submitted share led to.
#[derive(Debug)]
#[non_exhaustive]
pub enum Submitted<T> {
    /// Counted; more shares are needed.
    Pending(Progress),
    /// The quorum is complete and the verifier accepted the key; here is what it returned.
    Complete(T),
}

impl UnsealProgress {
    /// A new attempt needing `threshold` shares of a `key_len`-byte key.
    ///
    /// # Errors
    ///
    /// [`SealError::InvalidSplit`] for a threshold outside 1..=255; [`SealError::Random`].
    pub fn new(threshold: usize, key_len: usize) -> Result<Self> {
        Ok(Self {
            collector: Collector::new(threshold, key_len)?,
            digests: None,
        })
    }

    /// Refuse, without counting, any share that is not one of these.
    #[must_use]
    pub fn with_digests(mut self, digests: ShareDigests) -> Self {
        self.digests = Some(digests);
        self
    }

    /// Where the attempt stands.
    pub fn progress(&self) -> Progress {
        Progress {
            nonce: self.collector.nonce.clone(),
            have: self.collector.shares.len(),
            need: self.collector.threshold,
        }
    }

    /// Discards every share collected so far and starts a new attempt (new nonce).
    ///
    /// # Errors
    ///
    /// [`SealError::Random`].
    pub fn reset(&mut self) -> Result<()> {
        self.collector.reset()
    }

    /// Adds one share. At the threshold the shares are combined and `verify` is called with the
    /// key; whatever happens then, the shares are gone and the next share starts a new attempt.
    ///
    /// # Errors
    ///
    /// [`SealError::DuplicateShare`] or [`SealError::InvalidShare`] (not counted, progress kept);
    /// [`SealError::Rejected`] when the verifier refuses the combined key (progress reset).
    pub fn submit<T>(
        &mut self,
        share: Share,
        verify: impl FnOnce(&SecretBytes) -> Result<T, BoxError>,
    ) -> Result<Submitted<T>> {
        match self.collector.add(share, self.digests.as_ref())? {
            None => Ok(Submitted::Pending(self.progress())),
            Some(shares) => combine_verified(shares, verify).map(|(_, t)| Submitted::Complete(t)),
        }
    }
}

/// What a rekey should produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RekeyConfig {
    /// Number of new shares.
    pub shares: usize,
    /// Threshold of the new shares.
    pub threshold: usize,
    /// Hand out the new shares, but only put them in force once a quorum of *them* has been
    /// presented back (OpenBao's `require_verification`): a botched hand-out cannot lock everyone
    /// out.
    pub require_verification: bool,
    /// Split a fresh random secret instead of the current one; the caller must then re-wrap
    /// whatever the old secret protected.
    pub rotate: bool,
}

impl RekeyConfig {
    /// `shares` new shares with threshold `threshold`, no verification, same secret.
    pub fn new(shares: usize, threshold: usize) -> Self {
        Self {
            shares,
            threshold,
            require_verification: false,
            rotate: false,
        }
    }

    /// Requires verification of the new shares before they take effect.
    #[must_use]
    pub fn require_verification(mut self, yes: bool) -> Self {
        self.require_verification = yes;
        self
    }

    /// Rotates the secret.
    #[must_use]
    pub fn rotate(mut self, yes: bool) -> Self {
        self.rotate = yes;
        self
    }
}

/// The result of a finished rekey: what to put in force.
#[non_exhaustive]
pub struct RekeyOutput {
    /// The secret the new shares reconstruct (the old one unless the rekey rotated it).
    pub secret: SecretBytes,
    /// Whether `secret` is a new one (the caller must re-wrap what the old one protected).
    pub rotated: bool,
    /// Digests of the new shares, to store with the seal configuration.
    pub digests: ShareDigests,
}

impl std::fmt::Debug for RekeyOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RekeyOutput")
            .field("rotated", &self.rotated)
            .finish_non_exhaustive()
    }
}

/// What a rekey step led to.
#[derive(Debug)]
#[non_exhaustive]
pub enum RekeyStep {
    /// More shares (old ones while collecting, new ones while verifying) are needed.
    Pending(Progress),
    /// The new shares, to hand out. Nothing is in force yet: the holders must present a quorum of
    /// them back through [`Rekey::verify`], with the given verification progress nonce.
    Issued {
        /// The new shares (hand each to its holder; they are shown once).
        shares: Vec<Share>,
        /// The verification attempt.
        verification: Progress,
    },
    /// The rekey is finished: put `output` in force. Without verification the new shares come
    /// with it (hand them out); with verification they were handed out already.
    Complete {
        /// The new shares, when not already handed out.
        shares: Vec<Share>,
        /// What to put in force.
        output: RekeyOutput,
    },
}

enum Stage {
    Collecting(Collector),
    Verifying {
        collector: Collector,
        secret: SecretBytes,
        digests: ShareDigests,
    },
}

/// Rekey: a quorum of current shares produces a new set of shares (new count and threshold), for
/// the same secret or a rotated one, optionally verified before it takes effect.
pub struct Rekey {
    config: RekeyConfig,
    key_len: usize,
    digests: Option<ShareDigests>,
    stage: Stage,
}

impl std::fmt::Debug for Rekey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rekey")
            .field("config", &self.config)
            .field("progress", &self.progress())
            .field("verifying", &matches!(self.stage, Stage::Verifying { .. }))
            .finish_non_exhaustive()
    }
}

impl Rekey {
    /// Starts a rekey of a `key_len`-byte secret currently split with threshold
    /// `current_threshold`.
    ///
    /// # Errors
    ///
    /// [`SealError::InvalidSplit`] for a bad new split or current threshold; [`SealError::Random`].
    pub fn start(current_threshold: usize, key_len: usize, config: RekeyConfig) -> Result<Self> {
        check_split(config.shares, config.threshold)?;
        Ok(Self {
            config,
            key_len,
            digests: None,
            stage: Stage::Collecting(Collector::new(current_threshold, key_len)?),
        })
    }

    /// Refuse current shares that are not among these.
    #[must_use]
    pub fn with_digests(mut self, digests: ShareDigests) -> Self {
        self.digests = Some(digests);
        self
    }

    /// The configuration.
    pub fn config(&self) -> RekeyConfig {
        self.config
    }

    /// Where the current stage stands (old shares collected, or new shares verified).
    pub fn progress(&self) -> Progress {
        let collector = match &self.stage {
            Stage::Collecting(c) | Stage::Verifying { collector: c, .. } => c,
        };
        Progress {
            nonce: collector.nonce.clone(),
            have: collector.shares.len(),
            need: collector.threshold,
        }
    }

    /// Whether the new shares have been issued and await verification.
    pub fn is_verifying(&self) -> bool {
        matches!(self.stage, Stage::Verifying { .. })
    }

    /// Adds one *current* share. At the current threshold they are combined and checked by
    /// `verify`; then the new shares are made.
    ///
    /// # Errors
    ///
    /// [`SealError::NonceMismatch`], [`SealError::DuplicateShare`], [`SealError::InvalidShare`]
    /// (not counted); [`SealError::Rejected`] (progress reset); [`SealError::WrongStage`] once the
    /// new shares are awaiting verification.
    pub fn submit(
        &mut self,
        nonce: &str,
        share: Share,
        verify: impl FnOnce(&SecretBytes) -> Result<(), BoxError>,
    ) -> Result<RekeyStep> {
        let Stage::Collecting(collector) = &mut self.stage else {
            return Err(SealError::WrongStage("the new shares await verification"));
        };
        collector.check_nonce(nonce)?;
        let Some(shares) = collector.add(share, self.digests.as_ref())? else {
            return Ok(RekeyStep::Pending(self.progress()));
        };
        let (old, ()) = combine_verified(shares, verify)?;
        let secret = if self.config.rotate {
            SecretBytes::new(random_bytes(self.key_len)?)
        } else {
            old
        };
        let shares = split(
            secret.expose_secret(),
            self.config.shares,
            self.config.threshold,
        )?;
        let digests = ShareDigests::compute(&shares)?;
        if self.config.require_verification {
            let collector = Collector::new(self.config.threshold, self.key_len)?;
            let verification = Progress {
                nonce: collector.nonce.clone(),
                have: 0,
                need: self.config.threshold,
            };
            self.stage = Stage::Verifying {
                collector,
                secret,
                digests,
            };
            return Ok(RekeyStep::Issued {
                shares,
                verification,
            });
        }
        Ok(RekeyStep::Complete {
            shares,
            output: RekeyOutput {
                secret,
                rotated: self.config.rotate,
                digests,
            },
        })
    }

    /// Adds one *new* share presented back for verification. At the new threshold they are
    /// combined and compared (in constant time) with the issued secret: only then is the rekey
    /// complete. A mismatch resets the verification progress; the issued shares stay valid.
    ///
    /// # Errors
    ///
    /// [`SealError::WrongStage`] before the new shares are issued; [`SealError::NonceMismatch`],
    /// [`SealError::DuplicateShare`], [`SealError::InvalidShare`]; [`SealError::Rejected`] on a
    /// mismatch.
    pub fn verify(&mut self, nonce: &str, share: Share) -> Result<RekeyStep> {
        let Stage::Verifying {
            collector,
            secret,
            digests,
        } = &mut self.stage
        else {
            return Err(SealError::WrongStage("no new shares await verification"));
        };
        collector.check_nonce(nonce)?;
        let Some(shares) = collector.add(share, Some(digests))? else {
            return Ok(RekeyStep::Pending(self.progress()));
        };
        let expected: &SecretBytes = secret;
        combine_verified(shares, |candidate| {
            if candidate.ct_eq(expected.expose_secret()) {
                Ok(())
            } else {
                Err("the presented shares do not reconstruct the issued key".into())
            }
        })?;
        let Stage::Verifying {
            secret, digests, ..
        } = std::mem::replace(
            &mut self.stage,
            Stage::Collecting(Collector::new(1, self.key_len)?),
        )
        else {
            return Err(SealError::Unreachable("stage checked above"));
        };
        Ok(RekeyStep::Complete {
            shares: Vec::new(),
            output: RekeyOutput {
                secret,
                rotated: self.config.rotate,
                digests,
            },
        })
    }
}

/// Break-glass root generation: a quorum of shares authorises minting a new root credential,
/// returned XOR'd with a one-time pad, so whoever completes the quorum never sees it in the clear:
/// only the person who started the attempt holds the pad.
///
/// An attempt starts either with a share recognised by [`ShareDigests`]
/// ([`start`](Self::start)), so that nobody without one can start or cancel it, or without one
/// ([`begin`](Self::begin)) for callers that authorise the starter themselves (an ACL-checked
/// endpoint, as OpenBao 2.7's `sys/generate-root-token`). Only one attempt runs at a time.
pub struct RootGeneration {
    threshold: usize,
    key_len: usize,
    otp_len: usize,
    digests: ShareDigests,
    attempt: Option<Attempt>,
}

struct Attempt {
    collector: Collector,
    otp: SecretBytes,
    /// Started with [`RootGeneration::start`], whose share already counts.
    seeded: bool,
}

impl std::fmt::Debug for RootGeneration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootGeneration")
            .field("progress", &self.progress())
            .finish_non_exhaustive()
    }
}

/// The alphabet of one-time pads: they are typed and pasted by people.
const OTP_ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// What completing a root generation quorum yields: the pad, to encode the new credential with.
pub struct RootQuorum {
    otp: SecretBytes,
}

impl std::fmt::Debug for RootQuorum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RootQuorum([REDACTED])")
    }
}

impl RootQuorum {
    /// XORs the new credential with the pad and encodes it (unpadded base64, as Vault's
    /// `encoded_token`). The credential must be exactly as long as the pad.
    ///
    /// # Errors
    ///
    /// [`SealError::Otp`] when the lengths differ.
    pub fn encode(self, credential: &[u8]) -> Result<String> {
        xor_encode(credential, self.otp.expose_secret())
    }
}

fn xor_encode(secret: &[u8], otp: &[u8]) -> Result<String> {
    if secret.len() != otp.len() {
        return Err(SealError::Otp("the credential must be as long as the pad"));
    }
    let mut xored: Vec<u8> = secret.iter().zip(otp).map(|(a, b)| a ^ b).collect();
    let encoded = Base64Unpadded::encode_string(&xored);
    xored.zeroize();
    Ok(encoded)
}

/// Recovers the credential from an `encoded_token` and the pad (what `bao operator generate-root
/// -decode` does).
///
/// # Errors
///
/// [`SealError::Otp`] for a malformed encoding or a length mismatch.
pub fn decode_with_otp(encoded: &str, otp: &str) -> Result<SecretString> {
    let mut xored = Base64Unpadded::decode_vec(encoded.trim())
        .or_else(|_| base64ct::Base64::decode_vec(encoded.trim()))
        .map_err(|_| SealError::Otp("the encoded credential is not base64"))?;
    if xored.len() != otp.len() {
        xored.zeroize();
        return Err(SealError::Otp(
            "the pad and the encoded credential differ in length",
        ));
    }
    for (b, p) in xored.iter_mut().zip(otp.as_bytes()) {
        *b ^= p;
    }
    match String::from_utf8(xored) {
        Ok(text) => Ok(SecretString::new(text)),
        Err(err) => {
            let mut bytes = err.into_bytes();
            bytes.zeroize();
            Err(SealError::Otp(
                "the decoded credential is not text: wrong pad?",
            ))
        }
    }
}

/// A started root generation attempt.
#[non_exhaustive]
pub struct Started {
    /// The one-time pad, for the person who started the attempt only.
    pub otp: SecretString,
    /// The attempt's progress (the starter's share already counts).
    pub progress: Progress,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started")
            .field("progress", &self.progress)
            .finish_non_exhaustive()
    }
}

/// What a root generation step led to.
#[derive(Debug)]
#[non_exhaustive]
pub enum RootStep {
    /// More shares are needed.
    Pending(Progress),
    /// The quorum is complete and verified: mint the credential and encode it with this.
    Ready(RootQuorum),
}

impl RootGeneration {
    /// A root generation slot for shares of a `key_len`-byte key split with `threshold`, with
    /// one-time pads of `otp_len` characters (the length of the credential to be minted).
    ///
    /// # Errors
    ///
    /// [`SealError::InvalidSplit`] for a bad threshold; [`SealError::Otp`] for a pad length of 0.
    pub fn new(
        threshold: usize,
        key_len: usize,
        otp_len: usize,
        digests: ShareDigests,
    ) -> Result<Self> {
        if threshold == 0 || threshold > crate::MAX_SHARES {
            return Err(SealError::InvalidSplit {
                shares: threshold,
                threshold,
            });
        }
        if otp_len == 0 {
            return Err(SealError::Otp("a pad must not be empty"));
        }
        Ok(Self {
            threshold,
            key_len,
            otp_len,
            digests,
            attempt: None,
        })
    }

    /// The attempt in progress, if any.
    pub fn progress(&self) -> Option<Progress> {
        self.attempt.as_ref().map(|a| Progress {
            nonce: a.collector.nonce.clone(),
            have: a.collector.shares.len(),
            need: a.collector.threshold,
        })
    }

    /// Starts an attempt. The starter proves they hold a share by presenting it; it counts as the
    /// first share. The returned pad is shown to the starter only.
    ///
    /// # Errors
    ///
    /// [`SealError::AttemptInProgress`]; [`SealError::InvalidShare`] when the share is not one of
    /// the key's (nothing starts); [`SealError::Random`].
    pub fn start(&mut self, share: Share) -> Result<Started> {
        if self.attempt.is_some() {
            return Err(SealError::AttemptInProgress);
        }
        self.require_known(&share)?;
        let otp = self.new_pad()?;
        let text = String::from_utf8(otp.expose_secret().to_vec())
            .map_err(|_| SealError::Unreachable("the pad alphabet is ASCII"))?;
        let mut collector = Collector::new(self.threshold, self.key_len)?;
        // A threshold of 1 completes with the starter's share; that is reported by `submit`'s
        // twin below, so keep the share and let the next call finish.
        if self.threshold > 1 {
            collector.add(share, None)?;
        } else {
            collector.shares.push(share);
        }
        let progress = Progress {
            nonce: collector.nonce.clone(),
            have: collector.shares.len(),
            need: self.threshold,
        };
        self.attempt = Some(Attempt {
            collector,
            otp,
            seeded: true,
        });
        Ok(Started {
            otp: SecretString::new(text),
            progress,
        })
    }

    /// Starts an attempt without a share (Vault's and OpenBao's rule: whoever may reach the
    /// endpoint may start one; the caller decides who that is). The returned pad is for the
    /// starter only; every share is then entered with [`submit`](Self::submit).
    ///
    /// # Errors
    ///
    /// [`SealError::AttemptInProgress`]; [`SealError::Random`].
    pub fn begin(&mut self) -> Result<Started> {
        if self.attempt.is_some() {
            return Err(SealError::AttemptInProgress);
        }
        let otp = self.new_pad()?;
        let text = String::from_utf8(otp.expose_secret().to_vec())
            .map_err(|_| SealError::Unreachable("the pad alphabet is ASCII"))?;
        let collector = Collector::new(self.threshold, self.key_len)?;
        let progress = Progress {
            nonce: collector.nonce.clone(),
            have: 0,
            need: self.threshold,
        };
        self.attempt = Some(Attempt {
            collector,
            otp,
            seeded: false,
        });
        Ok(Started {
            otp: SecretString::new(text),
            progress,
        })
    }

    /// Ends the attempt in progress, if any, without a share (for callers that authorised the
    /// cancellation themselves). Returns whether one was running.
    pub fn abort(&mut self) -> bool {
        self.attempt.take().is_some()
    }

    /// A fresh one-time pad of the configured length, in a typeable alphabet.
    fn new_pad(&self) -> Result<SecretBytes> {
        let mut pad = random_bytes(self.otp_len)?;
        for byte in &mut pad {
            // 62 symbols; the tiny bias of `% 62` on a uniform byte is irrelevant for a pad that
            // is XOR'd with a credential of the same alphabet size.
            *byte = OTP_ALPHABET
                .get(usize::from(*byte) % OTP_ALPHABET.len())
                .copied()
                .unwrap_or(b'A');
        }
        Ok(SecretBytes::new(pad))
    }

    /// Adds a share to the attempt. At the threshold the shares are combined and checked by
    /// `verify`; on success the attempt ends and the pad is handed back to encode the credential.
    /// A rejected quorum ends the attempt.
    ///
    /// # Errors
    ///
    /// [`SealError::NoAttempt`], [`SealError::NonceMismatch`], [`SealError::DuplicateShare`],
    /// [`SealError::InvalidShare`] (not counted); [`SealError::Rejected`] (attempt ended).
    pub fn submit(
        &mut self,
        nonce: &str,
        share: Share,
        verify: impl FnOnce(&SecretBytes) -> Result<(), BoxError>,
    ) -> Result<RootStep> {
        let attempt = self.attempt.as_mut().ok_or(SealError::NoAttempt)?;
        attempt.collector.check_nonce(nonce)?;
        let complete = if attempt.seeded && attempt.collector.threshold == 1 {
            // The starter's share already makes the quorum; this call presents it again.
            if attempt.collector.shares.iter().all(|s| s.x() != share.x()) {
                return Err(SealError::InvalidShare(ShareProblem::Unknown));
            }
            Some(std::mem::take(&mut attempt.collector.shares))
        } else {
            attempt.collector.add(share, Some(&self.digests))?
        };
        let Some(shares) = complete else {
            return Ok(RootStep::Pending(
                self.progress().ok_or(SealError::NoAttempt)?,
            ));
        };
        let attempt = self.attempt.take().ok_or(SealError::NoAttempt)?;
        combine_verified(shares, verify)?;
        Ok(RootStep::Ready(RootQuorum { otp: attempt.otp }))
    }

    /// Cancels the attempt. Requires a share recognised by the digests: someone who holds none
    /// cannot cancel.
    ///
    /// # Errors
    ///
    /// [`SealError::NoAttempt`]; [`SealError::InvalidShare`] (nothing is cancelled).
    pub fn cancel(&mut self, share: &Share) -> Result<()> {
        if self.attempt.is_none() {
            return Err(SealError::NoAttempt);
        }
        self.require_known(share)?;
        self.attempt = None;
        Ok(())
    }

    fn require_known(&self, share: &Share) -> Result<()> {
        if share.key_len() == self.key_len && self.digests.verify(share) {
            Ok(())
        } else {
            Err(SealError::InvalidShare(ShareProblem::Unknown))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Vec<u8> {
        (0..32).collect()
    }

    fn accept_if(expected: Vec<u8>) -> impl FnOnce(&SecretBytes) -> Result<(), BoxError> {
        move |candidate| {
            if candidate.ct_eq(&expected) {
                Ok(())
            } else {
                Err("wrong key".into())
            }
        }
    }

    fn copy(share: &Share) -> Share {
        Share::from_bytes(share.to_bytes().expose_secret(), share.key_len()).unwrap()
    }

    #[test]
    fn digests_recognise_only_real_shares() {
        let shares = split(&key(), 5, 3).unwrap();
        let digests = ShareDigests::compute(&shares).unwrap();
        for share in &shares {
            assert!(digests.verify(share));
        }
        let other = split(&key(), 5, 3).unwrap();
        assert!(!digests.verify(&other[0]));
        let back = ShareDigests::from_bytes(&digests.to_bytes()).unwrap();
        assert_eq!(back, digests);
        for len in 0..digests.to_bytes().len() {
            assert!(ShareDigests::from_bytes(&digests.to_bytes()[..len]).is_err());
        }
        assert!(!format!("{digests:?}").contains("salt"));
    }

    #[test]
    fn unseal_counts_refuses_duplicates_and_resets() {
        let shares = split(&key(), 5, 3).unwrap();
        let mut progress = UnsealProgress::new(3, 32).unwrap();
        let nonce = progress.progress().nonce;
        let step = progress.submit(copy(&shares[0]), accept_if(key())).unwrap();
        assert!(matches!(
            step,
            Submitted::Pending(Progress {
                have: 1,
                need: 3,
                ..
            })
        ));
        assert!(matches!(
            progress.submit(copy(&shares[0]), accept_if(key())),
            Err(SealError::DuplicateShare { x: 1 })
        ));
        assert_eq!(progress.progress().have, 1);
        assert_eq!(progress.progress().nonce, nonce);
        progress.reset().unwrap();
        assert_eq!(progress.progress().have, 0);
        assert_ne!(progress.progress().nonce, nonce);
        for share in &shares[2..4] {
            progress.submit(copy(share), accept_if(key())).unwrap();
        }
        let done = progress
            .submit(copy(&shares[4]), |k| Ok::<_, BoxError>(k.len()))
            .unwrap();
        assert!(matches!(done, Submitted::Complete(32)));
        assert_eq!(
            progress.progress().have,
            0,
            "a new attempt after completion"
        );
    }

    #[test]
    fn wrong_share_then_right_shares() {
        let shares = split(&key(), 3, 2).unwrap();
        let wrong = split(&[9; 32], 3, 2).unwrap();
        let mut progress = UnsealProgress::new(2, 32).unwrap();
        progress.submit(copy(&wrong[0]), accept_if(key())).unwrap();
        let err = progress
            .submit(copy(&shares[1]), accept_if(key()))
            .unwrap_err();
        assert!(matches!(err, SealError::Rejected(_)), "{err}");
        assert_eq!(progress.progress().have, 0);
        progress.submit(copy(&shares[0]), accept_if(key())).unwrap();
        let done = progress.submit(copy(&shares[2]), accept_if(key())).unwrap();
        assert!(matches!(done, Submitted::Complete(())));
    }

    #[test]
    fn digests_refuse_foreign_and_short_shares_without_counting() {
        let shares = split(&key(), 3, 2).unwrap();
        let digests = ShareDigests::compute(&shares).unwrap();
        let mut progress = UnsealProgress::new(2, 32).unwrap().with_digests(digests);
        let foreign = split(&key(), 3, 2).unwrap();
        assert!(matches!(
            progress.submit(copy(&foreign[0]), accept_if(key())),
            Err(SealError::InvalidShare(ShareProblem::Unknown))
        ));
        let short = Share::from_bytes(&[1; 17], 16).unwrap();
        assert!(matches!(
            progress.submit(short, accept_if(key())),
            Err(SealError::InvalidShare(ShareProblem::Length { .. }))
        ));
        assert_eq!(progress.progress().have, 0);
    }

    #[test]
    fn rekey_without_verification() {
        let old = split(&key(), 3, 2).unwrap();
        let mut rekey = Rekey::start(2, 32, RekeyConfig::new(5, 3)).unwrap();
        let nonce = rekey.progress().nonce;
        assert!(matches!(
            rekey.submit("wrong nonce", copy(&old[0]), accept_if(key())),
            Err(SealError::NonceMismatch)
        ));
        rekey
            .submit(&nonce, copy(&old[0]), accept_if(key()))
            .unwrap();
        let RekeyStep::Complete { shares, output } = rekey
            .submit(&nonce, copy(&old[2]), accept_if(key()))
            .unwrap()
        else {
            panic!("expected completion")
        };
        assert_eq!(shares.len(), 5);
        assert!(!output.rotated);
        assert!(output.secret.ct_eq(&key()));
        assert_eq!(combine(&shares[1..4]).unwrap().expose_secret(), key());
        assert!(shares.iter().all(|s| output.digests.verify(s)));
    }

    #[test]
    fn rekey_with_verification_and_rotation() {
        let old = split(&key(), 2, 2).unwrap();
        let config = RekeyConfig::new(3, 2)
            .require_verification(true)
            .rotate(true);
        let mut rekey = Rekey::start(2, 32, config).unwrap();
        let nonce = rekey.progress().nonce;
        assert!(matches!(
            rekey.verify(&nonce, copy(&old[0])),
            Err(SealError::WrongStage(_))
        ));
        rekey
            .submit(&nonce, copy(&old[0]), accept_if(key()))
            .unwrap();
        let RekeyStep::Issued {
            shares,
            verification,
        } = rekey
            .submit(&nonce, copy(&old[1]), accept_if(key()))
            .unwrap()
        else {
            panic!("expected issued shares")
        };
        assert!(rekey.is_verifying());
        // Old shares no longer go through `submit`; a share of something else fails verification.
        assert!(matches!(
            rekey.submit(&verification.nonce, copy(&old[0]), accept_if(key())),
            Err(SealError::WrongStage(_))
        ));
        assert!(matches!(
            rekey.verify(&verification.nonce, copy(&old[0])),
            Err(SealError::InvalidShare(ShareProblem::Unknown))
        ));
        rekey.verify(&verification.nonce, copy(&shares[2])).unwrap();
        let RekeyStep::Complete {
            shares: none,
            output,
        } = rekey.verify(&verification.nonce, copy(&shares[0])).unwrap()
        else {
            panic!("expected completion")
        };
        assert!(none.is_empty());
        assert!(output.rotated);
        assert!(!output.secret.ct_eq(&key()));
        assert!(
            output
                .secret
                .ct_eq(combine(&shares[..2]).unwrap().expose_secret())
        );
    }

    #[test]
    fn root_generation_needs_a_share_to_start_and_cancel() {
        let shares = split(&key(), 3, 2).unwrap();
        let digests = ShareDigests::compute(&shares).unwrap();
        let mut generation = RootGeneration::new(2, 32, 28, digests).unwrap();
        let outsider = split(&key(), 3, 2).unwrap();
        assert!(matches!(
            generation.start(copy(&outsider[0])),
            Err(SealError::InvalidShare(ShareProblem::Unknown))
        ));
        assert!(generation.progress().is_none());
        let started = generation.start(copy(&shares[0])).unwrap();
        assert_eq!(started.otp.expose_secret().len(), 28);
        assert_eq!(started.progress.have, 1);
        assert!(matches!(
            generation.start(copy(&shares[1])),
            Err(SealError::AttemptInProgress)
        ));
        assert!(matches!(
            generation.cancel(&outsider[1]),
            Err(SealError::InvalidShare(_))
        ));
        assert!(generation.progress().is_some());
        generation.cancel(&shares[2]).unwrap();
        assert!(generation.progress().is_none());

        let started = generation.start(copy(&shares[1])).unwrap();
        let RootStep::Ready(quorum) = generation
            .submit(&started.progress.nonce, copy(&shares[2]), accept_if(key()))
            .unwrap()
        else {
            panic!("expected the quorum")
        };
        let token = b"s.0123456789abcdefghijklmnop";
        let encoded = quorum.encode(token).unwrap();
        assert!(!encoded.contains("0123456789"));
        let decoded = decode_with_otp(&encoded, started.otp.expose_secret()).unwrap();
        assert_eq!(decoded.expose_secret().as_bytes(), token);
        assert!(generation.progress().is_none());
    }

    #[test]
    fn root_generation_begun_without_a_share() {
        for threshold in [1, 2, 3] {
            let n = if threshold == 1 { 1 } else { 3 };
            let shares = split(&key(), n, threshold).unwrap();
            let digests = ShareDigests::compute(&shares).unwrap();
            let mut generation = RootGeneration::new(threshold, 32, 26, digests).unwrap();
            let started = generation.begin().unwrap();
            assert_eq!(started.otp.expose_secret().len(), 26);
            assert_eq!(started.progress.have, 0);
            assert!(matches!(
                generation.begin(),
                Err(SealError::AttemptInProgress)
            ));
            let outsider = split(&[7; 32], n, threshold).unwrap();
            assert!(matches!(
                generation.submit(
                    &started.progress.nonce,
                    copy(&outsider[0]),
                    accept_if(key())
                ),
                Err(SealError::InvalidShare(ShareProblem::Unknown))
            ));
            let mut ready = None;
            for (i, share) in shares.iter().take(threshold).enumerate() {
                match generation
                    .submit(&started.progress.nonce, copy(share), accept_if(key()))
                    .unwrap()
                {
                    RootStep::Pending(progress) => {
                        assert_eq!(progress.have, i + 1);
                        assert!(i + 1 < threshold);
                    }
                    RootStep::Ready(quorum) => ready = Some(quorum),
                }
            }
            let quorum = ready.expect("the threshold completes the attempt");
            let token = b"s.0123456789abcdefghijklmn";
            let encoded = quorum.encode(token).unwrap();
            assert_eq!(
                decode_with_otp(&encoded, started.otp.expose_secret())
                    .unwrap()
                    .expose_secret()
                    .as_bytes(),
                token
            );
            assert!(generation.progress().is_none());
            assert!(!generation.abort());
            generation.begin().unwrap();
            assert!(generation.abort());
            assert!(generation.progress().is_none());
        }
    }

    #[test]
    fn root_generation_rejected_quorum_ends_the_attempt() {
        let shares = split(&key(), 3, 2).unwrap();
        let digests = ShareDigests::compute(&shares).unwrap();
        let mut generation = RootGeneration::new(2, 32, 10, digests).unwrap();
        let started = generation.start(copy(&shares[0])).unwrap();
        let err = generation
            .submit(
                &started.progress.nonce,
                copy(&shares[1]),
                accept_if(vec![0; 32]),
            )
            .unwrap_err();
        assert!(matches!(err, SealError::Rejected(_)));
        assert!(generation.progress().is_none());
    }

    #[test]
    fn otp_lengths_must_match() {
        assert!(matches!(xor_encode(b"abc", b"ab"), Err(SealError::Otp(_))));
        assert!(matches!(
            decode_with_otp("YWJj", "ab"),
            Err(SealError::Otp(_))
        ));
        assert!(matches!(
            decode_with_otp("!!!", "ab"),
            Err(SealError::Otp(_))
        ));
    }
}
