//! Attachments: files and bytes stored once in a blob store and referenced
//! from messages by digest, with a name, a media type and a size.

use std::path::Path;

use bytes::Bytes;
use handoff_store::{BlobStore, BlobStoreExt};

use crate::model::{AttachmentRef, Conversation};
use crate::{Error, Result};

/// Limits on attachments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachmentLimits {
    /// The largest attachment accepted (default 50 MiB).
    pub max_bytes: u64,
}

impl Default for AttachmentLimits {
    fn default() -> Self {
        Self {
            max_bytes: 50 << 20,
        }
    }
}

/// Stores `bytes` as an attachment named `name`.
pub async fn attach_bytes(
    store: &dyn BlobStore,
    name: &str,
    bytes: Bytes,
    limits: &AttachmentLimits,
) -> Result<AttachmentRef> {
    let size = bytes.len() as u64;
    if size > limits.max_bytes {
        return Err(Error::AttachmentTooLarge {
            name: name.to_owned(),
            size,
            max: limits.max_bytes,
        });
    }
    let media_type = media_type(name, &bytes);
    let put = store.put_if_absent(bytes).await?;
    Ok(AttachmentRef {
        digest: put.digest,
        name: name.to_owned(),
        media_type,
        size,
    })
}

/// Stores the file at `path` as an attachment; the size limit is checked
/// from the file's metadata before it is read.
pub async fn attach_file(
    store: &dyn BlobStore,
    path: &Path,
    limits: &AttachmentLimits,
) -> Result<AttachmentRef> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let io = |action: &'static str| {
        let path = path.to_owned();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    };
    let meta = tokio::fs::metadata(path).await.map_err(io("inspect"))?;
    if !meta.is_file() {
        return Err(Error::Io {
            action: "attach",
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"),
        });
    }
    if meta.len() > limits.max_bytes {
        return Err(Error::AttachmentTooLarge {
            name: path.display().to_string(),
            size: meta.len(),
            max: limits.max_bytes,
        });
    }
    let data = tokio::fs::read(path).await.map_err(io("read"))?;
    attach_bytes(store, &name, Bytes::from(data), limits).await
}

/// What [`copy_attachments`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyStats {
    /// Blobs uploaded.
    pub copied: usize,
    /// Blobs the destination already had.
    pub skipped: usize,
    /// Bytes uploaded.
    pub bytes: u64,
}

/// Copies every attachment blob of `conversation` from `from` to `to`,
/// uploading only what `to` lacks.
pub async fn copy_attachments(
    conversation: &Conversation,
    from: &dyn BlobStore,
    to: &dyn BlobStore,
) -> Result<CopyStats> {
    let mut stats = CopyStats::default();
    let mut seen = std::collections::HashSet::new();
    for attachment in conversation.attachments() {
        if !seen.insert(attachment.digest) {
            continue;
        }
        if to.has(&attachment.digest).await? {
            stats.skipped += 1;
            continue;
        }
        let data = from.get(&attachment.digest).await?;
        stats.bytes += to.put(data).await?.new_bytes;
        stats.copied += 1;
    }
    Ok(stats)
}

/// The media type from the content's magic bytes, refined by the extension.
pub fn media_type(name: &str, data: &[u8]) -> String {
    let sniffed = sniff(data);
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    let by_ext = ext.as_deref().and_then(by_extension);
    match (sniffed, by_ext) {
        // Binary signatures are trusted over names.
        (Some(s), _) if !s.starts_with("text/") && s != "application/json" => s.to_owned(),
        // For text, the extension says which kind.
        (Some(_), Some(e)) => e.to_owned(),
        (Some(s), None) => s.to_owned(),
        (None, Some(e)) if !e.starts_with("text/") && e != "application/json" => e.to_owned(),
        _ => "application/octet-stream".to_owned(),
    }
}

fn sniff(data: &[u8]) -> Option<&'static str> {
    const SIGNATURES: &[(&[u8], &str)] = &[
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"%PDF-", "application/pdf"),
        (b"PK\x03\x04", "application/zip"),
        (b"\x1f\x8b", "application/gzip"),
    ];
    if let Some((_, t)) = SIGNATURES.iter().find(|(magic, _)| data.starts_with(magic)) {
        return Some(t);
    }
    if data.len() >= 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        return Some("image/webp");
    }
    if data.contains(&0) || std::str::from_utf8(data).is_err() {
        return None;
    }
    if serde_json::from_slice::<serde_json::Value>(data)
        .is_ok_and(|v| v.is_object() || v.is_array())
    {
        return Some("application/json");
    }
    Some("text/plain")
}

fn by_extension(ext: &str) -> Option<&'static str> {
    Some(match ext {
        "txt" | "log" => "text/plain",
        "md" | "markdown" => "text/markdown",
        "rs" => "text/x-rust",
        "py" => "text/x-python",
        "js" | "mjs" => "text/javascript",
        "ts" => "text/x-typescript",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "csv" => "text/csv",
        "json" => "application/json",
        "toml" => "application/toml",
        "yaml" | "yml" => "application/yaml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Message, Part, Role};
    use handoff_store::MemoryStore;

    #[test]
    fn sniffing_with_extensions() {
        assert_eq!(
            media_type("shot.png", b"\x89PNG\r\n\x1a\nrest"),
            "image/png"
        );
        assert_eq!(
            media_type("misnamed.txt", b"\x89PNG\r\n\x1a\nrest"),
            "image/png"
        );
        assert_eq!(media_type("notes.md", b"# title\n"), "text/markdown");
        assert_eq!(media_type("main.rs", b"fn main() {}\n"), "text/x-rust");
        assert_eq!(media_type("noext", b"plain words"), "text/plain");
        assert_eq!(media_type("data", br#"{"a": 1}"#), "application/json");
        assert_eq!(media_type("x.json", br#"{"a": 1}"#), "application/json");
        assert_eq!(
            media_type("blob.bin", b"\0\x01\x02"),
            "application/octet-stream"
        );
        assert_eq!(media_type("doc", b"%PDF-1.7"), "application/pdf");
        assert_eq!(media_type("w", b"RIFF\0\0\0\0WEBPVP8 "), "image/webp");
    }

    #[tokio::test]
    async fn stored_once_survive_fork_and_continue_and_copy_only_what_is_missing() {
        let local = MemoryStore::new();
        let a = attach_bytes(
            &local,
            "a.png",
            Bytes::from_static(b"\x89PNG\r\n\x1a\nA"),
            &AttachmentLimits::default(),
        )
        .await
        .unwrap();
        let again = attach_bytes(
            &local,
            "copy.png",
            Bytes::from_static(b"\x89PNG\r\n\x1a\nA"),
            &AttachmentLimits::default(),
        )
        .await
        .unwrap();
        assert_eq!(a.digest, again.digest);
        assert_eq!(local.len(), 1);
        let mut c = Conversation::new("t", "warp");
        c.push(Message::new(
            Role::User,
            vec![
                Part::Text { text: "see".into() },
                Part::Attachment(a.clone()),
            ],
        ));
        let fork = c.fork(None).unwrap();
        let mut continued = c.clone();
        continued.push(Message::text(Role::User, "more"));
        for conv in [&fork, &continued] {
            assert_eq!(
                conv.attachments().cloned().collect::<Vec<_>>(),
                vec![a.clone()]
            );
        }
        let cloud = MemoryStore::new();
        let first = copy_attachments(&fork, &local, &cloud).await.unwrap();
        assert_eq!((first.copied, first.skipped, first.bytes), (1, 0, a.size));
        let second = copy_attachments(&continued, &local, &cloud).await.unwrap();
        assert_eq!((second.copied, second.skipped, second.bytes), (0, 1, 0));
    }

    #[tokio::test]
    async fn the_size_limit_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.log");
        std::fs::write(&path, vec![b'x'; 2048]).unwrap();
        let store = MemoryStore::new();
        let limits = AttachmentLimits { max_bytes: 1024 };
        let err = attach_file(&store, &path, &limits).await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::AttachmentTooLarge {
                    size: 2048,
                    max: 1024,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("big.log"), "{err}");
        assert!(store.is_empty());
        let ok = attach_file(&store, &path, &AttachmentLimits::default())
            .await
            .unwrap();
        assert_eq!(
            (ok.name.as_str(), ok.media_type.as_str(), ok.size),
            ("big.log", "text/plain", 2048)
        );
    }
}
