//! Filesystem access confined to one working tree.
//!
//! Every operation takes a validated [`RepoPath`] and refuses to go through a
//! symlink or a non-directory on the way to it, so nothing outside the tree
//! (or inside `.git/`, which `RepoPath` cannot name) is ever read or written.
//! Writes are atomic: content goes to a temporary file in the same
//! directory (named [`TEMP_PREFIX`]…), which is then renamed over the target;
//! a crash leaves either the old file or the new one, never a torn one. A
//! file that does not exist yet is created directly where the platform
//! allows it atomically (Linux: an unnamed `O_TMPFILE` in its directory,
//! linked under its name once complete — no temporary name, no rename, and
//! nothing left behind by a kill).
//!
//! The root is absolute, so that no operation resolves the process's
//! current directory again (one `getcwd` per file otherwise).

use std::cell::RefCell;
use std::collections::HashSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::manifest::{Kind, Object, Oid};
use crate::paths::RepoPath;

/// The prefix of temporary files written next to their targets.
pub const TEMP_PREFIX: &str = ".handoff-tmp-";

/// What is at a path now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Current {
    /// Nothing.
    Absent,
    /// A file or symlink, with its content (the link target for symlinks).
    Object(Object, Vec<u8>),
    /// A directory that is not a nested repository.
    Directory,
    /// A nested repository, with its `HEAD` (null when it has none).
    Repository(Oid),
}

/// Why a path cannot be reached safely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Blocked {
    /// An ancestor is a symlink.
    Symlink(String),
    /// An ancestor is a file (or something else that is not a directory).
    NotADirectory(String),
}

/// A working tree root.
///
/// It remembers the directories it has seen to be real directories (not
/// symlinks), so a run of writes into one directory checks its ancestors
/// once; removing anything forgets them all. One `Worktree` serves one
/// thread.
#[derive(Debug, Clone)]
pub(crate) struct Worktree {
    root: PathBuf,
    dirs: RefCell<HashSet<PathBuf>>,
}

impl Worktree {
    /// A working tree at `root`; a relative root is made absolute against
    /// the current directory, once.
    pub(crate) fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let root = std::path::absolute(&root).unwrap_or(root);
        Self {
            root,
            dirs: RefCell::default(),
        }
    }

    /// Checks every ancestor directory of `path`. `Ok(false)` when one is
    /// missing (so `path` is absent too).
    fn ancestors_ok(&self, path: &RepoPath) -> io::Result<Result<bool, Blocked>> {
        Ok(self.parents(path, false)?.map(|dir| dir.is_some()))
    }

    /// Walks the ancestor directories of `path`, refusing symlinks and
    /// non-directories, and creating missing ones when `create` is set.
    /// Returns the parent directory, or `None` when one is missing.
    fn parents(
        &self,
        path: &RepoPath,
        create: bool,
    ) -> io::Result<Result<Option<PathBuf>, Blocked>> {
        let mut dir = self.root.clone();
        let mut rel = String::new();
        let components: Vec<&str> = path.components().collect();
        for component in &components[..components.len().saturating_sub(1)] {
            dir.push(component);
            if !rel.is_empty() {
                rel.push('/');
            }
            rel.push_str(component);
            if self.dirs.borrow().contains(&dir) {
                continue;
            }
            match std::fs::symlink_metadata(&dir) {
                Ok(meta) if meta.file_type().is_symlink() => return Ok(Err(Blocked::Symlink(rel))),
                Ok(meta) if !meta.is_dir() => return Ok(Err(Blocked::NotADirectory(rel))),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound && !create => return Ok(Ok(None)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => match std::fs::create_dir(&dir) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        // Raced with another creator; check again what it is.
                        let meta = std::fs::symlink_metadata(&dir)?;
                        if !meta.is_dir() {
                            return Ok(Err(Blocked::NotADirectory(rel)));
                        }
                    }
                    Err(e) => return Err(e),
                },
                Err(e) => return Err(e),
            }
            self.dirs.borrow_mut().insert(dir.clone());
        }
        Ok(Ok(Some(dir)))
    }

    pub(crate) fn fs_path(&self, path: &RepoPath) -> PathBuf {
        path.to_fs_path(&self.root)
    }

    /// What is at `path` now, without following symlinks.
    pub(crate) fn current(&self, path: &RepoPath) -> io::Result<Result<Current, Blocked>> {
        self.current_reading(path, true)
    }

    /// [`Worktree::current`], but a regular file only by its git id (the
    /// content is hashed in bounded memory and not kept: empty).
    pub(crate) fn current_hashed(&self, path: &RepoPath) -> io::Result<Result<Current, Blocked>> {
        self.current_reading(path, false)
    }

    /// A new temporary file (git's checkout mode for `kind`) in the
    /// directory of `path`, its missing ancestors created: where a large
    /// file is written before [`Worktree::place`] renames it into place.
    pub(crate) fn stage(
        &self,
        path: &RepoPath,
        kind: Kind,
    ) -> io::Result<Result<tempfile::NamedTempFile, Blocked>> {
        let dir = match self.create_parents(path)? {
            Ok(dir) => dir,
            Err(blocked) => return Ok(Err(blocked)),
        };
        Ok(Ok(new_file_builder(kind == Kind::Executable)
            .prefix(TEMP_PREFIX)
            .tempfile_in(&dir)?))
    }

    /// Renames a file [`Worktree::stage`]d for `path` over it; with
    /// `absent` (nothing was there), only if nothing appeared meanwhile
    /// ([`io::ErrorKind::AlreadyExists`] then, and nothing is replaced).
    pub(crate) fn place(
        &self,
        staged: tempfile::NamedTempFile,
        path: &RepoPath,
        absent: bool,
    ) -> io::Result<()> {
        let target = self.fs_path(path);
        crate::crash::point(crate::crash::FILE_WRITTEN);
        if absent {
            staged.persist_noclobber(&target).map_err(|e| e.error)?;
        } else {
            staged.persist(&target).map_err(|e| e.error)?;
        }
        Ok(())
    }

    fn current_reading(&self, path: &RepoPath, read: bool) -> io::Result<Result<Current, Blocked>> {
        match self.ancestors_ok(path)? {
            // Nothing can exist below a file.
            Err(Blocked::NotADirectory(_)) => return Ok(Ok(Current::Absent)),
            Err(blocked) => return Ok(Err(blocked)),
            Ok(false) => return Ok(Ok(Current::Absent)),
            Ok(true) => {}
        }
        let fs_path = self.fs_path(path);
        let meta = match std::fs::symlink_metadata(&fs_path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Ok(Current::Absent)),
            Err(e) => return Err(e),
        };
        let file_type = meta.file_type();
        if file_type.is_symlink() {
            let target = link_bytes(&std::fs::read_link(&fs_path)?)?;
            return Ok(Ok(Current::Object(object(Kind::Symlink, &target), target)));
        }
        if file_type.is_dir() {
            if fs_path.join(".git").exists() {
                let head = gix::open(&fs_path)
                    .ok()
                    .and_then(|repo| repo.head_id().ok().map(|id| Oid(id.detach())));
                return Ok(Ok(Current::Repository(head.unwrap_or_else(Oid::null))));
            }
            return Ok(Ok(Current::Directory));
        }
        if !file_type.is_file() {
            // A fifo, socket or device: treat like a directory (not ours to replace).
            return Ok(Ok(Current::Directory));
        }
        let kind = if is_executable(&meta) {
            Kind::Executable
        } else {
            Kind::File
        };
        if !read {
            let oid = git_oid_of_file(&fs_path, meta.len())?;
            let hashed = Object {
                kind,
                oid,
                size: meta.len(),
                digest: None,
            };
            return Ok(Ok(Current::Object(hashed, Vec::new())));
        }
        let data = read_known_size(&fs_path, meta.len())?;
        Ok(Ok(Current::Object(object(kind, &data), data)))
    }

    /// Creates the missing ancestor directories of `path`.
    fn create_parents(&self, path: &RepoPath) -> io::Result<Result<PathBuf, Blocked>> {
        Ok(self
            .parents(path, true)?
            .map(|dir| dir.unwrap_or_else(|| self.root.clone())))
    }

    /// Atomically replaces whatever file or symlink is at `path` with
    /// `content` of `kind`. With `absent` (the caller saw nothing at
    /// `path`), a regular file is created directly where the platform can
    /// do so atomically; if something appeared at `path` meanwhile, that
    /// is [`io::ErrorKind::AlreadyExists`] and nothing is written.
    pub(crate) fn write(
        &self,
        path: &RepoPath,
        kind: Kind,
        content: &[u8],
        absent: bool,
    ) -> io::Result<Result<(), Blocked>> {
        let dir = match self.create_parents(path)? {
            Ok(dir) => dir,
            Err(blocked) => return Ok(Err(blocked)),
        };
        let target = self.fs_path(path);
        match kind {
            Kind::File | Kind::Executable if absent => {
                if !create_new(&dir, &target, kind == Kind::Executable, content)? {
                    let mut tmp = new_file_builder(kind == Kind::Executable)
                        .prefix(TEMP_PREFIX)
                        .tempfile_in(&dir)?;
                    tmp.write_all(content)?;
                    crate::crash::point(crate::crash::FILE_WRITTEN);
                    tmp.persist_noclobber(&target).map_err(|e| e.error)?;
                }
            }
            Kind::File | Kind::Executable => {
                let mut tmp = new_file_builder(kind == Kind::Executable)
                    .prefix(TEMP_PREFIX)
                    .tempfile_in(&dir)?;
                tmp.write_all(content)?;
                crate::crash::point(crate::crash::FILE_WRITTEN);
                tmp.persist(&target).map_err(|e| e.error)?;
            }
            Kind::Symlink => {
                let tmp = temp_name(&dir);
                make_symlink(content, &tmp)?;
                if let Err(e) = std::fs::rename(&tmp, &target) {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(e);
                }
            }
            Kind::Gitlink => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "cannot write a nested repository",
                ));
            }
        }
        Ok(Ok(()))
    }

    /// Removes the file or symlink at `path`, then every ancestor directory
    /// the removal left empty (as git does).
    pub(crate) fn remove(&self, path: &RepoPath) -> io::Result<Result<(), Blocked>> {
        // Removing may take directories with it.
        self.dirs.borrow_mut().clear();
        if let Err(blocked) = self.ancestors_ok(path)? {
            return Ok(Err(blocked));
        }
        match std::fs::remove_file(self.fs_path(path)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut parent = path.parent();
        while let Some(dir) = parent {
            // Fails (and stops) on the first non-empty directory.
            if std::fs::remove_dir(self.fs_path(&dir)).is_err() {
                break;
            }
            parent = dir.parent();
        }
        Ok(Ok(()))
    }

    /// Whether every file below directory `dir` is in `removed` (so that a
    /// dry run can tell the directory would be gone).
    pub(crate) fn only_contains(
        &self,
        dir: &RepoPath,
        removed: &std::collections::HashSet<RepoPath>,
    ) -> bool {
        let Ok(entries) = std::fs::read_dir(self.fs_path(dir)) else {
            return false;
        };
        entries.flatten().all(|entry| {
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                return false;
            };
            let Ok(child) = RepoPath::new(format!("{dir}/{name}")) else {
                return false;
            };
            match entry.file_type() {
                Ok(t) if t.is_dir() => self.only_contains(&child, removed),
                Ok(_) => removed.contains(&child),
                Err(_) => false,
            }
        })
    }

    /// Removes temporary files a crashed apply left in `dir`.
    pub(crate) fn sweep_temp_files(&self, dir: &Path) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX)
                && entry
                    .file_type()
                    .is_ok_and(|t| t.is_file() || t.is_symlink())
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Creates `target` (in `dir`) with `content`, atomically: an unnamed file
/// in `dir`, filled, then linked under its name — which fails, writing
/// nothing, if the name is taken. `Ok(false)` when the platform or the
/// filesystem cannot do this (the caller writes through a temporary file).
#[cfg(target_os = "linux")]
fn create_new(dir: &Path, target: &Path, executable: bool, content: &[u8]) -> io::Result<bool> {
    use rustix::fs::{AtFlags, CWD, Mode, OFlags};
    let mode = Mode::from_raw_mode(if executable { 0o777 } else { 0o666 });
    let flags = OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC;
    let fd = match rustix::fs::openat(CWD, dir, flags, mode) {
        Ok(fd) => fd,
        // No O_TMPFILE here (an old kernel, or a filesystem without it).
        Err(e) if e == rustix::io::Errno::OPNOTSUPP || e == rustix::io::Errno::ISDIR => {
            return Ok(false);
        }
        Err(e) => return Err(e.into()),
    };
    let mut file = std::fs::File::from(fd);
    file.write_all(content)?;
    crate::crash::point(crate::crash::FILE_WRITTEN);
    // The unnamed file is reachable through its descriptor's /proc link.
    let proc_link = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&file));
    match rustix::fs::linkat(
        CWD,
        proc_link.as_str(),
        CWD,
        target,
        AtFlags::SYMLINK_FOLLOW,
    ) {
        Ok(()) => Ok(true),
        Err(e) if e == rustix::io::Errno::EXIST => Err(io::ErrorKind::AlreadyExists.into()),
        // No /proc: link another way.
        Err(e)
            if e == rustix::io::Errno::NOENT && !std::path::Path::new("/proc/self/fd").exists() =>
        {
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(target_os = "linux"))]
fn create_new(_dir: &Path, _target: &Path, _executable: bool, _content: &[u8]) -> io::Result<bool> {
    Ok(false)
}

/// Reads a whole file whose size was just seen: no second `stat` to size
/// the buffer (as `fs::read` does), and no seek (as `read_to_end` does).
fn read_known_size(path: &Path, size: u64) -> io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)?;
    // One byte more than expected, so that one read can see the end.
    let mut data = vec![0u8; usize::try_from(size).unwrap_or(0).saturating_add(1)];
    let mut len = 0;
    loop {
        if len == data.len() {
            data.resize(len * 2 + 64, 0);
        }
        let asked = data.len() - len;
        match file.read(&mut data[len..]) {
            Ok(0) => break,
            // Fewer bytes than asked for, and as many as the size said: a
            // regular file is at its end (no second read to be told so).
            Ok(n) if n < asked && (len + n) as u64 == size => {
                len += n;
                break;
            }
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    data.truncate(len);
    Ok(data)
}

/// The git id, SHA-256 digest and size of the file at `path`, read once
/// in bounded memory. `size` is what its metadata said: git's object
/// header names the size before the content, so a file that turns out
/// another size changed while it was read (an error, not a guess).
pub(crate) fn hash_file(path: &Path, size: u64) -> io::Result<(Oid, handoff_store::Digest, u64)> {
    let mut sha256 = handoff_store::Hasher::new();
    let oid = hash_blob(path, size, |chunk| sha256.update(chunk))?;
    Ok((oid, sha256.finish(), size))
}

/// The git id of the file at `path`, `size` bytes long (else an error),
/// read in bounded memory.
pub(crate) fn git_oid_of_file(path: &Path, size: u64) -> io::Result<Oid> {
    hash_blob(path, size, |_| {})
}

/// Hashes the file at `path` as a git blob of `size` bytes, handing each
/// chunk to `also` too.
fn hash_blob(path: &Path, size: u64, mut also: impl FnMut(&[u8])) -> io::Result<Oid> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)?;
    let mut git = gix::hash::hasher(gix::hash::Kind::Sha1);
    git.update(&gix::objs::encode::loose_header(
        gix::objs::Kind::Blob,
        size,
    ));
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        git.update(&buf[..n]);
        also(&buf[..n]);
        len += n as u64;
    }
    if len != size {
        return Err(io::Error::other(format!(
            "the file changed while it was read ({size} bytes, then {len})"
        )));
    }
    let oid = git
        .try_finalize()
        .map_err(|e| io::Error::other(format!("could not hash it: {e}")))?;
    Ok(Oid(oid))
}

fn object(kind: Kind, content: &[u8]) -> Object {
    Object {
        kind,
        oid: Oid::for_blob(content),
        size: content.len() as u64,
        digest: None,
    }
}

fn temp_name(dir: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    dir.join(format!("{TEMP_PREFIX}{}-{n}-{nanos}", std::process::id()))
}

#[cfg(unix)]
fn link_bytes(target: &Path) -> io::Result<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    Ok(target.as_os_str().as_bytes().to_vec())
}

#[cfg(not(unix))]
fn link_bytes(target: &Path) -> io::Result<Vec<u8>> {
    target
        .to_str()
        .map(|s| s.replace('\\', "/").into_bytes())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "symlink target is not UTF-8"))
}

#[cfg(unix)]
fn make_symlink(target: &[u8], at: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(target), at)
}

#[cfg(not(unix))]
fn make_symlink(_target: &[u8], _at: &Path) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "symlinks are not supported on this platform",
    ))
}

/// A builder for a new file with git's checkout mode: `0666`, or `0777`
/// when executable, less the process umask, set as the file is created.
#[cfg(unix)]
fn new_file_builder(executable: bool) -> tempfile::Builder<'static, 'static> {
    use std::os::unix::fs::PermissionsExt;
    let mut builder = tempfile::Builder::new();
    builder.permissions(std::fs::Permissions::from_mode(if executable {
        0o777
    } else {
        0o666
    }));
    builder
}

#[cfg(not(unix))]
fn new_file_builder(_executable: bool) -> tempfile::Builder<'static, 'static> {
    tempfile::Builder::new()
}

#[cfg(unix)]
pub(crate) fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
pub(crate) fn is_executable(_meta: &std::fs::Metadata) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> RepoPath {
        RepoPath::new(p).unwrap()
    }

    #[test]
    fn refuses_to_go_through_symlinks() {
        let outside = tempfile::tempdir().unwrap();
        let tree = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), tree.path().join("link")).unwrap();
        let wt = Worktree::new(tree.path());
        let p = path("link/evil.txt");
        assert_eq!(
            wt.write(&p, Kind::File, b"x", false).unwrap(),
            Err(Blocked::Symlink("link".into()))
        );
        assert_eq!(
            wt.current(&p).unwrap(),
            Err(Blocked::Symlink("link".into()))
        );
        assert_eq!(wt.remove(&p).unwrap(), Err(Blocked::Symlink("link".into())));
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    #[test]
    fn writes_atomically_with_mode_and_leaves_no_temp_files() {
        let tree = tempfile::tempdir().unwrap();
        let wt = Worktree::new(tree.path());
        let p = path("a/b/run.sh");
        wt.write(&p, Kind::Executable, b"#!/bin/sh\n", true)
            .unwrap()
            .unwrap();
        let Current::Object(obj, data) = wt.current(&p).unwrap().unwrap() else {
            panic!()
        };
        assert_eq!(
            (obj.kind, data.as_slice()),
            (Kind::Executable, &b"#!/bin/sh\n"[..])
        );
        wt.write(&p, Kind::File, b"plain", false).unwrap().unwrap();
        let Current::Object(obj, _) = wt.current(&p).unwrap().unwrap() else {
            panic!()
        };
        assert_eq!(obj.kind, Kind::File);
        let names: Vec<_> = std::fs::read_dir(tree.path().join("a/b"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("run.sh")]);
    }

    #[test]
    fn replaces_a_file_by_a_symlink_and_removes_empty_parents() {
        let tree = tempfile::tempdir().unwrap();
        let wt = Worktree::new(tree.path());
        let p = path("d/e/x");
        wt.write(&p, Kind::File, b"data", true).unwrap().unwrap();
        wt.write(&p, Kind::Symlink, b"../target", false)
            .unwrap()
            .unwrap();
        assert_eq!(
            std::fs::read_link(tree.path().join("d/e/x")).unwrap(),
            PathBuf::from("../target")
        );
        wt.remove(&p).unwrap().unwrap();
        assert!(!tree.path().join("d").exists());
        assert!(tree.path().exists());
    }

    #[test]
    fn a_new_file_is_created_whole_and_never_over_something_else() {
        let tree = tempfile::tempdir().unwrap();
        let wt = Worktree::new(tree.path());
        wt.write(&path("n/new.txt"), Kind::File, b"new\n", true)
            .unwrap()
            .unwrap();
        assert_eq!(
            std::fs::read(tree.path().join("n/new.txt")).unwrap(),
            b"new\n"
        );
        // Something appeared after the caller looked: it stays.
        std::fs::write(tree.path().join("n/raced.txt"), "theirs").unwrap();
        let err = wt
            .write(&path("n/raced.txt"), Kind::File, b"ours", true)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(
            std::fs::read(tree.path().join("n/raced.txt")).unwrap(),
            b"theirs"
        );
        let names: Vec<_> = std::fs::read_dir(tree.path().join("n"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
    }

    #[test]
    fn a_file_in_the_way_blocks_parents() {
        let tree = tempfile::tempdir().unwrap();
        std::fs::write(tree.path().join("f"), "file").unwrap();
        let wt = Worktree::new(tree.path());
        assert_eq!(
            wt.write(&path("f/g"), Kind::File, b"x", true).unwrap(),
            Err(Blocked::NotADirectory("f".into()))
        );
        assert_eq!(wt.current(&path("f/g")).unwrap(), Ok(Current::Absent));
    }
}
