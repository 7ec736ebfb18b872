//! [`Overlay`]: a blob store whose writes stay in an upper store while its
//! reads fall through to a lower one — what a command stages before it
//! knows whether anything may leave (attachments read for a push are held
//! in memory until the secret scan has passed).
//!
//! Every [`BlobStore`] method is written out here (the impl denies
//! `clippy::missing_trait_methods`, as `object_store`'s wrappers do), so a
//! method added to the trait with a default cannot silently write to, or
//! maintain, the lower store.

use std::path::Path;

use async_trait::async_trait;
use bytes::Bytes;

use crate::{BlobStore, Digest, Objects, Put, Result};

/// Writes to `upper`; reads from `upper`, else from `lower`. Maintenance
/// (listing, removing, temporaries) sees only `upper`: an overlay never
/// changes what is below it.
#[derive(Debug, Clone, Copy)]
pub struct Overlay<U, L> {
    upper: U,
    lower: L,
}

impl<U: BlobStore, L: BlobStore> Overlay<U, L> {
    /// `upper` over `lower`.
    pub fn new(upper: U, lower: L) -> Self {
        Self { upper, lower }
    }

    /// The store writes go to.
    pub fn upper(&self) -> &U {
        &self.upper
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<U: BlobStore, L: BlobStore> BlobStore for Overlay<U, L> {
    async fn put(&self, data: Bytes) -> Result<Put> {
        self.upper.put(data).await
    }

    async fn get(&self, digest: &Digest) -> Result<Bytes> {
        if self.upper.has(digest).await? {
            self.upper.get(digest).await
        } else {
            self.lower.get(digest).await
        }
    }

    async fn has(&self, digest: &Digest) -> Result<bool> {
        Ok(self.upper.has(digest).await? || self.lower.has(digest).await?)
    }

    async fn put_many(&self, blobs: Vec<Bytes>) -> Result<Vec<Put>> {
        self.upper.put_many(blobs).await
    }

    async fn get_many(&self, digests: &[Digest]) -> Vec<Result<Bytes>> {
        let mut out = Vec::with_capacity(digests.len());
        for digest in digests {
            out.push(self.get(digest).await);
        }
        out
    }

    async fn put_file(&self, path: &Path) -> Result<Put> {
        self.upper.put_file(path).await
    }

    async fn get_to_file(&self, digest: &Digest, path: &Path) -> Result<u64> {
        if self.upper.has(digest).await? {
            self.upper.get_to_file(digest, path).await
        } else {
            self.lower.get_to_file(digest, path).await
        }
    }

    async fn write_to_file(
        &self,
        digest: &Digest,
        file: std::fs::File,
        path: &Path,
    ) -> Result<u64> {
        if self.upper.has(digest).await? {
            self.upper.write_to_file(digest, file, path).await
        } else {
            self.lower.write_to_file(digest, file, path).await
        }
    }

    async fn list_blobs(&self) -> Result<Vec<Digest>> {
        self.upper.list_blobs().await
    }

    async fn remove_blob(&self, digest: &Digest) -> Result<()> {
        self.upper.remove_blob(digest).await
    }

    async fn stale_temporaries(&self, min_age: std::time::Duration) -> Result<Vec<String>> {
        self.upper.stale_temporaries(min_age).await
    }

    async fn remove_stale_temporaries(&self, min_age: std::time::Duration) -> Result<Vec<String>> {
        self.upper.remove_stale_temporaries(min_age).await
    }

    async fn prepare(&self) -> Result<()> {
        self.upper.prepare().await
    }

    /// None: garbage collection and integrity checks must not run through
    /// an overlay, which would mix two stores' objects.
    fn objects(&self) -> Option<&dyn Objects> {
        None
    }

    fn describe(&self) -> String {
        format!(
            "{} staged over {}",
            self.upper.describe(),
            self.lower.describe()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlobStoreExt, Counting, MemoryStore};

    #[tokio::test]
    async fn writes_stay_above_and_reads_fall_through() {
        let lower = MemoryStore::new();
        let below = lower
            .put(Bytes::from_static(b"below"))
            .await
            .unwrap()
            .digest;
        let counted = Counting::new(&lower);
        let upper = MemoryStore::new();
        let overlay = Overlay::new(&upper, &counted);

        let above = overlay
            .put(Bytes::from_static(b"above"))
            .await
            .unwrap()
            .digest;
        let many = overlay
            .put_many(vec![Bytes::from_static(b"one"), Bytes::from_static(b"two")])
            .await
            .unwrap();
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), b"a file").unwrap();
        let from_file = overlay.put_file(file.path()).await.unwrap().digest;
        overlay
            .put_if_absent(Bytes::from_static(b"absent"))
            .await
            .unwrap();
        overlay.prepare().await.unwrap();

        assert_eq!(&overlay.get(&above).await.unwrap()[..], b"above");
        assert_eq!(&overlay.get(&below).await.unwrap()[..], b"below");
        let got = overlay.get_many(&[above, below, many[1].digest]).await;
        let got: Vec<Vec<u8>> = got.into_iter().map(|r| r.unwrap().to_vec()).collect();
        assert_eq!(got, [b"above".to_vec(), b"below".to_vec(), b"two".to_vec()]);
        assert!(overlay.has(&from_file).await.unwrap());
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("below.bin");
        assert_eq!(overlay.get_to_file(&below, &target).await.unwrap(), 5);
        let open = out.path().join("above.bin");
        let file = std::fs::File::create(&open).unwrap();
        assert_eq!(overlay.write_to_file(&above, file, &open).await.unwrap(), 5);
        assert_eq!(std::fs::read(&open).unwrap(), b"above");

        // Nothing was written below, and maintenance sees only the upper
        // store.
        assert_eq!(counted.counts().writes(), 0, "{:?}", counted.counts());
        assert_eq!(counted.counts().blob_admin, 0, "{:?}", counted.counts());
        assert!(!lower.has(&above).await.unwrap());
        let mut listed = overlay.list_blobs().await.unwrap();
        listed.sort();
        let mut expected = upper.list_blobs().await.unwrap();
        expected.sort();
        assert_eq!(listed, expected);
        assert!(!listed.contains(&below));
        assert!(overlay.objects().is_none());
    }
}
