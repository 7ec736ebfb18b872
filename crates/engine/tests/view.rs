//! The views `handoff runs`, `handoff show` and the Runs page share:
//! paging and filtering the listing, unreadable records as rows, a run's
//! transcript bounded, and only the run's own attachments given out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use handoff_conversation::{
    AttachmentLimits, Conversation, ConversationId, Message, Part, Role, attach_bytes,
};
use handoff_engine::view::{Listed, PartView, RunQuery, ViewOptions};
use handoff_engine::{RunId, RunRecord, RunState, RunStore, Session, conversations};
use handoff_store::{DocKey, DocumentStoreExt, MemoryStore};

fn record(i: usize) -> RunRecord {
    let mut record = RunRecord::new(
        ConversationId::new(),
        if i.is_multiple_of(3) { "codex" } else { "warp" },
        vec![],
        Session::queued(Some(format!("task {i}")), vec![]),
    );
    record.state = if i.is_multiple_of(10) {
        RunState::Failed
    } else {
        RunState::Ended
    };
    record
}

/// `n` runs, oldest first, plus their ids.
async fn store_with(n: usize) -> (MemoryStore, Vec<RunId>) {
    let store = MemoryStore::new();
    let mut ids = Vec::new();
    for i in 0..n {
        let record = record(i);
        RunStore::new(&store).create(&record).await.unwrap();
        ids.push(record.id);
    }
    (store, ids)
}

fn ids(rows: &[Listed]) -> Vec<RunId> {
    rows.iter().map(Listed::id).collect()
}

#[tokio::test]
async fn pages_go_newest_first_and_back_again() {
    let (store, all) = store_with(25).await;
    let newest_first: Vec<RunId> = all.iter().rev().copied().collect();
    let query = RunQuery {
        limit: 10,
        ..RunQuery::default()
    };
    let first = handoff_engine::list_runs(&store, &query).await.unwrap();
    assert_eq!(ids(&first.runs), newest_first[..10]);
    assert_eq!(
        (first.older, first.newer, first.total, first.scanned),
        (Some(newest_first[9]), None, 25, 10)
    );
    let second = handoff_engine::list_runs(
        &store,
        &RunQuery {
            before: first.older,
            ..query.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(ids(&second.runs), newest_first[10..20]);
    assert_eq!(second.newer, Some(newest_first[10]));
    let third = handoff_engine::list_runs(
        &store,
        &RunQuery {
            before: second.older,
            ..query.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(ids(&third.runs), newest_first[20..]);
    assert_eq!(third.older, None, "nothing older");
    // Back from the third page: the ten runs just newer, newest first.
    let back = handoff_engine::list_runs(
        &store,
        &RunQuery {
            after: third.newer,
            ..query.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(ids(&back.runs), newest_first[10..20]);
    assert_eq!(back.newer, Some(newest_first[10]));
    assert_eq!(back.older, Some(newest_first[19]));
}

#[tokio::test]
async fn filters_and_the_scan_limit() {
    let (store, all) = store_with(40).await;
    let failed = handoff_engine::list_runs(
        &store,
        &RunQuery {
            state: Some(RunState::Failed),
            ..RunQuery::default()
        },
    )
    .await
    .unwrap();
    let expected: Vec<RunId> = all.iter().step_by(10).rev().copied().collect();
    assert_eq!(ids(&failed.runs), expected);
    let codex_failed = handoff_engine::list_runs(
        &store,
        &RunQuery {
            state: Some(RunState::Failed),
            harness: Some("codex".into()),
            ..RunQuery::default()
        },
    )
    .await
    .unwrap();
    // Runs 0 and 30 are failed and codex.
    assert_eq!(ids(&codex_failed.runs), vec![all[30], all[0]]);

    // Reading at most 15 records: a short page and a cursor to go on.
    let bounded = handoff_engine::list_runs(
        &store,
        &RunQuery {
            state: Some(RunState::Failed),
            limit: 5,
            scan_limit: 15,
            ..RunQuery::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(ids(&bounded.runs), vec![all[30]]);
    assert_eq!((bounded.scanned, bounded.older), (15, Some(all[25])));
}

#[tokio::test]
async fn an_unreadable_record_is_a_row_not_a_failed_listing() {
    let (store, all) = store_with(3).await;
    let broken = RunId::new();
    store
        .create(
            &DocKey::new(format!("runs/{broken}")).unwrap(),
            Bytes::from_static(b"{\"format\": \"handoff.run/v1\", <script>"),
        )
        .await
        .unwrap();
    let page = handoff_engine::list_runs(&store, &RunQuery::default())
        .await
        .unwrap();
    assert_eq!(page.runs.len(), 4);
    match &page.runs[0] {
        Listed::Unreadable { id, error } => {
            assert_eq!(*id, broken);
            assert!(error.contains(&broken.to_string()), "{error}");
        }
        other => panic!("expected an unreadable row, got {other:?}"),
    }
    assert_eq!(ids(&page.runs[1..]), vec![all[2], all[1], all[0]]);
    // A filter cannot say whether it matches; it is left out.
    let filtered = handoff_engine::list_runs(
        &store,
        &RunQuery {
            harness: Some("warp".into()),
            ..RunQuery::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(ids(&filtered.runs), vec![all[2], all[1]]);
    // Its page is an error naming it.
    let err = handoff_engine::run_view(&store, broken, &ViewOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&broken.to_string()), "{err}");
}

#[tokio::test]
async fn a_transcript_keeps_its_newest_messages_and_cuts_long_parts() {
    let store = MemoryStore::new();
    let mut conversation = Conversation::new("t", "warp");
    let image = attach_bytes(
        &store,
        "shot.png",
        Bytes::from_static(b"\x89PNG\r\n\x1a\n...."),
        &AttachmentLimits::default(),
    )
    .await
    .unwrap();
    let svg = attach_bytes(
        &store,
        "x.svg",
        Bytes::from_static(b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>1</script></svg>"),
        &AttachmentLimits::default(),
    )
    .await
    .unwrap();
    conversation.push(Message::new(
        Role::User,
        vec![
            Part::Attachment(image.clone()),
            Part::Attachment(svg.clone()),
        ],
    ));
    for i in 0..5 {
        conversation.push(Message::new(
            Role::Assistant,
            vec![Part::Text {
                text: format!("{i}: <script>alert(1)</script> é"),
            }],
        ));
    }
    let head = conversations::save(&store, &conversation).await.unwrap();
    let mut record = record(1);
    record.conversation_head = Some(head);
    RunStore::new(&store).create(&record).await.unwrap();

    let options = ViewOptions {
        max_messages: 3,
        max_part_bytes: 30,
        ..ViewOptions::default()
    };
    let view = handoff_engine::run_view(&store, record.id, &options)
        .await
        .unwrap();
    let transcript = view.transcript.unwrap();
    assert_eq!(transcript.earlier, 3);
    assert_eq!(
        transcript.messages[0].parts,
        vec![PartView::Text {
            // Cut inside `é` would split it: the cut keeps it whole.
            text: "2: <script>alert(1)</script> ".to_owned(),
            cut: 2,
        }]
    );

    // Attachments: only the run's own, with their recorded type.
    let (found, bytes) = handoff_engine::run_attachment(&store, record.id, &image.digest)
        .await
        .unwrap();
    assert_eq!((found.media_type.as_str(), bytes.len()), ("image/png", 12));
    let full = handoff_engine::run_view(&store, record.id, &ViewOptions::default())
        .await
        .unwrap();
    let first = &full.transcript.unwrap().messages[0];
    assert!(matches!(
        &first.parts[0],
        PartView::Attachment { image: true, .. }
    ));
    assert!(
        matches!(&first.parts[1], PartView::Attachment { image: false, .. }),
        "SVG is never shown inline"
    );
    let other = handoff_store::Digest::of(b"not attached");
    let err = handoff_engine::run_attachment(&store, record.id, &other)
        .await
        .unwrap_err();
    assert!(
        matches!(err, handoff_engine::Error::UnknownAttachment { .. }),
        "{err}"
    );
}
