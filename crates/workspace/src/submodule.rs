//! Submodules: nested repositories of a working tree, carried as nested
//! snapshots of their own.
//!
//! A snapshot of a working tree records each initialised submodule that
//! holds work of its own — a `HEAD` moved past the commit the outer index
//! records (also a changed gitlink entry of the outer snapshot), commits
//! its remote lacks, uncommitted or untracked files, submodules of its own
//! with work — as a [`Submodule`](crate::manifest::Submodule): the
//! submodule's own snapshot, taken the same way, recursively. A submodule
//! that is not initialised in the working tree has nothing to capture and
//! is named in `skipped`, never dropped silently.
//!
//! Applying a snapshot applies the outer repository's entries first (its
//! `.gitmodules` may be among them), then each submodule: one not yet
//! initialised in the target is cloned ([`CloneRepository`], from the URL
//! the target's `.gitmodules` or configuration gives, resolved against the
//! outer repository's remote as git does, else the URL recorded with it),
//! the commit the outer index records is checked out, and the nested
//! snapshot is applied there, its carried commits included. Every outcome
//! is reported under the submodule's path (`sub/file.txt`); a submodule
//! that cannot be reached fails alone, named, and the rest applies.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use gix::bstr::{BString, ByteSlice};
use handoff_store::BlobStore;

use crate::Error;
use crate::apply::{ApplyOptions, ApplyReport, Failure, FailureKind, blocking};
use crate::manifest::{Manifest, Oid, Submodule};
use crate::paths::RepoPath;
use crate::snapshot::{Skipped, open_repo};
use crate::worktree::{Current, Worktree};

/// Clones a repository for an apply that must initialise a submodule: the
/// host's way of fetching (its program, transports and credentials). The
/// clone needs no checkout; apply checks out the commit itself.
pub trait CloneRepository: Send + Sync + std::fmt::Debug {
    /// Clones `url` into `dest` (absent, or an empty directory), without
    /// checking anything out; the error says why it could not.
    fn clone_repository<'a>(
        &'a self,
        url: &'a str,
        dest: &'a Path,
    ) -> BoxFuture<'a, std::result::Result<(), String>>;
}

/// The submodules of a working tree, as its index records them.
#[derive(Debug, Default)]
pub(crate) struct Nested {
    /// Submodules whose `HEAD` is not the commit the index records: the
    /// gitlink changed, so it is an entry of the snapshot.
    pub touched: BTreeSet<BString>,
    /// Initialised submodules: path, directory and the commit the index
    /// records.
    pub initialised: Vec<(BString, PathBuf, Oid)>,
    /// Submodules that cannot be captured, each with why.
    pub skipped: Vec<Skipped>,
}

/// Inspects every submodule of `repo` (the index's gitlinks).
pub(crate) fn inspect(repo: &gix::Repository, workdir: &Path) -> Nested {
    let mut nested = Nested::default();
    let Ok(index) = repo.index_or_empty() else {
        return nested;
    };
    for entry in index.entries() {
        if entry.mode != gix::index::entry::Mode::COMMIT {
            continue;
        }
        let rel = entry.path(&index).to_owned();
        let shown = rel.to_str_lossy().into_owned();
        let Ok(rel_path) = gix::path::from_bstring(rel.clone()) else {
            continue;
        };
        let dir = workdir.join(rel_path);
        if !dir.join(".git").exists() {
            nested.skipped.push(Skipped {
                path: shown,
                reason: format!(
                    "submodule not initialised in this checkout (the index records {}): nothing of it is carried, and the target keeps what it has there",
                    entry.id.to_hex_with_len(12)
                ),
            });
            continue;
        }
        match gix::open(&dir) {
            Ok(inner) => {
                if let Ok(head) = inner.head_id()
                    && head.detach() != entry.id
                {
                    nested.touched.insert(rel.clone());
                }
                nested.initialised.push((rel, dir, Oid(entry.id)));
            }
            Err(e) => nested.skipped.push(Skipped {
                path: shown,
                reason: format!("submodule that cannot be opened ({e}): its work is not carried"),
            }),
        }
    }
    nested
}

/// Whether a submodule's snapshot holds anything to carry, given the
/// commit the outer index records for it.
pub(crate) fn holds_work(manifest: &Manifest, recorded: Oid) -> bool {
    !manifest.entries.is_empty()
        || manifest.history.is_some()
        || !manifest.submodules.is_empty()
        || manifest.base.commit != Some(recorded)
}

/// Applies the submodules of `manifest` to the outer working tree
/// `workdir`, adding what happened to `report` under each one's path.
/// Returns the paths of the submodules whose `HEAD` this apply moved.
pub(crate) async fn apply_all(
    workdir: &Path,
    store: &dyn BlobStore,
    manifest: &Manifest,
    options: &ApplyOptions,
    report: &mut ApplyReport,
) -> Vec<String> {
    let mut moved = Vec::new();
    for sub in &manifest.submodules {
        match apply_one(workdir, store, sub, options).await {
            Ok((nested, did_move)) => {
                if did_move {
                    moved.push(sub.path.clone());
                }
                merge_prefixed(report, &sub.path, nested);
            }
            Err(reason) => report.failed.push(Failure {
                path: sub.path.clone(),
                kind: FailureKind::Submodule,
                reason,
            }),
        }
    }
    moved
}

/// Adds `nested`, a submodule's report, to `report`, its paths under
/// `path`.
fn merge_prefixed(report: &mut ApplyReport, path: &str, nested: ApplyReport) {
    let under = |p: String| format!("{path}/{p}");
    let failures = |fs: Vec<Failure>| {
        fs.into_iter().map(move |f| Failure {
            path: format!("{path}/{}", f.path),
            ..f
        })
    };
    report.applied.extend(nested.applied.into_iter().map(under));
    report
        .already_applied
        .extend(nested.already_applied.into_iter().map(under));
    report.merged.extend(nested.merged.into_iter().map(under));
    report.skipped.extend(failures(nested.skipped));
    report.failed.extend(failures(nested.failed));
    if !nested.missing_commits.is_empty() {
        report.failed.push(Failure {
            path: path.to_owned(),
            kind: FailureKind::Submodule,
            reason: format!(
                "the submodule's carried commits could not be brought in (its HEAD has diverged, or a local change is in the way): {}",
                nested
                    .missing_commits
                    .iter()
                    .map(|c| c.0.to_hex_with_len(12).to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
}

/// Applies one submodule's snapshot; the error is the reason it could not
/// be applied at all. Also says whether its `HEAD` was moved.
async fn apply_one(
    workdir: &Path,
    store: &dyn BlobStore,
    sub: &Submodule,
    options: &ApplyOptions,
) -> std::result::Result<(ApplyReport, bool), String> {
    let path = RepoPath::new(sub.path.clone()).map_err(|e| format!("refused: {e}"))?;
    let (dir, recorded, url, head_before) = {
        let (workdir, path, sub) = (workdir.to_owned(), path.clone(), sub.clone());
        blocking("inspect a submodule", move || {
            Ok(locate(&workdir, &path, &sub))
        })
        .await
        .map_err(|e| e.to_string())??
    };
    let head_before = match head_before {
        Some(head) => Some(head),
        None if options.dry_run => {
            // Nothing to judge the nested entries against before it is
            // cloned: it would be.
            let mut report = ApplyReport::default();
            report.applied.push(String::new());
            return Ok((report, true));
        }
        None => {
            let url = url.ok_or_else(|| {
                "submodule not initialised in this checkout, and neither .gitmodules nor the snapshot names a URL to clone it from".to_owned()
            })?;
            let cloner = options.clone_repository.as_ref().ok_or_else(|| {
                format!("submodule not initialised in this checkout, and this apply cannot clone it (from {url})")
            })?;
            cloner
                .clone_repository(&url, &dir)
                .await
                .map_err(|e| format!("submodule not initialised in this checkout, and cloning it from {url} failed: {e}"))?;
            let commit = recorded
                .or(sub.snapshot.base.commit)
                .ok_or_else(|| "the submodule has no commit to check out".to_owned())?;
            check_out(&dir, store, &sub.snapshot, commit, options)
                .await
                .map_err(|e| {
                    format!("submodule cloned from {url}, but checking out {commit} failed: {e}")
                })?;
            None
        }
    };
    let nested_options = ApplyOptions {
        // The submodule's own commits are its snapshot's to bring in,
        // whatever the outer checkout did with its own.
        carried_commits: true,
        ..options.clone()
    };
    let report = Box::pin(crate::apply::apply_manifest(
        &dir,
        store,
        &sub.snapshot,
        &nested_options,
    ))
    .await
    .map_err(|e| format!("the submodule's snapshot could not be applied: {e}"))?;
    let head_after = {
        let dir = dir.clone();
        blocking("read a submodule's HEAD", move || {
            Ok(gix::open(&dir)
                .ok()
                .and_then(|r| r.head_id().ok().map(|id| Oid(id.detach()))))
        })
        .await
        .map_err(|e| e.to_string())?
    };
    Ok((report, head_before != head_after))
}

/// Where a submodule is in the outer working tree, the commit the outer
/// index records for it, the URL to clone it from, and its `HEAD` when it
/// is initialised (`None`: it must be cloned).
type Located = (PathBuf, Option<Oid>, Option<String>, Option<Oid>);

fn locate(
    workdir: &Path,
    path: &RepoPath,
    sub: &Submodule,
) -> std::result::Result<Located, String> {
    let worktree = Worktree::new(workdir);
    let dir = worktree.fs_path(path);
    let current = match worktree.current(path) {
        Ok(Ok(current)) => current,
        Ok(Err(blocked)) => {
            return Err(format!(
                "the submodule's path cannot be reached safely: {blocked:?}"
            ));
        }
        Err(e) => return Err(format!("could not inspect the submodule's path: {e}")),
    };
    let head = match current {
        Current::Repository(head) => {
            let opened =
                gix::open(&dir).map_err(|e| format!("submodule that cannot be opened: {e}"))?;
            return Ok((
                dir,
                None,
                None,
                Some(opened.head_id().map(|id| Oid(id.detach())).unwrap_or(head)),
            ));
        }
        Current::Absent => None,
        Current::Directory if is_empty_dir(&dir) => None,
        Current::Directory => {
            return Err("submodule not initialised in this checkout, and a directory with files is in its place".to_owned());
        }
        Current::Object(..) => {
            return Err(
                "submodule not initialised in this checkout, and a file is in its place".to_owned(),
            );
        }
    };
    let (repo, _) = open_repo(workdir).map_err(|e| e.to_string())?;
    let recorded = repo.index_or_empty().ok().and_then(|index| {
        index
            .entry_by_path(path.as_str().as_bytes().as_bstr())
            .filter(|e| e.mode == gix::index::entry::Mode::COMMIT)
            .map(|e| Oid(e.id))
    });
    let url = configured_url(&repo, workdir, path.as_str()).or_else(|| sub.url.clone());
    Ok((dir, recorded, url, head))
}

fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none())
}

/// The URL git would clone the submodule at `path` from: the outer
/// repository's `submodule.<name>.url`, else `.gitmodules`' — resolved, when
/// relative (`./`, `../`), against the outer repository's remote (else its
/// working tree), as git does.
fn configured_url(repo: &gix::Repository, workdir: &Path, path: &str) -> Option<String> {
    let text = std::fs::read(workdir.join(".gitmodules")).ok()?;
    let modules = gix::config::File::from_bytes_no_includes(
        &text,
        gix::config::file::Metadata::from(gix::config::Source::Worktree),
        Default::default(),
    )
    .ok()?;
    let mut found = None;
    for section in modules.sections_by_name("submodule")? {
        let Some(name) = section.header().subsection_name() else {
            continue;
        };
        if section
            .value("path")
            .is_some_and(|p| AsRef::<[u8]>::as_ref(&*p) == path.as_bytes())
        {
            found = Some((
                name.to_owned(),
                section.value("url").map(|u| u.to_str_lossy().into_owned()),
            ));
            break;
        }
    }
    let (name, url) = found?;
    let config = repo.config_snapshot();
    let url = config
        .string(format!("submodule.{}.url", name.to_str_lossy()).as_str())
        .map(|u| u.to_str_lossy().into_owned())
        .or(url)?;
    if !(url.starts_with("./") || url.starts_with("../")) {
        return Some(url);
    }
    let base = crate::snapshot::default_remote(repo)
        .and_then(|remote| config.string(format!("remote.{remote}.url").as_str()))
        .map(|u| u.to_str_lossy().into_owned())
        .unwrap_or_else(|| workdir.to_string_lossy().into_owned());
    Some(resolve_relative(&base, &url))
}

/// `url` (starting `./` or `../`) relative to `base`, as git resolves a
/// submodule's relative URL against its superproject's remote: each `../`
/// drops one component of `base`.
pub(crate) fn resolve_relative(base: &str, url: &str) -> String {
    let mut base = base.trim_end_matches('/').to_owned();
    if let Some(stripped) = base.strip_suffix("/.git") {
        base = stripped.to_owned();
    }
    let mut rest = url;
    loop {
        if let Some(r) = rest.strip_prefix("./") {
            rest = r;
        } else if let Some(r) = rest.strip_prefix("../") {
            rest = r;
            // The last component goes, after a '/' or an scp-like ':'.
            match base.rfind(['/', ':']) {
                Some(at) if base[at..].starts_with(':') => base.truncate(at + 1),
                Some(at) => base.truncate(at),
                None => base.clear(),
            }
        } else {
            break;
        }
    }
    if base.ends_with(':') || base.is_empty() {
        format!("{base}{rest}")
    } else {
        format!("{base}/{rest}")
    }
}

/// Checks out `commit` (detached, as `git submodule update` does) in the
/// freshly cloned, still empty repository `dir`: the submodule's carried
/// history first (the commit may be one of it), then the commit's tree
/// written through the usual apply, the index with it.
async fn check_out(
    dir: &Path,
    store: &dyn BlobStore,
    snapshot: &Manifest,
    commit: Oid,
    options: &ApplyOptions,
) -> std::result::Result<(), String> {
    if let Some(history) = &snapshot.history {
        match crate::history::import(dir, store, history, &options.limits).await {
            // Not all of it may be needed for this commit; the nested
            // apply says what is missing.
            Ok(_) | Err(Error::BoundaryMissing { .. }) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    let (tree, content, unnamed) = crate::carried::tree_of_commit(dir, commit)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(path) = unnamed.first() {
        return Err(format!(
            "{path}: commit {commit} holds it, and its name is not valid UTF-8"
        ));
    }
    let write = ApplyOptions {
        carried_commits: false,
        update_index: true,
        progress: Arc::new(crate::progress::NoProgress),
        ..options.clone()
    };
    let written = Box::pin(crate::apply::apply_manifest(dir, &content, &tree, &write))
        .await
        .map_err(|e| e.to_string())?;
    if let Some(failure) = written.failed.first() {
        return Err(format!("{}: {}", failure.path, failure.reason));
    }
    crate::carried::detach_head(dir, commit)
        .await
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::resolve_relative;

    #[test]
    fn relative_urls_resolve_against_the_superprojects_remote_as_git_does() {
        assert_eq!(
            resolve_relative("https://h/o/app.git", "../lib.git"),
            "https://h/o/lib.git"
        );
        assert_eq!(
            resolve_relative("https://h/o/app", "./lib"),
            "https://h/o/app/lib"
        );
        assert_eq!(
            resolve_relative("https://h/o/app/", "../../x/lib"),
            "https://h/x/lib"
        );
        assert_eq!(
            resolve_relative("git@h:o/app.git", "../lib.git"),
            "git@h:o/lib.git"
        );
        assert_eq!(
            resolve_relative("git@h:app.git", "../lib.git"),
            "git@h:lib.git"
        );
        assert_eq!(resolve_relative("/srv/app", "../lib"), "/srv/lib");
        assert_eq!(resolve_relative("/srv/app/.git", "../lib"), "/srv/lib");
    }
}
