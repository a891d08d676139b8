//! `failover`: how long a three-node cluster on one PostgreSQL is without an active node when
//! the active one is killed (`kill -9`), for Strongroom and OpenBao 2.7.2 in the same harness,
//! each with its PostgreSQL HA defaults (Strongroom: 5 s lease, 1 s renewal, 1 s retry; OpenBao:
//! a 15 s lock TTL renewed every 5 s, retried every 1 s).
//!
//! For each server: three nodes on fresh tables, initialised and unsealed over the API, a KV
//! mount; a client writes continuously, one write after another, to the live nodes in turn
//! (following 307s); each round waits for a steady cluster, kills the active node, and records
//! (a) when another node first says it is active (`sys/leader` `is_self`) and (b) when the next
//! write is acknowledged; then restarts and unseals the killed node. Every acknowledged write is
//! read back at the end. Prints the median and the maximum of both over the rounds. Before the
//! rounds, the read throughput of the cluster: 16 readers of 100 KV keys on the active node, then
//! spread over the three (standbys serve reads themselves).
//!
//! ```sh
//! cargo build --release -p strongroom-cli -p strongroom-benches
//! STRONGROOM_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test target/release/failover
//! ```
//!
//! Settings (environment): `FAILOVER_ROUNDS` (10), `FAILOVER_SERVERS` (`strongroom,openbao`),
//! `STRONGROOM_BIN`, `BAO_BIN` (as `versus`), `STRONGROOM_TEST_POSTGRES_URL`.
#![forbid(unsafe_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_precision_loss,
    reason = "a measurement tool: a failure is a failed run, its figures approximate"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use strongroom_benches::{bao_bin, strongroom_bin};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Strongroom,
    OpenBao,
}

struct Node {
    addr: String,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Node {
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn start(kind: Kind, node: &mut Node) {
    let log = std::fs::File::create(&node.log).unwrap();
    let (program, args) = match kind {
        Kind::Strongroom => (
            strongroom_bin(),
            vec![
                "server".to_owned(),
                format!("-config={}", node.config.display()),
            ],
        ),
        Kind::OpenBao => (
            bao_bin(),
            vec![
                "server".to_owned(),
                format!("-config={}", node.config.display()),
            ],
        ),
    };
    node.child = Some(
        Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while std::net::TcpStream::connect(&node.addr).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{kind:?} did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill(node: &mut Node) {
    if let Some(mut child) = node.child.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn config(kind: Kind, url: &str, addr: &str, cluster_port: u16, tables: (&str, &str)) -> String {
    let (table, ha_table) = tables;
    match kind {
        Kind::Strongroom => format!(
            r#"
storage "postgresql" {{
  connection_url = "{url}"
  table          = "{table}"
  ha_enabled     = "true"
  ha_table       = "{ha_table}"
}}
listener "tcp" {{
  address     = "{addr}"
  tls_disable = true
}}
api_addr     = "http://{addr}"
cluster_addr = "https://127.0.0.1:{cluster_port}"
"#
        ),
        Kind::OpenBao => {
            let separator = if url.contains('?') { '&' } else { '?' };
            format!(
                r#"
storage "postgresql" {{
  connection_url = "{url}{separator}sslmode=disable"
  table          = "{table}"
  ha_enabled     = "true"
  ha_table       = "{ha_table}"
}}
listener "tcp" {{
  address         = "{addr}"
  cluster_address = "127.0.0.1:{cluster_port}"
  tls_disable     = true
}}
api_addr      = "http://{addr}"
cluster_addr  = "https://127.0.0.1:{cluster_port}"
disable_mlock = true
"#
            )
        }
    }
}

async fn drop_tables(url: &str, tables: &[&str]) {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    for t in tables {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS \"{t}\"")))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
}

async fn active_of(nodes: &[Node], skip: Option<usize>) -> Option<usize> {
    let http = client();
    for (n, node) in nodes.iter().enumerate() {
        if Some(n) == skip || node.child.is_none() {
            continue;
        }
        let Ok(answer) = http
            .get(format!("{}/v1/sys/leader", node.url()))
            .timeout(Duration::from_millis(500))
            .send()
            .await
        else {
            continue;
        };
        let leader: Value = answer.json().await.unwrap_or_default();
        if leader["is_self"] == true {
            return Some(n);
        }
    }
    None
}

async fn unseal(node: &Node, key: &str) {
    let started = Instant::now();
    loop {
        let answer = client()
            .put(format!("{}/v1/sys/unseal", node.url()))
            .json(&json!({"key": key}))
            .send()
            .await;
        if let Ok(answer) = answer
            && let Ok(status) = answer.json::<Value>().await
            && status["sealed"] == false
        {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "unseal failed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn write(http: &reqwest::Client, base: &str, token: &str, key: &str) -> bool {
    let mut url = format!("{base}/v1/kv/{key}");
    for _ in 0..3 {
        let Ok(answer) = http
            .put(&url)
            .header("X-Vault-Token", token)
            .json(&json!({"v": key}))
            .send()
            .await
        else {
            return false;
        };
        if answer.status() == reqwest::StatusCode::TEMPORARY_REDIRECT {
            match answer
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
            {
                Some(location) => url = location.to_owned(),
                None => return false,
            }
            continue;
        }
        return answer.status().is_success();
    }
    false
}

struct Measured {
    /// KV reads per second with every reader on the active node, then spread over the three.
    reads_one: f64,
    reads_three: f64,
    new_active: Vec<Duration>,
    write_outage: Vec<Duration>,
    acknowledged: usize,
}

async fn run(kind: Kind, url: &str, rounds: usize, dir: &Path) -> Measured {
    let prefix = match kind {
        Kind::Strongroom => "strongroom_bench_failover",
        Kind::OpenBao => "openbao_bench_failover",
    };
    let (table, ha_table) = (format!("{prefix}_kv"), format!("{prefix}_ha"));
    drop_tables(url, &[&table, &ha_table]).await;
    let mut nodes = Vec::new();
    for n in 0..3 {
        let addr = format!("127.0.0.1:{}", free_port());
        let path = dir.join(format!("{prefix}-{n}.hcl"));
        std::fs::write(
            &path,
            config(kind, url, &addr, free_port(), (&table, &ha_table)),
        )
        .unwrap();
        let mut node = Node {
            addr,
            config: path,
            log: dir.join(format!("{prefix}-{n}.log")),
            child: None,
        };
        start(kind, &mut node);
        nodes.push(node);
    }
    let init: Value = client()
        .put(format!("{}/v1/sys/init", nodes[0].url()))
        .json(&json!({"secret_shares": 1, "secret_threshold": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = init["keys"][0].as_str().unwrap().to_owned();
    let token = init["root_token"].as_str().unwrap().to_owned();
    for node in &nodes {
        unseal(node, &key).await;
    }
    let mut active = loop {
        if let Some(n) = active_of(&nodes, None).await {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mounted = client()
        .post(format!("{}/v1/sys/mounts/kv", nodes[active].url()))
        .header("X-Vault-Token", &token)
        .json(&json!({"type": "kv"}))
        .send()
        .await
        .unwrap();
    assert!(mounted.status().is_success(), "{kind:?}: mount failed");

    let (reads_one, reads_three) = read_throughput(&nodes, active, &token).await;
    eprintln!("{kind:?} reads: {reads_one:.0}/s on the active node, {reads_three:.0}/s over three");
    // Each acknowledged write with when it was sent and when acknowledged.
    let acked: Arc<Mutex<Vec<(String, Instant, Instant)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let urls: Vec<String> = nodes.iter().map(Node::url).collect();
    let writer = tokio::spawn({
        let (acked, stop, token) = (Arc::clone(&acked), Arc::clone(&stop), token.clone());
        async move {
            let http = client();
            let mut i = 0_usize;
            while !stop.load(Ordering::Acquire) {
                let key = format!("w{i:07}");
                let sent = Instant::now();
                if write(&http, &urls[i % urls.len()], &token, &key).await {
                    acked.lock().unwrap().push((key, sent, Instant::now()));
                } else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                i += 1;
            }
        }
    });
    let mut measured = Measured {
        reads_one,
        reads_three,
        new_active: Vec::new(),
        write_outage: Vec::new(),
        acknowledged: 0,
    };
    for round in 0..rounds {
        // A steady cluster: every node up and unsealed, writes flowing.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let killed_at = Instant::now();
        kill(&mut nodes[active]);
        let next = loop {
            if let Some(n) = active_of(&nodes, Some(active)).await {
                break n;
            }
            assert!(
                killed_at.elapsed() < Duration::from_secs(120),
                "{kind:?}: no new active"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let new_active = killed_at.elapsed();
        // The outage: until a write sent after the kill is acknowledged (a write sent before
        // it may still be answered by the dying node).
        let outage = loop {
            let first_after = acked
                .lock()
                .unwrap()
                .iter()
                .find(|(_, sent, _)| *sent > killed_at)
                .map(|(_, _, at)| *at - killed_at);
            if let Some(outage) = first_after {
                break outage;
            }
            assert!(
                killed_at.elapsed() < Duration::from_secs(120),
                "{kind:?}: writes did not resume"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        eprintln!(
            "{kind:?} round {round}: new active after {new_active:.2?}, first write after {outage:.2?}"
        );
        measured.new_active.push(new_active);
        measured.write_outage.push(outage);
        start(kind, &mut nodes[active]);
        unseal(&nodes[active], &key).await;
        active = next;
    }
    stop.store(true, Ordering::Release);
    writer.await.unwrap();
    // Every acknowledged write is there.
    let acked: BTreeMap<String, Instant> = acked
        .lock()
        .unwrap()
        .iter()
        .map(|(key, _, at)| (key.clone(), *at))
        .collect();
    let http = client();
    for key in acked.keys() {
        let answer = http
            .get(format!("{}/v1/kv/{key}", nodes[active].url()))
            .header("X-Vault-Token", &token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            answer.status(),
            200,
            "{kind:?}: acknowledged write {key} lost"
        );
    }
    measured.acknowledged = acked.len();
    for node in &mut nodes {
        kill(node);
    }
    measured
}

/// KV reads per second by 16 readers for `FAILOVER_READ_SECONDS` (5): every reader on the
/// active node, then reader `i` on node `i mod 3` (standbys serve reads themselves where they
/// can, else forward them).
async fn read_throughput(nodes: &[Node], active: usize, token: &str) -> (f64, f64) {
    let http = client();
    for i in 0..100 {
        let url = format!("{}/v1/kv/r{i}", nodes[active].url());
        let answer = http
            .put(url)
            .header("X-Vault-Token", token)
            .json(&json!({"v": i}))
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success());
    }
    let seconds: u64 = std::env::var("FAILOVER_READ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let mut rates = Vec::new();
    for spread in [false, true] {
        // Let standbys see the writes' feed and settle.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let stop = Instant::now() + Duration::from_secs(seconds);
        let mut readers = Vec::new();
        for r in 0..16_usize {
            let node = if spread { r % nodes.len() } else { active };
            let base = nodes[node].url();
            let token = token.to_owned();
            readers.push(tokio::spawn(async move {
                let http = client();
                let mut done = 0_u64;
                let mut i = r;
                while Instant::now() < stop {
                    let answer = http
                        .get(format!("{base}/v1/kv/r{}", i % 100))
                        .header("X-Vault-Token", &token)
                        .send()
                        .await;
                    if answer.is_ok_and(|a| a.status() == 200) {
                        done += 1;
                    }
                    i += 16;
                }
                done
            }));
        }
        let mut total = 0;
        for reader in readers {
            total += reader.await.unwrap();
        }
        rates.push(total as f64 / seconds as f64);
    }
    (rates[0], rates[1])
}

fn summary(values: &[Duration]) -> (Duration, Duration) {
    let mut sorted = values.to_vec();
    sorted.sort();
    (sorted[sorted.len() / 2], sorted[sorted.len() - 1])
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let url = std::env::var("STRONGROOM_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let rounds: usize = std::env::var("FAILOVER_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);
    let servers = std::env::var("FAILOVER_SERVERS").unwrap_or_else(|_| "strongroom,openbao".into());
    let dir = tempfile::tempdir().unwrap();
    let mut results = Vec::new();
    for server in servers.split(',') {
        let kind = match server.trim() {
            "strongroom" => Kind::Strongroom,
            "openbao" => Kind::OpenBao,
            other => panic!("unknown server {other}"),
        };
        results.push((kind, run(kind, &url, rounds, dir.path()).await));
    }
    println!(
        "| server | KV reads/s, 16 readers on the active node | the same spread over 3 nodes | ratio |"
    );
    println!("|---|---|---|---|");
    for (kind, m) in &results {
        println!(
            "| {kind:?} | {:.0} | {:.0} | {:.2}x |",
            m.reads_one,
            m.reads_three,
            m.reads_three / m.reads_one
        );
    }
    println!();
    println!(
        "| server | rounds | new active: median | max | first write acknowledged: median | max | writes acknowledged (all read back) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (kind, m) in &results {
        let (a_med, a_max) = summary(&m.new_active);
        let (w_med, w_max) = summary(&m.write_outage);
        println!(
            "| {kind:?} | {} | {a_med:.2?} | {a_max:.2?} | {w_med:.2?} | {w_max:.2?} | {} |",
            m.new_active.len(),
            m.acknowledged
        );
    }
    if let [(_, ours), (_, theirs)] = results.as_slice() {
        let (ours, _) = summary(&ours.write_outage);
        let (theirs, _) = summary(&theirs.write_outage);
        println!(
            "\nmedian write outage: OpenBao / Strongroom = {:.1}x",
            theirs.as_secs_f64() / ours.as_secs_f64()
        );
    }
}
