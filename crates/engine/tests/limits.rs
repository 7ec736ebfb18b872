//! History limits travel with the run: a push that raised them is run,
//! followed up and continued locally within them, and a record asking for
//! more than the worker's ceiling fails its session with an error that
//! names the run and the limit. Real repositories, a real store, the real
//! runner.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;

use handoff_conversation::Conversation;
use handoff_dev::{GitRepo, git_command};
use handoff_engine::{
    Error, HistoryLimits, LocalEnvironment, Push, RunId, RunState, RunStore, WorkerOptions,
    continue_locally, follow_up, push, run_session,
};
use handoff_harness::{HarnessKind, ScriptedHarness, Turn};
use handoff_store::FsStore;
use handoff_workspace::{Limit, Limits, SnapshotOptions};

/// One more commit than the default history limit (5,000) allows.
const COMMITS: u64 = 5_001;

/// A pushed base commit, then `commits` local commits on top that the
/// remote lacks (written by `git fast-import`: thousands in a moment).
fn ahead_by(commits: u64) -> (GitRepo, GitRepo) {
    let origin = GitRepo::bare();
    let local = GitRepo::clone_from(&origin);
    local.write("README.md", "# project\n");
    local.commit_all("base");
    local.git(&["push", "-q", "origin", "main"]);
    let mut stream = String::new();
    for i in 0..commits {
        let content = format!("{i}\n");
        let message = format!("local {i}");
        let from = if i == 0 {
            "from refs/heads/main^0\n"
        } else {
            ""
        };
        stream.push_str(&format!(
            "commit refs/heads/main\ncommitter Handoff Test <test@handoff.invalid> 1767225600 +0000\ndata {}\n{message}\n{from}M 100644 inline n.txt\ndata {}\n{content}\n",
            message.len(),
            content.len()
        ));
    }
    let mut child = git_command(local.path())
        .args(["fast-import", "--quiet"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stream.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "fast-import");
    local.git(&["reset", "-q", "--hard", "main"]);
    (origin, local)
}

/// An agent that commits once per turn.
fn committing_agent() -> ScriptedHarness {
    ScriptedHarness::new("committer", |turn: &Turn<'_>| {
        let dir = turn.workdir;
        let count = std::fs::read_dir(dir).unwrap().count();
        std::fs::write(dir.join(format!("agent-{count}.txt")), "agent\n").unwrap();
        let ok = git_command(dir)
            .args(["add", "-A"])
            .status()
            .unwrap()
            .success()
            && git_command(dir)
                .args(["commit", "-qm", "agent"])
                .status()
                .unwrap()
                .success();
        assert!(ok, "the agent's commit");
        Ok("committed".to_owned())
    })
    .as_kind(HarnessKind::from_static("warp"))
}

async fn push_with_limits(store: &FsStore, local: &GitRepo, limits: Limits) -> RunId {
    let agent = committing_agent();
    let conversation = Conversation::new("limits", "warp");
    push(
        store,
        Push {
            workspace: local.path(),
            conversation: &conversation,
            harness: &agent,
            attachments_from: store,
            prompt: Some("work".into()),
            agent: Default::default(),
            snapshot: SnapshotOptions {
                limits,
                ..SnapshotOptions::default()
            },
            allow_secrets: false,
            variants: 1,
        },
    )
    .await
    .unwrap()
    .run
}

#[tokio::test]
async fn a_push_with_raised_history_limits_runs_every_session_within_them() {
    assert_eq!(COMMITS, Limits::default().max_history_commits + 1);
    let (_origin, local) = ahead_by(COMMITS);
    let store_dir = tempfile::tempdir().unwrap();
    let envs = tempfile::tempdir().unwrap();
    let store = FsStore::new(store_dir.path()).with_sync(false);
    let raised = Limits {
        max_history_commits: COMMITS + 10,
        ..Limits::default()
    };
    let run = push_with_limits(&store, &local, raised).await;
    let record = RunStore::new(&store).get(run).await.unwrap().record;
    assert_eq!(
        record.history_limits,
        Some(HistoryLimits {
            max_commits: COMMITS + 10,
            max_bytes: Limits::default().max_history_bytes,
        })
    );

    let agent = committing_agent();
    let env = LocalEnvironment::new(envs.path());
    let worker = WorkerOptions::default();
    let first = run_session(&store, run, &agent, &env, &worker)
        .await
        .unwrap()
        .expect("the first session ran");
    assert_eq!(first.record.state, RunState::Ended);
    follow_up(&store, run, &agent, "more".into()).await.unwrap();
    let second = run_session(&store, run, &agent, &env, &worker)
        .await
        .unwrap()
        .expect("the follow-up ran");
    assert_eq!(
        second
            .record
            .sessions
            .iter()
            .map(|s| s.state)
            .collect::<Vec<_>>(),
        [RunState::Ended, RunState::Ended]
    );

    let done = continue_locally(&store, run, &agent, local.path(), &Default::default())
        .await
        .unwrap();
    let branch = &done.branches[0].2;
    let carried = local.git(&[
        "rev-list",
        "--count",
        &format!("origin/main..{}", branch.commit),
    ]);
    assert_eq!(carried.trim(), (COMMITS + 2).to_string(), "local + 2 agent");
    // fsck reads the run's snapshots within what a run may ask for.
    let report = handoff_engine::fsck::fsck(&store, false).await.unwrap();
    assert_eq!(report.problems, []);
}

/// A run whose record asks for one commit more than the default ceiling.
struct AboveCeiling {
    _repos: (GitRepo, GitRepo),
    store_dir: tempfile::TempDir,
    envs: tempfile::TempDir,
    run: RunId,
    asked: u64,
}

impl AboveCeiling {
    async fn pushed() -> Self {
        let repos = ahead_by(1);
        let store_dir = tempfile::tempdir().unwrap();
        let asked = HistoryLimits::CEILING.max_commits + 1;
        let limits = Limits {
            max_history_commits: asked,
            ..Limits::default()
        };
        let store = FsStore::new(store_dir.path()).with_sync(false);
        let run = push_with_limits(&store, &repos.1, limits).await;
        Self {
            _repos: repos,
            store_dir,
            envs: tempfile::tempdir().unwrap(),
            run,
            asked,
        }
    }

    fn store(&self) -> FsStore {
        FsStore::new(self.store_dir.path()).with_sync(false)
    }
}

#[tokio::test]
async fn a_record_asking_above_the_workers_ceiling_fails_naming_the_run_and_limit() {
    let above = AboveCeiling::pushed().await;
    let (store, run, asked) = (above.store(), above.run, above.asked);

    let agent = committing_agent();
    let env = LocalEnvironment::new(above.envs.path());
    let err = run_session(&store, run, &agent, &env, &WorkerOptions::default())
        .await
        .unwrap_err();
    let Error::LimitAboveCeiling {
        run: named,
        limit,
        asked: told,
        max,
    } = err
    else {
        panic!("expected the ceiling's refusal, got {err}");
    };
    assert_eq!(
        (named, limit, told, max),
        (
            run,
            Limit::HistoryCommits,
            asked,
            HistoryLimits::CEILING.max_commits
        )
    );
    let record = RunStore::new(&store).get(run).await.unwrap().record;
    assert_eq!(record.state, RunState::Failed);
    assert_eq!(
        record.sessions[0].failure.as_deref(),
        Some(
            format!(
                "run {run} asks for a carried commit limit (max_history_commits) of {asked}, above the {} this host allows (raise its ceiling to run it)",
                HistoryLimits::CEILING.max_commits
            )
            .as_str()
        )
    );
}

#[tokio::test]
async fn a_worker_with_a_raised_ceiling_runs_what_the_default_refuses() {
    let above = AboveCeiling::pushed().await;
    let (store, run, asked) = (above.store(), above.run, above.asked);
    let ceiling = HistoryLimits {
        max_commits: asked,
        ..HistoryLimits::CEILING
    };
    let env = LocalEnvironment::new(above.envs.path()).with_git(handoff_engine::GitOptions {
        max_history: ceiling,
        ..Default::default()
    });
    let worker = WorkerOptions {
        max_history: ceiling,
        ..WorkerOptions::default()
    };
    let ran = run_session(&store, run, &committing_agent(), &env, &worker)
        .await
        .unwrap()
        .expect("the session ran");
    assert_eq!(ran.record.state, RunState::Ended);
}
