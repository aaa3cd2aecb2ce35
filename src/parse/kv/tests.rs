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
fn a_fortinet_traffic_line_maps_to_ecs() {
    let out = fields(
        r#"date=2026-11-20 time=10:00:00 devname="FGT-HQ" devid="FG100E" logid="0000000013" type="traffic" subtype="forward" level="notice" vd="root" eventtime=1763632800123456789 tz="+0100" srcip=10.1.1.20 srcport=52344 srcintf="port1" dstip=93.184.216.34 dstport=443 dstintf="wan1" proto=6 action="accept" policyid=12 service="HTTPS" sentbyte=1200 rcvdbyte=5400 user="alice" dstcountry="United States""#,
    );
    let expect = json!({
        "@timestamp": "2026-11-20T09:00:00Z",
        "host.name": "FGT-HQ",
        "kv.devid": "FG100E",
        "event.code": "0000000013",
        "kv.type": "traffic",
        "kv.subtype": "forward",
        "event.severity": 3,
        "tidemark.severity_original": "notice",
        "kv.vd": "root",
        "kv.eventtime": "1763632800123456789",
        "source.ip": "10.1.1.20",
        "source.port": 52344,
        "observer.ingress.interface.name": "port1",
        "destination.ip": "93.184.216.34",
        "destination.port": 443,
        "observer.egress.interface.name": "wan1",
        "network.transport": "tcp",
        "network.iana_number": "6",
        "event.action": "accept",
        "rule.id": "12",
        "kv.service": "HTTPS",
        "source.bytes": 1200,
        "destination.bytes": 5400,
        "user.name": "alice",
        "destination.geo.country_name": "United States",
    });
    assert_eq!(Value::Object(out), expect);
}

#[test]
fn date_and_time_without_a_zone_are_read_in_the_context_zone() {
    let ctx = ParseContext {
        tz: Some(chrono_tz::Europe::Berlin),
        ..ctx()
    };
    let mut out = Fields::new();
    parse("date=2026-11-20 time=10:00:00 srcip=10.0.0.1", &ctx)
        .unwrap()
        .write_fields(&mut out);
    assert_eq!(out["@timestamp"], "2026-11-20T09:00:00Z");
    assert!(!out.contains_key("kv.date") && !out.contains_key("kv.time"));
}

#[test]
fn quoted_values_keep_their_spaces_and_unescape_quotes() {
    let kv = parse(r#"msg="User \"bob\" logged in" path='C:\Temp\x' empty="" n=1"#, &ctx()).unwrap();
    assert_eq!(kv.get("msg"), Some(r#"User "bob" logged in"#));
    assert!(matches!(kv.pairs[2].1, Cow::Borrowed(_)));
    assert_eq!(kv.get("path"), Some(r"C:\Temp\x"));
    assert_eq!(kv.get("empty"), Some(""));
    assert_eq!(kv.get("n"), Some("1"));
}

#[test]
fn an_unterminated_quote_runs_to_the_end_of_a_truncated_line() {
    let kv = parse(r#"srcip=10.0.0.1 msg="Connection from 10.0.0.1 was cut"#, &ctx()).unwrap();
    assert_eq!(kv.get("msg"), Some("Connection from 10.0.0.1 was cut"));
}

#[test]
fn fewer_than_two_pairs_is_an_error_naming_where_other_text_starts() {
    assert_eq!(
        parse("Accepted password for root user=root", &ctx()).unwrap_err(),
        KvError::TooFewPairs { found: 1, offset: 0 }
    );
    assert_eq!(
        parse("a=1", &ctx()).unwrap_err(),
        KvError::TooFewPairs { found: 1, offset: 3 }
    );
    assert_eq!(
        parse("", &ctx()).unwrap_err(),
        KvError::TooFewPairs { found: 0, offset: 0 }
    );
    assert_eq!(
        parse("x=1 =2 y", &ctx()).unwrap_err(),
        KvError::TooFewPairs { found: 1, offset: 4 }
    );
}

#[test]
fn words_between_pairs_are_skipped() {
    let kv = parse(
        "Failed login for user=bob from src=203.0.113.7 after 3 attempts",
        &ctx(),
    )
    .unwrap();
    assert_eq!(kv.pairs.len(), 2);
    assert_eq!(kv.get("user"), Some("bob"));
    assert_eq!(kv.get("src"), Some("203.0.113.7"));
}

#[test]
fn iptables_keys_match_in_any_case_and_empty_values_are_left_out() {
    let out =
        fields("IN=eth0 OUT= MAC=00:16:3e:aa:bb:cc SRC=203.0.113.7 DST=10.0.0.5 LEN=60 PROTO=TCP SPT=51515 DPT=22 SYN");
    assert_eq!(out["source.ip"], "203.0.113.7");
    assert_eq!(out["destination.ip"], "10.0.0.5");
    assert_eq!(out["source.port"], 51515);
    assert_eq!(out["destination.port"], 22);
    assert_eq!(out["network.transport"], "tcp");
    assert_eq!(out["kv.IN"], "eth0");
    assert!(!out.contains_key("kv.OUT"));
}

#[test]
fn severities_read_words_syslog_numbers_and_the_0_to_10_scale() {
    let cases = [
        ("level=warning", 5),
        ("level=information", 2),
        ("level=3", 7),
        ("pri=0", 10),
        ("severity=high", 8),
        ("severity=4", 4),
        ("sev=critical", 8),
    ];
    for (pair, level) in cases {
        let out = fields(&format!("{pair} src=10.0.0.1"));
        assert_eq!(out["event.severity"], level, "{pair}");
        assert_eq!(out["tidemark.severity_original"], pair.split_once('=').unwrap().1);
    }
    let out = fields("severity=bogus src=10.0.0.1");
    assert_eq!(out["kv.severity"], "bogus");
}

#[test]
fn a_palo_alto_style_line_maps_to_ecs() {
    let out = fields(
        "receive_time=\"2026/11/20 10:00:00\" serial=0123456789 type=THREAT src=10.0.0.8 dst=198.51.100.4 \
         natsrc=203.0.113.1 natsport=40000 srcuser=corp\\alice rule=\"Allow Web\" app=web-browsing sport=55000 \
         dport=80 proto=tcp action=alert severity=medium url=\"bad.example.com/x.php\" bytes_sent=700 bytes_received=9000",
    );
    assert_eq!(out["@timestamp"], "2026-11-20T10:00:00Z");
    assert_eq!(out["source.nat.ip"], "203.0.113.1");
    assert_eq!(out["source.nat.port"], 40000);
    assert_eq!(out["user.name"], "corp\\alice");
    assert_eq!(out["rule.name"], "Allow Web");
    assert_eq!(out["network.application"], "web-browsing");
    assert_eq!(out["event.severity"], 5);
    assert_eq!(out["url.original"], "bad.example.com/x.php");
    assert_eq!(out["destination.bytes"], 9000);
    assert_eq!(out["kv.type"], "THREAT");
}

#[test]
fn logfmt_time_and_message_are_read() {
    let out = fields(r#"time="2026-11-20T10:00:00.5Z" level=info msg="listener started" addr=:8080"#);
    assert_eq!(out["@timestamp"], "2026-11-20T10:00:00.500Z");
    assert_eq!(out["message"], "listener started");
    assert_eq!(out["event.severity"], 2);
    assert_eq!(out["kv.addr"], ":8080");
}

#[test]
fn comma_separated_pairs_lose_their_commas() {
    let kv = parse("user=alice, src=10.0.0.1, action=login", &ctx()).unwrap();
    assert_eq!(kv.get("user"), Some("alice"));
    assert_eq!(kv.get("src"), Some("10.0.0.1"));
    assert_eq!(kv.get("action"), Some("login"));
}

#[test]
fn the_alias_table_names_ecs_fields_in_any_case() {
    assert_eq!(ecs_alias("SrcIP"), Some("source.ip"));
    assert_eq!(ecs_alias("usrName"), Some("user.name"));
    assert_eq!(ecs_alias("devname"), Some("host.name"));
    assert_eq!(ecs_alias("no_such_key"), None);
    assert_eq!(ecs_alias(&"x".repeat(100)), None);
}

proptest! {
    #[test]
    fn any_text_parses_or_fails_without_panicking(text in "(?s)[a-z=\"' \\\\\t\né,]{0,120}", raw in any::<String>()) {
        for text in [text, raw] {
            if let Ok(kv) = parse(&text, &ctx()) {
                prop_assert!(kv.pairs.len() >= 2);
                let mut out = Fields::new();
                kv.write_fields(&mut out);
            }
        }
    }

    #[test]
    fn quoted_values_round_trip(values in prop::collection::vec("(?s)[a-z \"'\\\\=é\n]{0,16}", 2..6)) {
        let line: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("k{i}=\"{}\"", v.replace('\\', r"\\").replace('"', "\\\"")))
            .collect();
        let line = line.join(" ");
        let kv = parse(&line, &ctx()).unwrap();
        let got: Vec<String> = kv.pairs.iter().map(|(_, v)| v.to_string()).collect();
        prop_assert_eq!(got, values);
    }
}
