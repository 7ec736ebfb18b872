//! The real `codex` CLI: it finds a rollout this adapter installed, and it
//! runs whole turns through [`CodexHarness`] against the scripted model
//! server on loopback — the conformance suite, each permission level (its
//! sandbox modes), the model passing through, and an error from the model
//! failing the turn.
//!
//! The CLI is `$HANDOFF_REAL_CODEX` (`.ci/test` installs it and sets
//! `HANDOFF_REQUIRE_AGENTS=1`, which turns a missing CLI into a failure);
//! elsewhere these tests say why they did nothing. Nothing needs network
//! access or credentials.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use handoff_codex::{CodexHarness, find_by_id, install, read_file};
use handoff_conversation::Mode;
use handoff_dev::agent_turns;
use handoff_dev::model_server::{Agent, ModelServer, Request, Step, real_cli};
use handoff_harness::Harness;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rollout.jsonl")
}

fn archive(codex: &Path, home: &Path, id: &str) -> std::process::Output {
    Command::new(codex)
        .args(["archive", id])
        .env("CODEX_HOME", home)
        .env_remove("OPENAI_API_KEY")
        .output()
        .unwrap()
}

/// `codex archive <id>` works offline and looks the session up by id: it
/// fails for an id it cannot find (the control) and moves a found rollout
/// to `archived_sessions/`. The rollout is installed under a new id, for a
/// fresh `CODEX_HOME` with no state database entry from us.
#[test]
fn the_real_codex_cli_finds_an_installed_rollout_by_id() {
    let Some(codex) = real_cli(Agent::Codex) else {
        return;
    };
    let (conversation, _) = read_file(&fixture(), Mode::Strict).unwrap();
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

fn harness(codex: &Path) -> impl Fn(&ModelServer, &Path) -> Box<dyn Harness> + '_ {
    move |server, home| {
        server.codex_config(home);
        Box::new(
            CodexHarness::new()
                .with_program(codex)
                .with_home(home)
                .with_timeout(Duration::from_secs(120))
                .with_env(ModelServer::CODEX_KEY_VAR, "scripted"),
        )
    }
}

#[tokio::test]
async fn conformance_with_the_real_codex_and_a_scripted_model() {
    let Some(codex) = real_cli(Agent::Codex) else {
        return;
    };
    agent_turns::conformance(&harness(&codex)).await;
}

#[test]
fn the_provider_key_is_part_of_the_environment_codex_needs() {
    let server = ModelServer::start(std::sync::Arc::new(|_: &Request| Step::Text(String::new())));
    let home = tempfile::tempdir().unwrap();
    let needs = harness(Path::new("codex"))(&server, home.path()).env_vars();
    for name in [ModelServer::CODEX_KEY_VAR, "CODEX_HOME", "OPENAI_API_KEY"] {
        assert!(needs.contains(&name.to_owned()), "{name} in {needs:?}");
    }
}

#[tokio::test]
async fn each_permission_level_reaches_codex_and_the_model_passes_through() {
    let Some(codex) = real_cli(Agent::Codex) else {
        return;
    };
    let (conversation, _) = read_file(&fixture(), Mode::Strict).unwrap();
    agent_turns::permission_levels(
        &harness(&codex),
        &conversation,
        "Fix the failing test in src/lib.rs",
        "exec_command",
    )
    .await;
}

#[tokio::test]
async fn an_error_from_the_model_fails_the_turn_and_the_rollout_stays_valid() {
    let Some(codex) = real_cli(Agent::Codex) else {
        return;
    };
    agent_turns::model_error_fails_the_turn(&harness(&codex), &|home, _, conversation| {
        find_by_id(home, &conversation.id.to_string())
            .is_ok_and(|file| read_file(&file, Mode::Strict).is_ok())
    })
    .await;
}
