//! `handoff import` and `handoff export`: native agent sessions to and from
//! stored handoff conversations. Warp's local conversations are read from
//! its database and never written: a conversation continued locally in
//! Warp is opened by its server link instead.

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

/// Reads a Warp conversation from the databases under `home` (or Warp's
/// own state directories), warning about tasks that could not be read.
fn read_warp(
    databases: &[PathBuf],
    which: handoff_warp::Which<'_>,
) -> anyhow::Result<(Conversation, PathBuf)> {
    let imported = handoff_warp::import(databases, which, &handoff_warp::OpenOptions::default())?;
    for problem in &imported.problems {
        writeln!(
            std::io::stderr().lock(),
            "handoff: warning: {}: task {} (row {}) skipped: {}",
            imported.row.database.display(),
            problem.task_id,
            problem.row,
            problem.reason
        )?;
    }
    Ok((imported.conversation, imported.row.database))
}

/// Reads a native session named by id or `latest` (for `cwd`).
pub fn read_session(
    harness: &str,
    which: &str,
    cwd: &Path,
    home: Option<&Path>,
) -> anyhow::Result<(Conversation, PathBuf)> {
    if harness == "warp" {
        let databases = handoff_warp::paths::databases(home);
        let cwd = PathBuf::from(absolute(cwd)?);
        let which = if which == "latest" {
            handoff_warp::Which::Latest(Some(&cwd))
        } else {
            handoff_warp::Which::Id(which)
        };
        return read_warp(&databases, which);
    }
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
        bail!(
            "native sessions of {harness:?} cannot be read (supported: claude-code, codex, warp)"
        );
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
            "warp" => read_warp(
                std::slice::from_ref(file),
                handoff_warp::Which::Latest(None),
            )?,
            other => {
                bail!(
                    "native sessions of {other:?} cannot be read (supported: claude-code, codex, warp)"
                )
            }
        },
        (None, Some(which)) => read_session(&args.harness, which, &args.cwd, args.home.as_deref())?,
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

/// `conversation` as it can be installed as a native session of `harness`
/// in `home` without overwriting one that is there: itself when its id is
/// free, else a fork with a new id (which records its origin where the
/// format has a field for it, such as Codex's `forked_from_id`).
fn free_session(
    harness: &str,
    conversation: &Conversation,
    home: &Path,
) -> anyhow::Result<Conversation> {
    let id = conversation.id.to_string();
    let taken = match harness {
        "claude-code" => session::find_by_id(home, &id, None).is_ok(),
        "codex" => handoff_codex::find_by_id(home, &id).is_ok(),
        _ => false,
    };
    if taken {
        Ok(conversation.fork(None)?)
    } else {
        Ok(conversation.clone())
    }
}

/// Installs `conversation` as a native session of `harness` for `cwd`
/// (absolute) under `home`, never over an existing session; returns the
/// session id, the file and the command that resumes it.
fn install_native(
    harness: &str,
    conversation: &Conversation,
    home: &Path,
    cwd: &str,
) -> anyhow::Result<(String, PathBuf, String)> {
    let conversation = free_session(harness, conversation, home)?;
    let id = conversation.id.to_string();
    match harness {
        "claude-code" => {
            let file = session::install(&conversation, home, cwd, &id)?;
            Ok((id.clone(), file, format!("claude --resume {id}")))
        }
        "codex" => {
            let file = handoff_codex::install(&conversation, home, cwd, &id)?;
            Ok((id.clone(), file, format!("codex resume {id}")))
        }
        other => {
            bail!("conversations cannot be installed for {other:?} (supported: claude-code, codex)")
        }
    }
}

fn native_home(harness: &str, home: Option<&Path>) -> anyhow::Result<PathBuf> {
    match harness {
        "codex" => handoff_codex::codex_home(home)
            .context("no Codex home: pass --home, or set CODEX_HOME or HOME"),
        _ => claude_home(home),
    }
}

/// `handoff export`.
pub async fn export(store_flag: Option<&str>, args: ExportArgs) -> anyhow::Result<u8> {
    let id: ConversationId = args.conversation.parse()?;
    let store = super::open_store(store_flag)?;
    let conversation = handoff_engine::conversations::load_named(&*store, id).await?;
    let cwd = absolute(&args.cwd)?;
    if args.harness == "warp" {
        bail!(
            "handoff never writes into Warp's database; continue a Warp run with `handoff continue-locally RUN --harness warp`, which prints how to open it in Warp"
        );
    }
    if !matches!(args.harness.as_str(), "claude-code" | "codex") {
        bail!(
            "conversations cannot be installed for {:?} (supported: claude-code, codex)",
            args.harness
        );
    }
    let home = native_home(&args.harness, args.home.as_deref())?;
    let (session_id, file, resume) = install_native(&args.harness, &conversation, &home, &cwd)?;
    if args.json {
        super::print_json(&json!({
            "session": session_id,
            "file": file,
            "forked_from": (session_id != conversation.id.to_string()).then(|| conversation.id.to_string()),
        }))?;
    } else {
        let mut out = super::stdout();
        writeln!(out, "{session_id}\t{}", file.display())?;
        if session_id != conversation.id.to_string() {
            writeln!(
                out,
                "session {} already exists there; installed a fork with a new id",
                conversation.id
            )?;
        }
        writeln!(out, "resume with: (cd {cwd} && {resume})")?;
    }
    Ok(0)
}

/// Installs `conversation` as a native session of `harness` for the
/// working directory `cwd`, when that harness has native sessions (never
/// over an existing one); returns the file and the command that resumes it.
pub fn install_for(
    harness: &str,
    conversation: &Conversation,
    cwd: &Path,
) -> anyhow::Result<Option<(PathBuf, String)>> {
    if !matches!(harness, "claude-code" | "codex") {
        return Ok(None);
    }
    let home = native_home(harness, None)?;
    let cwd = absolute(cwd)?;
    let (_, file, resume) = install_native(harness, conversation, &home, &cwd)?;
    Ok(Some((file, resume)))
}

/// How to open `conversation` in the app of a `harness` whose conversations
/// live on its own service (Warp): the app, the link, and how many of the
/// conversation's messages came after what that service holds. Nothing is
/// installed.
pub fn open_link(
    harness: &str,
    conversation: &Conversation,
) -> Option<(&'static str, String, usize)> {
    match harness {
        "warp" => handoff_warp::server_conversation(conversation).map(|s| {
            (
                "Warp",
                handoff_warp::open_url(s.token),
                conversation.messages.len() - s.known,
            )
        }),
        _ => None,
    }
}
