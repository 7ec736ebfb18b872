//! Command-line syntax, parsed by clap. Values are turned into validated
//! library types by the commands, not here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Move an AI coding agent's uncommitted work between checkouts and runs.
#[derive(Debug, Parser)]
#[command(name = "handoff", version, about, long_about = None)]
pub struct Cli {
    /// The store: a directory, or a URL such as s3://bucket/prefix
    /// [default: $HANDOFF_STORE, else $XDG_DATA_HOME/handoff, else ~/.local/share/handoff]
    #[arg(long, global = true, value_name = "STORE")]
    pub store: Option<String>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Capture everything uncommitted in a git working tree (staged,
    /// unstaged and untracked) into the store; prints the snapshot id.
    Snapshot(SnapshotArgs),
    /// Apply a snapshot to a checkout, best-effort and per file; exits 3
    /// when some entries could not be applied (the rest are).
    Apply(ApplyArgs),
    /// Print a snapshot as a unified diff that `git apply` accepts.
    Diff(DiffArgs),
}

/// `handoff snapshot`.
#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// The working tree to capture (any directory inside it).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub repo: PathBuf,
    /// Leave out paths matching this gitignore-style pattern (repeatable;
    /// `.handoffignore` in the repository is always honoured).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Print one JSON object instead of the id.
    #[arg(long)]
    pub json: bool,
}

/// `handoff apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The snapshot id (`sha256:…`).
    pub snapshot: String,
    /// The checkout to apply to (any directory inside it).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub repo: PathBuf,
    /// Report what would happen without changing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `handoff diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The snapshot id (`sha256:…`).
    pub snapshot: String,
}
