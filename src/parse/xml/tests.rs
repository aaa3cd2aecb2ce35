use chrono::TimeZone;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::parse::Fields;

fn ctx() -> ParseContext {
    ParseContext::new(chrono::Utc.with_ymd_and_hms(2024, 3, 12, 12, 0, 0).unwrap())
}

fn one(doc: &str) -> Fields {
    let mut records = parse(doc, &ctx()).unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    records.remove(0).fields
}

fn field<'a>(fields: &'a Fields, key: &str) -> &'a Value {
    fields.get(key).unwrap_or_else(|| panic!("no {key} in {fields:#?}"))
}

const SECURITY_4624: &str = include_str!("../../../tests/corpus/xml/security_4624.xml");
const SECURITY_4625: &str = include_str!("../../../tests/corpus/xml/security_4625_export.xml");
const SECURITY_4688: &str = include_str!("../../../tests/corpus/xml/security_4688.xml");
const SECURITY_4720_1102: &str = include_str!("../../../tests/corpus/xml/security_4720_1102_export.xml");
const SYSMON_1: &str = include_str!("../../../tests/corpus/xml/sysmon_1.xml");
const GENERIC_ALERT: &str = include_str!("../../../tests/corpus/xml/generic_alert.xml");

#[test]
fn a_lone_logon_event_maps_its_system_section_to_winlog_fields() {
    let f = one(SECURITY_4624);
    let expected = [
        ("winlog.provider_name", json!("Microsoft-Windows-Security-Auditing")),
        ("winlog.provider_guid", json!("{54849625-5478-4994-A5BA-3E3B0328C30D}")),
        ("winlog.event_id", json!(4624)),
        ("event.code", json!("4624")),
        ("winlog.version", json!(2)),
        ("winlog.task", json!(12544)),
        ("winlog.opcode", json!(0)),
        ("winlog.keywords", json!("0x8020000000000000")),
        ("@timestamp", json!("2024-03-12T08:41:27.519092Z")),
        ("winlog.record_id", json!(1_958_376)),
        ("winlog.activity_id", json!("{F5A1B2C3-7E8D-0002-4C3B-A1F58E7DDA01}")),
        ("winlog.process.pid", json!(788)),
        ("winlog.process.thread.id", json!(2964)),
        ("winlog.channel", json!("Security")),
        ("winlog.computer_name", json!("DC01.corp.example.com")),
        ("host.name", json!("DC01.corp.example.com")),
    ];
    for (key, value) in expected {
        assert_eq!(field(&f, key), &value, "{key}");
    }
}

#[test]
fn a_logon_event_lifts_user_source_and_logon_type_to_ecs() {
    let f = one(SECURITY_4624);
    assert_eq!(field(&f, "event.outcome"), "success");
    assert_eq!(field(&f, "user.name"), "alice");
    assert_eq!(field(&f, "user.domain"), "CORP");
    assert_eq!(field(&f, "source.ip"), "10.20.30.41");
    assert_eq!(field(&f, "source.port"), 50112);
    assert_eq!(field(&f, "source.domain"), "WKS-042");
    assert_eq!(field(&f, "winlog.logon.type"), "Network");
    assert_eq!(field(&f, "winlog.event_data.LogonType"), "3");
    assert_eq!(field(&f, "winlog.event_data.TargetLogonId"), "0x8dcdc3");
    // `-` process name and a 0x0 process id name no process.
    assert!(!f.contains_key("process.executable") && !f.contains_key("process.pid"));
}

#[test]
fn level_zero_and_four_are_informational_with_the_original_kept() {
    let f = one(SECURITY_4624);
    assert_eq!(field(&f, "winlog.level"), "information");
    assert_eq!(field(&f, "event.severity"), 2);
    assert_eq!(field(&f, "tidemark.severity_original"), "0");
}

#[test]
fn each_level_maps_to_its_severity() {
    for (level, name, severity) in [
        ("1", "critical", 9),
        ("2", "error", 7),
        ("3", "warning", 5),
        ("4", "information", 2),
        ("0", "information", 2),
    ] {
        let doc = format!("<Event><System><EventID>7</EventID><Level>{level}</Level></System></Event>");
        let f = one(&doc);
        assert_eq!(field(&f, "winlog.level"), name, "level {level}");
        assert_eq!(field(&f, "event.severity"), severity, "level {level}");
        assert_eq!(field(&f, "tidemark.severity_original"), level);
    }
    let custom = one("<Event><System><Level>17</Level></System></Event>");
    assert_eq!(field(&custom, "winlog.level"), "17");
    assert!(!custom.contains_key("event.severity"));
}

#[test]
fn an_events_export_yields_one_record_per_event_spanning_its_own_bytes() {
    let records = parse(SECURITY_4625, &ctx()).unwrap();
    assert_eq!(records.len(), 2);
    for r in &records {
        let raw = &SECURITY_4625[r.span.clone()];
        assert!(raw.starts_with("<Event ") && raw.ends_with("</Event>"), "{raw}");
        assert_eq!(field(&r.fields, "event.outcome"), "failure");
        assert_eq!(field(&r.fields, "event.code"), "4625");
    }
    assert!(SECURITY_4625[records[0].span.clone()].contains("1958391"));
    assert!(SECURITY_4625[records[1].span.clone()].contains("1958392"));
    let first = &records[0].fields;
    assert_eq!(field(first, "user.name"), "administrator");
    assert_eq!(field(first, "source.ip"), "203.0.113.77");
    assert!(!first.contains_key("source.port"), "port 0 is no port");
    let message = field(first, "message").as_str().unwrap();
    assert!(
        message.starts_with("An account failed to log on.\n\nSubject:"),
        "{message}"
    );
    assert_eq!(
        field(&records[1].fields, "process.executable"),
        r"C:\Windows\System32\svchost.exe"
    );
    assert_eq!(field(&records[1].fields, "process.name"), "svchost.exe");
    assert_eq!(field(&records[1].fields, "process.pid"), 0x2d8);
    assert_eq!(field(&records[1].fields, "winlog.logon.type"), "Interactive");
}

#[test]
fn several_event_roots_without_a_wrapper_are_each_a_record() {
    let doc =
        "<Event><System><EventID>1</EventID></System></Event>\n<Event><System><EventID>2</EventID></System></Event>";
    let records = parse(doc, &ctx()).unwrap();
    let codes: Vec<_> = records.iter().map(|r| r.fields["event.code"].clone()).collect();
    assert_eq!(codes, [json!("1"), json!("2")]);
    assert_eq!(
        &doc[records[1].span.clone()],
        "<Event><System><EventID>2</EventID></System></Event>"
    );
}

#[test]
fn an_empty_events_export_has_no_records() {
    assert!(parse("<Events/>", &ctx()).unwrap().is_empty());
    assert!(parse("<Events>\n</Events>", &ctx()).unwrap().is_empty());
    let with_text = one("<Events>none</Events>");
    assert_eq!(field(&with_text, "Events"), "none");
}

#[test]
fn process_creation_lifts_the_new_process_and_its_hex_pid() {
    let f = one(SECURITY_4688);
    assert_eq!(
        field(&f, "process.executable"),
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
    );
    assert_eq!(field(&f, "process.name"), "powershell.exe");
    assert_eq!(field(&f, "process.pid"), 0x1a4c);
    assert_eq!(field(&f, "process.parent.executable"), r"C:\Windows\explorer.exe");
    assert!(
        field(&f, "process.command_line")
            .as_str()
            .unwrap()
            .starts_with("powershell.exe -nop")
    );
    // TargetUserName is `-`, so the subject is the user.
    assert_eq!(field(&f, "user.name"), "alice");
    assert_eq!(field(&f, "user.domain"), "CORP");
}

#[test]
fn account_creation_names_the_new_account_and_log_clearing_its_subject_from_user_data() {
    let records = parse(SECURITY_4720_1102, &ctx()).unwrap();
    assert_eq!(records.len(), 2);
    let created = &records[0].fields;
    assert_eq!(field(created, "user.name"), "svc-backup2");
    assert_eq!(field(created, "winlog.event_data.SubjectUserName"), "alice");
    assert_eq!(
        field(created, "winlog.event_data.UserAccountControl"),
        "%%2080\n\t\t%%2082\n\t\t%%2084"
    );
    let cleared = &records[1].fields;
    assert_eq!(field(cleared, "event.code"), "1102");
    assert_eq!(field(cleared, "winlog.user_data.xml_name"), "LogFileCleared");
    assert_eq!(field(cleared, "winlog.user_data.SubjectUserName"), "Administrator");
    assert_eq!(field(cleared, "winlog.user_data.SubjectLogonId"), "0x3e7c1");
    assert_eq!(field(cleared, "user.name"), "Administrator");
    assert_eq!(field(cleared, "user.domain"), "CORP");
    assert_eq!(field(cleared, "event.outcome"), "success");
    assert!(!cleared.contains_key("winlog.user_data"));
}

#[test]
fn sysmon_process_creation_lifts_image_command_line_and_user() {
    let f = one(SYSMON_1);
    assert_eq!(field(&f, "winlog.channel"), "Microsoft-Windows-Sysmon/Operational");
    assert_eq!(field(&f, "winlog.user.identifier"), "S-1-5-18");
    assert_eq!(field(&f, "event.code"), "1");
    assert_eq!(field(&f, "process.name"), "powershell.exe");
    assert_eq!(field(&f, "process.pid"), 6732);
    assert_eq!(field(&f, "process.parent.executable"), r"C:\Windows\explorer.exe");
    assert!(
        field(&f, "process.command_line")
            .as_str()
            .unwrap()
            .contains("DownloadString('http://198.51.100.23/a.ps1')")
    );
    assert_eq!(field(&f, "user.name"), "alice");
    assert_eq!(field(&f, "user.domain"), "CORP");
    assert_eq!(
        field(&f, "winlog.event_data.Product"),
        "Microsoft® Windows® Operating System"
    );
    assert!(
        !f.contains_key("event.outcome"),
        "Sysmon keywords are not audit keywords"
    );
}

#[test]
fn prefixed_namespace_elements_read_like_unprefixed_ones() {
    let doc = r#"<e:Event xmlns:e="http://schemas.microsoft.com/win/2004/08/events/event">
        <e:System><e:Provider e:Name="P"/><e:EventID>4624</e:EventID><e:Computer>h1</e:Computer></e:System>
        <e:EventData><e:Data e:Name="TargetUserName">bob</e:Data></e:EventData></e:Event>"#;
    let f = one(doc);
    assert_eq!(field(&f, "winlog.provider_name"), "P");
    assert_eq!(field(&f, "event.code"), "4624");
    assert_eq!(field(&f, "host.name"), "h1");
    assert_eq!(field(&f, "user.name"), "bob");
}

#[test]
fn unnamed_data_elements_are_numbered_params_and_empty_ones_are_left_out() {
    let doc = "<Event><System><EventID>7036</EventID></System><EventData>\
        <Data>Windows Update</Data><Data></Data><Data>stopped</Data><Data Name=\"X\"/><Binary>00FF</Binary>\
        </EventData></Event>";
    let f = one(doc);
    assert_eq!(field(&f, "winlog.event_data.param1"), "Windows Update");
    assert!(!f.contains_key("winlog.event_data.param2"));
    assert_eq!(field(&f, "winlog.event_data.param3"), "stopped");
    assert!(!f.contains_key("winlog.event_data.X"));
    assert_eq!(field(&f, "winlog.event_data.Binary"), "00FF");
}

#[test]
fn only_valid_ip_addresses_and_nonzero_numeric_ports_are_lifted() {
    let event = |ip: &str, port: &str| {
        one(&format!(
            "<Event><System/><EventData><Data Name=\"IpAddress\">{ip}</Data><Data Name=\"IpPort\">{port}</Data></EventData></Event>"
        ))
    };
    let dash = event("-", "-");
    assert!(!dash.contains_key("source.ip") && !dash.contains_key("source.port"));
    let host = event("fileserver", "0");
    assert!(!host.contains_key("source.ip") && !host.contains_key("source.port"));
    let loopback = event("::1", "445");
    assert_eq!(field(&loopback, "source.ip"), "::1");
    assert_eq!(field(&loopback, "source.port"), 445);
    let mapped = event("::ffff:10.1.2.3", "70000");
    assert_eq!(field(&mapped, "source.ip"), "10.1.2.3");
    assert!(!mapped.contains_key("source.port"));
}

#[test]
fn a_time_created_without_a_zone_is_read_in_the_context_zone() {
    let doc = r#"<Event><System><TimeCreated SystemTime="2024-03-12 08:41:27.5"/></System></Event>"#;
    let mut ctx = ctx();
    ctx.tz = Some(chrono_tz::Europe::Berlin);
    let records = parse(doc, &ctx).unwrap();
    assert_eq!(records[0].fields["@timestamp"], "2024-03-12T07:41:27.500000Z");
    let bad = one(r#"<Event><System><TimeCreated SystemTime="yesterday"/></System></Event>"#);
    assert!(!bad.contains_key("@timestamp"));
    assert_eq!(field(&bad, "winlog.time_created"), "yesterday");
}

#[test]
fn a_generic_document_flattens_to_dotted_paths_with_attributes_beside_text() {
    let f = one(r#"<alert><src ip="1.2.3.4">x</src></alert>"#);
    assert_eq!(
        f,
        Fields::from_iter([
            ("alert.src".into(), json!("x")),
            ("alert.src.ip".into(), json!("1.2.3.4"))
        ])
    );
}

#[test]
fn the_generic_corpus_alert_decodes_entities_cdata_and_repeats() {
    let records = parse(GENERIC_ALERT, &ctx()).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].span, 0..GENERIC_ALERT.trim_end().len());
    let f = &records[0].fields;
    assert_eq!(field(f, "alert.id"), "A-20240312-0042");
    assert!(!f.contains_key("alert.xmlns"));
    assert_eq!(
        field(f, "alert.signature"),
        "ET POLICY Vulnerable Java Version 1.8.x Detected"
    );
    assert_eq!(field(f, "alert.signature.sid"), "2019401");
    assert_eq!(field(f, "alert.src.ip"), "10.20.30.41");
    assert_eq!(field(f, "alert.tag"), &json!(["policy", "java"]));
    assert_eq!(
        field(f, "alert.payload"),
        "GET /a.jar HTTP/1.1\nUser-Agent: Java/1.8.0_151 <probe>"
    );
    assert_eq!(
        field(f, "alert.note"),
        "R&D subnet <lab> \u{2014} reviewed by \"soc-l2\""
    );
    assert!(
        !f.contains_key("alert"),
        "an element with children and no text has no value"
    );
}

#[test]
fn repeated_nested_elements_and_clashing_attributes_become_arrays() {
    let f = one(r#"<a><b k="1"><c>x</c></b><b><c>y</c><k>2</k></b><empty/></a>"#);
    assert_eq!(field(&f, "a.b.c"), &json!(["x", "y"]));
    assert_eq!(field(&f, "a.b.k"), &json!(["1", "2"]));
    assert_eq!(field(&f, "a.empty"), "");
}

#[test]
fn an_event_element_without_a_system_section_is_generic() {
    let f = one("<Event><Name>x</Name></Event>");
    assert_eq!(f, Fields::from_iter([("Event.Name".into(), json!("x"))]));
}

#[test]
fn malformed_documents_name_the_byte_offset() {
    let err = parse("<a><b></a>", &ctx()).unwrap_err();
    assert!(matches!(err, XmlError::Syntax { offset: 6, .. }), "{err:?}");
    assert_eq!(err.offset(), 6);
    assert!(err.to_string().contains("byte offset 6"), "{err}");
    assert_eq!(
        parse("<a>\n  <b>", &ctx()).unwrap_err(),
        XmlError::Unclosed {
            offset: 0,
            name: "a".into()
        }
    );
    assert!(matches!(parse("<a", &ctx()).unwrap_err(), XmlError::Syntax { .. }));
    assert!(matches!(
        parse("<a x></a>", &ctx()).unwrap_err(),
        XmlError::Syntax { offset: 0, .. }
    ));
    assert_eq!(
        parse("hello <a/>", &ctx()).unwrap_err(),
        XmlError::TextOutsideRoot { offset: 0 }
    );
    assert_eq!(
        parse("<a/> trailing", &ctx()).unwrap_err(),
        XmlError::TextOutsideRoot { offset: 4 }
    );
    assert_eq!(
        parse("<!-- only -->", &ctx()).unwrap_err(),
        XmlError::NoElement { offset: 13 }
    );
    assert!(parse("  \n", &ctx()).unwrap().is_empty());
}

#[test]
fn custom_entities_are_refused_so_entity_bombs_cannot_expand() {
    let bomb = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<lolz>&lol2;</lolz>"#;
    let err = parse(bomb, &ctx()).unwrap_err();
    assert_eq!(
        err,
        XmlError::UnknownEntity {
            offset: bomb.find("&lol2;</lolz>").unwrap(),
            name: "lol2".into()
        }
    );
}

#[test]
fn nesting_and_size_are_capped() {
    let deep = "<a>".repeat(MAX_DEPTH + 1);
    assert_eq!(
        parse(&deep, &ctx()).unwrap_err(),
        XmlError::TooDeep { offset: 3 * MAX_DEPTH }
    );
    let ok = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
    assert!(parse(&ok, &ctx()).is_ok());
    let wide = format!("<r>{}</r>", "<i/>".repeat(MAX_NODES));
    assert!(matches!(parse(&wide, &ctx()).unwrap_err(), XmlError::TooLarge { .. }));
}

#[test]
fn a_byte_order_mark_does_not_shift_spans() {
    let doc = "\u{feff}<Event><System><EventID>1</EventID></System></Event>";
    let records = parse(doc, &ctx()).unwrap();
    assert_eq!(&doc[records[0].span.clone()], &doc[3..]);
}

/// A random element tree: leaves carry text (possibly needing escapes) and attributes.
#[derive(Debug, Clone)]
struct Node {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    cdata: bool,
    children: Vec<Node>,
}

fn text_strategy() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 <>&'\"é;#\n]{0,12}"
}

fn node_strategy() -> impl Strategy<Value = Node> {
    let name = "[a-z][a-z0-9_]{0,5}";
    let attrs = prop::collection::vec(("[a-z]{1,4}", "[a-zA-Z0-9 <>&'\"é;#]{0,8}"), 0..3).prop_map(|mut attrs| {
        attrs.sort();
        attrs.dedup_by(|a, b| a.0 == b.0);
        attrs
    });
    let leaf = (name, attrs, text_strategy(), any::<bool>()).prop_map(|(name, attrs, text, cdata)| Node {
        name,
        attrs,
        text,
        cdata,
        children: Vec::new(),
    });
    leaf.prop_recursive(3, 24, 4, move |inner| {
        ("[a-z][a-z0-9_]{0,5}", prop::collection::vec(inner, 1..4)).prop_map(|(name, children)| Node {
            name,
            attrs: Vec::new(),
            text: String::new(),
            cdata: false,
            children,
        })
    })
}

fn serialize(node: &Node, out: &mut String) {
    out.push('<');
    out.push_str(&node.name);
    for (k, v) in &node.attrs {
        out.push_str(&format!(" {k}=\"{}\"", quick_xml::escape::escape(v.as_str())));
    }
    out.push('>');
    if node.cdata {
        out.push_str(&format!("<![CDATA[{}]]>", node.text));
    } else {
        out.push_str(&quick_xml::escape::escape(node.text.as_str()));
    }
    for child in &node.children {
        serialize(child, out);
    }
    out.push_str(&format!("</{}>", node.name));
}

/// The (path, value) pairs the flattening convention promises, in document order.
fn expected_pairs(node: &Node, path: &str, out: &mut Vec<(String, String)>) {
    for (k, v) in &node.attrs {
        out.push((format!("{path}.{k}"), v.clone()));
    }
    let text = trim_xml(&node.text);
    if !text.is_empty() || (node.attrs.is_empty() && node.children.is_empty()) {
        out.push((path.to_owned(), text.to_owned()));
    }
    for child in &node.children {
        expected_pairs(child, &format!("{path}.{}", child.name), out);
    }
}

proptest! {
    #[test]
    fn generic_documents_round_trip_through_serialization(root in node_strategy()) {
        prop_assume!(root.name != "Event" && root.name != "Events");
        let mut doc = String::new();
        serialize(&root, &mut doc);
        let mut pairs = Vec::new();
        expected_pairs(&root, &root.name, &mut pairs);
        let mut expected = Fields::new();
        for (key, value) in pairs {
            match expected.get_mut(&key) {
                None => { expected.insert(key, Value::from(value)); }
                Some(Value::Array(items)) => items.push(Value::from(value)),
                Some(first) => { let old = first.take(); *first = json!([old, value]); }
            }
        }
        let records = parse(&doc, &ctx()).unwrap();
        prop_assert_eq!(records.len(), 1);
        prop_assert_eq!(&records[0].fields, &expected, "{}", doc);
    }

    #[test]
    fn arbitrary_text_never_panics(doc in "\\PC{0,200}") {
        let _ = parse(&doc, &ctx());
    }

    #[test]
    fn markup_shaped_text_never_panics(doc in "[<>/a-c=\"' &;#x0-9!\\[\\]?-]{0,120}") {
        let _ = parse(&doc, &ctx());
    }
}
