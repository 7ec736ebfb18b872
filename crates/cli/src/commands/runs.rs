//! The cloud commands: push, worker, follow-up, continue-locally, runs, show.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use handoff_conversation::{
    AttachmentLimits, Conversation, Message, Part, ReadOptions, Role, attach_file,
};
use handoff_engine::view::{self, DiffView, Listed, RunQuery, RunRow, RunView, ViewOptions};
use handoff_engine::{
    ContinueOptions, ContinuedLocally, FollowUpOptions, GitOptions, HistoryLimits, Isolation,
    Loaded, LocalEnvironment, Prepared, Push, RunId, RunRecord, RunState, RunStore, Session,
    WorkEvent, WorkerOptions, continue_locally, delete_runs, diff_view, follow_up_with, list_runs,
    push, run_session, run_view, work_pass,
};
use handoff_harness::sessions::OpenLink;
use handoff_harness::{AgentOptions, Permissions};
use handoff_store::{BlobStore, MemoryStore, Store};
use handoff_workspace::SnapshotOptions;
use handoff_workspace::diff::{FileChange, FileContent, FileDiff};
use serde_json::json;

use crate::args::{
    AgentArgs, AgentCmdArgs, ContinueArgs, FollowUpArgs, FsckArgs, PushArgs, RunsAction, RunsArgs,
    RunsDeleteArgs, ShowArgs, WorkerArgs,
};

fn parse_permissions(text: &str) -> anyhow::Result<Permissions> {
    Ok(text.parse::<Permissions>()?)
}

/// The agent options `args` give, on top of `base`.
fn agent_options(args: &AgentArgs, base: AgentOptions) -> anyhow::Result<AgentOptions> {
    Ok(AgentOptions {
        permissions: match &args.permissions {
            Some(text) => parse_permissions(text)?,
            None => base.permissions,
        },
        model: args.model.clone().or(base.model),
        network: match &args.network {
            Some(text) => text.parse().map_err(anyhow::Error::msg)?,
            None => base.network,
        },
    })
}

fn parse_run(text: &str) -> anyhow::Result<RunId> {
    text.parse::<RunId>()
        .with_context(|| format!("{text:?} is not a run id"))
}

fn read_conversation(path: &Path) -> anyhow::Result<Conversation> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.first() == Some(&b'{')
        && let Ok(c) = Conversation::from_json(&bytes)
    {
        return Ok(c);
    }
    let (conversation, _) = Conversation::read_jsonl(&bytes[..], &ReadOptions::default())
        .with_context(|| format!("{} is not a handoff conversation", path.display()))?;
    Ok(conversation)
}

fn envs_dir(flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_owned)
        .unwrap_or_else(|| std::env::temp_dir().join("handoff-envs"))
}

/// Runs the queued session of `run`, if any; returns the record after it.
async fn run_now(
    store: &dyn Store,
    run: RunId,
    command: &AgentCmdArgs,
    envs: &Path,
    isolation: &Isolation,
) -> anyhow::Result<Option<RunRecord>> {
    let options = WorkerOptions {
        isolation: isolation.clone(),
        ..WorkerOptions::default()
    };
    run_with(store, run, command, envs, &options).await
}

async fn run_with(
    store: &dyn Store,
    run: RunId,
    command: &AgentCmdArgs,
    envs: &Path,
    options: &WorkerOptions,
) -> anyhow::Result<Option<RunRecord>> {
    let record = RunStore::new(store).get(run).await?.record;
    let harness = crate::harness::for_queueing(&record.harness, command)?;
    let env = LocalEnvironment::new(envs);
    let ran = run_session(store, run, &*harness, &env, options).await?;
    if let Some(ran) = &ran {
        discard_environment(&ran.environment);
    }
    Ok(ran.map(|r| r.record))
}

/// Everything a session produced is in the store; its scratch checkout is
/// kept only when asked for (`HANDOFF_KEEP_ENVS=1`).
fn discard_environment(environment: &Prepared) {
    if std::env::var_os("HANDOFF_KEEP_ENVS").is_none()
        && let Some(top) = environment.root.parent()
    {
        let _ = std::fs::remove_dir_all(top);
    }
}

fn summary(loaded: &Loaded) -> RunRow {
    RunRow::new(&loaded.record, loaded.version)
}

/// What agents must not see from inside the sandbox: the store's
/// directory (for a store on this machine), the home of the user running
/// handoff (credentials, other agents' sessions), and the directory holding
/// every session's environment (a session's own stays visible).
fn hidden_from_agents(store_flag: Option<&str>, envs: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut hidden = Vec::new();
    if let handoff_store::location::Location::Dir(dir) =
        handoff_store::location::Location::resolve(store_flag)?
    {
        hidden.push(dir);
    }
    hidden.extend(std::env::var_os("HOME").map(PathBuf::from));
    hidden.push(envs.to_owned());
    Ok(hidden)
}

/// How `push --wait` and `follow-up --wait` confine the agent on a
/// person's own machine: in the sandbox when bubblewrap is installed and
/// can build it here, otherwise as their local agent would run (saying
/// so); either way with only the environment it needs.
async fn isolation_here(store_flag: Option<&str>, envs: &Path) -> anyhow::Result<Isolation> {
    let mut bwrap = handoff_harness::confine::find_bwrap();
    match &bwrap {
        None => writeln!(
            std::io::stderr().lock(),
            "handoff: bubblewrap (bwrap) is not installed: the agent runs unsandboxed, as your local agent would"
        )?,
        Some(found) => {
            if let Err(e) = handoff_harness::confine::sandbox::verify(found).await {
                writeln!(
                    std::io::stderr().lock(),
                    "handoff: {e}: the agent runs unsandboxed, as your local agent would"
                )?;
                bwrap = None;
            }
        }
    }
    Ok(Isolation {
        clean_env: true,
        bwrap,
        hidden: hidden_from_agents(store_flag, envs)?,
    })
}

/// How `handoff worker` confines agents: in the sandbox, or, with
/// `--no-sandbox`, without one (saying so); refused where bubblewrap is
/// missing or cannot build the sandbox on this host and `--no-sandbox`
/// was not given — never a weaker sandbox.
async fn isolation_for_worker(
    store_flag: Option<&str>,
    envs: &Path,
    no_sandbox: bool,
) -> anyhow::Result<Isolation> {
    let bwrap = handoff_harness::confine::find_bwrap();
    let bwrap = match (bwrap, no_sandbox) {
        (_, true) => {
            writeln!(
                std::io::stderr().lock(),
                "handoff: --no-sandbox: agents run without the bubblewrap sandbox (their environment is still limited to what they need)"
            )?;
            None
        }
        (Some(bwrap), false) => {
            handoff_harness::confine::sandbox::verify(&bwrap)
                .await
                .context("agents would run without a sandbox: fix that, or pass --no-sandbox")?;
            Some(bwrap)
        }
        (None, false) => anyhow::bail!(
            "bubblewrap (bwrap) is not installed, so agents would run without a sandbox: install it (Debian: apt install bubblewrap) or pass --no-sandbox"
        ),
    };
    Ok(Isolation {
        clean_env: true,
        bwrap,
        hidden: hidden_from_agents(store_flag, envs)?,
    })
}

/// With `--wait`, runs the queued session now and reports a failed one on
/// stderr; returns the record as it stands.
async fn wait_if_asked(
    store: &dyn Store,
    run: RunId,
    wait: bool,
    command: &AgentCmdArgs,
    isolation: &Isolation,
) -> anyhow::Result<Loaded> {
    if wait && let Err(e) = run_now(store, run, command, &envs_dir(None), isolation).await {
        writeln!(
            std::io::stderr().lock(),
            "handoff: run {run}: session failed: {e:#}"
        )?;
    }
    Ok(RunStore::new(store).get(run).await?)
}

/// 1 when the run's last session failed, else 0.
fn exit_for(loaded: &Loaded) -> u8 {
    if loaded.record.state == RunState::Failed {
        1
    } else {
        0
    }
}

/// `handoff push`.
pub async fn push_cmd(store_flag: Option<&str>, args: PushArgs) -> anyhow::Result<u8> {
    let store = super::open_store(store_flag)?;
    let adapter = crate::harness::adapter(&args.harness.harness)?;
    let harness = crate::harness::harness_of(&*adapter, &args.harness.command)?;
    // Attached files wait in memory: nothing reaches the store before the
    // push has scanned everything that would leave.
    let staged = MemoryStore::new();
    let mut conversation = match (&args.conversation, &args.session) {
        (_, Some(session)) => {
            super::native::read_session(&*adapter, session, &args.repo, args.home.as_deref())?.0
        }
        (Some(path), None) => read_conversation(path)?,
        (None, None) => Conversation::new(
            format!("handoff from {}", args.repo.display()),
            harness.kind().name(),
        ),
    };
    if !args.attach.is_empty() {
        let mut parts = Vec::new();
        for path in &args.attach {
            parts.push(Part::Attachment(
                attach_file(&staged, path, &AttachmentLimits::default()).await?,
            ));
        }
        conversation.push(Message::new(Role::User, parts));
    }
    let request = Push {
        workspace: &args.repo,
        conversation: &conversation,
        harness: &*harness,
        // Attached files staged in memory over the store (attachments of a
        // conversation imported earlier).
        attachments_from: &handoff_store::Overlay::new(&staged, &*store),
        prompt: args.prompt.clone(),
        agent: agent_options(&args.agent, AgentOptions::default())?,
        snapshot: SnapshotOptions {
            exclude: args.exclude.clone(),
            limits: args.history.limits(),
            ..SnapshotOptions::default()
        },
        allow_secrets: args.allow_secrets,
        variants: usize::from(args.variants),
    };
    let pushed = push(&*store, request).await.map_err(|e| {
        super::stopped_by_secrets(
            "push",
            "exclude them (--exclude GLOB or .handoffignore) or pass --allow-secrets",
            e.into(),
        )
    })?;
    if !args.json {
        // The ids first: they identify the runs even if waiting fails.
        let mut out = super::stdout();
        for created in &pushed.runs {
            writeln!(out, "{}", created.record.id)?;
        }
    }
    // Without --wait the records are as created: nothing to read back.
    let records = if args.wait {
        let isolation = isolation_here(store_flag, &envs_dir(None)).await?;
        let mut records = Vec::new();
        for created in &pushed.runs {
            records.push(
                wait_if_asked(
                    &*store,
                    created.record.id,
                    true,
                    &args.harness.command,
                    &isolation,
                )
                .await?,
            );
        }
        records
    } else {
        pushed.runs
    };
    if args.json {
        let mut value = json!({
            "run": pushed.run.to_string(),
            "new_bytes": pushed.new_bytes,
            "record": records.first().map(summary),
        });
        if records.len() > 1 {
            value["runs"] = json!(records.iter().map(summary).collect::<Vec<_>>());
        }
        super::print_json(&value)?;
    }
    Ok(records.iter().map(exit_for).max().unwrap_or(0))
}

/// `handoff worker`.
pub async fn worker(store_flag: Option<&str>, args: WorkerArgs) -> anyhow::Result<u8> {
    let store = super::open_store(store_flag)?;
    let envs = envs_dir(args.envs.as_deref());
    let max_history = HistoryLimits {
        max_commits: args.history_ceiling_commits,
        max_bytes: args.history_ceiling_bytes,
    };
    let options = WorkerOptions {
        lease: Duration::from_secs(args.lease.max(1)),
        isolation: isolation_for_worker(store_flag, &envs, args.no_sandbox).await?,
        max_history,
        live: handoff_engine::LiveOptions::default()
            .with_checkpoint_every(Duration::from_secs(args.checkpoint_every.max(1))),
        ..WorkerOptions::default()
    };
    let env = LocalEnvironment::new(&envs).with_git(GitOptions {
        max_history,
        ..GitOptions::default()
    });
    let command = &args.command;
    let most = parse_permissions(&args.permissions)?;
    let harness_for = |record: &RunRecord| {
        let asked = record
            .last_session()
            .map(|s| s.agent.permissions)
            .unwrap_or_default();
        if asked > most {
            return Err(format!(
                "it asks for {asked} permissions and this worker allows at most {most} (--permissions)"
            ));
        }
        crate::harness::resolve(&record.harness, command).map_err(|e| format!("{e:#}"))
    };
    let mut on_event = |event: WorkEvent| {
        let mut err = std::io::stderr().lock();
        // Progress lines are best effort: a closed stderr must not stop
        // the worker.
        let _ = match event {
            WorkEvent::Ran(done) => {
                discard_environment(&done.environment);
                writeln!(
                    err,
                    "handoff: run {}: session {:?}",
                    done.record.id, done.record.state
                )
            }
            WorkEvent::Failed { run, error } => {
                let error = anyhow::Error::new(error);
                writeln!(err, "handoff: run {run}: session failed: {error:#}")
            }
            WorkEvent::NoHarness { run, reason } => {
                writeln!(err, "handoff: run {run}: not run here: {reason}")
            }
            WorkEvent::Reaped(run) => writeln!(
                err,
                "handoff: run {run}: its worker stopped; session marked failed"
            ),
            _ => Ok(()),
        };
    };
    // Runs queued by a version of handoff without the queue are found once.
    let requeued = RunStore::new(&*store).ensure_queue().await?;
    if requeued > 0 {
        writeln!(
            std::io::stderr().lock(),
            "handoff: found {requeued} queued or running session(s) the queue did not list"
        )?;
    }
    // What a killed writer left in the store goes first (old enough that no
    // writer still at work can own it).
    for removed in store
        .remove_stale_temporaries(handoff_engine::fsck::STALE_AFTER)
        .await?
    {
        writeln!(
            std::io::stderr().lock(),
            "handoff: removed stale temporary file {removed}"
        )?;
    }
    loop {
        let ran = work_pass(&*store, &harness_for, &env, &options, &mut on_event).await?;
        if args.once {
            return Ok(0);
        }
        if ran == 0 {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}

/// `handoff follow-up`.
pub async fn follow_up_cmd(store_flag: Option<&str>, args: FollowUpArgs) -> anyhow::Result<u8> {
    let run = parse_run(&args.run)?;
    let store = super::open_store(store_flag)?;
    let session = queue_follow_up(
        &*store,
        run,
        args.prompt.clone(),
        &args.agent,
        &args.command,
        args.allow_secrets,
    )
    .await
    .map_err(|e| {
        super::stopped_by_secrets(
            "follow-up",
            "take them out of the prompt or pass --allow-secrets",
            e,
        )
    })?;
    if !args.json {
        writeln!(super::stdout(), "{}", session.id)?;
    }
    let isolation = if args.wait {
        isolation_here(store_flag, &envs_dir(None)).await?
    } else {
        Isolation::default()
    };
    let after = wait_if_asked(&*store, run, args.wait, &args.command, &isolation).await?;
    if args.json {
        super::print_json(
            &json!({"run": run.to_string(), "session": session.id.to_string(), "record": summary(&after)}),
        )?;
    }
    Ok(exit_for(&after))
}

/// Queues a follow-up session on `run`: what `handoff follow-up` does
/// without `--wait`, and what the Runs page's form does. The agent options
/// not given are the previous session's. A prompt with likely secrets is
/// refused unless `allow_secrets`.
pub async fn queue_follow_up(
    store: &dyn Store,
    run: RunId,
    prompt: String,
    agent: &AgentArgs,
    command: &AgentCmdArgs,
    allow_secrets: bool,
) -> anyhow::Result<Session> {
    let record = RunStore::new(store).get(run).await?.record;
    let harness = crate::harness::for_queueing(&record.harness, command)?;
    let previous = record
        .last_session()
        .map(|s| s.agent.clone())
        .unwrap_or_default();
    let agent = agent_options(agent, previous)?;
    let options = FollowUpOptions {
        agent: Some(agent),
        allow_secrets,
    };
    Ok(follow_up_with(store, run, &*harness, prompt, &options).await?)
}

/// The commands that continue `run` from a shell: a follow-up and
/// continue-locally, with `--store` when one was named.
pub fn continue_commands(run: RunId, store_flag: Option<&str>) -> [String; 2] {
    let store = store_flag
        .map(|s| format!(" --store {}", shell_quote(s)))
        .unwrap_or_default();
    // continue-locally follows the run's own harness: no --harness needed.
    [
        format!("handoff{store} follow-up {run} --prompt '…'"),
        format!("handoff{store} continue-locally {run}"),
    ]
}

/// `text` as one shell word: unchanged when it is plainly safe, else in
/// single quotes.
pub fn shell_quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@=+,%".contains(c))
    {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// `handoff continue-locally`.
pub async fn continue_cmd(store_flag: Option<&str>, args: ContinueArgs) -> anyhow::Result<u8> {
    let run = parse_run(&args.run)?;
    let store = super::open_store(store_flag)?;
    // Without --harness, the run's own: its native session is installed
    // and its resume command printed.
    let name = match &args.harness {
        Some(name) => name.clone(),
        None => RunStore::new(&*store).get(run).await?.record.harness,
    };
    let adapter = crate::harness::adapter(&name)?;
    let harness = crate::harness::queued_of(&*adapter, &args.command)?;
    let options = ContinueOptions {
        apply: args.apply,
        branch: args.branch.clone(),
        force: args.force,
        ..ContinueOptions::default()
    };
    let done = match continue_locally(&*store, run, &*harness, &args.repo, &options).await {
        Err(handoff_engine::Error::Workspace(handoff_workspace::Error::BranchExists {
            branch,
            repo,
        })) => anyhow::bail!(
            "branch {branch} already exists in {} and does not point at a commit of run {run}; \
             pass --branch NAME to write another branch, or --force to move it",
            repo.display()
        ),
        other => other?,
    };
    // The local conversation goes beside the repository's git data (shared
    // by its worktrees), not into the working tree.
    let git_dir = conversation_home(&args.repo, &done)?;
    let dir = git_dir.join("handoff").join("conversations");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let file = dir.join(format!("{}.jsonl", done.conversation.id));
    let mut jsonl = Vec::new();
    done.conversation.write_jsonl(&mut jsonl)?;
    std::fs::write(&file, jsonl).with_context(|| format!("cannot write {}", file.display()))?;
    // For agents with native sessions, also install it where the agent's own
    // resume finds it.
    let native = super::native::install_for(&*adapter, &done.conversation, &args.repo)?;
    // An agent that cannot load the conversation natively gets it as a
    // document beside the conversation file, and, where its service keeps
    // conversations (Warp), the link that opens it there.
    let history_file = if harness.history() == handoff_harness::HistoryLoading::Native {
        None
    } else {
        let doc = dir.join(format!("{}.md", done.conversation.id));
        let text = handoff_harness::history::render(
            &done.conversation.title,
            &done.conversation.harness,
            &done.conversation.messages,
            &[],
        );
        std::fs::write(&doc, text).with_context(|| format!("cannot write {}", doc.display()))?;
        Some(doc)
    };
    let open = super::native::open_link(&*adapter, &done.conversation);
    let failed: usize = done.applied.iter().map(|(_, r)| r.failed.len()).sum();
    if args.json {
        super::print_json(&json!({
            "conversation": done.conversation.id.to_string(),
            "conversation_file": file,
            "native_session": native.as_ref().map(|(path, resume)| json!({"file": path, "resume": resume})),
            "history_file": history_file,
            "open": open.as_ref().map(|o| json!({"app": o.app, "url": o.url, "messages_since": o.messages_since})),
            "branches": done.branches.iter().map(|(repo, dir, b)| json!({"repo": repo, "dir": dir, "branch": b.reference, "commit": b.commit.to_string()})).collect::<Vec<_>>(),
            "applied": done.applied.iter().map(|(repo, r)| json!({"repo": repo, "report": r})).collect::<Vec<_>>(),
        }))?;
    } else {
        let mut out = super::stdout();
        writeln!(
            out,
            "conversation {} ({})",
            done.conversation.id,
            file.display()
        )?;
        if let Some((path, resume)) = &native {
            writeln!(
                out,
                "native session {} — resume with: {resume}",
                path.display()
            )?;
        }
        if let Some(OpenLink {
            app,
            url,
            messages_since: since,
        }) = &open
        {
            writeln!(out, "open in {app}: {url}")?;
            if *since > 0 {
                writeln!(
                    out,
                    "  {since} later message(s) are not in {app}'s conversation; they are in the history file below"
                )?;
            }
        }
        if let Some(doc) = &history_file {
            writeln!(
                out,
                "history {} — point the agent to it to continue with the whole conversation",
                doc.display()
            )?;
        }
        for (repo, _, branch) in &done.branches {
            let name = branch.reference.trim_start_matches("refs/heads/");
            let how = match (branch.existed, branch.moved_from) {
                (true, _) => " (unchanged)".to_owned(),
                (false, Some(from)) => format!(" (moved from {from})"),
                (false, None) => String::new(),
            };
            writeln!(
                out,
                "branch {name} at {}{how} ({repo}); review with: git log HEAD..{name}; git diff HEAD...{name}",
                branch.commit,
            )?;
        }
        for (repo, report) in &done.applied {
            writeln!(
                out,
                "applied to {repo}: {} applied, {} already, {} merged, {} failed",
                report.applied.len(),
                report.already_applied.len(),
                report.merged.len(),
                report.failed.len()
            )?;
            for f in &report.failed {
                writeln!(out, "  FAILED {}: {}", f.path, f.reason)?;
            }
        }
    }
    Ok(if failed > 0 {
        super::EXIT_PARTIAL
    } else {
        super::EXIT_OK
    })
}

/// Where the local conversation of a continued run is kept: the git
/// directory of the workspace's repository, or of the run's first
/// repository for a folder holding several.
fn conversation_home(workspace: &Path, done: &ContinuedLocally) -> anyhow::Result<PathBuf> {
    let dir = done
        .branches
        .first()
        .map_or(workspace, |(_, dir, _)| dir.as_path());
    let located = handoff_workspace::locate(dir)?
        .with_context(|| format!("{} is not inside a git repository", dir.display()))?;
    Ok(located.common_dir)
}

/// `handoff runs`.
pub async fn runs_cmd(store_flag: Option<&str>, args: RunsArgs) -> anyhow::Result<u8> {
    if let Some(RunsAction::Delete(delete)) = args.action {
        return delete_cmd(store_flag, delete).await;
    }
    let store = super::open_store(store_flag)?;
    let mut query = RunQuery {
        state: args
            .state
            .as_deref()
            .map(str::parse::<RunState>)
            .transpose()?,
        harness: args.harness.clone(),
        before: args.before.as_deref().map(parse_run).transpose()?,
        limit: args.limit.unwrap_or(view::MAX_PAGE),
        // The command reads what it lists: no scan bound beyond the page.
        scan_limit: usize::MAX,
        ..RunQuery::default()
    };
    let mut rows = Vec::new();
    let mut out = super::stdout();
    loop {
        let page = list_runs(&*store, &query).await?;
        for row in page.runs {
            if args.json {
                rows.push(row);
            } else {
                write_row(&mut out, &row)?;
            }
        }
        match page.older {
            Some(older) if args.limit.is_none() => query.before = Some(older),
            Some(older) => {
                writeln!(
                    std::io::stderr().lock(),
                    "handoff: more runs: --before {older}"
                )?;
                break;
            }
            None => break,
        }
    }
    if args.json {
        super::print_json(&rows)?;
    }
    Ok(0)
}

/// `handoff runs delete`.
async fn delete_cmd(store_flag: Option<&str>, args: RunsDeleteArgs) -> anyhow::Result<u8> {
    let store = super::open_store(store_flag)?;
    let ids = args
        .runs
        .iter()
        .map(|t| parse_run(t))
        .collect::<anyhow::Result<Vec<RunId>>>()?;
    let deleted = delete_runs(&*store, &ids, args.dry_run).await?;
    if args.json {
        super::print_json(&deleted)?;
        return Ok(super::EXIT_OK);
    }
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    let mut out = super::stdout();
    for d in &deleted {
        writeln!(
            out,
            "{verb} run {} (ended {}): {} record version(s), {} snapshot(s) and conversation state(s) released",
            d.run,
            d.ended_at.format("%Y-%m-%d %H:%M:%S UTC"),
            d.versions,
            d.documents
        )?;
    }
    if !args.dry_run {
        writeln!(
            out,
            "run `handoff gc` to reclaim what only these runs referenced"
        )?;
    }
    Ok(super::EXIT_OK)
}

fn write_row(out: &mut impl std::io::Write, row: &Listed) -> std::io::Result<()> {
    match row {
        Listed::Run(row) => {
            let failed = if row.failed_entries > 0 {
                format!("  {} failed entr(ies)", row.failed_entries)
            } else {
                String::new()
            };
            let repo = row
                .repositories
                .first()
                .map(|r| format!("  {}", r.branch.as_deref().unwrap_or(&r.path)))
                .unwrap_or_default();
            writeln!(
                out,
                "{}  {:<8}  {:<12}  {} session(s)  updated {}{repo}{failed}",
                row.id,
                row.state.name(),
                row.harness,
                row.sessions,
                row.updated_at.format("%Y-%m-%d %H:%M:%S"),
            )
        }
        Listed::Unreadable { id, error } => writeln!(out, "{id}  unreadable: {error}"),
    }
}

/// `handoff show`.
pub async fn show_cmd(store_flag: Option<&str>, args: ShowArgs) -> anyhow::Result<u8> {
    let run = parse_run(&args.run)?;
    let store = super::open_store(store_flag)?;
    let view = run_view(&*store, run, &ViewOptions::default()).await?;
    if args.json {
        super::print_json(&view.record)?;
        return Ok(0);
    }
    let diff = diff_view(&*store, &view.record, &ViewOptions::default().diff).await;
    print_view(&view, &diff, store_flag)?;
    Ok(0)
}

fn print_view(view: &RunView, diff: &DiffView, store_flag: Option<&str>) -> std::io::Result<()> {
    let record = &view.record;
    let mut out = super::stdout();
    writeln!(
        out,
        "run {}  {:?}  harness {}  conversation {}",
        record.id, record.state, record.harness, record.conversation
    )?;
    if let Some(problem) = &view.problem {
        writeln!(out, "  INVALID: {problem}")?;
    }
    for repo in &view.row.repositories {
        writeln!(
            out,
            "  repository {}  from {}  at {}",
            repo.path,
            repo.source.as_deref().unwrap_or("?"),
            repo.commit.as_deref().unwrap_or("(no commit)")
        )?;
    }
    for (i, s) in record.sessions.iter().enumerate() {
        writeln!(
            out,
            "  session {} {}  {:?}  permissions {}  model {}  prompt {:?}",
            i + 1,
            s.id,
            s.state,
            s.agent.permissions,
            s.agent.model.as_deref().unwrap_or("(the agent's default)"),
            s.prompt.as_deref().unwrap_or("")
        )?;
        for r in &s.apply {
            let rep = &r.report;
            writeln!(
                out,
                "    restored {}: applied {}, already {}, merged {}, failed {}",
                r.repo,
                rep.applied.len(),
                rep.already_applied.len(),
                rep.merged.len(),
                rep.failed.len()
            )?;
            for f in &rep.failed {
                writeln!(out, "      not applied {}: {}", f.path, f.reason)?;
            }
        }
        for e in &s.end {
            writeln!(out, "    end {}: {}", e.repo, e.snapshot)?;
        }
        if let Some(failure) = &s.failure {
            writeln!(out, "    FAILED: {failure}")?;
        }
    }
    for repo in &diff.repositories {
        match &repo.files {
            Ok(files) => {
                let (added, removed) = repo.line_counts();
                writeln!(
                    out,
                    "  changed since the run began ({}): {} file(s), +{added} -{removed}",
                    repo.repo,
                    files.len()
                )?;
                for file in files {
                    writeln!(out, "    {}", file_line(file))?;
                }
            }
            Err(e) => writeln!(out, "  changes of {}: cannot be shown: {e}", repo.repo)?,
        }
    }
    match &view.transcript {
        Ok(t) => writeln!(
            out,
            "  conversation: {} message(s)",
            t.messages.len() + t.earlier
        )?,
        Err(e) => writeln!(out, "  conversation: cannot be shown: {e}")?,
    }
    for command in continue_commands(record.id, store_flag) {
        writeln!(out, "  continue: {command}")?;
    }
    Ok(())
}

/// One file of a diff in a line: a status letter, the path, the counts.
fn file_line(file: &FileDiff) -> String {
    let letter = match file.change {
        FileChange::Added => "A",
        FileChange::Deleted => "D",
        FileChange::Renamed { .. } => "R",
        _ => "M",
    };
    let path = match &file.old_path {
        Some(old) => format!("{old} -> {}", file.path),
        None => file.path.clone(),
    };
    let detail = match &file.content {
        FileContent::Text { added, removed, .. } => format!("+{added} -{removed}"),
        FileContent::Binary { .. } => "binary".to_owned(),
        FileContent::Unchanged => "mode or name only".to_owned(),
        FileContent::NotShown { reason } | FileContent::Unrepresentable { reason } => {
            reason.clone()
        }
        _ => String::new(),
    };
    format!("{letter} {path}  {detail}")
}

/// `handoff fsck`.
pub async fn fsck_cmd(store_flag: Option<&str>, args: FsckArgs) -> anyhow::Result<u8> {
    let store = super::open_store(store_flag)?;
    let report = handoff_engine::fsck::fsck(&*store, args.repair).await?;
    if args.json {
        super::print_json(&report)?;
    } else {
        let mut out = super::stdout();
        writeln!(
            out,
            "checked {} blob(s), {} run record(s), {} snapshot(s) and {} conversation(s): {} problem(s)",
            report.blobs,
            report.runs,
            report.snapshots,
            report.conversations,
            report.problems.len()
        )?;
        for problem in &report.problems {
            writeln!(out, "  {}: {}", problem.object, problem.problem)?;
        }
        for repaired in &report.repaired {
            writeln!(out, "  repaired: {repaired}")?;
        }
    }
    Ok(if report.problems.is_empty() { 0 } else { 1 })
}
