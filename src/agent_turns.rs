//! The suite every adapter of a real agent CLI runs against its harness
//! and the scripted [`ModelServer`]: the harness conformance suite with
//! real turns, each permission level (the write really happens or really
//! does not), the model passing through, and an error from the model
//! failing the turn with the model's message.
//!
//! Each adapter passes a [`MakeHarness`] (its real CLI pointed at the
//! server, its home in a given directory) and what differs as parameters;
//! no check is skipped for one adapter.

use std::path::Path;
use std::sync::Arc;

use handoff_conversation::{Conversation, Message, Part, Role};
use handoff_harness::{AgentOptions, Error, Handoff, Harness, Permissions, Turn};

use crate::model_server::{ModelServer, Request, Step, write_then_answer};

/// Makes the harness under test: the agent's real CLI talking to `server`,
/// with its home in `home`.
pub type MakeHarness<'a> = dyn Fn(&ModelServer, &Path) -> Box<dyn Harness> + 'a;

/// The harness conformance suite, every turn a real one.
pub async fn conformance(make: &MakeHarness<'_>) {
    let server = ModelServer::start(Arc::new(|_: &Request| Step::Text("Hello again.".into())));
    let home = tempfile::tempdir().expect("a temporary home");
    let harness = make(&server, home.path());
    handoff_harness::testing::harness_conformance(&*harness).await;
    assert!(!server.turns().is_empty(), "the turns reached the model");
}

/// For each permission level, a turn whose scripted model calls the
/// agent's `write_tool` to write a file: `read-only` leaves no file,
/// `edits` and `full` write it. Every turn's request names the model the
/// run chose and holds the resumed history (`history`, a text of
/// `conversation`), and the turn's messages hold the tool call and the
/// model's answer.
pub async fn permission_levels(
    make: &MakeHarness<'_>,
    conversation: &Conversation,
    history: &str,
    write_tool: &str,
) {
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
        let home = tempfile::tempdir().expect("a temporary home");
        let work = tempfile::tempdir().expect("a temporary workspace");
        let agent = AgentOptions {
            permissions,
            model: Some("scripted-model-1".into()),
            network: handoff_harness::Network::Host,
        };
        let turn = Turn {
            conversation,
            prompt: "write agent_wrote.txt",
            workdir: work.path(),
            attachments: &[],
            handoff: &Handoff::default(),
            agent: &agent,
            confinement: &handoff_harness::Confinement::default(),
            live: handoff_harness::Live::IDLE,
        };
        let added = make(&server, home.path())
            .run_turn(turn)
            .await
            .unwrap_or_else(|e| panic!("{permissions}: {e}"));

        let turns = server.turns();
        assert_eq!(turns[0].body["model"], "scripted-model-1", "{permissions}");
        assert!(
            turns[0].text().contains(history),
            "{permissions}: the resumed history reached the model"
        );
        let written = work.path().join("agent_wrote.txt");
        assert_eq!(written.exists(), writes, "{permissions}");
        if writes {
            assert_eq!(
                std::fs::read_to_string(&written).ok().as_deref(),
                Some("written by the model")
            );
        }
        assert!(
            turns.iter().any(Request::ends_with_tool_result),
            "{permissions}: the tool ran (or was refused) and its result went back"
        );
        assert!(
            added
                .iter()
                .flat_map(|m| &m.parts)
                .any(|p| matches!(p, Part::ToolCall { name, .. } if name == write_tool)),
            "{permissions}: the tool call is in the turn: {added:?}"
        );
        assert_eq!(
            added
                .iter()
                .rfind(|m| m.role == Role::Assistant && !m.plain_text().is_empty())
                .map(Message::plain_text)
                .as_deref(),
            Some("done"),
            "{permissions}"
        );
    }
}

/// A model that answers every request with an error fails the turn, the
/// error naming the model's message; `session_is_valid(home, workdir,
/// conversation)` then says whether the session file still reads strictly.
pub async fn model_error_fails_the_turn(
    make: &MakeHarness<'_>,
    session_is_valid: &dyn Fn(&Path, &Path, &Conversation) -> bool,
) {
    let server = ModelServer::start(Arc::new(|_: &Request| Step::Fail {
        status: 400,
        message: "scripted refusal".into(),
    }));
    let home = tempfile::tempdir().expect("a temporary home");
    let work = tempfile::tempdir().expect("a temporary workspace");
    let mut conversation = Conversation::new("c", "test");
    conversation.push(Message::text(Role::User, "hello"));
    let turn = Turn {
        conversation: &conversation,
        prompt: "go on",
        workdir: work.path(),
        attachments: &[],
        handoff: &Handoff::default(),
        agent: &AgentOptions::default(),
        confinement: &handoff_harness::Confinement::default(),
        live: handoff_harness::Live::IDLE,
    };
    let err = make(&server, home.path())
        .run_turn(turn)
        .await
        .expect_err("the turn fails");
    assert!(
        matches!(&err, Error::TurnFailed { .. }) && err.to_string().contains("scripted refusal"),
        "{err}"
    );
    assert!(
        session_is_valid(home.path(), work.path(), &conversation),
        "the session file stays valid"
    );
}
