//! cloud → local: fork a cloud conversation into a local one and produce
//! the artifact to review — a branch `handoff/<run-id>` per repository with
//! the run's final state as a commit on top of the base — without touching
//! the local working tree. Applying it is an explicit opt-in.

use std::path::{Path, PathBuf};

use handoff_conversation::Conversation;
use handoff_harness::{Direction, Harness, coverage};
use handoff_store::{BlobStore, Store};
use handoff_workspace::{ApplyOptions, ApplyReport, BranchCommit};

use crate::run::RunStore;
use crate::{Error, Result, RunId, conversations};

/// What continuing locally produced.
#[derive(Debug, Clone)]
pub struct ContinuedLocally {
    /// The local fork of the cloud conversation.
    pub conversation: Conversation,
    /// Per repository: its path in the run, the local checkout, the branch.
    pub branches: Vec<(String, PathBuf, BranchCommit)>,
    /// Per repository, when `--apply` was asked for: the apply report.
    pub applied: Vec<(String, ApplyReport)>,
}

/// cloud → local for `run`, into the local workspace at `workspace` (a
/// working tree for a single-repository run, else the folder holding the
/// repositories by their run paths).
pub async fn continue_locally(
    store: &dyn Store,
    run: RunId,
    local_harness: &dyn Harness,
    workspace: &Path,
    apply: bool,
) -> Result<ContinuedLocally> {
    coverage::check(local_harness, Direction::CloudToLocal)?;
    let blobs: &dyn BlobStore = store;
    let record = RunStore::new(store).get(run).await?.record;
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

    let mut branches = Vec::new();
    let mut applied = Vec::new();
    let branch = format!("handoff/{run}");
    for snapshot in &end {
        let dir = if snapshot.repo == "." {
            workspace.to_owned()
        } else {
            workspace.join(&snapshot.repo)
        };
        let manifest = handoff_workspace::load_manifest(blobs, &snapshot.snapshot).await?;
        let made = handoff_workspace::write_branch(
            &dir,
            blobs,
            &manifest,
            &branch,
            &format!("handoff: run {run}"),
        )
        .await?;
        branches.push((snapshot.repo.clone(), dir.clone(), made));
        if apply {
            let report =
                handoff_workspace::apply(&dir, blobs, &snapshot.snapshot, &ApplyOptions::default())
                    .await?;
            applied.push((snapshot.repo.clone(), report));
        }
    }
    Ok(ContinuedLocally {
        conversation,
        branches,
        applied,
    })
}
