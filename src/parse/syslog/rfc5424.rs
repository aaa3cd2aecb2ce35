//! RFC 5424: `<PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [MSG]`, any header
//! field possibly NILVALUE (`-`). Runs of spaces between header fields are tolerated.

use super::{Result, StructuredData, Syslog, SyslogError, rest, sd, skip_spaces, time, token};
use crate::parse::ParseContext;

const BOM: &str = "\u{feff}";

/// A version number (1 to 3 digits, no leading zero) and a space at `pos`: the mark of RFC
/// 5424. Returns the version and the index of the space.
pub(super) fn version(bytes: &[u8], pos: usize) -> Option<(u16, usize)> {
    let len = bytes
        .get(pos..)?
        .iter()
        .take(4)
        .take_while(|b| b.is_ascii_digit())
        .count();
    let first = *bytes.get(pos)?;
    if !(1..=3).contains(&len) || first == b'0' || bytes.get(pos + len) != Some(&b' ') {
        return None;
    }
    let version = bytes[pos..pos + len]
        .iter()
        .fold(0, |v, &b| v * 10 + u16::from(b - b'0'));
    Some((version, pos + len))
}

/// Parses the rest of the line from the space after VERSION at `pos`.
pub(super) fn parse<'a>(
    line: &'a str,
    priority: u8,
    version: u16,
    pos: usize,
    ctx: &ParseContext,
) -> Result<Syslog<'a>> {
    let bytes = line.as_bytes();
    let mut pos = skip_spaces(bytes, pos);
    let (stamp, end) = token(line, pos);
    let timestamp = if stamp == "-" {
        None
    } else {
        let parsed = time::iso(bytes, pos)
            .filter(|&(_, end_of_stamp)| end_of_stamp == end)
            .and_then(|(stamp, _)| stamp.resolve(ctx.received_at, ctx.tz));
        Some(parsed.ok_or(SyslogError::Timestamp(pos))?)
    };
    pos = end;
    let mut fields = [None; 4];
    for field in &mut fields {
        pos = skip_spaces(bytes, pos);
        let (value, end) = token(line, pos);
        if value.is_empty() {
            return Err(SyslogError::Truncated(pos));
        }
        *field = Some(value).filter(|&v| v != "-");
        pos = end;
    }
    let [hostname, app_name, proc_id, msg_id] = fields;

    pos = skip_spaces(bytes, pos);
    let sd_start = pos;
    pos = match bytes.get(pos) {
        Some(b'[') => sd::scan(bytes, pos)?,
        Some(b'-') if matches!(bytes.get(pos + 1), None | Some(b' ')) => pos + 1,
        Some(_) => return Err(SyslogError::StructuredData(pos)),
        None => return Err(SyslogError::Truncated(pos)),
    };
    let structured_data = match bytes.get(sd_start) {
        Some(b'[') => StructuredData::new(line.get(sd_start..pos).unwrap_or("")),
        _ => StructuredData::default(),
    };
    // One space separates MSG; a sender that omits it after `]` is forgiven.
    let msg = rest(line, pos);
    let msg = msg.strip_prefix(' ').unwrap_or(msg);
    let msg = msg.strip_prefix(BOM).unwrap_or(msg);

    Ok(Syslog {
        priority: Some(priority),
        version: Some(version),
        timestamp,
        hostname,
        app_name,
        proc_id,
        msg_id,
        structured_data,
        msg,
        asa: None,
    })
}
