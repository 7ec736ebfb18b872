//! The full tour: local → cloud, a follow-up in the cloud, then continue
//! locally — on a temporary repository, the embedded store and a scripted
//! agent, printing what carried over at each step and the apply reports
//! (including one deliberately conflicting change).
//!
//! `cargo run --example tour` (needs git).
#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod support;

use handoff_core::engine::{
    LocalEnvironment, WorkerOptions, continue_locally, follow_up, run_session,
};
use handoff_core::store::FsStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let store = FsStore::new(tmp.path().join("store"));
    let local = support::demo_repo();
    let conversation = support::demo_conversation(&store).await;
    let agent = support::agent();
    println!("== local → cloud");
    println!(
        "uncommitted locally:\n{}",
        local.git(&["status", "--short"])
    );
    let pushed = support::push_demo(&store, &local, &conversation, &agent).await;
    println!(
        "run {}: conversation {} forked as {}",
        pushed.run, conversation.id, pushed.record.conversation
    );
    let env = support::Drifted(LocalEnvironment::new(tmp.path().join("envs")));
    let first = run_session(&store, pushed.run, &agent, &env, &WorkerOptions::default())
        .await?
        .unwrap();
    support::print_report(
        "restored in the cloud before the agent answered",
        &first.record.sessions[0].apply[0].report,
    );
    println!(
        "agent: {}\n",
        support::last_reply(&store, &first.record).await
    );

    println!("== cloud → cloud");
    follow_up(&store, pushed.run, &agent, "also handle overflow".into()).await?;
    let env2 = LocalEnvironment::new(tmp.path().join("envs2"));
    let second = run_session(&store, pushed.run, &agent, &env2, &WorkerOptions::default())
        .await?
        .unwrap();
    support::print_report(
        "session 2 restored from session 1's end",
        &second.record.sessions[1].apply[0].report,
    );
    println!(
        "agent: {}\n",
        support::last_reply(&store, &second.record).await
    );

    println!("== cloud → local");
    let before = local.git(&["status", "--short"]);
    let back = continue_locally(
        &store,
        pushed.run,
        &agent,
        local.path(),
        &Default::default(),
    )
    .await?;
    println!(
        "local conversation {} with {} messages",
        back.conversation.id,
        back.conversation.messages.len()
    );
    for (_, _, branch) in &back.branches {
        println!(
            "review: git diff HEAD {}",
            branch.reference.trim_start_matches("refs/heads/")
        );
    }
    println!(
        "local working tree untouched: {}",
        before == local.git(&["status", "--short"])
    );
    println!(
        "files on the branch:\n{}",
        local.git(&[
            "ls-tree",
            "-r",
            "--name-only",
            back.branches[0].2.reference.as_str()
        ])
    );
    Ok(())
}
