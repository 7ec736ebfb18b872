//! The handoff directions and the records they keep.
//!
//! This crate grows with the engine issue; so far it holds the cloud
//! [`run`] records: which conversation a run continues, its environment,
//! state and sessions, stored with optimistic concurrency so racing
//! follow-ups never overwrite each other.
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

mod error;
pub mod run;

pub use error::{Error, Result};
pub use run::{
    Loaded, RepoReport, RepoSnapshot, Repository, RunId, RunRecord, RunState, RunStore, Session,
    SessionId,
};
