//! A Codex session goes to the cloud, gets a follow-up there, and comes back
//! to continue locally — with a stand-in `codex` (written into a temporary
//! directory) that resumes rollouts the way `codex exec resume` does, so this
//! runs without an account. Swap in the real `codex` with
//! `CodexHarness::new()`.
//!
//! `cargo run --example codex_follow_up`
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::os::unix::fs::PermissionsExt;

use handoff_core::codex::{self, CodexHarness};
use handoff_core::conversation::{Conversation, Message, Mode, Role};
use handoff_core::engine::{
    LocalEnvironment, Push, WorkerOptions, continue_locally, follow_up, push, run_session,
};
use handoff_core::store::{FsStore, MemoryStore};
use handoff_dev::GitRepo;

const FAKE_CODEX: &str = r#"#!/bin/sh
while [ "$1" != resume ]; do shift; done; id="$2"; prompt="$3"
prompt=$(printf '%s' "$prompt" | awk 'BEGIN { ORS = "\\n" } { print }')
file=$(find "$CODEX_HOME/sessions" -name "rollout-*-$id.jsonl" | head -n 1)
[ -n "$file" ] || { echo "Error: no rollout found for thread id $id" >&2; exit 1; }
printf '{"timestamp":"2026-11-25T00:00:00.000Z","type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"%s"}]}}\n' "$prompt" >> "$file"
printf '{"timestamp":"2026-11-25T00:00:01.000Z","type":"response_item","payload":{"type":"message","role":"assistant","content":[{"type":"output_text","text":"(stand-in codex) done: %s"}]}}\n' "$prompt" >> "$file"
echo '{"type":"turn.completed"}'
"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let fake = tmp.path().join("codex");
    std::fs::write(&fake, FAKE_CODEX)?;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755))?;
    let local_home = tmp.path().join("local-codex");
    let cloud_home = tmp.path().join("cloud-codex");

    let repo = GitRepo::init();
    repo.write("src/lib.rs", "pub fn one() -> u32 { 1 }\n");
    repo.commit_all("base");
    repo.write(
        "src/lib.rs",
        "pub fn one() -> u32 { 1 }\npub fn two() -> u32 { 2 }\n",
    );
    let mut local = Conversation::new("add two()", "codex");
    local.push(Message::text(Role::User, "add two()"));
    local.push(Message::text(Role::Assistant, "added; tests next"));
    let cwd = std::fs::canonicalize(repo.path())?.display().to_string();
    let file = codex::install(&local, &local_home, &cwd, &local.id.to_string())?;
    println!("local rollout {}", file.display());

    let store = FsStore::new(tmp.path().join("store"));
    let cloud_agent = CodexHarness::new()
        .with_program(&fake)
        .with_home(&cloud_home);
    let (native, _) = codex::read_file(&file, Mode::Strict)?;
    let pushed = push(
        &store,
        Push {
            workspace: repo.path(),
            conversation: &native,
            harness: &cloud_agent,
            attachments_from: &MemoryStore::new(),
            prompt: Some("write the tests".into()),
            agent: Default::default(),
            snapshot: Default::default(),
            allow_secrets: false,
            variants: 1,
        },
    )
    .await?;
    let env = LocalEnvironment::new(tmp.path().join("envs"));
    run_session(
        &store,
        pushed.run,
        &cloud_agent,
        &env,
        &WorkerOptions::default(),
    )
    .await?;
    follow_up(&store, pushed.run, &cloud_agent, "now the docs".into()).await?;
    let ran = run_session(
        &store,
        pushed.run,
        &cloud_agent,
        &env,
        &WorkerOptions::default(),
    )
    .await?
    .unwrap();
    println!(
        "cloud run {}: {} sessions in conversation {}",
        pushed.run,
        ran.record.sessions.len(),
        ran.record.conversation
    );

    let local_agent = CodexHarness::new()
        .with_program(&fake)
        .with_home(&local_home);
    let back = continue_locally(
        &store,
        pushed.run,
        &local_agent,
        repo.path(),
        &Default::default(),
    )
    .await?;
    let installed = codex::install(
        &back.conversation,
        &local_home,
        &cwd,
        &back.conversation.id.to_string(),
    )?;
    println!(
        "continue locally: `codex resume {}` finds {}",
        back.conversation.id,
        installed.display()
    );
    for message in back.conversation.messages.iter().rev().take(2).rev() {
        println!("  {:?}: {}", message.role, message.plain_text());
    }
    Ok(())
}
