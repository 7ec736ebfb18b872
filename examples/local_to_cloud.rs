//! local → cloud: fork a local conversation into a new cloud run carrying
//! the uncommitted workspace (tracked and untracked) and the attachments;
//! the runner restores the workspace before the agent answers. The cloud
//! checkout has a conflicting hotfix, so one change is reported, not applied.
//!
//! `cargo run --example local_to_cloud` (needs git; uses a temporary store).
#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod support;

use handoff_core::engine::{LocalEnvironment, WorkerOptions, run_session};
use handoff_core::store::FsStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let store = FsStore::new(tmp.path().join("store"));
    let local = support::demo_repo();
    let conversation = support::demo_conversation(&store).await;
    let agent = support::agent();

    let pushed = support::push_demo(&store, &local, &conversation, &agent).await;
    println!(
        "local conversation {} forked into cloud conversation {}",
        conversation.id, pushed.record.conversation
    );
    println!(
        "run {} queued with {} new bytes in the store",
        pushed.run, pushed.new_bytes
    );

    let env = support::Drifted(LocalEnvironment::new(tmp.path().join("envs")));
    let ran = run_session(&store, pushed.run, &agent, &env, &WorkerOptions::default())
        .await?
        .unwrap();
    let session = ran.record.last_session().unwrap();
    support::print_report(
        "restored before the agent answered",
        &session.apply[0].report,
    );
    println!("agent: {}", support::last_reply(&store, &ran.record).await);
    println!("run state: {:?}", ran.record.state);
    Ok(())
}
