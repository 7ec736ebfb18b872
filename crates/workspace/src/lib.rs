//! Snapshot the uncommitted state of a git working tree, and apply it to
//! another checkout best-effort, per file.
//!
//! (Crate documentation is completed with the snapshot and apply modules.)
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod apply;
pub mod diff;
mod error;
pub mod manifest;
mod merge;
pub mod paths;
pub mod progress;
pub mod snapshot;
mod worktree;

pub use apply::{ApplyOptions, ApplyReport, Failure, FailureKind, Warning, apply, apply_manifest};
pub use error::{Error, GitError, Result};
pub use manifest::{Base, Entry, Kind, Manifest, Object, Oid, Status};
pub use paths::{PathError, RepoPath};
pub use progress::{NoProgress, Phase, Progress};
pub use snapshot::{Capture, Skipped, Snapshot, SnapshotOptions, capture, load_manifest, snapshot};
pub use worktree::TEMP_PREFIX;
