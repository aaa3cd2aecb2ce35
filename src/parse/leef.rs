//! IBM QRadar's Log Event Extended Format: `LEEF:1.0|Vendor|Product|Version|EventID|` then
//! TAB-separated `key=value` attributes, or `LEEF:2.0|...|EventID|Delimiter|` with the
//! delimiter as a character or in hex (`x09`, `0x5E`). Reads one record, starting at `LEEF:`,
//! into borrowed slices. Knows nothing of transports or of the syslog header before it.

#[cfg(test)]
mod tests;

use std::borrow::Cow;

use serde_json::Value;

use super::cef::{pipe_field, scan_extension};
use super::kv::mapping::{self, Kind, Target, Writer};
use super::kv::time::{self, Clock};
use super::{Fields, ParseContext};

/// One LEEF record, borrowed from its line.
#[derive(Debug, Clone, PartialEq)]
pub struct Leef<'a> {
    /// `1.0` or `2.0` (also written `1`, `2`).
    pub version: &'a str,
    pub vendor: Cow<'a, str>,
    pub product: Cow<'a, str>,
    pub product_version: Cow<'a, str>,
    pub event_id: Cow<'a, str>,
    /// The attribute delimiter the header declares; TAB for 1.0 or when 2.0 names none.
    pub delimiter: char,
    /// Attributes in order, as written (LEEF defines no escapes in values).
    pub attributes: Vec<(&'a str, &'a str)>,
    clock: Clock,
}

/// Why a line is not LEEF; each carries the byte offset in the text given to [`parse`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeefError {
    #[error("expected `LEEF:` at byte {offset}")]
    NotLeef { offset: usize },
    #[error("the LEEF version at byte {offset} is not 1.0 or 2.0")]
    UnsupportedVersion { offset: usize },
    #[error("the LEEF header ends at byte {offset}, before its {field} field")]
    MissingField { field: &'static str, offset: usize },
    #[error("the LEEF delimiter at byte {offset} is not a character or a hex code such as x09")]
    BadDelimiter { offset: usize },
    #[error("expected an attribute `key=value` at byte {offset}")]
    ExpectedKey { offset: usize },
}

impl LeefError {
    /// The byte offset of the fault in the text given to [`parse`].
    pub fn offset(&self) -> usize {
        match self {
            LeefError::NotLeef { offset }
            | LeefError::UnsupportedVersion { offset }
            | LeefError::MissingField { offset, .. }
            | LeefError::BadDelimiter { offset }
            | LeefError::ExpectedKey { offset } => *offset,
        }
    }
}

const HEADER: [&str; 4] = ["Vendor", "Product", "Version", "EventID"];

/// Parses one LEEF record. `text` starts at `LEEF:`; a trailing line break is ignored.
///
/// Quirks accepted: a 2.0 header without its delimiter field (TAB then); a 1.0 line without
/// tabs, whose relay wrote them as `#011` (rsyslog's escape) or turned them into spaces (then
/// a value runs until the next ` key=`, as in CEF), or whose emitter used `|`, `^`, `;` or
/// `~` (Palo Alto's LEEF 1.0 uses `|`); a piece without `=` continues the previous value (the
/// delimiter inside a value).
pub fn parse<'a>(text: &'a str, ctx: &ParseContext) -> Result<Leef<'a>, LeefError> {
    if !text.starts_with("LEEF:") {
        return Err(LeefError::NotLeef { offset: 0 });
    }
    let text = text.trim_end_matches(['\r', '\n']);
    let missing = |field| LeefError::MissingField {
        field,
        offset: text.len(),
    };
    let (_, mut pos) = pipe_field(text, 5).ok_or(missing(HEADER[0]))?;
    let version = text[5..pos - 1].trim();
    let two = match version {
        "1.0" | "1" => false,
        "2.0" | "2" => true,
        _ => return Err(LeefError::UnsupportedVersion { offset: 5 }),
    };
    let mut header: [Cow<'a, str>; 4] = Default::default();
    for (i, slot) in header.iter_mut().enumerate() {
        match pipe_field(text, pos) {
            Some((field, next)) => {
                *slot = field;
                pos = next;
            }
            // No attributes and no closing `|` after the event id.
            None if i == 3 => {
                *slot = Cow::Borrowed(text[pos..].trim());
                pos = text.len();
            }
            None => return Err(missing(HEADER[i + 1])),
        }
    }
    let mut delimiter = '\t';
    if two && let Some(len) = text[pos..].find('|') {
        let candidate = &text[pos..pos + len];
        if candidate.len() <= 6 && !candidate.contains('=') {
            delimiter = parse_delimiter(candidate).ok_or(LeefError::BadDelimiter { offset: pos })?;
            pos += len + 1;
        }
    }
    let attributes = split_attributes(text, pos, delimiter)?;
    let [vendor, product, product_version, event_id] = header;
    Ok(Leef {
        version,
        vendor,
        product,
        product_version,
        event_id,
        delimiter,
        attributes,
        clock: Clock::new(ctx),
    })
}

/// `^`, `x5E`, `0x5E`, `\t`; empty is TAB.
fn parse_delimiter(field: &str) -> Option<char> {
    let mut chars = field.chars();
    match (chars.next(), chars.next()) {
        (None, _) => return Some('\t'),
        (Some(c), None) => return Some(c),
        _ => {}
    }
    if field == "\\t" {
        return Some('\t');
    }
    let hex = field
        .strip_prefix("0x")
        .or_else(|| field.strip_prefix("0X"))
        .or_else(|| field.strip_prefix(['x', 'X']))?;
    if hex.is_empty() || hex.len() > 4 {
        return None;
    }
    u32::from_str_radix(hex, 16)
        .ok()
        .and_then(char::from_u32)
        .filter(|c| *c != '=')
}

fn split_attributes(text: &str, start: usize, delimiter: char) -> Result<Vec<(&str, &str)>, LeefError> {
    let body = &text[start..];
    let mut attributes = Vec::with_capacity(body.len() / 20 + 2);
    if delimiter == '\t' && !body.contains('\t') {
        if body.contains("#011") {
            split_on(body, start, body.split("#011"), 4, &mut attributes)?;
        } else if let Some(found) = guess_delimiter(body) {
            split_on(body, start, body.split(found), 1, &mut attributes)?;
        } else {
            scan_extension(body, |key, value, _| attributes.push((key, value)))
                .map_err(|at| LeefError::ExpectedKey { offset: start + at })?;
        }
    } else {
        split_on(
            body,
            start,
            body.split(delimiter),
            delimiter.len_utf8(),
            &mut attributes,
        )?;
    }
    Ok(attributes)
}

/// The undeclared delimiter of a 1.0 line without tabs, from the character before its
/// second key: Palo Alto writes `cat=TRAFFIC|ReceiveTime=...`. None for spaces.
fn guess_delimiter(body: &str) -> Option<char> {
    let bytes = body.as_bytes();
    let first = body.find('=')?;
    for (i, _) in body.match_indices('=').skip_while(|(i, _)| *i <= first) {
        let key_len = bytes[..i]
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count();
        let start = i - key_len;
        // A key must follow the first pair's value; `start > first` keeps `start - 1` in range.
        if key_len == 0 || start <= first {
            continue;
        }
        match bytes[start - 1] {
            b' ' => return None,
            found @ (b'|' | b'^' | b';' | b'~') => return Some(char::from(found)),
            _ => {}
        }
    }
    None
}

/// `pieces` are `body` split at a delimiter `delimiter_len` bytes long; `base` is the offset
/// of `body` in the record.
fn split_on<'a>(
    body: &'a str,
    base: usize,
    pieces: impl Iterator<Item = &'a str>,
    delimiter_len: usize,
    out: &mut Vec<(&'a str, &'a str)>,
) -> Result<(), LeefError> {
    let mut offset = 0;
    for piece in pieces {
        let at = offset;
        offset += piece.len() + delimiter_len;
        if piece.trim_ascii().is_empty() {
            continue;
        }
        match piece.split_once('=') {
            Some((key, value)) if !key.trim_ascii().is_empty() => out.push((key.trim_ascii(), value.trim_ascii())),
            Some(_) => return Err(LeefError::ExpectedKey { offset: base + at }),
            None => {
                // The delimiter inside a value: the piece belongs to the value before it.
                let Some((_, value)) = out.last_mut() else {
                    return Err(LeefError::ExpectedKey { offset: base + at });
                };
                let value_start = value.as_ptr() as usize - body.as_ptr() as usize;
                *value = body[value_start..at + piece.len()].trim_ascii();
            }
        }
    }
    Ok(())
}

const EXTENSIONS: &str = "leef.extensions.";

impl Leef<'_> {
    /// The value of the first attribute named `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    /// Writes the record as flat ECS fields: `leef.version`; `observer.vendor`,
    /// `observer.product`, `observer.version`, `event.code` from the header; `devTime` as
    /// `@timestamp`, read with `devTimeFormat` (a Java `SimpleDateFormat` pattern) when given,
    /// else as epoch milliseconds or `MMM dd yyyy HH:mm:ss`; `sev` (1–10) as `event.severity`
    /// with `tidemark.severity_original`; QRadar's keys per `targets`, then CEF's keys
    /// (`suser`, `shost`, `msg`, ...), each coerced to its field's type. A value that does not
    /// fit, repeats a field or has an unknown key stays under `leef.extensions.<key>`.
    pub fn write_fields(&self, out: &mut Fields) {
        let mut w = Writer::new(out, self.clock);
        w.set_str("leef.version", self.version);
        w.set_str("observer.vendor", &self.vendor);
        w.set_str("observer.product", &self.product);
        w.set_str("observer.version", &self.product_version);
        w.set_str("event.code", &self.event_id);
        let dated = self
            .device_time()
            .is_some_and(|t| w.set("@timestamp", Value::String(time::rfc3339(t))));
        for (key, value) in &self.attributes {
            if value.is_empty() || (dated && matches!(*key, "devTime" | "devTimeFormat")) {
                continue;
            }
            if *key == "sev" {
                if !w.severity(mapping::severity(value), value) {
                    w.keep(EXTENSIONS, key, value);
                }
                continue;
            }
            match targets(key).or_else(|| super::cef::targets(key)) {
                Some(target) => w.map(target, EXTENSIONS, key, value),
                None => w.keep(EXTENSIONS, key, value),
            }
        }
        w.finish();
    }

    /// `devTime`, read with `devTimeFormat` when there is one.
    pub fn device_time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let value = self.get("devTime")?;
        self.get("devTimeFormat")
            .and_then(|format| time::parse_with_format(value, format, &self.clock))
            .or_else(|| time::parse_any(value, &self.clock))
    }
}

/// The ECS fields a QRadar LEEF attribute fills.
fn targets(key: &str) -> Option<Target> {
    use Kind::*;
    Some(match key {
        "src" => (Ip, &["source.ip"]),
        "dst" => (Ip, &["destination.ip"]),
        "srcPort" => (Port, &["source.port"]),
        "dstPort" => (Port, &["destination.port"]),
        "srcPostNAT" => (Ip, &["source.nat.ip"]),
        "dstPostNAT" => (Ip, &["destination.nat.ip"]),
        "srcPostNATPort" => (Port, &["source.nat.port"]),
        "dstPostNATPort" => (Port, &["destination.nat.port"]),
        "srcMAC" => (Text, &["source.mac"]),
        "dstMAC" => (Text, &["destination.mac"]),
        "usrName" | "accountName" => (Text, &["user.name"]),
        "identUserName" => (Text, &["user.name"]),
        "identSrc" => (Ip, &["host.ip"]),
        "identHostName" => (Text, &["host.name"]),
        "identMAC" => (Text, &["host.mac"]),
        "identGrpName" => (Text, &["group.name"]),
        "srcBytes" => (Count, &["source.bytes"]),
        "dstBytes" => (Count, &["destination.bytes"]),
        "srcPackets" => (Count, &["source.packets"]),
        "dstPackets" => (Count, &["destination.packets"]),
        "totalPackets" => (Count, &["network.packets"]),
        "proto" => (Transport, &["network.transport"]),
        "cat" => (Text, &["leef.category"]),
        "policy" => (Text, &["rule.name"]),
        "action" => (Text, &["event.action"]),
        "url" => (Text, &["url.original"]),
        "role" => (Text, &["user.roles"]),
        "domain" => (Text, &["user.domain"]),
        "devTime" => (Time, &["@timestamp"]),
        _ => return None,
    })
}
