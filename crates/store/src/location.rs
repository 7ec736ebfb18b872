//! Where the store lives: `--store` flag, else `HANDOFF_STORE`, else
//! `$XDG_DATA_HOME/handoff`, else `~/.local/share/handoff`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;

use crate::{Error, FsStore, Result, Store};

/// The environment variable naming the store.
pub const ENV_VAR: &str = "HANDOFF_STORE";

/// A resolved store location.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// A directory on this machine, served by [`FsStore`].
    Dir(PathBuf),
    /// An object store named by URL (`s3://bucket/prefix`, `gs://…`,
    /// `az://…`), served by [`ObjectStoreBackend`](crate::ObjectStoreBackend)
    /// (feature `object-store`).
    Url(String),
}

impl Location {
    /// Resolves the location from an explicit choice (the `--store` flag) and
    /// the process environment.
    pub fn resolve(explicit: Option<&str>) -> Result<Self> {
        Self::resolve_with(explicit, |name| std::env::var_os(name))
    }

    /// Like [`Location::resolve`] with the environment given as a function, so
    /// callers and tests need not touch the process environment.
    pub fn resolve_with(
        explicit: Option<&str>,
        env: impl Fn(&str) -> Option<OsString>,
    ) -> Result<Self> {
        if let Some(text) = explicit {
            return Self::parse(text);
        }
        if let Some(value) = env(ENV_VAR).filter(|v| !v.is_empty()) {
            let text = value.into_string().map_err(|raw| Error::InvalidLocation {
                location: raw.to_string_lossy().into_owned(),
                reason: format!("{ENV_VAR} is not valid UTF-8"),
            })?;
            return Self::parse(&text);
        }
        // The XDG base directory spec says relative values are to be ignored.
        if let Some(data_home) = env("XDG_DATA_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
        {
            return Ok(Self::Dir(data_home.join("handoff")));
        }
        match env("HOME").map(PathBuf::from).filter(|p| p.is_absolute()) {
            Some(home) => Ok(Self::Dir(home.join(".local/share/handoff"))),
            None => Err(Error::InvalidLocation {
                location: String::new(),
                reason: format!(
                    "no --store given, {ENV_VAR} and XDG_DATA_HOME unset, and HOME is not an absolute path"
                ),
            }),
        }
    }

    /// Parses a store named by the user: a path, or a `file://` URL.
    pub fn parse(text: &str) -> Result<Self> {
        if text.is_empty() {
            return Err(Error::InvalidLocation {
                location: String::new(),
                reason: "empty store location".to_owned(),
            });
        }
        if let Some(path) = text.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(Error::InvalidLocation {
                    location: text.to_owned(),
                    reason: "a file:// URL needs an absolute path (file:///dir)".to_owned(),
                });
            }
            return Ok(Self::Dir(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return match scheme {
                "s3" | "s3a" | "gs" | "az" | "azure" | "abfs" | "abfss" => {
                    if cfg!(feature = "object-store") {
                        Ok(Self::Url(text.to_owned()))
                    } else {
                        Err(Error::InvalidLocation {
                            location: text.to_owned(),
                            reason: format!(
                                "{scheme}:// stores need handoff-store's `object-store` feature"
                            ),
                        })
                    }
                }
                _ => Err(Error::InvalidLocation {
                    location: text.to_owned(),
                    reason: format!("the {scheme}:// scheme is not supported"),
                }),
            };
        }
        Ok(Self::Dir(PathBuf::from(text)))
    }

    /// Opens the store at this location.
    pub fn open(&self) -> Result<Arc<dyn Store>> {
        match self {
            Self::Dir(dir) => Ok(Arc::new(FsStore::new(dir.clone()))),
            #[cfg(feature = "object-store")]
            Self::Url(url) => Ok(Arc::new(crate::ObjectStoreBackend::from_url(url)?)),
            #[cfg(not(feature = "object-store"))]
            Self::Url(url) => Err(Error::InvalidLocation {
                location: url.clone(),
                reason: "object stores need handoff-store's `object-store` feature".to_owned(),
            }),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dir(dir) => write!(f, "{}", dir.display()),
            Self::Url(url) => f.write_str(url),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn precedence_is_flag_env_xdg_home() {
        let all = [
            (ENV_VAR, "/from/env"),
            ("XDG_DATA_HOME", "/xdg"),
            ("HOME", "/home/u"),
        ];
        let dir = |p: &str| Location::Dir(PathBuf::from(p));
        assert_eq!(
            Location::resolve_with(Some("/flag"), env(&all)).ok(),
            Some(dir("/flag"))
        );
        assert_eq!(
            Location::resolve_with(None, env(&all)).ok(),
            Some(dir("/from/env"))
        );
        assert_eq!(
            Location::resolve_with(None, env(&all[1..])).ok(),
            Some(dir("/xdg/handoff"))
        );
        assert_eq!(
            Location::resolve_with(None, env(&all[2..])).ok(),
            Some(dir("/home/u/.local/share/handoff"))
        );
        // A relative XDG_DATA_HOME is ignored, as the spec says.
        assert_eq!(
            Location::resolve_with(None, env(&[("XDG_DATA_HOME", "rel"), ("HOME", "/h")])).ok(),
            Some(dir("/h/.local/share/handoff"))
        );
        assert!(matches!(
            Location::resolve_with(None, env(&[])),
            Err(Error::InvalidLocation { .. })
        ));
    }

    #[test]
    fn parses_file_urls_and_refuses_unknown_schemes() {
        assert_eq!(
            Location::parse("file:///srv/h").ok(),
            Some(Location::Dir(PathBuf::from("/srv/h")))
        );
        assert!(Location::parse("file://relative").is_err());
        assert!(Location::parse("gopher://x").is_err());
        assert_eq!(
            Location::parse("s3://bucket/prefix").is_ok(),
            cfg!(feature = "object-store")
        );
        assert!(Location::parse("").is_err());
    }
}
