//! What leaves this machine, scanned for secrets before any of it is
//! written: one [`Outgoing`] collects the findings of every field a command
//! would send — prompts, the conversation (title, every message's text,
//! tool calls and results, the native lines kept in `extra`), attachments,
//! and each capture (files, staged and base content, carried history and
//! commit messages, the remote URL and branch name) — and
//! [`Outgoing::check`] turns them into one [`Error::SecretsFound`], the
//! same report whichever field and whichever command.
//!
//! `push`, `follow_up`, [`conversations::import`](crate::conversations::import)
//! and `handoff snapshot` (through
//! [`SnapshotOptions::scan_secrets`](handoff_workspace::SnapshotOptions))
//! all scan before their first write, on every store.

use handoff_conversation::Conversation;
use handoff_store::BlobStore;
use handoff_workspace::{Capture, Finding, Scanner};

use crate::{Error, Result};

/// The findings in what a command would send, gathered field by field.
#[derive(Debug)]
pub struct Outgoing {
    scanner: &'static Scanner,
    findings: Vec<Finding>,
}

impl Outgoing {
    /// Nothing scanned yet.
    pub fn new() -> Result<Self> {
        Ok(Self {
            scanner: Scanner::builtin().map_err(|e| Error::Internal {
                what: e.to_string(),
            })?,
            findings: Vec::new(),
        })
    }

    /// A piece of text, named `label` in findings (`prompt`).
    pub fn text(&mut self, label: &str, text: &str) -> &mut Self {
        self.findings
            .extend(self.scanner.scan_content(label, text.as_bytes()));
        self
    }

    /// A capture of the workspace's repository `name` (`.` for the
    /// workspace itself; other names prefix their findings' paths).
    pub fn capture(&mut self, name: &str, capture: &Capture) -> &mut Self {
        for mut finding in self.scanner.scan_capture(capture) {
            if name != "." {
                finding.path = format!("{name}/{}", finding.path);
            }
            self.findings.push(finding);
        }
        self
    }

    /// A conversation: its title (`conversation:title`), its own `extra`
    /// (`conversation:extra`) and every message whole
    /// (`conversation:message/N`). Attachments' contents are
    /// [`attachments`](Self::attachments).
    pub fn conversation(&mut self, conversation: &Conversation) -> &mut Self {
        self.text("conversation:title", &conversation.title);
        let extra = serde_json::Value::Object(conversation.extra.clone());
        self.findings
            .extend(self.scanner.scan_json("conversation:extra", &extra));
        for (index, message) in conversation.messages.iter().enumerate() {
            let label = format!("conversation:message/{}", index + 1);
            match serde_json::to_value(message) {
                Ok(value) => self.findings.extend(self.scanner.scan_json(&label, &value)),
                // A message that does not encode cannot be sent either;
                // its text parts are what can be read of it.
                Err(_) => {
                    for part in &message.parts {
                        if let handoff_conversation::Part::Text { text } = part {
                            self.text(&label, text);
                        }
                    }
                }
            }
        }
        self
    }

    /// The names and contents of the conversation's attachments
    /// (`attachment:NAME`), each once, read from `from`.
    pub async fn attachments(
        &mut self,
        conversation: &Conversation,
        from: &dyn BlobStore,
    ) -> Result<&mut Self> {
        let mut seen = std::collections::HashSet::new();
        for attachment in conversation.attachments() {
            if !seen.insert(attachment.digest) {
                continue;
            }
            let label = format!("attachment:{}", attachment.name);
            if let Some(mut finding) = self.scanner.scan_name(&attachment.name) {
                finding.path = label.clone();
                self.findings.push(finding);
            }
            let data = from.get(&attachment.digest).await?;
            self.findings
                .extend(self.scanner.scan_content(&label, &data));
        }
        Ok(self)
    }

    /// Every finding so far, sorted, each once (taken: the next call
    /// starts from none).
    pub fn findings(&mut self) -> Vec<Finding> {
        let mut findings = std::mem::take(&mut self.findings);
        findings.sort();
        findings.dedup();
        findings
    }

    /// `Ok` when nothing was found, else [`Error::SecretsFound`] with every
    /// finding.
    pub fn check(&mut self) -> Result<()> {
        let findings = self.findings();
        if findings.is_empty() {
            Ok(())
        } else {
            Err(Error::SecretsFound { findings })
        }
    }
}

#[cfg(test)]
mod tests {
    use handoff_conversation::{Message, Part, Role};

    use super::*;

    /// An AWS access key id in the documented example format.
    const KEY: &str = "AKIAIOSFODNN7EXAMPLE";

    fn paths(mut outgoing: Outgoing) -> Vec<(String, &'static str)> {
        outgoing
            .findings()
            .into_iter()
            .map(|f| (f.path, f.rule))
            .collect()
    }

    #[test]
    fn every_field_of_a_conversation_is_scanned_where_json_would_hide_it() {
        let mut conversation = Conversation::new(format!("deploy with {KEY}"), "warp");
        conversation
            .extra
            .insert("token".into(), serde_json::json!(format!("{KEY}")));
        conversation.push(Message::text(Role::User, "clean"));
        // Quoted inside a tool result: JSON escapes the quotes.
        let random = "f3Kq9ZrT7xLm2WvB8nYc4HdP";
        conversation.push(Message::new(
            Role::Tool,
            vec![Part::ToolResult {
                call_id: "1".into(),
                output: format!("api_key = \"{random}\"\n"),
                is_error: false,
            }],
        ));
        conversation.push(Message::new(
            Role::Assistant,
            vec![Part::ToolCall {
                id: "2".into(),
                name: "http".into(),
                input: serde_json::json!({"headers": {"api_key": random}}),
            }],
        ));
        let mut message = Message::text(Role::User, "nothing");
        // A native line kept as JSON text.
        message.extra.insert(
            "line".into(),
            serde_json::json!(format!(
                "{{\"cmd\":\"export SECRET_TOKEN=\\\"{random}\\\"\"}}"
            )),
        );
        conversation.push(message);
        let mut outgoing = Outgoing::new().unwrap();
        outgoing.conversation(&conversation);
        assert_eq!(
            paths(outgoing),
            [
                ("conversation:extra".to_owned(), "aws-access-key-id"),
                (
                    "conversation:message/2".to_owned(),
                    "high-entropy-assignment"
                ),
                (
                    "conversation:message/3".to_owned(),
                    "high-entropy-assignment"
                ),
                (
                    "conversation:message/4".to_owned(),
                    "high-entropy-assignment"
                ),
                ("conversation:title".to_owned(), "aws-access-key-id"),
            ]
        );
    }

    #[test]
    fn a_clean_prompt_finds_nothing_and_a_secret_one_is_refused() {
        let mut clean = Outgoing::new().unwrap();
        clean.text("prompt", "add a benchmark");
        assert!(clean.check().is_ok());
        let mut secret = Outgoing::new().unwrap();
        secret.text("prompt", &format!("use {KEY}"));
        let Err(Error::SecretsFound { findings }) = secret.check() else {
            panic!("expected a refusal");
        };
        assert_eq!(
            findings,
            [Finding {
                path: "prompt".into(),
                line: Some(1),
                rule: "aws-access-key-id",
                description: "an AWS access key id",
            }]
        );
    }
}
