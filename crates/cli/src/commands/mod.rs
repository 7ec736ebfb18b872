//! One module per subcommand. Each returns the process exit code; errors
//! propagate to `main`, which prints them.

pub mod apply;
pub mod diff;
pub mod native;
pub mod runs;
pub mod snapshot;

use anyhow::Context as _;
use handoff_store::{Digest, Store, location::Location};
use std::sync::Arc;

/// Everything goes well.
pub const EXIT_OK: u8 = 0;
/// Some entries failed; the rest were applied.
pub const EXIT_PARTIAL: u8 = 3;

/// Opens the store named by `--store`, `HANDOFF_STORE` or the default.
pub fn open_store(flag: Option<&str>) -> anyhow::Result<Arc<dyn Store>> {
    let location = Location::resolve(flag)?;
    location
        .open()
        .with_context(|| format!("cannot open store {location}"))
}

/// Parses a snapshot id given on the command line.
pub fn parse_id(text: &str) -> anyhow::Result<Digest> {
    text.parse::<Digest>()
        .with_context(|| format!("{text:?} is not a snapshot id (expected sha256:<64 hex digits>)"))
}

/// Writes `value` as one line of JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}
