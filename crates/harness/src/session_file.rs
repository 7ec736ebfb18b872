//! Helpers for adapters whose agents keep sessions as JSON-lines files and
//! are run as CLIs found on `PATH`.

use std::path::{Path, PathBuf};

/// The first of `names` found in a `PATH` directory.
pub fn find_on_path(names: &[&str]) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Cuts lines that are not JSON objects — the torn tail a killed agent CLI
/// leaves — so the session file stays valid for the next resume. Rewrites
/// atomically, and only when something had to be cut.
pub fn cut_torn_lines(file: &Path) -> std::io::Result<()> {
    let Ok(text) = std::fs::read_to_string(file) else {
        return Ok(());
    };
    let good: Vec<&str> = text
        .lines()
        .filter(|l| {
            matches!(
                serde_json::from_str::<serde_json::Value>(l),
                Ok(serde_json::Value::Object(_))
            )
        })
        .collect();
    if good.len() == text.lines().count() && (text.is_empty() || text.ends_with('\n')) {
        return Ok(());
    }
    let mut fixed = good.join("\n");
    fixed.push('\n');
    let tmp = file.with_extension("handoff-repair");
    std::fs::write(&tmp, fixed)?;
    std::fs::rename(&tmp, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_only_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.jsonl");
        std::fs::write(&file, "{\"a\":1}\n{\"b\":2}\n{\"c\":").unwrap();
        cut_torn_lines(&file).unwrap();
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "{\"a\":1}\n{\"b\":2}\n"
        );
        let before = std::fs::metadata(&file).unwrap().modified().unwrap();
        cut_torn_lines(&file).unwrap();
        assert_eq!(
            std::fs::metadata(&file).unwrap().modified().unwrap(),
            before,
            "a valid file is left alone"
        );
    }
}
