//! Import then export of Claude Code transcripts gives the same JSON values
//! line for line, and the same bytes: the small transcripts in
//! `tests/fixtures/` (written in Claude Code 2.1.38's line format, see the
//! README there) always, and the real ones in `../shared/fixtures` (written
//! by Claude Code 1.0.98, 2.1.38 and 2.1.39) when that folder is beside the
//! checkout.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::path::{Path, PathBuf};

use handoff_claude_code::{session, transcript};
use handoff_conversation::{Mode, Part, Role};

fn jsonl_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
        {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "jsonl") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The repository's own transcripts.
fn own() -> Vec<PathBuf> {
    let own = jsonl_under(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"));
    assert_eq!(own.len(), 2, "{own:?}");
    own
}

/// The repository's own transcripts, plus the shared real ones when the
/// folder is there: they add coverage, a clone without them still passes.
fn fixtures() -> Vec<PathBuf> {
    let mut out = own();
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures");
    if shared.is_dir() {
        let found = jsonl_under(&shared);
        assert!(
            found.len() >= 7,
            "expected the 7 shared fixtures under {}, found {found:?}",
            shared.display()
        );
        out.extend(found);
    } else {
        eprintln!(
            "note: {} is absent; only the repository's own transcripts are checked",
            shared.display()
        );
    }
    out
}

#[test]
fn every_fixture_round_trips_byte_for_byte() {
    for path in fixtures() {
        let original = std::fs::read_to_string(&path).unwrap();
        let (conversation, skipped) = session::read_file(&path, Mode::Strict).unwrap();
        assert!(skipped.is_empty());
        let mut out = Vec::new();
        transcript::write(&conversation, &mut out, None).unwrap();
        let written = String::from_utf8(out).unwrap();
        let (a, b): (Vec<&str>, Vec<&str>) =
            (original.lines().collect(), written.lines().collect());
        assert_eq!(a.len(), b.len(), "{}", path.display());
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            let vx: serde_json::Value = serde_json::from_str(x).unwrap();
            let vy: serde_json::Value = serde_json::from_str(y).unwrap();
            assert_eq!(
                vx,
                vy,
                "{} line {}: JSON values differ",
                path.display(),
                i + 1
            );
            assert_eq!(x, y, "{} line {}: bytes differ", path.display(), i + 1);
        }
    }
}

#[test]
fn the_model_sees_text_tools_and_results() {
    let path = own()
        .into_iter()
        .find(|p| p.ends_with("tool_heavy.jsonl"))
        .unwrap();
    let (conversation, _) = session::read_file(&path, Mode::Strict).unwrap();
    assert_eq!(conversation.harness, "claude-code");
    assert_eq!(conversation.id.to_string().len(), 36);
    let calls = conversation
        .messages
        .iter()
        .flat_map(|m| &m.parts)
        .filter(|p| matches!(p, Part::ToolCall { .. }))
        .count();
    let results = conversation
        .messages
        .iter()
        .filter(|m| m.role == Role::Tool)
        .count();
    assert!(calls > 0 && results > 0, "{calls} calls, {results} results");
    assert!(
        conversation
            .messages
            .iter()
            .any(|m| m.role == Role::Assistant && !m.plain_text().is_empty())
    );
}

#[test]
fn install_rewrites_session_and_cwd_in_every_line_and_is_found_again() {
    let path = own()
        .into_iter()
        .find(|p| p.ends_with("short.jsonl"))
        .unwrap();
    let (conversation, _) = session::read_file(&path, Mode::Strict).unwrap();
    let config = tempfile::tempdir().unwrap();
    let cwd = "/srv/runs/ä long name/workspace";
    let id = "0b5a8d2e-1f3c-4e6a-9b7d-2c4e6f8a0b1c";
    let file = session::install(&conversation, config.path(), cwd, id).unwrap();
    assert!(
        file.ends_with(format!(
            "projects/-srv-runs---long-name-workspace/{id}.jsonl"
        )),
        "{}",
        file.display()
    );
    for line in std::fs::read_to_string(&file).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(s) = v.get("sessionId") {
            assert_eq!(s, id);
        }
        if let Some(c) = v.get("cwd") {
            assert_eq!(c, cwd);
        }
    }
    assert_eq!(
        session::find_by_id(config.path(), id, Some(cwd)).unwrap(),
        file
    );
    assert_eq!(session::find_by_id(config.path(), id, None).unwrap(), file);
    assert_eq!(session::find_latest(config.path(), cwd).unwrap(), file);
    assert!(session::find_by_id(config.path(), "missing", None).is_err());
}

#[test]
fn malformed_lines_name_file_and_line_or_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.jsonl");
    std::fs::write(
        &path,
        "{\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":\"hi\"}}\nnot json\n[1,2]\n",
    )
    .unwrap();
    let err = session::read_file(&path, Mode::Strict).unwrap_err();
    assert!(err.to_string().contains("broken.jsonl: line 2:"), "{err}");
    let (conversation, skipped) = session::read_file(&path, Mode::Lenient).unwrap();
    assert_eq!(conversation.messages.len(), 1);
    assert_eq!(
        skipped.iter().map(|s| s.line).collect::<Vec<_>>(),
        vec![2, 3]
    );
}
