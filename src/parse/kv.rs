//! `key=value` lines (Fortinet, Palo Alto-style, logfmt, iptables): pairs separated by
//! whitespace, values bare or double-/single-quoted with `\"` escapes. Words without `=`
//! between pairs are skipped. Fewer than two pairs is an error, so callers can detect the
//! format by trying it. Knows nothing of the syslog header in front of such lines.
//!
//! Also home of what the CEF, LEEF and kv parsers share: `mapping` (ECS coercions, severity
//! words) and `time` (device timestamp formats).

pub(crate) mod mapping;
#[cfg(test)]
mod tests;
pub(crate) mod time;

use std::borrow::Cow;

use self::mapping::{Kind, Target, Writer};
use self::time::Clock;
use super::{Fields, ParseContext};

/// One key=value record, borrowed from its line.
#[derive(Debug, Clone, PartialEq)]
pub struct Kv<'a> {
    /// Pairs in order; quoted values without their quotes, `\"`, `\'` and `\\` unescaped.
    pub pairs: Vec<(&'a str, Cow<'a, str>)>,
    clock: Clock,
}

/// Why a line is not key=value text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    #[error("expected at least 2 key=value pairs, found {found}; text that is not a pair starts at byte {offset}")]
    TooFewPairs { found: usize, offset: usize },
}

impl KvError {
    /// The byte offset of the fault in the text given to [`parse`].
    pub fn offset(&self) -> usize {
        match self {
            KvError::TooFewPairs { offset, .. } => *offset,
        }
    }
}

/// Parses one line of `key=value` pairs. An unterminated quote runs to the end of the line
/// (syslog relays truncate long lines).
pub fn parse<'a>(text: &'a str, ctx: &ParseContext) -> Result<Kv<'a>, KvError> {
    let bytes = text.as_bytes();
    let mut pairs = Vec::with_capacity(16);
    let mut first_other = None;
    let mut i = 0;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let key_len = if is_key_start(bytes[i]) {
            bytes[i..].iter().take_while(|b| is_key_char(**b)).count()
        } else {
            0
        };
        if key_len == 0 || bytes.get(i + key_len) != Some(&b'=') {
            first_other.get_or_insert(i);
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            continue;
        }
        let key = &text[i..i + key_len];
        let start = i + key_len + 1;
        let (value, next) = match bytes.get(start) {
            Some(&quote @ (b'"' | b'\'')) => quoted(text, start + 1, quote),
            _ => {
                let end = start + bytes[start..].iter().take_while(|b| !b.is_ascii_whitespace()).count();
                let value = &text[start..end];
                // `a=1, b=2`: the comma separates pairs.
                let value = if end < bytes.len() {
                    value.strip_suffix(',').unwrap_or(value)
                } else {
                    value
                };
                (Cow::Borrowed(value), end)
            }
        };
        pairs.push((key, value));
        i = next;
    }
    if pairs.len() < 2 {
        return Err(KvError::TooFewPairs {
            found: pairs.len(),
            offset: first_other.unwrap_or(text.len()),
        });
    }
    Ok(Kv {
        pairs,
        clock: Clock::new(ctx),
    })
}

/// The quoted value from `start` (after the opening quote) and the offset after it.
fn quoted(text: &str, start: usize, quote: u8) -> (Cow<'_, str>, usize) {
    let bytes = text.as_bytes();
    let mut escaped = false;
    let mut i = start;
    while i < bytes.len() && bytes[i] != quote {
        if bytes[i] == b'\\' {
            escaped = true;
            i += 1;
        }
        i += 1;
    }
    let end = i.min(bytes.len());
    let raw = &text[start..end];
    let value = if escaped { unescape(raw) } else { Cow::Borrowed(raw) };
    (value, (end + 1).min(bytes.len()))
}

fn unescape(raw: &str) -> Cow<'_, str> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(e @ ('"' | '\'' | '\\')) => out.push(e),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

fn is_key_start(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'@'
}

fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

const PREFIX: &str = "kv.";

impl Kv<'_> {
    /// The value of the first pair whose key is `key`, in any case.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_ref())
    }

    /// Writes the pairs as flat ECS fields: keys [`ecs_alias`] knows (in any case) become
    /// their ECS fields, coerced to the field's type; Fortinet's `date` + `time` (+ `tz`) become
    /// `@timestamp` (the zone else the context's, else UTC); `severity`/`sev` (0–10 or a word)
    /// and `level`/`pri`/`priority` (a syslog number 0–7 or a word) become `event.severity`
    /// with `tidemark.severity_original`. A value that does not fit its field, repeats one,
    /// or has an unknown key is kept as `kv.<key>`; empty values are left out.
    pub fn write_fields(&self, out: &mut Fields) {
        let mut w = Writer::new(out, self.clock);
        let dated = self.write_date_time(&mut w);
        let mut buf = [0u8; 32];
        for (key, value) in &self.pairs {
            if value.is_empty() {
                continue;
            }
            let lower = mapping::lowercase(key, &mut buf).unwrap_or_default();
            let written = match lower {
                "date" | "time" | "tz" if dated => continue,
                "severity" | "sev" => w.severity(mapping::severity(value), value),
                "level" | "pri" | "priority" => {
                    let level = match value.trim().parse::<u8>() {
                        Ok(n) => mapping::syslog_severity(n),
                        Err(_) => mapping::severity(value),
                    };
                    w.severity(level, value)
                }
                _ => match kv_target(key) {
                    Some(target) => {
                        w.map(target, PREFIX, key, value);
                        true
                    }
                    None => false,
                },
            };
            if !written {
                w.keep(PREFIX, key, value);
            }
        }
        w.finish();
    }

    /// Fortinet writes `date=2026-11-20 time=10:00:00 tz="+0100"`.
    fn write_date_time(&self, w: &mut Writer<'_>) -> bool {
        let (Some(date), Some(clock)) = (self.get("date"), self.get("time")) else {
            return false;
        };
        let with_zone = self.get("tz").map(|tz| format!("{date} {clock} {tz}"));
        let t = with_zone
            .and_then(|text| time::parse_any(&text, &w.clock))
            .or_else(|| time::parse_any(&format!("{date} {clock}"), &w.clock));
        match t {
            Some(t) => w.set("@timestamp", serde_json::Value::String(time::rfc3339(t))),
            None => false,
        }
    }
}

/// The ECS field a key=value key names (in any case): `srcip`/`src`/`source_ip` →
/// `source.ip`, `dstport` → `destination.port`, `user`/`usrName` → `user.name`,
/// `devname`/`host` → `host.name`, `msg` → `message`, and so on. Severity and date keys are
/// read by [`Kv::write_fields`] itself.
pub fn ecs_alias(key: &str) -> Option<&'static str> {
    kv_target(key).map(|(_, fields)| fields[0])
}

/// [`ecs_alias`] with the kind of value each field holds.
fn kv_target(key: &str) -> Option<Target> {
    use Kind::*;
    let mut buf = [0u8; 32];
    Some(match mapping::lowercase(key, &mut buf)? {
        "src" | "srcip" | "src_ip" | "source_ip" | "sourceip" | "source_address" | "sourceaddress" | "srcaddr"
        | "src_addr" | "client_ip" | "clientip" => (Ip, &["source.ip"]),
        "dst"
        | "dstip"
        | "dst_ip"
        | "destination_ip"
        | "destinationip"
        | "destination_address"
        | "destinationaddress"
        | "dstaddr"
        | "dst_addr"
        | "dest_ip"
        | "destip" => (Ip, &["destination.ip"]),
        "srcport" | "src_port" | "sport" | "spt" | "source_port" | "sourceport" => (Port, &["source.port"]),
        "dstport" | "dst_port" | "dport" | "dpt" | "destination_port" | "destinationport" | "dest_port"
        | "destport" => (Port, &["destination.port"]),
        "srcmac" | "src_mac" | "smac" => (Text, &["source.mac"]),
        "dstmac" | "dst_mac" | "dmac" => (Text, &["destination.mac"]),
        "srccountry" => (Text, &["source.geo.country_name"]),
        "dstcountry" => (Text, &["destination.geo.country_name"]),
        "transip" | "natsrc" => (Ip, &["source.nat.ip"]),
        "transport" | "natsport" => (Port, &["source.nat.port"]),
        "tranip" | "natdst" => (Ip, &["destination.nat.ip"]),
        "tranport" | "natdport" => (Port, &["destination.nat.port"]),
        "user" | "usrname" | "username" | "user_name" | "srcuser" | "suser" => (Text, &["user.name"]),
        "dstuser" | "duser" => (Text, &["destination.user.name"]),
        "shost" | "srchost" => (Text, &["source.domain"]),
        "dhost" | "dsthost" => (Text, &["destination.domain"]),
        "devname" | "host" | "dvchost" | "device_name" | "devicename" => (Text, &["host.name"]),
        "action" | "act" => (Text, &["event.action"]),
        "outcome" | "result" | "status" => (Outcome, &["event.outcome"]),
        "reason" => (Text, &["event.reason"]),
        "msg" | "message" => (Text, &["message"]),
        "proto" | "protocol" => (Transport, &["network.transport"]),
        "app" | "application" => (Text, &["network.application"]),
        "sentbyte" | "bytes_sent" | "sent_bytes" => (Count, &["source.bytes"]),
        "rcvdbyte" | "bytes_received" | "received_bytes" => (Count, &["destination.bytes"]),
        "sentpkt" | "packets_sent" => (Count, &["source.packets"]),
        "rcvdpkt" | "packets_received" => (Count, &["destination.packets"]),
        "srcintf" | "inbound_if" => (Text, &["observer.ingress.interface.name"]),
        "dstintf" | "outbound_if" => (Text, &["observer.egress.interface.name"]),
        "policyid" | "rule_id" | "ruleid" => (Text, &["rule.id"]),
        "policyname" | "rule" | "rule_name" | "policy" => (Text, &["rule.name"]),
        "logid" | "eventid" | "event_id" => (Text, &["event.code"]),
        "url" => (Text, &["url.original"]),
        "filename" | "fname" | "file" => (Text, &["file.name"]),
        "process" | "proc" | "sproc" | "process_name" => (Text, &["process.name"]),
        "pid" => (Count, &["process.pid"]),
        "useragent" | "user_agent" | "agent" => (Text, &["user_agent.original"]),
        "timestamp" | "@timestamp" | "time" | "ts" | "eventtime" | "receive_time" => (Time, &["@timestamp"]),
        _ => return None,
    })
}
