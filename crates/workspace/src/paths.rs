//! [`RepoPath`]: a validated path inside a working tree.
//!
//! A manifest is untrusted input (it may come from another machine), so every
//! path in it is checked before anything touches the disk. A `RepoPath` is
//! relative, `/`-separated, normalised (no empty, `.` or `..` components), free
//! of NUL and control characters, has no drive-letter prefix, and never names
//! `.git` in any spelling git itself refuses (case variants, HFS+ ignorable
//! code points, NTFS short names and streams — checked with gix's own
//! validation). Construct once, trust afterwards.

use std::fmt;
use std::path::{Path, PathBuf};

use gix::bstr::BStr;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The path is empty.
    #[error("path is empty")]
    Empty,
    /// The path starts at the root.
    #[error("path is absolute")]
    Absolute,
    /// The path starts with a Windows drive letter such as `C:`.
    #[error("path starts with a drive letter")]
    DriveLetter,
    /// A component is empty (`a//b`, trailing `/`).
    #[error("path has an empty component")]
    EmptyComponent,
    /// A component is `.` or `..`.
    #[error("path has a `.` or `..` component")]
    Relative,
    /// The path contains NUL or another control character.
    #[error("path contains a control character")]
    ControlCharacter,
    /// A component names the git directory, in any spelling git treats as `.git`.
    #[error("path names the git directory")]
    GitDir,
    /// Another component git refuses to check out.
    #[error("path component {component:?} is refused: {reason}")]
    Refused {
        /// The component.
        component: String,
        /// git's reason.
        reason: String,
    },
    /// The path is too long to be a real file name.
    #[error("path is longer than {max} bytes")]
    TooLong {
        /// The limit.
        max: usize,
    },
}

/// The longest path accepted, in bytes (well above any filesystem's limit).
pub const MAX_PATH_BYTES: usize = 4096;

/// A validated, relative, normalised path inside a working tree.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoPath(String);

impl RepoPath {
    /// Validates `path` (git's form: `/`-separated, relative to the root).
    pub fn new(path: impl Into<String>) -> Result<Self, PathError> {
        let path = path.into();
        validate(&path)?;
        Ok(Self(path))
    }

    /// The path as git writes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path under `root` on this machine.
    pub fn to_fs_path(&self, root: &Path) -> PathBuf {
        let mut out = root.to_path_buf();
        out.extend(self.0.split('/'));
        out
    }

    /// The components, root first.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// The parent directory's path, or `None` at the top level.
    pub fn parent(&self) -> Option<RepoPath> {
        self.0.rsplit_once('/').map(|(p, _)| RepoPath(p.to_owned()))
    }

    /// Whether `self` lies below `dir` (strictly).
    pub fn starts_with_dir(&self, dir: &RepoPath) -> bool {
        self.0.len() > dir.0.len()
            && self.0.starts_with(dir.0.as_str())
            && self.0.as_bytes()[dir.0.len()] == b'/'
    }
}

fn validate(path: &str) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(PathError::TooLong {
            max: MAX_PATH_BYTES,
        });
    }
    if path.starts_with('/') || path.starts_with('\\') {
        return Err(PathError::Absolute);
    }
    let bytes = path.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Err(PathError::DriveLetter);
    }
    if path.chars().any(char::is_control) {
        return Err(PathError::ControlCharacter);
    }
    let options = gix::validate::path::component::Options {
        // Names such as `notes?.md` are legitimate on the platforms handoff
        // writes to; the Windows-only rules would refuse them.
        protect_windows: false,
        protect_hfs: true,
        protect_ntfs: true,
    };
    for component in path.split('/') {
        if component.is_empty() {
            return Err(PathError::EmptyComponent);
        }
        if component == "." || component == ".." {
            return Err(PathError::Relative);
        }
        use gix::validate::path::component::Error as E;
        match gix::validate::path::component(BStr::new(component), None, options) {
            Ok(_) => {}
            Err(E::DotGitDir) => return Err(PathError::GitDir),
            Err(E::Relative) => return Err(PathError::Relative),
            Err(E::Empty) => return Err(PathError::EmptyComponent),
            Err(other) => {
                return Err(PathError::Refused {
                    component: component.to_owned(),
                    reason: other.to_string(),
                });
            }
        }
    }
    Ok(())
}

impl fmt::Display for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl AsRef<str> for RepoPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for RepoPath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RepoPath {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        RepoPath::new(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_paths() {
        for ok in [
            "a",
            "src/main.rs",
            "with space/file name.txt",
            "café/naïve.md",
            "notes?.md",
            ".github/workflows/ci.yml",
            ".gitignore",
            "a/.gitkeep",
            "x/.git-hidden",
        ] {
            assert!(RepoPath::new(ok).is_ok(), "{ok:?} refused");
        }
    }

    #[test]
    fn refuses_hostile_paths() {
        use PathError::*;
        let cases: &[(&str, PathError)] = &[
            ("", Empty),
            ("/etc/passwd", Absolute),
            ("\\\\server\\share", Absolute),
            ("C:/Windows/x", DriveLetter),
            ("c:x", DriveLetter),
            ("a//b", EmptyComponent),
            ("a/", EmptyComponent),
            ("../x", Relative),
            ("a/../../x", Relative),
            ("./a", Relative),
            ("a\0b", ControlCharacter),
            ("a\nb", ControlCharacter),
            ("a\u{1b}[31m", ControlCharacter),
            (".git/config", GitDir),
            (".GIT/config", GitDir),
            ("sub/.Git/hooks/pre-commit", GitDir),
            ("git~1/config", GitDir),
            (".git./config", GitDir),
            (".git::$INDEX_ALLOCATION/config", GitDir),
            // U+200C ZERO WIDTH NON-JOINER is ignored by HFS+.
            (".g\u{200c}it/config", GitDir),
        ];
        for (path, expected) in cases {
            assert_eq!(
                RepoPath::new(*path).err().as_ref(),
                Some(expected),
                "{path:?}"
            );
        }
        assert_eq!(
            RepoPath::new("a/".repeat(3000)).err(),
            Some(TooLong {
                max: MAX_PATH_BYTES
            })
        );
    }

    #[test]
    fn parent_and_prefix() {
        let p = RepoPath::new("a/b/c").unwrap();
        assert_eq!(p.parent().map(|p| p.0), Some("a/b".to_owned()));
        assert!(p.starts_with_dir(&RepoPath::new("a").unwrap()));
        assert!(
            !RepoPath::new("ab")
                .unwrap()
                .starts_with_dir(&RepoPath::new("a").unwrap())
        );
        assert_eq!(p.to_fs_path(Path::new("/r")), PathBuf::from("/r/a/b/c"));
    }
}
