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
    async fn write_to_file(
        &self,
        digest: &Digest,
        file: std::fs::File,
        path: &std::path::Path,
    ) -> Result<u64> {
        self.tick(1);
        self.inner.write_to_file(digest, file, path).await
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
    /// Passed on uncounted: it reads what the next `put_many` would.
    async fn prepare(&self) -> Result<()> {
        self.inner.prepare().await
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

#[cfg(feature = "object-store")]
pub use requests::{Method, Request, RequestCounts, Requests};

/// Counting at the `object_store` level: the HTTP requests an object store
/// is sent, by method.
#[cfg(feature = "object-store")]
mod requests {
    use std::fmt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use async_trait::async_trait;
    use futures_util::future::BoxFuture;
    use futures_util::stream::{BoxStream, StreamExt};
    use object_store::path::Path;
    use object_store::{
        CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
        PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
    };

    /// The kind of a request.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    #[non_exhaustive]
    pub enum Method {
        /// HEAD: does an object exist.
        Head,
        /// GET, of a whole object or a range.
        Get,
        /// PUT of an object, or of a part of a multipart upload.
        Put,
        /// Starting, completing or aborting a multipart upload.
        Multipart,
        /// One page (up to 1,000 objects) of a listing.
        List,
        /// DELETE of one object.
        Delete,
        /// A server-side COPY.
        Copy,
    }

    /// A request about to be sent.
    #[derive(Debug, Clone, Copy)]
    pub struct Request<'a> {
        /// Its kind.
        pub method: Method,
        /// The object (or listing prefix) it names.
        pub path: &'a Path,
    }

    /// How many requests of each kind a [`Requests`] store has sent.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct RequestCounts {
        /// HEAD requests.
        pub head: u64,
        /// GET requests (each range of a multi-range read counts).
        pub get: u64,
        /// PUT requests (each part of a multipart upload counts).
        pub put: u64,
        /// Multipart upload starts, completions and aborts.
        pub multipart: u64,
        /// Listing pages.
        pub list: u64,
        /// DELETE requests.
        pub delete: u64,
        /// COPY requests.
        pub copy: u64,
    }

    impl RequestCounts {
        /// Every request.
        pub fn total(&self) -> u64 {
            self.head + self.get + self.put + self.multipart + self.list + self.delete + self.copy
        }
    }

    impl fmt::Display for RequestCounts {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(
                f,
                "{} requests ({} HEAD, {} GET, {} PUT, {} multipart, {} LIST, {} DELETE, {} COPY)",
                self.total(),
                self.head,
                self.get,
                self.put,
                self.multipart,
                self.list,
                self.delete,
                self.copy
            )
        }
    }

    /// What runs before each request: it may wait (tests pause a writer at
    /// a chosen request to run something else in between).
    pub type Hook = Arc<dyn Fn(Request<'_>) -> BoxFuture<'static, ()> + Send + Sync>;

    #[derive(Debug, Default)]
    struct Counters([AtomicU64; 7]);

    /// An `object_store` that counts the requests sent to `inner`, by
    /// method, as the server would see them: a multi-range read is one GET
    /// per range, a listing one LIST per page of 1,000, a multipart upload
    /// its start, parts and completion.
    #[derive(Clone)]
    pub struct Requests {
        inner: Arc<dyn ObjectStore>,
        counters: Arc<Counters>,
        hook: Option<Hook>,
    }

    impl fmt::Debug for Requests {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Requests")
                .field("inner", &self.inner)
                .field("counts", &self.counts())
                .finish()
        }
    }

    impl fmt::Display for Requests {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "counting {}", self.inner)
        }
    }

    impl Requests {
        /// Counts the requests sent to `inner`.
        pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
            Self {
                inner,
                counters: Arc::default(),
                hook: None,
            }
        }

        /// Runs `hook` before each request.
        pub fn with_hook(mut self, hook: Hook) -> Self {
            self.hook = Some(hook);
            self
        }

        /// The counts so far.
        pub fn counts(&self) -> RequestCounts {
            let c = |m: Method| self.counters.0[m as usize].load(Ordering::Relaxed);
            RequestCounts {
                head: c(Method::Head),
                get: c(Method::Get),
                put: c(Method::Put),
                multipart: c(Method::Multipart),
                list: c(Method::List),
                delete: c(Method::Delete),
                copy: c(Method::Copy),
            }
        }

        /// Sets every count back to 0.
        pub fn reset(&self) {
            for counter in &self.counters.0 {
                counter.store(0, Ordering::Relaxed);
            }
        }

        async fn sent(&self, method: Method, path: &Path) {
            self.counters.0[method as usize].fetch_add(1, Ordering::Relaxed);
            if let Some(hook) = &self.hook {
                hook(Request { method, path }).await;
            }
        }

        fn count(&self, method: Method, n: u64) {
            self.counters.0[method as usize].fetch_add(n, Ordering::Relaxed);
        }

        /// A listing stream that counts one LIST per page of 1,000.
        fn counted_list(
            &self,
            stream: BoxStream<'static, object_store::Result<ObjectMeta>>,
        ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
            let counters = self.counters.clone();
            counters.0[Method::List as usize].fetch_add(1, Ordering::Relaxed);
            stream
                .enumerate()
                .map(move |(i, item)| {
                    if i > 0 && i % 1000 == 0 {
                        counters.0[Method::List as usize].fetch_add(1, Ordering::Relaxed);
                    }
                    item
                })
                .boxed()
        }
    }

    #[derive(Debug)]
    struct CountedUpload {
        inner: Box<dyn MultipartUpload>,
        counters: Arc<Counters>,
    }

    #[async_trait]
    impl MultipartUpload for CountedUpload {
        fn put_part(&mut self, data: PutPayload) -> UploadPart {
            self.counters.0[Method::Put as usize].fetch_add(1, Ordering::Relaxed);
            self.inner.put_part(data)
        }

        async fn complete(&mut self) -> object_store::Result<PutResult> {
            self.counters.0[Method::Multipart as usize].fetch_add(1, Ordering::Relaxed);
            self.inner.complete().await
        }

        async fn abort(&mut self) -> object_store::Result<()> {
            self.counters.0[Method::Multipart as usize].fetch_add(1, Ordering::Relaxed);
            self.inner.abort().await
        }
    }

    #[async_trait]
    impl ObjectStore for Requests {
        async fn put_opts(
            &self,
            location: &Path,
            payload: PutPayload,
            opts: PutOptions,
        ) -> object_store::Result<PutResult> {
            self.sent(Method::Put, location).await;
            self.inner.put_opts(location, payload, opts).await
        }

        async fn put_multipart_opts(
            &self,
            location: &Path,
            opts: PutMultipartOptions,
        ) -> object_store::Result<Box<dyn MultipartUpload>> {
            self.sent(Method::Multipart, location).await;
            let inner = self.inner.put_multipart_opts(location, opts).await?;
            Ok(Box::new(CountedUpload {
                inner,
                counters: self.counters.clone(),
            }))
        }

        async fn get_opts(
            &self,
            location: &Path,
            options: GetOptions,
        ) -> object_store::Result<GetResult> {
            let method = if options.head {
                Method::Head
            } else {
                Method::Get
            };
            self.sent(method, location).await;
            self.inner.get_opts(location, options).await
        }

        // `get_ranges` is left to the trait's default, which reads each
        // (merged) range with `get_opts`: counted one GET per range, as a
        // server sees it.

        fn delete_stream(
            &self,
            locations: BoxStream<'static, object_store::Result<Path>>,
        ) -> BoxStream<'static, object_store::Result<Path>> {
            let counters = self.counters.clone();
            let counted = locations
                .map(move |path| {
                    counters.0[Method::Delete as usize].fetch_add(1, Ordering::Relaxed);
                    path
                })
                .boxed();
            self.inner.delete_stream(counted)
        }

        fn list(
            &self,
            prefix: Option<&Path>,
        ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
            self.counted_list(self.inner.list(prefix))
        }

        fn list_with_offset(
            &self,
            prefix: Option<&Path>,
            offset: &Path,
        ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
            self.counted_list(self.inner.list_with_offset(prefix, offset))
        }

        async fn list_with_delimiter(
            &self,
            prefix: Option<&Path>,
        ) -> object_store::Result<ListResult> {
            let root = Path::default();
            self.sent(Method::List, prefix.unwrap_or(&root)).await;
            let result = self.inner.list_with_delimiter(prefix).await?;
            let entries = (result.objects.len() + result.common_prefixes.len()) as u64;
            self.count(Method::List, entries.saturating_sub(1) / 1000);
            Ok(result)
        }

        async fn copy_opts(
            &self,
            from: &Path,
            to: &Path,
            options: CopyOptions,
        ) -> object_store::Result<()> {
            self.sent(Method::Copy, from).await;
            self.inner.copy_opts(from, to, options).await
        }
    }
}
