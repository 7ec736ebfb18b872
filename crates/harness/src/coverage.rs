//! Which harness supports which direction of handoff — as data.
//!
//! The engine asks [`check`] before it creates anything; an unsupported
//! direction is [`Error::Unsupported`] naming the harness and the direction.
//! Adding a direction for a harness is a line in [`COVERAGE`], not an `if`
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

/// Which agent a harness drives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HarnessKind {
    /// Warp's agent.
    Warp,
    /// Anthropic's Claude Code.
    ClaudeCode,
    /// OpenAI's Codex CLI.
    Codex,
    /// Any other harness, by name (the command and scripted harnesses).
    Other(String),
}

impl HarnessKind {
    /// The name used in records and on the command line.
    pub fn name(&self) -> &str {
        match self {
            HarnessKind::Warp => "warp",
            HarnessKind::ClaudeCode => "claude-code",
            HarnessKind::Codex => "codex",
            HarnessKind::Other(name) => name,
        }
    }

    /// The kind a name denotes.
    pub fn from_name(name: &str) -> Self {
        match name {
            "warp" => HarnessKind::Warp,
            "claude-code" => HarnessKind::ClaudeCode,
            "codex" => HarnessKind::Codex,
            other => HarnessKind::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for HarnessKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The coverage matrix for the named agents. Built-in harnesses of other
/// kinds declare their own directions.
pub const COVERAGE: &[(&str, &[Direction])] = &[
    (
        "warp",
        &[
            Direction::LocalToCloud,
            Direction::CloudToCloud,
            Direction::CloudToLocal,
        ],
    ),
    // Claude Code's adapter carries its native transcript, so a local Claude
    // Code session can be pushed too (beyond the seed matrix).
    (
        "claude-code",
        &[
            Direction::LocalToCloud,
            Direction::CloudToCloud,
            Direction::CloudToLocal,
        ],
    ),
    // Likewise Codex: its adapter carries the native rollout.
    (
        "codex",
        &[
            Direction::LocalToCloud,
            Direction::CloudToCloud,
            Direction::CloudToLocal,
        ],
    ),
];

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

/// How each named agent gets its history; kinds not listed (the command
/// harness, anything named) get [`HistoryLoading::Document`].
pub const HISTORY: &[(&str, HistoryLoading)] = &[
    ("warp", HistoryLoading::ResumeOrDocument),
    ("claude-code", HistoryLoading::Native),
    ("codex", HistoryLoading::Native),
];

/// How the matrix says an agent of `kind` gets its history.
pub fn history_of(kind: &HarnessKind) -> HistoryLoading {
    HISTORY
        .iter()
        .find(|(name, _)| *name == kind.name())
        .map_or(HistoryLoading::Document, |(_, loading)| *loading)
}

/// The directions the matrix gives a kind (none for kinds it does not list).
pub fn directions_of(kind: &HarnessKind) -> &'static [Direction] {
    COVERAGE
        .iter()
        .find(|(name, _)| *name == kind.name())
        .map_or(&[], |(_, directions)| directions)
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

    #[test]
    fn the_seed_matrix() {
        use Direction::*;
        for (kind, direction, supported) in [
            (HarnessKind::Warp, LocalToCloud, true),
            (HarnessKind::Warp, CloudToCloud, true),
            (HarnessKind::Warp, CloudToLocal, true),
            (HarnessKind::ClaudeCode, LocalToCloud, true),
            (HarnessKind::ClaudeCode, CloudToCloud, true),
            (HarnessKind::ClaudeCode, CloudToLocal, true),
            (HarnessKind::Codex, LocalToCloud, true),
            (HarnessKind::Codex, CloudToCloud, true),
            (HarnessKind::Codex, CloudToLocal, true),
        ] {
            assert_eq!(
                directions_of(&kind).contains(&direction),
                supported,
                "{kind} {direction}"
            );
        }
        assert!(directions_of(&HarnessKind::Other("x".into())).is_empty());
        assert_eq!(
            HarnessKind::from_name("claude-code"),
            HarnessKind::ClaudeCode
        );
        assert_eq!(HarnessKind::from_name("mine").name(), "mine");
    }

    #[test]
    fn history_loading_is_declared_per_kind() {
        assert_eq!(
            history_of(&HarnessKind::Warp),
            HistoryLoading::ResumeOrDocument
        );
        assert_eq!(history_of(&HarnessKind::ClaudeCode), HistoryLoading::Native);
        assert_eq!(history_of(&HarnessKind::Codex), HistoryLoading::Native);
        assert_eq!(
            history_of(&HarnessKind::Other("command".into())),
            HistoryLoading::Document
        );
    }
}
