//! Policy decisions: the compiled `Acl` (radix tree) beside the linear-scan reference matcher
//! in the same criterion group, at 10, 1 000 and 10 000 rules (mixed exact, `*` and `+`
//! patterns), and the time to compile 10 000 rules. See BENCHMARKS.md.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::unwrap_in_result,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    reason = "bench code: a failure is a failed bench"
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use strongroom_policy::internal::ReferenceAcl;
use strongroom_policy::{Acl, Operation, Policy, Request};

const SIZES: [usize; 3] = [10, 1_000, 10_000];

/// A small deterministic generator (xorshift64*), so every run benches the same rules.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn word(rng: &mut Rng) -> String {
    format!("w{}", rng.below(40))
}

/// A realistic path: a mount, then two to four segments.
fn path(rng: &mut Rng) -> String {
    let mut p = format!("mount{}/", rng.below(20));
    let depth = 2 + rng.below(3);
    let segs: Vec<String> = (0..depth).map(|_| word(rng)).collect();
    p.push_str(&segs.join("/"));
    p
}

/// `n` rules: half exact, a quarter prefix (`*`), a quarter with `+` segments.
fn policies(n: usize, seed: u64) -> Vec<Policy> {
    let mut rng = Rng(seed);
    let mut texts = [String::new(), String::new(), String::new()];
    for i in 0..n {
        let base = path(&mut rng);
        let pattern = match i % 4 {
            0 | 1 => base,
            2 => {
                let cut = base.rfind('/').unwrap();
                format!("{}*", &base[..cut + 2])
            }
            _ => {
                let mut segs: Vec<&str> = base.split('/').collect();
                let at = 1 + rng.below(segs.len() - 1);
                segs[at] = "+";
                segs.join("/")
            }
        };
        let caps = [
            "\"read\"",
            "\"read\", \"list\"",
            "\"create\", \"update\"",
            "\"deny\"",
        ][rng.below(4)];
        texts[i % 3].push_str(&format!(
            "path \"{pattern}\" {{\n  capabilities = [{caps}]\n}}\n"
        ));
    }
    // Spread over three policies, as a token with several policies would have.
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| Policy::parse_hcl(&format!("generated{i}"), text).unwrap())
        .collect()
}

fn requests(seed: u64) -> Vec<Request> {
    let mut rng = Rng(seed);
    let ops = [Operation::Read, Operation::List, Operation::Update];
    (0..256)
        .map(|_| Request::new(ops[rng.below(3)], path(&mut rng)))
        .collect()
}

fn decide(c: &mut Criterion) {
    let reqs = requests(7);
    for n in SIZES {
        let ps = policies(n, 42);
        let acl = Acl::new(&ps);
        let reference = ReferenceAcl::new(&ps);
        // Both must agree before we time them.
        let allowed = reqs.iter().filter(|r| acl.decide(r).allowed).count();
        for r in &reqs {
            assert_eq!(acl.decide(r), reference.decide(r));
        }
        eprintln!(
            "policy/decide/{n}: {allowed} of {} requests allowed",
            reqs.len()
        );
        let mut g = c.benchmark_group(format!("policy/decide/{n}"));
        g.throughput(Throughput::Elements(1));
        if n == 10_000 {
            g.sample_size(20);
        }
        let mut i = 0usize;
        g.bench_function("reference_linear", |b| {
            b.iter(|| {
                i = (i + 1) % reqs.len();
                black_box(reference.decide(black_box(&reqs[i])).allowed)
            })
        });
        let mut i = 0usize;
        g.bench_function("acl", |b| {
            b.iter(|| {
                i = (i + 1) % reqs.len();
                black_box(acl.decide(black_box(&reqs[i])).allowed)
            })
        });
        g.finish();
    }
}

fn compile(c: &mut Criterion) {
    let ps = policies(10_000, 42);
    let mut g = c.benchmark_group("policy/compile");
    g.sample_size(20);
    g.bench_function(BenchmarkId::new("acl", 10_000), |b| {
        b.iter(|| Acl::new(black_box(&ps)))
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = decide, compile
}
criterion_main!(benches);
