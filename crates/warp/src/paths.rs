//! Where Warp keeps its local agent conversations.
//!
//! The app keeps them in `warp.sqlite` in its state directory (Warp's
//! `crates/warp_core/src/paths.rs`: the platform's state directory for the
//! app, `warp-terminal` on Linux, the `dev.warp.Warp-Stable` application
//! support folder on macOS); its terminal agent CLI keeps its own under
//! `tui/` beside it. Preview builds use their own folder. A `--home` given
//! by the user replaces the search: a state directory, or the database file
//! itself.

use std::path::{Path, PathBuf};

/// The database's file name.
pub const DATABASE: &str = "warp.sqlite";

/// The databases under a state directory `home` (the app's, then the
/// terminal agent's), those that exist; `home` may also name a database
/// file.
pub fn databases_in(home: &Path) -> Vec<PathBuf> {
    if home.is_file() {
        return vec![home.to_owned()];
    }
    [home.join(DATABASE), home.join("tui").join(DATABASE)]
        .into_iter()
        .filter(|p| p.is_file())
        .collect()
}

/// The state directories Warp uses on this platform, stable first, whether
/// or not they exist.
pub fn state_dirs() -> Vec<PathBuf> {
    let Some(home) = std::env::var_os("HOME").map(PathBuf::from) else {
        return Vec::new();
    };
    if cfg!(target_os = "macos") {
        let support = home.join("Library/Application Support");
        let mut dirs = Vec::new();
        for app in ["dev.warp.Warp-Stable", "dev.warp.Warp-Preview"] {
            // Newer builds keep their state in the app group's container.
            if let Ok(groups) = std::fs::read_dir(home.join("Library/Group Containers")) {
                for group in groups.flatten() {
                    if group.file_name().to_string_lossy().ends_with(".dev.warp") {
                        dirs.push(group.path().join("Library/Application Support").join(app));
                    }
                }
            }
            dirs.push(support.join(app));
        }
        dirs
    } else {
        let state = std::env::var_os("XDG_STATE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .unwrap_or_else(|| home.join(".local/state"));
        ["warp-terminal", "warp-terminal-preview"]
            .into_iter()
            .map(|app| state.join(app))
            .collect()
    }
}

/// Every Warp database found: under `home` when given, else in Warp's
/// usual state directories.
pub fn databases(home: Option<&Path>) -> Vec<PathBuf> {
    match home {
        Some(home) => databases_in(home),
        None => state_dirs().iter().flat_map(|d| databases_in(d)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_and_its_terminal_agent_each_have_a_database() {
        let home = tempfile::tempdir().unwrap();
        assert!(databases_in(home.path()).is_empty());
        std::fs::create_dir(home.path().join("tui")).unwrap();
        std::fs::write(home.path().join("tui").join(DATABASE), b"").unwrap();
        std::fs::write(home.path().join(DATABASE), b"").unwrap();
        assert_eq!(
            databases_in(home.path()),
            [
                home.path().join(DATABASE),
                home.path().join("tui").join(DATABASE)
            ]
        );
        let file = home.path().join(DATABASE);
        assert_eq!(databases(Some(&file)), [file]);
        assert!(state_dirs().iter().all(|d| d.is_absolute()));
    }
}
