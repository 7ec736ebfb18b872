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

use std::path::Path as FsPath;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::document::{next_version, parse_version_name, under_prefix, version_name};
use crate::{
    BlobStore, Digest, DocKey, DocumentStore, Error, Hasher, Put, Result, Version, Versioned,
};

/// Uploads above this size go as multipart uploads, streamed from disk.
const MULTIPART_THRESHOLD: u64 = 8 << 20;

/// Blobs and documents on an `object_store` backend.
#[derive(Debug, Clone)]
pub struct ObjectStoreBackend {
    store: Arc<dyn ObjectStore>,
    prefix: Vec<String>,
    name: String,
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
        }
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

    async fn latest_version(&self, key: &DocKey) -> Result<Option<Version>> {
        let dir = self.doc_dir(key);
        let listing = self
            .store
            .list_with_delimiter(Some(&dir))
            .await
            .map_err(self.backend("list versions of", &dir))?;
        Ok(listing
            .objects
            .iter()
            .filter_map(|o| o.location.filename().and_then(parse_version_name))
            .max())
    }
}

#[async_trait]
impl BlobStore for ObjectStoreBackend {
    async fn put(&self, data: Bytes) -> Result<Put> {
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
            Err(object_store::Error::AlreadyExists { .. }) => match self.get(&digest).await {
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

    async fn get(&self, digest: &Digest) -> Result<Bytes> {
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
        out.sort();
        Ok(out)
    }

    async fn remove_blob(&self, digest: &Digest) -> Result<()> {
        let path = self.blob_path(digest);
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.backend("remove blob", &path)(e)),
        }
    }

    async fn has(&self, digest: &Digest) -> Result<bool> {
        let path = self.blob_path(digest);
        match self.store.head(&path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.backend("inspect blob", &path)(e)),
        }
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
        if len < MULTIPART_THRESHOLD {
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
        let mut writer =
            object_store::WriteMultipart::new_with_chunk_size(upload, MULTIPART_THRESHOLD as usize);
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

    async fn get_to_file(&self, digest: &Digest, dest: &FsPath) -> Result<u64> {
        let path = self.blob_path(digest);
        let result = match self.store.get(&path).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(Error::NotFound {
                    digest: *digest,
                    store: self.name(),
                });
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
        if let Some(expected) = expected {
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
            Ok(_) => Ok(attempted),
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
        let root = dir.path().to_owned();
        crate::testing::blob_store_conformance(&store, &move |digest, data| {
            let hex = digest.hex();
            std::fs::write(
                root.join("some/prefix/blobs/sha256")
                    .join(&hex[..2])
                    .join(&hex[2..]),
                &data,
            )
            .is_ok()
        })
        .await;
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
}
