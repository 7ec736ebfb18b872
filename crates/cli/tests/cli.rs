//! The `handoff` binary end to end, on real git repositories: output,
//! JSON shapes, exit codes and error messages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use handoff_dev::scenario::{base_repo, make_changes};
use handoff_dev::{GitRepo, assert_same_tree, git_command};
use serde_json::Value;

struct Env {
    store: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Self {
            store: tempfile::tempdir().unwrap(),
        }
    }

    fn handoff(&self, args: &[&str], dir: &Path) -> Output {
        Command::new(env!("CARGO_BIN_EXE_handoff"))
            .current_dir(dir)
            .env_remove("HANDOFF_STORE")
            .arg("--store")
            .arg(self.store.path())
            .args(args)
            .output()
            .unwrap()
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

fn snapshot_id(env: &Env, repo: &GitRepo) -> String {
    let out = env.handoff(&["snapshot"], repo.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stdout(&out).trim().to_owned()
}

#[test]
fn snapshot_prints_an_id_and_json_describes_it() {
    let env = Env::new();
    let a = base_repo();
    make_changes(&a);
    let id = snapshot_id(&env, &a);
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");

    let out = env.handoff(&["snapshot", "--json"], a.path());
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stderr(&out), "", "no progress or warnings with --json");
    let v = json(&out);
    assert_eq!(v["id"], id.as_str(), "same state, same id");
    assert_eq!(v["base"]["commit"], a.head().as_str());
    assert_eq!(v["base"]["branch"], "main");
    assert_eq!(v["base"]["remote"], Value::Null);
    let files = v["files"].as_array().unwrap();
    let status = |p: &str| {
        files
            .iter()
            .find(|f| f["path"] == p)
            .map(|f| f["status"].as_str().unwrap().to_owned())
    };
    assert_eq!(status("notes/untracked.md").as_deref(), Some("untracked"));
    assert_eq!(status("to_delete.txt").as_deref(), Some("deleted"));
    assert_eq!(status("new name.txt").as_deref(), Some("renamed"));
    assert!(v["bytes"].as_u64().unwrap() > 0);
}

#[test]
fn apply_reports_and_is_idempotent() {
    let env = Env::new();
    let a = base_repo();
    let b = GitRepo::clone_from(&a);
    make_changes(&a);
    let id = snapshot_id(&env, &a);
    let entries = json(&env.handoff(&["snapshot", "--json"], a.path()))["files"]
        .as_array()
        .unwrap()
        .len();

    let out = env.handoff(&["apply", &id, "--json"], b.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    let report = json(&out);
    assert_eq!(report["applied"].as_array().unwrap().len(), entries);
    assert_eq!(report["failed"], serde_json::json!([]));
    let mut expected = a.tree_state();
    expected.retain(|p, _| !p.starts_with("ignored/") && !p.ends_with(".log"));
    assert_same_tree(&b.tree_state(), &expected);

    let again = json(&env.handoff(&["apply", &id, "--json"], b.path()));
    assert_eq!(again["applied"], serde_json::json!([]));
    assert_eq!(again["already_applied"].as_array().unwrap().len(), entries);

    let human = env.handoff(&["apply", &id], b.path());
    assert_eq!(human.status.code(), Some(0));
    assert!(stdout(&human).starts_with(&format!("applied 0, already applied {entries}, merged 0")));
}

#[test]
fn conflicts_exit_3_and_leave_the_file_alone() {
    let env = Env::new();
    let a = base_repo();
    let b = GitRepo::clone_from(&a);
    a.write("README.md", "# snapshot title\n\nline\n");
    a.write("src/lib.rs", "// from the snapshot\n");
    let id = snapshot_id(&env, &a);
    b.write("README.md", "# local title\n\nline\n");
    let out = env.handoff(&["apply", &id, "--json"], b.path());
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["applied"], serde_json::json!(["src/lib.rs"]));
    assert_eq!(report["failed"][0]["path"], "README.md");
    assert_eq!(report["failed"][0]["kind"], "conflict");
    assert_eq!(
        std::fs::read_to_string(b.path().join("README.md")).unwrap(),
        "# local title\n\nline\n"
    );

    let human = env.handoff(&["apply", &id], b.path());
    assert_eq!(human.status.code(), Some(3));
    assert!(
        stdout(&human).contains("FAILED  README.md: changed in this checkout"),
        "{}",
        stdout(&human)
    );
}

#[test]
fn dry_run_changes_nothing() {
    let env = Env::new();
    let a = base_repo();
    let b = GitRepo::clone_from(&a);
    make_changes(&a);
    let id = snapshot_id(&env, &a);
    let before = (b.tree_state(), b.status());
    let out = env.handoff(&["apply", &id, "--dry-run"], b.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("would apply "));
    assert_eq!((b.tree_state(), b.status()), before);
}

#[test]
fn diff_applies_with_git_apply() {
    let env = Env::new();
    let a = GitRepo::init();
    a.write("edit.txt", "one\ntwo\n").write("gone.txt", "bye\n");
    a.commit_all("base");
    let b = GitRepo::clone_from(&a);
    a.write("edit.txt", "one\n2\n")
        .write("new.txt", "new\n")
        .remove("gone.txt");
    let id = snapshot_id(&env, &a);
    let out = env.handoff(&["diff", &id], a.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let patch = b.path().join("../handoff-cli-test.patch");
    std::fs::write(&patch, &out.stdout).unwrap();
    let applied = git_command(b.path())
        .arg("apply")
        .arg(&patch)
        .status()
        .unwrap();
    std::fs::remove_file(&patch).unwrap();
    assert!(applied.success());
    assert_same_tree(&b.tree_state(), &a.tree_state());
}

#[test]
fn errors_exit_1_with_one_line() {
    let env = Env::new();
    let not_repo = tempfile::tempdir().unwrap();
    let one_line = |out: &Output, needle: &str| {
        assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
        assert_eq!(stdout(out), "");
        let err = stderr(out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("handoff: ") && err.contains(needle),
            "{err}"
        );
    };
    one_line(
        &env.handoff(&["snapshot"], not_repo.path()),
        "is not a git repository",
    );

    let a = base_repo();
    let unknown = format!("sha256:{}", "ab".repeat(32));
    one_line(
        &env.handoff(&["apply", &unknown], a.path()),
        &format!("snapshot {unknown} not found"),
    );
    one_line(
        &env.handoff(&["apply", "sha256:nope"], a.path()),
        "is not a snapshot id",
    );

    // A flipped byte in the stored manifest is reported, naming the digest.
    a.write("x.txt", "x\n");
    let id = snapshot_id(&env, &a);
    let hex = id.trim_start_matches("sha256:");
    let blob = env
        .store
        .path()
        .join("blobs/sha256")
        .join(&hex[..2])
        .join(&hex[2..]);
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&blob, bytes).unwrap();
    one_line(
        &env.handoff(&["apply", &id], a.path()),
        &format!("{id} in store"),
    );
    one_line(&env.handoff(&["diff", &id], a.path()), "is corrupted");
}

#[test]
fn store_comes_from_the_environment_without_the_flag() {
    let store = tempfile::tempdir().unwrap();
    let a = base_repo();
    a.write("x.txt", "x\n");
    let out = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .current_dir(a.path())
        .env("HANDOFF_STORE", store.path())
        .arg("snapshot")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let id = stdout(&out);
    let hex = id.trim().trim_start_matches("sha256:");
    assert!(
        store
            .path()
            .join("blobs/sha256")
            .join(&hex[..2])
            .join(&hex[2..])
            .is_file()
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .arg("apply")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let _ = git_command(Path::new("."));
}

#[test]
fn an_s3_store_needs_only_the_standard_environment() {
    let Some(server) = handoff_dev::s3::MotoServer::start() else {
        return;
    };
    server.create_bucket("handoff-cli");
    let a = base_repo();
    let b = GitRepo::clone_from(&a);
    make_changes(&a);
    let run = |args: &[&str], dir: &Path| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_handoff"));
        cmd.current_dir(dir)
            .env("HANDOFF_STORE", "s3://handoff-cli/team/store")
            .args(args);
        for (key, value) in server.env() {
            cmd.env(key, value);
        }
        cmd.output().unwrap()
    };
    let out = run(&["snapshot"], a.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let id = stdout(&out).trim().to_owned();
    let out = run(&["apply", &id, "--json"], b.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["failed"], serde_json::json!([]));
    let mut expected = a.tree_state();
    expected.retain(|p, _| !p.starts_with("ignored/") && !p.ends_with(".log"));
    assert_same_tree(&b.tree_state(), &expected);
}

fn run_id(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    stdout(out)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

#[test]
fn the_cloud_tour_push_follow_up_continue_locally() {
    let env = Env::new();
    let local = base_repo();
    local.write("src/lib.rs", "pub fn two() -> u32 {\n    2\n}\n");
    local.write("notes/plan.md", "plan\n");
    let run = run_id(&env.handoff(
        &[
            "push",
            "--harness",
            "scripted",
            "--prompt",
            "tests please",
            "--wait",
        ],
        local.path(),
    ));
    let shown = json(&env.handoff(&["show", &run, "--json"], local.path()));
    assert_eq!(shown["state"], "ended");
    assert_eq!(
        shown["sessions"][0]["apply"][0]["report"]["failed"],
        serde_json::json!([])
    );

    let runs = json(&env.handoff(&["runs", "--json"], local.path()));
    assert_eq!(runs[0]["id"], run.as_str());

    let out = env.handoff(
        &[
            "follow-up",
            &run,
            "--prompt",
            "and docs",
            "--wait",
            "--json",
        ],
        local.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["record"]["sessions"], 2);

    let before = (local.tree_state(), local.status(), local.head());
    let out = env.handoff(
        &["continue-locally", &run, "--harness", "scripted", "--json"],
        local.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        (local.tree_state(), local.status(), local.head()),
        before,
        "the local tree is untouched"
    );
    let back = json(&out);
    let branch = back["branches"][0]["branch"].as_str().unwrap();
    assert_eq!(branch, format!("refs/heads/handoff/{run}"));
    let file = back["conversation_file"].as_str().unwrap();
    assert!(
        Path::new(file).starts_with(local.path().join(".git")),
        "{file}"
    );
    let conversation = std::fs::read_to_string(file).unwrap();
    assert_eq!(
        conversation.lines().count(),
        1 + 4,
        "header and two turns of two messages"
    );

    let diff = env.handoff(&["diff", &run], local.path());
    assert_eq!(diff.status.code(), Some(0), "{}", stderr(&diff));
    assert!(stdout(&diff).contains("+pub fn two()"));
}

#[test]
fn push_refuses_likely_secrets_unless_excluded_or_allowed() {
    let env = Env::new();
    let local = base_repo();
    local.write(".env", "TOKEN=abc\n");
    let key = format!("AKIA{}", "Q3EGRDBSAK7XFZMN");
    local.write("src/config.rs", format!("const K: &str = \"{key}\";\n"));
    let out = env.handoff(&["push", "--harness", "scripted"], local.path());
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("likely secret: .env: an environment file (.env) (dotenv-file)"),
        "{err}"
    );
    assert!(
        err.contains("likely secret: src/config.rs:1: an AWS access key id"),
        "{err}"
    );
    assert!(!err.contains(&key), "the secret itself is never printed");
    assert_eq!(
        json(&env.handoff(&["runs", "--json"], local.path())),
        serde_json::json!([]),
        "nothing was created"
    );
    let excluded = env.handoff(
        &[
            "push",
            "--harness",
            "scripted",
            "--exclude",
            ".env",
            "--exclude",
            "src/config.rs",
        ],
        local.path(),
    );
    assert_eq!(excluded.status.code(), Some(0), "{}", stderr(&excluded));
    let allowed = env.handoff(
        &["push", "--harness", "scripted", "--allow-secrets"],
        local.path(),
    );
    assert_eq!(allowed.status.code(), Some(0), "{}", stderr(&allowed));
}

#[test]
fn busy_runs_refuse_follow_ups_and_the_worker_runs_them() {
    let env = Env::new();
    let local = base_repo();
    local.write("x.txt", "x\n");
    let run = run_id(&env.handoff(&["push", "--harness", "scripted"], local.path()));
    let out = env.handoff(&["follow-up", &run, "--prompt", "x"], local.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is Queued; wait for its session to end"),
        "{}",
        stderr(&out)
    );
    let worker = env.handoff(&["worker", "--once"], local.path());
    assert_eq!(worker.status.code(), Some(0), "{}", stderr(&worker));
    assert_eq!(
        json(&env.handoff(&["show", &run, "--json"], local.path()))["state"],
        "ended"
    );
}

#[test]
fn the_command_harness_runs_the_agent_cli_in_the_restored_workspace() {
    let env = Env::new();
    let local = base_repo();
    local.write("restored.txt", "carried over\n");
    let bin = tempfile::tempdir().unwrap();
    let agent = bin.path().join("agent.sh");
    std::fs::write(
        &agent,
        "#!/bin/sh\ncat restored.txt\necho edited-by-agent > agent.txt\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cmd = agent.display().to_string();
    let run = run_id(&env.handoff(
        &[
            "push",
            "--harness",
            "command",
            "--agent-cmd",
            &cmd,
            "--prompt",
            "go",
            "--wait",
        ],
        local.path(),
    ));
    let out = env.handoff(
        &[
            "continue-locally",
            &run,
            "--harness",
            "scripted",
            "--apply",
            "--json",
        ],
        local.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(local.path().join("agent.txt")).unwrap(),
        "edited-by-agent\n"
    );
    let file = json(&out)["conversation_file"].as_str().unwrap().to_owned();
    assert!(
        std::fs::read_to_string(file)
            .unwrap()
            .contains("carried over")
    );
}

#[test]
fn claude_code_sessions_import_export_and_push() {
    let env = Env::new();
    let repo = base_repo();
    repo.write("src/lib.rs", "// edited in a Claude Code session\n");
    let home = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/claude-code/short.jsonl");

    // import a native file, export it as a session for this repository
    let out = env.handoff(
        &[
            "import",
            "--harness",
            "claude-code",
            fixture.to_str().unwrap(),
            "--json",
        ],
        repo.path(),
    );
    let imported = json(&out);
    let id = imported["conversation"].as_str().unwrap().to_owned();
    assert_eq!(
        id, "55604662-cf2a-4331-851a-ec234028f8ca",
        "the session id is the conversation id"
    );
    let home_arg = home.path().to_str().unwrap();
    let cwd = repo.path().to_str().unwrap();
    let out = env.handoff(
        &[
            "export",
            &id,
            "--harness",
            "claude-code",
            "--cwd",
            cwd,
            "--home",
            home_arg,
            "--json",
        ],
        repo.path(),
    );
    let exported = json(&out);
    let canonical = std::fs::canonicalize(repo.path()).unwrap();
    let folder = handoff_claude_code::paths::project_folder(canonical.to_str().unwrap());
    assert_eq!(
        exported["file"].as_str().unwrap(),
        home.path()
            .join("projects")
            .join(folder)
            .join(format!("{id}.jsonl"))
            .to_str()
            .unwrap()
    );

    // import it back by "latest" for the directory
    let again = json(&env.handoff(
        &[
            "import",
            "--harness",
            "claude-code",
            "--session",
            "latest",
            "--cwd",
            cwd,
            "--home",
            home_arg,
            "--json",
        ],
        repo.path(),
    ));
    assert_eq!(again["conversation"], id.as_str());
    assert_eq!(again["messages"], imported["messages"]);

    // push the local Claude Code session to the cloud
    let out = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .current_dir(repo.path())
        .env("CLAUDE_CONFIG_DIR", home.path())
        .arg("--store")
        .arg(env.store.path())
        .args([
            "push",
            "--harness",
            "claude-code",
            "--session",
            "latest",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let pushed = json(&out);
    assert_eq!(pushed["record"]["harness"], "claude-code");
    assert_ne!(
        pushed["record"]["conversation"],
        id.as_str(),
        "the cloud run continues a fork"
    );
}

#[test]
fn codex_sessions_import_export_and_push() {
    let env = Env::new();
    let repo = base_repo();
    repo.write("src/lib.rs", "// edited in a Codex session\n");
    let home = tempfile::tempdir().unwrap();
    let rollout =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../codex/tests/fixtures/rollout.jsonl");
    let imported = json(&env.handoff(
        &[
            "import",
            "--harness",
            "codex",
            rollout.to_str().unwrap(),
            "--json",
        ],
        repo.path(),
    ));
    let id = imported["conversation"].as_str().unwrap().to_owned();
    let cwd = repo.path().to_str().unwrap();
    let home_arg = home.path().to_str().unwrap();
    let exported = json(&env.handoff(
        &[
            "export",
            &id,
            "--harness",
            "codex",
            "--cwd",
            cwd,
            "--home",
            home_arg,
            "--json",
        ],
        repo.path(),
    ));
    let file = exported["file"].as_str().unwrap();
    assert!(
        file.contains("/sessions/") && file.ends_with(&format!("-{id}.jsonl")),
        "{file}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .current_dir(repo.path())
        .env("CODEX_HOME", home.path())
        .arg("--store")
        .arg(env.store.path())
        .args([
            "push",
            "--harness",
            "codex",
            "--session",
            "latest",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["record"]["harness"], "codex");
}

/// Fake agent CLIs, found first on PATH, resuming like the real ones.
const FAKE_CLAUDE: &str = r#"#!/bin/sh
id="$3"; prompt="$7"
folder=$(printf '%s' "$PWD" | sed 's/[^a-zA-Z0-9]/-/g')
file="$CLAUDE_CONFIG_DIR/projects/$folder/$id.jsonl"
[ -f "$file" ] || { echo "No conversation found with session ID: $id" >&2; exit 1; }
printf '{"type":"user","message":{"role":"user","content":"%s"}}\n{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"claude was here"}]}}\n' "$prompt" >> "$file"
echo '{"type":"result","subtype":"success","result":"ok"}'
"#;

const FAKE_CODEX: &str = r#"#!/bin/sh
id="$4"; prompt="$5"
file=$(find "$CODEX_HOME/sessions" -name "rollout-*-$id.jsonl" | head -n 1)
[ -n "$file" ] || { echo "no rollout for $id" >&2; exit 1; }
printf '{"type":"response_item","payload":{"type":"message","role":"assistant","content":[{"type":"output_text","text":"codex was here: %s"}]}}\n' "$prompt" >> "$file"
"#;

#[test]
fn agent_clis_found_on_path_run_the_cloud_sessions() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let bin = tempfile::tempdir().unwrap();
    for (name, script) in [("claude", FAKE_CLAUDE), ("codex", FAKE_CODEX)] {
        let path = bin.path().join(name);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let homes = tempfile::tempdir().unwrap();
    let repo = base_repo();
    repo.write("x.txt", "x\n");
    for harness in ["claude-code", "codex"] {
        let out = Command::new(env!("CARGO_BIN_EXE_handoff"))
            .current_dir(repo.path())
            .env("PATH", &path)
            .env("CLAUDE_CONFIG_DIR", homes.path().join("claude"))
            .env("CODEX_HOME", homes.path().join("codex"))
            .arg("--store")
            .arg(env.store.path())
            .args([
                "push",
                "--harness",
                harness,
                "--prompt",
                "go",
                "--wait",
                "--json",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{harness}: {}", stderr(&out));
        let pushed = json(&out);
        assert_eq!(pushed["record"]["state"], "ended", "{harness}");

        // cloud → local into the same agent: installed where it resumes.
        let run = pushed["run"].as_str().unwrap();
        let back = Command::new(env!("CARGO_BIN_EXE_handoff"))
            .current_dir(repo.path())
            .env("CLAUDE_CONFIG_DIR", homes.path().join("claude"))
            .env("CODEX_HOME", homes.path().join("codex"))
            .arg("--store")
            .arg(env.store.path())
            .args(["continue-locally", run, "--harness", harness, "--json"])
            .output()
            .unwrap();
        assert_eq!(back.status.code(), Some(0), "{harness}: {}", stderr(&back));
        let native = json(&back)["native_session"].clone();
        assert!(
            Path::new(native["file"].as_str().unwrap()).is_file(),
            "{harness}: {native}"
        );
        assert!(
            native["resume"].as_str().unwrap().contains("resume"),
            "{native}"
        );
    }
}
