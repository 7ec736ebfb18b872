//! Capture everything uncommitted in a git working tree relative to `HEAD`.
//!
//! The change set comes from gix's status (`HEAD` tree ↔ index ↔ working
//! tree, with a directory walk that honours `.gitignore`,
//! `.git/info/exclude` and `core.excludesFile`). For every path it reports,
//! the manifest records three states — base (`HEAD`), index and working tree
//! — so that staged, unstaged and untracked changes are reproduced exactly.
//! Symlinks are recorded as links and never followed; nested repositories
//! and submodules are recorded as gitlinks and never descended into; ignored
//! files and `.git/` are never read. A working-tree file is recorded in the
//! form `git add` would store (its attributes, `core.autocrlf` and filter
//! drivers applied, through gix's filter pipeline), so every object id
//! is git's.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use gix::bstr::{BString, ByteSlice};
use handoff_store::{BlobStore, BlobStoreExt, Digest};

use crate::convert::{Conversions, Refused};
use crate::exclude::Exclusions;
use crate::limits::{Limit, Limits};
use crate::manifest::{self, Base, Entry, Kind, Manifest, Object, Oid, Status};
use crate::paths::RepoPath;
use crate::progress::{NoProgress, Phase, Progress};
use crate::{Error, Result};

/// How to take a snapshot.
#[derive(Debug, Clone)]
pub struct SnapshotOptions {
    /// Also store the base content of modified and deleted files, so that a
    /// target without the base commit can still merge, and so that the
    /// snapshot exports as a diff on its own (default `true`).
    pub store_base_content: bool,
    /// Extra exclusion patterns (gitignore syntax, like `--exclude`), applied
    /// after the repository's `.handoffignore`.
    pub exclude: Vec<String>,
    /// Size and count limits; a capture that exceeds one fails before
    /// anything is uploaded.
    pub limits: Limits,
    /// Where progress goes.
    pub progress: Arc<dyn Progress>,
    /// Carry the commits reachable from `HEAD` that no remote-tracking ref
    /// reaches, with their objects (default `true`; see [`history`](crate::history)).
    pub carry_history: bool,
    /// Commits the receiving side is known to have besides what the
    /// remote-tracking refs reach; their history is not carried.
    pub known_commits: Vec<Oid>,
    /// Describe the working tree relative to this commit instead of `HEAD`
    /// (its tree is the base; the paths that differ between it and `HEAD`
    /// are entries too). Such a snapshot shows everything since that
    /// commit, committed or not — for review and diffs — and carries no
    /// history. The commit must be in the repository.
    pub since: Option<Since>,
    /// Refuse, before anything is stored, a capture in which the secret
    /// scan ([`Scanner::scan_capture`](crate::Scanner::scan_capture))
    /// finds likely secrets: [`Error::SecretsFound`]. Hosts that send the
    /// snapshot off the machine set it (`handoff snapshot` does unless
    /// `--allow-secrets`); default `false`, for snapshots that stay where
    /// they were taken (a cloud session's end).
    pub scan_secrets: bool,
    /// Working-tree files at least this large (default [`STREAM_AT`]) are
    /// never held in memory: hashed from the file at capture and stored
    /// from it, streamed ([`BlobStore::put_file`]). Only in a repository
    /// that converts nothing (no attributes, no `core.autocrlf`): git's
    /// conversions work on whole contents.
    pub stream_threshold: u64,
}

/// The default [`SnapshotOptions::stream_threshold`] (and apply's): 8 MiB.
pub const STREAM_AT: u64 = 8 << 20;

impl Default for SnapshotOptions {
    fn default() -> Self {
        Self {
            store_base_content: true,
            exclude: Vec::new(),
            limits: Limits::default(),
            progress: Arc::new(NoProgress),
            carry_history: true,
            known_commits: Vec::new(),
            since: None,
            scan_secrets: false,
            stream_threshold: STREAM_AT,
        }
    }
}

/// What a [`SnapshotOptions::since`] snapshot is relative to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// This commit.
    Commit(Oid),
    /// Nothing: every file is new (for a repository that had no commit).
    Nothing,
}

/// A path that was left out of a snapshot, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    /// The path, lossily converted to text.
    pub path: String,
    /// Why it was left out.
    pub reason: String,
}

/// The captured state of a working tree, not yet stored.
#[derive(Debug, Clone)]
pub struct Capture {
    /// The working tree's root.
    pub workdir: PathBuf,
    /// The manifest.
    pub manifest: Manifest,
    /// The content of every digest the manifest refers to, but those in
    /// `files`.
    pub contents: HashMap<Digest, Bytes>,
    /// Content too large to hold ([`SnapshotOptions::stream_threshold`]):
    /// the working-tree file each digest is stored from, streamed.
    pub files: HashMap<Digest, PathBuf>,
    /// Paths that could not be captured.
    pub skipped: Vec<Skipped>,
    /// Paths left out by `.handoffignore` or an exclusion pattern.
    pub excluded: Vec<String>,
    /// Where the carried history's blobs and commits are
    /// (`history:<path>`, `history:commit <oid>`), by digest, to name them
    /// in secret findings.
    pub history_labels: HashMap<Digest, String>,
}

/// A stored snapshot.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The snapshot's id: the digest of its manifest.
    pub id: Digest,
    /// The manifest.
    pub manifest: Manifest,
    /// How many bytes this snapshot added to the store (0 when everything was
    /// already there).
    pub new_bytes: u64,
    /// Paths that could not be captured.
    pub skipped: Vec<Skipped>,
    /// Paths left out by `.handoffignore` or an exclusion pattern.
    pub excluded: Vec<String>,
}

/// Captures the working tree containing `dir` and stores the snapshot: blobs
/// first, the manifest last, so a stored manifest never names a missing blob.
pub async fn snapshot(
    dir: &Path,
    store: &dyn BlobStore,
    options: &SnapshotOptions,
) -> Result<Snapshot> {
    let dir = dir.to_owned();
    let capture_options = options.clone();
    // The store reads its indexes while the working tree is captured (a
    // round trip saved on an object store). Should that fail, the batch
    // reads them itself and reports the error.
    let (captured, _prepared) = tokio::join!(
        tokio::task::spawn_blocking(move || capture(&dir, &capture_options)),
        store.prepare()
    );
    let capture = captured.map_err(|source| Error::Task {
        what: "snapshot capture",
        source,
    })??;
    if options.scan_secrets {
        let scanner = crate::Scanner::builtin().map_err(|_| Error::Internal {
            what: "the built-in secret rules do not compile",
        })?;
        let findings = scanner.scan_capture(&capture);
        if !findings.is_empty() {
            return Err(Error::SecretsFound {
                workdir: capture.workdir,
                findings,
            });
        }
    }
    store_capture(capture, store, options.progress.as_ref()).await
}

/// Stores a capture's blobs, then its manifest: all in one
/// [`BlobStore::put_many`] — a few packs and one index, whose writing makes
/// the whole snapshot visible at once — with the manifest last; a manifest
/// too large to be packed is stored after the batch.
pub async fn store_capture(
    capture: Capture,
    store: &dyn BlobStore,
    progress: &dyn Progress,
) -> Result<Snapshot> {
    let (mut snapshots, _) = store_batch(vec![capture], Vec::new(), store, progress).await?;
    snapshots.pop().ok_or(Error::Internal {
        what: "storing one capture gave no snapshot",
    })
}

/// Stores several captures and `extra` blobs (a push's conversation and
/// attachments) in one [`BlobStore::put_many`]: every blob, then the
/// manifests, so that on an object store the whole batch costs a few
/// requests. Manifests too large to be packed are stored after the batch.
/// Returns the snapshots, in order, and what storing `extra` did.
pub async fn store_batch(
    captures: Vec<Capture>,
    extra: Vec<Bytes>,
    store: &dyn BlobStore,
    progress: &dyn Progress,
) -> Result<(Vec<Snapshot>, Vec<handoff_store::Put>)> {
    let mut blobs: Vec<(Digest, Bytes)> = captures
        .iter()
        .flat_map(|c| c.contents.iter().map(|(d, b)| (*d, b.clone())))
        .collect();
    blobs.sort_by_key(|(digest, _)| *digest);
    blobs.dedup_by_key(|(digest, _)| *digest);
    let manifests: Vec<Bytes> = captures
        .iter()
        .map(|c| Bytes::from(c.manifest.to_json()))
        .collect();
    // Large files first, streamed from the working tree: the batch ends
    // with the manifests naming them.
    let mut files: Vec<(Digest, &PathBuf)> = captures
        .iter()
        .flat_map(|c| c.files.iter().map(|(d, p)| (*d, p)))
        .collect();
    files.sort_by_key(|(digest, _)| *digest);
    files.dedup_by_key(|(digest, _)| *digest);
    let mut file_bytes = 0;
    for (expected, path) in files {
        let put = store.put_file(path).await?;
        if put.digest != expected {
            return Err(Error::FileChanged {
                path: path.clone(),
                expected,
                actual: put.digest,
            });
        }
        file_bytes += put.new_bytes;
    }
    let small = |m: &Bytes| (m.len() as u64) < handoff_store::pack::PACK_THRESHOLD;
    let extra_count = extra.len();
    let mut batch: Vec<Bytes> = extra;
    batch.extend(blobs.into_iter().map(|(_, data)| data));
    let count = batch.len() as u64;
    progress.begin(Phase::Upload, count);
    batch.extend(manifests.iter().filter(|m| small(m)).cloned());
    let puts = store.put_many(batch).await?;
    progress.advance(count);
    let mut new_bytes: u64 = file_bytes + puts.iter().map(|p| p.new_bytes).sum::<u64>();
    for manifest in manifests.iter().filter(|m| !small(m)) {
        new_bytes += store.put_if_absent(manifest.clone()).await?.new_bytes;
    }
    let extra_puts = puts[..extra_count].to_vec();
    // The batch's new bytes go to the first snapshot (they are shared).
    let mut snapshots = Vec::with_capacity(captures.len());
    for (capture, manifest) in captures.into_iter().zip(&manifests) {
        let id = Digest::of(manifest);
        tracing::debug!(%id, entries = capture.manifest.entries.len(), "stored snapshot");
        snapshots.push(Snapshot {
            id,
            manifest: capture.manifest,
            new_bytes: std::mem::take(&mut new_bytes),
            skipped: capture.skipped,
            excluded: capture.excluded,
        });
    }
    Ok((snapshots, extra_puts))
}

/// Loads and decodes a stored snapshot's manifest within the default
/// [`Limits`].
pub async fn load_manifest(store: &dyn BlobStore, id: &Digest) -> Result<Manifest> {
    load_manifest_within(store, id, &Limits::default()).await
}

/// Loads and decodes a stored snapshot's manifest, refusing one larger than
/// `limits.max_manifest_bytes` or with more than `limits.max_entries`
/// entries.
pub async fn load_manifest_within(
    store: &dyn BlobStore,
    id: &Digest,
    limits: &Limits,
) -> Result<Manifest> {
    let bytes = match store.get(id).await {
        Ok(bytes) => bytes,
        Err(handoff_store::Error::NotFound { store, .. }) => {
            return Err(Error::UnknownSnapshot { id: *id, store });
        }
        Err(e) => return Err(e.into()),
    };
    decode_manifest(&bytes, id, limits)
}

/// Decodes the stored manifest `bytes` of snapshot `id` (already read),
/// with the checks of [`load_manifest_within`].
pub fn decode_manifest(bytes: &[u8], id: &Digest, limits: &Limits) -> Result<Manifest> {
    if bytes.len() as u64 > limits.max_manifest_bytes {
        return Err(Error::LimitExceeded {
            what: format!("snapshot {id}"),
            limit: Limit::ManifestBytes,
            actual: bytes.len() as u64,
            max: limits.max_manifest_bytes,
        });
    }
    let manifest =
        Manifest::from_json(bytes).map_err(|source| Error::Manifest { id: *id, source })?;
    for (prefix, nested) in manifest.walk() {
        let what = if prefix.is_empty() {
            format!("snapshot {id}")
        } else {
            format!(
                "submodule {} of snapshot {id}",
                prefix.trim_end_matches('/')
            )
        };
        if let Some(history) = &nested.history {
            history.check(&what, limits)?;
        }
        if nested.entries.len() > limits.max_entries {
            return Err(Error::LimitExceeded {
                what,
                limit: Limit::Entries,
                actual: nested.entries.len() as u64,
                max: limits.max_entries as u64,
            });
        }
    }
    Ok(manifest)
}

/// Opens the repository whose working tree contains `dir`.
pub(crate) fn open_repo(dir: &Path) -> Result<(gix::Repository, PathBuf)> {
    let repo = gix::discover(dir).map_err(|e| Error::NotARepository {
        path: dir.to_owned(),
        source: Some(Box::new(e)),
    })?;
    let workdir = repo
        .workdir()
        .ok_or_else(|| Error::BareRepository {
            path: repo.git_dir().to_owned(),
        })?
        .to_owned();
    Ok((repo, workdir))
}

/// Where a working tree and its git data are (absolute paths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The working tree's root.
    pub workdir: PathBuf,
    /// The git directory of this working tree (for a linked worktree,
    /// `.git/worktrees/<name>` of the main repository).
    pub git_dir: PathBuf,
    /// The git directory shared by all worktrees of the repository.
    pub common_dir: PathBuf,
}

/// Finds the working tree containing `dir` the way git does (upward from
/// `dir`; a `.git` file of a linked worktree counts). `Ok(None)` when `dir`
/// is not inside any repository; [`Error::BareRepository`] when it is
/// inside a bare one.
pub fn locate(dir: &Path) -> Result<Option<Located>> {
    use gix::discover::upwards::Error as D;
    if let Err(e) = gix::discover::upwards(dir) {
        let none_found = matches!(
            e.downcast_any_ref::<D>(),
            Some(
                D::NoGitRepository { .. }
                    | D::NoGitRepositoryWithinCeiling { .. }
                    | D::NoGitRepositoryWithinFs { .. }
            )
        );
        if none_found {
            return Ok(None);
        }
        return Err(Error::NotARepository {
            path: dir.to_owned(),
            source: Some(Box::new(e)),
        });
    }
    let (repo, workdir) = open_repo(dir)?;
    // Absolute, whatever the process's current directory was.
    let absolute = |path: &Path| std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    Ok(Some(Located {
        workdir: absolute(&workdir),
        git_dir: absolute(repo.git_dir()),
        common_dir: absolute(repo.common_dir()),
    }))
}

/// Reads `HEAD`'s commit, branch and the `origin` URL (without credentials).
pub(crate) fn read_base(repo: &gix::Repository, workdir: &Path) -> Result<Base> {
    let head = repo
        .head()
        .map_err(|e| Error::git("read HEAD", workdir, e))?;
    let commit = head.id().map(|id| Oid(id.detach()));
    let branch = repo
        .head_name()
        .map_err(|e| Error::git("read HEAD", workdir, e))?
        .filter(|name| name.as_bstr().starts_with(b"refs/heads/"))
        .map(|name| name.shorten().to_str_lossy().into_owned());
    let remote = default_remote(repo).and_then(|name| {
        repo.config_snapshot()
            .string(format!("remote.{name}.url").as_str())
            // Stored and sent to others: never with the credentials that
            // make it work here.
            .map(|url| crate::remote::without_credentials(&url.to_str_lossy()))
    });
    Ok(Base {
        commit,
        branch,
        remote,
    })
}

/// The remote a receiving side clones from: `origin`, else the only one.
pub(crate) fn default_remote(repo: &gix::Repository) -> Option<String> {
    repo.remote_default_name(gix::remote::Direction::Fetch)
        .map(|name| name.to_str_lossy().into_owned())
}

/// Captures the working tree containing `dir` into memory.
pub fn capture(dir: &Path, options: &SnapshotOptions) -> Result<Capture> {
    let (repo, workdir) = open_repo(dir)?;
    let mut base = read_base(&repo, &workdir)?;
    let head_commit = base.commit;
    let (mut touched, skipped_status, submodules) = changed_paths(&repo, &workdir)?;
    let limits = options.limits;
    if let Some(since) = options.since {
        // Everything that differs between `since` and `HEAD` is an entry
        // too, described from `since`.
        let tree_of = |commit: Option<Oid>| -> Result<Option<gix::ObjectId>> {
            commit
                .map(|c| {
                    repo.find_commit(c.0)
                        .and_then(|c| c.tree_id().map(|t| t.detach()))
                        .map_err(|_| Error::BaseMissing {
                            commit: c,
                            repo: workdir.clone(),
                        })
                })
                .transpose()
        };
        let since = match since {
            Since::Commit(commit) => Some(commit),
            Since::Nothing => None,
        };
        let since_tree = tree_of(since)?;
        let head_tree = tree_of(head_commit)?;
        tree_changes(&repo, &workdir, since_tree, head_tree, &mut touched)?;
        base.commit = since;
    }
    if touched.len() > limits.max_entries {
        return Err(Error::LimitExceeded {
            what: format!("changed paths in {}", workdir.display()),
            limit: Limit::Entries,
            actual: touched.len() as u64,
            max: limits.max_entries as u64,
        });
    }

    let head_tree = match base.commit {
        Some(commit) => Some(
            repo.find_commit(commit.0)
                .and_then(|c| c.tree())
                .map_err(|e| Error::git("read HEAD's tree", &workdir, e))?,
        ),
        None => None,
    };
    let shared = repo
        .index_or_empty()
        .map_err(|e| Error::git("read the index", &workdir, e))?;
    // A sparse index is read as status read it: expanded to its files.
    let expanded = expanded_index(&repo, &workdir)?;
    let index: &gix::index::File = expanded.as_ref().unwrap_or(&shared);
    // In a sparse checkout git stops skipping an entry whose file is in
    // the working tree anyway: it is an ordinary file again.
    let unskipped = present_skip_worktree(&repo, &workdir, index);
    touched.extend(unskipped.iter().cloned());

    // What git would commit for each working-tree file: its attributes,
    // `core.autocrlf` and filter drivers applied (nothing at all to do in
    // a repository that has none of them).
    let conversions = Conversions::new(&repo, touched.iter().map(|p| p.as_bstr()))?;
    let mut reader = Reader {
        repo: &repo,
        workdir: &workdir,
        contents: HashMap::new(),
        files: HashMap::new(),
        max_file_bytes: limits.max_file_bytes,
        stream_threshold: options.stream_threshold,
        conversions,
        lfs: Vec::new(),
    };
    let mut exclusions = match std::fs::read_to_string(workdir.join(crate::exclude::HANDOFFIGNORE))
    {
        Ok(text) => Exclusions::parse(&text),
        Err(_) => Exclusions::default(),
    };
    exclusions.extend(options.exclude.iter().map(String::as_str));
    let mut excluded = Vec::new();
    let mut manifest = Manifest::new(base);
    let mut skipped = skipped_status;
    options.progress.begin(Phase::Capture, touched.len() as u64);
    for raw in touched {
        options.progress.advance(1);
        let Some(path) = representable(&raw, &mut skipped) else {
            continue;
        };
        if exclusions.is_excluded(path.as_str()) {
            excluded.push(path.as_str().to_owned());
            continue;
        }
        let base_obj = match &head_tree {
            Some(tree) => reader.tree_object(tree, &path, options.store_base_content)?,
            None => None,
        };
        let index_entry = index
            .entry_by_path(raw.as_bstr())
            .and_then(|e| index_kind(e.mode).map(|kind| (kind, e.id, e.flags)));
        let index_obj = index_entry
            .map(|(kind, id, _)| {
                reader.odb_object(kind, id, &[&base_obj], options.store_base_content)
            })
            .transpose()?;
        // git does not look at the working-tree file of a skip-worktree
        // entry (one moved by `git mv` keeps the flag): what it would
        // commit there is the index's content.
        let skip_worktree = index_entry.filter(|(_, _, flags)| {
            flags.contains(gix::index::entry::Flags::SKIP_WORKTREE) && !unskipped.contains(&raw)
        });
        let worktree_obj = match skip_worktree {
            Some((kind, id, _)) => Ok(Some(reader.odb_object(kind, id, &[], true)?)),
            None => reader.worktree_object(&path)?,
        };
        let result_obj = match worktree_obj {
            Ok(obj) => obj,
            Err(Refused(reason)) => {
                // Carrying the raw bytes would carry what git would not
                // commit; better to say so.
                skipped.push(Skipped {
                    path: path.as_str().to_owned(),
                    reason,
                });
                continue;
            }
        };
        if manifest::same_state(base_obj.as_ref(), result_obj.as_ref())
            && manifest::same_state(base_obj.as_ref(), index_obj.as_ref())
        {
            // Racily-clean stat changes only: nothing to carry.
            continue;
        }
        // The index content must be carried when it is neither base nor
        // result (a partially staged file).
        let index_obj = match index_obj {
            Some(obj)
                if obj.digest.is_none()
                    && obj.kind.has_content()
                    && !manifest::same_state(Some(&obj), base_obj.as_ref())
                    && !manifest::same_state(Some(&obj), result_obj.as_ref()) =>
            {
                Some(reader.odb_object(obj.kind, obj.oid.0, &[], true)?)
            }
            Some(mut obj) => {
                // Reuse where the same content is already carried.
                for other in [&result_obj, &base_obj].into_iter().flatten() {
                    if obj.digest.is_none() && obj.same_state(other) {
                        obj.digest = other.digest;
                    }
                }
                Some(obj)
            }
            None => None,
        };
        let status = classify(base_obj.as_ref(), index_obj.as_ref(), result_obj.as_ref());
        manifest.entries.push(Entry {
            path: path.as_str().to_owned(),
            status,
            from: None,
            base: base_obj,
            index: index_obj,
            result: result_obj,
        });
    }
    detect_renames(&mut manifest);
    reader.lfs.sort();
    reader.lfs.dedup();
    manifest.lfs = reader.lfs;
    let files = reader.files;
    let mut contents = reader.contents;
    let mut history_labels = HashMap::new();
    if options.carry_history
        && options.since.is_none()
        && let Some(head) = head_commit
        && let Some(collected) = crate::history::collect(
            &repo,
            &workdir,
            head.0,
            default_remote(&repo).as_deref(),
            &options.known_commits,
            &limits,
        )?
    {
        for (digest, data) in collected.contents {
            contents.entry(digest).or_insert(data);
        }
        history_labels = collected.labels;
        manifest.set_history(Some(collected.history));
    }
    let mut capture = Capture {
        workdir: workdir.clone(),
        manifest,
        contents,
        files,
        skipped,
        excluded,
        history_labels,
    };
    capture_submodules(&mut capture, submodules, options);
    let manifest = &capture.manifest;
    let total = manifest.result_bytes() + manifest.lfs.iter().map(|o| o.size).sum::<u64>();
    if total > limits.max_total_bytes {
        return Err(Error::LimitExceeded {
            what: format!("the snapshot of {}", workdir.display()),
            limit: Limit::TotalBytes,
            actual: total,
            max: limits.max_total_bytes,
        });
    }
    Ok(capture)
}

/// Captures each initialised submodule (path, directory, the commit the
/// index records) as a nested snapshot of its own, recursively, into
/// `capture`: its content joins the capture's, what it skipped or excluded
/// is named under its path, and one that cannot be captured is named in
/// `skipped` with why.
fn capture_submodules(
    outer: &mut Capture,
    submodules: Vec<(BString, PathBuf, Oid)>,
    options: &SnapshotOptions,
) {
    let nested_options = SnapshotOptions {
        // The outer repository's commits and base say nothing of the
        // submodule's: it carries what its own remote lacks.
        known_commits: Vec::new(),
        since: None,
        // A snapshot `since` a commit carries no history of the outer
        // repository (it travels another way, or not at all); the
        // submodule's own commits have no other way.
        carry_history: options.carry_history || options.since.is_some(),
        ..options.clone()
    };
    let mut carried = Vec::new();
    for (rel, dir, recorded) in submodules {
        let shown = rel.to_str_lossy().into_owned();
        let nested = match capture(&dir, &nested_options) {
            Ok(nested) => nested,
            Err(e) => {
                outer.skipped.push(Skipped {
                    path: shown,
                    reason: format!(
                        "submodule whose work could not be captured ({e}): not carried"
                    ),
                });
                continue;
            }
        };
        let under = |p: &str| format!("{shown}/{p}");
        outer
            .skipped
            .extend(nested.skipped.into_iter().map(|s| Skipped {
                path: under(&s.path),
                ..s
            }));
        outer
            .excluded
            .extend(nested.excluded.iter().map(|p| under(p)));
        if !crate::submodule::holds_work(&nested.manifest, recorded) {
            continue;
        }
        for (digest, data) in nested.contents {
            outer.contents.entry(digest).or_insert(data);
        }
        for (digest, file) in nested.files {
            outer.files.entry(digest).or_insert(file);
        }
        for (digest, label) in nested.history_labels {
            outer
                .history_labels
                .entry(digest)
                .or_insert_with(|| format!("{shown}/{label}"));
        }
        carried.push(manifest::Submodule {
            path: shown,
            url: nested.manifest.base.remote.clone(),
            snapshot: Box::new(nested.manifest),
        });
    }
    if !carried.is_empty() {
        outer.manifest.set_submodules(carried);
    }
}

/// What [`changed_paths`] finds: the paths, those that cannot be carried,
/// and the initialised submodules (path, directory, the commit the index
/// records).
type Changed = (
    BTreeSet<BString>,
    Vec<Skipped>,
    Vec<(BString, PathBuf, Oid)>,
);

/// Every path status reports as different between `HEAD`, index and working
/// tree, plus untracked files; sorted and deduplicated.
fn changed_paths(repo: &gix::Repository, workdir: &Path) -> Result<Changed> {
    use gix::status::index_worktree::Item as Iw;
    use gix::status::plumbing::index_as_worktree::EntryStatus;

    let status_err = |e| Error::git("compute status", workdir, e);
    let mut status = repo.status(gix::progress::Discard).map_err(status_err)?;
    if let Some(expanded) = expanded_index(repo, workdir)? {
        status = status.index(gix::worktree::IndexPersistedOrInMemory::InMemory(expanded));
    }
    let iter = status
        .untracked_files(gix::status::UntrackedFiles::Files)
        // Nested repositories are recorded by their HEAD, not inspected.
        .index_worktree_submodules(None)
        // Both sides of a rename must be visited; renames are detected later.
        .tree_index_track_renames(gix::status::tree_index::TrackRenames::Disabled)
        // The whole tree, whatever the process's current directory is.
        .dirwalk_options(|o| o.empty_patterns_match_prefix(false))
        .into_iter(Vec::<BString>::new())
        .map_err(status_err)?;
    let mut touched = BTreeSet::new();
    let mut skipped = Vec::new();
    for item in iter {
        match item.map_err(status_err)? {
            gix::status::Item::TreeIndex(change) => {
                touched.insert(change.location().to_owned());
            }
            gix::status::Item::IndexWorktree(Iw::Modification {
                rela_path, status, ..
            }) => match status {
                EntryStatus::NeedsUpdate(_) => {}
                EntryStatus::Conflict { .. } => skipped.push(Skipped {
                    path: rela_path.to_str_lossy().into_owned(),
                    reason: "unresolved merge conflict".to_owned(),
                }),
                EntryStatus::Change(_) | EntryStatus::IntentToAdd => {
                    touched.insert(rela_path);
                }
            },
            gix::status::Item::IndexWorktree(Iw::DirectoryContents { entry, .. }) => {
                if entry.status == gix::dir::entry::Status::Untracked {
                    if entry.disk_kind == Some(gix::dir::entry::Kind::Untrackable) {
                        skipped.push(Skipped {
                            path: entry.rela_path.to_str_lossy().into_owned(),
                            reason: "not a file, directory or symlink (fifo, socket or device)"
                                .to_owned(),
                        });
                    } else {
                        touched.insert(entry.rela_path);
                    }
                }
            }
            gix::status::Item::IndexWorktree(Iw::Rewrite {
                source,
                dirwalk_entry,
                ..
            }) => {
                touched.insert(source.rela_path().to_owned());
                touched.insert(dirwalk_entry.rela_path);
            }
        }
    }
    // Submodules are not inspected by the walk above: a moved HEAD is a
    // changed gitlink; their own work is captured by the caller.
    let nested = crate::submodule::inspect(repo, workdir);
    touched.extend(nested.touched);
    skipped.extend(nested.skipped);
    Ok((touched, skipped, nested.initialised))
}

/// The skip-worktree entries git treats as ordinary files: in a sparse
/// checkout (`core.sparseCheckout`), those whose file is present in the
/// working tree, unless `sparse.expectFilesOutsideOfPatterns` says such
/// files are expected (git then keeps skipping them).
fn present_skip_worktree(
    repo: &gix::Repository,
    workdir: &Path,
    index: &gix::index::File,
) -> BTreeSet<BString> {
    use gix::index::entry::{Flags, Mode};
    let config = repo.config_snapshot();
    if !config.boolean("core.sparseCheckout").unwrap_or(false)
        || config
            .boolean("sparse.expectFilesOutsideOfPatterns")
            .unwrap_or(false)
    {
        return BTreeSet::new();
    }
    index
        .entries()
        .iter()
        .filter(|e| e.flags.contains(Flags::SKIP_WORKTREE) && e.mode != Mode::DIR)
        .map(|e| e.path(index).to_owned())
        .filter(|path| {
            gix::path::from_byte_slice(path.as_slice())
                .is_ok_and(|rel| workdir.join(rel).symlink_metadata().is_ok())
        })
        .collect()
}

/// A sparse index (`index.sparse`: a directory outside the sparse
/// checkout is one entry, naming its tree) expanded in memory to the
/// files of those trees, each marked skip-worktree as git expands it:
/// gix's status compares `HEAD` with an index of files only. `None` when
/// the index is not sparse.
fn expanded_index(repo: &gix::Repository, workdir: &Path) -> Result<Option<gix::index::File>> {
    use gix::index::entry::{Flags, Mode};
    let index = repo
        .index_or_empty()
        .map_err(|e| Error::git("read the index", workdir, e))?;
    if !index.is_sparse() {
        return Ok(None);
    }
    let mut state = gix::index::State::new(repo.object_hash());
    for entry in index.entries() {
        let path = entry.path(&index);
        if entry.mode != Mode::DIR {
            state.dangerously_push_entry(entry.stat, entry.id, entry.flags, entry.mode, path);
            continue;
        }
        let subtree = repo
            .index_from_tree(&entry.id)
            .map_err(|e| Error::git("expand the sparse index", workdir, e))?;
        // A sparse directory entry's path ends in '/'.
        let prefix = path.strip_suffix(b"/").unwrap_or(path);
        for inner in subtree.entries() {
            let mut full = BString::from(prefix);
            full.push(b'/');
            full.extend_from_slice(inner.path(&subtree));
            state.dangerously_push_entry(
                inner.stat,
                inner.id,
                inner.flags | Flags::SKIP_WORKTREE,
                inner.mode,
                full.as_bstr(),
            );
        }
    }
    state.sort_entries();
    Ok(Some(gix::index::File::from_state(
        state,
        index.path().to_owned(),
    )))
}

/// Adds every path whose entry differs between trees `a` and `b` (`None`:
/// the empty tree) to `out`.
pub(crate) fn tree_changes(
    repo: &gix::Repository,
    workdir: &Path,
    a: Option<gix::ObjectId>,
    b: Option<gix::ObjectId>,
    out: &mut BTreeSet<BString>,
) -> Result<()> {
    use gix::objs::tree::EntryMode;
    type Entries = Vec<(BString, EntryMode, gix::ObjectId)>;
    let read = |tree: Option<gix::ObjectId>| -> Result<Entries> {
        let Some(tree) = tree else {
            return Ok(Vec::new());
        };
        let tree = repo
            .find_tree(tree)
            .map_err(|e| Error::git("read a tree", workdir, e))?;
        tree.iter()
            .map(|entry| {
                entry
                    .map(|e| (e.filename().to_owned(), e.mode(), e.object_id()))
                    .map_err(|e| Error::git("read a tree", workdir, e))
            })
            .collect()
    };
    let mut stack = vec![(BString::default(), a, b)];
    while let Some((prefix, a, b)) = stack.pop() {
        let (left, right) = (read(a)?, read(b)?);
        let mut names: BTreeSet<&BString> = left.iter().map(|(n, ..)| n).collect();
        names.extend(right.iter().map(|(n, ..)| n));
        for name in names {
            let find = |side: &Entries| {
                side.iter()
                    .find(|(n, ..)| n == name)
                    .map(|(_, mode, id)| (*mode, *id))
            };
            let (l, r) = (find(&left), find(&right));
            if l == r {
                continue;
            }
            let mut path = prefix.clone();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(name);
            let subtree = |side: Option<(EntryMode, gix::ObjectId)>| {
                side.filter(|(mode, _)| mode.is_tree()).map(|(_, id)| id)
            };
            let (lt, rt) = (subtree(l), subtree(r));
            if lt.is_some() || rt.is_some() {
                stack.push((path.clone(), lt, rt));
            }
            // A file on either side is an entry (a file replaced by a
            // directory is a deletion plus the directory's files).
            if l.is_some_and(|(m, _)| !m.is_tree()) || r.is_some_and(|(m, _)| !m.is_tree()) {
                out.insert(path);
            }
        }
    }
    Ok(())
}

fn representable(raw: &BString, skipped: &mut Vec<Skipped>) -> Option<RepoPath> {
    let text = match std::str::from_utf8(raw) {
        Ok(text) => text,
        Err(_) => {
            skipped.push(Skipped {
                path: raw.to_str_lossy().into_owned(),
                reason: "path is not valid UTF-8".to_owned(),
            });
            return None;
        }
    };
    // Directory entries from the walk (nested repositories) end in '/'.
    let text = text.trim_end_matches('/');
    match RepoPath::new(text) {
        Ok(path) => Some(path),
        Err(e) => {
            skipped.push(Skipped {
                path: text.to_owned(),
                reason: e.to_string(),
            });
            None
        }
    }
}

fn index_kind(mode: gix::index::entry::Mode) -> Option<Kind> {
    use gix::index::entry::Mode;
    if mode == Mode::FILE {
        Some(Kind::File)
    } else if mode == Mode::FILE_EXECUTABLE {
        Some(Kind::Executable)
    } else if mode == Mode::SYMLINK {
        Some(Kind::Symlink)
    } else if mode == Mode::COMMIT {
        Some(Kind::Gitlink)
    } else {
        None
    }
}

fn classify(base: Option<&Object>, index: Option<&Object>, result: Option<&Object>) -> Status {
    let gitlink = |o: Option<&Object>| o.is_some_and(|o| o.kind == Kind::Gitlink);
    match (base, result) {
        _ if gitlink(base) || gitlink(result) => Status::NestedRepository,
        (None, Some(_)) if index.is_none() => Status::Untracked,
        (None, Some(_)) => Status::Added,
        (Some(_), None) => Status::Deleted,
        (None, None) => Status::IndexOnly,
        (Some(b), Some(r)) => {
            let is_link = |o: &Object| o.kind == Kind::Symlink;
            if is_link(b) != is_link(r) {
                Status::TypeChanged
            } else if b.oid == r.oid && b.kind != r.kind {
                Status::ModeChanged
            } else if b.oid == r.oid {
                Status::IndexOnly
            } else {
                Status::Modified
            }
        }
    }
}

/// Marks an added file whose content equals a deleted file's base content as
/// renamed from it (exact renames, each source used once).
fn detect_renames(manifest: &mut Manifest) {
    let mut deleted: HashMap<(Kind, Oid), Vec<String>> = HashMap::new();
    for entry in &manifest.entries {
        if let (Status::Deleted, Some(base)) = (entry.status, &entry.base)
            && base.kind.has_content()
        {
            deleted
                .entry((base.kind, base.oid))
                .or_default()
                .push(entry.path.clone());
        }
    }
    for entry in &mut manifest.entries {
        if !matches!(entry.status, Status::Added | Status::Untracked) {
            continue;
        }
        // The working-tree content, or what the index holds (a `git mv`
        // followed by an edit is a staged rename with unstaged changes).
        let candidates = [&entry.result, &entry.index];
        let source = candidates.into_iter().flatten().find_map(|obj| {
            deleted
                .get_mut(&(obj.kind, obj.oid))
                .filter(|sources| !sources.is_empty())
                .map(|sources| sources.remove(0))
        });
        if let Some(from) = source {
            entry.from = Some(from);
            entry.status = Status::Renamed;
        }
    }
}

/// Reads objects from the repository and the working tree, collecting the
/// content to store.
struct Reader<'a> {
    repo: &'a gix::Repository,
    workdir: &'a Path,
    contents: HashMap<Digest, Bytes>,
    files: HashMap<Digest, PathBuf>,
    max_file_bytes: u64,
    stream_threshold: u64,
    conversions: Conversions<'a>,
    /// The LFS objects the captured pointers name (their content is kept).
    lfs: Vec<crate::manifest::LfsObject>,
}

impl Reader<'_> {
    fn keep(&mut self, data: Vec<u8>) -> Digest {
        let digest = Digest::of(&data);
        self.contents
            .entry(digest)
            .or_insert_with(|| Bytes::from(data));
        digest
    }

    fn tree_object(
        &mut self,
        tree: &gix::Tree<'_>,
        path: &RepoPath,
        store_content: bool,
    ) -> Result<Option<Object>> {
        let entry = tree
            .lookup_entry(path.components().map(str::as_bytes))
            .map_err(|e| Error::git("look up a path in HEAD's tree", self.workdir, e))?;
        let Some(entry) = entry else { return Ok(None) };
        use gix::object::tree::EntryKind;
        let kind = match entry.mode().kind() {
            EntryKind::Blob => Kind::File,
            EntryKind::BlobExecutable => Kind::Executable,
            EntryKind::Link => Kind::Symlink,
            EntryKind::Commit => Kind::Gitlink,
            // A directory in the base; its files are entries of their own.
            EntryKind::Tree => return Ok(None),
        };
        self.odb_object(kind, entry.object_id(), &[], store_content)
            .map(Some)
    }

    /// An object from the object database; its content is read (and kept)
    /// only when `store_content` is set and no `known` object already
    /// carries it.
    fn odb_object(
        &mut self,
        kind: Kind,
        id: gix::ObjectId,
        known: &[&Option<Object>],
        store_content: bool,
    ) -> Result<Object> {
        let oid = Oid(id);
        if kind == Kind::Gitlink {
            return Ok(Object {
                kind,
                oid,
                size: 0,
                digest: None,
            });
        }
        for other in known.iter().copied().flatten() {
            if other.oid == oid && other.kind.has_content() {
                return Ok(Object {
                    kind,
                    oid,
                    size: other.size,
                    digest: other.digest,
                });
            }
        }
        let mut blob = self
            .repo
            .find_blob(id)
            .map_err(|e| Error::git("read a blob", self.workdir, e))?;
        let data = blob.take_data();
        let size = data.len() as u64;
        let digest = store_content.then(|| self.keep(data));
        Ok(Object {
            kind,
            oid,
            size,
            digest,
        })
    }

    /// The working-tree object at `path`, its content in the form git
    /// would commit; [`Refused`] when that form cannot be had.
    fn worktree_object(
        &mut self,
        path: &RepoPath,
    ) -> Result<std::result::Result<Option<Object>, Refused>> {
        let fs_path = path.to_fs_path(self.workdir);
        let meta = match std::fs::symlink_metadata(&fs_path) {
            Ok(meta) => meta,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(Ok(None));
            }
            Err(source) => {
                return Err(Error::Io {
                    action: "inspect",
                    path: fs_path,
                    source,
                });
            }
        };
        let file_type = meta.file_type();
        let (kind, data) = if file_type.is_symlink() {
            let target =
                std::fs::read_link(&fs_path).map_err(Error::io("read symlink", &fs_path))?;
            let target = gix::path::into_bstr(target)
                .map_err(|e| Error::git("read symlink", &fs_path, e))?
                .into_owned();
            (Kind::Symlink, Vec::from(target))
        } else if file_type.is_file() {
            if meta.len() > self.max_file_bytes {
                return Err(Error::LimitExceeded {
                    what: path.to_string(),
                    limit: Limit::FileBytes,
                    actual: meta.len(),
                    max: self.max_file_bytes,
                });
            }
            let kind = if crate::worktree::is_executable(&meta) {
                Kind::Executable
            } else {
                Kind::File
            };
            if meta.len() >= self.stream_threshold && !self.conversions.is_active() {
                let (oid, digest, size) = crate::worktree::hash_file(&fs_path, meta.len())
                    .map_err(Error::io("read", &fs_path))?;
                if !self.contents.contains_key(&digest) {
                    self.files.entry(digest).or_insert(fs_path);
                }
                return Ok(Ok(Some(Object {
                    kind,
                    oid,
                    size,
                    digest: Some(digest),
                })));
            }
            let data = std::fs::read(&fs_path).map_err(Error::io("read", &fs_path))?;
            let data = match self.conversions.clean_with_object(path, data) {
                Ok((clean, object)) => {
                    if let Some((pointer, content)) = object {
                        self.keep(content);
                        self.lfs.push(crate::manifest::LfsObject {
                            digest: pointer.digest,
                            size: pointer.size,
                        });
                    }
                    clean
                }
                Err(refused) => return Ok(Err(refused)),
            };
            (kind, data)
        } else if file_type.is_dir() {
            if fs_path.join(".git").exists() {
                let head = gix::open(&fs_path)
                    .ok()
                    .and_then(|nested| nested.head_id().ok().map(|id| id.detach()));
                return Ok(Ok(Some(Object {
                    kind: Kind::Gitlink,
                    oid: head.map(Oid).unwrap_or_else(Oid::null),
                    size: 0,
                    digest: None,
                })));
            }
            // A file replaced by a directory: the file is gone, the
            // directory's files are entries of their own.
            return Ok(Ok(None));
        } else {
            return Ok(Ok(None));
        };
        let oid = Oid::for_blob(&data);
        let size = data.len() as u64;
        let digest = self.keep(data);
        Ok(Ok(Some(Object {
            kind,
            oid,
            size,
            digest: Some(digest),
        })))
    }
}
