//! The load-and-abuse harness, briefly, in CI: idle sockets, slow bodies and oversized
//! unauthenticated bodies at once against `strongroom server` with a file audit device, while a
//! reader keeps going. The harness fails (and so this test) if the reader saw any failure or the
//! server's memory passed its cap; timings are reported, not asserted (BENCHMARKS.md has the full
//! run beside OpenBao).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::process::Command;

#[test]
fn a_brief_abuse_run_keeps_the_reader_served() {
    let harness = env!("CARGO_BIN_EXE_abuse");
    let strongroom = std::path::Path::new(harness).with_file_name("strongroom");
    if !strongroom.exists() {
        // `cargo test --workspace` builds the CLI's binary into the same directory.
        eprintln!(
            "the strongroom binary is not built next to the harness; building it is the workspace test run's job"
        );
    }
    let output = Command::new(harness)
        .env("ABUSE_SERVERS", "strongroom")
        .env("ABUSE_IDLE", "100")
        .env("ABUSE_SLOW", "20")
        .env("ABUSE_BIG", "2")
        .env("ABUSE_SECONDS", "6")
        .env("ABUSE_RSS_CAP_MIB", "512")
        .env("STRONGROOM_BIN", &strongroom)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("| strongroom |"), "{stdout}");
}
