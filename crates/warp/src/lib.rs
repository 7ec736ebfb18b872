//! The Warp Agent adapter.
//!
//! [`WarpHarness`] reports itself as [`HarnessKind::Warp`], so the coverage
//! matrix gives it all three directions. Its turns run Warp's agent CLI,
//! located on `PATH` as `oz` (then `warp`), or at an explicit path: the
//! prompt on standard input, the conversation as a `handoff.conversation/v1`
//! JSONL file named by `HANDOFF_CONVERSATION` (Warp's conversations are
//! carried in handoff's own format; no public Warp transcript format is
//! relied on), the run's workspace as the working directory, and the reply
//! from standard output. When no CLI is installed, a turn fails with an
//! error that says which program was looked for and how to install it;
//! pushing a Warp conversation to the cloud needs no local CLI.
//!
//! # Example
//!
//! ```
//! use handoff_harness::{Direction, Harness, HarnessKind};
//! use handoff_warp::WarpHarness;
//!
//! let warp = WarpHarness::at(None);
//! assert_eq!(warp.kind(), HarnessKind::Warp);
//! assert_eq!(warp.directions().len(), 3);
//! assert!(handoff_harness::coverage::check(&warp, Direction::LocalToCloud).is_ok());
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use handoff_conversation::Message;
use handoff_harness::{CommandHarness, Error, Harness, HarnessKind, Result, Turn};

/// The programs looked for on `PATH`, in order.
pub const PROGRAMS: &[&str] = &["oz", "warp"];

/// The Warp Agent harness.
#[derive(Debug, Clone)]
pub struct WarpHarness {
    program: Option<PathBuf>,
}

impl WarpHarness {
    /// Locates Warp's agent CLI on `PATH`.
    pub fn locate() -> Self {
        Self::at(handoff_harness::session_file::find_on_path(PROGRAMS))
    }

    /// Uses the CLI at `program` (`None`: not installed).
    pub fn at(program: Option<PathBuf>) -> Self {
        Self { program }
    }

    /// The CLI this harness runs, if any.
    pub fn program(&self) -> Option<&Path> {
        self.program.as_deref()
    }
}

#[async_trait]
impl Harness for WarpHarness {
    fn kind(&self) -> HarnessKind {
        HarnessKind::Warp
    }

    async fn run_turn(&self, turn: Turn<'_>) -> Result<Vec<Message>> {
        let Some(program) = &self.program else {
            return Err(Error::NotInstalled {
                program: PROGRAMS.join(" or "),
                hint: "install Warp (https://www.warp.dev) and its agent CLI, or pass its path"
                    .to_owned(),
            });
        };
        let args = if program.file_name().is_some_and(|n| n == "oz") {
            vec!["agent".to_owned(), "run".to_owned()]
        } else {
            vec!["agent".to_owned()]
        };
        CommandHarness::new(program, args)
            .with_kind(HarnessKind::Warp)
            .run_turn(turn)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use handoff_conversation::Conversation;
    use handoff_harness::Handoff;

    #[tokio::test]
    async fn conformance_with_a_fake_warp_cli() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("oz");
        std::fs::write(&fake, "#!/bin/sh\n[ \"$1 $2\" = \"agent run\" ] || exit 9\nprompt=$(cat)\necho \"warp says: $prompt\"\n").unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        handoff_harness::testing::harness_conformance(&WarpHarness::at(Some(fake))).await;
    }

    #[tokio::test]
    async fn a_missing_cli_says_what_to_install() {
        let work = tempfile::tempdir().unwrap();
        let conversation = Conversation::new("c", "warp");
        let turn = Turn {
            conversation: &conversation,
            prompt: "p",
            workdir: work.path(),
            attachments: &[],
            handoff: &Handoff::default(),
            agent: &handoff_harness::AgentOptions::default(),
        };
        let err = WarpHarness::at(None).run_turn(turn).await.unwrap_err();
        assert!(
            matches!(&err, Error::NotInstalled { program, .. } if program == "oz or warp"),
            "{err}"
        );
        assert!(err.to_string().contains("install Warp"), "{err}");
    }
}
