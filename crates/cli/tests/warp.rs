//! A user's local Warp conversation travels: imported from Warp's
//! `warp.sqlite` (never written), pushed, run in the cloud by `oz` (a
//! stand-in behaving as Warp's sources say) continuing Warp's own server
//! conversation, and continued locally by printing how to open it in Warp.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use handoff_dev::scenario::base_repo;
use handoff_warp::testing::{WarpDatabase, agent, shell_call, shell_result, task, user};
use serde_json::{Value, json};

const LOCAL: &str = "0195f3a0-0000-7000-8000-0000000000aa";
const OTHER: &str = "0195f3a0-0000-7000-8000-0000000000bb";

/// Warp's state directory (as `$XDG_STATE_HOME/warp-terminal`) holding a
/// conversation started in `repo` and a newer one started elsewhere.
fn warp_state(repo: &Path) -> (tempfile::TempDir, PathBuf) {
    let state = tempfile::tempdir().unwrap();
    let home = state.path().join("warp-terminal");
    std::fs::create_dir_all(&home).unwrap();
    let db = WarpDatabase::create(&home, "wal");
    let repo = std::fs::canonicalize(repo).unwrap();
    db.conversation(
        LOCAL,
        json!({"server_conversation_token": "tok-local"}),
        "2025-03-01 09:00:00",
        repo.to_str().unwrap(),
        "Speed up parse()",
    );
    db.task(
        LOCAL,
        "root",
        &task(
            "root",
            None,
            &[
                user(
                    "m1",
                    1_740_000_001,
                    "parse() is slow; the marker word is HERON",
                ),
                shell_call("m2", 1_740_000_002, "c1", "cargo bench"),
                shell_result("m3", 1_740_000_003, "c1", "parse: 120 ns", 0),
                agent("m4", 1_740_000_004, "The tokenizer allocates per token."),
            ],
        ),
    );
    db.task(LOCAL, "torn", b"\x12\x09half");
    db.conversation(
        OTHER,
        json!({"server_conversation_token": "tok-other"}),
        "2025-03-02 09:00:00",
        "/somewhere/else",
        "Unrelated",
    );
    db.task(
        OTHER,
        "t",
        &task("t", None, &[user("o1", 1_740_100_001, "hello")]),
    );
    let file = db.path().to_owned();
    drop(db);
    (state, file)
}

/// A directory holding the stand-in `oz`, logging under `log/`.
fn fake_oz() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let bin = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../warp/tests/fake/oz");
    let oz = bin.path().join("oz");
    std::fs::copy(source, &oz).unwrap();
    std::fs::set_permissions(&oz, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

struct Env {
    store: tempfile::TempDir,
    state: PathBuf,
    path: String,
}

impl Env {
    fn handoff(&self, args: &[&str], dir: &Path) -> Output {
        Command::new(env!("CARGO_BIN_EXE_handoff"))
            .current_dir(dir)
            .env_remove("HANDOFF_STORE")
            .env("XDG_STATE_HOME", &self.state)
            .env("PATH", &self.path)
            // The stand-in `oz` logs what it was given next to itself,
            // outside the workspace, which the sandbox forbids (the sandbox
            // has tests of its own).
            .env("HANDOFF_BWRAP", "")
            .arg("--store")
            .arg(self.store.path())
            .args(args)
            .output()
            .unwrap()
    }
}

fn json_of(out: &Output) -> Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_local_warp_conversation_is_imported_pushed_run_and_continued() {
    let repo = base_repo();
    repo.write("src/lib.rs", "// tokenizer reworked in Warp\n");
    let (state, database) = warp_state(repo.path());
    let before = std::fs::read(&database).unwrap();
    let bin = fake_oz();
    let env = Env {
        store: tempfile::tempdir().unwrap(),
        state: state.path().to_owned(),
        path: format!(
            "{}:{}",
            bin.path().display(),
            std::env::var("PATH").unwrap_or_default()
        ),
    };
    let home = state.path().join("warp-terminal");

    // import: latest for this directory, with the corrupt task named.
    let out = env.handoff(
        &[
            "import",
            "--harness",
            "warp",
            "--session",
            "latest",
            "--home",
            home.to_str().unwrap(),
            "--json",
        ],
        repo.path(),
    );
    let imported = json_of(&out);
    assert_eq!(imported["conversation"], LOCAL);
    assert_eq!(imported["messages"], 4);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("task torn (row 2) skipped: not a valid Warp task"),
        "{stderr}"
    );
    let by_token = json_of(&env.handoff(
        &[
            "import",
            "--harness",
            "warp",
            "--session",
            "tok-other",
            "--json",
        ],
        repo.path(),
    ));
    assert_eq!(
        by_token["conversation"], OTHER,
        "Warp's own directory is found"
    );

    // push it; the cloud turn continues Warp's conversation.
    let pushed = json_of(&env.handoff(
        &[
            "push",
            "--harness",
            "warp",
            "--session",
            "latest",
            "--prompt",
            "finish the rework",
            "--wait",
            "--json",
        ],
        repo.path(),
    ));
    assert_eq!(pushed["record"]["state"], "ended", "{pushed}");
    let log = bin.path().join("log");
    assert_eq!(
        std::fs::read_to_string(log.join("conversation-1")).unwrap(),
        "tok-local"
    );
    let prompt = std::fs::read_to_string(log.join("prompt-1")).unwrap();
    assert!(
        prompt.starts_with("Note from handoff:") && prompt.ends_with("\n\nfinish the rework"),
        "the handoff note, then the prompt: {prompt}"
    );
    assert!(
        !prompt.contains("conversation so far"),
        "Warp holds the whole history: no history document is sent: {prompt}"
    );

    // continue locally in Warp: a link, nothing installed.
    let run = pushed["run"].as_str().unwrap();
    let back = json_of(&env.handoff(
        &["continue-locally", run, "--harness", "warp", "--json"],
        repo.path(),
    ));
    assert_eq!(back["native_session"], Value::Null);
    assert_eq!(
        back["open"],
        json!({"app": "Warp", "url": "warp://conversation/tok-local", "messages_since": 0})
    );
    let history = std::fs::read_to_string(back["history_file"].as_str().unwrap()).unwrap();
    assert!(
        history.contains("HERON") && history.contains("Done: turn 1."),
        "{history}"
    );
    let text = env.handoff(&["continue-locally", run, "--harness", "warp"], repo.path());
    assert!(
        String::from_utf8_lossy(&text.stdout)
            .contains("open in Warp: warp://conversation/tok-local"),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
    assert_eq!(
        std::fs::read(&database).unwrap(),
        before,
        "Warp's database is never written"
    );

    // export refuses to write into Warp's database, and says what to do.
    let out = env.handoff(
        &["export", LOCAL, "--harness", "warp", "--cwd", "."],
        repo.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("never writes into Warp's database"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
