//! Nothing leaves before the scan, and everything that leaves is scanned:
//! a push with a likely secret anywhere it would send — an attachment, the
//! staged content only, a conversation's native lines, a commit not yet
//! pushed — is refused before a single write reaches the store, and the
//! findings say where without containing the secret.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use handoff_conversation::{AttachmentLimits, Conversation, Message, Part, Role, attach_bytes};
use handoff_dev::GitRepo;
use handoff_engine::{Error, Push, push};
use handoff_harness::{HarnessKind, ScriptedHarness};
use handoff_store::{Bytes, Counting, MemoryStore};
use handoff_workspace::{Finding, SnapshotOptions};

/// An AWS access key id in the documented example format.
const KEY: &str = "AKIAIOSFODNN7EXAMPLE";

fn agent() -> ScriptedHarness {
    ScriptedHarness::echo("warp").as_kind(HarnessKind::Warp)
}

/// A committed, pushed repository with a bare origin.
fn repo() -> (GitRepo, GitRepo) {
    let origin = GitRepo::bare();
    let repo = GitRepo::clone_from(&origin);
    repo.write("README.md", "# app\n");
    repo.commit_all("base");
    repo.git(&["push", "-q", "origin", "main"]);
    (origin, repo)
}

/// Pushes `repo` with `conversation` (attachments from `local`) to a
/// counting store; returns the findings of the refusal and the counts.
async fn refused(repo: &GitRepo, conversation: &Conversation, local: &MemoryStore) -> Vec<Finding> {
    let store = Counting::new(MemoryStore::new());
    let agent = agent();
    let err = push(
        &store,
        Push {
            workspace: repo.path(),
            conversation,
            harness: &agent,
            attachments_from: local,
            prompt: Some("go".into()),
            agent: Default::default(),
            snapshot: SnapshotOptions::default(),
            allow_secrets: false,
            variants: 1,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(store.counts().writes(), 0, "nothing reached the store");
    let Error::SecretsFound { findings } = err else {
        panic!("expected a refusal, got {err}");
    };
    for finding in &findings {
        let shown = format!("{finding:?} {}", serde_json::to_string(finding).unwrap());
        assert!(!shown.contains(KEY), "a finding shows the secret: {shown}");
    }
    findings
}

fn paths(findings: &[Finding]) -> Vec<&str> {
    findings.iter().map(|f| f.path.as_str()).collect()
}

#[tokio::test]
async fn a_secret_in_an_attachment_is_found_before_anything_is_stored() {
    let (_origin, repo) = repo();
    let local = MemoryStore::new();
    let attached = attach_bytes(
        &local,
        "notes.txt",
        Bytes::from(format!("aws key {KEY}\n")),
        &AttachmentLimits::default(),
    )
    .await
    .unwrap();
    let mut conversation = Conversation::new("c", "warp");
    conversation.push(Message::new(Role::User, vec![Part::Attachment(attached)]));
    let findings = refused(&repo, &conversation, &local).await;
    assert_eq!(paths(&findings), ["attachment:notes.txt"]);
    assert_eq!(findings[0].rule, "aws-access-key-id");
}

#[tokio::test]
async fn a_secret_only_in_the_staged_content_is_found() {
    let (_origin, repo) = repo();
    repo.write("config.txt", format!("key = {KEY}\n"));
    repo.git(&["add", "config.txt"]);
    // The working tree no longer has it, the index (which travels) does.
    repo.write("config.txt", "key = redacted\n");
    let findings = refused(&repo, &Conversation::new("c", "warp"), &MemoryStore::new()).await;
    assert_eq!(paths(&findings), ["config.txt (staged)"]);
    assert_eq!(findings[0].line, Some(1));
}

#[tokio::test]
async fn a_secret_in_a_conversations_native_lines_is_found() {
    let (_origin, repo) = repo();
    let mut conversation = Conversation::new("c", "claude-code");
    let mut message = Message::text(Role::User, "nothing to see");
    message.extra.insert(
        "native".into(),
        serde_json::json!({"type": "user", "toolUseResult": {"stdout": format!("export AWS_ACCESS_KEY_ID={KEY}")}}),
    );
    conversation.push(message);
    let findings = refused(&repo, &conversation, &MemoryStore::new()).await;
    assert_eq!(paths(&findings), ["conversation:message/1"]);
}

#[tokio::test]
async fn a_secret_in_a_commit_not_yet_pushed_is_found_even_when_deleted_since() {
    let (_origin, repo) = repo();
    repo.write("deploy/creds.txt", format!("{KEY}\n"));
    repo.commit_all("add creds");
    repo.remove("deploy/creds.txt");
    repo.commit_all("remove creds");
    let findings = refused(&repo, &Conversation::new("c", "warp"), &MemoryStore::new()).await;
    assert_eq!(paths(&findings), ["history:deploy/creds.txt"]);
}

#[tokio::test]
async fn a_clean_push_stores_what_it_scanned() {
    let (_origin, repo) = repo();
    repo.write("clean.txt", "nothing secret\n");
    let store = Counting::new(MemoryStore::new());
    let agent = agent();
    let conversation = Conversation::new("c", "warp");
    push(
        &store,
        Push {
            workspace: repo.path(),
            conversation: &conversation,
            harness: &agent,
            attachments_from: &MemoryStore::new(),
            prompt: None,
            agent: Default::default(),
            snapshot: SnapshotOptions::default(),
            allow_secrets: false,
            variants: 1,
        },
    )
    .await
    .unwrap();
    assert!(store.counts().writes() > 0);
}
