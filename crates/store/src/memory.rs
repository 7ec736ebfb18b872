//! [`MemoryStore`]: blobs in maps, for tests and embedding. It keeps the
//! same layout as the other backends (loose blobs, packs, indexes), so the
//! code above it behaves as it does on disk or on an object store.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;

use crate::document::next_version;
use crate::packed::{self, Loose, Packs};
use crate::raw::{Area, Listed, Objects};
use crate::{
    BlobStore, Digest, DocKey, DocumentStore, Error, Put, Result, Version, VersionInfo, Versioned,
};

/// A stored version of a document: its content and when it was written.
type Stored = (Bytes, SystemTime);

/// An in-memory blob store. Cloning shares the contents.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    blobs: Arc<Mutex<HashMap<Digest, Stored>>>,
    objects: Arc<Mutex<HashMap<(Area, Digest), Stored>>>,
    docs: Arc<Mutex<BTreeMap<DocKey, BTreeMap<u64, Stored>>>>,
    packs: Arc<Packs>,
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

    /// How many loose blobs are stored (packed ones are not counted).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is stored: no blob, loose or packed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0 && self.raw().is_empty()
    }

    /// Replaces the bytes stored under `digest` without re-hashing them.
    ///
    /// Only for tests of corruption handling: the store will then report the
    /// blob as corrupted on every read.
    pub fn overwrite_unchecked(&self, digest: Digest, data: Bytes) {
        self.lock().insert(digest, (data, SystemTime::now()));
    }

    /// Forgets a blob, as if it had been lost.
    pub fn remove(&self, digest: &Digest) -> bool {
        self.lock().remove(digest).is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Digest, Stored>> {
        // A panic while holding the lock cannot leave the map half-updated
        // (every critical section is a single insert or lookup).
        self.blobs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn raw(&self) -> std::sync::MutexGuard<'_, HashMap<(Area, Digest), Stored>> {
        self.objects.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn docs(&self) -> std::sync::MutexGuard<'_, BTreeMap<DocKey, BTreeMap<u64, Stored>>> {
        self.docs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Objects for MemoryStore {
    async fn create_object(&self, area: Area, name: &Digest, data: Bytes) -> Result<bool> {
        if area == Area::Blobs {
            let mut blobs = self.lock();
            if blobs.contains_key(name) {
                return Ok(false);
            }
            blobs.insert(*name, (data, SystemTime::now()));
            return Ok(true);
        }
        let mut objects = self.raw();
        if objects.contains_key(&(area, *name)) {
            return Ok(false);
        }
        objects.insert((area, *name), (data, SystemTime::now()));
        Ok(true)
    }

    async fn replace_object(&self, area: Area, name: &Digest, data: Bytes) -> Result<()> {
        if area == Area::Blobs {
            self.lock().insert(*name, (data, SystemTime::now()));
        } else {
            self.raw().insert((area, *name), (data, SystemTime::now()));
        }
        Ok(())
    }

    async fn read_object(&self, area: Area, name: &Digest) -> Result<Option<Bytes>> {
        Ok(if area == Area::Blobs {
            self.lock().get(name).map(|(d, _)| d.clone())
        } else {
            self.raw().get(&(area, *name)).map(|(d, _)| d.clone())
        })
    }

    async fn read_ranges(
        &self,
        area: Area,
        name: &Digest,
        ranges: &[Range<u64>],
    ) -> Result<Option<Vec<Bytes>>> {
        let Some(data) = self.read_object(area, name).await? else {
            return Ok(None);
        };
        let len = data.len() as u64;
        Ok(Some(
            ranges
                .iter()
                .map(|r| data.slice(r.start.min(len) as usize..r.end.min(len) as usize))
                .collect(),
        ))
    }

    async fn object_exists(&self, area: Area, name: &Digest) -> Result<bool> {
        Ok(self.read_object(area, name).await?.is_some())
    }

    async fn list_objects(&self, area: Area) -> Result<Vec<Listed>> {
        if area == Area::Blobs {
            return Ok(self
                .lock()
                .iter()
                .map(|(name, (data, modified))| Listed {
                    name: *name,
                    size: data.len() as u64,
                    modified: Some(*modified),
                })
                .collect());
        }
        Ok(self
            .raw()
            .iter()
            .filter(|((a, _), _)| *a == area)
            .map(|((_, name), (data, modified))| Listed {
                name: *name,
                size: data.len() as u64,
                modified: Some(*modified),
            })
            .collect())
    }

    async fn remove_object(&self, area: Area, name: &Digest) -> Result<()> {
        if area == Area::Blobs {
            self.lock().remove(name);
        } else {
            self.raw().remove(&(area, *name));
        }
        Ok(())
    }

    async fn move_object(&self, from: Area, to: Area, name: &Digest) -> Result<()> {
        let Some(data) = self.read_object(from, name).await? else {
            return Err(Error::NotFound {
                digest: *name,
                store: self.name(),
            });
        };
        self.replace_object(to, name, data).await?;
        self.remove_object(from, name).await
    }
}

#[async_trait]
impl Loose for MemoryStore {
    fn packs(&self) -> &Packs {
        &self.packs
    }

    fn store_name(&self) -> String {
        self.name()
    }

    async fn loose_put(&self, data: Bytes) -> Result<Put> {
        let digest = Digest::of(&data);
        let len = data.len() as u64;
        let mut blobs = self.lock();
        // A corrupted entry under this digest is healed by a correct put.
        let present = blobs
            .get(&digest)
            .is_some_and(|(stored, _)| Digest::of(stored) == digest);
        if present {
            return Ok(Put {
                digest,
                new_bytes: 0,
            });
        }
        blobs.insert(digest, (data, SystemTime::now()));
        Ok(Put {
            digest,
            new_bytes: len,
        })
    }

    async fn loose_get_many(&self, digests: &[Digest]) -> Vec<Result<Bytes>> {
        digests.iter().map(|d| self.loose_get(d)).collect()
    }

    async fn loose_has(&self, digest: &Digest) -> Result<bool> {
        Ok(self.lock().contains_key(digest))
    }
}

impl MemoryStore {
    fn loose_get(&self, digest: &Digest) -> Result<Bytes> {
        let data = self.lock().get(digest).map(|(d, _)| d.clone());
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
}

#[async_trait]
impl BlobStore for MemoryStore {
    async fn put(&self, data: Bytes) -> Result<Put> {
        self.loose_put(data).await
    }

    async fn get(&self, digest: &Digest) -> Result<Bytes> {
        crate::packed::get_one(self, digest).await
    }

    async fn has(&self, digest: &Digest) -> Result<bool> {
        packed::has(self, digest).await
    }

    async fn put_many(&self, blobs: Vec<Bytes>) -> Result<Vec<Put>> {
        packed::put_many(self, blobs).await
    }

    async fn prepare(&self) -> Result<()> {
        packed::prepare(self).await
    }

    async fn get_many(&self, digests: &[Digest]) -> Vec<Result<Bytes>> {
        packed::get_many(self, digests).await
    }

    async fn list_blobs(&self) -> Result<Vec<Digest>> {
        let mut all: Vec<Digest> = self.lock().keys().copied().collect();
        all.extend(packed::packed_digests(self).await?);
        all.sort();
        all.dedup();
        Ok(all)
    }

    async fn remove_blob(&self, digest: &Digest) -> Result<()> {
        self.lock().remove(digest);
        packed::unindex(self, digest).await
    }

    fn objects(&self) -> Option<&dyn Objects> {
        Some(self)
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
        let mut docs = self.docs();
        let versions = docs.entry(key.clone()).or_default();
        // As on disk: the version read must still be there (compaction
        // removes only versions with newer ones after them), and the next
        // one must not.
        if let Some(expected) = expected
            && !versions.contains_key(&expected.0)
        {
            let error = if versions.is_empty() {
                Error::DocumentNotFound {
                    key: key.clone(),
                    store: self.name(),
                }
            } else {
                Error::Conflict {
                    key: key.clone(),
                    expected: Some(expected),
                    attempted,
                    store: self.name(),
                }
            };
            if versions.is_empty() {
                docs.remove(key);
            }
            return Err(error);
        }
        if versions.contains_key(&attempted.0) {
            return Err(Error::Conflict {
                key: key.clone(),
                expected,
                attempted,
                store: self.name(),
            });
        }
        versions.insert(attempted.0, (data, SystemTime::now()));
        Ok(attempted)
    }

    async fn get_latest(&self, key: &DocKey) -> Result<Option<Versioned>> {
        Ok(self.docs().get(key).and_then(|versions| {
            versions.last_key_value().map(|(v, (data, _))| Versioned {
                version: Version(*v),
                data: data.clone(),
            })
        }))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<DocKey>> {
        Ok(self
            .docs()
            .iter()
            .filter(|(k, versions)| {
                !versions.is_empty() && crate::document::under_prefix(k, prefix)
            })
            .map(|(k, _)| k.clone())
            .collect())
    }

    async fn versions(&self, key: &DocKey) -> Result<Vec<VersionInfo>> {
        Ok(self
            .docs()
            .get(key)
            .map(|versions| {
                versions
                    .iter()
                    .map(|(v, (_, modified))| VersionInfo {
                        version: Version(*v),
                        modified: Some(*modified),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn get_version(&self, key: &DocKey, version: Version) -> Result<Option<Bytes>> {
        Ok(self
            .docs()
            .get(key)
            .and_then(|versions| versions.get(&version.0))
            .map(|(data, _)| data.clone()))
    }

    async fn delete_version(&self, key: &DocKey, version: Version) -> Result<()> {
        let mut docs = self.docs();
        if let Some(versions) = docs.get_mut(key) {
            versions.remove(&version.0);
            if versions.is_empty() {
                docs.remove(key);
            }
        }
        Ok(())
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
        crate::testing::blob_store_conformance(&store, &store).await;
    }

    #[tokio::test]
    async fn document_conformance() {
        crate::testing::document_store_conformance(&MemoryStore::new()).await;
    }
}
