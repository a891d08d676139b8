//! A structured operation sequence against the memory storage and a plain BTreeMap reference:
//! no panic on any key, and the same answers.

use std::collections::BTreeMap;

use strongroom_storage::{MemoryStorage, Op, Storage, check_key, check_prefix};

/// One input.
pub fn run(data: &[u8]) {
    let store = MemoryStorage::new();
    let mut model: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    // Each op: one byte of kind, one byte of key length, the key, one byte of value length.
    let mut rest = data;
    while let [kind, len, tail @ ..] = rest {
        let len = usize::from(*len % 24).min(tail.len());
        let (key_bytes, tail) = tail.split_at(len);
        let key = String::from_utf8_lossy(key_bytes).into_owned();
        let (value, tail) = match tail.split_first() {
            Some((n, t)) => {
                let n = usize::from(*n % 8).min(t.len());
                (t[..n].to_vec(), &t[n..])
            }
            None => (Vec::new(), tail),
        };
        rest = tail;
        let valid = check_key(&key).is_ok();
        match kind % 5 {
            0 => {
                let got = crate::common::now(store.put(&key, value.clone()));
                assert_eq!(got.is_ok(), valid);
                if valid {
                    model.insert(key, value);
                }
            }
            1 => {
                let got = crate::common::now(store.get(&key));
                match got {
                    Ok(v) => assert_eq!(v.as_ref(), model.get(&key)),
                    Err(_) => assert!(!valid),
                }
            }
            2 => {
                assert_eq!(crate::common::now(store.delete(&key)).is_ok(), valid);
                model.remove(&key);
            }
            3 => {
                let prefix = if key.is_empty() {
                    key
                } else {
                    format!("{key}/")
                };
                let got = crate::common::now(store.list(&prefix));
                assert_eq!(got.is_ok(), check_prefix(&prefix).is_ok());
            }
            _ => {
                let ops = vec![
                    Op::put(key.clone(), value.clone()),
                    Op::check(key.clone(), Some(value.clone())),
                ];
                let got = crate::common::now(store.transaction(ops));
                assert_eq!(got.is_ok(), valid);
                if valid {
                    model.insert(key, value);
                }
            }
        }
    }
    // Final contents agree.
    for (key, value) in &model {
        assert_eq!(
            crate::common::now(store.get(key)).unwrap().as_ref(),
            Some(value)
        );
    }
}
