//! [`FsStore`]: the embedded default backend, a sharded directory of blobs.
//!
//! Layout under the store root:
//!
//! ```text
//! blobs/sha256/<first two hex digits>/<remaining 62 hex digits>
//! ```
//!
//! A blob is written to a uniquely named temporary file in its shard
//! directory, flushed to disk, then renamed into place, so a reader (or a
//! process that crashed mid-write) never sees a partial blob under a digest.
//! Temporary files start with `.tmp-` and are never read as blobs.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;

use crate::{BlobStore, Digest, Error, Put, Result};

/// A blob store in a local directory, safe to share between processes.
#[derive(Debug, Clone)]
pub struct FsStore {
    root: PathBuf,
    sync: bool,
}

impl FsStore {
    /// A store rooted at `root`. The directory is created on first write.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            sync: true,
        }
    }

    /// Whether each blob is flushed to stable storage before it is renamed
    /// into place (default `true`). Turning it off keeps crash-consistency
    /// for process crashes but not for power loss.
    pub fn with_sync(mut self, sync: bool) -> Self {
        self.sync = sync;
        self
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path a blob is (or would be) stored at.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        let (shard, rest) = hex.split_at(2);
        self.root
            .join("blobs")
            .join("sha256")
            .join(shard)
            .join(rest)
    }

    fn put_blocking(&self, data: &[u8], digest: Digest) -> Result<Put> {
        let path = self.blob_path(&digest);
        if let Some(existing) = self.verified_len(&path, &digest)? {
            debug_assert_eq!(existing, data.len() as u64);
            return Ok(Put {
                digest,
                new_bytes: 0,
            });
        }
        let dir = path.parent().ok_or_else(|| Error::InvalidLocation {
            location: path.display().to_string(),
            reason: "blob path has no parent directory".to_owned(),
        })?;
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            action: "create directory",
            path: dir.to_owned(),
            source,
        })?;
        let io_err = |action: &'static str| {
            let path = path.clone();
            move |source: io::Error| Error::Io {
                action,
                path,
                source,
            }
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(dir)
            .map_err(io_err("create temporary file for blob"))?;
        tmp.write_all(data).map_err(io_err("write blob"))?;
        if self.sync {
            tmp.as_file().sync_data().map_err(io_err("flush blob"))?;
        }
        // Another writer may have stored the same content meanwhile; renaming
        // over it is harmless because both have identical bytes.
        tmp.persist(&path)
            .map_err(|e| e.error)
            .map_err(io_err("rename blob into place"))?;
        tracing::trace!(%digest, len = data.len(), "stored blob");
        Ok(Put {
            digest,
            new_bytes: data.len() as u64,
        })
    }

    /// `Some(len)` when a correct copy of the blob is present. A corrupted copy
    /// counts as absent so that a put heals it.
    fn verified_len(&self, path: &Path, digest: &Digest) -> Result<Option<u64>> {
        match std::fs::read(path) {
            Ok(stored) if Digest::of(&stored) == *digest => Ok(Some(stored.len() as u64)),
            Ok(_) => {
                tracing::warn!(%digest, path = %path.display(), "replacing corrupted blob");
                Ok(None)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Io {
                action: "read blob",
                path: path.to_owned(),
                source,
            }),
        }
    }

    fn get_blocking(&self, digest: &Digest) -> Result<Bytes> {
        let path = self.blob_path(digest);
        let data = match std::fs::read(&path) {
            Ok(data) => data,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::NotFound {
                    digest: *digest,
                    store: self.describe(),
                });
            }
            Err(source) => {
                return Err(Error::Io {
                    action: "read blob",
                    path,
                    source,
                });
            }
        };
        let actual = Digest::of(&data);
        if actual != *digest {
            return Err(Error::Corrupted {
                digest: *digest,
                actual,
                len: data.len() as u64,
                store: self.describe(),
            });
        }
        Ok(Bytes::from(data))
    }
}

async fn blocking<T: Send + 'static>(
    what: impl FnOnce() -> String,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(source) => Err(Error::Task {
            what: what(),
            source,
        }),
    }
}

#[async_trait]
impl BlobStore for FsStore {
    async fn put(&self, data: Bytes) -> Result<Put> {
        let this = self.clone();
        let digest = Digest::of(&data);
        blocking(
            || format!("put {digest}"),
            move || this.put_blocking(&data, digest),
        )
        .await
    }

    async fn get(&self, digest: &Digest) -> Result<Bytes> {
        let this = self.clone();
        let digest = *digest;
        blocking(
            || format!("get {digest}"),
            move || this.get_blocking(&digest),
        )
        .await
    }

    async fn has(&self, digest: &Digest) -> Result<bool> {
        let path = self.blob_path(digest);
        match tokio::fs::symlink_metadata(&path).await {
            Ok(meta) => Ok(meta.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(Error::Io {
                action: "inspect blob",
                path,
                source,
            }),
        }
    }

    fn describe(&self) -> String {
        format!("store {}", self.root.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conformance() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = FsStore::new(dir.path());
        let files = store.clone();
        crate::testing::blob_store_conformance(&store, &move |digest, data| {
            std::fs::write(files.blob_path(digest), &data).is_ok()
        })
        .await;
        Ok(())
    }

    #[tokio::test]
    async fn layout_is_sharded_and_leaves_no_temp_files() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|source| Error::Io {
            action: "create",
            path: PathBuf::new(),
            source,
        })?;
        let store = FsStore::new(dir.path()).with_sync(false);
        let put = store.put(Bytes::from_static(b"layout")).await?;
        let hex = put.digest.hex();
        let expected = dir
            .path()
            .join("blobs/sha256")
            .join(&hex[..2])
            .join(&hex[2..]);
        assert_eq!(store.blob_path(&put.digest), expected);
        assert_eq!(
            std::fs::read(&expected).ok().as_deref(),
            Some(&b"layout"[..])
        );
        let names: Vec<_> = std::fs::read_dir(expected.parent().unwrap_or(dir.path()))
            .map_err(|source| Error::Io {
                action: "list",
                path: expected.clone(),
                source,
            })?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(&hex[2..])]);
        Ok(())
    }
}
