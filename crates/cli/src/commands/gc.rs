//! `handoff gc`: collect the store's garbage and tidy its run records.

use std::io::Write as _;
use std::time::Duration;

use anyhow::Context as _;
use handoff_engine::gc::{GcOptions, gc};

use crate::args::GcArgs;

/// Parses an age such as `30s`, `10m`, `24h` or `7d` (a bare number is
/// seconds).
pub fn parse_age(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .with_context(|| format!("{text:?} is not an age such as 30s, 10m, 24h or 7d"))?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 60 * 60,
        "d" => 24 * 60 * 60,
        other => anyhow::bail!("{text:?}: unknown unit {other:?} (use s, m, h or d)"),
    };
    Ok(Duration::from_secs(n.saturating_mul(seconds)))
}

/// Runs the command.
pub async fn run(store: Option<&str>, args: GcArgs) -> anyhow::Result<u8> {
    let store = super::open_store(store)?;
    let options = GcOptions {
        grace: parse_age(&args.grace)?,
        dry_run: args.dry_run,
        older_than: args.older_than.as_deref().map(parse_age).transpose()?,
        ..GcOptions::default()
    };
    let report = gc(&*store, &options).await?;
    if args.json {
        super::print_json(&report)?;
        return Ok(super::EXIT_OK);
    }
    let s = &report.store;
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    let mut out = super::stdout();
    let deleting = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    for d in &report.deleted {
        writeln!(
            out,
            "{deleting} run {} (ended {})",
            d.run,
            d.ended_at.format("%Y-%m-%d %H:%M:%S UTC")
        )?;
    }
    for s in &report.skipped {
        writeln!(out, "kept run {}: it is {:?}", s.run, s.state)?;
    }
    writeln!(
        out,
        "{} run(s), {} snapshot(s) and conversation(s) ({} released by deleted runs), {} referenced blob(s); kept {}",
        report.runs, report.documents, report.released, report.referenced, s.kept
    )?;
    writeln!(
        out,
        "condemned {} unreferenced blob(s), restored {}; {verb} {} blob(s) and {} pack(s) ({} bytes)",
        s.condemned, s.restored, s.removed_blobs, s.removed_packs, s.removed_bytes
    )?;
    writeln!(
        out,
        "indexes {} -> {}; run-record versions {verb}: {}; queue entries {verb}: {}, added: {}",
        s.indexes.0, s.indexes.1, report.versions_removed, report.queue_removed, report.queue_added
    )?;
    Ok(super::EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_parse_with_units() {
        assert_eq!(parse_age("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_age("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_age("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_age("7d").unwrap(), Duration::from_secs(604_800));
        assert!(parse_age("soon").is_err());
        assert!(parse_age("5y").is_err());
    }
}
