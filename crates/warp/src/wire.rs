//! The protocol buffers wire format, read field by field.
//!
//! Warp stores each agent task as an encoded `warp.multi_agent.v1.Task`.
//! A generated decoder (prost) would drop the fields it does not model; this
//! reader hands over every field with its encoded bytes, so the decoder in
//! [`crate::task`] can model what it understands and keep the rest
//! verbatim. It never panics and never reads past its buffer: a truncated
//! varint, a length running past the end or a group (unused since proto2)
//! is an error with the offset.

use std::fmt;

/// A field's value as the wire format carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1.
    Fixed64(u64),
    /// Wire type 2: strings, bytes, sub-messages, packed repeated fields.
    Bytes(&'a [u8]),
    /// Wire type 5.
    Fixed32(u32),
}

/// One field of an encoded message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// The field number.
    pub number: u32,
    /// The value.
    pub value: Value<'a>,
    /// The whole field as encoded, key included: written back as it is,
    /// it reproduces the field exactly.
    pub raw: &'a [u8],
    /// Where the field starts in the buffer read.
    pub offset: usize,
}

impl Field<'_> {
    /// The wire type (0, 1, 2 or 5).
    pub fn wire_type(&self) -> u8 {
        match self.value {
            Value::Varint(_) => 0,
            Value::Fixed64(_) => 1,
            Value::Bytes(_) => 2,
            Value::Fixed32(_) => 5,
        }
    }
}

/// Why a buffer is not a valid encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    /// The byte offset where reading failed.
    pub offset: usize,
    /// What was wrong.
    pub reason: &'static str,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.reason, self.offset)
    }
}

impl std::error::Error for WireError {}

/// The fields of an encoded message, in the order they were written.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> Fields<'a> {
    /// Reads `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            failed: false,
        }
    }

    fn varint(&mut self) -> Result<u64, WireError> {
        let start = self.pos;
        let mut value: u64 = 0;
        for shift in (0..70).step_by(7) {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(WireError {
                    offset: start,
                    reason: "truncated varint",
                });
            };
            self.pos += 1;
            if shift == 63 && byte > 1 {
                return Err(WireError {
                    offset: start,
                    reason: "varint longer than 64 bits",
                });
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        // Unreachable: the tenth byte either ends the varint or is refused
        // above.
        Err(WireError {
            offset: start,
            reason: "varint longer than 64 bits",
        })
    }

    fn take(&mut self, len: usize, at: usize) -> Result<&'a [u8], WireError> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|end| *end <= self.buf.len())
            .ok_or(WireError {
                offset: at,
                reason: "field runs past the end of the message",
            })?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn field(&mut self) -> Result<Field<'a>, WireError> {
        let offset = self.pos;
        let key = self.varint()?;
        let number = u32::try_from(key >> 3)
            .ok()
            .filter(|n| *n != 0)
            .ok_or(WireError {
                offset,
                reason: "invalid field number",
            })?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                let bytes = self.take(8, offset)?;
                let mut le = [0u8; 8];
                le.copy_from_slice(bytes);
                Value::Fixed64(u64::from_le_bytes(le))
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| WireError {
                    offset,
                    reason: "length does not fit in memory",
                })?;
                Value::Bytes(self.take(len, offset)?)
            }
            5 => {
                let bytes = self.take(4, offset)?;
                let mut le = [0u8; 4];
                le.copy_from_slice(bytes);
                Value::Fixed32(u32::from_le_bytes(le))
            }
            3 | 4 => {
                return Err(WireError {
                    offset,
                    reason: "groups are not supported",
                });
            }
            _ => {
                return Err(WireError {
                    offset,
                    reason: "invalid wire type",
                });
            }
        };
        Ok(Field {
            number,
            value,
            raw: &self.buf[offset..self.pos],
            offset,
        })
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        let field = self.field();
        self.failed = field.is_err();
        Some(field)
    }
}

/// Encoding, for tests and fixtures that build Warp databases.
pub mod encode {
    /// Appends `value` as a varint.
    pub fn varint(out: &mut Vec<u8>, mut value: u64) {
        while value >= 0x80 {
            out.push((value as u8) | 0x80);
            value >>= 7;
        }
        out.push(value as u8);
    }

    /// Appends a varint field.
    pub fn uint(out: &mut Vec<u8>, number: u32, value: u64) {
        varint(out, u64::from(number) << 3);
        varint(out, value);
    }

    /// Appends a length-delimited field (a string, bytes or a message).
    pub fn bytes(out: &mut Vec<u8>, number: u32, value: &[u8]) {
        varint(out, (u64::from(number) << 3) | 2);
        varint(out, value.len() as u64);
        out.extend_from_slice(value);
    }

    /// Appends a fixed 32-bit field.
    pub fn fixed32(out: &mut Vec<u8>, number: u32, value: u32) {
        varint(out, (u64::from(number) << 3) | 5);
        out.extend_from_slice(&value.to_le_bytes());
    }

    /// Appends a fixed 64-bit field.
    pub fn fixed64(out: &mut Vec<u8>, number: u32, value: u64) {
        varint(out, (u64::from(number) << 3) | 1);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wire_type_round_trips_with_its_raw_bytes() {
        let mut buf = Vec::new();
        encode::uint(&mut buf, 1, 300);
        encode::fixed64(&mut buf, 2, u64::MAX);
        encode::bytes(&mut buf, 3, b"hello");
        encode::fixed32(&mut buf, 4, 7);
        encode::uint(&mut buf, 536_870_911, u64::MAX);
        let fields: Vec<Field> = Fields::new(&buf).collect::<Result<_, _>>().unwrap();
        let values: Vec<(u32, Value)> = fields.iter().map(|f| (f.number, f.value)).collect();
        assert_eq!(
            values,
            [
                (1, Value::Varint(300)),
                (2, Value::Fixed64(u64::MAX)),
                (3, Value::Bytes(b"hello")),
                (4, Value::Fixed32(7)),
                (536_870_911, Value::Varint(u64::MAX)),
            ]
        );
        let rejoined: Vec<u8> = fields.iter().flat_map(|f| f.raw.iter().copied()).collect();
        assert_eq!(rejoined, buf);
        assert_eq!(fields[2].wire_type(), 2);
    }

    #[test]
    fn malformed_input_is_an_error_with_the_offset_never_a_panic() {
        let mut good = Vec::new();
        encode::bytes(&mut good, 1, b"abc");
        for (bytes, reason, offset) in [
            (&good[..4], "field runs past the end of the message", 0),
            (&[0x08, 0x80][..], "truncated varint", 1),
            (&[0x0b][..], "groups are not supported", 0),
            (&[0x0e][..], "invalid wire type", 0),
            (&[0x00][..], "invalid field number", 0),
            (
                &[
                    0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
                ][..],
                "varint longer than 64 bits",
                1,
            ),
        ] {
            let err = Fields::new(bytes)
                .find_map(Result::err)
                .unwrap_or_else(|| panic!("{bytes:?} accepted"));
            assert_eq!((err.reason, err.offset), (reason, offset), "{bytes:?}");
        }
        let mut after_error = Fields::new(&[0x0e, 0x08, 0x01]);
        assert!(after_error.next().unwrap().is_err());
        assert!(after_error.next().is_none(), "reading stops at an error");
    }
}
