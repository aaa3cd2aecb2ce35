use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde_json::json;

use super::*;

fn ctx() -> ParseContext {
    ParseContext::new(Utc.with_ymd_and_hms(2024, 3, 12, 12, 0, 0).unwrap())
}

const BUNDLE: &str = include_str!("../../../tests/corpus/stix/nighthawk_bundle.json");

fn by_id<'a>(records: &'a [DocRecord], id: &str) -> &'a Fields {
    &records
        .iter()
        .find(|r| r.fields.get("stix.id").and_then(Value::as_str) == Some(id))
        .unwrap_or_else(|| panic!("no object {id}"))
        .fields
}

#[test]
fn a_bundle_yields_one_record_per_object_spanning_its_bytes() {
    let records = parse(BUNDLE, &ctx()).unwrap();
    assert_eq!(records.len(), 14);
    for r in &records {
        let raw: Value = serde_json::from_str(&BUNDLE[r.span.clone()]).unwrap();
        assert_eq!(raw["id"], r.fields["stix.id"]);
        assert_eq!(raw["type"], r.fields["stix.type"]);
    }
}

#[test]
fn an_ipv4_indicator_is_a_threat_intel_event_with_ecs_fields() {
    let records = parse(BUNDLE, &ctx()).unwrap();
    let f = by_id(&records, "indicator--0b1f6c2e-3a4d-4e5f-8a9b-1c2d3e4f5a61");
    let expected = [
        ("event.kind", json!("threat_intel")),
        ("tidemark.kind_rule", json!("stix.indicator")),
        ("threat.indicator.type", json!("ipv4-addr")),
        ("threat.indicator.value", json!("198.51.100.23")),
        ("threat.indicator.ip", json!("198.51.100.23")),
        ("threat.indicator.confidence", json!(85)),
        ("stix.pattern", json!("[ipv4-addr:value = '198.51.100.23']")),
        ("stix.name", json!("NightHawk C2 (IPv4)")),
        ("stix.valid_from", json!("2024-03-10T08:00:00Z")),
        ("stix.valid_until", json!("2024-06-10T08:00:00Z")),
        ("stix.labels", json!(["c2", "nighthawk"])),
        ("stix.indicator_types", json!(["malicious-activity"])),
        ("stix.type", json!("indicator")),
        ("@timestamp", json!("2024-03-10T08:00:00.000000Z")),
        ("message", json!("NightHawk C2 (IPv4)")),
    ];
    for (key, value) in expected {
        assert_eq!(f.get(key), Some(&value), "{key}");
    }
    assert_eq!(f["stix.kill_chain_phases"][0]["phase_name"], "command-and-control");
}

#[test]
fn each_pattern_type_in_the_bundle_gets_its_typed_field() {
    let records = parse(BUNDLE, &ctx()).unwrap();
    let cases = [
        (
            "1c2a7d3f-4b5e-4f60-9bac-2d3e4f5a6b72",
            "ipv6-addr",
            "threat.indicator.ip",
            "2001:db8:85a3::8a2e:370:7334",
        ),
        (
            "2d3b8e4a-5c6f-4071-8cbd-3e4f5a6b7c83",
            "domain-name",
            "threat.indicator.url.domain",
            "cdn-update.nighthawk.example",
        ),
        (
            "3e4c9f5b-6d70-4182-9dce-4f5a6b7c8d94",
            "url",
            "threat.indicator.url.full",
            "http://198.51.100.23/a.ps1",
        ),
        (
            "4f5d0a6c-7e81-4293-8edf-5a6b7c8d9ea5",
            "file",
            "threat.indicator.file.hash.sha256",
            "9f914d42706fe215501044acd85a32d58aaef1419d404fddfa5d3b48f66ccd9f",
        ),
        (
            "5a6e1b7d-8f92-43a4-9fe0-6b7c8d9eafb6",
            "file",
            "threat.indicator.file.hash.md5",
            "7c955a0abc747f57ccc4324480737ef7",
        ),
        (
            "6b7f2c8e-90a3-44b5-8a01-7c8d9eafb0c7",
            "file",
            "threat.indicator.file.hash.sha1",
            "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
        ),
        (
            "7c803d9f-a1b4-45c6-9b12-8d9eafb0c1d8",
            "email-addr",
            "threat.indicator.email.address",
            "it-support@acme-helpdesk.example",
        ),
        (
            "8d914ea0-b2c5-46d7-8c23-9eafb0c1d2e9",
            "url",
            "threat.indicator.url.full",
            "https://login.acme-helpdesk.example/o365/it's-you",
        ),
    ];
    for (uuid, kind, field, value) in cases {
        let f = by_id(&records, &format!("indicator--{uuid}"));
        assert_eq!(f["threat.indicator.type"], kind, "{uuid}");
        assert_eq!(f[field], value, "{uuid}");
        assert_eq!(f["threat.indicator.value"], value, "{uuid}");
    }
    let compound = by_id(&records, "indicator--8d914ea0-b2c5-46d7-8c23-9eafb0c1d2e9");
    assert!(
        compound["stix.pattern"]
            .as_str()
            .unwrap()
            .contains(" OR [domain-name:value")
    );
    assert!(!compound.contains_key("threat.indicator.confidence"));
}

#[test]
fn an_unsupported_pattern_still_yields_a_threat_intel_event() {
    let records = parse(BUNDLE, &ctx()).unwrap();
    let f = by_id(&records, "indicator--9ea25fb1-c3d6-47e8-9d34-afb0c1d2e3fa");
    assert_eq!(f["event.kind"], "threat_intel");
    assert!(f["stix.pattern"].as_str().unwrap().starts_with("[network-traffic:"));
    assert!(!f.contains_key("threat.indicator.value") && !f.contains_key("threat.indicator.type"));
}

#[test]
fn a_sighting_is_an_alert_timed_at_its_last_sighting() {
    let records = parse(BUNDLE, &ctx()).unwrap();
    let f = by_id(&records, "sighting--b04c71d3-e5f8-490a-9f56-c1d2e3f4051c");
    assert_eq!(f["event.kind"], "alert");
    assert_eq!(f["tidemark.kind_rule"], "stix.sighting");
    assert_eq!(
        f["stix.sighting_of_ref"],
        "indicator--0b1f6c2e-3a4d-4e5f-8a9b-1c2d3e4f5a61"
    );
    assert_eq!(f["stix.count"], 3);
    assert_eq!(f["stix.first_seen"], "2024-03-12T09:02:11Z");
    assert_eq!(f["stix.last_seen"], "2024-03-12T09:05:41Z");
    assert_eq!(f["@timestamp"], "2024-03-12T09:05:41.000000Z");
    assert_eq!(f["message"], "Outbound connections from WKS-042 to the NightHawk C2.");
}

#[test]
fn other_objects_keep_their_properties_under_stix_without_a_kind() {
    let records = parse(BUNDLE, &ctx()).unwrap();
    let malware = by_id(&records, "malware--a7c3e0f4-2b9d-4e1a-8f6c-3d5b7e9a1c02");
    assert_eq!(malware["stix.type"], "malware");
    assert_eq!(malware["stix.is_family"], true);
    assert_eq!(
        malware["stix.malware_types"],
        json!(["dropper", "remote-access-trojan"])
    );
    assert_eq!(malware["@timestamp"], "2024-03-09T16:20:00.000000Z");
    assert_eq!(malware["message"], "NightHawk Loader");
    assert!(!malware.contains_key("event.kind") && !malware.contains_key("tidemark.kind_rule"));
    let identity = by_id(&records, "identity--5f0c2f2e-8c1b-4f44-9a6e-0c7e3a8f1d21");
    assert_eq!(identity["stix.identity_class"], "organization");
    assert_eq!(identity["stix.name"], "ACME CERT");
}

#[test]
fn nested_objects_are_flattened_with_dots() {
    let doc = r#"{"type": "file", "id": "file--5f0c2f2e-8c1b-4f44-9a6e-0c7e3a8f1d21",
        "hashes": {"SHA-256": "aa", "MD5": "bb"}, "extensions": {"ntfs-ext": {"sid": "S-1"}}, "empty": {}}"#;
    let records = parse(doc, &ctx()).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].span, 0..doc.len());
    let f = &records[0].fields;
    assert_eq!(f["stix.hashes.SHA-256"], "aa");
    assert_eq!(f["stix.hashes.MD5"], "bb");
    assert_eq!(f["stix.extensions.ntfs-ext.sid"], "S-1");
    assert_eq!(f["stix.empty"], json!({}));
    assert!(!f.contains_key("@timestamp"));
}

#[test]
fn a_json_array_of_objects_is_one_record_per_object() {
    let doc = r#" [ {"type": "indicator", "pattern": "[url:value = 'http://a']", "created": "2024-01-02T03:04:05.678Z"},
        {"type": "x-acme-note", "text": "hi"} ] "#;
    let records = parse(doc, &ctx()).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(
        &doc[records[1].span.clone()],
        r#"{"type": "x-acme-note", "text": "hi"}"#
    );
    assert_eq!(records[0].fields["@timestamp"], "2024-01-02T03:04:05.678000Z");
    assert_eq!(records[0].fields["threat.indicator.url.full"], "http://a");
}

#[test]
fn non_stix_pattern_languages_are_not_read_as_stix() {
    let doc = r#"{"type": "indicator", "pattern_type": "yara", "pattern": "[url:value = 'http://a']"}"#;
    let f = &parse(doc, &ctx()).unwrap()[0].fields;
    assert_eq!(f["event.kind"], "threat_intel");
    assert!(!f.contains_key("threat.indicator.value"));
}

#[test]
fn an_observed_data_object_with_an_objects_map_is_not_a_bundle() {
    let doc = r#"{"type": "observed-data", "objects": {"0": {"type": "ipv4-addr", "value": "10.0.0.1"}}}"#;
    let records = parse(doc, &ctx()).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].fields["stix.objects.0.value"], "10.0.0.1");
}

#[test]
fn broken_documents_say_what_and_where() {
    let doc = "{\"type\": \"bundle\",\n \"objects\": [}";
    let err = parse(doc, &ctx()).unwrap_err();
    assert!(
        matches!(
            err,
            StixError::Json {
                line: 2,
                column: 14,
                offset: 32,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(&doc[32..], "}");
    assert_eq!(
        parse(r#"{"type": "bundle", "objects": [{"type": "url"}, 7]}"#, &ctx()).unwrap_err(),
        StixError::NotAnObject { index: 1, offset: 48 }
    );
    assert_eq!(
        parse(r#"[{"type": "url"}, {"id": "x"}]"#, &ctx()).unwrap_err(),
        StixError::MissingType { index: 1, offset: 18 }
    );
    assert_eq!(
        parse(r#"{"type": "bundle", "objects": {}}"#, &ctx()).unwrap_err(),
        StixError::ObjectsNotAnArray { offset: 30 }
    );
    assert_eq!(parse("\"bundle\"", &ctx()).unwrap_err(), StixError::NotJsonObject);
    assert!(
        parse(r#"{"type": "bundle", "id": "bundle--1"}"#, &ctx())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn looks_like_stix_accepts_bundles_and_typed_objects_only() {
    assert!(looks_like_stix(BUNDLE));
    assert!(looks_like_stix(
        r#"{"type": "indicator", "id": "indicator--0b1f6c2e-3a4d-4e5f-8a9b-1c2d3e4f5a61", "pattern": "[url:value = 'x']"}"#
    ));
    assert!(looks_like_stix(
        r#"[{"type": "x-acme-thing", "id": "x-acme-thing--0b1f6c2e-3a4d-4e5f-8a9b-1c2d3e4f5a61"}]"#
    ));
    let not_stix = [
        r#"{"type": "indicator", "id": "42"}"#,
        r#"{"type": "alert", "id": "alert--0b1f6c2e-3a4d-4e5f-8a9b-1c2d3e4f5a61"}"#,
        r#"{"type": "url", "id": "indicator--0b1f6c2e-3a4d-4e5f-8a9b-1c2d3e4f5a61"}"#,
        r#"{"type": "bundle", "id": "b1", "objects": []}"#,
        r#"[{"message": "hello"}]"#,
        r#"[]"#,
        r#"{"type": 7}"#,
        "not json",
    ];
    for doc in not_stix {
        assert!(!looks_like_stix(doc), "{doc}");
    }
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(doc in "\\PC{0,200}") {
        let _ = parse(&doc, &ctx());
        let _ = looks_like_stix(&doc);
    }

    #[test]
    fn arbitrary_patterns_never_panic(pattern in "[\\[\\]()'\\\\a-z:.= -]{0,60}") {
        let doc = json!({"type": "indicator", "pattern": pattern}).to_string();
        let records = parse(&doc, &ctx()).unwrap();
        prop_assert_eq!(records.len(), 1);
    }
}
