//! What leaves this machine through the `handoff` binary: every command
//! that sends something (`push`, `snapshot`, `follow-up`, `import`) stops
//! at a likely secret in any field it sends, with one report and before a
//! byte reaches the store; and credentials in a remote URL never reach the
//! store at all, through push, follow-up and continue-locally, while the
//! worker still clones (with its own git configuration).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use handoff_dev::GitRepo;
use support::{Machine, script, stderr, stdout};

/// An AWS access key id in the documented example format.
const KEY: &str = "AKIAIOSFODNN7EXAMPLE";

/// A bare `origin` with one pushed commit, and a clone of it.
fn origin_and_clone() -> (GitRepo, GitRepo) {
    let origin = GitRepo::bare();
    let local = GitRepo::clone_from(&origin);
    local.write("README.md", "# app\n");
    local.commit_all("base");
    local.git(&["push", "-q", "origin", "main"]);
    (origin, local)
}

/// Every file under `dir` (its path) with its size: what a store holds.
fn files(dir: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else {
                let len = entry.metadata().unwrap().len();
                out.insert(path.display().to_string(), len);
            }
        }
    }
    out
}

/// The files under `dir` that contain `needle`.
fn any_file_contains(dir: &Path, needle: &str) -> Vec<String> {
    files(dir)
        .into_keys()
        .filter(|path| {
            std::fs::read(path)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
        })
        .collect()
}

/// Runs `handoff ARGS`, asserting that the secret scan stopped it with
/// `summary` after reporting exactly `reported`, and that the secret is
/// not printed.
#[track_caller]
fn stopped(me: &Machine, args: &[&str], dir: &Path, reported: &[&str], summary: &str) {
    assert_stopped(&me.handoff(args, dir), reported, summary);
}

/// [`stopped`] on a command's output.
#[track_caller]
fn assert_stopped<S: AsRef<str> + std::fmt::Debug>(
    out: &std::process::Output,
    reported: &[S],
    summary: &str,
) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("handoff: likely secret: "))
        .collect();
    let reported: Vec<&str> = reported.iter().map(AsRef::as_ref).collect();
    assert_eq!(lines, reported, "{err}");
    assert!(err.contains(summary), "{err}");
    assert!(!err.contains(KEY) && !stdout(out).contains(KEY), "{err}");
}

/// A Claude Code session file whose user message holds `text`.
fn claude_session(dir: &Path, text: &str) -> std::path::PathBuf {
    let line = serde_json::json!({
        "parentUuid": null,
        "isSidechain": false,
        "userType": "external",
        "cwd": dir.display().to_string(),
        "sessionId": "3f6c2a1e-9b4d-4e7a-8c15-2d9e0f1a2b3c",
        "version": "2.1.38",
        "gitBranch": "main",
        "type": "user",
        "message": {"role": "user", "content": text},
        "uuid": "c5b7e2a9-41d3-4f86-9a0b-6e2d8c4f1a37",
        "timestamp": "2026-11-20T09:00:13.900Z"
    });
    let path = dir.join("session.jsonl");
    std::fs::write(&path, format!("{line}\n")).unwrap();
    path
}

#[test]
fn every_command_that_sends_stops_at_a_secret_and_writes_nothing() {
    let store = tempfile::tempdir().unwrap();
    let me = Machine::new(store.path());
    let (_origin, local) = origin_and_clone();
    let bin = tempfile::tempdir().unwrap();
    let agent = script(bin.path(), "agent.sh", "cat > /dev/null; echo done");
    let agent = agent.to_str().unwrap();
    let run = me.push_and_wait(agent, "first", local.path());
    let before = files(store.path());
    let aws = "an AWS access key id (aws-access-key-id)";

    // push: the prompt.
    let prompt = format!("deploy with {KEY}");
    stopped(
        &me,
        &[
            "push",
            "--harness",
            "command",
            "--agent-cmd",
            agent,
            "--prompt",
            &prompt,
        ],
        local.path(),
        &[&format!("handoff: likely secret: prompt:1: {aws}")],
        "push stopped: 1 likely secret(s)",
    );
    assert_eq!(files(store.path()), before, "push wrote nothing");

    // follow-up: the prompt.
    stopped(
        &me,
        &["follow-up", &run, "--prompt", &prompt, "--agent-cmd", agent],
        local.path(),
        &[&format!("handoff: likely secret: prompt:1: {aws}")],
        "follow-up stopped: 1 likely secret(s)",
    );
    assert_eq!(files(store.path()), before, "follow-up wrote nothing");

    // import: a message of the session.
    let sessions = tempfile::tempdir().unwrap();
    let session = claude_session(sessions.path(), &format!("the key is {KEY}"));
    let session = session.to_str().unwrap();
    stopped(
        &me,
        &["import", "--harness", "claude-code", session],
        local.path(),
        // The title is the first message's start.
        &[
            &format!("handoff: likely secret: conversation:message/1: {aws}"),
            &format!("handoff: likely secret: conversation:title:1: {aws}"),
        ],
        "import stopped: 2 likely secret(s)",
    );
    assert_eq!(files(store.path()), before, "import wrote nothing");

    // snapshot: a commit message and a branch name.
    local.git(&["checkout", "-q", "-b", &format!("fix/{KEY}")]);
    local.write("notes.txt", "notes\n");
    let commit = local.commit_all(&format!("use {KEY} for now"));
    let commit = commit.trim();
    stopped(
        &me,
        &["snapshot"],
        local.path(),
        &[
            &format!("handoff: likely secret: base.branch:1: {aws}"),
            &format!("handoff: likely secret: history:commit {commit}:6: {aws}"),
        ],
        "snapshot stopped: 2 likely secret(s)",
    );
    assert_eq!(files(store.path()), before, "snapshot wrote nothing");

    // Each goes through with --allow-secrets.
    for args in [
        vec!["snapshot", "--allow-secrets"],
        vec![
            "import",
            "--harness",
            "claude-code",
            session,
            "--allow-secrets",
        ],
        vec![
            "follow-up",
            &run,
            "--prompt",
            &prompt,
            "--agent-cmd",
            agent,
            "--allow-secrets",
        ],
    ] {
        me.ok(&args, local.path());
    }
    assert_ne!(files(store.path()), before);
}

#[test]
fn no_credential_in_a_remote_url_reaches_the_store() {
    let store = tempfile::tempdir().unwrap();
    let me = Machine::new(store.path());
    let (origin, local) = origin_and_clone();
    let token = format!("ghp_{}", "Zx9Kq2Lm7Np4Rt6Vw8Yb1Cd3Ef5Gh0Jk2Mn4P");
    let with_token = format!("https://x-access-token:{token}@git.example.invalid/o/r.git");
    let stored = "https://git.example.invalid/o/r.git";
    local.git(&["remote", "set-url", "origin", &with_token]);
    // The worker's own git configuration says where that host's
    // repository really is (offline: the bare origin), as its credential
    // helpers would say how to log in.
    let config = tempfile::tempdir().unwrap();
    let gitconfig = config.path().join("gitconfig");
    std::fs::write(
        &gitconfig,
        format!(
            "[url \"{}\"]\n\tinsteadOf = {stored}\n",
            origin.path().display()
        ),
    )
    .unwrap();
    let bin = tempfile::tempdir().unwrap();
    let agent = script(
        bin.path(),
        "agent.sh",
        r#"prompt=$(cat | tail -n 1); echo "$prompt" >> turns.txt; git add turns.txt; git commit -qm "agent: $prompt"; echo done"#,
    );
    let agent = agent.to_str().unwrap();
    let handoff = |args: &[&str]| {
        let out = me
            .command(args, local.path())
            .env("GIT_CONFIG_GLOBAL", &gitconfig)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    let leaked = || {
        let mut found = any_file_contains(store.path(), &token);
        found.extend(any_file_contains(store.path(), "x-access-token"));
        found
    };

    let pushed = handoff(&[
        "push",
        "--harness",
        "command",
        "--agent-cmd",
        agent,
        "--prompt",
        "first",
        "--wait",
        "--json",
    ]);
    let pushed: serde_json::Value = serde_json::from_str(&pushed).unwrap();
    let run = pushed["run"].as_str().unwrap().to_owned();
    assert_eq!(pushed["record"]["state"], "ended", "{pushed}");
    assert_eq!(leaked(), Vec::<String>::new(), "after push");

    let followed = handoff(&[
        "follow-up",
        &run,
        "--prompt",
        "second",
        "--agent-cmd",
        agent,
        "--wait",
        "--json",
    ]);
    let followed: serde_json::Value = serde_json::from_str(&followed).unwrap();
    assert_eq!(followed["record"]["state"], "ended", "{followed}");
    assert_eq!(leaked(), Vec::<String>::new(), "after follow-up");

    handoff(&["continue-locally", &run, "--harness", "scripted"]);
    assert_eq!(leaked(), Vec::<String>::new(), "after continue-locally");
    assert_eq!(
        local.subjects(&format!("main..handoff/{run}")),
        ["agent: second", "agent: first"],
        "both sessions cloned and committed"
    );

    let shown: serde_json::Value =
        serde_json::from_str(&handoff(&["show", &run, "--json"])).unwrap();
    assert_eq!(shown["repositories"][0]["source"], stored);
}

#[test]
fn on_an_s3_store_nothing_is_uploaded_before_the_stop() {
    let Some(server) = handoff_dev::s3::MotoServer::start() else {
        return;
    };
    server.create_bucket("secrets");
    let (_origin, local) = origin_and_clone();
    local.write("config.txt", format!("key = {KEY}\n"));
    let sessions = tempfile::tempdir().unwrap();
    let session = claude_session(sessions.path(), &format!("the key is {KEY}"));
    let handoff = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_handoff"));
        cmd.current_dir(local.path())
            .env("HANDOFF_STORE", "s3://secrets/team")
            .args(args);
        for (key, value) in server.env() {
            cmd.env(key, value);
        }
        cmd.output().unwrap()
    };
    let aws = "an AWS access key id (aws-access-key-id)";
    for (args, reported) in [
        (
            vec!["snapshot"],
            vec![format!("handoff: likely secret: config.txt:1: {aws}")],
        ),
        (
            vec!["push", "--harness", "scripted", "--prompt", "go"],
            vec![format!("handoff: likely secret: config.txt:1: {aws}")],
        ),
        (
            vec![
                "import",
                "--harness",
                "claude-code",
                session.to_str().unwrap(),
            ],
            vec![
                format!("handoff: likely secret: conversation:message/1: {aws}"),
                format!("handoff: likely secret: conversation:title:1: {aws}"),
            ],
        ),
    ] {
        assert_stopped(&handoff(&args), &reported, "stopped: ");
        assert_eq!(server.keys("secrets"), Vec::<String>::new(), "{args:?}");
    }
    let out = handoff(&["snapshot", "--allow-secrets"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_ne!(
        server.keys("secrets"),
        Vec::<String>::new(),
        "allowed, it is uploaded"
    );
}
