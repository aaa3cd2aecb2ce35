//! ArcSight Common Event Format: `CEF:Version|Vendor|Product|Version|Signature ID|Name|Severity|`
//! then space-separated `key=value` extensions. Reads one record, starting at `CEF:` (a syslog
//! header before it is the caller's), into borrowed slices; only escaped text is copied.
//! Knows nothing of transports or of the syslog header.
//!
//! Extension values may hold spaces and unescaped `=`: a value runs until the next
//! ` key=` token. [`Cef::write_fields`] documents the ECS mapping.

mod fields;
#[cfg(test)]
mod tests;

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use super::ParseContext;
use super::kv::time::{self, Clock};

pub(crate) use fields::targets;

/// One CEF record, borrowed from its line.
#[derive(Debug, Clone, PartialEq)]
pub struct Cef<'a> {
    /// The format version, `0` or `1`.
    pub version: &'a str,
    pub device_vendor: Cow<'a, str>,
    pub device_product: Cow<'a, str>,
    pub device_version: Cow<'a, str>,
    pub signature_id: Cow<'a, str>,
    pub name: Cow<'a, str>,
    /// As written: `0`–`10` or `Low`, `Medium`, `High`, `Very-High`, `Unknown`.
    pub severity: Cow<'a, str>,
    /// Extensions in order, values unescaped (`\=`, `\\`, `\n`, `\r`, `\|`).
    pub extensions: Vec<(&'a str, Cow<'a, str>)>,
    clock: Clock,
}

/// Why a line is not CEF; each carries the byte offset in the text given to [`parse`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CefError {
    #[error("expected `CEF:` at byte {offset}")]
    NotCef { offset: usize },
    #[error("the CEF version at byte {offset} is not a number")]
    BadVersion { offset: usize },
    #[error("the CEF header ends at byte {offset}, before its {field} field")]
    MissingField { field: &'static str, offset: usize },
    #[error("expected an extension `key=value` at byte {offset}")]
    ExpectedKey { offset: usize },
}

impl CefError {
    /// The byte offset of the fault in the text given to [`parse`].
    pub fn offset(&self) -> usize {
        match self {
            CefError::NotCef { offset }
            | CefError::BadVersion { offset }
            | CefError::MissingField { offset, .. }
            | CefError::ExpectedKey { offset } => *offset,
        }
    }
}

/// The header fields after the version, in order.
const HEADER: [&str; 6] = [
    "Device Vendor",
    "Device Product",
    "Device Version",
    "Signature ID",
    "Name",
    "Severity",
];

/// Parses one CEF record. `text` starts at `CEF:`; a trailing line break is ignored.
pub fn parse<'a>(text: &'a str, ctx: &ParseContext) -> Result<Cef<'a>, CefError> {
    if !text.starts_with("CEF:") {
        return Err(CefError::NotCef { offset: 0 });
    }
    let text = text.trim_end_matches(['\r', '\n']);
    let missing = |field| CefError::MissingField {
        field,
        offset: text.len(),
    };
    let (_, mut pos) = pipe_field(text, 4).ok_or(missing(HEADER[0]))?;
    let version = version_number(&text[4..pos - 1]).ok_or(CefError::BadVersion { offset: 4 })?;
    let mut header: [Cow<'a, str>; 6] = Default::default();
    for (i, slot) in header.iter_mut().enumerate() {
        match pipe_field(text, pos) {
            Some((field, next)) => {
                *slot = field;
                pos = next;
            }
            // A record without extensions may end after its severity, with no `|`.
            None if i == 5 => {
                *slot = unescape(text[pos..].trim(), header_escape);
                pos = text.len();
            }
            None => return Err(missing(HEADER[i + 1])),
        }
    }
    let mut extensions = Vec::with_capacity((text.len() - pos) / 20 + 2);
    scan_extension(&text[pos..], |key, value, escaped| {
        let value = if escaped {
            unescape(value, value_escape)
        } else {
            Cow::Borrowed(value)
        };
        extensions.push((key, value));
    })
    .map_err(|at| CefError::ExpectedKey { offset: pos + at })?;
    let [
        device_vendor,
        device_product,
        device_version,
        signature_id,
        name,
        severity,
    ] = header;
    Ok(Cef {
        version,
        device_vendor,
        device_product,
        device_version,
        signature_id,
        name,
        severity,
        extensions,
        clock: Clock::new(ctx),
    })
}

impl Cef<'_> {
    /// The value of the first extension named `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.extensions.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_ref())
    }

    /// The severity on Tidemark's 0–10 scale; none for `Unknown` or anything unreadable.
    pub fn severity_level(&self) -> Option<u8> {
        super::kv::mapping::severity(&self.severity)
    }

    /// When the event happened: `rt` (or `deviceReceiptTime`) as epoch milliseconds or
    /// `MMM dd [yyyy] HH:mm:ss[.SSS][ zone]`, read in the context's zone when it has none.
    pub fn timestamp(&self) -> Option<DateTime<Utc>> {
        let rt = self.get("rt").or_else(|| self.get("deviceReceiptTime"))?;
        time::parse_any(rt, &self.clock)
    }
}

fn version_number(text: &str) -> Option<&str> {
    let v = text.trim();
    (!v.is_empty() && v.len() <= 3 && v.bytes().all(|b| b.is_ascii_digit())).then_some(v)
}

/// The `|`-terminated header field at `start`, with `\|` and `\\` unescaped, and the offset
/// after its `|`; none when no unescaped `|` follows. Shared with LEEF, whose header is alike.
pub(crate) fn pipe_field(text: &str, start: usize) -> Option<(Cow<'_, str>, usize)> {
    let bytes = text.as_bytes();
    let mut escaped = false;
    let mut i = start;
    loop {
        i = find2(bytes, i, b'|', b'\\');
        match bytes.get(i)? {
            b'\\' => {
                escaped = true;
                i += 2;
            }
            _ => {
                let raw = &text[start..i];
                let field = if escaped {
                    unescape(raw, header_escape)
                } else {
                    Cow::Borrowed(raw)
                };
                return Some((field, i + 1));
            }
        }
    }
}

/// The index of the first `a` or `b` at or after `from` (the length when none), eight bytes
/// at a time: extension values are long and mostly plain.
fn find2(bytes: &[u8], from: usize, a: u8, b: u8) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let (wa, wb) = (LO * u64::from(a), LO * u64::from(b));
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let Ok(chunk) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let word = u64::from_le_bytes(chunk);
        let (xa, xb) = (word ^ wa, word ^ wb);
        // A zero byte in xa or xb is a match; the lowest flagged byte is always a true one.
        let hits = ((xa.wrapping_sub(LO) & !xa) | (xb.wrapping_sub(LO) & !xb)) & HI;
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < bytes.len() && bytes[i] != a && bytes[i] != b {
        i += 1;
    }
    i.min(bytes.len())
}

fn header_escape(b: u8) -> Option<char> {
    match b {
        b'|' => Some('|'),
        b'\\' => Some('\\'),
        _ => None,
    }
}

fn value_escape(b: u8) -> Option<char> {
    match b {
        b'=' => Some('='),
        b'\\' => Some('\\'),
        b'n' => Some('\n'),
        b'r' => Some('\r'),
        b'|' => Some('|'),
        _ => None,
    }
}

/// `raw` with the escapes `known` recognizes replaced; any other backslash stays as written
/// (Windows paths from emitters that do not escape). Borrowed when nothing changes.
fn unescape(raw: &str, known: fn(u8) -> Option<char>) -> Cow<'_, str> {
    let bytes = raw.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        if let Some(c) = known(bytes[i + 1]) {
            let s = out.get_or_insert_with(|| String::with_capacity(raw.len()));
            s.push_str(&raw[copied..i]);
            s.push(c);
            copied = i + 2;
        }
        i += 2;
    }
    match out {
        Some(mut s) => {
            s.push_str(&raw[copied..]);
            Cow::Owned(s)
        }
        None => Cow::Borrowed(raw),
    }
}

fn is_key_start(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'[' | b']')
}

fn is_separator(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Splits space-separated `key=value` text where values may hold spaces and `=`: a value
/// ends before the next separator-preceded `key=`; backslash escapes are skipped over and
/// reported (the third argument) but left for the caller to decode. Values are trimmed of
/// surrounding ASCII whitespace. Errors with the offset of text that does not start with `key=`.
/// Shared with LEEF, for lines whose tabs a relay turned into spaces.
pub(crate) fn scan_extension<'a>(ext: &'a str, mut each: impl FnMut(&'a str, &'a str, bool)) -> Result<(), usize> {
    let bytes = ext.as_bytes();
    let Some(start) = bytes.iter().position(|b| !b.is_ascii_whitespace()) else {
        return Ok(());
    };
    let key_len = bytes[start..].iter().take_while(|b| is_key_char(**b)).count();
    if key_len == 0 || !is_key_start(bytes[start]) || bytes.get(start + key_len) != Some(&b'=') {
        return Err(start);
    }
    let mut key = &ext[start..start + key_len];
    let mut value_start = start + key_len + 1;
    let mut escaped = false;
    let mut i = value_start;
    loop {
        i = find2(bytes, i, b'=', b'\\');
        match bytes.get(i) {
            None => break,
            Some(b'\\') => {
                escaped = true;
                i += 2;
                continue;
            }
            Some(_) => {
                let mut k = i;
                while k > value_start && is_key_char(bytes[k - 1]) {
                    k -= 1;
                }
                if k < i && k > value_start && is_separator(bytes[k - 1]) && is_key_start(bytes[k]) {
                    each(key, ext[value_start..k - 1].trim_ascii(), escaped);
                    key = &ext[k..i];
                    value_start = i + 1;
                    escaped = false;
                }
                i += 1;
            }
        }
    }
    each(key, ext[value_start..].trim_ascii(), escaped);
    Ok(())
}
