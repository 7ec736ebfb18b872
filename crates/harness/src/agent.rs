//! How an agent runs a turn, chosen per session and recorded in the run:
//! [`Permissions`] (what it may do without asking) and the model.
//!
//! Each adapter maps a permission level to its own CLI's flags as data
//! ([`Grants`]); the engine only passes the level along.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::confine::Nesting;

/// What an agent may do without asking. Ordered from least to most.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Permissions {
    /// Read files and run read-only commands; no edits.
    ReadOnly,
    /// Edit files and run commands inside the workspace (the default for
    /// cloud sessions).
    #[default]
    Edits,
    /// No prompts and no sandbox: only where the environment itself
    /// isolates the agent.
    Full,
}

impl Permissions {
    /// Every level, least first.
    pub const ALL: [Permissions; 3] =
        [Permissions::ReadOnly, Permissions::Edits, Permissions::Full];

    /// The name used on the command line and in run records.
    pub fn name(self) -> &'static str {
        match self {
            Permissions::ReadOnly => "read-only",
            Permissions::Edits => "edits",
            Permissions::Full => "full",
        }
    }
}

impl fmt::Display for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A permission level name that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission level {input:?} (expected edits, full or read-only)")]
pub struct UnknownPermissions {
    /// What was given.
    pub input: String,
}

impl FromStr for Permissions {
    type Err = UnknownPermissions;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Permissions::ALL
            .into_iter()
            .find(|level| level.name() == text)
            .ok_or_else(|| UnknownPermissions {
                input: text.chars().take(64).collect(),
            })
    }
}

/// How an agent runs a session's turns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentOptions {
    /// What the agent may do without asking.
    pub permissions: Permissions,
    /// The model, as the agent's CLI names it (`None`: the agent's own
    /// default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Whether a sandboxed agent has the network (ignored without a
    /// sandbox).
    #[serde(skip_serializing_if = "is_host")]
    pub network: crate::Network,
}

fn is_host(network: &crate::Network) -> bool {
    *network == crate::Network::Host
}

/// What one permission level means to an agent's CLI: arguments and
/// environment variables, and whether the CLI then sandboxes its own
/// commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// Arguments that grant it.
    pub args: &'static [&'static str],
    /// Environment variables that grant it.
    pub env: &'static [(&'static str, &'static str)],
    /// [`Nesting::AgentSandbox`] when the CLI runs its commands in a
    /// bubblewrap sandbox of its own at this level.
    pub nesting: Nesting,
}

/// Who keeps an agent to a permission level: an adapter's answer for each
/// level ([`Harness::honours`](crate::Harness::honours)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Honour {
    /// The agent's own CLI does (its [`Grant`]), and so does the sandbox
    /// where there is one; the CLI needs this much nesting inside it.
    Agent(Nesting),
    /// Only the sandbox does (it mounts the workspace read-only): a worker
    /// without one refuses the session.
    SandboxOnly,
    /// Nobody can: the level is refused at push time.
    Refused {
        /// Why.
        reason: String,
    },
}

/// How an agent's CLI grants each permission level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grants {
    /// For [`Permissions::ReadOnly`].
    pub read_only: Grant,
    /// For [`Permissions::Edits`].
    pub edits: Grant,
    /// For [`Permissions::Full`].
    pub full: Grant,
}

impl Grants {
    /// What grants `level`.
    pub fn of(&self, level: Permissions) -> &Grant {
        match level {
            Permissions::ReadOnly => &self.read_only,
            Permissions::Edits => &self.edits,
            Permissions::Full => &self.full,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_order_by_power() {
        for level in Permissions::ALL {
            assert_eq!(level.name().parse::<Permissions>(), Ok(level));
            assert_eq!(
                serde_json::to_value(level).unwrap(),
                serde_json::json!(level.name())
            );
        }
        assert!(
            Permissions::ReadOnly < Permissions::Edits && Permissions::Edits < Permissions::Full
        );
        assert_eq!(Permissions::default(), Permissions::Edits);
        assert_eq!(
            "root".parse::<Permissions>().unwrap_err().to_string(),
            "unknown permission level \"root\" (expected edits, full or read-only)"
        );
    }

    #[test]
    fn options_missing_from_old_records_are_the_defaults() {
        let old: AgentOptions = serde_json::from_str("{}").unwrap();
        assert_eq!(old, AgentOptions::default());
        let set = AgentOptions {
            permissions: Permissions::ReadOnly,
            model: Some("m".into()),
            network: crate::Network::Host,
        };
        let text = serde_json::to_string(&set).unwrap();
        assert_eq!(text, r#"{"permissions":"read-only","model":"m"}"#);
    }
}
