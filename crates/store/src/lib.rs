//! Content-addressed blob storage for handoff.
//!
//! Everything handoff moves between machines — file contents of a workspace
//! snapshot, snapshot manifests, attachments — is stored as an immutable blob
//! named by the SHA-256 of its bytes ([`Digest`], printed `sha256:<hex>`).
//! Identical content is therefore stored once, and every read is verified:
//! a blob whose bytes no longer hash to its name is reported as
//! [`Error::Corrupted`], never returned.
//!
//! The [`BlobStore`] trait is the few operations a backend must implement;
//! conveniences live in [`BlobStoreExt`]. Batches go through
//! [`BlobStore::put_many`] and [`BlobStore::get_many`], which backends
//! spread over threads or concurrent requests (a snapshot stores hundreds
//! of small blobs at once). Three backends ship here:
//!
//! - [`FsStore`]: the embedded default, a sharded directory tree with atomic
//!   writes (temp file + rename), safe to share between processes;
//! - [`MemoryStore`]: for tests and embedding;
//! - `ObjectStoreBackend` (feature `object-store`): S3, GCS, Azure or a local
//!   directory through the `object_store` crate, named by URL.
//!
//! Every backend also implements [`DocumentStore`]: small versioned documents
//! (run records) with optimistic concurrency.
//!
//! [`location`] resolves where the default store lives (`--store`,
//! `HANDOFF_STORE`, `$XDG_DATA_HOME/handoff`).
//!
//! # Example
//!
//! ```
//! use handoff_store::{BlobStore, BlobStoreExt, MemoryStore};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = MemoryStore::new();
//! let first = store.put(b"hello".to_vec().into()).await?;
//! let again = store.put(b"hello".to_vec().into()).await?;
//! assert_eq!(first.digest, again.digest);
//! assert_eq!(again.new_bytes, 0, "identical content is stored once");
//! assert_eq!(&store.get(&first.digest).await?[..], b"hello");
//! assert_eq!(
//!     first.digest.to_string(),
//!     "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
//! );
//! assert!(store.has_all(&[first.digest]).await?);
//!
//! // Batches keep their order and go into one pack; content already
//! // packed adds no bytes.
//! let puts = store.put_many(vec![b"hi".to_vec().into(), b"hey".to_vec().into()]).await?;
//! assert_eq!((puts[0].new_bytes, puts[1].new_bytes), (2, 3));
//! let again = store.put_many(vec![b"hey".to_vec().into(), b"yo".to_vec().into()]).await?;
//! assert_eq!((again[0].new_bytes, again[1].new_bytes), (0, 2));
//! let got = store.get_many(&[puts[1].digest, puts[0].digest]).await;
//! assert!(matches!(&got[0], Ok(bytes) if &bytes[..] == b"hey"));
//! # Ok::<(), handoff_store::Error>(())
//! # }).unwrap();
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod counting;
mod digest;
mod document;
mod error;
mod fs;
pub mod location;
pub mod maintain;
mod memory;
#[cfg(feature = "object-store")]
mod object;
mod overlay;
pub mod pack;
mod packed;
pub mod raw;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
pub use bytes::Bytes;

pub use counting::{Counting, Counts};
pub use digest::{Digest, Hasher};
pub use document::{
    DocKey, DocumentStore, DocumentStoreExt, DynDocumentStore, MAX_VERSION, Version, VersionInfo,
    Versioned,
};
pub use error::{Error, Result};
pub use fs::{FsStore, StoredAt};
pub use memory::MemoryStore;
#[cfg(feature = "object-store")]
pub use object::ObjectStoreBackend;
/// The `object_store` crate this build uses, for hosts that configure
/// clients themselves.
#[cfg(feature = "object-store")]
pub use object_store;
pub use overlay::Overlay;
pub use packed::{MERGE_INDEXES_AT, PREPARED_TTL, VIEW_TTL};
pub use raw::{Area, Objects};

/// What a [`BlobStore::put`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Put {
    /// The name of the stored content.
    pub digest: Digest,
    /// How many bytes this call added to the store: 0 when the content was
    /// already present.
    pub new_bytes: u64,
}

/// A content-addressed, verified blob store.
///
/// Implementations must be safe to call concurrently, store identical content
/// once, and never return bytes that do not hash to the requested digest.
#[async_trait]
pub trait BlobStore: Send + Sync + Debug {
    /// Stores `data` under its SHA-256 digest. Idempotent.
    async fn put(&self, data: Bytes) -> Result<Put>;

    /// Returns the bytes stored under `digest`, verified.
    ///
    /// Errors with [`Error::NotFound`] when absent and [`Error::Corrupted`]
    /// when the stored bytes do not hash to `digest`.
    async fn get(&self, digest: &Digest) -> Result<Bytes>;

    /// Whether a blob is stored under `digest` (not verified: use `get`).
    async fn has(&self, digest: &Digest) -> Result<bool>;

    /// Stores every blob of `blobs` (as [`BlobStoreExt::put_if_absent`]
    /// would), returning one [`Put`] per blob, in order.
    ///
    /// Like `put_if_absent`, it may trust a blob that is already there
    /// (use [`BlobStore::put`] to replace a corrupted copy). Stops at the
    /// first error; blobs stored before it stay stored (they are
    /// content-addressed, so that is harmless). The default runs
    /// [`MANY_IN_FLIGHT`] puts at a time.
    ///
    /// The backends here pack the batch ([`pack`]): its blobs under
    /// [`pack::PACK_THRESHOLD`] go into a few pack objects, the others are
    /// stored loose, and one index naming the packs is written last. So a
    /// call costs a few requests however many blobs it has, and its packed
    /// blobs become visible together, after its loose ones — a batch may
    /// end with a small blob that names the others (a snapshot manifest).
    /// What counts as already stored is what the store's indexes name (and,
    /// for large blobs, the loose copy): a small blob that only a single
    /// [`BlobStore::put`] stored may be packed again, which costs bytes,
    /// never correctness.
    async fn put_many(&self, blobs: Vec<Bytes>) -> Result<Vec<Put>> {
        use futures_util::stream::{self, StreamExt, TryStreamExt};
        stream::iter(blobs)
            .map(|data| self.put_if_absent(data))
            .buffered(MANY_IN_FLIGHT)
            .try_collect()
            .await
    }

    /// Fetches every blob of `digests`, verified: one result per digest, in
    /// order, each failing alone (a missing or corrupted blob does not stop
    /// the others). Backends override this to batch; the default runs
    /// [`MANY_IN_FLIGHT`] gets at a time.
    async fn get_many(&self, digests: &[Digest]) -> Vec<Result<Bytes>> {
        use futures_util::stream::{self, StreamExt};
        // Owned digests: a stream over borrowed ones makes the future not
        // `Send` for every lifetime.
        stream::iter(digests.to_vec())
            .map(|digest| async move { self.get(&digest).await })
            .buffered(MANY_IN_FLIGHT)
            .collect()
            .await
    }

    /// Stores the content of the file at `path`.
    ///
    /// Backends override this to stream in constant memory; the default reads
    /// the file whole.
    async fn put_file(&self, path: &std::path::Path) -> Result<Put> {
        let data = tokio::fs::read(path).await.map_err(|source| Error::Io {
            action: "read",
            path: path.to_owned(),
            source,
        })?;
        self.put(Bytes::from(data)).await
    }

    /// Writes the blob to a new file at `path`, verified; the file appears
    /// only once its whole content has been checked against `digest`.
    /// Returns the size.
    ///
    /// Backends override this to stream in constant memory; the default
    /// holds the blob whole.
    async fn get_to_file(&self, digest: &Digest, path: &std::path::Path) -> Result<u64> {
        let data = self.get(digest).await?;
        let path = path.to_owned();
        let len = data.len() as u64;
        tokio::task::spawn_blocking(move || {
            fs::write_new_file(&path, |file| std::io::Write::write_all(file, &data))
        })
        .await
        .map_err(|source| Error::Task {
            what: format!("write {digest} to a file"),
            source,
        })??;
        Ok(len)
    }

    /// Writes the blob into `file`, an open file the caller owns (`path`
    /// names it in errors), hashing the bytes on the way; returns the size.
    /// A blob whose bytes do not hash to `digest` is [`Error::Corrupted`]
    /// once they are written: the caller must then discard the file (it
    /// makes the file visible only after this returned `Ok`).
    ///
    /// Backends override this to stream a large blob in bounded memory,
    /// whatever its size; the default holds the blob whole.
    async fn write_to_file(
        &self,
        digest: &Digest,
        file: std::fs::File,
        path: &std::path::Path,
    ) -> Result<u64> {
        let data = self.get(digest).await?;
        let len = data.len() as u64;
        let owned = path.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut file = file;
            std::io::Write::write_all(&mut file, &data).map_err(|source| Error::Io {
                action: "write",
                path: owned,
                source,
            })
        })
        .await
        .map_err(|source| Error::Task {
            what: format!("write {digest} to a file"),
            source,
        })??;
        Ok(len)
    }

    /// Every stored digest, for integrity checks. Backends that cannot
    /// enumerate say so with [`Error::Unsupported`].
    async fn list_blobs(&self) -> Result<Vec<Digest>> {
        Err(Error::Unsupported {
            operation: "list blobs",
            store: self.describe(),
        })
    }

    /// Deletes a blob (only `fsck --repair` does this, for corrupted
    /// copies): a loose copy is removed, and a packed one is withdrawn from
    /// the indexes that name it. Backends that cannot say so with
    /// [`Error::Unsupported`].
    async fn remove_blob(&self, digest: &Digest) -> Result<()> {
        let _ = digest;
        Err(Error::Unsupported {
            operation: "remove blobs",
            store: self.describe(),
        })
    }

    /// Temporary files at least `min_age` old that a writer which stopped
    /// (killed, crashed) left in the store, named for people. Backends
    /// without such files return none.
    async fn stale_temporaries(&self, min_age: std::time::Duration) -> Result<Vec<String>> {
        let _ = min_age;
        Ok(Vec::new())
    }

    /// Removes what [`BlobStore::stale_temporaries`] lists; returns what was
    /// removed. A temporary file younger than `min_age` may belong to a
    /// writer still at work and is never removed.
    async fn remove_stale_temporaries(&self, min_age: std::time::Duration) -> Result<Vec<String>> {
        let _ = min_age;
        Ok(Vec::new())
    }

    /// Gets ready for a batch about to be stored: a packed store reads its
    /// indexes now (one listing on an object store), while the caller does
    /// other work, and the next [`BlobStore::put_many`] within
    /// [`PREPARED_TTL`] skips that round trip. Stores with nothing to
    /// prepare do nothing. An error here is the one that `put_many` would
    /// have met; a caller may ignore it and let `put_many` try again.
    async fn prepare(&self) -> Result<()> {
        Ok(())
    }

    /// The store's raw object layer, for integrity checks and garbage
    /// collection ([`maintain`]); `None` for stores without one.
    fn objects(&self) -> Option<&dyn Objects> {
        None
    }

    /// A short human-readable name of the store, used in error messages
    /// (for example the directory of a filesystem store).
    fn describe(&self) -> String;
}

/// How many operations the default [`BlobStore::put_many`] and
/// [`BlobStore::get_many`] keep in flight.
pub const MANY_IN_FLIGHT: usize = 8;

/// How many items each thread takes when `items` pieces of small-file work
/// (blob reads and writes, working-tree writes) are spread over threads:
/// four threads per core, at most eight, each with at least
/// `min_per_worker` items, so that small batches stay on one thread.
///
/// More threads than cores, because such work is mostly waiting on the
/// filesystem (inode allocation, directory updates), which overlaps.
/// [`FsStore`]'s batches use it, and so does `handoff-workspace`'s apply.
pub fn chunk_len(items: usize, min_per_worker: usize) -> usize {
    /// At most this many threads work on one batch.
    const MAX_WORKERS: usize = 8;
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let workers = cores
        .saturating_mul(4)
        .min(MAX_WORKERS)
        .min(items / min_per_worker.max(1))
        .max(1);
    items.div_ceil(workers).max(1)
}

/// A type-erased blob store.
pub type DynBlobStore = dyn BlobStore;

/// A full store: blobs and versioned documents, as every backend here
/// provides. `Arc<dyn Store>` converts to `&dyn BlobStore` and
/// `&dyn DocumentStore` where those are wanted.
pub trait Store: BlobStore + DocumentStore {}

impl<T: BlobStore + DocumentStore + ?Sized> Store for T {}

/// Conveniences derived from [`BlobStore`]'s operations.
#[async_trait]
pub trait BlobStoreExt: BlobStore {
    /// Stores `data` unless the store already has it; returns what happened.
    ///
    /// Cheaper than [`BlobStore::put`] for remote backends when most content
    /// is already present, because only a `has` crosses the wire.
    async fn put_if_absent(&self, data: Bytes) -> Result<Put> {
        let digest = Digest::of(&data);
        if self.has(&digest).await? {
            return Ok(Put {
                digest,
                new_bytes: 0,
            });
        }
        self.put(data).await
    }

    /// Whether every digest in `digests` is present.
    async fn has_all(&self, digests: &[Digest]) -> Result<bool> {
        for digest in digests {
            if !self.has(digest).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

impl<T: BlobStore + ?Sized> BlobStoreExt for T {}

macro_rules! forward_blob_store {
    ($($ptr:ty),*) => {$(
        #[async_trait]
        impl<T: BlobStore + ?Sized> BlobStore for $ptr {
            async fn put(&self, data: Bytes) -> Result<Put> {
                (**self).put(data).await
            }
            async fn get(&self, digest: &Digest) -> Result<Bytes> {
                (**self).get(digest).await
            }
            async fn has(&self, digest: &Digest) -> Result<bool> {
                (**self).has(digest).await
            }
            async fn put_many(&self, blobs: Vec<Bytes>) -> Result<Vec<Put>> {
                (**self).put_many(blobs).await
            }
            async fn get_many(&self, digests: &[Digest]) -> Vec<Result<Bytes>> {
                (**self).get_many(digests).await
            }
            async fn put_file(&self, path: &std::path::Path) -> Result<Put> {
                (**self).put_file(path).await
            }
            async fn get_to_file(&self, digest: &Digest, path: &std::path::Path) -> Result<u64> {
                (**self).get_to_file(digest, path).await
            }
            async fn write_to_file(&self, digest: &Digest, file: std::fs::File, path: &std::path::Path) -> Result<u64> {
                (**self).write_to_file(digest, file, path).await
            }
            async fn list_blobs(&self) -> Result<Vec<Digest>> {
                (**self).list_blobs().await
            }
            async fn remove_blob(&self, digest: &Digest) -> Result<()> {
                (**self).remove_blob(digest).await
            }
            async fn stale_temporaries(&self, min_age: std::time::Duration) -> Result<Vec<String>> {
                (**self).stale_temporaries(min_age).await
            }
            async fn remove_stale_temporaries(&self, min_age: std::time::Duration) -> Result<Vec<String>> {
                (**self).remove_stale_temporaries(min_age).await
            }
            async fn prepare(&self) -> Result<()> {
                (**self).prepare().await
            }
            fn objects(&self) -> Option<&dyn Objects> {
                (**self).objects()
            }
            fn describe(&self) -> String {
                (**self).describe()
            }
        }
    )*};
}

forward_blob_store!(&T, Box<T>, Arc<T>);
