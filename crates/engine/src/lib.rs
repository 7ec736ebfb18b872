//! The three directions of handoff, the records they keep, and the
//! embedded cloud runner.
//!
//! - [`push()`] (local → cloud): fork the local conversation, snapshot every
//!   repository of the workspace (tracked and untracked changes), carry the
//!   attachments and an optional prompt, and create a queued run.
//! - [`run_session`]: the cloud runner. Prepares an [`Environment`], restores
//!   the session's start snapshots before the agent answers, runs the turn
//!   through a [`Harness`](handoff_harness::Harness), snapshots the end state.
//! - [`follow_up()`] (cloud → cloud): a new session in the same conversation,
//!   restored from the previous session's end.
//! - [`continue_locally`] (cloud → local): a local fork of the conversation
//!   and a `handoff/<run-id>` branch to review; the working tree is untouched
//!   unless applying is asked for.
//!
//! Runs are [`run`] records with optimistic concurrency, so racing
//! follow-ups and workers never overwrite each other.
//!
//! # Example
//!
//! ```
//! use handoff_conversation::ConversationId;
//! use handoff_engine::{Error, RunRecord, RunState, RunStore, Session};
//! use handoff_store::MemoryStore;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = MemoryStore::new();
//! let runs = RunStore::new(&store);
//! let record = RunRecord::new(ConversationId::new(), "warp", vec![], Session::queued(Some("go".into()), vec![]));
//! let v1 = runs.create(&record).await?;
//!
//! // Two writers read version 1; the second update loses, typed.
//! let mut first = runs.get(record.id).await?.record;
//! first.state = RunState::Running;
//! runs.update(v1, &mut first).await?;
//! let mut stale = record.clone();
//! stale.state = RunState::Failed;
//! assert!(matches!(runs.update(v1, &mut stale).await, Err(Error::Conflict { .. })));
//! assert_eq!(runs.get(record.id).await?.record.state, RunState::Running);
//! # Ok::<(), Error>(())
//! # }).unwrap();
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod conversations;
pub mod delete;
pub mod environment;
mod error;
pub mod folder;
pub mod follow_up;
pub mod fsck;
pub mod gc;
pub mod live;
pub mod local;
pub mod outgoing;
pub mod push;
pub mod run;
pub mod runner;
pub mod view;

pub use delete::{Deleted, Skipped, delete_runs};
pub use environment::{Environment, GitOptions, LocalEnvironment, Prepared, check_out};
pub use error::{Error, Result};
pub use follow_up::{FollowUpOptions, follow_up, follow_up_with};
pub use live::{
    Ask, CancelOutcome, Checkpoint, LiveOptions, LiveStore, Steered, Watch, WatchEvent,
    WatchOptions, cancel, steer,
};
pub use local::{ContinueOptions, ContinuedLocally, continue_locally, run_marker};
pub use outgoing::Outgoing;
pub use push::{Push, Pushed, discover_repositories, push};
pub use run::{
    Cancelled, Compaction, HistoryLimits, Loaded, Pending, RepoReport, RepoSnapshot, Repository,
    RunId, RunRecord, RunState, RunStore, Session, SessionId, Source, UnknownState,
};
pub use runner::{
    HarnessFor, Isolation, Polled, Ran, WorkEvent, WorkerOptions, poll, reap_if_stale, run_session,
    work_pass,
};
pub use view::{
    DiffView, Listed, RunPage, RunQuery, RunRow, RunView, ViewOptions, diff_view, list_runs,
    run_attachment, run_row, run_view,
};
