//! `handoff diff`: a snapshot as a patch `git apply` accepts; for a
//! folder's snapshot or a run of several repositories, one patch per
//! repository (`--out DIR`) or the one asked for (`--repo NAME`), never
//! several glued together.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use handoff_engine::folder::{Snapshots, load, repo_dir};
use handoff_store::{BlobStore, Digest};
use handoff_workspace::diff::export_diff;
use handoff_workspace::{Limits, Manifest, load_manifest};

use crate::args::DiffArgs;

/// The file a repository's patch goes to under `--out`: `<repo>.patch`,
/// `workspace.patch` for a single repository's snapshot.
fn patch_name(repo: &str) -> String {
    if repo == "." {
        "workspace.patch".to_owned()
    } else {
        format!("{repo}.patch")
    }
}

/// Runs the command.
pub async fn run(store: Option<&str>, args: DiffArgs) -> anyhow::Result<u8> {
    let store = super::open_store(store)?;
    // A run id means everything its latest good end changed since the run's
    // base (the agent's commits and what it left uncommitted), one diff per
    // repository.
    let (what, mut snapshots): (String, Vec<(String, Digest, Option<Manifest>)>) =
        if args.snapshot.starts_with("sha256:") {
            let id = super::parse_id(&args.snapshot)?;
            match load(&*store, &id, &Limits::default()).await? {
                Snapshots::One(manifest) => (
                    format!("snapshot {id}"),
                    vec![(".".to_owned(), id, Some(*manifest))],
                ),
                Snapshots::Folder(folder) => (
                    format!("snapshot {id}"),
                    folder
                        .repositories
                        .into_iter()
                        .map(|r| (r.repo, r.snapshot, None))
                        .collect(),
                ),
            }
        } else {
            let run: handoff_engine::RunId = args.snapshot.parse().map_err(|_| {
                anyhow::anyhow!(
                    "{:?} is neither a snapshot id (sha256:…) nor a run id",
                    args.snapshot
                )
            })?;
            let record = handoff_engine::RunStore::new(&*store)
                .get(run)
                .await?
                .record;
            let end = record
                .last_good_end()
                .ok_or_else(|| anyhow::anyhow!("run {run} has no ended session yet"))?;
            (
                format!("run {run}"),
                end.iter()
                    .map(|s| (s.repo.clone(), s.review(), None))
                    .collect(),
            )
        };
    let names = |snapshots: &[(String, Digest, Option<Manifest>)]| {
        snapshots
            .iter()
            .map(|(repo, ..)| repo.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(wanted) = &args.repo {
        let listed = names(&snapshots);
        snapshots.retain(|(repo, ..)| repo == wanted);
        anyhow::ensure!(
            !snapshots.is_empty(),
            "{what} has no repository {wanted:?}; its repositories: {listed}"
        );
    }
    let Some(out_dir) = &args.out else {
        anyhow::ensure!(
            snapshots.len() == 1,
            "{what} holds {} repositories ({}): their patches cannot be applied as one; write one per repository with --out DIR, or pick one with --repo NAME",
            snapshots.len(),
            names(&snapshots)
        );
        let (repo, id, manifest) = snapshots.remove(0);
        if repo != "." {
            writeln!(
                std::io::stderr().lock(),
                "handoff: diff of repository {repo}"
            )?;
        }
        let manifest = match manifest {
            Some(manifest) => manifest,
            None => load_manifest(&*store, &id).await?,
        };
        // Streamed: the patch is never held whole.
        let mut out = super::stdout_buffered();
        write_patch(&*store, &manifest, &repo, &mut out).await?;
        out.flush()?;
        return Ok(super::EXIT_OK);
    };
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    for (repo, id, manifest) in snapshots {
        // Names come from the store: one that would leave --out is refused.
        let file = repo_dir(out_dir, &patch_name(&repo)).with_context(|| {
            format!("repository name {repo:?} cannot name a file under the output directory")
        })?;
        let manifest = match manifest {
            Some(manifest) => manifest,
            None => load_manifest(&*store, &id).await?,
        };
        write_file(&*store, &manifest, &repo, &file).await?;
        writeln!(super::stdout(), "{}", file.display())?;
    }
    Ok(super::EXIT_OK)
}

async fn write_file(
    store: &dyn BlobStore,
    manifest: &Manifest,
    repo: &str,
    file: &Path,
) -> anyhow::Result<()> {
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let handle =
        std::fs::File::create(file).with_context(|| format!("cannot write {}", file.display()))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, handle);
    write_patch(store, manifest, repo, &mut out).await?;
    out.flush()
        .with_context(|| format!("cannot write {}", file.display()))?;
    Ok(())
}

async fn write_patch(
    store: &dyn BlobStore,
    manifest: &Manifest,
    repo: &str,
    out: &mut (dyn std::io::Write + Send),
) -> anyhow::Result<()> {
    let outcome = export_diff(manifest, store, out).await?;
    let mut err = std::io::stderr().lock();
    let prefix = if repo == "." {
        String::new()
    } else {
        format!("{repo}: ")
    };
    for left_out in &outcome.unrepresentable {
        writeln!(
            err,
            "handoff: not in the diff: {prefix}{}: {}",
            left_out.path, left_out.reason
        )?;
    }
    Ok(())
}
