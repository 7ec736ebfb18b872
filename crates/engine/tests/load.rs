//! Load: 8 concurrent clients push, follow up (racing on shared runs) and
//! continue locally against one store — the filesystem store, and an
//! S3-compatible server on loopback — bounded in count and time. No session
//! is lost, no run has two winners, no object is corrupted. Prints the
//! operations done and the conflicts seen.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use handoff_conversation::{Conversation, Message, Role};
use handoff_dev::GitRepo;
use handoff_engine::{
    Error, LocalEnvironment, Push, RunId, RunStore, WorkerOptions, continue_locally, follow_up,
    push, run_session,
};
use handoff_harness::ScriptedHarness;
use handoff_store::{MemoryStore, Store};

const CLIENTS: usize = 8;
const ROUNDS: usize = 3;

#[derive(Default)]
struct Counts {
    pushes: AtomicUsize,
    sessions: AtomicUsize,
    follow_ups: AtomicUsize,
    conflicts: AtomicUsize,
    busy: AtomicUsize,
    local: AtomicUsize,
}

async fn load(store: Arc<dyn Store>, label: &str) {
    let source = GitRepo::init();
    source.write("a.txt", "base\n");
    source.commit_all("base");
    source.write("a.txt", "changed\n");
    source.write("new.txt", "new\n");
    let agent = Arc::new(ScriptedHarness::echo("load"));
    let counts = Arc::new(Counts::default());
    let envs = tempfile::tempdir().unwrap();
    let started = Instant::now();

    // Shared runs that every client races to follow up.
    let mut conversation = Conversation::new("load", "load");
    conversation.push(Message::text(Role::User, "go"));
    let attachments = MemoryStore::new();
    let mut shared: Vec<RunId> = Vec::new();
    for _ in 0..2 {
        let pushed = push(
            &*store,
            Push {
                workspace: source.path(),
                conversation: &conversation,
                harness: &*agent,
                attachments_from: &attachments,
                prompt: Some("start".into()),
                agent: Default::default(),
                snapshot: Default::default(),
                allow_secrets: false,
                variants: 1,
            },
        )
        .await
        .unwrap();
        run_session(
            &*store,
            pushed.run,
            &*agent,
            &LocalEnvironment::new(envs.path()),
            &WorkerOptions::default(),
        )
        .await
        .unwrap();
        shared.push(pushed.run);
    }

    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let (store, agent, counts) = (store.clone(), agent.clone(), counts.clone());
        let (shared, conversation) = (shared.clone(), conversation.clone());
        let source_path = source.path().to_owned();
        let envs = envs.path().join(format!("client-{client}"));
        tasks.push(tokio::spawn(async move {
            let local = tempfile::tempdir().unwrap();
            handoff_dev::git_command(local.path())
                .args(["clone", "-q"])
                .arg(&source_path)
                .arg(".")
                .status()
                .unwrap();
            let attachments = MemoryStore::new();
            let env = LocalEnvironment::new(&envs);
            for round in 0..ROUNDS {
                // push + run its session
                let pushed = push(
                    &*store,
                    Push {
                        workspace: &source_path,
                        conversation: &conversation,
                        harness: &*agent,
                        attachments_from: &attachments,
                        prompt: Some(format!("client {client} round {round}")),
                        agent: Default::default(),
                        snapshot: Default::default(),
                        allow_secrets: false,
                        variants: 1,
                    },
                )
                .await
                .unwrap();
                counts.pushes.fetch_add(1, Ordering::Relaxed);
                if run_session(
                    &*store,
                    pushed.run,
                    &*agent,
                    &env,
                    &WorkerOptions::default(),
                )
                .await
                .unwrap()
                .is_some()
                {
                    counts.sessions.fetch_add(1, Ordering::Relaxed);
                }
                // race on a shared run
                let target = shared[(client + round) % shared.len()];
                match follow_up(
                    &*store,
                    target,
                    &*agent,
                    format!("client {client} round {round}"),
                )
                .await
                {
                    Ok(_) => {
                        counts.follow_ups.fetch_add(1, Ordering::Relaxed);
                        if run_session(&*store, target, &*agent, &env, &WorkerOptions::default())
                            .await
                            .unwrap()
                            .is_some()
                        {
                            counts.sessions.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(Error::Conflict { .. }) => {
                        counts.conflicts.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(Error::RunBusy { .. }) => {
                        counts.busy.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(other) => panic!("client {client}: {other}"),
                }
                // continue locally into the client's own clone
                continue_locally(
                    &*store,
                    pushed.run,
                    &*agent,
                    local.path(),
                    &Default::default(),
                )
                .await
                .unwrap();
                counts.local.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let bounded = tokio::time::timeout(Duration::from_secs(300), async {
        for task in tasks {
            task.await.unwrap();
        }
    })
    .await;
    assert!(
        bounded.is_ok(),
        "{label}: the load did not finish within 300 s"
    );

    // Every successful follow-up is exactly one session; none was lost.
    let runs = RunStore::new(&*store);
    let mut shared_sessions = 0;
    for run in &shared {
        let record = runs.get(*run).await.unwrap().record;
        shared_sessions += record.sessions.len() - 1;
        assert!(
            record
                .sessions
                .iter()
                .all(|s| s.state == handoff_engine::RunState::Ended),
            "{label}: a session was left unfinished"
        );
    }
    let follow_ups = counts.follow_ups.load(Ordering::Relaxed);
    assert_eq!(
        shared_sessions, follow_ups,
        "{label}: sessions on shared runs = successful follow-ups"
    );
    assert_eq!(runs.list().await.unwrap().len(), 2 + CLIENTS * ROUNDS);
    let report = handoff_engine::fsck::fsck(&*store, false).await.unwrap();
    assert!(report.problems.is_empty(), "{label}: {:?}", report.problems);
    eprintln!(
        "load on {label}: {} pushes, {} sessions, {} follow-ups won, {} conflicts, {} refused as busy, {} continue-locally, {} blobs verified, in {:?}",
        counts.pushes.load(Ordering::Relaxed),
        counts.sessions.load(Ordering::Relaxed),
        follow_ups,
        counts.conflicts.load(Ordering::Relaxed),
        counts.busy.load(Ordering::Relaxed),
        counts.local.load(Ordering::Relaxed),
        report.blobs,
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_clients_on_one_filesystem_store() {
    let dir = tempfile::tempdir().unwrap();
    load(
        Arc::new(handoff_store::FsStore::new(dir.path()).with_sync(false)),
        "filesystem store",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_clients_on_an_s3_compatible_server() {
    let Some(server) = handoff_dev::s3::MotoServer::start() else {
        return;
    };
    server.create_bucket("handoff-load");
    handoff_store::ObjectStoreBackend::install_tls_provider();
    let s3 = handoff_store::object_store::aws::AmazonS3Builder::new()
        .with_endpoint(server.endpoint())
        .with_allow_http(true)
        .with_bucket_name("handoff-load")
        .with_region("us-east-1")
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .build()
        .unwrap();
    let store =
        handoff_store::ObjectStoreBackend::new(Arc::new(s3), "load", "s3://handoff-load/load");
    load(Arc::new(store), "S3-compatible server").await;
}
