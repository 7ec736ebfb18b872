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
    let digest = save(blobs, conversation).await?;
    repoint(store, &key(conversation.id)?, digest).await?;
    Ok(digest)
}

/// Stores a conversation read on this machine (`handoff import`) under its
/// id, as [`save_named`] does — after scanning it, since it leaves this
/// machine: one with likely secrets (title, any message's text, tool calls
/// and results, native lines) is refused with [`Error::SecretsFound`]
/// before anything is written, unless `allow_secrets`.
pub async fn import(
    store: &dyn Store,
    conversation: &Conversation,
    allow_secrets: bool,
) -> Result<Digest> {
    if !allow_secrets {
        crate::Outgoing::new()?.conversation(conversation).check()?;
    }
    save_named(store, conversation).await
}

/// Names the stored conversation blob `digest` as conversation `id`, for a
/// conversation just made (a fork, with a new id) whose blob the caller
/// stored (a push stores it in its batch): the name is created without
/// first reading whether it exists — one request fewer on an object store.
/// Should it exist after all, it is pointed at `digest` as [`save_named`]
/// would.
pub async fn name_new(store: &dyn Store, id: ConversationId, digest: Digest) -> Result<()> {
    let docs: &dyn DocumentStore = store;
    let key = key(id)?;
    match docs.create(&key, Bytes::from(digest.to_string())).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_conflict() => repoint(store, &key, digest).await,
        Err(e) => Err(e.into()),
    }
}

/// Points the name `key` at `digest`: read first, written only when it
/// points elsewhere or does not exist.
async fn repoint(store: &dyn Store, key: &DocKey, digest: Digest) -> Result<()> {
    let docs: &dyn DocumentStore = store;
    let pointer = Bytes::from(digest.to_string());
    match docs.get_latest(key).await? {
        Some(current) if current.data == pointer => {}
        Some(current) => {
            docs.update(key, current.version, pointer).await?;
        }
        None => {
            docs.create(key, pointer).await?;
        }
    }
    Ok(())
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
        let first = save(&store, &conversation).await.unwrap();
        let before = store.counts();
        name_new(&store, conversation.id, first).await.unwrap();
        let after = store.counts();
        let counts = (
            after.document_reads - before.document_reads,
            after.document_lists - before.document_lists,
            after.document_writes - before.document_writes,
        );
        assert_eq!(counts, (0, 0, 1), "{counts:?}");

        conversation.push(Message::text(Role::User, "second"));
        let head = save(&store, &conversation).await.unwrap();
        name_new(&store, conversation.id, head).await.unwrap();
        let loaded = load_named(&store, conversation.id).await.unwrap();
        assert_eq!(loaded.messages.len(), 2);
        assert_eq!(
            encode(&loaded).unwrap(),
            BlobStore::get(&store, &head).await.unwrap()
        );
    }
}
