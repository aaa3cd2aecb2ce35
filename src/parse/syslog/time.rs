//! Timestamps: RFC 3339 (RFC 5424 and ISO-stamped RFC 3164) and BSD `Mmm dd [yyyy] HH:MM:SS`,
//! resolved to UTC with the context's zone and, for year-less BSD stamps, the year that puts
//! the time closest to when the line was received.

use crate::parse::time::{LocalDateTime, Zone};

/// A timestamp as written, before its year or zone is settled; resolved by
/// [`LocalDateTime::resolve`].
pub(super) type Stamp = LocalDateTime;

const MONTHS: [&[u8; 3]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

/// Does an RFC 3339 date (`dddd-`) start at `pos`?
pub(super) fn looks_iso(bytes: &[u8], pos: usize) -> bool {
    matches!(bytes.get(pos..pos + 5), Some([a, b, c, d, b'-']) if [a, b, c, d].iter().all(|x| x.is_ascii_digit()))
}

/// Does a BSD month name followed by a space start at `pos`?
pub(super) fn looks_bsd(bytes: &[u8], pos: usize) -> bool {
    matches!(bytes.get(pos + 3), Some(b' ')) && month(bytes, pos).is_some()
}

/// `YYYY-MM-DDTHH:MM:SS[.frac][Z|±HH:MM|±HHMM]`; returns the stamp and the index after it.
pub(super) fn iso(bytes: &[u8], pos: usize) -> Option<(Stamp, usize)> {
    let year = digits(bytes, pos, 4)?;
    let month = after(bytes, pos + 4, b'-').and_then(|p| digits(bytes, p, 2))?;
    let day = after(bytes, pos + 7, b'-').and_then(|p| digits(bytes, p, 2))?;
    if !matches!(bytes.get(pos + 10), Some(b'T' | b't')) {
        return None;
    }
    let (hour, minute, second, nanos, mut end) = clock(bytes, pos + 11)?;
    let zone = match bytes.get(end) {
        Some(b'Z' | b'z') => {
            end += 1;
            Some(Zone::Offset(0))
        }
        Some(&sign @ (b'+' | b'-')) => {
            let hours = digits(bytes, end + 1, 2)?;
            let colon = usize::from(bytes.get(end + 3) == Some(&b':'));
            let minutes = digits(bytes, end + 3 + colon, 2)?;
            end += 5 + colon;
            let seconds = (hours * 3600 + minutes * 60) as i32;
            Some(Zone::Offset(if sign == b'-' { -seconds } else { seconds }))
        }
        _ => None,
    };
    let stamp = Stamp {
        year: Some(year as i32),
        month,
        day,
        hour,
        minute,
        second,
        nanos,
        zone,
    };
    Some((stamp, end))
}

/// `Mmm dd HH:MM:SS[.frac]`, with the day space-padded or not and an optional year before the
/// time (`Nov 20 2026 10:00:00`, Cisco); returns the stamp and the index after it.
pub(super) fn bsd(bytes: &[u8], pos: usize) -> Option<(Stamp, usize)> {
    let month = month(bytes, pos)?;
    let mut p = skip(bytes, pos + 3);
    let (day, day_len) = match digits(bytes, p, 2) {
        Some(day) => (day, 2),
        None => (digits(bytes, p, 1)?, 1),
    };
    p = after(bytes, p + day_len, b' ').map(|p| skip(bytes, p))?;
    let mut year = None;
    if let (Some(y), Some(b' ')) = (digits(bytes, p, 4), bytes.get(p + 4)) {
        year = Some(y as i32);
        p += 5;
    }
    let (hour, minute, second, nanos, end) = clock(bytes, p)?;
    let stamp = Stamp {
        year,
        month,
        day,
        hour,
        minute,
        second,
        nanos,
        zone: None,
    };
    Some((stamp, end))
}

/// `HH:MM:SS[.frac]` at `pos`: hour, minute, second, nanoseconds, end.
fn clock(bytes: &[u8], pos: usize) -> Option<(u32, u32, u32, u32, usize)> {
    let hour = digits(bytes, pos, 2)?;
    let minute = after(bytes, pos + 2, b':').and_then(|p| digits(bytes, p, 2))?;
    let second = after(bytes, pos + 5, b':').and_then(|p| digits(bytes, p, 2))?;
    let mut end = pos + 8;
    let mut nanos = 0;
    if bytes.get(end) == Some(&b'.') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit) {
        end += 1;
        let mut scale = 100_000_000;
        while let Some(d) = bytes.get(end).filter(|b| b.is_ascii_digit()) {
            nanos += u32::from(d - b'0') * scale;
            scale /= 10;
            end += 1;
        }
    }
    Some((hour, minute, second, nanos, end))
}

/// The month (1–12) whose three-letter name, in any case, starts at `pos`.
fn month(bytes: &[u8], pos: usize) -> Option<u32> {
    let name = bytes.get(pos..pos + 3)?;
    let lower = [name[0] | 0x20, name[1] | 0x20, name[2] | 0x20];
    MONTHS.iter().position(|m| **m == lower).map(|i| i as u32 + 1)
}

/// Exactly `n` ASCII digits at `pos`, as a number.
fn digits(bytes: &[u8], pos: usize, n: usize) -> Option<u32> {
    bytes
        .get(pos..pos + n)?
        .iter()
        .try_fold(0, |acc, &b| b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0')))
}

/// `pos + 1` if the byte at `pos` is `expected`.
fn after(bytes: &[u8], pos: usize, expected: u8) -> Option<usize> {
    (bytes.get(pos) == Some(&expected)).then_some(pos + 1)
}

fn skip(bytes: &[u8], pos: usize) -> usize {
    super::skip_spaces(bytes, pos)
}
