//! Builders for Warp's local database, for tests of this crate and of its
//! users (the CLI's): the tables as Warp's persistence schema declares
//! them, and tasks encoded with the field numbers of Warp's public schema.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use rusqlite::Connection;
use serde_json::{Value, json};

use crate::wire::encode;

/// The two tables, as Warp creates them.
pub const SCHEMA: &str = "
CREATE TABLE agent_conversations (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    conversation_id TEXT NOT NULL UNIQUE,
    conversation_data TEXT NOT NULL,
    last_modified_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    summary TEXT
);
CREATE TABLE agent_tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    conversation_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    task BLOB NOT NULL,
    last_modified_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);";

/// A string (or bytes, or message) field.
pub fn string(field: u32, value: &str) -> Vec<u8> {
    let mut out = Vec::new();
    encode::bytes(&mut out, field, value.as_bytes());
    out
}

/// An encoded `Message` with `id`, a timestamp and one body.
pub fn message(id: &str, seconds: u64, body_field: u32, body: &[u8]) -> Vec<u8> {
    let mut m = string(1, id);
    let mut timestamp = Vec::new();
    encode::uint(&mut timestamp, 1, seconds);
    encode::bytes(&mut m, 14, &timestamp);
    encode::bytes(&mut m, body_field, body);
    m
}

/// An encoded `Task`, with a parent when it is a subtask.
pub fn task(id: &str, parent: Option<&str>, messages: &[Vec<u8>]) -> Vec<u8> {
    let mut t = string(1, id);
    encode::bytes(&mut t, 2, format!("task {id}").as_bytes());
    if let Some(parent) = parent {
        encode::bytes(&mut t, 3, &string(1, parent));
    }
    for m in messages {
        encode::bytes(&mut t, 5, m);
    }
    t
}

/// A `user_query` message.
pub fn user(id: &str, at: u64, text: &str) -> Vec<u8> {
    message(id, at, 2, &string(1, text))
}

/// An `agent_output` message.
pub fn agent(id: &str, at: u64, text: &str) -> Vec<u8> {
    message(id, at, 3, &string(1, text))
}

/// An `agent_reasoning` message.
pub fn reasoning(id: &str, at: u64, text: &str) -> Vec<u8> {
    message(id, at, 15, &string(1, text))
}

/// A `run_shell_command` tool call.
pub fn shell_call(id: &str, at: u64, call: &str, command: &str) -> Vec<u8> {
    let mut body = string(1, call);
    encode::bytes(&mut body, 2, &string(1, command));
    message(id, at, 4, &body)
}

/// Its result, finished with `output` and exit `code`.
pub fn shell_result(id: &str, at: u64, call: &str, output: &str, code: u64) -> Vec<u8> {
    let mut finished = string(1, output);
    encode::uint(&mut finished, 2, code);
    let mut result = string(3, "cargo test");
    encode::bytes(&mut result, 5, &finished);
    let mut body = string(1, call);
    encode::bytes(&mut body, 2, &result);
    message(id, at, 5, &body)
}

/// A `warp.sqlite` under construction.
#[derive(Debug)]
pub struct WarpDatabase {
    path: PathBuf,
    conn: Connection,
}

impl WarpDatabase {
    /// Creates `dir/warp.sqlite` with Warp's tables, in `journal_mode`
    /// (`wal` as the app runs it, or `delete`).
    pub fn create(dir: &Path, journal_mode: &str) -> Self {
        let path = dir.join(crate::paths::DATABASE);
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update_and_check(None, "journal_mode", journal_mode, |_| Ok(()))
            .unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        Self { path, conn }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds a conversation: Warp's local `id`, its `conversation_data`, when
    /// it last changed (`YYYY-MM-DD HH:MM:SS`), the directory it started in
    /// and its title.
    pub fn conversation(&self, id: &str, data: Value, at: &str, dir: &str, title: &str) {
        self.conn
            .execute(
                "INSERT INTO agent_conversations (conversation_id, conversation_data, last_modified_at, summary) VALUES (?1, ?2, ?3, ?4)",
                (
                    id,
                    data.to_string(),
                    at,
                    json!({"initial_query": title, "title": title, "initial_working_directory": dir, "is_restorable": true}).to_string(),
                ),
            )
            .unwrap();
    }

    /// Adds a stored task (any bytes: corrupt ones too) to a conversation.
    pub fn task(&self, conversation: &str, task_id: &str, blob: &[u8]) {
        self.conn
            .execute(
                "INSERT INTO agent_tasks (conversation_id, task_id, task) VALUES (?1, ?2, ?3)",
                (conversation, task_id, blob),
            )
            .unwrap();
    }
}
