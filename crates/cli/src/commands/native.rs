//! `handoff import` and `handoff export`: native agent sessions to and from
//! stored handoff conversations, through the adapter's [`Sessions`] — the
//! same calls whichever agent it is. Warp's local conversations are read
//! from its database and never written: a conversation continued locally
//! in Warp is opened by its server link instead.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::bail;
use handoff_conversation::{Conversation, ConversationId};
use handoff_harness::sessions::{Found, Installed, OpenLink, Sessions, Which};
use handoff_harness::{Adapter, Error};
use serde_json::json;

use crate::args::{ExportArgs, ImportArgs};

/// The native sessions of `adapter`; an error naming it when it keeps none.
fn sessions_of(adapter: &dyn Adapter) -> anyhow::Result<Arc<dyn Sessions>> {
    adapter.sessions().ok_or_else(|| {
        Error::NoSessions {
            harness: adapter.kind(),
        }
        .into()
    })
}

/// Prints what reading a session skipped.
fn warn(found: &Found) -> anyhow::Result<()> {
    for warning in &found.warnings {
        writeln!(std::io::stderr().lock(), "handoff: warning: {warning}")?;
    }
    Ok(())
}

/// Reads `adapter`'s native session named by id or `latest` (for `cwd`),
/// printing what it skipped.
pub fn read_session(
    adapter: &dyn Adapter,
    which: &str,
    cwd: &Path,
    home: Option<&Path>,
) -> anyhow::Result<(Conversation, PathBuf)> {
    let found = sessions_of(adapter)?.read(Which::parse(which), cwd, home)?;
    warn(&found)?;
    Ok((found.conversation, found.file))
}

/// `handoff import`.
pub async fn import(store_flag: Option<&str>, args: ImportArgs) -> anyhow::Result<u8> {
    let adapter = crate::harness::adapter(&args.harness)?;
    let (conversation, file) = match (&args.file, &args.session) {
        (Some(file), _) => {
            let found = sessions_of(&*adapter)?.read_file(file)?;
            warn(&found)?;
            (found.conversation, found.file)
        }
        (None, Some(which)) => read_session(&*adapter, which, &args.cwd, args.home.as_deref())?,
        (None, None) => bail!("give a session FILE or --session ID|latest"),
    };
    let store = super::open_store(store_flag)?;
    let digest = handoff_engine::conversations::import(&*store, &conversation, args.allow_secrets)
        .await
        .map_err(|e| {
            super::stopped_by_secrets(
                "import",
                "take them out of the session or pass --allow-secrets",
                e.into(),
            )
        })?;
    if args.json {
        super::print_json(
            &json!({"conversation": conversation.id.to_string(), "blob": digest.to_string(), "messages": conversation.messages.len(), "from": file}),
        )?;
    } else {
        writeln!(super::stdout(), "{}", conversation.id)?;
    }
    Ok(0)
}

/// `handoff export`.
pub async fn export(store_flag: Option<&str>, args: ExportArgs) -> anyhow::Result<u8> {
    let id: ConversationId = args.conversation.parse()?;
    let adapter = crate::harness::adapter(&args.harness)?;
    let sessions = sessions_of(&*adapter)?;
    let store = super::open_store(store_flag)?;
    let conversation = handoff_engine::conversations::load_named(&*store, id).await?;
    let installed = match sessions.install(&conversation, &args.cwd, args.home.as_deref()) {
        Err(error @ Error::NotInstallable { .. }) => bail!(
            "{error}; continue the run with `handoff continue-locally RUN`, which prints how to open it"
        ),
        other => other?,
    };
    let cwd = std::fs::canonicalize(&args.cwd)?;
    let Installed {
        session,
        file,
        resume,
    } = installed;
    let forked = session != conversation.id.to_string();
    if args.json {
        super::print_json(&json!({
            "session": session,
            "file": file,
            "forked_from": forked.then(|| conversation.id.to_string()),
        }))?;
    } else {
        let mut out = super::stdout();
        writeln!(out, "{session}\t{}", file.display())?;
        if forked {
            writeln!(
                out,
                "session {} already exists there; installed a fork with a new id",
                conversation.id
            )?;
        }
        writeln!(out, "resume with: (cd {} && {resume})", cwd.display())?;
    }
    Ok(0)
}

/// Installs `conversation` as a native session of `adapter` for the
/// working directory `cwd`, when that agent's sessions are installed here
/// (never over an existing one); returns the file and the command that
/// resumes it.
pub fn install_for(
    adapter: &dyn Adapter,
    conversation: &Conversation,
    cwd: &Path,
) -> anyhow::Result<Option<(PathBuf, String)>> {
    let Some(sessions) = adapter.sessions() else {
        return Ok(None);
    };
    match sessions.install(conversation, cwd, None) {
        Err(Error::NotInstallable { .. }) => Ok(None),
        other => {
            let installed = other?;
            Ok(Some((installed.file, installed.resume)))
        }
    }
}

/// How to open `conversation` in the app of an agent whose conversations
/// live on its own service (Warp). Nothing is installed.
pub fn open_link(adapter: &dyn Adapter, conversation: &Conversation) -> Option<OpenLink> {
    adapter.sessions()?.open_link(conversation)
}
