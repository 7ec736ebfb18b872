//! handoff moves an AI coding agent's work — the conversation, the
//! uncommitted workspace (tracked and untracked changes) and the attachments
//! — between a local session and a cloud run without restarting the task.
//!
//! This crate re-exports the libraries; `cargo add handoff-core` is all a
//! host needs:
//!
//! | module | what |
//! |---|---|
//! | [`store`] | content-addressed blobs and versioned documents (filesystem, memory, `object_store`) |
//! | [`workspace`] | snapshot uncommitted git state, apply it best-effort, export diffs and branches |
//! | [`conversation`] | the harness-neutral conversation model, fork and continue, attachments |
//! | [`harness`] | the `Harness` trait, the coverage matrix, command and scripted harnesses |
//! | [`engine`] | the three directions and the embedded cloud runner |
//! | [`warp`] | the Warp Agent adapter (feature `warp`, on by default) |
//! | [`claude_code`] | Claude Code sessions and the `claude` CLI harness (feature `claude-code`, on by default) |
//! | [`codex`] | Codex rollouts and the `codex` CLI harness (feature `codex`, on by default) |
//!
//! Features: `warp`, `claude-code` and `codex` (default), `object-store`
//! (S3, GCS and Azure stores).
//!
//! [`registry`] is every harness this build has, by name: the place a
//! harness name becomes an adapter. A host's own adapter is one more
//! [`Registry::register`](harness::Registry::register) call:
//!
//! ```
//! let registry = handoff_core::registry();
//! let names: Vec<String> = registry.kinds().iter().map(|k| k.to_string()).collect();
//! assert_eq!(names, ["warp", "claude-code", "codex", "command", "scripted"]);
//! let claude = registry.get("claude-code")?;
//! assert!(claude.sessions().is_some());
//! # Ok::<(), handoff_core::harness::Error>(())
//! ```
//!
//! # Example: local → cloud, then a follow-up
//!
//! ```
//! use handoff_core::conversation::{Conversation, Message, Role};
//! use handoff_core::engine::{LocalEnvironment, Push, RunState, WorkerOptions, follow_up, push, run_session};
//! use handoff_core::harness::ScriptedHarness;
//! use handoff_core::store::MemoryStore;
//! # use std::process::Command;
//! # fn git(dir: &std::path::Path, args: &[&str]) {
//! #     let ok = Command::new("git").current_dir(dir).args(args)
//! #         .env("GIT_CONFIG_GLOBAL", "/dev/null").env("GIT_CONFIG_NOSYSTEM", "1")
//! #         .env("GIT_AUTHOR_NAME", "a").env("GIT_AUTHOR_EMAIL", "a@b")
//! #         .env("GIT_COMMITTER_NAME", "a").env("GIT_COMMITTER_EMAIL", "a@b")
//! #         .status().unwrap().success();
//! #     assert!(ok, "git {args:?}");
//! # }
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! // A local repository with uncommitted work, and the local conversation.
//! let repo = tempfile::tempdir()?;
//! git(repo.path(), &["init", "-q", "-b", "main"]);
//! std::fs::write(repo.path().join("lib.rs"), "pub fn one() -> u32 { 1 }\n")?;
//! git(repo.path(), &["add", "."]);
//! git(repo.path(), &["commit", "-q", "-m", "base"]);
//! std::fs::write(repo.path().join("lib.rs"), "pub fn one() -> u32 { 1 }\npub fn two() -> u32 { 2 }\n")?;
//! let mut local = Conversation::new("add two()", "warp");
//! local.push(Message::text(Role::User, "add two()"));
//!
//! // A scripted agent that checks the work arrived before it answers.
//! let agent = ScriptedHarness::new("scripted", |turn| {
//!     let code = std::fs::read_to_string(turn.workdir.join("lib.rs")).unwrap_or_default();
//!     Ok(format!("I can see two(): {}", code.contains("two()")))
//! });
//!
//! let store = MemoryStore::new();
//! let pushed = push(&store, Push {
//!     workspace: repo.path(),
//!     conversation: &local,
//!     harness: &agent,
//!     attachments_from: &store,
//!     prompt: Some("now test it".into()),
//!     agent: Default::default(),
//!     snapshot: Default::default(),
//!     allow_secrets: false,
//!     variants: 1,
//! }).await?;
//!
//! // The embedded runner restores the workspace, then the agent answers.
//! let envs = tempfile::tempdir()?;
//! let env = LocalEnvironment::new(envs.path());
//! let ran = run_session(&store, pushed.run, &agent, &env, &WorkerOptions::default()).await?.unwrap();
//! assert_eq!(ran.record.state, RunState::Ended);
//! let head = ran.record.conversation_head.expect("saved");
//! let cloud = handoff_core::engine::conversations::load(&store, &head).await?;
//! assert_eq!(cloud.messages.last().unwrap().plain_text(), "I can see two(): true");
//!
//! // cloud → cloud: a follow-up continues the same conversation.
//! follow_up(&store, pushed.run, &agent, "and document it".into()).await?;
//! let again = run_session(&store, pushed.run, &agent, &env, &WorkerOptions::default()).await?.unwrap();
//! assert_eq!(again.record.sessions.len(), 2);
//! assert_eq!(again.record.conversation, pushed.record.conversation);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "claude-code")]
pub use handoff_claude_code as claude_code;
#[cfg(feature = "codex")]
pub use handoff_codex as codex;
pub use handoff_conversation as conversation;
pub use handoff_engine as engine;
pub use handoff_harness as harness;
pub use handoff_store as store;
#[cfg(feature = "warp")]
pub use handoff_warp as warp;
pub use handoff_workspace as workspace;

/// The registry of the built-in adapters this build has: Warp, Claude
/// Code and Codex (each behind its feature), then the command and
/// scripted harnesses.
pub fn registry() -> handoff_harness::Registry {
    #[allow(unused_mut)]
    let mut builtin = handoff_harness::Registry::new();
    #[cfg(feature = "warp")]
    builtin.register(std::sync::Arc::new(handoff_warp::WarpAdapter));
    #[cfg(feature = "claude-code")]
    builtin.register(handoff_harness::NativeAdapter::<
        handoff_claude_code::ClaudeCode,
    >::arc());
    #[cfg(feature = "codex")]
    builtin.register(handoff_harness::NativeAdapter::<handoff_codex::Codex>::arc());
    for adapter in handoff_harness::Registry::with_builtin().adapters() {
        builtin.register(adapter);
    }
    builtin
}
