//! The conversation model: ids, messages, parts, fork and continue.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use handoff_store::Digest;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Error, Result};

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A new, time-ordered id (UUID v7).
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }

            /// Wraps an existing UUID (for example one a harness assigned).
            pub fn from_uuid(uuid: uuid::Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID.
            pub fn as_uuid(&self) -> &uuid::Uuid {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(text: &str) -> Result<Self> {
                uuid::Uuid::parse_str(text).map(Self).map_err(|e| Error::InvalidId {
                    what: $what,
                    input: text.chars().take(64).collect(),
                    reason: e.to_string(),
                })
            }
        }
    };
}

uuid_id!(
    /// A conversation's id.
    ConversationId,
    "conversation id"
);
uuid_id!(
    /// A message's id.
    MessageId,
    "message id"
);

/// Who speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Instructions from the host.
    System,
    /// The person.
    User,
    /// The agent.
    Assistant,
    /// A tool's output.
    Tool,
}

/// A reference to an attachment stored in a blob store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AttachmentRef {
    /// The content's digest in the store.
    pub digest: Digest,
    /// The file name.
    pub name: String,
    /// The media type, such as `image/png`.
    pub media_type: String,
    /// The size in bytes.
    pub size: u64,
}

impl AttachmentRef {
    /// The name with every character but ASCII letters, digits, `.`, `-`
    /// and `_` replaced by `_`: safe as one path component (after a
    /// prefix, since it may be `..`) and in a `Content-Disposition`
    /// header. Names come from conversations, which are untrusted.
    pub fn safe_name(&self) -> String {
        self.name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }
}

/// One piece of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    /// Plain text.
    Text {
        /// The text.
        text: String,
    },
    /// The agent's visible reasoning.
    Reasoning {
        /// The text.
        text: String,
    },
    /// The agent calls a tool.
    ToolCall {
        /// The call's id, referenced by its result.
        id: String,
        /// The tool's name.
        name: String,
        /// The arguments.
        input: Value,
    },
    /// A tool's answer to a call.
    ToolResult {
        /// The call it answers.
        call_id: String,
        /// The output, as text (structured outputs are carried as JSON text).
        output: String,
        /// Whether the tool failed.
        #[serde(default)]
        is_error: bool,
    },
    /// A file attached to the message.
    Attachment(AttachmentRef),
}

/// One message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Its id.
    pub id: MessageId,
    /// Who speaks.
    pub role: Role,
    /// When.
    pub time: DateTime<Utc>,
    /// What was said, in order.
    pub parts: Vec<Part>,
    /// Harness-specific data this model does not understand, kept so a
    /// transcript can be exported again without loss.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

impl Message {
    /// A message with a new id at the current time.
    pub fn new(role: Role, parts: Vec<Part>) -> Self {
        Self {
            id: MessageId::new(),
            role,
            time: Utc::now(),
            parts,
            extra: Map::new(),
        }
    }

    /// A message holding one text part.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self::new(role, vec![Part::Text { text: text.into() }])
    }

    /// The text parts joined by blank lines.
    pub fn plain_text(&self) -> String {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n\n")
    }
}

/// Where a forked conversation came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parent {
    /// The source conversation.
    pub conversation: ConversationId,
    /// The last message the fork took, `None` if the source was empty.
    pub message: Option<MessageId>,
}

/// A harness-neutral conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// Its id.
    pub id: ConversationId,
    /// A title for people.
    pub title: String,
    /// The harness that holds it: `warp`, `claude-code`, `codex`, or another name.
    pub harness: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// The conversation it was forked from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Parent>,
    /// Harness-specific conversation-level data, kept as is.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
    /// The messages, in order.
    pub messages: Vec<Message>,
}

impl Conversation {
    /// An empty conversation with a new id.
    pub fn new(title: impl Into<String>, harness: impl Into<String>) -> Self {
        let now = Utc::now();
        Self {
            id: ConversationId::new(),
            title: title.into(),
            harness: harness.into(),
            created_at: now,
            updated_at: now,
            parent: None,
            extra: Map::new(),
            messages: Vec::new(),
        }
    }

    /// **Continue**: appends a message to this same conversation.
    pub fn push(&mut self, message: Message) {
        self.updated_at = Utc::now().max(self.updated_at);
        self.messages.push(message);
    }

    /// Appends several messages.
    pub fn extend(&mut self, messages: impl IntoIterator<Item = Message>) {
        for message in messages {
            self.push(message);
        }
    }

    /// **Fork**: a new conversation with a new id holding the history up to
    /// and including `at` (all of it when `None`), recording this one as its
    /// parent. This conversation is not modified.
    pub fn fork(&self, at: Option<MessageId>) -> Result<Conversation> {
        let messages =
            match at {
                None => self.messages.clone(),
                Some(id) => {
                    let index = self.messages.iter().position(|m| m.id == id).ok_or(
                        Error::UnknownMessage {
                            conversation: self.id,
                            message: id,
                        },
                    )?;
                    self.messages[..=index].to_vec()
                }
            };
        let now = Utc::now();
        Ok(Conversation {
            id: ConversationId::new(),
            title: self.title.clone(),
            harness: self.harness.clone(),
            created_at: now,
            updated_at: now,
            parent: Some(Parent {
                conversation: self.id,
                message: messages.last().map(|m| m.id),
            }),
            extra: self.extra.clone(),
            messages,
        })
    }

    /// Every attachment referenced by any message, in order.
    pub fn attachments(&self) -> impl Iterator<Item = &AttachmentRef> {
        self.messages.iter().flat_map(|m| {
            m.parts.iter().filter_map(|p| match p {
                Part::Attachment(a) => Some(a),
                _ => None,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Conversation {
        let mut c = Conversation::new("fix the bug", "warp");
        c.push(Message::text(Role::User, "please fix it"));
        c.push(Message::new(
            Role::Assistant,
            vec![
                Part::Reasoning {
                    text: "look at main.rs".into(),
                },
                Part::ToolCall {
                    id: "call-1".into(),
                    name: "read_file".into(),
                    input: serde_json::json!({"path": "src/main.rs"}),
                },
            ],
        ));
        c.push(Message::new(
            Role::Tool,
            vec![Part::ToolResult {
                call_id: "call-1".into(),
                output: "fn main() {}".into(),
                is_error: false,
            }],
        ));
        c
    }

    #[test]
    fn fork_copies_history_records_parent_and_leaves_source_alone() {
        let source = sample();
        let before = source.clone();
        let fork = source.fork(None).unwrap();
        assert_eq!(source, before);
        assert_ne!(fork.id, source.id);
        assert_eq!(fork.messages, source.messages);
        assert_eq!(
            fork.parent,
            Some(Parent {
                conversation: source.id,
                message: source.messages.last().map(|m| m.id),
            })
        );
    }

    #[test]
    fn fork_at_a_message_and_fork_of_a_fork() {
        let source = sample();
        let at = source.messages[1].id;
        let fork = source.fork(Some(at)).unwrap();
        assert_eq!(fork.messages, source.messages[..2].to_vec());
        assert_eq!(fork.parent.and_then(|p| p.message), Some(at));
        let grandchild = fork.fork(None).unwrap();
        assert_eq!(grandchild.parent.map(|p| p.conversation), Some(fork.id));
        assert_eq!(grandchild.messages, fork.messages);
        let unknown = MessageId::new();
        assert!(matches!(
            source.fork(Some(unknown)),
            Err(Error::UnknownMessage { message, .. }) if message == unknown
        ));
    }

    #[test]
    fn continue_appends_to_the_same_conversation() {
        let mut c = sample();
        let id = c.id;
        let updated = c.updated_at;
        c.push(Message::text(Role::User, "and add a test"));
        assert_eq!(c.id, id);
        assert_eq!(c.messages.len(), 4);
        assert!(c.updated_at >= updated);
    }

    #[test]
    fn ids_are_v7_and_parse() {
        let id = ConversationId::new();
        assert_eq!(id.as_uuid().get_version_num(), 7);
        assert_eq!(id.to_string().parse::<ConversationId>().unwrap(), id);
        assert!("not-a-uuid".parse::<MessageId>().is_err());
    }
}
