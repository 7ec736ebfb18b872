//! Snapshot the uncommitted state of a git working tree, and apply it to
//! another checkout best-effort, per file.
//!
//! A **snapshot** captures everything `git status` would show relative to
//! `HEAD` — staged, partially staged and unstaged modifications, additions,
//! deletions, renames, executable-bit changes, symlinks (as links), binary
//! and empty files, untracked files that are not ignored — as a
//! [`Manifest`] plus content blobs in a [`handoff_store::BlobStore`]. The
//! manifest's own digest is the snapshot id. See [`manifest`] for the format.
//!
//! **Applying** a snapshot to another checkout handles each path on its own
//! (see [`apply`](mod@apply)): what applies cleanly is written atomically,
//! what is already there is counted as already applied, what changed on both
//! sides is merged when the merge is clean, and everything else is left
//! untouched and reported with its reason in the [`ApplyReport`]. Nothing is
//! ever written outside the working tree or into `.git/` (except the index,
//! to reproduce staged changes).
//!
//! [`diff::export_diff`] turns a snapshot into a unified diff that
//! `git apply` accepts.
//!
//! # Example
//!
//! ```
//! # use std::process::Command;
//! use handoff_store::MemoryStore;
//! use handoff_workspace::{ApplyOptions, SnapshotOptions, apply, snapshot};
//!
//! # fn git(dir: &std::path::Path, args: &[&str]) {
//! #     let ok = Command::new("git").current_dir(dir).args(args)
//! #         .env("GIT_CONFIG_GLOBAL", "/dev/null").env("GIT_CONFIG_NOSYSTEM", "1")
//! #         .env("GIT_AUTHOR_NAME", "a").env("GIT_AUTHOR_EMAIL", "a@b")
//! #         .env("GIT_COMMITTER_NAME", "a").env("GIT_COMMITTER_EMAIL", "a@b")
//! #         .status().unwrap().success();
//! #     assert!(ok, "git {args:?}");
//! # }
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! // A repository with a commit, and a clone of it.
//! let source = tempfile::tempdir()?;
//! git(source.path(), &["init", "-q", "-b", "main"]);
//! std::fs::write(source.path().join("notes.md"), "draft\n")?;
//! git(source.path(), &["add", "."]);
//! git(source.path(), &["commit", "-q", "-m", "base"]);
//! let target = tempfile::tempdir()?;
//! git(target.path(), &["clone", "-q", source.path().to_str().unwrap(), "."]);
//!
//! // Uncommitted work in the source: a modification and an untracked file.
//! std::fs::write(source.path().join("notes.md"), "draft, revised\n")?;
//! std::fs::write(source.path().join("todo.txt"), "ship it\n")?;
//!
//! let store = MemoryStore::new();
//! let snap = snapshot(source.path(), &store, &SnapshotOptions::default()).await?;
//! let report = apply(target.path(), &store, &snap.id, &ApplyOptions::default()).await?;
//! assert_eq!(report.applied, ["notes.md", "todo.txt"]);
//! assert!(report.failed.is_empty());
//! assert_eq!(std::fs::read_to_string(target.path().join("todo.txt"))?, "ship it\n");
//!
//! // Applying again changes nothing.
//! let again = apply(target.path(), &store, &snap.id, &ApplyOptions::default()).await?;
//! assert_eq!(again.already_applied.len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod apply;
pub mod branch;
mod carried;
mod convert;
pub mod crash;
pub mod diff;
mod error;
pub mod exclude;
pub mod history;
mod lfs;
pub mod limits;
pub mod manifest;
mod merge;
pub mod paths;
pub mod progress;
pub mod remote;
pub mod secrets;
pub mod snapshot;
pub mod submodule;
mod worktree;

pub use apply::{ApplyOptions, ApplyReport, Failure, FailureKind, Warning, apply, apply_manifest};
pub use branch::{BranchCommit, BranchOptions, Replace, write_branch};
pub use error::{Error, GitError, Result};
pub use exclude::Exclusions;
pub use history::{History, HistoryObject, Imported, ObjectKind, import as import_history};
pub use limits::{Limit, Limits};
pub use manifest::{Base, Entry, Kind, LfsObject, Manifest, Object, Oid, Status, Submodule};
pub use paths::{PathError, RepoPath};
pub use progress::{NoProgress, Phase, Progress};
pub use secrets::{Finding, Scanner};
pub use snapshot::{
    Capture, Located, Since, Skipped, Snapshot, SnapshotOptions, capture, decode_manifest,
    load_manifest, load_manifest_within, locate, snapshot,
};
pub use submodule::CloneRepository;
pub use worktree::TEMP_PREFIX;
