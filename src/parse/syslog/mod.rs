//! Syslog lines: RFC 5424, RFC 3164 and the vendor variants seen in the field (no hostname,
//! ISO timestamps, Cisco ASA tags, no timestamp, no PRI), read into a [`Syslog`] that borrows
//! from the line and allocates nothing. Framing belongs to the listener; a CEF or LEEF payload
//! in [`Syslog::msg`] belongs to its own parser.

mod fields;
mod pri;
mod rfc3164;
mod rfc5424;
mod sd;
mod time;

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};

use super::ParseContext;

pub use sd::{Elements, Params, SdElement, SdParam, StructuredData};

/// One syslog record, borrowed from its line. Absent and NILVALUE (`-`) parts are `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syslog<'a> {
    priority: Option<u8>,
    version: Option<u16>,
    timestamp: Option<DateTime<Utc>>,
    hostname: Option<&'a str>,
    app_name: Option<&'a str>,
    proc_id: Option<&'a str>,
    msg_id: Option<&'a str>,
    structured_data: StructuredData<'a>,
    msg: &'a str,
    asa: Option<AsaTag<'a>>,
}

/// A Cisco ASA (or PIX, FWSM, FTD) message tag such as `%ASA-6-302013`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsaTag<'a> {
    /// `ASA`, `PIX`, `FWSM` or `FTD`.
    pub facility: &'a str,
    /// The syslog severity digit, 0 (emergency) to 7 (debug).
    pub severity: u8,
    /// The message number, `302013`.
    pub message_id: &'a str,
}

/// Why a line is not syslog, with the byte offset in the line where parsing stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyslogError {
    #[error("not a syslog line: no `<PRI>` and no timestamp at byte {0}")]
    NoHeader(usize),
    #[error("invalid PRI at byte {0}: expected `<` then a number from 0 to 191 then `>`")]
    Pri(usize),
    #[error("invalid timestamp at byte {0}")]
    Timestamp(usize),
    #[error(
        "RFC 5424 header ends early at byte {0}: expected timestamp, hostname, app-name, procid, msgid and structured data"
    )]
    Truncated(usize),
    #[error("malformed structured data at byte {0}: expected `-` or `[SD-ID name=\"value\" ...]`")]
    StructuredData(usize),
}

impl SyslogError {
    /// The byte offset in the line where parsing failed.
    pub fn offset(&self) -> usize {
        match *self {
            SyslogError::NoHeader(at)
            | SyslogError::Pri(at)
            | SyslogError::Timestamp(at)
            | SyslogError::Truncated(at)
            | SyslogError::StructuredData(at) => at,
        }
    }
}

pub type Result<T, E = SyslogError> = std::result::Result<T, E>;

/// Parses one line (without its terminator; a trailing CR, LF or NUL is ignored). A line
/// starting with `<digits>` must have a valid PRI; a line without one must start with a
/// timestamp. RFC 5424 is recognized by the version number after the PRI.
pub fn parse<'a>(line: &'a str, ctx: &ParseContext) -> Result<Syslog<'a>> {
    let line = line.trim_end_matches(['\r', '\n', '\0']);
    let bytes = line.as_bytes();
    let start = skip_spaces(bytes, 0);
    if bytes.get(start) != Some(&b'<') {
        return rfc3164::parse(line, None, start, ctx);
    }
    let (priority, pos) = pri::parse(bytes, start)?;
    match rfc5424::version(bytes, pos) {
        Some((version, pos)) => rfc5424::parse(line, priority, version, pos, ctx),
        None => rfc3164::parse(line, Some(priority), pos, ctx),
    }
}

impl<'a> Syslog<'a> {
    /// The message part (after the header), where CEF or LEEF payloads are found.
    pub fn msg(&self) -> &'a str {
        self.msg
    }

    /// PRI: facility × 8 + severity.
    pub fn priority(&self) -> Option<u8> {
        self.priority
    }

    /// The facility code from PRI, 0 (kern) to 23 (local7).
    pub fn facility(&self) -> Option<u8> {
        self.priority.map(|p| p >> 3)
    }

    /// The severity code from PRI, 0 (emerg) to 7 (debug).
    pub fn severity(&self) -> Option<u8> {
        self.priority.map(|p| p & 7)
    }

    /// The RFC 5424 version; `None` for RFC 3164 lines.
    pub fn version(&self) -> Option<u16> {
        self.version
    }

    /// The timestamp in UTC, truncated to microseconds. RFC 3164 years are inferred from
    /// [`ParseContext::received_at`], zoneless times read in [`ParseContext::tz`].
    pub fn timestamp(&self) -> Option<DateTime<Utc>> {
        self.timestamp
    }

    /// The HOSTNAME field: a name or an IP address, as the sender wrote it.
    pub fn hostname(&self) -> Option<&'a str> {
        self.hostname
    }

    /// The RFC 5424 APP-NAME or the RFC 3164 tag (`sshd` in `sshd[42]:`).
    pub fn app_name(&self) -> Option<&'a str> {
        self.app_name
    }

    /// The RFC 5424 PROCID or the RFC 3164 pid (`42` in `sshd[42]:`), as written.
    pub fn proc_id(&self) -> Option<&'a str> {
        self.proc_id
    }

    /// The RFC 5424 MSGID, the type of message (`ID47`, `TXN`).
    pub fn msg_id(&self) -> Option<&'a str> {
        self.msg_id
    }

    /// RFC 5424 structured data; empty for RFC 3164 lines.
    pub fn structured_data(&self) -> StructuredData<'a> {
        self.structured_data
    }

    /// The Cisco ASA tag, when the RFC 3164 tag is one.
    pub fn asa(&self) -> Option<AsaTag<'a>> {
        self.asa
    }
}

/// Index of the first byte at or after `pos` that is not a space.
fn skip_spaces(bytes: &[u8], mut pos: usize) -> usize {
    while bytes.get(pos) == Some(&b' ') {
        pos += 1;
    }
    pos
}

/// The run of non-space bytes at `pos` and the index just past it. Ends only at a space (an
/// ASCII byte) or the end of the line, so it is always a valid `str` slice.
fn token(line: &str, pos: usize) -> (&str, usize) {
    let bytes = line.as_bytes();
    let end = bytes
        .get(pos..)
        .and_then(|rest| rest.iter().position(|&b| b == b' '))
        .map_or(bytes.len(), |n| pos + n);
    (line.get(pos..end).unwrap_or(""), end.max(pos))
}

/// `line[from..]`, or empty if `from` is not a boundary (it always is: callers pass indexes
/// of ASCII bytes or the length).
fn rest(line: &str, from: usize) -> &str {
    line.get(from..).unwrap_or("")
}
