//! Garbage collection of a store (`handoff gc`): everything no manifest,
//! run or conversation references is removed, safely while others push.
//!
//! What is kept: every snapshot manifest and conversation in the store
//! (they are what people hold ids of), every run record, and everything
//! those reference — a manifest's blobs and carried history, a
//! conversation's attachments, a run's snapshots, conversations and
//! attachments. The rest — what a push that failed halfway, or a
//! repaired blob, left behind — goes, in the store's two steps
//! ([`handoff_store::maintain`]): condemned now if older than the grace
//! period, removed by a later run.
//!
//! With [`GcOptions::older_than`], runs that ended before that age are
//! deleted first ([`crate::delete`]): their snapshots and conversations
//! are released, so they are no longer roots and go with everything only
//! they reference. Queued and running runs are skipped and reported.
//! Standalone snapshots (`handoff snapshot`) and imported conversations
//! stay roots whatever their age: no record says whether anyone still
//! holds their ids.
//!
//! Run records are tidied too: versions that changed no state are
//! compacted ([`RunStore::compact`]), queue entries of sessions that are
//! done (or that no record names, once older than the grace period) are
//! removed, and queued or running sessions missing from the queue (a store
//! written before it existed) are added.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use handoff_conversation::{Conversation, ReadOptions};
use handoff_store::{BlobStore, Digest, DocKey, DocumentStore, DocumentStoreExt, Store, maintain};
use serde::Serialize;

use crate::delete::{self, Deleted, Skipped};
use crate::run::{Compaction, Pending, RunState, RunStore};
use crate::{Error, Result};

/// How [`gc`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcOptions {
    /// Nothing younger than this is condemned; condemned blobs are removed
    /// once they have been in the trash this long (default one day).
    pub grace: Duration,
    /// Which run-record versions are kept.
    pub compaction: Compaction,
    /// Report what would be done, and do nothing.
    pub dry_run: bool,
    /// The time ages are judged at (the clock, except in tests).
    pub now: SystemTime,
    /// Delete first the runs that ended at least this long before `now`
    /// (never a queued or running one); `None` deletes none.
    pub older_than: Option<Duration>,
}

impl Default for GcOptions {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(24 * 60 * 60),
            compaction: Compaction::default(),
            dry_run: false,
            now: SystemTime::now(),
            older_than: None,
        }
    }
}

/// What [`gc`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct GcReport {
    /// Run records looked at.
    pub runs: usize,
    /// Run-record versions removed by compaction.
    pub versions_removed: usize,
    /// Queue entries removed (their sessions are done).
    pub queue_removed: usize,
    /// Queue entries added (queued or running sessions that had none).
    pub queue_added: usize,
    /// Snapshots and conversations found (the roots).
    pub documents: usize,
    /// Blobs something references.
    pub referenced: usize,
    /// Runs deleted because they ended before `older_than`.
    pub deleted: Vec<Deleted>,
    /// Runs older than `older_than` that are queued or running: kept.
    pub skipped: Vec<Skipped>,
    /// Snapshots and conversations no longer roots because only deleted
    /// runs held them.
    pub released: usize,
    /// Release documents dropped: none of what they name is stored any more.
    pub releases_dropped: usize,
    /// What the store did with the rest.
    pub store: maintain::GcReport,
}

/// How many documents are read at once.
const BATCH: usize = 256;

/// Collects garbage in `store` (see the module documentation).
pub async fn gc(store: &dyn Store, options: &GcOptions) -> Result<GcReport> {
    let blobs: &dyn BlobStore = store;
    let docs: &dyn DocumentStore = store;
    let name = blobs.describe();
    let raw = blobs.objects().ok_or_else(|| {
        Error::Store(handoff_store::Error::Unsupported {
            operation: "collect garbage",
            store: name.clone(),
        })
    })?;
    let mut report = GcReport::default();
    // Releases are read before the documents: a run deleted meanwhile is
    // still a root this time (the safe side).
    let (mut released, releases) = delete::released(docs).await?;
    let documents: Vec<Digest> = maintain::documents(raw, &name).await?;
    let cut = options
        .older_than
        .and_then(|age| options.now.checked_sub(age))
        .map(chrono::DateTime::<chrono::Utc>::from);

    let runs = RunStore::new(docs);
    let pending = runs.pending().await?;
    let mut roots: Vec<Digest> = Vec::new();
    let mut live: HashSet<Digest> = HashSet::new();
    let mut released_now: HashSet<Digest> = HashSet::new();
    for id in runs.list().await? {
        report.runs += 1;
        let loaded = match runs.get(id).await {
            Ok(loaded) => loaded,
            // The store failed to read it: stop, before anything it names
            // could be condemned.
            Err(Error::Store(e)) if !e.is_not_found() && !e.is_corrupted() => {
                return Err(Error::Store(e));
            }
            // A damaged or hostile record is fsck's business (and one gone
            // since the listing is no one's); what it names is kept only
            // if something else names it too.
            Err(_) => continue,
        };
        let record = &loaded.record;
        if let Some(cut) = cut {
            match delete::live_state(record) {
                Some(state) if record.created_at < cut => {
                    report.skipped.push(Skipped { run: id, state });
                }
                None if delete::ended_at(record) < cut => {
                    let deleted = delete::delete_loaded(store, &loaded, options.dry_run).await?;
                    released_now.extend(delete::documents(record));
                    report.deleted.push(deleted);
                    continue;
                }
                _ => {}
            }
        }
        let mut named: Vec<Digest> = record.conversation_head.into_iter().collect();
        for session in &record.sessions {
            for snapshot in session.start.iter().chain(&session.end) {
                named.push(snapshot.snapshot);
                named.extend(snapshot.since_base);
            }
            named.extend(session.attachments.iter().copied());
            named.extend(session.conversation_at_end);
            let listed = pending
                .iter()
                .any(|p| p.run == id && p.session == session.id);
            if matches!(session.state, RunState::Queued | RunState::Running) && !listed {
                report.queue_added += 1;
                if !options.dry_run {
                    runs.enqueue(id, session.id).await?;
                }
            }
        }
        live.extend(named.iter().copied());
        roots.extend(named);
        if !options.dry_run {
            report.versions_removed += runs.compact(id, &options.compaction, options.now).await?;
        }
    }
    for Pending { run, session } in &pending {
        let done = match runs.get(*run).await {
            Ok(loaded) => match loaded.record.sessions.iter().find(|s| s.id == *session) {
                Some(s) => s.state.is_over(),
                // Written before its record, or left by a write that lost
                // its race: only an old one is known to be left over.
                None => entry_is_old(docs, *run, *session, options).await?,
            },
            Err(Error::UnknownRun { .. }) => entry_is_old(docs, *run, *session, options).await?,
            Err(_) => false,
        };
        if done {
            report.queue_removed += 1;
            if !options.dry_run {
                runs.dequeue(*run, *session).await?;
            }
        }
    }
    for key in docs.list("conversations").await? {
        if let Some(found) = docs.get_latest(&key).await?
            && let Some(digest) = std::str::from_utf8(&found.data)
                .ok()
                .and_then(|t| t.trim().parse::<Digest>().ok())
            // A dry run leaves the names of the runs it would delete; their
            // deletion would remove them.
            && !(options.dry_run && released_now.contains(&digest))
        {
            live.insert(digest);
            roots.push(digest);
        }
    }

    released.extend(released_now.iter().copied());
    // Every document is a root, except those only deleted runs held (a run
    // or a name that references one has added it above).
    for digest in &documents {
        if released.contains(digest) {
            report.released += usize::from(!live.contains(digest));
        } else {
            live.insert(*digest);
            roots.push(*digest);
        }
    }
    let stored: HashSet<&Digest> = documents.iter().collect();
    for release in &releases {
        if !release.documents.iter().any(|d| stored.contains(d)) {
            report.releases_dropped += 1;
            if !options.dry_run {
                docs.delete(&release.key).await?;
            }
        }
    }

    // What the roots reference.
    roots.sort();
    roots.dedup();
    report.documents = roots.len();
    for chunk in roots.chunks(BATCH) {
        for result in blobs.get_many(chunk).await {
            let data = match result {
                Ok(data) => data,
                // A missing or damaged root is fsck's business.
                Err(e) if e.is_not_found() || e.is_corrupted() => continue,
                // A root the store failed to read stops the collection.
                Err(e) => return Err(e.into()),
            };
            if data.starts_with(br#"{"format":"handoff.snapshot/"#) {
                if let Ok(manifest) = handoff_workspace::Manifest::from_json(&data) {
                    live.extend(manifest.digests());
                }
            } else if data.starts_with(br#"{"format":"handoff.conversation/"#)
                && let Ok((conversation, _)) =
                    Conversation::read_jsonl(&data[..], &ReadOptions::default())
            {
                live.extend(attachments(&conversation));
            }
        }
    }
    report.referenced = live.len();
    report.store = maintain::collect_garbage(
        raw,
        &name,
        &live,
        &maintain::GcOptions {
            grace: options.grace,
            now: options.now,
            dry_run: options.dry_run,
        },
    )
    .await?;
    Ok(report)
}

fn attachments(conversation: &Conversation) -> impl Iterator<Item = Digest> + '_ {
    conversation.attachments().map(|a| a.digest)
}

/// Whether the queue entry of `(run, session)` is older than the grace
/// period.
async fn entry_is_old(
    docs: &dyn DocumentStore,
    run: crate::RunId,
    session: crate::SessionId,
    options: &GcOptions,
) -> Result<bool> {
    let key = DocKey::new(format!("queue/{run}/{session}"))?;
    Ok(docs.versions(&key).await?.first().is_some_and(|v| {
        v.modified.is_some_and(|m| {
            options
                .now
                .duration_since(m)
                .is_ok_and(|age| age >= options.grace)
        })
    }))
}
