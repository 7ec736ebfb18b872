//! [`MemoryStore`]: blobs in a map, for tests and embedding.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;

use crate::{BlobStore, Digest, Error, Put, Result};

/// An in-memory blob store. Cloning shares the contents.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    blobs: Arc<Mutex<HashMap<Digest, Bytes>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many blobs are stored.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Replaces the bytes stored under `digest` without re-hashing them.
    ///
    /// Only for tests of corruption handling: the store will then report the
    /// blob as corrupted on every read.
    pub fn overwrite_unchecked(&self, digest: Digest, data: Bytes) {
        self.lock().insert(digest, data);
    }

    /// Forgets a blob, as if it had been lost.
    pub fn remove(&self, digest: &Digest) -> bool {
        self.lock().remove(digest).is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Digest, Bytes>> {
        // A panic while holding the lock cannot leave the map half-updated
        // (every critical section is a single insert or lookup).
        self.blobs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl BlobStore for MemoryStore {
    async fn put(&self, data: Bytes) -> Result<Put> {
        let digest = Digest::of(&data);
        let len = data.len() as u64;
        let mut blobs = self.lock();
        // A corrupted entry under this digest is healed by a correct put.
        let present = blobs
            .get(&digest)
            .is_some_and(|stored| Digest::of(stored) == digest);
        if present {
            return Ok(Put {
                digest,
                new_bytes: 0,
            });
        }
        blobs.insert(digest, data);
        Ok(Put {
            digest,
            new_bytes: len,
        })
    }

    async fn get(&self, digest: &Digest) -> Result<Bytes> {
        let data = self.lock().get(digest).cloned();
        let data = data.ok_or_else(|| Error::NotFound {
            digest: *digest,
            store: self.describe(),
        })?;
        let actual = Digest::of(&data);
        if actual != *digest {
            return Err(Error::Corrupted {
                digest: *digest,
                actual,
                len: data.len() as u64,
                store: self.describe(),
            });
        }
        Ok(data)
    }

    async fn has(&self, digest: &Digest) -> Result<bool> {
        Ok(self.lock().contains_key(digest))
    }

    fn describe(&self) -> String {
        "memory store".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conformance() {
        let store = MemoryStore::new();
        let corrupt = store.clone();
        crate::testing::blob_store_conformance(&store, &move |digest, data| {
            corrupt.overwrite_unchecked(*digest, data);
            true
        })
        .await;
    }
}
