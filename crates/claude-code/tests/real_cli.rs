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
use std::sync::Arc;
use std::time::{Duration, Instant};

use handoff_claude_code::{ClaudeCodeHarness, session};
use handoff_conversation::{Conversation, Mode, Part, Role};
use handoff_dev::model_server::{Agent, ModelServer, Request, Step, real_cli, write_then_answer};
use handoff_harness::{AgentOptions, Error, Handoff, Harness, Permissions, Turn};

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
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/claude-code/short.jsonl")
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

fn harness(claude: &Path, config: &Path, server: &ModelServer) -> ClaudeCodeHarness {
    server.claude_env().into_iter().fold(
        ClaudeCodeHarness::new()
            .with_program(claude)
            .with_home(config)
            .with_timeout(Duration::from_secs(120)),
        |harness, (name, value)| harness.with_env(name, value),
    )
}

#[tokio::test]
async fn conformance_with_the_real_claude_and_a_scripted_model() {
    let Some(claude) = real_cli(Agent::ClaudeCode) else {
        return;
    };
    let server = ModelServer::start(Arc::new(|_: &Request| Step::Text("Hello again.".into())));
    let config = tempfile::tempdir().unwrap();
    handoff_harness::testing::harness_conformance(&harness(&claude, config.path(), &server)).await;
    assert!(!server.turns().is_empty(), "the turns reached the model");
}

#[tokio::test]
async fn each_permission_level_reaches_claude_and_the_model_passes_through() {
    let Some(claude) = real_cli(Agent::ClaudeCode) else {
        return;
    };
    let (conversation, _) = session::read_file(&fixture(), Mode::Strict).unwrap();
    for (permissions, writes) in [
        (Permissions::ReadOnly, false),
        (Permissions::Edits, true),
        (Permissions::Full, true),
    ] {
        let server = ModelServer::start(write_then_answer(
            "agent_wrote.txt",
            "written by the model",
            "done",
        ));
        let config = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let agent = AgentOptions {
            permissions,
            model: Some("claude-scripted-1".into()),
        };
        let turn = Turn {
            conversation: &conversation,
            prompt: "write agent_wrote.txt",
            workdir: work.path(),
            attachments: &[],
            handoff: &Handoff::default(),
            agent: &agent,
        };
        let added = harness(&claude, config.path(), &server)
            .run_turn(turn)
            .await
            .unwrap();

        let turns = server.turns();
        assert_eq!(turns[0].body["model"], "claude-scripted-1", "{permissions}");
        assert!(
            turns[0]
                .text()
                .contains("mix phx.server doesnt seem to start"),
            "the resumed history reached the model"
        );
        let written = work.path().join("agent_wrote.txt");
        assert_eq!(written.exists(), writes, "{permissions}");
        if writes {
            assert_eq!(
                std::fs::read_to_string(&written).unwrap(),
                "written by the model"
            );
        }
        // What the agent did is in the turn: the tool call, its result and
        // the answer, as Claude Code recorded them.
        let parts: Vec<&Part> = added.iter().flat_map(|m| &m.parts).collect();
        assert!(
            parts
                .iter()
                .any(|p| matches!(p, Part::ToolCall { name, .. } if name == "Write")),
            "{permissions}: {added:?}"
        );
        assert!(
            parts
                .iter()
                .any(|p| matches!(p, Part::ToolResult { is_error, .. } if *is_error != writes)),
            "{permissions}: the tool result says whether the write happened"
        );
        assert_eq!(
            added
                .iter()
                .rfind(|m| m.role == Role::Assistant)
                .map(|m| m.plain_text()),
            Some("done".to_owned())
        );
    }
}

#[tokio::test]
async fn an_error_from_the_model_fails_the_turn_and_the_session_stays_valid() {
    let Some(claude) = real_cli(Agent::ClaudeCode) else {
        return;
    };
    let server = ModelServer::start(Arc::new(|_: &Request| Step::Fail {
        status: 400,
        message: "scripted refusal".into(),
    }));
    let config = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut conversation = Conversation::new("c", "claude-code");
    conversation.push(handoff_conversation::Message::text(Role::User, "hello"));
    let turn = Turn {
        conversation: &conversation,
        prompt: "go on",
        workdir: work.path(),
        attachments: &[],
        handoff: &Handoff::default(),
        agent: &AgentOptions::default(),
    };
    let err = harness(&claude, config.path(), &server)
        .run_turn(turn)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::TurnFailed { .. }) && err.to_string().contains("scripted refusal"),
        "{err}"
    );
    let cwd = std::fs::canonicalize(work.path()).unwrap();
    let file = handoff_claude_code::paths::session_file(
        config.path(),
        cwd.to_str().unwrap(),
        &conversation.id.to_string(),
    );
    assert!(session::read_file(&file, Mode::Strict).is_ok());
}
