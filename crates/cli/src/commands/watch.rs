//! `handoff watch`.

use std::io::Write;

use handoff_conversation::{Message, Part, Role};
use handoff_engine::RunState;
use handoff_engine::live::{Checkpoint, Watch, WatchEvent, WatchOptions};
use handoff_store::BlobStore;
use handoff_workspace::diff::{DisplayLimits, FileContent, file_diffs};

use crate::args::WatchArgs;

/// Exit code of a watch whose session failed.
pub const EXIT_FAILED: u8 = 4;
/// Exit code of a watch whose session was cancelled.
pub const EXIT_CANCELLED: u8 = 5;

/// `handoff watch RUN`.
pub async fn run(store_flag: Option<&str>, args: WatchArgs) -> anyhow::Result<u8> {
    let store = super::open_store(store_flag)?;
    let mut watch = Watch::new(&*store, args.run, WatchOptions::default());
    let mut code = 0;
    while let Some(event) = watch.next().await? {
        if let WatchEvent::Over { state, .. } = &event {
            code = match state {
                RunState::Failed => EXIT_FAILED,
                RunState::Cancelled => EXIT_CANCELLED,
                _ => 0,
            };
        }
        if args.json {
            super::print_json(&event)?;
            continue;
        }
        let text = match &event {
            WatchEvent::Conversation { messages } => {
                let mut out = String::new();
                if !messages.is_empty() {
                    out.push_str(&format!(
                        "— the conversation so far ({} messages)\n",
                        messages.len()
                    ));
                }
                for message in messages {
                    out.push_str(&summary(message));
                }
                out
            }
            WatchEvent::State { session, state } => format!("— session {session}: {state}\n"),
            WatchEvent::Message { message, .. } => summary(message),
            WatchEvent::Checkpoint { checkpoint, .. } => {
                format!(
                    "— checkpoint at {}: {}\n",
                    checkpoint.at.format("%H:%M:%S"),
                    diffstat(&*store, checkpoint).await
                )
            }
            WatchEvent::Over { state, reason, .. } => match reason {
                Some(reason) => format!("— {state}: {reason}\n"),
                None => format!("— {state}\n"),
            },
            other => format!("{other:?}\n"),
        };
        let mut out = super::stdout();
        out.write_all(text.as_bytes())?;
        out.flush()?;
    }
    Ok(code)
}

/// One message as a line or a few: text in full, tool calls summarised,
/// reasoning collapsed.
fn summary(message: &Message) -> String {
    let who = match message.role {
        Role::User => "user",
        Role::Assistant => "agent",
        _ => "system",
    };
    let mut out = String::new();
    for part in &message.parts {
        let line = match part {
            Part::Text { text } => format!("{who}: {text}"),
            Part::Reasoning { text } => {
                format!("{who}: (thinking, {} characters)", text.chars().count())
            }
            Part::ToolCall { name, input, .. } => {
                let mut args = input.to_string();
                if args.chars().count() > 80 {
                    args = args.chars().take(77).collect::<String>() + "...";
                }
                format!("{who}: → {name} {args}")
            }
            Part::ToolResult {
                output, is_error, ..
            } => {
                let first = output.lines().next().unwrap_or("");
                let lines = output.lines().count();
                format!(
                    "  {} {first}{}",
                    if *is_error { "✗" } else { "←" },
                    if lines > 1 {
                        format!(" (+{} lines)", lines - 1)
                    } else {
                        String::new()
                    }
                )
            }
            Part::Attachment(reference) => format!("{who}: [attachment {}]", reference.safe_name()),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// What a checkpoint holds since the run's base: files and lines changed.
async fn diffstat(blobs: &dyn BlobStore, checkpoint: &Checkpoint) -> String {
    let (mut files, mut added, mut removed) = (0, 0, 0);
    for end in &checkpoint.end {
        let Ok(manifest) = handoff_workspace::load_manifest(blobs, &end.review()).await else {
            return "(its diff could not be read)".to_owned();
        };
        let Ok(diffs) = file_diffs(&manifest, blobs, &DisplayLimits::default()).await else {
            return "(its diff could not be read)".to_owned();
        };
        files += diffs.len();
        for diff in diffs {
            if let FileContent::Text {
                added: a,
                removed: r,
                ..
            } = diff.content
            {
                added += a;
                removed += r;
            }
        }
    }
    format!("{files} file(s) changed, +{added} −{removed}")
}
