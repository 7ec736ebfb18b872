//! What people look at: the runs listing, one run (its sessions and its
//! transcript), and a run's end state as a diff.
//!
//! `handoff runs`, `handoff show` and the Runs page of `handoff serve` all
//! show these values; none of them reads records another way. Everything
//! goes through [`RunStore`]'s public operations (`list`, `get`), so a
//! cheaper way of listing or reading records slots in underneath.
//!
//! Records are untrusted and may be malformed: a record that cannot be read
//! is a [`Listed::Unreadable`] row naming the error, never a failure of the
//! whole listing; a run's transcript and diff fail on their own, as text in
//! the view. Every value is bounded (a page of rows, a number of messages,
//! bytes per message part, bytes of diff text), so what a view costs does
//! not grow with the store or with one hostile record.

use std::io::BufRead;

use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use handoff_conversation::{
    AttachmentRef, ConversationId, JsonlReader, Message, Part, ReadOptions, Role,
};
use handoff_harness::Permissions;
use handoff_store::{BlobStore, Bytes, Digest, DocumentStore, Store, Version};
use handoff_workspace::diff::{DisplayLimits, FileContent, FileDiff, file_diffs};
use serde::Serialize;

use crate::run::{RunId, RunRecord, RunState, RunStore, SessionId};
use crate::{Error, Result};

/// Which runs to list, and which page of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunQuery {
    /// Only runs in this state.
    pub state: Option<RunState>,
    /// Only runs of this harness.
    pub harness: Option<String>,
    /// Only runs older than this one (the next page).
    pub before: Option<RunId>,
    /// Only runs newer than this one (the previous page); ignored with
    /// `before`.
    pub after: Option<RunId>,
    /// At most this many rows (1 to [`MAX_PAGE`]).
    pub limit: usize,
    /// Read at most this many records for one page: a filter that matches
    /// few runs returns a short page with a cursor to go on from, rather
    /// than reading the whole store in one request.
    pub scan_limit: usize,
}

impl Default for RunQuery {
    fn default() -> Self {
        Self {
            state: None,
            harness: None,
            before: None,
            after: None,
            limit: 50,
            scan_limit: 2_000,
        }
    }
}

impl RunQuery {
    fn matches(&self, record: &RunRecord) -> bool {
        self.state.is_none_or(|s| s == record.state)
            && self.harness.as_deref().is_none_or(|h| h == record.harness)
    }

    fn filtered(&self) -> bool {
        self.state.is_some() || self.harness.is_some()
    }
}

/// The most rows one page may have.
pub const MAX_PAGE: usize = 500;

/// How many records a listing reads at once.
const READ_AHEAD: usize = 8;

/// One page of runs, newest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunPage {
    /// The rows.
    pub runs: Vec<Listed>,
    /// The cursor for older runs (`before`), when there are any left to
    /// read.
    pub older: Option<RunId>,
    /// The cursor for newer runs (`after`), when there are any.
    pub newer: Option<RunId>,
    /// How many runs the store holds, matching or not.
    pub total: usize,
    /// How many records were read for this page.
    pub scanned: usize,
}

/// A row of the listing: a run, or a record that could not be read.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Listed {
    /// A run.
    Run(Box<RunRow>),
    /// A record that could not be read (only listed when no filter is set,
    /// since its state and harness are unknown).
    Unreadable {
        /// The run's id, from the record's name.
        id: RunId,
        /// What is wrong with it.
        error: String,
    },
}

impl Listed {
    /// The run's id.
    pub fn id(&self) -> RunId {
        match self {
            Listed::Run(row) => row.id,
            Listed::Unreadable { id, .. } => *id,
        }
    }
}

/// What a listing shows of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    /// Its id.
    pub id: RunId,
    /// The version of the record read, which changes with every write.
    pub version: Version,
    /// Where it is.
    pub state: RunState,
    /// Its harness.
    pub harness: String,
    /// The first session's prompt, cut to [`TITLE_CHARS`] characters.
    pub title: Option<String>,
    /// The conversation it continues.
    pub conversation: ConversationId,
    /// Its repositories.
    pub repositories: Vec<RepoLabel>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// How many sessions it has.
    pub sessions: usize,
    /// Entries its sessions' apply reports could not apply, all sessions
    /// together.
    pub failed_entries: usize,
    /// Why the last session failed.
    pub failure: Option<String>,
    /// The last session's permission level.
    pub permissions: Option<Permissions>,
    /// The last session's model.
    pub model: Option<String>,
}

/// How long a row's title may be, in characters.
pub const TITLE_CHARS: usize = 120;

/// A repository as a listing names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoLabel {
    /// Its place in the run's workspace.
    pub path: String,
    /// Where it is cloned from, with any password in the URL replaced by
    /// `***`.
    pub source: Option<String>,
    /// The branch it was on.
    pub branch: Option<String>,
    /// The base commit.
    pub commit: Option<String>,
}

impl RunRow {
    /// The row of `record`, read at `version`.
    pub fn new(record: &RunRecord, version: Version) -> Self {
        let last = record.last_session();
        Self {
            id: record.id,
            version,
            state: record.state,
            harness: record.harness.clone(),
            title: record
                .sessions
                .first()
                .and_then(|s| s.prompt.as_deref())
                .map(|p| cut_chars(p, TITLE_CHARS)),
            conversation: record.conversation,
            repositories: record
                .repositories
                .iter()
                .map(|r| RepoLabel {
                    path: r.path.clone(),
                    source: r.source.as_deref().map(redact_source),
                    branch: r.branch.clone(),
                    commit: r.commit.clone(),
                })
                .collect(),
            created_at: record.created_at,
            updated_at: record.updated_at,
            sessions: record.sessions.len(),
            failed_entries: failed_entries(record),
            failure: last.and_then(|s| s.failure.clone()),
            permissions: last.map(|s| s.agent.permissions),
            model: last.and_then(|s| s.agent.model.clone()),
        }
    }
}

/// Entries the run's apply reports could not apply, all sessions together.
pub fn failed_entries(record: &RunRecord) -> usize {
    record
        .sessions
        .iter()
        .flat_map(|s| &s.apply)
        .map(|r| r.report.failed.len())
        .sum()
}

/// One page of the runs in `docs`, newest first, as `query` asks.
///
/// Reads the list of run ids once and at most `query.scan_limit` records
/// (a few at a time); keeps only the page's rows. A record that cannot be
/// read is an [`Listed::Unreadable`] row when no filter is set.
pub async fn list_runs(docs: &dyn DocumentStore, query: &RunQuery) -> Result<RunPage> {
    let runs = RunStore::new(docs);
    let ids = runs.list().await?;
    let total = ids.len();
    let limit = query.limit.clamp(1, MAX_PAGE);
    let scan_limit = query.scan_limit.max(limit);
    // The candidates in reading order: newest first going back, oldest
    // first going forward (then reversed for display).
    let forward = query.before.is_none() && query.after.is_some();
    let candidates: Vec<RunId> = match (query.before, query.after) {
        (Some(before), _) => ids[..ids.partition_point(|id| *id < before)]
            .iter()
            .rev()
            .copied()
            .collect(),
        (None, Some(after)) => ids[ids.partition_point(|id| *id <= after)..].to_vec(),
        (None, None) => ids.iter().rev().copied().collect(),
    };
    let mut rows = Vec::with_capacity(limit);
    let mut scanned = 0;
    for chunk in candidates.chunks(limit) {
        if rows.len() >= limit || scanned >= scan_limit {
            break;
        }
        let take = chunk.len().min(scan_limit - scanned);
        // Owned ids and a copied `RunStore` keep the future `Send` for any
        // caller (a web handler, say).
        let mut reads = futures_util::stream::iter(chunk[..take].to_vec())
            .map(move |id| async move { (id, runs.get(id).await) })
            .buffered(READ_AHEAD);
        while let Some((id, read)) = reads.next().await {
            if rows.len() >= limit {
                break;
            }
            scanned += 1;
            match read {
                Ok(loaded) if query.matches(&loaded.record) => rows.push(Listed::Run(Box::new(
                    RunRow::new(&loaded.record, loaded.version),
                ))),
                Ok(_) => {}
                Err(e) if !query.filtered() => rows.push(Listed::Unreadable {
                    id,
                    error: e.to_string(),
                }),
                Err(_) => {}
            }
        }
    }
    let last_scanned = (scanned > 0).then(|| candidates[scanned - 1]);
    let first_scanned = candidates.first().copied().filter(|_| scanned > 0);
    let more = scanned < candidates.len();
    let (older, newer) = if forward {
        rows.reverse();
        let newer = if more { last_scanned } else { None };
        let older = first_scanned.filter(|first| ids.first().is_some_and(|o| o < first));
        (older, newer)
    } else {
        let older = if more { last_scanned } else { None };
        let newer = first_scanned.filter(|first| ids.last().is_some_and(|n| n > first));
        (older, newer)
    };
    Ok(RunPage {
        runs: rows,
        older,
        newer,
        total,
        scanned,
    })
}

/// How much of a run's transcript and diff a view holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewOptions {
    /// The newest messages shown; older ones are counted, not kept.
    pub max_messages: usize,
    /// The bytes of one part's text shown; the rest is counted.
    pub max_part_bytes: usize,
    /// How much of the end state's diff is shown.
    pub diff: DisplayLimits,
}

impl Default for ViewOptions {
    fn default() -> Self {
        Self {
            max_messages: 2_000,
            max_part_bytes: 64 << 10,
            diff: DisplayLimits::default(),
        }
    }
}

/// A run as `handoff show` and the run page show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunView {
    /// The listing's row of it.
    pub row: RunRow,
    /// The record: sessions in order (prompt, times, state, worker,
    /// failure, apply reports), repositories.
    pub record: RunRecord,
    /// Why the record fails validation, if it does (it is still shown).
    pub problem: Option<String>,
    /// The conversation as it stands, or why it cannot be shown.
    pub transcript: std::result::Result<Transcript, String>,
}

/// A conversation as a view shows it: its newest messages, each part's
/// text cut to a bound.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transcript {
    /// Its id.
    pub id: ConversationId,
    /// Its title.
    pub title: String,
    /// The harness it came from.
    pub harness: String,
    /// The newest messages, oldest first.
    pub messages: Vec<MessageView>,
    /// Older messages not shown.
    pub earlier: usize,
    /// Lines of the stored conversation that could not be read, with the
    /// reason.
    pub unreadable: Vec<String>,
}

/// A message as a view shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageView {
    /// Who speaks.
    pub role: Role,
    /// When.
    pub time: DateTime<Utc>,
    /// What was said.
    pub parts: Vec<PartView>,
}

/// A message part as a view shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PartView {
    /// Plain text.
    Text {
        /// The text.
        text: String,
        /// Bytes cut off the end.
        cut: usize,
    },
    /// The agent's reasoning.
    Reasoning {
        /// The text.
        text: String,
        /// Bytes cut off the end.
        cut: usize,
    },
    /// A tool call.
    ToolCall {
        /// The tool.
        name: String,
        /// Its input as indented JSON.
        input: String,
        /// Bytes cut off the end of `input`.
        cut: usize,
    },
    /// A tool's result.
    ToolResult {
        /// The output.
        output: String,
        /// Whether the tool failed.
        is_error: bool,
        /// Bytes cut off the end.
        cut: usize,
    },
    /// An attached file.
    Attachment {
        /// The reference.
        attachment: AttachmentRef,
        /// Whether it is a raster image a browser may show inline (PNG,
        /// JPEG, GIF, WebP; never SVG, which can carry script).
        image: bool,
    },
}

/// The media types shown inline as images.
pub const INLINE_IMAGE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

/// The view of run `id`: its record (an error when it cannot be read) and
/// its transcript (text in the view when it cannot be).
pub async fn run_view(store: &dyn Store, id: RunId, options: &ViewOptions) -> Result<RunView> {
    let loaded = RunStore::new(store).get(id).await?;
    let record = loaded.record;
    let transcript = match record.conversation_head {
        None => Err("the run has no conversation yet".to_owned()),
        Some(head) => transcript(store, &head, options)
            .await
            .map_err(|e| e.to_string()),
    };
    Ok(RunView {
        row: RunRow::new(&record, loaded.version),
        problem: record.validate().err().map(|e| e.to_string()),
        record,
        transcript,
    })
}

async fn transcript(
    blobs: &dyn BlobStore,
    head: &Digest,
    options: &ViewOptions,
) -> Result<Transcript> {
    let bytes = blobs.get(head).await?;
    let mut reader = JsonlReader::new(&bytes[..], ReadOptions::lenient())?;
    let mut messages = std::collections::VecDeque::new();
    let mut earlier = 0;
    let mut unreadable = Vec::new();
    for message in &mut reader {
        match message {
            Ok(message) => {
                if messages.len() == options.max_messages.max(1) {
                    messages.pop_front();
                    earlier += 1;
                }
                messages.push_back(message_view(message, options.max_part_bytes));
            }
            Err(e) => unreadable.push(e.to_string()),
        }
    }
    unreadable.extend(
        reader
            .take_skipped()
            .into_iter()
            .map(|s| format!("line {}: {}", s.line, s.reason)),
    );
    Ok(Transcript {
        id: reader.header.id,
        title: reader.header.title.clone(),
        harness: reader.header.harness.clone(),
        messages: messages.into(),
        earlier,
        unreadable,
    })
}

fn message_view(message: Message, max: usize) -> MessageView {
    let parts = message
        .parts
        .into_iter()
        .map(|part| match part {
            Part::Text { text } => {
                let (text, cut) = cut_bytes(text, max);
                PartView::Text { text, cut }
            }
            Part::Reasoning { text } => {
                let (text, cut) = cut_bytes(text, max);
                PartView::Reasoning { text, cut }
            }
            Part::ToolCall { name, input, .. } => {
                let input = serde_json::to_string_pretty(&input).unwrap_or_default();
                let (input, cut) = cut_bytes(input, max);
                PartView::ToolCall {
                    name: cut_chars(&name, TITLE_CHARS),
                    input,
                    cut,
                }
            }
            Part::ToolResult {
                output, is_error, ..
            } => {
                let (output, cut) = cut_bytes(output, max);
                PartView::ToolResult {
                    output,
                    is_error,
                    cut,
                }
            }
            Part::Attachment(attachment) => PartView::Attachment {
                image: INLINE_IMAGE_TYPES.contains(&attachment.media_type.as_str()),
                attachment,
            },
        })
        .collect();
    MessageView {
        role: message.role,
        time: message.time,
        parts,
    }
}

/// A run's end state as a diff: for each repository, what its newest
/// ended session changed since the run began (the since-base snapshot,
/// the same change `handoff diff RUN` prints).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiffView {
    /// The session whose end it is; `None` when no session has ended well.
    pub session: Option<SessionId>,
    /// One diff per repository.
    pub repositories: Vec<RepoDiff>,
}

/// One repository's diff.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RepoDiff {
    /// The repository's place in the run's workspace.
    pub repo: String,
    /// The snapshot shown.
    pub snapshot: Digest,
    /// The files, or why they cannot be shown.
    pub files: std::result::Result<Vec<FileDiff>, String>,
}

impl RepoDiff {
    /// Lines added and removed in the files shown.
    pub fn line_counts(&self) -> (usize, usize) {
        self.files.as_ref().map_or((0, 0), |files| {
            files.iter().fold((0, 0), |(a, r), f| match &f.content {
                FileContent::Text { added, removed, .. } => (a + added, r + removed),
                _ => (a, r),
            })
        })
    }
}

/// The diff of `record`'s end state (see [`DiffView`]); a repository whose
/// snapshot cannot be read says why in its `files`.
pub async fn diff_view(
    blobs: &dyn BlobStore,
    record: &RunRecord,
    limits: &DisplayLimits,
) -> DiffView {
    let Some(session) = record.sessions.iter().rev().find(|s| s.has_end()) else {
        return DiffView {
            session: None,
            repositories: Vec::new(),
        };
    };
    let mut repositories = Vec::new();
    for end in &session.end {
        let snapshot = end.review();
        let files = match handoff_workspace::load_manifest(blobs, &snapshot).await {
            Ok(manifest) => file_diffs(&manifest, blobs, limits)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        repositories.push(RepoDiff {
            repo: end.repo.clone(),
            snapshot,
            files,
        });
    }
    DiffView {
        session: Some(session.id),
        repositories,
    }
}

/// The row of run `id` as it stands (its state and version): what a page
/// polls to know whether the run changed.
pub async fn run_row(docs: &dyn DocumentStore, id: RunId) -> Result<RunRow> {
    let loaded = RunStore::new(docs).get(id).await?;
    Ok(RunRow::new(&loaded.record, loaded.version))
}

/// An attachment of run `id`'s conversation, by digest: its reference
/// (name and media type as recorded) and content. Only what the run's
/// conversation references is given out, never any other blob.
pub async fn run_attachment(
    store: &dyn Store,
    id: RunId,
    digest: &Digest,
) -> Result<(AttachmentRef, Bytes)> {
    let record = RunStore::new(store).get(id).await?.record;
    let blobs: &dyn BlobStore = store;
    let missing = || Error::UnknownAttachment {
        run: id,
        digest: *digest,
    };
    let head = record.conversation_head.ok_or_else(missing)?;
    let bytes = blobs.get(&head).await?;
    let reader = JsonlReader::new(&bytes[..], ReadOptions::lenient())?;
    let found = find_attachment(reader, digest).ok_or_else(missing)?;
    let content = blobs.get(digest).await?;
    Ok((found, content))
}

fn find_attachment<R: BufRead>(reader: JsonlReader<R>, digest: &Digest) -> Option<AttachmentRef> {
    reader.flatten().find_map(|message| {
        message.parts.into_iter().find_map(|part| match part {
            Part::Attachment(a) if a.digest == *digest => Some(a),
            _ => None,
        })
    })
}

/// `text` cut to at most `max` bytes at a character boundary; returns the
/// text and how many bytes were cut.
fn cut_bytes(mut text: String, max: usize) -> (String, usize) {
    if text.len() <= max {
        return (text, 0);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = text.len() - end;
    text.truncate(end);
    (text, cut)
}

/// The first `max` characters of `text`, with `…` when it was longer.
fn cut_chars(text: &str, max: usize) -> String {
    let mut chars = text.chars();
    let mut out: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// `source` with the secret part of a URL's user information replaced by
/// `***`: the password (`https://user:token@host/…`), or for http(s) a
/// user name alone, which is how tokens are often given
/// (`https://token@host/…`).
pub fn redact_source(source: &str) -> String {
    let Some((scheme, rest)) = source.split_once("://") else {
        return source.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return source.to_owned();
    };
    let shown = match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http") => {
            "***".to_owned()
        }
        None => userinfo.to_owned(),
    };
    format!("{scheme}://{shown}@{host}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_sources_are_hidden() {
        assert_eq!(
            redact_source("https://me:s3cret@example.com/r.git"),
            "https://me:***@example.com/r.git"
        );
        assert_eq!(
            redact_source("https://ghp_token@example.com/r.git"),
            "https://***@example.com/r.git"
        );
        assert_eq!(
            redact_source("ssh://git@example.com/r.git"),
            "ssh://git@example.com/r.git"
        );
        assert_eq!(
            redact_source("git@example.com:r.git"),
            "git@example.com:r.git"
        );
        assert_eq!(redact_source("/srv/r.git"), "/srv/r.git");
    }

    #[test]
    fn cutting_keeps_characters_whole() {
        assert_eq!(cut_bytes("héllo".to_owned(), 2), ("h".to_owned(), 5));
        assert_eq!(cut_bytes("abc".to_owned(), 3), ("abc".to_owned(), 0));
        assert_eq!(cut_chars("abcdef", 3), "abc…");
    }
}
