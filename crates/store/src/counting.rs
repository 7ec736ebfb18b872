//! [`Counting`]: a decorator that counts the calls made to a store, by
//! operation — for tests that must prove what did *not* happen (a refused
//! push writes nothing) and for hosts that want the numbers.
//!
//! It counts trait calls, not backend requests: a batch call is one call
//! here whatever the backend does with it.

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;

use crate::{
    BlobStore, DocKey, DocumentStore, Put, Result, Version, VersionInfo, Versioned, digest::Digest,
};

/// How many calls of each kind a [`Counting`] store has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counts {
    /// `put`, `put_many` and `put_file` calls.
    pub blob_writes: u64,
    /// `get`, `get_many` and `get_to_file` calls.
    pub blob_reads: u64,
    /// `has` calls.
    pub blob_checks: u64,
    /// `list_blobs`, `remove_blob` and stale-temporary calls.
    pub blob_admin: u64,
    /// `put_version` and `delete_version` calls.
    pub document_writes: u64,
    /// `get_latest` and `get_version` calls.
    pub document_reads: u64,
    /// Document `list` and `versions` calls.
    pub document_lists: u64,
}

impl Counts {
    /// Every write: blobs and documents (removals included).
    pub fn writes(&self) -> u64 {
        self.blob_writes + self.document_writes
    }
}

#[derive(Debug, Default)]
struct Counters([AtomicU64; 7]);

/// A store that counts the calls made to `inner` and passes them on.
#[derive(Debug, Default)]
pub struct Counting<S> {
    inner: S,
    counters: Counters,
}

impl<S> Counting<S> {
    /// Counts the calls made to `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            counters: Counters::default(),
        }
    }

    /// The store being counted.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        let c = |i: usize| self.counters.0[i].load(Ordering::Relaxed);
        Counts {
            blob_writes: c(0),
            blob_reads: c(1),
            blob_checks: c(2),
            blob_admin: c(3),
            document_writes: c(4),
            document_reads: c(5),
            document_lists: c(6),
        }
    }

    /// Sets every count back to 0.
    pub fn reset(&self) {
        for counter in &self.counters.0 {
            counter.store(0, Ordering::Relaxed);
        }
    }

    fn tick(&self, which: usize) {
        self.counters.0[which].fetch_add(1, Ordering::Relaxed);
    }
}

#[async_trait]
impl<S: BlobStore> BlobStore for Counting<S> {
    async fn put(&self, data: Bytes) -> Result<Put> {
        self.tick(0);
        self.inner.put(data).await
    }
    async fn get(&self, digest: &Digest) -> Result<Bytes> {
        self.tick(1);
        self.inner.get(digest).await
    }
    async fn has(&self, digest: &Digest) -> Result<bool> {
        self.tick(2);
        self.inner.has(digest).await
    }
    async fn put_many(&self, blobs: Vec<Bytes>) -> Result<Vec<Put>> {
        self.tick(0);
        self.inner.put_many(blobs).await
    }
    async fn get_many(&self, digests: &[Digest]) -> Vec<Result<Bytes>> {
        self.tick(1);
        self.inner.get_many(digests).await
    }
    async fn put_file(&self, path: &std::path::Path) -> Result<Put> {
        self.tick(0);
        self.inner.put_file(path).await
    }
    async fn get_to_file(&self, digest: &Digest, path: &std::path::Path) -> Result<u64> {
        self.tick(1);
        self.inner.get_to_file(digest, path).await
    }
    async fn list_blobs(&self) -> Result<Vec<Digest>> {
        self.tick(3);
        self.inner.list_blobs().await
    }
    async fn remove_blob(&self, digest: &Digest) -> Result<()> {
        self.tick(3);
        self.inner.remove_blob(digest).await
    }
    async fn stale_temporaries(&self, min_age: std::time::Duration) -> Result<Vec<String>> {
        self.tick(3);
        self.inner.stale_temporaries(min_age).await
    }
    async fn remove_stale_temporaries(&self, min_age: std::time::Duration) -> Result<Vec<String>> {
        self.tick(3);
        self.inner.remove_stale_temporaries(min_age).await
    }
    fn objects(&self) -> Option<&dyn crate::Objects> {
        self.inner.objects()
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[async_trait]
impl<S: DocumentStore> DocumentStore for Counting<S> {
    async fn put_version(
        &self,
        key: &DocKey,
        expected: Option<Version>,
        data: Bytes,
    ) -> Result<Version> {
        self.tick(4);
        self.inner.put_version(key, expected, data).await
    }
    async fn get_latest(&self, key: &DocKey) -> Result<Option<Versioned>> {
        self.tick(5);
        self.inner.get_latest(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<DocKey>> {
        self.tick(6);
        self.inner.list(prefix).await
    }
    async fn versions(&self, key: &DocKey) -> Result<Vec<VersionInfo>> {
        self.tick(6);
        self.inner.versions(key).await
    }
    async fn get_version(&self, key: &DocKey, version: Version) -> Result<Option<Bytes>> {
        self.tick(5);
        self.inner.get_version(key, version).await
    }
    async fn delete_version(&self, key: &DocKey, version: Version) -> Result<()> {
        self.tick(4);
        self.inner.delete_version(key, version).await
    }
    fn describe(&self) -> String {
        DocumentStore::describe(&self.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlobStoreExt, DocumentStoreExt, MemoryStore};

    #[tokio::test]
    async fn counts_each_kind_of_call() {
        let store = Counting::new(MemoryStore::new());
        let put = store.put(Bytes::from_static(b"x")).await.unwrap();
        store.put_if_absent(Bytes::from_static(b"x")).await.unwrap();
        BlobStore::get(&store, &put.digest).await.unwrap();
        let key = DocKey::new("a/b").unwrap();
        store.create(&key, Bytes::from_static(b"{}")).await.unwrap();
        DocumentStoreExt::get(&store, &key).await.unwrap();
        let counts = store.counts();
        assert_eq!(
            counts,
            Counts {
                blob_writes: 1,
                blob_reads: 1,
                blob_checks: 1,
                document_writes: 1,
                document_reads: 1,
                ..Counts::default()
            }
        );
        assert_eq!(counts.writes(), 2);
        store.reset();
        assert_eq!(store.counts(), Counts::default());
    }
}
