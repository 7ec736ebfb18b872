//! Workers at scale and garbage collection: the queue a worker reads
//! instead of every record, compaction of run-record versions, and `gc`
//! running while a push is in flight.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use handoff_conversation::{Conversation, ConversationId};
use handoff_dev::GitRepo;
use handoff_engine::gc::{GcOptions, gc};
use handoff_engine::{
    Compaction, LocalEnvironment, Push, Pushed, RepoSnapshot, RunRecord, RunState, RunStore,
    Session, WorkEvent, WorkerOptions, follow_up, push, work_pass,
};
use handoff_harness::ScriptedHarness;
use handoff_store::counting::{Method, Requests};
use handoff_store::object_store::local::LocalFileSystem;
use handoff_store::{
    BlobStore, Bytes, Counting, Digest, DocKey, DocumentStore, FsStore, MemoryStore,
    ObjectStoreBackend, Version,
};
use handoff_workspace::{ApplyOptions, SnapshotOptions, apply};

fn ended_run(i: usize) -> RunRecord {
    let mut session = Session::queued(
        Some(format!("run {i}")),
        vec![RepoSnapshot::new(
            ".",
            Digest::of(format!("end {i}").as_bytes()),
        )],
    );
    session.state = RunState::Ended;
    let mut record = RunRecord::new(ConversationId::new(), "scripted", Vec::new(), session);
    record.state = RunState::Ended;
    record
}

fn repo_with_changes() -> GitRepo {
    let repo = GitRepo::init();
    repo.write("a.txt", "a\n").write("b.txt", "b\n");
    repo.commit_all("base");
    repo.write("a.txt", "a, changed\n")
        .write("new.txt", "new file\n");
    repo
}

/// Pushes the repository at `workspace` with a new conversation titled
/// `title` (scripted harness, no attachments).
async fn push_run(
    store: &dyn handoff_store::Store,
    workspace: &std::path::Path,
    title: &str,
) -> Pushed {
    let conversation = Conversation::new(title, "scripted");
    let harness = ScriptedHarness::echo("scripted");
    let local = MemoryStore::new();
    push(
        store,
        Push {
            workspace,
            conversation: &conversation,
            harness: &harness,
            attachments_from: &local,
            prompt: Some("go".into()),
            agent: Default::default(),
            snapshot: SnapshotOptions::default(),
            allow_secrets: false,
            variants: 1,
        },
    )
    .await
    .unwrap()
}

/// What a record is created after fails: no record, and the queue entry
/// written alongside is taken out again.
#[tokio::test]
async fn a_failed_create_after_leaves_no_record_and_no_queue_entry() {
    let store = MemoryStore::new();
    let runs = RunStore::new(&store);
    let mut record = ended_run(0);
    record.state = RunState::Queued;
    record.sessions[0].state = RunState::Queued;
    let failed = runs
        .create_after(&record, async {
            Err::<(), _>(handoff_engine::Error::Internal {
                what: "the conversation could not be named".into(),
            })
        })
        .await
        .unwrap_err();
    assert!(
        failed.to_string().contains("could not be named"),
        "{failed}"
    );
    assert!(runs.pending().await.unwrap().is_empty());
    assert!(runs.get(record.id).await.is_err());

    let (version, named) = runs.create_after(&record, async { Ok(7) }).await.unwrap();
    assert_eq!((version, named), (Version(1), 7));
    assert_eq!(runs.pending().await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_queue_lists_waiting_and_running_sessions_and_nothing_else() {
    let store = MemoryStore::new();
    let runs = RunStore::new(&store);
    let repo = repo_with_changes();
    let pushed = push_run(&store, repo.path(), "queue").await;
    let harness = ScriptedHarness::echo("scripted");
    let first = pushed.record.sessions[0].id;
    let pending: Vec<_> = runs.pending().await.unwrap();
    assert_eq!(
        pending
            .iter()
            .map(|p| (p.run, p.session))
            .collect::<Vec<_>>(),
        vec![(pushed.run, first)]
    );

    // A pass runs it; ended, it leaves the queue.
    let envs = tempfile::tempdir().unwrap();
    let harness_for = |_: &RunRecord| -> Result<Arc<dyn handoff_harness::Harness>, String> {
        Ok(Arc::new(ScriptedHarness::echo("scripted")))
    };
    let mut events = Vec::new();
    let ran = work_pass(
        &store,
        &harness_for,
        &LocalEnvironment::new(envs.path()),
        &WorkerOptions::default(),
        &mut |e| events.push(matches!(e, WorkEvent::Ran(_))),
    )
    .await
    .unwrap();
    assert_eq!((ran, events), (1, vec![true]));
    assert!(runs.pending().await.unwrap().is_empty());

    // A follow-up queues again; a racing one that loses leaves nothing.
    let stale = runs.get(pushed.run).await.unwrap();
    let session = follow_up(&store, pushed.run, &harness, "more".into())
        .await
        .unwrap();
    let mut loser = stale.record.clone();
    loser
        .sessions
        .push(Session::queued(Some("lost".into()), Vec::new()));
    loser.state = RunState::Queued;
    assert!(runs.update(stale.version, &mut loser).await.is_err());
    let pending: Vec<_> = runs.pending().await.unwrap();
    assert_eq!(
        pending.iter().map(|p| p.session).collect::<Vec<_>>(),
        vec![session.id]
    );

    // A session run outside a worker pass (push --wait) leaves the queue
    // as it ends.
    handoff_engine::run_session(
        &store,
        pushed.run,
        &harness,
        &LocalEnvironment::new(envs.path()),
        &WorkerOptions::default(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(runs.pending().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_pass_reads_only_the_runs_the_queue_lists() {
    let store = Counting::new(MemoryStore::new());
    let runs = RunStore::new(&store);
    for i in 0..300 {
        runs.create(&ended_run(i)).await.unwrap();
    }
    // A store written before the queue: one queued run the queue lacks.
    let mut old = RunRecord::new(
        ConversationId::new(),
        "nowhere",
        Vec::new(),
        Session::queued(Some("old".into()), Vec::new()),
    );
    old.state = RunState::Queued;
    let docs: &dyn DocumentStore = store.inner();
    handoff_store::DocumentStoreExt::create(
        docs,
        &DocKey::new(format!("runs/{}", old.id)).unwrap(),
        Bytes::from(serde_json::to_vec(&old).unwrap()),
    )
    .await
    .unwrap();
    assert_eq!(runs.ensure_queue().await.unwrap(), 1);
    assert_eq!(runs.ensure_queue().await.unwrap(), 0, "done once");
    for i in 0..2 {
        let record = RunRecord::new(
            ConversationId::new(),
            "nowhere",
            Vec::new(),
            Session::queued(Some(format!("queued {i}")), Vec::new()),
        );
        runs.create(&record).await.unwrap();
    }

    store.reset();
    let envs = tempfile::tempdir().unwrap();
    let harness_for = |_: &RunRecord| -> Result<Arc<dyn handoff_harness::Harness>, String> {
        Err("not here".to_owned())
    };
    let mut skipped = 0;
    work_pass(
        &store,
        &harness_for,
        &LocalEnvironment::new(envs.path()),
        &WorkerOptions::default(),
        &mut |_| skipped += 1,
    )
    .await
    .unwrap();
    assert_eq!(skipped, 3);
    let counts = store.counts();
    assert_eq!(
        (counts.document_lists, counts.document_reads),
        (1, 3),
        "one listing of the queue, one read per queued run: {counts:?}"
    );
}

#[tokio::test]
async fn compaction_keeps_the_newest_the_first_and_every_state_change() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::new(dir.path()).with_sync(false);
    let runs = RunStore::new(&store);
    let mut record = RunRecord::new(
        ConversationId::new(),
        "scripted",
        Vec::new(),
        Session::queued(Some("go".into()), Vec::new()),
    );
    let mut version = runs.create(&record).await.unwrap();
    let write = |record: &mut RunRecord, version: Version| {
        let mut record = record.clone();
        async move { (runs.update(version, &mut record).await.unwrap(), record) }
    };
    // Claimed (a state change), ten lease renewals, ended (a state change),
    // three more writes that change nothing.
    record.state = RunState::Running;
    record.sessions[0].state = RunState::Running;
    (version, record) = write(&mut record, version).await;
    let claimed = version;
    for _ in 0..10 {
        record.sessions[0].lease_until = Some(chrono::Utc::now());
        (version, record) = write(&mut record, version).await;
    }
    record.state = RunState::Ended;
    record.sessions[0].state = RunState::Ended;
    (version, record) = write(&mut record, version).await;
    let ended = version;
    for _ in 0..3 {
        (version, record) = write(&mut record, version).await;
    }
    let key = DocKey::new(format!("runs/{}", record.id)).unwrap();
    let versions = |store: FsStore, key: DocKey| async move {
        store
            .versions(&key)
            .await
            .unwrap()
            .iter()
            .map(|v| v.version.0)
            .collect::<Vec<_>>()
    };
    assert_eq!(versions(store.clone(), key.clone()).await.len(), 16);

    // Too young: nothing goes.
    let policy = Compaction {
        keep_last: 4,
        min_age: Duration::from_secs(3600),
    };
    assert_eq!(
        runs.compact(record.id, &policy, SystemTime::now())
            .await
            .unwrap(),
        0
    );
    let later = SystemTime::now() + Duration::from_secs(7200);
    let removed = runs.compact(record.id, &policy, later).await.unwrap();
    assert_eq!(removed, 10);
    // The first, the claim, and the newest four (the end among them).
    assert_eq!(
        versions(store.clone(), key.clone()).await,
        vec![1, claimed.0, ended.0, 14, 15, 16]
    );
    assert_eq!(runs.get(record.id).await.unwrap().version, version);
    // A writer that read a removed version has lost its race.
    let mut stale = record.clone();
    assert!(runs.update(Version(5), &mut stale).await.is_err());
}

#[test]
fn a_heartbeat_forgets_its_own_old_renewals() {
    use handoff_engine::runner::renewals_to_forget;
    use std::collections::VecDeque;
    use std::time::Instant;
    let policy = Compaction {
        keep_last: 4,
        min_age: Duration::from_secs(60),
    };
    let long_ago = Instant::now()
        .checked_sub(Duration::from_secs(600))
        .unwrap();
    let mut renewals: VecDeque<(Version, Instant)> =
        (3..=10).map(|v| (Version(v), long_ago)).collect();
    renewals.push_back((Version(11), Instant::now()));
    let gone = renewals_to_forget(&mut renewals, Version(11), &policy);
    // Versions 3..=6 have four newer ones and an old renewal after them;
    // 7 has only four newer (8..=11)... and so on up to the keep limit.
    assert_eq!(gone, (3..=7).map(Version).collect::<Vec<_>>());
    assert_eq!(
        renewals.iter().map(|(v, _)| v.0).collect::<Vec<_>>(),
        vec![8, 9, 10, 11]
    );
    // A renewal after the oldest that is still young keeps it.
    let mut young: VecDeque<(Version, Instant)> =
        (1..=8).map(|v| (Version(v), Instant::now())).collect();
    assert!(renewals_to_forget(&mut young, Version(8), &policy).is_empty());
}

/// Sets every file under `dir` (recursively) to have been written `age` ago.
fn age_files(dir: &std::path::Path, age: Duration) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            age_files(&path, age);
        } else {
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(SystemTime::now() - age)
                .unwrap();
        }
    }
}

/// An object store on a local directory whose next index write, once
/// `armed`, waits (after notifying `paused`) until `resume`: a push held
/// between uploading its packs and writing its index.
struct Pausing {
    requests: Requests,
    armed: Arc<AtomicBool>,
    paused: Arc<tokio::sync::Notify>,
    resume: Arc<tokio::sync::Notify>,
}

impl Pausing {
    fn new(dir: &std::path::Path) -> Self {
        let armed = Arc::new(AtomicBool::new(false));
        let paused = Arc::new(tokio::sync::Notify::new());
        let resume = Arc::new(tokio::sync::Notify::new());
        let hook = {
            let (armed, paused, resume) = (armed.clone(), paused.clone(), resume.clone());
            Arc::new(move |request: handoff_store::counting::Request<'_>| {
                let pause = request.method == Method::Put
                    && request.path.as_ref().starts_with("index/")
                    && armed.swap(false, Ordering::SeqCst);
                let (paused, resume) = (paused.clone(), resume.clone());
                Box::pin(async move {
                    if pause {
                        paused.notify_one();
                        resume.notified().await;
                    }
                }) as futures_util::future::BoxFuture<'static, ()>
            })
        };
        let requests =
            Requests::new(Arc::new(LocalFileSystem::new_with_prefix(dir).unwrap())).with_hook(hook);
        Self {
            requests,
            armed,
            paused,
            resume,
        }
    }

    fn handle(&self) -> ObjectStoreBackend {
        ObjectStoreBackend::new(Arc::new(self.requests.clone()), "", "store under test")
    }
}

/// Applies `snapshot` (of [`repo_with_changes`]) to a fresh checkout of its
/// base: every entry applies.
async fn applies_cleanly(store: ObjectStoreBackend, snapshot: Digest) {
    let target = GitRepo::init();
    target.write("a.txt", "a\n").write("b.txt", "b\n");
    target.commit_all("base");
    let report = apply(target.path(), &store, &snapshot, &ApplyOptions::default())
        .await
        .unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(target.read("new.txt"), "new file\n");
}

/// gc runs while a push is between uploading its packs and writing its
/// index, and the push reuses blobs that nothing referenced (left by a push
/// that failed) and that gc condemns right then: nothing the push stored
/// is lost, then or after later collections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_while_a_push_is_in_flight_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pausing = Pausing::new(dir.path());
    let (armed, paused, resume) = (&pausing.armed, &pausing.paused, &pausing.resume);
    let handle = || pausing.handle();

    // A push that failed after uploading its blobs: nothing references
    // them, and they are two hours old.
    let repo = repo_with_changes();
    let captured = handoff_workspace::capture(repo.path(), &SnapshotOptions::default()).unwrap();
    let orphans: Vec<Bytes> = captured.contents.values().cloned().collect();
    handle().put_many(orphans.clone()).await.unwrap();
    age_files(dir.path(), Duration::from_secs(2 * 3600));

    // The push reuses them; it stops just before writing its index.
    armed.store(true, Ordering::SeqCst);
    let pusher = {
        let repo_path = repo.path().to_owned();
        let store = handle();
        tokio::spawn(async move { push_run(&store, &repo_path, "in flight").await })
    };
    tokio::time::timeout(Duration::from_secs(120), paused.notified())
        .await
        .expect("the push reached its index write");
    let options = GcOptions {
        grace: Duration::from_secs(3600),
        ..GcOptions::default()
    };
    let report = gc(&handle(), &options).await.unwrap();
    assert_eq!(
        report.store.condemned,
        orphans.len(),
        "the orphans are condemned while the push is paused: {report:?}"
    );
    resume.notify_one();
    let pushed = pusher.await.unwrap();
    let snapshot = pushed.record.sessions[0].start[0].snapshot;

    let apply_it = || applies_cleanly(handle(), snapshot);
    apply_it().await;
    // The next collection sees the push's manifest name them: restored.
    let later = GcOptions {
        now: SystemTime::now() + Duration::from_secs(2 * 3600),
        ..options
    };
    let report = gc(&handle(), &later).await.unwrap();
    assert_eq!(report.store.restored, orphans.len(), "{report:?}");
    apply_it().await;
    let much_later = GcOptions {
        now: SystemTime::now() + Duration::from_secs(5 * 3600),
        ..options
    };
    let report = gc(&handle(), &much_later).await.unwrap();
    assert_eq!(report.store.condemned, 0, "{report:?}");
    apply_it().await;
    let checked = handoff_engine::fsck::fsck(&handle(), false).await.unwrap();
    assert!(checked.problems.is_empty(), "{:?}", checked.problems);
}

#[tokio::test]
async fn gc_removes_what_nothing_references_and_keeps_the_rest() {
    let store = MemoryStore::new();
    let repo = repo_with_changes();
    let pushed = push_run(&store, repo.path(), "kept").await;
    // A standalone snapshot (someone holds its id) and garbage.
    repo.write("b.txt", "b, changed later\n");
    let standalone = handoff_workspace::snapshot(repo.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();
    let garbage = store
        .put_many(vec![Bytes::from_static(b"referenced by nothing")])
        .await
        .unwrap();
    for _ in 0..3 {
        runs_touch(&store, pushed.run).await;
    }
    let at = |hours: u64| GcOptions {
        grace: Duration::from_secs(3600),
        compaction: Compaction {
            keep_last: 1,
            min_age: Duration::from_secs(60),
        },
        now: SystemTime::now() + Duration::from_secs(hours * 3600),
        dry_run: false,
        older_than: None,
    };
    let report = gc(&store, &at(2)).await.unwrap();
    assert_eq!(report.store.condemned, 1, "{report:?}");
    assert_eq!(report.versions_removed, 2, "{report:?}");
    let report = gc(&store, &at(4)).await.unwrap();
    assert_eq!(report.store.removed_blobs, 1, "{report:?}");
    assert!(
        store
            .get(&garbage[0].digest)
            .await
            .unwrap_err()
            .is_not_found()
    );
    for id in [pushed.record.sessions[0].start[0].snapshot, standalone.id] {
        let manifest = handoff_workspace::load_manifest(&store, &id).await.unwrap();
        for digest in manifest.digests() {
            store.get(&digest).await.unwrap();
        }
    }
    let checked = handoff_engine::fsck::fsck(&store, false).await.unwrap();
    assert!(checked.problems.is_empty(), "{:?}", checked.problems);
}

/// A run record the store fails to read (an I/O error, not a damaged
/// record) stops garbage collection before anything is condemned: what
/// that record names must not go because of a passing failure.
#[tokio::test]
async fn gc_stops_when_a_run_record_cannot_be_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::new(dir.path());
    let repo = repo_with_changes();
    let pushed = push_run(&store, repo.path(), "kept").await;
    // Its record's only version becomes something no read succeeds on.
    let versions = dir.path().join(format!("docs/runs/{}", pushed.run));
    let version = std::fs::read_dir(&versions)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "v"))
        .unwrap();
    std::fs::remove_file(&version).unwrap();
    std::fs::create_dir(&version).unwrap();
    let later = GcOptions {
        grace: Duration::from_secs(3600),
        now: SystemTime::now() + Duration::from_secs(2 * 3600),
        ..GcOptions::default()
    };
    let err = gc(&store, &later).await.unwrap_err();
    assert!(matches!(err, handoff_engine::Error::Store(_)), "{err}");

    // Readable again, the record keeps everything it names.
    std::fs::remove_dir(&version).unwrap();
    let runs = RunStore::new(&store);
    runs.create(&pushed.record).await.unwrap();
    let report = gc(&store, &later).await.unwrap();
    assert_eq!(report.store.condemned, 0, "{report:?}");
    let start = pushed.record.sessions[0].start[0].snapshot;
    let manifest = handoff_workspace::load_manifest(&store, &start)
        .await
        .unwrap();
    for digest in manifest.digests() {
        store.get(&digest).await.unwrap();
    }
}

/// Writes a version of the record that changes nothing.
async fn runs_touch(store: &MemoryStore, run: handoff_engine::RunId) {
    let runs = RunStore::new(store);
    let mut loaded = runs.get(run).await.unwrap();
    runs.update(loaded.version, &mut loaded.record)
        .await
        .unwrap();
}

/// Marks run `run`'s record ended, as a worker would after its session.
async fn end_run<S: handoff_store::Store>(store: &S, run: handoff_engine::RunId) {
    let runs = RunStore::new(store);
    let mut loaded = runs.get(run).await.unwrap();
    for session in &mut loaded.record.sessions {
        session.state = RunState::Ended;
        session.ended_at = Some(chrono::Utc::now());
    }
    loaded.record.state = RunState::Ended;
    runs.update(loaded.version, &mut loaded.record)
        .await
        .unwrap();
}

/// `gc --older-than` deletes an ended run while a push of the same
/// workspace is in flight — between its packs and its index — reusing the
/// deleted run's manifest and blobs, which gc condemns right then: the push
/// loses nothing, then or after later collections; the pushed run, queued,
/// is never deleted (skipped and reported); a standalone snapshot and an
/// imported conversation, older than the cut, are kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_older_than_during_a_push_that_reuses_the_deleted_runs_data_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pausing = Pausing::new(dir.path());
    let (armed, paused, resume) = (&pausing.armed, &pausing.paused, &pausing.resume);
    let handle = || pausing.handle();

    let repo = repo_with_changes();
    let old = push_run(&handle(), repo.path(), "old").await;
    end_run(&handle(), old.run).await;
    let other = GitRepo::init();
    other.write("o.txt", "o\n");
    other.commit_all("base");
    other.write("o.txt", "o, only in a standalone snapshot\n");
    let standalone =
        handoff_workspace::snapshot(other.path(), &handle(), &SnapshotOptions::default())
            .await
            .unwrap();
    let mut imported = Conversation::new("imported", "codex");
    imported.push(handoff_conversation::Message::text(
        handoff_conversation::Role::User,
        "imported, kept",
    ));
    handoff_engine::conversations::save_named(&handle(), &imported)
        .await
        .unwrap();
    age_files(dir.path(), Duration::from_secs(2 * 3600));

    // A push of the same workspace reuses the old run's manifest and
    // blobs; it stops just before writing its index.
    armed.store(true, Ordering::SeqCst);
    let pusher = {
        let repo_path = repo.path().to_owned();
        let store = handle();
        tokio::spawn(async move { push_run(&store, &repo_path, "in flight").await })
    };
    tokio::time::timeout(Duration::from_secs(120), paused.notified())
        .await
        .expect("the push reached its index write");
    let options = GcOptions {
        grace: Duration::from_secs(3600),
        older_than: Some(Duration::ZERO),
        ..GcOptions::default()
    };
    let report = gc(&handle(), &options).await.unwrap();
    let deleted: Vec<_> = report.deleted.iter().map(|d| d.run).collect();
    assert_eq!(deleted, vec![old.run], "{report:?}");
    assert!(
        report.store.condemned > 0,
        "the old run's data is condemned: {report:?}"
    );
    resume.notify_one();
    let pushed = pusher.await.unwrap();
    let snapshot = pushed.record.sessions[0].start[0].snapshot;
    assert_eq!(
        snapshot, old.record.sessions[0].start[0].snapshot,
        "the same workspace is the same snapshot"
    );

    let apply_it = || applies_cleanly(handle(), snapshot);
    apply_it().await;
    let later = GcOptions {
        now: SystemTime::now() + Duration::from_secs(2 * 3600),
        ..options
    };
    let report = gc(&handle(), &later).await.unwrap();
    assert_eq!(
        report.skipped,
        vec![handoff_engine::Skipped {
            run: pushed.run,
            state: RunState::Queued
        }],
        "{report:?}"
    );
    assert!(report.deleted.is_empty(), "{report:?}");
    assert!(
        report.store.restored > 0,
        "what the push named comes back: {report:?}"
    );
    apply_it().await;
    let much_later = GcOptions {
        now: SystemTime::now() + Duration::from_secs(5 * 3600),
        ..options
    };
    let report = gc(&handle(), &much_later).await.unwrap();
    assert_eq!(report.store.condemned, 0, "{report:?}");
    apply_it().await;
    let kept = handoff_workspace::load_manifest(&handle(), &standalone.id)
        .await
        .unwrap();
    for digest in kept.digests() {
        handle().get(&digest).await.unwrap();
    }
    let loaded = handoff_engine::conversations::load_named(&handle(), imported.id)
        .await
        .unwrap();
    assert_eq!(loaded.messages, imported.messages);
    let checked = handoff_engine::fsck::fsck(&handle(), false).await.unwrap();
    assert!(checked.problems.is_empty(), "{:?}", checked.problems);
}
