//! Where Claude Code keeps sessions.
//!
//! A session lives at `<config dir>/projects/<project folder>/<session id>.jsonl`,
//! where the config dir is `$CLAUDE_CONFIG_DIR`, else `~/.claude`, and the
//! project folder is derived from the absolute working directory:
//!
//! 1. every UTF-16 code unit outside `[A-Za-z0-9]` becomes `-` (no collapsing
//!    of runs, so `/a_b/.c` is `-a-b--c` and a character outside the Basic
//!    Multilingual Plane becomes `--`);
//! 2. when that is longer than 200 characters, it is cut to 200 and
//!    `-<hash>` is appended, where the hash is JavaScript's
//!    `h = ((h << 5) - h + charCodeAt(i)) | 0` over the **original** path's
//!    UTF-16 code units, then `Math.abs(h).toString(36)`.
//!
//! Relied on: Claude Code 2.1.x's bundled `cli.js` as described publicly by
//! people who extracted it (versions 2.1.139–2.1.239), and the layout of the
//! real 2.1.38/2.1.39 transcripts in the test fixtures.

use std::path::{Path, PathBuf};

/// The longest project folder name before hashing.
pub const MAX_FOLDER: usize = 200;

/// The project folder name for an absolute working directory.
pub fn project_folder(cwd: &str) -> String {
    let units: Vec<u16> = cwd.encode_utf16().collect();
    let sanitized: String = units
        .iter()
        .map(|&u| match u8::try_from(u) {
            Ok(b) if b.is_ascii_alphanumeric() => char::from(b),
            _ => '-',
        })
        .collect();
    if sanitized.len() <= MAX_FOLDER {
        return sanitized;
    }
    let mut hash: i32 = 0;
    for &unit in &units {
        hash = (hash << 5).wrapping_sub(hash).wrapping_add(i32::from(unit));
    }
    format!(
        "{}-{}",
        &sanitized[..MAX_FOLDER],
        base36(u64::from(hash.unsigned_abs()))
    )
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    if n == 0 {
        return "0".to_owned();
    }
    let mut out = Vec::new();
    while n > 0 {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Claude Code's configuration directory: `explicit`, else
/// `$CLAUDE_CONFIG_DIR`, else `$HOME/.claude`.
pub fn config_dir(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(dir) = explicit {
        return Some(dir.to_owned());
    }
    if let Some(dir) = std::env::var_os("CLAUDE_CONFIG_DIR").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".claude"))
}

/// The directory of a working directory's sessions.
pub fn project_dir(config: &Path, cwd: &str) -> PathBuf {
    config.join("projects").join(project_folder(cwd))
}

/// The transcript file of a session.
pub fn session_file(config: &Path, cwd: &str, session: &str) -> PathBuf {
    project_dir(config, cwd).join(format!("{session}.jsonl"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_match_claude_code() {
        assert_eq!(
            project_folder("/home/marco/projects/spotter"),
            "-home-marco-projects-spotter"
        );
        assert_eq!(project_folder("/Users/me/.agents"), "-Users-me--agents");
        assert_eq!(
            project_folder("/home/user/my_project"),
            "-home-user-my-project"
        );
        assert_eq!(project_folder("C:\\git\\cc-plus"), "C--git-cc-plus");
        // One dash per UTF-16 code unit: é is one unit, 😀 is two.
        assert_eq!(project_folder("/café/😀"), "-caf----");
    }

    #[test]
    fn long_paths_are_cut_and_hashed() {
        let long = format!("/{}", "a".repeat(250));
        let folder = project_folder(&long);
        assert_eq!(
            folder.len(),
            MAX_FOLDER + 1 + folder[MAX_FOLDER + 1..].len()
        );
        assert!(folder.starts_with(&format!("-{}", "a".repeat(199))));
        // The hash is JavaScript's 32-bit string hash of the original path.
        let mut h: i32 = 0;
        for u in long.encode_utf16() {
            h = (h << 5).wrapping_sub(h).wrapping_add(i32::from(u));
        }
        assert_eq!(
            &folder[MAX_FOLDER + 1..],
            base36(u64::from(h.unsigned_abs()))
        );
        assert_eq!(base36(0), "0");
        assert_eq!(base36(35), "z");
        assert_eq!(base36(36), "10");
        // Java's documented String.hashCode values, which use the same formula.
        let java = |s: &str| {
            s.encode_utf16().fold(0i32, |h, u| {
                (h << 5).wrapping_sub(h).wrapping_add(i32::from(u))
            })
        };
        assert_eq!(java("iceberg"), 1_629_187_779);
        assert_eq!(java("cheese"), -1_361_525_545);
    }

    #[test]
    fn session_files_live_under_projects() {
        let path = session_file(Path::new("/cfg"), "/w/x", "abc");
        assert_eq!(path, PathBuf::from("/cfg/projects/-w-x/abc.jsonl"));
    }
}
