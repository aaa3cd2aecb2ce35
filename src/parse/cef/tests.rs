use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::parse::Fields;

fn ctx() -> ParseContext {
    ParseContext::new(Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap())
}

fn fields(line: &str) -> Fields {
    let mut out = Fields::new();
    parse(line, &ctx()).unwrap().write_fields(&mut out);
    out
}

#[test]
fn the_header_and_extensions_of_an_arcsight_line_are_read() {
    let cef = parse(
        "CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232",
        &ctx(),
    )
    .unwrap();
    assert_eq!(cef.version, "0");
    assert_eq!(
        (&*cef.device_vendor, &*cef.device_product, &*cef.device_version),
        ("Security", "threatmanager", "1.0")
    );
    assert_eq!(
        (&*cef.signature_id, &*cef.name, &*cef.severity),
        ("100", "worm successfully stopped", "10")
    );
    assert_eq!(cef.get("src"), Some("10.0.0.1"));
    assert_eq!(cef.get("spt"), Some("1232"));
    assert_eq!(cef.extensions.len(), 3);
}

#[test]
fn header_pipes_and_backslashes_are_unescaped() {
    let cef = parse(
        r"CEF:0|Sec\\urity|threat\|manager|1.0|100|Detected a threat\| no action|8|",
        &ctx(),
    )
    .unwrap();
    assert_eq!(cef.device_vendor, r"Sec\urity");
    assert_eq!(cef.device_product, "threat|manager");
    assert_eq!(cef.name, "Detected a threat| no action");
    assert!(cef.extensions.is_empty());
}

#[test]
fn text_without_escapes_is_borrowed_not_copied() {
    let cef = parse(r"CEF:0|V|P|1|2|plain name|5|msg=hello world path=C:\\Temp", &ctx()).unwrap();
    assert!(matches!(cef.name, Cow::Borrowed(_)));
    assert!(matches!(cef.extensions[0].1, Cow::Borrowed(_)));
    assert!(matches!(cef.extensions[1].1, Cow::Owned(_)));
    assert_eq!(cef.get("path"), Some(r"C:\Temp"));
}

#[test]
fn extension_values_hold_spaces_until_the_next_key() {
    let cef = parse(
        "CEF:0|V|P|1|2|N|5|msg=User admin logged in from the console  suser=admin act=Log In",
        &ctx(),
    )
    .unwrap();
    assert_eq!(cef.get("msg"), Some("User admin logged in from the console"));
    assert_eq!(cef.get("suser"), Some("admin"));
    assert_eq!(cef.get("act"), Some("Log In"));
}

#[test]
fn escaped_equals_backslashes_and_line_breaks_in_values_are_decoded() {
    let cef = parse(r"CEF:0|V|P|1|2|N|5|msg=a\=b c\\d\nline two\r end cs1=x\|y", &ctx()).unwrap();
    assert_eq!(cef.get("msg"), Some("a=b c\\d\nline two\r end"));
    assert_eq!(cef.get("cs1"), Some("x|y"));
}

#[test]
fn unescaped_equals_in_urls_and_base64_stay_in_the_value() {
    let cef = parse(
        "CEF:0|V|P|1|2|N|5|request=http://x/?a=b&c=d cs1=YWJj== cs2=k=v dpt=443",
        &ctx(),
    )
    .unwrap();
    assert_eq!(cef.get("request"), Some("http://x/?a=b&c=d"));
    assert_eq!(cef.get("cs1"), Some("YWJj=="));
    assert_eq!(cef.get("cs2"), Some("k=v"));
    assert_eq!(cef.get("dpt"), Some("443"));
}

#[test]
fn an_empty_last_value_is_an_empty_string_and_is_not_written() {
    let line = "CEF:0|V|P|1|2|N|5|outcome= src=10.0.0.1 act=\r\n";
    let cef = parse(line, &ctx()).unwrap();
    assert_eq!(cef.get("outcome"), Some(""));
    assert_eq!(cef.get("src"), Some("10.0.0.1"));
    assert_eq!(cef.get("act"), Some(""));
    let out = fields(line);
    assert!(!out.contains_key("event.action") && !out.contains_key("cef.extensions.act"));
}

#[test]
fn string_and_numeric_severities_map_to_the_0_to_10_scale() {
    let cases = [
        ("Low", Some(3u8)),
        ("Medium", Some(5)),
        ("High", Some(8)),
        ("Very-High", Some(10)),
        ("very-high", Some(10)),
        ("0", Some(0)),
        ("7", Some(7)),
        ("10", Some(10)),
        ("Unknown", None),
        ("11", None),
    ];
    for (written, level) in cases {
        let line = format!("CEF:0|V|P|1|2|N|{written}|");
        let out = fields(&line);
        assert_eq!(
            out.get("event.severity").and_then(Value::as_u64),
            level.map(u64::from),
            "{written}"
        );
        assert_eq!(out["cef.severity"], written);
        let original = out.get("tidemark.severity_original");
        assert_eq!(original.is_some(), level.is_some(), "{written}");
    }
}

#[test]
fn labelled_custom_slots_become_named_fields() {
    let out = fields(
        "CEF:0|V|P|1|2|N|5|cs1Label=Threat Prevention Rule cs1=Block-Malware cn1=42 cn1Label=Risk Score \
         cfp1=0.75 cfp1Label=confidence flexString1Label=Tenant flexString1=acme cs2=unlabelled \
         flexDate1=1700000000000 flexDate1Label=First Seen cs3Label=Orphan label",
    );
    assert_eq!(out["cef.custom.threat_prevention_rule"], "Block-Malware");
    assert_eq!(out["cef.custom.risk_score"], 42);
    assert_eq!(out["cef.custom.confidence"], 0.75);
    assert_eq!(out["cef.custom.tenant"], "acme");
    assert_eq!(out["cef.custom.first_seen"], "2023-11-14T22:13:20Z");
    assert_eq!(out["cef.extensions.cs2"], "unlabelled");
    assert_eq!(out["cef.extensions.cs3Label"], "Orphan label");
    assert!(!out.contains_key("cef.extensions.cs1") && !out.contains_key("cef.extensions.cs1Label"));
}

#[test]
fn labels_of_empty_slots_are_left_out_and_quotes_around_values_are_dropped() {
    let out = fields(
        r#"CEF:0|Cyber-Ark|Vault|12.6|7|Logon|5|cs1Label="Affected User Name" cs1= cs2Label="Safe Name" cs2=Admins request="a.example/x?y\=1""#,
    );
    assert_eq!(out["cef.custom.safe_name"], "Admins");
    assert_eq!(out["url.original"], "a.example/x?y=1");
    assert!(!out.keys().any(|k| k.contains("cs1")), "{out:?}");
}

#[test]
fn two_slots_with_the_same_label_are_both_kept() {
    let out = fields("CEF:0|V|P|1|2|N|5|cs1Label=Rule cs1=a cs2Label=rule cs2=b");
    assert_eq!(out["cef.custom.rule"], "a");
    assert_eq!(out["cef.extensions.cs2"], "b");
    assert_eq!(out["cef.extensions.cs2Label"], "rule");
}

#[test]
fn receipt_times_are_epoch_millis_or_arcsight_dates_with_optional_zones() {
    let cases = [
        ("1763632800000", "2025-11-20T10:00:00Z"),
        ("Nov 20 2026 10:00:00", "2026-11-20T10:00:00Z"),
        ("Nov 20 2026 10:00:00.123", "2026-11-20T10:00:00.123Z"),
        ("Nov 20 2026 10:00:00 UTC", "2026-11-20T10:00:00Z"),
        ("Nov 20 2026 10:00:00.500 +0200", "2026-11-20T08:00:00.500Z"),
        ("Nov 20 2026 10:00:00 Europe/Berlin", "2026-11-20T09:00:00Z"),
        ("Nov 20 10:00:00", "2026-11-20T10:00:00Z"),
    ];
    for (rt, expected) in cases {
        let out = fields(&format!("CEF:0|V|P|1|2|N|5|rt={rt} src=10.0.0.1"));
        assert_eq!(out["@timestamp"], expected, "rt={rt}");
    }
    let out = fields("CEF:0|V|P|1|2|N|5|start=Nov 20 2026 09:59:00 end=1763632800000 rt=someday");
    assert_eq!(out["event.start"], "2026-11-20T09:59:00Z");
    assert_eq!(out["event.end"], "2025-11-20T10:00:00Z");
    assert_eq!(out["cef.extensions.rt"], "someday");
    assert!(!out.contains_key("@timestamp"));
}

#[test]
fn a_zoneless_receipt_time_is_read_in_the_context_zone() {
    let ctx = ParseContext {
        tz: Some(chrono_tz::Europe::Berlin),
        ..ctx()
    };
    let cef = parse("CEF:0|V|P|1|2|N|5|rt=Nov 20 2026 10:00:00", &ctx).unwrap();
    assert_eq!(
        cef.timestamp(),
        Some(Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap())
    );
}

#[test]
fn extensions_map_to_ecs_as_elastics_cef_module_does() {
    let out = fields(
        "CEF:0|Check Point|VPN-1 & FireWall-1|R81|Accept|https|Medium|src=10.1.1.5 spt=50123 \
         dst=203.0.113.9 dpt=443 proto=TCP suser=alice duser=bob shost=ws-12.corp dhost=www.example.com \
         dvchost=gw-01 act=Accept outcome=/Success in=5120 out=880 request=https://www.example.com/a?b=c \
         sproc=chrome.exe fname=report.pdf fileHash=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 \
         cat=Firewall deviceDirection=1 rt=1763632800000",
    );
    let expect = json!({
        "observer.vendor": "Check Point",
        "observer.product": "VPN-1 & FireWall-1",
        "observer.version": "R81",
        "event.code": "Accept",
        "message": "https",
        "cef.name": "https",
        "cef.version": "0",
        "cef.severity": "Medium",
        "event.severity": 5,
        "tidemark.severity_original": "Medium",
        "source.ip": "10.1.1.5",
        "source.port": 50123,
        "destination.ip": "203.0.113.9",
        "destination.port": 443,
        "network.transport": "tcp",
        "user.name": "alice",
        "source.user.name": "alice",
        "destination.user.name": "bob",
        "source.domain": "ws-12.corp",
        "destination.domain": "www.example.com",
        "observer.hostname": "gw-01",
        "host.name": "gw-01",
        "event.action": "Accept",
        "event.outcome": "success",
        "source.bytes": 5120,
        "destination.bytes": 880,
        "url.original": "https://www.example.com/a?b=c",
        "process.name": "chrome.exe",
        "file.name": "report.pdf",
        "file.hash.sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "cef.category": "Firewall",
        "network.direction": "outbound",
        "@timestamp": "2025-11-20T10:00:00Z",
    });
    assert_eq!(Value::Object(out), expect);
}

#[test]
fn the_name_is_the_message_unless_a_msg_extension_is() {
    let out = fields("CEF:0|V|P|1|2|Login failed|5|src=10.0.0.1");
    assert_eq!(out["message"], "Login failed");
    assert!(!out.contains_key("rule.name"));
    let out = fields("CEF:0|V|P|1|2|Brute force rule|5|msg=5 failures for root");
    assert_eq!(out["message"], "5 failures for root");
    assert_eq!(out["rule.name"], "Brute force rule");
}

#[test]
fn unknown_keys_and_values_that_do_not_fit_their_field_stay_under_cef_extensions() {
    let out = fields("CEF:0|V|P|1|2|N|5|src=fw.example.com spt=http ad.LogonType=3 foo=1 foo=2 outcome=blocked");
    assert_eq!(out["cef.extensions.src"], "fw.example.com");
    assert_eq!(out["cef.extensions.spt"], "http");
    assert_eq!(out["cef.extensions.ad.LogonType"], "3");
    assert_eq!(out["cef.extensions.foo"], json!(["1", "2"]));
    assert_eq!(out["cef.extensions.outcome"], "blocked");
    assert!(!out.contains_key("source.ip") && !out.contains_key("source.port"));
}

#[test]
fn the_payload_overrides_fields_a_syslog_header_wrote_before_it() {
    let mut out = Fields::new();
    out.insert("host.name".into(), json!("relay-1"));
    out.insert("@timestamp".into(), json!("2026-11-20T11:59:59Z"));
    out.insert("log.syslog.facility.code".into(), json!(16));
    parse("CEF:0|V|P|1|2|N|5|dvchost=fw-1 rt=1763632800000", &ctx())
        .unwrap()
        .write_fields(&mut out);
    assert_eq!(out["host.name"], "fw-1");
    assert_eq!(out["@timestamp"], "2025-11-20T10:00:00Z");
    assert_eq!(out["log.syslog.facility.code"], 16);
}

#[test]
fn a_record_without_extensions_may_end_after_its_severity() {
    let cef = parse("CEF:1|V|P|1|2|N| High \n", &ctx()).unwrap();
    assert_eq!(cef.version, "1");
    assert_eq!(cef.severity, "High");
    assert_eq!(cef.severity_level(), Some(8));
}

#[test]
fn malformed_lines_are_refused_with_the_offset_of_the_fault() {
    assert_eq!(parse("LEEF:1.0|a", &ctx()).unwrap_err(), CefError::NotCef { offset: 0 });
    assert_eq!(
        parse("CEF:x|V|P|1|2|N|5|", &ctx()).unwrap_err(),
        CefError::BadVersion { offset: 4 }
    );
    assert_eq!(
        parse("CEF:0|V|P|1", &ctx()).unwrap_err(),
        CefError::MissingField {
            field: "Signature ID",
            offset: 11
        }
    );
    assert_eq!(
        parse("CEF:0", &ctx()).unwrap_err(),
        CefError::MissingField {
            field: "Device Vendor",
            offset: 5
        }
    );
    assert_eq!(
        parse("CEF:0|V|P|1|2|N|5|  no key here", &ctx()).unwrap_err(),
        CefError::ExpectedKey { offset: 20 }
    );
    let message = parse("CEF:0|V|P|1", &ctx()).unwrap_err().to_string();
    assert!(
        message.contains("byte 11") && message.contains("Signature ID"),
        "{message}"
    );
}

#[test]
fn unescaped_windows_paths_keep_their_backslashes() {
    let cef = parse(
        r"CEF:0|V|P|1|2|N|5|filePath=C:\Windows\System32\cmd.exe sproc=C:\x",
        &ctx(),
    )
    .unwrap();
    assert_eq!(cef.get("filePath"), Some(r"C:\Windows\System32\cmd.exe"));
    assert_eq!(cef.get("sproc"), Some(r"C:\x"));
}

fn escape_header(s: &str) -> String {
    s.replace('\\', r"\\").replace('|', r"\|")
}

fn escape_value(s: &str) -> String {
    s.replace('\\', r"\\")
        .replace('=', r"\=")
        .replace('\n', r"\n")
        .replace('\r', r"\r")
}

/// A CEF line as a careful emitter writes it.
fn write_cef(header: &[String; 5], severity: &str, extensions: &[(String, String)]) -> String {
    let mut line = String::from("CEF:0");
    for field in header {
        line.push('|');
        line.push_str(&escape_header(field));
    }
    line.push('|');
    line.push_str(severity);
    line.push('|');
    let pairs: Vec<String> = extensions
        .iter()
        .map(|(k, v)| format!("{k}={}", escape_value(v)))
        .collect();
    line.push_str(&pairs.join(" "));
    line
}

fn header_text() -> impl Strategy<Value = String> {
    "(?s)[a-zA-Z0-9 |\\\\=\n\r.:/é_-]{0,16}"
}

fn value_text() -> impl Strategy<Value = String> {
    "(?s)[a-zA-Z0-9 |\\\\=\n\r\t.:/?&é_-]{0,24}".prop_map(|v| v.trim_ascii().to_owned())
}

proptest! {
    #[test]
    fn written_records_parse_back_to_their_values(
        header in [header_text(), header_text(), header_text(), header_text(), header_text()],
        severity in prop::sample::select(vec!["0", "5", "10", "Low", "Very-High", "Unknown"]),
        extensions in prop::collection::btree_map("[a-zA-Z][a-zA-Z0-9_]{0,8}", value_text(), 0..10),
    ) {
        let extensions: Vec<(String, String)> = extensions.into_iter().collect();
        let line = write_cef(&header, severity, &extensions);
        let cef = parse(&line, &ctx()).unwrap();
        let got = [&cef.device_vendor, &cef.device_product, &cef.device_version, &cef.signature_id, &cef.name];
        for (got, want) in got.into_iter().zip(&header) {
            prop_assert_eq!(got.as_ref(), want.as_str());
        }
        prop_assert_eq!(cef.severity.as_ref(), severity);
        let got: Vec<(String, String)> = cef.extensions.iter().map(|(k, v)| ((*k).to_owned(), v.to_string())).collect();
        prop_assert_eq!(got, extensions);
        let mut out = Fields::new();
        cef.write_fields(&mut out);
    }

    #[test]
    fn any_text_parses_or_fails_without_panicking(tail in "(?s).{0,200}", raw in any::<String>()) {
        for text in [format!("CEF:0|{tail}"), format!("CEF:{tail}"), format!("CEF:0|a|b|c|d|e|5|{tail}"), raw] {
            if let Ok(cef) = parse(&text, &ctx()) {
                let mut out = Fields::new();
                cef.write_fields(&mut out);
            }
        }
    }
}
