//! The conformance suite every [`Storage`] implementation must pass (feature `testing`).
//!
//! Each check is a public `async fn` taking a fresh, empty store, so a backend's test file can
//! run them one by one; [`conformance_tests!`](crate::conformance_tests) generates one
//! `#[tokio::test]` per check from a factory, and [`model_test`] compares random operation
//! sequences against a `BTreeMap` model with proptest.
//!
//! ```ignore
//! strongroom_storage::conformance_tests!(|_name: &'static str| async {
//!     Some(strongroom_storage::MemoryStorage::new())
//! });
//! ```
//!
//! The checks panic with a message on the first broken rule: this is test support code.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::missing_panics_doc,
    reason = "test support: a failed check is a panic with a message"
)]

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::{KeyRule, Limits, MAX_KEY_LEN, Op, Storage, StorageError};

/// A whole store's contents, read back through the public API (recursive list + get).
pub async fn snapshot(store: &dyn Storage) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut folders = vec![String::new()];
    while let Some(folder) = folders.pop() {
        for child in store.list(&folder).await.expect("list") {
            let path = format!("{folder}{child}");
            if child.ends_with('/') {
                folders.push(path);
            } else {
                let value = store.get(&path).await.expect("get");
                out.insert(path, value.expect("a listed key has a value"));
            }
        }
    }
    out
}

/// Deletes everything in a store, through the public API.
pub async fn clear(store: &dyn Storage) {
    for key in snapshot(store).await.into_keys() {
        store.delete(&key).await.expect("delete");
    }
}

/// Keys that break each rule, with the rule.
pub fn invalid_keys() -> Vec<(String, KeyRule)> {
    vec![
        (String::new(), KeyRule::Empty),
        ("/a".into(), KeyRule::LeadingSlash),
        ("a/".into(), KeyRule::EmptySegment),
        ("a//b".into(), KeyRule::EmptySegment),
        ("./a".into(), KeyRule::DotSegment),
        ("a/../b".into(), KeyRule::DotSegment),
        ("a\0b".into(), KeyRule::Nul),
        ("k".repeat(MAX_KEY_LEN + 1), KeyRule::TooLong),
    ]
}

fn assert_invalid_key<T: std::fmt::Debug>(result: crate::Result<T>, rule: KeyRule, what: &str) {
    match result {
        Err(StorageError::InvalidKey { rule: got, .. }) => {
            assert_eq!(got, rule, "{what}: wrong rule");
        }
        other => panic!("{what}: expected InvalidKey({rule:?}), got {other:?}"),
    }
}

/// put, get, overwrite, delete, idempotent delete of a missing key.
pub async fn put_get_delete(store: Arc<dyn Storage>) {
    assert_eq!(store.get("missing").await.unwrap(), None);
    store.put("a/b", b"one".to_vec()).await.unwrap();
    assert_eq!(
        store.get("a/b").await.unwrap().as_deref(),
        Some(&b"one"[..])
    );
    store.put("a/b", b"two".to_vec()).await.unwrap();
    assert_eq!(
        store.get("a/b").await.unwrap().as_deref(),
        Some(&b"two"[..])
    );
    // A key and a folder of the same name are independent.
    store.put("a", b"leaf".to_vec()).await.unwrap();
    assert_eq!(store.get("a").await.unwrap().as_deref(), Some(&b"leaf"[..]));
    store.delete("a/b").await.unwrap();
    assert_eq!(store.get("a/b").await.unwrap(), None);
    assert_eq!(store.get("a").await.unwrap().as_deref(), Some(&b"leaf"[..]));
    store.delete("a/b").await.unwrap();
    store.delete("never/was").await.unwrap();
}

/// Values are opaque bytes: all 256 byte values, invalid UTF-8, the empty value (distinct from
/// absence), and a value of exactly the default maximum length.
pub async fn binary_values(store: Arc<dyn Storage>) {
    let all: Vec<u8> = (0..=255u8).collect();
    store.put("bin/all", all.clone()).await.unwrap();
    assert_eq!(store.get("bin/all").await.unwrap(), Some(all.clone()));
    let reversed: Vec<u8> = all.iter().rev().copied().collect();
    store.put("bin/rev", reversed.clone()).await.unwrap();
    assert_eq!(store.get("bin/rev").await.unwrap(), Some(reversed));
    store.put("bin/empty", Vec::new()).await.unwrap();
    assert_eq!(store.get("bin/empty").await.unwrap(), Some(Vec::new()));
    assert_eq!(store.list("bin/").await.unwrap(), ["all", "empty", "rev"]);
    let big = vec![0xA5; Limits::DEFAULT_MAX_VALUE_LEN];
    store.put("bin/big", big.clone()).await.unwrap();
    assert_eq!(store.get("bin/big").await.unwrap(), Some(big));
}

/// Every key rule is enforced by get, put, delete and transaction, with the rule named, and a
/// refused call changes nothing. Oversized values are refused the same way. Assumes the store
/// uses the default [`Limits`].
pub async fn rejects_bad_input(store: Arc<dyn Storage>) {
    store.put("keep", b"v".to_vec()).await.unwrap();
    let before = snapshot(&*store).await;
    for (key, rule) in invalid_keys() {
        assert_invalid_key(store.get(&key).await, rule, "get");
        assert_invalid_key(store.put(&key, b"x".to_vec()).await, rule, "put");
        assert_invalid_key(store.delete(&key).await, rule, "delete");
        let batch = vec![Op::put("ok/1", b"x".to_vec()), Op::delete(key.clone())];
        assert_invalid_key(store.transaction(batch).await, rule, "transaction");
        let batch = vec![Op::put("ok/2", b"x".to_vec()), Op::check(key.clone(), None)];
        assert_invalid_key(store.transaction(batch).await, rule, "transaction check");
    }
    let max = Limits::DEFAULT_MAX_VALUE_LEN;
    match store.put("keep", vec![0; max + 1]).await {
        Err(StorageError::ValueTooLarge { len, max: m, .. }) => {
            assert_eq!((len, m), (max + 1, max));
        }
        other => panic!("oversized put: expected ValueTooLarge, got {other:?}"),
    }
    let batch = vec![
        Op::put("ok/3", b"x".to_vec()),
        Op::put("keep", vec![0; max + 1]),
    ];
    assert!(matches!(
        store.transaction(batch).await,
        Err(StorageError::ValueTooLarge { .. })
    ));
    let batch = vec![Op::delete("keep"); Limits::DEFAULT_MAX_TRANSACTION_OPS + 1];
    assert!(matches!(
        store.transaction(batch).await,
        Err(StorageError::TooManyOps { .. })
    ));
    for (prefix, rule) in [
        ("a", KeyRule::PrefixNotFolder),
        ("/", KeyRule::Empty),
        ("/a/", KeyRule::LeadingSlash),
        ("a//", KeyRule::EmptySegment),
        ("../", KeyRule::DotSegment),
    ] {
        match store.list(prefix).await {
            Err(StorageError::InvalidPrefix { rule: got, .. }) => assert_eq!(got, rule),
            other => panic!("list({prefix:?}): expected InvalidPrefix, got {other:?}"),
        }
    }
    assert_eq!(
        snapshot(&*store).await,
        before,
        "refused calls changed the store"
    );
}

/// Vault's list semantics: direct children only, folders with a trailing `/`, each once, byte
/// order, nested folders, a key and a folder of the same name, and empty folders disappearing.
pub async fn list_semantics(store: Arc<dyn Storage>) {
    assert!(store.list("").await.unwrap().is_empty());
    assert!(store.list("nothing/").await.unwrap().is_empty());
    for key in [
        "a",
        "a/b",
        "a/c/d",
        "a/c/e",
        "a/c/f/g/h",
        "a-1",
        "a.b",
        "b/x/y/z",
        "c",
        "k/Z",
        "k/z",
        "k/é",
        "k/a",
        "k/a\u{1}",
        "k/a/b",
        "k/a-b/c",
    ] {
        store.put(key, key.as_bytes().to_vec()).await.unwrap();
    }
    let list = |p: &'static str| {
        let store = Arc::clone(&store);
        async move { store.list(p).await.unwrap() }
    };
    assert_eq!(list("").await, ["a", "a-1", "a.b", "a/", "b/", "c", "k/"]);
    assert_eq!(list("a/").await, ["b", "c/"]);
    assert_eq!(list("a/c/").await, ["d", "e", "f/"]);
    assert_eq!(list("a/c/f/").await, ["g/"]);
    assert_eq!(list("b/").await, ["x/"]);
    assert_eq!(list("b/x/y/").await, ["z"]);
    assert_eq!(
        list("k/").await,
        ["Z", "a", "a\u{1}", "a-b/", "a/", "z", "é"]
    );
    assert!(list("a/b/").await.is_empty(), "a key is not a folder");
    assert!(list("zz/").await.is_empty());
    store.delete("a/c/d").await.unwrap();
    store.delete("a/c/e").await.unwrap();
    assert_eq!(list("a/c/").await, ["f/"]);
    store.delete("a/c/f/g/h").await.unwrap();
    assert_eq!(list("a/").await, ["b"], "an emptied folder disappears");
    store.delete("a/b").await.unwrap();
    assert_eq!(list("").await, ["a", "a-1", "a.b", "b/", "c", "k/"]);
}

/// A folder with many direct children lists them all, and a folder's deep subtree counts as one
/// child.
pub async fn list_many(store: Arc<dyn Storage>) {
    let mut ops = Vec::new();
    for i in 0..500 {
        ops.push(Op::put(format!("many/k{i:04}"), vec![1]));
        ops.push(Op::put(format!("many/deep/{i}/x"), vec![2]));
    }
    for chunk in ops.chunks(250) {
        store.transaction(chunk.to_vec()).await.unwrap();
    }
    let listed = store.list("many/").await.unwrap();
    assert_eq!(listed.len(), 501);
    assert_eq!(listed[0], "deep/");
    assert_eq!(listed[1], "k0000");
    assert_eq!(listed[500], "k0499");
    assert_eq!(store.list("many/deep/").await.unwrap().len(), 500);
}

/// A transaction applies all its ops, in order.
pub async fn transaction_applies_all(store: Arc<dyn Storage>) {
    store.put("t/old", b"old".to_vec()).await.unwrap();
    store
        .transaction(vec![
            Op::put("t/a", b"1".to_vec()),
            Op::put("t/b", b"2".to_vec()),
            Op::delete("t/old"),
            Op::put("t/a", b"3".to_vec()),
            Op::check("t/a", Some(b"3".to_vec())),
            Op::check("t/old", None),
            Op::delete("t/none"),
        ])
        .await
        .unwrap();
    let all = snapshot(&*store).await;
    let want: BTreeMap<String, Vec<u8>> = [("t/a", b"3"), ("t/b", b"2")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_vec()))
        .collect();
    assert_eq!(all, want);
    store.transaction(Vec::new()).await.unwrap();
}

/// A transaction that fails midway (a check that does not hold, after writes and deletes) leaves
/// nothing behind, and names the key.
pub async fn transaction_all_or_nothing(store: Arc<dyn Storage>) {
    store.put("t/x", b"x".to_vec()).await.unwrap();
    store.put("t/y", b"y".to_vec()).await.unwrap();
    let before = snapshot(&*store).await;
    let failing = [
        Op::check("t/x", Some(b"not x".to_vec())),
        Op::check("t/x", None),
        Op::check("t/missing", Some(Vec::new())),
        Op::check("t/y", Some(Vec::new())),
    ];
    for check in failing {
        let key = check.key().to_owned();
        let result = store
            .transaction(vec![
                Op::put("t/new", b"n".to_vec()),
                Op::put("t/x", b"changed".to_vec()),
                Op::delete("t/y"),
                Op::check("t/new", Some(b"n".to_vec())),
                // The check sees the transaction's own earlier writes, so those on t/x and t/y
                // are judged against "changed" and absence.
                check,
                Op::put("t/after", b"a".to_vec()),
            ])
            .await;
        match result {
            Err(StorageError::CheckFailed { key: got }) => assert_eq!(got, key),
            other => panic!("expected CheckFailed({key}), got {other:?}"),
        }
        assert_eq!(
            snapshot(&*store).await,
            before,
            "a failed transaction left changes"
        );
    }
}

/// Many tasks writing at once lose nothing: each task's keys, written by put and by transaction,
/// are all there afterwards with their values.
pub async fn concurrent_writers(store: Arc<dyn Storage>) {
    const TASKS: usize = 16;
    const EACH: usize = 20;
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let store = Arc::clone(&store);
        handles.push(tokio::spawn(async move {
            for i in 0..EACH {
                let key = format!("cw/{t}/{i}");
                if i % 4 == 0 {
                    store
                        .transaction(vec![
                            Op::put(key.clone(), key.as_bytes().to_vec()),
                            Op::put(format!("cw/shared/{t}-{i}"), vec![1]),
                        ])
                        .await
                        .unwrap();
                } else {
                    store.put(&key, key.as_bytes().to_vec()).await.unwrap();
                }
            }
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }
    let all = snapshot(&*store).await;
    for t in 0..TASKS {
        for i in 0..EACH {
            let key = format!("cw/{t}/{i}");
            assert_eq!(all.get(&key), Some(&key.as_bytes().to_vec()), "{key} lost");
        }
    }
    assert_eq!(
        store.list("cw/shared/").await.unwrap().len(),
        TASKS * EACH / 4
    );
}

/// Read-modify-write with [`Op::Check`] (compare-and-swap) from many tasks loses no update: a
/// counter incremented N times by concurrent tasks ends at N.
pub async fn concurrent_compare_and_swap(store: Arc<dyn Storage>) {
    const TASKS: u64 = 8;
    const EACH: u64 = 10;
    const MAX_ATTEMPTS: u32 = 10_000;
    let mut handles = Vec::new();
    for _ in 0..TASKS {
        let store = Arc::clone(&store);
        handles.push(tokio::spawn(async move {
            for _ in 0..EACH {
                let mut attempts = 0;
                loop {
                    attempts += 1;
                    assert!(attempts <= MAX_ATTEMPTS, "CAS never succeeded");
                    let current = store.get("cas/counter").await.unwrap();
                    let n = current.as_deref().map_or(0, |b| {
                        u64::from_be_bytes(b.try_into().expect("8-byte counter"))
                    });
                    let ops = vec![
                        Op::check("cas/counter", current),
                        Op::put("cas/counter", (n + 1).to_be_bytes().to_vec()),
                    ];
                    match store.transaction(ops).await {
                        Ok(()) => break,
                        Err(StorageError::CheckFailed { .. } | StorageError::Conflict) => {
                            tokio::task::yield_now().await;
                        }
                        Err(e) => panic!("CAS failed: {e}"),
                    }
                }
            }
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }
    let value = store.get("cas/counter").await.unwrap().unwrap();
    assert_eq!(
        u64::from_be_bytes(value.try_into().unwrap()),
        TASKS * EACH,
        "lost update"
    );
}

/// One operation of the model test.
#[derive(Clone, Debug)]
pub enum ModelOp {
    /// `get(key)`
    Get(String),
    /// `put(key, value)`
    Put(String, Vec<u8>),
    /// `delete(key)`
    Delete(String),
    /// `list(prefix)`
    List(String),
    /// `transaction(ops)`
    Transaction(Vec<Op>),
}

fn key_strategy() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("a-b".to_owned()),
        Just("é".to_owned()),
        Just("Z".to_owned()),
    ];
    prop_oneof![
        9 => prop::collection::vec(segment, 1..4).prop_map(|s| s.join("/")),
        // A few invalid keys, so that refusals are compared too.
        1 => prop_oneof![
            Just(String::new()),
            Just("a//b".to_owned()),
            Just("/a".to_owned()),
            Just("a/..".to_owned()),
            Just("a/".to_owned()),
        ],
    ]
}

fn value_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..6)
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        (key_strategy(), value_strategy()).prop_map(|(k, v)| Op::put(k, v)),
        key_strategy().prop_map(Op::delete),
        (key_strategy(), prop::option::of(value_strategy())).prop_map(|(k, v)| Op::check(k, v)),
    ]
}

/// A proptest strategy for sequences of [`ModelOp`].
pub fn model_ops() -> impl Strategy<Value = Vec<ModelOp>> {
    let prefix = prop_oneof![
        Just(String::new()),
        key_strategy().prop_map(|k| format!("{k}/")),
        Just("a".to_owned()),
    ];
    let op = prop_oneof![
        3 => key_strategy().prop_map(ModelOp::Get),
        4 => (key_strategy(), value_strategy()).prop_map(|(k, v)| ModelOp::Put(k, v)),
        2 => key_strategy().prop_map(ModelOp::Delete),
        2 => prefix.prop_map(ModelOp::List),
        2 => prop::collection::vec(op_strategy(), 0..5).prop_map(ModelOp::Transaction),
    ];
    prop::collection::vec(op, 1..40)
}

/// The reference: a `BTreeMap` with the same rules, written as plainly as possible.
#[derive(Default)]
struct Model(BTreeMap<String, Vec<u8>>);

type Outcome = Result<Option<Vec<u8>>, String>;

fn rule_of(err: &StorageError) -> String {
    match err {
        StorageError::InvalidKey { rule, .. } | StorageError::InvalidPrefix { rule, .. } => {
            format!("{rule:?}")
        }
        StorageError::CheckFailed { key } => format!("check {key}"),
        other => panic!("unexpected error in model test: {other}"),
    }
}

impl Model {
    fn key(key: &str) -> Result<(), String> {
        crate::check_key(key).map_err(|r| format!("{r:?}"))
    }

    fn apply(&mut self, op: &ModelOp) -> Result<Vec<String>, String> {
        match op {
            ModelOp::Get(_) => unreachable!("gets are compared directly"),
            ModelOp::Put(k, v) => {
                Self::key(k)?;
                self.0.insert(k.clone(), v.clone());
            }
            ModelOp::Delete(k) => {
                Self::key(k)?;
                self.0.remove(k);
            }
            ModelOp::List(p) => {
                crate::check_prefix(p).map_err(|r| format!("{r:?}"))?;
                let mut out: Vec<String> = self
                    .0
                    .keys()
                    .filter_map(|k| k.strip_prefix(p.as_str()))
                    .map(|rest| match rest.split_once('/') {
                        Some((head, _)) => format!("{head}/"),
                        None => rest.to_owned(),
                    })
                    .collect();
                out.sort();
                out.dedup();
                return Ok(out);
            }
            ModelOp::Transaction(ops) => {
                for op in ops {
                    Self::key(op.key())?;
                }
                let mut next = self.0.clone();
                for op in ops {
                    match op {
                        Op::Put { key, value } => {
                            next.insert(key.clone(), value.clone());
                        }
                        Op::Delete { key } => {
                            next.remove(key);
                        }
                        Op::Check { key, expected } => {
                            if next.get(key) != expected.as_ref() {
                                return Err(format!("check {key}"));
                            }
                        }
                    }
                }
                self.0 = next;
            }
        }
        Ok(Vec::new())
    }
}

async fn run_against_model(store: &dyn Storage, ops: Vec<ModelOp>) -> Result<(), TestCaseError> {
    clear(store).await;
    let mut model = Model::default();
    for op in ops {
        if let ModelOp::Get(k) = &op {
            let got: Outcome = store.get(k).await.map_err(|e| rule_of(&e));
            let want: Outcome = Model::key(k).map(|()| model.0.get(k).cloned());
            prop_assert_eq!(got, want, "get {:?}", k);
            continue;
        }
        let want = model.apply(&op);
        let got = match &op {
            ModelOp::Put(k, v) => store.put(k, v.clone()).await.map(|()| Vec::new()),
            ModelOp::Delete(k) => store.delete(k).await.map(|()| Vec::new()),
            ModelOp::List(p) => store.list(p).await,
            ModelOp::Transaction(ops) => store.transaction(ops.clone()).await.map(|()| Vec::new()),
            ModelOp::Get(_) => unreachable!(),
        }
        .map_err(|e| rule_of(&e));
        prop_assert_eq!(got, want, "{:?}", op);
    }
    let all = snapshot(store).await;
    prop_assert_eq!(all, model.0, "final contents differ from the model");
    Ok(())
}

/// Runs `cases` random operation sequences against `store` (cleared before each) and a
/// `BTreeMap` model; panics with the shrunk failing sequence if they ever disagree.
///
/// Call it from a plain `#[test]` (not inside a runtime): it drives `runtime` itself.
pub fn model_test(runtime: &tokio::runtime::Runtime, store: Arc<dyn Storage>, cases: u32) {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&model_ops(), |ops| {
        runtime.block_on(run_against_model(&*store, ops))
    });
    if let Err(failure) = result {
        panic!("storage disagrees with the model: {failure}");
    }
}

/// Generates one `#[tokio::test]` per conformance check, from a factory
/// `|name: &'static str| async { Option<impl Storage + 'static> }` that returns a fresh, empty
/// store for the test called `name` (`None` skips the test, e.g. when a service is not
/// configured).
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr) => {
        $crate::conformance_tests!(@each $factory;
            put_get_delete, binary_values, rejects_bad_input, list_semantics, list_many,
            transaction_applies_all, transaction_all_or_nothing, concurrent_writers,
            concurrent_compare_and_swap);
    };
    (@each $factory:expr; $($check:ident),*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $check() {
            let factory = $factory;
            if let Some(store) = factory(stringify!($check)).await {
                let store: ::std::sync::Arc<dyn $crate::Storage> = ::std::sync::Arc::new(store);
                $crate::conformance::$check(store).await;
            }
        }
    )*};
}
