//! A Claude Code session goes to the cloud, gets a follow-up there, and
//! comes back to continue locally — with a stand-in `claude` (written into
//! a temporary directory) that resumes sessions the way the real CLI does,
//! so this runs without an account. Swap in the real `claude` with
//! `ClaudeCodeHarness::new()`.
//!
//! `cargo run --example claude_code_follow_up`
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::os::unix::fs::PermissionsExt;

use handoff_core::claude_code::{ClaudeCodeHarness, session};
use handoff_core::conversation::{Conversation, Message, Mode, Role};
use handoff_core::engine::{
    LocalEnvironment, Push, WorkerOptions, continue_locally, follow_up, push, run_session,
};
use handoff_core::store::{FsStore, MemoryStore};
use handoff_dev::GitRepo;

const FAKE_CLAUDE: &str = r#"#!/bin/sh
id="$3"; for arg; do prompt="$arg"; done
prompt=$(printf '%s' "$prompt" | awk 'BEGIN { ORS = "\\n" } { print }')
folder=$(printf '%s' "$PWD" | sed 's/[^a-zA-Z0-9]/-/g')
file="$CLAUDE_CONFIG_DIR/projects/$folder/$id.jsonl"
[ -f "$file" ] || { echo "No conversation found with session ID: $id" >&2; exit 1; }
n=$(wc -l < "$file" | tr -d ' ')
printf '{"type":"user","message":{"role":"user","content":"%s"},"uuid":"00000000-0000-4000-8000-%012d","sessionId":"%s","cwd":"%s"}\n' "$prompt" "$n" "$id" "$PWD" >> "$file"
printf '{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"(stand-in claude) done: %s"}]},"uuid":"00000000-0000-4000-9000-%012d","sessionId":"%s","cwd":"%s"}\n' "$prompt" "$n" "$id" "$PWD" >> "$file"
echo '{"type":"result","subtype":"success","result":"done"}'
"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let fake = tmp.path().join("claude");
    std::fs::write(&fake, FAKE_CLAUDE)?;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755))?;
    let local_home = tmp.path().join("local-claude");
    let cloud_home = tmp.path().join("cloud-claude");

    // A local Claude Code session for a repository with uncommitted work.
    let repo = GitRepo::init();
    repo.write("src/lib.rs", "pub fn one() -> u32 { 1 }\n");
    repo.commit_all("base");
    repo.write(
        "src/lib.rs",
        "pub fn one() -> u32 { 1 }\npub fn two() -> u32 { 2 }\n",
    );
    let mut local = Conversation::new("add two()", "claude-code");
    local.push(Message::text(Role::User, "add two()"));
    local.push(Message::text(Role::Assistant, "added; tests next"));
    let cwd = std::fs::canonicalize(repo.path())?.display().to_string();
    let file = session::install(&local, &local_home, &cwd, &local.id.to_string())?;
    println!("local session {} at {}", local.id, file.display());

    let store = FsStore::new(tmp.path().join("store"));
    let cloud_agent = ClaudeCodeHarness::new()
        .with_program(&fake)
        .with_home(&cloud_home);
    let (native, _) = session::read_file(&file, Mode::Strict)?;
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
    println!("cloud run {}: session 1 ended", pushed.run);

    // cloud → cloud
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
        "follow-up in the same conversation {}: {} sessions",
        ran.record.conversation,
        ran.record.sessions.len()
    );

    // cloud → local, into Claude Code
    let local_agent = ClaudeCodeHarness::new()
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
    let installed = session::install(
        &back.conversation,
        &local_home,
        &cwd,
        &back.conversation.id.to_string(),
    )?;
    println!(
        "continue locally: `claude --resume {}` finds {}",
        back.conversation.id,
        installed.display()
    );
    for message in back.conversation.messages.iter().rev().take(2).rev() {
        println!("  {:?}: {}", message.role, message.plain_text());
    }
    for (_, _, branch) in &back.branches {
        println!("  review {}", branch.reference);
    }
    Ok(())
}
