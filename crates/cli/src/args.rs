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
    /// Print a snapshot (or a run's latest end state) as a unified diff
    /// that `git apply` accepts.
    Diff(DiffArgs),
    /// local → cloud: fork a conversation into a new cloud run carrying the
    /// uncommitted workspace and attachments; prints the run id.
    Push(PushArgs),
    /// Run queued cloud sessions with the embedded runner.
    Worker(WorkerArgs),
    /// cloud → cloud: continue an ended run in the same conversation.
    FollowUp(FollowUpArgs),
    /// cloud → local: fork a run's conversation locally and create a
    /// `handoff/<run-id>` branch to review; the working tree is untouched
    /// unless --apply.
    ContinueLocally(ContinueArgs),
    /// List cloud runs, newest first.
    Runs(RunsArgs),
    /// Show a run: its sessions, states and apply reports.
    Show(ShowArgs),
    /// Follow a run from any machine sharing the store: the conversation
    /// so far, then each message, state change and checkpoint as it comes,
    /// until the session is over. Exits 0 when it ended, 4 when it failed,
    /// 5 when it was cancelled.
    Watch(WatchArgs),
    /// Send a running session a message for the agent's next turn (at
    /// once with --interrupt); on a run that is over, follow it up.
    Steer(SteerArgs),
    /// Stop a run's session from any machine: a queued one leaves the
    /// queue; a running one is stopped, checkpointed and recorded
    /// cancelled. The run can be followed up from there.
    Cancel(CancelArgs),
    /// Verify every object and reference in the store; exits 1 when
    /// problems are found. Deletes nothing unless --repair.
    Fsck(FsckArgs),
    /// Remove from the store what no snapshot, run or conversation
    /// references (in two steps, safe while others push), compact old
    /// run-record versions and tidy the worker queue.
    Gc(GcArgs),
    /// Store a native agent session as a handoff conversation; prints its id.
    Import(ImportArgs),
    /// Install a stored conversation as a native session for a directory,
    /// so the agent's own resume finds it; prints the session id and file.
    Export(ExportArgs),
    /// Serve the Runs page: a local web view of the store's runs (loopback
    /// only unless --addr says otherwise).
    Serve(ServeArgs),
}

/// `handoff runs`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RunsArgs {
    /// What to do with runs [default: list them].
    #[command(subcommand)]
    pub action: Option<RunsAction>,
    /// Only runs in this state (queued, running, ended, failed or cancelled).
    #[arg(long, value_name = "STATE")]
    pub state: Option<String>,
    /// Only runs of this harness.
    #[arg(long, value_name = "NAME")]
    pub harness: Option<String>,
    /// At most N runs (one page; the next starts at --before) [default: all].
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Only runs older than this run.
    #[arg(long, value_name = "RUN")]
    pub before: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `handoff runs` subcommands.
#[derive(Debug, Subcommand)]
pub enum RunsAction {
    /// Delete runs that have ended: their records, queue entries and
    /// conversation names; `handoff gc` then reclaims their snapshots and
    /// conversations where nothing else references them. A queued or
    /// running run is refused, and then nothing is deleted.
    Delete(RunsDeleteArgs),
}

/// `handoff runs delete`.
#[derive(Debug, Args)]
pub struct RunsDeleteArgs {
    /// The runs.
    #[arg(value_name = "RUN", required = true)]
    pub runs: Vec<String>,
    /// Report what would be deleted, and delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `handoff serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on; a loopback address keeps the page to this
    /// machine (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7878")]
    pub addr: std::net::SocketAddr,
    /// Show runs only: no follow-up form, and posting one is refused.
    #[arg(long)]
    pub read_only: bool,
    /// The agent command line for follow-ups to runs using the command
    /// harness.
    #[arg(long, value_name = "CMD")]
    pub agent_cmd: Option<String>,
}

/// `handoff import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The native harness (claude-code, codex, warp).
    #[arg(long, value_name = "NAME")]
    pub harness: String,
    /// A native session file (Warp: its warp.sqlite, latest conversation).
    #[arg(conflicts_with = "session", required_unless_present = "session")]
    pub file: Option<PathBuf>,
    /// A session id (Warp: a conversation id or server token), or `latest`
    /// for --cwd.
    #[arg(long, value_name = "ID|latest")]
    pub session: Option<String>,
    /// The working directory the session belongs to [default: .].
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub cwd: PathBuf,
    /// The agent's home (Claude Code: its config dir [default: $CLAUDE_CONFIG_DIR or ~/.claude];
    /// Warp: its state directory holding warp.sqlite [default: Warp's]).
    #[arg(long, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Store the session even when likely secrets are found in it.
    #[arg(long)]
    pub allow_secrets: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `handoff export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The conversation id.
    pub conversation: String,
    /// The native harness (claude-code).
    #[arg(long, value_name = "NAME")]
    pub harness: String,
    /// The working directory the session is for.
    #[arg(long, value_name = "DIR")]
    pub cwd: PathBuf,
    /// The agent's home (Claude Code: its config dir) [default: $CLAUDE_CONFIG_DIR or ~/.claude].
    #[arg(long, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `handoff fsck`.
#[derive(Debug, Args)]
pub struct FsckArgs {
    /// Remove corrupted blob copies (a later push or snapshot of the same
    /// content stores them again).
    #[arg(long)]
    pub repair: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `handoff gc`.
#[derive(Debug, Args)]
pub struct GcArgs {
    /// Nothing younger than this is touched, and what gc condemns is
    /// removed only by a later run, this much later: `30s`, `10m`, `24h`,
    /// `7d`. Keep it longer than any push takes.
    #[arg(long, value_name = "AGE", default_value = "24h")]
    pub grace: String,
    /// First delete the runs that ended at least this long ago (`30d`,
    /// `12h`); queued and running runs are kept and reported. Standalone
    /// snapshots and imported conversations are kept whatever their age.
    #[arg(long, value_name = "AGE")]
    pub older_than: Option<String>,
    /// Report what would be done, and do nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Which agent harness to use.
#[derive(Debug, Args, Clone)]
pub struct HarnessArgs {
    /// The harness: warp, claude-code, codex, command (with --agent-cmd) or
    /// scripted (a deterministic stand-in for demos).
    #[arg(long, value_name = "NAME", default_value = "warp")]
    pub harness: String,
    /// The agent command for --harness command.
    #[command(flatten)]
    pub command: AgentCmdArgs,
}

/// The agent program of the command harness.
#[derive(Debug, Args, Clone, Default)]
pub struct AgentCmdArgs {
    /// The agent command line for --harness command (prompt on stdin,
    /// conversation file in $HANDOFF_CONVERSATION, reply on stdout).
    #[arg(long, value_name = "CMD")]
    pub agent_cmd: Option<String>,
    /// An environment variable the command agent needs (its API key, say),
    /// passed through from this environment; agents get nothing else but
    /// the basics (repeatable).
    #[arg(long = "agent-env", value_name = "NAME")]
    pub agent_env: Vec<String>,
}

/// `handoff push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// The workspace: a working tree, or a folder holding several.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub repo: PathBuf,
    /// The local conversation (handoff JSON or JSONL); a new one if absent.
    #[arg(long, value_name = "FILE", conflicts_with = "session")]
    pub conversation: Option<PathBuf>,
    /// A native session of the harness to push (its id, or `latest` for
    /// the workspace directory), for harnesses that carry transcripts.
    #[arg(long, value_name = "ID|latest")]
    pub session: Option<String>,
    /// With --session: the agent's home (as for `handoff import`).
    #[arg(long, value_name = "DIR", requires = "session")]
    pub home: Option<PathBuf>,
    /// The harness.
    #[command(flatten)]
    pub harness: HarnessArgs,
    /// Attach a file to the conversation (repeatable).
    #[arg(long = "attach", value_name = "FILE")]
    pub attach: Vec<PathBuf>,
    /// The prompt for the first cloud session.
    #[arg(long, value_name = "TEXT")]
    pub prompt: Option<String>,
    /// Leave out paths matching this gitignore-style pattern (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Push even when likely secrets are found.
    #[arg(long)]
    pub allow_secrets: bool,
    /// Run the session now with the embedded runner and wait for it.
    #[arg(long)]
    pub wait: bool,
    /// Start N runs from this one capture (parallel variants of the same
    /// task; one upload, N run records).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub variants: u16,
    /// How many commits not on the remote may travel with the workspace.
    #[command(flatten)]
    pub history: HistoryArgs,
    /// How the cloud agent runs.
    #[command(flatten)]
    pub agent: AgentArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Limits on the git history that travels with a snapshot.
#[derive(Debug, Args, Clone, Copy)]
pub struct HistoryArgs {
    /// The most commits not on the remote that may travel (the rest of the
    /// fix: push them) [default: 5000].
    #[arg(long, value_name = "N")]
    pub max_history_commits: Option<u64>,
    /// The largest total size of the git objects that may travel, in bytes
    /// [default: 1 GiB].
    #[arg(long, value_name = "BYTES")]
    pub max_history_bytes: Option<u64>,
}

impl HistoryArgs {
    /// The snapshot limits with these applied.
    pub fn limits(self) -> handoff_workspace::Limits {
        let mut limits = handoff_workspace::Limits::default();
        if let Some(n) = self.max_history_commits {
            limits.max_history_commits = n;
        }
        if let Some(n) = self.max_history_bytes {
            limits.max_history_bytes = n;
        }
        limits
    }
}

/// How a cloud agent runs a session.
#[derive(Debug, Args, Clone)]
pub struct AgentArgs {
    /// What the agent may do without asking: edits (edit files in the
    /// workspace; Codex and command agents also run commands there, Claude
    /// Code only those its allow rules permit), full (no prompts and the
    /// agent's own sandbox off: only inside handoff's sandbox) or read-only
    /// (read only: the sandbox mounts the workspace read-only, and a
    /// command or Warp agent runs at this level only inside it)
    /// [default: edits; for a follow-up, as the previous session]
    #[arg(long, value_name = "LEVEL")]
    pub permissions: Option<String>,
    /// The model, as the agent's CLI names it [default: the agent's own;
    /// for a follow-up, as the previous session]
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
    /// The network of a sandboxed agent: host (shared) or none
    /// [default: host; for a follow-up, as the previous session]
    #[arg(long, value_name = "host|none")]
    pub network: Option<String>,
}

/// `handoff worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Run what is queued now, then exit.
    #[arg(long)]
    pub once: bool,
    /// The agent command for runs using the command harness.
    #[command(flatten)]
    pub command: AgentCmdArgs,
    /// Run agents without the bubblewrap sandbox (their environment is
    /// still limited to what they need); required where bubblewrap is not
    /// installed or this host cannot give it a user namespace. Without it,
    /// full and a command or Warp agent's read-only are refused.
    #[arg(long)]
    pub no_sandbox: bool,
    /// Where session environments are created [default: $TMPDIR/handoff-envs].
    #[arg(long, value_name = "DIR")]
    pub envs: Option<PathBuf>,
    /// How long a claimed session stays ours without a heartbeat; a session
    /// whose worker stopped is marked failed once this has passed.
    #[arg(long, value_name = "SECONDS", default_value_t = 900)]
    pub lease: u64,
    /// The most this worker lets an agent do (edits, full or read-only); a
    /// session asking for more stays queued for a worker that allows it.
    #[arg(long, value_name = "LEVEL", default_value = "edits")]
    pub permissions: String,
    /// The most carried commits this worker lets a run ask for (a push's
    /// --max-history-commits); a run asking for more fails, saying so.
    #[arg(long, value_name = "N", default_value_t = handoff_engine::HistoryLimits::CEILING.max_commits)]
    pub history_ceiling_commits: u64,
    /// The largest carried history, in bytes, this worker lets a run ask
    /// for (a push's --max-history-bytes).
    #[arg(long, value_name = "BYTES", default_value_t = handoff_engine::HistoryLimits::CEILING.max_bytes)]
    pub history_ceiling_bytes: u64,
    /// Checkpoint a running session's workspace this often (and at every
    /// turn boundary), so that a worker lost mid-session loses at most
    /// this much work.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub checkpoint_every: u64,
}

/// `handoff follow-up`.
#[derive(Debug, Args)]
pub struct FollowUpArgs {
    /// The run id.
    pub run: String,
    /// The follow-up prompt.
    #[arg(long, value_name = "TEXT")]
    pub prompt: String,
    /// Queue the prompt even when likely secrets are found in it.
    #[arg(long)]
    pub allow_secrets: bool,
    /// Run the session now and wait for it.
    #[arg(long)]
    pub wait: bool,
    /// The agent command for runs using the command harness.
    #[command(flatten)]
    pub command: AgentCmdArgs,
    /// How the cloud agent runs.
    #[command(flatten)]
    pub agent: AgentArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `handoff continue-locally`.
#[derive(Debug, Args)]
pub struct ContinueArgs {
    /// The run id.
    pub run: String,
    /// The local workspace (a working tree, or the folder holding the run's
    /// repositories).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub repo: PathBuf,
    /// The local harness: warp, claude-code, codex, command (with
    /// --agent-cmd) or scripted [default: the run's own]
    #[arg(long, value_name = "NAME")]
    pub harness: Option<String>,
    /// The agent command for --harness command.
    #[command(flatten)]
    pub command: AgentCmdArgs,
    /// Also apply the run's changes (its commits and what it left
    /// uncommitted, since its base) to the working tree, best-effort.
    #[arg(long)]
    pub apply: bool,
    /// The branch to write (default: handoff/RUN, RUN being the run id).
    #[arg(long, value_name = "NAME")]
    pub branch: Option<String>,
    /// Move the branch even when it no longer points at a commit of this
    /// run (someone committed on it, or it is another branch).
    #[arg(long)]
    pub force: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// A run id on the command line.
pub fn run_id(text: &str) -> Result<handoff_engine::RunId, String> {
    text.parse()
        .map_err(|_| format!("{text:?} is not a run id"))
}

/// `handoff watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The run id.
    #[arg(value_parser = run_id)]
    pub run: handoff_engine::RunId,
    /// Print each event as a JSON line.
    #[arg(long)]
    pub json: bool,
}

/// `handoff steer`.
#[derive(Debug, Args)]
pub struct SteerArgs {
    /// The run id.
    #[arg(value_parser = run_id)]
    pub run: handoff_engine::RunId,
    /// The message.
    #[arg(long, value_name = "TEXT")]
    pub prompt: String,
    /// Stop the agent's current turn first (the signal its CLI takes for
    /// that), then deliver the message.
    #[arg(long)]
    pub interrupt: bool,
    /// Send the message even when likely secrets are found in it.
    #[arg(long)]
    pub allow_secrets: bool,
    /// The agent command, for a follow-up of a command-harness run.
    #[command(flatten)]
    pub command: AgentCmdArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `handoff cancel`.
#[derive(Debug, Args)]
pub struct CancelArgs {
    /// The run id.
    #[arg(value_parser = run_id)]
    pub run: handoff_engine::RunId,
    /// Return once the cancel is asked, without waiting for the worker to
    /// record the session cancelled.
    #[arg(long)]
    pub no_wait: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `handoff show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The run id.
    pub run: String,
    /// Print the run record as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `handoff snapshot`.
#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// The working tree to capture (any directory inside it), or a folder
    /// holding several (each is captured; the id names them all).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub repo: PathBuf,
    /// Leave out paths matching this gitignore-style pattern (repeatable;
    /// `.handoffignore` in the repository is always honoured).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// How many commits not on the remote may travel.
    #[command(flatten)]
    pub history: HistoryArgs,
    /// Store the snapshot even when likely secrets are found.
    #[arg(long)]
    pub allow_secrets: bool,
    /// The largest file the snapshot may carry, in bytes [default: 256 MiB]
    /// (files of 8 MiB or more are streamed, never held in memory).
    #[arg(long, value_name = "BYTES")]
    pub max_file_bytes: Option<u64>,
    /// Print one JSON object instead of the id.
    #[arg(long)]
    pub json: bool,
}

/// `handoff apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The snapshot id (`sha256:…`).
    pub snapshot: String,
    /// The checkout to apply to (any directory inside it), or for a
    /// folder's snapshot the folder holding its repositories.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub repo: PathBuf,
    /// Report what would happen without changing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// The largest file an entry may declare, in bytes [default: 256 MiB]
    /// (files of 8 MiB or more are streamed, never held in memory).
    #[arg(long, value_name = "BYTES")]
    pub max_file_bytes: Option<u64>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `handoff diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// A snapshot id (`sha256:…`) or a run id (its latest end state).
    pub snapshot: String,
    /// Write one patch per repository into this directory
    /// (`<repository>.patch`) instead of printing; needed for several.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Only this repository of a folder's snapshot or a run.
    #[arg(long, value_name = "NAME")]
    pub repo: Option<String>,
}
