//! The real `claude` CLI: it finds a session this adapter installed, and it
//! runs whole turns through [`ClaudeCodeHarness`] against the scripted
//! model server on loopback — the conformance suite, each permission level,
//! the model passing through, and an error from the model failing the turn.
//!
//! The CLI is `$HANDOFF_REAL_CLAUDE` (`.ci/test` installs it and sets
//! `HANDOFF_REQUIRE_AGENTS=1`, which turns a missing CLI into a failure);
//! elsewhere these tests say why they did nothing. Nothing needs network
//! access or credentials.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use handoff_claude_code::{ClaudeCodeHarness, paths, session};
use handoff_conversation::Mode;
use handoff_dev::agent_turns;
use handoff_dev::model_server::{Agent, ModelServer, real_cli};
use handoff_harness::Harness;

/// Runs `claude -p --resume <id> hi` for at most 20 s; returns its output.
fn resume(claude: &Path, config: &Path, cwd: &Path, id: &str) -> String {
    let mut child = Command::new(claude)
        .args(["-p", "--resume", id, "hi"])
        .current_dir(cwd)
        .env("CLAUDE_CONFIG_DIR", config)
        .env_remove("ANTHROPIC_API_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            // Still running: it got past the session lookup to the network.
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/short.jsonl")
}

/// Claude Code 2.1.x prints `No conversation found with session ID: <id>`
/// before any network call when `--resume` cannot find the session, so a
/// run that does not print it found the installed file. A control run with
/// an id that was not installed must print it.
#[test]
fn the_real_claude_cli_finds_an_installed_session() {
    let Some(claude) = real_cli(Agent::ClaudeCode) else {
        return;
    };
    let (conversation, _) = session::read_file(&fixture(), Mode::Strict).unwrap();
    let config = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let cwd = std::fs::canonicalize(work.path()).unwrap();
    let id = conversation.id.to_string();
    session::install(&conversation, config.path(), cwd.to_str().unwrap(), &id).unwrap();

    let missing = "00000000-0000-4000-8000-000000000000";
    let control = resume(&claude, config.path(), &cwd, missing);
    assert!(
        control.contains("No conversation found"),
        "the control run did not report a missing session; the CLI's offline behaviour changed:\n{control}"
    );
    let found = resume(&claude, config.path(), &cwd, &id);
    assert!(
        !found.contains("No conversation found"),
        "claude did not find the installed session:\n{found}"
    );
}

fn harness(claude: &Path) -> impl Fn(&ModelServer, &Path) -> Box<dyn Harness> + '_ {
    move |server, home| {
        Box::new(
            server.claude_env().into_iter().fold(
                ClaudeCodeHarness::new()
                    .with_program(claude)
                    .with_home(home)
                    .with_timeout(Duration::from_secs(120)),
                |harness, (name, value)| harness.with_env(name, value),
            ),
        )
    }
}

#[tokio::test]
async fn conformance_with_the_real_claude_and_a_scripted_model() {
    let Some(claude) = real_cli(Agent::ClaudeCode) else {
        return;
    };
    agent_turns::conformance(&harness(&claude)).await;
}

#[tokio::test]
async fn each_permission_level_reaches_claude_and_the_model_passes_through() {
    let Some(claude) = real_cli(Agent::ClaudeCode) else {
        return;
    };
    let (conversation, _) = session::read_file(&fixture(), Mode::Strict).unwrap();
    agent_turns::permission_levels(
        &harness(&claude),
        &conversation,
        "the test in src/lib.rs fails — fix it",
        "Write",
    )
    .await;
}

#[tokio::test]
async fn an_error_from_the_model_fails_the_turn_and_the_session_stays_valid() {
    let Some(claude) = real_cli(Agent::ClaudeCode) else {
        return;
    };
    agent_turns::model_error_fails_the_turn(&harness(&claude), &|home, work, conversation| {
        let cwd = std::fs::canonicalize(work).unwrap();
        let file = paths::session_file(home, cwd.to_str().unwrap(), &conversation.id.to_string());
        session::read_file(&file, Mode::Strict).is_ok()
    })
    .await;
}
