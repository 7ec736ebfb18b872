//! `handoff import` and `handoff export`: native agent sessions to and from
//! stored handoff conversations.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use handoff_claude_code::{paths, session};
use handoff_conversation::{Conversation, ConversationId, Mode};
use serde_json::json;

use crate::args::{ExportArgs, ImportArgs};

fn absolute(dir: &Path) -> anyhow::Result<String> {
    Ok(std::fs::canonicalize(dir)
        .with_context(|| format!("cannot open {}", dir.display()))?
        .to_string_lossy()
        .into_owned())
}

fn claude_home(home: Option<&Path>) -> anyhow::Result<PathBuf> {
    paths::config_dir(home)
        .context("no Claude Code config dir: pass --home, or set CLAUDE_CONFIG_DIR or HOME")
}

/// Reads a native session named by id or `latest` (for `cwd`).
pub fn read_session(
    harness: &str,
    which: &str,
    cwd: &Path,
    home: Option<&Path>,
) -> anyhow::Result<(Conversation, PathBuf)> {
    if harness == "codex" {
        let home = handoff_codex::codex_home(home)
            .context("no Codex home: pass --home, or set CODEX_HOME or HOME")?;
        let cwd = absolute(cwd)?;
        let file = if which == "latest" {
            handoff_codex::find_latest(&home, &cwd)?
        } else {
            handoff_codex::find_by_id(&home, which)?
        };
        let (conversation, _) = handoff_codex::read_file(&file, Mode::Lenient)?;
        return Ok((conversation, file));
    }
    if harness != "claude-code" {
        bail!("native sessions of {harness:?} cannot be read (supported: claude-code, codex)");
    }
    let config = claude_home(home)?;
    let cwd = absolute(cwd)?;
    let file = if which == "latest" {
        session::find_latest(&config, &cwd)?
    } else {
        session::find_by_id(&config, which, Some(&cwd))?
    };
    let (conversation, skipped) = session::read_file(&file, Mode::Lenient)?;
    for s in &skipped {
        writeln!(
            std::io::stderr().lock(),
            "handoff: warning: {}: line {} skipped: {}",
            file.display(),
            s.line,
            s.reason
        )?;
    }
    Ok((conversation, file))
}

/// `handoff import`.
pub async fn import(store_flag: Option<&str>, args: ImportArgs) -> anyhow::Result<u8> {
    let (conversation, file) = match (&args.file, &args.session) {
        (Some(file), _) => match args.harness.as_str() {
            "claude-code" => (session::read_file(file, Mode::Strict)?.0, file.clone()),
            "codex" => (
                handoff_codex::read_file(file, Mode::Strict)?.0,
                file.clone(),
            ),
            other => {
                bail!("native sessions of {other:?} cannot be read (supported: claude-code, codex)")
            }
        },
        (None, Some(which)) => read_session(&args.harness, which, &args.cwd, args.home.as_deref())?,
        (None, None) => bail!("give a session FILE or --session ID|latest"),
    };
    let store = super::open_store(store_flag)?;
    let digest = handoff_engine::conversations::save_named(&*store, &conversation).await?;
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
    let store = super::open_store(store_flag)?;
    let conversation = handoff_engine::conversations::load_named(&*store, id).await?;
    let cwd = absolute(&args.cwd)?;
    let session_id = conversation.id.to_string();
    let (file, resume) = match args.harness.as_str() {
        "claude-code" => {
            let config = claude_home(args.home.as_deref())?;
            let file = session::install(&conversation, &config, &cwd, &session_id)?;
            (file, format!("claude --resume {session_id}"))
        }
        "codex" => {
            let home = handoff_codex::codex_home(args.home.as_deref())
                .context("no Codex home: pass --home, or set CODEX_HOME or HOME")?;
            let file = handoff_codex::install(&conversation, &home, &cwd, &session_id)?;
            (file, format!("codex resume {session_id}"))
        }
        other => {
            bail!("conversations cannot be installed for {other:?} (supported: claude-code, codex)")
        }
    };
    if args.json {
        super::print_json(&json!({"session": session_id, "file": file}))?;
    } else {
        let mut out = super::stdout();
        writeln!(out, "{session_id}\t{}", file.display())?;
        writeln!(out, "resume with: (cd {cwd} && {resume})")?;
    }
    Ok(0)
}

/// Installs `conversation` as a native session of `harness` for the
/// working directory `cwd`, when that harness has native sessions; returns
/// the file and the command that resumes it.
pub fn install_for(
    harness: &str,
    conversation: &Conversation,
    cwd: &Path,
) -> anyhow::Result<Option<(PathBuf, String)>> {
    let id = conversation.id.to_string();
    match harness {
        "claude-code" => {
            let config = claude_home(None)?;
            let cwd = absolute(cwd)?;
            Ok(Some((
                session::install(conversation, &config, &cwd, &id)?,
                format!("claude --resume {id}"),
            )))
        }
        "codex" => {
            let home =
                handoff_codex::codex_home(None).context("no Codex home: set CODEX_HOME or HOME")?;
            let cwd = absolute(cwd)?;
            Ok(Some((
                handoff_codex::install(conversation, &home, &cwd, &id)?,
                format!("codex resume {id}"),
            )))
        }
        _ => Ok(None),
    }
}
