//! Record a snapshot as a commit on a branch, leaving the working tree and
//! the index untouched — the artifact a user reviews when work comes back
//! from a cloud run ("continue locally").
//!
//! The commit's tree is the base commit's tree with every entry's result
//! applied; its parent is the base commit. Objects and the branch reference
//! are written with gix; nothing is checked out.

use std::path::Path;

use gix::bstr::ByteSlice;
use handoff_store::BlobStore;

use crate::manifest::{Kind, Manifest, Oid};
use crate::snapshot::{Skipped, open_repo};
use crate::{Error, Result};

/// What [`write_branch`] created.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BranchCommit {
    /// The full reference name, `refs/heads/…`.
    pub reference: String,
    /// The new commit.
    pub commit: Oid,
    /// The commit's parent: the snapshot's base.
    pub parent: Option<Oid>,
    /// Whether the branch already held exactly this state (nothing written).
    pub existed: bool,
    /// Entries that could not be recorded (hostile paths).
    pub skipped: Vec<Skipped>,
}

/// Writes the snapshot `manifest` as a commit on branch `branch` (short
/// name, such as `handoff/<run-id>`) of the repository containing `dir`.
///
/// Fails if the base commit is not in the repository, or if the branch
/// exists with a different tree; re-running for the same state is a no-op.
pub async fn write_branch(
    dir: &Path,
    store: &dyn BlobStore,
    manifest: &Manifest,
    branch: &str,
    message: &str,
) -> Result<BranchCommit> {
    // Fetch content first (async), then do the git work on a blocking thread.
    let mut contents = std::collections::HashMap::new();
    for entry in &manifest.entries {
        if let Some(obj) = &entry.result
            && obj.kind.has_content()
            && let Some(digest) = obj.digest
            && !contents.contains_key(&digest)
        {
            contents.insert(digest, store.get(&digest).await?);
        }
    }
    let dir = dir.to_owned();
    let manifest = manifest.clone();
    let branch = branch.to_owned();
    let message = message.to_owned();
    tokio::task::spawn_blocking(move || {
        write_blocking(&dir, &manifest, &contents, &branch, &message)
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
    message: &str,
) -> Result<BranchCommit> {
    let (repo, workdir) = open_repo(dir)?;
    let reference = format!("refs/heads/{branch}");
    gix::validate::reference::name(reference.as_bytes().as_bstr()).map_err(|e| {
        Error::InvalidBranch {
            branch: branch.to_owned(),
            reason: e.to_string(),
        }
    })?;
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

    // Idempotent: an existing branch with this exact tree and parent is kept.
    if let Ok(Some(existing)) = repo.try_find_reference(reference.as_str()) {
        let tip = existing.id().detach();
        let same = repo.find_commit(tip).ok().is_some_and(|c| {
            c.tree_id().ok().map(|t| t.detach()) == Some(tree)
                && c.parent_ids().map(|p| p.detach()).collect::<Vec<_>>()
                    == parent.map(|p| p.0).into_iter().collect::<Vec<_>>()
        });
        if same {
            return Ok(BranchCommit {
                reference,
                commit: Oid(tip),
                parent,
                existed: true,
                skipped,
            });
        }
        return Err(Error::BranchExists {
            branch: branch.to_owned(),
            repo: workdir,
        });
    }

    let now = gix::date::Time::now_local_or_utc();
    let mut time = gix::date::parse::TimeBuf::default();
    let fallback = gix::actor::SignatureRef {
        name: "handoff".into(),
        email: "handoff@localhost".into(),
        time: now.to_str(&mut time),
    };
    let configured = repo.committer().and_then(|r| r.ok());
    let signature = configured.unwrap_or(fallback);
    let commit = repo
        .new_commit_as(signature, signature, message, tree, parent.map(|p| p.0))
        .map_err(|e| Error::git("write the commit", &workdir, e))?
        .id;
    repo.reference(
        reference.as_str(),
        commit,
        gix::refs::transaction::PreviousValue::MustNotExist,
        format!("handoff: {message}"),
    )
    .map_err(|e| Error::git("create the branch", &workdir, e))?;
    Ok(BranchCommit {
        reference,
        commit: Oid(commit),
        parent,
        existed: false,
        skipped,
    })
}
