//! Nested repositories of a working tree — submodules, and repositories
//! cloned inside it — whose own work a snapshot of the outer repository
//! does not carry.
//!
//! A snapshot records a nested repository as a gitlink: the commit its
//! `HEAD` is at. What lives only inside it — commits past the one the
//! outer repository records, uncommitted edits, untracked files — is its
//! own repository's to carry. So that none of it is lost silently, the
//! snapshot records a submodule whose `HEAD` moved (as a changed gitlink)
//! and names every submodule holding work of its own in `skipped`, with
//! what it holds.

use std::collections::BTreeSet;
use std::path::Path;

use gix::bstr::{BString, ByteSlice};

use crate::snapshot::Skipped;

/// What the submodules of a working tree hold that its snapshot does not
/// carry.
#[derive(Debug, Default)]
pub(crate) struct Nested {
    /// Submodules whose `HEAD` is not the commit the index records: the
    /// gitlink changed, so it is an entry of the snapshot.
    pub touched: BTreeSet<BString>,
    /// Submodules holding work of their own, each with what it holds.
    pub skipped: Vec<Skipped>,
}

/// Inspects every initialised submodule of `repo` (the index's gitlinks
/// whose directory holds a repository).
pub(crate) fn inspect(repo: &gix::Repository, workdir: &Path) -> Nested {
    let mut nested = Nested::default();
    let Ok(index) = repo.index_or_empty() else {
        return nested;
    };
    for entry in index.entries() {
        if entry.mode != gix::index::entry::Mode::COMMIT {
            continue;
        }
        let rel = entry.path(&index).to_owned();
        let Ok(rel_path) = gix::path::from_bstring(rel.clone()) else {
            continue;
        };
        let dir = workdir.join(rel_path);
        if !dir.join(".git").exists() {
            // Not initialised here: it holds nothing of its own.
            continue;
        }
        let shown = rel.to_str_lossy().into_owned();
        let inner = match gix::open(&dir) {
            Ok(inner) => inner,
            Err(e) => {
                nested.skipped.push(Skipped {
                    path: shown,
                    reason: format!("submodule that cannot be opened ({e}): its own work, if any, is not carried"),
                });
                continue;
            }
        };
        let mut holds = Vec::new();
        match inner.head_id() {
            Ok(head) if head.detach() != entry.id => {
                nested.touched.insert(rel.clone());
                holds.push(format!(
                    "HEAD moved from {} to {} (the new commit is recorded; its history travels only with the submodule)",
                    entry.id.to_hex_with_len(12),
                    head.to_hex_with_len(12)
                ));
            }
            Ok(_) => {}
            Err(_) => holds.push("no commit checked out".to_owned()),
        }
        match changed_files(&inner) {
            Ok(0) => {}
            Ok(n) => holds.push(format!("{n} uncommitted or untracked file(s)")),
            Err(e) => holds.push(format!("a status that could not be read ({e})")),
        }
        if !holds.is_empty() {
            nested.skipped.push(Skipped {
                path: shown,
                reason: format!(
                    "submodule with work of its own, not carried: {}; snapshot it on its own (handoff snapshot in {})",
                    holds.join(", "),
                    rel.to_str_lossy()
                ),
            });
        }
    }
    nested
}

/// How many paths of `repo` differ between `HEAD`, the index and the
/// working tree, untracked files included.
fn changed_files(repo: &gix::Repository) -> Result<usize, String> {
    let iter = repo
        .status(gix::progress::Discard)
        .map_err(|e| e.to_string())?
        .untracked_files(gix::status::UntrackedFiles::Files)
        .index_worktree_submodules(None)
        .into_iter(Vec::<BString>::new())
        .map_err(|e| e.to_string())?;
    let mut paths = BTreeSet::new();
    for item in iter {
        let item = item.map_err(|e| e.to_string())?;
        let path = match &item {
            gix::status::Item::TreeIndex(change) => change.location().to_owned(),
            gix::status::Item::IndexWorktree(iw) => iw.rela_path().to_owned(),
        };
        if let gix::status::Item::IndexWorktree(gix::status::index_worktree::Item::Modification {
            status: gix::status::plumbing::index_as_worktree::EntryStatus::NeedsUpdate(_),
            ..
        }) = item
        {
            continue;
        }
        paths.insert(path);
    }
    Ok(paths.len())
}
