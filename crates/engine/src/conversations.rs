//! Conversations in the store: a conversation is saved as a JSONL blob and
//! named by its digest, so a run record (or anyone) can point at an exact
//! state of it.

use bytes::Bytes;
use handoff_conversation::{Conversation, ConversationId, ReadOptions};
use handoff_store::{
    BlobStore, BlobStoreExt, Digest, DocKey, DocumentStore, DocumentStoreExt, Store,
};

use crate::{Error, Result};

/// The JSONL blob [`save`] stores for `conversation`.
pub fn encode(conversation: &Conversation) -> Result<Bytes> {
    let mut jsonl = Vec::new();
    conversation.write_jsonl(&mut jsonl)?;
    Ok(Bytes::from(jsonl))
}

/// Saves `conversation` as a JSONL blob; returns its digest.
pub async fn save(store: &dyn BlobStore, conversation: &Conversation) -> Result<Digest> {
    Ok(store.put_if_absent(encode(conversation)?).await?.digest)
}

/// Loads a conversation saved by [`save`].
pub async fn load(store: &dyn BlobStore, digest: &Digest) -> Result<Conversation> {
    let bytes = store.get(digest).await?;
    let (conversation, _) = Conversation::read_jsonl(&bytes[..], &ReadOptions::default())?;
    Ok(conversation)
}

fn key(id: ConversationId) -> Result<DocKey> {
    Ok(DocKey::new(format!("conversations/{id}"))?)
}

/// Saves `conversation` under its id (a document naming the JSONL blob), so
/// that it can be found again by id; returns the blob's digest.
pub async fn save_named(store: &dyn Store, conversation: &Conversation) -> Result<Digest> {
    let blobs: &dyn BlobStore = store;
    let docs: &dyn DocumentStore = store;
    let digest = save(blobs, conversation).await?;
    let key = key(conversation.id)?;
    let pointer = Bytes::from(digest.to_string());
    match docs.get_latest(&key).await? {
        Some(current) if current.data == pointer => {}
        Some(current) => {
            docs.update(&key, current.version, pointer).await?;
        }
        None => {
            docs.create(&key, pointer).await?;
        }
    }
    Ok(digest)
}

/// [`save_named`] for a conversation just made (a fork, with a new id): its
/// name is created without first reading whether it exists — one request
/// fewer on an object store. Should the name exist after all, it is updated
/// as [`save_named`] would.
pub async fn save_new_named(store: &dyn Store, conversation: &Conversation) -> Result<Digest> {
    let blobs: &dyn BlobStore = store;
    let digest = save(blobs, conversation).await?;
    name_new(store, conversation.id, digest).await?;
    Ok(digest)
}

/// Names the stored conversation blob `digest` as conversation `id`, as
/// [`save_new_named`] does, for a caller that stored the blob itself (a
/// push stores it in its batch).
pub async fn name_new(store: &dyn Store, id: ConversationId, digest: Digest) -> Result<()> {
    let docs: &dyn DocumentStore = store;
    let key = key(id)?;
    let pointer = Bytes::from(digest.to_string());
    match docs.create(&key, pointer.clone()).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_conflict() => match docs.get_latest(&key).await? {
            Some(current) if current.data == pointer => Ok(()),
            Some(current) => {
                docs.update(&key, current.version, pointer).await?;
                Ok(())
            }
            None => {
                docs.create(&key, pointer).await?;
                Ok(())
            }
        },
        Err(e) => Err(e.into()),
    }
}

/// Loads a conversation by id: one saved by [`save_named`], or the
/// conversation of a run (as it stands after the run's last ended session,
/// for runs recorded before run conversations were named).
pub async fn load_named(store: &dyn Store, id: ConversationId) -> Result<Conversation> {
    let docs: &dyn DocumentStore = store;
    if let Some(found) = docs.get_latest(&key(id)?).await? {
        let digest: Digest = std::str::from_utf8(&found.data)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .ok_or(Error::InvalidConversationPointer { conversation: id })?;
        return load(store, &digest).await;
    }
    let runs = crate::RunStore::new(store);
    for run in runs.list().await?.into_iter().rev() {
        let Ok(loaded) = runs.get(run).await else {
            continue;
        };
        if loaded.record.conversation == id
            && let Some(head) = loaded.record.conversation_head
        {
            return load(store, &head).await;
        }
    }
    Err(Error::UnknownConversation { conversation: id })
}

#[cfg(test)]
mod tests {
    use handoff_conversation::{Message, Role};
    use handoff_store::MemoryStore;
    use handoff_store::counting::Counting;

    use super::*;

    /// A fork's name is one write; naming an id that exists anyway updates
    /// it, and the newest state is what loads.
    #[tokio::test]
    async fn a_new_name_is_one_write_and_an_existing_one_is_updated() {
        let store = Counting::new(MemoryStore::new());
        let mut conversation = Conversation::new("fork", "scripted");
        conversation.push(Message::text(Role::User, "first"));
        save_new_named(&store, &conversation).await.unwrap();
        let counts = store.counts();
        assert_eq!(
            (
                counts.document_reads,
                counts.document_lists,
                counts.document_writes
            ),
            (0, 0, 1),
            "{counts:?}"
        );

        conversation.push(Message::text(Role::User, "second"));
        let head = save_new_named(&store, &conversation).await.unwrap();
        let loaded = load_named(&store, conversation.id).await.unwrap();
        assert_eq!(loaded.messages.len(), 2);
        assert_eq!(
            encode(&loaded).unwrap(),
            BlobStore::get(&store, &head).await.unwrap()
        );
    }
}
