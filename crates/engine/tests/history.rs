//! Nothing the agent did is lost: commits travel with the workspace in both
//! directions. Real repositories (a bare `origin`, clones, local commits not
//! pushed), and agents that commit, amend, reset and rebase in their cloud
//! session, driven through push, the runner, follow-up and continue-locally.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use handoff_conversation::{Conversation, Message, Role};
use handoff_dev::{GitRepo, TreeState, assert_fsck_clean, assert_same_tree, git_command};
use handoff_engine::{
    ContinueOptions, Error, LocalEnvironment, Push, RunId, RunStore, WorkerOptions,
    continue_locally, follow_up, push, run_session,
};
use handoff_harness::{HarnessKind, ScriptedHarness, Turn};
use handoff_store::{BlobStore, FsStore};
use handoff_workspace::{ObjectKind, SnapshotOptions, load_manifest};

/// What the agent found when its turn began.
#[derive(Debug, Clone)]
struct Seen {
    tree: TreeState,
    head: String,
    subjects: Vec<String>,
    branch: String,
}

/// What the environment held when the agent's turn ended.
#[derive(Debug, Clone)]
struct Left {
    tree: TreeState,
    head: String,
}

/// Runs `script` with `sh -e` in `dir`, with the fixed git identity.
fn try_sh(dir: &std::path::Path, script: &str) -> std::process::Output {
    let mut cmd = std::process::Command::new("sh");
    cmd.current_dir(dir).arg("-ec").arg(script);
    for (key, value) in git_command(dir).get_envs() {
        if let Some(value) = value {
            cmd.env(key, value);
        }
    }
    cmd.output().unwrap()
}

fn sh(dir: &std::path::Path, script: &str) -> String {
    let out = try_sh(dir, script);
    assert!(
        out.status.success(),
        "script failed: {script}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What `script` prints in `dir`, or nothing when it fails (the workspace
/// root of a folder of repositories is not one).
fn sh_or_empty(dir: &std::path::Path, script: &str) -> String {
    String::from_utf8_lossy(&try_sh(dir, script).stdout).into_owned()
}

/// An agent that records what it saw, then runs `scripts[n]` (shell, with a
/// fixed git identity) in its workspace on turn `n`, and records what it
/// left.
/// Each turn's view: what the agent found and what it left.
type TurnLog = Arc<Mutex<Vec<(Seen, Left)>>>;

fn shell_agent(scripts: Vec<&'static str>) -> (ScriptedHarness, TurnLog) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let record = log.clone();
    let harness = ScriptedHarness::new("shell", move |turn: &Turn<'_>| {
        let dir = turn.workdir;
        let seen = Seen {
            tree: handoff_dev::tree_state_of(dir),
            head: sh_or_empty(dir, "git rev-parse HEAD").trim().to_owned(),
            subjects: sh_or_empty(dir, "git log --format=%s")
                .lines()
                .map(str::to_owned)
                .collect(),
            branch: sh_or_empty(dir, "git branch --show-current")
                .trim()
                .to_owned(),
        };
        if dir.join(".git").exists() {
            assert_fsck_clean(dir);
        }
        let mut log = record.lock().unwrap();
        let script = scripts.get(log.len()).copied().unwrap_or("true");
        sh(dir, script);
        let left = Left {
            tree: handoff_dev::tree_state_of(dir),
            head: sh_or_empty(dir, "git rev-parse HEAD").trim().to_owned(),
        };
        log.push((seen, left));
        Ok(format!("ran turn {}", log.len()))
    })
    .as_kind(HarnessKind::from_static("warp"));
    (harness, log)
}

struct World {
    origin: GitRepo,
    local: GitRepo,
    store_dir: tempfile::TempDir,
    envs: tempfile::TempDir,
    conversation: Conversation,
}

impl World {
    /// A bare `origin` with one pushed commit, and a clone of it.
    fn new() -> Self {
        let origin = GitRepo::bare();
        let local = GitRepo::clone_from(&origin);
        local
            .write("README.md", "# project\n")
            .write("src/lib.rs", "pub fn one() -> u32 {\n    1\n}\n");
        local.commit_all("base");
        local.git(&["push", "-q", "origin", "main"]);
        let mut conversation = Conversation::new("history", "warp");
        conversation.push(Message::text(Role::User, "start"));
        Self {
            origin,
            local,
            store_dir: tempfile::tempdir().unwrap(),
            envs: tempfile::tempdir().unwrap(),
            conversation,
        }
    }

    fn store(&self) -> FsStore {
        FsStore::new(self.store_dir.path()).with_sync(false)
    }

    async fn push_from(&self, workspace: &std::path::Path, agent: &ScriptedHarness) -> RunId {
        self.push_with(workspace, agent, SnapshotOptions::default(), 1)
            .await
            .unwrap()
            .run
    }

    /// Pushes `workspace` with `snapshot` options and `variants` runs.
    async fn push_with(
        &self,
        workspace: &std::path::Path,
        agent: &ScriptedHarness,
        snapshot: SnapshotOptions,
        variants: usize,
    ) -> handoff_engine::Result<handoff_engine::Pushed> {
        let store = self.store();
        push(
            &store,
            Push {
                workspace,
                conversation: &self.conversation,
                harness: agent,
                attachments_from: &store,
                prompt: Some("work".into()),
                agent: Default::default(),
                snapshot,
                allow_secrets: false,
                variants,
            },
        )
        .await
    }

    async fn run(&self, run: RunId, agent: &ScriptedHarness) {
        let store = self.store();
        let env = LocalEnvironment::new(self.envs.path());
        run_session(&store, run, agent, &env, &WorkerOptions::default())
            .await
            .unwrap()
            .expect("a queued session ran");
    }
}

#[tokio::test]
async fn an_agent_that_commits_amends_and_leaves_edits_loses_nothing() {
    let w = World::new();
    w.local.write("wip.txt", "local, uncommitted\n");
    let (agent, log) = shell_agent(vec![
        "echo one > c1.txt && git add c1.txt && git commit -qm 'agent: first'
         echo two > c2.txt && git add c2.txt && git commit -qm 'agent: second'
         echo 'two, better' > c2.txt && git commit -q --amend -am 'agent: second, amended'
         echo uncommitted > w.txt
         echo '# project, edited' > README.md",
    ]);
    let run = w.push_from(w.local.path(), &agent).await;
    w.run(run, &agent).await;
    let end = log.lock().unwrap()[0].1.clone();

    // The end state records the agent's commits (and nothing the remote has).
    let store = w.store();
    let record = RunStore::new(&store).get(run).await.unwrap().record;
    let end_snap = &record.sessions[0].end[0];
    let manifest = load_manifest(&store, &end_snap.snapshot).await.unwrap();
    assert_eq!(manifest.base.commit.unwrap().to_string(), end.head);
    let history = manifest.history.as_ref().unwrap();
    assert_eq!(history.commits(), 2, "the two surviving agent commits");
    assert_eq!(
        history
            .boundary
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        vec![w.local.head()],
        "they build on the pushed base"
    );

    // A follow-up sees every file, on the agent's commits.
    follow_up(&store, run, &agent, "more".into()).await.unwrap();
    w.run(run, &agent).await;
    let (seen, _) = log.lock().unwrap()[1].clone();
    assert_same_tree(&seen.tree, &end.tree);
    assert_eq!(seen.head, end.head);
    assert_eq!(seen.branch, "main", "on the branch the agent was on");
    assert_eq!(
        seen.subjects,
        ["agent: second, amended", "agent: first", "base"]
    );

    // `diff RUN` as a patch reproduces the end tree in a clean clone.
    let record = RunStore::new(&store).get(run).await.unwrap().record;
    let review = record.last_good_end().unwrap()[0].review();
    let review = load_manifest(&store, &review).await.unwrap();
    let mut patch = Vec::new();
    handoff_workspace::diff::export_diff(&review, &store, &mut patch)
        .await
        .unwrap();
    let clean = GitRepo::clone_from(&w.origin);
    std::fs::write(clean.path().join("../run.patch"), &patch).unwrap();
    let patch_file = clean.path().join("../run.patch");
    clean.git(&["apply", "--binary", patch_file.to_str().unwrap()]);
    std::fs::remove_file(&patch_file).unwrap();
    assert_same_tree(&clean.tree_state(), &end.tree);

    // continue-locally: a branch with the agent's commits in order (their
    // authors and messages kept) plus one for what was uncommitted; the
    // local tree, index and branch untouched.
    let before = (w.local.tree_state(), w.local.status(), w.local.head());
    let back = continue_locally(&store, run, &agent, w.local.path(), &Default::default())
        .await
        .unwrap();
    assert_eq!(
        (w.local.tree_state(), w.local.status(), w.local.head()),
        before
    );
    let branch = format!("handoff/{run}");
    assert_eq!(
        w.local.subjects(&format!("main..{branch}")),
        [
            "handoff: uncommitted work of run ".to_owned() + &run.to_string(),
            "agent: second, amended".to_owned(),
            "agent: first".to_owned(),
        ]
    );
    assert_eq!(
        w.local.git(&[
            "log",
            "--format=%an <%ae> %ad",
            "--date=iso-strict",
            "-1",
            &format!("{branch}~1")
        ]),
        "Handoff Test <test@handoff.invalid> 2026-01-01T00:00:00Z\n"
    );
    assert!(back.branches[0].2.uncommitted);
    w.local.assert_fsck_clean();
    let check = GitRepo::clone_from(&w.local);
    check.git(&["checkout", "-q", &format!("origin/{branch}")]);
    assert_same_tree(&check.tree_state(), &end.tree);
}

#[tokio::test]
async fn unpushed_commits_and_uncommitted_work_start_the_cloud_session() {
    let w = World::new();
    w.local.write(
        "src/lib.rs",
        "pub fn one() -> u32 {\n    1\n}\n// local 1\n",
    );
    w.local.commit_all("local: not pushed 1");
    w.local.write("notes.md", "second local commit\n");
    w.local.commit_all("local: not pushed 2");
    w.local.write("README.md", "# project\n\nedited\n");
    w.local.write("untracked/new.txt", "untracked\n");
    w.local.git(&["add", "README.md"]);
    let expected = w.local.tree_state();

    let (agent, log) = shell_agent(vec!["true"]);
    let run = w.push_from(w.local.path(), &agent).await;
    let store = w.store();
    let record = RunStore::new(&store).get(run).await.unwrap().record;
    let start = load_manifest(&store, &record.sessions[0].start[0].snapshot)
        .await
        .unwrap();
    let history = start.history.unwrap();
    assert_eq!(history.commits(), 2);
    assert_eq!(
        history.boundary[0].to_string(),
        w.local.git(&["rev-parse", "origin/main"]).trim()
    );
    // Exactly the objects the remote lacks.
    let carried: std::collections::BTreeSet<String> =
        history.objects.iter().map(|o| o.oid.to_string()).collect();
    assert_eq!(carried, w.local.objects(&["HEAD", "--not", "origin/main"]));

    w.run(run, &agent).await;
    let (seen, _) = log.lock().unwrap()[0].clone();
    assert_eq!(seen.head, w.local.head(), "starts on the local HEAD");
    assert_eq!(seen.branch, "main");
    assert_same_tree(&seen.tree, &expected);
}

#[tokio::test]
async fn a_repository_without_a_remote_is_rebuilt_from_the_store() {
    let local = GitRepo::init();
    local.write("a.txt", "a\n");
    local.commit_all("first");
    local.write("b.txt", "b\n");
    local.commit_all("second");
    local.write("a.txt", "a, edited\n");
    let w = World::new();
    let (agent, log) = shell_agent(vec![
        "echo agent > agent.txt && git add agent.txt && git commit -qm 'agent commit'",
    ]);
    let run = w.push_from(local.path(), &agent).await;
    let store = w.store();
    let record = RunStore::new(&store).get(run).await.unwrap().record;
    // The recorded source is not even needed: the store holds it all.
    let mut loaded = RunStore::new(&store).get(run).await.unwrap();
    loaded.record.repositories[0].source = Some("/nonexistent/machine/elsewhere".into());
    RunStore::new(&store)
        .update(loaded.version, &mut loaded.record)
        .await
        .unwrap();
    let start = load_manifest(&store, &record.sessions[0].start[0].snapshot)
        .await
        .unwrap();
    assert!(start.history.as_ref().unwrap().is_complete());
    w.run(run, &agent).await;
    let (seen, left) = log.lock().unwrap()[0].clone();
    assert_eq!(seen.head, local.head());
    assert_eq!(seen.subjects, ["second", "first"]);
    assert_same_tree(&seen.tree, &local.tree_state());

    // A second push uploads no object twice: only the new manifest.
    let before = count_blobs(&store).await;
    let again = w.push_from(local.path(), &agent).await;
    assert_ne!(again, run);
    assert_eq!(
        count_blobs(&store).await,
        before + 1,
        "the conversation of the new run is new; every snapshot object was stored"
    );

    // The follow-up after the agent's commit starts from it.
    follow_up(&store, run, &agent, "more".into()).await.unwrap();
    w.run(run, &agent).await;
    let (seen, _) = log.lock().unwrap()[1].clone();
    assert_eq!(seen.head, left.head);
    assert_eq!(seen.subjects, ["agent commit", "second", "first"]);
}

async fn count_blobs(store: &FsStore) -> usize {
    store.list_blobs().await.unwrap().len()
}

#[tokio::test]
async fn a_folder_of_repositories_with_one_ahead_of_its_remote() {
    let w = World::new();
    let folder = tempfile::tempdir().unwrap();
    let ahead = folder.path().join("ahead");
    let clean = folder.path().join("clean");
    for dir in [&ahead, &clean] {
        let out = git_command(folder.path())
            .args(["clone", "-q"])
            .arg(w.origin.path())
            .arg(dir)
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    std::fs::write(ahead.join("ahead.txt"), "committed, not pushed\n").unwrap();
    sh(&ahead, "git add ahead.txt && git commit -qm 'ahead'");
    std::fs::write(clean.join("wip.txt"), "uncommitted\n").unwrap();
    let (agent, log) = shell_agent(vec!["git -C ahead log --format=%s > ahead-log.txt"]);
    let run = w.push_from(folder.path(), &agent).await;
    w.run(run, &agent).await;
    let (_, left) = log.lock().unwrap()[0].clone();
    assert_eq!(left.tree["ahead-log.txt"].1, b"ahead\nbase\n");
    let envs: Vec<_> = std::fs::read_dir(w.envs.path())
        .unwrap()
        .flatten()
        .collect();
    let root = envs[0].path().join("workspace");
    assert_same_tree(
        &handoff_dev::tree_state_of(&root.join("ahead")),
        &handoff_dev::tree_state_of(&ahead),
    );
    assert_same_tree(
        &handoff_dev::tree_state_of(&root.join("clean")),
        &handoff_dev::tree_state_of(&clean),
    );
}

#[tokio::test]
async fn an_agent_that_resets_or_rebases_ends_exactly_where_it_left() {
    let w = World::new();
    w.local.write("l1.txt", "local one\n");
    w.local.commit_all("local one");
    w.local.write("l2.txt", "local two\n");
    w.local.commit_all("local two");
    let (agent, log) = shell_agent(vec![
        // Reset to the older local commit, keeping an edit.
        "git reset -q --hard HEAD~1 && echo kept > kept.txt",
        // Commit, then rebase that commit onto the pushed base, dropping the
        // local commit under it.
        "echo a1 > a1.txt && git add a1.txt && git commit -qm 'agent: a1'
         git rebase -q --onto origin/main HEAD~1",
        "true",
    ]);
    let run = w.push_from(w.local.path(), &agent).await;
    w.run(run, &agent).await;
    let store = w.store();
    for turn in 1..3 {
        follow_up(&store, run, &agent, format!("turn {turn}"))
            .await
            .unwrap();
        w.run(run, &agent).await;
        let log = log.lock().unwrap();
        let (left, (seen, _)) = (&log[turn - 1].1, &log[turn]);
        assert_eq!(
            seen.head,
            left.head,
            "turn {turn} starts where {} ended",
            turn - 1
        );
        assert_same_tree(&seen.tree, &left.tree);
    }
    let log = log.lock().unwrap();
    assert_eq!(log[1].0.subjects, ["local one", "base"], "after the reset");
    assert_eq!(log[2].0.subjects, ["agent: a1", "base"], "after the rebase");
}

#[tokio::test]
async fn continue_locally_again_moves_its_branch_and_refuses_anyone_elses() {
    let w = World::new();
    let (agent, _) = shell_agent(vec![
        "echo one > one.txt && git add one.txt && git commit -qm 'agent: one'",
        "echo two > two.txt && git add two.txt && git commit -qm 'agent: two'",
        "echo three > three.txt",
    ]);
    let run = w.push_from(w.local.path(), &agent).await;
    w.run(run, &agent).await;
    let store = w.store();
    let branch = format!("handoff/{run}");
    let first = continue_locally(&store, run, &agent, w.local.path(), &Default::default())
        .await
        .unwrap();
    assert!(!first.branches[0].2.uncommitted, "nothing was uncommitted");
    assert_eq!(w.local.subjects(&format!("main..{branch}")), ["agent: one"]);

    // After a follow-up the branch moves forward.
    follow_up(&store, run, &agent, "two".into()).await.unwrap();
    w.run(run, &agent).await;
    let second = continue_locally(&store, run, &agent, w.local.path(), &Default::default())
        .await
        .unwrap();
    assert_eq!(
        second.branches[0].2.moved_from,
        Some(first.branches[0].2.commit)
    );
    assert_eq!(
        w.local.subjects(&format!("main..{branch}")),
        ["agent: two", "agent: one"]
    );
    // Again, unchanged: a no-op.
    let same = continue_locally(&store, run, &agent, w.local.path(), &Default::default())
        .await
        .unwrap();
    assert!(same.branches[0].2.existed);

    // Someone commits on the branch: the next continue refuses to move it.
    follow_up(&store, run, &agent, "three".into())
        .await
        .unwrap();
    w.run(run, &agent).await;
    w.local.git(&["checkout", "-q", &branch]);
    w.local.write("mine.txt", "my review fix\n");
    w.local.commit_all("my review fix");
    w.local.git(&["checkout", "-q", "main"]);
    let mine = w.local.git(&["rev-parse", &branch]);
    let err = continue_locally(&store, run, &agent, w.local.path(), &Default::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Workspace(handoff_workspace::Error::BranchExists { .. })
        ),
        "{err}"
    );
    assert_eq!(w.local.git(&["rev-parse", &branch]), mine, "left alone");

    // Another name works; forcing moves it.
    let other = ContinueOptions {
        branch: Some("review/other".into()),
        ..Default::default()
    };
    continue_locally(&store, run, &agent, w.local.path(), &other)
        .await
        .unwrap();
    assert_eq!(
        w.local.subjects("main..review/other"),
        [
            format!("handoff: uncommitted work of run {run}"),
            "agent: two".into(),
            "agent: one".into()
        ]
    );
    let forced = ContinueOptions {
        force: true,
        ..Default::default()
    };
    continue_locally(&store, run, &agent, w.local.path(), &forced)
        .await
        .unwrap();
    assert_eq!(
        w.local.git(&["rev-parse", &format!("{branch}^{{tree}}")]),
        w.local.git(&["rev-parse", "review/other^{tree}"])
    );
    assert_eq!(
        w.local.subjects(&format!("main..{branch}"))[1..],
        ["agent: two", "agent: one"]
    );

    // The checked-out branch is never written.
    let checked_out = ContinueOptions {
        branch: Some("main".into()),
        force: true,
        ..Default::default()
    };
    let err = continue_locally(&store, run, &agent, w.local.path(), &checked_out)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("checked out"), "{err}");
}

#[tokio::test]
async fn too_much_history_is_refused_with_the_fix() {
    let w = World::new();
    for i in 0..3 {
        w.local.write("n.txt", format!("{i}\n"));
        w.local.commit_all(&format!("local {i}"));
    }
    let (agent, _) = shell_agent(vec![]);
    let store = w.store();
    let mut options = SnapshotOptions::default();
    options.limits.max_history_commits = 2;
    let err = w
        .push_with(w.local.path(), &agent, options, 1)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("git push") && text.contains("--max-history-commits"),
        "{text}"
    );
    assert!(RunStore::new(&store).list().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_commit_missing_from_the_remote_fails_the_session_clearly() {
    let w = World::new();
    w.local.write("x.txt", "x\n");
    w.local.commit_all("pushed later");
    // The remote-tracking ref says it was pushed, but the remote lacks it.
    w.local
        .git(&["update-ref", "refs/remotes/origin/main", "HEAD"]);
    w.local.write("y.txt", "y\n");
    w.local.commit_all("local");
    let (agent, _) = shell_agent(vec![]);
    let run = w.push_from(w.local.path(), &agent).await;
    let store = w.store();
    let env = LocalEnvironment::new(w.envs.path());
    let err = run_session(&store, run, &agent, &env, &WorkerOptions::default())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("git push"), "{text}");
    assert!(
        text.contains(w.local.git(&["rev-parse", "HEAD~1"]).trim()),
        "names the missing commit: {text}"
    );
}

#[tokio::test]
async fn variants_share_one_upload_and_get_their_own_branches() {
    let w = World::new();
    w.local.write("wip.txt", "wip\n");
    let (agent, _) = shell_agent(vec!["echo a > a.txt", "echo b > b.txt"]);
    let store = w.store();
    let pushed = w
        .push_with(w.local.path(), &agent, SnapshotOptions::default(), 2)
        .await
        .unwrap();
    assert_eq!(pushed.runs.len(), 2);
    let (a, b) = (&pushed.runs[0].record, &pushed.runs[1].record);
    assert_eq!(a.sessions[0].start, b.sessions[0].start, "one capture");
    assert_ne!(a.conversation, b.conversation, "each its own fork");
    for record in pushed.runs.iter().map(|r| &r.record) {
        w.run(record.id, &agent).await;
        continue_locally(
            &store,
            record.id,
            &agent,
            w.local.path(),
            &Default::default(),
        )
        .await
        .unwrap();
    }
    let files = |run: RunId| {
        w.local
            .git(&["ls-tree", "--name-only", &format!("handoff/{run}")])
    };
    assert!(files(a.id).contains("a.txt") && !files(a.id).contains("b.txt"));
    assert!(files(b.id).contains("b.txt") && !files(b.id).contains("a.txt"));
}

#[tokio::test]
async fn carried_objects_are_checked_against_their_ids() {
    let w = World::new();
    w.local.write("x.txt", "x\n");
    w.local.commit_all("local");
    let (agent, _) = shell_agent(vec![]);
    let run = w.push_from(w.local.path(), &agent).await;
    let store = w.store();
    let record = RunStore::new(&store).get(run).await.unwrap().record;
    let manifest = load_manifest(&store, &record.sessions[0].start[0].snapshot)
        .await
        .unwrap();
    let mut history = manifest.history.unwrap();
    // Swap two objects' contents: each still hashes to its digest, not to
    // the git id it claims.
    let commit = history
        .objects
        .iter()
        .position(|o| o.kind == ObjectKind::Commit)
        .unwrap();
    let blob = history
        .objects
        .iter()
        .position(|o| o.kind == ObjectKind::Blob)
        .unwrap();
    history.objects[commit].digest = history.objects[blob].digest;
    let target = GitRepo::clone_from(&w.origin);
    let err =
        handoff_workspace::import_history(target.path(), &store, &history, &Default::default())
            .await
            .unwrap_err();
    assert!(
        matches!(err, handoff_workspace::Error::HistoryObject { .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&w.local.head()), "{err}");
}
