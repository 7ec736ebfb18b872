//! Opt-in: the real `codex` CLI finds a rollout this adapter installed.
//!
//! `codex archive <id>` works offline and looks the session up by id: it
//! fails for an id it cannot find (the control) and moves a found rollout
//! to `archived_sessions/`. The rollout is installed under a new id (as a
//! fork, with `forked_from_id`), for a fresh `CODEX_HOME` with no state
//! database entry from us. Runs when `HANDOFF_REAL_CODEX` names the binary
//! (`.ci/test` sets it when the npm install works); otherwise it says why it
//! did nothing. Verified with Codex 0.169.0.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::path::Path;
use std::process::Command;

use handoff_codex::{install, read_file};
use handoff_conversation::Mode;

fn archive(codex: &str, home: &Path, id: &str) -> std::process::Output {
    Command::new(codex)
        .args(["archive", id])
        .env("CODEX_HOME", home)
        .env_remove("OPENAI_API_KEY")
        .output()
        .unwrap()
}

#[test]
fn the_real_codex_cli_finds_an_installed_rollout_by_id() {
    let Some(codex) = std::env::var("HANDOFF_REAL_CODEX")
        .ok()
        .filter(|p| !p.is_empty())
    else {
        eprintln!("skipped: HANDOFF_REAL_CODEX is not set (the real Codex CLI was not installed)");
        return;
    };
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rollout.jsonl");
    let (conversation, _) = read_file(&fixture, Mode::Strict).unwrap();
    let home = tempfile::tempdir().unwrap();
    let id = "0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a";
    let file = install(&conversation, home.path(), "/srv/runs/app", id).unwrap();

    let control = archive(&codex, home.path(), "00000000-0000-4000-8000-000000000000");
    assert!(
        !control.status.success(),
        "archiving an unknown id should fail: {}",
        String::from_utf8_lossy(&control.stdout)
    );
    let found = archive(&codex, home.path(), id);
    assert!(
        found.status.success(),
        "codex did not find the installed rollout: {}{}",
        String::from_utf8_lossy(&found.stdout),
        String::from_utf8_lossy(&found.stderr)
    );
    assert!(!file.exists(), "the rollout was moved");
    let archived = home
        .path()
        .join("archived_sessions")
        .join(file.file_name().unwrap());
    assert!(
        archived.is_file(),
        "{} is where codex archives it",
        archived.display()
    );
}
