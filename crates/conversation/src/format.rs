//! The serialised forms: one JSON document, and streaming JSONL.
//!
//! Both carry the format tag [`FORMAT_V1`]. The JSONL form is one header
//! object on the first line, then one message per line; it is read and
//! written one line at a time, so a large transcript is never held as text
//! and as values at once. Lines longer than [`ReadOptions::max_line_bytes`]
//! are refused without being buffered, so a hostile file cannot make the
//! reader allocate without bound.

use std::io::{BufRead, Write};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::{Conversation, ConversationId, Message, Parent};
use crate::{Error, Result};

/// The format tag of version 1.
pub const FORMAT_V1: &str = "handoff.conversation/v1";

#[derive(Serialize)]
struct DocumentRef<'a> {
    format: &'static str,
    #[serde(flatten)]
    conversation: &'a Conversation,
}

#[derive(Deserialize)]
struct Document {
    format: String,
    #[serde(flatten)]
    conversation: Conversation,
}

impl Conversation {
    /// The JSON document form.
    pub fn to_json(&self) -> Vec<u8> {
        // Plain data with string keys: serialising cannot fail.
        serde_json::to_vec(&DocumentRef {
            format: FORMAT_V1,
            conversation: self,
        })
        .unwrap_or_default()
    }

    /// Reads the JSON document form, checking the format tag.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        match serde_json::from_slice::<Document>(bytes) {
            Ok(doc) => {
                check_format(&doc.format)?;
                Ok(doc.conversation)
            }
            Err(source) => {
                // A document of another format is reported as such, not as
                // the fields it lacks.
                #[derive(Deserialize)]
                struct Probe {
                    format: String,
                }
                if let Ok(probe) = serde_json::from_slice::<Probe>(bytes) {
                    check_format(&probe.format)?;
                }
                Err(Error::Json { line: None, source })
            }
        }
    }

    /// Writes the JSONL form.
    pub fn write_jsonl(&self, writer: impl Write) -> Result<()> {
        let mut out = JsonlWriter::new(writer, &Header::of(self))?;
        for message in &self.messages {
            out.write_message(message)?;
        }
        out.finish().map(|_| ())
    }

    /// Reads the JSONL form. In [`Mode::Lenient`], malformed message lines
    /// are skipped and returned; in [`Mode::Strict`] the first one is an
    /// error.
    pub fn read_jsonl(reader: impl BufRead, options: &ReadOptions) -> Result<(Self, Vec<Skipped>)> {
        let mut lines = JsonlReader::new(reader, options.clone())?;
        let mut messages = Vec::new();
        for message in &mut lines {
            messages.push(message?);
        }
        let skipped = lines.take_skipped();
        Ok((lines.header.into_conversation(messages), skipped))
    }
}

fn check_format(found: &str) -> Result<()> {
    if found == FORMAT_V1 {
        Ok(())
    } else {
        Err(Error::Format {
            found: found.chars().take(64).collect(),
        })
    }
}

/// The first line of the JSONL form: everything but the messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT_V1`].
    pub format: String,
    /// The conversation's id.
    pub id: ConversationId,
    /// Its title.
    pub title: String,
    /// Its harness.
    pub harness: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// The fork origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Parent>,
    /// Harness-specific data.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

impl Header {
    /// The header of `conversation`.
    pub fn of(conversation: &Conversation) -> Self {
        Self {
            format: FORMAT_V1.to_owned(),
            id: conversation.id,
            title: conversation.title.clone(),
            harness: conversation.harness.clone(),
            created_at: conversation.created_at,
            updated_at: conversation.updated_at,
            parent: conversation.parent,
            extra: conversation.extra.clone(),
        }
    }

    /// The conversation with this header and `messages`.
    pub fn into_conversation(self, messages: Vec<Message>) -> Conversation {
        Conversation {
            id: self.id,
            title: self.title,
            harness: self.harness,
            created_at: self.created_at,
            updated_at: self.updated_at,
            parent: self.parent,
            extra: self.extra,
            messages,
        }
    }
}

/// Writes the JSONL form incrementally.
#[derive(Debug)]
pub struct JsonlWriter<W: Write> {
    out: W,
}

impl<W: Write> JsonlWriter<W> {
    /// Writes the header line.
    pub fn new(mut out: W, header: &Header) -> Result<Self> {
        serde_json::to_writer(&mut out, header).map_err(|source| Error::Json {
            line: Some(1),
            source,
        })?;
        out.write_all(b"\n").map_err(Error::write)?;
        Ok(Self { out })
    }

    /// Writes one message line.
    pub fn write_message(&mut self, message: &Message) -> Result<()> {
        serde_json::to_writer(&mut self.out, message)
            .map_err(|source| Error::Json { line: None, source })?;
        self.out.write_all(b"\n").map_err(Error::write)
    }

    /// Flushes and returns the writer.
    pub fn finish(mut self) -> Result<W> {
        self.out.flush().map_err(Error::write)?;
        Ok(self.out)
    }
}

/// How strictly to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// The first malformed line is an error.
    #[default]
    Strict,
    /// Malformed message lines are skipped and reported.
    Lenient,
}

/// Options for reading JSONL.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Strict or lenient.
    pub mode: Mode,
    /// The longest line accepted (default 64 MiB).
    pub max_line_bytes: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            mode: Mode::Strict,
            max_line_bytes: 64 << 20,
        }
    }
}

impl ReadOptions {
    /// Lenient reading with the default line limit.
    pub fn lenient() -> Self {
        Self {
            mode: Mode::Lenient,
            ..Self::default()
        }
    }
}

/// A line skipped in lenient mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The 1-based line number.
    pub line: u64,
    /// What was wrong.
    pub reason: String,
}

/// Reads the JSONL form one message at a time.
#[derive(Debug)]
pub struct JsonlReader<R: BufRead> {
    input: R,
    options: ReadOptions,
    line: u64,
    buf: Vec<u8>,
    /// The header line.
    pub header: Header,
    skipped: Vec<Skipped>,
    done: bool,
}

enum Line {
    Text,
    TooLong,
    End,
}

impl<R: BufRead> JsonlReader<R> {
    /// Reads and checks the header line.
    pub fn new(input: R, options: ReadOptions) -> Result<Self> {
        let mut reader = Self {
            input,
            options,
            line: 0,
            buf: Vec::new(),
            header: Header {
                format: String::new(),
                id: ConversationId::new(),
                title: String::new(),
                harness: String::new(),
                created_at: DateTime::<Utc>::MIN_UTC,
                updated_at: DateTime::<Utc>::MIN_UTC,
                parent: None,
                extra: Map::new(),
            },
            skipped: Vec::new(),
            done: false,
        };
        loop {
            match reader.next_line()? {
                Line::End => {
                    return Err(Error::Header {
                        reason: "the input is empty".to_owned(),
                    });
                }
                Line::TooLong => {
                    return Err(Error::LineTooLong {
                        line: reader.line,
                        max: reader.options.max_line_bytes,
                    });
                }
                Line::Text if reader.buf.iter().all(u8::is_ascii_whitespace) => continue,
                Line::Text => break,
            }
        }
        let value: Value = serde_json::from_slice(&reader.buf).map_err(|source| Error::Json {
            line: Some(reader.line),
            source,
        })?;
        let found = value
            .get("format")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        check_format(&found)?;
        reader.header = serde_json::from_value(value).map_err(|source| Error::Json {
            line: Some(reader.line),
            source,
        })?;
        Ok(reader)
    }

    /// The lines skipped so far (lenient mode).
    pub fn take_skipped(&mut self) -> Vec<Skipped> {
        std::mem::take(&mut self.skipped)
    }

    /// Reads one line into `buf` (without its newline), never holding more
    /// than the line limit.
    fn next_line(&mut self) -> Result<Line> {
        self.buf.clear();
        let mut too_long = false;
        let mut any = false;
        loop {
            let available = self.input.fill_buf().map_err(Error::read)?;
            if available.is_empty() {
                if !any {
                    return Ok(Line::End);
                }
                break;
            }
            any = true;
            let (chunk, found) = match available.iter().position(|&b| b == b'\n') {
                Some(at) => (&available[..at], Some(at + 1)),
                None => (available, None),
            };
            if !too_long {
                if self.buf.len() + chunk.len() > self.options.max_line_bytes {
                    too_long = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(chunk);
                }
            }
            let used = found.unwrap_or(available.len());
            self.input.consume(used);
            if found.is_some() {
                break;
            }
        }
        self.line += 1;
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        Ok(if too_long { Line::TooLong } else { Line::Text })
    }
}

impl<R: BufRead> Iterator for JsonlReader<R> {
    type Item = Result<Message>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let problem = match self.next_line() {
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Ok(Line::End) => {
                    self.done = true;
                    return None;
                }
                Ok(Line::TooLong) => Error::LineTooLong {
                    line: self.line,
                    max: self.options.max_line_bytes,
                },
                Ok(Line::Text) if self.buf.iter().all(u8::is_ascii_whitespace) => continue,
                Ok(Line::Text) => match serde_json::from_slice::<Message>(&self.buf) {
                    Ok(message) => return Some(Ok(message)),
                    Err(source) => Error::Json {
                        line: Some(self.line),
                        source,
                    },
                },
            };
            match self.options.mode {
                Mode::Strict => {
                    self.done = true;
                    return Some(Err(problem));
                }
                Mode::Lenient => self.skipped.push(Skipped {
                    line: self.line,
                    reason: problem.to_string(),
                }),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AttachmentRef, Part, Role};

    fn every_part() -> Conversation {
        let mut c = Conversation::new("all parts", "claude-code");
        c.extra.insert("cwd".into(), Value::String("/work".into()));
        let mut m = Message::new(
            Role::Assistant,
            vec![
                Part::Text {
                    text: "hello\nworld".into(),
                },
                Part::Reasoning {
                    text: "thinking".into(),
                },
                Part::ToolCall {
                    id: "t1".into(),
                    name: "bash".into(),
                    input: serde_json::json!({"cmd": "ls", "nested": {"a": [1, 2]}}),
                },
                Part::ToolResult {
                    call_id: "t1".into(),
                    output: "a b".into(),
                    is_error: true,
                },
                Part::Attachment(AttachmentRef {
                    digest: handoff_store::Digest::of(b"img"),
                    name: "shot.png".into(),
                    media_type: "image/png".into(),
                    size: 3,
                }),
            ],
        );
        m.extra
            .insert("uuid".into(), Value::String("native-id".into()));
        m.extra
            .insert("unknownField".into(), serde_json::json!({"kept": true}));
        c.push(m);
        c.push(Message::text(Role::User, "ünïcödé ✓"));
        c
    }

    #[test]
    fn json_and_jsonl_round_trip_whole_values() {
        let c = every_part();
        assert_eq!(Conversation::from_json(&c.to_json()).unwrap(), c);
        let mut out = Vec::new();
        c.write_jsonl(&mut out).unwrap();
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 3);
        let (back, skipped) = Conversation::read_jsonl(&out[..], &ReadOptions::default()).unwrap();
        assert_eq!(back, c);
        assert!(skipped.is_empty());
    }

    #[test]
    fn strict_errors_name_the_line_and_lenient_skips() {
        let c = every_part();
        let mut out = Vec::new();
        c.write_jsonl(&mut out).unwrap();
        let mut text = String::from_utf8(out).unwrap();
        text.push_str("{\"id\": \"x\"}\n\nnot json\n");
        let err = Conversation::read_jsonl(text.as_bytes(), &ReadOptions::default()).unwrap_err();
        assert!(err.to_string().starts_with("line 4: "), "{err}");
        let (back, skipped) =
            Conversation::read_jsonl(text.as_bytes(), &ReadOptions::lenient()).unwrap();
        assert_eq!(back.messages, c.messages);
        assert_eq!(
            skipped.iter().map(|s| s.line).collect::<Vec<_>>(),
            vec![4, 6]
        );
    }

    #[test]
    fn header_problems_are_errors_even_when_lenient() {
        for input in [
            "",
            "\n\n",
            "[1]\n",
            "{\"format\":\"other/v1\"}\n",
            "{\"format\":\"handoff.conversation/v1\"}\n",
        ] {
            assert!(
                Conversation::read_jsonl(input.as_bytes(), &ReadOptions::lenient()).is_err(),
                "{input:?}"
            );
        }
        let err = Conversation::from_json(br#"{"format":"x"}"#).unwrap_err();
        assert!(matches!(err, Error::Format { .. }), "{err}");
    }

    #[test]
    fn over_long_lines_are_refused_without_buffering() {
        let c = every_part();
        let mut out = Vec::new();
        c.write_jsonl(&mut out).unwrap();
        let mut text = out.clone();
        text.extend_from_slice(&vec![b'x'; 10_000]);
        text.push(b'\n');
        let tight = ReadOptions {
            mode: Mode::Strict,
            max_line_bytes: 4096,
        };
        let err = Conversation::read_jsonl(&text[..], &tight).unwrap_err();
        assert!(
            matches!(err, Error::LineTooLong { line: 4, max: 4096 }),
            "{err}"
        );
        let lenient = ReadOptions {
            mode: Mode::Lenient,
            ..tight
        };
        let (back, skipped) = Conversation::read_jsonl(&text[..], &lenient).unwrap();
        assert_eq!(back.messages.len(), 2);
        assert_eq!(skipped.len(), 1);
    }
}

/// One line from [`BoundedLines`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoundedLine {
    /// A line's bytes, without its newline (and without a trailing `\r`).
    Line(Vec<u8>),
    /// A line longer than the limit; its bytes were skipped, not buffered.
    TooLong,
}

/// Lines of a reader, never buffering more than `max` bytes of one — for
/// every reader of untrusted JSON-lines input (conversations and the
/// agents' native transcripts).
#[derive(Debug)]
pub struct BoundedLines<R: BufRead> {
    input: R,
    max: usize,
}

impl<R: BufRead> BoundedLines<R> {
    /// Lines of `input`, each at most `max` bytes.
    pub fn new(input: R, max: usize) -> Self {
        Self { input, max }
    }
}

impl<R: BufRead> Iterator for BoundedLines<R> {
    type Item = std::io::Result<BoundedLine>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut buf = Vec::new();
        let mut too_long = false;
        let mut any = false;
        loop {
            let available = match self.input.fill_buf() {
                Ok(available) => available,
                Err(e) => return Some(Err(e)),
            };
            if available.is_empty() {
                if !any {
                    return None;
                }
                break;
            }
            any = true;
            let (chunk, found) = match available.iter().position(|&b| b == b'\n') {
                Some(at) => (&available[..at], Some(at + 1)),
                None => (available, None),
            };
            if !too_long {
                if buf.len() + chunk.len() > self.max {
                    too_long = true;
                    buf = Vec::new();
                } else {
                    buf.extend_from_slice(chunk);
                }
            }
            let used = found.unwrap_or(available.len());
            self.input.consume(used);
            if found.is_some() {
                break;
            }
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        Some(Ok(if too_long {
            BoundedLine::TooLong
        } else {
            BoundedLine::Line(buf)
        }))
    }
}

#[cfg(test)]
mod bounded_tests {
    use super::*;

    #[test]
    fn long_lines_are_skipped_without_buffering() {
        let mut input = b"short\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 10_000));
        input.extend_from_slice(b"\nlast\r\n");
        let lines: Vec<BoundedLine> = BoundedLines::new(&input[..], 100)
            .map(|l| l.unwrap())
            .collect();
        assert_eq!(
            lines,
            vec![
                BoundedLine::Line(b"short".to_vec()),
                BoundedLine::TooLong,
                BoundedLine::Line(b"last".to_vec())
            ]
        );
    }
}
