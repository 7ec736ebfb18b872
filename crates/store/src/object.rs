//! [`ObjectStoreBackend`]: blobs and documents on any [`object_store`]
//! backend — S3 and S3-compatible servers, Google Cloud Storage, Azure Blob
//! Storage, or a local directory — with the same layout as [`FsStore`]
//! (`blobs/sha256/<2>/<62>`, `docs/<key>/<version>.v`) under a prefix.
//!
//! Conditional writes use the backend's own mechanism: a new blob or
//! document version is written with [`PutMode::Create`] (S3 `If-None-Match:
//! *`, GCS generation precondition, Azure `If-None-Match`, `link(2)` for local
//! directories). Credentials and endpoints come from the environment
//! variables `object_store` reads (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`,
//! `GOOGLE_SERVICE_ACCOUNT`, `AZURE_STORAGE_ACCOUNT_NAME`, …), so pointing
//! handoff at an S3-compatible server on `http://127.0.0.1:PORT` needs no code.
//!
//! [`FsStore`]: crate::FsStore

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::document::{next_version, parse_version_name, under_prefix, version_name};
use crate::packed::{self, Loose, Packs};
use crate::raw::{Area, Listed, Objects};
use crate::{
    BlobStore, Digest, DocKey, DocumentStore, Error, Hasher, Put, Result, Version, VersionInfo,
    Versioned,
};

/// How many documents a handle remembers the newest seen version of.
const SEEN_DOCUMENTS: usize = 4096;

/// Uploads of at least this size go as multipart uploads, streamed from
/// disk, in parts of this size (unless [`ObjectStoreBackend::with_part_size`]
/// says otherwise).
const MULTIPART_THRESHOLD: u64 = 8 << 20;

/// Blobs and documents on an `object_store` backend.
#[derive(Debug, Clone)]
pub struct ObjectStoreBackend {
    store: Arc<dyn ObjectStore>,
    prefix: Vec<String>,
    name: String,
    packs: Arc<Packs>,
    /// Files at least this large are uploaded in parts of this size.
    part_size: usize,
    /// For each document, the newest version this handle saw stored: a
    /// writer that read version n need not check again that n exists
    /// before it creates n + 1 (one request fewer per update).
    seen: Arc<Mutex<HashMap<DocKey, Version>>>,
}

impl ObjectStoreBackend {
    /// Wraps `store`, keeping everything under `prefix` (`/`-separated, may
    /// be empty). `name` is how errors refer to the store.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str, name: impl Into<String>) -> Self {
        Self {
            store,
            prefix: prefix
                .split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            name: name.into(),
            packs: Arc::default(),
            part_size: MULTIPART_THRESHOLD as usize,
            seen: Arc::default(),
        }
    }

    /// Uploads files of at least `bytes` (default 8 MiB) as multipart
    /// uploads in parts of `bytes`, at most a few parts in flight: the
    /// memory an upload takes, whatever the file's size. S3 wants parts of
    /// at least 5 MiB but the last; tests lower it to exercise several
    /// parts with small files.
    pub fn with_part_size(mut self, bytes: usize) -> Self {
        self.part_size = bytes.max(1);
        self
    }

    fn saw(&self, key: &DocKey, version: Version) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() >= SEEN_DOCUMENTS && !seen.contains_key(key) {
            seen.clear();
        }
        let newest = seen.entry(key.clone()).or_insert(version);
        *newest = (*newest).max(version);
    }

    fn has_seen(&self, key: &DocKey, version: Version) -> bool {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .is_some_and(|v| *v >= version)
    }

    fn object_path(&self, area: Area, name: &Digest) -> Path {
        let parts = area.name_parts(name);
        self.path(
            area.dir()
                .iter()
                .copied()
                .chain(parts.iter().map(String::as_str)),
        )
    }

    /// Opens the store a URL names: `s3://bucket/prefix`, `gs://bucket/prefix`,
    /// `az://container/prefix` (also `azure://`, `abfs://`, `abfss://`), or
    /// `file:///absolute/dir`. Cloud credentials and endpoints come from the
    /// environment.
    pub fn from_url(text: &str) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidLocation {
            location: text.to_owned(),
            reason,
        };
        let url = url::Url::parse(text).map_err(|e| invalid(e.to_string()))?;
        Self::install_tls_provider();
        let built: Result<Arc<dyn ObjectStore>, object_store::Error> = match url.scheme() {
            "s3" | "s3a" => object_store::aws::AmazonS3Builder::from_env()
                .with_url(text)
                .build()
                .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
            "gs" => object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_url(text)
                .build()
                .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
            "az" | "azure" | "abfs" | "abfss" => {
                object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_url(text)
                    .build()
                    .map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
            }
            "file" => {
                let dir = url
                    .to_file_path()
                    .map_err(|()| invalid("a file:// URL needs an absolute path".to_owned()))?;
                std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
                    action: "create store directory",
                    path: dir.clone(),
                    source,
                })?;
                object_store::local::LocalFileSystem::new_with_prefix(&dir)
                    .map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
            }
            other => return Err(invalid(format!("unsupported scheme {other}://"))),
        };
        let store = built.map_err(|e| invalid(e.to_string()))?;
        let prefix = if url.scheme() == "file" {
            ""
        } else {
            url.path()
        };
        Ok(Self::new(store, prefix, text.trim_end_matches('/')))
    }

    /// How the store names itself in errors.
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// Installs rustls's ring crypto provider as the process default unless
    /// the host already chose one. [`ObjectStoreBackend::from_url`] does this;
    /// hosts that build `object_store` clients themselves call it first
    /// (this build of reqwest carries no provider of its own, which keeps the
    /// build free of a C crypto library).
    pub fn install_tls_provider() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }

    fn path<'a>(&self, rest: impl IntoIterator<Item = &'a str>) -> Path {
        let parts: Vec<String> = self
            .prefix
            .iter()
            .cloned()
            .chain(rest.into_iter().map(str::to_owned))
            .collect();
        Path::from_iter(parts)
    }

    fn blob_path(&self, digest: &Digest) -> Path {
        let hex = digest.hex();
        let (shard, rest) = hex.split_at(2);
        self.path(["blobs", "sha256", shard, rest])
    }

    fn doc_dir(&self, key: &DocKey) -> Path {
        self.path(std::iter::once("docs").chain(key.as_str().split('/')))
    }

    fn doc_path(&self, key: &DocKey, version: Version) -> Path {
        let name = version_name(version);
        Path::from_iter(
            self.doc_dir(key)
                .parts()
                .map(|p| p.as_ref().to_owned())
                .chain([name]),
        )
    }

    fn backend(
        &self,
        action: &'static str,
        object: &Path,
    ) -> impl FnOnce(object_store::Error) -> Error {
        let object = object.to_string();
        let store = self.name();
        move |source| Error::Backend {
            action,
            object,
            store,
            source: Box::new(source),
        }
    }

    async fn version_list(&self, key: &DocKey) -> Result<Vec<VersionInfo>> {
        let dir = self.doc_dir(key);
        let listing = self
            .store
            .list_with_delimiter(Some(&dir))
            .await
            .map_err(self.backend("list versions of", &dir))?;
        let mut versions: Vec<VersionInfo> = listing
            .objects
            .iter()
            .filter_map(|o| {
                let version = o.location.filename().and_then(parse_version_name)?;
                Some(VersionInfo {
                    version,
                    modified: Some(o.last_modified.into()),
                })
            })
            .collect();
        versions.sort_by_key(|v| v.version);
        if let Some(newest) = versions.last() {
            self.saw(key, newest.version);
        }
        Ok(versions)
    }

    async fn latest_version(&self, key: &DocKey) -> Result<Option<Version>> {
        Ok(self.version_list(key).await?.last().map(|v| v.version))
    }
}

#[async_trait]
impl Objects for ObjectStoreBackend {
    async fn create_object(&self, area: Area, name: &Digest, data: Bytes) -> Result<bool> {
        let path = self.object_path(area, name);
        let create = PutOptions::from(PutMode::Create);
        match self
            .store
            .put_opts(&path, PutPayload::from(data), create)
            .await
        {
            Ok(_) => Ok(true),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Ok(false),
            Err(e) => Err(self.backend("write", &path)(e)),
        }
    }

    async fn replace_object(&self, area: Area, name: &Digest, data: Bytes) -> Result<()> {
        let path = self.object_path(area, name);
        self.store
            .put(&path, PutPayload::from(data))
            .await
            .map_err(self.backend("write", &path))?;
        Ok(())
    }

    async fn read_object(&self, area: Area, name: &Digest) -> Result<Option<Bytes>> {
        let path = self.object_path(area, name);
        match self.store.get(&path).await {
            Ok(result) => Ok(Some(
                result.bytes().await.map_err(self.backend("read", &path))?,
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.backend("read", &path)(e)),
        }
    }

    async fn read_ranges(
        &self,
        area: Area,
        name: &Digest,
        ranges: &[Range<u64>],
    ) -> Result<Option<Vec<Bytes>>> {
        let path = self.object_path(area, name);
        match self.store.get_ranges(&path, ranges).await {
            Ok(parts) => Ok(Some(parts)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.backend("read ranges of", &path)(e)),
        }
    }

    async fn object_exists(&self, area: Area, name: &Digest) -> Result<bool> {
        let path = self.object_path(area, name);
        match self.store.head(&path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.backend("inspect", &path)(e)),
        }
    }

    async fn list_objects(&self, area: Area) -> Result<Vec<Listed>> {
        let base = self.path(area.dir().iter().copied());
        let depth = base.parts().count();
        let mut stream = self.store.list(Some(&base));
        let mut out = Vec::new();
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(self.backend("list", &base))?;
            let parts: Vec<String> = meta
                .location
                .parts()
                .skip(depth)
                .map(|p| p.as_ref().to_owned())
                .collect();
            let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
            if let Some(name) = area.parse_name(&parts) {
                out.push(Listed {
                    name,
                    size: meta.size,
                    modified: Some(meta.last_modified.into()),
                });
            }
        }
        Ok(out)
    }

    async fn remove_object(&self, area: Area, name: &Digest) -> Result<()> {
        let path = self.object_path(area, name);
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.backend("remove", &path)(e)),
        }
    }

    async fn move_object(&self, from: Area, to: Area, name: &Digest) -> Result<()> {
        let source = self.object_path(from, name);
        let target = self.object_path(to, name);
        self.store
            .rename(&source, &target)
            .await
            .map_err(self.backend("move", &source))
    }
}

#[async_trait]
impl Loose for ObjectStoreBackend {
    fn packs(&self) -> &Packs {
        &self.packs
    }

    fn store_name(&self) -> String {
        self.name()
    }

    async fn loose_get_many(&self, digests: &[Digest]) -> Vec<Result<Bytes>> {
        use futures_util::stream;
        stream::iter(digests.to_vec())
            .map(|digest| async move { self.loose_get(&digest).await })
            .buffered(crate::MANY_IN_FLIGHT)
            .collect()
            .await
    }

    async fn loose_has(&self, digest: &Digest) -> Result<bool> {
        self.object_exists(Area::Blobs, digest).await
    }

    async fn loose_put(&self, data: Bytes) -> Result<Put> {
        let digest = Digest::of(&data);
        let path = self.blob_path(&digest);
        let len = data.len() as u64;
        let create = PutOptions::from(PutMode::Create);
        match self
            .store
            .put_opts(&path, PutPayload::from(data.clone()), create)
            .await
        {
            Ok(_) => Ok(Put {
                digest,
                new_bytes: len,
            }),
            Err(object_store::Error::AlreadyExists { .. }) => match self.loose_get(&digest).await {
                Ok(_) => Ok(Put {
                    digest,
                    new_bytes: 0,
                }),
                // A corrupted copy is replaced by the correct content.
                Err(Error::Corrupted { .. }) => {
                    self.store
                        .put(&path, PutPayload::from(data))
                        .await
                        .map_err(self.backend("replace corrupted blob", &path))?;
                    Ok(Put {
                        digest,
                        new_bytes: len,
                    })
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(self.backend("store blob", &path)(e)),
        }
    }
}

impl ObjectStoreBackend {
    async fn loose_get(&self, digest: &Digest) -> Result<Bytes> {
        let path = self.blob_path(digest);
        let data = match self.store.get(&path).await {
            Ok(result) => result
                .bytes()
                .await
                .map_err(self.backend("read blob", &path))?,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(Error::NotFound {
                    digest: *digest,
                    store: self.name(),
                });
            }
            Err(e) => return Err(self.backend("read blob", &path)(e)),
        };
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
impl BlobStore for ObjectStoreBackend {
    async fn put(&self, data: Bytes) -> Result<Put> {
        self.loose_put(data).await
    }

    async fn get(&self, digest: &Digest) -> Result<Bytes> {
        packed::get_one(self, digest).await
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
        let base = self.path(["blobs", "sha256"]);
        let mut stream = self.store.list(Some(&base));
        let mut out = Vec::new();
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(self.backend("list blobs under", &base))?;
            let parts: Vec<String> = meta
                .location
                .parts()
                .map(|p| p.as_ref().to_owned())
                .collect();
            if let [.., shard, rest] = parts.as_slice()
                && let Ok(digest) = format!("sha256:{shard}{rest}").parse::<Digest>()
            {
                out.push(digest);
            }
        }
        out.extend(packed::packed_digests(self).await?);
        out.sort();
        out.dedup();
        Ok(out)
    }

    async fn remove_blob(&self, digest: &Digest) -> Result<()> {
        self.remove_object(Area::Blobs, digest).await?;
        packed::unindex(self, digest).await
    }

    async fn put_file(&self, path: &FsPath) -> Result<Put> {
        let io_err = |action: &'static str| {
            let path = path.to_owned();
            move |source: std::io::Error| Error::Io {
                action,
                path,
                source,
            }
        };
        let owned = path.to_owned();
        let (digest, len) = tokio::task::spawn_blocking(move || crate::fs::hash_file(&owned))
            .await
            .map_err(|source| Error::Task {
                what: format!("hash {}", path.display()),
                source,
            })?
            .map_err(io_err("read"))?;
        if self.has(&digest).await? {
            return Ok(Put {
                digest,
                new_bytes: 0,
            });
        }
        if len < self.part_size as u64 {
            let data = tokio::fs::read(path).await.map_err(io_err("read"))?;
            if Digest::of(&data) != digest {
                return Err(io_err("store")(changed_while_reading()));
            }
            return self.put(Bytes::from(data)).await;
        }
        // Stream in parts, hashing again on the way: if the file changed since
        // it was hashed, the upload is aborted rather than stored under a
        // digest that does not match.
        let target = self.blob_path(&digest);
        let upload = self
            .store
            .put_multipart(&target)
            .await
            .map_err(self.backend("start upload of", &target))?;
        let mut writer = object_store::WriteMultipart::new_with_chunk_size(upload, self.part_size);
        let mut file = tokio::fs::File::open(path).await.map_err(io_err("open"))?;
        let mut hasher = Hasher::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut sent = 0u64;
        loop {
            let n = match file.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(io_err("read")(e));
                }
            };
            hasher.update(&buf[..n]);
            writer
                .wait_for_capacity(4)
                .await
                .map_err(self.backend("upload", &target))?;
            writer.write(&buf[..n]);
            sent += n as u64;
        }
        if hasher.finish() != digest || sent != len {
            let _ = writer.abort().await;
            return Err(io_err("store")(changed_while_reading()));
        }
        writer
            .finish()
            .await
            .map_err(self.backend("finish upload of", &target))?;
        Ok(Put {
            digest,
            new_bytes: len,
        })
    }

    async fn write_to_file(
        &self,
        digest: &Digest,
        file: std::fs::File,
        dest: &FsPath,
    ) -> Result<u64> {
        let io_err = |action: &'static str| {
            let path = dest.to_owned();
            move |source: std::io::Error| Error::Io {
                action,
                path,
                source,
            }
        };
        let mut out = tokio::fs::File::from_std(file);
        let path = self.blob_path(digest);
        let result = match self.store.get(&path).await {
            Ok(result) => result,
            // Not loose: small blobs are packed, and held whole anyway.
            Err(object_store::Error::NotFound { .. }) => {
                let data = packed::get_one(self, digest).await?;
                out.write_all(&data).await.map_err(io_err("write"))?;
                out.flush().await.map_err(io_err("write"))?;
                return Ok(data.len() as u64);
            }
            Err(e) => return Err(self.backend("read blob", &path)(e)),
        };
        // The response body arrives in chunks: memory stays a few of them,
        // whatever the blob's size.
        let mut hasher = Hasher::new();
        let mut len = 0u64;
        let mut stream = result.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(self.backend("read blob", &path))?;
            hasher.update(&chunk);
            len += chunk.len() as u64;
            out.write_all(&chunk).await.map_err(io_err("write"))?;
        }
        out.flush().await.map_err(io_err("write"))?;
        let actual = hasher.finish();
        if actual != *digest {
            return Err(Error::Corrupted {
                digest: *digest,
                actual,
                len,
                store: self.name(),
            });
        }
        Ok(len)
    }

    async fn get_to_file(&self, digest: &Digest, dest: &FsPath) -> Result<u64> {
        let path = self.blob_path(digest);
        let result = match self.store.get(&path).await {
            Ok(result) => result,
            // Not loose: small blobs are packed, and held whole anyway.
            Err(object_store::Error::NotFound { .. }) => {
                let data = packed::get_one(self, digest).await?;
                let owned = dest.to_owned();
                let len = data.len() as u64;
                tokio::task::spawn_blocking(move || {
                    crate::fs::write_new_file(&owned, |file| std::io::Write::write_all(file, &data))
                })
                .await
                .map_err(|source| Error::Task {
                    what: format!("write {digest} to a file"),
                    source,
                })??;
                return Ok(len);
            }
            Err(e) => return Err(self.backend("read blob", &path)(e)),
        };
        let io_err = |action: &'static str| {
            let path = dest.to_owned();
            move |source: std::io::Error| Error::Io {
                action,
                path,
                source,
            }
        };
        let dir = match dest.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => std::path::PathBuf::from("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&dir)
            .map_err(io_err("create temporary file for"))?;
        let mut out =
            tokio::fs::File::from_std(tmp.reopen().map_err(io_err("open temporary file for"))?);
        let mut hasher = Hasher::new();
        let mut len = 0u64;
        let mut stream = result.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(self.backend("read blob", &path))?;
            hasher.update(&chunk);
            len += chunk.len() as u64;
            out.write_all(&chunk).await.map_err(io_err("write"))?;
        }
        out.flush().await.map_err(io_err("write"))?;
        out.sync_data().await.map_err(io_err("flush"))?;
        drop(out);
        let actual = hasher.finish();
        if actual != *digest {
            return Err(Error::Corrupted {
                digest: *digest,
                actual,
                len,
                store: self.name(),
            });
        }
        tmp.persist(dest)
            .map_err(|e| io_err("rename into place")(e.error))?;
        Ok(len)
    }

    fn objects(&self) -> Option<&dyn Objects> {
        Some(self)
    }

    fn describe(&self) -> String {
        self.name()
    }
}

fn changed_while_reading() -> std::io::Error {
    std::io::Error::other("the file changed while it was being stored")
}

#[async_trait]
impl DocumentStore for ObjectStoreBackend {
    async fn put_version(
        &self,
        key: &DocKey,
        expected: Option<Version>,
        data: Bytes,
    ) -> Result<Version> {
        let attempted = next_version(key, expected)?;
        if let Some(expected) = expected
            && !self.has_seen(key, expected)
        {
            let seen = self.doc_path(key, expected);
            match self.store.head(&seen).await {
                Ok(_) => {}
                Err(object_store::Error::NotFound { .. }) => {
                    return Err(match self.latest_version(key).await? {
                        Some(_) => Error::Conflict {
                            key: key.clone(),
                            expected: Some(expected),
                            attempted,
                            store: self.name(),
                        },
                        None => Error::DocumentNotFound {
                            key: key.clone(),
                            store: self.name(),
                        },
                    });
                }
                Err(e) => return Err(self.backend("inspect", &seen)(e)),
            }
        }
        let target = self.doc_path(key, attempted);
        match self
            .store
            .put_opts(
                &target,
                PutPayload::from(data),
                PutOptions::from(PutMode::Create),
            )
            .await
        {
            Ok(_) => {
                self.saw(key, attempted);
                Ok(attempted)
            }
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Err(Error::Conflict {
                key: key.clone(),
                expected,
                attempted,
                store: self.name(),
            }),
            Err(e) => Err(self.backend("write document", &target)(e)),
        }
    }

    async fn get_latest(&self, key: &DocKey) -> Result<Option<Versioned>> {
        let Some(version) = self.latest_version(key).await? else {
            return Ok(None);
        };
        let path = self.doc_path(key, version);
        let data = self
            .store
            .get(&path)
            .await
            .map_err(self.backend("read document", &path))?
            .bytes()
            .await
            .map_err(self.backend("read document", &path))?;
        Ok(Some(Versioned { version, data }))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<DocKey>> {
        let docs = self.path(["docs"]);
        let base =
            self.path(std::iter::once("docs").chain(prefix.split('/').filter(|s| !s.is_empty())));
        let docs_depth = docs.parts().count();
        let mut stream = self.store.list(Some(&base));
        let mut keys = std::collections::BTreeSet::new();
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(self.backend("list documents under", &base))?;
            let parts: Vec<String> = meta
                .location
                .parts()
                .map(|p| p.as_ref().to_owned())
                .collect();
            let Some((last, dir)) = parts.split_last() else {
                continue;
            };
            if parse_version_name(last).is_none() || dir.len() <= docs_depth {
                continue;
            }
            if let Ok(key) = DocKey::new(dir[docs_depth..].join("/"))
                && under_prefix(&key, prefix)
            {
                keys.insert(key);
            }
        }
        Ok(keys.into_iter().collect())
    }

    async fn versions(&self, key: &DocKey) -> Result<Vec<VersionInfo>> {
        self.version_list(key).await
    }

    async fn get_version(&self, key: &DocKey, version: Version) -> Result<Option<Bytes>> {
        let path = self.doc_path(key, version);
        match self.store.get(&path).await {
            Ok(result) => {
                let data = result
                    .bytes()
                    .await
                    .map_err(self.backend("read document", &path))?;
                self.saw(key, version);
                Ok(Some(data))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.backend("read document", &path)(e)),
        }
    }

    async fn delete_version(&self, key: &DocKey, version: Version) -> Result<()> {
        let path = self.doc_path(key, version);
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.backend("remove document version", &path)(e)),
        }
    }

    fn describe(&self) -> String {
        self.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(dir: &FsPath) -> ObjectStoreBackend {
        let store =
            object_store::local::LocalFileSystem::new_with_prefix(dir).expect("local store");
        ObjectStoreBackend::new(
            Arc::new(store),
            "some/prefix",
            format!("file://{}", dir.display()),
        )
    }

    #[tokio::test]
    async fn conformance_on_a_local_directory() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = local(dir.path());
        crate::testing::blob_store_conformance(&store, &store).await;
        crate::testing::document_store_conformance(&store).await;
        Ok(())
    }

    #[tokio::test]
    async fn from_url_opens_file_urls() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|source| Error::Io {
            action: "create",
            path: "tmp".into(),
            source,
        })?;
        let url = format!("file://{}", dir.path().display());
        let store = ObjectStoreBackend::from_url(&url)?;
        let put = store.put(Bytes::from_static(b"via url")).await?;
        assert_eq!(&store.get(&put.digest).await?[..], b"via url");
        assert!(ObjectStoreBackend::from_url("ftp://x/y").is_err());
        Ok(())
    }

    /// A prepared batch reuses the listing `prepare` made, once; the next
    /// batch lists the indexes again; nothing is written by preparing.
    #[tokio::test]
    async fn a_prepared_batch_skips_its_listing_once() -> Result<()> {
        use crate::counting::Requests;
        let requests = Requests::new(Arc::new(object_store::memory::InMemory::new()));
        let store = ObjectStoreBackend::new(Arc::new(requests.clone()), "p", "counted");
        store.prepare().await?;
        let prepared = requests.counts();
        assert_eq!((prepared.list, prepared.put, prepared.total()), (1, 0, 1));
        requests.reset();
        store.put_many(vec![Bytes::from_static(b"one")]).await?;
        assert_eq!(requests.counts().list, 0, "{}", requests.counts());
        requests.reset();
        store.put_many(vec![Bytes::from_static(b"two")]).await?;
        assert_eq!(requests.counts().list, 1, "{}", requests.counts());
        assert_eq!(&store.get(&Digest::of(b"one")).await?[..], b"one");
        Ok(())
    }
}
