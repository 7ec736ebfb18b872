//! `WarpHarness` against a stand-in `oz` (tests/fake/oz) that behaves as
//! Warp's public sources say the real one does: the conformance suite,
//! unknown events, a torn last line, the exit codes, and Warp's server
//! conversation continued on the next turn with only what it lacks sent as
//! a history document.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use handoff_conversation::{Conversation, Message, Part, Role};
use handoff_harness::{Error, Handoff, Harness, Turn};
use handoff_warp::{NATIVE, TurnError, WarpHarness, server_conversation};

/// A copy of the stand-in in a directory of its own, behaving as `words`
/// say.
struct FakeOz {
    dir: tempfile::TempDir,
}

impl FakeOz {
    fn new(words: &str) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake/oz");
        let oz = dir.path().join("oz");
        std::fs::copy(source, &oz).unwrap();
        std::fs::set_permissions(&oz, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.path().join("behaviour"), words).unwrap();
        Self { dir }
    }

    fn harness(&self) -> WarpHarness {
        WarpHarness::at(Some(self.dir.path().join("oz")))
    }

    fn logged(&self, what: &str, run: usize) -> Option<String> {
        std::fs::read_to_string(self.dir.path().join("log").join(format!("{what}-{run}"))).ok()
    }
}

async fn turn_on(
    harness: &WarpHarness,
    conversation: &Conversation,
    prompt: &str,
) -> (
    handoff_harness::Result<Vec<Message>>,
    PathBuf,
    tempfile::TempDir,
) {
    let work = tempfile::tempdir().unwrap();
    let turn = Turn {
        conversation,
        prompt,
        workdir: work.path(),
        attachments: &[],
        handoff: &Handoff::default(),
        agent: &handoff_harness::AgentOptions::default(),
        confinement: &handoff_harness::Confinement::default(),
        live: handoff_harness::Live::IDLE,
    };
    let result = harness.run_turn(turn).await;
    (result, work.path().to_owned(), work)
}

/// The prompt after the handoff note every turn starts with (what was
/// restored), which these tests do not look at.
fn after_note(prompt: &str) -> &str {
    assert!(prompt.starts_with("Note from handoff:"), "{prompt}");
    prompt.split_once("\n\n").map_or("", |(_, rest)| rest)
}

fn history() -> Conversation {
    let mut c = Conversation::new("make it faster", "claude-code");
    c.push(Message::text(Role::User, "the marker word is PELICAN"));
    c.push(Message::new(
        Role::Assistant,
        vec![Part::ToolCall {
            id: "t1".into(),
            name: "Read".into(),
            input: serde_json::json!({"file_path": "src/lib.rs"}),
        }],
    ));
    c.push(Message::text(
        Role::Assistant,
        "profiled; the hot loop is in parse()",
    ));
    c
}

#[tokio::test]
async fn conformance_with_the_stand_in_oz() {
    let oz = FakeOz::new("");
    handoff_harness::testing::harness_conformance(&oz.harness()).await;
}

#[tokio::test]
async fn a_turn_drives_oz_agent_run_and_reads_its_events() {
    let oz = FakeOz::new("unknown");
    let conversation = history();
    let (added, work, _keep) = turn_on(&oz.harness(), &conversation, "now make it faster").await;
    let added = added.unwrap();
    // -C took effect: the agent ran in the workspace.
    assert_eq!(
        std::fs::read_to_string(work.join("oz-was-here.txt")).unwrap(),
        "edited by oz\n"
    );
    let views: Vec<(Role, Vec<Part>)> = added.iter().map(|m| (m.role, m.parts.clone())).collect();
    let call_id = match &added[3].parts[0] {
        Part::ToolCall { id, .. } => id.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        views,
        [
            (
                Role::User,
                vec![Part::Text {
                    text: "now make it faster".into()
                }]
            ),
            (Role::System, vec![]),
            (
                Role::Assistant,
                vec![Part::Reasoning {
                    text: "Reading the workspace first.".into()
                }]
            ),
            (
                Role::Assistant,
                vec![Part::ToolCall {
                    id: call_id.clone(),
                    name: "run_command".into(),
                    input: serde_json::json!({"command": "ls"}),
                }]
            ),
            (
                Role::Tool,
                vec![Part::ToolResult {
                    call_id,
                    output: "oz-was-here.txt".into(),
                    is_error: false,
                }]
            ),
            (Role::System, vec![]),
            (Role::System, vec![]),
            (
                Role::Assistant,
                vec![Part::Text {
                    text: "Done: turn 1.".into()
                }]
            ),
        ]
    );
    // Unknown event types are kept whole.
    assert_eq!(
        added[5].extra[NATIVE]["event"],
        serde_json::json!({"type":"hologram","shape":"cube","sides":6})
    );
    assert_eq!(
        added[6].extra[NATIVE]["event"]["event_type"],
        "weather_report"
    );
    // Warp's conversation id is recorded on every message of the turn.
    for message in &added {
        assert_eq!(
            message.extra[NATIVE]["conversation"], "server-conversation-1",
            "{message:?}"
        );
    }
    // With no Warp conversation to continue, the whole history went as a
    // document the prompt points to.
    assert_eq!(oz.logged("conversation", 1).unwrap(), "");
    let prompt = oz.logged("prompt", 1).unwrap();
    let prompt = after_note(&prompt);
    assert!(
        prompt.starts_with("The conversation so far (3 message(s), newest last) is in ")
            && prompt.ends_with("\nnow make it faster"),
        "{prompt}"
    );
    let document = std::fs::read_to_string(oz.dir.path().join("log/history-1.md")).unwrap();
    assert!(
        document.contains("the marker word is PELICAN"),
        "{document}"
    );
    assert!(document.contains("- tool call Read [t1]"), "{document}");
}

#[tokio::test]
async fn the_next_turn_continues_warps_conversation_with_only_what_it_lacks() {
    let oz = FakeOz::new("");
    let harness = oz.harness();
    let mut conversation = history();
    let (first, _, _keep) = turn_on(&harness, &conversation, "first warp turn").await;
    conversation.extend(first.unwrap());
    let (second, _, _keep2) = turn_on(&harness, &conversation, "second warp turn").await;
    conversation.extend(second.unwrap());
    assert_eq!(
        oz.logged("conversation", 2).unwrap(),
        "server-conversation-1"
    );
    let prompt = oz.logged("prompt", 2).unwrap();
    assert_eq!(
        after_note(&prompt),
        "second warp turn",
        "Warp already has everything"
    );

    // Another agent's turn in between: Warp continues its conversation and
    // gets only that turn as a document.
    conversation.push(Message::text(Role::User, "claude: add a benchmark"));
    conversation.push(Message::text(Role::Assistant, "claude: benchmark added"));
    let (third, _, _keep3) = turn_on(&harness, &conversation, "third warp turn").await;
    third.unwrap();
    assert_eq!(
        oz.logged("conversation", 3).unwrap(),
        "server-conversation-1"
    );
    assert!(
        after_note(&oz.logged("prompt", 3).unwrap())
            .starts_with("The conversation so far (2 message(s), newest last)"),
    );
    let document = std::fs::read_to_string(oz.dir.path().join("log/history-3.md")).unwrap();
    assert!(document.contains("claude: benchmark added"));
    assert!(
        !document.contains("PELICAN"),
        "what Warp holds is not sent again: {document}"
    );
}

#[tokio::test]
async fn a_conversation_oz_refuses_is_run_again_with_the_whole_history() {
    let oz = FakeOz::new("refuse-conversation");
    let mut conversation = history();
    let mut from_elsewhere = Message::text(Role::Assistant, "from another account's Warp");
    from_elsewhere
        .extra
        .insert(NATIVE.into(), serde_json::json!({"conversation": "theirs"}));
    conversation.push(from_elsewhere);
    assert_eq!(server_conversation(&conversation).unwrap().token, "theirs");
    let (added, _, _keep) = turn_on(&oz.harness(), &conversation, "go on").await;
    let added = added.unwrap();
    assert_eq!(oz.logged("conversation", 1).unwrap(), "theirs");
    assert_eq!(oz.logged("conversation", 2).unwrap(), "");
    let document = std::fs::read_to_string(oz.dir.path().join("log/history-2.md")).unwrap();
    assert!(document.contains("PELICAN") && document.contains("another account"));
    assert_eq!(
        added[1].extra[NATIVE]["conversation"],
        "server-conversation-2"
    );
}

#[tokio::test]
async fn a_torn_last_line_is_cut() {
    let oz = FakeOz::new("torn");
    let (added, _, _keep) = turn_on(&oz.harness(), &history(), "go").await;
    let added = added.unwrap();
    let last = added.last().unwrap();
    assert_eq!(last.plain_text(), "Done: turn 1.");
    assert!(
        added
            .iter()
            .all(|m| !m.extra[NATIVE].to_string().contains("cut sh")),
        "the torn line is not kept as an event"
    );
}

fn turn_error(err: &Error) -> &TurnError {
    match err {
        Error::AgentFailed { error, .. } => error.downcast_ref::<TurnError>().unwrap(),
        other => panic!("expected a typed oz failure, got {other}"),
    }
}

#[tokio::test]
async fn exit_codes_become_typed_errors() {
    let oz = FakeOz::new("fail");
    let (result, _, _keep) = turn_on(&oz.harness(), &history(), "go").await;
    let err = result.unwrap_err();
    assert_eq!(
        turn_error(&err),
        &TurnError::Ended {
            detail: "the model is overloaded; Error: the conversation ended in error".into()
        }
    );
    assert!(
        err.to_string()
            .starts_with("warp turn failed: oz ended the conversation")
    );

    let oz = FakeOz::new("silent");
    let (result, _, _keep) = turn_on(&oz.harness(), &history(), "go").await;
    assert_eq!(
        turn_error(&result.unwrap_err()),
        &TurnError::NoAnswer { events: 1 }
    );

    // Exit 2: an `oz` that takes other arguments than the adapter passes.
    let dir = tempfile::tempdir().unwrap();
    let picky = dir.path().join("oz");
    std::fs::write(
        &picky,
        "#!/bin/sh\necho \"error: unexpected argument '--prompt' found\" >&2\nexit 2\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&picky, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (result, _, _keep) = turn_on(&WarpHarness::at(Some(picky)), &history(), "go").await;
    assert_eq!(
        turn_error(&result.unwrap_err()),
        &TurnError::Usage {
            detail: "error: unexpected argument '--prompt' found".into()
        }
    );
}

#[test]
fn the_stand_in_refuses_a_prompt_on_standard_input() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let oz = FakeOz::new("");
    let mut child = Command::new(oz.dir.path().join("oz"))
        .args(["agent", "run", "--output-format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"do the thing\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass --prompt"));
}

/// The session's model reaches `oz` (`push --model`), over the harness's
/// own default; without one the default is used.
#[tokio::test]
async fn the_sessions_model_reaches_oz() {
    let oz = FakeOz::new("");
    let harness = oz.harness().with_model("warp-default");
    let conversation = history();
    for (run, model, expected) in [
        (1, Some("m-session"), "m-session"),
        (2, None, "warp-default"),
    ] {
        let work = tempfile::tempdir().unwrap();
        let agent = handoff_harness::AgentOptions {
            model: model.map(str::to_owned),
            ..Default::default()
        };
        let turn = Turn {
            conversation: &conversation,
            prompt: "go",
            workdir: work.path(),
            attachments: &[],
            handoff: &Handoff::default(),
            agent: &agent,
            confinement: &handoff_harness::Confinement::default(),
            live: handoff_harness::Live::IDLE,
        };
        harness.run_turn(turn).await.unwrap();
        assert_eq!(oz.logged("model", run).as_deref(), Some(expected));
    }
}

#[tokio::test]
async fn a_missing_cli_says_what_to_install() {
    let (result, _, _keep) = turn_on(&WarpHarness::at(None), &history(), "p").await;
    let err = result.unwrap_err();
    assert!(
        matches!(&err, Error::NotInstalled { program, .. } if program == "oz or warp-cli"),
        "{err}"
    );
}
