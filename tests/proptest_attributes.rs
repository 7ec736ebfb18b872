//! Property test of git's conversions through snapshot → apply, with git as
//! the oracle: random contents mixing CRLF, LF and lone CR (some binary),
//! random `text`/`eol`/`binary` attributes and random `core.autocrlf` on
//! the source and on the target. One fresh clone gets the change through
//! handoff, another through git's own checkout of the same state
//! ([`oracle::checkout_carry`]: `git apply` cannot apply some of its own
//! patches to CRLF files, such as one deleting a file that ends in a lone
//! CR); every entry
//! handoff applied holds git's bytes, every other entry is named as failed
//! with a reason, and with no failure the two clones' `git status` and
//! `git diff` agree.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use handoff_dev::{GitRepo, oracle};
use handoff_store::MemoryStore;
use handoff_workspace::{ApplyOptions, SnapshotOptions, apply, snapshot};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// Paths with distinct extensions, so each can get its own attributes.
const PATHS: &[&str] = &["a.txt", "b.md", "c.bat", "d/e.cfg", "f.dat"];

/// Attribute lines git users write for line endings.
const ATTRIBUTES: &[&str] = &[
    "",
    "text",
    "-text",
    "binary",
    "text eol=crlf",
    "text eol=lf",
    "eol=crlf",
    "eol=lf",
    "text=auto",
    "text=auto eol=crlf",
    "-crlf",
];

const AUTOCRLF: &[&str] = &["false", "true", "input"];

/// Lines ending in LF, CRLF, a lone CR or nothing; a NUL makes a file
/// binary to git's auto-detection.
fn content() -> impl Strategy<Value = Vec<u8>> {
    let line = (0u8..4, 0u8..4, any::<bool>());
    prop::collection::vec(line, 0..6).prop_map(|lines| {
        let mut out = Vec::new();
        for (text, ending, nul) in lines {
            out.extend_from_slice(format!("line {text}").as_bytes());
            if nul {
                out.push(0);
            }
            out.extend_from_slice(match ending {
                0 => b"\n".as_slice(),
                1 => b"\r\n",
                2 => b"\r",
                _ => b"",
            });
        }
        out
    })
}

#[derive(Debug, Clone)]
enum Edit {
    Keep,
    Write(Vec<u8>),
    Delete,
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        1 => Just(Edit::Keep),
        3 => content().prop_map(Edit::Write),
        1 => Just(Edit::Delete),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    /// Index into [`ATTRIBUTES`] per path.
    attributes: Vec<usize>,
    base: Vec<Vec<u8>>,
    edits: Vec<Edit>,
    /// A file the source adds, untracked.
    added: Vec<u8>,
    source_autocrlf: usize,
    target_autocrlf: usize,
}

fn case() -> impl Strategy<Value = Case> {
    let n = PATHS.len();
    (
        prop::collection::vec(0..ATTRIBUTES.len(), n),
        prop::collection::vec(content(), n),
        prop::collection::vec(edit(), n),
        content(),
        0..AUTOCRLF.len(),
        0..AUTOCRLF.len(),
    )
        .prop_map(
            |(attributes, base, edits, added, source_autocrlf, target_autocrlf)| Case {
                attributes,
                base,
                edits,
                added,
                source_autocrlf,
                target_autocrlf,
            },
        )
}

fn attributes_file(case: &Case) -> String {
    let mut text = String::new();
    for (path, &attr) in PATHS.iter().zip(&case.attributes) {
        let ext = path.rsplit('.').next().unwrap();
        if !ATTRIBUTES[attr].is_empty() {
            text.push_str(&format!("*.{ext} {}\n", ATTRIBUTES[attr]));
        }
    }
    // The added file shares the first path's attributes.
    text
}

fn run(case: &Case) {
    let origin = GitRepo::init();
    origin.write(".gitattributes", attributes_file(case));
    for (path, data) in PATHS.iter().zip(&case.base) {
        origin.write(path, data);
    }
    origin.commit_all("base");
    let source_config = [("core.autocrlf", AUTOCRLF[case.source_autocrlf])];
    let target_config = [("core.autocrlf", AUTOCRLF[case.target_autocrlf])];
    let source = GitRepo::clone_configured(&origin, &source_config);
    let ours = GitRepo::clone_configured(&origin, &target_config);
    let theirs = GitRepo::clone_configured(&origin, &target_config);
    for (path, edit) in PATHS.iter().zip(&case.edits) {
        match edit {
            Edit::Keep => {}
            Edit::Write(data) => {
                source.write(path, data);
            }
            Edit::Delete => {
                source.remove(path);
            }
        }
    }
    source.write("new.txt", &case.added);

    let store = MemoryStore::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let snap = rt
        .block_on(snapshot(source.path(), &store, &SnapshotOptions::default()))
        .unwrap();
    assert!(snap.skipped.is_empty(), "{:?}", snap.skipped);
    // Every id is what `git add` gives.
    for entry in &snap.manifest.entries {
        if let Some(result) = &entry.result {
            assert_eq!(
                result.oid.to_string(),
                oracle::hash(&source, &entry.path),
                "{}",
                entry.path
            );
        }
    }
    let report = rt
        .block_on(apply(
            ours.path(),
            &store,
            &snap.id,
            &ApplyOptions::default(),
        ))
        .unwrap();
    oracle::checkout_carry(&source, &theirs);

    let (ours_tree, theirs_tree) = (ours.tree_state(), theirs.tree_state());
    for failure in &report.failed {
        assert!(!failure.reason.is_empty(), "{failure:?}");
    }
    let failed: Vec<&str> = report.failed.iter().map(|f| f.path.as_str()).collect();
    let mut paths: Vec<&String> = ours_tree.keys().chain(theirs_tree.keys()).collect();
    paths.sort();
    paths.dedup();
    for path in paths {
        if failed.contains(&path.as_str()) {
            continue;
        }
        assert_eq!(
            ours_tree.get(path),
            theirs_tree.get(path),
            "{path}: handoff and git disagree ({report:?})"
        );
    }
    if failed.is_empty() {
        assert_eq!(ours.status(), theirs.status());
        assert_eq!(oracle::diff(&ours), oracle::diff(&theirs));
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 32,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/proptest-regressions/proptest_attributes.txt",
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn conversions_match_git_or_name_the_entry(case in case()) {
        run(&case);
    }
}
