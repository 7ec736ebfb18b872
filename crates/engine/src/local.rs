//! cloud → local: fork a cloud conversation into a local one and produce
//! the artifact to review — a branch `handoff/<run-id>` per repository
//! holding the run's commits (imported with their messages, authors and
//! dates) plus one commit on top for what was left uncommitted — without
//! touching the local working tree, index or current branch. Applying the
//! run's changes to the working tree is an explicit opt-in.
//!
//! Running it again after more sessions moves the branch forward when it
//! still points at a commit of this run (one this run wrote, or a session's
//! end `HEAD`); otherwise it refuses, and the caller may name another
//! branch or force the move.

use std::path::{Path, PathBuf};

use handoff_conversation::Conversation;
use handoff_harness::{Direction, Harness, coverage};
use handoff_store::{BlobStore, Store};
use handoff_workspace::{ApplyOptions, ApplyReport, BranchCommit, BranchOptions, Oid, Replace};

use crate::run::{HistoryLimits, RunRecord, RunStore};
use crate::{Error, Result, RunId, conversations};

/// What continuing locally produced.
#[derive(Debug, Clone)]
pub struct ContinuedLocally {
    /// The local fork of the cloud conversation.
    pub conversation: Conversation,
    /// Per repository: its path in the run, the local checkout, the branch.
    pub branches: Vec<(String, PathBuf, BranchCommit)>,
    /// Per repository, when applying was asked for: the apply report.
    pub applied: Vec<(String, ApplyReport)>,
}

/// How to continue locally.
#[derive(Debug, Clone)]
pub struct ContinueOptions {
    /// Also apply the run's changes (everything since its base, committed
    /// or not) to the working tree, best-effort.
    pub apply: bool,
    /// The branch to write; default `handoff/<run-id>`.
    pub branch: Option<String>,
    /// Move the branch even when it points at a commit that is not this
    /// run's.
    pub force: bool,
    /// The most carried history the run may ask for (its record's
    /// [`history_limits`](RunRecord::history_limits), which the branch's
    /// history is read within).
    pub max_history: HistoryLimits,
}

impl Default for ContinueOptions {
    fn default() -> Self {
        Self {
            apply: false,
            branch: None,
            force: false,
            max_history: HistoryLimits::CEILING,
        }
    }
}

/// The line every commit `continue_locally` writes for `run` carries, by
/// which a later call recognises the branch as the run's.
pub fn run_marker(run: RunId) -> String {
    format!("Handoff-Run: {run}")
}

/// cloud → local for `run`, into the local workspace at `workspace` (a
/// directory inside the working tree for a single-repository run, else the
/// folder holding the repositories by their run paths).
pub async fn continue_locally(
    store: &dyn Store,
    run: RunId,
    local_harness: &dyn Harness,
    workspace: &Path,
    options: &ContinueOptions,
) -> Result<ContinuedLocally> {
    coverage::check(local_harness, Direction::CloudToLocal)?;
    let blobs: &dyn BlobStore = store;
    let record = RunStore::new(store).get(run).await?.record;
    record.validate()?;
    // The run's snapshots carry the history its push allowed.
    let limits = record
        .history_limits_within(&options.max_history)?
        .apply(handoff_workspace::Limits::default());
    let end = record
        .last_good_end()
        .ok_or(Error::NothingToContinue { run })?
        .to_vec();
    let head = record
        .conversation_head
        .ok_or(Error::NothingToContinue { run })?;
    let cloud = conversations::load(blobs, &head).await?;
    let mut conversation = cloud.fork(None)?;
    conversation.harness = local_harness.kind().name().to_owned();

    let branch = options
        .branch
        .clone()
        .unwrap_or_else(|| format!("handoff/{run}"));
    let marker = run_marker(run);
    let mut branches = Vec::new();
    let mut applied = Vec::new();
    for snapshot in &end {
        let repository = record
            .repositories
            .iter()
            .find(|r| r.path == snapshot.repo)
            .ok_or_else(|| Error::InvalidRecord {
                run,
                field: "sessions[].end[].repo",
                reason: format!("names no repository of the run: {:?}", snapshot.repo),
            })?;
        let dir = match repository.place(run)? {
            None => workspace.to_owned(),
            Some(path) => path.to_fs_path(workspace),
        };
        let manifest =
            handoff_workspace::load_manifest_within(blobs, &snapshot.snapshot, &limits).await?;
        let replace = if options.force {
            Replace::Always
        } else {
            Replace::IfOwned {
                marker: marker.clone(),
                tips: end_heads(blobs, &record, &snapshot.repo, &limits).await?,
            }
        };
        let message = format!(
            "handoff: uncommitted work of run {run}\n\nWhat the cloud session left uncommitted, on top of its last commit.\n\n{marker}\n"
        );
        let made = handoff_workspace::write_branch(
            &dir,
            blobs,
            &manifest,
            &branch,
            &BranchOptions {
                message,
                replace,
                limits,
            },
        )
        .await?;
        branches.push((snapshot.repo.clone(), dir.clone(), made));
        if options.apply {
            // The agent's commits are on the branch just written; --apply
            // changes the working tree only, never moves the user's branch.
            let options = ApplyOptions {
                limits,
                carried_commits: false,
                clone_repository: crate::environment::GitClone::shared(),
                ..ApplyOptions::default()
            };
            let report =
                handoff_workspace::apply(&dir, blobs, &snapshot.review(), &options).await?;
            applied.push((snapshot.repo.clone(), report));
        }
    }
    Ok(ContinuedLocally {
        conversation,
        branches,
        applied,
    })
}

/// The `HEAD` every ended session of `record` left in repository `repo`: a
/// branch pointing at one of them (a session with no uncommitted changes)
/// is still the run's.
async fn end_heads(
    store: &dyn BlobStore,
    record: &RunRecord,
    repo: &str,
    limits: &handoff_workspace::Limits,
) -> Result<Vec<Oid>> {
    let mut heads = Vec::new();
    for session in record.sessions.iter().filter(|s| s.has_end()) {
        for end in session.end.iter().filter(|e| e.repo == repo) {
            let manifest =
                handoff_workspace::load_manifest_within(store, &end.snapshot, limits).await?;
            heads.extend(manifest.base.commit);
        }
    }
    Ok(heads)
}
