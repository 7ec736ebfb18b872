//! The conformance suite every harness adapter runs against itself.
//!
//! Call [`harness_conformance`] from the adapter's tests with a harness
//! whose turns succeed in an empty working directory. It panics, as tests
//! do, on the first broken promise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use handoff_conversation::{Conversation, Message, Role};

use crate::{AgentOptions, Direction, Handoff, Harness, NotApplied, Turn, coverage};

/// Runs every check against `harness`.
pub async fn harness_conformance(harness: &dyn Harness) {
    declares_consistent_coverage(harness);
    declares_its_environment_as_names(harness);
    turn_starts_with_the_prompt_and_adds_a_reply(harness).await;
    turn_does_not_reuse_message_ids(harness).await;
    turn_with_a_handoff_report(harness).await;
}

/// `kind` is stable, directions are unique, and [`coverage::check`] agrees
/// with `directions` for every direction.
pub fn declares_consistent_coverage(harness: &dyn Harness) {
    assert_eq!(harness.kind(), harness.kind(), "kind is stable");
    let directions = harness.directions();
    let mut unique = directions.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), directions.len(), "directions are listed once");
    for direction in Direction::ALL {
        match coverage::check(harness, direction) {
            Ok(()) => assert!(directions.contains(&direction)),
            Err(crate::Error::Unsupported {
                harness: kind,
                direction: d,
            }) => {
                assert_eq!((kind, d), (harness.kind(), direction));
                assert!(!directions.contains(&direction));
            }
            Err(other) => panic!("unexpected error {other}"),
        }
    }
}

/// The environment variables a harness declares are names a worker can
/// pass: non-empty, letters, digits and `_`, each once.
pub fn declares_its_environment_as_names(harness: &dyn Harness) {
    let names = harness.env_vars();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "each variable once: {names:?}");
    for name in &names {
        assert!(
            !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{name:?} is not a variable name"
        );
    }
}

fn conversation() -> Conversation {
    let mut c = Conversation::new("conformance", harness_name());
    c.push(Message::text(Role::User, "Say hello."));
    c.push(Message::text(Role::Assistant, "Hello."));
    c
}

fn harness_name() -> &'static str {
    "conformance"
}

async fn run(harness: &dyn Harness, handoff: &Handoff) -> (Conversation, Vec<Message>) {
    let dir = tempfile::tempdir().unwrap();
    let conversation = conversation();
    let before = conversation.clone();
    let turn = Turn {
        conversation: &conversation,
        prompt: "Continue, please.",
        workdir: dir.path(),
        attachments: &[],
        handoff,
        agent: &AgentOptions::default(),
        confinement: &crate::Confinement::default(),
        live: crate::Live::IDLE,
    };
    let added = harness.run_turn(turn).await.expect("the turn succeeds");
    assert_eq!(
        conversation, before,
        "the conversation passed in is not modified"
    );
    (conversation, added)
}

/// The added messages hold the user's prompt (an agent may record lines of
/// its own before it), and an assistant message follows it.
pub async fn turn_starts_with_the_prompt_and_adds_a_reply(harness: &dyn Harness) {
    let (_, added) = run(harness, &Handoff::default()).await;
    let prompt = added
        .iter()
        .position(|m| m.role == Role::User && m.plain_text().contains("Continue, please."))
        .unwrap_or_else(|| panic!("no user message holds the prompt: {added:?}"));
    assert!(
        added[..prompt].iter().all(|m| m.role != Role::Assistant),
        "nothing answers before the prompt: {added:?}"
    );
    assert!(
        added[prompt..].iter().any(|m| m.role == Role::Assistant),
        "{added:?}"
    );
}

/// Added messages have ids of their own.
pub async fn turn_does_not_reuse_message_ids(harness: &dyn Harness) {
    let (conversation, added) = run(harness, &Handoff::default()).await;
    let mut ids: Vec<_> = conversation
        .messages
        .iter()
        .chain(&added)
        .map(|m| m.id)
        .collect();
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), count, "message ids are unique");
}

/// A turn after a partial restore still runs.
pub async fn turn_with_a_handoff_report(harness: &dyn Harness) {
    let handoff = Handoff {
        applied: 3,
        not_applied: vec![NotApplied {
            path: "src/lib.rs".to_owned(),
            reason: "changed in this checkout; 1 overlapping edit(s) conflict with the snapshot"
                .to_owned(),
        }],
        warnings: vec![],
    };
    assert!(handoff.note().contains("not applied: src/lib.rs"));
    let (_, added) = run(harness, &handoff).await;
    assert!(added.iter().any(|m| m.role == Role::Assistant));
}
