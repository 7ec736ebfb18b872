//! Versioned documents with optimistic concurrency.
//!
//! Run records and other small mutable state live here, next to the blobs.
//! A document is a chain of immutable versions `1, 2, 3, …`; writing version
//! `n + 1` is a **create-if-absent** of that version's object, the one
//! conditional write every backend offers natively (`O_EXCL`/`link` on a
//! filesystem, `If-None-Match: *` on S3, generation preconditions on GCS,
//! `If-None-Match` on Azure). So of two writers that both read version `n`,
//! exactly one creates `n + 1` and the other gets [`Error::Conflict`]; no
//! update is ever lost, and the chain doubles as an audit trail.

use std::fmt;

use async_trait::async_trait;
use bytes::Bytes;

use crate::{Error, Result};

/// A document's name: `/`-separated segments of `[A-Za-z0-9._-]`, no segment
/// empty, `.` or `..`, at most 512 bytes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocKey(String);

impl DocKey {
    /// Validates `key`.
    pub fn new(key: impl Into<String>) -> Result<Self> {
        let key = key.into();
        let bad = |reason: &'static str| Error::InvalidKey {
            key: key.chars().take(80).collect(),
            reason,
        };
        if key.is_empty() || key.len() > 512 {
            return Err(bad("must be 1 to 512 bytes"));
        }
        for segment in key.split('/') {
            if segment.is_empty() || segment == "." || segment == ".." {
                return Err(bad("has an empty, `.` or `..` segment"));
            }
            if parse_version_name(segment).is_some() {
                return Err(bad("a segment may not look like a version name"));
            }
            if !segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            {
                return Err(bad("may only contain A-Z a-z 0-9 . _ - and /"));
            }
        }
        Ok(Self(key))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DocKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DocKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// A document version, starting at 1.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Version(pub u64);

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// A document's content at one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    /// The version read.
    pub version: Version,
    /// The content.
    pub data: Bytes,
}

/// A stored version of a document, and when it was written (where the
/// backend says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionInfo {
    /// The version.
    pub version: Version,
    /// When it was written.
    pub modified: Option<std::time::SystemTime>,
}

/// The largest version number a store accepts (far beyond any real use; it
/// keeps version names a fixed width).
pub const MAX_VERSION: u64 = 99_999_999_999_999_999;

/// Versioned documents with optimistic concurrency.
#[async_trait]
pub trait DocumentStore: Send + Sync + fmt::Debug {
    /// Writes version `expected + 1` of `key` (version 1 when `expected` is
    /// `None`), failing with [`Error::Conflict`] if that version already
    /// exists — that is, if someone else wrote first.
    async fn put_version(
        &self,
        key: &DocKey,
        expected: Option<Version>,
        data: Bytes,
    ) -> Result<Version>;

    /// The newest version of `key`, or `None` when it does not exist.
    async fn get_latest(&self, key: &DocKey) -> Result<Option<Versioned>>;

    /// Every key under `prefix` (a key prefix ending at a segment boundary),
    /// sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<DocKey>>;

    /// Every stored version of `key`, oldest first; empty when there is
    /// none. (Compaction may have removed versions between them.)
    async fn versions(&self, key: &DocKey) -> Result<Vec<VersionInfo>> {
        let _ = key;
        Err(Error::Unsupported {
            operation: "list document versions",
            store: self.describe(),
        })
    }

    /// The content of one version of `key`; `None` when it is not stored.
    async fn get_version(&self, key: &DocKey, version: Version) -> Result<Option<Bytes>> {
        let _ = (key, version);
        Err(Error::Unsupported {
            operation: "read document versions",
            store: self.describe(),
        })
    }

    /// Removes one version of `key` (compaction, and documents that are
    /// done with); one that is not stored is fine.
    ///
    /// Callers keep the chain sound: they never remove the newest version
    /// of a document that is still written to, nor one that a writer may
    /// still name as the version it read (see `RunStore::compact` in
    /// `handoff-engine` for the rule used there).
    async fn delete_version(&self, key: &DocKey, version: Version) -> Result<()> {
        let _ = (key, version);
        Err(Error::Unsupported {
            operation: "remove document versions",
            store: self.describe(),
        })
    }

    /// A short human-readable name of the store, for error messages.
    fn describe(&self) -> String;
}

/// Conveniences derived from [`DocumentStore`].
#[async_trait]
pub trait DocumentStoreExt: DocumentStore {
    /// Creates version 1; [`Error::Conflict`] if the document exists.
    async fn create(&self, key: &DocKey, data: Bytes) -> Result<Version> {
        self.put_version(key, None, data).await
    }

    /// Replaces `expected` by a new version; [`Error::Conflict`] if `expected`
    /// is no longer the newest.
    async fn update(&self, key: &DocKey, expected: Version, data: Bytes) -> Result<Version> {
        self.put_version(key, Some(expected), data).await
    }

    /// Removes every version of `key` (a document that is done with).
    async fn delete(&self, key: &DocKey) -> Result<()> {
        for info in self.versions(key).await? {
            self.delete_version(key, info.version).await?;
        }
        Ok(())
    }

    /// The newest version, or [`Error::DocumentNotFound`].
    async fn get(&self, key: &DocKey) -> Result<Versioned> {
        self.get_latest(key)
            .await?
            .ok_or_else(|| Error::DocumentNotFound {
                key: key.clone(),
                store: self.describe(),
            })
    }
}

impl<T: DocumentStore + ?Sized> DocumentStoreExt for T {}

/// A type-erased document store.
pub type DynDocumentStore = dyn DocumentStore;

macro_rules! forward_document_store {
    ($($ptr:ty),*) => {$(
        #[async_trait]
        impl<T: DocumentStore + ?Sized> DocumentStore for $ptr {
            async fn put_version(&self, key: &DocKey, expected: Option<Version>, data: Bytes) -> Result<Version> {
                (**self).put_version(key, expected, data).await
            }
            async fn get_latest(&self, key: &DocKey) -> Result<Option<Versioned>> {
                (**self).get_latest(key).await
            }
            async fn list(&self, prefix: &str) -> Result<Vec<DocKey>> {
                (**self).list(prefix).await
            }
            async fn versions(&self, key: &DocKey) -> Result<Vec<VersionInfo>> {
                (**self).versions(key).await
            }
            async fn get_version(&self, key: &DocKey, version: Version) -> Result<Option<Bytes>> {
                (**self).get_version(key, version).await
            }
            async fn delete_version(&self, key: &DocKey, version: Version) -> Result<()> {
                (**self).delete_version(key, version).await
            }
            fn describe(&self) -> String {
                (**self).describe()
            }
        }
    )*};
}

forward_document_store!(&T, Box<T>, std::sync::Arc<T>);

/// The next version after `expected`, bounded.
pub(crate) fn next_version(key: &DocKey, expected: Option<Version>) -> Result<Version> {
    let next = expected.map_or(1, |v| v.0.saturating_add(1));
    if next > MAX_VERSION {
        return Err(Error::InvalidKey {
            key: key.to_string(),
            reason: "document has too many versions",
        });
    }
    Ok(Version(next))
}

/// Whether `key` lies under `prefix` ("" matches everything; otherwise the
/// prefix must end at a segment boundary or be the whole key).
pub(crate) fn under_prefix(key: &DocKey, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    prefix.is_empty()
        || key.0 == prefix
        || (key.0.starts_with(prefix) && key.0.as_bytes().get(prefix.len()) == Some(&b'/'))
}

/// The fixed-width object name of a version, so names sort by version.
pub(crate) fn version_name(version: Version) -> String {
    format!("{:017}.v", version.0)
}

/// Parses a name written by [`version_name`].
pub(crate) fn parse_version_name(name: &str) -> Option<Version> {
    let digits = name.strip_suffix(".v")?;
    if digits.len() != 17 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().map(Version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_validated() {
        assert!(DocKey::new("runs/0199aa-bb.json").is_ok());
        for bad in ["", "a//b", "../x", "a/./b", "/abs", "a b", "a\\b", "é"] {
            assert!(DocKey::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn version_names_sort_and_parse() {
        let a = version_name(Version(9));
        let b = version_name(Version(10));
        assert!(a < b);
        assert_eq!(parse_version_name(&b), Some(Version(10)));
        assert_eq!(parse_version_name("12.v"), None);
        assert_eq!(parse_version_name(".tmp-x"), None);
    }
}
