//! Random conversations survive JSONL and JSON round trips as whole values.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Utc};
use handoff_conversation::{Conversation, Message, MessageId, Part, ReadOptions, Role};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{Map, Value};

fn time() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..4_000_000_000, 0u32..1_000_000_000)
        .prop_map(|(s, n)| DateTime::from_timestamp(s, n).unwrap())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        ".{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn part() -> impl Strategy<Value = Part> {
    prop_oneof![
        ".{0,40}".prop_map(|text| Part::Text { text }),
        ".{0,40}".prop_map(|text| Part::Reasoning { text }),
        ("[a-z0-9-]{1,12}", "[a-z_]{1,12}", json_value())
            .prop_map(|(id, name, input)| Part::ToolCall { id, name, input }),
        ("[a-z0-9-]{1,12}", ".{0,40}", any::<bool>()).prop_map(|(call_id, output, is_error)| {
            Part::ToolResult {
                call_id,
                output,
                is_error,
            }
        }),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    (
        prop_oneof![
            Just(Role::System),
            Just(Role::User),
            Just(Role::Assistant),
            Just(Role::Tool)
        ],
        time(),
        prop::collection::vec(part(), 0..4),
        prop::collection::btree_map("[a-zA-Z]{1,8}", json_value(), 0..3),
    )
        .prop_map(|(role, time, parts, extra)| Message {
            id: MessageId::new(),
            role,
            time,
            parts,
            extra: extra.into_iter().collect(),
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/proptest-regressions/roundtrip.txt",
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn jsonl_and_json_round_trip(title in ".{0,30}", messages in prop::collection::vec(message(), 0..12), created in time()) {
        let mut conversation = Conversation::new(title, "claude-code");
        conversation.created_at = created;
        conversation.updated_at = created;
        conversation.messages = messages;
        let mut jsonl = Vec::new();
        conversation.write_jsonl(&mut jsonl).unwrap();
        let (back, skipped) = Conversation::read_jsonl(&jsonl[..], &ReadOptions::default()).unwrap();
        prop_assert!(skipped.is_empty());
        prop_assert_eq!(&back, &conversation);
        prop_assert_eq!(&Conversation::from_json(&conversation.to_json()).unwrap(), &conversation);
    }
}
