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
//!
//! Packs and indexes (layout v2, see [`pack`](crate::pack)) live under
//! `packs/<2>/<62>` and `index/<64>`, written the same way; garbage
//! collection keeps what it condemned under `trash/`.
//!
//! Documents live under `docs/<key>/<17-digit version>.v`. A new version is
//! written to a temporary file and published with `link(2)`, which fails if
//! the version exists: an atomic create-if-absent of complete content.

use std::io::{self, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::document::{next_version, parse_version_name, version_name};
use crate::packed::{self, Loose, Packs};
use crate::raw::{Area, Listed, Objects};
use crate::{
    BlobStore, Digest, DocKey, DocumentStore, Error, Put, Result, Version, VersionInfo, Versioned,
};

/// A blob store in a local directory, safe to share between processes.
#[derive(Debug, Clone)]
pub struct FsStore {
    root: PathBuf,
    sync: bool,
    packs: Arc<Packs>,
}

/// Where a blob's bytes are in a [`FsStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAt {
    /// The file holding them: the loose blob, or its pack.
    pub path: PathBuf,
    /// Their place in the file: all of it for a loose blob.
    pub range: Range<u64>,
}

/// How errors of [`FsStore::write_through_temp`] name what was written.
#[derive(Debug)]
struct Written {
    no_parent: &'static str,
    create: &'static str,
    write: &'static str,
    flush: &'static str,
    rename: &'static str,
}

impl Written {
    const BLOB: Self = Self {
        no_parent: "blob path has no parent directory",
        create: "create temporary file for blob",
        write: "write blob",
        flush: "flush blob",
        rename: "rename blob into place",
    };
    const OBJECT: Self = Self {
        no_parent: "object path has no parent directory",
        create: "create temporary file for",
        write: "write",
        flush: "flush",
        rename: "rename into place",
    };
}

impl FsStore {
    /// A store rooted at `root`. The directory is created on first write.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            sync: true,
            packs: Arc::default(),
        }
    }

    /// The path of an object of the raw layout ([`Objects`]).
    pub fn object_path(&self, area: Area, name: &Digest) -> PathBuf {
        let mut path = self.root.clone();
        path.extend(area.dir());
        path.extend(area.name_parts(name));
        path
    }

    /// Where the bytes of `digest` are: its loose file, else its place in a
    /// pack an index names; `None` when the store does not have it. For
    /// tools and tests that inspect (or damage) a store on purpose.
    pub fn stored_at(&self, digest: &Digest) -> Result<Option<StoredAt>> {
        let loose = self.blob_path(digest);
        if let Ok(meta) = std::fs::metadata(&loose) {
            return Ok(Some(StoredAt {
                path: loose,
                range: 0..meta.len(),
            }));
        }
        for listed in self.list_blocking_area(Area::Index)? {
            let path = self.object_path(Area::Index, &listed.name);
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let index = crate::pack::Index::decode(&listed.name, &bytes, &self.name())?;
            for pack in &index.packs {
                if let Some(entry) = pack.entries.iter().find(|e| e.digest == *digest) {
                    return Ok(Some(StoredAt {
                        path: self.object_path(Area::Packs, &pack.pack),
                        range: entry.range(),
                    }));
                }
            }
        }
        Ok(None)
    }

    /// Writes `data` to `path` through a temporary file in its directory
    /// (created when missing), flushed when the store syncs; `what` names
    /// the object in errors.
    fn write_through_temp(&self, path: &Path, data: &[u8], what: &Written) -> Result<()> {
        let dir = path.parent().ok_or_else(|| Error::InvalidLocation {
            location: path.display().to_string(),
            reason: what.no_parent.to_owned(),
        })?;
        let io_err = |action: &'static str| {
            let path = path.to_owned();
            move |source: io::Error| Error::Io {
                action,
                path,
                source,
            }
        };
        let temp_file = || tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir);
        // The directory usually exists already: create it only when the
        // temporary file cannot be made without it.
        let mut tmp = match temp_file() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                    action: "create directory",
                    path: dir.to_owned(),
                    source,
                })?;
                temp_file()
            }
            other => other,
        }
        .map_err(io_err(what.create))?;
        tmp.write_all(data).map_err(io_err(what.write))?;
        if self.sync {
            tmp.as_file().sync_data().map_err(io_err(what.flush))?;
        }
        tmp.persist(path)
            .map_err(|e| e.error)
            .map_err(io_err(what.rename))?;
        Ok(())
    }

    fn read_ranges_blocking(path: &Path, ranges: &[Range<u64>]) -> io::Result<Option<Vec<Bytes>>> {
        use std::os::unix::fs::FileExt as _;
        let file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut out = Vec::with_capacity(ranges.len());
        for range in ranges {
            let want = usize::try_from(range.end.saturating_sub(range.start))
                .map_err(|_| io::Error::other("range too large"))?;
            let mut buf = vec![0u8; want];
            let mut got = 0;
            while got < want {
                match file.read_at(&mut buf[got..], range.start + got as u64) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            buf.truncate(got);
            out.push(Bytes::from(buf));
        }
        Ok(Some(out))
    }

    fn list_blocking_area(&self, area: Area) -> Result<Vec<Listed>> {
        let mut base = self.root.clone();
        base.extend(area.dir());
        let mut out = Vec::new();
        let read = |dir: &Path| match std::fs::read_dir(dir) {
            Ok(entries) => Ok(Some(entries)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Io {
                action: "list",
                path: dir.to_owned(),
                source,
            }),
        };
        let mut push = |parts: &[&str], entry: &std::fs::DirEntry| {
            if let Some(name) = area.parse_name(parts)
                && let Ok(meta) = entry.metadata()
                && meta.is_file()
            {
                out.push(Listed {
                    name,
                    size: meta.len(),
                    modified: meta.modified().ok(),
                });
            }
        };
        let Some(entries) = read(&base)? else {
            return Ok(out);
        };
        for entry in entries.flatten() {
            let first = entry.file_name().to_string_lossy().into_owned();
            if !area.sharded() {
                push(&[&first], &entry);
                continue;
            }
            let Some(inner) = read(&entry.path())? else {
                continue;
            };
            for entry in inner.flatten() {
                let second = entry.file_name().to_string_lossy().into_owned();
                push(&[&first, &second], &entry);
            }
        }
        Ok(out)
    }

    /// Whether each blob is flushed to stable storage before it is renamed
    /// into place (default `true`). Turning it off keeps crash-consistency
    /// for process crashes but not for power loss.
    pub fn with_sync(mut self, sync: bool) -> Self {
        self.sync = sync;
        self
    }

    /// How the store names itself in errors.
    pub fn name(&self) -> String {
        format!("store {}", self.root.display())
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
        // Another writer may have stored the same content meanwhile; renaming
        // over it is harmless because both have identical bytes.
        self.write_through_temp(&path, data, &Written::BLOB)?;
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
                    store: self.name(),
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
                store: self.name(),
            });
        }
        Ok(Bytes::from(data))
    }
}

impl FsStore {
    fn list_blobs_blocking(&self) -> Result<Vec<Digest>> {
        let base = self.root.join("blobs").join("sha256");
        let mut out = Vec::new();
        let shards = match std::fs::read_dir(&base) {
            Ok(shards) => shards,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(source) => {
                return Err(Error::Io {
                    action: "list blobs in",
                    path: base,
                    source,
                });
            }
        };
        for shard in shards.flatten() {
            let prefix = shard.file_name().to_string_lossy().into_owned();
            let Ok(entries) = std::fs::read_dir(shard.path()) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                // Temporary files and anything else that is not a digest are
                // not blobs.
                if let Ok(digest) = format!("sha256:{prefix}{name}").parse::<Digest>() {
                    out.push(digest);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Temporary files a crashed writer left in the store.
    pub fn stale_temp_files(&self) -> Vec<PathBuf> {
        self.stale_temp_files_older_than(std::time::Duration::ZERO)
    }

    /// Temporary files last written at least `min_age` ago (younger ones may
    /// belong to a writer still at work).
    pub fn stale_temp_files_older_than(&self, min_age: std::time::Duration) -> Vec<PathBuf> {
        let now = std::time::SystemTime::now();
        let old_enough = |entry: &std::fs::DirEntry| {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age >= min_age))
        };
        let mut out = Vec::new();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                if kind.is_dir() {
                    stack.push(entry.path());
                } else if entry.file_name().to_string_lossy().starts_with(".tmp-")
                    && old_enough(&entry)
                {
                    out.push(entry.path());
                }
            }
        }
        out.sort();
        out
    }

    fn doc_dir(&self, key: &DocKey) -> PathBuf {
        let mut dir = self.root.join("docs");
        dir.extend(key.as_str().split('/'));
        dir
    }

    fn put_version_blocking(
        &self,
        key: &DocKey,
        expected: Option<Version>,
        data: &[u8],
    ) -> Result<Version> {
        let attempted = next_version(key, expected)?;
        let dir = self.doc_dir(key);
        // The version the writer read must still be there (which keeps the
        // chain without gaps): compaction removes only versions that newer
        // ones follow, so a writer whose version was compacted away has
        // lost the race anyway.
        if let Some(expected) = expected
            && !dir.join(version_name(expected)).is_file()
        {
            return Err(if dir.is_dir() {
                Error::Conflict {
                    key: key.clone(),
                    expected: Some(expected),
                    attempted,
                    store: self.name(),
                }
            } else {
                Error::DocumentNotFound {
                    key: key.clone(),
                    store: self.name(),
                }
            });
        }
        let target = dir.join(version_name(attempted));
        let io_err = |action: &'static str| {
            let path = target.clone();
            move |source: io::Error| Error::Io {
                action,
                path,
                source,
            }
        };
        // Removing a document's last version removes its directory, which
        // may race with creating it again: try again when it vanished.
        let mut attempts = 0;
        let mut tmp = loop {
            std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
                action: "create directory",
                path: dir.clone(),
                source,
            })?;
            match tempfile::Builder::new().prefix(".tmp-").tempfile_in(&dir) {
                Err(e) if e.kind() == io::ErrorKind::NotFound && attempts < 3 => attempts += 1,
                other => break other.map_err(io_err("create temporary file for document"))?,
            }
        };
        tmp.write_all(data).map_err(io_err("write document"))?;
        if self.sync {
            tmp.as_file()
                .sync_data()
                .map_err(io_err("flush document"))?;
        }
        match std::fs::hard_link(tmp.path(), &target) {
            Ok(()) => Ok(attempted),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(Error::Conflict {
                key: key.clone(),
                expected,
                attempted,
                store: self.name(),
            }),
            Err(source) => Err(Error::Io {
                action: "publish document version",
                path: target,
                source,
            }),
        }
    }

    fn get_latest_blocking(&self, key: &DocKey) -> Result<Option<Versioned>> {
        let dir = self.doc_dir(key);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(Error::Io {
                    action: "list document versions",
                    path: dir,
                    source,
                });
            }
        };
        let latest = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().and_then(parse_version_name))
            .max();
        let Some(version) = latest else {
            return Ok(None);
        };
        let path = dir.join(version_name(version));
        let data = std::fs::read(&path).map_err(|source| Error::Io {
            action: "read document",
            path,
            source,
        })?;
        Ok(Some(Versioned {
            version,
            data: Bytes::from(data),
        }))
    }

    fn versions_blocking(&self, key: &DocKey) -> Result<Vec<VersionInfo>> {
        let dir = self.doc_dir(key);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(Error::Io {
                    action: "list document versions",
                    path: dir,
                    source,
                });
            }
        };
        let mut out: Vec<VersionInfo> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let version = e.file_name().to_str().and_then(parse_version_name)?;
                let modified = e.metadata().and_then(|m| m.modified()).ok();
                Some(VersionInfo { version, modified })
            })
            .collect();
        out.sort_by_key(|v| v.version);
        Ok(out)
    }

    fn delete_version_blocking(&self, key: &DocKey, version: Version) -> Result<()> {
        let dir = self.doc_dir(key);
        let path = dir.join(version_name(version));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(Error::Io {
                    action: "remove document version",
                    path,
                    source,
                });
            }
        }
        // Empty directories of documents that are gone would make every
        // listing slower: remove them, up to `docs/` (a directory that is
        // not empty stops this).
        let docs = self.root.join("docs");
        let mut dir = Some(dir.as_path());
        while let Some(d) = dir.filter(|d| *d != docs && d.starts_with(&docs)) {
            if std::fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
        Ok(())
    }

    fn list_blocking(&self, prefix: &str) -> Result<Vec<DocKey>> {
        let base = self.root.join("docs");
        let mut out = Vec::new();
        let mut stack = vec![(base, String::new())];
        while let Some((dir, rel)) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => {
                    return Err(Error::Io {
                        action: "list documents",
                        path: dir,
                        source,
                    });
                }
            };
            let mut is_doc = false;
            for entry in entries.filter_map(|e| e.ok()) {
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                if parse_version_name(&name).is_some() {
                    is_doc = true;
                } else if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    let child = if rel.is_empty() {
                        name
                    } else {
                        format!("{rel}/{name}")
                    };
                    stack.push((entry.path(), child));
                }
            }
            if is_doc
                && let Ok(key) = DocKey::new(rel)
                && crate::document::under_prefix(&key, prefix)
            {
                out.push(key);
            }
        }
        out.sort();
        Ok(out)
    }
}

#[async_trait]
impl DocumentStore for FsStore {
    async fn put_version(
        &self,
        key: &DocKey,
        expected: Option<Version>,
        data: Bytes,
    ) -> Result<Version> {
        let this = self.clone();
        let owned = key.clone();
        blocking(
            || format!("write document {key}"),
            move || this.put_version_blocking(&owned, expected, &data),
        )
        .await
    }

    async fn get_latest(&self, key: &DocKey) -> Result<Option<Versioned>> {
        let this = self.clone();
        let owned = key.clone();
        blocking(
            || format!("read document {key}"),
            move || this.get_latest_blocking(&owned),
        )
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<DocKey>> {
        let this = self.clone();
        let prefix = prefix.to_owned();
        blocking(
            || "list documents".to_owned(),
            move || this.list_blocking(&prefix),
        )
        .await
    }

    async fn versions(&self, key: &DocKey) -> Result<Vec<VersionInfo>> {
        let this = self.clone();
        let owned = key.clone();
        blocking(
            || format!("list versions of {key}"),
            move || this.versions_blocking(&owned),
        )
        .await
    }

    async fn get_version(&self, key: &DocKey, version: Version) -> Result<Option<Bytes>> {
        let path = self.doc_dir(key).join(version_name(version));
        match tokio::fs::read(&path).await {
            Ok(data) => Ok(Some(Bytes::from(data))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Io {
                action: "read document",
                path,
                source,
            }),
        }
    }

    async fn delete_version(&self, key: &DocKey, version: Version) -> Result<()> {
        let this = self.clone();
        let owned = key.clone();
        blocking(
            || format!("remove {version} of {key}"),
            move || this.delete_version_blocking(&owned, version),
        )
        .await
    }

    fn describe(&self) -> String {
        self.name()
    }
}

/// Creates `path` with the content `fill` writes, atomically: a temporary
/// file beside it is filled, flushed and renamed into place, so `path` never
/// holds partial content.
pub(crate) fn write_new_file(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> io::Result<()>,
) -> Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let err = |action: &'static str| {
        let path = path.to_owned();
        move |source: io::Error| Error::Io {
            action,
            path,
            source,
        }
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(err("create temporary file for"))?;
    fill(tmp.as_file_mut()).map_err(err("write"))?;
    tmp.as_file().sync_data().map_err(err("flush"))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .map_err(err("rename into place"))?;
    Ok(())
}

/// Copies `reader` into a new temporary file in `dir` while hashing it.
/// Files up to this size are read whole by `put_file`; larger ones are
/// streamed through a temporary file in constant memory.
const IN_MEMORY_PUT: u64 = 8 << 20;

/// How much [`spool`] reads at a time.
const SPOOL_CHUNK: usize = 1 << 20;

pub(crate) fn spool(
    reader: &mut impl io::Read,
    dir: &Path,
) -> io::Result<(tempfile::NamedTempFile, Digest, u64)> {
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    let mut hasher = crate::Hasher::new();
    // Filled through `read_to_end`, which neither zeroes the buffer nor
    // reallocates it once it has grown to a chunk.
    let mut buf = Vec::with_capacity(SPOOL_CHUNK);
    let mut len = 0u64;
    loop {
        buf.clear();
        let n = io::Read::read_to_end(
            &mut io::Read::take(&mut *reader, SPOOL_CHUNK as u64),
            &mut buf,
        )?;
        if n == 0 {
            break;
        }
        hasher.update(&buf);
        tmp.write_all(&buf)?;
        len += n as u64;
    }
    Ok((tmp, hasher.finish(), len))
}

/// Streams the file at `path` through SHA-256, in constant memory.
#[cfg(any(test, feature = "testing", feature = "object-store"))]
pub(crate) fn hash_file(path: &Path) -> io::Result<(Digest, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = crate::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = match io::Read::read(&mut file, &mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok((hasher.finish(), len))
}

impl FsStore {
    fn put_file_blocking(&self, path: &Path) -> Result<Put> {
        let io_err = |action: &'static str, p: &Path| {
            let p = p.to_owned();
            move |source: io::Error| Error::Io {
                action,
                path: p,
                source,
            }
        };
        let mut source = std::fs::File::open(path).map_err(io_err("open", path))?;
        let meta = source.metadata().map_err(io_err("inspect", path))?;
        let size = meta.len();
        if meta.is_file() && size <= IN_MEMORY_PUT {
            // A regular file small enough to hold: hash first, so that
            // content the store already has is never written anywhere.
            // (Devices and pipes, whose size says nothing, stream.)
            let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            io::Read::read_to_end(&mut source, &mut data).map_err(io_err("read", path))?;
            drop(source);
            return self.put_blocking(&data, Digest::of(&data));
        }
        let tmp_dir = self.root.join("tmp");
        let (tmp, digest, len) =
            spool(&mut source, &tmp_dir).map_err(io_err("copy into the store", path))?;
        let target = self.blob_path(&digest);
        if self.verified_len(&target, &digest)?.is_some() {
            return Ok(Put {
                digest,
                new_bytes: 0,
            });
        }
        if self.sync {
            tmp.as_file()
                .sync_data()
                .map_err(io_err("flush", &target))?;
        }
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
        }
        tmp.persist(&target)
            .map_err(|e| e.error)
            .map_err(io_err("rename blob into place", &target))?;
        Ok(Put {
            digest,
            new_bytes: len,
        })
    }

    fn get_to_file_blocking(&self, digest: &Digest, dest: &Path) -> Result<u64> {
        let source_path = self.blob_path(digest);
        let mut source = match std::fs::File::open(&source_path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::NotFound {
                    digest: *digest,
                    store: self.name(),
                });
            }
            Err(source) => {
                return Err(Error::Io {
                    action: "open blob",
                    path: source_path,
                    source,
                });
            }
        };
        let dir = match dest.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        let (tmp, actual, len) = spool(&mut source, &dir).map_err(|source| Error::Io {
            action: "copy blob to",
            path: dest.to_owned(),
            source,
        })?;
        if actual != *digest {
            return Err(Error::Corrupted {
                digest: *digest,
                actual,
                len,
                store: self.name(),
            });
        }
        tmp.persist(dest).map_err(|e| Error::Io {
            action: "rename into place",
            path: dest.to_owned(),
            source: e.error,
        })?;
        Ok(len)
    }
}

/// Copies `reader` into `out` in [`SPOOL_CHUNK`]s, hashing it on the way;
/// returns the digest and the length. Memory stays one chunk whatever the
/// size.
pub(crate) fn copy_hashing(
    reader: &mut impl io::Read,
    out: &mut impl io::Write,
) -> io::Result<(Digest, u64)> {
    let mut hasher = crate::Hasher::new();
    let mut buf = vec![0u8; SPOOL_CHUNK];
    let mut len = 0u64;
    loop {
        let n = match io::Read::read(reader, &mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        len += n as u64;
    }
    out.flush()?;
    Ok((hasher.finish(), len))
}

impl FsStore {
    fn write_to_file_blocking(
        &self,
        digest: &Digest,
        mut file: std::fs::File,
        dest: &Path,
    ) -> Result<Option<u64>> {
        let source_path = self.blob_path(digest);
        let mut source = match std::fs::File::open(&source_path) {
            Ok(source) => source,
            // Not loose: packed (small), read whole by the caller.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(Error::Io {
                    action: "open blob",
                    path: source_path,
                    source,
                });
            }
        };
        let (actual, len) = copy_hashing(&mut source, &mut file).map_err(|source| Error::Io {
            action: "copy blob to",
            path: dest.to_owned(),
            source,
        })?;
        if actual != *digest {
            return Err(Error::Corrupted {
                digest: *digest,
                actual,
                len,
                store: self.name(),
            });
        }
        Ok(Some(len))
    }
}

/// A batch smaller than this per worker is not worth another thread.
const MIN_PER_WORKER: usize = 16;

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
impl Objects for FsStore {
    async fn create_object(&self, area: Area, name: &Digest, data: Bytes) -> Result<bool> {
        let this = self.clone();
        let path = self.object_path(area, name);
        blocking(
            || format!("write {} {name}", area.noun()),
            move || {
                if path.is_file() {
                    return Ok(false);
                }
                this.write_through_temp(&path, &data, &Written::OBJECT)?;
                Ok(true)
            },
        )
        .await
    }

    async fn replace_object(&self, area: Area, name: &Digest, data: Bytes) -> Result<()> {
        let this = self.clone();
        let path = self.object_path(area, name);
        blocking(
            || format!("replace {} {name}", area.noun()),
            move || this.write_through_temp(&path, &data, &Written::OBJECT),
        )
        .await
    }

    async fn read_object(&self, area: Area, name: &Digest) -> Result<Option<Bytes>> {
        let path = self.object_path(area, name);
        match tokio::fs::read(&path).await {
            Ok(data) => Ok(Some(Bytes::from(data))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Io {
                action: "read",
                path,
                source,
            }),
        }
    }

    async fn read_ranges(
        &self,
        area: Area,
        name: &Digest,
        ranges: &[Range<u64>],
    ) -> Result<Option<Vec<Bytes>>> {
        let path = self.object_path(area, name);
        let ranges = ranges.to_vec();
        blocking(
            || format!("read {} {name}", area.noun()),
            move || {
                Self::read_ranges_blocking(&path, &ranges).map_err(|source| Error::Io {
                    action: "read",
                    path,
                    source,
                })
            },
        )
        .await
    }

    async fn object_exists(&self, area: Area, name: &Digest) -> Result<bool> {
        let path = self.object_path(area, name);
        match tokio::fs::symlink_metadata(&path).await {
            Ok(meta) => Ok(meta.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(Error::Io {
                action: "inspect",
                path,
                source,
            }),
        }
    }

    async fn list_objects(&self, area: Area) -> Result<Vec<Listed>> {
        let this = self.clone();
        blocking(
            || format!("list {}s", area.noun()),
            move || this.list_blocking_area(area),
        )
        .await
    }

    async fn remove_object(&self, area: Area, name: &Digest) -> Result<()> {
        let path = self.object_path(area, name);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::Io {
                action: "remove",
                path,
                source,
            }),
        }
    }

    async fn move_object(&self, from: Area, to: Area, name: &Digest) -> Result<()> {
        let source = self.object_path(from, name);
        let target = self.object_path(to, name);
        blocking(
            || format!("move {} {name}", from.noun()),
            move || {
                if let Some(dir) = target.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| Error::Io {
                        action: "create directory",
                        path: dir.to_owned(),
                        source: e,
                    })?;
                }
                std::fs::rename(&source, &target).map_err(|e| Error::Io {
                    action: "move",
                    path: source,
                    source: e,
                })
            },
        )
        .await
    }
}

#[async_trait]
impl Loose for FsStore {
    fn packs(&self) -> &Packs {
        &self.packs
    }

    fn store_name(&self) -> String {
        self.name()
    }

    async fn loose_put(&self, data: Bytes) -> Result<Put> {
        let this = self.clone();
        let digest = Digest::of(&data);
        blocking(
            || format!("put {digest}"),
            move || this.put_blocking(&data, digest),
        )
        .await
    }

    async fn loose_get_many(&self, digests: &[Digest]) -> Vec<Result<Bytes>> {
        let mut tasks = Vec::new();
        for chunk in digests.chunks(crate::chunk_len(digests.len(), MIN_PER_WORKER)) {
            let this = self.clone();
            let owned = chunk.to_vec();
            let task = tokio::task::spawn_blocking(move || {
                owned
                    .iter()
                    .map(|digest| this.get_blocking(digest))
                    .collect::<Vec<_>>()
            });
            tasks.push((chunk, task));
        }
        let mut out = Vec::with_capacity(digests.len());
        for (chunk, task) in tasks {
            match task.await {
                Ok(results) => out.extend(results),
                // The chunk's task did not complete: read its blobs one by
                // one, so that each gets its own result.
                Err(_) => {
                    for digest in chunk {
                        let this = self.clone();
                        let digest = *digest;
                        out.push(
                            blocking(
                                || format!("get {digest}"),
                                move || this.get_blocking(&digest),
                            )
                            .await,
                        );
                    }
                }
            }
        }
        out
    }

    async fn loose_has(&self, digest: &Digest) -> Result<bool> {
        self.object_exists(Area::Blobs, digest).await
    }
}

#[async_trait]
impl BlobStore for FsStore {
    async fn put(&self, data: Bytes) -> Result<Put> {
        self.loose_put(data).await
    }

    async fn get(&self, digest: &Digest) -> Result<Bytes> {
        packed::get_one(self, digest).await
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

    async fn put_file(&self, path: &Path) -> Result<Put> {
        let this = self.clone();
        let owned = path.to_owned();
        blocking(
            || format!("store file {}", path.display()),
            move || this.put_file_blocking(&owned),
        )
        .await
    }

    async fn write_to_file(
        &self,
        digest: &Digest,
        file: std::fs::File,
        path: &Path,
    ) -> Result<u64> {
        let this = self.clone();
        let (owned, d) = (path.to_owned(), *digest);
        let spare = file.try_clone().map_err(|source| Error::Io {
            action: "open",
            path: path.to_owned(),
            source,
        })?;
        let streamed = blocking(
            || format!("write {d} to a file"),
            move || this.write_to_file_blocking(&d, file, &owned),
        )
        .await?;
        match streamed {
            Some(len) => Ok(len),
            None => {
                let data = packed::get_one(self, digest).await?;
                let owned = path.to_owned();
                let len = data.len() as u64;
                blocking(
                    || format!("write {d} to a file"),
                    move || {
                        let mut file = spare;
                        io::Write::write_all(&mut file, &data).map_err(|source| Error::Io {
                            action: "write",
                            path: owned,
                            source,
                        })
                    },
                )
                .await?;
                Ok(len)
            }
        }
    }

    async fn get_to_file(&self, digest: &Digest, path: &Path) -> Result<u64> {
        let this = self.clone();
        let digest = *digest;
        let owned = path.to_owned();
        let streamed = blocking(
            || format!("copy {digest} to {}", path.display()),
            move || this.get_to_file_blocking(&digest, &owned),
        )
        .await;
        match streamed {
            // Not loose: small blobs are packed, and held whole anyway.
            Err(e) if e.is_not_found() => {
                let data = packed::get_one(self, &digest).await?;
                let owned = path.to_owned();
                let len = data.len() as u64;
                blocking(
                    || format!("write {digest} to {}", path.display()),
                    move || write_new_file(&owned, |file| file.write_all(&data)),
                )
                .await?;
                Ok(len)
            }
            other => other,
        }
    }

    async fn list_blobs(&self) -> Result<Vec<Digest>> {
        let this = self.clone();
        let mut all = blocking(
            || "list blobs".to_owned(),
            move || this.list_blobs_blocking(),
        )
        .await?;
        all.extend(packed::packed_digests(self).await?);
        all.sort();
        all.dedup();
        Ok(all)
    }

    async fn remove_blob(&self, digest: &Digest) -> Result<()> {
        self.remove_object(Area::Blobs, digest).await?;
        packed::unindex(self, digest).await
    }
    async fn stale_temporaries(&self, min_age: std::time::Duration) -> Result<Vec<String>> {
        let this = self.clone();
        blocking(
            || "list stale temporary files".to_owned(),
            move || {
                Ok(this
                    .stale_temp_files_older_than(min_age)
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect())
            },
        )
        .await
    }

    async fn remove_stale_temporaries(&self, min_age: std::time::Duration) -> Result<Vec<String>> {
        let this = self.clone();
        blocking(
            || "remove stale temporary files".to_owned(),
            move || {
                let mut removed = Vec::new();
                for path in this.stale_temp_files_older_than(min_age) {
                    match std::fs::remove_file(&path) {
                        Ok(()) => removed.push(path.display().to_string()),
                        // Its writer finished (renamed it) meanwhile.
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(source) => {
                            return Err(Error::Io {
                                action: "remove the stale temporary file",
                                path,
                                source,
                            });
                        }
                    }
                }
                Ok(removed)
            },
        )
        .await
    }

    async fn has(&self, digest: &Digest) -> Result<bool> {
        packed::has(self, digest).await
    }

    fn objects(&self) -> Option<&dyn Objects> {
        Some(self)
    }

    fn describe(&self) -> String {
        self.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conformance() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = FsStore::new(dir.path());
        crate::testing::blob_store_conformance(&store, &store).await;
        Ok(())
    }

    #[tokio::test]
    async fn document_conformance() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        crate::testing::document_store_conformance(&FsStore::new(dir.path()).with_sync(false))
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

    /// A failure while setting a test up, as the store's error type.
    fn prepare(source: io::Error) -> Error {
        Error::Io {
            action: "prepare",
            path: PathBuf::new(),
            source,
        }
    }

    /// Small files are hashed before anything is written: re-putting one
    /// writes no byte anywhere in the store, not even a temporary file.
    /// Large ones stream through `tmp/`, which they leave empty.
    #[tokio::test]
    async fn put_file_writes_nothing_for_content_already_stored() -> Result<()> {
        let dir = tempfile::tempdir().map_err(prepare)?;
        let store = FsStore::new(dir.path().join("store")).with_sync(false);
        let small = dir.path().join("small.txt");
        std::fs::write(&small, b"small file content").map_err(prepare)?;
        let first = store.put_file(&small).await?;
        assert_eq!(first.new_bytes, 18);
        let blob = store.blob_path(&first.digest);
        let modified = std::fs::metadata(&blob)
            .and_then(|m| m.modified())
            .map_err(prepare)?;
        let again = store.put_file(&small).await?;
        assert_eq!((again.digest, again.new_bytes), (first.digest, 0));
        assert_eq!(
            std::fs::metadata(&blob)
                .and_then(|m| m.modified())
                .map_err(prepare)?,
            modified,
            "the stored blob is not rewritten"
        );
        assert!(!dir.path().join("store/tmp").exists(), "no temporary file");

        let large = dir.path().join("large.bin");
        let data: Vec<u8> = (0..(IN_MEMORY_PUT + 3)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&large, &data).map_err(prepare)?;
        let put = store.put_file(&large).await?;
        assert_eq!(put.digest, Digest::of(&data));
        assert_eq!(put.new_bytes, data.len() as u64);
        assert_eq!(store.get(&put.digest).await?, data);
        let left = std::fs::read_dir(dir.path().join("store/tmp"))
            .map_err(prepare)?
            .count();
        assert_eq!(left, 0, "the streamed put leaves no temporary file");
        Ok(())
    }

    /// A pipe's size says nothing about its content: it is streamed, not
    /// read whole on the strength of a zero length.
    #[cfg(unix)]
    #[tokio::test]
    async fn put_file_streams_a_pipe() -> Result<()> {
        let dir = tempfile::tempdir().map_err(prepare)?;
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .map_err(prepare)?;
        assert!(made.success(), "mkfifo");
        let content = b"piped content ".repeat(10_000);
        let writer = {
            let (fifo, content) = (fifo.clone(), content.clone());
            std::thread::spawn(move || std::fs::write(fifo, content))
        };
        let store = FsStore::new(dir.path().join("store")).with_sync(false);
        let put = store.put_file(&fifo).await?;
        writer
            .join()
            .map_err(|_| prepare(io::Error::other("writer panicked")))?
            .map_err(prepare)?;
        assert_eq!(put.digest, Digest::of(&content));
        assert_eq!(put.new_bytes, content.len() as u64);
        assert_eq!(store.get(&put.digest).await?, content);
        assert!(
            dir.path().join("store/tmp").is_dir(),
            "streamed through tmp/, not held whole"
        );
        Ok(())
    }
}
