//! The snapshot manifest: a versioned, stable JSON description of everything
//! uncommitted in a working tree, whose file contents live in a blob store.
//!
//! # Formats `handoff.snapshot/v1` and `handoff.snapshot/v2`
//!
//! A manifest is one JSON object, stored as a blob; its SHA-256 digest is the
//! snapshot id. The canonical encoding ([`Manifest::to_json`]) is compact,
//! with fields in the order below and entries sorted by path, so the same
//! working-tree state always gets the same id.
//!
//! ```json
//! {
//!   "format": "handoff.snapshot/v1",
//!   "base": {
//!     "commit": "3b18e512dba79e4c8300dd08aeb37f8e728b8dad",
//!     "branch": "main",
//!     "remote": "https://example.com/repo.git"
//!   },
//!   "entries": [
//!     {
//!       "path": "src/lib.rs",
//!       "status": "modified",
//!       "base":   { "kind": "file", "oid": "<40 hex>", "size": 120, "digest": "sha256:<64 hex>" },
//!       "index":  { "kind": "file", "oid": "<40 hex>", "size": 120, "digest": "sha256:<64 hex>" },
//!       "result": { "kind": "executable", "oid": "<40 hex>", "size": 131, "digest": "sha256:<64 hex>" }
//!     },
//!     {
//!       "path": "new name.txt", "status": "renamed", "from": "old name.txt",
//!       "base": null,
//!       "index":  { "kind": "file", "oid": "<40 hex>", "size": 17, "digest": "sha256:<64 hex>" },
//!       "result": { "kind": "file", "oid": "<40 hex>", "size": 17, "digest": "sha256:<64 hex>" }
//!     }
//!   ]
//! }
//! ```
//!
//! | field | meaning |
//! |---|---|
//! | `format` | always `handoff.snapshot/v1`; readers refuse other values |
//! | `base.commit` | `HEAD` when the snapshot was taken (`null` before the first commit) |
//! | `base.branch` | the checked-out branch's short name, `null` when detached |
//! | `base.remote` | the URL of `origin` (else of the only remote) without credentials ([`remote`](crate::remote)), `null` when there is none |
//! | `entries[].path` | `/`-separated, relative to the working-tree root, UTF-8 |
//! | `entries[].status` | `added`, `modified`, `deleted`, `renamed`, `untracked`, `mode_changed`, `type_changed`, `nested_repository`, `index_only` — descriptive only |
//! | `entries[].from` | for `renamed`: the source path (which has its own `deleted` entry) |
//! | `entries[].base` | the object at the path in `HEAD`, `null` if none |
//! | `entries[].index` | the object the index holds at the path, `null` if none |
//! | `entries[].result` | the working-tree object to reproduce, in the form `git add` would store it (attributes, `core.autocrlf`, filter drivers applied), `null` for a deletion |
//! | `history` | v2 only: the git objects that travel with the snapshot (below) |
//! | `lfs` | optional: `[{ "digest": "sha256:<64 hex>", "size": n }]`, the Git LFS objects the entries' pointers name (a pointer's oid is its object's digest); a reader that ignores it writes the pointers, as git without git-lfs does |
//!
//! An object is `kind` (`file` = mode 100644, `executable` = 100755,
//! `symlink` = 120000 whose content is the link target, `gitlink` = 160000 a
//! nested repository whose `oid` is its `HEAD` commit), `oid` (git's SHA-1
//! object id), `size` in bytes and `digest`, the blob holding the content,
//! absent for gitlinks and for content that was not stored.
//!
//! **Version 2** adds `history`, written only when the snapshot carries
//! commits (a manifest without it is still written as v1, so older stores
//! and readers keep working). A v1 reader would silently ignore the carried
//! commits and fail on a base it lacks, so carrying them is a change of
//! meaning and gets the new tag:
//!
//! ```json
//! "history": {
//!   "boundary": ["<40 hex>"],
//!   "objects": [
//!     { "oid": "<40 hex>", "kind": "commit", "size": 243, "digest": "sha256:<64 hex>" },
//!     { "oid": "<40 hex>", "kind": "tree",   "size": 96,  "digest": "sha256:<64 hex>" }
//!   ]
//! }
//! ```
//!
//! | field | meaning |
//! |---|---|
//! | `history.boundary` | commits the carried ones build on, which the receiving side must have; empty when the history is complete |
//! | `history.objects[]` | each carried object: git id, `commit`/`tree`/`blob`/`tag`, raw size, and the blob holding its raw content |
//!
//! See [`history`](crate::history) for what is carried and why.
//!
//! **Version 3** adds `submodules`, written only when a submodule of the
//! working tree holds work of its own (a moved `HEAD`, commits its remote
//! lacks, uncommitted or untracked files): each is a nested snapshot of the
//! submodule's repository, recursively. A v1 or v2 reader would silently
//! drop that work, so it gets the new tag; `history` is optional in v3.
//!
//! ```json
//! "submodules": [
//!   { "path": "vendor/lib", "url": "https://example.com/lib.git", "snapshot": { "format": "handoff.snapshot/v2", … } }
//! ]
//! ```
//!
//! | field | meaning |
//! |---|---|
//! | `submodules[].path` | the submodule's path in this working tree (its gitlink entry's path) |
//! | `submodules[].url` | the submodule's own remote URL, without credentials, `null` when it has none (used when the target's `.gitmodules` names none) |
//! | `submodules[].snapshot` | the submodule's own manifest, in any of these formats, relative to its `HEAD` |
//!
//! Readers ignore unknown fields, so later versions may add fields without
//! changing the format tag; a change of meaning gets a new tag.
//!
//! Manifests are untrusted input (they may come from another machine):
//! [`Manifest::from_json`] checks the format tag, and every entry's path is
//! validated again, per entry, when a manifest is applied; content is checked
//! against both its digest and its git id.

use std::fmt;
use std::str::FromStr;

use handoff_store::Digest;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::history::History;
use crate::paths::{PathError, RepoPath};

/// The format tag of version 1 manifests (no carried history).
pub const FORMAT_V1: &str = "handoff.snapshot/v1";

/// The format tag of version 2 manifests (carried history).
pub const FORMAT_V2: &str = "handoff.snapshot/v2";

/// The format tag of version 3 manifests (submodules carried, with or
/// without history).
pub const FORMAT_V3: &str = "handoff.snapshot/v3";

/// A snapshot manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT_V1`], [`FORMAT_V2`] when `history` is present, or
    /// [`FORMAT_V3`] when `submodules` is not empty.
    pub format: String,
    /// What the snapshot is relative to.
    pub base: Base,
    /// One entry per path whose state differs from the base, sorted by path.
    pub entries: Vec<Entry>,
    /// The git objects that travel with the snapshot: the commits reachable
    /// from the base that the receiving side may lack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<History>,
    /// The Git LFS objects the entries' pointers name, stored under their
    /// SHA-256 (which is the pointer's oid), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lfs: Vec<LfsObject>,
    /// The submodules holding work of their own, each with its own
    /// snapshot, sorted by path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub submodules: Vec<Submodule>,
}

/// A submodule's own work: a nested snapshot of the repository at `path`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submodule {
    /// The submodule's path in the outer working tree, `/`-separated. Kept
    /// as text, validated ([`RepoPath`]) when applied.
    pub path: String,
    /// The submodule's own remote URL, without credentials; `None` when
    /// it has none.
    pub url: Option<String>,
    /// What the submodule holds, relative to its own `HEAD`.
    pub snapshot: Box<Manifest>,
}

/// A Git LFS object a snapshot carries: the content an LFS pointer
/// (`oid sha256:<hex>`, `size <n>`) names. Its store digest is the
/// pointer's oid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LfsObject {
    /// The content's SHA-256: the pointer's oid and the blob's digest.
    pub digest: Digest,
    /// The content's size in bytes.
    pub size: u64,
}

/// The commit a snapshot is relative to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Base {
    /// `HEAD`'s commit, or `None` in a repository without commits.
    pub commit: Option<Oid>,
    /// The checked-out branch's short name, or `None` when `HEAD` is detached.
    pub branch: Option<String>,
    /// The URL of the remote the receiving side clones from: `origin`, else
    /// the only remote, without credentials; `None` without one.
    pub remote: Option<String>,
}

/// How a path changed (descriptive; applying looks at `base`, `index` and
/// `result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Status {
    /// New in the index, not in the base.
    Added,
    /// Present in base and result with different content or mode.
    Modified,
    /// In the base, gone from the working tree.
    Deleted,
    /// Moved from `from` (the content is unchanged or nearly so).
    Renamed,
    /// Neither in the base nor the index, and not ignored.
    Untracked,
    /// Only the executable bit changed.
    ModeChanged,
    /// Changed kind (file ↔ symlink ↔ nested repository).
    TypeChanged,
    /// A nested repository or submodule: recorded, never descended into.
    NestedRepository,
    /// Same content in base and working tree, but the index differs
    /// (for example a change staged and then undone in the working tree).
    IndexOnly,
}

/// One path's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The path, `/`-separated, relative to the working tree root. Kept as
    /// text so that a hostile path fails only its own entry; use
    /// [`Entry::repo_path`] to validate.
    pub path: String,
    /// A summary of the change.
    pub status: Status,
    /// For renames: the path the content came from (which has its own
    /// `deleted` entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The object at this path in the base commit, `None` if absent there.
    pub base: Option<Object>,
    /// What the index holds at this path, `None` if not in the index.
    pub index: Option<Object>,
    /// The working-tree state to reproduce, `None` for a deletion.
    pub result: Option<Object>,
}

impl Entry {
    /// The validated path.
    pub fn repo_path(&self) -> Result<RepoPath, PathError> {
        RepoPath::new(self.path.clone())
    }
}

/// The kind of object at a path, with git's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A regular file, mode 100644.
    File,
    /// An executable file, mode 100755.
    Executable,
    /// A symbolic link, mode 120000; its content is the link target.
    Symlink,
    /// A nested repository or submodule, mode 160000; `oid` is its `HEAD`.
    Gitlink,
}

impl Kind {
    /// git's mode for this kind, in octal as git prints it.
    pub fn git_mode(self) -> &'static str {
        match self {
            Kind::File => "100644",
            Kind::Executable => "100755",
            Kind::Symlink => "120000",
            Kind::Gitlink => "160000",
        }
    }

    /// Whether the content is a blob (file, executable or symlink).
    pub fn has_content(self) -> bool {
        !matches!(self, Kind::Gitlink)
    }
}

/// An object at a path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Object {
    /// What it is.
    pub kind: Kind,
    /// git's object id: the blob id of the content, or the commit id of a
    /// nested repository's `HEAD` (the null id when it has none).
    pub oid: Oid,
    /// The content's size in bytes (0 for a gitlink).
    pub size: u64,
    /// Where the content is in the blob store; `None` when it was not stored
    /// (gitlinks, and base objects the target is expected to have).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
}

impl Object {
    /// Whether `self` and `other` are the same git state (kind and content);
    /// where the content is stored does not matter.
    pub fn same_state(&self, other: &Object) -> bool {
        self.kind == other.kind && self.oid == other.oid
    }
}

/// Whether two optional states are the same (both absent counts as same).
pub fn same_state(a: Option<&Object>, b: Option<&Object>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.same_state(b),
        _ => false,
    }
}

/// A git object id (SHA-1), serialised as 40 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Oid(pub gix::ObjectId);

impl Oid {
    /// git's id for a blob holding `data`.
    pub fn for_blob(data: &[u8]) -> Self {
        // Hashing in memory cannot fail for SHA-1 beyond a detected collision
        // attack, which git itself refuses too; map it to the null id so that
        // the entry can never match anything.
        Oid(
            gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Blob, data)
                .unwrap_or_else(|_| gix::ObjectId::null(gix::hash::Kind::Sha1)),
        )
    }

    /// The all-zero id.
    pub fn null() -> Self {
        Oid(gix::ObjectId::null(gix::hash::Kind::Sha1))
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Oid {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 40
            || !s
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(format!(
                "invalid git object id {:?}: expected 40 lowercase hex digits",
                s.chars().take(64).collect::<String>()
            ));
        }
        gix::ObjectId::from_hex(s.as_bytes())
            .map(Oid)
            .map_err(|e| format!("invalid git object id {s:?}: {e}"))
    }
}

impl Serialize for Oid {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Oid {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a manifest could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not JSON of the manifest's shape.
    #[error("manifest is not valid: {0}")]
    Json(#[from] serde_json::Error),
    /// A format this version does not understand.
    #[error(
        "manifest format {found:?} is not supported (expected {FORMAT_V1:?}, {FORMAT_V2:?} or {FORMAT_V3:?})"
    )]
    Format {
        /// The format tag found.
        found: String,
    },
    /// A v1 manifest with carried history, or a v2 one without.
    #[error("manifest format {found:?} does not match its content: history is {}", if *has_history { "present" } else { "absent" })]
    Inconsistent {
        /// The format tag found.
        found: String,
        /// Whether the manifest carries history.
        has_history: bool,
    },
    /// A v3 manifest without submodules, or a v1 or v2 one with them.
    #[error(
        "manifest format {found:?} does not match its content: submodules are only in {FORMAT_V3:?}"
    )]
    Submodules {
        /// The format tag found.
        found: String,
    },
}

impl Manifest {
    /// An empty manifest relative to `base`.
    pub fn new(base: Base) -> Self {
        Self {
            format: FORMAT_V1.to_owned(),
            base,
            entries: Vec::new(),
            history: None,
            lfs: Vec::new(),
            submodules: Vec::new(),
        }
    }

    /// Sets (or clears) the carried history, and the format tag with it.
    pub fn set_history(&mut self, history: Option<History>) {
        self.history = history;
        self.format = self.expected_format().to_owned();
    }

    /// Sets the submodules' snapshots (sorted by path here), and the format
    /// tag with them.
    pub fn set_submodules(&mut self, mut submodules: Vec<Submodule>) {
        submodules.sort_by(|a, b| a.path.cmp(&b.path));
        self.submodules = submodules;
        self.format = self.expected_format().to_owned();
    }

    /// The format tag this manifest's content calls for: the oldest that
    /// can express it.
    fn expected_format(&self) -> &'static str {
        if !self.submodules.is_empty() {
            FORMAT_V3
        } else if self.history.is_some() {
            FORMAT_V2
        } else {
            FORMAT_V1
        }
    }

    /// This manifest and every nested submodule's, depth first, each with
    /// the path prefix (`sub/`, `sub/inner/`) its paths are under.
    pub fn walk(&self) -> Vec<(String, &Manifest)> {
        let mut out = Vec::new();
        let mut stack = vec![(String::new(), self)];
        while let Some((prefix, manifest)) = stack.pop() {
            for sub in manifest.submodules.iter().rev() {
                stack.push((format!("{prefix}{}/", sub.path), &sub.snapshot));
            }
            out.push((prefix, manifest));
        }
        out
    }

    /// This manifest with its submodules' entries in it, each under its
    /// submodule's path (`sub/file.txt`), sorted: what a patch applied in
    /// the outer working tree (`git apply`, which writes through a
    /// submodule's directory) shows. Carried history is left as it is;
    /// the submodules' gitlink entries stay, for a patch cannot move them.
    pub fn flattened(&self) -> std::borrow::Cow<'_, Manifest> {
        if self.submodules.is_empty() {
            return std::borrow::Cow::Borrowed(self);
        }
        let mut entries = Vec::new();
        for (prefix, manifest) in self.walk() {
            entries.extend(manifest.entries.iter().map(|e| Entry {
                path: format!("{prefix}{}", e.path),
                from: e.from.as_ref().map(|f| format!("{prefix}{f}")),
                ..e.clone()
            }));
        }
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        std::borrow::Cow::Owned(Manifest {
            format: if self.history.is_some() {
                FORMAT_V2
            } else {
                FORMAT_V1
            }
            .to_owned(),
            base: self.base.clone(),
            entries,
            history: self.history.clone(),
            lfs: self
                .walk()
                .iter()
                .flat_map(|(_, m)| m.lfs.iter().copied())
                .collect(),
            submodules: Vec::new(),
        })
    }

    /// Decodes a manifest, checking its format tag (and its submodules').
    pub fn from_json(bytes: &[u8]) -> Result<Self, DecodeError> {
        let manifest: Manifest = serde_json::from_slice(bytes)?;
        for (_, manifest) in manifest.walk() {
            manifest.check_format()?;
        }
        Ok(manifest)
    }

    fn check_format(&self) -> Result<(), DecodeError> {
        let (expects_history, expects_submodules) = match self.format.as_str() {
            FORMAT_V1 => (Some(false), false),
            FORMAT_V2 => (Some(true), false),
            FORMAT_V3 => (None, true),
            other => {
                return Err(DecodeError::Format {
                    found: other.chars().take(64).collect(),
                });
            }
        };
        if expects_history.is_some_and(|expected| self.history.is_some() != expected) {
            return Err(DecodeError::Inconsistent {
                found: self.format.clone(),
                has_history: self.history.is_some(),
            });
        }
        if self.submodules.is_empty() == expects_submodules {
            return Err(DecodeError::Submodules {
                found: self.format.clone(),
            });
        }
        Ok(())
    }

    /// The canonical encoding: compact JSON, fields in declaration order,
    /// entries sorted by path. Identical states encode identically, so the
    /// manifest's digest is a stable snapshot id.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Every digest the manifest refers to (entries' content, carried
    /// history and LFS objects, its submodules' too), deduplicated.
    pub fn digests(&self) -> Vec<Digest> {
        let mut out: Vec<Digest> = Vec::new();
        for (_, manifest) in self.walk() {
            out.extend(
                manifest
                    .entries
                    .iter()
                    .flat_map(|e| [&e.base, &e.index, &e.result])
                    .filter_map(|o| o.as_ref().and_then(|o| o.digest))
                    .chain(
                        manifest
                            .history
                            .iter()
                            .flat_map(|h| h.objects.iter().map(|o| o.digest)),
                    )
                    .chain(manifest.lfs.iter().map(|o| o.digest)),
            );
        }
        out.sort();
        out.dedup();
        out
    }

    /// The total size of the working-tree results, in bytes.
    pub fn result_bytes(&self) -> u64 {
        self.entries
            .iter()
            .filter_map(|e| e.result.as_ref())
            .map(|o| o.size)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(data: &[u8], kind: Kind) -> Object {
        Object {
            kind,
            oid: Oid::for_blob(data),
            size: data.len() as u64,
            digest: Some(Digest::of(data)),
        }
    }

    #[test]
    fn json_round_trip_and_stable_encoding() {
        let mut manifest = Manifest::new(Base {
            commit: Some(Oid::for_blob(b"pretend commit")),
            branch: Some("main".into()),
            remote: None,
        });
        manifest.entries.push(Entry {
            path: "src/lib.rs".into(),
            status: Status::Modified,
            from: None,
            base: Some(object(b"old\n", Kind::File)),
            index: Some(object(b"old\n", Kind::File)),
            result: Some(object(b"new\n", Kind::Executable)),
        });
        let json = manifest.to_json();
        let decoded = Manifest::from_json(&json).unwrap();
        assert_eq!(decoded, manifest);
        assert_eq!(decoded.to_json(), json);
        assert_eq!(manifest.digests().len(), 2);
        assert_eq!(manifest.result_bytes(), 4);
    }

    #[test]
    fn empty_blob_oid_matches_git() {
        assert_eq!(
            Oid::for_blob(b"").to_string(),
            "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
        );
    }

    #[test]
    fn refuses_other_formats_and_bad_ids() {
        let wrong = br#"{"format":"handoff.snapshot/v9","base":{"commit":null,"branch":null,"remote":null},"entries":[]}"#;
        assert!(matches!(
            Manifest::from_json(wrong),
            Err(DecodeError::Format { .. })
        ));
        let bad_oid = br#"{"format":"handoff.snapshot/v1","base":{"commit":"xyz","branch":null,"remote":null},"entries":[]}"#;
        assert!(matches!(
            Manifest::from_json(bad_oid),
            Err(DecodeError::Json(_))
        ));
    }
}
