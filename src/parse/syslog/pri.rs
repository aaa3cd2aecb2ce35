//! The PRI part (`<34>`) and the names and Tidemark severities of its two halves.

use super::{Result, SyslogError};

/// Reads `<N>` starting at the `<` at `start`: 1 to 3 digits, at most 191. Returns the value
/// and the index after `>`.
pub(super) fn parse(bytes: &[u8], start: usize) -> Result<(u8, usize)> {
    let mut value: u16 = 0;
    let mut pos = start + 1;
    while let Some(&b) = bytes.get(pos) {
        match b {
            b'0'..=b'9' if pos - start <= 3 => value = value * 10 + u16::from(b - b'0'),
            b'>' if pos > start + 1 => {
                return u8::try_from(value)
                    .ok()
                    .filter(|&v| v <= 191)
                    .map(|v| (v, pos + 1))
                    .ok_or(SyslogError::Pri(start + 1));
            }
            _ => break,
        }
        pos += 1;
    }
    Err(SyslogError::Pri(pos))
}

/// Facility names by code, as syslog implementations spell them.
const FACILITY_NAMES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

/// Severity names by code, the keywords of `syslog.h`.
const SEVERITY_NAMES: [&str; 8] = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"];

/// Tidemark's 0–10 severity for each syslog severity code.
const TIDEMARK_SEVERITY: [u8; 8] = [10, 9, 8, 7, 5, 3, 2, 1];

pub(super) fn facility_name(code: u8) -> &'static str {
    FACILITY_NAMES.get(usize::from(code)).copied().unwrap_or("unknown")
}

pub(super) fn severity_name(code: u8) -> &'static str {
    SEVERITY_NAMES.get(usize::from(code)).copied().unwrap_or("unknown")
}

pub(super) fn tidemark_severity(code: u8) -> u8 {
    TIDEMARK_SEVERITY.get(usize::from(code)).copied().unwrap_or(0)
}
