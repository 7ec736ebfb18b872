//! Finding sessions the way the CLI does, and installing a conversation so
//! that `claude --resume <id>` finds it.
//!
//! Claude Code lists a project's folder to find its sessions; it keeps no
//! separate index of transcripts that would need updating (its
//! `history.jsonl` records typed prompts for recall, not sessions), so an
//! installed transcript file is all `--resume` needs.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use handoff_conversation::{Conversation, Mode, Skipped};

use crate::paths::{project_dir, session_file};
use crate::transcript::{self, Target};
use crate::{Error, Result};

/// Reads the transcript file at `path`.
pub fn read_file(path: &Path, mode: Mode) -> Result<(Conversation, Vec<Skipped>)> {
    let file = File::open(path).map_err(|source| Error::Io {
        action: "open",
        path: path.to_owned(),
        source,
    })?;
    transcript::read(BufReader::new(file), mode, &path.display().to_string())
}

/// The transcript of session `id`: in `cwd`'s project folder when given,
/// else in any project folder.
pub fn find_by_id(config: &Path, id: &str, cwd: Option<&str>) -> Result<PathBuf> {
    if let Some(cwd) = cwd {
        let path = session_file(config, cwd, id);
        if path.is_file() {
            return Ok(path);
        }
    }
    let projects = config.join("projects");
    if let Ok(folders) = std::fs::read_dir(&projects) {
        for folder in folders.flatten() {
            let candidate = folder.path().join(format!("{id}.jsonl"));
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(Error::NoSession {
        what: format!("session {id}"),
        dir: projects,
    })
}

/// The most recently written session of `cwd`.
pub fn find_latest(config: &Path, cwd: &str) -> Result<PathBuf> {
    let dir = project_dir(config, cwd);
    let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "jsonl") {
                continue;
            }
            let Ok(modified) = entry.metadata().and_then(|m| m.modified()) else {
                continue;
            };
            if newest.as_ref().is_none_or(|(t, _)| modified > *t) {
                newest = Some((modified, path));
            }
        }
    }
    newest
        .map(|(_, path)| path)
        .ok_or_else(|| Error::NoSession {
            what: format!("a session for {cwd}"),
            dir,
        })
}

/// Writes `conversation` as session `session` for working directory `cwd`
/// (absolute) under `config`, atomically; returns the file.
pub fn install(
    conversation: &Conversation,
    config: &Path,
    cwd: &str,
    session: &str,
) -> Result<PathBuf> {
    let path = session_file(config, cwd, session);
    let dir = path
        .parent()
        .map(Path::to_owned)
        .unwrap_or_else(|| config.to_owned());
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
        action: "create",
        path: dir.clone(),
        source,
    })?;
    let mut bytes = Vec::new();
    transcript::write(
        conversation,
        &mut bytes,
        Some(&Target {
            session: session.to_owned(),
            cwd: cwd.to_owned(),
        }),
    )?;
    let tmp = dir.join(format!(".{session}.jsonl.handoff-tmp"));
    std::fs::write(&tmp, &bytes).map_err(|source| Error::Io {
        action: "write",
        path: tmp.clone(),
        source,
    })?;
    std::fs::rename(&tmp, &path).map_err(|source| Error::Io {
        action: "install",
        path: path.clone(),
        source,
    })?;
    Ok(path)
}
