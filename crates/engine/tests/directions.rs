//! The three directions end to end on real git repositories, the embedded
//! store and the scripted harness: what carries over, what the agent sees
//! before it answers, conflicts, failures and the coverage matrix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use handoff_conversation::{AttachmentLimits, Conversation, Message, Part, Role, attach_bytes};
use handoff_dev::{GitRepo, TreeState, assert_same_tree};
use handoff_engine::{
    ContinueOptions, Environment, Error, LocalEnvironment, Prepared, Push, RunRecord, RunState,
    RunStore, WorkerOptions, continue_locally, follow_up, push, run_session,
};
use handoff_harness::{Direction, HarnessKind, ScriptedHarness, Turn};
use handoff_store::{
    BlobStore, Bytes, Digest, DocKey, DocumentStore, FsStore, Put, Store, Version, Versioned,
};
use handoff_workspace::SnapshotOptions;

/// What the agent saw when its turn began.
#[derive(Debug, Default, Clone)]
struct Seen {
    tree: TreeState,
    prompt: String,
    not_applied: Vec<String>,
    attachments: Vec<Vec<u8>>,
    history: usize,
}

fn tree_of(dir: &Path) -> TreeState {
    let mut out = TreeState::new();
    collect(dir, dir, &mut out);
    out
}

fn collect(root: &Path, dir: &Path, out: &mut TreeState) {
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == ".git") {
            continue;
        }
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            collect(root, &path, out);
        } else if meta.file_type().is_symlink() {
            out.insert(
                rel,
                (
                    0o120000,
                    std::fs::read_link(&path)
                        .unwrap()
                        .to_string_lossy()
                        .as_bytes()
                        .to_vec(),
                ),
            );
        } else {
            let mode = if meta.permissions().mode() & 0o111 != 0 {
                0o100755
            } else {
                0o100644
            };
            out.insert(rel, (mode, std::fs::read(&path).unwrap()));
        }
    }
}

/// A scripted Warp agent whose every turn fails with `reason`.
fn failing_agent(reason: &'static str) -> ScriptedHarness {
    ScriptedHarness::new("failing", move |_turn: &Turn<'_>| {
        Err(handoff_harness::Error::TurnFailed {
            harness: HarnessKind::from_static("warp"),
            reason: reason.into(),
        })
    })
    .as_kind(HarnessKind::from_static("warp"))
}

/// A scripted agent that records what it saw and writes `agent-<n>.txt`.
fn recording_agent(kind: HarnessKind) -> (ScriptedHarness, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::<Seen>::new()));
    let log = seen.clone();
    let harness = ScriptedHarness::new("recording", move |turn: &Turn<'_>| {
        let mut log = log.lock().unwrap();
        log.push(Seen {
            tree: tree_of(turn.workdir),
            prompt: turn.prompt.to_owned(),
            not_applied: turn
                .handoff
                .not_applied
                .iter()
                .map(|n| n.path.clone())
                .collect(),
            attachments: turn
                .attachments
                .iter()
                .map(|a| std::fs::read(&a.path).unwrap())
                .collect(),
            history: turn.conversation.messages.len(),
        });
        let n = log.len();
        std::fs::write(
            turn.workdir.join(format!("agent-{n}.txt")),
            format!("work of turn {n}\n"),
        )
        .unwrap();
        Ok(format!("done with turn {n}"))
    })
    .as_kind(kind);
    (harness, seen)
}

struct Setup {
    local: GitRepo,
    store_dir: tempfile::TempDir,
    envs: tempfile::TempDir,
    conversation: Conversation,
    local_store: handoff_store::MemoryStore,
}

async fn setup() -> Setup {
    let local = GitRepo::init();
    local
        .write("src/lib.rs", "pub fn one() -> u32 {\n    1\n}\n")
        .write("README.md", "# readme\n");
    local.commit_all("base");
    local.write(
        "src/lib.rs",
        "pub fn one() -> u32 {\n    1\n}\n\npub fn two() -> u32 {\n    2\n}\n",
    );
    local.write("README.md", "# readme\n\nlocal edit\n");
    local.write("notes/todo.md", "untracked todo\n");
    let local_store = handoff_store::MemoryStore::new();
    let image = attach_bytes(
        &local_store,
        "screenshot.png",
        Bytes::from_static(b"\x89PNG\r\n\x1a\nimage"),
        &AttachmentLimits::default(),
    )
    .await
    .unwrap();
    let mut conversation = Conversation::new("add two()", "warp");
    conversation.push(Message::new(
        Role::User,
        vec![
            Part::Text {
                text: "add two()".into(),
            },
            Part::Attachment(image),
        ],
    ));
    conversation.push(Message::text(Role::Assistant, "added; tests next"));
    Setup {
        local,
        store_dir: tempfile::tempdir().unwrap(),
        envs: tempfile::tempdir().unwrap(),
        conversation,
        local_store,
    }
}

fn push_request<'a>(s: &'a Setup, harness: &'a ScriptedHarness) -> Push<'a> {
    Push {
        workspace: s.local.path(),
        conversation: &s.conversation,
        harness,
        attachments_from: &s.local_store,
        prompt: Some("now write the tests".into()),
        agent: Default::default(),
        snapshot: SnapshotOptions::default(),
        allow_secrets: false,
        variants: 1,
    }
}

#[tokio::test]
async fn local_to_cloud_then_follow_up_then_continue_locally() {
    let s = setup().await;
    let store = FsStore::new(s.store_dir.path());
    let (agent, seen) = recording_agent(HarnessKind::from_static("warp"));
    let source_before = s.conversation.clone();

    // local → cloud
    let pushed = push(&store, push_request(&s, &agent)).await.unwrap();
    assert_eq!(
        s.conversation, source_before,
        "the source conversation is not modified"
    );
    assert_ne!(
        pushed.record.conversation, s.conversation.id,
        "the run continues a fork"
    );
    assert_eq!(pushed.record.state, RunState::Queued);
    let env = LocalEnvironment::new(s.envs.path());
    let ran = run_session(&store, pushed.run, &agent, &env, &WorkerOptions::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ran.record.state, RunState::Ended);
    {
        let seen = seen.lock().unwrap();
        // The workspace was restored before the agent answered.
        assert_same_tree(&seen[0].tree, &s.local.tree_state());
        assert_eq!(seen[0].prompt, "now write the tests");
        assert!(seen[0].not_applied.is_empty());
        assert_eq!(
            seen[0].attachments,
            vec![b"\x89PNG\r\n\x1a\nimage".to_vec()]
        );
        assert_eq!(seen[0].history, 2, "the full history reached the agent");
    }
    let session = ran.record.last_session().unwrap();
    assert_eq!(session.apply.len(), 1);
    assert_eq!(session.apply[0].report.failed, vec![]);

    // cloud → cloud: same conversation, restored from the end state.
    let end_state = tree_of(&ran.environment.root);
    follow_up(&store, pushed.run, &agent, "and a benchmark".into())
        .await
        .unwrap();
    let again = run_session(&store, pushed.run, &agent, &env, &WorkerOptions::default())
        .await
        .unwrap()
        .unwrap();
    {
        let seen = seen.lock().unwrap();
        assert_same_tree(&seen[1].tree, &end_state);
        assert!(seen[1].tree.contains_key("agent-1.txt"));
        assert_eq!(seen[1].history, 4, "the same conversation continues");
    }
    assert_eq!(again.record.conversation, pushed.record.conversation);
    assert_eq!(again.record.sessions.len(), 2);

    // cloud → local: nothing local changes; a branch holds the final state.
    let before = (s.local.tree_state(), s.local.status(), s.local.head());
    let back = continue_locally(
        &store,
        pushed.run,
        &agent,
        s.local.path(),
        &Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        (s.local.tree_state(), s.local.status(), s.local.head()),
        before
    );
    assert_eq!(
        back.conversation.parent.map(|p| p.conversation),
        Some(pushed.record.conversation)
    );
    assert_eq!(back.conversation.messages.len(), 6);
    let branch = format!("handoff/{}", pushed.run);
    let files = s.local.git(&["ls-tree", "-r", "--name-only", &branch]);
    assert!(
        files.contains("agent-2.txt") && files.contains("notes/todo.md"),
        "{files}"
    );

    // Opting in applies it best-effort.
    let applied = continue_locally(
        &store,
        pushed.run,
        &agent,
        s.local.path(),
        &ContinueOptions {
            apply: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(applied.applied[0].1.failed, vec![]);
    assert_eq!(
        std::fs::read_to_string(s.local.path().join("agent-2.txt")).unwrap(),
        "work of turn 2\n"
    );
}

/// An environment whose checkout already differs from the snapshot's base
/// in one file, so that change conflicts.
#[derive(Debug)]
struct Drifted(LocalEnvironment);

#[async_trait]
impl Environment for Drifted {
    async fn prepare(
        &self,
        run: &RunRecord,
        store: &dyn handoff_store::BlobStore,
    ) -> handoff_engine::Result<Prepared> {
        let prepared = self.0.prepare(run, store).await?;
        std::fs::write(prepared.root.join("README.md"), "# readme\n\ncloud edit\n").unwrap();
        Ok(prepared)
    }
}

#[tokio::test]
async fn a_conflicting_change_is_reported_to_the_agent_and_the_rest_applies() {
    let s = setup().await;
    let store = FsStore::new(s.store_dir.path());
    let (agent, seen) = recording_agent(HarnessKind::from_static("warp"));
    let pushed = push(&store, push_request(&s, &agent)).await.unwrap();
    let env = Drifted(LocalEnvironment::new(s.envs.path()));
    let ran = run_session(&store, pushed.run, &agent, &env, &WorkerOptions::default())
        .await
        .unwrap()
        .unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].not_applied, vec!["README.md"]);
    assert_eq!(seen[0].tree["notes/todo.md"].1, b"untracked todo\n");
    assert!(String::from_utf8_lossy(&seen[0].tree["src/lib.rs"].1).contains("two()"));
    let report = &ran.record.last_session().unwrap().apply[0].report;
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].path, "README.md");
}

/// A recording agent of `kind` that declares every direction, except the
/// kind `none`, which declares none; and whether it supports any.
fn declaring_agent(kind: &HarnessKind) -> (ScriptedHarness, bool) {
    let (agent, _) = recording_agent(kind.clone());
    if *kind == HarnessKind::from_static("none") {
        (agent.with_directions(&[]), false)
    } else {
        (agent, true)
    }
}

#[tokio::test]
async fn declared_directions_decide_and_unsupported_creates_nothing() {
    let s = setup().await;
    let store = FsStore::new(s.store_dir.path());
    for kind in [
        HarnessKind::from_static("warp"),
        HarnessKind::from_static("claude-code"),
        HarnessKind::from_static("codex"),
        HarnessKind::from_static("none"),
    ] {
        let (agent, supported) = declaring_agent(&kind);
        let before = RunStore::new(&store).list().await.unwrap().len();
        let result = push(&store, push_request(&s, &agent)).await;
        match result {
            Ok(_) => assert!(supported, "{kind} pushed"),
            Err(Error::Harness(handoff_harness::Error::Unsupported { harness, direction })) => {
                assert!(!supported);
                assert_eq!(
                    (harness, direction),
                    (kind.clone(), Direction::LocalToCloud)
                );
                assert_eq!(
                    RunStore::new(&store).list().await.unwrap().len(),
                    before,
                    "nothing created"
                );
            }
            Err(other) => panic!("{kind}: {other}"),
        }
    }
    // cloud → cloud and cloud → local for each kind, on an ended run.
    let (warp, _) = recording_agent(HarnessKind::from_static("warp"));
    let pushed = push(&store, push_request(&s, &warp)).await.unwrap();
    let env = LocalEnvironment::new(s.envs.path());
    run_session(&store, pushed.run, &warp, &env, &WorkerOptions::default())
        .await
        .unwrap();
    for kind in [
        HarnessKind::from_static("warp"),
        HarnessKind::from_static("claude-code"),
        HarnessKind::from_static("codex"),
        HarnessKind::from_static("none"),
    ] {
        let (agent, supported) = declaring_agent(&kind);
        let local = continue_locally(
            &store,
            pushed.run,
            &agent,
            s.local.path(),
            &Default::default(),
        )
        .await;
        assert_eq!(
            local.is_ok(),
            supported,
            "{kind} cloud→local: {:?}",
            local.err()
        );
        let before = RunStore::new(&store).get(pushed.run).await.unwrap().record;
        let follow = follow_up(&store, pushed.run, &agent, "more".into()).await;
        if supported {
            follow.unwrap();
            run_session(&store, pushed.run, &agent, &env, &WorkerOptions::default())
                .await
                .unwrap();
        } else {
            assert!(matches!(
                follow,
                Err(Error::Harness(handoff_harness::Error::Unsupported { .. }))
            ));
            assert_eq!(
                RunStore::new(&store).get(pushed.run).await.unwrap().record,
                before
            );
        }
    }
}

#[tokio::test]
async fn busy_runs_refuse_follow_ups_and_races_have_one_winner() {
    let s = setup().await;
    let store = FsStore::new(s.store_dir.path());
    let (agent, _) = recording_agent(HarnessKind::from_static("warp"));
    let pushed = push(&store, push_request(&s, &agent)).await.unwrap();
    let busy = follow_up(&store, pushed.run, &agent, "too early".into())
        .await
        .unwrap_err();
    assert!(
        matches!(
            busy,
            Error::RunBusy {
                state: RunState::Queued,
                ..
            }
        ),
        "{busy}"
    );
    let env = LocalEnvironment::new(s.envs.path());
    run_session(&store, pushed.run, &agent, &env, &WorkerOptions::default())
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        follow_up(&store, pushed.run, &agent, "a".into()),
        follow_up(&store, pushed.run, &agent, "b".into())
    );
    let results = [a, b];
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    // The loser either collided with the winner's write (Conflict) or read
    // after it and found the run queued (RunBusy); it never wins too.
    assert!(
        results
            .iter()
            .any(|r| matches!(r, Err(Error::Conflict { .. } | Error::RunBusy { .. })))
    );
    assert_eq!(
        RunStore::new(&store)
            .get(pushed.run)
            .await
            .unwrap()
            .record
            .sessions
            .len(),
        2
    );
}

#[tokio::test]
async fn a_failing_turn_or_environment_fails_the_run_with_the_reason() {
    let s = setup().await;
    let store = FsStore::new(s.store_dir.path());
    let (warp, _) = recording_agent(HarnessKind::from_static("warp"));
    let failing = failing_agent("the model is overloaded");
    let pushed = push(&store, push_request(&s, &warp)).await.unwrap();
    let env = LocalEnvironment::new(s.envs.path());
    let err = run_session(
        &store,
        pushed.run,
        &failing,
        &env,
        &WorkerOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("overloaded"), "{err}");
    let record = RunStore::new(&store).get(pushed.run).await.unwrap().record;
    assert_eq!(record.state, RunState::Failed);
    assert!(
        record
            .last_session()
            .unwrap()
            .failure
            .as_deref()
            .unwrap()
            .contains("overloaded")
    );

    // An environment that cannot be prepared: the source repository is gone
    // (and, with no history carried, the store cannot stand in for it).
    let mut broken = push_request(&s, &warp);
    broken.prompt = Some("again".into());
    broken.snapshot.carry_history = false;
    let second = push(&store, broken).await.unwrap();
    let mut record = RunStore::new(&store).get(second.run).await.unwrap();
    record.record.repositories[0].source = Some("/nonexistent/repository".into());
    RunStore::new(&store)
        .update(record.version, &mut record.record)
        .await
        .unwrap();
    let err = run_session(&store, second.run, &warp, &env, &WorkerOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Environment { .. }), "{err}");
    assert!(
        err.to_string().contains("/nonexistent/repository"),
        "names the source: {err}"
    );
    let record = RunStore::new(&store).get(second.run).await.unwrap().record;
    assert_eq!(record.state, RunState::Failed);
}

/// A store that misbehaves on request: blob writes fail once `budget`
/// puts are spent, and while `race_failure` is set, another writer slips a
/// new version of a run record in just before the worker records a failed
/// session (once; the flag is cleared when it has).
/// While `partitioned` is set, every document write fails, as for a
/// worker cut off from the store (its heartbeats cannot renew its lease).
#[derive(Debug)]
struct FaultyStore {
    inner: handoff_store::MemoryStore,
    budget: Mutex<usize>,
    race_failure: Mutex<bool>,
    partitioned: std::sync::atomic::AtomicBool,
}

impl FaultyStore {
    fn failing_after(budget: usize) -> Self {
        Self {
            inner: handoff_store::MemoryStore::new(),
            budget: Mutex::new(budget),
            race_failure: Mutex::new(false),
            partitioned: false.into(),
        }
    }

    fn racing_failures() -> Self {
        Self {
            race_failure: Mutex::new(true),
            ..Self::failing_after(usize::MAX)
        }
    }

    fn partition(&self, on: bool) {
        self.partitioned
            .store(on, std::sync::atomic::Ordering::SeqCst);
    }
}

#[async_trait]
impl BlobStore for FaultyStore {
    async fn put(&self, data: Bytes) -> handoff_store::Result<Put> {
        {
            let mut budget = self.budget.lock().unwrap();
            if *budget == 0 {
                return Err(handoff_store::Error::InvalidLocation {
                    location: "failing".into(),
                    reason: "disk full".into(),
                });
            }
            *budget -= 1;
        }
        self.inner.put(data).await
    }
    async fn get(&self, digest: &Digest) -> handoff_store::Result<Bytes> {
        self.inner.get(digest).await
    }
    async fn has(&self, digest: &Digest) -> handoff_store::Result<bool> {
        self.inner.has(digest).await
    }
    fn describe(&self) -> String {
        "faulty store".into()
    }
}

#[async_trait]
impl DocumentStore for FaultyStore {
    async fn put_version(
        &self,
        key: &DocKey,
        expected: Option<Version>,
        data: Bytes,
    ) -> handoff_store::Result<Version> {
        if self.partitioned.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(handoff_store::Error::InvalidLocation {
                location: "faulty".into(),
                reason: "network partition".into(),
            });
        }
        let failing = serde_json::from_slice::<serde_json::Value>(&data)
            .is_ok_and(|doc| doc["state"] == "failed");
        let race = failing && std::mem::replace(&mut *self.race_failure.lock().unwrap(), false);
        if race && let Some(latest) = self.inner.get_latest(key).await? {
            // Another reader rewrites the record it read, unchanged.
            self.inner
                .put_version(key, Some(latest.version), latest.data)
                .await?;
        }
        self.inner.put_version(key, expected, data).await
    }
    async fn get_latest(&self, key: &DocKey) -> handoff_store::Result<Option<Versioned>> {
        self.inner.get_latest(key).await
    }
    async fn list(&self, prefix: &str) -> handoff_store::Result<Vec<DocKey>> {
        DocumentStore::list(&self.inner, prefix).await
    }
    fn describe(&self) -> String {
        "faulty store".into()
    }
}

/// A worker cut off from the store while its agent works loses its lease;
/// the session is reaped, a follow-up is queued and run by another worker.
/// When the first worker comes back its outcome is discarded: it never
/// lands on the follow-up, whose outcome is its own.
#[test]
fn a_late_worker_never_ends_someone_elses_session() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let s = rt.block_on(setup());
    let store = Arc::new(FaultyStore::failing_after(usize::MAX));
    let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let partition = store.clone();
    let late = ScriptedHarness::new("late", move |turn: &Turn<'_>| {
        std::fs::write(turn.workdir.join("late.txt"), "from the late worker\n").unwrap();
        // Cut off from the store from now on, then wait to be released.
        partition.partition(true);
        started_tx.send(()).unwrap();
        release_rx.lock().unwrap().recv().unwrap();
        Ok("late answer".into())
    })
    .as_kind(HarnessKind::from_static("warp"));
    let pushed = rt.block_on(push(&*store, push_request(&s, &late))).unwrap();
    let run = pushed.run;

    let envs = s.envs.path().to_owned();
    let late_store = store.clone();
    let late_worker = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let options = WorkerOptions {
            name: "late-worker".into(),
            // Expired as soon as it is written.
            lease: std::time::Duration::from_nanos(1),
            ..WorkerOptions::default()
        };
        rt.block_on(run_session(
            &*late_store,
            run,
            &late,
            &LocalEnvironment::new(envs),
            &options,
        ))
    });
    started_rx.recv().unwrap();

    // Meanwhile, on the store: the stale session is reaped by the
    // follow-up, and another worker runs the follow-up.
    let (agent, seen) = recording_agent(HarnessKind::from_static("warp"));
    let other: &handoff_store::MemoryStore = &store.inner;
    let session = rt
        .block_on(follow_up(other, run, &agent, "carry on".into()))
        .unwrap();
    let options = WorkerOptions {
        name: "other-worker".into(),
        ..WorkerOptions::default()
    };
    let ran = rt
        .block_on(run_session(
            other,
            run,
            &agent,
            &LocalEnvironment::new(s.envs.path()),
            &options,
        ))
        .unwrap()
        .unwrap();
    assert_eq!(seen.lock().unwrap()[0].prompt, "carry on");

    // The late worker comes back.
    store.partition(false);
    release_tx.send(()).unwrap();
    let err = late_worker.join().unwrap().unwrap_err();
    assert!(matches!(err, Error::LeaseLost { .. }), "{err}");
    assert!(err.to_string().contains("discarded"), "{err}");

    let record = rt.block_on(RunStore::new(other).get(run)).unwrap().record;
    assert_eq!(
        record, ran.record,
        "nothing was written after the follow-up"
    );
    let (first, second) = (&record.sessions[0], &record.sessions[1]);
    assert_eq!(first.state, RunState::Failed);
    assert!(first.failure.as_deref().unwrap().contains("lease expired"));
    assert_eq!(second.id, session.id);
    assert_eq!(second.state, RunState::Ended);
    assert_eq!(second.worker.as_deref(), Some("other-worker"));
    assert_eq!(record.state, RunState::Ended);
    assert_eq!(record.conversation_head, second.conversation_at_end);
}

#[tokio::test]
async fn a_store_failing_mid_upload_leaves_no_run() {
    let s = setup().await;
    let (agent, _) = recording_agent(HarnessKind::from_static("warp"));
    for budget in [0, 1, 3, 5] {
        let store = FaultyStore::failing_after(budget);
        let err = push(&store, push_request(&s, &agent)).await.unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
        let runs: &dyn Store = &store;
        assert!(
            RunStore::new(runs).list().await.unwrap().is_empty(),
            "no run record after a failed push"
        );
    }
}

#[tokio::test]
async fn a_workspace_of_several_repositories_travels_together() {
    let workspace = tempfile::tempdir().unwrap();
    let mut repos = Vec::new();
    for name in ["api", "web"] {
        let repo = GitRepo::init();
        repo.write("main.txt", format!("{name} base\n"));
        repo.commit_all("base");
        let dest = workspace.path().join(name);
        handoff_dev::git_command(workspace.path())
            .args(["clone", "-q"])
            .arg(repo.path())
            .arg(&dest)
            .status()
            .unwrap();
        std::fs::write(dest.join("main.txt"), format!("{name} changed\n")).unwrap();
        std::fs::write(dest.join("untracked.txt"), format!("{name} new\n")).unwrap();
        repos.push(repo);
    }
    let store_dir = tempfile::tempdir().unwrap();
    let store = FsStore::new(store_dir.path());
    let (agent, seen) = recording_agent(HarnessKind::from_static("warp"));
    let conversation = Conversation::new("two repos", "warp");
    let local_store = handoff_store::MemoryStore::new();
    let pushed = push(
        &store,
        Push {
            workspace: workspace.path(),
            conversation: &conversation,
            harness: &agent,
            attachments_from: &local_store,
            prompt: Some("sync them".into()),
            agent: Default::default(),
            snapshot: SnapshotOptions::default(),
            allow_secrets: false,
            variants: 1,
        },
    )
    .await
    .unwrap();
    let names: Vec<&str> = pushed
        .record
        .repositories
        .iter()
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(names, vec!["api", "web"]);
    let envs = tempfile::tempdir().unwrap();
    run_session(
        &store,
        pushed.run,
        &agent,
        &LocalEnvironment::new(envs.path()),
        &WorkerOptions::default(),
    )
    .await
    .unwrap()
    .unwrap();
    let seen = seen.lock().unwrap();
    for name in ["api", "web"] {
        assert_eq!(
            seen[0].tree[&format!("{name}/main.txt")].1,
            format!("{name} changed\n").into_bytes()
        );
        assert_eq!(
            seen[0].tree[&format!("{name}/untracked.txt")].1,
            format!("{name} new\n").into_bytes()
        );
    }
}

#[tokio::test]
async fn a_failure_is_recorded_even_when_another_writer_races_it() {
    let s = setup().await;
    let store = FaultyStore::racing_failures();
    let (warp, _) = recording_agent(HarnessKind::from_static("warp"));
    let failing = failing_agent("the sandbox ran out of memory");
    let pushed = push(&store, push_request(&s, &warp)).await.unwrap();
    let env = LocalEnvironment::new(s.envs.path());
    run_session(
        &store,
        pushed.run,
        &failing,
        &env,
        &WorkerOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(!*store.race_failure.lock().unwrap(), "the race was staged");
    let record = RunStore::new(&store).get(pushed.run).await.unwrap().record;
    assert_eq!(record.state, RunState::Failed);
    let session = record.last_session().unwrap();
    assert_eq!(session.state, RunState::Failed);
    assert!(
        session
            .failure
            .as_deref()
            .is_some_and(|f| f.contains("out of memory")),
        "{session:?}"
    );
}

/// One worker pass over a store: queued sessions run with the harness the
/// resolver picks, a run whose harness this worker lacks stays queued, a
/// running session whose worker vanished is reaped, and a second pass finds
/// nothing to do.
#[tokio::test]
async fn a_worker_pass_runs_queued_sessions_and_reaps_stale_ones() {
    let s = setup().await;
    let store = FsStore::new(s.store_dir.path());
    let (warp, seen) = recording_agent(HarnessKind::from_static("warp"));
    let first = push(&store, push_request(&s, &warp)).await.unwrap();
    let second = push(&store, push_request(&s, &warp)).await.unwrap();
    let elsewhere = push(&store, push_request(&s, &warp)).await.unwrap();
    let stale = push(&store, push_request(&s, &warp)).await.unwrap();
    // The stale run's worker claimed it and then disappeared.
    let runs = RunStore::new(&store);
    let mut loaded = runs.get(stale.run).await.unwrap();
    loaded.record.state = RunState::Running;
    let session = loaded.record.last_session_mut().unwrap();
    session.state = RunState::Running;
    session.worker = Some("gone".into());
    session.lease_until = Some(chrono::Utc::now() - chrono::Duration::seconds(5));
    runs.update(loaded.version, &mut loaded.record)
        .await
        .unwrap();

    let warp = Arc::new(warp);
    let harness_for = |record: &RunRecord| -> Result<Arc<dyn handoff_harness::Harness>, String> {
        if record.id == elsewhere.run {
            Err("no such agent on this worker".to_owned())
        } else {
            Ok(warp.clone())
        }
    };
    let env = LocalEnvironment::new(s.envs.path());
    let mut events = Vec::new();
    let ran = handoff_engine::work_pass(
        &store,
        &harness_for,
        &env,
        &WorkerOptions::default(),
        &mut |event| events.push(event),
    )
    .await
    .unwrap();
    assert_eq!(ran, 2);
    assert_eq!(seen.lock().unwrap().len(), 2, "two turns ran");
    let mut ended = Vec::new();
    let (mut no_harness, mut reaped) = (Vec::new(), Vec::new());
    for event in events {
        match event {
            handoff_engine::WorkEvent::Ran(done) => ended.push(done.record.id),
            handoff_engine::WorkEvent::NoHarness { run, reason } => {
                assert!(reason.contains("no such agent"), "{reason}");
                no_harness.push(run);
            }
            handoff_engine::WorkEvent::Reaped(run) => reaped.push(run),
            other => panic!("unexpected {other:?}"),
        }
    }
    ended.sort();
    let mut expected = vec![first.run, second.run];
    expected.sort();
    assert_eq!(ended, expected);
    assert_eq!(no_harness, vec![elsewhere.run]);
    assert_eq!(reaped, vec![stale.run]);
    let state = |run| {
        let runs = RunStore::new(&store);
        async move { runs.get(run).await.unwrap().record.state }
    };
    assert_eq!(state(first.run).await, RunState::Ended);
    assert_eq!(state(second.run).await, RunState::Ended);
    assert_eq!(state(elsewhere.run).await, RunState::Queued);
    assert_eq!(state(stale.run).await, RunState::Failed);

    let mut again = Vec::new();
    let ran = handoff_engine::work_pass(
        &store,
        &|_: &RunRecord| Err("nothing runs now".to_owned()),
        &env,
        &WorkerOptions::default(),
        &mut |event| again.push(format!("{event:?}")),
    )
    .await
    .unwrap();
    assert_eq!(ran, 0);
    assert_eq!(again.len(), 1, "only the run without a harness: {again:?}");
}
