//! Remote URLs as they may be stored: without the credentials a user put in
//! them.
//!
//! A remote URL such as `https://x-access-token:ghp_…@host/o/r.git` works
//! locally because the token rides in the URL; stored in a manifest or a run
//! record it would hand the token to everyone who can read the store. What
//! is stored instead is the URL a receiving side clones with its *own*
//! credentials (its credential helpers, its SSH keys):
//!
//! - a URL (`scheme://…`) loses its password, and for every scheme but SSH
//!   its user name too — HTTP hosts accept a token as the user name
//!   (`https://ghp_…@github.com/…`), so over HTTP a user name is a secret
//!   as much as a password is; over SSH the user (`ssh://git@host/…`) names
//!   the account the key logs into, and cloning needs it;
//! - scp-like `user@host:path` keeps its user: that syntax has no password,
//!   and the user is the SSH account, not a secret;
//! - a local path is unchanged.

/// `url` without its credentials (see the [module](self) documentation).
pub fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The authority ends at the first `/`, `?` or `#`; userinfo is what
    // comes before its last `@` (a password may contain `@` only encoded,
    // but a careless one is still cut whole).
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    let ssh = matches!(
        scheme.to_ascii_lowercase().as_str(),
        "ssh" | "git+ssh" | "ssh+git"
    );
    let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
    if ssh && !user.is_empty() {
        format!("{scheme}://{user}@{host}{tail}")
    } else {
        format!("{scheme}://{host}{tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::without_credentials;

    #[test]
    fn credentials_are_removed_and_everything_else_kept() {
        let cases = [
            (
                "https://x-access-token:ghp_abc@github.com/o/r.git",
                "https://github.com/o/r.git",
            ),
            (
                "https://ghp_abc@github.com/o/r.git",
                "https://github.com/o/r.git",
            ),
            (
                "http://user:pass@host:8080/r?x=1#y",
                "http://host:8080/r?x=1#y",
            ),
            ("https://u:p@ss@host/r", "https://host/r"),
            ("https://host/path@with/at", "https://host/path@with/at"),
            ("https://host/o/r.git", "https://host/o/r.git"),
            ("ssh://git:secret@host/o/r.git", "ssh://git@host/o/r.git"),
            ("ssh://git@host:22/o/r.git", "ssh://git@host:22/o/r.git"),
            ("git+ssh://:secret@host/r", "git+ssh://host/r"),
            ("git://user@host/r", "git://host/r"),
            ("file://user:pw@/srv/r.git", "file:///srv/r.git"),
            ("git@github.com:o/r.git", "git@github.com:o/r.git"),
            ("/srv/git/r.git", "/srv/git/r.git"),
            ("../r.git", "../r.git"),
        ];
        let actual: Vec<(&str, String)> = cases
            .iter()
            .map(|(url, _)| (*url, without_credentials(url)))
            .collect();
        let expected: Vec<(&str, String)> = cases
            .iter()
            .map(|(url, stripped)| (*url, (*stripped).to_owned()))
            .collect();
        assert_eq!(actual, expected);
    }
}
