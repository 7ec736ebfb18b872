//! Warp's local agent conversations, read from its SQLite database without
//! ever writing to it.
//!
//! Two tables matter (Warp's `crates/persistence/src/schema.rs`):
//! `agent_conversations(id, conversation_id, conversation_data TEXT,
//! last_modified_at, summary)`, where `conversation_data` is JSON holding
//! the `server_conversation_token` (and `forked_from_server_conversation_token`,
//! `run_id`, …) and `summary` JSON holding the `title` and the
//! `initial_working_directory`; and `agent_tasks(id, conversation_id,
//! task_id, task BLOB, last_modified_at)`, each `task` an encoded
//! `warp.multi_agent.v1.Task` ([`crate::task`]).
//!
//! The database is opened read-only, with a busy timeout, and each
//! conversation is read inside one read transaction: the running app keeps
//! it open in WAL mode and writes while we read, and we see one consistent
//! state. A database locked past the timeout is [`Error::Locked`]. Rows are
//! untrusted: a task that does not decode is reported by row, task id and
//! byte offset, and the rest of the conversation is still imported.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use handoff_conversation::{Conversation, ConversationId, Message, Role};
use rusqlite::{Connection, OpenFlags, types::ValueRef};
use serde_json::{Map, Value};

use crate::{Error, NATIVE, Result, task};

/// How to open a database.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// How long to wait for a writer's lock before giving up (default 2 s).
    pub busy_timeout: Duration,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(2),
        }
    }
}

/// One row of `agent_conversations`, without its tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationRow {
    /// The database it is in.
    pub database: PathBuf,
    /// The row id.
    pub row: i64,
    /// Warp's local conversation id.
    pub conversation_id: String,
    /// The `conversation_data` JSON (a string when it is not JSON).
    pub data: Value,
    /// The `summary` JSON, when there is one.
    pub summary: Option<Value>,
    /// When it last changed.
    pub last_modified_at: DateTime<Utc>,
}

impl ConversationRow {
    /// Warp's server conversation token, when the conversation has one:
    /// what `oz agent run --conversation` and `warp://conversation/…` take.
    pub fn server_token(&self) -> Option<&str> {
        self.data
            .get("server_conversation_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
    }

    /// The title Warp shows.
    pub fn title(&self) -> Option<&str> {
        self.summary
            .as_ref()?
            .get("title")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
    }

    /// The directory the conversation started in, when Warp recorded it.
    pub fn working_directory(&self) -> Option<&str> {
        self.summary
            .as_ref()?
            .get("initial_working_directory")
            .and_then(Value::as_str)
    }
}

/// A task that could not be imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskProblem {
    /// The `agent_tasks` row.
    pub row: i64,
    /// Its `task_id`.
    pub task_id: String,
    /// What was wrong.
    pub reason: String,
}

/// A conversation read from Warp.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The conversation (`harness` `warp`).
    pub conversation: Conversation,
    /// The row it came from.
    pub row: ConversationRow,
    /// Tasks left out because they could not be decoded.
    pub problems: Vec<TaskProblem>,
}

/// An open Warp database.
#[derive(Debug)]
pub struct Database {
    path: PathBuf,
    conn: Connection,
}

fn failed<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(rusqlite::Error) -> Error + 'a {
    move |source| {
        let busy = matches!(
            source.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        );
        if busy {
            Error::Locked {
                path: path.to_owned(),
            }
        } else {
            Error::Query {
                path: path.to_owned(),
                what,
                source,
            }
        }
    }
}

fn time_of(value: ValueRef<'_>) -> Option<DateTime<Utc>> {
    match value {
        ValueRef::Text(text) => {
            let text = std::str::from_utf8(text).ok()?;
            NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
                .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f"))
                .map(|t| t.and_utc())
                .ok()
                .or_else(|| {
                    DateTime::parse_from_rfc3339(text)
                        .ok()
                        .map(|t| t.with_timezone(&Utc))
                })
        }
        ValueRef::Integer(seconds) => DateTime::from_timestamp(seconds, 0),
        _ => None,
    }
}

fn text_of(value: ValueRef<'_>) -> Option<String> {
    match value {
        ValueRef::Text(text) => Some(String::from_utf8_lossy(text).into_owned()),
        ValueRef::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

fn json_of(text: Option<String>) -> Option<Value> {
    let text = text?;
    Some(serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

impl Database {
    /// Opens `path` read-only.
    pub fn open(path: &Path, options: &OpenOptions) -> Result<Self> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|source| Error::Open {
            path: path.to_owned(),
            source,
        })?;
        conn.busy_timeout(options.busy_timeout)
            .map_err(failed(path, "set the busy timeout"))?;
        conn.pragma_update(None, "query_only", true)
            .map_err(failed(path, "make the connection query-only"))?;
        let db = Self {
            path: path.to_owned(),
            conn,
        };
        db.check_schema()?;
        Ok(db)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn check_schema(&self) -> Result<()> {
        for table in ["agent_conversations", "agent_tasks"] {
            let found: i64 = self
                .conn
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                    [table],
                    |row| row.get(0),
                )
                .map_err(failed(&self.path, "read the schema"))?;
            if found == 0 {
                return Err(Error::NotWarp {
                    path: self.path.clone(),
                    reason: format!("it has no table {table}"),
                });
            }
        }
        Ok(())
    }

    /// Every conversation, newest first.
    pub fn conversations(&self) -> Result<Vec<ConversationRow>> {
        let has_summary = self.has_column("agent_conversations", "summary")?;
        let sql = format!(
            "SELECT id, conversation_id, conversation_data, last_modified_at, {} FROM agent_conversations",
            if has_summary { "summary" } else { "NULL" }
        );
        let mut statement = self
            .conn
            .prepare(&sql)
            .map_err(failed(&self.path, "list conversations"))?;
        let rows = statement
            .query_map([], |row| {
                Ok(ConversationRow {
                    database: self.path.clone(),
                    row: row.get(0)?,
                    conversation_id: text_of(row.get_ref(1)?).unwrap_or_default(),
                    data: json_of(text_of(row.get_ref(2)?)).unwrap_or(Value::Null),
                    summary: json_of(text_of(row.get_ref(4)?)),
                    last_modified_at: time_of(row.get_ref(3)?).unwrap_or(DateTime::UNIX_EPOCH),
                })
            })
            .map_err(failed(&self.path, "list conversations"))?;
        let mut out = rows
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(failed(&self.path, "list conversations"))?;
        out.sort_by_key(|r| std::cmp::Reverse((r.last_modified_at, r.row)));
        Ok(out)
    }

    fn has_column(&self, table: &str, column: &str) -> Result<bool> {
        let mut statement = self
            .conn
            .prepare(&format!("PRAGMA table_info({table})"))
            .map_err(failed(&self.path, "read the schema"))?;
        let names = statement
            .query_map([], |row| row.get::<_, String>(1))
            .map_err(failed(&self.path, "read the schema"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(failed(&self.path, "read the schema"))?;
        Ok(names.iter().any(|n| n == column))
    }

    /// Reads the conversation of `row` with its tasks, in one read
    /// transaction.
    pub fn read(&self, row: &ConversationRow) -> Result<Imported> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(failed(&self.path, "start a read transaction"))?;
        let mut statement = tx
            .prepare(
                "SELECT id, task_id, task FROM agent_tasks WHERE conversation_id = ?1 ORDER BY id",
            )
            .map_err(failed(&self.path, "read tasks"))?;
        let tasks = statement
            .query_map([&row.conversation_id], |r| {
                let blob = match r.get_ref(2)? {
                    ValueRef::Blob(b) => Some(b.to_vec()),
                    ValueRef::Text(t) => Some(t.to_vec()),
                    _ => None,
                };
                Ok((
                    r.get::<_, i64>(0)?,
                    text_of(r.get_ref(1)?).unwrap_or_default(),
                    blob,
                ))
            })
            .map_err(failed(&self.path, "read tasks"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(failed(&self.path, "read tasks"))?;
        drop(statement);
        // Reading only; ending the transaction cannot lose anything.
        let _ = tx.rollback();
        Ok(build(row, tasks))
    }
}

fn build(row: &ConversationRow, tasks: Vec<(i64, String, Option<Vec<u8>>)>) -> Imported {
    let token = row.server_token();
    let mut problems = Vec::new();
    let mut metas = Vec::new();
    let mut messages: Vec<Message> = Vec::new();
    for (task_row, task_id, blob) in tasks {
        let Some(blob) = blob else {
            problems.push(TaskProblem {
                row: task_row,
                task_id,
                reason: "the task column is empty".to_owned(),
            });
            continue;
        };
        match task::decode(&blob, row.last_modified_at, token) {
            Ok(task) => {
                let mut meta = task.meta;
                meta.insert("task_id".into(), task_id.into());
                metas.push(Value::Object(meta));
                messages.extend(task.messages);
            }
            Err(e) => {
                tracing::warn!(row = task_row, task = %task_id, error = %e, "Warp task skipped");
                problems.push(TaskProblem {
                    row: task_row,
                    task_id,
                    reason: format!("not a valid Warp task ({e})"),
                });
            }
        }
    }
    // Subtasks interleave with their parent in time; the sort is stable,
    // so messages stored in order stay in order.
    messages.sort_by_key(|m| m.time);

    let title = row
        .title()
        .map(str::to_owned)
        .or_else(|| {
            messages
                .iter()
                .find(|m| m.role == Role::User && !m.plain_text().is_empty())
                .map(|m| m.plain_text().chars().take(80).collect())
        })
        .unwrap_or_else(|| "Warp conversation".to_owned());
    let mut conversation = Conversation::new(title, "warp");
    if let Ok(uuid) = uuid::Uuid::parse_str(&row.conversation_id) {
        conversation.id = ConversationId::from_uuid(uuid);
    }
    conversation.created_at = messages.first().map_or(row.last_modified_at, |m| m.time);
    conversation.updated_at = row.last_modified_at.max(conversation.created_at);
    let mut native = Map::new();
    native.insert("conversation_id".into(), row.conversation_id.clone().into());
    native.insert("conversation_data".into(), row.data.clone());
    if let Some(summary) = &row.summary {
        native.insert("summary".into(), summary.clone());
    }
    native.insert(
        "last_modified_at".into(),
        row.last_modified_at.to_rfc3339().into(),
    );
    native.insert("tasks".into(), metas.into());
    conversation
        .extra
        .insert(NATIVE.to_owned(), Value::Object(native));
    conversation.messages = messages;
    Imported {
        conversation,
        row: row.clone(),
        problems,
    }
}

/// Which conversation to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which<'a> {
    /// The most recently changed one; with a directory, among those Warp
    /// did not record as started elsewhere.
    Latest(Option<&'a Path>),
    /// Warp's local conversation id, or its server conversation token.
    Id(&'a str),
}

fn in_directory(row: &ConversationRow, dir: &Path) -> bool {
    row.working_directory()
        .is_none_or(|started| Path::new(started).starts_with(dir))
}

/// Finds and reads a conversation in any of `databases` (see
/// [`paths::databases`](crate::paths::databases)).
pub fn import(databases: &[PathBuf], which: Which<'_>, options: &OpenOptions) -> Result<Imported> {
    if databases.is_empty() {
        return Err(Error::NoDatabase {
            looked: crate::paths::state_dirs(),
        });
    }
    let mut best: Option<(Database, ConversationRow)> = None;
    for path in databases {
        let db = Database::open(path, options)?;
        let rows = db.conversations()?;
        let found = match which {
            Which::Latest(dir) => rows
                .into_iter()
                .find(|r| dir.is_none_or(|dir| in_directory(r, dir))),
            Which::Id(id) => rows
                .into_iter()
                .find(|r| r.conversation_id == id || r.server_token() == Some(id)),
        };
        if let Some(row) = found {
            let newer = best
                .as_ref()
                .is_none_or(|(_, b)| row.last_modified_at > b.last_modified_at);
            if newer {
                best = Some((db, row));
            }
            if matches!(which, Which::Id(_)) {
                break;
            }
        }
    }
    let (db, row) = best.ok_or_else(|| Error::NoConversation {
        what: match which {
            Which::Latest(Some(dir)) => format!("conversation for {}", dir.display()),
            Which::Latest(None) => "conversation".to_owned(),
            Which::Id(id) => format!("conversation {id}"),
        },
        databases: databases.to_vec(),
    })?;
    db.read(&row)
}
