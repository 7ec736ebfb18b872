//! Bringing a snapshot's carried commits into the checkout it is applied
//! to, before its uncommitted changes: what the cloud side does when it
//! checks out a session's start, done to an existing checkout.
//!
//! A snapshot taken on a local commit not yet pushed carries that commit
//! ([`crate::history`]); a fresh clone of the remote lacks it. Applying only
//! the uncommitted changes there would silently drop the commit's files.
//! So, when the target's `HEAD` does not already contain the snapshot's
//! base:
//!
//! - the carried objects are imported ([`crate::history::import`]);
//! - when `HEAD` is an ancestor of the base (the clone is where the
//!   commits were made from, or behind it), the checkout is fast-forwarded:
//!   every path that differs between `HEAD`'s tree and the base's is
//!   written through the same best-effort apply as the snapshot's entries
//!   (checked first, so a local change in the way leaves everything as it
//!   was and is reported), then the checked-out branch (or a detached
//!   `HEAD`) is moved to the base;
//! - otherwise (`HEAD` diverged, is unrelated, or there is no commit yet)
//!   nothing is moved and the carried commits `HEAD` lacks are named.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use bytes::Bytes;
use gix::bstr::BString;
use handoff_store::{BlobStore, MemoryStore};

use crate::apply::blocking;
use crate::history::History;
use crate::limits::Limits;
use crate::manifest::{Base, Entry, Kind, Manifest, Object, Oid, Status};
use crate::snapshot::{open_repo, tree_changes};
use crate::{Error, Result};

/// What to do with the carried commits, decided from how the target's
/// `HEAD` relates to the snapshot's base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// `HEAD` already contains the base (it is the base, or ahead of it).
    Nothing,
    /// `HEAD` is an ancestor of the base: move it forward onto the carried
    /// commits.
    FastForward,
    /// `HEAD` has commits the base does not (or no commit at all, where
    /// the files present are not known to be any commit's): the carried
    /// commits cannot be brought in without a merge.
    Diverged,
}

/// The plan for a target whose `HEAD` is `head`, given whether the base is
/// in `HEAD`'s history and whether `HEAD` is in the base's.
pub(crate) fn plan(head: Option<Oid>, base_in_head: bool, head_in_base: bool) -> Plan {
    match head {
        _ if base_in_head => Plan::Nothing,
        None => Plan::Diverged,
        Some(_) if head_in_base => Plan::FastForward,
        Some(_) => Plan::Diverged,
    }
}

/// Where the target stands after [`prepare`].
#[derive(Debug)]
pub(crate) enum Prepared {
    /// Nothing to do with the carried commits.
    Nothing,
    /// The checkout can move from `head` to `base`: `manifest` turns `HEAD`'s
    /// tree into the base's, its content in `store`.
    FastForward {
        /// The target's `HEAD` now.
        head: Option<Oid>,
        /// The snapshot's base.
        base: Oid,
        /// The paths that differ, as entries from `HEAD`'s tree to the base's.
        manifest: Box<Manifest>,
        /// Their content.
        store: MemoryStore,
        /// The carried commits this brings in, newest first.
        commits: Vec<Oid>,
        /// Paths that differ but that a snapshot cannot name (not UTF-8),
        /// shown lossily: while there are any the fast-forward cannot be
        /// done without dropping them.
        unnamed: Vec<String>,
    },
    /// These carried commits are not in `HEAD`'s history and cannot be
    /// brought in, newest first.
    Missing(Vec<Oid>),
}

/// Imports the carried history of `manifest` into the repository of
/// `workdir` and decides what to do with it. A `dry_run` imports into a
/// scratch repository that borrows the target's objects (an alternate)
/// instead, so the target's object database is left as it was.
pub(crate) async fn prepare(
    workdir: &Path,
    store: &dyn BlobStore,
    manifest: &Manifest,
    limits: &Limits,
    dry_run: bool,
) -> Result<Prepared> {
    let (Some(history), Some(base)) = (&manifest.history, manifest.base.commit) else {
        return Ok(Prepared::Nothing);
    };
    let carried: Vec<Oid> = history.commit_ids().collect();
    let (head, contained) = {
        let dir = workdir.to_owned();
        blocking("read HEAD", move || {
            let (repo, workdir) = open_repo(&dir)?;
            let head = head_commit(&repo, &workdir)?;
            let contained = match head {
                Some(head) => contains(&repo, &workdir, head, base)?,
                None => false,
            };
            Ok((head, contained))
        })
        .await?
    };
    if contained {
        return Ok(Prepared::Nothing);
    }
    if head.is_none() {
        // Nothing to move onto the carried commits (see [`plan`]); no
        // need to import them.
        return Ok(Prepared::Missing(carried));
    }
    let scratch = if dry_run {
        let dir = workdir.to_owned();
        Some(blocking("make a scratch object database", move || scratch_odb(&dir)).await?)
    } else {
        None
    };
    // Where the carried objects go, and where they are read from below.
    let odb: &Path = scratch.as_ref().map_or(workdir, |s| s.path());
    match crate::history::import(odb, store, history, limits).await {
        Ok(_) => {}
        // The commits the carried ones build on are not here: this is not
        // a clone of where the snapshot came from, or it is behind it.
        Err(Error::BoundaryMissing { .. }) => return Ok(Prepared::Missing(carried)),
        Err(e) => return Err(e),
    }
    let dir = workdir.to_owned();
    let odb = odb.to_owned();
    let history: History = history.clone();
    let ready = blocking("plan the carried commits", move || {
        let (_, workdir) = open_repo(&dir)?;
        let repo =
            gix::open(&odb).map_err(|e| Error::git("open the carried objects", &workdir, e))?;
        let head_in_base = match head {
            Some(head) => contains(&repo, &workdir, base, head)?,
            None => true,
        };
        match plan(head, false, head_in_base) {
            Plan::Nothing => Ok(Ready::Done(Prepared::Nothing)),
            Plan::Diverged => {
                let in_head = match head {
                    Some(head) => reachable(&repo, &workdir, head, &history)?,
                    None => HashSet::new(),
                };
                Ok(Ready::Done(Prepared::Missing(
                    carried
                        .into_iter()
                        .filter(|c| !in_head.contains(c))
                        .collect(),
                )))
            }
            Plan::FastForward => {
                let forward = fast_forward(&repo, &workdir, head, base)?;
                let in_head = match head {
                    Some(head) => reachable(&repo, &workdir, head, &history)?,
                    None => HashSet::new(),
                };
                let commits = carried
                    .into_iter()
                    .filter(|c| !in_head.contains(c))
                    .collect();
                Ok(Ready::FastForward(head, forward, commits))
            }
        }
    })
    .await?;
    match ready {
        Ready::Done(prepared) => Ok(prepared),
        Ready::FastForward(head, forward, commits) => {
            let memory = MemoryStore::new();
            memory.put_many(forward.contents).await?;
            Ok(Prepared::FastForward {
                head,
                base,
                manifest: Box::new(forward.manifest),
                store: memory,
                commits,
                unnamed: forward.unnamed,
            })
        }
    }
}

/// An empty bare repository in a temporary directory whose object
/// database reads the target's as an alternate: what a dry run imports
/// carried objects into.
fn scratch_odb(workdir: &Path) -> Result<tempfile::TempDir> {
    let (repo, workdir) = open_repo(workdir)?;
    let io = |e: std::io::Error| Error::git("make a scratch object database", &workdir, e);
    let dir = tempfile::Builder::new()
        .prefix("handoff-dry-run-")
        .tempdir()
        .map_err(io)?;
    gix::init_bare(dir.path())
        .map_err(|e| Error::git("make a scratch object database", &workdir, e))?;
    let objects = std::path::absolute(repo.common_dir().join("objects")).map_err(io)?;
    let mut line = gix::path::into_bstr(objects)
        .map_err(|e| Error::git("make a scratch object database", &workdir, e))?
        .into_owned();
    line.push(b'\n');
    std::fs::write(dir.path().join("objects/info/alternates"), line.as_slice()).map_err(io)?;
    Ok(dir)
}

/// What the blocking part of [`prepare`] found.
enum Ready {
    Done(Prepared),
    FastForward(Option<Oid>, Forward, Vec<Oid>),
}

/// The difference between two commits' trees, as entries.
struct Forward {
    manifest: Manifest,
    /// The content of the entries' result side.
    contents: Vec<Bytes>,
    /// Paths that differ but are not UTF-8, so no entry can name them;
    /// shown lossily.
    unnamed: Vec<String>,
}

/// Moves the checked-out branch (or a detached `HEAD`) of `workdir` from
/// `head` to `base`, only if it is still at `head`.
pub(crate) async fn move_head(workdir: &Path, head: Option<Oid>, base: Oid) -> Result<()> {
    let dir = workdir.to_owned();
    blocking("move HEAD onto the carried commits", move || {
        use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
        let (repo, workdir) = open_repo(&dir)?;
        let expected = match head {
            Some(head) => PreviousValue::MustExistAndMatch(gix::refs::Target::Object(head.0)),
            None => PreviousValue::MustNotExist,
        };
        let name = "HEAD"
            .try_into()
            .map_err(|e| Error::git("name HEAD", &workdir, e))?;
        repo.edit_reference(RefEdit {
            change: Change::Update {
                log: LogChange {
                    mode: RefLog::AndReference,
                    force_create_reflog: false,
                    message: format!("handoff apply: fast-forward to {base}").into(),
                },
                expected,
                new: gix::refs::Target::Object(base.0),
            },
            name,
            // Through HEAD to the branch it names, as `git merge --ff-only`.
            deref: true,
        })
        .map_err(|e| Error::git("move HEAD onto the carried commits", &workdir, e))?;
        Ok(())
    })
    .await
}

/// Points `HEAD` of `workdir` at `commit`, detached (as `git submodule
/// update` leaves a submodule), whatever it was.
pub(crate) async fn detach_head(workdir: &Path, commit: Oid) -> Result<()> {
    let dir = workdir.to_owned();
    blocking("detach HEAD", move || {
        use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
        let (repo, workdir) = open_repo(&dir)?;
        let name = "HEAD"
            .try_into()
            .map_err(|e| Error::git("name HEAD", &workdir, e))?;
        repo.edit_reference(RefEdit {
            change: Change::Update {
                log: LogChange {
                    mode: RefLog::AndReference,
                    force_create_reflog: false,
                    message: format!("handoff apply: check out {commit}").into(),
                },
                expected: PreviousValue::Any,
                new: gix::refs::Target::Object(commit.0),
            },
            name,
            deref: false,
        })
        .map_err(|e| Error::git("detach HEAD", &workdir, e))?;
        Ok(())
    })
    .await
}

/// The entries that write `commit`'s whole tree into an empty checkout
/// (each staged), with their content: a checkout done through apply. The
/// third part names the paths no entry can hold (not UTF-8), lossily.
pub(crate) async fn tree_of_commit(
    workdir: &Path,
    commit: Oid,
) -> Result<(Manifest, MemoryStore, Vec<String>)> {
    let dir = workdir.to_owned();
    let forward = blocking("read a commit's tree", move || {
        let (repo, workdir) = open_repo(&dir)?;
        fast_forward(&repo, &workdir, None, commit)
    })
    .await?;
    let memory = MemoryStore::new();
    memory.put_many(forward.contents).await?;
    Ok((forward.manifest, memory, forward.unnamed))
}

fn head_commit(repo: &gix::Repository, workdir: &Path) -> Result<Option<Oid>> {
    let head = repo
        .head()
        .map_err(|e| Error::git("read HEAD", workdir, e))?;
    Ok(head.id().map(|id| Oid(id.detach())))
}

/// Whether `commit` is `tip` or one of its ancestors: the walk from
/// `commit` that hides everything `tip` reaches is empty exactly then, and
/// it stops where the two histories meet.
fn contains(repo: &gix::Repository, workdir: &Path, tip: Oid, commit: Oid) -> Result<bool> {
    if tip == commit {
        return Ok(true);
    }
    if !repo.has_object(commit.0) || !repo.has_object(tip.0) {
        return Ok(false);
    }
    let mut walk = repo
        .rev_walk([commit.0])
        .with_hidden([tip.0])
        .all()
        .map_err(|e| Error::git("compare histories", workdir, e))?;
    match walk.next() {
        None => Ok(true),
        Some(Ok(_)) => Ok(false),
        Some(Err(e)) => Err(Error::git("compare histories", workdir, e)),
    }
}

/// The carried commits of `history` that `head` reaches.
fn reachable(
    repo: &gix::Repository,
    workdir: &Path,
    head: Oid,
    history: &History,
) -> Result<HashSet<Oid>> {
    let mut out = HashSet::new();
    for commit in history.commit_ids() {
        if contains(repo, workdir, head, commit)? {
            out.insert(commit);
        }
    }
    Ok(out)
}

/// The entries that turn `head`'s tree into `base`'s (each path's `base`
/// is `HEAD`'s object, its `index` and `result` the base's), with the
/// base side's content for the apply. A path that is not UTF-8 cannot be
/// an entry: it is returned in [`Forward::unnamed`] instead, never dropped.
fn fast_forward(
    repo: &gix::Repository,
    workdir: &Path,
    head: Option<Oid>,
    base: Oid,
) -> Result<Forward> {
    let tree_of = |commit: Option<Oid>| -> Result<Option<gix::Tree<'_>>> {
        let Some(commit) = commit else {
            return Ok(None);
        };
        let commit = repo
            .find_commit(commit.0)
            .map_err(|e| Error::git("read a commit", workdir, e))?;
        commit
            .tree()
            .map(Some)
            .map_err(|e| Error::git("read a commit's tree", workdir, e))
    };
    let (old, new) = (tree_of(head)?, tree_of(Some(base))?);
    let mut paths: BTreeSet<BString> = BTreeSet::new();
    tree_changes(
        repo,
        workdir,
        old.as_ref().map(|t| t.id),
        new.as_ref().map(|t| t.id),
        &mut paths,
    )?;
    let mut contents = Vec::new();
    let mut unnamed = Vec::new();
    let mut entries = Vec::with_capacity(paths.len());
    for raw in paths {
        let Ok(text) = String::from_utf8(raw.to_vec()) else {
            unnamed.push(String::from_utf8_lossy(&raw).into_owned());
            continue;
        };
        let mut object =
            |tree: &Option<gix::Tree<'_>>, with_content: bool| -> Result<Option<Object>> {
                let Some(tree) = tree else { return Ok(None) };
                let entry = tree
                    .lookup_entry(text.split('/').map(str::as_bytes))
                    .map_err(|e| Error::git("look up a path in a commit's tree", workdir, e))?;
                let Some(entry) = entry else { return Ok(None) };
                use gix::object::tree::EntryKind;
                let kind = match entry.mode().kind() {
                    EntryKind::Blob => Kind::File,
                    EntryKind::BlobExecutable => Kind::Executable,
                    EntryKind::Link => Kind::Symlink,
                    EntryKind::Commit => Kind::Gitlink,
                    EntryKind::Tree => return Ok(None),
                };
                let oid = Oid(entry.object_id());
                if kind == Kind::Gitlink {
                    return Ok(Some(Object {
                        kind,
                        oid,
                        size: 0,
                        digest: None,
                    }));
                }
                let mut blob = repo
                    .find_blob(oid.0)
                    .map_err(|e| Error::git("read a blob", workdir, e))?;
                let data = blob.take_data();
                let size = data.len() as u64;
                let digest = with_content.then(|| {
                    let digest = handoff_store::Digest::of(&data);
                    contents.push(Bytes::from(data));
                    digest
                });
                Ok(Some(Object {
                    kind,
                    oid,
                    size,
                    digest,
                }))
            };
        let (before, after) = (object(&old, false)?, object(&new, true)?);
        if before.is_none() && after.is_none() {
            continue;
        }
        let status = match (&before, &after) {
            (None, _) => Status::Added,
            (_, None) => Status::Deleted,
            _ => Status::Modified,
        };
        // A path that is UTF-8 but that a snapshot cannot hold (`.git/…`,
        // say) fails its own entry in the apply, as a hostile manifest
        // path would.
        entries.push(Entry {
            path: text,
            status,
            from: None,
            base: before,
            index: after.clone(),
            result: after,
        });
    }
    let manifest = Manifest {
        format: crate::manifest::FORMAT_V1.to_owned(),
        base: Base {
            commit: head,
            ..Base::default()
        },
        entries,
        history: None,
        // Carried history holds git objects only: no LFS object travels
        // with these entries.
        lfs: Vec::new(),
        submodules: Vec::new(),
    };
    Ok(Forward {
        manifest,
        contents,
        unnamed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_follows_how_head_relates_to_the_base() {
        let head = Some(Oid(gix::ObjectId::null(gix::hash::Kind::Sha1)));
        assert_eq!(plan(head, true, false), Plan::Nothing);
        assert_eq!(plan(head, true, true), Plan::Nothing);
        assert_eq!(plan(head, false, true), Plan::FastForward);
        assert_eq!(plan(None, false, false), Plan::Diverged);
        assert_eq!(plan(None, false, true), Plan::Diverged);
        assert_eq!(plan(head, false, false), Plan::Diverged);
    }
}
