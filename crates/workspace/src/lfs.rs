//! Git LFS pointers: the committed form of a file whose attributes say
//! `filter=lfs`, and where git-lfs keeps the content they name.
//!
//! git-lfs commits a small text pointer (`version …`, `oid sha256:<hex>`,
//! `size <n>`) and keeps the content in `.git/lfs/objects/<aa>/<bb>/<hex>`.
//! The pointer's oid is the SHA-256 of the content, which is also the
//! content's [`Digest`] in a blob store: a snapshot stores the content
//! under the very name the pointer gives it. handoff converts LFS files
//! itself (the pointer format is fixed), so neither side needs the git-lfs
//! program: the snapshot carries the pointer as the file's committed form
//! and the content beside it; apply places the content where git-lfs
//! finds it and writes it into the working tree, as `git lfs` checkout
//! would.

use std::path::{Path, PathBuf};

use handoff_store::Digest;

/// The filter driver name Git LFS registers.
pub(crate) const FILTER: &str = "lfs";

const VERSION: &[u8] = b"version https://git-lfs.github.com/spec/v1\n";

/// Pointers are small; git-lfs itself reads at most this much.
const MAX_POINTER_BYTES: usize = 1024;

/// A parsed LFS pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pointer {
    /// The content's SHA-256 (the pointer's `oid`).
    pub(crate) digest: Digest,
    /// The content's size.
    pub(crate) size: u64,
}

impl Pointer {
    /// The pointer git-lfs writes for `content`.
    pub(crate) fn of(content: &[u8]) -> Self {
        Self {
            digest: Digest::of(content),
            size: content.len() as u64,
        }
    }

    /// Parses `data` as a pointer (version line first, then `key value`
    /// lines, `oid` and `size` required); `None` when it is not one.
    pub(crate) fn parse(data: &[u8]) -> Option<Self> {
        if data.len() > MAX_POINTER_BYTES || !data.starts_with(VERSION) {
            return None;
        }
        let text = std::str::from_utf8(&data[VERSION.len()..]).ok()?;
        let (mut digest, mut size) = (None, None);
        for line in text.strip_suffix('\n')?.split('\n') {
            let (key, value) = line.split_once(' ')?;
            match key {
                "oid" => digest = Some(value.strip_prefix("sha256:")?.parse_hex()?),
                "size" => size = Some(value.parse::<u64>().ok()?),
                _ if key.starts_with("ext-") => {}
                _ => return None,
            }
        }
        Some(Self {
            digest: digest?,
            size: size?,
        })
    }

    /// The pointer's text, as git-lfs writes it.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = VERSION.to_vec();
        out.extend_from_slice(
            format!("oid sha256:{}\nsize {}\n", self.digest.hex(), self.size).as_bytes(),
        );
        out
    }

    /// Where git-lfs keeps the content in a repository whose (common) git
    /// directory is `git_dir`.
    pub(crate) fn object_path(&self, git_dir: &Path) -> PathBuf {
        let hex = self.digest.hex();
        git_dir
            .join("lfs")
            .join("objects")
            .join(&hex[..2])
            .join(&hex[2..4])
            .join(hex)
    }

    /// The content from `git_dir`'s LFS objects, when it is there and
    /// whole (checked against the pointer).
    pub(crate) fn read_object(&self, git_dir: &Path) -> Option<Vec<u8>> {
        let data = std::fs::read(self.object_path(git_dir)).ok()?;
        (data.len() as u64 == self.size && Digest::of(&data) == self.digest).then_some(data)
    }

    /// Puts `content` (which must be this pointer's) into `git_dir`'s LFS
    /// objects, atomically, unless it is already there.
    pub(crate) fn store_object(&self, git_dir: &Path, content: &[u8]) -> std::io::Result<()> {
        if self.read_object(git_dir).is_some() {
            return Ok(());
        }
        let path = self.object_path(git_dir);
        let dir = path.parent().unwrap_or(git_dir);
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::Builder::new()
            .prefix(crate::worktree::TEMP_PREFIX)
            .tempfile_in(dir)?;
        std::io::Write::write_all(&mut tmp, content)?;
        tmp.persist(&path).map_err(|e| e.error)?;
        Ok(())
    }
}

trait ParseHex {
    fn parse_hex(&self) -> Option<Digest>;
}

impl ParseHex for str {
    fn parse_hex(&self) -> Option<Digest> {
        format!("sha256:{self}").parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pointer_round_trips_and_names_its_object() {
        let pointer = Pointer::of(b"large content\n");
        let text = pointer.encode();
        assert_eq!(
            String::from_utf8(text.clone()).unwrap(),
            format!(
                "version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize 14\n",
                Digest::of(b"large content\n").hex()
            )
        );
        assert_eq!(Pointer::parse(&text), Some(pointer));
        let git_dir = tempfile::tempdir().unwrap();
        assert_eq!(pointer.read_object(git_dir.path()), None);
        pointer
            .store_object(git_dir.path(), b"large content\n")
            .unwrap();
        let hex = pointer.digest.hex();
        assert_eq!(
            std::fs::read(git_dir.path().join(format!(
                "lfs/objects/{}/{}/{hex}",
                &hex[..2],
                &hex[2..4]
            )))
            .unwrap(),
            b"large content\n"
        );
        assert_eq!(
            pointer.read_object(git_dir.path()),
            Some(b"large content\n".to_vec())
        );
    }

    #[test]
    fn other_content_is_not_a_pointer() {
        let good = Pointer::of(b"x").encode();
        assert!(Pointer::parse(b"plain text\n").is_none());
        assert!(Pointer::parse(&good[..good.len() - 1]).is_none());
        let mut unknown = good.clone();
        unknown.extend_from_slice(b"colour blue\n");
        assert!(Pointer::parse(&unknown).is_none());
        let mut long = good;
        long.extend(std::iter::repeat_n(b'x', MAX_POINTER_BYTES));
        assert!(Pointer::parse(&long).is_none());
    }
}
