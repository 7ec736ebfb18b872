//! A folder of several repositories as one snapshot, for `snapshot`,
//! `apply` and `diff` as [`push`](crate::push) treats a workspace.
//!
//! The repositories are found as push finds them
//! ([`discover_repositories`]): the working tree containing the folder,
//! else every one at most two levels below it. One repository is snapshot
//! as before, and its id is its manifest's. Several are snapshot each on
//! its own, and a small document lists them by name ([`Folder`], format
//! [`FOLDER_FORMAT`]); its digest is the folder's snapshot id. Like a
//! manifest it opens with `{"format":"`, so the store counts it a document
//! and `gc` keeps it (and the manifests are documents of their own).
//! Applying a folder's snapshot applies each repository's to the
//! repository of the same name under the target folder; a diff is one
//! patch per repository, never several glued together.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use handoff_store::{BlobStore, Digest};
use handoff_workspace::{
    ApplyOptions, ApplyReport, Limits, Manifest, RepoPath, Snapshot, SnapshotOptions,
};
use serde::{Deserialize, Serialize};

use crate::outgoing::Outgoing;
use crate::push::discover_repositories;
use crate::{Error, Result};

/// The format tag of a folder's snapshot document.
pub const FOLDER_FORMAT: &str = "handoff.folder/v1";

/// A folder's snapshot: each repository's snapshot by its name (its path
/// under the folder).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Folder {
    /// [`FOLDER_FORMAT`]; first, so the document opens with `{"format":"`.
    pub format: String,
    /// The repositories, sorted by name.
    pub repositories: Vec<FolderRepo>,
}

/// One repository of a [`Folder`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderRepo {
    /// Its path under the folder, `/`-separated (`.` for the folder itself).
    pub repo: String,
    /// Its snapshot.
    pub snapshot: Digest,
}

/// What [`snapshot_folder`] stored.
#[derive(Debug)]
pub struct FolderSnapshot {
    /// The id to give `apply` or `diff`: the one repository's snapshot, or
    /// the folder document's digest for several.
    pub id: Digest,
    /// Each repository's name and snapshot, sorted by name (one, named
    /// `.`, when the folder is inside a working tree).
    pub repositories: Vec<(String, Snapshot)>,
    /// Bytes the folder document added (0 for one repository, or when it
    /// was already stored).
    pub new_bytes: u64,
}

impl FolderSnapshot {
    /// Whether the folder is one repository (its id is that snapshot's).
    pub fn is_single(&self) -> bool {
        matches!(self.repositories.as_slice(), [(name, _)] if name == ".")
    }
}

/// Snapshots every repository of the folder `workspace` (see the module
/// docs).
pub async fn snapshot_folder(
    workspace: &Path,
    store: &dyn BlobStore,
    options: &SnapshotOptions,
) -> Result<FolderSnapshot> {
    let repos = match discover_repositories(workspace) {
        Ok(repos) => repos,
        // Not a folder of repositories either: fail as one repository's
        // snapshot would (`is not a git repository`).
        Err(Error::NoRepository { .. }) => {
            let snap = handoff_workspace::snapshot(workspace, store, options).await?;
            return Ok(FolderSnapshot {
                id: snap.id,
                repositories: vec![(".".to_owned(), snap)],
                new_bytes: 0,
            });
        }
        Err(e) => return Err(e),
    };
    if let [(name, dir)] = repos.as_slice()
        && name == "."
    {
        let snap = handoff_workspace::snapshot(dir, store, options).await?;
        return Ok(FolderSnapshot {
            id: snap.id,
            repositories: vec![(".".to_owned(), snap)],
            new_bytes: 0,
        });
    }
    // Every repository is captured and scanned before anything is
    // written, as push does: a secret in one stops them all.
    let mut captures = Vec::with_capacity(repos.len());
    for (name, dir) in &repos {
        let capture_options = options.clone();
        let dir = dir.clone();
        let capture =
            tokio::task::spawn_blocking(move || handoff_workspace::capture(&dir, &capture_options))
                .await
                .map_err(|source| Error::Task {
                    what: "capture a repository of the folder",
                    source,
                })??;
        captures.push((name.clone(), capture));
    }
    if options.scan_secrets {
        let mut outgoing = Outgoing::new()?;
        for (name, capture) in &captures {
            outgoing.capture(name, capture);
        }
        outgoing.check()?;
    }
    let (names, captures): (Vec<String>, Vec<_>) = captures.into_iter().unzip();
    let (snapshots, _) = handoff_workspace::snapshot::store_batch(
        captures,
        Vec::new(),
        store,
        options.progress.as_ref(),
    )
    .await?;
    let repositories: Vec<(String, Snapshot)> = names.into_iter().zip(snapshots).collect();
    let folder = Folder {
        format: FOLDER_FORMAT.to_owned(),
        repositories: repositories
            .iter()
            .map(|(repo, snap)| FolderRepo {
                repo: repo.clone(),
                snapshot: snap.id,
            })
            .collect(),
    };
    let bytes = serde_json::to_vec(&folder).map_err(|e| Error::Internal {
        what: format!("encode a folder's snapshot: {e}"),
    })?;
    let put = store.put(Bytes::from(bytes)).await?;
    Ok(FolderSnapshot {
        id: put.digest,
        repositories,
        new_bytes: put.new_bytes,
    })
}

/// A stored snapshot id, read: one repository's manifest, or a folder's
/// list of them.
#[derive(Debug, Clone)]
pub enum Snapshots {
    /// One repository's snapshot.
    One(Box<Manifest>),
    /// A folder of several.
    Folder(Folder),
}

/// Reads the snapshot `id` (one read): a folder's document, else a
/// manifest, decoded within `limits` as
/// [`handoff_workspace::load_manifest_within`] decodes it.
pub async fn load(store: &dyn BlobStore, id: &Digest, limits: &Limits) -> Result<Snapshots> {
    let head = format!(r#"{{"format":"{FOLDER_FORMAT}""#);
    let bytes = match store.get(id).await {
        Ok(bytes) => bytes,
        Err(handoff_store::Error::NotFound { store, .. }) => {
            return Err(handoff_workspace::Error::UnknownSnapshot { id: *id, store }.into());
        }
        Err(e) => return Err(e.into()),
    };
    if bytes.starts_with(head.as_bytes()) {
        let folder: Folder = serde_json::from_slice(&bytes).map_err(|e| Error::InvalidId {
            what: "folder snapshot",
            input: id.to_string(),
            reason: e.to_string(),
        })?;
        for entry in &folder.repositories {
            repo_path(&entry.repo).map_err(|reason| Error::InvalidId {
                what: "folder snapshot",
                input: id.to_string(),
                reason,
            })?;
        }
        return Ok(Snapshots::Folder(folder));
    }
    Ok(Snapshots::One(Box::new(
        handoff_workspace::decode_manifest(&bytes, id, limits)?,
    )))
}

/// Where repository `name` of a folder is under `root`; `None` when the
/// name could leave the folder (`..`, absolute, `.git`).
pub fn repo_dir(root: &Path, name: &str) -> Option<PathBuf> {
    if name == "." {
        return Some(root.to_owned());
    }
    let path = RepoPath::new(name.to_owned()).ok()?;
    Some(path.to_fs_path(root))
}

fn repo_path(name: &str) -> std::result::Result<(), String> {
    if name == "." || RepoPath::new(name.to_owned()).is_ok() {
        Ok(())
    } else {
        Err(format!(
            "repository name {name:?} is not a relative path inside the folder"
        ))
    }
}

/// One repository's apply in [`apply_folder`]: its report, or why it could
/// not be applied at all.
#[derive(Debug)]
pub struct FolderApplied {
    /// The repository's name.
    pub repo: String,
    /// What happened.
    pub outcome: Result<ApplyReport>,
}

/// Applies each repository's snapshot of `folder` to the repository of
/// the same name under `root`, best-effort: one that is missing or fails
/// does not stop the others.
pub async fn apply_folder(
    root: &Path,
    store: &dyn BlobStore,
    folder: &Folder,
    options: &ApplyOptions,
) -> Vec<FolderApplied> {
    let mut out = Vec::with_capacity(folder.repositories.len());
    for entry in &folder.repositories {
        let outcome = match repo_dir(root, &entry.repo) {
            None => Err(Error::InvalidId {
                what: "folder snapshot",
                input: entry.snapshot.to_string(),
                reason: format!("repository name {:?} leaves the folder", entry.repo),
            }),
            Some(dir) if !dir.join(".git").exists() => Err(Error::NoRepository { workspace: dir }),
            Some(dir) => handoff_workspace::apply(&dir, store, &entry.snapshot, options)
                .await
                .map_err(Error::from),
        };
        out.push(FolderApplied {
            repo: entry.repo.clone(),
            outcome,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_stay_inside_the_folder() {
        let root = Path::new("/w");
        assert_eq!(repo_dir(root, "."), Some(PathBuf::from("/w")));
        assert_eq!(repo_dir(root, "api"), Some(PathBuf::from("/w/api")));
        assert_eq!(
            repo_dir(root, "group/web"),
            Some(PathBuf::from("/w/group/web"))
        );
        for hostile in ["..", "../x", "/etc", "a/../../b", ".git", ""] {
            assert_eq!(repo_dir(root, hostile), None, "{hostile}");
        }
    }

    #[test]
    fn a_folder_document_opens_like_every_document() {
        let folder = Folder {
            format: FOLDER_FORMAT.to_owned(),
            repositories: vec![],
        };
        let bytes = serde_json::to_vec(&folder).unwrap();
        assert!(bytes.starts_with(br#"{"format":"handoff.folder/v1""#));
    }
}
