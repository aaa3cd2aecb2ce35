//! PostgreSQL binary `COPY` encoding of event rows. The same bytes are the canonical form
//! of an event for the hash chain: re-encoding a row read back from the database must give
//! the bytes that were hashed when it was appended.

use std::net::IpAddr;

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, Utc};

/// Columns of `events`, in the order rows are encoded.
pub(crate) const EVENT_COLUMNS: &str = "position, recorded_at, tenant_id, event_time, kind, source, event_id, \
     severity, host_name, source_ip, source_port, destination_ip, destination_port, user_name, \
     process_name, event_action, event_outcome, message, fields, raw";
const EVENT_FIELD_COUNT: i16 = 20;

/// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;

/// One event row, borrowed from wherever it lives (a new event, or a row read back).
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventRow<'a> {
    pub position: i64,
    pub recorded_at: DateTime<Utc>,
    pub tenant_id: &'a str,
    pub event_time: Option<DateTime<Utc>>,
    pub kind: &'a str,
    pub source: &'a str,
    pub event_id: Option<&'a str>,
    pub severity: Option<i16>,
    pub host_name: Option<&'a str>,
    pub source_ip: Option<IpAddr>,
    pub source_port: Option<i32>,
    pub destination_ip: Option<IpAddr>,
    pub destination_port: Option<i32>,
    pub user_name: Option<&'a str>,
    pub process_name: Option<&'a str>,
    pub event_action: Option<&'a str>,
    pub event_outcome: Option<&'a str>,
    pub message: Option<&'a str>,
    /// `fields` in canonical JSON (see [`crate::event::canonical_json`]).
    pub fields_json: &'a str,
    pub raw: &'a [u8],
}

/// Accumulates a binary COPY stream.
pub(crate) struct CopyEncoder {
    buf: BytesMut,
}

impl CopyEncoder {
    pub(crate) fn new() -> Self {
        let mut buf = BytesMut::with_capacity(1 << 20);
        buf.put_slice(b"PGCOPY\n\xff\r\n\0");
        buf.put_i32(0); // flags
        buf.put_i32(0); // header extension length
        CopyEncoder { buf }
    }

    /// Appends one row and returns the bytes of that row (its canonical form).
    pub(crate) fn push_event(&mut self, row: &EventRow<'_>) -> &[u8] {
        let start = self.buf.len();
        encode_event(&mut self.buf, row);
        &self.buf[start..]
    }

    /// The trailer that ends the stream.
    pub(crate) fn finish(mut self) -> bytes::Bytes {
        self.buf.put_i16(-1);
        self.buf.freeze()
    }
}

/// Encodes one row as a binary COPY tuple.
pub(crate) fn encode_event(buf: &mut BytesMut, r: &EventRow<'_>) {
    buf.put_i16(EVENT_FIELD_COUNT);
    put_i64(buf, r.position);
    put_time(buf, Some(r.recorded_at));
    put_text(buf, Some(r.tenant_id));
    put_time(buf, r.event_time);
    put_text(buf, Some(r.kind));
    put_text(buf, Some(r.source));
    put_text(buf, r.event_id);
    match r.severity {
        Some(v) => {
            buf.put_i32(2);
            buf.put_i16(v);
        }
        None => buf.put_i32(-1),
    }
    put_text(buf, r.host_name);
    put_inet(buf, r.source_ip);
    put_i32(buf, r.source_port);
    put_inet(buf, r.destination_ip);
    put_i32(buf, r.destination_port);
    put_text(buf, r.user_name);
    put_text(buf, r.process_name);
    put_text(buf, r.event_action);
    put_text(buf, r.event_outcome);
    put_text(buf, r.message);
    buf.put_i32(r.fields_json.len() as i32 + 1);
    buf.put_u8(1); // jsonb binary format version
    buf.put_slice(r.fields_json.as_bytes());
    buf.put_i32(r.raw.len() as i32);
    buf.put_slice(r.raw);
}

fn put_i64(buf: &mut BytesMut, v: i64) {
    buf.put_i32(8);
    buf.put_i64(v);
}

fn put_i32(buf: &mut BytesMut, v: Option<i32>) {
    match v {
        Some(v) => {
            buf.put_i32(4);
            buf.put_i32(v);
        }
        None => buf.put_i32(-1),
    }
}

fn put_time(buf: &mut BytesMut, t: Option<DateTime<Utc>>) {
    match t {
        Some(t) => put_i64(buf, t.timestamp_micros() - PG_EPOCH_OFFSET_MICROS),
        None => buf.put_i32(-1),
    }
}

fn put_text(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => {
            buf.put_i32(s.len() as i32);
            buf.put_slice(s.as_bytes());
        }
        None => buf.put_i32(-1),
    }
}

/// `inet` wire format: family, prefix bits, is-cidr flag, address length, address.
fn put_inet(buf: &mut BytesMut, ip: Option<IpAddr>) {
    match ip {
        Some(IpAddr::V4(v4)) => {
            buf.put_i32(8);
            buf.put_slice(&[2, 32, 0, 4]);
            buf.put_slice(&v4.octets());
        }
        Some(IpAddr::V6(v6)) => {
            buf.put_i32(20);
            buf.put_slice(&[3, 128, 0, 16]);
            buf.put_slice(&v6.octets());
        }
        None => buf.put_i32(-1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_encodes_nulls_as_minus_one_and_ends_with_raw_bytes() {
        let row = EventRow {
            position: 7,
            recorded_at: DateTime::from_timestamp(946_684_800, 0).unwrap(),
            tenant_id: "t",
            event_time: None,
            kind: "log",
            source: "s",
            event_id: None,
            severity: Some(3),
            host_name: None,
            source_ip: Some("10.1.2.3".parse().unwrap()),
            source_port: None,
            destination_ip: None,
            destination_port: None,
            user_name: None,
            process_name: None,
            event_action: None,
            event_outcome: None,
            message: None,
            fields_json: "{}",
            raw: b"xyz",
        };
        let mut buf = BytesMut::new();
        encode_event(&mut buf, &row);
        assert_eq!(&buf[..2], &20i16.to_be_bytes());
        assert_eq!(&buf[2..14], &[0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 7]);
        // recorded_at is exactly the PostgreSQL epoch.
        assert_eq!(&buf[14..26], &[0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(buf.ends_with(&[0, 0, 0, 3, b'x', b'y', b'z']));
        assert!(buf.windows(12).any(|w| w == [0, 0, 0, 8, 2, 32, 0, 4, 10, 1, 2, 3]));
    }
}
