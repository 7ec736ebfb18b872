//! Hostile and broken snapshots: every bad entry fails alone with a clear
//! reason, the good entries are still applied, and nothing outside the
//! working tree is touched.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use handoff_dev::GitRepo;
use handoff_store::{BlobStore, Bytes, Digest, MemoryStore};
use handoff_workspace::{
    ApplyOptions, ApplyReport, Base, Entry, FailureKind, Kind, Manifest, Object, Oid, Status,
    apply_manifest,
};

fn object(kind: Kind, data: &[u8]) -> Object {
    Object {
        kind,
        oid: Oid::for_blob(data),
        size: data.len() as u64,
        digest: Some(Digest::of(data)),
    }
}

fn added(path: &str, kind: Kind, data: &[u8]) -> Entry {
    Entry {
        path: path.to_owned(),
        status: Status::Untracked,
        from: None,
        base: None,
        index: None,
        result: Some(object(kind, data)),
    }
}

async fn store_with(contents: &[&[u8]]) -> MemoryStore {
    let store = MemoryStore::new();
    for c in contents {
        store.put(Bytes::copy_from_slice(c)).await.unwrap();
    }
    store
}

/// Every file below `dir`, for before/after comparison of the outside world.
fn listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.display().to_string(),
                    std::fs::read(&p).unwrap_or_default(),
                ));
            }
        }
    }
    out.sort();
    out
}

fn kinds(report: &ApplyReport) -> Vec<(&str, FailureKind)> {
    report
        .failed
        .iter()
        .map(|f| (f.path.as_str(), f.kind))
        .collect()
}

#[tokio::test]
async fn hostile_paths_fail_alone_and_good_entries_apply() {
    let repo = GitRepo::init();
    repo.write("keep.txt", "keep\n");
    repo.commit_all("base");
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("victim"), "untouched").unwrap();
    let before = listing(outside.path());
    let escape = format!("{}/victim", outside.path().display());

    let evil: &[u8] = b"pwned";
    let good: &[u8] = b"good\n";
    let mut manifest = Manifest::new(Base::default());
    for path in [
        "../escape.txt",
        "a/../../escape.txt",
        escape.as_str(),
        "C:/windows/evil",
        ".git/config",
        ".GIT/hooks/pre-commit",
        "sub/.git/HEAD",
        "git~1/config",
        ".git./config",
        "nul\0byte",
        "bell\u{7}",
    ] {
        manifest.entries.push(added(path, Kind::File, evil));
    }
    manifest.entries.push(added("good.txt", Kind::File, good));
    manifest.entries.push(added("good.txt", Kind::File, evil));
    let store = store_with(&[evil, good]).await;

    let report = apply_manifest(repo.path(), &store, &manifest, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(report.applied, vec!["good.txt"]);
    let mut expected: Vec<(&str, FailureKind)> = manifest.entries[..11]
        .iter()
        .map(|e| (e.path.as_str(), FailureKind::InvalidPath))
        .collect();
    expected.push(("good.txt", FailureKind::DuplicatePath));
    expected.sort_by(|a, b| a.0.cmp(b.0));
    assert_eq!(kinds(&report), expected);
    assert!(
        report
            .failed
            .iter()
            .filter(|f| f.kind == FailureKind::InvalidPath)
            .all(|f| f.reason.starts_with("refused: path "))
    );
    assert_eq!(std::fs::read(repo.path().join("good.txt")).unwrap(), good);
    assert_eq!(listing(outside.path()), before);
    assert!(!repo.path().parent().unwrap().join("escape.txt").exists());
    let git_config = repo.read(".git/config");
    assert!(!git_config.contains("pwned"));
}

#[tokio::test]
async fn never_writes_through_symlinks() {
    let repo = GitRepo::init();
    repo.write("keep.txt", "keep\n");
    repo.commit_all("base");
    let outside = tempfile::tempdir().unwrap();
    let before = listing(outside.path());
    let target = outside.path().display().to_string();
    // A link that already exists in the target, and one the snapshot itself
    // creates before writing through it.
    repo.symlink("existing_link", &target);
    let link_target = target.as_bytes();
    let evil: &[u8] = b"pwned";
    let mut manifest = Manifest::new(Base::default());
    manifest
        .entries
        .push(added("existing_link/evil", Kind::File, evil));
    manifest
        .entries
        .push(added("new_link", Kind::Symlink, link_target));
    manifest
        .entries
        .push(added("new_link/evil", Kind::File, evil));
    manifest
        .entries
        .push(added("new_link/deeper/evil", Kind::File, evil));
    let store = store_with(&[evil, link_target]).await;

    let report = apply_manifest(repo.path(), &store, &manifest, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(report.applied, vec!["new_link"]);
    assert_eq!(
        kinds(&report),
        vec![
            ("existing_link/evil", FailureKind::ThroughSymlink),
            ("new_link/deeper/evil", FailureKind::ThroughSymlink),
            ("new_link/evil", FailureKind::ThroughSymlink),
        ]
    );
    assert_eq!(listing(outside.path()), before);
}

#[tokio::test]
async fn missing_corrupted_and_mismatched_blobs_fail_their_entry() {
    let repo = GitRepo::init();
    repo.write("keep.txt", "keep\n");
    repo.commit_all("base");
    let fine: &[u8] = b"fine\n";
    let lost: &[u8] = b"never stored\n";
    let rotten: &[u8] = b"will rot\n";
    let store = store_with(&[fine, rotten]).await;
    store.overwrite_unchecked(Digest::of(rotten), Bytes::from_static(b"will r0t\n"));
    // A tampered manifest: the digest is real, but the git id claims other
    // content.
    let mut lying = object(Kind::File, fine);
    lying.oid = Oid::for_blob(b"something else");

    let mut manifest = Manifest::new(Base::default());
    manifest.entries.push(added("fine.txt", Kind::File, fine));
    manifest.entries.push(added("lost.txt", Kind::File, lost));
    manifest
        .entries
        .push(added("rotten.txt", Kind::File, rotten));
    let mut tampered = added("tampered.txt", Kind::File, fine);
    tampered.result = Some(lying);
    manifest.entries.push(tampered);

    let report = apply_manifest(repo.path(), &store, &manifest, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(report.applied, vec!["fine.txt"]);
    assert_eq!(
        kinds(&report),
        vec![
            ("lost.txt", FailureKind::BlobMissing),
            ("rotten.txt", FailureKind::BlobCorrupted),
            ("tampered.txt", FailureKind::BlobCorrupted),
        ]
    );
    let rotten_reason = &report.failed[1].reason;
    assert!(
        rotten_reason.contains(&Digest::of(rotten).to_string()),
        "{rotten_reason}"
    );
    for name in ["lost.txt", "rotten.txt", "tampered.txt"] {
        assert!(!repo.path().join(name).exists(), "{name} was written");
    }
}

/// Packs and indexes are untrusted too: a damaged blob in a pack, and an
/// index that lies about where a blob is, fail the entries that need them
/// (as corrupted, naming the pack), never write other bytes, and leave the
/// rest of the snapshot to apply.
#[tokio::test]
async fn damaged_packs_and_lying_indexes_fail_their_entries_only() {
    use handoff_store::pack::{Entry as PackEntry, Index, PackRecord};
    use handoff_store::raw::{Area, Objects};
    let repo = GitRepo::init();
    repo.write("keep.txt", "keep\n");
    repo.commit_all("base");
    let good: &[u8] = b"packed and fine\n";
    let rotten: &[u8] = b"packed, then damaged\n";
    let claimed: &[u8] = b"never stored, but an index says it is\n";
    let store = MemoryStore::new();
    store
        .put_many(vec![Bytes::from_static(good), Bytes::from_static(rotten)])
        .await
        .unwrap();
    handoff_store::testing::corrupt(&store, &Digest::of(rotten), Bytes::from_static(b"rot")).await;
    let (pack, offset) = handoff_store::testing::find_in_packs(&store, &Digest::of(good))
        .await
        .unwrap();
    let pack_len = store
        .read_object(Area::Packs, &pack)
        .await
        .unwrap()
        .unwrap()
        .len() as u64;
    let lie = Index::new(vec![PackRecord {
        pack,
        len: pack_len,
        entries: vec![PackEntry {
            digest: Digest::of(claimed),
            offset,
            len: claimed.len() as u64,
            flags: 0,
        }],
    }])
    .encode();
    store
        .create_object(Area::Index, &Digest::of(&lie), lie)
        .await
        .unwrap();

    let mut manifest = Manifest::new(Base::default());
    for (path, data) in [
        ("claimed.txt", claimed),
        ("good.txt", good),
        ("rotten.txt", rotten),
    ] {
        manifest.entries.push(added(path, Kind::File, data));
    }
    let report = apply_manifest(repo.path(), &store, &manifest, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(report.applied, vec!["good.txt"]);
    assert_eq!(
        kinds(&report),
        vec![
            ("claimed.txt", FailureKind::BlobCorrupted),
            ("rotten.txt", FailureKind::BlobCorrupted),
        ]
    );
    assert!(
        report.failed[1].reason.contains(&pack.to_string()),
        "{:?}",
        report.failed
    );
    for name in ["claimed.txt", "rotten.txt"] {
        assert!(!repo.path().join(name).exists(), "{name} was written");
    }
}

#[tokio::test]
async fn directories_in_the_way_are_reported() {
    let repo = GitRepo::init();
    repo.write("keep.txt", "keep\n");
    repo.commit_all("base");
    repo.write("dir/inside.txt", "local\n");
    let data: &[u8] = b"file\n";
    let mut manifest = Manifest::new(Base::default());
    manifest.entries.push(added("dir", Kind::File, data));
    manifest
        .entries
        .push(added("keep.txt/child", Kind::File, data));
    let store = store_with(&[data]).await;
    let report = apply_manifest(repo.path(), &store, &manifest, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(
        kinds(&report),
        vec![
            ("dir", FailureKind::IsDirectory),
            ("keep.txt/child", FailureKind::NotADirectory),
        ]
    );
    assert_eq!(
        std::fs::read(repo.path().join("dir/inside.txt")).unwrap(),
        b"local\n"
    );
    assert_eq!(
        std::fs::read(repo.path().join("keep.txt")).unwrap(),
        b"keep\n"
    );
}

#[tokio::test]
async fn manifest_decoding_refuses_other_formats() {
    let store = MemoryStore::new();
    let put = store
        .put(Bytes::from_static(
            br#"{"format":"evil/v1","base":{},"entries":[]}"#,
        ))
        .await
        .unwrap();
    let err = handoff_workspace::load_manifest(&store, &put.digest)
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&put.digest.to_string()), "{err}");
}

#[tokio::test]
async fn declared_sizes_entry_counts_and_nesting_are_bounded() {
    let repo = GitRepo::init();
    repo.write("keep.txt", "keep\n");
    repo.commit_all("base");
    let data: &[u8] = b"small\n";
    let store = store_with(&[data]).await;
    let mut huge = added("huge.bin", Kind::File, data);
    if let Some(result) = &mut huge.result {
        result.size = u64::MAX;
    }
    let mut manifest = Manifest::new(Base::default());
    manifest.entries.push(huge);
    manifest.entries.push(added("fine.txt", Kind::File, data));
    let report = apply_manifest(repo.path(), &store, &manifest, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(report.applied, vec!["fine.txt"]);
    assert_eq!(kinds(&report), vec![("huge.bin", FailureKind::TooLarge)]);

    // Too many entries for the configured limit: refused before any entry.
    let put = store.put(Bytes::from(manifest.to_json())).await.unwrap();
    let tight = ApplyOptions {
        limits: handoff_workspace::Limits {
            max_entries: 1,
            ..Default::default()
        },
        ..ApplyOptions::default()
    };
    let err = handoff_workspace::apply(repo.path(), &store, &put.digest, &tight)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            handoff_workspace::Error::LimitExceeded {
                limit: handoff_workspace::Limit::Entries,
                ..
            }
        ),
        "{err}"
    );
    let small = ApplyOptions {
        limits: handoff_workspace::Limits {
            max_manifest_bytes: 64,
            ..Default::default()
        },
        ..ApplyOptions::default()
    };
    let err = handoff_workspace::apply(repo.path(), &store, &put.digest, &small)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("manifest size limit"), "{err}");

    // Deeply nested JSON is refused by the decoder, not by the stack.
    let nested = format!(
        r#"{{"format":"handoff.snapshot/v1","base":{{}},"entries":[{{"path":"x","status":"added","base":null,"index":null,"result":{}}}]}}"#,
        "[".repeat(100_000)
    );
    let put = store.put(Bytes::from(nested)).await.unwrap();
    let err = handoff_workspace::load_manifest(&store, &put.digest)
        .await
        .unwrap_err();
    assert!(
        matches!(err, handoff_workspace::Error::Manifest { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn snapshots_over_a_limit_are_refused_before_upload() {
    use handoff_workspace::{Error, Limit, Limits, SnapshotOptions, snapshot};
    let repo = GitRepo::init();
    repo.write("keep.txt", "keep\n");
    repo.commit_all("base");
    repo.write("big.bin", vec![1u8; 4096]);
    repo.write("a.txt", "a\n").write("b.txt", "b\n");
    let cases = [
        (
            Limits {
                max_file_bytes: 1024,
                ..Limits::default()
            },
            Limit::FileBytes,
        ),
        (
            Limits {
                max_total_bytes: 2048,
                ..Limits::default()
            },
            Limit::TotalBytes,
        ),
        (
            Limits {
                max_entries: 2,
                ..Limits::default()
            },
            Limit::Entries,
        ),
    ];
    for (limits, expected) in cases {
        let store = MemoryStore::new();
        let options = SnapshotOptions {
            limits,
            ..SnapshotOptions::default()
        };
        let err = snapshot(repo.path(), &store, &options).await.unwrap_err();
        match err {
            Error::LimitExceeded { limit, .. } => assert_eq!(limit, expected),
            other => panic!("expected {expected:?}, got {other}"),
        }
        assert!(
            store.is_empty(),
            "nothing is uploaded when a limit is exceeded"
        );
    }
}

/// Hostile run records: a record is untrusted (anyone who can write to the
/// store can write one). Each case below is a record a worker or
/// `continue-locally` must refuse with a clear error, executing nothing and
/// touching nothing outside its environment or workspace.
mod records {
    use super::listing;
    use handoff_conversation::Conversation;
    use handoff_dev::GitRepo;
    use handoff_engine::{
        Error, LocalEnvironment, Push, RunId, RunRecord, RunState, RunStore, WorkerOptions,
        continue_locally, push, run_session,
    };
    use handoff_harness::{HarnessKind, ScriptedHarness};
    use handoff_store::{Bytes, DocKey, DocumentStore, FsStore};
    use handoff_workspace::SnapshotOptions;

    struct Scene {
        origin: GitRepo,
        local: GitRepo,
        store_dir: tempfile::TempDir,
        sandbox: tempfile::TempDir,
        agent: ScriptedHarness,
    }

    impl Scene {
        fn new() -> Self {
            let origin = GitRepo::bare();
            let local = GitRepo::clone_from(&origin);
            local.write("a.txt", "a\n");
            local.commit_all("base");
            local.git(&["push", "-q", "origin", "main"]);
            local.write("a.txt", "a, edited\n");
            let sandbox = tempfile::tempdir().unwrap();
            std::fs::create_dir(sandbox.path().join("envs")).unwrap();
            Self {
                origin,
                local,
                store_dir: tempfile::tempdir().unwrap(),
                sandbox,
                agent: ScriptedHarness::new("agent", |turn| {
                    std::fs::write(turn.workdir.join("ran.txt"), "the agent ran").unwrap();
                    Ok("ran".into())
                })
                .as_kind(HarnessKind::from_static("warp")),
            }
        }

        fn store(&self) -> FsStore {
            FsStore::new(self.store_dir.path()).with_sync(false)
        }

        /// Where environments go, and a marker a command injection would
        /// create, both inside the sandbox whose listing must not change
        /// beyond the environment.
        fn envs(&self) -> std::path::PathBuf {
            self.sandbox.path().join("envs")
        }

        fn marker(&self) -> std::path::PathBuf {
            self.sandbox.path().join("pwned")
        }

        async fn pushed(&self) -> RunId {
            let store = self.store();
            let conversation = Conversation::new("c", "warp");
            push(
                &store,
                Push {
                    workspace: self.local.path(),
                    conversation: &conversation,
                    harness: &self.agent,
                    attachments_from: &store,
                    prompt: Some("go".into()),
                    agent: Default::default(),
                    snapshot: SnapshotOptions::default(),
                    allow_secrets: false,
                    variants: 1,
                },
            )
            .await
            .unwrap()
            .run
        }

        /// Rewrites run `run`'s record with `edit`, as a hostile writer would.
        async fn tamper(&self, run: RunId, edit: impl FnOnce(&mut RunRecord)) {
            let store = self.store();
            let runs = RunStore::new(&store);
            let mut loaded = runs.get(run).await.unwrap();
            edit(&mut loaded.record);
            runs.update(loaded.version, &mut loaded.record)
                .await
                .unwrap();
        }

        /// Runs the queued session; returns the error, after checking that
        /// nothing ran, nothing was executed and nothing outside the
        /// environments directory appeared.
        async fn refused_by_the_worker(&self, run: RunId) -> Error {
            let outside_before = listing(self.sandbox.path())
                .into_iter()
                .filter(|(p, _)| !p.starts_with(&self.envs().display().to_string()))
                .collect::<Vec<_>>();
            let store = self.store();
            let err = run_session(
                &store,
                run,
                &self.agent,
                &LocalEnvironment::new(self.envs()),
                &WorkerOptions::default(),
            )
            .await
            .unwrap_err();
            assert!(!self.marker().exists(), "a command ran: {err}");
            let outside_after = listing(self.sandbox.path())
                .into_iter()
                .filter(|(p, _)| !p.starts_with(&self.envs().display().to_string()))
                .collect::<Vec<_>>();
            assert_eq!(outside_before, outside_after, "{err}");
            assert!(
                listing(&self.envs())
                    .iter()
                    .all(|(p, _)| !p.ends_with("ran.txt")),
                "the agent must not run: {err}"
            );
            let record = RunStore::new(&store).get(run).await.unwrap().record;
            assert_eq!(record.state, RunState::Failed, "the session records why");
            assert_eq!(
                record.last_session().unwrap().failure.as_deref(),
                Some(err.to_string().as_str())
            );
            err
        }
    }

    fn invalid(err: &Error, field: &str) {
        assert!(
            matches!(err, Error::InvalidRecord { field: f, .. } if f.contains(field)),
            "expected an invalid {field}, got {err}"
        );
    }

    #[tokio::test]
    async fn repository_paths_that_escape_are_refused() {
        let scene = Scene::new();
        let outside = scene.sandbox.path().join("outside");
        for hostile in [
            outside.display().to_string(),
            "../outside".to_owned(),
            "a/../../outside".to_owned(),
            ".git/hooks".to_owned(),
            "".to_owned(),
        ] {
            let run = scene.pushed().await;
            scene
                .tamper(run, |r| {
                    r.repositories[0].path = hostile.clone();
                    for s in &mut r.sessions {
                        for snap in &mut s.start {
                            snap.repo = hostile.clone();
                        }
                    }
                })
                .await;
            let err = scene.refused_by_the_worker(run).await;
            invalid(&err, "repositories[].path");
            assert!(!outside.exists(), "{hostile:?}");
        }
    }

    #[tokio::test]
    async fn sources_that_would_run_a_command_are_refused() {
        let scene = Scene::new();
        let marker = scene.marker().display().to_string();
        for hostile in [
            format!("--upload-pack=touch {marker}"),
            format!("-u touch {marker}"),
            format!("ext::sh -c touch% {marker}"),
            "fd::17".to_owned(),
            "relative/path".to_owned(),
            format!("{}\n--upload-pack=x", scene.origin.path().display()),
        ] {
            let run = scene.pushed().await;
            scene
                .tamper(run, |r| r.repositories[0].source = Some(hostile.clone()))
                .await;
            let err = scene.refused_by_the_worker(run).await;
            invalid(&err, "repositories[].source");
        }
    }

    #[tokio::test]
    async fn commits_that_are_not_object_ids_are_refused() {
        let scene = Scene::new();
        for hostile in ["--orphan=x", "HEAD", "main", "../../etc", "ABCDEF"] {
            let run = scene.pushed().await;
            scene
                .tamper(run, |r| r.repositories[0].commit = Some(hostile.into()))
                .await;
            let err = scene.refused_by_the_worker(run).await;
            invalid(&err, "repositories[].commit");
        }
    }

    #[tokio::test]
    async fn sessions_naming_other_repositories_are_refused() {
        let scene = Scene::new();
        let run = scene.pushed().await;
        scene
            .tamper(run, |r| r.sessions[0].start[0].repo = "../other".into())
            .await;
        let err = scene.refused_by_the_worker(run).await;
        invalid(&err, "sessions");
    }

    #[tokio::test]
    async fn continue_locally_never_aims_at_another_directory() {
        let scene = Scene::new();
        let run = scene.pushed().await;
        let store = scene.store();
        run_session(
            &store,
            run,
            &scene.agent,
            &LocalEnvironment::new(scene.envs()),
            &WorkerOptions::default(),
        )
        .await
        .unwrap()
        .unwrap();
        // A sibling repository the record tries to aim at.
        let parent = tempfile::tempdir().unwrap();
        let workspace = parent.path().join("workspace");
        let victim = parent.path().join("victim");
        std::fs::create_dir(&workspace).unwrap();
        let out = handoff_dev::git_command(parent.path())
            .args(["clone", "-q"])
            .arg(scene.origin.path())
            .arg(&victim)
            .output()
            .unwrap();
        assert!(out.status.success());
        let refs_before = handoff_dev::git_command(&victim)
            .args(["for-each-ref"])
            .output()
            .unwrap()
            .stdout;
        for hostile in ["../victim", victim.to_str().unwrap()] {
            scene
                .tamper(run, |r| {
                    r.repositories[0].path = hostile.into();
                    for s in &mut r.sessions {
                        for snap in s.start.iter_mut().chain(s.end.iter_mut()) {
                            snap.repo = hostile.into();
                        }
                    }
                })
                .await;
            let options = handoff_engine::ContinueOptions {
                apply: true,
                ..Default::default()
            };
            let err = continue_locally(&store, run, &scene.agent, &workspace, &options)
                .await
                .unwrap_err();
            invalid(&err, "repositories[].path");
        }
        let refs_after = handoff_dev::git_command(&victim)
            .args(["for-each-ref"])
            .output()
            .unwrap()
            .stdout;
        assert_eq!(refs_before, refs_after, "no branch written there");
        assert_eq!(
            std::fs::read_to_string(victim.join("a.txt")).unwrap(),
            "a\n"
        );
    }

    #[tokio::test]
    async fn oversized_and_malformed_records_are_clear_errors() {
        let scene = Scene::new();
        let store = scene.store();
        let runs = RunStore::new(&store);
        let huge = RunId::new();
        let key = DocKey::new(format!("runs/{huge}")).unwrap();
        let mut data = br#"{"padding":""#.to_vec();
        data.extend(std::iter::repeat_n(
            b'x',
            handoff_engine::run::MAX_RECORD_BYTES,
        ));
        data.extend(br#""}"#);
        store
            .put_version(&key, None, Bytes::from(data))
            .await
            .unwrap();
        let err = runs.get(huge).await.unwrap_err();
        assert!(err.to_string().contains("more than"), "{err}");
        assert!(err.to_string().contains(&huge.to_string()), "{err}");

        let wrong = RunId::new();
        let key = DocKey::new(format!("runs/{wrong}")).unwrap();
        store
            .put_version(
                &key,
                None,
                Bytes::from_static(br#"{"format":"handoff.run/v1","id":"x"}"#),
            )
            .await
            .unwrap();
        let err = runs.get(wrong).await.unwrap_err();
        assert!(err.to_string().contains(&wrong.to_string()), "{err}");
    }
}
