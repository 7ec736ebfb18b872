//! Bounds on what a snapshot may hold, so that neither a huge working tree
//! nor a hostile manifest can make handoff read, store or buffer without end.
//!
//! | limit | default | checked |
//! |---|---|---|
//! | `max_file_bytes` | 256 MiB | per entry, from file metadata before reading; per manifest entry before fetching |
//! | `max_total_bytes` | 4 GiB | sum of working-tree results, before anything is uploaded |
//! | `max_entries` | 200,000 | changed paths at capture; entries in a manifest |
//! | `max_manifest_bytes` | 256 MiB | a stored manifest's size, before decoding |
//! | `max_history_commits` | 5,000 | commits carried because no remote-tracking ref reaches them, at capture and in a manifest |
//! | `max_history_bytes` | 1 GiB | total size of the carried git objects, at capture and in a manifest |
//!
//! The history limits guard against carrying a whole project's history by
//! accident (a repository whose remote was never fetched, or none at all).
//! The fix they name: push the commits to a remote the receiving side
//! clones from, or raise the limit (`handoff push --max-history-commits N
//! --max-history-bytes N`).
//!
//! JSON nesting is bounded by `serde_json`'s recursion limit (128 levels).

use serde::{Deserialize, Serialize};

/// Configurable limits; see the module documentation for the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// The largest file a snapshot carries.
    pub max_file_bytes: u64,
    /// The largest total size of a snapshot's working-tree results.
    pub max_total_bytes: u64,
    /// The most entries (changed paths) a snapshot may have.
    pub max_entries: usize,
    /// The largest manifest accepted.
    pub max_manifest_bytes: u64,
    /// The most commits a snapshot carries (those no remote-tracking ref
    /// reaches).
    pub max_history_commits: u64,
    /// The largest total size of the git objects a snapshot carries.
    pub max_history_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_file_bytes: 256 << 20,
            max_total_bytes: 4 << 30,
            max_entries: 200_000,
            max_manifest_bytes: 256 << 20,
            max_history_commits: 5_000,
            max_history_bytes: 1 << 30,
        }
    }
}

/// Which limit was exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Limit {
    /// [`Limits::max_file_bytes`].
    FileBytes,
    /// [`Limits::max_total_bytes`].
    TotalBytes,
    /// [`Limits::max_entries`].
    Entries,
    /// [`Limits::max_manifest_bytes`].
    ManifestBytes,
    /// [`Limits::max_history_commits`].
    HistoryCommits,
    /// [`Limits::max_history_bytes`].
    HistoryBytes,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Limit::FileBytes => "file size limit (max_file_bytes)",
            Limit::TotalBytes => "total snapshot size limit (max_total_bytes)",
            Limit::Entries => "entry count limit (max_entries)",
            Limit::ManifestBytes => "manifest size limit (max_manifest_bytes)",
            Limit::HistoryCommits => "carried commit limit (max_history_commits)",
            Limit::HistoryBytes => "carried history size limit (max_history_bytes)",
        })
    }
}
