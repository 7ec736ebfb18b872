//! `handoff snapshot`: capture a working tree into the store.

use std::io::Write as _;

use handoff_workspace::{SnapshotOptions, Status, snapshot};
use serde::Serialize;

use crate::args::SnapshotArgs;

#[derive(Serialize)]
struct File<'a> {
    path: &'a str,
    status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<&'a str>,
}

#[derive(Serialize)]
struct Output<'a> {
    id: String,
    base: &'a handoff_workspace::Base,
    files: Vec<File<'a>>,
    bytes: u64,
    new_bytes: u64,
    skipped: &'a [handoff_workspace::Skipped],
    excluded: &'a [String],
    history: Option<History>,
}

/// The commits that travel with the snapshot.
#[derive(Serialize)]
struct History {
    commits: usize,
    objects: usize,
    bytes: u64,
    boundary: Vec<String>,
}

/// Runs the command.
pub async fn run(store: Option<&str>, args: SnapshotArgs) -> anyhow::Result<u8> {
    let store = super::open_store(store)?;
    let options = SnapshotOptions {
        exclude: args.exclude,
        limits: args.history.limits(),
        progress: crate::progress::for_output(args.json),
        // A snapshot leaves this machine (the store may be anywhere).
        scan_secrets: !args.allow_secrets,
        ..SnapshotOptions::default()
    };
    let snap = snapshot(&args.repo, &*store, &options).await.map_err(|e| {
        super::stopped_by_secrets(
            "snapshot",
            "exclude them (--exclude GLOB or .handoffignore) or pass --allow-secrets",
            e.into(),
        )
    })?;
    if args.json {
        let files = snap
            .manifest
            .entries
            .iter()
            .map(|e| File {
                path: &e.path,
                status: e.status,
                from: e.from.as_deref(),
            })
            .collect();
        super::print_json(&Output {
            id: snap.id.to_string(),
            base: &snap.manifest.base,
            files,
            bytes: snap.manifest.result_bytes(),
            new_bytes: snap.new_bytes,
            skipped: &snap.skipped,
            excluded: &snap.excluded,
            history: snap.manifest.history.as_ref().map(|h| History {
                commits: h.commits(),
                objects: h.objects.len(),
                bytes: h.bytes(),
                boundary: h.boundary.iter().map(ToString::to_string).collect(),
            }),
        })?;
    } else {
        let mut err = std::io::stderr().lock();
        for skipped in &snap.skipped {
            writeln!(
                err,
                "handoff: warning: not captured: {}: {}",
                skipped.path, skipped.reason
            )?;
        }
        writeln!(super::stdout(), "{}", snap.id)?;
    }
    Ok(super::EXIT_OK)
}
