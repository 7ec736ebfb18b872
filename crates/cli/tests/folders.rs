//! `snapshot`, `apply` and `diff` on a folder of repositories, as `push`
//! takes one: the snapshot names every repository, apply applies each to
//! the repository of the same name and reports per repository, and a diff
//! of several is one patch per repository (`--out DIR`) or the one asked
//! for (`--repo NAME`), never several glued together on stdout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use handoff_dev::git_command;
use serde_json::{Value, json};
use support::{Machine, script, stderr, stdout};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_command(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A repository at `dir` with one commit of `files`.
fn repo(dir: &Path, files: &[(&str, &str)]) -> String {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    for (path, content) in files {
        std::fs::write(dir.join(path), content).unwrap();
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "base"]);
    git(dir, &["rev-parse", "HEAD"])
}

/// A folder holding `api` and `web`, each with an uncommitted change, and
/// a second folder of clones of both at the same commits.
struct Folders {
    me: Machine,
    _store: tempfile::TempDir,
    work: tempfile::TempDir,
    clones: tempfile::TempDir,
}

impl Folders {
    fn new() -> Self {
        let store = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        repo(&work.path().join("api"), &[("lib.rs", "pub fn api() {}\n")]);
        repo(&work.path().join("web"), &[("index.html", "<p>web</p>\n")]);
        std::fs::write(work.path().join("api/lib.rs"), "pub fn api() -> u8 { 1 }\n").unwrap();
        std::fs::write(work.path().join("web/new.css"), "p { color: red }\n").unwrap();
        let clones = tempfile::tempdir().unwrap();
        for name in ["api", "web"] {
            git(
                clones.path(),
                &[
                    "clone",
                    "-q",
                    work.path().join(name).to_str().unwrap(),
                    name,
                ],
            );
        }
        Self {
            me: Machine::new(store.path()),
            _store: store,
            work,
            clones,
        }
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    fn clone_dir(&self, name: &str) -> PathBuf {
        self.clones.path().join(name)
    }

    fn snapshot(&self) -> String {
        self.me
            .ok(&["snapshot"], self.work.path())
            .trim()
            .to_owned()
    }
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(out), stderr(out)))
}

#[test]
fn a_folder_snapshot_names_each_repository_and_applies_to_each() {
    let f = Folders::new();
    let out = f.me.handoff(&["snapshot"], f.work.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let id = stdout(&out).trim().to_owned();
    assert!(id.starts_with("sha256:") && !id.contains('\n'), "{id}");
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with("handoff: repository api: sha256:")
            && lines[0].ends_with(" (1 files)"),
        "{err}"
    );
    assert!(
        lines[1].starts_with("handoff: repository web: sha256:")
            && lines[1].ends_with(" (1 files)"),
        "{err}"
    );

    let shown = json_of(&f.me.handoff(&["snapshot", "--json"], f.work.path()));
    assert_eq!(shown["id"], json!(id), "the same state, the same id");
    let repos: Vec<(&str, &str)> = shown["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["repo"].as_str().unwrap(),
                r["files"][0]["path"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(repos, [("api", "lib.rs"), ("web", "new.css")]);

    let applied = f.me.handoff(&["apply", &id, "--json"], f.clones.path());
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    let report = |applied: &[&str]| {
        json!({
            "applied": applied,
            "already_applied": [],
            "merged": [],
            "skipped": [],
            "failed": [],
            "warnings": [],
        })
    };
    assert_eq!(
        json_of(&applied),
        json!({"repositories": [
            {"repo": "api", "report": report(&["lib.rs"])},
            {"repo": "web", "report": report(&["new.css"])},
        ]})
    );
    assert_eq!(
        std::fs::read_to_string(f.clone_dir("api/lib.rs")).unwrap(),
        "pub fn api() -> u8 { 1 }\n"
    );
    assert_eq!(
        std::fs::read_to_string(f.clone_dir("web/new.css")).unwrap(),
        "p { color: red }\n"
    );

    let again = f.me.handoff(&["apply", &id], f.clones.path());
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(
        stdout(&again),
        "repository api:\napplied 0, already applied 1, merged 0, skipped 0, failed 0\n\
         repository web:\napplied 0, already applied 1, merged 0, skipped 0, failed 0\n"
    );
}

#[test]
fn a_missing_repository_fails_alone_and_exits_3() {
    let f = Folders::new();
    let id = f.snapshot();
    std::fs::remove_dir_all(f.clone_dir("web")).unwrap();
    let out = f.me.handoff(&["apply", &id, "--json"], f.clones.path());
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let report = json_of(&out);
    assert_eq!(report["repositories"][0]["repo"], "api");
    assert_eq!(
        report["repositories"][0]["report"]["applied"],
        json!(["lib.rs"])
    );
    assert_eq!(report["repositories"][1]["repo"], "web");
    assert_eq!(
        report["repositories"][1]["error"],
        json!("no git repository in ./web")
    );
}

/// `git apply --check` then `git apply` of `patch` in `dir`.
fn git_apply(dir: &Path, patch: &Path) {
    git(dir, &["apply", "--check", patch.to_str().unwrap()]);
    git(dir, &["apply", patch.to_str().unwrap()]);
}

#[test]
fn a_folder_diff_is_one_patch_per_repository_never_glued() {
    let f = Folders::new();
    let id = f.snapshot();

    let glued = f.me.handoff(&["diff", &id], f.work.path());
    assert_eq!(glued.status.code(), Some(1), "{}", stderr(&glued));
    assert_eq!(stdout(&glued), "");
    assert_eq!(
        stderr(&glued),
        format!(
            "handoff: snapshot {id} holds 2 repositories (api, web): their patches cannot be applied as one; write one per repository with --out DIR, or pick one with --repo NAME\n"
        )
    );

    let one = f.me.handoff(&["diff", &id, "--repo", "web"], f.work.path());
    assert_eq!(one.status.code(), Some(0), "{}", stderr(&one));
    assert!(
        stdout(&one).contains("+++ b/new.css") && !stdout(&one).contains("lib.rs"),
        "{}",
        stdout(&one)
    );
    let unknown = f.me.handoff(&["diff", &id, "--repo", "db"], f.work.path());
    assert_eq!(unknown.status.code(), Some(1));
    assert_eq!(
        stderr(&unknown),
        format!("handoff: snapshot {id} has no repository \"db\"; its repositories: api, web\n")
    );

    let out_dir = tempfile::tempdir().unwrap();
    let patches = out_dir.path().join("patches");
    let written = f.me.ok(
        &["diff", &id, "--out", patches.to_str().unwrap()],
        f.work.path(),
    );
    let api = patches.join("api.patch");
    let web = patches.join("web.patch");
    assert_eq!(written, format!("{}\n{}\n", api.display(), web.display()));
    git_apply(&f.clone_dir("api"), &api);
    git_apply(&f.clone_dir("web"), &web);
    for name in ["api", "web"] {
        assert_eq!(
            git(&f.clone_dir(name), &["status", "--porcelain"]),
            git(&f.dir(name), &["status", "--porcelain"]),
            "{name}"
        );
    }

    // One repository's snapshot prints as before, and --out names its
    // patch workspace.patch.
    let single = f.me.ok(&["snapshot"], &f.dir("api")).trim().to_owned();
    let printed = f.me.ok(&["diff", &single], &f.dir("api"));
    let alone = out_dir.path().join("alone");
    let written = f.me.ok(
        &["diff", &single, "--out", alone.to_str().unwrap()],
        &f.dir("api"),
    );
    let file = alone.join("workspace.patch");
    assert_eq!(written, format!("{}\n", file.display()));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), printed);
}

#[test]
fn a_run_of_several_repositories_diffs_one_patch_per_repository() {
    let f = Folders::new();
    let bin = tempfile::tempdir().unwrap();
    let agent = script(
        bin.path(),
        "agent.sh",
        "cat >/dev/null; echo agent > api/agent.txt; echo agent > web/agent.txt; echo done",
    );
    let run =
        f.me.push_and_wait(agent.to_str().unwrap(), "work in both", f.work.path());
    let glued = f.me.handoff(&["diff", &run], f.work.path());
    assert_eq!(glued.status.code(), Some(1), "{}", stderr(&glued));
    assert_eq!(stdout(&glued), "", "nothing glued on stdout");
    assert!(
        stderr(&glued).contains("holds 2 repositories (api, web)"),
        "{}",
        stderr(&glued)
    );

    let patches = tempfile::tempdir().unwrap();
    f.me.ok(
        &["diff", &run, "--out", patches.path().to_str().unwrap()],
        f.work.path(),
    );
    for name in ["api", "web"] {
        let patch = std::fs::read_to_string(patches.path().join(format!("{name}.patch"))).unwrap();
        assert!(patch.contains("+++ b/agent.txt"), "{name}: {patch}");
        git_apply(
            &f.clone_dir(name),
            &patches.path().join(format!("{name}.patch")),
        );
        assert_eq!(
            std::fs::read_to_string(f.clone_dir(name).join("agent.txt")).unwrap(),
            "agent\n"
        );
    }
}

#[test]
fn a_secret_in_one_repository_stops_the_folder_before_anything_is_written() {
    let f = Folders::new();
    let key = format!("AKIA{}", "Q3EGRDBSAK7XFZMN");
    std::fs::write(f.dir("web/config.js"), format!("const k = \"{key}\";\n")).unwrap();
    let out = f.me.handoff(&["snapshot"], f.work.path());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("web/config.js") && !stderr(&out).contains(&key),
        "{}",
        stderr(&out)
    );
    let stored = walk(&f.me.store);
    assert_eq!(stored, Vec::<PathBuf>::new(), "nothing written");
}

/// Every file under `dir` (none when it does not exist).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.path().is_dir() {
                stack.push(entry.path());
            } else {
                out.push(entry.path());
            }
        }
    }
    out
}
