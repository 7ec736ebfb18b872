//! `handoff continue-locally`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use handoff_engine::{ContinueOptions, ContinuedLocally, RunId, RunStore, continue_locally};
use handoff_harness::sessions::OpenLink;
use serde_json::json;

use crate::args::ContinueArgs;

use super::cloud::parse_run;

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
