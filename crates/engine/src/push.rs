//! local → cloud: fork a local conversation into a new queued cloud run,
//! carrying the workspace of every repository it uses — uncommitted changes
//! and the commits its remote lacks — its attachments and an optional
//! pending prompt.
//!
//! One capture can start several runs ([`Push::variants`]): parallel
//! variants of the same task, each with its own fork of the conversation,
//! sharing one upload.
//!
//! Nothing reaches the store half-done: blobs, manifests, attachments and
//! the conversation are stored first, and the run record — the only thing
//! that points at them — is created last. If any step fails, the caller gets
//! the error and no run exists.

use std::path::{Path, PathBuf};

use handoff_conversation::Conversation;
use handoff_harness::{AgentOptions, Direction, Harness, coverage};
use handoff_store::{BlobStore, Digest, Store};
use handoff_workspace::{Capture, NoProgress, SnapshotOptions};

use crate::outgoing::Outgoing;
use crate::run::{HistoryLimits, Loaded, RepoSnapshot, Repository, RunRecord, RunStore, Session};
use crate::{Error, Result, RunId, conversations};

/// What to push.
#[derive(Debug)]
pub struct Push<'a> {
    /// The workspace root: a git working tree, or a folder holding several.
    pub workspace: &'a Path,
    /// The local conversation to fork (it is not modified).
    pub conversation: &'a Conversation,
    /// The harness the cloud run will use.
    pub harness: &'a dyn Harness,
    /// Where the conversation's attachments are now.
    pub attachments_from: &'a dyn BlobStore,
    /// A prompt for the first cloud session (`None`: continue as is).
    pub prompt: Option<String>,
    /// How the agent runs the first session (permission level, model).
    pub agent: AgentOptions,
    /// How to capture each repository (exclusions, limits).
    pub snapshot: SnapshotOptions,
    /// Push even if likely secrets were found.
    pub allow_secrets: bool,
    /// How many runs to start from this one capture (parallel variants of
    /// the same task); 0 counts as 1.
    pub variants: usize,
}

/// What a push created.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The new run (the first, with variants).
    pub run: RunId,
    /// The record as created (the first, with variants).
    pub record: RunRecord,
    /// Every run created, in order (one per variant), with the version it
    /// was created at.
    pub runs: Vec<Loaded>,
    /// Bytes this push added to the store.
    pub new_bytes: u64,
}

/// The git repositories a workspace consists of: the working tree that
/// contains `workspace` (found upward, as git does; linked worktrees
/// included), else every working tree at most two levels below it. A bare
/// repository is an error.
pub fn discover_repositories(workspace: &Path) -> Result<Vec<(String, PathBuf)>> {
    if let Some(found) = handoff_workspace::locate(workspace)? {
        return Ok(vec![(".".to_owned(), found.workdir)]);
    }
    let mut found = Vec::new();
    let mut stack = vec![(workspace.to_owned(), String::new(), 0)];
    while let Some((dir, rel, depth)) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|source| Error::Io {
            action: "list the workspace",
            path: dir.clone(),
            source,
        })?;
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if !kind.is_dir() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let child_rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if entry.path().join(".git").exists() {
                if let Some(child) = handoff_workspace::locate(&entry.path())? {
                    found.push((child_rel, child.workdir));
                }
            } else if depth < 1 {
                stack.push((entry.path(), child_rel, depth + 1));
            }
        }
    }
    found.sort();
    if found.is_empty() {
        return Err(Error::NoRepository {
            workspace: workspace.to_owned(),
        });
    }
    Ok(found)
}

/// local → cloud.
pub async fn push(store: &dyn Store, request: Push<'_>) -> Result<Pushed> {
    coverage::check(request.harness, Direction::LocalToCloud)?;
    crate::runner::check_level(request.harness, request.agent.permissions)?;
    // Absolute, so that the recorded sources can be cloned from anywhere.
    let workspace = std::fs::canonicalize(request.workspace).map_err(|source| Error::Io {
        action: "open the workspace",
        path: request.workspace.to_owned(),
        source,
    })?;
    let repos = discover_repositories(&workspace)?;

    // Capture everything first, so secrets are found before anything
    // leaves. Meanwhile the store reads its indexes for the batch to come
    // (reading only; should it fail, the batch reads them and reports).
    let blobs: &dyn BlobStore = store;
    let (captured, _prepared) = tokio::join!(capture_and_scan(&repos, &request), blobs.prepare());
    let captures = captured?;

    // Everything that leaves goes up in one batch — every repository's
    // blobs and manifest, the attachments and each variant's conversation
    // — so that on an object store a push costs a few requests; the run
    // records, the only things that point at it, come after.
    let mut forks = Vec::new();
    let mut extra = Vec::new();
    for _ in 0..request.variants.max(1) {
        let fork = request.conversation.fork(None)?;
        let encoded = conversations::encode(&fork)?;
        forks.push((fork, Digest::of(&encoded)));
        extra.push(encoded);
    }
    let mut seen = std::collections::HashSet::new();
    for attachment in request.conversation.attachments() {
        if seen.insert(attachment.digest) {
            extra.push(request.attachments_from.get(&attachment.digest).await?);
        }
    }
    let mut repositories = Vec::new();
    for (name, capture) in &captures {
        let base = &capture.manifest.base;
        let source = base
            .remote
            .as_deref()
            .map(|remote| resolve_source(remote, &capture.workdir))
            .or_else(|| Some(capture.workdir.display().to_string()));
        repositories.push(Repository {
            path: name.clone(),
            source,
            commit: base.commit.map(|c| c.to_string()),
            branch: base.branch.clone(),
        });
    }
    let (names, captures): (Vec<String>, Vec<Capture>) = captures.into_iter().unzip();
    let (snapshots, _) =
        handoff_workspace::snapshot::store_batch(captures, extra, blobs, &NoProgress).await?;
    let new_bytes = snapshots.iter().map(|s| s.new_bytes).sum();
    let start: Vec<RepoSnapshot> = names
        .into_iter()
        .zip(&snapshots)
        .map(|(name, snap)| RepoSnapshot::new(name, snap.id))
        .collect();
    let mut runs = Vec::new();
    for (fork, head) in forks {
        let mut session = Session::queued(request.prompt.clone(), start.clone());
        session.agent = request.agent.clone();
        session.attachments = fork.attachments().map(|a| a.digest).collect();
        let mut record = RunRecord::new(
            fork.id,
            request.harness.kind().name(),
            repositories.clone(),
            session,
        );
        record.conversation_head = Some(head);
        // The limits the capture was allowed travel with the run: its
        // sessions' checkouts and end snapshots hold the same history.
        record.history_limits = Some(HistoryLimits::of(&request.snapshot.limits));
        // The conversation (stored in the batch) is named while the
        // session is queued; the record comes after both.
        let (version, ()) = RunStore::new(store)
            .create_after(&record, conversations::name_new(store, fork.id, head))
            .await?;
        runs.push(Loaded { record, version });
    }
    let record = runs
        .first()
        .map(|r| r.record.clone())
        .ok_or_else(|| Error::Internal {
            what: "a push created no run".to_owned(),
        })?;
    Ok(Pushed {
        run: record.id,
        record,
        runs,
        new_bytes,
    })
}

/// Each repository of the workspace captured, then everything that would
/// leave scanned for secrets (unless the push allows them).
async fn capture_and_scan(
    repos: &[(String, PathBuf)],
    request: &Push<'_>,
) -> Result<Vec<(String, Capture)>> {
    let mut captures: Vec<(String, Capture)> = Vec::new();
    for (name, dir) in repos {
        let options = SnapshotOptions {
            progress: std::sync::Arc::new(NoProgress),
            ..request.snapshot.clone()
        };
        let dir = dir.clone();
        let capture =
            tokio::task::spawn_blocking(move || handoff_workspace::capture(&dir, &options))
                .await
                .map_err(|source| Error::Task {
                    what: "capture the workspace",
                    source,
                })??;
        captures.push((name.clone(), capture));
    }
    if !request.allow_secrets {
        let mut outgoing = Outgoing::new()?;
        for (name, capture) in &captures {
            outgoing.capture(name, capture);
        }
        if let Some(prompt) = &request.prompt {
            outgoing.text("prompt", prompt);
        }
        outgoing
            .conversation(request.conversation)
            .attachments(request.conversation, request.attachments_from)
            .await?;
        outgoing.check()?;
    }
    Ok(captures)
}

/// A remote URL as a worker can clone it: a relative local path (which git
/// resolves from the working tree) becomes absolute.
fn resolve_source(remote: &str, workdir: &Path) -> String {
    let is_url = remote.contains("://");
    let is_scp = remote
        .split_once(':')
        .is_some_and(|(host, _)| !host.is_empty() && !host.contains('/'));
    if is_url || is_scp || Path::new(remote).is_absolute() {
        return remote.to_owned();
    }
    let joined = workdir.join(remote);
    std::fs::canonicalize(&joined)
        .unwrap_or(joined)
        .display()
        .to_string()
}
