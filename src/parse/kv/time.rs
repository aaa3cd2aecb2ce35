//! Timestamps as security devices write them: epoch numbers, RFC 3339, the ArcSight
//! `MMM dd yyyy HH:mm:ss` family, and Java `SimpleDateFormat` patterns (LEEF `devTimeFormat`).
//! Shared by the CEF, LEEF and key=value parsers; it knows nothing about their fields.

use chrono::{DateTime, FixedOffset, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;

use crate::parse::ParseContext;
use crate::parse::time::{LocalDateTime, Zone};

/// What a parser needs from its [`ParseContext`] to read a timestamp later, in `write_fields`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Clock {
    pub(crate) received_at: DateTime<Utc>,
    pub(crate) tz: Option<Tz>,
}

impl Clock {
    pub(crate) fn new(ctx: &ParseContext) -> Self {
        Clock {
            received_at: ctx.received_at,
            tz: ctx.tz,
        }
    }
}

/// RFC 3339 in UTC, as [`crate::parse::Fields`] wants `@timestamp`.
pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Formats tried, in order, when a value names no format of its own.
const DIGIT_FIRST: [&str; 5] = [
    "yyyy-MM-dd'T'HH:mm:ss",
    "yyyy-MM-dd HH:mm:ss",
    "yyyy/MM/dd HH:mm:ss",
    "yyyy/MM/dd'T'HH:mm:ss",
    "dd/MMM/yyyy:HH:mm:ss",
];
const LETTER_FIRST: [&str; 3] = ["MMM dd yyyy HH:mm:ss", "MMM dd HH:mm:ss", "EEE MMM dd HH:mm:ss yyyy"];

/// Epoch seconds, milliseconds, micro- or nanoseconds (told apart by magnitude), RFC 3339,
/// `yyyy-MM-dd HH:mm:ss`, `yyyy/MM/dd HH:mm:ss`, `dd/MMM/yyyy:HH:mm:ss` or
/// `MMM dd [yyyy] HH:mm:ss`, each with optional fraction and zone. A missing zone is the
/// clock's, else UTC; a missing year is the one closest to the receive time.
pub(crate) fn parse_any(value: &str, clock: &Clock) -> Option<DateTime<Utc>> {
    let value = value.trim();
    let first = *value.as_bytes().first()?;
    if first.is_ascii_digit() {
        if let Some(t) = epoch(value) {
            return Some(t);
        }
        DIGIT_FIRST.iter().find_map(|p| parse_with_format(value, p, clock))
    } else if first.is_ascii_alphabetic() {
        LETTER_FIRST.iter().find_map(|p| parse_with_format(value, p, clock))
    } else {
        None
    }
}

/// A number of seconds (up to 11 digits, optionally with a fraction), milliseconds (up to 14),
/// microseconds (up to 17) or nanoseconds since the epoch.
pub(crate) fn epoch(value: &str) -> Option<DateTime<Utc>> {
    let (int, frac) = match value.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (value, None),
    };
    if int.is_empty() || int.len() > 19 || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = int.parse().ok()?;
    if let Some(frac) = frac {
        if frac.is_empty() || n >= 100_000_000_000 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        return Utc.timestamp_opt(n, fraction_nanos(frac)).single();
    }
    if n < 100_000_000_000 {
        Utc.timestamp_opt(n, 0).single()
    } else if n < 100_000_000_000_000 {
        Utc.timestamp_millis_opt(n).single()
    } else if n < 100_000_000_000_000_000 {
        Utc.timestamp_micros(n).single()
    } else {
        Some(Utc.timestamp_nanos(n))
    }
}

/// Reads `value` with a Java `SimpleDateFormat` pattern (letters `y M d H h k K m s S E a z Z X`
/// and quoted literals), then an optional fraction and zone the pattern did not cover.
pub(crate) fn parse_with_format(value: &str, pattern: &str, clock: &Clock) -> Option<DateTime<Utc>> {
    let mut parts = Parts::default();
    let rest = scan_pattern(pattern, value.trim(), &mut parts)?;
    tail(rest, &mut parts)?;
    parts.resolve(clock)
}

#[derive(Debug, Default)]
struct Parts {
    year: Option<i32>,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nano: Option<u32>,
    pm: Option<bool>,
    zone: Option<Zone>,
}

impl Parts {
    fn resolve(&self, clock: &Clock) -> Option<DateTime<Utc>> {
        let hour = match self.pm {
            Some(pm) if (1..=12).contains(&self.hour) => self.hour % 12 + if pm { 12 } else { 0 },
            Some(_) => return None,
            None => self.hour % 24,
        };
        let local = LocalDateTime {
            year: self.year,
            month: self.month,
            day: self.day,
            hour,
            minute: self.minute,
            second: self.second,
            nanos: self.nano.unwrap_or(0),
            zone: self.zone,
        };
        local.resolve(clock.received_at, clock.tz)
    }
}

/// Walks `pattern` over `input`; returns what the pattern did not consume.
fn scan_pattern<'s>(pattern: &str, mut input: &'s str, parts: &mut Parts) -> Option<&'s str> {
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            // Quoted literal; `''` is a single quote, inside or outside quotes.
            if chars.peek() == Some(&'\'') {
                chars.next();
                input = input.strip_prefix('\'')?;
                continue;
            }
            loop {
                match chars.next()? {
                    '\'' if chars.peek() == Some(&'\'') => {
                        chars.next();
                        input = input.strip_prefix('\'')?;
                    }
                    '\'' => break,
                    lit => input = input.strip_prefix(lit)?,
                }
            }
        } else if c.is_ascii_alphabetic() {
            let mut count = 1;
            while chars.peek() == Some(&c) {
                chars.next();
                count += 1;
            }
            input = field(c, count, input, parts)?;
        } else if c == ' ' {
            // Devices pad days with a second space (`Nov  5`); one space matches a run.
            let trimmed = input.trim_start_matches(' ');
            if trimmed.len() == input.len() {
                return None;
            }
            input = trimmed;
        } else {
            input = input.strip_prefix(c)?;
        }
    }
    Some(input)
}

fn field<'s>(letter: char, count: usize, input: &'s str, parts: &mut Parts) -> Option<&'s str> {
    match letter {
        'y' | 'Y' | 'u' if count == 2 => {
            let (yy, rest) = digits(input, 2, 2)?;
            parts.year = Some(if yy < 70 { 2000 + yy as i32 } else { 1900 + yy as i32 });
            Some(rest)
        }
        'y' | 'Y' | 'u' => {
            let (year, rest) = digits(input, 4, 4)?;
            parts.year = Some(year as i32);
            Some(rest)
        }
        'M' | 'L' if count >= 3 => {
            let (month, rest) = month_name(input)?;
            parts.month = month;
            Some(rest)
        }
        'M' | 'L' => two_digits(input, &mut parts.month),
        'd' => two_digits(input, &mut parts.day),
        'H' | 'k' | 'h' | 'K' => two_digits(input, &mut parts.hour),
        'm' => two_digits(input, &mut parts.minute),
        's' => two_digits(input, &mut parts.second),
        'S' => {
            let len = input.bytes().take_while(u8::is_ascii_digit).count();
            if len == 0 {
                return None;
            }
            parts.nano = Some(fraction_nanos(&input[..len]));
            Some(&input[len..])
        }
        'E' => {
            let len = input.bytes().take_while(u8::is_ascii_alphabetic).count();
            (len >= 2).then(|| &input[len..])
        }
        'a' => {
            let head = input.get(..2)?;
            parts.pm = Some(match head.to_ascii_uppercase().as_str() {
                "AM" => false,
                "PM" => true,
                _ => return None,
            });
            Some(&input[2..])
        }
        'z' | 'Z' | 'X' | 'x' | 'O' => {
            let len = input
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'+' | b'-' | b':'))
                .count();
            parts.zone = Some(parse_zone(&input[..len])?);
            Some(&input[len..])
        }
        _ => None,
    }
}

fn two_digits<'s>(input: &'s str, slot: &mut u32) -> Option<&'s str> {
    let (n, rest) = digits(input, 1, 2)?;
    *slot = n;
    Some(rest)
}

/// `min..=max` ASCII digits at the start of `input`.
fn digits(input: &str, min: usize, max: usize) -> Option<(u32, &str)> {
    let len = input.bytes().take(max).take_while(u8::is_ascii_digit).count();
    if len < min {
        return None;
    }
    let n = input[..len].bytes().fold(0u32, |n, b| n * 10 + u32::from(b - b'0'));
    Some((n, &input[len..]))
}

/// Digits after a decimal point as nanoseconds; digits past the ninth are dropped.
fn fraction_nanos(frac: &str) -> u32 {
    let mut nanos = 0u32;
    let mut scale = 100_000_000u32;
    for b in frac.bytes().take(9) {
        nanos += u32::from(b - b'0') * scale;
        scale /= 10;
    }
    nanos
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// An English month name, abbreviated to three letters or in full, in any case.
fn month_name(input: &str) -> Option<(u32, &str)> {
    let len = input.bytes().take_while(u8::is_ascii_alphabetic).count();
    let word = &input[..len];
    let index = MONTHS.iter().position(|m| {
        (len == 3 && m.as_bytes()[..3].eq_ignore_ascii_case(word.as_bytes())) || m.eq_ignore_ascii_case(word)
    })?;
    Some((index as u32 + 1, &input[len..]))
}

/// An optional `.fraction` and zone after what the pattern matched; nothing else may follow.
fn tail(rest: &str, parts: &mut Parts) -> Option<()> {
    let mut rest = rest;
    if parts.nano.is_none()
        && let Some(after) = rest.strip_prefix(['.', ','])
    {
        let len = after.bytes().take_while(u8::is_ascii_digit).count();
        if len > 0 {
            parts.nano = Some(fraction_nanos(&after[..len]));
            rest = &after[len..];
        }
    }
    let rest = rest.trim();
    if rest.is_empty() {
        return Some(());
    }
    if parts.zone.is_some() {
        return None;
    }
    parts.zone = Some(parse_zone(rest)?);
    Some(())
}

/// `Z`, `UTC`, `GMT`, `±hh`, `±hhmm`, `±hh:mm` (also after `UTC`/`GMT`), an IANA name such
/// as `Europe/Berlin`, or one of a few unambiguous abbreviations (`CEST`, `PDT`, ...).
fn parse_zone(text: &str) -> Option<Zone> {
    let fixed = |secs: i32| FixedOffset::east_opt(secs).map(|_| Zone::Offset(secs));
    match text {
        "Z" | "z" | "UTC" | "GMT" | "UT" => return fixed(0),
        _ => {}
    }
    let numeric = text
        .strip_prefix("UTC")
        .or_else(|| text.strip_prefix("GMT"))
        .unwrap_or(text);
    if let Some(sign) = numeric.chars().next().filter(|c| *c == '+' || *c == '-') {
        let body = numeric[1..].replace(':', "");
        if !(body.len() == 2 || body.len() == 4) || !body.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let hours: i32 = body[..2].parse().ok()?;
        let minutes: i32 = body
            .get(2..)
            .filter(|m| !m.is_empty())
            .map_or(Some(0), |m| m.parse().ok())?;
        if hours > 18 || minutes > 59 {
            return None;
        }
        let secs = hours * 3600 + minutes * 60;
        return fixed(if sign == '-' { -secs } else { secs });
    }
    let abbreviation = match text {
        "PST" => Some(-8),
        "PDT" | "MST" => Some(-7),
        "MDT" => Some(-6),
        "CDT" | "EST" => Some(-5),
        "EDT" => Some(-4),
        "BST" | "CET" => Some(1),
        "CEST" | "EET" => Some(2),
        "EEST" => Some(3),
        "JST" => Some(9),
        "AEST" => Some(10),
        "AEDT" => Some(11),
        _ => None,
    };
    if let Some(hours) = abbreviation {
        return fixed(hours * 3600);
    }
    text.parse::<Tz>().ok().map(Zone::Named)
}

#[cfg(test)]
mod tests;
