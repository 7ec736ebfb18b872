//! Live runs end to end on real git repositories, the embedded store and a
//! scripted slow agent (the command harness): a watcher sees messages
//! before the turn ends, steers reach the next turn of the same session,
//! an interrupt cuts the turn short, a cancel stops the agent and keeps its
//! partial edits, and a worker that dies costs at most one checkpoint.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use handoff_conversation::{Conversation, Message, Role};
use handoff_dev::GitRepo;
use handoff_engine::{
    CancelOutcome, Error, FollowUpOptions, LiveOptions, LocalEnvironment, Push, RunId, RunState,
    RunStore, Steered, Watch, WatchEvent, WatchOptions, WorkerOptions, cancel, diff_view, push,
    run_session, steer,
};
use handoff_harness::CommandHarness;
use handoff_store::{MemoryStore, Store};
use handoff_workspace::SnapshotOptions;
use handoff_workspace::diff::DisplayLimits;

/// A command agent: the prompt is the last line of its input; `body` runs
/// with it in `$p`, in the workspace.
fn agent(dir: &Path, body: &str) -> CommandHarness {
    let path = dir.join("agent.sh");
    std::fs::write(
        &path,
        format!("#!/bin/sh\np=$(tail -n 1)\necho \"$p\" >> prompts.log\n{body}\n"),
    )
    .unwrap();
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&path, perms).unwrap();
    CommandHarness::new(&path, vec![])
}

struct Setup {
    local: GitRepo,
    bin: tempfile::TempDir,
    envs: tempfile::TempDir,
    store: MemoryStore,
}

impl Setup {
    fn new() -> Self {
        let local = GitRepo::init();
        local.write("README.md", "# readme\n");
        local.commit_all("base");
        Self {
            local,
            bin: tempfile::tempdir().unwrap(),
            envs: tempfile::tempdir().unwrap(),
            store: MemoryStore::new(),
        }
    }

    async fn push(&self, harness: &CommandHarness, prompt: &str) -> RunId {
        let conversation = Conversation::new("live", "command");
        let pushed = push(
            &self.store,
            Push {
                workspace: self.local.path(),
                conversation: &conversation,
                harness,
                attachments_from: &self.store,
                prompt: Some(prompt.into()),
                agent: Default::default(),
                snapshot: SnapshotOptions::default(),
                allow_secrets: false,
                variants: 1,
            },
        )
        .await
        .unwrap();
        pushed.run
    }

    fn env(&self) -> LocalEnvironment {
        LocalEnvironment::new(self.envs.path())
    }

    fn workdir(&self, run: RunId) -> PathBuf {
        std::fs::read_dir(self.envs.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().contains(&run.to_string()))
            .unwrap()
    }
}

fn quick(lease: Duration) -> WorkerOptions {
    WorkerOptions {
        lease,
        live: LiveOptions::default()
            .with_segment_every(Duration::from_millis(100))
            .with_checkpoint_every(Duration::from_millis(300)),
        ..WorkerOptions::default()
    }
}

fn watch(store: &dyn Store, run: RunId) -> Watch<'_> {
    Watch::new(
        store,
        run,
        WatchOptions::default().with_every(Duration::from_millis(50)),
    )
}

fn said(event: &WatchEvent) -> Option<(u32, String)> {
    match event {
        WatchEvent::Message { turn, message, .. } if message.role == Role::Assistant => {
            Some((*turn, message.plain_text()))
        }
        _ => None,
    }
}

async fn until(
    watch: &mut Watch<'_>,
    seen: &mut Vec<WatchEvent>,
    want: impl Fn(&WatchEvent) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "never seen: {seen:#?}");
        let event = tokio::time::timeout(Duration::from_secs(30), watch.next())
            .await
            .expect("the watch stalled")
            .unwrap()
            .expect("the watch ended first");
        let hit = want(&event);
        seen.push(event);
        if hit {
            return;
        }
    }
}

async fn rest(watch: &mut Watch<'_>, seen: &mut Vec<WatchEvent>) {
    while let Some(event) = tokio::time::timeout(Duration::from_secs(60), watch.next())
        .await
        .expect("the watch stalled")
        .unwrap()
    {
        seen.push(event);
    }
}

fn diff_text(view: &handoff_engine::DiffView) -> String {
    format!("{view:?}")
}

#[tokio::test]
async fn a_watcher_sees_the_turn_as_it_goes_and_a_steer_is_the_next_turn() {
    let s = Setup::new();
    let harness = agent(
        s.bin.path(),
        r#"echo "start $p"; sleep 1; echo "$p" >> work.txt; echo "end $p""#,
    );
    let run = s.push(&harness, "first").await;
    let env = s.env();
    let options = quick(Duration::from_secs(60));
    let worker = run_session(&s.store, run, &harness, &env, &options);
    let mut w = watch(&s.store, run);
    let mut seen = Vec::new();
    let device = async {
        until(&mut w, &mut seen, |e| {
            said(e).is_some_and(|(_, t)| t == "start first")
        })
        .await;
        let record = RunStore::new(&s.store).get(run).await.unwrap().record;
        assert_eq!(
            record.state,
            RunState::Running,
            "seen before the turn ended"
        );
        let steered = steer(
            &s.store,
            run,
            "second",
            false,
            "phone",
            &harness,
            &FollowUpOptions::default(),
        )
        .await
        .unwrap();
        assert!(
            matches!(steered, Steered::Queued { position: 0, .. }),
            "{steered:?}"
        );
        rest(&mut w, &mut seen).await;
    };
    let (ran, ()) = tokio::join!(worker, device);
    let ran = ran.unwrap().unwrap();
    assert_eq!(ran.record.state, RunState::Ended);
    let heard: Vec<_> = seen.iter().filter_map(said).collect();
    assert!(heard.contains(&(2, "start second".into())), "{heard:?}");
    assert!(matches!(
        seen.first(),
        Some(WatchEvent::Conversation { .. })
    ));
    assert!(matches!(
        seen.last(),
        Some(WatchEvent::Over {
            state: RunState::Ended,
            ..
        })
    ));
    assert!(
        seen.iter()
            .any(|e| matches!(e, WatchEvent::Checkpoint { .. }))
    );

    // The same session ran both turns, in the same workspace.
    let session = ran.record.last_session().unwrap();
    assert_eq!(ran.record.sessions.len(), 1);
    assert_eq!(session.delivered.len(), 1);
    let workdir = s.workdir(run);
    let work = std::fs::read_to_string(find(&workdir, "work.txt")).unwrap();
    assert_eq!(work, "first\nsecond\n");
    // The conversation is what the harness returned, turn after turn.
    let conversation =
        handoff_engine::conversations::load(&s.store, &ran.record.conversation_head.unwrap())
            .await
            .unwrap();
    let texts: Vec<_> = conversation
        .messages
        .iter()
        .map(|m| (m.role, m.plain_text()))
        .collect();
    assert_eq!(
        texts,
        [
            (Role::User, "first".into()),
            (Role::Assistant, "start first\nend first".into()),
            (Role::User, "second".into()),
            (Role::Assistant, "start second\nend second".into()),
        ]
    );
    // The end is the workspace after the second turn.
    let view = diff_view(&s.store, &ran.record, &DisplayLimits::default()).await;
    assert!(diff_text(&view).contains("second"), "{view:?}");
}

/// The file `name` anywhere under `dir` (the environment's repository).
fn find(dir: &Path, name: &str) -> PathBuf {
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.file_name().is_some_and(|n| n == name) {
                return path;
            }
            if path.is_dir() && !path.ends_with(".git") {
                stack.push(path);
            }
        }
    }
    panic!("no {name} under {}", dir.display());
}

#[tokio::test]
async fn an_interrupt_cuts_the_turn_short_and_the_message_is_the_next_turn() {
    let s = Setup::new();
    let harness = agent(
        s.bin.path(),
        r#"case "$p" in
  slow) trap 'echo "interrupted"; exit 130' INT; echo ready; sleep 60 & wait ;;
  *) echo "got $p" ;;
esac"#,
    );
    let run = s.push(&harness, "slow").await;
    let env = s.env();
    let options = quick(Duration::from_secs(60));
    let started = Instant::now();
    let worker = run_session(&s.store, run, &harness, &env, &options);
    let mut w = watch(&s.store, run);
    let mut seen = Vec::new();
    let device = async {
        until(&mut w, &mut seen, |e| {
            said(e).is_some_and(|(_, t)| t == "ready")
        })
        .await;
        steer(
            &s.store,
            run,
            "now",
            true,
            "phone",
            &harness,
            &FollowUpOptions::default(),
        )
        .await
        .unwrap();
        rest(&mut w, &mut seen).await;
    };
    let (ran, ()) = tokio::join!(worker, device);
    let ran = ran.unwrap().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(ran.record.state, RunState::Ended);
    let heard: Vec<_> = seen.iter().filter_map(said).collect();
    assert!(heard.contains(&(1, "interrupted".into())), "{heard:?}");
    assert!(heard.contains(&(2, "got now".into())), "{heard:?}");
    let conversation =
        handoff_engine::conversations::load(&s.store, &ran.record.conversation_head.unwrap())
            .await
            .unwrap();
    let texts: Vec<_> = conversation
        .messages
        .iter()
        .map(|m| m.plain_text())
        .collect();
    assert_eq!(texts, ["slow", "ready", "interrupted", "now", "got now"]);
}

#[tokio::test]
async fn a_cancel_stops_the_agent_and_its_partial_edits_are_the_end() {
    let s = Setup::new();
    let harness = agent(
        s.bin.path(),
        r#"echo partial > partial.txt; echo ready; sleep 60 & wait; echo never"#,
    );
    let run = s.push(&harness, "work").await;
    let env = s.env();
    let options = quick(Duration::from_secs(60));
    let worker = run_session(&s.store, run, &harness, &env, &options);
    let mut w = watch(&s.store, run);
    let mut seen = Vec::new();
    let asked = std::cell::Cell::new(None);
    let device = async {
        until(&mut w, &mut seen, |e| {
            said(e).is_some_and(|(_, t)| t == "ready")
        })
        .await;
        asked.set(Some(Instant::now()));
        let outcome = cancel(&s.store, run, "laptop").await.unwrap();
        assert!(
            matches!(outcome, CancelOutcome::Asked { .. }),
            "{outcome:?}"
        );
        rest(&mut w, &mut seen).await;
    };
    let (ran, ()) = tokio::join!(worker, device);
    let ran = ran.unwrap().unwrap();
    let took = asked.get().unwrap().elapsed();
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(ran.record.state, RunState::Cancelled);
    let session = ran.record.last_session().unwrap();
    assert_eq!(session.cancelled.as_ref().unwrap().by, "laptop");
    assert!(matches!(
        seen.last(),
        Some(WatchEvent::Over { state: RunState::Cancelled, reason: Some(r), .. }) if r.contains("laptop")
    ));
    let view = diff_view(&s.store, &ran.record, &DisplayLimits::default()).await;
    assert!(diff_text(&view).contains("partial.txt"), "{view:?}");
    // A cancelled run is followed up from where it stopped.
    let again = handoff_engine::follow_up(&s.store, run, &harness, "go on".into())
        .await
        .unwrap();
    assert_eq!(again.start, session.end);
}

#[tokio::test]
async fn cancelling_a_queued_session_takes_it_out_of_the_queue() {
    let s = Setup::new();
    let harness = agent(s.bin.path(), "echo hi");
    let run = s.push(&harness, "work").await;
    let outcome = cancel(&s.store, run, "phone").await.unwrap();
    assert!(
        matches!(outcome, CancelOutcome::Dequeued { .. }),
        "{outcome:?}"
    );
    let runs = RunStore::new(&s.store);
    assert!(runs.pending().await.unwrap().is_empty());
    assert_eq!(
        runs.get(run).await.unwrap().record.state,
        RunState::Cancelled
    );
    let env = s.env();
    let ran = run_session(
        &s.store,
        run,
        &harness,
        &env,
        &quick(Duration::from_secs(60)),
    )
    .await
    .unwrap();
    assert!(ran.is_none(), "a cancelled session never runs");
    assert_eq!(
        cancel(&s.store, run, "phone").await.unwrap(),
        CancelOutcome::AlreadyOver {
            state: RunState::Cancelled
        }
    );
}

#[tokio::test]
async fn a_lost_worker_costs_at_most_one_checkpoint() {
    let s = Setup::new();
    let harness = agent(
        s.bin.path(),
        r#"echo kept > kept.txt; echo ready; sleep 60 & wait"#,
    );
    let run = s.push(&harness, "work").await;
    let env = s.env();
    let lease = Duration::from_millis(900);
    let options = quick(lease);
    {
        let worker = run_session(&s.store, run, &harness, &env, &options);
        let mut w = watch(&s.store, run);
        let mut seen = Vec::new();
        let after_checkpoint = async {
            until(&mut w, &mut seen, |e| {
                said(e).is_some_and(|(_, t)| t == "ready")
            })
            .await;
            until(&mut w, &mut seen, |e| {
                matches!(e, WatchEvent::Checkpoint { .. })
            })
            .await;
        };
        // The worker dies (its future is dropped: no more heartbeats, the
        // agent is killed) right after a checkpoint.
        tokio::select! {
            ran = worker => panic!("the session ended by itself: {ran:?}"),
            () = after_checkpoint => {}
        }
    }
    tokio::time::sleep(lease + Duration::from_millis(200)).await;
    assert!(handoff_engine::reap_if_stale(&s.store, run).await.unwrap());
    let record = RunStore::new(&s.store).get(run).await.unwrap().record;
    assert_eq!(record.state, RunState::Failed);
    let session = record.last_session().unwrap();
    assert!(session.end_checkpoint.is_some());
    assert!(
        session
            .failure
            .as_deref()
            .unwrap()
            .contains("last checkpoint"),
        "{:?}",
        session.failure
    );
    let view = diff_view(&s.store, &record, &DisplayLimits::default()).await;
    assert!(diff_text(&view).contains("kept.txt"), "{view:?}");
    // What was heard is in the conversation.
    let conversation =
        handoff_engine::conversations::load(&s.store, &record.conversation_head.unwrap())
            .await
            .unwrap();
    assert!(
        conversation
            .messages
            .iter()
            .any(|m| m.plain_text() == "ready")
    );
    // A follow-up starts from the checkpoint.
    let again = handoff_engine::follow_up(&s.store, run, &harness, "go on".into())
        .await
        .unwrap();
    assert_eq!(again.start, session.end);
}

/// Two devices steering at once: both are delivered, in the order the
/// store took them, each once.
#[tokio::test]
async fn two_devices_steering_at_once_are_both_delivered_in_order() {
    let s = Setup::new();
    let harness = agent(
        s.bin.path(),
        r#"case "$p" in first) echo ready; sleep 1.5 ;; esac; echo "did $p""#,
    );
    let run = s.push(&harness, "first").await;
    let env = s.env();
    let options = quick(Duration::from_secs(60));
    let worker = run_session(&s.store, run, &harness, &env, &options);
    let mut w = watch(&s.store, run);
    let mut seen = Vec::new();
    let devices = async {
        until(&mut w, &mut seen, |e| {
            said(e).is_some_and(|(_, t)| t == "ready")
        })
        .await;
        let follow = FollowUpOptions::default();
        let (a, b) = tokio::join!(
            steer(
                &s.store,
                run,
                "from-laptop",
                false,
                "laptop",
                &harness,
                &follow
            ),
            steer(
                &s.store,
                run,
                "from-phone",
                false,
                "phone",
                &harness,
                &follow
            ),
        );
        let position = |s: Steered| match s {
            Steered::Queued { position, .. } => position,
            other => panic!("{other:?}"),
        };
        let (a, b) = (position(a.unwrap()), position(b.unwrap()));
        rest(&mut w, &mut seen).await;
        (a, b)
    };
    let (ran, (a, b)) = tokio::join!(worker, devices);
    let ran = ran.unwrap().unwrap();
    let mut order = [("from-laptop", a), ("from-phone", b)];
    order.sort_by_key(|(_, p)| *p);
    let prompts = std::fs::read_to_string(find(&s.workdir(run), "prompts.log")).unwrap();
    assert_eq!(prompts, format!("first\n{}\n{}\n", order[0].0, order[1].0));
    assert_eq!(ran.record.last_session().unwrap().delivered.len(), 2);
}

/// A steer racing the session's last moments has one outcome or the
/// other, never none: delivered in the session, or a follow-up.
#[tokio::test]
async fn a_steer_racing_the_end_is_delivered_or_follows_up() {
    for attempt in 0..6 {
        let s = Setup::new();
        let harness = agent(s.bin.path(), r#"echo "did $p""#);
        let run = s.push(&harness, "first").await;
        let env = s.env();
        let options = quick(Duration::from_secs(60));
        let worker = run_session(&s.store, run, &harness, &env, &options);
        let device = async {
            tokio::time::sleep(Duration::from_millis(40 * attempt)).await;
            steer(
                &s.store,
                run,
                "late",
                false,
                "phone",
                &harness,
                &FollowUpOptions::default(),
            )
            .await
            .unwrap()
        };
        let (ran, steered) = tokio::join!(worker, device);
        ran.unwrap().unwrap();
        let record = RunStore::new(&s.store).get(run).await.unwrap().record;
        match steered {
            Steered::Queued { session, .. } => {
                let session = record.sessions.iter().find(|x| x.id == session).unwrap();
                assert_eq!(session.delivered.len(), 1, "attempt {attempt}");
                let prompts =
                    std::fs::read_to_string(find(&s.workdir(run), "prompts.log")).unwrap();
                assert_eq!(prompts, "first\nlate\n");
            }
            Steered::FollowedUp(session) => {
                assert_eq!(session.prompt.as_deref(), Some("late"));
                assert_eq!(record.sessions.len(), 2);
                assert_eq!(record.state, RunState::Queued);
            }
            other => panic!("{other:?}"),
        }
    }
}

/// A cancel racing the end: the session is cancelled or ended, and the
/// cancel says which.
#[tokio::test]
async fn a_cancel_racing_the_end_has_one_outcome() {
    for attempt in 0..6 {
        let s = Setup::new();
        let harness = agent(s.bin.path(), r#"echo "did $p""#);
        let run = s.push(&harness, "first").await;
        let env = s.env();
        let options = quick(Duration::from_secs(60));
        let worker = run_session(&s.store, run, &harness, &env, &options);
        let device = async {
            tokio::time::sleep(Duration::from_millis(40 * attempt)).await;
            cancel(&s.store, run, "phone").await.unwrap()
        };
        let (ran, outcome) = tokio::join!(worker, device);
        let ran = ran.unwrap();
        let record = RunStore::new(&s.store).get(run).await.unwrap().record;
        match outcome {
            CancelOutcome::Dequeued { .. } => {
                assert!(ran.is_none());
                assert_eq!(record.state, RunState::Cancelled);
            }
            CancelOutcome::Asked { .. } => assert_eq!(record.state, RunState::Cancelled),
            CancelOutcome::AlreadyOver { state } => {
                assert_eq!(state, RunState::Ended);
                assert_eq!(record.state, RunState::Ended);
            }
            other => panic!("{other:?}"),
        }
    }
}

/// A steer racing a cancel: delivered, kept as undelivered, or refused —
/// never lost.
#[tokio::test]
async fn a_steer_racing_a_cancel_is_never_lost() {
    let s = Setup::new();
    let harness = agent(
        s.bin.path(),
        r#"case "$p" in first) echo ready; sleep 30 & wait ;; *) echo "did $p" ;; esac"#,
    );
    let run = s.push(&harness, "first").await;
    let env = s.env();
    let options = quick(Duration::from_secs(60));
    let worker = run_session(&s.store, run, &harness, &env, &options);
    let mut w = watch(&s.store, run);
    let mut seen = Vec::new();
    let devices = async {
        until(&mut w, &mut seen, |e| {
            said(e).is_some_and(|(_, t)| t == "ready")
        })
        .await;
        let follow = FollowUpOptions::default();
        let (steered, cancelled) = tokio::join!(
            steer(&s.store, run, "more", false, "laptop", &harness, &follow),
            cancel(&s.store, run, "phone"),
        );
        cancelled.unwrap();
        steered
    };
    let (ran, steered) = tokio::join!(worker, devices);
    let ran = ran.unwrap().unwrap();
    assert_eq!(ran.record.state, RunState::Cancelled);
    let session = ran.record.last_session().unwrap();
    match steered {
        Ok(Steered::Queued { .. }) => {
            assert_eq!(session.undelivered.len(), 1, "{session:?}");
        }
        Err(Error::Cancelling { by, .. }) => assert_eq!(by, "phone"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn messages_are_plain() {
    // The watch's NDJSON form names each event.
    let event = WatchEvent::Message {
        session: handoff_engine::SessionId::new(),
        turn: 1,
        message: Message::text(Role::Assistant, "hi"),
    };
    let json = serde_json::to_value(&event).unwrap();
    assert_eq!(json["event"], "message");
    assert_eq!(json["turn"], 1);
}
