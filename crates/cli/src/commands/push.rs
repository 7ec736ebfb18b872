//! `handoff push`.

use std::io::Write as _;

use handoff_conversation::{AttachmentLimits, Conversation, Message, Part, Role, attach_file};
use handoff_engine::{Push, push};
use handoff_harness::AgentOptions;
use handoff_store::MemoryStore;
use handoff_workspace::SnapshotOptions;
use serde_json::json;

use crate::args::PushArgs;

use super::cloud::{
    agent_options, envs_dir, exit_for, isolation_here, read_conversation, summary, wait_if_asked,
};

/// `handoff push`.
pub async fn push_cmd(store_flag: Option<&str>, args: PushArgs) -> anyhow::Result<u8> {
    let store = super::open_store(store_flag)?;
    let adapter = crate::harness::adapter(&args.harness.harness)?;
    let harness = crate::harness::harness_of(&*adapter, &args.harness.command)?;
    // Attached files wait in memory: nothing reaches the store before the
    // push has scanned everything that would leave.
    let staged = MemoryStore::new();
    let mut conversation = match (&args.conversation, &args.session) {
        (_, Some(session)) => {
            super::native::read_session(&*adapter, session, &args.repo, args.home.as_deref())?.0
        }
        (Some(path), None) => read_conversation(path)?,
        (None, None) => Conversation::new(
            format!("handoff from {}", args.repo.display()),
            harness.kind().name(),
        ),
    };
    if !args.attach.is_empty() {
        let mut parts = Vec::new();
        for path in &args.attach {
            parts.push(Part::Attachment(
                attach_file(&staged, path, &AttachmentLimits::default()).await?,
            ));
        }
        conversation.push(Message::new(Role::User, parts));
    }
    let request = Push {
        workspace: &args.repo,
        conversation: &conversation,
        harness: &*harness,
        // Attached files staged in memory over the store (attachments of a
        // conversation imported earlier).
        attachments_from: &handoff_store::Overlay::new(&staged, &*store),
        prompt: args.prompt.clone(),
        agent: agent_options(&args.agent, AgentOptions::default())?,
        snapshot: SnapshotOptions {
            exclude: args.exclude.clone(),
            limits: args.history.limits(),
            ..SnapshotOptions::default()
        },
        allow_secrets: args.allow_secrets,
        variants: usize::from(args.variants),
    };
    let pushed = push(&*store, request).await.map_err(|e| {
        super::stopped_by_secrets(
            "push",
            "exclude them (--exclude GLOB or .handoffignore) or pass --allow-secrets",
            e.into(),
        )
    })?;
    if !args.json {
        // The ids first: they identify the runs even if waiting fails.
        let mut out = super::stdout();
        for created in &pushed.runs {
            writeln!(out, "{}", created.record.id)?;
        }
    }
    // Without --wait the records are as created: nothing to read back.
    let records = if args.wait {
        let isolation = isolation_here(store_flag, &envs_dir(None)).await?;
        let mut records = Vec::new();
        for created in &pushed.runs {
            records.push(
                wait_if_asked(
                    &*store,
                    created.record.id,
                    true,
                    &args.harness.command,
                    &isolation,
                )
                .await?,
            );
        }
        records
    } else {
        pushed.runs
    };
    if args.json {
        let mut value = json!({
            "run": pushed.run.to_string(),
            "new_bytes": pushed.new_bytes,
            "record": records.first().map(summary),
        });
        if records.len() > 1 {
            value["runs"] = json!(records.iter().map(summary).collect::<Vec<_>>());
        }
        super::print_json(&value)?;
    }
    Ok(records.iter().map(exit_for).max().unwrap_or(0))
}
