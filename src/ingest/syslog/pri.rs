//! The PRI part of a syslog message (`<134>`: facility × 8 + severity) and the filter on it.
//! Read straight from the bytes, before parsing, so a filtered message costs almost nothing.

use crate::ingest::stats::DropReason;

/// RFC 5424 §6.2.1 severity: 0 (emergency) to 7 (debug).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Severity(pub u8);

const SEVERITIES: [&str; 8] = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"];
/// Other spellings in common use (rsyslog, syslog-ng).
const SEVERITY_ALIASES: [(&str, u8); 5] = [
    ("emergency", 0),
    ("critical", 2),
    ("error", 3),
    ("warn", 4),
    ("informational", 6),
];
const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp", "ntp",
    "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
];

impl Severity {
    pub const DEBUG: Severity = Severity(7);

    /// A name (`warning`, `err`, `error` …) or a number 0–7.
    pub fn from_json(value: &serde_json::Value) -> Option<Severity> {
        match value {
            serde_json::Value::Number(n) => n.as_u64().filter(|n| *n <= 7).map(|n| Severity(n as u8)),
            serde_json::Value::String(s) => {
                let s = s.to_ascii_lowercase();
                SEVERITIES
                    .iter()
                    .position(|name| *name == s)
                    .map(|i| i as u8)
                    .or_else(|| SEVERITY_ALIASES.iter().find(|(a, _)| *a == s).map(|(_, n)| *n))
                    .map(Severity)
            }
            _ => None,
        }
    }
}

/// A facility name (`auth`, `local7` …) or a number 0–23.
pub fn facility_from_json(value: &serde_json::Value) -> Option<u8> {
    match value {
        serde_json::Value::Number(n) => n.as_u64().filter(|n| *n <= 23).map(|n| n as u8),
        serde_json::Value::String(s) => {
            let s = s.to_ascii_lowercase();
            let s = if s == "security" { "auth".to_owned() } else { s };
            FACILITIES.iter().position(|name| *name == s).map(|i| i as u8)
        }
        _ => None,
    }
}

/// Which priorities a listener keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Filter {
    /// Less severe (higher-numbered) messages are dropped.
    pub max_severity: Severity,
    /// Bit `f` set when facility `f` is kept.
    pub facilities: u32,
}

impl Default for Filter {
    fn default() -> Self {
        Filter {
            max_severity: Severity::DEBUG,
            facilities: u32::MAX,
        }
    }
}

impl Filter {
    /// Why a message with priority `(facility, severity)` is dropped, if it is.
    pub(crate) fn refuses(&self, (facility, severity): (u8, u8)) -> Option<DropReason> {
        if severity > self.max_severity.0 {
            Some(DropReason::FilteredSeverity)
        } else if self.facilities & (1 << facility) == 0 {
            Some(DropReason::FilteredFacility)
        } else {
            None
        }
    }
}

/// `(facility, severity)` of a message. A message without a valid PRI is user.notice, as
/// RFC 3164 §4.3.3 tells a relay to treat it.
pub(crate) fn priority(message: &[u8]) -> (u8, u8) {
    const DEFAULT: (u8, u8) = (1, 5);
    let Some(rest) = message.strip_prefix(b"<") else {
        return DEFAULT;
    };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if !(1..=3).contains(&digits) || rest.get(digits) != Some(&b'>') {
        return DEFAULT;
    }
    let pri = rest[..digits].iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    if pri > 191 {
        return DEFAULT;
    }
    ((pri / 8) as u8, (pri % 8) as u8)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn priority_splits_facility_and_severity() {
        assert_eq!(priority(b"<34>Oct 11 22:14:15 mymachine su: fail"), (4, 2));
        assert_eq!(priority(b"<0>x"), (0, 0));
        assert_eq!(priority(b"<191>x"), (23, 7));
    }

    #[test]
    fn missing_or_invalid_priority_is_user_notice() {
        for message in [&b"no pri"[..], b"<192>x", b"<>x", b"<1234>x", b"<12x", b"", b"<"] {
            assert_eq!(priority(message), (1, 5), "{}", String::from_utf8_lossy(message));
        }
    }

    #[test]
    fn names_and_numbers_both_read() {
        assert_eq!(Severity::from_json(&json!("Warning")), Some(Severity(4)));
        assert_eq!(Severity::from_json(&json!("error")), Some(Severity(3)));
        assert_eq!(Severity::from_json(&json!(7)), Some(Severity(7)));
        assert_eq!(Severity::from_json(&json!(8)), None);
        assert_eq!(facility_from_json(&json!("local7")), Some(23));
        assert_eq!(facility_from_json(&json!("authpriv")), Some(10));
        assert_eq!(facility_from_json(&json!(24)), None);
    }

    #[test]
    fn filter_names_the_reason() {
        let filter = Filter {
            max_severity: Severity(4),
            facilities: 1 << 4,
        };
        assert_eq!(filter.refuses((4, 4)), None);
        assert_eq!(filter.refuses((4, 6)), Some(DropReason::FilteredSeverity));
        assert_eq!(filter.refuses((1, 2)), Some(DropReason::FilteredFacility));
    }
}
