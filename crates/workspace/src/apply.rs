//! Apply a snapshot to another checkout, best-effort and per file.
//!
//! For each entry, what is at the path now decides:
//!
//! | now at the path            | outcome                                         |
//! |----------------------------|-------------------------------------------------|
//! | the snapshot's result      | already applied (applying twice is a no-op)     |
//! | the snapshot's base        | written (or deleted)                            |
//! | something else             | three-way merged when base content is available |
//! |                            | and the merge is clean; otherwise left untouched |
//! |                            | and reported as failed with the reason          |
//!
//! "Now at the path" is the target's file in its committed form, and what
//! is written is the form `git checkout` would write there, both by the
//! target's own attributes and configuration (a CRLF checkout of the base
//! counts as the base).
//!
//! Staged state is reproduced too: where the snapshot's index differed from
//! its base, the target's index gets the same entry (for entries that were
//! applied or already applied), so `git status` reads the same on both sides.
//!
//! Nothing here can write outside the working tree: paths are validated per
//! entry ([`RepoPath`]), no write goes through a symlink, and every write is
//! a temp file renamed into place.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use gix::bstr::{BStr, ByteSlice};
use handoff_store::{BlobStore, Digest};
use serde::{Deserialize, Serialize};

use crate::convert::{Conversions, Refused};
use crate::limits::Limits;
use crate::manifest::{self, Entry, Kind, Manifest, Object, Oid};
use crate::merge::{Merge, merge3};
use crate::paths::RepoPath;
use crate::progress::{NoProgress, Phase, Progress};
use crate::snapshot::{open_repo, read_base};
use crate::worktree::{Blocked, Current, Worktree};
use crate::{Error, Result};

/// How to apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Decide and report, but change nothing.
    pub dry_run: bool,
    /// Reproduce the snapshot's staged changes in the target's index
    /// (default `true`).
    pub update_index: bool,
    /// Limits on the manifest and its entries (a manifest is untrusted).
    pub limits: Limits,
    /// Bring the commits the snapshot carries into the target first
    /// (default `true`): when the target's `HEAD` lacks the snapshot's base
    /// and is an ancestor of it, the carried objects are imported, the
    /// checkout is fast-forwarded onto the base (its branch, or a detached
    /// `HEAD`, moved there), and the entries are applied on top; when
    /// `HEAD` has diverged, the carried commits it lacks are reported in
    /// [`ApplyReport::missing_commits`]. `false` applies the entries to
    /// whatever `HEAD` is (a base mismatch is only a warning).
    pub carried_commits: bool,
    /// Where progress goes.
    pub progress: Arc<dyn Progress>,
    /// Files at least this large (default
    /// [`STREAM_AT`](crate::snapshot::STREAM_AT)) are never held in memory:
    /// streamed from the store into a temporary file beside the target,
    /// checked against their digest and git id, then renamed into place.
    /// Only in a target that converts nothing, for files changed only in
    /// the snapshot (a large file changed on both sides is not merged).
    pub stream_threshold: u64,
    /// How to clone a submodule the snapshot carries work of that is not
    /// initialised in the target (default `None`: such a submodule fails,
    /// named, and the rest applies). Hosts pass theirs (`handoff-engine`'s
    /// runs the `git` program with the user's credentials).
    pub clone_repository: Option<Arc<dyn crate::submodule::CloneRepository>>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            update_index: true,
            limits: Limits::default(),
            carried_commits: true,
            progress: Arc::new(NoProgress),
            stream_threshold: crate::snapshot::STREAM_AT,
            clone_repository: None,
        }
    }
}

/// Why an entry was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureKind {
    /// Local and snapshot edits overlap.
    Conflict,
    /// The file differs from both base and result, and the base content is
    /// not available to merge.
    BaseUnavailable,
    /// The file differs from both, and cannot be merged (symlink, binary,
    /// mode or kind change, deletion of a modified file).
    LocalChanges,
    /// A new file's path already holds something else.
    AlreadyExists,
    /// A directory (or other non-file) is in the way.
    IsDirectory,
    /// An ancestor of the path is a file.
    NotADirectory,
    /// An ancestor of the path is a symlink; writing would leave the tree.
    ThroughSymlink,
    /// The path is hostile or malformed.
    InvalidPath,
    /// The same path appears twice in the manifest.
    DuplicatePath,
    /// The content is missing from the store.
    BlobMissing,
    /// The content in the store is corrupted, or does not match the manifest.
    BlobCorrupted,
    /// The entry declares content larger than the file size limit.
    TooLarge,
    /// A filesystem operation failed.
    Io,
    /// git's conversion between committed and working-tree form (a filter
    /// driver, an encoding) failed, or the driver the path's attributes
    /// name is not configured in this checkout.
    Filter,
    /// A submodule the snapshot carries work of could not be initialised
    /// (no URL, not reachable, not a repository), or its carried commits
    /// could not be brought in.
    Submodule,
}

/// An entry that was left untouched, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The path as the manifest gives it.
    pub path: String,
    /// What kind of failure.
    pub kind: FailureKind,
    /// A sentence for people.
    pub reason: String,
}

/// Something to know about an apply that is not an entry's failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Warning {
    /// The target's `HEAD` is not the snapshot's base commit.
    BaseMismatch {
        /// The snapshot's base.
        expected: Option<Oid>,
        /// The target's `HEAD`.
        actual: Option<Oid>,
    },
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |o: &Option<Oid>| o.map_or_else(|| "no commit".to_owned(), |o| o.to_string());
        match self {
            Warning::BaseMismatch { expected, actual } => write!(
                f,
                "target HEAD is {} but the snapshot was taken on {}",
                show(actual),
                show(expected)
            ),
        }
    }
}

/// What an apply did, entry by entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyReport {
    /// Written or deleted.
    pub applied: Vec<String>,
    /// Already in the snapshot's state.
    pub already_applied: Vec<String>,
    /// Changed locally too; merged cleanly.
    pub merged: Vec<String>,
    /// Deliberately not carried (nested repositories), with the reason.
    pub skipped: Vec<Failure>,
    /// Left untouched, with the reason.
    pub failed: Vec<Failure>,
    /// Things to know.
    pub warnings: Vec<Warning>,
    /// The carried commits this apply brought into the target, newest
    /// first: its `HEAD` was an ancestor of the snapshot's base and was
    /// moved there (a dry run: would be).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<Oid>,
    /// Carried commits the target's history lacks and this apply could not
    /// bring in, newest first: `HEAD` has diverged from the snapshot's base
    /// (or the commits they build on are not in this repository), or a
    /// local change is in the way of the fast-forward (that path is in
    /// `failed`). Their changes are missing from the checkout.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_commits: Vec<Oid>,
}

impl ApplyReport {
    /// Whether every entry is now in the snapshot's state (or merged) and
    /// no carried commit is missing.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty() && self.missing_commits.is_empty()
    }
}

/// Applies the snapshot `id` from `store` to the working tree containing
/// `dir`.
pub async fn apply(
    dir: &Path,
    store: &dyn BlobStore,
    id: &Digest,
    options: &ApplyOptions,
) -> Result<ApplyReport> {
    let manifest = crate::snapshot::load_manifest_within(store, id, &options.limits).await?;
    apply_manifest(dir, store, &manifest, options).await
}

/// Applies an already loaded manifest: its carried commits first (see
/// [`ApplyOptions::carried_commits`]), then its entries, then its
/// submodules' snapshots (each reported under its path, `sub/file.txt`)
/// and last their gitlinks.
pub async fn apply_manifest(
    dir: &Path,
    store: &dyn BlobStore,
    manifest: &Manifest,
    options: &ApplyOptions,
) -> Result<ApplyReport> {
    if options.dry_run {
        return apply_levels(dir, store, manifest, options).await;
    }
    // A gitlink this apply moves in the index (carried commits that record
    // a new submodule commit, a staged gitlink) whose submodule's HEAD no
    // snapshot moved: the submodule's checkout lags its index entry, as
    // after `git checkout` without `--recurse-submodules`. Named, never
    // silent.
    let before = lagging_submodules(dir).await;
    let mut report = apply_levels(dir, store, manifest, options).await?;
    for (path, (recorded, head)) in lagging_submodules(dir).await {
        // Where the snapshot was taken it lagged the same way (a commit
        // made in the submodule, not staged in the superproject): faithful.
        let as_taken = manifest.entries.iter().any(|e| {
            e.path == path
                && e.index.as_ref().is_some_and(|o| o.oid == recorded)
                && e.result.as_ref().is_some_and(|o| o.oid == head)
        });
        if !as_taken && before.get(&path) != Some(&(recorded, head)) {
            report.skipped.push(Failure {
                path,
                kind: FailureKind::Submodule,
                reason: format!(
                    "the index now records the submodule at {recorded}, but its HEAD here is {head} and no snapshot of it moves it: run `git submodule update` there"
                ),
            });
        }
    }
    report.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(report)
}

/// Initialised submodules of the working tree at `dir` whose `HEAD` is not
/// the commit the index records: path → (recorded, `HEAD`). Empty when it
/// cannot be read (nothing is then reported from it).
async fn lagging_submodules(dir: &Path) -> std::collections::BTreeMap<String, (Oid, Oid)> {
    let dir = dir.to_owned();
    blocking("read the submodules' HEADs", move || {
        let mut out = std::collections::BTreeMap::new();
        let Ok((repo, workdir)) = open_repo(&dir) else {
            return Ok(out);
        };
        let Ok(index) = repo.index_or_empty() else {
            return Ok(out);
        };
        for entry in index.entries() {
            if entry.mode != gix::index::entry::Mode::COMMIT {
                continue;
            }
            let Ok(path) = std::str::from_utf8(entry.path(&index)) else {
                continue;
            };
            let sub = workdir.join(path);
            if !sub.join(".git").exists() {
                continue;
            }
            let head = gix::open(&sub)
                .ok()
                .and_then(|r| r.head_id().ok().map(|id| id.detach()));
            if let Some(head) = head
                && head != entry.id
            {
                out.insert(path.to_owned(), (Oid(entry.id), Oid(head)));
            }
        }
        Ok(out)
    })
    .await
    .unwrap_or_default()
}

/// [`apply_manifest`] without the check of the submodules' `HEAD`s.
async fn apply_levels(
    dir: &Path,
    store: &dyn BlobStore,
    manifest: &Manifest,
    options: &ApplyOptions,
) -> Result<ApplyReport> {
    if manifest.submodules.is_empty() {
        return apply_repository(dir, store, manifest, options).await;
    }
    // A carried submodule's gitlink is judged once the submodule is
    // applied: its HEAD is what moves it.
    let carried: HashSet<&str> = manifest
        .submodules
        .iter()
        .map(|s| s.path.as_str())
        .collect();
    let (links, own): (Vec<Entry>, Vec<Entry>) = manifest
        .entries
        .iter()
        .cloned()
        .partition(|e| carried.contains(e.path.as_str()));
    let outer = Manifest {
        entries: own,
        submodules: Vec::new(),
        ..manifest.clone()
    };
    let mut report = apply_repository(dir, store, &outer, options).await?;
    let (_, workdir) = {
        let dir = dir.to_owned();
        blocking("open target", move || open_repo(&dir)).await?
    };
    let moved = crate::submodule::apply_all(&workdir, store, manifest, options, &mut report).await;
    if !links.is_empty() {
        let gitlinks = Manifest {
            entries: links,
            history: None,
            submodules: Vec::new(),
            ..manifest.clone()
        };
        let linked = apply_entries(
            &workdir,
            store,
            &gitlinks,
            &ApplyOptions {
                carried_commits: false,
                ..options.clone()
            },
        )
        .await?;
        for path in linked.already_applied {
            if moved.contains(&path) {
                report.applied.push(path);
            } else {
                report.already_applied.push(path);
            }
        }
        report.applied.extend(linked.applied);
        report.skipped.extend(linked.skipped);
        report.failed.extend(linked.failed);
    }
    for list in [
        &mut report.applied,
        &mut report.already_applied,
        &mut report.merged,
    ] {
        list.sort();
    }
    report.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    report.failed.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(report)
}

/// [`apply_manifest`] for one repository: its carried commits, then its
/// entries.
async fn apply_repository(
    dir: &Path,
    store: &dyn BlobStore,
    manifest: &Manifest,
    options: &ApplyOptions,
) -> Result<ApplyReport> {
    if !options.carried_commits || manifest.history.is_none() {
        return apply_entries(dir, store, manifest, options).await;
    }
    let (_, workdir) = {
        let dir = dir.to_owned();
        blocking("open target", move || open_repo(&dir)).await?
    };
    let mut carried = ApplyReport::default();
    match crate::carried::prepare(&workdir, store, manifest, &options.limits, options.dry_run)
        .await?
    {
        crate::carried::Prepared::Nothing => {}
        crate::carried::Prepared::Missing(commits) => carried.missing_commits = commits,
        crate::carried::Prepared::FastForward {
            head,
            base,
            manifest: forward,
            store: content,
            commits,
            unnamed,
        } => {
            // Checked whole first: a local change in the way of one path
            // leaves the checkout as it was, rather than half moved.
            let check = ApplyOptions {
                dry_run: true,
                carried_commits: false,
                progress: Arc::new(NoProgress),
                ..options.clone()
            };
            let checked = apply_entries(&workdir, &content, &forward, &check).await?;
            // A path changed here would need a merge, as `git merge
            // --ff-only` refuses to: it is in the way too.
            // So is a path the commits change that no entry can name: moving
            // HEAD without writing it would drop it.
            let in_the_way: Vec<Failure> = checked
                .failed
                .into_iter()
                .chain(checked.merged.into_iter().map(|path| Failure {
                    path,
                    kind: FailureKind::LocalChanges,
                    reason: "changed in this checkout".to_owned(),
                }))
                .chain(unnamed.into_iter().map(|path| Failure {
                    path,
                    kind: FailureKind::InvalidPath,
                    reason:
                        "the carried commits change it, and its name is not valid UTF-8".to_owned(),
                }))
                .collect();
            if !in_the_way.is_empty() {
                carried.failed = in_the_way
                    .into_iter()
                    .map(|f| Failure {
                        reason: format!(
                            "in the way of the carried commits (HEAD was not moved to {base}): {}",
                            f.reason
                        ),
                        ..f
                    })
                    .collect();
                carried.missing_commits = commits;
            } else if options.dry_run {
                carried.commits = commits;
            } else {
                let moved = ApplyOptions {
                    carried_commits: false,
                    update_index: true,
                    ..options.clone()
                };
                let forwarded = apply_entries(&workdir, &content, &forward, &moved).await?;
                if forwarded.failed.is_empty() && forwarded.merged.is_empty() {
                    crate::carried::move_head(&workdir, head, base).await?;
                    carried.commits = commits;
                } else {
                    // Changed between the check and the write (another
                    // process): report, and leave HEAD where it was.
                    carried.failed = forwarded.failed;
                    carried.missing_commits = commits;
                }
            }
        }
    }
    let mut report = apply_entries(&workdir, store, manifest, options).await?;
    report.commits = carried.commits;
    report.missing_commits = carried.missing_commits;
    report.failed.extend(carried.failed);
    report.failed.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(report)
}

/// Applies the entries of `manifest` to the working tree containing `dir`,
/// whatever its `HEAD`.
async fn apply_entries(
    dir: &Path,
    store: &dyn BlobStore,
    manifest: &Manifest,
    options: &ApplyOptions,
) -> Result<ApplyReport> {
    let dir = dir.to_owned();
    let target = {
        let dir = dir.clone();
        let paths: Vec<String> = manifest.entries.iter().map(|e| e.path.clone()).collect();
        blocking("open target", move || {
            let (repo, workdir) = open_repo(&dir)?;
            let base = read_base(&repo, &workdir)?;
            // Whether the target converts anything (decided once: each
            // thread then builds its own pipeline only if so).
            let convert = Conversions::new(&repo, paths.iter().map(|p| p.as_bytes().as_bstr()))?
                .is_active()
                .then(|| repo.common_dir().to_owned());
            Ok((workdir, repo.git_dir().to_owned(), base.commit, convert))
        })
        .await?
    };
    let (workdir, git_dir, head, convert) = target;
    // git's conversions work on whole contents: no streaming through them.
    let stream_at = convert.is_none().then_some(options.stream_threshold);
    let mut report = ApplyReport::default();
    if head != manifest.base.commit {
        report.warnings.push(Warning::BaseMismatch {
            expected: manifest.base.commit,
            actual: head,
        });
    }

    // Validate every path first; a hostile entry fails alone.
    let mut seen = HashSet::new();
    let mut work: Vec<(RepoPath, Entry)> = Vec::new();
    for entry in &manifest.entries {
        match entry.repo_path() {
            Err(e) => report.failed.push(Failure {
                path: entry.path.clone(),
                kind: FailureKind::InvalidPath,
                reason: format!("refused: {e}"),
            }),
            Ok(_)
                if [&entry.base, &entry.index, &entry.result]
                    .into_iter()
                    .flatten()
                    .any(|o| o.size > options.limits.max_file_bytes) =>
            {
                report.failed.push(Failure {
                    path: entry.path.clone(),
                    kind: FailureKind::TooLarge,
                    reason: format!(
                        "declares content larger than the {} of {} bytes",
                        crate::limits::Limit::FileBytes,
                        options.limits.max_file_bytes
                    ),
                })
            }
            Ok(path) if !seen.insert(path.clone()) => report.failed.push(Failure {
                path: entry.path.clone(),
                kind: FailureKind::DuplicatePath,
                reason: "the manifest lists this path more than once".to_owned(),
            }),
            Ok(path) => work.push((path, entry.clone())),
        }
    }
    // Deletions first (a deleted file may make room for a directory), then
    // everything else in path order (parents before children).
    work.sort_by(|(a, ea), (b, eb)| {
        (ea.result.is_some(), a.as_str()).cmp(&(eb.result.is_some(), b.as_str()))
    });

    // A marker in the git directory says an apply is under way; finding it
    // at the start means the last one was killed, so this one removes the
    // temporary files it may have left in the directories it touches.
    let marker = if options.dry_run {
        None
    } else {
        Some(blocking("mark the apply", move || begin_marker(&git_dir)).await?)
    };
    if marker.as_ref().is_some_and(|m| m.interrupted) {
        let dirs: Vec<PathBuf> = work
            .iter()
            .map(|(path, _)| {
                path.parent()
                    .map_or_else(|| workdir.clone(), |d| d.to_fs_path(&workdir))
            })
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let root = workdir.clone();
        blocking("remove temporary files", move || {
            let worktree = Worktree::new(&root);
            for dir in &dirs {
                worktree.sweep_temp_files(dir);
            }
            Ok(())
        })
        .await?;
    }
    options.progress.begin(Phase::Apply, work.len() as u64);
    let mut staged = Vec::new();
    for batch in batches(&work) {
        // Base content is fetched only for the entries that turn out to
        // need a merge and whose base the target's own repository lacks.
        let mut blobs = Arc::new(
            fetch(
                store,
                batch
                    .iter()
                    .filter(|(_, e)| !streamed(e, stream_at))
                    .flat_map(|(_, e)| [&e.result, &e.index])
                    .flatten()
                    .filter_map(|o| o.digest)
                    .collect(),
            )
            .await,
        );
        if convert.is_some() && !manifest.lfs.is_empty() {
            // The LFS objects the batch's pointers name.
            let carried: HashSet<Digest> = manifest.lfs.iter().map(|o| o.digest).collect();
            let wanted: Vec<Digest> = batch
                .iter()
                .filter_map(|(_, e)| e.result.as_ref().and_then(|o| o.digest))
                .filter_map(|d| blobs.get(&d).and_then(|r| r.as_ref().ok()))
                .filter_map(|data| crate::lfs::Pointer::parse(data))
                .map(|p| p.digest)
                .filter(|d| carried.contains(d) && !blobs.contains_key(d))
                .collect();
            if !wanted.is_empty() {
                let objects = fetch(store, wanted).await;
                Arc::make_mut(&mut blobs).extend(objects);
            }
        }
        let dry_run = options.dry_run;
        let mut outcomes = {
            let (workdir, work, blobs) = (workdir.clone(), batch.to_vec(), blobs.clone());
            let convert = convert.clone();
            let progress = options.progress.clone();
            blocking("apply entries", move || {
                Ok(apply_batch(
                    &workdir,
                    &work,
                    &blobs,
                    dry_run,
                    convert.as_deref(),
                    stream_at,
                    &*progress,
                    false,
                ))
            })
            .await?
        };
        for (outcome, (path, entry)) in outcomes.iter_mut().zip(batch) {
            if let (Outcome::Stream { absent }, Some(result)) = (&*outcome, &entry.result) {
                *outcome = stream_entry(store, &workdir, path, result, *absent).await;
            }
        }
        let need_base: Vec<usize> = (0..outcomes.len())
            .filter(|&i| matches!(outcomes[i], Outcome::NeedsBase))
            .collect();
        if !need_base.is_empty() {
            let bases = fetch(
                store,
                need_base
                    .iter()
                    .filter_map(|&i| batch[i].1.base.as_ref().and_then(|o| o.digest))
                    .collect(),
            )
            .await;
            // The apply task is done with its handle, so this does not copy.
            Arc::make_mut(&mut blobs).extend(bases);
            let retry: Vec<(RepoPath, Entry)> =
                need_base.iter().map(|&i| batch[i].clone()).collect();
            let (workdir, blobs) = (workdir.clone(), blobs.clone());
            let convert = convert.clone();
            let retried = blocking("merge entries", move || {
                Ok(apply_batch(
                    &workdir,
                    &retry,
                    &blobs,
                    dry_run,
                    convert.as_deref(),
                    stream_at,
                    &NoProgress,
                    true,
                ))
            })
            .await?;
            for (i, outcome) in need_base.into_iter().zip(retried) {
                outcomes[i] = outcome;
            }
        }
        for ((path, entry), outcome) in batch.iter().zip(outcomes) {
            let stage = matches!(outcome, Outcome::Applied | Outcome::AlreadyApplied)
                && !manifest::same_state(entry.index.as_ref(), entry.base.as_ref());
            match outcome {
                Outcome::Applied => report.applied.push(path.to_string()),
                Outcome::AlreadyApplied => report.already_applied.push(path.to_string()),
                Outcome::Merged => report.merged.push(path.to_string()),
                Outcome::Skipped(reason) => report.skipped.push(Failure {
                    path: path.to_string(),
                    kind: FailureKind::LocalChanges,
                    reason,
                }),
                Outcome::Failed(kind, reason) => report.failed.push(Failure {
                    path: path.to_string(),
                    kind,
                    reason,
                }),
                Outcome::Stream { .. } => report.failed.push(Failure {
                    path: path.to_string(),
                    kind: FailureKind::Io,
                    reason: "internal error: a large file was left unwritten".to_owned(),
                }),
                Outcome::NeedsBase => report.failed.push(Failure {
                    path: path.to_string(),
                    kind: FailureKind::BaseUnavailable,
                    reason: "the base content could not be fetched".to_owned(),
                }),
            }
            if stage {
                let content = entry
                    .index
                    .as_ref()
                    .and_then(|o| o.digest)
                    .and_then(|d| blobs.get(&d).and_then(|r| r.as_ref().ok()).cloned());
                staged.push((path.clone(), entry.clone(), content));
            }
        }
    }

    if let (true, Some(marker)) = (options.update_index && !staged.is_empty(), &marker) {
        let workdir = workdir.clone();
        let marker = marker.path.clone();
        let convert = convert.clone();
        let paths: Vec<String> = staged.iter().map(|(path, ..)| path.to_string()).collect();
        match blocking("update the index", move || {
            update_index(&workdir, &marker, staged, convert.as_deref())
        })
        .await
        {
            Ok(failures) => report.failed.extend(failures),
            // The files are written; only their staged state is missing (for
            // example another git process holds `index.lock`). Say so per
            // path instead of losing the report of everything applied.
            Err(e) => report.failed.extend(paths.into_iter().map(|path| Failure {
                path,
                kind: FailureKind::Io,
                reason: format!("the file was written, but its staged state was not recorded: {e}"),
            })),
        }
    }
    report.failed.sort_by(|a, b| a.path.cmp(&b.path));
    if let Some(marker) = marker {
        let _ = std::fs::remove_file(&marker.path);
    }
    Ok(report)
}

/// The in-progress marker of an apply.
struct Marker {
    path: PathBuf,
    /// The marker was already there: the previous apply did not finish.
    interrupted: bool,
}

fn begin_marker(git_dir: &Path) -> Result<Marker> {
    let path = git_dir.join("handoff-apply-in-progress");
    let previous = std::fs::read_to_string(&path).ok();
    if let Some(text) = &previous {
        remove_own_stale_lock(git_dir, text);
    }
    std::fs::write(&path, b"").map_err(Error::io("write the apply marker", &path))?;
    Ok(Marker {
        path,
        interrupted: previous.is_some(),
    })
}

/// Runs `f` on the blocking pool; `what` names it if the task fails.
pub(crate) async fn blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|source| Error::Task { what, source })?
}

/// Splits work into batches whose content fits comfortably in memory.
fn batches(work: &[(RepoPath, Entry)]) -> Vec<&[(RepoPath, Entry)]> {
    const BATCH_BYTES: u64 = 64 << 20;
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0u64;
    for (i, (_, entry)) in work.iter().enumerate() {
        let size: u64 = [&entry.result, &entry.base, &entry.index]
            .into_iter()
            .flatten()
            .map(|o| o.size)
            .sum();
        if i > start && bytes.saturating_add(size) > BATCH_BYTES {
            out.push(&work[start..i]);
            start = i;
            bytes = 0;
        }
        bytes = bytes.saturating_add(size);
    }
    if start < work.len() {
        out.push(&work[start..]);
    }
    out
}

type Blobs = HashMap<Digest, std::result::Result<Bytes, (FailureKind, String)>>;

/// Fetches the blobs `digests` names; a missing or corrupted blob fails
/// only the entries that need it.
async fn fetch(store: &dyn BlobStore, mut wanted: Vec<Digest>) -> Blobs {
    wanted.sort();
    wanted.dedup();
    let fetched = store.get_many(&wanted).await;
    wanted
        .into_iter()
        .zip(fetched)
        .map(|(digest, fetched)| {
            let fetched = fetched.map_err(|e| match e {
                handoff_store::Error::NotFound { .. } => (FailureKind::BlobMissing, e.to_string()),
                e if e.is_corrupted() => (FailureKind::BlobCorrupted, e.to_string()),
                e => (FailureKind::Io, e.to_string()),
            });
            (digest, fetched)
        })
        .collect()
}

/// Applies a batch's entries (sorted: deletions first, then parents before
/// children) and returns their outcomes in order.
///
/// Deletions run first and alone, since one may make room for a later
/// write; the writes then run on a few threads, each taking a contiguous
/// run of paths (so mostly whole directories). With `bases_fetched` false,
/// an entry that needs a merge whose base content is neither in `blobs`
/// nor in the target's repository is [`Outcome::NeedsBase`], to be fetched
/// and retried. With `convert` (the target's common git directory, where
/// its LFS objects are), files are read and written through the target's
/// git conversions ([`Conversions`]).
#[expect(
    clippy::too_many_arguments,
    reason = "one call site per pass; every argument is the pass's own"
)]
fn apply_batch(
    workdir: &Path,
    batch: &[(RepoPath, Entry)],
    blobs: &Blobs,
    dry_run: bool,
    convert: Option<&Path>,
    stream_at: Option<u64>,
    progress: &dyn Progress,
    bases_fetched: bool,
) -> Vec<Outcome> {
    let deletions = batch.partition_point(|(_, entry)| entry.result.is_none());
    let (deletions, writes) = batch.split_at(deletions);
    let mut removed = HashSet::new();
    let mut outcomes = Vec::with_capacity(batch.len());
    let run = |entries: &[(RepoPath, Entry)], removed: &mut HashSet<RepoPath>| {
        let worktree = Worktree::new(workdir);
        let mut bases = BaseSource::new(workdir, blobs, bases_fetched);
        let repo = convert.and_then(|_| gix::open(workdir).ok());
        let conversions = match &repo {
            Some(repo) => Conversions::new(repo, std::iter::empty()),
            None if convert.is_some() => Err(Error::NotARepository {
                path: workdir.to_owned(),
                source: None,
            }),
            None => Ok(Conversions::none()),
        };
        let mut checkout = match conversions {
            Ok(conversions) => Checkout {
                worktree: &worktree,
                conversions,
                lfs_dir: convert,
                blobs,
                stream_at,
            },
            // Without the target's conversions no file can be judged or
            // written faithfully: every entry says why.
            Err(e) => {
                return entries
                    .iter()
                    .map(|_| {
                        progress.advance(1);
                        Outcome::Failed(
                            FailureKind::Filter,
                            format!("this repository's git conversions could not be set up: {e}"),
                        )
                    })
                    .collect();
            }
        };
        let mut out = Vec::with_capacity(entries.len());
        for (path, entry) in entries {
            let outcome = apply_entry(
                &mut checkout,
                &mut bases,
                blobs,
                path,
                entry,
                dry_run,
                removed,
            );
            if dry_run && entry.result.is_none() && matches!(outcome, Outcome::Applied) {
                removed.insert(path.clone());
            }
            progress.advance(1);
            out.push(outcome);
        }
        out
    };
    outcomes.extend(run(deletions, &mut removed));
    // A dry run stays on one thread: it judges later entries by the
    // deletions it only pretended to make.
    let per_worker = if dry_run {
        writes.len().max(1)
    } else {
        handoff_store::chunk_len(writes.len(), MIN_PER_WORKER)
    };
    if per_worker >= writes.len() {
        outcomes.extend(run(writes, &mut removed));
        return outcomes;
    }
    let run = &run;
    std::thread::scope(|scope| {
        let handles: Vec<_> = writes
            .chunks(per_worker)
            .map(|chunk| {
                let handle = std::thread::Builder::new()
                    .name("handoff-apply".to_owned())
                    .spawn_scoped(scope, move || run(chunk, &mut HashSet::new()));
                (chunk, handle)
            })
            .collect();
        for (chunk, handle) in handles {
            match handle.ok().and_then(|h| h.join().ok()) {
                Some(part) => outcomes.extend(part),
                // No thread (or it died): this chunk is done here, as it
                // would be without threads.
                None => outcomes.extend(run(chunk, &mut HashSet::new())),
            }
        }
    });
    outcomes
}

/// Fewer writes than this per thread are not worth another thread.
const MIN_PER_WORKER: usize = 64;

/// Where a merge's base content comes from: the snapshot's blobs when
/// fetched, else the target's own object database (opened on first use).
struct BaseSource<'a> {
    workdir: &'a Path,
    blobs: &'a Blobs,
    repo: Option<Option<gix::Repository>>,
    fetched: bool,
}

impl<'a> BaseSource<'a> {
    fn new(workdir: &'a Path, blobs: &'a Blobs, fetched: bool) -> Self {
        Self {
            workdir,
            blobs,
            repo: None,
            fetched,
        }
    }

    /// The base content, or what to do without it.
    fn content(&mut self, base: &Object) -> std::result::Result<Vec<u8>, Outcome> {
        if let Ok(data) = content(self.blobs, base) {
            return Ok(data.to_vec());
        }
        let workdir = self.workdir;
        let repo = self.repo.get_or_insert_with(|| gix::open(workdir).ok());
        if let Some(mut blob) = repo.as_ref().and_then(|r| r.find_blob(base.oid.0).ok()) {
            return Ok(blob.take_data());
        }
        if !self.fetched && base.digest.is_some() {
            return Err(Outcome::NeedsBase);
        }
        Err(Outcome::Failed(
            FailureKind::BaseUnavailable,
            format!(
                "changed in this checkout, and the base content ({}) is neither in the snapshot nor in this repository",
                base.oid
            ),
        ))
    }
}

#[derive(Debug)]
enum Outcome {
    Applied,
    AlreadyApplied,
    Merged,
    Skipped(String),
    Failed(FailureKind, String),
    /// A merge needs base content that has not been fetched yet.
    NeedsBase,
    /// A large file to stream from the store (`absent`: nothing is at its
    /// path now).
    Stream {
        absent: bool,
    },
}

/// Whether `entry` is applied by streaming its result ([`stream_entry`]):
/// a large regular file (at least `stream_at`, when the target converts
/// nothing) whose staged state is its base.
fn streamed(entry: &Entry, stream_at: Option<u64>) -> bool {
    stream_at.is_some_and(|at| {
        entry.result.as_ref().is_some_and(|r| {
            matches!(r.kind, Kind::File | Kind::Executable) && r.digest.is_some() && r.size >= at
        }) && manifest::same_state(entry.index.as_ref(), entry.base.as_ref())
    })
}

/// Writes a large result from the store at `path` in bounded memory: into
/// a temporary file beside it (git's checkout mode), checked against its
/// digest while it streams and against its git id after, and only then
/// renamed into place — so a corrupted blob never reaches the target.
async fn stream_entry(
    store: &dyn BlobStore,
    workdir: &Path,
    path: &RepoPath,
    result: &Object,
    absent: bool,
) -> Outcome {
    let Some(digest) = result.digest else {
        return Outcome::Failed(
            FailureKind::BlobMissing,
            "the snapshot does not carry this content".to_owned(),
        );
    };
    let failed_io = |e: &dyn std::fmt::Display| {
        Outcome::Failed(FailureKind::Io, format!("could not write: {e}"))
    };
    let (root, at, kind) = (workdir.to_owned(), path.clone(), result.kind);
    let staged = blocking("stage a large file", move || {
        Ok(Worktree::new(&root).stage(&at, kind))
    })
    .await;
    let tmp = match staged {
        Ok(Ok(Ok(tmp))) => tmp,
        Ok(Ok(Err(blocked))) => return blocked_failure(blocked),
        Ok(Err(e)) => return failed_io(&e),
        Err(e) => return failed_io(&e),
    };
    let file = match tmp.as_file().try_clone() {
        Ok(file) => file,
        Err(e) => return failed_io(&e),
    };
    if let Err(e) = store.write_to_file(&digest, file, tmp.path()).await {
        // The temporary file goes with `tmp`: the target is untouched.
        return match e {
            handoff_store::Error::NotFound { .. } => {
                Outcome::Failed(FailureKind::BlobMissing, e.to_string())
            }
            e if e.is_corrupted() => Outcome::Failed(FailureKind::BlobCorrupted, e.to_string()),
            e => Outcome::Failed(FailureKind::Io, e.to_string()),
        };
    }
    let (root, at, expected) = (workdir.to_owned(), path.clone(), result.clone());
    let placed = blocking("place a large file", move || {
        let oid = crate::worktree::git_oid_of_file(tmp.path(), expected.size);
        if !oid.as_ref().is_ok_and(|oid| *oid == expected.oid) {
            return Ok(Outcome::Failed(
                FailureKind::BlobCorrupted,
                format!(
                    "blob {digest} does not match the manifest's object {} ({} bytes)",
                    expected.oid, expected.size
                ),
            ));
        }
        Ok(match Worktree::new(&root).place(tmp, &at, absent) {
            Ok(()) => Outcome::Applied,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Outcome::Failed(
                FailureKind::AlreadyExists,
                "something was created at the path while applying".to_owned(),
            ),
            Err(e) => Outcome::Failed(FailureKind::Io, format!("could not write: {e}")),
        })
    })
    .await;
    placed.unwrap_or_else(|e| failed_io(&e))
}

/// The content of `object`, verified against the manifest's git id.
fn content<'a>(
    blobs: &'a Blobs,
    object: &Object,
) -> std::result::Result<&'a Bytes, (FailureKind, String)> {
    let Some(digest) = object.digest else {
        return Err((
            FailureKind::BlobMissing,
            "the snapshot does not carry this content".to_owned(),
        ));
    };
    match blobs.get(&digest) {
        Some(Ok(bytes)) => {
            // The store verified the digest; the manifest's git id must agree
            // too, or the manifest was tampered with.
            if Oid::for_blob(bytes) != object.oid || bytes.len() as u64 != object.size {
                return Err((
                    FailureKind::BlobCorrupted,
                    format!(
                        "blob {digest} does not match the manifest's object {} ({} bytes)",
                        object.oid, object.size
                    ),
                ));
            }
            Ok(bytes)
        }
        Some(Err(e)) => Err(e.clone()),
        None => Err((
            FailureKind::BlobMissing,
            format!("blob {digest} was not fetched"),
        )),
    }
}

/// The target's working tree as git sees it: files read back in their
/// committed form and written in their checked-out form, both by the
/// target's own attributes and configuration.
struct Checkout<'a, 'repo> {
    worktree: &'a Worktree,
    conversions: Conversions<'repo>,
    /// The git directory whose `lfs/objects` git-lfs reads.
    lfs_dir: Option<&'a Path>,
    /// Where carried LFS objects are.
    blobs: &'a Blobs,
    /// Files from this size are streamed ([`streamed`]); `None` when the
    /// target converts.
    stream_at: Option<u64>,
}

impl Checkout<'_, '_> {
    /// What is at `path` now, a file's content in its committed form.
    fn current(&mut self, path: &RepoPath) -> std::result::Result<Current, Outcome> {
        let current = match self.worktree.current(path) {
            Ok(Ok(current)) => current,
            Ok(Err(blocked)) => return Err(blocked_failure(blocked)),
            Err(e) => {
                return Err(Outcome::Failed(
                    FailureKind::Io,
                    format!("could not inspect: {e}"),
                ));
            }
        };
        self.clean(path, current)
            .map_err(|Refused(reason)| Outcome::Failed(FailureKind::Filter, reason))
    }

    /// What is at `path` now, a file only by its git id (its content is not
    /// read into memory): for large files, in a target that converts
    /// nothing.
    fn current_hashed(&mut self, path: &RepoPath) -> std::result::Result<Current, Outcome> {
        match self.worktree.current_hashed(path) {
            Ok(Ok(current)) => Ok(current),
            Ok(Err(blocked)) => Err(blocked_failure(blocked)),
            Err(e) => Err(Outcome::Failed(
                FailureKind::Io,
                format!("could not inspect: {e}"),
            )),
        }
    }

    /// `current` with a file's content in its committed form.
    fn clean(
        &mut self,
        path: &RepoPath,
        current: Current,
    ) -> std::result::Result<Current, Refused> {
        match current {
            Current::Object(obj, data)
                if self.conversions.is_active()
                    && matches!(obj.kind, Kind::File | Kind::Executable) =>
            {
                match self.conversions.clean(path, Cow::Borrowed(&data))? {
                    Cow::Borrowed(_) => Ok(Current::Object(obj, data)),
                    Cow::Owned(clean) => Ok(Current::Object(
                        Object {
                            kind: obj.kind,
                            oid: Oid::for_blob(&clean),
                            size: clean.len() as u64,
                            digest: None,
                        },
                        clean,
                    )),
                }
            }
            other => Ok(other),
        }
    }

    /// Writes committed content `data` at `path` in its checked-out form
    /// (see [`write`]).
    fn write(
        &mut self,
        (path, kind, data): (&RepoPath, Kind, &[u8]),
        absent: bool,
        dry_run: bool,
        done: Outcome,
    ) -> Outcome {
        let regular = matches!(kind, Kind::File | Kind::Executable);
        if regular {
            match self.conversions.lfs_pointer(path, data) {
                Ok(Some(pointer)) => {
                    return self.write_lfs(path, kind, pointer, absent, dry_run, done);
                }
                Ok(None) => {}
                Err(Refused(reason)) => return Outcome::Failed(FailureKind::Filter, reason),
            }
        }
        let data = if regular {
            match self.conversions.smudge(path, data) {
                Ok(data) => data,
                Err(Refused(reason)) => return Outcome::Failed(FailureKind::Filter, reason),
            }
        } else {
            Cow::Borrowed(data)
        };
        write(self.worktree, (path, kind, &data), absent, dry_run, done)
    }

    /// Writes the content LFS `pointer` names at `path`, first placing it
    /// where git-lfs finds it (the target's `.git/lfs/objects`). The
    /// content comes from there or from the snapshot.
    fn write_lfs(
        &mut self,
        path: &RepoPath,
        kind: Kind,
        pointer: crate::lfs::Pointer,
        absent: bool,
        dry_run: bool,
        done: Outcome,
    ) -> Outcome {
        let Some(lfs_dir) = self.lfs_dir else {
            return Outcome::Failed(
                FailureKind::Io,
                "an LFS pointer was found without the target's git directory".to_owned(),
            );
        };
        let content = match pointer.read_object(lfs_dir) {
            Some(content) => Bytes::from(content),
            None => match self.blobs.get(&pointer.digest) {
                // The store checked the digest, which is the pointer's oid.
                Some(Ok(content)) if content.len() as u64 == pointer.size => content.clone(),
                Some(Ok(_)) => {
                    return Outcome::Failed(
                        FailureKind::BlobCorrupted,
                        format!(
                            "the Git LFS object {} does not have the pointer's size of {} bytes",
                            pointer.digest, pointer.size
                        ),
                    );
                }
                Some(Err((kind, reason))) => return Outcome::Failed(*kind, reason.clone()),
                None => {
                    return Outcome::Failed(
                        FailureKind::BlobMissing,
                        format!(
                            "the Git LFS object {} is neither in the snapshot nor in this repository's lfs/objects",
                            pointer.digest
                        ),
                    );
                }
            },
        };
        if !dry_run && let Err(e) = pointer.store_object(lfs_dir, &content) {
            return Outcome::Failed(
                FailureKind::Io,
                format!(
                    "could not store the Git LFS object {} in {}: {e}",
                    pointer.digest,
                    lfs_dir.display()
                ),
            );
        }
        write(self.worktree, (path, kind, &content), absent, dry_run, done)
    }
}

/// A gitlink entry: a submodule's (or nested repository's) `HEAD`, which
/// only its own snapshot moves. It is applied when the target's
/// repository there is at the snapshot's commit (the index then records
/// it), or when the snapshot stages a commit for a submodule the target
/// has not initialised (an empty directory, or nothing: the index records
/// the commit, as `git checkout` leaves a submodule not initialised).
fn apply_gitlink(
    checkout: &mut Checkout<'_, '_>,
    path: &RepoPath,
    entry: &Entry,
    dry_run: bool,
) -> Outcome {
    let result = entry.result.as_ref().filter(|o| o.kind == Kind::Gitlink);
    let at = result.map_or_else(String::new, |o| format!(" at {}", o.oid));
    // What `git checkout` does to a submodule that is not initialised:
    // the index records the new commit, the directory stays empty.
    let staged_link = result.is_some() && manifest::same_state(entry.index.as_ref(), result);
    match checkout.worktree.current(path) {
        Ok(Ok(Current::Repository(head))) if result.is_some_and(|r| r.oid == head) => {
            Outcome::AlreadyApplied
        }
        // The index moves to the staged commit, the submodule's HEAD stays
        // (as `git checkout` without `--recurse-submodules`): its own
        // snapshot, applied after this repository's, moves it.
        Ok(Ok(Current::Repository(head)))
            if staged_link && entry.base.as_ref().is_some_and(|b| b.oid == head) =>
        {
            Outcome::Applied
        }
        Ok(Ok(Current::Repository(head))) => Outcome::Skipped(format!(
            "nested repository{at}: its HEAD here is {head}; a snapshot moves it only when it carries the submodule's own snapshot"
        )),
        Ok(Ok(Current::Absent)) if staged_link => {
            if !dry_run && let Err(e) = std::fs::create_dir_all(checkout.worktree.fs_path(path)) {
                return Outcome::Failed(
                    FailureKind::Io,
                    format!("could not create the submodule's directory: {e}"),
                );
            }
            Outcome::Applied
        }
        Ok(Ok(Current::Directory))
            if staged_link
                && std::fs::read_dir(checkout.worktree.fs_path(path))
                    .is_ok_and(|mut d| d.next().is_none()) =>
        {
            Outcome::Applied
        }
        _ => Outcome::Skipped(format!(
            "nested repository{at}: not carried by this snapshot (not initialised where it was taken, or not a submodule); clone it separately"
        )),
    }
}

fn apply_entry(
    checkout: &mut Checkout<'_, '_>,
    bases: &mut BaseSource<'_>,
    blobs: &Blobs,
    path: &RepoPath,
    entry: &Entry,
    dry_run: bool,
    removed_in_dry_run: &HashSet<RepoPath>,
) -> Outcome {
    let large = streamed(entry, checkout.stream_at);
    let gitlink = |o: &Option<Object>| o.as_ref().is_some_and(|o| o.kind == Kind::Gitlink);
    if gitlink(&entry.base) || gitlink(&entry.result) {
        return apply_gitlink(checkout, path, entry, dry_run);
    }
    // A large file is judged by its git id, hashed in bounded memory.
    let current = if large {
        checkout.current_hashed(path)
    } else {
        checkout.current(path)
    };
    let current = match current {
        Ok(current) => current,
        Err(outcome) => return outcome,
    };
    // A dry run did not delete the files of a directory that the snapshot
    // replaces by a file: judge as if it had.
    let current = match current {
        Current::Directory
            if dry_run && checkout.worktree.only_contains(path, removed_in_dry_run) =>
        {
            Current::Absent
        }
        other => other,
    };
    let now = match &current {
        Current::Absent => None,
        Current::Object(obj, _) => Some(obj),
        Current::Directory => {
            return if entry.result.is_none() && entry.base.is_none() {
                Outcome::AlreadyApplied
            } else {
                Outcome::Failed(
                    FailureKind::IsDirectory,
                    "a directory is in the way".to_owned(),
                )
            };
        }
        Current::Repository(_) => {
            return Outcome::Failed(
                FailureKind::IsDirectory,
                "a nested repository is in the way".to_owned(),
            );
        }
    };
    if manifest::same_state(now, entry.result.as_ref()) {
        return Outcome::AlreadyApplied;
    }
    if manifest::same_state(now, entry.base.as_ref()) {
        return match &entry.result {
            None => remove(checkout.worktree, path, dry_run),
            Some(_) if large && dry_run => Outcome::Applied,
            Some(_) if large => Outcome::Stream {
                absent: now.is_none(),
            },
            Some(result) => match content(blobs, result) {
                Ok(data) => checkout.write(
                    (path, result.kind, data),
                    now.is_none(),
                    dry_run,
                    Outcome::Applied,
                ),
                Err((kind, reason)) => Outcome::Failed(kind, reason),
            },
        };
    }
    // Changed locally too.
    let (Some(base), Some(result), Current::Object(ours, ours_data)) =
        (&entry.base, &entry.result, &current)
    else {
        return match (&entry.base, &entry.result) {
            (None, Some(_)) => Outcome::Failed(
                FailureKind::AlreadyExists,
                "the path already exists with different content".to_owned(),
            ),
            (Some(_), None) => Outcome::Failed(
                FailureKind::LocalChanges,
                "changed in this checkout, so it was not deleted".to_owned(),
            ),
            _ => Outcome::Failed(
                FailureKind::LocalChanges,
                "changed in this checkout".to_owned(),
            ),
        };
    };
    if checkout.conversions.is_lfs(path) {
        // Merging pointers' lines would name an object nobody has.
        return Outcome::Failed(
            FailureKind::LocalChanges,
            "changed in this checkout, and Git LFS files cannot be merged".to_owned(),
        );
    }
    if large {
        return Outcome::Failed(
            FailureKind::Conflict,
            format!(
                "changed in this checkout, and files of {} bytes or more are not merged",
                result.size
            ),
        );
    }
    let regular = |o: &Object| matches!(o.kind, Kind::File | Kind::Executable);
    if !(regular(base) && regular(result) && regular(ours)) {
        return Outcome::Failed(
            FailureKind::LocalChanges,
            "changed in this checkout, and symlinks cannot be merged".to_owned(),
        );
    }
    let theirs = match content(blobs, result) {
        Ok(data) => data,
        Err((kind, reason)) => return Outcome::Failed(kind, reason),
    };
    let base_data = match bases.content(base) {
        Ok(data) => data,
        Err(outcome) => return outcome,
    };
    match merge3(&base_data, ours_data, theirs) {
        Merge::Clean(merged) => {
            // The snapshot's mode change wins; otherwise keep the local mode.
            let kind = if result.kind != base.kind {
                result.kind
            } else {
                ours.kind
            };
            if kind == ours.kind && merged == *ours_data {
                // The local file already holds the merge: nothing to write.
                return Outcome::Merged;
            }
            checkout.write((path, kind, &merged), false, dry_run, Outcome::Merged)
        }
        Merge::Conflict { regions } => Outcome::Failed(
            FailureKind::Conflict,
            format!(
                "changed in this checkout; {regions} overlapping edit(s) conflict with the snapshot"
            ),
        ),
        Merge::Binary => Outcome::Failed(
            FailureKind::Conflict,
            "changed in this checkout, and binary content cannot be merged".to_owned(),
        ),
    }
}

fn blocked_failure(blocked: Blocked) -> Outcome {
    match blocked {
        Blocked::Symlink(at) => Outcome::Failed(
            FailureKind::ThroughSymlink,
            format!("{at} is a symlink; refusing to write through it"),
        ),
        Blocked::NotADirectory(at) => Outcome::Failed(
            FailureKind::NotADirectory,
            format!("{at} is not a directory"),
        ),
    }
}

/// Writes `(path, kind, data)`; `absent` when nothing is at `path` now (a
/// new file is then created directly, and something appearing there
/// meanwhile is left alone).
fn write(
    worktree: &Worktree,
    (path, kind, data): (&RepoPath, Kind, &[u8]),
    absent: bool,
    dry_run: bool,
    done: Outcome,
) -> Outcome {
    if dry_run {
        return done;
    }
    match worktree.write(path, kind, data, absent) {
        Ok(Ok(())) => done,
        Ok(Err(blocked)) => blocked_failure(blocked),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Outcome::Failed(
            FailureKind::AlreadyExists,
            "something was created at the path while applying".to_owned(),
        ),
        Err(e) => Outcome::Failed(FailureKind::Io, format!("could not write: {e}")),
    }
}

fn remove(worktree: &Worktree, path: &RepoPath, dry_run: bool) -> Outcome {
    if dry_run {
        return Outcome::Applied;
    }
    match worktree.remove(path) {
        Ok(Ok(())) => Outcome::Applied,
        Ok(Err(blocked)) => blocked_failure(blocked),
        Err(e) => Outcome::Failed(FailureKind::Io, format!("could not delete: {e}")),
    }
}

/// Sets the target's index entries to the snapshot's staged state.
fn update_index(
    workdir: &Path,
    marker: &Path,
    staged: Vec<(RepoPath, Entry, Option<Bytes>)>,
    convert: Option<&Path>,
) -> Result<Vec<Failure>> {
    let repo = gix::open(workdir).map_err(|e| Error::git("open the repository", workdir, e))?;
    let mut index = repo
        .index_or_empty()
        .map_err(|e| Error::git("read the index", workdir, e))
        .map(|index| (*index).clone())?;
    let worktree = Worktree::new(workdir);
    let conversions = if convert.is_some() {
        Conversions::new(&repo, std::iter::empty())?
    } else {
        Conversions::none()
    };
    // Files are compared with the staged objects in their committed form.
    let no_blobs = Blobs::new();
    let mut checkout = Checkout {
        worktree: &worktree,
        conversions,
        lfs_dir: convert,
        blobs: &no_blobs,
        // Staged content is held already (streamed entries are never
        // staged).
        stream_at: None,
    };
    let mut failures = Vec::new();
    let mut removals: HashSet<PathBuf> = HashSet::new();
    for (path, entry, content) in staged {
        let key: &BStr = path.as_str().as_bytes().as_bstr();
        let Some(obj) = &entry.index else {
            removals.insert(PathBuf::from(path.as_str()));
            continue;
        };
        // The blob must exist in the target's object database for git to use
        // the entry; write it unless it is already there.
        if obj.kind.has_content() && !repo.has_object(obj.oid.0) {
            let data = content.or_else(|| match checkout.current(&path) {
                Ok(Current::Object(now, data)) if now.oid == obj.oid => Some(Bytes::from(data)),
                _ => None,
            });
            let written = data.map(|d| repo.write_blob(&d).map(|id| id.detach()));
            match written {
                Some(Ok(id)) if id == obj.oid.0 => {}
                _ => {
                    failures.push(Failure {
                        path: path.to_string(),
                        kind: FailureKind::BlobMissing,
                        reason: "the staged content could not be written to the index".to_owned(),
                    });
                    continue;
                }
            }
        }
        let mode = match obj.kind {
            Kind::File => gix::index::entry::Mode::FILE,
            Kind::Executable => gix::index::entry::Mode::FILE_EXECUTABLE,
            Kind::Symlink => gix::index::entry::Mode::SYMLINK,
            Kind::Gitlink => gix::index::entry::Mode::COMMIT,
        };
        // A stat matching the file on disk marks the entry clean when the
        // working tree holds the staged content; otherwise git re-hashes.
        let stat = match checkout.current(&path) {
            Ok(Current::Object(now, _)) if now.same_state(obj) => {
                gix::index::fs::Metadata::from_path_no_follow(&worktree.fs_path(&path))
                    .ok()
                    .and_then(|m| gix::index::entry::Stat::from_fs(&m).ok())
                    .unwrap_or_default()
            }
            _ => gix::index::entry::Stat::default(),
        };
        match index.entry_index_by_path(key) {
            Ok(pos) => {
                let e = &mut index.entries_mut()[pos];
                e.id = obj.oid.0;
                e.mode = mode;
                e.stat = stat;
            }
            Err(_) => {
                index.dangerously_push_entry(
                    stat,
                    obj.oid.0,
                    gix::index::entry::Flags::empty(),
                    mode,
                    key,
                );
                index.sort_entries();
            }
        }
    }
    if !removals.is_empty() {
        index.remove_entries(|_, p, _| removals.contains(Path::new(&*p.to_str_lossy())));
    }
    // Cached trees are stale after any change.
    index.remove_tree();
    index.remove_resolve_undo();
    write_index(&index, workdir, marker)?;
    Ok(failures)
}

/// Writes `index` where it was read from, as git does: into `index.lock`
/// (created exclusively, so another git process's lock is never
/// overwritten), synced, then renamed over `index`. The lock's inode is
/// noted in the apply marker first, so that a later apply can tell a lock
/// this apply left (killed mid-write) from one another process holds.
fn write_index(index: &gix::index::File, workdir: &Path, marker: &Path) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::MetadataExt as _;
    let path = index.path().to_owned();
    let lock = index_lock(&path);
    let mut bytes = Vec::new();
    index
        .write_to(&mut bytes, gix::index::write::Options::default())
        .map_err(|e| Error::git("encode the index", workdir, e))?;
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&lock)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Error::IndexLocked { lock });
        }
        Err(source) => {
            return Err(Error::Io {
                action: "create",
                path: lock,
                source,
            });
        }
    };
    let inode = file.metadata().map_err(Error::io("inspect", &lock))?.ino();
    std::fs::write(marker, format!("index.lock {inode}\n"))
        .map_err(Error::io("write the apply marker", marker))?;
    crate::crash::point(crate::crash::INDEX_LOCKED);
    let (first, rest) = bytes.split_at(bytes.len() / 2);
    let written = file.write_all(first).and_then(|()| {
        crate::crash::point(crate::crash::INDEX_HALF_WRITTEN);
        file.write_all(rest)?;
        file.sync_all()
    });
    if let Err(source) = written {
        let _ = std::fs::remove_file(&lock);
        return Err(Error::Io {
            action: "write",
            path: lock,
            source,
        });
    }
    crate::crash::point(crate::crash::INDEX_WRITTEN);
    if let Err(source) = std::fs::rename(&lock, &path) {
        let _ = std::fs::remove_file(&lock);
        return Err(Error::Io {
            action: "replace the index with",
            path: lock,
            source,
        });
    }
    // The lock is gone; a later apply must not think it is ours.
    let _ = std::fs::write(marker, b"");
    Ok(())
}

fn index_lock(index: &Path) -> PathBuf {
    let mut lock = index.as_os_str().to_owned();
    lock.push(".lock");
    PathBuf::from(lock)
}

/// After an apply that was killed: removes the `index.lock` it left (the
/// one whose inode its marker noted). A lock another process holds has
/// another inode and is left alone.
fn remove_own_stale_lock(git_dir: &Path, marker_text: &str) {
    use std::os::unix::fs::MetadataExt as _;
    let Some(inode) = marker_text
        .lines()
        .find_map(|l| l.strip_prefix("index.lock "))
        .and_then(|n| n.trim().parse::<u64>().ok())
    else {
        return;
    };
    let lock = git_dir.join("index.lock");
    if std::fs::symlink_metadata(&lock).is_ok_and(|m| m.ino() == inode && m.is_file()) {
        let _ = std::fs::remove_file(&lock);
    }
}
