//! cloud → cloud: a follow-up to an ended run continues the same
//! conversation in a new session whose workspace is restored from the
//! previous session's end state.
//!
//! `cargo run --example cloud_to_cloud` (needs git; uses a temporary store).
#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod support;

use handoff_core::engine::{LocalEnvironment, WorkerOptions, follow_up, run_session};
use handoff_core::store::FsStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let store = FsStore::new(tmp.path().join("store"));
    let local = support::demo_repo();
    let conversation = support::demo_conversation(&store).await;
    let agent = support::agent();
    let pushed = support::push_demo(&store, &local, &conversation, &agent).await;
    let env = LocalEnvironment::new(tmp.path().join("envs"));
    let first = run_session(&store, pushed.run, &agent, &env, &WorkerOptions::default())
        .await?
        .unwrap();
    println!(
        "session 1 ended; the agent left agent-turn-1.md; agent: {}",
        support::last_reply(&store, &first.record).await
    );

    // The follow-up runs where the base moved: the README change conflicts.
    follow_up(&store, pushed.run, &agent, "now update the README".into()).await?;
    let drifted = support::Drifted(LocalEnvironment::new(tmp.path().join("envs2")));
    let second = run_session(
        &store,
        pushed.run,
        &agent,
        &drifted,
        &WorkerOptions::default(),
    )
    .await?
    .unwrap();
    let session = second.record.last_session().unwrap();
    support::print_report(
        "session 2 restored from session 1's end",
        &session.apply[0].report,
    );
    println!(
        "same conversation: {}; sessions: {}; agent-turn-1.md carried over: {}",
        second.record.conversation == first.record.conversation,
        second.record.sessions.len(),
        second.environment.root.join("agent-turn-1.md").exists()
    );
    println!(
        "agent: {}",
        support::last_reply(&store, &second.record).await
    );
    Ok(())
}
