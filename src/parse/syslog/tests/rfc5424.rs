use serde_json::json;

use super::{at, ctx, fields_of};
use crate::parse::syslog::parse;

#[test]
fn an_rfc5424_line_yields_every_header_field() {
    let line =
        "<165>1 2026-11-20T10:00:00.123456+02:00 mymachine.example.com evntslog 4711 ID47 - An application event";
    let parsed = parse(line, &ctx()).unwrap();
    assert_eq!(parsed.priority(), Some(165));
    assert_eq!((parsed.facility(), parsed.severity()), (Some(20), Some(5)));
    assert_eq!(parsed.version(), Some(1));
    assert_eq!(parsed.timestamp(), Some(at("2026-11-20T08:00:00.123456Z")));
    assert_eq!(parsed.hostname(), Some("mymachine.example.com"));
    assert_eq!(parsed.app_name(), Some("evntslog"));
    assert_eq!(parsed.proc_id(), Some("4711"));
    assert_eq!(parsed.msg_id(), Some("ID47"));
    assert!(parsed.structured_data().is_empty());
    assert_eq!(parsed.msg(), "An application event");

    let fields = fields_of(line);
    assert_eq!(fields["@timestamp"], json!("2026-11-20T08:00:00.123456Z"));
    assert_eq!(fields["log.syslog.version"], json!(1));
    assert_eq!(fields["host.hostname"], json!("mymachine.example.com"));
    assert_eq!(fields["host.name"], json!("mymachine.example.com"));
    assert_eq!(fields["process.name"], json!("evntslog"));
    assert_eq!(fields["process.pid"], json!(4711));
    assert_eq!(fields["log.syslog.msgid"], json!("ID47"));
    assert_eq!(fields["log.syslog.severity.name"], json!("notice"));
    assert_eq!(fields["event.severity"], json!(3));
    assert_eq!(fields["message"], json!("An application event"));
}

#[test]
fn nilvalue_leaves_every_header_field_absent() {
    let parsed = parse("<14>1 - - - - - -", &ctx()).unwrap();
    assert_eq!(parsed.timestamp(), None);
    assert_eq!(
        (parsed.hostname(), parsed.app_name(), parsed.proc_id(), parsed.msg_id()),
        (None, None, None, None)
    );
    assert!(parsed.structured_data().is_empty());
    assert_eq!(parsed.msg(), "");
    let fields = fields_of("<14>1 - - - - - -");
    let mut keys: Vec<&str> = fields.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "event.severity",
            "log.syslog.facility.code",
            "log.syslog.facility.name",
            "log.syslog.priority",
            "log.syslog.severity.code",
            "log.syslog.severity.name",
            "log.syslog.version",
            "tidemark.severity_original",
        ]
    );
}

#[test]
fn structured_data_values_are_unescaped() {
    let line = r#"<13>1 2026-11-20T10:00:00Z h app - - [x@1 q="say \"hi\"" b="a\\b" r="[1\]" o="\n"] m"#;
    let parsed = parse(line, &ctx()).unwrap();
    let element = parsed.structured_data().elements().next().unwrap();
    assert_eq!(element.id(), "x@1");
    let params: Vec<(&str, String)> = element.params().map(|p| (p.name(), p.value().into_owned())).collect();
    assert_eq!(
        params,
        [
            ("q", r#"say "hi""#.to_owned()),
            ("b", r"a\b".into()),
            ("r", "[1]".into()),
            ("o", r"\n".into())
        ]
    );
    let fields = fields_of(line);
    assert_eq!(fields["log.syslog.structured_data.x@1.q"], json!(r#"say "hi""#));
    assert_eq!(fields["log.syslog.structured_data.x@1.r"], json!("[1]"));
    assert_eq!(parsed.msg(), "m");
}

#[test]
fn several_sd_elements_each_write_their_params() {
    let line =
        r#"<13>1 2026-11-20T10:00:00Z h app - - [timeQuality tzKnown="1" isSynced="1"][origin ip="192.0.2.1"][meta] m"#;
    let parsed = parse(line, &ctx()).unwrap();
    let ids: Vec<&str> = parsed.structured_data().into_iter().map(|e| e.id()).collect();
    assert_eq!(ids, ["timeQuality", "origin", "meta"]);
    let fields = fields_of(line);
    assert_eq!(fields["log.syslog.structured_data.timeQuality.tzKnown"], json!("1"));
    assert_eq!(fields["log.syslog.structured_data.timeQuality.isSynced"], json!("1"));
    assert_eq!(fields["log.syslog.structured_data.origin.ip"], json!("192.0.2.1"));
}

#[test]
fn a_param_repeated_in_one_element_keeps_every_value() {
    let fields = fields_of(r#"<13>1 - h a - - [origin ip="192.0.2.1" ip="192.0.2.2" ip="192.0.2.3"]"#);
    assert_eq!(
        fields["log.syslog.structured_data.origin.ip"],
        json!(["192.0.2.1", "192.0.2.2", "192.0.2.3"])
    );
}

#[test]
fn a_bom_before_the_message_is_stripped() {
    let parsed = parse("<13>1 - h a - - [x y=\"z\"] \u{feff}caf\u{e9} ouvert", &ctx()).unwrap();
    assert_eq!(parsed.msg(), "caf\u{e9} ouvert");
    let parsed = parse("<13>1 - h a - - - \u{feff}", &ctx()).unwrap();
    assert_eq!(parsed.msg(), "");
}

#[test]
fn the_message_keeps_everything_after_the_single_separating_space() {
    let parsed = parse("<13>1 - h a - - -   indented [not sd]", &ctx()).unwrap();
    assert_eq!(parsed.msg(), "  indented [not sd]");
    assert!(parsed.structured_data().is_empty());
}

#[test]
fn a_procid_that_is_not_a_number_is_kept_as_text() {
    let fields = fields_of("<13>1 - h a worker-3 - -");
    assert_eq!(fields.get("process.pid"), None);
    assert_eq!(fields["log.syslog.procid"], json!("worker-3"));
}

#[test]
fn sub_microsecond_digits_are_dropped_and_whole_seconds_print_without_a_fraction() {
    assert_eq!(
        fields_of("<13>1 2026-11-20T10:00:00.1234567Z h a - - -")["@timestamp"],
        json!("2026-11-20T10:00:00.123456Z")
    );
    assert_eq!(
        fields_of("<13>1 2026-11-20T10:00:00.5-0130 h a - - -")["@timestamp"],
        json!("2026-11-20T11:30:00.500000Z")
    );
    assert_eq!(
        fields_of("<13>1 2026-11-20t10:00:00z h a - - -")["@timestamp"],
        json!("2026-11-20T10:00:00Z")
    );
}

#[test]
fn a_zoneless_timestamp_is_read_in_the_context_zone() {
    let mut context = ctx();
    context.tz = Some(chrono_tz::Europe::Berlin);
    let parsed = parse("<13>1 2026-11-20T10:00:00 h a - - -", &context).unwrap();
    assert_eq!(parsed.timestamp(), Some(at("2026-11-20T09:00:00Z")));
    let parsed = parse("<13>1 2026-11-20T10:00:00 h a - - -", &ctx()).unwrap();
    assert_eq!(parsed.timestamp(), Some(at("2026-11-20T10:00:00Z")));
}

#[test]
fn journald_forwarded_lines_with_sd_parse_whole() {
    let line = concat!(
        r#"<30>1 2026-11-20T10:15:02.481236+00:00 web01 systemd 1 - "#,
        r#"[journald@32473 _SYSTEMD_UNIT="nginx.service" _PID="1" _BOOT_ID="9f2c"] Started nginx.service."#
    );
    let fields = fields_of(line);
    assert_eq!(
        fields["log.syslog.structured_data.journald@32473._SYSTEMD_UNIT"],
        json!("nginx.service")
    );
    assert_eq!(fields["process.name"], json!("systemd"));
    assert_eq!(fields["process.pid"], json!(1));
    assert_eq!(fields["log.syslog.facility.name"], json!("daemon"));
    assert_eq!(fields["message"], json!("Started nginx.service."));
}
