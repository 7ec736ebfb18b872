//! Git history that travels with a snapshot: the commits reachable from
//! `HEAD` that the receiving side may lack, with every tree and blob they
//! need, so that local commits not yet pushed (and, on the way back, the
//! commits an agent made in a cloud session) are never lost.
//!
//! # What is carried
//!
//! The receiving side clones the remote the snapshot names (`origin`, else
//! the only remote), so it is assumed to have what that remote's
//! remote-tracking refs (`refs/remotes/<remote>/*`) reach, plus any commits
//! the caller names as known ([`SnapshotOptions::known_commits`](crate::SnapshotOptions)).
//! A snapshot carries the commits reachable from `HEAD` that none of those
//! reach, and every object those commits need that the known side does not
//! already hold. A repository without a remote has no remote-tracking refs, so
//! its whole history is carried; the store deduplicates it, so a later
//! snapshot uploads only what is new.
//!
//! The *boundary* is the set of known commits the carried ones build on
//! (parents that were not carried). An empty boundary means the history is
//! complete: the repository can be rebuilt from the store alone.
//!
//! Objects the known side holds are found by walking the trees of the
//! boundary commits and of up to [`KNOWN_COMMITS_WALKED`] of their
//! ancestors; an object that only an older commit holds may be carried
//! again, which costs bytes but is harmless (importing is idempotent).
//!
//! # Storage
//!
//! Every object is stored as a blob of its raw content (what git hashes
//! after the `<kind> <size>\0` header), so a blob object and a working-tree
//! file with the same content share one stored copy. The manifest lists each
//! object's git id, kind, size and digest; [`import`] checks every object
//! against its git id before writing it into the receiving repository.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use gix::ObjectId;
use gix::prelude::Write as _;
use handoff_store::{BlobStore, Digest};
use serde::{Deserialize, Serialize};

use crate::apply::blocking;
use crate::limits::{Limit, Limits};
use crate::manifest::Oid;
use crate::{Error, Result};

/// How many ancestors of the boundary commits are walked to find objects
/// the receiving side already holds.
pub const KNOWN_COMMITS_WALKED: usize = 256;

/// Manifests carry SHA-1 object ids ([`Oid`]).
const HASH: gix::hash::Kind = gix::hash::Kind::Sha1;

/// The kind of a git object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    /// A commit.
    Commit,
    /// A tree.
    Tree,
    /// A blob.
    Blob,
    /// An annotated tag.
    Tag,
}

impl ObjectKind {
    fn to_gix(self) -> gix::objs::Kind {
        match self {
            ObjectKind::Commit => gix::objs::Kind::Commit,
            ObjectKind::Tree => gix::objs::Kind::Tree,
            ObjectKind::Blob => gix::objs::Kind::Blob,
            ObjectKind::Tag => gix::objs::Kind::Tag,
        }
    }

    fn from_gix(kind: gix::objs::Kind) -> Self {
        match kind {
            gix::objs::Kind::Commit => ObjectKind::Commit,
            gix::objs::Kind::Tree => ObjectKind::Tree,
            gix::objs::Kind::Blob => ObjectKind::Blob,
            gix::objs::Kind::Tag => ObjectKind::Tag,
        }
    }
}

/// One carried git object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HistoryObject {
    /// git's object id.
    pub oid: Oid,
    /// What it is.
    pub kind: ObjectKind,
    /// Its raw content's size in bytes.
    pub size: u64,
    /// The blob holding its raw content.
    pub digest: Digest,
}

/// The git objects a snapshot carries beyond what the receiving side has.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// The known commits the carried ones build on; the receiving side must
    /// have them. Empty when the carried history is complete.
    pub boundary: Vec<Oid>,
    /// Every carried object, commits first (newest first), then trees and
    /// blobs.
    pub objects: Vec<HistoryObject>,
}

impl History {
    /// How many commits are carried.
    pub fn commits(&self) -> usize {
        self.objects
            .iter()
            .filter(|o| o.kind == ObjectKind::Commit)
            .count()
    }

    /// The carried commits, newest first.
    pub fn commit_ids(&self) -> impl Iterator<Item = Oid> + '_ {
        self.objects
            .iter()
            .filter(|o| o.kind == ObjectKind::Commit)
            .map(|o| o.oid)
    }

    /// The total size of the carried objects in bytes.
    pub fn bytes(&self) -> u64 {
        self.objects.iter().map(|o| o.size).sum()
    }

    /// Whether the store alone holds everything needed to rebuild the
    /// repository up to the snapshot's base (no boundary).
    pub fn is_complete(&self) -> bool {
        self.boundary.is_empty()
    }

    /// Checks a history read from a manifest (untrusted) against `limits`.
    pub(crate) fn check(&self, what: &str, limits: &Limits) -> Result<()> {
        let commits = self.commits() as u64;
        if commits > limits.max_history_commits {
            return Err(Error::LimitExceeded {
                what: what.to_owned(),
                limit: Limit::HistoryCommits,
                actual: commits,
                max: limits.max_history_commits,
            });
        }
        let bytes = self.bytes();
        if bytes > limits.max_history_bytes {
            return Err(Error::LimitExceeded {
                what: what.to_owned(),
                limit: Limit::HistoryBytes,
                actual: bytes,
                max: limits.max_history_bytes,
            });
        }
        Ok(())
    }
}

/// Commits and objects a capture found, with their content.
pub(crate) struct Collected {
    pub(crate) history: History,
    pub(crate) contents: Vec<(Digest, Bytes)>,
    /// For each carried blob and commit: where it is (`history:<path>`,
    /// `history:commit <oid>`), so that a secret found in it can be named.
    pub(crate) labels: HashMap<Digest, String>,
}

/// The tips of the remote-tracking refs of `remote` (`None`: of no
/// remote), peeled to commits.
fn remote_tips(
    repo: &gix::Repository,
    workdir: &Path,
    remote: Option<&str>,
) -> Result<Vec<ObjectId>> {
    let Some(remote) = remote else {
        return Ok(Vec::new());
    };
    let refs = repo
        .references()
        .map_err(|e| Error::git("list references", workdir, e))?;
    let prefix = format!("refs/remotes/{remote}/");
    // Peeled by the iterator: packed refs (a fresh clone's) cannot be
    // peeled while it holds the packed-refs buffer.
    let iter = refs
        .prefixed(prefix.as_str())
        .and_then(|iter| iter.peeled())
        .map_err(|e| Error::git("list remote-tracking references", workdir, e))?;
    let mut tips = Vec::new();
    for reference in iter {
        // A broken or dangling ref just is not a tip.
        let Ok(reference) = reference else {
            continue;
        };
        let id = reference.id().detach();
        if repo.find_commit(id).is_ok() {
            tips.push(id);
        }
    }
    tips.sort();
    tips.dedup();
    Ok(tips)
}

/// Collects what must travel with a snapshot whose `HEAD` is `head`; `None`
/// when every commit reachable from `HEAD` is known to the receiving side.
pub(crate) fn collect(
    repo: &gix::Repository,
    workdir: &Path,
    head: ObjectId,
    remote: Option<&str>,
    known_commits: &[Oid],
    limits: &Limits,
) -> Result<Option<Collected>> {
    let mut repo = repo.clone();
    repo.object_cache_size_if_unset(16 << 20);
    let repo = &repo;
    let mut known = remote_tips(repo, workdir, remote)?;
    known.extend(
        known_commits
            .iter()
            .map(|c| c.0)
            .filter(|c| repo.has_object(c)),
    );
    if known.contains(&head) {
        return Ok(None);
    }

    let walk = repo
        .rev_walk([head])
        .with_hidden(known.iter().copied())
        .all()
        .map_err(|e| Error::git("walk the commits not on any remote", workdir, e))?;
    let mut carried = Vec::new();
    for info in walk {
        let info =
            info.map_err(|e| Error::git("walk the commits not on any remote", workdir, e))?;
        carried.push(info.id);
        if carried.len() as u64 > limits.max_history_commits {
            return Err(Error::HistoryTooLarge {
                repo: workdir.to_owned(),
                limit: Limit::HistoryCommits,
                actual: carried.len() as u64,
                max: limits.max_history_commits,
            });
        }
    }
    if carried.is_empty() {
        return Ok(None);
    }
    let carried_set: HashSet<ObjectId> = carried.iter().copied().collect();

    let mut reader = ObjectReader {
        repo,
        workdir,
        buf: Vec::new(),
    };
    // The boundary: parents of carried commits that were not carried.
    let mut boundary = Vec::new();
    let mut commit_data = Vec::with_capacity(carried.len());
    for id in &carried {
        let data = reader.read(*id, gix::objs::Kind::Commit)?;
        let commit = gix::objs::CommitRefIter::from_bytes(&data, HASH);
        for parent in commit.parent_ids() {
            if !carried_set.contains(&parent) && !boundary.contains(&parent) {
                boundary.push(parent);
            }
        }
        let tree = gix::objs::CommitRefIter::from_bytes(&data, HASH)
            .tree_id()
            .map_err(|e| Error::git("read a commit's tree", workdir, e))?;
        commit_data.push((*id, tree, data));
    }
    boundary.sort();

    // What the receiving side holds: the trees of the boundary commits and
    // of a bounded number of their ancestors.
    let mut held: HashSet<ObjectId> = HashSet::new();
    if !boundary.is_empty() {
        let walk = repo
            .rev_walk(boundary.iter().copied())
            .all()
            .map_err(|e| Error::git("walk the known commits", workdir, e))?;
        for info in walk.take(KNOWN_COMMITS_WALKED) {
            let Ok(info) = info else { break };
            let Ok(commit) = repo.find_commit(info.id) else {
                continue;
            };
            let Ok(tree) = commit.tree_id() else { continue };
            reader.mark_tree(tree.detach(), &mut held)?;
        }
    }

    // The carried commits' objects that are not held, each once.
    let mut history = History {
        boundary: boundary.into_iter().map(Oid).collect(),
        objects: Vec::new(),
    };
    let mut contents: HashMap<Digest, Bytes> = HashMap::new();
    let mut labels: HashMap<Digest, String> = HashMap::new();
    let mut bytes = 0u64;
    let mut keep = |oid: ObjectId,
                    kind: gix::objs::Kind,
                    data: Vec<u8>,
                    label: Option<String>,
                    history: &mut History|
     -> Result<()> {
        bytes += data.len() as u64;
        if bytes > limits.max_history_bytes {
            return Err(Error::HistoryTooLarge {
                repo: workdir.to_owned(),
                limit: Limit::HistoryBytes,
                actual: bytes,
                max: limits.max_history_bytes,
            });
        }
        let digest = Digest::of(&data);
        history.objects.push(HistoryObject {
            oid: Oid(oid),
            kind: ObjectKind::from_gix(kind),
            size: data.len() as u64,
            digest,
        });
        contents.entry(digest).or_insert_with(|| Bytes::from(data));
        if let Some(label) = label {
            labels.entry(digest).or_insert(label);
        }
        Ok(())
    };
    let mut trees = Vec::new();
    for (id, tree, data) in commit_data {
        let label = format!("history:commit {id}");
        keep(id, gix::objs::Kind::Commit, data, Some(label), &mut history)?;
        trees.push((tree, String::new()));
    }
    let mut seen = held;
    let mut stack: Vec<(ObjectId, String)> = trees;
    while let Some((tree, prefix)) = stack.pop() {
        if !seen.insert(tree) {
            continue;
        }
        let data = reader.read(tree, gix::objs::Kind::Tree)?;
        let mut blobs = Vec::new();
        for entry in gix::objs::TreeRefIter::from_bytes(&data, HASH) {
            let entry = entry.map_err(|e| Error::git("read a tree", workdir, e))?;
            let oid = entry.oid.to_owned();
            let path = format!("{prefix}{}", entry.filename);
            if entry.mode.is_tree() {
                stack.push((oid, format!("{path}/")));
            } else if !entry.mode.is_commit() && !seen.contains(&oid) {
                blobs.push((oid, path));
            }
        }
        keep(tree, gix::objs::Kind::Tree, data, None, &mut history)?;
        for (blob, path) in blobs {
            if seen.insert(blob) {
                let data = reader.read(blob, gix::objs::Kind::Blob)?;
                let label = format!("history:{path}");
                keep(blob, gix::objs::Kind::Blob, data, Some(label), &mut history)?;
            }
        }
    }
    Ok(Some(Collected {
        history,
        contents: contents.into_iter().collect(),
        labels,
    }))
}

struct ObjectReader<'a> {
    repo: &'a gix::Repository,
    workdir: &'a Path,
    buf: Vec<u8>,
}

impl ObjectReader<'_> {
    fn read(&mut self, id: ObjectId, kind: gix::objs::Kind) -> Result<Vec<u8>> {
        use gix::objs::Find as _;
        let found = self
            .repo
            .objects
            .try_find(&id, &mut self.buf)
            .map_err(|e| Error::git("read an object", self.workdir, e))?;
        match found {
            Some(data) if data.kind == kind => Ok(data.data.to_vec()),
            Some(data) => Err(Error::git(
                "read an object",
                self.workdir,
                format!("object {id} is a {}, expected a {kind}", data.kind),
            )),
            None => Err(Error::git(
                "read an object",
                self.workdir,
                format!("object {id} is missing from the repository"),
            )),
        }
    }

    /// Adds `tree` and everything under it to `held`, skipping subtrees
    /// already there.
    fn mark_tree(&mut self, tree: ObjectId, held: &mut HashSet<ObjectId>) -> Result<()> {
        let mut stack = vec![tree];
        while let Some(tree) = stack.pop() {
            if !held.insert(tree) {
                continue;
            }
            let data = self.read(tree, gix::objs::Kind::Tree)?;
            for entry in gix::objs::TreeRefIter::from_bytes(&data, HASH) {
                let entry = entry.map_err(|e| Error::git("read a tree", self.workdir, e))?;
                if entry.mode.is_tree() {
                    stack.push(entry.oid.to_owned());
                } else if !entry.mode.is_commit() {
                    held.insert(entry.oid.to_owned());
                }
            }
        }
        Ok(())
    }
}

/// What [`import`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Imported {
    /// Objects written into the repository.
    pub written: usize,
    /// Objects the repository already had.
    pub present: usize,
    /// Bytes fetched from the store.
    pub bytes: u64,
}

/// How many bytes of objects [`import`] fetches from the store at once.
const IMPORT_BATCH_BYTES: u64 = 64 << 20;

/// Imports a snapshot's carried history into the object database of the
/// repository containing `dir`: every object it lacks is fetched from
/// `store`, checked against its git id and written. Nothing else (refs,
/// index, working tree) is touched.
///
/// Fails with [`Error::BoundaryMissing`] when a commit the history builds
/// on is not in the repository (it was never pushed where the repository
/// came from), and with [`Error::HistoryObject`] naming the object when one
/// is missing from the store or does not match its id.
pub async fn import(
    dir: &Path,
    store: &dyn BlobStore,
    history: &History,
    limits: &Limits,
) -> Result<Imported> {
    let dir = dir.to_owned();
    history.check(&format!("the history carried to {}", dir.display()), limits)?;
    let (workdir, missing, present) = {
        let dir = dir.clone();
        let history = history.clone();
        blocking("find missing objects", move || {
            let (repo, workdir) = open_any(&dir)?;
            let mut missing = Vec::new();
            let mut present = 0;
            let mut seen = HashSet::new();
            for object in history.objects {
                if !seen.insert(object.oid) {
                    continue;
                }
                if repo.has_object(object.oid.0) {
                    present += 1;
                } else {
                    missing.push(object);
                }
            }
            Ok((workdir, missing, present))
        })
        .await?
    };
    let mut imported = Imported {
        present,
        ..Imported::default()
    };
    let mut start = 0;
    while start < missing.len() {
        let mut end = start;
        let mut size = 0;
        while end < missing.len()
            && (end == start || size + missing[end].size <= IMPORT_BATCH_BYTES)
        {
            size += missing[end].size;
            end += 1;
        }
        let batch: Vec<HistoryObject> = missing[start..end].to_vec();
        let digests: Vec<Digest> = batch.iter().map(|o| o.digest).collect();
        let fetched = store.get_many(&digests).await;
        let mut objects = Vec::with_capacity(batch.len());
        for (object, data) in batch.into_iter().zip(fetched) {
            let data = data.map_err(|e| Error::HistoryObject {
                oid: object.oid,
                reason: e.to_string(),
            })?;
            imported.bytes += data.len() as u64;
            objects.push((object, data));
        }
        let dir = dir.clone();
        imported.written +=
            blocking("write objects", move || write_objects(&dir, &objects)).await?;
        start = end;
    }

    let boundary = history.boundary.clone();
    let dir2 = dir.clone();
    blocking("check the boundary commits", move || {
        let (repo, _) = open_any(&dir2)?;
        for commit in boundary {
            if !repo.has_object(commit.0) {
                return Err(Error::BoundaryMissing {
                    commit,
                    repo: workdir.clone(),
                });
            }
        }
        Ok(())
    })
    .await?;
    Ok(imported)
}

fn write_objects(dir: &Path, objects: &[(HistoryObject, Bytes)]) -> Result<usize> {
    let (repo, workdir) = open_any(dir)?;
    let mut written = 0;
    for (object, data) in objects {
        let kind = object.kind.to_gix();
        let actual = gix::objs::compute_hash(repo.object_hash(), kind, data)
            .map_err(|e| Error::git("hash an object", &workdir, e))?;
        if actual != object.oid.0 {
            return Err(Error::HistoryObject {
                oid: object.oid,
                reason: format!("the stored {} {} hashes to {actual}", object.digest, kind),
            });
        }
        repo.objects
            .write_buf_with_known_id(kind, data, actual)
            .map_err(|e| Error::git("write an object", &workdir, e))?;
        written += 1;
    }
    Ok(written)
}

/// Opens the repository containing `dir`, bare or not; returns it and the
/// directory to name in errors.
fn open_any(dir: &Path) -> Result<(gix::Repository, PathBuf)> {
    let repo = gix::discover(dir).map_err(|e| Error::NotARepository {
        path: dir.to_owned(),
        source: Some(Box::new(e)),
    })?;
    let shown = repo
        .workdir()
        .map_or_else(|| repo.git_dir().to_owned(), Path::to_owned);
    Ok((repo, shown))
}
