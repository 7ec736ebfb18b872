//! Conversations in the store: a conversation is saved as a JSONL blob and
//! named by its digest, so a run record (or anyone) can point at an exact
//! state of it.

use bytes::Bytes;
use handoff_conversation::{Conversation, ReadOptions};
use handoff_store::{BlobStore, BlobStoreExt, Digest};

use crate::Result;

/// Saves `conversation` as a JSONL blob; returns its digest.
pub async fn save(store: &dyn BlobStore, conversation: &Conversation) -> Result<Digest> {
    let mut jsonl = Vec::new();
    conversation.write_jsonl(&mut jsonl)?;
    Ok(store.put_if_absent(Bytes::from(jsonl)).await?.digest)
}

/// Loads a conversation saved by [`save`].
pub async fn load(store: &dyn BlobStore, digest: &Digest) -> Result<Conversation> {
    let bytes = store.get(digest).await?;
    let (conversation, _) = Conversation::read_jsonl(&bytes[..], &ReadOptions::default())?;
    Ok(conversation)
}
