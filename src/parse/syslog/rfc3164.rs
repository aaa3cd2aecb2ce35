//! RFC 3164 and what devices actually send: `[<PRI>][TIMESTAMP[:] ][HOSTNAME ][TAG[PID]: ]MSG`,
//! where TIMESTAMP is BSD (`Nov  3 10:00:00`, `Nov 20 2026 10:00:00`) or RFC 3339. Without a
//! timestamp there is no hostname; without a PRI the line must start with a timestamp.

use super::{AsaTag, Result, Syslog, SyslogError, rest, skip_spaces, time, token};
use crate::parse::ParseContext;

/// Parses the line from `pos`, just after the PRI (if any).
pub(super) fn parse<'a>(line: &'a str, priority: Option<u8>, pos: usize, ctx: &ParseContext) -> Result<Syslog<'a>> {
    let bytes = line.as_bytes();
    // Some senders put a space after the PRI.
    let pos = skip_spaces(bytes, pos);
    let stamp = if time::looks_iso(bytes, pos) {
        Some(time::iso(bytes, pos))
    } else if time::looks_bsd(bytes, pos) {
        Some(time::bsd(bytes, pos))
    } else {
        None
    };
    let (timestamp, mut pos) = match stamp {
        None if priority.is_none() => return Err(SyslogError::NoHeader(pos)),
        None => (None, pos),
        Some(found) => {
            let (time, end) = found
                .filter(|&(_, end)| matches!(bytes.get(end), None | Some(b' ' | b':')))
                .and_then(|(stamp, end)| Some((stamp.resolve(ctx.received_at, ctx.tz)?, end)))
                .ok_or(SyslogError::Timestamp(pos))?;
            // Cisco ends the timestamp with a colon: `Nov 20 2026 10:00:00: %ASA-...`.
            let end = end + usize::from(bytes.get(end) == Some(&b':'));
            (Some(time), skip_spaces(bytes, end))
        }
    };

    let (first, first_end) = token(line, pos);
    let mut hostname = None;
    let mut tag = Tag::of(first);
    if tag.is_some() {
        pos = first_end;
    } else if timestamp.is_some() && !first.is_empty() {
        hostname = Some(first);
        pos = skip_spaces(bytes, first_end);
        let (mut second, mut second_end) = token(line, pos);
        if second == ":" {
            // Cisco's `logging device-id`: `fw01 : %ASA-6-...`.
            (second, second_end) = token(line, skip_spaces(bytes, second_end));
        }
        tag = Tag::of(second);
        if tag.is_some() {
            pos = second_end;
        }
    }
    let msg = rest(line, skip_spaces(bytes, pos));
    let (app_name, proc_id) = tag.map_or((None, None), |t| (Some(t.name), t.pid));

    Ok(Syslog {
        priority,
        version: None,
        timestamp,
        hostname,
        app_name,
        proc_id,
        msg_id: None,
        structured_data: Default::default(),
        msg,
        asa: app_name.and_then(asa_tag),
    })
}

/// A tag: `name:`, `name[pid]:` or `name[pid]`, the name free of `[`, `]` and `:` (which keeps
/// an IPv6 hostname such as `fe80::` from passing for one).
struct Tag<'a> {
    name: &'a str,
    pid: Option<&'a str>,
}

impl<'a> Tag<'a> {
    fn of(token: &'a str) -> Option<Tag<'a>> {
        let (inner, colon) = match token.strip_suffix(':') {
            Some(inner) => (inner, true),
            None => (token, false),
        };
        let (name, pid) = match inner.strip_suffix(']').and_then(|s| s.split_once('[')) {
            Some((name, pid)) => (name, Some(pid).filter(|p| !p.is_empty())),
            None if colon => (inner, None),
            None => return None,
        };
        let clean = |s: &str| !s.is_empty() && !s.contains(['[', ']', ':']);
        (clean(name) && pid.is_none_or(|p| !p.contains(['[', ']']))).then_some(Tag { name, pid })
    }
}

/// `%ASA-6-302013` (or PIX, FWSM, FTD): facility, severity digit, message number.
fn asa_tag(tag: &str) -> Option<AsaTag<'_>> {
    let mut parts = tag.strip_prefix('%')?.split('-');
    let facility = parts.next().filter(|f| matches!(*f, "ASA" | "PIX" | "FWSM" | "FTD"))?;
    let severity = match parts.next()?.as_bytes() {
        &[d @ b'0'..=b'7'] => d - b'0',
        _ => return None,
    };
    let message_id = parts
        .next()
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))?;
    parts.next().is_none().then_some(AsaTag {
        facility,
        severity,
        message_id,
    })
}
