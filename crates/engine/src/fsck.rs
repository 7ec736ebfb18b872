//! Integrity check of a store: every blob against its digest, every run
//! record, and every reference from a record (snapshots, the manifests'
//! blobs and declared sizes, conversations, attachments).
//!
//! Nothing is changed unless repairing is asked for, and then only what is
//! provably broken is removed: corrupted blob copies (so that a later put of
//! the right content heals them).

use std::collections::BTreeSet;

use handoff_store::{BlobStore, Digest, DocumentStore, Store};
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
    /// Problems, sorted.
    pub problems: Vec<Problem>,
    /// What `repair` removed.
    pub repaired: Vec<String>,
}

/// Checks `store`; with `repair`, removes corrupted blob copies.
pub async fn fsck(store: &dyn Store, repair: bool) -> Result<Report> {
    let blobs: &dyn BlobStore = store;
    let docs: &dyn DocumentStore = store;
    let mut report = Report::default();
    let mut corrupted = BTreeSet::new();

    for digest in blobs.list_blobs().await? {
        report.blobs += 1;
        match blobs.get(&digest).await {
            Ok(_) => {}
            Err(e @ handoff_store::Error::Corrupted { .. }) => {
                corrupted.insert(digest);
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
        for session in &record.sessions {
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
            if corrupted.contains(head) || !blobs.has(head).await? {
                continue;
            }
            if let Err(e) = conversations::load(blobs, head).await {
                report.problems.push(Problem {
                    object: format!("conversation {head}"),
                    problem: e.to_string(),
                });
            }
        }
        for snapshot in snapshots {
            check_snapshot(blobs, id, snapshot, &corrupted, &mut report.problems).await?;
        }
    }

    if repair {
        for digest in &corrupted {
            blobs.remove_blob(digest).await?;
            report
                .repaired
                .push(format!("removed corrupted blob {digest}"));
        }
    }
    report.problems.sort();
    report.problems.dedup();
    Ok(report)
}

async fn check_snapshot(
    blobs: &dyn BlobStore,
    run: RunId,
    id: Digest,
    corrupted: &BTreeSet<Digest>,
    problems: &mut Vec<Problem>,
) -> Result<()> {
    let object = format!("snapshot {id}");
    if !blobs.has(&id).await? {
        problems.push(Problem {
            object: format!("run {run}"),
            problem: format!("refers to missing snapshot {id}"),
        });
        return Ok(());
    }
    if corrupted.contains(&id) {
        return Ok(());
    }
    let manifest = match handoff_workspace::load_manifest(blobs, &id).await {
        Ok(manifest) => manifest,
        Err(e) => {
            problems.push(Problem {
                object,
                problem: e.to_string(),
            });
            return Ok(());
        }
    };
    for entry in &manifest.entries {
        for obj in [&entry.base, &entry.index, &entry.result]
            .into_iter()
            .flatten()
        {
            let Some(digest) = obj.digest else { continue };
            if corrupted.contains(&digest) {
                continue;
            }
            match blobs.get(&digest).await {
                Ok(data) if data.len() as u64 != obj.size => problems.push(Problem {
                    object: object.clone(),
                    problem: format!(
                        "entry {} declares {} bytes but blob {digest} has {}",
                        entry.path,
                        obj.size,
                        data.len()
                    ),
                }),
                Ok(_) => {}
                Err(e) if e.is_not_found() => problems.push(Problem {
                    object: object.clone(),
                    problem: format!("entry {} refers to missing blob {digest}", entry.path),
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

fn source_text(error: &crate::Error) -> String {
    std::error::Error::source(error)
        .map(ToString::to_string)
        .unwrap_or_default()
}
