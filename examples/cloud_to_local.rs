//! cloud → local: fork a cloud conversation into a local session. The local
//! working tree is not touched; the run's final state becomes a branch
//! `handoff/<run-id>` to review. Opting in applies it best-effort — here one
//! file the user also edited locally conflicts and is reported.
//!
//! `cargo run --example cloud_to_local` (needs git; uses a temporary store).
#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod support;

use handoff_core::engine::{
    ContinueOptions, LocalEnvironment, WorkerOptions, continue_locally, run_session,
};
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
    run_session(&store, pushed.run, &agent, &env, &WorkerOptions::default())
        .await?
        .unwrap();

    // Meanwhile the user kept editing the README locally.
    local.write(
        "README.md",
        "# calculator\n\nAdds and subtracts, locally reworded.\n",
    );
    let before = local.git(&["status", "--short"]);
    let review = continue_locally(
        &store,
        pushed.run,
        &agent,
        local.path(),
        &Default::default(),
    )
    .await?;
    println!(
        "local conversation {} forked from cloud conversation {}",
        review.conversation.id, pushed.record.conversation
    );
    for (_, _, branch) in &review.branches {
        println!("review branch {} at {}", branch.reference, branch.commit);
    }
    println!(
        "local working tree untouched: {}",
        before == local.git(&["status", "--short"])
    );

    let applied = continue_locally(
        &store,
        pushed.run,
        &agent,
        local.path(),
        &ContinueOptions {
            apply: true,
            ..Default::default()
        },
    )
    .await?;
    support::print_report(
        "opted in to apply the run's final state",
        &applied.applied[0].1,
    );
    Ok(())
}
