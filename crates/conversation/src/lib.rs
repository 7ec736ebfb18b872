//! A harness-neutral model of AI coding-agent conversations.
//!
//! A [`Conversation`] has an id (UUID v7), a title, the harness that holds
//! it, times, an optional fork [`Parent`], and ordered [`Message`]s made of
//! [`Part`]s: text, reasoning, tool calls, tool results and attachment
//! references. Data a harness adapter does not map is kept in `extra`
//! maps, so a transcript imported from a native format exports again
//! without loss.
//!
//! - **Fork** ([`Conversation::fork`]) makes a new conversation with a new
//!   id holding the history and recording its parent; the source is not
//!   modified. **Continue** ([`Conversation::push`]) appends to the same one.
//! - Two serialised forms, both tagged `"format": "handoff.conversation/v1"`:
//!   a JSON document ([`Conversation::to_json`]) and streaming JSONL — one
//!   header line (everything but the messages), then one message per line
//!   ([`JsonlWriter`], [`JsonlReader`]). Malformed lines are errors naming
//!   the line, or skipped and reported in [`Mode::Lenient`].
//! - [`attachment`]: files stored once in a blob store and referenced by
//!   digest, with a size limit (50 MiB by default).
//!
//! # Example
//!
//! ```
//! use handoff_conversation::{Conversation, Message, ReadOptions, Role};
//!
//! let mut local = Conversation::new("fix the flaky test", "warp");
//! local.push(Message::text(Role::User, "the test in ci.rs fails one run in ten"));
//! local.push(Message::text(Role::Assistant, "it races on the temp dir; fixing"));
//!
//! // Hand it off: a fork with the full history, the source untouched.
//! let cloud = local.fork(None)?;
//! assert_ne!(cloud.id, local.id);
//! assert_eq!(cloud.parent.map(|p| p.conversation), Some(local.id));
//! assert_eq!(cloud.messages, local.messages);
//!
//! // Streaming JSONL round trip.
//! let mut jsonl = Vec::new();
//! cloud.write_jsonl(&mut jsonl)?;
//! let (back, skipped) = Conversation::read_jsonl(&jsonl[..], &ReadOptions::default())?;
//! assert_eq!(back, cloud);
//! assert!(skipped.is_empty());
//! # Ok::<(), handoff_conversation::Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod attachment;
mod error;
pub mod format;
pub mod model;

pub use attachment::{AttachmentLimits, CopyStats, attach_bytes, attach_file, copy_attachments};
pub use error::{Error, Result};
pub use format::{
    BoundedLine, BoundedLines, FORMAT_V1, Header, JsonlReader, JsonlWriter, Mode, ReadOptions,
    Skipped,
};
pub use model::{
    AttachmentRef, Conversation, ConversationId, Message, MessageId, Parent, Part, Role,
};
