//! Paths a user keeps out of a handoff: `--exclude GLOB` patterns and a
//! `.handoffignore` file at the repository root, both in gitignore syntax
//! (parsed and matched by gix's own glob implementation).
//!
//! As in gitignore, later patterns win, `!pattern` re-includes, a trailing
//! `/` matches directories only, and a file below an excluded directory is
//! excluded whatever follows.

use gix::bstr::BStr;
use gix::glob::Pattern;
use gix::glob::pattern::{Case, Mode};
use gix::glob::wildmatch;

/// The name of the per-repository exclusion file.
pub const HANDOFFIGNORE: &str = ".handoffignore";

/// Compiled exclusion patterns.
#[derive(Debug, Clone, Default)]
pub struct Exclusions {
    patterns: Vec<Pattern>,
}

impl Exclusions {
    /// Patterns from gitignore-syntax text (comments and blank lines skipped).
    pub fn parse(text: &str) -> Self {
        let mut out = Self::default();
        out.extend(text.lines());
        out
    }

    /// Adds patterns, one per item, after the existing ones.
    pub fn extend<'a>(&mut self, patterns: impl IntoIterator<Item = &'a str>) {
        for line in patterns {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(pattern) = gix::glob::parse(line.as_bytes()) {
                self.patterns.push(pattern);
            }
        }
    }

    /// Whether there are no patterns.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    fn decide(&self, path: &str, is_dir: bool) -> Option<bool> {
        let basename = path.rfind('/').map(|i| i + 1);
        let mut verdict = None;
        for pattern in &self.patterns {
            if pattern.matches_repo_relative_path(
                BStr::new(path),
                basename,
                Some(is_dir),
                Case::Sensitive,
                wildmatch::Mode::NO_MATCH_SLASH_LITERAL,
            ) {
                verdict = Some(!pattern.mode.contains(Mode::NEGATIVE));
            }
        }
        verdict
    }

    /// Whether the file at `path` (repository-relative, `/`-separated) is
    /// excluded.
    pub fn is_excluded(&self, path: &str) -> bool {
        if self.patterns.is_empty() {
            return false;
        }
        let mut end = 0;
        while let Some(offset) = path[end..].find('/') {
            end += offset;
            if self.decide(&path[..end], true) == Some(true) {
                return true;
            }
            end += 1;
        }
        self.decide(path, false) == Some(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitignore_semantics() {
        let ex =
            Exclusions::parse("# secrets\n.env*\n!.env.example\nprivate/\n*.pem\n/top-only.txt\n");
        for (path, excluded) in [
            (".env", true),
            ("app/.env.local", true),
            (".env.example", false),
            ("private/notes.md", true),
            ("a/private/deep/x", true),
            ("privateer.txt", false),
            ("certs/server.pem", true),
            ("top-only.txt", true),
            ("sub/top-only.txt", false),
            ("src/main.rs", false),
        ] {
            assert_eq!(ex.is_excluded(path), excluded, "{path}");
        }
    }

    #[test]
    fn later_patterns_win_and_extend_appends() {
        let mut ex = Exclusions::parse("*.log\n");
        assert!(ex.is_excluded("x.log"));
        ex.extend(["!keep.log"]);
        assert!(!ex.is_excluded("keep.log"));
        assert!(ex.is_excluded("other.log"));
        assert!(Exclusions::default().is_empty());
    }
}
