//! [`Digest`]: the SHA-256 name of a blob, validated once at construction.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

use crate::Error;

const PREFIX: &str = "sha256:";

/// The SHA-256 of a blob's bytes, written `sha256:<64 lowercase hex digits>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

impl Digest {
    /// The digest of `data`.
    pub fn of(data: &[u8]) -> Self {
        Self(Sha256::digest(data).into())
    }

    /// Wraps a raw 32-byte SHA-256 value.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64 lowercase hex digits, without the `sha256:` prefix.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// Incremental hashing, for content that arrives in pieces.
#[derive(Debug, Default, Clone)]
pub struct Hasher(Sha256);

impl Hasher {
    /// A hasher with nothing fed yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds more bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest of everything fed.
    pub fn finish(self) -> Digest {
        Digest(self.0.finalize().into())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Digest {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Error> {
        let invalid = |reason: &'static str| Error::InvalidDigest {
            input: input.chars().take(80).collect(),
            reason,
        };
        let hex_part = input
            .strip_prefix(PREFIX)
            .ok_or_else(|| invalid("expected the prefix `sha256:`"))?;
        if hex_part.len() != 64 {
            return Err(invalid("expected 64 hex digits after `sha256:`"));
        }
        if hex_part.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(invalid("hex digits must be lowercase"));
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut bytes).map_err(|_| invalid("not hex"))?;
        Ok(Self(bytes))
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        let digest = Digest::of(b"");
        let text = digest.to_string();
        assert_eq!(
            text,
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(text.parse::<Digest>().ok(), Some(digest));
    }

    #[test]
    fn incremental_matches_one_shot() {
        let mut hasher = Hasher::new();
        hasher.update(b"hel");
        hasher.update(b"lo");
        assert_eq!(hasher.finish(), Digest::of(b"hello"));
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "",
            "sha256:",
            "sha1:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:zzb0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8",
        ] {
            let err = bad.parse::<Digest>().err();
            assert!(
                matches!(err, Some(Error::InvalidDigest { .. })),
                "{bad:?} gave {err:?}"
            );
        }
    }

    #[test]
    fn serde_uses_the_text_form() -> Result<(), serde_json::Error> {
        let digest = Digest::of(b"x");
        let json = serde_json::to_string(&digest)?;
        assert_eq!(json, format!("\"{digest}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json)?, digest);
        assert!(serde_json::from_str::<Digest>("\"sha256:00\"").is_err());
        Ok(())
    }
}
