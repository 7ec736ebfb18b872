//! What the examples share: a demo repository, a scripted agent that says
//! what it found, and an environment whose checkout drifted from the base.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

use async_trait::async_trait;
use handoff_core::conversation::{
    AttachmentLimits, Conversation, Message, Part, Role, attach_bytes,
};
use handoff_core::engine::{Environment, LocalEnvironment, Prepared, RunRecord};
use handoff_core::harness::{HarnessKind, ScriptedHarness, Turn};
use handoff_core::store::{BlobStore, Bytes};
use handoff_core::workspace::ApplyReport;
use handoff_dev::GitRepo;

/// A repository with a commit and uncommitted work of several kinds.
pub fn demo_repo() -> GitRepo {
    let repo = GitRepo::init();
    repo.write("README.md", "# calculator\n\nAdds numbers.\n")
        .write(
            "src/lib.rs",
            "pub fn add(a: u32, b: u32) -> u32 {\n    a + b\n}\n",
        )
        .write("old_notes.txt", "to be renamed\n");
    repo.commit_all("base");
    repo.write("src/lib.rs", "pub fn add(a: u32, b: u32) -> u32 {\n    a + b\n}\n\npub fn sub(a: u32, b: u32) -> u32 {\n    a - b\n}\n");
    repo.write("README.md", "# calculator\n\nAdds and subtracts numbers.\n");
    repo.git(&["mv", "old_notes.txt", "notes.txt"]);
    repo.write("tests/sub.rs", "// untracked: a test being written\n");
    repo
}

/// The local conversation, with a screenshot attached.
pub async fn demo_conversation(store: &dyn BlobStore) -> Conversation {
    let shot = attach_bytes(
        store,
        "failing-test.png",
        Bytes::from_static(b"\x89PNG\r\n\x1a\n(pixels)"),
        &AttachmentLimits::default(),
    )
    .await
    .unwrap();
    let mut c = Conversation::new("add sub()", "warp");
    c.push(Message::new(
        Role::User,
        vec![
            Part::Text {
                text: "add sub() and a test".into(),
            },
            Part::Attachment(shot),
        ],
    ));
    c.push(Message::text(
        Role::Assistant,
        "sub() is in; the test is half written",
    ));
    c
}

/// A scripted Warp agent that reports what it found before answering and
/// leaves a file behind, as a real agent would.
pub fn agent() -> ScriptedHarness {
    ScriptedHarness::new("demo", |turn: &Turn<'_>| {
        let has_sub = std::fs::read_to_string(turn.workdir.join("src/lib.rs")).unwrap_or_default().contains("fn sub");
        let has_test = turn.workdir.join("tests/sub.rs").exists();
        let turn_no = turn.conversation.messages.len() / 2;
        std::fs::write(turn.workdir.join(format!("agent-turn-{turn_no}.md")), format!("work of turn {turn_no}\n")).unwrap();
        Ok(format!(
            "saw sub(): {has_sub}, saw the untracked test: {has_test}, attachments: {}, not applied: [{}]",
            turn.attachments.len(),
            turn.handoff.not_applied.iter().map(|n| n.path.as_str()).collect::<Vec<_>>().join(", ")
        ))
    })
    .as_kind(HarnessKind::from_static("warp"))
}

/// A cloud checkout where someone already edited the README on the base:
/// the snapshot's README change conflicts there.
#[derive(Debug)]
pub struct Drifted(pub LocalEnvironment);

#[async_trait]
impl Environment for Drifted {
    async fn prepare(
        &self,
        run: &RunRecord,
        store: &dyn handoff_core::store::BlobStore,
    ) -> handoff_core::engine::Result<Prepared> {
        let prepared = self.0.prepare(run, store).await?;
        std::fs::write(
            prepared.root.join("README.md"),
            "# calculator\n\nAdds numbers (hotfix in the cloud).\n",
        )
        .unwrap();
        Ok(prepared)
    }
}

/// local → cloud for the demo: pushes `local`'s uncommitted work and the
/// conversation with the prompt "finish the test".
pub async fn push_demo(
    store: &handoff_core::store::FsStore,
    local: &GitRepo,
    conversation: &Conversation,
    agent: &ScriptedHarness,
) -> handoff_core::engine::Pushed {
    handoff_core::engine::push(
        store,
        handoff_core::engine::Push {
            workspace: local.path(),
            conversation,
            harness: agent,
            attachments_from: store,
            prompt: Some("finish the test".into()),
            agent: Default::default(),
            snapshot: Default::default(),
            allow_secrets: false,
            variants: 1,
        },
    )
    .await
    .unwrap()
}

/// Prints an apply report.
pub fn print_report(label: &str, report: &ApplyReport) {
    println!("{label}:");
    println!("  applied:         {:?}", report.applied);
    println!("  already applied: {:?}", report.already_applied);
    println!("  merged:          {:?}", report.merged);
    for f in &report.failed {
        println!("  NOT APPLIED      {}: {}", f.path, f.reason);
    }
}

/// The last assistant message of a stored conversation.
pub async fn last_reply(store: &dyn BlobStore, record: &RunRecord) -> String {
    let head = record.conversation_head.expect("a saved conversation");
    let conversation = handoff_core::engine::conversations::load(store, &head)
        .await
        .unwrap();
    conversation
        .messages
        .last()
        .map(|m| m.plain_text())
        .unwrap_or_default()
}
