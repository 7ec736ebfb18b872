//! [`HarnessKind`]: the one type that names a harness — in run records, on
//! the command line, in errors and in the adapter registry.
//!
//! It is a name and nothing more: this crate knows no adapter by name.
//! Each adapter declares its own (its crate's `KIND`) and everything
//! that differs between adapters is data the adapter declares.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The name of a harness (`command`, `scripted`, an adapter's), as run
/// records and the command line spell it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HarnessKind(Cow<'static, str>);

impl HarnessKind {
    /// A kind named by a constant (an adapter's own `KIND`).
    pub const fn from_static(name: &'static str) -> Self {
        Self(Cow::Borrowed(name))
    }

    /// A kind named at run time (a record's harness, a flag).
    pub fn new(name: impl Into<String>) -> Self {
        Self(Cow::Owned(name.into()))
    }

    /// The name used in records and on the command line.
    pub fn name(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HarnessKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl PartialEq<str> for HarnessKind {
    fn eq(&self, other: &str) -> bool {
        self.name() == other
    }
}

impl PartialEq<&str> for HarnessKind {
    fn eq(&self, other: &&str) -> bool {
        self.name() == *other
    }
}

impl From<&str> for HarnessKind {
    fn from(name: &str) -> Self {
        Self::new(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_is_its_name_whichever_way_it_was_made() {
        const MINE: HarnessKind = HarnessKind::from_static("mine");
        assert_eq!(MINE, HarnessKind::new("mine"));
        assert_eq!(MINE.to_string(), "mine");
        assert_eq!(serde_json::to_string(&MINE).unwrap(), r#""mine""#);
        let back: HarnessKind = serde_json::from_str(r#""mine""#).unwrap();
        assert_eq!(back, MINE);
        assert!(MINE == "mine");
    }
}
