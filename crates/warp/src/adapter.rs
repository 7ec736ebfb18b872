//! Warp's registration ([`WarpAdapter`]): [`WarpHarness`] runs its turns,
//! and [`WarpSessions`] reads the local conversations of Warp's database
//! and says how to open a continued one in Warp. Nothing is installed:
//! handoff never writes Warp's database.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use handoff_conversation::Conversation;
use handoff_harness::sessions::{Found, Installed, OpenLink, Sessions, Which};
use handoff_harness::{Adapter, AdapterConfig, DynHarness, Error, HarnessKind, Result};

use crate::{KIND, OpenOptions, WarpHarness, open_url, server_conversation};

/// Warp's adapter, for a registry.
#[derive(Debug, Clone, Copy, Default)]
pub struct WarpAdapter;

impl Adapter for WarpAdapter {
    fn kind(&self) -> HarnessKind {
        KIND
    }

    fn harness(&self, _config: &AdapterConfig) -> Result<Arc<DynHarness>> {
        Ok(Arc::new(WarpHarness::locate()))
    }

    fn sessions(&self) -> Option<Arc<dyn Sessions>> {
        Some(Arc::new(WarpSessions))
    }
}

/// The local conversations in Warp's `warp.sqlite`, read-only.
#[derive(Debug, Clone, Copy, Default)]
pub struct WarpSessions;

impl WarpSessions {
    fn import(&self, databases: &[PathBuf], which: crate::Which<'_>) -> Result<Found> {
        let imported =
            crate::import(databases, which, &OpenOptions::default()).map_err(|source| {
                Error::Session {
                    action: "read",
                    harness: KIND,
                    path: databases.first().cloned().unwrap_or_default(),
                    source: Box::new(source),
                }
            })?;
        let database = imported.row.database.clone();
        let warnings = imported
            .problems
            .iter()
            .map(|problem| {
                format!(
                    "{}: task {} (row {}) skipped: {}",
                    database.display(),
                    problem.task_id,
                    problem.row,
                    problem.reason
                )
            })
            .collect();
        Ok(Found {
            conversation: imported.conversation,
            file: database,
            warnings,
        })
    }
}

impl Sessions for WarpSessions {
    /// `home` is Warp's state directory holding `warp.sqlite` (or the file
    /// itself); by default Warp's own. The latest conversation is the
    /// newest Warp did not record as started outside `cwd`.
    fn read(&self, which: Which<'_>, cwd: &Path, home: Option<&Path>) -> Result<Found> {
        let databases = crate::paths::databases(home);
        match which {
            Which::Id(id) => self.import(&databases, crate::Which::Id(id)),
            Which::Latest => {
                let cwd = std::fs::canonicalize(cwd).map_err(|source| Error::Io {
                    action: "resolve the working directory",
                    harness: KIND,
                    source,
                })?;
                self.import(&databases, crate::Which::Latest(Some(&cwd)))
            }
        }
    }

    /// The latest conversation of the database `file`.
    fn read_file(&self, file: &Path) -> Result<Found> {
        self.import(
            std::slice::from_ref(&file.to_owned()),
            crate::Which::Latest(None),
        )
    }

    fn install(
        &self,
        _conversation: &Conversation,
        _cwd: &Path,
        _home: Option<&Path>,
    ) -> Result<Installed> {
        Err(Error::NotInstallable {
            harness: KIND,
            reason: "handoff never writes into Warp's database; a Warp conversation continues in Warp by its warp:// link".to_owned(),
        })
    }

    fn open_link(&self, conversation: &Conversation) -> Option<OpenLink> {
        server_conversation(conversation).map(|server| OpenLink {
            app: "Warp".to_owned(),
            url: open_url(server.token),
            messages_since: conversation.messages.len().saturating_sub(server.known),
        })
    }
}
