//! A fourth adapter is one crate plus one registration line: an adapter
//! defined here, outside the built-in crates, is registered beside the
//! built-in ones, resolved by name, run through the harness conformance
//! suite, and taken through the journey every adapter shares — push, a
//! follow-up, continue locally — by the engine, which never asks its name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use async_trait::async_trait;
use handoff_core::conversation::{Conversation, Message, Role};
use handoff_core::engine::{
    LocalEnvironment, Push, RunState, WorkerOptions, continue_locally, follow_up, push, run_session,
};
use handoff_core::harness::{
    Adapter, AdapterConfig, Direction, DynHarness, Harness, HarnessKind, Result, Turn,
};
use handoff_core::store::MemoryStore;

/// The fourth adapter's agent: it answers with what it was asked and how
/// much history it had, and leaves a file in the workspace.
#[derive(Debug)]
struct Parrot;

#[async_trait]
impl Harness for Parrot {
    fn kind(&self) -> HarnessKind {
        HarnessKind::from_static("parrot")
    }

    fn directions(&self) -> Vec<Direction> {
        Direction::ALL.to_vec()
    }

    async fn run_turn(&self, turn: Turn<'_>) -> Result<Vec<Message>> {
        let n = turn.conversation.messages.len();
        std::fs::write(turn.workdir.join("parrot.txt"), format!("{n}\n")).unwrap();
        Ok(vec![
            Message::text(Role::User, turn.prompt),
            Message::text(
                Role::Assistant,
                format!("parrot: {} after {n}", turn.prompt),
            ),
        ])
    }
}

/// Its registration.
#[derive(Debug)]
struct ParrotAdapter;

impl Adapter for ParrotAdapter {
    fn kind(&self) -> HarnessKind {
        HarnessKind::from_static("parrot")
    }

    fn harness(&self, _config: &AdapterConfig) -> Result<Arc<DynHarness>> {
        Ok(Arc::new(Parrot))
    }
}

#[tokio::test]
async fn a_fourth_adapter_is_one_registration_line() {
    let mut registry = handoff_core::registry();
    assert!(registry.register(Arc::new(ParrotAdapter)).is_none());
    assert_eq!(
        registry.kinds().last().map(HarnessKind::name),
        Some("parrot")
    );
    let harness = registry
        .get("parrot")
        .unwrap()
        .harness(&AdapterConfig::new())
        .unwrap();
    handoff_harness::testing::harness_conformance(&*harness).await;

    // push → follow-up → continue locally.
    let repo = handoff_dev::GitRepo::init();
    repo.write("a.txt", "a\n");
    repo.commit_all("base");
    repo.write("a.txt", "a, edited\n");
    let mut local = Conversation::new("local", "parrot");
    local.push(Message::text(Role::User, "start"));
    let store = MemoryStore::new();
    let pushed = push(
        &store,
        Push {
            workspace: repo.path(),
            conversation: &local,
            harness: &*harness,
            attachments_from: &store,
            prompt: Some("first".into()),
            agent: Default::default(),
            snapshot: Default::default(),
            allow_secrets: false,
            variants: 1,
        },
    )
    .await
    .unwrap();
    assert_eq!(pushed.record.harness, "parrot");
    let envs = tempfile::tempdir().unwrap();
    let env = LocalEnvironment::new(envs.path());
    let options = WorkerOptions::default();
    let ran = run_session(&store, pushed.run, &*harness, &env, &options)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ran.record.state, RunState::Ended);
    follow_up(&store, pushed.run, &*harness, "second".into())
        .await
        .unwrap();
    let ran = run_session(&store, pushed.run, &*harness, &env, &options)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ran.record.sessions.len(), 2);
    let back = continue_locally(
        &store,
        pushed.run,
        &*harness,
        repo.path(),
        &Default::default(),
    )
    .await
    .unwrap();
    let said: Vec<String> = back
        .conversation
        .messages
        .iter()
        .filter(|m| m.role == Role::Assistant)
        .map(Message::plain_text)
        .collect();
    assert_eq!(said, ["parrot: first after 1", "parrot: second after 3"]);
    assert_eq!(back.branches.len(), 1);
}
