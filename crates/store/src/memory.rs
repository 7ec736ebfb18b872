//! [`MemoryStore`]: blobs in a map, for tests and embedding.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;

use crate::document::next_version;
use crate::{BlobStore, Digest, DocKey, DocumentStore, Error, Put, Result, Version, Versioned};

/// An in-memory blob store. Cloning shares the contents.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    blobs: Arc<Mutex<HashMap<Digest, Bytes>>>,
    docs: Arc<Mutex<BTreeMap<DocKey, Vec<Bytes>>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How the store names itself in errors.
    pub fn name(&self) -> String {
        "memory store".to_owned()
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
            store: self.name(),
        })?;
        let actual = Digest::of(&data);
        if actual != *digest {
            return Err(Error::Corrupted {
                digest: *digest,
                actual,
                len: data.len() as u64,
                store: self.name(),
            });
        }
        Ok(data)
    }

    async fn has(&self, digest: &Digest) -> Result<bool> {
        Ok(self.lock().contains_key(digest))
    }

    async fn list_blobs(&self) -> Result<Vec<Digest>> {
        let mut all: Vec<Digest> = self.lock().keys().copied().collect();
        all.sort();
        Ok(all)
    }

    async fn remove_blob(&self, digest: &Digest) -> Result<()> {
        self.lock().remove(digest);
        Ok(())
    }

    fn describe(&self) -> String {
        self.name()
    }
}

#[async_trait]
impl DocumentStore for MemoryStore {
    async fn put_version(
        &self,
        key: &DocKey,
        expected: Option<Version>,
        data: Bytes,
    ) -> Result<Version> {
        let attempted = next_version(key, expected)?;
        let mut docs = self.docs.lock().unwrap_or_else(PoisonError::into_inner);
        let versions = docs.entry(key.clone()).or_default();
        let have = versions.len() as u64;
        if have + 1 != attempted.0 {
            if have < attempted.0.saturating_sub(1) && have == 0 {
                docs.remove(key);
                return Err(Error::DocumentNotFound {
                    key: key.clone(),
                    store: self.name(),
                });
            }
            return Err(Error::Conflict {
                key: key.clone(),
                expected,
                attempted,
                store: self.name(),
            });
        }
        versions.push(data);
        Ok(attempted)
    }

    async fn get_latest(&self, key: &DocKey) -> Result<Option<Versioned>> {
        let docs = self.docs.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(docs.get(key).and_then(|versions| {
            versions.last().map(|data| Versioned {
                version: Version(versions.len() as u64),
                data: data.clone(),
            })
        }))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<DocKey>> {
        let docs = self.docs.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(docs
            .keys()
            .filter(|k| crate::document::under_prefix(k, prefix))
            .cloned()
            .collect())
    }

    fn describe(&self) -> String {
        self.name()
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

    #[tokio::test]
    async fn document_conformance() {
        crate::testing::document_store_conformance(&MemoryStore::new()).await;
    }
}
