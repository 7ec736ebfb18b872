//! Integrity check of a store: every blob against its digest, every pack
//! and index (their names, their structure, every entry against its pack,
//! packs no index names), every run record and every reference from a
//! record (snapshots, the manifests' blobs and declared sizes, carried
//! history, conversations, attachments), and every snapshot, conversation
//! and named conversation in the store whether a run refers to it or not
//! (snapshots and conversations are recognised by their format tags).
//! Temporary files a crashed writer left behind are reported too.
//!
//! Blobs are read in batches, so on an object store the check costs a few
//! range reads per pack, not a request per blob.
//!
//! Nothing is changed unless repairing is asked for, and then only what is
//! provably broken or left over is removed: corrupted blob copies (so that a
//! later put of the right content heals them), damaged indexes (lying ones
//! are rewritten with what their packs hold; packs no index names are
//! indexed again) and stale temporary files.

use std::collections::BTreeSet;
use std::time::SystemTime;

use handoff_store::{BlobStore, Digest, DocumentStore, Store, maintain};
use serde::Serialize;

use crate::run::{RunId, RunStore};
use crate::{Result, conversations};

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Problem {
    /// The object: `blob sha256:…`, `run <id>`, `snapshot sha256:…`.
    pub object: String,
    /// What is wrong with it.
    pub problem: String,
}

/// What a check found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Blobs verified.
    pub blobs: usize,
    /// Run records checked.
    pub runs: usize,
    /// Snapshots checked (referenced or not).
    pub snapshots: usize,
    /// Conversations checked (referenced or not).
    pub conversations: usize,
    /// Problems, sorted.
    pub problems: Vec<Problem>,
    /// What `repair` removed.
    pub repaired: Vec<String>,
}

/// How old a temporary file must be before fsck calls it stale: a writer
/// that is still running is never disturbed. (The same age makes a pack
/// no index names an orphan rather than a push in flight.)
pub const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(60 * 60);

/// How many blobs are read at once.
const BATCH: usize = 512;

/// Checks `store`; with `repair`, removes corrupted blob copies and stale
/// temporary files.
pub async fn fsck(store: &dyn Store, repair: bool) -> Result<Report> {
    let blobs: &dyn BlobStore = store;
    let docs: &dyn DocumentStore = store;
    let mut report = Report::default();
    let mut corrupted = BTreeSet::new();
    let mut snapshots_seen = BTreeSet::new();
    let mut conversations_seen = BTreeSet::new();

    // Packs and indexes first: a damaged index makes every read of the
    // blobs it names fail, and repairing it first lets the rest be checked.
    if let Some(raw) = blobs.objects() {
        let name = blobs.describe();
        if repair {
            report
                .repaired
                .extend(maintain::repair(raw, &name, STALE_AFTER, SystemTime::now()).await?);
        }
        for found in maintain::check(raw, &name, STALE_AFTER, SystemTime::now()).await? {
            report.problems.push(Problem {
                object: found.object,
                problem: found.problem,
            });
        }
    }
    let listed = match blobs.list_blobs().await {
        Ok(listed) => listed,
        Err(e) => {
            report.problems.push(Problem {
                object: "blobs".to_owned(),
                problem: format!("cannot be listed: {e}"),
            });
            Vec::new()
        }
    };
    for chunk in listed.chunks(BATCH) {
        for (digest, result) in chunk.iter().zip(blobs.get_many(chunk).await) {
            report.blobs += 1;
            match result {
                // Snapshots and conversations are recognised by their
                // format tags, so those no run refers to are checked too.
                Ok(data) if data.starts_with(br#"{"format":"handoff.snapshot/"#) => {
                    snapshots_seen.insert(*digest);
                }
                Ok(data) if data.starts_with(br#"{"format":"handoff.conversation/"#) => {
                    conversations_seen.insert(*digest);
                }
                Ok(_) => {}
                Err(e) if e.is_corrupted() => {
                    corrupted.insert(*digest);
                    report.problems.push(Problem {
                        object: format!("blob {digest}"),
                        problem: e.to_string(),
                    });
                }
                Err(e) => report.problems.push(Problem {
                    object: format!("blob {digest}"),
                    problem: e.to_string(),
                }),
            }
        }
    }
    // Named conversations (imports, and every run's).
    for key in docs.list("conversations").await? {
        let object = format!("conversation name {key}");
        let Some(found) = docs.get_latest(&key).await? else {
            continue;
        };
        match std::str::from_utf8(&found.data)
            .ok()
            .and_then(|t| t.trim().parse::<Digest>().ok())
        {
            Some(digest) if blobs.has(&digest).await? => {
                conversations_seen.insert(digest);
            }
            Some(digest) => report.problems.push(Problem {
                object,
                problem: format!("points at missing blob {digest}"),
            }),
            None => report.problems.push(Problem {
                object,
                problem: "does not point at a blob".to_owned(),
            }),
        }
    }

    let runs = RunStore::new(docs);
    let keys = docs.list("runs").await?;
    for key in keys {
        report.runs += 1;
        let object = format!("run record {key}");
        let Some(id) = key
            .as_str()
            .strip_prefix("runs/")
            .and_then(|id| id.parse::<RunId>().ok())
        else {
            report.problems.push(Problem {
                object,
                problem: "the key is not a run id".to_owned(),
            });
            continue;
        };
        let record = match runs.get(id).await {
            Ok(loaded) => loaded.record,
            Err(e) => {
                report.problems.push(Problem {
                    object,
                    problem: format!("{e}: {}", source_text(&e)),
                });
                continue;
            }
        };
        let mut snapshots = BTreeSet::new();
        let mut plain = BTreeSet::new();
        let live = crate::live::LiveStore::new(docs);
        for session in &record.sessions {
            // Its progress and inbox, and the checkpoints they name.
            match live.segments(id, session.id).await {
                Ok(segments) => {
                    for (_, segment) in segments {
                        if let Some(checkpoint) = segment.checkpoint {
                            snapshots.extend(checkpoint.end.iter().map(|s| s.snapshot));
                        }
                    }
                }
                Err(e) => report.problems.push(Problem {
                    object: format!("run {id}"),
                    problem: e.to_string(),
                }),
            }
            if let Err(e) = live.inbox(id, session.id).await {
                report.problems.push(Problem {
                    object: format!("run {id}"),
                    problem: e.to_string(),
                });
            }
            snapshots.extend(session.start.iter().chain(&session.end).map(|s| s.snapshot));
            plain.extend(session.attachments.iter().copied());
            plain.extend(session.conversation_at_end);
        }
        for digest in plain {
            if !blobs.has(&digest).await? {
                report.problems.push(Problem {
                    object: format!("run {id}"),
                    problem: format!("refers to missing blob {digest}"),
                });
            }
        }
        for head in record.conversation_head.iter().chain(
            record
                .sessions
                .iter()
                .filter_map(|s| s.conversation_at_end.as_ref()),
        ) {
            if !corrupted.contains(head) && blobs.has(head).await? {
                conversations_seen.insert(*head);
            }
        }
        for snapshot in snapshots {
            if !blobs.has(&snapshot).await? {
                report.problems.push(Problem {
                    object: format!("run {id}"),
                    problem: format!("refers to missing snapshot {snapshot}"),
                });
            } else if !corrupted.contains(&snapshot) {
                snapshots_seen.insert(snapshot);
            }
        }
    }

    for snapshot in &snapshots_seen {
        report.snapshots += 1;
        check_snapshot(blobs, *snapshot, &corrupted, &mut report.problems).await?;
    }
    for conversation in &conversations_seen {
        report.conversations += 1;
        check_conversation(blobs, *conversation, &corrupted, &mut report.problems).await?;
    }

    let stale = blobs.stale_temporaries(STALE_AFTER).await?;
    for temporary in &stale {
        report.problems.push(Problem {
            object: format!("temporary file {temporary}"),
            problem: "left behind by a writer that stopped (fsck --repair removes it)".to_owned(),
        });
    }

    if repair {
        for digest in &corrupted {
            blobs.remove_blob(digest).await?;
            report
                .repaired
                .push(format!("removed corrupted blob {digest}"));
        }
        for temporary in blobs.remove_stale_temporaries(STALE_AFTER).await? {
            report
                .repaired
                .push(format!("removed stale temporary file {temporary}"));
        }
    }
    report.problems.sort();
    report.problems.dedup();
    Ok(report)
}

async fn check_snapshot(
    blobs: &dyn BlobStore,
    id: Digest,
    corrupted: &BTreeSet<Digest>,
    problems: &mut Vec<Problem>,
) -> Result<()> {
    let object = format!("snapshot {id}");
    // A run may carry more history than the defaults allow (its push raised
    // them), up to what any host allows a run; more than that is a problem.
    let limits = crate::run::HistoryLimits::CEILING.apply(handoff_workspace::Limits::default());
    let manifest = match handoff_workspace::load_manifest_within(blobs, &id, &limits).await {
        Ok(manifest) => manifest,
        Err(e) => {
            problems.push(Problem {
                object,
                problem: e.to_string(),
            });
            return Ok(());
        }
    };
    // What the manifest names, read in one batch: (digest, declared size,
    // who names it).
    let mut named: Vec<(Digest, u64, String)> = Vec::new();
    for entry in &manifest.entries {
        for obj in [&entry.base, &entry.index, &entry.result]
            .into_iter()
            .flatten()
        {
            if let Some(digest) = obj.digest {
                named.push((digest, obj.size, format!("entry {}", entry.path)));
            }
        }
    }
    if let Some(history) = &manifest.history {
        for carried in &history.objects {
            named.push((
                carried.digest,
                carried.size,
                format!("carried object {}", carried.oid),
            ));
        }
    }
    named.retain(|(digest, ..)| !corrupted.contains(digest));
    for chunk in named.chunks(BATCH) {
        let digests: Vec<Digest> = chunk.iter().map(|(d, ..)| *d).collect();
        for ((digest, size, who), result) in chunk.iter().zip(blobs.get_many(&digests).await) {
            match result {
                Ok(data) if data.len() as u64 != *size => problems.push(Problem {
                    object: object.clone(),
                    problem: format!(
                        "{who} declares {size} bytes but blob {digest} has {}",
                        data.len()
                    ),
                }),
                Ok(_) => {}
                Err(e) if e.is_not_found() => problems.push(Problem {
                    object: object.clone(),
                    problem: format!("{who} refers to missing blob {digest}"),
                }),
                Err(e) => problems.push(Problem {
                    object: object.clone(),
                    problem: e.to_string(),
                }),
            }
        }
    }
    Ok(())
}

/// A conversation decodes, and every attachment it names is stored with
/// the size it declares.
async fn check_conversation(
    blobs: &dyn BlobStore,
    id: Digest,
    corrupted: &BTreeSet<Digest>,
    problems: &mut Vec<Problem>,
) -> Result<()> {
    let object = format!("conversation {id}");
    let conversation = match conversations::load(blobs, &id).await {
        Ok(conversation) => conversation,
        Err(e) => {
            problems.push(Problem {
                object,
                problem: e.to_string(),
            });
            return Ok(());
        }
    };
    let mut seen = BTreeSet::new();
    for attachment in conversation.attachments() {
        if !seen.insert(attachment.digest) || corrupted.contains(&attachment.digest) {
            continue;
        }
        match blobs.get(&attachment.digest).await {
            Ok(data) if data.len() as u64 != attachment.size => problems.push(Problem {
                object: object.clone(),
                problem: format!(
                    "attachment {} declares {} bytes but blob {} has {}",
                    attachment.name,
                    attachment.size,
                    attachment.digest,
                    data.len()
                ),
            }),
            Ok(_) => {}
            Err(e) if e.is_not_found() => problems.push(Problem {
                object: object.clone(),
                problem: format!(
                    "attachment {} refers to missing blob {}",
                    attachment.name, attachment.digest
                ),
            }),
            Err(e) => problems.push(Problem {
                object: object.clone(),
                problem: e.to_string(),
            }),
        }
    }
    Ok(())
}

fn source_text(error: &crate::Error) -> String {
    std::error::Error::source(error)
        .map(ToString::to_string)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use handoff_conversation::{AttachmentRef, Conversation, Message, Part, Role};
    use handoff_store::MemoryStore;

    #[tokio::test]
    async fn conversations_no_run_refers_to_are_checked() {
        let store = MemoryStore::new();
        let mut conversation = Conversation::new("unreferenced", "warp");
        let missing = Digest::of(b"never stored");
        conversation.push(Message::new(
            Role::User,
            vec![Part::Attachment(AttachmentRef {
                digest: missing,
                name: "shot.png".into(),
                media_type: "image/png".into(),
                size: 12,
            })],
        ));
        // Stored, never named, no run: found by its format tag.
        let blob = conversations::save(&store, &conversation).await.unwrap();
        let report = fsck(&store, false).await.unwrap();
        assert_eq!(report.conversations, 1);
        assert_eq!(
            report.problems,
            vec![Problem {
                object: format!("conversation {blob}"),
                problem: format!("attachment shot.png refers to missing blob {missing}"),
            }]
        );
    }
}
