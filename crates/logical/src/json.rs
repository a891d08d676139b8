//! JSON records in an engine's storage: what most engines keep (roles, users, configuration),
//! encoded and decoded in one place with the same refusals.
//!
//! A record that does not decode is an internal error naming the key (never its contents: a
//! record may hold secrets); an unknown key is `None`.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{LogicalError, Result, StorageView};
use strongroom_storage::Storage as _;

/// `value` as the bytes stored for `key` (for a [`strongroom_storage::Op::put`] in a
/// transaction; [`StorageView::put_json`] writes one record directly).
///
/// # Errors
///
/// [`LogicalError::Internal`] when `value` does not serialise.
pub fn encode<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| LogicalError::Internal(format!("encoding {key}: {e}")))
}

/// The record stored under `key`, decoded from `bytes` (read by the caller, e.g. to check them
/// in a later transaction).
///
/// # Errors
///
/// [`LogicalError::Internal`] when the bytes do not decode as `T`.
pub fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|_| LogicalError::Internal(format!("stored {key} does not decode")))
}

impl StorageView {
    /// The JSON record under `key`, `None` when there is none.
    ///
    /// # Errors
    ///
    /// A storage error; [`LogicalError::Internal`] when the record does not decode as `T`.
    pub async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.get(key).await? {
            Some(bytes) => decode(key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Stores `value` under `key` as JSON.
    ///
    /// # Errors
    ///
    /// [`LogicalError::Internal`] when `value` does not serialise; a storage error.
    pub async fn put_json<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<()> {
        self.put(key, encode(key, value)?).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn records_round_trip_and_refuse_what_does_not_decode() {
        let storage = Arc::new(strongroom_storage::MemoryStorage::new());
        let view = StorageView::new(storage, "logical/x/").unwrap();
        assert_eq!(view.get_json::<Vec<u32>>("r").await.unwrap(), None);
        view.put_json("r", &[1u32, 2]).await.unwrap();
        assert_eq!(
            view.get_json::<Vec<u32>>("r").await.unwrap(),
            Some(vec![1, 2])
        );
        let err = view.get_json::<String>("r").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            LogicalError::Internal("stored r does not decode".into()).to_string()
        );
        assert_eq!(encode("k", "v").unwrap(), b"\"v\"");
        assert_eq!(decode::<String>("k", b"\"v\"").unwrap(), "v");
    }
}
