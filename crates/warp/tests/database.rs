//! Local Warp conversations read from a `warp.sqlite` these tests build
//! with Warp's tables and protobuf-encoded tasks: `latest` picks the right
//! one, fields not modelled survive as bytes, a corrupt task is reported
//! while the rest imports, a locked or open-in-WAL database is handled, and
//! the database is never written.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use handoff_conversation::{Part, Role};
use handoff_warp::testing::{WarpDatabase, agent, reasoning, shell_call, shell_result, task, user};
use handoff_warp::wire::encode;
use handoff_warp::{Error, OpenOptions, Which, import};
use rusqlite::Connection;
use serde_json::json;

const UUID_A: &str = "0195f3a0-0000-7000-8000-00000000000a";
const UUID_B: &str = "0195f3a0-0000-7000-8000-00000000000b";
const UUID_C: &str = "0195f3a0-0000-7000-8000-00000000000c";

/// A Warp state directory with three conversations:
/// - A (oldest), token `tok-a`, in /work/app: a tool call, reasoning, and
///   a message carrying a field newer than the schema;
/// - B, token `tok-b`, in /work/app: a root task and a subtask whose
///   messages interleave in time, and a third task whose blob is corrupt;
/// - C (newest), no token, started in /elsewhere.
struct Fixture {
    home: tempfile::TempDir,
}

impl Fixture {
    fn new(journal_mode: &str) -> Self {
        let home = tempfile::tempdir().unwrap();
        let db = WarpDatabase::create(home.path(), journal_mode);
        let conversation = |id: &str, data: serde_json::Value, at: &str, dir: &str, title: &str| {
            db.conversation(id, data, at, dir, title);
        };
        let add_task =
            |conversation: &str, task_id: &str, blob: &[u8]| db.task(conversation, task_id, blob);

        conversation(
            UUID_A,
            json!({"server_conversation_token": "tok-a", "run_id": "run-1"}),
            "2025-01-01 10:00:00.000000",
            "/work/app",
            "Fix the flaky test",
        );
        let mut newer = agent("a5", 1_700_000_005, "Fixed: the test raced on a temp dir.");
        encode::fixed64(&mut newer, 99, 42); // a field newer than the schema
        add_task(
            UUID_A,
            "ta",
            &task(
                "ta",
                None,
                &[
                    user(
                        "a1",
                        1_700_000_001,
                        "The test in ci.rs fails one run in ten",
                    ),
                    reasoning("a2", 1_700_000_002, "Probably shared state."),
                    shell_call("a3", 1_700_000_003, "call-a", "cargo test ci"),
                    shell_result("a4", 1_700_000_004, "call-a", "test ci ... FAILED", 101),
                    newer,
                ],
            ),
        );

        conversation(
            UUID_B,
            json!({"server_conversation_token": "tok-b", "forked_from_server_conversation_token": "tok-a"}),
            "2025-01-02 10:00:00",
            "/work/app",
            "Add a benchmark",
        );
        add_task(
            UUID_B,
            "root",
            &task(
                "root",
                None,
                &[
                    user("b1", 1_700_100_001, "Add a benchmark for parse()"),
                    agent("b4", 1_700_100_004, "Benchmark added."),
                ],
            ),
        );
        add_task(
            UUID_B,
            "sub",
            &task(
                "sub",
                Some("root"),
                &[
                    shell_call("b2", 1_700_100_002, "call-b", "cargo bench"),
                    shell_result("b3", 1_700_100_003, "call-b", "parse: 12 ns", 0),
                ],
            ),
        );
        add_task(UUID_B, "broken", b"\x0a\x05ab");

        conversation(
            UUID_C,
            json!({}),
            "2025-01-03 10:00:00",
            "/elsewhere",
            "Unrelated",
        );
        add_task(
            UUID_C,
            "tc",
            &task("tc", None, &[user("c1", 1_700_200_001, "hello")]),
        );
        drop(db);
        Self { home }
    }

    fn db(&self) -> PathBuf {
        self.home.path().join("warp.sqlite")
    }

    fn databases(&self) -> Vec<PathBuf> {
        handoff_warp::paths::databases(Some(self.home.path()))
    }
}

fn fast() -> OpenOptions {
    OpenOptions {
        busy_timeout: Duration::from_millis(50),
    }
}

fn sha(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn latest_is_the_newest_conversation_not_started_elsewhere() {
    let fixture = Fixture::new("wal");
    let dbs = fixture.databases();
    let here = import(&dbs, Which::Latest(Some(Path::new("/work/app"))), &fast()).unwrap();
    assert_eq!(here.row.conversation_id, UUID_B);
    let anywhere = import(&dbs, Which::Latest(None), &fast()).unwrap();
    assert_eq!(anywhere.row.conversation_id, UUID_C);
    let by_id = import(&dbs, Which::Id(UUID_A), &fast()).unwrap();
    assert_eq!(by_id.conversation.id.to_string(), UUID_A);
    let by_token = import(&dbs, Which::Id("tok-a"), &fast()).unwrap();
    assert_eq!(by_token.row.conversation_id, UUID_A);
    let missing = import(&dbs, Which::Id("nope"), &fast()).unwrap_err();
    assert!(
        matches!(&missing, Error::NoConversation { what, .. } if what == "conversation nope"),
        "{missing}"
    );
    let nowhere = import(&[], Which::Latest(None), &fast()).unwrap_err();
    assert!(matches!(nowhere, Error::NoDatabase { .. }));
}

#[test]
fn a_conversation_imports_with_tools_reasoning_and_unknown_fields_kept() {
    let fixture = Fixture::new("wal");
    let imported = import(&fixture.databases(), Which::Id(UUID_A), &fast()).unwrap();
    assert!(imported.problems.is_empty());
    let c = &imported.conversation;
    assert_eq!(c.title, "Fix the flaky test");
    assert_eq!(c.harness, "warp");
    let views: Vec<(Role, Vec<Part>)> = c
        .messages
        .iter()
        .map(|m| (m.role, m.parts.clone()))
        .collect();
    assert_eq!(
        views,
        [
            (
                Role::User,
                vec![Part::Text {
                    text: "The test in ci.rs fails one run in ten".into()
                }]
            ),
            (
                Role::Assistant,
                vec![Part::Reasoning {
                    text: "Probably shared state.".into()
                }]
            ),
            (
                Role::Assistant,
                vec![Part::ToolCall {
                    id: "call-a".into(),
                    name: "run_shell_command".into(),
                    input: json!({"command": "cargo test ci"}),
                }]
            ),
            (
                Role::Tool,
                vec![Part::ToolResult {
                    call_id: "call-a".into(),
                    output: "test ci ... FAILED".into(),
                    is_error: true,
                }]
            ),
            (
                Role::Assistant,
                vec![Part::Text {
                    text: "Fixed: the test raced on a temp dir.".into()
                }]
            ),
        ]
    );
    // The field the schema does not know, as the bytes it was stored as.
    let mut field_99 = Vec::new();
    encode::fixed64(&mut field_99, 99, 42);
    assert_eq!(
        c.messages[4].extra["warp"]["message"]["unmodelled"],
        json!([{"field": 99, "wire_type": 1, "hex": hex(&field_99)}])
    );
    // Every message names Warp's server conversation; the row's data is kept.
    assert!(
        c.messages
            .iter()
            .all(|m| m.extra["warp"]["conversation"] == "tok-a")
    );
    assert_eq!(handoff_warp::imported_token(c), Some("tok-a"));
    assert_eq!(c.extra["warp"]["conversation_data"]["run_id"], "run-1");
    assert_eq!(
        handoff_warp::server_conversation(c).map(|s| (s.token, s.known)),
        Some(("tok-a", 5))
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_corrupt_task_is_reported_and_the_rest_imported_in_time_order() {
    let fixture = Fixture::new("wal");
    let imported = import(&fixture.databases(), Which::Id(UUID_B), &fast()).unwrap();
    assert_eq!(imported.problems.len(), 1);
    let problem = &imported.problems[0];
    assert_eq!(problem.task_id, "broken");
    assert_eq!(
        problem.reason,
        "not a valid Warp task (field runs past the end of the message at byte 0)"
    );
    let texts: Vec<String> = imported
        .conversation
        .messages
        .iter()
        .map(|m| match &m.parts[0] {
            Part::Text { text } => text.clone(),
            Part::ToolCall { input, .. } => input["command"].as_str().unwrap().to_owned(),
            Part::ToolResult { output, .. } => output.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        texts,
        [
            "Add a benchmark for parse()",
            "cargo bench",
            "parse: 12 ns",
            "Benchmark added."
        ],
        "the subtask's messages interleave with the root's"
    );
    let tasks = &imported.conversation.extra["warp"]["tasks"];
    assert_eq!(tasks[1]["parent_task_id"], "root");
}

#[test]
fn an_open_wal_database_reads_its_committed_state_and_is_never_written() {
    let fixture = Fixture::new("wal");
    // The running app: a connection holding a write transaction open.
    let app = Connection::open(fixture.db()).unwrap();
    app.execute_batch(
        "BEGIN IMMEDIATE; INSERT INTO agent_conversations (conversation_id, conversation_data, last_modified_at) VALUES ('uncommitted', '{}', '2030-01-01 00:00:00');",
    )
    .unwrap();
    let before = sha(&fixture.db());
    let latest = import(&fixture.databases(), Which::Latest(None), &fast()).unwrap();
    assert_eq!(
        latest.row.conversation_id, UUID_C,
        "uncommitted rows are not seen"
    );
    assert_eq!(sha(&fixture.db()), before, "the database file is untouched");
    app.execute_batch("COMMIT").unwrap();
    let latest = import(&fixture.databases(), Which::Latest(None), &fast()).unwrap();
    assert_eq!(latest.row.conversation_id, "uncommitted");
}

#[test]
fn a_locked_database_is_a_clear_error() {
    let fixture = Fixture::new("delete");
    let app = Connection::open(fixture.db()).unwrap();
    app.execute_batch("BEGIN EXCLUSIVE; UPDATE agent_conversations SET summary = NULL;")
        .unwrap();
    let err = import(&fixture.databases(), Which::Latest(None), &fast()).unwrap_err();
    assert!(
        matches!(&err, Error::Locked { path } if path == &fixture.db()),
        "{err}"
    );
    app.execute_batch("ROLLBACK").unwrap();
    assert!(import(&fixture.databases(), Which::Latest(None), &fast()).is_ok());
}

#[test]
fn a_file_that_is_not_warps_database_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("warp.sqlite");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t (x);")
        .unwrap();
    let err = import(std::slice::from_ref(&other), Which::Latest(None), &fast()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} is not a Warp database: it has no table agent_conversations",
            other.display()
        )
    );
    let junk = dir.path().join("junk.sqlite");
    std::fs::write(&junk, b"not a database at all, just text").unwrap();
    let err = import(&[junk], Which::Latest(None), &fast()).unwrap_err();
    assert!(
        matches!(err, Error::Query { .. } | Error::Open { .. }),
        "{err}"
    );
}
