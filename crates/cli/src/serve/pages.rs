//! The pages and the JSON behind their live updates. Handlers read through
//! `handoff_engine::view` and turn its values into the plain display
//! structs the templates (`crates/cli/templates/`) render; every string
//! from a record reaches the HTML through askama's escaping.

use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use handoff_engine::view::{
    self, DiffView, Listed, PartView, RunPage, RunQuery, RunView, Transcript, ViewOptions,
};
use handoff_engine::{RunId, RunState};
use handoff_store::Digest;
use handoff_workspace::diff::{FileChange, FileContent, FileDiff, LineKind};
use serde::Deserialize;

use super::App;
use crate::args::{AgentArgs, AgentCmdArgs};
use crate::commands::continue_locally::continue_commands;
use crate::commands::follow_up::queue_follow_up;

type Shared = State<Arc<App>>;

/// A page's query string: filters and a cursor.
#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    state: Option<String>,
    harness: Option<String>,
    before: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
}

impl ListParams {
    fn query(&self) -> Result<RunQuery, String> {
        let state = match self.state.as_deref().filter(|s| !s.is_empty()) {
            Some(text) => Some(text.parse::<RunState>().map_err(|e| e.to_string())?),
            None => None,
        };
        let cursor = |text: &Option<String>| match text.as_deref().filter(|s| !s.is_empty()) {
            Some(text) => text.parse::<RunId>().map(Some).map_err(|e| e.to_string()),
            None => Ok(None),
        };
        Ok(RunQuery {
            state,
            harness: self.harness.clone().filter(|h| !h.is_empty()),
            before: cursor(&self.before)?,
            after: cursor(&self.after)?,
            limit: self.limit.unwrap_or(50).clamp(1, view::MAX_PAGE),
            ..RunQuery::default()
        })
    }
}

/// `?state=…&harness=…` plus a cursor, as a link.
fn list_href(query: &RunQuery, cursor: Option<(&str, RunId)>) -> String {
    let mut url = url::form_urlencoded::Serializer::new(String::new());
    if let Some(state) = query.state {
        url.append_pair("state", state.name());
    }
    if let Some(harness) = &query.harness {
        url.append_pair("harness", harness);
    }
    if query.limit != 50 {
        url.append_pair("limit", &query.limit.to_string());
    }
    if let Some((name, id)) = cursor {
        url.append_pair(name, &id.to_string());
    }
    let query = url.finish();
    if query.is_empty() {
        "/".to_owned()
    } else {
        format!("/?{query}")
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn opt_time(t: Option<DateTime<Utc>>) -> String {
    t.map(time).unwrap_or_default()
}

/// What the live-update script compares: the JSON's rows and versions.
fn page_fingerprint(page: &RunPage) -> String {
    let rows: Vec<String> = page
        .runs
        .iter()
        .map(|row| match row {
            Listed::Run(run) => format!("{}:{}", run.id, run.version.0),
            Listed::Unreadable { id, .. } => format!("{id}:x"),
        })
        .collect();
    format!("{};{}", page.total, rows.join(","))
}

#[derive(Template)]
#[template(path = "runs.html")]
struct RunsPage {
    rows: Vec<RowView>,
    states: Vec<(&'static str, bool)>,
    harness: String,
    total: usize,
    scanned: usize,
    shown: usize,
    filtered: bool,
    older_href: Option<String>,
    newer_href: Option<String>,
    poll: String,
    fingerprint: String,
    read_only: bool,
}

struct RowView {
    id: String,
    href: String,
    error: Option<String>,
    state: &'static str,
    harness: String,
    title: String,
    repo: String,
    branch: String,
    created: String,
    updated: String,
    sessions: usize,
    failed_entries: usize,
    failure: Option<String>,
}

/// The first repository as a row names it: where it comes from, and its
/// place when it is not the whole workspace; "and N more" for the rest.
fn repository_label(repositories: &[view::RepoLabel]) -> String {
    let Some(first) = repositories.first() else {
        return String::new();
    };
    let place = if first.path == "." {
        ""
    } else {
        first.path.as_str()
    };
    let mut label = match (&first.source, place) {
        (Some(source), "") => source.clone(),
        (Some(source), place) => format!("{place} ({source})"),
        (None, place) => place.to_owned(),
    };
    if repositories.len() > 1 {
        label.push_str(&format!(" and {} more", repositories.len() - 1));
    }
    label
}

impl RowView {
    fn new(row: &Listed) -> Self {
        match row {
            Listed::Run(run) => {
                let first = run.repositories.first();
                Self {
                    id: run.id.to_string(),
                    href: format!("/runs/{}", run.id),
                    error: None,
                    state: run.state.name(),
                    harness: run.harness.clone(),
                    title: run.title.clone().unwrap_or_default(),
                    repo: repository_label(&run.repositories),
                    branch: first.and_then(|r| r.branch.clone()).unwrap_or_default(),
                    created: time(run.created_at),
                    updated: time(run.updated_at),
                    sessions: run.sessions,
                    failed_entries: run.failed_entries,
                    failure: run.failure.clone(),
                }
            }
            Listed::Unreadable { id, error } => Self {
                id: id.to_string(),
                href: format!("/runs/{id}"),
                error: Some(error.clone()),
                state: "unreadable",
                harness: String::new(),
                title: String::new(),
                repo: String::new(),
                branch: String::new(),
                created: String::new(),
                updated: String::new(),
                sessions: 0,
                failed_entries: 0,
                failure: None,
            },
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    heading: String,
    message: String,
}

/// A page that says what went wrong, with `status`.
fn error_page(status: StatusCode, heading: &str, message: impl Into<String>) -> Response {
    let page = ErrorPage {
        status: status.as_u16(),
        heading: heading.to_owned(),
        message: message.into(),
    };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => (status, format!("{heading}: {e}\n")).into_response(),
    }
}

fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The page could not be rendered",
            e.to_string(),
        ),
    }
}

fn json(value: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn json_error(status: StatusCode, message: String) -> Response {
    let mut response = json(&serde_json::json!({ "error": message }));
    *response.status_mut() = status;
    response
}

/// `GET /`: the runs, newest first.
pub async fn runs_page(State(app): Shared, Query(params): Query<ListParams>) -> Response {
    let query = match params.query() {
        Ok(query) => query,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, "Not a valid filter", e),
    };
    let page = match view::list_runs(&*app.store, &query).await {
        Ok(page) => page,
        Err(e) => {
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The store could not be listed",
                e.to_string(),
            );
        }
    };
    let states = RunState::ALL
        .map(|s| (s.name(), query.state == Some(s)))
        .to_vec();
    let cursor = match (query.before, query.after) {
        (Some(id), _) => Some(("before", id)),
        (None, Some(id)) => Some(("after", id)),
        (None, None) => None,
    };
    // The script polls exactly this page (a page of older runs keeps its
    // place).
    let poll = format!("/api/runs{}", &list_href(&query, cursor)[1..]);
    let rendered = RunsPage {
        rows: page.runs.iter().map(RowView::new).collect(),
        states,
        harness: query.harness.clone().unwrap_or_default(),
        total: page.total,
        scanned: page.scanned,
        shown: page.runs.len(),
        filtered: query.state.is_some() || query.harness.is_some(),
        older_href: page.older.map(|id| list_href(&query, Some(("before", id)))),
        newer_href: page.newer.map(|id| list_href(&query, Some(("after", id)))),
        poll,
        fingerprint: page_fingerprint(&page),
        read_only: app.read_only,
    };
    render(StatusCode::OK, &rendered)
}

/// `GET /api/runs`: the page's data, for live updates and scripts.
pub async fn runs_json(State(app): Shared, Query(params): Query<ListParams>) -> Response {
    let query = match params.query() {
        Ok(query) => query,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, e),
    };
    match view::list_runs(&*app.store, &query).await {
        Ok(page) => json(&page),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `GET /api/runs/{id}`: a run's row (its state and version), for live
/// updates.
pub async fn run_json(State(app): Shared, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<RunId>() else {
        return json_error(StatusCode::NOT_FOUND, format!("{id:?} is not a run id"));
    };
    match view::run_row(&*app.store, id).await {
        Ok(row) => json(&row),
        Err(e @ handoff_engine::Error::UnknownRun { .. }) => {
            json_error(StatusCode::NOT_FOUND, e.to_string())
        }
        Err(e) => json_error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    }
}

#[derive(Template)]
#[template(path = "run.html")]
struct RunPageView {
    id: String,
    state: &'static str,
    harness: String,
    title: String,
    created: String,
    updated: String,
    version: u64,
    repos: Vec<view::RepoLabel>,
    problem: Option<String>,
    notice: Option<String>,
    conflict: Option<String>,
    commands: [String; 2],
    sessions: Vec<SessionView>,
    failed_entries: usize,
    diff: DiffSection,
    transcript: TranscriptSection,
    form: Option<FormView>,
    read_only: bool,
}

struct SessionView {
    number: usize,
    id: String,
    state: &'static str,
    prompt: String,
    started: String,
    ended: String,
    worker: String,
    permissions: String,
    model: String,
    failure: Option<String>,
    reports: Vec<ReportView>,
    end: Vec<(String, String)>,
}

struct ReportView {
    repo: String,
    applied: usize,
    already: usize,
    merged: usize,
    failed: Vec<FailureView>,
    skipped: Vec<FailureView>,
    warnings: Vec<String>,
}

struct FailureView {
    path: String,
    kind: String,
    reason: String,
}

struct DiffSection {
    session: Option<usize>,
    repos: Vec<RepoDiffView>,
}

struct RepoDiffView {
    repo: String,
    snapshot: String,
    error: Option<String>,
    files: Vec<FileView>,
    added: usize,
    removed: usize,
}

struct FileView {
    anchor: String,
    path: String,
    old_path: Option<String>,
    change: String,
    letter: &'static str,
    mode: Option<String>,
    added: usize,
    removed: usize,
    note: Option<String>,
    binary: Option<String>,
    hunks: Vec<HunkView>,
    truncated: bool,
}

struct HunkView {
    header: String,
    lines: Vec<LineView>,
}

struct LineView {
    class: &'static str,
    sign: &'static str,
    text: String,
    no_newline: bool,
}

struct TranscriptSection {
    error: Option<String>,
    title: String,
    earlier: usize,
    unreadable: Vec<String>,
    messages: Vec<MessageView>,
}

struct MessageView {
    role: &'static str,
    time: String,
    parts: Vec<PartDisplay>,
}

struct PartDisplay {
    anchor: String,
    kind: &'static str,
    label: String,
    text: String,
    cut: usize,
    href: String,
    image: bool,
    size: String,
}

struct FormView {
    action: String,
    csrf: String,
    prompt: String,
    model: String,
    permissions: Vec<(&'static str, &'static str, bool)>,
    busy: Option<String>,
    error: Option<String>,
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1 << 20 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{:.1} MiB", b as f64 / f64::from(1 << 20)),
    }
}

fn sessions_of(view: &RunView) -> Vec<SessionView> {
    let failure = |f: &handoff_workspace::Failure| FailureView {
        path: f.path.clone(),
        kind: serde_json::to_value(f.kind)
            .ok()
            .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
            .unwrap_or_default(),
        reason: f.reason.clone(),
    };
    view.record
        .sessions
        .iter()
        .enumerate()
        .map(|(i, s)| SessionView {
            number: i + 1,
            id: s.id.to_string(),
            state: s.state.name(),
            prompt: s.prompt.clone().unwrap_or_default(),
            started: opt_time(s.started_at),
            ended: opt_time(s.ended_at),
            worker: s.worker.clone().unwrap_or_default(),
            permissions: s.agent.permissions.to_string(),
            model: s
                .agent
                .model
                .clone()
                .unwrap_or_else(|| "the agent's default".to_owned()),
            failure: s.failure.clone(),
            reports: s
                .apply
                .iter()
                .map(|r| ReportView {
                    repo: r.repo.clone(),
                    applied: r.report.applied.len(),
                    already: r.report.already_applied.len(),
                    merged: r.report.merged.len(),
                    failed: r.report.failed.iter().map(failure).collect(),
                    skipped: r.report.skipped.iter().map(failure).collect(),
                    warnings: r.report.warnings.iter().map(ToString::to_string).collect(),
                })
                .collect(),
            end: s
                .end
                .iter()
                .map(|e| (e.repo.clone(), e.review().to_string()))
                .collect(),
        })
        .collect()
}

fn file_view(index: (usize, usize), file: &FileDiff) -> FileView {
    let (change, letter) = match file.change {
        FileChange::Added => ("added".to_owned(), "A"),
        FileChange::Deleted => ("deleted".to_owned(), "D"),
        FileChange::Renamed { similarity } => (format!("renamed ({similarity}% similar)"), "R"),
        _ => ("modified".to_owned(), "M"),
    };
    let mode = match (file.old_mode, file.new_mode) {
        (Some(old), Some(new)) if old != new => Some(format!("mode {old} → {new}")),
        _ => None,
    };
    let mut shown = FileView {
        anchor: format!("file-{}-{}", index.0, index.1),
        path: file.path.clone(),
        old_path: file.old_path.clone(),
        change,
        letter,
        mode,
        added: 0,
        removed: 0,
        note: None,
        binary: None,
        hunks: Vec::new(),
        truncated: false,
    };
    match &file.content {
        FileContent::Text {
            hunks,
            added,
            removed,
            truncated,
        } => {
            shown.added = *added;
            shown.removed = *removed;
            shown.truncated = *truncated;
            shown.hunks = hunks
                .iter()
                .map(|h| HunkView {
                    header: h.header.clone(),
                    lines: h
                        .lines
                        .iter()
                        .map(|l| {
                            let (class, sign) = match l.kind {
                                LineKind::Added => ("add", "+"),
                                LineKind::Removed => ("del", "-"),
                                LineKind::Context => ("ctx", " "),
                            };
                            LineView {
                                class,
                                sign,
                                text: l.text.clone(),
                                no_newline: l.no_newline,
                            }
                        })
                        .collect(),
                })
                .collect();
        }
        FileContent::Binary { old_size, new_size } => {
            shown.binary = Some(match (old_size, new_size) {
                (Some(a), Some(b)) => format!("binary file, {} → {}", size(*a), size(*b)),
                (None, Some(b)) => format!("binary file, {}", size(*b)),
                (Some(a), None) => format!("binary file, was {}", size(*a)),
                (None, None) => "binary file".to_owned(),
            });
        }
        FileContent::Unchanged => shown.note = Some("only the name or mode changed".to_owned()),
        FileContent::NotShown { reason } => shown.note = Some(format!("not shown: {reason}")),
        FileContent::Unrepresentable { reason } => {
            shown.note = Some(format!("cannot be shown: {reason}"));
        }
        _ => shown.note = Some("not shown".to_owned()),
    }
    shown
}

fn diff_section(view: &RunView, diff: &DiffView) -> DiffSection {
    DiffSection {
        session: diff.session.and_then(|id| {
            view.record
                .sessions
                .iter()
                .position(|s| s.id == id)
                .map(|i| i + 1)
        }),
        repos: diff
            .repositories
            .iter()
            .enumerate()
            .map(|(r, repo)| {
                let (added, removed) = repo.line_counts();
                RepoDiffView {
                    repo: repo.repo.clone(),
                    snapshot: repo.snapshot.to_string(),
                    error: repo.files.as_ref().err().cloned(),
                    files: repo
                        .files
                        .as_ref()
                        .map(|files| {
                            files
                                .iter()
                                .enumerate()
                                .map(|(f, file)| file_view((r, f), file))
                                .collect()
                        })
                        .unwrap_or_default(),
                    added,
                    removed,
                }
            })
            .collect(),
    }
}

fn transcript_section(run: RunId, transcript: &Result<Transcript, String>) -> TranscriptSection {
    let t = match transcript {
        Ok(t) => t,
        Err(e) => {
            return TranscriptSection {
                error: Some(e.clone()),
                title: String::new(),
                earlier: 0,
                unreadable: Vec::new(),
                messages: Vec::new(),
            };
        }
    };
    let messages = t
        .messages
        .iter()
        .enumerate()
        .map(|(m, message)| MessageView {
            role: match message.role {
                handoff_conversation::Role::System => "system",
                handoff_conversation::Role::User => "user",
                handoff_conversation::Role::Assistant => "agent",
                handoff_conversation::Role::Tool => "tool",
            },
            time: time(message.time),
            parts: message
                .parts
                .iter()
                .enumerate()
                .map(|(p, part)| {
                    let mut shown = PartDisplay {
                        anchor: format!("part-{m}-{p}"),
                        kind: "text",
                        label: String::new(),
                        text: String::new(),
                        cut: 0,
                        href: String::new(),
                        image: false,
                        size: String::new(),
                    };
                    match part {
                        PartView::Text { text, cut } => {
                            shown.text = text.clone();
                            shown.cut = *cut;
                        }
                        PartView::Reasoning { text, cut } => {
                            shown.kind = "reasoning";
                            shown.label = "Reasoning".to_owned();
                            shown.text = text.clone();
                            shown.cut = *cut;
                        }
                        PartView::ToolCall { name, input, cut } => {
                            shown.kind = "tool_call";
                            shown.label = format!("Tool call: {name}");
                            shown.text = input.clone();
                            shown.cut = *cut;
                        }
                        PartView::ToolResult {
                            output,
                            is_error,
                            cut,
                        } => {
                            shown.kind = "tool_result";
                            shown.label = if *is_error {
                                "Tool result (error)".to_owned()
                            } else {
                                "Tool result".to_owned()
                            };
                            shown.text = output.clone();
                            shown.cut = *cut;
                        }
                        PartView::Attachment { attachment, image } => {
                            shown.kind = "attachment";
                            shown.label = attachment.name.clone();
                            shown.text = attachment.media_type.clone();
                            shown.href = format!("/runs/{run}/attachments/{}", attachment.digest);
                            shown.image = *image;
                            shown.size = size(attachment.size);
                        }
                        _ => {
                            shown.kind = "other";
                            shown.label = "(a part this page does not show)".to_owned();
                        }
                    }
                    shown
                })
                .collect(),
        })
        .collect();
    TranscriptSection {
        error: None,
        title: t.title.clone(),
        earlier: t.earlier,
        unreadable: t.unreadable.clone(),
        messages,
    }
}

/// What the follow-up form shows after a post that was not queued.
#[derive(Debug, Default)]
struct Outcome {
    notice: Option<String>,
    conflict: Option<String>,
    error: Option<String>,
    prompt: String,
    model: String,
    permissions: String,
}

async fn run_page_with(app: &App, id: RunId, outcome: Outcome, status: StatusCode) -> Response {
    let view = match view::run_view(&*app.store, id, &ViewOptions::default()).await {
        Ok(view) => view,
        Err(e @ handoff_engine::Error::UnknownRun { .. }) => {
            return error_page(StatusCode::NOT_FOUND, "No such run", e.to_string());
        }
        Err(e) => {
            return error_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "This run's record cannot be read",
                e.to_string(),
            );
        }
    };
    let diff = view::diff_view(&*app.store, &view.record, &ViewOptions::default().diff).await;
    let busy = matches!(view.record.state, RunState::Queued | RunState::Running);
    let form = (!app.read_only).then(|| FormView {
        action: format!("/runs/{id}/follow-up"),
        csrf: app.csrf.as_str().to_owned(),
        prompt: outcome.prompt.clone(),
        model: outcome.model.clone(),
        permissions: [
            ("", "as the last session"),
            ("read-only", "read-only"),
            ("edits", "edits"),
            ("full", "full"),
        ]
        .map(|(value, label)| (value, label, outcome.permissions == value))
        .to_vec(),
        busy: busy.then(|| {
            format!(
                "The run is {}: a follow-up is queued only after its session ends.",
                view.record.state.name()
            )
        }),
        error: outcome.error.clone(),
    });
    let page = RunPageView {
        id: id.to_string(),
        state: view.record.state.name(),
        harness: view.record.harness.clone(),
        title: view.row.title.clone().unwrap_or_default(),
        created: time(view.record.created_at),
        updated: time(view.record.updated_at),
        version: view.row.version.0,
        repos: view.row.repositories.clone(),
        problem: view.problem.clone(),
        notice: outcome.notice,
        conflict: outcome.conflict,
        commands: continue_commands(id, app.store_flag.as_deref()),
        sessions: sessions_of(&view),
        failed_entries: view.row.failed_entries,
        diff: diff_section(&view, &diff),
        transcript: transcript_section(id, &view.transcript),
        form,
        read_only: app.read_only,
    };
    render(status, &page)
}

/// A run page's query string.
#[derive(Debug, Default, Deserialize)]
pub struct RunParams {
    queued: Option<String>,
}

/// `GET /runs/{id}`.
pub async fn run_page(
    State(app): Shared,
    Path(id): Path<String>,
    Query(params): Query<RunParams>,
) -> Response {
    let Ok(id) = id.parse::<RunId>() else {
        return error_page(
            StatusCode::NOT_FOUND,
            "No such run",
            format!("{id:?} is not a run id"),
        );
    };
    let notice = params.queued.map(|session| {
        format!(
            "Follow-up queued as session {session}. A worker (`handoff worker`) runs it; this page shows it when it does."
        )
    });
    let outcome = Outcome {
        notice,
        ..Outcome::default()
    };
    run_page_with(&app, id, outcome, StatusCode::OK).await
}

/// The follow-up form's fields.
#[derive(Debug, Deserialize)]
pub struct FollowUpForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    prompt: String,
    #[serde(default)]
    permissions: String,
    #[serde(default)]
    model: String,
}

/// `POST /runs/{id}/follow-up`: queues a session as `handoff follow-up`
/// does, then shows the run.
pub async fn follow_up(
    State(app): Shared,
    Path(id): Path<String>,
    Form(form): Form<FollowUpForm>,
) -> Response {
    if app.read_only {
        return error_page(
            StatusCode::FORBIDDEN,
            "Follow-ups are refused",
            "This server is read-only (--read-only): queue a follow-up with `handoff follow-up` instead.",
        );
    }
    if !app.csrf.matches(&form.csrf) {
        return error_page(
            StatusCode::FORBIDDEN,
            "The form's token is not this server's",
            "The follow-up was not queued: the form did not come from this server, or the server \
             restarted since the page was loaded. Reload the run's page and send it again.",
        );
    }
    let Ok(run) = id.parse::<RunId>() else {
        return error_page(
            StatusCode::NOT_FOUND,
            "No such run",
            format!("{id:?} is not a run id"),
        );
    };
    let kept = |error: Option<String>, conflict: Option<String>| Outcome {
        notice: None,
        conflict,
        error,
        prompt: form.prompt.clone(),
        model: form.model.clone(),
        permissions: form.permissions.clone(),
    };
    if form.prompt.trim().is_empty() {
        return run_page_with(
            &app,
            run,
            kept(Some("The prompt is empty.".to_owned()), None),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let agent = AgentArgs {
        permissions: Some(form.permissions.clone()).filter(|p| !p.is_empty()),
        model: Some(form.model.clone()).filter(|m| !m.trim().is_empty()),
        network: None,
    };
    match queue_follow_up(
        &*app.store,
        run,
        form.prompt.clone(),
        &agent,
        &AgentCmdArgs {
            agent_cmd: app.agent_cmd.clone(),
            ..AgentCmdArgs::default()
        },
        // The form has no way to allow secrets: a prompt with one is
        // shown back, refused, as `handoff follow-up` refuses it.
        false,
    )
    .await
    {
        Ok(session) => Redirect::to(&format!("/runs/{run}?queued={}", session.id)).into_response(),
        Err(e) => {
            let conflict = match e.downcast_ref::<handoff_engine::Error>() {
                Some(handoff_engine::Error::RunBusy { state, .. }) => Some(format!(
                    "Not queued: run {run} is {} — another follow-up reached it first, or its \
                     session has not ended. Your prompt is still below; send it again once the \
                     run has ended.",
                    state.name()
                )),
                Some(handoff_engine::Error::Conflict { .. }) => Some(format!(
                    "Not queued: another follow-up to run {run} was recorded at the same moment \
                     and won. Your prompt is still below; look at the run's sessions, then send \
                     it again if it is still wanted."
                )),
                _ => None,
            };
            match conflict {
                Some(conflict) => {
                    run_page_with(&app, run, kept(None, Some(conflict)), StatusCode::CONFLICT).await
                }
                None => {
                    run_page_with(
                        &app,
                        run,
                        kept(Some(format!("Not queued: {e:#}")), None),
                        StatusCode::BAD_REQUEST,
                    )
                    .await
                }
            }
        }
    }
}

/// `GET /runs/{id}/attachments/{digest}`: an attachment of the run's
/// conversation. Raster images are served as themselves (for `<img>`);
/// anything else as a download, never as something a browser would run.
pub async fn attachment(
    State(app): Shared,
    Path((id, digest)): Path<(String, String)>,
) -> Response {
    let (Ok(run), Ok(digest)) = (id.parse::<RunId>(), digest.parse::<Digest>()) else {
        return error_page(StatusCode::NOT_FOUND, "No such attachment", "");
    };
    match view::run_attachment(&*app.store, run, &digest).await {
        Ok((found, bytes)) => {
            let inline = view::INLINE_IMAGE_TYPES.contains(&found.media_type.as_str());
            let content_type = if inline {
                found.media_type.as_str()
            } else {
                "application/octet-stream"
            };
            let safe_name = found.safe_name();
            let disposition = format!(
                "{}; filename=\"{safe_name}\"",
                if inline { "inline" } else { "attachment" }
            );
            let mut response = bytes.to_vec().into_response();
            let headers = response.headers_mut();
            for (name, value) in [
                (header::CONTENT_TYPE, content_type.to_owned()),
                (header::CONTENT_DISPOSITION, disposition),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; sandbox".to_owned(),
                ),
            ] {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(name, value);
                }
            }
            response
        }
        Err(e) => error_page(StatusCode::NOT_FOUND, "No such attachment", e.to_string()),
    }
}

/// Anything else.
pub async fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "Not found", "There is no such page.")
}

/// `GET /static/style.css`.
pub async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("static/style.css"),
    )
        .into_response()
}

/// `GET /static/live.js`.
pub async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("static/live.js"),
    )
        .into_response()
}
