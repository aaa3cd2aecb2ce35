//! `POST /api/v1/ingest/raw` against a real TimescaleDB: vendor formats in, normalized events
//! stored with their exact bytes, nothing dropped.

mod common;

use common::TestApp;
use tidemark::event::Role;

const MIXED: &str = "<38>Nov 20 10:00:00 bastion sshd[4242]: Failed password for invalid user admin from 198.51.100.23 port 50022 ssh2\n\
<134>Nov 20 10:00:01 arcsight CEF:0|Security|threatmanager|1.0|100|Detected a threat\\| no action|8|src=10.0.0.1 dst=2.1.2.2 spt=1232 dpt=443 act=blocked request=http://evil.example.com/a?b=c\n\
LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^sev=5^srcPort=81^dstPort=21\n\
this line matches no format\n";

async fn post_raw(app: &TestApp, token: &str, query: &str, body: &'static str) -> reqwest::Response {
    app.http
        .post(app.url(&format!("/api/v1/ingest/raw?{query}")))
        .bearer_auth(token)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn mixed_vendor_lines_are_detected_normalized_and_stored_byte_for_byte() {
    let app = TestApp::spawn().await;
    let token = app.db.token("acme", Role::Admin).await;
    let resp = post_raw(&app, &token, "source=edge&tz=Europe/Berlin", MIXED).await;
    assert_eq!(resp.status(), 200);
    let json: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(json["accepted"], 4);
    assert_eq!(
        (json["first_position"].as_i64(), json["last_position"].as_i64()),
        (Some(1), Some(4))
    );

    let events = app.replay(&token, "include_raw=true").await;
    assert_eq!(events.len(), 4);
    let sshd = &events[0];
    assert_eq!(sshd["host"]["hostname"], "bastion");
    assert_eq!(sshd["process"]["name"], "sshd");
    // No zone in an RFC 3164 line: read in the `tz` given (CET in November).
    assert_eq!(sshd["@timestamp"], "2026-11-20T09:00:00Z");
    let iocs = sshd["tidemark"]["iocs"].as_array().unwrap();
    assert!(
        iocs.iter()
            .any(|i| i["value"] == "198.51.100.23" && i["private"] == true)
    );

    let cef = &events[1];
    assert_eq!(cef["event"]["kind"], "alert");
    assert_eq!(cef["event"]["severity"], 8);
    assert_eq!(cef["source"]["ip"], "10.0.0.1");
    assert_eq!(cef["destination"]["port"], 443);
    assert_eq!(cef["observer"]["vendor"], "Security");
    assert_eq!(cef["tidemark"]["kind_rule"], "signature+severity");

    let leef = &events[2];
    assert_eq!(leef["source"]["ip"], "10.0.1.8");
    assert_eq!(leef["destination"]["port"], 21);

    let text = &events[3];
    assert_eq!(text["event"]["kind"], "log");
    assert_eq!(text["message"], "this line matches no format");
    for (event, line) in events.iter().zip(MIXED.lines()) {
        assert_eq!(event["tidemark"]["raw"], line, "raw is the line as sent");
        assert_eq!(event["tidemark"]["source"], "edge");
    }
}

#[tokio::test]
async fn a_line_that_fails_its_named_format_is_stored_as_text_and_reported() {
    let app = TestApp::spawn().await;
    let token = app.db.token("acme", Role::Admin).await;
    let resp = post_raw(
        &app,
        &token,
        "format=cef",
        "CEF:0|only|three\nCEF:0|V|P|1|sig|name|3|src=10.1.1.1\n",
    )
    .await;
    assert_eq!(resp.status(), 200);
    let json: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(json["accepted"], 2);
    let errors = json["parse_errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["index"], 0);
    assert!(errors[0]["error"].as_str().unwrap().starts_with("cef"), "{json}");
    let events = app.replay(&token, "").await;
    assert_eq!(events[0]["message"], "CEF:0|only|three");
    assert!(events[0]["tidemark"]["parse_error"].is_string());
    assert_eq!(events[1]["source"]["ip"], "10.1.1.1");
}

#[tokio::test]
async fn a_windows_event_export_becomes_one_event_per_event_element() {
    let app = TestApp::spawn().await;
    let token = app.db.token("acme", Role::Admin).await;
    let doc = include_str!("corpus/xml/security_4625_export.xml");
    let resp = post_raw(&app, &token, "", doc).await;
    assert_eq!(resp.status(), 200);
    let json: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(json["accepted"], 2, "{json}");
    let events = app.replay(&token, "include_raw=true").await;
    assert_eq!(events[0]["winlog"]["event_id"], 4625);
    assert!(events[0]["tidemark"]["raw"].as_str().unwrap().starts_with("<Event"));
}

#[tokio::test]
async fn bad_format_and_time_zone_parameters_get_400_naming_them() {
    let app = TestApp::spawn().await;
    let token = app.db.token("acme", Role::Admin).await;
    let bad_format = post_raw(&app, &token, "format=yaml", "x").await;
    assert_eq!(bad_format.status(), 400);
    assert!(bad_format.text().await.unwrap().contains("format"));
    let bad_tz = post_raw(&app, &token, "tz=Mars/Olympus", "x").await;
    assert_eq!(bad_tz.status(), 400);
    assert!(bad_tz.text().await.unwrap().contains("tz"));
    let viewer = app.db.token("acme", Role::Viewer).await;
    assert_eq!(post_raw(&app, &viewer, "", "x").await.status(), 403);
}
