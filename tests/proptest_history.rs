//! Property test of history travelling both ways, on real repositories:
//! random commit graphs (linear runs and merges, partly pushed) and random
//! uncommitted changes → push → a cloud session whose agent commits and
//! edits at random → continue-locally.
//!
//! - the objects a snapshot carries are exactly those its receiver (a clone
//!   of the remote) lacks, each once — both for the push and for the
//!   session's end;
//! - the agent starts on the local `HEAD` with the local working tree;
//! - the branch continue-locally writes has exactly the tree the agent left.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use handoff_conversation::Conversation;
use handoff_dev::{GitRepo, TreeState, assert_same_tree, git_command, objects_of, tree_state_of};
use handoff_engine::{
    LocalEnvironment, Push, RunStore, WorkerOptions, continue_locally, push, run_session,
};
use handoff_harness::{HarnessKind, ScriptedHarness, Turn};
use handoff_store::MemoryStore;
use handoff_workspace::{History, SnapshotOptions, load_manifest};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// Files the commits touch. Few contents, so that a later commit often
/// brings back content an older one had (an object the receiver holds).
const FILES: &[&str] = &["a.txt", "b.txt", "src/c.txt", "src/d/e.txt"];

/// A change to the tree: `(file, Some(content))` writes, `None` deletes.
type Change = (usize, Option<u8>);

#[derive(Debug, Clone)]
enum Step {
    /// A commit on the current branch.
    Commit(Vec<Change>),
    /// A side branch from `HEAD` with its own commit (on a file of its own),
    /// merged back with a merge commit.
    Merge(Vec<Change>, u8),
}

fn change() -> impl Strategy<Value = Change> {
    (0..FILES.len(), prop::option::weighted(0.85, 0..3u8))
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => prop::collection::vec(change(), 1..4).prop_map(Step::Commit),
        1 => (prop::collection::vec(change(), 1..3), 0..3u8)
            .prop_map(|(changes, side)| Step::Merge(changes, side)),
    ]
}

fn write(dir: &std::path::Path, changes: &[Change]) {
    for (file, content) in changes {
        let path = dir.join(FILES[*file]);
        match content {
            Some(c) => {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, format!("content {c}\n")).unwrap();
            }
            None => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

fn git(dir: &std::path::Path, args: &[&str]) {
    let out = git_command(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Applies `steps` in the repository at `dir`, committing each.
fn build(dir: &std::path::Path, steps: &[Step], tag: &str) {
    for (i, step) in steps.iter().enumerate() {
        match step {
            Step::Commit(changes) => {
                write(dir, changes);
                git(dir, &["add", "-A"]);
                git(
                    dir,
                    &["commit", "-q", "--allow-empty", "-m", &format!("{tag} {i}")],
                );
            }
            Step::Merge(changes, side) => {
                let branch = format!("side-{tag}-{i}");
                git(dir, &["checkout", "-q", "-b", &branch]);
                let side_file = format!("side-{tag}-{i}.txt");
                std::fs::write(dir.join(&side_file), format!("side {side}\n")).unwrap();
                // Only its own file: whatever else is uncommitted stays for
                // the main line's commit.
                git(dir, &["add", "--", &side_file]);
                git(dir, &["commit", "-q", "-m", &format!("{tag} {i} side")]);
                git(dir, &["checkout", "-q", "-"]);
                write(dir, changes);
                git(dir, &["add", "-A"]);
                git(
                    dir,
                    &[
                        "commit",
                        "-q",
                        "--allow-empty",
                        "-m",
                        &format!("{tag} {i} main"),
                    ],
                );
                git(
                    dir,
                    &[
                        "merge",
                        "-q",
                        "--no-ff",
                        "-m",
                        &format!("{tag} {i} merge"),
                        &branch,
                    ],
                );
                git(dir, &["branch", "-q", "-D", &branch]);
            }
        }
    }
}

/// The objects reachable from `rev` in `dir` that a fresh clone of
/// `origin` lacks.
fn lacked_by_a_clone(dir: &std::path::Path, rev: &str, origin: &GitRepo) -> BTreeSet<String> {
    let receiver = GitRepo::clone_from(origin);
    let have = objects_of(receiver.path(), &["--all"]);
    objects_of(dir, &[rev])
        .into_iter()
        .filter(|o| !have.contains(o))
        .collect()
}

fn carried(history: Option<&History>) -> BTreeSet<String> {
    let Some(history) = history else {
        return BTreeSet::new();
    };
    let set: BTreeSet<String> = history.objects.iter().map(|o| o.oid.to_string()).collect();
    assert_eq!(set.len(), history.objects.len(), "no object listed twice");
    set
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 32,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/proptest-regressions/proptest_history.txt",
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn history_round_trips_both_ways(
        pushed in prop::collection::vec(step(), 0..3),
        local in prop::collection::vec(step(), 0..4),
        uncommitted in prop::collection::vec(change(), 0..3),
        agent in prop::collection::vec(step(), 0..3),
        agent_uncommitted in prop::collection::vec(change(), 0..3),
    ) {
        let origin = GitRepo::bare();
        let repo = GitRepo::clone_from(&origin);
        repo.write("README.md", "base\n");
        repo.commit_all("base");
        build(repo.path(), &pushed, "pushed");
        repo.git(&["push", "-q", "origin", "main"]);
        build(repo.path(), &local, "local");
        write(repo.path(), &uncommitted);
        let local_head = repo.head();
        let local_tree = repo.tree_state();

        // The agent: checks where it starts, then commits and edits.
        let started: Arc<Mutex<Option<(String, TreeState)>>> = Arc::default();
        let ended: Arc<Mutex<Option<TreeState>>> = Arc::default();
        let harness = {
            let (started, ended) = (started.clone(), ended.clone());
            ScriptedHarness::new("random", move |turn: &Turn<'_>| {
                let dir = turn.workdir;
                let head = git_command(dir).args(["rev-parse", "HEAD"]).output().unwrap();
                *started.lock().unwrap() = Some((
                    String::from_utf8_lossy(&head.stdout).trim().to_owned(),
                    tree_state_of(dir),
                ));
                build(dir, &agent, "agent");
                write(dir, &agent_uncommitted);
                *ended.lock().unwrap() = Some(tree_state_of(dir));
                Ok("done".to_owned())
            })
            .as_kind(HarnessKind::from_static("warp"))
        };

        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let store = MemoryStore::new();
        let envs = tempfile::tempdir().unwrap();
        let conversation = Conversation::new("random", "warp");
        let pushed_run = rt.block_on(push(&store, Push {
            workspace: repo.path(),
            conversation: &conversation,
            harness: &harness,
            attachments_from: &store,
            prompt: Some("go".into()),
            agent: Default::default(),
            snapshot: SnapshotOptions::default(),
            allow_secrets: false,
            variants: 1,
        })).unwrap();
        let start = rt.block_on(load_manifest(&store, &pushed_run.record.sessions[0].start[0].snapshot)).unwrap();
        prop_assert_eq!(carried(start.history.as_ref()), lacked_by_a_clone(repo.path(), "HEAD", &origin));

        rt.block_on(run_session(&store, pushed_run.run, &harness, &LocalEnvironment::new(envs.path()), &WorkerOptions::default()))
            .unwrap()
            .unwrap();
        let (start_head, start_tree) = started.lock().unwrap().clone().unwrap();
        prop_assert_eq!(start_head, local_head);
        assert_same_tree(&start_tree, &local_tree);
        let end_tree = ended.lock().unwrap().clone().unwrap();

        let record = rt.block_on(RunStore::new(&store).get(pushed_run.run)).unwrap().record;
        let end = rt.block_on(load_manifest(&store, &record.sessions[0].end[0].snapshot)).unwrap();
        let env_dir = std::fs::read_dir(envs.path()).unwrap().flatten().next().unwrap().path().join("workspace");
        let end_head = end.base.commit.unwrap().to_string();
        prop_assert_eq!(carried(end.history.as_ref()), lacked_by_a_clone(&env_dir, &end_head, &origin));

        rt.block_on(continue_locally(&store, pushed_run.run, &harness, repo.path(), &Default::default())).unwrap();
        let check = GitRepo::clone_from(&repo);
        check.git(&["checkout", "-q", &format!("origin/handoff/{}", pushed_run.run)]);
        assert_same_tree(&check.tree_state(), &end_tree);
        repo.assert_fsck_clean();
    }
}
