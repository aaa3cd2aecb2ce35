//! Tests of the syslog parser: RFC 5424 and RFC 3164 cases, errors, and property tests.

mod props;
mod rfc3164;
mod rfc5424;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{SyslogError, parse};
use crate::parse::{Fields, ParseContext};

/// Received at 2026-11-21T12:00:00Z, the day after most sample lines, zone UTC.
fn ctx() -> ParseContext {
    ParseContext::new(at("2026-11-21T12:00:00Z"))
}

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
}

fn fields_of(line: &str) -> Fields {
    let mut out = Fields::new();
    parse(line, &ctx())
        .unwrap_or_else(|e| panic!("{line:?}: {e}"))
        .write_fields(&mut out);
    out
}

#[test]
fn pri_writes_priority_facility_and_severity_with_their_names() {
    let fields = fields_of("<38>Nov 20 10:00:00 web01 sshd[812]: Accepted publickey for alice");
    let expected = [
        ("log.syslog.priority", json!(38)),
        ("log.syslog.facility.code", json!(4)),
        ("log.syslog.facility.name", json!("auth")),
        ("log.syslog.severity.code", json!(6)),
        ("log.syslog.severity.name", json!("info")),
        ("event.severity", json!(2)),
        ("tidemark.severity_original", json!("info")),
    ];
    for (key, value) in expected {
        assert_eq!(fields.get(key), Some(&value), "{key}");
    }
}

#[test]
fn every_syslog_severity_maps_onto_the_tidemark_scale() {
    let names = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"];
    let scale = [10, 9, 8, 7, 5, 3, 2, 1];
    for code in 0..8u8 {
        let fields = fields_of(&format!("<{}>Nov 20 10:00:00 h app: x", 184 + code));
        assert_eq!(fields["event.severity"], json!(scale[usize::from(code)]));
        assert_eq!(fields["tidemark.severity_original"], json!(names[usize::from(code)]));
        assert_eq!(fields["log.syslog.facility.name"], json!("local7"));
    }
}

#[test]
fn malformed_lines_are_refused_with_the_byte_offset_of_the_fault() {
    let cases = [
        ("", SyslogError::NoHeader(0)),
        ("user=alice action=login", SyslogError::NoHeader(0)),
        ("  Foo 20 10:00:00 h a: m", SyslogError::NoHeader(2)),
        ("<192>Nov 20 10:00:00 h a: m", SyslogError::Pri(1)),
        ("<99999999999999999999>1 - - - - - -", SyslogError::Pri(4)),
        ("<13", SyslogError::Pri(3)),
        ("<>x", SyslogError::Pri(1)),
        ("<x>", SyslogError::Pri(1)),
        ("<13>1 2026-13-01T00:00:00Z h a p m -", SyslogError::Timestamp(6)),
        ("<13>1 2026-11-20T10:00:00+99:00 h a p m -", SyslogError::Timestamp(6)),
        ("<13>1 yesterday h a p m -", SyslogError::Timestamp(6)),
        ("<13>1 - host app", SyslogError::Truncated(16)),
        ("<13>1 - h a p m", SyslogError::Truncated(15)),
        ("<13>1 - h a p m junk", SyslogError::StructuredData(16)),
        ("<13>1 - h a p m [id x=1]", SyslogError::StructuredData(21)),
        ("<13>1 - h a p m [id x=\"abc", SyslogError::StructuredData(22)),
        ("<13>1 - h a p m [id x=\"abc\"", SyslogError::StructuredData(27)),
        ("<13>1 - h a p m []", SyslogError::StructuredData(17)),
        ("<13>Nov 31 10:00:00 host app: x", SyslogError::Timestamp(4)),
        ("<13>Nov 20 25:00:00 host app: x", SyslogError::Timestamp(4)),
        ("Nov 20 10:00 host app: x", SyslogError::Timestamp(0)),
        ("2026-11-20T10:00:00Zhost app: x", SyslogError::Timestamp(0)),
    ];
    for (line, expected) in cases {
        let error = parse(line, &ctx()).unwrap_err();
        assert_eq!(error, expected, "{line:?}");
        assert_eq!(error.offset(), expected.offset());
        assert!(
            error.to_string().contains(&format!("byte {}", error.offset())),
            "{error}"
        );
    }
}

#[test]
fn odd_input_never_panics_and_offsets_stay_inside_the_line() {
    let odd = [
        "<",
        "<1",
        "<1>",
        "<1>1",
        "<1>1 ",
        "<13>1 -",
        "<191>",
        "\u{feff}",
        "Nov",
        "Nov 2",
        "Nov  3 1",
        "2026-",
        "2026-11-20T",
        "<13>1 2026-11-20T10:00:00.+02:00 h a p m -",
        "<13>1 - - - - - [a b=\"\\",
        "<13>1 - - - - - [a b=\"\\\u{e9}\"]",
        "<13>Nov 20 10:00:00 \u{e9}\u{e9} t\u{e9}g[\u{e9}]: \u{1F600}",
        "<13>\u{e9}",
        "\t<13>Nov 20 10:00:00 h a: m",
        "<13>Nov\u{a0}20 10:00:00 h",
        "<0>\0\0\0",
        "Ñov 20 10:00:00 h",
        "<13>1 2026-11-20T10:00:00.99999999999999999999Z - - - - -",
        "<13>Feb 29 10:00:00 h a: m",
        "<13>Nov 20 10:00:60 h a: leap",
        "<13>1 - - - - - [a][b c=\"]\"]",
        "<13>:",
        "<13>[]:",
        "<13> : : :",
    ];
    for line in odd {
        match parse(line, &ctx()) {
            Ok(parsed) => parsed.write_fields(&mut Fields::new()),
            Err(e) => assert!(e.offset() <= line.len(), "{line:?}: {e}"),
        }
    }
}

#[test]
fn every_prefix_of_valid_lines_parses_or_fails_cleanly() {
    let lines = [
        "<165>1 2026-11-20T10:00:00.123456+02:00 host app 42 ID47 [a@1 b=\"c\\\"d\"][e f=\"\u{e9}\"] \u{feff}msg",
        "<166>Nov 20 2026 10:00:00: %ASA-6-302013: Built outbound TCP connection",
        "<38>Nov  3 10:00:00 web01 sshd[812]: Accepted publickey for alice",
    ];
    for line in lines {
        for end in (0..=line.len()).filter(|&i| line.is_char_boundary(i)) {
            if let Ok(parsed) = parse(&line[..end], &ctx()) {
                parsed.write_fields(&mut Fields::new());
            }
        }
    }
}

#[test]
fn line_terminators_and_leading_spaces_are_ignored() {
    let parsed = parse("  <13>Nov 20 10:00:00 host app: hello\r\n", &ctx()).unwrap();
    assert_eq!(
        (parsed.hostname(), parsed.app_name(), parsed.msg()),
        (Some("host"), Some("app"), "hello")
    );
}

#[test]
fn a_line_with_only_a_pri_is_an_empty_message() {
    let fields = fields_of("<13>");
    assert_eq!(fields.get("log.syslog.priority"), Some(&json!(13)));
    assert_eq!(fields.get("message"), None::<&Value>);
}
