//! Deleting runs (`handoff runs delete`, `handoff gc --older-than`): a run's
//! record goes with every version, its queue entries and its conversation's
//! name, and the snapshots and conversations it holds stop being roots of
//! garbage collection, so that [`gc`](crate::gc::gc) reclaims what nothing
//! else references.
//!
//! # Why a release document
//!
//! Garbage collection starts from every snapshot manifest and conversation
//! blob in the store: they are what people hold ids of (`handoff snapshot`
//! prints one), and a blob cannot say who stored it. A run's documents are
//! such blobs too, so deleting the record alone would free nothing.
//! Deleting a run therefore first writes `released/<run>`, naming the
//! documents the run held (its sessions' start, end and since-base
//! snapshots and its conversation states); gc does not count those as
//! roots — unless a run or a conversation name that is left references
//! them, which keeps them whatever a release says. A release is dropped by
//! the gc that finds none of its documents stored any more.
//!
//! The order makes every stop safe: the release first (while the record
//! still keeps everything), then the conversation's name, the queue
//! entries, and the record's versions oldest first, so a reader sees the
//! whole record or none.
//!
//! A queued or running run is never deleted: a worker may be about to read
//! what it names.

use std::collections::HashSet;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use handoff_store::{Digest, DocKey, DocumentStore, DocumentStoreExt, Store};
use serde::{Deserialize, Serialize};

use crate::run::{Loaded, RunId, RunRecord, RunState, RunStore};
use crate::{Error, Result};

/// The format tag of a release document.
pub const RELEASED_FORMAT: &str = "handoff.released/v1";

/// Where release documents live (`released/<run>`).
const RELEASED: &str = "released";

/// `released/<run>`: the documents a deleted run held, which garbage
/// collection no longer counts as roots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Released {
    /// Always [`RELEASED_FORMAT`].
    pub format: String,
    /// The deleted run.
    pub run: RunId,
    /// Its snapshot manifests and conversation blobs.
    pub documents: Vec<Digest>,
}

/// What deleting one run did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Deleted {
    /// The run.
    pub run: RunId,
    /// When its last session ended (its last update when none did).
    pub ended_at: DateTime<Utc>,
    /// Record versions removed.
    pub versions: usize,
    /// Snapshots and conversation states released to garbage collection.
    pub documents: usize,
}

/// A run that was not deleted because it is queued or running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The run.
    pub run: RunId,
    /// Its state.
    pub state: RunState,
}

/// Whether a run is live — queued or running — and in which state.
pub fn live_state(record: &RunRecord) -> Option<RunState> {
    if matches!(record.state, RunState::Queued | RunState::Running) {
        return Some(record.state);
    }
    record
        .sessions
        .iter()
        .map(|s| s.state)
        .find(|s| matches!(s, RunState::Queued | RunState::Running))
}

/// When a run ended: its last session's end, else its last update.
pub fn ended_at(record: &RunRecord) -> DateTime<Utc> {
    record
        .last_session()
        .and_then(|s| s.ended_at)
        .unwrap_or(record.updated_at)
}

/// The documents a run holds: every session's snapshots and the
/// conversation states it recorded, sorted and without repeats.
pub fn documents(record: &RunRecord) -> Vec<Digest> {
    let mut out: Vec<Digest> = record.conversation_head.into_iter().collect();
    for session in &record.sessions {
        for snapshot in session.start.iter().chain(&session.end) {
            out.push(snapshot.snapshot);
            out.extend(snapshot.since_base);
        }
        out.extend(session.conversation_at_end);
    }
    out.sort();
    out.dedup();
    out
}

fn released_key(run: RunId) -> Result<DocKey> {
    Ok(DocKey::new(format!("{RELEASED}/{run}"))?)
}

/// Deletes the runs `ids`: each must exist and be neither queued nor
/// running, or nothing is deleted ([`Error::UnknownRun`],
/// [`Error::LiveRun`]). With `dry_run`, only says what it would do.
/// Their data is reclaimed by the next garbage collections.
pub async fn delete_runs(store: &dyn Store, ids: &[RunId], dry_run: bool) -> Result<Vec<Deleted>> {
    let runs = RunStore::new(store);
    let mut loaded = Vec::with_capacity(ids.len());
    for &id in ids {
        let run = runs.get(id).await?;
        if let Some(state) = live_state(&run.record) {
            return Err(Error::LiveRun { run: id, state });
        }
        loaded.push(run);
    }
    let mut out = Vec::with_capacity(loaded.len());
    for run in &loaded {
        out.push(delete_loaded(store, run, dry_run).await?);
    }
    Ok(out)
}

/// Deletes one run read as `loaded`, which the caller checked is not live.
pub(crate) async fn delete_loaded(
    store: &dyn Store,
    loaded: &Loaded,
    dry_run: bool,
) -> Result<Deleted> {
    let docs: &dyn DocumentStore = store;
    let record = &loaded.record;
    let id = record.id;
    let mut documents = documents(record);
    // Its sessions' checkpoints are its documents too.
    let live = crate::live::LiveStore::new(docs);
    for session in &record.sessions {
        for (_, segment) in live.segments(id, session.id).await? {
            if let Some(checkpoint) = segment.checkpoint {
                for snapshot in checkpoint.end {
                    documents.push(snapshot.snapshot);
                    documents.extend(snapshot.since_base);
                }
            }
        }
    }
    documents.sort();
    documents.dedup();
    let record_key = DocKey::new(format!("runs/{id}"))?;
    let versions = docs
        .versions(&record_key)
        .await
        .map_err(|e| Error::from_store(e, id))?;
    let deleted = Deleted {
        run: id,
        ended_at: ended_at(record),
        versions: versions.len(),
        documents: documents.len(),
    };
    if dry_run {
        return Ok(deleted);
    }
    let released = Released {
        format: RELEASED_FORMAT.to_owned(),
        run: id,
        documents: documents.clone(),
    };
    let data =
        serde_json::to_vec(&released).map_err(|source| Error::RunRecord { run: id, source })?;
    let key = released_key(id)?;
    match docs.create(&key, Bytes::from(data.clone())).await {
        Ok(_) => {}
        // A delete that stopped halfway wrote it already: write it again,
        // in case the record gained documents since.
        Err(e) if e.is_conflict() => {
            let current = docs.get(&key).await?;
            docs.update(&key, current.version, Bytes::from(data))
                .await
                .map_err(|e| Error::from_store(e, id))?;
        }
        Err(e) => return Err(Error::from_store(e, id)),
    }
    // The conversation's name, when it points at one of this run's states
    // (an imported conversation has an id of its own, and keeps its name).
    let name = DocKey::new(format!("conversations/{}", record.conversation))?;
    if let Some(found) = docs.get_latest(&name).await?
        && std::str::from_utf8(&found.data)
            .ok()
            .and_then(|t| t.trim().parse::<Digest>().ok())
            .is_some_and(|d| documents.contains(&d))
    {
        docs.delete(&name).await?;
    }
    let runs = RunStore::new(docs);
    for session in &record.sessions {
        runs.dequeue(id, session.id).await?;
        live.remove(id, session.id).await?;
    }
    for info in &versions {
        docs.delete_version(&record_key, info.version)
            .await
            .map_err(|e| Error::from_store(e, id))?;
    }
    // A writer that read the record before it went (a follow-up) may have
    // written a newer version meanwhile: the run is back, and its record
    // keeps what it names; say so rather than claim it is gone.
    if !docs
        .versions(&record_key)
        .await
        .map_err(|e| Error::from_store(e, id))?
        .is_empty()
    {
        return Err(Error::ChangedWhileDeleting { run: id });
    }
    tracing::info!(run = %id, documents = deleted.documents, "deleted run");
    Ok(deleted)
}

/// Every release document: the documents deleted runs held, and the keys
/// of the releases.
pub(crate) async fn released(docs: &dyn DocumentStore) -> Result<(HashSet<Digest>, Vec<Release>)> {
    let mut all = HashSet::new();
    let mut releases = Vec::new();
    for key in docs.list(RELEASED).await? {
        let Some(found) = docs.get_latest(&key).await? else {
            continue;
        };
        // A release that does not decode releases nothing: what it would
        // have named stays a root (the safe side).
        let Ok(released) = serde_json::from_slice::<Released>(&found.data) else {
            tracing::warn!(%key, "ignoring a release document that does not decode");
            continue;
        };
        if released.format != RELEASED_FORMAT {
            continue;
        }
        all.extend(released.documents.iter().copied());
        releases.push(Release {
            key,
            documents: released.documents,
        });
    }
    Ok((all, releases))
}

/// One release document, as [`released`] read it.
#[derive(Debug, Clone)]
pub(crate) struct Release {
    /// Its key.
    pub key: DocKey,
    /// What it releases.
    pub documents: Vec<Digest>,
}

#[cfg(test)]
mod tests {
    use handoff_conversation::ConversationId;
    use handoff_store::{BlobStore, DocumentStoreExt as _, MemoryStore};

    use super::*;
    use crate::run::{RepoSnapshot, Session};

    fn digest(text: &str) -> Digest {
        Digest::of(text.as_bytes())
    }

    fn ended(record: &mut RunRecord) {
        for s in &mut record.sessions {
            s.state = RunState::Ended;
        }
        record.state = RunState::Ended;
    }

    /// What a run holds is every session's snapshots and conversation
    /// states, once each; a run is live while any session waits or runs.
    #[test]
    fn documents_and_liveness_of_a_record() {
        let mut start = RepoSnapshot::new(".", digest("start"));
        start.since_base = Some(digest("since"));
        let mut record = RunRecord::new(
            ConversationId::new(),
            "scripted",
            Vec::new(),
            Session::queued(None, vec![start.clone()]),
        );
        assert_eq!(live_state(&record), Some(RunState::Queued));
        record.sessions[0].end = vec![RepoSnapshot::new(".", digest("end"))];
        record.sessions[0].conversation_at_end = Some(digest("conversation"));
        record.conversation_head = Some(digest("conversation"));
        record.sessions[0].state = RunState::Ended;
        let mut second = Session::queued(None, vec![start]);
        second.state = RunState::Running;
        record.sessions.push(second);
        record.state = RunState::Ended;
        assert_eq!(live_state(&record), Some(RunState::Running));
        ended(&mut record);
        assert_eq!(live_state(&record), None);
        let mut expected = vec![
            digest("start"),
            digest("since"),
            digest("end"),
            digest("conversation"),
        ];
        expected.sort();
        assert_eq!(documents(&record), expected);
    }

    /// A queued run given with an ended one: refused by name and state,
    /// and neither is deleted. The ended one alone: its record, queue
    /// entry and conversation name go, its release names its documents,
    /// and a conversation named by another id keeps its name.
    #[tokio::test]
    async fn delete_refuses_a_live_run_and_removes_an_ended_one() {
        let store = MemoryStore::new();
        let runs = RunStore::new(&store);
        let head = store
            .put(Bytes::from_static(b"conversation"))
            .await
            .unwrap()
            .digest;
        let mut done = RunRecord::new(
            ConversationId::new(),
            "scripted",
            Vec::new(),
            Session::queued(None, vec![RepoSnapshot::new(".", digest("start"))]),
        );
        done.conversation_head = Some(head);
        let v1 = runs.create(&done).await.unwrap();
        ended(&mut done);
        runs.update(v1, &mut done).await.unwrap();
        runs.enqueue(done.id, done.sessions[0].id).await.unwrap();
        let name = DocKey::new(format!("conversations/{}", done.conversation)).unwrap();
        store
            .create(&name, Bytes::from(head.to_string()))
            .await
            .unwrap();
        let imported = DocKey::new(format!("conversations/{}", ConversationId::new())).unwrap();
        store
            .create(&imported, Bytes::from(head.to_string()))
            .await
            .unwrap();
        let live = RunRecord::new(
            ConversationId::new(),
            "scripted",
            Vec::new(),
            Session::queued(None, Vec::new()),
        );
        runs.create(&live).await.unwrap();

        let err = delete_runs(&store, &[done.id, live.id], false)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::LiveRun { run, state: RunState::Queued } if run == live.id),
            "{err}"
        );
        assert!(runs.get(done.id).await.is_ok(), "nothing was deleted");

        let deleted = delete_runs(&store, &[done.id], false).await.unwrap();
        assert_eq!(
            deleted,
            vec![Deleted {
                run: done.id,
                ended_at: ended_at(&done),
                versions: 2,
                documents: 2,
            }]
        );
        assert!(matches!(
            runs.get(done.id).await,
            Err(Error::UnknownRun { .. })
        ));
        assert!(
            runs.pending()
                .await
                .unwrap()
                .iter()
                .all(|p| p.run != done.id)
        );
        assert!(store.get_latest(&name).await.unwrap().is_none());
        assert!(store.get_latest(&imported).await.unwrap().is_some());
        let (all, releases) = released(&store).await.unwrap();
        let mut expected = vec![digest("start"), head];
        expected.sort();
        assert_eq!(releases.len(), 1);
        assert_eq!(releases[0].documents, expected);
        assert_eq!(all, expected.into_iter().collect());
    }
}
