//! Share decoding and unseal progress under arbitrary input: text split into lines is parsed as
//! shares (hex or base64, for a 32-byte key) and every share that parses is fed to an
//! `UnsealProgress` with a verifier that accepts only the real key. No panic; the real key is
//! accepted only when a real quorum was given; progress never exceeds the threshold.

use strongroom_seal::{Share, Submitted, UnsealProgress, split};

/// One input.
pub fn run(data: &[u8]) {
    let Some((&threshold, rest)) = data.split_first() else {
        return;
    };
    let threshold = usize::from(threshold % 4) + 1;
    let key = [0x24u8; 32];
    let real = split(&key, 5, threshold.max(2)).unwrap();
    let mut progress = UnsealProgress::new(threshold, 32).unwrap();
    let text = String::from_utf8_lossy(rest);
    for line in text.lines() {
        // A line "#n" submits real share n, so the fuzzer can mix real and garbage shares.
        let share = match line.strip_prefix('#').and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => real
                .get(n % 5)
                .map(|s| Share::parse(s.to_hex().expose_secret(), 32).unwrap()),
            None => Share::parse(line, 32).ok(),
        };
        let Some(share) = share else { continue };
        match progress.submit(share, |k| {
            if k.ct_eq(&key) {
                Ok(())
            } else {
                Err("wrong".into())
            }
        }) {
            Ok(Submitted::Pending(p)) => assert!(p.have < p.need),
            Ok(Submitted::Complete(())) | Err(_) => {}
            Ok(_) => {}
        }
        if line == "reset" {
            progress.reset().unwrap();
        }
    }
}
