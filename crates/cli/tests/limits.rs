//! The server's connection and request limits, against a real `strongroom server` over loopback:
//! an idle socket is closed, a trickled body is cut off with a 408, h2c is not spoken, the
//! connection cap holds, and an over-complex body is refused before the token is looked at. Every
//! wait is bounded.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

/// Reads until the peer closes (or `limit` passes); returns what came and when it ended.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Option<Duration>) {
    stream.set_read_timeout(Some(limit)).unwrap();
    let started = Instant::now();
    let mut out = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return (out, Some(started.elapsed())),
            Ok(n) => out.extend_from_slice(&buffer[..n]),
            Err(_) => return (out, None),
        }
    }
}

fn server_with_limits() -> (Server, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let config = dir.path().join("server.hcl");
    std::fs::write(
        &config,
        format!(
            "storage \"inmem\" {{}}\nlistener \"tcp\" {{\n  address = \"{addr}\"\n  tls_disable = true\n  http_read_header_timeout = \"2s\"\n  http_read_timeout = \"3s\"\n  http_write_stall_timeout = \"2s\"\n  max_connections = 16\n  max_request_json_strings = 100\n}}\n"
        ),
    )
    .unwrap();
    let server = config_server(&config, &addr);
    (server, addr, dir)
}

#[test]
fn connections_and_requests_are_bounded() {
    let (_server, addr, _dir) = server_with_limits();

    // An idle socket that never sends a byte is closed after the header timeout.
    let mut idle = TcpStream::connect(&addr).unwrap();
    let (_, closed) = read_until_closed(&mut idle, Duration::from_secs(10));
    let closed = closed.expect("the idle socket is closed");
    assert!(closed < Duration::from_secs(5), "{closed:?}");

    // A keep-alive connection idle after a response: closed too.
    let mut kept = TcpStream::connect(&addr).unwrap();
    kept.write_all(b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (answer, closed) = read_until_closed(&mut kept, Duration::from_secs(10));
    assert!(answer.starts_with(b"HTTP/1.1 501"), "uninitialised health");
    assert!(closed.is_some(), "the idle keep-alive connection is closed");

    // A body trickled byte by byte is cut off at the read timeout with a 408.
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.write_all(b"PUT /v1/secret/data/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
        .unwrap();
    let started = Instant::now();
    let mut reply = Vec::new();
    slow.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    while started.elapsed() < Duration::from_secs(10) {
        if slow.write_all(b" ").is_err() {
            break;
        }
        let mut buffer = [0u8; 256];
        if let Ok(n) = slow.read(&mut buffer) {
            reply.extend_from_slice(&buffer[..n]);
            break;
        }
    }
    assert!(
        reply.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    assert!(started.elapsed() < Duration::from_secs(6));

    // A client that pipelines requests and never reads the answers: once the socket buffers
    // are full the server's writes stall, and the connection is closed after the stall
    // timeout (the header deadline does not run while a response is written).
    let stalled = TcpStream::connect(&addr).unwrap();
    stalled
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let started = Instant::now();
    let mut writer = stalled.try_clone().unwrap();
    let request = b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n".repeat(64);
    let mut closed_after = None;
    while started.elapsed() < Duration::from_secs(30) {
        match writer.write(&request) {
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => {
                closed_after = Some(started.elapsed());
                break;
            }
        }
    }
    let closed_after = closed_after.expect("a client that never reads is cut off");
    assert!(closed_after >= Duration::from_secs(2), "{closed_after:?}");
    drop(stalled);

    // No h2c: the HTTP/2 preface is not taken up.
    let mut h2 = TcpStream::connect(&addr).unwrap();
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    let (answer, _) = read_until_closed(&mut h2, Duration::from_secs(5));
    assert!(!answer.starts_with(b"\x00\x00"), "no HTTP/2 settings frame");

    // Over-complex JSON is refused before the token: no token, 400 in OpenBao's words.
    let strings: Vec<String> = (0..200).map(|i| format!("\"s{i}\"")).collect();
    let body = format!("{{\"a\": [{}]}}", strings.join(","));
    let mut big = TcpStream::connect(&addr).unwrap();
    big.write_all(
        format!(
            "PUT /v1/secret/data/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    let (answer, _) = read_until_closed(&mut big, Duration::from_secs(5));
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains("exceeded maximum number of strings"),
        "{answer}"
    );

    // The connection cap: 16 held open, the next ones are closed at once.
    let held: Vec<TcpStream> = (0..16)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = TcpStream::connect(&addr).unwrap();
    let (_, closed) = read_until_closed(&mut extra, Duration::from_secs(1));
    assert!(closed.is_some(), "over the cap, closed at once");
    drop(held);
    // Once they go, new connections are served again.
    std::thread::sleep(Duration::from_millis(300));
    let mut again = TcpStream::connect(&addr).unwrap();
    again
        .write_all(b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (answer, _) = read_until_closed(&mut again, Duration::from_secs(5));
    assert!(answer.starts_with(b"HTTP/1.1 501"));
}
