//! The follow-up form's CSRF token: 32 random bytes drawn when the server
//! starts, put in every form it renders and required on every post.
//!
//! The server keeps no sessions, so one token per process is enough: a
//! page on another origin cannot read it (the server sends no CORS headers
//! and, bound to loopback, answers only to its own host names), and it
//! changes with every start.

use anyhow::Context as _;

/// The token.
#[derive(Clone)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

impl Token {
    /// A fresh random token.
    pub fn new() -> anyhow::Result<Self> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).context("cannot draw random bytes for the CSRF token")?;
        Ok(Self(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    /// The token as the form carries it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `given` is the token, compared in time that does not depend
    /// on where they differ.
    pub fn matches(&self, given: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), given.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_token_itself_matches() {
        let token = Token::new().unwrap();
        let text = token.as_str().to_owned();
        assert_eq!(text.len(), 64);
        assert!(token.matches(&text));
        assert!(!token.matches(""));
        assert!(!token.matches(&text[..63]));
        let mut forged = text.clone().into_bytes();
        forged[10] = if forged[10] == b'0' { b'1' } else { b'0' };
        assert!(!token.matches(std::str::from_utf8(&forged).unwrap()));
        assert_ne!(
            Token::new().unwrap().as_str(),
            text,
            "a new token each time"
        );
    }
}
