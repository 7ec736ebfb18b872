//! Snapshot the uncommitted state of a git working tree, and apply it to
//! another checkout best-effort, per file.
//!
//! (Crate documentation is completed with the snapshot and apply modules.)
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
pub mod manifest;
mod merge;
pub mod paths;

pub use error::{Error, GitError, Result};
pub use manifest::{Base, Entry, Kind, Manifest, Object, Oid, Status};
pub use paths::{PathError, RepoPath};
