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
use handoff_store::{Bytes, Counting, MemoryStore, Store};
use handoff_workspace::{Finding, SnapshotOptions};

/// An AWS access key id in the documented example format.
const KEY: &str = "AKIAIOSFODNN7EXAMPLE";

fn agent() -> ScriptedHarness {
    ScriptedHarness::echo("warp").as_kind(HarnessKind::from_static("warp"))
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
    refused_with_prompt(repo, conversation, local, "go").await
}

/// [`refused`], with the push's prompt.
async fn refused_with_prompt(
    repo: &GitRepo,
    conversation: &Conversation,
    local: &MemoryStore,
    prompt: &str,
) -> Vec<Finding> {
    let store = Counting::new(MemoryStore::new());
    let agent = agent();
    let err = push(
        &store,
        Push {
            workspace: repo.path(),
            conversation,
            harness: &agent,
            attachments_from: local,
            prompt: Some(prompt.into()),
            agent: Default::default(),
            snapshot: SnapshotOptions::default(),
            allow_secrets: false,
            variants: 1,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(store.counts().writes(), 0, "nothing reached the store");
    refusal(err)
}

/// The findings of a refusal by the secret scan, checked to hold no secret.
fn refusal(err: Error) -> Vec<Finding> {
    let Error::SecretsFound { findings } = err else {
        panic!("expected a refusal, got {err}");
    };
    for finding in &findings {
        let shown = format!("{finding:?} {}", serde_json::to_string(finding).unwrap());
        assert!(!shown.contains(KEY), "a finding shows the secret: {shown}");
    }
    findings
}

/// Where each finding is and which rule made it.
fn places(findings: &[Finding]) -> Vec<(&str, &'static str)> {
    findings.iter().map(|f| (f.path.as_str(), f.rule)).collect()
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
    clean_push(&store, &repo).await;
    assert!(store.counts().writes() > 0);
}

/// Pushes `repo` with an empty conversation and no prompt.
async fn clean_push(store: &dyn Store, repo: &GitRepo) -> handoff_engine::Pushed {
    let agent = agent();
    let conversation = Conversation::new("c", "warp");
    push(
        store,
        Push {
            workspace: repo.path(),
            conversation: &conversation,
            harness: &agent,
            attachments_from: store,
            prompt: None,
            agent: Default::default(),
            snapshot: SnapshotOptions::default(),
            allow_secrets: false,
            variants: 1,
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_secret_in_the_prompt_title_tool_traffic_branch_remote_or_commit_message_stops_a_push() {
    let clean = || Conversation::new("c", "warp");
    let (_origin, repo) = repo();

    // The prompt.
    let findings =
        refused_with_prompt(&repo, &clean(), &MemoryStore::new(), &format!("use {KEY}")).await;
    assert_eq!(places(&findings), [("prompt", "aws-access-key-id")]);

    // The title.
    let titled = Conversation::new(format!("deploy with {KEY}"), "warp");
    let findings = refused(&repo, &titled, &MemoryStore::new()).await;
    assert_eq!(
        places(&findings),
        [("conversation:title", "aws-access-key-id")]
    );

    // A tool call's input and a tool's result.
    let mut tools = clean();
    tools.push(Message::new(
        Role::Assistant,
        vec![Part::ToolCall {
            id: "1".into(),
            name: "shell".into(),
            input: serde_json::json!({"command": format!("aws configure set key {KEY}")}),
        }],
    ));
    tools.push(Message::new(
        Role::Tool,
        vec![Part::ToolResult {
            call_id: "1".into(),
            output: format!("AWS_ACCESS_KEY_ID=\"{KEY}\""),
            is_error: false,
        }],
    ));
    let findings = refused(&repo, &tools, &MemoryStore::new()).await;
    assert_eq!(
        places(&findings),
        [
            ("conversation:message/1", "aws-access-key-id"),
            ("conversation:message/2", "aws-access-key-id")
        ]
    );

    // A commit message of a commit not yet pushed.
    let (_origin, repo) = self::repo();
    repo.write("notes.txt", "notes\n");
    repo.commit_all(&format!("use {KEY} for now"));
    let findings = refused(&repo, &clean(), &MemoryStore::new()).await;
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(
        findings[0].path.starts_with("history:commit "),
        "{findings:?}"
    );

    // The branch name.
    let (_origin, repo) = self::repo();
    repo.git(&["checkout", "-q", "-b", &format!("fix/{KEY}")]);
    let findings = refused(&repo, &clean(), &MemoryStore::new()).await;
    assert_eq!(places(&findings), [("base.branch", "aws-access-key-id")]);

    // The remote URL (what is left of it once credentials are removed).
    let (_origin, repo) = self::repo();
    repo.git(&[
        "remote",
        "set-url",
        "origin",
        &format!("https://git.example.invalid/{KEY}/r.git"),
    ]);
    let findings = refused(&repo, &clean(), &MemoryStore::new()).await;
    assert_eq!(places(&findings), [("base.remote", "aws-access-key-id")]);
}

#[tokio::test]
async fn credentials_in_the_remote_url_are_removed_not_stored() {
    let (_origin, repo) = repo();
    let token = format!("ghp_{}", "Zx9Kq2Lm7Np4Rt6Vw8Yb1Cd3Ef5Gh0Jk2Mn4P");
    repo.git(&[
        "remote",
        "set-url",
        "origin",
        &format!("https://x-access-token:{token}@git.example.invalid/o/r.git"),
    ]);
    let store = MemoryStore::new();
    let pushed = clean_push(&store, &repo).await;
    assert_eq!(
        pushed.record.repositories[0].source.as_deref(),
        Some("https://git.example.invalid/o/r.git")
    );
    let manifest =
        handoff_workspace::load_manifest(&store, &pushed.record.sessions[0].start[0].snapshot)
            .await
            .unwrap();
    assert_eq!(
        manifest.base.remote.as_deref(),
        Some("https://git.example.invalid/o/r.git")
    );
}

/// A run pushed from a clean repository, in a counting store.
async fn pushed_run(store: &Counting<MemoryStore>) -> handoff_engine::RunId {
    let (_origin, repo) = repo();
    clean_push(store, &repo).await.run
}

#[tokio::test]
async fn a_follow_up_prompt_with_a_secret_is_refused_before_anything_is_written() {
    let store = Counting::new(MemoryStore::new());
    let run = pushed_run(&store).await;
    let before = store.counts();
    let err = handoff_engine::follow_up(&store, run, &agent(), format!("now use {KEY}"))
        .await
        .unwrap_err();
    assert_eq!(places(&refusal(err)), [("prompt", "aws-access-key-id")]);
    assert_eq!(store.counts(), before, "the store was not even read");

    // Allowed explicitly, it is queued (the run is busy, so that is the
    // refusal now: the scan let it through).
    let err = handoff_engine::follow_up_with(
        &store,
        run,
        &agent(),
        format!("now use {KEY}"),
        &handoff_engine::FollowUpOptions {
            allow_secrets: true,
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::RunBusy { .. }), "{err}");
}

#[tokio::test]
async fn an_import_with_a_secret_is_refused_before_anything_is_written() {
    let store = Counting::new(MemoryStore::new());
    let mut conversation = Conversation::new("c", "claude-code");
    conversation.push(Message::text(Role::User, format!("the key is {KEY}")));
    let err = handoff_engine::conversations::import(&store, &conversation, false)
        .await
        .unwrap_err();
    assert_eq!(
        places(&refusal(err)),
        [("conversation:message/1", "aws-access-key-id")]
    );
    assert_eq!(store.counts().writes(), 0, "nothing reached the store");
    handoff_engine::conversations::import(&store, &conversation, true)
        .await
        .unwrap();
    assert!(store.counts().writes() > 0, "allowed, it is stored");
}

#[tokio::test]
async fn a_snapshot_that_scans_stops_at_a_secret_before_anything_is_written() {
    let (_origin, repo) = repo();
    repo.write("notes.txt", "notes\n");
    repo.commit_all(&format!("use {KEY} for now"));
    let store = Counting::new(MemoryStore::new());
    let scanning = SnapshotOptions {
        scan_secrets: true,
        ..SnapshotOptions::default()
    };
    let err = handoff_workspace::snapshot(repo.path(), &store, &scanning)
        .await
        .unwrap_err();
    let handoff_workspace::Error::SecretsFound { findings, workdir } = err else {
        panic!("expected a refusal, got {err}");
    };
    assert_eq!(workdir, std::fs::canonicalize(repo.path()).unwrap());
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(
        findings[0].path.starts_with("history:commit "),
        "{findings:?}"
    );
    assert_eq!(store.counts().writes(), 0, "nothing reached the store");
}
