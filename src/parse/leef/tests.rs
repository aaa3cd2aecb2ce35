use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

fn ctx() -> ParseContext {
    ParseContext::new(Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap())
}

fn fields(line: &str) -> Fields {
    let mut out = Fields::new();
    parse(line, &ctx()).unwrap().write_fields(&mut out);
    out
}

#[test]
fn leef_1_0_attributes_are_tab_separated() {
    let leef = parse(
        "LEEF:1.0|Microsoft|MSExchange|2016|15345|src=10.50.1.1\tdst=2.10.20.20\tspt=1200\tusrName=Joe Smith\n",
        &ctx(),
    )
    .unwrap();
    assert_eq!(leef.version, "1.0");
    assert_eq!(
        (&*leef.vendor, &*leef.product, &*leef.product_version, &*leef.event_id),
        ("Microsoft", "MSExchange", "2016", "15345")
    );
    assert_eq!(leef.delimiter, '\t');
    assert_eq!(
        leef.attributes,
        vec![
            ("src", "10.50.1.1"),
            ("dst", "2.10.20.20"),
            ("spt", "1200"),
            ("usrName", "Joe Smith")
        ]
    );
}

#[test]
fn a_leef_2_0_delimiter_may_be_a_character() {
    let leef = parse(
        "LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^sev=5^srcPort=81^dstPort=21",
        &ctx(),
    )
    .unwrap();
    assert_eq!(leef.delimiter, '^');
    assert_eq!(leef.get("dst"), Some("10.0.0.5"));
    assert_eq!(leef.get("dstPort"), Some("21"));
    assert_eq!(leef.attributes.len(), 5);
}

#[test]
fn a_leef_2_0_delimiter_may_be_given_in_hex() {
    for (field, delimiter) in [("x09", '\t'), ("0x5E", '^'), ("X7c", '|'), ("xA6", '¦')] {
        let line = format!("LEEF:2.0|V|P|1|E|{field}|a=1{delimiter}b=2 3");
        let leef = parse(&line, &ctx()).unwrap();
        assert_eq!(leef.delimiter, delimiter, "{field}");
        assert_eq!(leef.attributes, vec![("a", "1"), ("b", "2 3")], "{field}");
    }
}

#[test]
fn a_leef_2_0_header_without_its_delimiter_field_uses_tab() {
    let leef = parse("LEEF:2.0|V|P|1|E|src=10.0.0.1\tdst=10.0.0.2\tmsg=a|b", &ctx()).unwrap();
    assert_eq!(leef.delimiter, '\t');
    assert_eq!(
        leef.attributes,
        vec![("src", "10.0.0.1"), ("dst", "10.0.0.2"), ("msg", "a|b")]
    );
    let empty = parse("LEEF:2.0|V|P|1|E||src=10.0.0.1\tdst=10.0.0.2", &ctx()).unwrap();
    assert_eq!(empty.delimiter, '\t');
    assert_eq!(empty.attributes.len(), 2);
}

#[test]
fn dev_time_is_read_with_its_simple_date_format() {
    let cases = [
        ("Nov 20 2026 10:00:00", "MMM dd yyyy HH:mm:ss", "2026-11-20T10:00:00Z"),
        (
            "2026-11-20T10:00:00.250+0100",
            "yyyy-MM-dd'T'HH:mm:ss.SSSZ",
            "2026-11-20T09:00:00.250Z",
        ),
        (
            "20/Nov/2026:10:00:00 -0500",
            "dd/MMM/yyyy:HH:mm:ss Z",
            "2026-11-20T15:00:00Z",
        ),
        ("2026.11.20 10h00", "yyyy.MM.dd HH'h'mm", "2026-11-20T10:00:00Z"),
    ];
    for (value, format, expected) in cases {
        let out = fields(&format!(
            "LEEF:1.0|V|P|1|E|devTime={value}\tdevTimeFormat={format}\tsrc=10.0.0.1"
        ));
        assert_eq!(out["@timestamp"], expected, "{format}");
        assert!(!out.contains_key("leef.extensions.devTimeFormat"));
    }
}

#[test]
fn dev_time_without_a_format_is_epoch_millis_or_the_leef_default() {
    let out = fields("LEEF:1.0|V|P|1|E|devTime=1763632800000\tsrc=10.0.0.1");
    assert_eq!(out["@timestamp"], "2025-11-20T10:00:00Z");
    let out = fields("LEEF:1.0|V|P|1|E|devTime=Nov 20 2026 10:00:00.500\tsrc=10.0.0.1");
    assert_eq!(out["@timestamp"], "2026-11-20T10:00:00.500Z");
    let out = fields("LEEF:1.0|V|P|1|E|devTime=garbage\tdevTimeFormat=yyyy\tsrc=10.0.0.1");
    assert_eq!(out["leef.extensions.devTime"], "garbage");
    assert_eq!(out["leef.extensions.devTimeFormat"], "yyyy");
}

#[test]
fn a_zoneless_dev_time_is_read_in_the_context_zone() {
    let ctx = ParseContext {
        tz: Some(chrono_tz::America::New_York),
        ..ctx()
    };
    let leef = parse("LEEF:1.0|V|P|1|E|devTime=Nov 20 2026 10:00:00", &ctx).unwrap();
    assert_eq!(
        leef.device_time(),
        Some(Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).unwrap())
    );
}

#[test]
fn qradar_keys_map_to_ecs() {
    let out = fields(
        "LEEF:2.0|IBM|QRadar|7.5.0|Login Failed|^|cat=Authentication^src=192.0.2.10^srcPort=51000^\
         dst=198.51.100.2^dstPort=22^usrName=root^sev=7^proto=6^identSrc=192.0.2.10^srcBytes=1200^\
         dstBytes=300^policy=SSH Policy^action=deny^url=ssh://198.51.100.2^msg=auth failure^customKey=42",
    );
    let expect = json!({
        "leef.version": "2.0",
        "observer.vendor": "IBM",
        "observer.product": "QRadar",
        "observer.version": "7.5.0",
        "event.code": "Login Failed",
        "leef.category": "Authentication",
        "source.ip": "192.0.2.10",
        "source.port": 51000,
        "destination.ip": "198.51.100.2",
        "destination.port": 22,
        "user.name": "root",
        "event.severity": 7,
        "tidemark.severity_original": "7",
        "network.transport": "tcp",
        "network.iana_number": "6",
        "host.ip": "192.0.2.10",
        "source.bytes": 1200,
        "destination.bytes": 300,
        "rule.name": "SSH Policy",
        "event.action": "deny",
        "url.original": "ssh://198.51.100.2",
        "message": "auth failure",
        "leef.extensions.customKey": "42",
    });
    assert_eq!(Value::Object(out), expect);
}

#[test]
fn tabs_a_relay_escaped_or_turned_into_spaces_still_separate_attributes() {
    let escaped = parse("LEEF:1.0|V|P|1|E|src=10.0.0.1#011dst=10.0.0.2#011usrName=a b", &ctx()).unwrap();
    assert_eq!(
        escaped.attributes,
        vec![("src", "10.0.0.1"), ("dst", "10.0.0.2"), ("usrName", "a b")]
    );
    let spaced = parse("LEEF:1.0|V|P|1|E|src=10.0.0.1 dst=10.0.0.2 msg=two words", &ctx()).unwrap();
    assert_eq!(
        spaced.attributes,
        vec![("src", "10.0.0.1"), ("dst", "10.0.0.2"), ("msg", "two words")]
    );
}

#[test]
fn an_undeclared_pipe_delimiter_in_a_1_0_line_is_recognized() {
    let leef = parse(
        "LEEF:1.0|Palo Alto Networks|PAN-OS Syslog Integration|10.2.4|allow|cat=TRAFFIC|url=http://x/?a=b|\
         devTime=Nov 20 2026 10:00:00 GMT|src=10.1.1.20|usrName=corp\\alice",
        &ctx(),
    )
    .unwrap();
    assert_eq!(
        leef.attributes,
        vec![
            ("cat", "TRAFFIC"),
            ("url", "http://x/?a=b"),
            ("devTime", "Nov 20 2026 10:00:00 GMT"),
            ("src", "10.1.1.20"),
            ("usrName", "corp\\alice"),
        ]
    );
}

#[test]
fn a_delimiter_inside_a_value_continues_that_value() {
    let leef = parse("LEEF:2.0|V|P|1|E|^|msg=up^down^src=10.0.0.1^", &ctx()).unwrap();
    assert_eq!(leef.attributes, vec![("msg", "up^down"), ("src", "10.0.0.1")]);
}

#[test]
fn a_record_without_attributes_may_end_after_its_event_id() {
    let leef = parse("LEEF:1.0|V|P|1|Heartbeat", &ctx()).unwrap();
    assert_eq!(leef.event_id, "Heartbeat");
    assert!(leef.attributes.is_empty());
}

#[test]
fn malformed_lines_are_refused_with_the_offset_of_the_fault() {
    assert_eq!(parse("CEF:0|a", &ctx()).unwrap_err(), LeefError::NotLeef { offset: 0 });
    assert_eq!(
        parse("LEEF:3.0|V|P|1|E|", &ctx()).unwrap_err(),
        LeefError::UnsupportedVersion { offset: 5 }
    );
    assert_eq!(
        parse("LEEF:1.0|V|P", &ctx()).unwrap_err(),
        LeefError::MissingField {
            field: "Version",
            offset: 12
        }
    );
    assert_eq!(
        parse("LEEF:2.0|V|P|1|E|0xZZ|a=1", &ctx()).unwrap_err(),
        LeefError::BadDelimiter { offset: 17 }
    );
    assert_eq!(
        parse("LEEF:1.0|V|P|1|E|junk\ta=1", &ctx()).unwrap_err(),
        LeefError::ExpectedKey { offset: 17 }
    );
    assert_eq!(
        parse("LEEF:1.0|V|P|1|E|a=1\t=2", &ctx()).unwrap_err(),
        LeefError::ExpectedKey { offset: 21 }
    );
}

fn escape_header(s: &str) -> String {
    s.replace('\\', r"\\").replace('|', r"\|")
}

/// A LEEF line as a careful emitter writes it; `delimiter_field` is none for 1.0.
fn write_leef(
    header: &[String; 4],
    delimiter_field: Option<&str>,
    delimiter: char,
    attrs: &[(String, String)],
) -> String {
    let mut line = String::from(if delimiter_field.is_some() {
        "LEEF:2.0"
    } else {
        "LEEF:1.0"
    });
    for field in header {
        line.push('|');
        line.push_str(&escape_header(field));
    }
    line.push('|');
    if let Some(field) = delimiter_field {
        line.push_str(field);
        line.push('|');
    }
    for (k, v) in attrs {
        line.push_str(&format!("{k}={v}{delimiter}"));
    }
    line
}

fn header_text() -> impl Strategy<Value = String> {
    "(?s)[a-zA-Z0-9 |\\\\=\n.:/é_-]{0,16}"
}

fn value_text() -> impl Strategy<Value = String> {
    "(?s)[a-zA-Z0-9 |\\\\=\n\r\t^;¦.:/?&é_-]{0,24}".prop_map(|v| v.trim_ascii().to_owned())
}

fn delimiter() -> impl Strategy<Value = (Option<&'static str>, char)> {
    prop::sample::select(vec![
        (None, '\t'),
        (Some("\t"), '\t'),
        (Some("x09"), '\t'),
        (Some("^"), '^'),
        (Some("0x5E"), '^'),
        (Some(";"), ';'),
        (Some("¦"), '¦'),
    ])
}

proptest! {
    #[test]
    fn written_records_parse_back_to_their_values(
        header in [header_text(), header_text(), header_text(), header_text()],
        (field, delimiter) in delimiter(),
        attrs in prop::collection::btree_map("[a-zA-Z][a-zA-Z0-9_]{0,8}", value_text(), 1..10),
    ) {
        let attrs: Vec<(String, String)> = attrs
            .into_iter()
            .map(|(k, v)| (k, v.replace(delimiter, "")))
            .map(|(k, v)| (k, v.trim_ascii().to_owned()))
            .collect();
        let line = write_leef(&header, field, delimiter, &attrs);
        let leef = parse(&line, &ctx()).unwrap();
        let got = [&leef.vendor, &leef.product, &leef.product_version, &leef.event_id];
        for (got, want) in got.into_iter().zip(&header) {
            prop_assert_eq!(got.as_ref(), want.as_str());
        }
        prop_assert_eq!(leef.delimiter, delimiter);
        let got: Vec<(String, String)> = leef.attributes.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        prop_assert_eq!(got, attrs);
        let mut out = Fields::new();
        leef.write_fields(&mut out);
    }

    #[test]
    fn any_text_parses_or_fails_without_panicking(tail in "(?s).{0,200}", raw in any::<String>()) {
        for text in [format!("LEEF:2.0|{tail}"), format!("LEEF:{tail}"), format!("LEEF:2.0|a|b|c|d|{tail}"), raw] {
            if let Ok(leef) = parse(&text, &ctx()) {
                let mut out = Fields::new();
                leef.write_fields(&mut out);
            }
        }
    }
}
