//! Shamir properties through the public API: any threshold of shares in any order recovers the
//! key, one fewer does not, encodings round-trip.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use proptest::prelude::*;
use proptest::sample::subsequence;
use strongroom_seal::{Share, combine, split};

fn copy(share: &Share) -> Share {
    Share::from_bytes(share.to_bytes().expose_secret(), share.key_len()).unwrap()
}

fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
    if k == 0 {
        return vec![Vec::new()];
    }
    if n < k {
        return Vec::new();
    }
    let mut out = subsets(n - 1, k);
    for mut s in subsets(n - 1, k - 1) {
        s.push(n - 1);
        out.push(s);
    }
    out
}

/// Small splits, exhaustively: every T-subset recovers, every (T-1)-subset does not.
#[test]
fn every_subset_of_small_splits() {
    let key: Vec<u8> = (100..132).collect();
    for n in 2..=6 {
        for t in 2..=n {
            let shares = split(&key, n, t).unwrap();
            for subset in subsets(n, t) {
                let picked: Vec<Share> = subset.iter().rev().map(|&i| copy(&shares[i])).collect();
                assert_eq!(
                    combine(&picked).unwrap().expose_secret(),
                    key,
                    "{n}/{t} {subset:?}"
                );
            }
            for subset in subsets(n, t - 1) {
                let picked: Vec<Share> = subset.iter().map(|&i| copy(&shares[i])).collect();
                if picked.is_empty() {
                    continue;
                }
                assert_ne!(
                    combine(&picked).unwrap().expose_secret(),
                    key,
                    "{n}/{t} {subset:?}"
                );
            }
        }
    }
}

fn split_case() -> impl Strategy<Value = (Vec<u8>, usize, usize, Vec<usize>, Vec<usize>)> {
    (2usize..=255)
        .prop_flat_map(|n| (Just(n), 2usize..=n))
        .prop_flat_map(|(n, t)| {
            (
                prop::collection::vec(any::<u8>(), 1..=48),
                Just(n),
                Just(t),
                subsequence((0..n).collect::<Vec<_>>(), t).prop_shuffle(),
                subsequence((0..n).collect::<Vec<_>>(), t - 1).prop_shuffle(),
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn threshold_recovers_and_one_fewer_does_not((key, n, t, enough, too_few) in split_case()) {
        let shares = split(&key, n, t).unwrap();
        prop_assert_eq!(shares.len(), n);
        let picked: Vec<Share> = enough.iter().map(|&i| copy(&shares[i])).collect();
        let got = combine(&picked).unwrap();
        prop_assert_eq!(got.expose_secret(), &key[..]);
        // More than the threshold works too.
        let all: Vec<Share> = shares.iter().map(copy).collect();
        let got = combine(&all).unwrap();
        prop_assert_eq!(got.expose_secret(), &key[..]);
        if !too_few.is_empty() && key.len() >= 8 {
            let picked: Vec<Share> = too_few.iter().map(|&i| copy(&shares[i])).collect();
            let got = combine(&picked).unwrap();
            prop_assert_ne!(got.expose_secret(), &key[..]);
        }
    }

    #[test]
    fn encodings_round_trip(key in prop::collection::vec(any::<u8>(), 2..=64), n in 2usize..=10) {
        for share in split(&key, n, 2).unwrap() {
            for text in [share.to_hex(), share.to_base64()] {
                let back = Share::parse(text.expose_secret(), key.len()).unwrap();
                prop_assert_eq!(back.x(), share.x());
                let (a, b) = (back.to_bytes(), share.to_bytes());
                prop_assert_eq!(a.expose_secret(), b.expose_secret());
            }
        }
    }

    #[test]
    fn parse_never_panics(text in ".{0,120}", key_len in 0usize..64) {
        let _ = Share::parse(&text, key_len);
    }
}
