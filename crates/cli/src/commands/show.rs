//! `handoff show`.

use std::io::Write as _;

use handoff_engine::view::{DiffView, RunView, ViewOptions};
use handoff_engine::{diff_view, run_view};
use handoff_workspace::diff::{FileChange, FileContent, FileDiff};

use crate::args::ShowArgs;

use super::cloud::parse_run;

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
    for command in super::continue_locally::continue_commands(record.id, store_flag) {
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
