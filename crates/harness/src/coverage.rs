//! Which harness supports which direction of handoff — as data each
//! harness declares ([`Harness::directions`]).
//!
//! The engine asks [`check`] before it creates anything; an unsupported
//! direction is [`Error::Unsupported`] naming the harness and the direction.
//! Adding a direction for a harness is a line in its adapter, not an `if`
//! in the engine.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Error, Harness, Result};

/// A direction of handoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Fork a local conversation into a new cloud run.
    LocalToCloud,
    /// Follow up on a cloud run in the same conversation.
    CloudToCloud,
    /// Fork a cloud conversation into a local session.
    CloudToLocal,
}

impl Direction {
    /// Every direction.
    pub const ALL: [Direction; 3] = [
        Direction::LocalToCloud,
        Direction::CloudToCloud,
        Direction::CloudToLocal,
    ];
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::LocalToCloud => "local→cloud",
            Direction::CloudToCloud => "cloud→cloud",
            Direction::CloudToLocal => "cloud→local",
        })
    }
}

/// How an agent gets the conversation so far when a turn starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum HistoryLoading {
    /// Its CLI resumes a native session the adapter installs, holding the
    /// whole history.
    Native,
    /// Its CLI continues a conversation its own service keeps, when the
    /// conversation records one; whatever that conversation lacks (all of
    /// it, when there is none) reaches the agent as a rendered document
    /// ([`crate::history`]).
    ResumeOrDocument,
    /// A rendered document the agent is pointed to in the prompt.
    Document,
}

/// Whether `harness` supports `direction`; the typed error names both.
pub fn check(harness: &dyn Harness, direction: Direction) -> Result<()> {
    if harness.directions().contains(&direction) {
        Ok(())
    } else {
        Err(Error::Unsupported {
            harness: harness.kind(),
            direction,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScriptedHarness;

    #[test]
    fn a_harness_supports_what_it_declares() {
        let all = ScriptedHarness::echo("all");
        for direction in Direction::ALL {
            assert!(check(&all, direction).is_ok(), "{direction}");
        }
        let push_only =
            ScriptedHarness::echo("push-only").with_directions(&[Direction::LocalToCloud]);
        assert!(check(&push_only, Direction::LocalToCloud).is_ok());
        let err = check(&push_only, Direction::CloudToLocal).unwrap_err();
        assert_eq!(
            err.to_string(),
            "push-only does not support cloud→local handoff"
        );
    }
}
