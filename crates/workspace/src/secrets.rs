//! Find likely secrets in what a handoff would send off this machine.
//!
//! Two kinds of rules: **file names** (`.env*`, SSH private keys, `*.pem`,
//! `*.p12`, `credentials.json`, …) and **content patterns** for common token
//! formats (cloud keys, API tokens, private key blocks, high-entropy
//! assignments). Content patterns are compiled once into one
//! [`regex::bytes::RegexSet`], so a file with no secret costs a single pass;
//! only files that match are searched line by line to say where.
//!
//! A [`Finding`] says where and which rule — never the matched text — so
//! findings can be shown, logged and stored without leaking what they found.
//! Hosts decide what to do with findings; every command that sends
//! something off the machine (`push`, `follow-up`, `snapshot`, `import`)
//! stops unless the user passes `--allow-secrets` or excludes the files
//! (see `handoff_engine::outgoing`).

use std::sync::LazyLock;

use regex::bytes::{Regex, RegexSet};
use serde::Serialize;

use crate::manifest::Kind;
use crate::snapshot::Capture;

/// One likely secret: where it is and which rule matched.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Finding {
    /// The file's path, or a label such as `conversation:message/12`.
    pub path: String,
    /// The 1-based line, for content rules.
    pub line: Option<u32>,
    /// The rule's id, such as `aws-access-key-id`.
    pub rule: &'static str,
    /// What the rule looks for.
    pub description: &'static str,
}

struct ContentRule {
    id: &'static str,
    description: &'static str,
    pattern: &'static str,
    /// For generic assignments: the value (capture group 1) must look random.
    min_entropy: Option<f64>,
}

const CONTENT_RULES: &[ContentRule] = &[
    ContentRule {
        id: "private-key",
        description: "a private key block",
        pattern: r"-----BEGIN (?:RSA |DSA |EC |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?-----",
        min_entropy: None,
    },
    ContentRule {
        id: "aws-access-key-id",
        description: "an AWS access key id",
        pattern: r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\b",
        min_entropy: None,
    },
    ContentRule {
        id: "aws-secret-access-key",
        description: "an AWS secret access key",
        pattern: r#"(?i)aws_?secret_?access_?key\s*[:=]\s*['"]?[A-Za-z0-9/+]{40}\b"#,
        min_entropy: None,
    },
    ContentRule {
        id: "github-token",
        description: "a GitHub token",
        pattern: r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})\b",
        min_entropy: None,
    },
    ContentRule {
        id: "gitlab-token",
        description: "a GitLab personal access token",
        pattern: r"\bglpat-[A-Za-z0-9_-]{20,}\b",
        min_entropy: None,
    },
    ContentRule {
        id: "slack-token",
        description: "a Slack token",
        pattern: r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b",
        min_entropy: None,
    },
    ContentRule {
        id: "stripe-key",
        description: "a Stripe live key",
        pattern: r"\b(?:sk|rk)_live_[A-Za-z0-9]{16,}\b",
        min_entropy: None,
    },
    ContentRule {
        id: "google-api-key",
        description: "a Google API key",
        pattern: r"\bAIza[0-9A-Za-z_-]{35}\b",
        min_entropy: None,
    },
    ContentRule {
        id: "anthropic-api-key",
        description: "an Anthropic API key",
        pattern: r"\bsk-ant-[A-Za-z0-9_-]{20,}",
        min_entropy: None,
    },
    ContentRule {
        id: "openai-api-key",
        description: "an OpenAI API key",
        pattern: r"\b(?:sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}|sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,})",
        min_entropy: None,
    },
    ContentRule {
        id: "npm-token",
        description: "an npm auth token",
        pattern: r"(?:_authToken\s*=\s*\S{10,}|\bnpm_[A-Za-z0-9]{36}\b)",
        min_entropy: None,
    },
    ContentRule {
        id: "jwt",
        description: "a JSON Web Token",
        pattern: r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",
        min_entropy: None,
    },
    ContentRule {
        id: "url-credentials",
        description: "a password in a URL",
        pattern: r"\b[a-z][a-z0-9+.-]*://[^\s:/@]+:[^\s:/@]{6,}@[^\s/]+",
        min_entropy: None,
    },
    ContentRule {
        id: "high-entropy-assignment",
        description: "a random-looking value assigned to a secret-like name",
        pattern: r#"(?i)(?:api[_-]?key|secret|token|passw(?:or)?d|access[_-]?key|private[_-]?key|client[_-]?secret)\w*["']?\s*[:=]\s*["']?([A-Za-z0-9/+_=.-]{20,})"#,
        min_entropy: Some(3.5),
    },
];

struct NameRule {
    id: &'static str,
    description: &'static str,
    matches: fn(&str) -> bool,
}

const NAME_RULES: &[NameRule] = &[
    NameRule {
        id: "dotenv-file",
        description: "an environment file (.env)",
        matches: |name| {
            (name == ".env" || name.starts_with(".env."))
                && ![
                    ".env.example",
                    ".env.sample",
                    ".env.template",
                    ".env.dist",
                    ".env.defaults",
                ]
                .contains(&name)
        },
    },
    NameRule {
        id: "ssh-private-key",
        description: "an SSH private key file",
        matches: |name| {
            matches!(
                name,
                "id_rsa" | "id_dsa" | "id_ecdsa" | "id_ed25519" | "id_ecdsa_sk" | "id_ed25519_sk"
            )
        },
    },
    NameRule {
        id: "key-file",
        description: "a key or certificate store (*.pem, *.key, *.p12, *.pfx, *.jks, *.keystore)",
        matches: |name| {
            [".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".kdbx"]
                .iter()
                .any(|ext| name.len() > ext.len() && name.ends_with(ext))
        },
    },
    NameRule {
        id: "credentials-file",
        description: "a credentials file",
        matches: |name| {
            matches!(
                name,
                "credentials.json"
                    | "credentials"
                    | ".git-credentials"
                    | ".netrc"
                    | "_netrc"
                    | ".pypirc"
                    | ".htpasswd"
                    | "service-account.json"
            )
        },
    },
];

/// The compiled rules. Build once ([`Scanner::builtin`] is shared) and reuse.
pub struct Scanner {
    set: RegexSet,
    regexes: Vec<Regex>,
}

impl std::fmt::Debug for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner")
            .field("content_rules", &self.regexes.len())
            .finish()
    }
}

/// Fewer contents than this per thread are scanned on one thread.
const SCAN_MIN_PER_THREAD: usize = 64;

static BUILTIN: LazyLock<Result<Scanner, regex::Error>> = LazyLock::new(Scanner::compile);

/// The built-in rules failed to compile (a bug in this crate).
#[derive(Debug, thiserror::Error)]
#[error("the built-in secret rules do not compile: {0}")]
pub struct RulesError(String);

impl Scanner {
    fn compile() -> Result<Self, regex::Error> {
        let patterns: Vec<&str> = CONTENT_RULES.iter().map(|r| r.pattern).collect();
        Ok(Self {
            set: RegexSet::new(&patterns)?,
            regexes: patterns
                .iter()
                .map(|p| Regex::new(p))
                .collect::<Result<_, _>>()?,
        })
    }

    /// The built-in rules, compiled once per process.
    pub fn builtin() -> Result<&'static Scanner, RulesError> {
        BUILTIN.as_ref().map_err(|e| RulesError(e.to_string()))
    }

    /// The rule a file's name matches, if any.
    pub fn scan_name(&self, path: &str) -> Option<Finding> {
        let name = path.rsplit('/').next().unwrap_or(path);
        NAME_RULES
            .iter()
            .find(|r| (r.matches)(name))
            .map(|r| Finding {
                path: path.to_owned(),
                line: None,
                rule: r.id,
                description: r.description,
            })
    }

    /// Every content rule that matches `data`, with its line. Binary content
    /// (a NUL byte) is not searched; its name rules still apply.
    pub fn scan_content(&self, path: &str, data: &[u8]) -> Vec<Finding> {
        if data.contains(&0) || !self.set.is_match(data) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (index, line) in data.split(|&b| b == b'\n').enumerate() {
            let matched = self.set.matches(line);
            // A specific rule says more than the generic one: report only it.
            let specific = matched
                .iter()
                .any(|i| CONTENT_RULES[i].min_entropy.is_none());
            for rule_index in matched.into_iter() {
                let rule = &CONTENT_RULES[rule_index];
                if let Some(min) = rule.min_entropy {
                    let random = !specific
                        && self.regexes[rule_index]
                            .captures_iter(line)
                            .filter_map(|c| c.get(1))
                            .any(|value| looks_random(value.as_bytes(), min));
                    if !random {
                        continue;
                    }
                }
                out.push(Finding {
                    path: path.to_owned(),
                    line: u32::try_from(index + 1).ok(),
                    rule: rule.id,
                    description: rule.description,
                });
            }
        }
        out
    }

    /// Every content rule that matches a JSON value (a conversation's
    /// message, tool calls and native lines included), labelled `label`
    /// with no line: its compact encoding, where a key and its value meet
    /// (`"api_key":"…"`), and each string in it on its own, decoded — JSON
    /// escaping (`\"`, `\n`) would hide an assignment or a key block from
    /// the rules — and, when a string is itself JSON (a native line kept as
    /// text), what it holds.
    pub fn scan_json(&self, label: &str, value: &serde_json::Value) -> Vec<Finding> {
        let mut out = Vec::new();
        if let Ok(compact) = serde_json::to_vec(value) {
            out.extend(self.scan_content(label, &compact));
        }
        let mut stack = vec![value];
        let mut nested = Vec::new();
        while let Some(value) = stack.pop() {
            match value {
                serde_json::Value::String(text) => {
                    out.extend(self.scan_content(label, text.as_bytes()));
                    let trimmed = text.trim_start();
                    if (trimmed.starts_with('{') || trimmed.starts_with('['))
                        && let Ok(inner) = serde_json::from_str::<serde_json::Value>(text)
                    {
                        nested.push(inner);
                    }
                }
                serde_json::Value::Array(items) => stack.extend(items),
                serde_json::Value::Object(map) => {
                    for (key, value) in map {
                        out.extend(self.scan_content(label, key.as_bytes()));
                        stack.push(value);
                    }
                }
                _ => {}
            }
        }
        for inner in &nested {
            out.extend(self.scan_json(label, inner));
        }
        for finding in &mut out {
            finding.line = None;
        }
        out.sort();
        out.dedup();
        out
    }

    /// Scans everything a captured snapshot would send: the names of every
    /// added or modified file, and every piece of content it stores — each
    /// entry's working-tree, staged and base content and the carried
    /// history's blobs and commit messages — each once, named by where it is
    /// (`path`, `path (staged)`, `path (base)`, `history:<path>`,
    /// `history:commit <oid>`) — and the manifest's base: the remote URL
    /// (`base.remote`, stored without credentials, so what is left there
    /// is what is scanned) and the branch name (`base.branch`).
    pub fn scan_capture(&self, capture: &Capture) -> Vec<Finding> {
        let mut out = Vec::new();
        // Every place each content is, each file once: the same secret in
        // several files is reported in each (fixing one must not hide the
        // others), but a file whose staged or base content is its working
        // content is reported once. Submodules' entries are named under
        // their path (`sub/file`).
        let mut labels: std::collections::HashMap<handoff_store::Digest, Vec<String>> =
            std::collections::HashMap::new();
        for (prefix, manifest) in capture.manifest.walk() {
            let base = &manifest.base;
            for (label, text) in [("base.remote", &base.remote), ("base.branch", &base.branch)] {
                if let Some(text) = text {
                    out.extend(self.scan_content(&format!("{prefix}{label}"), text.as_bytes()));
                }
            }
            for entry in &manifest.entries {
                let path = format!("{prefix}{}", entry.path);
                let content = |o: &Option<crate::Object>| {
                    o.as_ref()
                        .filter(|o| matches!(o.kind, Kind::File | Kind::Executable))
                        .and_then(|o| o.digest)
                };
                if content(&entry.result).is_some()
                    && let Some(finding) = self.scan_name(&path)
                {
                    out.push(finding);
                }
                let mut this_file = Vec::new();
                for (digest, label) in [
                    (content(&entry.result), path.clone()),
                    (content(&entry.index), format!("{path} (staged)")),
                    (content(&entry.base), format!("{path} (base)")),
                ] {
                    if let Some(digest) = digest
                        && !this_file.contains(&digest)
                    {
                        this_file.push(digest);
                        labels.entry(digest).or_default().push(label);
                    }
                }
            }
            // A Git LFS object is named by the file whose pointer names it.
            for entry in &manifest.entries {
                let pointer = entry
                    .result
                    .as_ref()
                    .and_then(|o| o.digest)
                    .and_then(|d| capture.contents.get(&d))
                    .and_then(|data| crate::lfs::Pointer::parse(data));
                if let Some(pointer) = pointer
                    && manifest.lfs.iter().any(|o| o.digest == pointer.digest)
                {
                    labels
                        .entry(pointer.digest)
                        .or_default()
                        .push(format!("{prefix}{} (Git LFS object)", entry.path));
                }
            }
        }
        for (digest, label) in &capture.history_labels {
            let places = labels.entry(*digest).or_default();
            if places.is_empty() {
                places.push(label.clone());
            }
        }
        let contents: Vec<(&handoff_store::Digest, &bytes::Bytes)> =
            capture.contents.iter().collect();
        let scan = |chunk: &[(&handoff_store::Digest, &bytes::Bytes)]| {
            let mut found = Vec::new();
            for (digest, data) in chunk {
                let unnamed = [format!("snapshot content {digest}")];
                let places = labels
                    .get(digest)
                    .filter(|places| !places.is_empty())
                    .map_or(&unnamed[..], Vec::as_slice);
                let findings = self.scan_content(&places[0], data);
                for place in places {
                    found.extend(findings.iter().map(|f| Finding {
                        path: place.clone(),
                        ..f.clone()
                    }));
                }
            }
            found
        };
        // Regular expressions over every byte: CPU work, spread over the
        // cores when there is enough of it.
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let per_thread = contents.len().div_ceil(cores).max(SCAN_MIN_PER_THREAD);
        if contents.len() <= per_thread {
            out.extend(scan(&contents));
        } else {
            std::thread::scope(|threads| {
                let running: Vec<_> = contents
                    .chunks(per_thread)
                    .map(|chunk| threads.spawn(|| scan(chunk)))
                    .collect();
                for thread in running {
                    match thread.join() {
                        Ok(found) => out.extend(found),
                        // A scan that panicked is a bug; never a silent pass.
                        Err(panic) => std::panic::resume_unwind(panic),
                    }
                }
            });
        }
        // Files too large to hold, read again from the working tree, a
        // block of whole lines at a time.
        for (digest, path) in &capture.files {
            let unnamed = [format!("snapshot content {digest}")];
            let places = labels
                .get(digest)
                .filter(|places| !places.is_empty())
                .map_or(&unnamed[..], Vec::as_slice);
            let findings = self.scan_file(&places[0], path);
            for place in places {
                out.extend(findings.iter().map(|f| Finding {
                    path: place.clone(),
                    ..f.clone()
                }));
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// [`Scanner::scan_content`] over the file at `path`, in bounded
    /// memory: blocks of whole lines, numbered as in the whole file. A
    /// file that cannot be read is reported as a finding (it would not be
    /// stored either).
    pub fn scan_file(&self, label: &str, path: &std::path::Path) -> Vec<Finding> {
        use std::io::Read as _;
        /// How much is read at a time; a line longer than this is cut.
        const BLOCK: usize = 1 << 20;
        let unreadable = |e: std::io::Error| {
            vec![Finding {
                path: label.to_owned(),
                line: None,
                rule: "unreadable",
                description: if e.kind() == std::io::ErrorKind::NotFound {
                    "the file is gone"
                } else {
                    "the file could not be read to scan it"
                },
            }]
        };
        let mut file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(e) => return unreadable(e),
        };
        let mut out = Vec::new();
        let mut block: Vec<u8> = Vec::with_capacity(2 * BLOCK);
        let mut lines_before = 0u32;
        loop {
            let start = block.len();
            block.resize(start + BLOCK, 0);
            let n = match file.read(&mut block[start..]) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => 0,
                Err(e) => return unreadable(e),
            };
            block.truncate(start + n);
            // Binary content is not searched (as in `scan_content`).
            if block[start..].contains(&0) {
                return Vec::new();
            }
            let end = if n == 0 {
                block.len()
            } else {
                match block.iter().rposition(|&b| b == b'\n') {
                    Some(i) => i + 1,
                    None if block.len() >= BLOCK => block.len(),
                    None => continue,
                }
            };
            out.extend(
                self.scan_content(label, &block[..end])
                    .into_iter()
                    .map(|f| Finding {
                        line: f.line.map(|l| l.saturating_add(lines_before)),
                        ..f
                    }),
            );
            let lines = block[..end].iter().filter(|&&b| b == b'\n').count();
            lines_before = lines_before.saturating_add(u32::try_from(lines).unwrap_or(u32::MAX));
            block.drain(..end);
            if n == 0 {
                return out;
            }
        }
    }
}

/// Whether a value looks like a generated secret rather than a word or an
/// identifier: mixed letters and digits, and high entropy.
fn looks_random(value: &[u8], min_entropy: f64) -> bool {
    value.iter().any(u8::is_ascii_digit)
        && value.iter().any(u8::is_ascii_alphabetic)
        && entropy(value) >= min_entropy
}

/// Shannon entropy in bits per byte.
fn entropy(data: &[u8]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in data {
        counts[usize::from(b)] += 1;
    }
    let len = data.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / len;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(path: &str, text: &str) -> Vec<(Option<u32>, &'static str)> {
        let scanner = Scanner::builtin().unwrap();
        scanner
            .scan_content(path, text.as_bytes())
            .into_iter()
            .map(|f| (f.line, f.rule))
            .collect()
    }

    #[test]
    fn finds_common_token_formats_with_their_lines() {
        // Assembled at run time so this file itself holds no token.
        let aws = format!("AKIA{}", "Q3EGRDBSAK7XFZMN");
        let gh = format!("ghp_{}", "a".repeat(10) + "B7kQ9zX2mN4pL6vR8tY1wE3uI5oP");
        let text = format!(
            "ok = 1\naws = \"{aws}\"\n\ntoken: {gh}\n-----BEGIN OPENSSH PRIVATE KEY-----\n"
        );
        assert_eq!(
            rules("config.toml", &text),
            vec![
                (Some(2), "aws-access-key-id"),
                (Some(4), "github-token"),
                (Some(5), "private-key")
            ]
        );
    }

    /// A file read in blocks finds what the whole content holds, on the
    /// same lines: secrets on both sides of a block boundary (one in the
    /// line the boundary cuts); binary anywhere means nothing is searched.
    #[test]
    fn a_file_scanned_in_blocks_finds_secrets_on_their_lines() {
        let scanner = Scanner::builtin().unwrap();
        let aws = format!("AKIA{}", "Q3EGRDBSAK7XFZMN");
        let filler = "x".repeat(99) + "\n";
        // 1 MiB is 10,485 filler lines and 76 bytes: line 10,486 straddles
        // the first block's end.
        let mut text = format!("key = {aws}\n");
        text.push_str(&filler.repeat(10_484));
        text.push_str(&format!("{} {aws}\n", "y".repeat(60)));
        text.push_str(&filler.repeat(20_000));
        text.push_str(&format!("again {aws}\n"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.txt");
        std::fs::write(&path, &text).unwrap();
        let found: Vec<(Option<u32>, &str)> = scanner
            .scan_file("big.txt", &path)
            .into_iter()
            .map(|f| (f.line, f.rule))
            .collect();
        let whole: Vec<(Option<u32>, &str)> = scanner
            .scan_content("big.txt", text.as_bytes())
            .into_iter()
            .map(|f| (f.line, f.rule))
            .collect();
        assert_eq!(
            found,
            vec![
                (Some(1), "aws-access-key-id"),
                (Some(10_486), "aws-access-key-id"),
                (Some(30_487), "aws-access-key-id"),
            ]
        );
        assert_eq!(found, whole);
        text.push('\0');
        std::fs::write(&path, &text).unwrap();
        assert_eq!(scanner.scan_file("big.txt", &path), Vec::new());
    }

    #[test]
    fn generic_assignments_need_randomness() {
        assert_eq!(
            rules("a.py", "api_key = 'xxxxxxxxxxxxxxxxxxxxxxxx'\n"),
            vec![]
        );
        assert_eq!(
            rules("a.py", "password = get_password_from_vault()\n"),
            vec![]
        );
        let random = "api_key = 'f3Kq9ZrT7xLm2WvB8nYc4HdP'\n";
        assert_eq!(
            rules("a.py", random),
            vec![(Some(1), "high-entropy-assignment")]
        );
    }

    #[test]
    fn findings_never_carry_the_secret() {
        let secret = format!("sk-ant-{}", "api03-Zx9Kq2Lm7Np4Rt6Vw8Yb1Cd3Ef5Gh");
        let scanner = Scanner::builtin().unwrap();
        let findings = scanner.scan_content("notes.md", secret.as_bytes());
        assert_eq!(findings.len(), 1);
        let shown = format!("{findings:?} {}", serde_json::to_string(&findings).unwrap());
        assert!(!shown.contains(&secret[8..]), "{shown}");
    }

    #[test]
    fn file_name_rules() {
        let scanner = Scanner::builtin().unwrap();
        let rule = |p: &str| scanner.scan_name(p).map(|f| f.rule);
        assert_eq!(rule(".env"), Some("dotenv-file"));
        assert_eq!(rule("app/.env.production"), Some("dotenv-file"));
        assert_eq!(rule(".env.example"), None);
        assert_eq!(rule("home/.ssh/id_ed25519"), Some("ssh-private-key"));
        assert_eq!(rule("id_ed25519.pub"), None);
        assert_eq!(rule("certs/server.pem"), Some("key-file"));
        assert_eq!(rule("store.p12"), Some("key-file"));
        assert_eq!(rule("credentials.json"), Some("credentials-file"));
        assert_eq!(rule("src/main.rs"), None);
    }

    #[test]
    fn binary_content_is_not_searched() {
        let aws = format!("\0AKIA{}", "Q3EGRDBSAK7XFZMN");
        assert_eq!(rules("blob.bin", &aws), vec![]);
    }
}
