//! Request budgets on an object store, counted where a server would count
//! them (`handoff_store::counting::Requests`, a wrapper around the
//! `object_store` backend: every HEAD, GET — one per range —, PUT, LIST
//! page and DELETE):
//!
//! - a snapshot of the workspace bench repository ≤ 8 requests, the same
//!   snapshot again ≤ 3, applying it ≤ 8;
//! - a push of a run with a conversation and an attachment ≤ 12;
//! - a worker poll of a store holding 10,000 runs, 3 of them queued, ≤ 10.
//!
//! Each step uses a new store handle, as a new `handoff` process would (a
//! handle caches what it learnt of the store's indexes). The budgets are
//! checked against `object_store`'s in-memory backend and, when the
//! S3-compatible test server is there (`.ci/test` installs it), against
//! it too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;

use handoff_conversation::{AttachmentLimits, Conversation, Message, Part, Role, attach_bytes};
use handoff_dev::GitRepo;
use handoff_dev::s3::MotoServer;
use handoff_dev::workload::{Shape, build};
use handoff_engine::{
    LocalEnvironment, Push, RepoSnapshot, RunRecord, RunState, RunStore, Session, WorkEvent,
    WorkerOptions, poll, push, work_pass,
};
use handoff_harness::ScriptedHarness;
use handoff_store::counting::Requests;
use handoff_store::object_store::{ObjectStore, memory::InMemory};
use handoff_store::{Bytes, Digest, MemoryStore, ObjectStoreBackend};
use handoff_workspace::{ApplyOptions, SnapshotOptions, apply, snapshot};

/// A new handle on the store behind `requests` (a new process, to the
/// store), counting from zero.
fn handle(requests: &Requests) -> ObjectStoreBackend {
    requests.reset();
    ObjectStoreBackend::new(Arc::new(requests.clone()), "budget", "counted store")
}

fn within(what: &str, requests: &Requests, budget: u64) {
    let counts = requests.counts();
    println!("{what}: {counts}");
    assert!(
        counts.total() <= budget,
        "{what}: {counts}, more than the budget of {budget}"
    );
}

/// Snapshot, the same snapshot again, and apply of the bench repository.
async fn workspace_budgets(inner: Arc<dyn ObjectStore>, repo: &GitRepo, origin: &GitRepo) {
    let requests = Requests::new(inner);
    let shape = Shape::new(Shape::FULL);

    let store = handle(&requests);
    let snap = snapshot(repo.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();
    assert_eq!(snap.manifest.entries.len(), shape.entries());
    within("snapshot of the bench repository", &requests, 8);

    let store = handle(&requests);
    let again = snapshot(repo.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();
    assert_eq!((again.id, again.new_bytes), (snap.id, 0));
    within("the same snapshot again", &requests, 3);

    let target = GitRepo::clone_from(origin);
    let store = handle(&requests);
    let report = apply(target.path(), &store, &snap.id, &ApplyOptions::default())
        .await
        .unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.applied.len(), shape.entries());
    within("apply of it", &requests, 8);
    let mut expected = repo.tree_state();
    expected.retain(|path, _| !path.starts_with("ignored/"));
    handoff_dev::assert_same_tree(&target.tree_state(), &expected);
}

/// A push of the bench repository with a conversation and an attachment,
/// into an empty store.
async fn push_budget(inner: Arc<dyn ObjectStore>, repo: &GitRepo) {
    let requests = Requests::new(inner);
    let local = MemoryStore::new();
    let mut conversation = Conversation::new("budget", "scripted");
    conversation.push(Message::text(Role::User, "finish it"));
    let shot = attach_bytes(
        &local,
        "shot.png",
        Bytes::from(b"\x89PNG\r\n\x1a\n a screenshot".repeat(1000)),
        &AttachmentLimits::default(),
    )
    .await
    .unwrap();
    conversation.push(Message::new(
        Role::User,
        vec![Part::Attachment(shot.clone())],
    ));
    let harness = ScriptedHarness::echo("scripted");
    let store = handle(&requests);
    let pushed = push(
        &store,
        Push {
            workspace: repo.path(),
            conversation: &conversation,
            harness: &harness,
            attachments_from: &local,
            prompt: Some("now the docs".into()),
            agent: Default::default(),
            snapshot: SnapshotOptions::default(),
            allow_secrets: true,
            variants: 1,
        },
    )
    .await
    .unwrap();
    within(
        "push of a run with a conversation and an attachment",
        &requests,
        12,
    );
    // Everything it names is there, read through a new handle.
    let store = handle(&requests);
    let record = RunStore::new(&store).get(pushed.run).await.unwrap().record;
    assert_eq!(record.sessions[0].attachments, vec![shot.digest]);
    let start = record.sessions[0].start[0].snapshot;
    handoff_workspace::load_manifest(&store, &start)
        .await
        .unwrap();
    handoff_store::BlobStore::get(&store, &shot.digest)
        .await
        .unwrap();
}

fn ended_run(i: usize) -> RunRecord {
    let mut session = Session::queued(
        Some(format!("run {i}")),
        vec![RepoSnapshot::new(
            ".",
            Digest::of(format!("end {i}").as_bytes()),
        )],
    );
    session.state = RunState::Ended;
    let mut record = RunRecord::new(
        handoff_conversation::ConversationId::new(),
        "scripted",
        Vec::new(),
        session,
    );
    record.state = RunState::Ended;
    record
}

/// A poll of a store with `runs` runs, 3 of them queued.
async fn poll_budget(inner: Arc<dyn ObjectStore>, runs: usize) {
    use futures_util::stream::{self, StreamExt};
    let requests = Requests::new(inner);
    let store = handle(&requests);
    let records = RunStore::new(&store);
    stream::iter(0..runs)
        .for_each_concurrent(64, |i| {
            let record = ended_run(i);
            async move {
                records.create(&record).await.unwrap();
            }
        })
        .await;
    let mut queued = Vec::new();
    for i in 0..3 {
        let record = RunRecord::new(
            handoff_conversation::ConversationId::new(),
            "a harness this worker lacks",
            Vec::new(),
            Session::queued(Some(format!("queued {i}")), Vec::new()),
        );
        records.create(&record).await.unwrap();
        queued.push(record.id);
    }

    let store = handle(&requests);
    let polled = poll(&store).await.unwrap();
    let mut found: Vec<_> = polled.iter().map(|p| p.run).collect();
    found.sort();
    queued.sort();
    assert_eq!(found, queued);
    within(
        &format!("a poll of {} runs, 3 queued", runs + 3),
        &requests,
        10,
    );

    // The whole worker pass, finding only work it cannot take.
    let store = handle(&requests);
    let harness_for = |record: &RunRecord| -> Result<Arc<dyn handoff_harness::Harness>, String> {
        Err(format!("no {} here", record.harness))
    };
    let envs = tempfile::tempdir().unwrap();
    let mut skipped = 0;
    let ran = work_pass(
        &store,
        &harness_for,
        &LocalEnvironment::new(envs.path()),
        &WorkerOptions::default(),
        &mut |event| {
            if matches!(event, WorkEvent::NoHarness { .. }) {
                skipped += 1;
            }
        },
    )
    .await
    .unwrap();
    assert_eq!((ran, skipped), (0, 3));
    within(
        &format!("a worker pass over {} runs, 3 queued", runs + 3),
        &requests,
        10,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_budgets_on_an_object_store() {
    let shape = Shape::new(Shape::FULL);
    let (origin, repo) = build(&shape);
    workspace_budgets(Arc::new(InMemory::new()), &repo, &origin).await;
    push_budget(Arc::new(InMemory::new()), &repo).await;
    poll_budget(Arc::new(InMemory::new()), 10_000).await;

    let Some(server) = MotoServer::start() else {
        return;
    };
    ObjectStoreBackend::install_tls_provider();
    let s3 = |bucket: &str| -> Arc<dyn ObjectStore> {
        server.create_bucket(bucket);
        Arc::new(
            handoff_store::object_store::aws::AmazonS3Builder::new()
                .with_endpoint(server.endpoint())
                .with_allow_http(true)
                .with_bucket_name(bucket)
                .with_region("us-east-1")
                .with_access_key_id("test")
                .with_secret_access_key("test")
                .build()
                .unwrap(),
        )
    };
    workspace_budgets(s3("budget-workspace"), &repo, &origin).await;
    push_budget(s3("budget-push"), &repo).await;
    poll_budget(s3("budget-poll"), 10_000).await;
}
