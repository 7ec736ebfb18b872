//! The `handoff` binary on the journeys where history matters, as a new
//! user would take them: an agent that commits in its cloud session, a
//! local branch ahead of its remote, pushing from a subdirectory or a
//! linked worktree, continuing locally twice, exporting a run's
//! conversation, and steering a run from a second machine that shares only
//! the store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use handoff_dev::{GitRepo, assert_same_tree};
use support::{Machine, script, stderr, stdout};

/// A bare `origin` with one pushed commit, and a clone of it.
fn origin_and_clone() -> (GitRepo, GitRepo) {
    let origin = GitRepo::bare();
    let local = GitRepo::clone_from(&origin);
    local
        .write("README.md", "# app\n")
        .write("src/main.rs", "fn main() {}\n");
    local.commit_all("base");
    local.git(&["push", "-q", "origin", "main"]);
    (origin, local)
}

/// The agent of the issue: on its first turn it writes and commits `c.txt`,
/// then writes `w.txt` without committing; later turns report what they
/// see.
fn committing_agent(bin: &std::path::Path) -> String {
    script(
        bin,
        "agent.sh",
        r#"prompt=$(cat)
case "$prompt" in
  *first*) echo committed > c.txt; git add c.txt; git commit -qm "agent: c.txt"
           echo uncommitted > w.txt; echo "did the first part" ;;
  *) echo "saw c=$(cat c.txt 2>/dev/null) w=$(cat w.txt 2>/dev/null) head=$(git log -1 --format=%s)" ;;
esac"#,
    )
    .display()
    .to_string()
}

fn run_id(out: &str) -> String {
    out.lines().next().unwrap().trim().to_owned()
}

#[test]
fn an_agent_that_commits_in_the_cloud_loses_nothing() {
    let store = tempfile::tempdir().unwrap();
    let me = Machine::new(store.path());
    let (origin, local) = origin_and_clone();
    let bin = tempfile::tempdir().unwrap();
    let agent = committing_agent(bin.path());
    let run = me.push_and_wait(&agent, "first", local.path());

    // The diff lists the committed file as well as the uncommitted one, and
    // applies in a clean clone.
    let patch = me.ok(&["diff", &run], local.path());
    assert!(
        patch.contains("b/c.txt") && patch.contains("b/w.txt"),
        "{patch}"
    );
    let clean = GitRepo::clone_from(&origin);
    let patch_file = bin.path().join("run.patch");
    std::fs::write(&patch_file, &patch).unwrap();
    clean.git(&["apply", patch_file.to_str().unwrap()]);
    assert_eq!(clean.read("c.txt"), "committed\n");
    assert_eq!(clean.read("w.txt"), "uncommitted\n");

    // A follow-up restores both, on the agent's commit.
    let out = me.ok(
        &[
            "follow-up",
            &run,
            "--prompt",
            "second",
            "--agent-cmd",
            &agent,
            "--wait",
            "--json",
        ],
        local.path(),
    );
    assert!(out.contains("\"state\":\"ended\""), "{out}");

    // continue-locally works and carries the agent's commit.
    let conversation = me.transcript(&run, local.path());
    assert!(
        conversation.contains("saw c=committed w=uncommitted head=agent: c.txt"),
        "the follow-up saw everything: {conversation}"
    );
    let branch = format!("handoff/{run}");
    assert_eq!(
        local.subjects(&format!("main..{branch}")),
        [
            format!("handoff: uncommitted work of run {run}"),
            "agent: c.txt".into()
        ]
    );
    local.assert_fsck_clean();
}

#[test]
fn a_local_branch_ahead_of_its_remote_starts_the_cloud_session_on_it() {
    let store = tempfile::tempdir().unwrap();
    let me = Machine::new(store.path());
    let (_origin, local) = origin_and_clone();
    local.write("src/main.rs", "fn main() { println!(\"hi\"); }\n");
    local.commit_all("local: not pushed");
    local.write("untracked.txt", "new\n");
    let bin = tempfile::tempdir().unwrap();
    let agent = script(
        bin.path(),
        "agent.sh",
        "cat > /dev/null; git log --format=%s > log.txt; git status --porcelain > status.txt",
    );
    let run = me.push_and_wait(agent.to_str().unwrap(), "go", local.path());
    let patch = me.ok(&["diff", &run], local.path());
    assert!(
        patch.contains("+local: not pushed\n+base\n"),
        "the cloud session started on the local commit: {patch}"
    );
    assert!(patch.contains("+?? untracked.txt"), "{patch}");
}

#[test]
fn push_works_from_a_subdirectory_and_from_a_linked_worktree() {
    let store = tempfile::tempdir().unwrap();
    let me = Machine::new(store.path());
    let (_origin, local) = origin_and_clone();
    local.write("src/main.rs", "fn main() { /* edited */ }\n");
    let out = me.ok(
        &["push", "--harness", "scripted", "--prompt", "x", "--wait"],
        &local.path().join("src"),
    );
    let run = run_id(&out);
    assert!(me.ok(&["diff", &run], local.path()).contains("edited"));

    let worktrees = tempfile::tempdir().unwrap();
    let linked = worktrees.path().join("linked");
    local.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "feature",
        linked.to_str().unwrap(),
    ]);
    std::fs::write(linked.join("feature.txt"), "on a linked worktree\n").unwrap();
    let run = run_id(&me.ok(
        &["push", "--harness", "scripted", "--prompt", "x", "--wait"],
        &linked,
    ));
    assert!(
        me.ok(&["diff", &run], &linked)
            .contains("on a linked worktree")
    );
    // continue-locally from the linked worktree keeps its conversation in
    // the repository's shared git directory.
    let out = me.ok(
        &["continue-locally", &run, "--harness", "scripted", "--json"],
        &linked,
    );
    let back: serde_json::Value = serde_json::from_str(&out).unwrap();
    let file = back["conversation_file"].as_str().unwrap();
    assert!(
        std::path::Path::new(file)
            .starts_with(std::fs::canonicalize(local.path().join(".git")).unwrap()),
        "{file}"
    );
}

#[test]
fn a_bare_repository_is_a_clear_error() {
    let store = tempfile::tempdir().unwrap();
    let me = Machine::new(store.path());
    let (origin, _local) = origin_and_clone();
    for args in [
        vec!["snapshot"],
        vec!["push", "--harness", "scripted", "--prompt", "x"],
    ] {
        let out = me.handoff(&args, origin.path());
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&out).contains("is a bare repository"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn continue_locally_twice_and_a_branch_someone_committed_on() {
    let store = tempfile::tempdir().unwrap();
    let me = Machine::new(store.path());
    let (_origin, local) = origin_and_clone();
    let bin = tempfile::tempdir().unwrap();
    let agent = committing_agent(bin.path());
    let run = me.push_and_wait(&agent, "first", local.path());
    me.ok(
        &["continue-locally", &run, "--harness", "scripted"],
        local.path(),
    );
    let more = script(
        bin.path(),
        "more.sh",
        "cat > /dev/null; echo more > more.txt",
    );
    me.ok(
        &[
            "follow-up",
            &run,
            "--prompt",
            "again",
            "--agent-cmd",
            more.to_str().unwrap(),
            "--wait",
        ],
        local.path(),
    );
    let out = me.ok(
        &["continue-locally", &run, "--harness", "scripted"],
        local.path(),
    );
    assert!(out.contains("(moved from "), "{out}");

    let branch = format!("handoff/{run}");
    local.git(&["checkout", "-q", &branch]);
    local.write("review.txt", "my fix\n");
    local.commit_all("review fix");
    local.git(&["checkout", "-q", "main"]);
    let out = me.handoff(
        &["continue-locally", &run, "--harness", "scripted"],
        local.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let message = stderr(&out);
    assert!(
        message.contains("--branch NAME") && message.contains("--force"),
        "{message}"
    );
    let out = me.ok(
        &[
            "continue-locally",
            &run,
            "--harness",
            "scripted",
            "--branch",
            "review/2",
        ],
        local.path(),
    );
    assert!(out.contains("branch review/2 at "), "{out}");
}

#[test]
fn a_runs_conversation_exports_for_both_native_harnesses_and_never_overwrites() {
    let store = tempfile::tempdir().unwrap();
    let me = Machine::new(store.path());
    let (_origin, local) = origin_and_clone();
    let run = run_id(&me.ok(
        &[
            "push",
            "--harness",
            "scripted",
            "--prompt",
            "hello run",
            "--wait",
        ],
        local.path(),
    ));
    let record: serde_json::Value =
        serde_json::from_str(&me.ok(&["show", &run, "--json"], local.path())).unwrap();
    let conversation = record["conversation"].as_str().unwrap().to_owned();
    for harness in ["claude-code", "codex"] {
        let home = tempfile::tempdir().unwrap();
        let out = me.ok(
            &[
                "export",
                &conversation,
                "--harness",
                harness,
                "--home",
                home.path().to_str().unwrap(),
                "--cwd",
                local.path().to_str().unwrap(),
                "--json",
            ],
            local.path(),
        );
        let exported: serde_json::Value = serde_json::from_str(&out).unwrap();
        let file = std::fs::read_to_string(exported["file"].as_str().unwrap()).unwrap();
        assert!(file.contains("hello run"), "{harness}: {file}");
    }

    // A Codex session imported from a home and exported back into it: the
    // user's own rollout stays byte for byte; the export is a fork.
    let home = tempfile::tempdir().unwrap();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../codex/tests/fixtures/rollout.jsonl");
    let original = home
        .path()
        .join("sessions/2026/11/20/rollout-2026-11-20T10-00-00-5c2f0e3a-8b1d-4f6e-9a7c-1d2e3f4a5b6c.jsonl");
    std::fs::create_dir_all(original.parent().unwrap()).unwrap();
    std::fs::copy(&fixture, &original).unwrap();
    let before = std::fs::read(&original).unwrap();
    let id = me
        .ok(
            &["import", "--harness", "codex", original.to_str().unwrap()],
            local.path(),
        )
        .trim()
        .to_owned();
    assert_eq!(id, "5c2f0e3a-8b1d-4f6e-9a7c-1d2e3f4a5b6c");
    let out = me.ok(
        &[
            "export",
            &id,
            "--harness",
            "codex",
            "--home",
            home.path().to_str().unwrap(),
            "--cwd",
            local.path().to_str().unwrap(),
            "--json",
        ],
        local.path(),
    );
    assert_eq!(std::fs::read(&original).unwrap(), before, "untouched");
    let exported: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_ne!(exported["session"], id.as_str());
    assert_eq!(exported["forked_from"], id.as_str());
    let fork = std::fs::read_to_string(exported["file"].as_str().unwrap()).unwrap();
    let meta: serde_json::Value = serde_json::from_str(fork.lines().next().unwrap()).unwrap();
    assert_eq!(meta["payload"]["forked_from_id"], id.as_str());
    assert_eq!(meta["payload"]["id"], exported["session"]);
}

#[test]
fn a_second_machine_that_shares_only_the_store_steers_the_run() {
    let store = tempfile::tempdir().unwrap();
    let laptop = Machine::new(store.path());
    let desktop = Machine::new(store.path());
    let (origin, here) = origin_and_clone();
    // Work on the laptop that never reached the remote.
    here.write("laptop.txt", "laptop commit\n");
    here.commit_all("laptop: not pushed");
    here.write("wip.txt", "laptop wip\n");
    let bin = tempfile::tempdir().unwrap();
    let agent = committing_agent(bin.path());
    let run = laptop.push_and_wait(&agent, "first", here.path());

    // The desktop has its own clone of the remote, which lacks the laptop's
    // commit and the agent's.
    let there = GitRepo::clone_from(&origin);
    let out = desktop.ok(
        &[
            "follow-up",
            &run,
            "--prompt",
            "second",
            "--agent-cmd",
            &agent,
            "--wait",
            "--json",
        ],
        there.path(),
    );
    assert!(out.contains("\"state\":\"ended\""), "{out}");
    desktop.ok(
        &["continue-locally", &run, "--harness", "scripted"],
        there.path(),
    );
    let branch = format!("handoff/{run}");
    assert_eq!(
        there.subjects(&format!("main..{branch}")),
        [
            format!("handoff: uncommitted work of run {run}"),
            "agent: c.txt".into(),
            "laptop: not pushed".into()
        ]
    );
    there.assert_fsck_clean();
    let check = GitRepo::clone_from(&there);
    check.git(&["checkout", "-q", &format!("origin/{branch}")]);
    let mut expected = here.tree_state();
    expected.insert("c.txt".into(), (0o100644, b"committed\n".to_vec()));
    expected.insert("w.txt".into(), (0o100644, b"uncommitted\n".to_vec()));
    assert_same_tree(&check.tree_state(), &expected);
    assert!(stdout(&desktop.handoff(&["runs"], there.path())).contains(&run));
}
