//! git's conversions between a file's working-tree form and the form git
//! commits, for one repository: `text`/`eol`/`crlf` attributes,
//! `core.autocrlf` and `core.eol`, `ident`, `working-tree-encoding` and
//! filter drivers (`filter.<name>.clean`/`smudge`/`process`), through gix's
//! filter pipeline.
//!
//! A snapshot carries the *clean* form (what `git add` would store), so its
//! object ids are git's; applying writes the *smudged* form the target's own
//! attributes ask for (what `git checkout` would write) and reads the
//! target's files back through the same clean conversion, so that a CRLF
//! checkout of unchanged content counts as unchanged.
//!
//! Most repositories convert nothing: without `core.autocrlf` and without
//! any attributes file, [`Conversions::new`] builds no pipeline and every
//! call hands the bytes back untouched (the snapshot of a large tree must
//! not pay for attribute lookups it cannot need).
//!
//! Git LFS (`filter=lfs`) is converted here, not by the git-lfs program
//! (see [`lfs`](crate::lfs)): content becomes its pointer, a pointer stays
//! itself.
//!
//! A path whose attributes name any other filter driver that this
//! repository does not configure is refused ([`Refused`]) in both directions: its committed
//! form is not what its working tree holds, and guessing would write wrong
//! bytes.

use std::borrow::Cow;
use std::io::Read as _;
use std::path::Path;

use gix::bstr::{BStr, BString, ByteSlice};

use crate::lfs::{self, Pointer};
use crate::paths::RepoPath;
use crate::{Error, Result};

/// The name of git's per-directory attributes file.
const ATTRIBUTES_FILE: &str = ".gitattributes";

/// A Git LFS pointer and the content it names.
pub(crate) type LfsContent = (Pointer, Vec<u8>);

/// Why one path could not be converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused(pub(crate) String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The conversions of one repository; one per thread (gix's pipeline and
/// attribute stack are not shared).
pub(crate) struct Conversions<'repo> {
    active: Option<Box<Active<'repo>>>,
}

/// What a path's attributes say beyond what gix's pipeline handles.
#[derive(Debug, Default, Clone, Copy)]
struct Attributes {
    ident: bool,
    lfs: bool,
}

struct Active<'repo> {
    repo: &'repo gix::Repository,
    pipeline: gix::filter::plumbing::Pipeline,
    attributes: gix::worktree::Stack,
    index: gix::worktree::IndexPersistedOrInMemory,
    /// The drivers this repository configures (by name).
    drivers: Vec<BString>,
}

impl<'repo> Conversions<'repo> {
    /// No conversions at all.
    pub(crate) fn none() -> Self {
        Self { active: None }
    }

    /// The conversions of `repo`'s working tree. `extra_paths` are paths
    /// that are not in the index but matter (untracked files of a
    /// snapshot, entries an apply will write): an attributes file among
    /// them turns the conversions on.
    pub(crate) fn new<'p>(
        repo: &'repo gix::Repository,
        extra_paths: impl IntoIterator<Item = &'p BStr>,
    ) -> Result<Self> {
        let workdir = repo.workdir().unwrap_or(repo.git_dir()).to_owned();
        // Decided before anything else is built: most repositories stop
        // here, having looked at the (shared, already loaded) index only.
        let index = repo
            .index_or_empty()
            .map_err(|e| Error::git("read the index", &workdir, e))?;
        if !may_convert(repo, &index, extra_paths) {
            return Ok(Self::none());
        }
        let (pipeline, index) = repo
            .filter_pipeline(None)
            .map_err(|e| Error::git("set up git's filters", &workdir, e))?;
        let drivers = gix::filter::Pipeline::options(repo)
            .map_err(|e| Error::git("read the filter configuration", &workdir, e))?
            .drivers
            .into_iter()
            .filter(|d| d.clean.is_some() || d.smudge.is_some() || d.process.is_some())
            .map(|d| d.name)
            .collect();
        let (pipeline, attributes) = pipeline.into_parts();
        Ok(Self {
            active: Some(Box::new(Active {
                repo,
                pipeline,
                attributes,
                index,
                drivers,
            })),
        })
    }

    /// Whether any conversion can apply in this repository.
    pub(crate) fn is_active(&self) -> bool {
        self.active.is_some()
    }

    /// What git would commit for `data` found in the working tree at
    /// `path` (git's "convert to git", clean direction).
    pub(crate) fn clean<'a>(
        &mut self,
        path: &RepoPath,
        data: Cow<'a, [u8]>,
    ) -> std::result::Result<Cow<'a, [u8]>, Refused> {
        let Some(active) = self.active.as_deref_mut() else {
            return Ok(data);
        };
        if active.check(path)?.lfs {
            return Ok(match Pointer::parse(&data) {
                Some(_) => data,
                None => Cow::Owned(Pointer::of(&data).encode()),
            });
        }
        active.clean(path, data)
    }

    /// [`clean`](Self::clean), and for a Git LFS file the content its
    /// pointer names: the working tree's bytes, or for a file checked out
    /// as a pointer, the object in this repository's `.git/lfs/objects`
    /// when it is there.
    pub(crate) fn clean_with_object(
        &mut self,
        path: &RepoPath,
        data: Vec<u8>,
    ) -> std::result::Result<(Vec<u8>, Option<LfsContent>), Refused> {
        let Some(active) = self.active.as_deref_mut() else {
            return Ok((data, None));
        };
        if !active.check(path)?.lfs {
            return active
                .clean(path, Cow::Owned(data))
                .map(|clean| (clean.into_owned(), None));
        }
        match Pointer::parse(&data) {
            Some(pointer) => {
                let object = pointer
                    .read_object(active.repo.common_dir())
                    .map(|content| (pointer, content));
                Ok((data, object))
            }
            None => {
                let pointer = Pointer::of(&data);
                Ok((pointer.encode(), Some((pointer, data))))
            }
        }
    }

    /// The Git LFS pointer committed content `data` is, when `path` is an
    /// LFS file (its working-tree form is then the content the pointer
    /// names, which the caller has to find).
    pub(crate) fn lfs_pointer(
        &mut self,
        path: &RepoPath,
        data: &[u8],
    ) -> std::result::Result<Option<Pointer>, Refused> {
        let Some(active) = self.active.as_deref_mut() else {
            return Ok(None);
        };
        Ok(if active.check(path)?.lfs {
            Pointer::parse(data)
        } else {
            None
        })
    }

    /// Whether `path` is a Git LFS file.
    pub(crate) fn is_lfs(&mut self, path: &RepoPath) -> bool {
        self.active
            .as_deref_mut()
            .is_some_and(|active| active.check(path).is_ok_and(|a| a.lfs))
    }

    /// What git would write into the working tree at `path` for committed
    /// content `data` (git's "convert to worktree", smudge direction).
    pub(crate) fn smudge<'a>(
        &mut self,
        path: &RepoPath,
        data: &'a [u8],
    ) -> std::result::Result<Cow<'a, [u8]>, Refused> {
        let Some(active) = self.active.as_deref_mut() else {
            return Ok(Cow::Borrowed(data));
        };
        if active.check(path)?.lfs {
            // Not a pointer (committed before the file was tracked by
            // LFS): git-lfs checks it out as it is.
            return Ok(Cow::Borrowed(data));
        }
        active.smudge(path, data)
    }
}

impl Active<'_> {
    /// Refuses `path` when its attributes name a filter driver this
    /// repository does not configure (other than Git LFS, converted here);
    /// says whether `ident` is set and whether it is an LFS file. The
    /// attribute lookup the pipeline does next hits the same cached stack.
    fn check(&mut self, path: &RepoPath) -> std::result::Result<Attributes, Refused> {
        let mut outcome = self
            .attributes
            .selected_attribute_matches(["filter", "ident"]);
        let platform = self
            .attributes
            .at_path(Path::new(path.as_str()), None, &self.repo.objects)
            .map_err(|e| Refused(format!("could not read the attributes of {path}: {e}")))?;
        platform.matching_attributes(&mut outcome);
        let mut found = Attributes::default();
        for m in outcome.iter_selected() {
            match (m.assignment.name.as_str(), m.assignment.state) {
                ("filter", gix::attrs::StateRef::Value(name)) if name.as_bstr() == lfs::FILTER => {
                    found.lfs = true;
                }
                ("filter", gix::attrs::StateRef::Value(name)) => {
                    let name = name.as_bstr();
                    if !self.drivers.iter().any(|d| d == name) {
                        return Err(Refused(format!(
                            "its attributes name the filter driver `{name}`, which this repository does not configure (filter.{name}.clean, .smudge or .process)"
                        )));
                    }
                }
                ("ident", gix::attrs::StateRef::Set) => found.ident = true,
                _ => {}
            }
        }
        Ok(found)
    }

    fn clean<'a>(
        &mut self,
        path: &RepoPath,
        data: Cow<'a, [u8]>,
    ) -> std::result::Result<Cow<'a, [u8]>, Refused> {
        self.check(path)?;
        let failed = |e: &dyn std::fmt::Display| {
            Refused(format!(
                "git's clean conversion (attributes, eol, filter) failed: {e}"
            ))
        };
        let Self {
            repo,
            pipeline,
            attributes,
            index,
            ..
        } = self;
        let entry = attributes
            .at_path(Path::new(path.as_str()), None, &repo.objects)
            .map_err(|e| failed(&e))?;
        let key: &BStr = path.as_str().as_bytes().as_bstr();
        let outcome = pipeline
            .convert_to_git(
                &data[..],
                Path::new(path.as_str()),
                &mut |_, attrs| {
                    entry.matching_attributes(attrs);
                },
                // `core.autocrlf` leaves a file alone whose indexed
                // content has CRs (as git does); that needs the index's
                // blob.
                &mut |buf| -> gix::Result<Option<()>> {
                    let Some(entry) = index.entry_by_path(key) else {
                        return Ok(None);
                    };
                    use gix::prelude::Find as _;
                    let found = repo
                        .objects
                        .try_find(&entry.id, buf)
                        .map_err(gix::Error::from_error)?;
                    Ok(found
                        .filter(|o| o.kind == gix::objs::Kind::Blob)
                        .map(|_| ()))
                },
            )
            .map_err(|e| failed(&e))?;
        use gix::filter::plumbing::pipeline::convert::ToGitOutcome;
        match outcome {
            ToGitOutcome::Unchanged(_) => Ok(data),
            ToGitOutcome::Buffer(converted) => Ok(Cow::Owned(converted.to_vec())),
            ToGitOutcome::Process(mut read) => {
                let mut out = Vec::new();
                read.read_to_end(&mut out).map_err(|e| failed(&e))?;
                Ok(Cow::Owned(out))
            }
        }
    }

    fn smudge<'a>(
        &mut self,
        path: &RepoPath,
        data: &'a [u8],
    ) -> std::result::Result<Cow<'a, [u8]>, Refused> {
        // gix writes `$Id: <hex>$` where git writes `$Id: <hex> $`; the
        // keyword is expanded here, git's way, and gix then finds none.
        let expanded = if self.check(path)?.ident {
            ident_to_worktree(data, self.repo.object_hash())
        } else {
            None
        };
        let failed = |e: &dyn std::fmt::Display| {
            Refused(format!(
                "git's checkout conversion (attributes, eol, filter) failed: {e}"
            ))
        };
        if let Some(expanded) = expanded {
            return Self::run_smudge(self, path, &expanded)
                .map(|out| Cow::Owned(out.into_owned()))
                .map_err(|e| failed(&e));
        }
        Self::run_smudge(self, path, data).map_err(|e| failed(&e))
    }

    /// gix's checkout conversion of `data` at `path`.
    fn run_smudge<'a>(&mut self, path: &RepoPath, data: &'a [u8]) -> gix::Result<Cow<'a, [u8]>> {
        let Self {
            repo,
            pipeline,
            attributes,
            ..
        } = self;
        let key: &BStr = path.as_str().as_bytes().as_bstr();
        let entry = attributes
            .at_entry(key, None, &repo.objects)
            .map_err(gix::Error::from_error)?;
        let options = gix::filter::plumbing::pipeline::convert::to_worktree::Options {
            // Delayed output needs the caller to drive the delay protocol;
            // one file at a time is enough here.
            can_delay: gix::filter::plumbing::driver::apply::Delay::Forbid,
            ..Default::default()
        };
        let outcome = pipeline.convert_to_worktree(
            data,
            key,
            &mut |_, attrs| {
                entry.matching_attributes(attrs);
            },
            options,
        )?;
        use gix::filter::plumbing::pipeline::convert::ToWorktreeOutcome;
        match outcome {
            ToWorktreeOutcome::Unchanged(same) => Ok(Cow::Borrowed(same)),
            ToWorktreeOutcome::Buffer(converted) => Ok(Cow::Owned(converted.to_vec())),
            mut process => {
                let mut out = Vec::new();
                process
                    .read_to_end(&mut out)
                    .map_err(gix::Error::from_error)?;
                Ok(Cow::Owned(out))
            }
        }
    }
}

/// git's `ident` expansion (`ident_to_worktree` in git's `convert.c`):
/// every `$Id$`, and every `$Id:…$` without a line break or inner space
/// that crept into a blob, becomes `$Id: <blob id> $`. `None` when there
/// is no keyword.
fn ident_to_worktree(data: &[u8], hash: gix::hash::Kind) -> Option<Vec<u8>> {
    // Where each keyword starts (at its `$`) and ends (after its last `$`).
    let mut keywords = Vec::new();
    let mut at = 0;
    while let Some(found) = data[at..].find_byte(b'$') {
        let dollar = at + found;
        let rest = &data[dollar + 1..];
        at = dollar + 1;
        if rest.len() < 3 || !rest.starts_with(b"Id") {
            continue;
        }
        match rest[2] {
            b'$' => {
                keywords.push((dollar, dollar + 4));
                at = dollar + 4;
            }
            b':' => {
                let Some(close) = rest[3..].find_byte(b'$') else {
                    break;
                };
                let inner = &rest[3..3 + close];
                // A line break, or a space before the last character: not
                // git's keyword (another system's, perhaps); kept.
                let space = inner.get(1..).and_then(|i| i.find_byte(b' '));
                if inner.contains(&b'\n') || space.is_some_and(|s| s + 1 < inner.len() - 1) {
                    continue;
                }
                let end = dollar + 1 + 3 + close + 1;
                keywords.push((dollar, end));
                at = end;
            }
            _ => {}
        }
    }
    if keywords.is_empty() {
        return None;
    }
    let id = gix::objs::compute_hash(hash, gix::objs::Kind::Blob, data).ok()?;
    let mut out = Vec::with_capacity(data.len() + keywords.len() * 48);
    let mut from = 0;
    for (start, end) in keywords {
        out.extend_from_slice(&data[from..start]);
        out.extend_from_slice(format!("$Id: {id} $").as_bytes());
        from = end;
    }
    out.extend_from_slice(&data[from..]);
    Some(out)
}

/// Whether anything in `repo` can make a file's committed form differ from
/// its working-tree form: `core.autocrlf` set to convert, or an attributes
/// file anywhere (in the index, among `extra_paths`, in
/// `$GIT_DIR/info/attributes`, `core.attributesFile` or the user's or
/// system's default one). Errs on the side of converting: a false "yes"
/// costs attribute lookups, a false "no" would carry wrong bytes.
fn may_convert<'p>(
    repo: &gix::Repository,
    index: &gix::index::State,
    extra_paths: impl IntoIterator<Item = &'p BStr>,
) -> bool {
    let config = repo.config_snapshot();
    let autocrlf = config.string("core.autocrlf").is_some_and(|v| {
        !matches!(
            v.to_str_lossy().to_ascii_lowercase().as_str(),
            "false" | "no" | "off" | "0" | ""
        )
    });
    if autocrlf || config.string("core.attributesFile").is_some() {
        return true;
    }
    let is_attributes = |path: &BStr| {
        path.rsplit_str("/").next() == Some(ATTRIBUTES_FILE.as_bytes())
            || path == ATTRIBUTES_FILE.as_bytes()
    };
    if index.entries().iter().any(|e| is_attributes(e.path(index)))
        || extra_paths.into_iter().any(is_attributes)
    {
        return true;
    }
    let mut files = vec![repo.common_dir().join("info").join("attributes")];
    match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(xdg) => files.push(Path::new(&xdg).join("git").join("attributes")),
        None => {
            if let Some(home) = std::env::var_os("HOME") {
                files.push(Path::new(&home).join(".config/git/attributes"));
            }
        }
    }
    if std::env::var_os("GIT_ATTR_NOSYSTEM").is_none() {
        files.push("/etc/gitattributes".into());
    }
    files.iter().any(|f| f.exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let ok = std::process::Command::new("git")
            .current_dir(dir)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    }

    fn repo_with(attributes: Option<&str>, config: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q"]);
        for (key, value) in config {
            git(dir.path(), &["config", key, value]);
        }
        if let Some(text) = attributes {
            std::fs::write(dir.path().join(ATTRIBUTES_FILE), text).unwrap();
            git(dir.path(), &["add", ATTRIBUTES_FILE]);
        }
        dir
    }

    fn path(p: &str) -> RepoPath {
        RepoPath::new(p).unwrap()
    }

    #[test]
    fn a_repository_without_attributes_or_autocrlf_converts_nothing() {
        let dir = repo_with(None, &[("core.autocrlf", "false")]);
        let repo = gix::open(dir.path()).unwrap();
        let mut conversions = Conversions::new(&repo, []).unwrap();
        assert!(!conversions.is_active());
        let data = b"a\r\nb\n";
        assert_eq!(
            conversions.clean(&path("x.txt"), Cow::Borrowed(data)),
            Ok(Cow::Borrowed(&data[..]))
        );
        // An untracked attributes file among the paths turns them on.
        let conversions = Conversions::new(&repo, [BStr::new("sub/.gitattributes")]).unwrap();
        assert!(conversions.is_active());
    }

    #[test]
    fn eol_crlf_converts_both_ways_and_other_paths_stay() {
        let dir = repo_with(Some("*.txt text eol=crlf\n"), &[]);
        let repo = gix::open(dir.path()).unwrap();
        let mut conversions = Conversions::new(&repo, []).unwrap();
        let to_git = |c: &mut Conversions<'_>, p: &str, d: &[u8]| {
            c.clean(&path(p), Cow::Borrowed(d)).unwrap().into_owned()
        };
        assert_eq!(to_git(&mut conversions, "a.txt", b"x\r\ny\r\n"), b"x\ny\n");
        assert_eq!(
            to_git(&mut conversions, "a.rs", b"x\r\ny\r\n"),
            b"x\r\ny\r\n"
        );
        assert_eq!(
            conversions.smudge(&path("d/a.txt"), b"x\ny\n").unwrap(),
            &b"x\r\ny\r\n"[..]
        );
        assert_eq!(
            conversions.smudge(&path("a.rs"), b"x\ny\n").unwrap(),
            &b"x\ny\n"[..]
        );
    }

    #[test]
    fn ident_expands_as_git_does() {
        let id = gix::objs::compute_hash(
            gix::hash::Kind::Sha1,
            gix::objs::Kind::Blob,
            b"a $Id$ b $Id: old $ c $Id: x y $ $Id:\n$",
        )
        .unwrap();
        assert_eq!(
            ident_to_worktree(
                b"a $Id$ b $Id: old $ c $Id: x y $ $Id:\n$",
                gix::hash::Kind::Sha1
            )
            .unwrap(),
            format!("a $Id: {id} $ b $Id: {id} $ c $Id: x y $ $Id:\n$").into_bytes()
        );
        assert_eq!(
            ident_to_worktree(b"no keyword $Id", gix::hash::Kind::Sha1),
            None
        );
    }

    #[test]
    fn a_driver_named_but_not_configured_is_refused_both_ways() {
        let dir = repo_with(Some("*.up filter=upper\n"), &[]);
        let repo = gix::open(dir.path()).unwrap();
        let mut conversions = Conversions::new(&repo, []).unwrap();
        let reason = "its attributes name the filter driver `upper`, which this repository does not configure (filter.upper.clean, .smudge or .process)";
        assert_eq!(
            conversions.clean(&path("a.up"), Cow::Borrowed(b"x")),
            Err(Refused(reason.to_owned()))
        );
        assert_eq!(
            conversions.smudge(&path("a.up"), b"X"),
            Err(Refused(reason.to_owned()))
        );
        assert_eq!(conversions.smudge(&path("a.txt"), b"X").unwrap(), &b"X"[..]);
    }
}
