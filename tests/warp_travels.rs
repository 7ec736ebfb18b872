//! A local Warp conversation, read from Warp's own database, continues in
//! the other agents: installed as a Claude Code session and a Codex rollout
//! its text, tool calls and results convert; run by an agent that cannot
//! load it natively (a command harness program), the whole history reaches
//! the agent as the document its prompt points to.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use handoff_conversation::{Conversation, Message, Mode, Part};
use handoff_harness::{CommandHarness, Handoff, Harness, Turn};
use handoff_warp::testing::{WarpDatabase, agent, reasoning, shell_call, shell_result, task, user};
use handoff_warp::{OpenOptions, Which};

fn local_warp_conversation() -> Conversation {
    let state = tempfile::tempdir().unwrap();
    let db = WarpDatabase::create(state.path(), "wal");
    let id = "0195f3a0-0000-7000-8000-0000000000cc";
    db.conversation(
        id,
        serde_json::json!({"server_conversation_token": "tok"}),
        "2025-04-01 12:00:00",
        "/w",
        "Fix the release build",
    );
    db.task(
        id,
        "root",
        &task(
            "root",
            None,
            &[
                user(
                    "u1",
                    1_743_500_001,
                    "the release build fails; marker OSPREY",
                ),
                reasoning("r1", 1_743_500_002, "the linker flag is wrong"),
                shell_call("c1", 1_743_500_003, "call-1", "make release"),
                shell_result("c2", 1_743_500_004, "call-1", "ld: unknown option -Z", 2),
                agent("a1", 1_743_500_005, "fixed the flag in the Makefile"),
            ],
        ),
    );
    let databases = handoff_warp::paths::databases(Some(state.path()));
    handoff_warp::import(&databases, Which::Latest(None), &OpenOptions::default())
        .unwrap()
        .conversation
}

fn texts(c: &Conversation) -> String {
    c.messages
        .iter()
        .map(Message::plain_text)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Tool calls and results by what they say (Codex has no error flag on a
/// result, so that is not compared).
fn tool_traffic(c: &Conversation) -> Vec<String> {
    c.messages
        .iter()
        .flat_map(|m| &m.parts)
        .filter_map(|p| match p {
            Part::ToolCall { id, name, input } => Some(format!("{id} {name} {input}")),
            Part::ToolResult {
                call_id, output, ..
            } => Some(format!("{call_id} -> {output}")),
            _ => None,
        })
        .collect()
}

#[test]
fn a_warp_conversation_continues_in_claude_code_and_codex() {
    let warp = local_warp_conversation();
    let config = tempfile::tempdir().unwrap();
    let file =
        handoff_claude_code::session::install(&warp, config.path(), "/w", &warp.id.to_string())
            .unwrap();
    let (claude, _) = handoff_claude_code::session::read_file(&file, Mode::Strict).unwrap();
    let home = tempfile::tempdir().unwrap();
    let rollout = handoff_codex::install(&warp, home.path(), "/w", &warp.id.to_string()).unwrap();
    let (codex, _) = handoff_codex::read_file(&rollout, Mode::Strict).unwrap();
    for converted in [&claude, &codex] {
        let all = texts(converted);
        assert!(
            all.contains("marker OSPREY") && all.contains("fixed the flag in the Makefile"),
            "{all}"
        );
        assert!(all.contains("the linker flag is wrong"), "{all}");
        assert_eq!(tool_traffic(converted), tool_traffic(&warp));
    }
}

#[tokio::test]
async fn an_agent_without_native_history_is_pointed_to_the_whole_conversation() {
    use std::os::unix::fs::PermissionsExt;
    let warp = local_warp_conversation();
    let bin = tempfile::tempdir().unwrap();
    let agent = bin.path().join("agent.sh");
    // The agent reads the file its prompt points to, as a model would.
    std::fs::write(
        &agent,
        "#!/bin/sh\nprompt=$(cat)\ndoc=$(printf '%s\\n' \"$prompt\" | sed -n 's/^The conversation so far .* is in \\(.*\\)\\. Read it before you continue.*$/\\1/p')\ncp \"$doc\" seen.md\necho read it\n",
    )
    .unwrap();
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    let work = tempfile::tempdir().unwrap();
    let turn = Turn {
        conversation: &warp,
        prompt: "ship it",
        workdir: work.path(),
        attachments: &[],
        handoff: &Handoff::default(),
        agent: &handoff_harness::AgentOptions::default(),
        confinement: &handoff_harness::Confinement::default(),
        live: handoff_harness::Live::IDLE,
    };
    let added = CommandHarness::new(&agent, vec![])
        .run_turn(turn)
        .await
        .unwrap();
    assert_eq!(added[1].plain_text(), "read it");
    let seen = std::fs::read_to_string(Path::new(work.path()).join("seen.md")).unwrap();
    let positions: Vec<usize> = [
        "marker OSPREY",
        "(reasoning) the linker flag is wrong",
        "tool call run_shell_command [call-1]",
        "tool error [call-1]: ld: unknown option -Z",
        "fixed the flag in the Makefile",
    ]
    .iter()
    .map(|needle| {
        seen.find(needle)
            .unwrap_or_else(|| panic!("{needle} missing: {seen}"))
    })
    .collect();
    assert!(positions.is_sorted(), "oldest first, newest last: {seen}");
}
