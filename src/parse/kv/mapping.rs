//! How a device's text becomes ECS field values: typed coercions (addresses, ports, counts,
//! times, outcomes, hashes), severity words on the 0–10 scale, and the record writer that
//! keeps what does not fit. Shared by the CEF, LEEF and key=value parsers, which each keep
//! their own key table; this module knows no format's keys.

use std::net::IpAddr;

use serde_json::Value;

use super::time::{self, Clock};
use crate::parse::Fields;

/// What an ECS field holds, and so how a device's text is read into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    /// Text in ASCII lowercase (`network.protocol`).
    Lower,
    /// An IPv4 or IPv6 address, kept as written.
    Ip,
    /// 0–65535, as a number.
    Port,
    /// A non-negative integer (bytes, packets, pids, sizes), as a number.
    Count,
    /// Any timestamp [`time::parse_any`] reads, as RFC 3339 UTC.
    Time,
    /// `success`, `failure` or `unknown` ([`outcome`]).
    Outcome,
    /// A protocol name, or an IANA number (adds `network.iana_number`).
    Transport,
    /// CEF's `deviceDirection`: 0 inbound, 1 outbound.
    Direction,
    /// A hex digest; the field gets `.md5`, `.sha1`, `.sha256` or `.sha512` by its length.
    Hash,
}

/// The kind and ECS fields one key fills.
pub(crate) type Target = (Kind, &'static [&'static str]);

/// Writes one value of one record into `out` and keeps what the record itself already wrote:
/// the first value for an ECS field wins within the record, later ones fall back to the
/// format's own namespace. Fields written before the record (a syslog header's `host.name`,
/// say) are overwritten, since the payload knows better.
pub(crate) struct Writer<'o> {
    out: &'o mut Fields,
    /// How many fields `out` held before this record; when any, the record is staged and
    /// moved over them by [`Writer::finish`].
    before: usize,
    staged: Fields,
    pub(crate) clock: Clock,
}

impl<'o> Writer<'o> {
    pub(crate) fn new(out: &'o mut Fields, clock: Clock) -> Self {
        Writer {
            before: out.len(),
            out,
            staged: Fields::new(),
            clock,
        }
    }

    /// Where this record's fields go: straight into `out` when it started empty.
    fn target(&mut self) -> &mut Fields {
        if self.before == 0 {
            &mut *self.out
        } else {
            &mut self.staged
        }
    }

    pub(crate) fn has(&mut self, field: &str) -> bool {
        self.target().contains_key(field)
    }

    /// Sets `field` unless this record already set it.
    pub(crate) fn set(&mut self, field: &str, value: Value) -> bool {
        match self.target().entry(field) {
            serde_json::map::Entry::Vacant(slot) => {
                slot.insert(value);
                true
            }
            serde_json::map::Entry::Occupied(_) => false,
        }
    }

    pub(crate) fn set_str(&mut self, field: &str, value: &str) -> bool {
        !value.is_empty() && self.set(field, Value::String(value.to_owned()))
    }

    /// Keeps `value` as `{prefix}{key}` (a format's own namespace); a repeated key becomes an
    /// array of its values.
    pub(crate) fn keep(&mut self, prefix: &str, key: &str, value: &str) {
        let mut name = String::with_capacity(prefix.len() + key.len());
        name.push_str(prefix);
        name.push_str(key);
        let value = Value::String(value.to_owned());
        match self.target().entry(name) {
            serde_json::map::Entry::Vacant(slot) => {
                slot.insert(value);
            }
            serde_json::map::Entry::Occupied(mut slot) => match slot.get_mut() {
                Value::Array(items) => items.push(value),
                other => {
                    let first = other.take();
                    *other = Value::Array(vec![first, value]);
                }
            },
        }
    }

    /// Writes `value` under each of `fields`, coerced to `kind`; when none takes it (a wrong
    /// type, or already set) it is kept as `{prefix}{key}`. Empty values are left out.
    pub(crate) fn map(&mut self, (kind, fields): Target, prefix: &str, key: &str, value: &str) {
        if value.is_empty() {
            return;
        }
        let mut taken = false;
        for field in fields {
            taken |= self.put(kind, field, value);
        }
        if !taken {
            self.keep(prefix, key, value);
        }
    }

    /// Writes `value` as `field`, coerced to `kind`. False when the value does not fit or
    /// the field is already set.
    pub(crate) fn put(&mut self, kind: Kind, field: &'static str, value: &str) -> bool {
        let value = value.trim_ascii();
        let typed = match kind {
            Kind::Text if value.is_empty() => return false,
            Kind::Text => Value::String(value.to_owned()),
            Kind::Lower => Value::String(value.to_ascii_lowercase()),
            Kind::Ip => match value.parse::<IpAddr>() {
                Ok(_) => Value::String(value.to_owned()),
                Err(_) => return false,
            },
            Kind::Port => match value.parse::<u16>() {
                Ok(port) => Value::from(port),
                Err(_) => return false,
            },
            Kind::Count => match value.parse::<u64>() {
                Ok(n) => Value::from(n),
                Err(_) => return false,
            },
            Kind::Time => match time::parse_any(value, &self.clock) {
                Some(t) => Value::String(time::rfc3339(t)),
                None => return false,
            },
            Kind::Outcome => match outcome(value) {
                Some(o) => Value::from(o),
                None => return false,
            },
            Kind::Direction => Value::from(match value {
                "0" => "inbound",
                "1" => "outbound",
                _ => return self.set(field, Value::String(value.to_ascii_lowercase())),
            }),
            Kind::Transport => return self.transport(field, value),
            Kind::Hash => {
                let algorithm = match value.len() {
                    32 => "md5",
                    40 => "sha1",
                    64 => "sha256",
                    128 => "sha512",
                    _ => return false,
                };
                if !value.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return false;
                }
                return self.set(&format!("{field}.{algorithm}"), Value::String(value.to_owned()));
            }
        };
        self.set(field, typed)
    }

    /// `event.severity` on the 0–10 scale plus `tidemark.severity_original` as written.
    pub(crate) fn severity(&mut self, level: Option<u8>, original: &str) -> bool {
        match level {
            Some(level) if !self.has("event.severity") => {
                self.set("event.severity", Value::from(level));
                self.set("tidemark.severity_original", Value::String(original.trim().to_owned()));
                true
            }
            _ => false,
        }
    }

    /// A protocol name, lowercased, or an IANA number as `network.iana_number` and its name.
    fn transport(&mut self, field: &str, value: &str) -> bool {
        if !value.bytes().all(|b| b.is_ascii_digit()) {
            return self.set(field, Value::String(value.to_ascii_lowercase()));
        }
        let Ok(number) = value.parse::<u8>() else {
            return false;
        };
        if let Some(name) = iana_protocol(number) {
            self.set(field, Value::from(name));
        }
        self.set("network.iana_number", Value::String(number.to_string()))
    }

    /// Moves this record's fields into `out`, over whatever was there before it.
    pub(crate) fn finish(mut self) {
        if self.before > 0 {
            self.out.append(&mut self.staged);
        }
    }
}

fn iana_protocol(number: u8) -> Option<&'static str> {
    Some(match number {
        1 => "icmp",
        2 => "igmp",
        6 => "tcp",
        17 => "udp",
        47 => "gre",
        50 => "esp",
        51 => "ah",
        58 => "ipv6-icmp",
        132 => "sctp",
        _ => return None,
    })
}

/// `success`, `failure` or `unknown` from the words devices use (ArcSight writes `/Success`).
pub(crate) fn outcome(value: &str) -> Option<&'static str> {
    let value = value.trim_start_matches('/');
    let lower = |w: &str| value.eq_ignore_ascii_case(w);
    if ["success", "succeeded", "successful", "ok", "pass", "passed"]
        .into_iter()
        .any(lower)
    {
        Some("success")
    } else if ["failure", "failed", "fail", "error"].into_iter().any(lower) {
        Some("failure")
    } else if lower("unknown") {
        Some("unknown")
    } else {
        None
    }
}

/// A severity on Tidemark's 0–10 scale from a number (0–10) or a word: CEF's Low 3,
/// Medium 5, High 8, Very-High 10; syslog's names as the syslog parser maps them: emergency 10,
/// alert 9, critical 8, error 7, warning 5, notice 3, informational 2, debug 1. `Unknown` is none.
pub(crate) fn severity(value: &str) -> Option<u8> {
    let value = value.trim();
    if let Ok(n) = value.parse::<f64>() {
        return (0.0..=10.0).contains(&n).then(|| n.round() as u8);
    }
    let mut buf = [0u8; 16];
    let word = lowercase(value, &mut buf)?;
    Some(match word {
        "very-high" | "veryhigh" | "very high" | "very_high" | "emergency" | "emerg" | "panic" => 10,
        "alert" => 9,
        "high" | "critical" | "crit" => 8,
        "error" | "err" => 7,
        "medium" | "med" | "moderate" | "warning" | "warn" => 5,
        "low" | "notice" => 3,
        "informational" | "information" | "info" => 2,
        "debug" => 1,
        _ => return None,
    })
}

/// A syslog severity number (0 emergency … 7 debug) on the 0–10 scale, as [`severity`] maps
/// the names.
pub(crate) fn syslog_severity(level: u8) -> Option<u8> {
    [10, 9, 8, 7, 5, 3, 2, 1].get(usize::from(level)).copied()
}

/// `text` in ASCII lowercase, in `buf`; none when it does not fit.
pub(crate) fn lowercase<'b>(text: &str, buf: &'b mut [u8]) -> Option<&'b str> {
    let slot = buf.get_mut(..text.len())?;
    slot.copy_from_slice(text.as_bytes());
    slot.make_ascii_lowercase();
    std::str::from_utf8(slot).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn clock() -> Clock {
        Clock {
            received_at: Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap(),
            tz: None,
        }
    }

    #[test]
    fn severity_words_and_numbers_land_on_the_0_to_10_scale() {
        let cases = [
            ("Low", Some(3)),
            ("Medium", Some(5)),
            ("High", Some(8)),
            ("Very-High", Some(10)),
            ("Unknown", None),
            ("7", Some(7)),
            ("10", Some(10)),
            ("11", None),
            ("warning", Some(5)),
            ("information", Some(2)),
        ];
        for (word, level) in cases {
            assert_eq!(severity(word), level, "{word}");
        }
        assert_eq!(syslog_severity(0), Some(10));
        assert_eq!(syslog_severity(7), Some(1));
        assert_eq!(syslog_severity(8), None);
    }

    #[test]
    fn values_that_do_not_fit_their_field_are_kept_under_the_format_key() {
        let mut out = Fields::new();
        let mut w = Writer::new(&mut out, clock());
        w.map((Kind::Ip, &["source.ip"]), "cef.extensions.", "src", "not-an-ip");
        w.map((Kind::Port, &["source.port"]), "cef.extensions.", "spt", "99999");
        w.map((Kind::Port, &["destination.port"]), "cef.extensions.", "dpt", "443");
        w.map(
            (Kind::Transport, &["network.transport"]),
            "cef.extensions.",
            "proto",
            "6",
        );
        w.map(
            (Kind::Hash, &["file.hash"]),
            "cef.extensions.",
            "fileHash",
            "d41d8cd98f00b204e9800998ecf8427e",
        );
        w.finish();
        assert_eq!(out["cef.extensions.src"], "not-an-ip");
        assert_eq!(out["cef.extensions.spt"], "99999");
        assert_eq!(out["destination.port"], 443);
        assert_eq!(out["network.transport"], "tcp");
        assert_eq!(out["network.iana_number"], "6");
        assert_eq!(out["file.hash.md5"], "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn the_record_overrides_earlier_fields_but_keeps_its_own_first_value() {
        let mut out = Fields::new();
        out.insert("host.name".into(), Value::from("relay"));
        let mut w = Writer::new(&mut out, clock());
        w.map((Kind::Text, &["host.name"]), "kv.", "devname", "fw-1");
        w.map((Kind::Text, &["host.name"]), "kv.", "host", "fw-2");
        w.map((Kind::Text, &["kv.x"]), "kv.", "x", "");
        w.keep("kv.", "tag", "a");
        w.keep("kv.", "tag", "b");
        w.finish();
        assert_eq!(out["host.name"], "fw-1");
        assert_eq!(out["kv.host"], "fw-2");
        assert_eq!(out["kv.tag"], serde_json::json!(["a", "b"]));
        assert!(!out.contains_key("kv.x"));
    }
}
