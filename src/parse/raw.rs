//! The raw-ingest pipeline: a body of lines or one document, in a named format or detected,
//! becomes normalized events. Nothing is dropped: a record no parser understands is kept as
//! `kind=log` with its raw bytes and a `tidemark.parse_error` field.

use std::ops::Range;
use std::str::FromStr;

use serde_json::Value;

use super::{Fields, ParseContext, cef, classify, csv, ecs, ioc, kv, leef, stix, syslog, xml};
use crate::event::NewEvent;

/// A body format, as `?format=` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Auto,
    Syslog,
    Cef,
    Leef,
    Json,
    Xml,
    Csv,
    Kv,
    Stix,
    Text,
}

/// A `format` value that is not one of the known formats.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format {0:?}; expected auto, syslog, cef, leef, json, xml, csv, kv, stix or text")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "auto" => Format::Auto,
            "syslog" => Format::Syslog,
            "cef" => Format::Cef,
            "leef" => Format::Leef,
            "json" => Format::Json,
            "xml" => Format::Xml,
            "csv" => Format::Csv,
            "kv" => Format::Kv,
            "stix" => Format::Stix,
            "text" => Format::Text,
            other => return Err(UnknownFormat(other.to_owned())),
        })
    }
}

/// One record of a raw body, ready for the appender.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// Index of the record in the body (line or document record), from 0.
    pub index: usize,
    pub event: NewEvent,
    /// Why the record is stored as plain text (or why a field was set aside), if it is.
    pub parse_error: Option<String>,
}

/// Parses `body`. Every record comes back as an event; none is dropped.
pub fn parse_body(body: &[u8], format: Format, source: &str, ctx: &ParseContext) -> Vec<Parsed> {
    let text = String::from_utf8_lossy(body);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let lead = text.trim_start();
    let format = match format {
        Format::Auto if lead.starts_with('<') && !lead[1..].starts_with(|c: char| c.is_ascii_digit()) => Format::Xml,
        Format::Auto if (lead.starts_with('{') || lead.starts_with('[')) && stix::looks_like_stix(lead) => Format::Stix,
        Format::Auto if lead.starts_with('[') => Format::Json,
        Format::Auto if looks_like_csv(lead) => Format::Csv,
        other => other,
    };
    let documents = match format {
        Format::Xml => Some(xml::parse(text, ctx).map_err(|e| e.to_string())),
        Format::Csv => Some(csv::parse(text, ctx).map_err(|e| e.to_string())),
        Format::Stix => Some(stix::parse(text, ctx).map_err(|e| e.to_string())),
        Format::Json if lead.starts_with('[') => Some(json_array(text)),
        _ => None,
    };
    let mut out = Vec::new();
    match documents {
        Some(Ok(records)) => {
            for (index, record) in records.into_iter().enumerate() {
                let raw = text.as_bytes().get(record.span.clone()).unwrap_or_default();
                out.push(finish(index, record.fields, raw, source, None));
            }
        }
        Some(Err(error)) => out.push(as_text(0, text, text.as_bytes(), source, error)),
        None => {
            for (index, (line, raw)) in lines(text).enumerate() {
                out.push(parse_line(index, line, raw, format, source, ctx));
            }
        }
    }
    out
}

/// Parses `raw` as exactly one record (a syslog datagram or a framed stream message), so
/// that its `raw` is the message byte for byte even when it spans lines.
pub fn parse_record(raw: &[u8], format: Format, source: &str, ctx: &ParseContext) -> Parsed {
    let text = String::from_utf8_lossy(raw);
    parse_line(0, &text, raw, format, source, ctx)
}

/// A header of at least three name-like columns (no white space around names, no `=`, `<`
/// or `{`), followed by rows of the same width. Only used when no format is named.
fn looks_like_csv(text: &str) -> bool {
    const SAMPLE_ROWS: usize = 5;
    let Some(header) = text.lines().next() else {
        return false;
    };
    let cells: Vec<&str> = header
        .trim_end_matches('\r')
        .split(',')
        .map(|c| c.trim_matches('"'))
        .collect();
    // Prose has ", " between clauses; a header has no white space around its names.
    let name_like = |c: &str| {
        !c.is_empty()
            && c.trim() == c
            && c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b' ' | b'_' | b'.' | b'@' | b'-' | b'/' | b'#'))
    };
    if cells.len() < 3 || !cells.iter().all(|c| name_like(c)) {
        return false;
    }
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows = 0;
    for record in reader.records().take(SAMPLE_ROWS) {
        match record {
            Ok(r) if r.len() == cells.len() => rows += 1,
            _ => return false,
        }
    }
    rows > 0
}

/// Non-blank lines with their bytes, without line terminators.
fn lines(text: &str) -> impl Iterator<Item = (&str, &[u8])> {
    text.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.trim().is_empty())
        .map(|l| (l, l.as_bytes()))
}

fn parse_line(index: usize, line: &str, raw: &[u8], format: Format, source: &str, ctx: &ParseContext) -> Parsed {
    let mut fields = Fields::new();
    let result = match format {
        Format::Syslog => syslog_fields(line, ctx, &mut fields),
        Format::Cef => embedded(line, "CEF:", ctx, &mut fields),
        Format::Leef => embedded(line, "LEEF:", ctx, &mut fields),
        Format::Kv => kv::parse(line, ctx)
            .map(|k| k.write_fields(&mut fields))
            .map_err(|e| format!("kv: {e}")),
        Format::Json => json_line(line, &mut fields),
        Format::Text => {
            fields.insert("message".into(), Value::from(line));
            Ok(())
        }
        _ => detect_line(line, ctx, &mut fields),
    };
    match result {
        Ok(()) => finish(index, fields, raw, source, None),
        Err(error) => as_text(index, line, raw, source, error),
    }
}

/// Auto-detection of one line: CEF or LEEF (alone or after a syslog header), syslog, a JSON
/// object, key=value pairs, else plain text.
fn detect_line(line: &str, ctx: &ParseContext, fields: &mut Fields) -> Result<(), String> {
    let trimmed = line.trim_start();
    if trimmed.starts_with("CEF:") {
        return embedded(trimmed, "CEF:", ctx, fields);
    }
    if trimmed.starts_with("LEEF:") {
        return embedded(trimmed, "LEEF:", ctx, fields);
    }
    if trimmed.starts_with('{') && json_line(trimmed, fields).is_ok() {
        return Ok(());
    }
    fields.clear();
    if syslog_fields(line, ctx, fields).is_ok() {
        return Ok(());
    }
    fields.clear();
    if kv::parse(line, ctx).map(|k| k.write_fields(fields)).is_ok() {
        return Ok(());
    }
    fields.clear();
    fields.insert("message".into(), Value::from(line));
    Ok(())
}

/// A syslog line, with a CEF or LEEF payload in its message parsed too.
fn syslog_fields(line: &str, ctx: &ParseContext, fields: &mut Fields) -> Result<(), String> {
    let message = syslog::parse(line, ctx).map_err(|e| format!("syslog: {e}"))?;
    message.write_fields(fields);
    let payload = message.msg().trim_start();
    if payload.starts_with("CEF:") || payload.starts_with("LEEF:") {
        // The payload's own fields (its message, its time) take precedence over the header's.
        let prefix = if payload.starts_with("CEF:") { "CEF:" } else { "LEEF:" };
        fields.remove("message");
        if let Err(e) = embedded(payload, prefix, ctx, fields) {
            fields.insert("message".into(), Value::from(message.msg()));
            return Err(e);
        }
    }
    Ok(())
}

/// A CEF or LEEF record starting at `prefix` somewhere in `line` (after any header).
fn embedded(line: &str, prefix: &str, ctx: &ParseContext, fields: &mut Fields) -> Result<(), String> {
    let name = if prefix == "CEF:" { "cef" } else { "leef" };
    let start = line
        .find(prefix)
        .ok_or_else(|| format!("{name}: no {prefix} header in the line"))?;
    if start > 0 {
        // A syslog header before the payload: keep what it says, where it parses.
        let _ = syslog::parse(line, ctx).map(|s| s.write_fields(fields));
        fields.remove("message");
    }
    let payload = &line[start..];
    if prefix == "CEF:" {
        cef::parse(payload, ctx)
            .map(|c| c.write_fields(fields))
            .map_err(|e| format!("cef at byte {start}+: {e}"))
    } else {
        leef::parse(payload, ctx)
            .map(|l| l.write_fields(fields))
            .map_err(|e| format!("leef at byte {start}+: {e}"))
    }
}

fn json_line(line: &str, fields: &mut Fields) -> Result<(), String> {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(map)) => {
            fields.extend(map);
            Ok(())
        }
        Ok(_) => Err("json: not an object".into()),
        Err(e) => Err(format!("json: {e}")),
    }
}

/// A JSON array of objects, each a record with its own span.
fn json_array(text: &str) -> Result<Vec<super::DocRecord>, String> {
    let records = super::split_records(text.as_bytes()).map_err(|e| e.to_string())?;
    records
        .into_iter()
        .map(|r| {
            let start = (r.raw.as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
            let fields = match r.value {
                Value::Object(map) => map,
                other => Fields::from_iter([("message".to_owned(), Value::String(other.to_string()))]),
            };
            Ok(super::DocRecord {
                span: Range {
                    start,
                    end: start + r.raw.len(),
                },
                fields,
            })
        })
        .collect()
}

fn as_text(index: usize, text: &str, raw: &[u8], source: &str, error: String) -> Parsed {
    let mut fields = Fields::new();
    fields.insert("message".into(), Value::from(text));
    finish(index, fields, raw, source, Some(error))
}

/// Classification, IoCs and normalization. A field the normalizer refuses (a parser's
/// `source.ip` that is a host name, say) is set aside under `tidemark.invalid.*` rather than
/// losing the record.
fn finish(index: usize, mut fields: Fields, raw: &[u8], source: &str, mut error: Option<String>) -> Parsed {
    if let Some(e) = &error {
        fields.insert("tidemark.parse_error".into(), Value::from(e.as_str()));
    }
    classify::classify(&mut fields);
    let iocs = ioc::extract_fields(&fields);
    if !iocs.is_empty() {
        fields.insert("tidemark.iocs".into(), serde_json::to_value(&iocs).unwrap_or_default());
    }
    for _ in 0..fields.len() + 2 {
        let outcome = ecs::flatten_nested(&mut fields).and_then(|()| ecs::normalize_flat(&mut fields, raw, source));
        let note = match outcome {
            Ok(event) => {
                return Parsed {
                    index,
                    event,
                    parse_error: error,
                };
            }
            Err(ecs::NormalizeError::Invalid { field, reason }) => {
                let value = fields.remove(field).unwrap_or_default();
                fields.insert(format!("tidemark.invalid.{field}"), value);
                format!("field `{field}` set aside: {reason}")
            }
            Err(ecs::NormalizeError::Nul(field)) => {
                scrub_nul(&mut fields);
                format!("NUL characters in `{field}` replaced")
            }
            Err(other) => {
                fields = Fields::from_iter([("message".to_owned(), Value::from(String::from_utf8_lossy(raw)))]);
                scrub_nul(&mut fields);
                other.to_string()
            }
        };
        let combined = error.map_or(note.clone(), |e| format!("{e}; {note}"));
        fields.insert("tidemark.parse_error".into(), Value::from(combined.as_str()));
        error = Some(combined);
    }
    unreachable_text(index, raw, source, error)
}

/// Replaces NUL characters, which PostgreSQL text cannot hold, in every string.
fn scrub_nul(fields: &mut Fields) {
    fn scrub(value: &mut Value) {
        match value {
            Value::String(s) if s.contains('\0') => *s = s.replace('\0', "\u{fffd}"),
            Value::Array(items) => items.iter_mut().for_each(scrub),
            Value::Object(map) => map.values_mut().for_each(scrub),
            _ => {}
        }
    }
    let keyed: Vec<(String, Value)> = std::mem::take(fields)
        .into_iter()
        .map(|(k, v)| (k.replace('\0', "\u{fffd}"), v))
        .collect();
    for (key, mut value) in keyed {
        scrub(&mut value);
        fields.insert(key, value);
    }
}

/// The last resort, never reached in practice: a message-only event.
fn unreachable_text(index: usize, raw: &[u8], source: &str, error: Option<String>) -> Parsed {
    let event = NewEvent {
        event_time: None,
        kind: crate::event::EventKind::Log,
        source: source.to_owned(),
        event_id: None,
        severity: None,
        host_name: None,
        source_ip: None,
        source_port: None,
        destination_ip: None,
        destination_port: None,
        user_name: None,
        process_name: None,
        event_action: None,
        event_outcome: None,
        message: None,
        fields_json: "{}".to_owned(),
        raw: raw.to_vec(),
    };
    Parsed {
        index,
        event,
        parse_error: error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ctx() -> ParseContext {
        ParseContext::new(chrono::Utc::now())
    }

    #[test]
    fn a_csv_body_is_detected_by_its_header_and_rows() {
        let body = b"@timestamp,source.ip,user.name,message\n2026-11-20T10:00:00Z,10.0.0.1,alice,\"hi, there\"\n";
        let parsed = parse_body(body, Format::Auto, "t", &ctx());
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].event.user_name.as_deref(), Some("alice"));
        assert!(!looks_like_csv("Hello, world, again\nAnother, line, here"));
        assert!(!looks_like_csv("<13>Nov 20 10:00:00 host a,b,c"));
    }

    #[test]
    fn a_nested_json_line_lands_in_the_same_columns_as_a_dotted_one() {
        let parsed = parse_body(
            b"{\"source\":{\"ip\":\"10.0.0.1\"},\"user\":{\"name\":\"bob\"}}",
            Format::Json,
            "t",
            &ctx(),
        );
        assert_eq!(parsed[0].event.source_ip, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(parsed[0].event.user_name.as_deref(), Some("bob"));
        assert_eq!(parsed[0].parse_error, None);
    }

    #[test]
    fn unknown_formats_are_refused_by_name() {
        assert_eq!("leef".parse::<Format>(), Ok(Format::Leef));
        assert!("yaml".parse::<Format>().unwrap_err().to_string().contains("yaml"));
    }

    #[test]
    fn a_malformed_document_is_kept_whole_as_text() {
        let parsed = parse_body(b"<Events><Event><System>", Format::Xml, "t", &ctx());
        assert_eq!(parsed.len(), 1);
        assert!(parsed[0].parse_error.is_some());
        assert_eq!(parsed[0].event.raw, b"<Events><Event><System>");
    }

    #[test]
    fn nul_characters_are_replaced_rather_than_losing_the_record() {
        let parsed = parse_body(b"hello\0world", Format::Text, "t", &ctx());
        assert_eq!(parsed[0].event.message.as_deref(), Some("hello\u{fffd}world"));
        assert_eq!(parsed[0].event.raw, b"hello\0world");
    }

    proptest! {
        #[test]
        fn every_non_blank_line_becomes_exactly_one_event(lines in proptest::collection::vec("[ -~\\t]{0,80}", 0..20)) {
            let body = lines.join("\n");
            let expected = lines.iter().filter(|l| !l.trim().is_empty()).count();
            for format in [Format::Auto, Format::Syslog, Format::Cef, Format::Leef, Format::Kv, Format::Text] {
                let parsed = parse_body(body.as_bytes(), format, "t", &ctx());
                let documentish = format == Format::Auto && {
                    let lead = body.trim_start();
                    lead.starts_with('<') || lead.starts_with('[') || lead.starts_with('{')
                };
                if !documentish {
                    prop_assert_eq!(parsed.len(), expected);
                }
            }
        }
    }
}
