//! Where cloud sessions run: [`Environment`], the scratch checkouts on this
//! machine ([`LocalEnvironment`]), and [`check_out`], which rebuilds one
//! repository of a run at the state a snapshot starts from.
//!
//! A checkout is built before the agent answers:
//!
//! 1. **the repository**: cloned from the run's recorded source; or, when
//!    the snapshot carries its whole history (a repository without a
//!    remote) or there is no commit yet, created empty and filled from the
//!    store alone, so nothing outside the store is read;
//! 2. **the history**: the git objects the snapshot carries (commits not
//!    pushed, or an agent's commits of an earlier session) are imported
//!    into the object database, checked against their ids;
//! 3. **`HEAD`**: the snapshot's base commit is checked out, on the branch it
//!    was on.
//!
//! This is the one place handoff runs the `git` program, for what gix does
//! not do for it here (cloning over every transport git supports, with the
//! user's credential helpers, and checking out a tree). Every value that
//! came from a run record or a manifest is validated first (a source is a
//! [`Source`], a commit an [`Oid`], a branch a valid ref name) and passed
//! after `--` or in a position where it cannot be an option; git never
//! prompts (`GIT_TERMINAL_PROMPT=0`, ssh in batch mode), transport helpers
//! such as `ext::` are refused, and every command has a timeout.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use handoff_store::BlobStore;
use handoff_workspace::{Limits, Manifest, Oid, RepoPath};

use crate::run::{HistoryLimits, Repository, RunRecord, Source};
use crate::{Error, Result, RunId};

/// A prepared environment: where each repository of the run is checked out.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The workspace root the agent runs in.
    pub root: PathBuf,
    /// Each repository's `path` in the run and its checkout.
    pub repositories: Vec<(String, PathBuf)>,
    /// A directory for files the run needs outside the repositories.
    pub scratch: PathBuf,
}

/// Where sessions run.
#[async_trait]
pub trait Environment: Send + Sync + std::fmt::Debug {
    /// Checks out every repository of `run` at the state its newest
    /// session starts from (see [`check_out`]), reading carried history
    /// from `store`. The session's uncommitted changes are applied after.
    async fn prepare(&self, run: &RunRecord, store: &dyn BlobStore) -> Result<Prepared>;
}

/// Scratch directories under a base directory on this machine.
#[derive(Debug, Clone)]
pub struct LocalEnvironment {
    base: PathBuf,
    git: GitOptions,
}

/// How [`check_out`] runs git.
#[derive(Debug, Clone)]
pub struct GitOptions {
    /// How long one git command may take before it is killed (a clone of a
    /// large repository, a server that never answers).
    pub timeout: Duration,
    /// Limits on what a manifest holds (a manifest is untrusted); the
    /// history limits are the run's own ([`RunRecord::history_limits`]),
    /// within `max_history`.
    pub limits: Limits,
    /// The most carried history a run may ask for
    /// ([`RunRecord::history_limits_within`]).
    pub max_history: HistoryLimits,
}

impl Default for GitOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10 * 60),
            limits: Limits::default(),
            max_history: HistoryLimits::CEILING,
        }
    }
}

impl LocalEnvironment {
    /// Environments under `base` (one directory per session).
    pub fn new(base: impl Into<PathBuf>) -> Self {
        Self {
            base: base.into(),
            git: GitOptions::default(),
        }
    }

    /// Runs git with `options`.
    pub fn with_git(mut self, options: GitOptions) -> Self {
        self.git = options;
        self
    }
}

#[async_trait]
impl Environment for LocalEnvironment {
    async fn prepare(&self, run: &RunRecord, store: &dyn BlobStore) -> Result<Prepared> {
        let session = run
            .last_session()
            .ok_or(Error::UnknownRun { run: run.id })?;
        let top = self.base.join(format!("{}-{}", run.id, session.id));
        for dir in [top.join("workspace"), top.join("scratch")] {
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(|source| Error::Io {
                    action: "create the environment",
                    path: dir.clone(),
                    source,
                })?;
        }
        // Every path the agent is told about derives from these: as real
        // paths, they name in the sandbox (which shows each directory at
        // its real path, never the links above it) what they name here.
        let top = tokio::fs::canonicalize(&top)
            .await
            .map_err(|source| Error::Io {
                action: "resolve the environment",
                path: top.clone(),
                source,
            })?;
        let (root, scratch) = (top.join("workspace"), top.join("scratch"));
        let git = GitOptions {
            limits: run
                .history_limits_within(&self.git.max_history)?
                .apply(self.git.limits),
            ..self.git.clone()
        };
        let mut repositories = Vec::new();
        for repo in &run.repositories {
            let dest = match repo.place(run.id)? {
                None => root.clone(),
                Some(path) => path.to_fs_path(&root),
            };
            let start = session.start.iter().find(|s| s.repo == repo.path);
            let manifest = match start {
                Some(start) => Some(
                    handoff_workspace::snapshot::load_manifest_within(
                        store,
                        &start.snapshot,
                        &git.limits,
                    )
                    .await?,
                ),
                None => None,
            };
            check_out(run.id, repo, manifest.as_ref(), &dest, store, &git).await?;
            repositories.push((repo.path.clone(), dest));
        }
        Ok(Prepared {
            root,
            repositories,
            scratch,
        })
    }
}

/// Builds the repository `repo` of run `run` at `dest` (which must not
/// exist, or be an empty directory) at the state `manifest` starts from:
/// its base commit, with the history it carries, on its branch. Without a
/// manifest, the record's own commit and branch are used. The manifest's
/// entries (uncommitted changes) are not applied here.
pub async fn check_out(
    run: RunId,
    repo: &Repository,
    manifest: Option<&Manifest>,
    dest: &Path,
    store: &dyn BlobStore,
    options: &GitOptions,
) -> Result<()> {
    let (commit, branch) = match manifest {
        Some(m) => (m.base.commit, m.base.branch.clone()),
        None => (repo.base_commit(run)?, repo.branch.clone()),
    };
    let history = manifest.and_then(|m| m.history.as_ref());
    let git = Git {
        run,
        timeout: options.timeout,
    };
    let from_store = commit.is_none() || history.is_some_and(|h| h.is_complete());
    tokio::fs::create_dir_all(dest)
        .await
        .map_err(|source| Error::Io {
            action: "create the checkout",
            path: dest.to_owned(),
            source,
        })?;
    if from_store {
        git.run(dest, &["init", "--quiet"]).await?;
    } else {
        let source = repo.clone_source(run)?.ok_or_else(|| Error::Environment {
            run,
            reason: format!(
                "repository {} has no source to clone from, and the store does not hold its whole history",
                repo.path
            ),
        })?;
        let dest_text = dest.to_str().ok_or_else(|| Error::Environment {
            run,
            reason: format!("environment path {} is not UTF-8", dest.display()),
        })?;
        git.run(
            dest,
            &[
                "clone",
                "--quiet",
                "--no-checkout",
                "--",
                source.as_str(),
                dest_text,
            ],
        )
        .await
        .map_err(|e| match e {
            Error::Environment { reason, .. } => Error::Environment {
                run,
                reason: format!(
                    "{reason}; the commits the run builds on{} must be reachable there (push them, or check the worker's access)",
                    history
                        .map(|h| format!(
                            " ({})",
                            h.boundary
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                        .unwrap_or_default()
                ),
            },
            other => other,
        })?;
    }
    if let Some(history) = history {
        handoff_workspace::import_history(dest, store, history, &options.limits).await?;
    }
    match commit {
        Some(commit) => {
            let commit = commit.to_string();
            git.run(dest, &["checkout", "--quiet", "--detach", &commit])
                .await?;
            if let Some(branch) = branch.as_deref().and_then(valid_branch) {
                git.run(dest, &["checkout", "--quiet", "-B", branch])
                    .await?;
            }
        }
        None => {
            if let Some(branch) = branch.as_deref().and_then(valid_branch) {
                let reference = format!("refs/heads/{branch}");
                git.run(dest, &["symbolic-ref", "HEAD", &reference]).await?;
            }
        }
    }
    Ok(())
}

/// `name` when it is a branch name git accepts and cannot be read as an
/// option; `None` otherwise (the checkout then stays detached).
fn valid_branch(name: &str) -> Option<&str> {
    handoff_workspace::branch::is_valid_name(name).then_some(name)
}

/// Clones the submodules an apply must initialise
/// ([`handoff_workspace::CloneRepository`]) with the `git` program, as
/// [`check_out`] clones a run's repository: the URL validated as a
/// [`Source`] (no transport helpers, no options), no prompts, a timeout,
/// the user's own credential helpers.
#[derive(Debug, Clone)]
pub struct GitClone {
    /// How long the clone may take before it is killed.
    pub timeout: Duration,
}

impl Default for GitClone {
    fn default() -> Self {
        Self {
            timeout: GitOptions::default().timeout,
        }
    }
}

impl GitClone {
    /// The [`ApplyOptions`](handoff_workspace::ApplyOptions) field that
    /// lets an apply initialise submodules this way.
    pub fn shared() -> Option<std::sync::Arc<dyn handoff_workspace::CloneRepository>> {
        Some(std::sync::Arc::new(Self::default()))
    }
}

impl handoff_workspace::CloneRepository for GitClone {
    fn clone_repository<'a>(
        &'a self,
        url: &'a str,
        dest: &'a Path,
    ) -> futures_util::future::BoxFuture<'a, std::result::Result<(), String>> {
        Box::pin(async move {
            let source = Source::parse(url)?;
            let dest_text = dest
                .to_str()
                .ok_or_else(|| format!("path {} is not UTF-8", dest.display()))?;
            let parent = dest.parent().unwrap_or(dest);
            run_git(
                parent,
                &[
                    "clone",
                    "--quiet",
                    "--no-checkout",
                    "--",
                    source.as_str(),
                    dest_text,
                ],
                self.timeout,
            )
            .await
            .map_err(|e| match e {
                GitFailure::Io(e) => format!("git could not be run: {e}"),
                GitFailure::Failed(reason) => reason,
            })
        })
    }
}

struct Git {
    run: RunId,
    timeout: Duration,
}

/// Why a git command did not succeed.
enum GitFailure {
    /// git could not be started.
    Io(std::io::Error),
    /// It failed or timed out; what it said.
    Failed(String),
}

impl Git {
    async fn run(&self, dir: &Path, args: &[&str]) -> Result<()> {
        run_git(dir, args, self.timeout).await.map_err(|e| match e {
            GitFailure::Io(source) => Error::Io {
                action: "run git in",
                path: dir.to_owned(),
                source,
            },
            GitFailure::Failed(reason) => Error::Environment {
                run: self.run,
                reason,
            },
        })
    }
}

/// Runs git in `dir`, safely (see the module's documentation).
async fn run_git(
    dir: &Path,
    args: &[&str],
    timeout: Duration,
) -> std::result::Result<(), GitFailure> {
    {
        let mut command = tokio::process::Command::new("git");
        command
            .current_dir(dir)
            // Transport helpers (`ext::`, `fd::`) run arbitrary commands.
            .args([
                "-c",
                "protocol.ext.allow=never",
                "-c",
                "protocol.fd.allow=never",
            ])
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "true")
            .env("SSH_ASKPASS", "true")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        if std::env::var_os("GIT_SSH_COMMAND").is_none() {
            command.env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes");
        }
        let output = tokio::time::timeout(timeout, command.output())
            .await
            .map_err(|_| {
                GitFailure::Failed(format!(
                    "git {} did not finish within {timeout:?} and was stopped",
                    args.first().copied().unwrap_or_default(),
                ))
            })?
            .map_err(GitFailure::Io)?;
        if output.status.success() {
            Ok(())
        } else {
            Err(GitFailure::Failed(format!(
                "git {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            )))
        }
    }
}

impl Repository {
    /// Where the repository goes in the workspace: `None` for the root
    /// (`.`), else its validated path.
    pub fn place(&self, run: RunId) -> Result<Option<RepoPath>> {
        if self.path == "." {
            return Ok(None);
        }
        RepoPath::new(self.path.clone())
            .map(Some)
            .map_err(|e| Error::InvalidRecord {
                run,
                field: "repositories[].path",
                reason: e.to_string(),
            })
    }

    /// The base commit, validated.
    pub fn base_commit(&self, run: RunId) -> Result<Option<Oid>> {
        self.commit
            .as_deref()
            .map(|c| {
                c.parse::<Oid>().map_err(|reason| Error::InvalidRecord {
                    run,
                    field: "repositories[].commit",
                    reason,
                })
            })
            .transpose()
    }

    /// Where to clone from, validated.
    pub fn clone_source(&self, run: RunId) -> Result<Option<Source>> {
        self.source
            .as_deref()
            .map(|s| {
                Source::parse(s).map_err(|reason| Error::InvalidRecord {
                    run,
                    field: "repositories[].source",
                    reason,
                })
            })
            .transpose()
    }
}
