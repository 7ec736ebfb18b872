//! [`ScriptedHarness`]: a deterministic harness for examples and tests. Its
//! behaviour is a function of the turn, so tests can assert what the agent
//! saw (files restored before it answered, the handoff report) and make it
//! change files or fail on purpose.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use handoff_conversation::{Message, Role};

use crate::{Direction, Harness, HarnessKind, Result, Turn};

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
            kind: HarnessKind::Other(name.to_owned()),
            directions: Direction::ALL.to_vec(),
            turn: Arc::new(turn),
        }
    }

    /// Replies `echo: <prompt>`.
    pub fn echo(name: &str) -> Self {
        Self::new(name, |turn| Ok(format!("echo: {}", turn.prompt)))
    }

    /// Pretends to be another kind of harness (its directions follow the
    /// coverage matrix for that kind), for coverage tests.
    pub fn as_kind(mut self, kind: HarnessKind) -> Self {
        self.directions = crate::coverage::directions_of(&kind).to_vec();
        self.kind = kind;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conformance() {
        crate::testing::harness_conformance(&ScriptedHarness::echo("scripted")).await;
        crate::testing::harness_conformance(
            &ScriptedHarness::echo("scripted").as_kind(HarnessKind::ClaudeCode),
        )
        .await;
    }
}
