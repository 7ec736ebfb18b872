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
use std::sync::Arc;
use std::time::Duration;

use handoff_codex::{CodexHarness, find_by_id, install, read_file};
use handoff_conversation::{Conversation, Message, Mode, Part, Role};
use handoff_dev::model_server::{Agent, ModelServer, Request, Step, real_cli, write_then_answer};
use handoff_harness::{AgentOptions, Error, Handoff, Harness, Permissions, Turn};

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

fn harness(codex: &Path, home: &Path, server: &ModelServer) -> CodexHarness {
    server.codex_config(home);
    CodexHarness::new()
        .with_program(codex)
        .with_home(home)
        .with_timeout(Duration::from_secs(120))
        .with_env(ModelServer::CODEX_KEY_VAR, "scripted")
}

#[tokio::test]
async fn conformance_with_the_real_codex_and_a_scripted_model() {
    let Some(codex) = real_cli(Agent::Codex) else {
        return;
    };
    let server = ModelServer::start(Arc::new(|_: &Request| Step::Text("Hello again.".into())));
    let home = tempfile::tempdir().unwrap();
    let harness = harness(&codex, home.path(), &server);
    assert!(
        harness
            .env_vars()
            .contains(&ModelServer::CODEX_KEY_VAR.to_owned()),
        "the provider's key is part of the environment the agent needs"
    );
    handoff_harness::testing::harness_conformance(&harness).await;
    assert!(!server.turns().is_empty(), "the turns reached the model");
}

#[tokio::test]
async fn each_permission_level_reaches_codex_and_the_model_passes_through() {
    let Some(codex) = real_cli(Agent::Codex) else {
        return;
    };
    let (conversation, _) = read_file(&fixture(), Mode::Strict).unwrap();
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
        let home = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let agent = AgentOptions {
            permissions,
            model: Some("codex-scripted-1".into()),
        };
        let turn = Turn {
            conversation: &conversation,
            prompt: "write agent_wrote.txt",
            workdir: work.path(),
            attachments: &[],
            handoff: &Handoff::default(),
            agent: &agent,
        };
        let added = harness(&codex, home.path(), &server)
            .run_turn(turn)
            .await
            .unwrap();

        let turns = server.turns();
        assert_eq!(turns[0].body["model"], "codex-scripted-1", "{permissions}");
        assert!(
            turns[0]
                .text()
                .contains("Fix the failing test in src/lib.rs"),
            "the resumed history reached the model"
        );
        let written = work.path().join("agent_wrote.txt");
        assert_eq!(written.exists(), writes, "{permissions}");
        if writes {
            assert_eq!(
                std::fs::read_to_string(&written).unwrap(),
                "written by the model"
            );
        } else {
            assert!(
                turns
                    .last()
                    .unwrap()
                    .tool_results()
                    .iter()
                    .any(|r| r.contains("Read-only file system")),
                "the sandbox refused the write"
            );
        }
        let parts: Vec<&Part> = added.iter().flat_map(|m| &m.parts).collect();
        assert!(
            parts
                .iter()
                .any(|p| matches!(p, Part::ToolCall { name, .. } if name == "exec_command")),
            "{permissions}: {added:?}"
        );
        assert_eq!(
            added
                .iter()
                .rfind(|m| m.role == Role::Assistant && !m.plain_text().is_empty())
                .map(Message::plain_text),
            Some("done".to_owned())
        );
    }
}

#[tokio::test]
async fn an_error_from_the_model_fails_the_turn_and_the_rollout_stays_valid() {
    let Some(codex) = real_cli(Agent::Codex) else {
        return;
    };
    let server = ModelServer::start(Arc::new(|_: &Request| Step::Fail {
        status: 400,
        message: "scripted refusal".into(),
    }));
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut conversation = Conversation::new("c", "codex");
    conversation.push(Message::text(Role::User, "hello"));
    let turn = Turn {
        conversation: &conversation,
        prompt: "go on",
        workdir: work.path(),
        attachments: &[],
        handoff: &Handoff::default(),
        agent: &AgentOptions::default(),
    };
    let err = harness(&codex, home.path(), &server)
        .run_turn(turn)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::TurnFailed { .. }) && err.to_string().contains("scripted refusal"),
        "{err}"
    );
    let file = find_by_id(home.path(), &conversation.id.to_string()).unwrap();
    assert!(read_file(&file, Mode::Strict).is_ok());
}
