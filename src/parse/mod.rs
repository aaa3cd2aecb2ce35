//! Turning bytes into normalized events. Pure code: no tokio, sqlx, axum or database; each
//! function here can be tested, benched and fuzzed without a runtime.
//!
//! - `records` frames a structured body (JSON array or NDJSON) into records with their bytes;
//!   `ecs` normalizes one ECS-style JSON object into a [`crate::event::NewEvent`].
//! - The format parsers (`syslog`, `cef`, `leef`, `kv`, `xml`, `csv`, `stix`) read one record
//!   each into a borrowed struct, cheaply, and can write it out as flat [`Fields`] with dotted
//!   ECS names; `ioc` finds indicators in any text.

pub mod cef;
pub(crate) mod classify;
pub mod csv;
pub(crate) mod ecs;
pub mod ioc;
pub mod kv;
pub mod leef;
pub(crate) mod metric;
pub mod raw;
pub(crate) mod records;
pub mod stix;
pub mod syslog;
pub(crate) mod time;
pub mod xml;

use chrono::{DateTime, Utc};

pub use ecs::{NormalizeError, normalize};
pub use metric::{SampleError, sample};
pub use raw::{Format, Parsed, UnknownFormat, parse_body, parse_record};
pub use records::{FrameError, Record, split_records};

/// The flat fields of one parsed record, keyed by dotted ECS names (`source.ip`,
/// `log.syslog.facility.code`, ...). Conventions every parser follows:
/// - `@timestamp` is RFC 3339 text in UTC;
/// - `event.severity` is a number on Tidemark's 0–10 scale, and `tidemark.severity_original`
///   keeps the value as the source wrote it;
/// - `message` is the human-readable text, when there is one;
/// - parsers leave `event.kind` to classification, except where the format itself says
///   (STIX indicators and sightings), and then they set `tidemark.kind_rule` too.
pub type Fields = serde_json::Map<String, serde_json::Value>;

/// What a parser knows about where and when a record arrived.
#[derive(Debug, Clone)]
pub struct ParseContext {
    /// When Tidemark received the record. RFC 3164 timestamps carry no year: the year that
    /// puts the timestamp closest to this moment is chosen (a Dec 31 line received on Jan 1
    /// keeps last year).
    pub received_at: DateTime<Utc>,
    /// The zone of timestamps that carry none (a per-source override); UTC when `None`.
    pub tz: Option<chrono_tz::Tz>,
}

impl ParseContext {
    pub fn new(received_at: DateTime<Utc>) -> Self {
        ParseContext { received_at, tz: None }
    }
}

/// One record found inside a multi-record document (an XML export, a CSV file, a STIX
/// bundle): the byte range of its own text in the document, kept as its `raw`, and its fields.
#[derive(Debug, Clone, PartialEq)]
pub struct DocRecord {
    pub span: std::ops::Range<usize>,
    pub fields: Fields,
}
