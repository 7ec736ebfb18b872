//! Record a snapshot as a branch, leaving the working tree, the index and
//! the checked-out branch untouched — the artifact a user reviews when work
//! comes back from a cloud run ("continue locally").
//!
//! The branch holds the snapshot's base commit with its history (the
//! commits the snapshot carries are imported first, so an agent's commits
//! keep their messages, authors and dates), plus one commit on top for what
//! was uncommitted: the base tree with every entry's result applied. When
//! nothing was uncommitted the branch points at the base itself. Objects
//! and the reference are written with gix; nothing is checked out.

use std::path::Path;

use gix::bstr::ByteSlice;
use handoff_store::{BlobStore, Digest};

use crate::limits::Limits;
use crate::manifest::{Kind, Manifest, Oid};
use crate::snapshot::{Skipped, open_repo};
use crate::{Error, Result};

/// Whether `name` is a branch name git accepts (as `refs/heads/<name>`)
/// that cannot be mistaken for a command-line option.
pub fn is_valid_name(name: &str) -> bool {
    !name.starts_with('-')
        && gix::validate::reference::name(format!("refs/heads/{name}").as_bytes().as_bstr()).is_ok()
}

/// What [`write_branch`] created.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BranchCommit {
    /// The full reference name, `refs/heads/…`.
    pub reference: String,
    /// The branch's tip: the commit for the uncommitted changes, or the
    /// base itself when there were none.
    pub commit: Oid,
    /// The snapshot's base, on which the tip builds (the tip itself when
    /// nothing was uncommitted).
    pub parent: Option<Oid>,
    /// Whether a commit was written for uncommitted changes.
    pub uncommitted: bool,
    /// Whether the branch already held exactly this state (nothing written).
    pub existed: bool,
    /// Where the branch pointed before it was moved, if it existed.
    pub moved_from: Option<Oid>,
    /// Entries that could not be recorded (hostile paths).
    pub skipped: Vec<Skipped>,
}

/// What to do when the branch already exists with other content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Replace {
    /// Refuse with [`Error::BranchExists`] (the default).
    #[default]
    Never,
    /// Move it only when it still points at a commit this writer made: one
    /// whose message has a line equal to `marker`, or one of `tips`.
    /// Otherwise (someone committed on it, or it is unrelated) refuse.
    IfOwned {
        /// A line the writer puts in its commit messages, such as
        /// `Handoff-Run: <run-id>`.
        marker: String,
        /// Other commits the branch may point at and still be the
        /// writer's (commits it set the branch to without writing them).
        tips: Vec<Oid>,
    },
    /// Move it whatever it points at.
    Always,
}

/// How to write a branch.
#[derive(Debug, Clone, Default)]
pub struct BranchOptions {
    /// The message of the commit for uncommitted changes.
    pub message: String,
    /// What to do when the branch exists.
    pub replace: Replace,
    /// Limits on the carried history (a manifest is untrusted).
    pub limits: Limits,
}

/// Writes the snapshot `manifest` as branch `branch` (short name, such as
/// `handoff/<run-id>`) of the repository containing `dir`: the carried
/// history is imported, and the uncommitted entries become one commit on
/// top of the base.
///
/// Fails if the base commit is not in the repository (and not carried), or
/// if the branch exists with other content and `options.replace` does not
/// allow moving it; re-running for the same state is a no-op.
pub async fn write_branch(
    dir: &Path,
    store: &dyn BlobStore,
    manifest: &Manifest,
    branch: &str,
    options: &BranchOptions,
) -> Result<BranchCommit> {
    if let Some(history) = &manifest.history {
        crate::history::import(dir, store, history, &options.limits).await?;
    }
    // Fetch content first (async), then do the git work on a blocking thread.
    // One batch: packed blobs come a few range reads per pack.
    let mut wanted: Vec<Digest> = manifest
        .entries
        .iter()
        .filter_map(|e| e.result.as_ref())
        .filter(|o| o.kind.has_content())
        .filter_map(|o| o.digest)
        .collect();
    wanted.sort();
    wanted.dedup();
    let mut contents = std::collections::HashMap::new();
    for (digest, fetched) in wanted.iter().zip(store.get_many(&wanted).await) {
        contents.insert(*digest, fetched?);
    }
    let dir = dir.to_owned();
    let manifest = manifest.clone();
    let branch = branch.to_owned();
    let options = options.clone();
    tokio::task::spawn_blocking(move || {
        write_blocking(&dir, &manifest, &contents, &branch, &options)
    })
    .await
    .map_err(|source| Error::Task {
        what: "write the handoff branch",
        source,
    })?
}

fn write_blocking(
    dir: &Path,
    manifest: &Manifest,
    contents: &std::collections::HashMap<handoff_store::Digest, bytes::Bytes>,
    branch: &str,
    options: &BranchOptions,
) -> Result<BranchCommit> {
    let (repo, workdir) = open_repo(dir)?;
    let reference = format!("refs/heads/{branch}");
    gix::validate::reference::name(reference.as_bytes().as_bstr()).map_err(|e| {
        Error::InvalidBranch {
            branch: branch.to_owned(),
            reason: e.to_string(),
        }
    })?;
    if branch.starts_with('-') {
        return Err(Error::InvalidBranch {
            branch: branch.to_owned(),
            reason: "a branch name may not start with '-'".to_owned(),
        });
    }
    let (parent, base_tree) = match manifest.base.commit {
        Some(commit) => {
            let found = repo.find_commit(commit.0).map_err(|_| Error::BaseMissing {
                commit,
                repo: workdir.clone(),
            })?;
            let tree = found
                .tree_id()
                .map_err(|e| Error::git("read the base tree", &workdir, e))?;
            (Some(commit), tree.detach())
        }
        None => (None, gix::ObjectId::empty_tree(repo.object_hash())),
    };
    let mut editor = repo
        .edit_tree(base_tree)
        .map_err(|e| Error::git("edit the base tree", &workdir, e))?;
    let mut skipped = Vec::new();
    for entry in &manifest.entries {
        let path = match entry.repo_path() {
            Ok(path) => path,
            Err(e) => {
                skipped.push(Skipped {
                    path: entry.path.clone(),
                    reason: e.to_string(),
                });
                continue;
            }
        };
        match &entry.result {
            None => {
                editor
                    .remove(path.as_str())
                    .map_err(|e| Error::git("remove a path from the tree", &workdir, e))?;
            }
            Some(obj) => {
                use gix::object::tree::EntryKind;
                let kind = match obj.kind {
                    Kind::File => EntryKind::Blob,
                    Kind::Executable => EntryKind::BlobExecutable,
                    Kind::Symlink => EntryKind::Link,
                    Kind::Gitlink => EntryKind::Commit,
                };
                if obj.kind.has_content() {
                    let data = obj.digest.and_then(|d| contents.get(&d));
                    let Some(data) = data else {
                        skipped.push(Skipped {
                            path: entry.path.clone(),
                            reason: "the snapshot does not carry this content".to_owned(),
                        });
                        continue;
                    };
                    let id = repo
                        .write_blob(data)
                        .map_err(|e| Error::git("write a blob", &workdir, e))?
                        .detach();
                    if id != obj.oid.0 {
                        skipped.push(Skipped {
                            path: entry.path.clone(),
                            reason: format!(
                                "content does not match the manifest's object {}",
                                obj.oid
                            ),
                        });
                        continue;
                    }
                }
                editor
                    .upsert(path.as_str(), kind, obj.oid.0)
                    .map_err(|e| Error::git("add a path to the tree", &workdir, e))?;
            }
        }
    }
    let tree = editor
        .write()
        .map_err(|e| Error::git("write the tree", &workdir, e))?
        .detach();

    // The checked-out branch is never moved: that would change what the
    // working tree is compared against.
    let checked_out = repo
        .head_name()
        .map_err(|e| Error::git("read HEAD", &workdir, e))?
        .is_some_and(|name| name.as_bstr() == reference.as_bytes().as_bstr());
    if checked_out {
        return Err(Error::BranchCheckedOut {
            branch: branch.to_owned(),
            repo: workdir,
        });
    }
    let existing = repo
        .try_find_reference(reference.as_str())
        .map_err(|e| Error::git("read the branch", &workdir, e))?
        .map(|r| r.id().detach());
    // With nothing uncommitted the branch is the base itself.
    let on_top = tree != base_tree || parent.is_none();
    let same_as_existing = |tip: gix::ObjectId| {
        if !on_top {
            return parent.is_some_and(|p| p.0 == tip);
        }
        repo.find_commit(tip).ok().is_some_and(|c| {
            c.tree_id().ok().map(|t| t.detach()) == Some(tree)
                && c.parent_ids().map(|p| p.detach()).collect::<Vec<_>>()
                    == parent.map(|p| p.0).into_iter().collect::<Vec<_>>()
        })
    };
    if let Some(tip) = existing {
        if same_as_existing(tip) {
            return Ok(BranchCommit {
                reference,
                commit: Oid(tip),
                parent,
                uncommitted: on_top,
                existed: true,
                moved_from: None,
                skipped,
            });
        }
        let owned = match &options.replace {
            Replace::Never => false,
            Replace::Always => true,
            Replace::IfOwned { marker, tips } => {
                tips.contains(&Oid(tip))
                    || repo.find_commit(tip).ok().is_some_and(|c| {
                        c.message_raw_sloppy()
                            .lines()
                            .any(|line| line.trim() == marker.as_bytes())
                    })
            }
        };
        if !owned {
            return Err(Error::BranchExists {
                branch: branch.to_owned(),
                repo: workdir,
            });
        }
    }

    let commit = if on_top {
        let now = gix::date::Time::now_local_or_utc();
        let mut time = gix::date::parse::TimeBuf::default();
        let fallback = gix::actor::SignatureRef {
            name: "handoff".into(),
            email: "handoff@localhost".into(),
            time: now.to_str(&mut time),
        };
        let configured = repo.committer().and_then(|r| r.ok());
        let signature = configured.unwrap_or(fallback);
        repo.new_commit_as(
            signature,
            signature,
            options.message.as_str(),
            tree,
            parent.map(|p| p.0),
        )
        .map_err(|e| Error::git("write the commit", &workdir, e))?
        .id
    } else {
        // `on_top` is false only with a parent.
        parent.map_or(tree, |p| p.0)
    };
    use gix::refs::transaction::PreviousValue;
    let previous = match existing {
        // Moved only from exactly where it was judged ours.
        Some(tip) => PreviousValue::MustExistAndMatch(gix::refs::Target::Object(tip)),
        None => PreviousValue::MustNotExist,
    };
    repo.reference(
        reference.as_str(),
        commit,
        previous,
        format!("handoff: {}", options.message.lines().next().unwrap_or("")),
    )
    .map_err(|e| Error::git("update the branch", &workdir, e))?;
    Ok(BranchCommit {
        reference,
        commit: Oid(commit),
        parent,
        uncommitted: on_top,
        existed: false,
        moved_from: existing.map(Oid),
        skipped,
    })
}
