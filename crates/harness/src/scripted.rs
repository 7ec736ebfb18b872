//! [`ScriptedHarness`]: a deterministic harness for examples and tests. Its
//! behaviour is a function of the turn, so tests can assert what the agent
//! saw (files restored before it answered, the handoff report) and make it
//! change files or fail on purpose.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use handoff_conversation::{Message, Role};

use crate::{Adapter, AdapterConfig, Direction, DynHarness, Harness, HarnessKind, Result, Turn};

/// What a scripted turn does: returns the agent's reply text (the prompt
/// message is added by the harness) or an error.
pub type TurnFn = dyn Fn(&Turn<'_>) -> Result<String> + Send + Sync;

/// A harness whose turns run a function.
#[derive(Clone)]
pub struct ScriptedHarness {
    kind: HarnessKind,
    directions: Vec<Direction>,
    turn: Arc<TurnFn>,
}

impl fmt::Debug for ScriptedHarness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScriptedHarness")
            .field("kind", &self.kind)
            .field("directions", &self.directions)
            .finish_non_exhaustive()
    }
}

impl ScriptedHarness {
    /// A harness named `name` supporting every direction, running `turn`.
    pub fn new(
        name: &str,
        turn: impl Fn(&Turn<'_>) -> Result<String> + Send + Sync + 'static,
    ) -> Self {
        Self {
            kind: HarnessKind::new(name),
            directions: Direction::ALL.to_vec(),
            turn: Arc::new(turn),
        }
    }

    /// Replies `echo: <prompt>`.
    pub fn echo(name: &str) -> Self {
        Self::new(name, |turn| Ok(format!("echo: {}", turn.prompt)))
    }

    /// Pretends to be another kind of harness (by name), for tests of
    /// what the engine records.
    pub fn as_kind(mut self, kind: HarnessKind) -> Self {
        self.kind = kind;
        self
    }

    /// Supports only `directions`, for coverage tests.
    pub fn with_directions(mut self, directions: &[Direction]) -> Self {
        self.directions = directions.to_vec();
        self
    }
}

#[async_trait]
impl Harness for ScriptedHarness {
    fn kind(&self) -> HarnessKind {
        self.kind.clone()
    }

    fn directions(&self) -> Vec<Direction> {
        self.directions.clone()
    }

    /// A script does what it says, nothing more: it keeps to every level.
    fn honours(&self, _level: crate::Permissions) -> crate::Honour {
        crate::Honour::Agent(crate::confine::Nesting::None)
    }

    async fn run_turn(&self, turn: Turn<'_>) -> Result<Vec<Message>> {
        let reply = (self.turn)(&turn)?;
        Ok(vec![
            Message::text(Role::User, turn.prompt),
            Message::text(Role::Assistant, reply),
        ])
    }
}

/// The scripted harness's registration: a stand-in agent that says what
/// it received, for trying handoff without an agent.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ScriptedAdapter;

impl Adapter for ScriptedAdapter {
    fn kind(&self) -> HarnessKind {
        HarnessKind::from_static("scripted")
    }

    fn harness(&self, _config: &AdapterConfig) -> Result<Arc<DynHarness>> {
        Ok(Arc::new(ScriptedHarness::new("scripted", |turn| {
            let restored = turn.handoff.applied;
            let not = turn.handoff.not_applied.len();
            Ok(format!(
                "(scripted agent) received {:?} with {} earlier messages; {restored} change(s) restored, {not} not applied",
                turn.prompt,
                turn.conversation.messages.len()
            ))
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conformance() {
        crate::testing::harness_conformance(&ScriptedHarness::echo("scripted")).await;
        crate::testing::harness_conformance(
            &ScriptedHarness::echo("scripted").as_kind(HarnessKind::from_static("pretender")),
        )
        .await;
    }
}
