//! `handoff runs` and `handoff runs delete`.

use std::io::Write as _;

use handoff_engine::view::{self, Listed, RunQuery};
use handoff_engine::{RunId, RunState, delete_runs, list_runs};

use crate::args::{RunsAction, RunsArgs, RunsDeleteArgs};

use super::cloud::parse_run;

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
