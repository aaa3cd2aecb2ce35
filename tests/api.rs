//! The HTTP API against a real TimescaleDB: ingest answers, dead letters, idempotency,
//! limits, authentication and tenant isolation.

mod common;

use common::{TestApp, ssh_event};
use tidemark::config::Settings;
use tidemark::event::Role;

#[tokio::test]
async fn ingest_reports_positions_and_rejects_bad_records_into_the_dead_letter_table() {
    let app = TestApp::spawn().await;
    let token = app.db.token("acme", Role::Ingest).await;
    let body = format!(
        "{}\n{{\"source\":{{\"ip\":\"300.1.1.1\"}}}}\n[1,2]\n{}\n",
        ssh_event(1, None),
        ssh_event(2, None)
    );
    let resp = app.ingest(&token, body).await;
    assert_eq!(resp.status(), 200);
    let json: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(json["accepted"], 2);
    assert_eq!(
        (json["first_position"].as_i64(), json["last_position"].as_i64()),
        (Some(1), Some(2))
    );
    let rejected = json["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[0]["index"], 1);
    assert!(rejected[0]["error"].as_str().unwrap().contains("source.ip"), "{json}");
    assert_eq!(rejected[1]["index"], 2);

    let client = app.db.client().await;
    let rows = client
        .query(
            "SELECT tenant_id, record_index, reason, raw FROM dead_letters ORDER BY record_index",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].get::<_, String>(0), "acme");
    assert_eq!(rows[0].get::<_, i32>(1), 1);
    assert_eq!(rows[0].get::<_, Vec<u8>>(3), b"{\"source\":{\"ip\":\"300.1.1.1\"}}");
    assert_eq!(rows[1].get::<_, Vec<u8>>(3), b"[1,2]");
    let raw: Vec<u8> = client
        .query_one("SELECT raw FROM events WHERE position = 2", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        raw,
        ssh_event(2, None).into_bytes(),
        "raw keeps the record's exact bytes"
    );
}

#[tokio::test]
async fn a_json_array_body_is_accepted_like_ndjson() {
    let app = TestApp::spawn().await;
    let token = app.db.token("acme", Role::Ingest).await;
    let body = format!("[{}, {}]", ssh_event(1, None), ssh_event(2, None));
    let json: serde_json::Value = app.ingest(&token, body).await.json().await.unwrap();
    assert_eq!(json["accepted"], 2);
    assert_eq!(json["last_position"], 2);
}

#[tokio::test]
async fn a_retry_with_the_same_event_ids_stores_nothing_twice() {
    let app = TestApp::spawn().await;
    let token = app.db.token("acme", Role::Ingest).await;
    let body: String = (0..50).map(|i| ssh_event(i, Some(&format!("id-{i}"))) + "\n").collect();
    let first: serde_json::Value = app.ingest(&token, body.clone()).await.json().await.unwrap();
    let second: serde_json::Value = app.ingest(&token, body).await.json().await.unwrap();
    assert_eq!(
        (first["accepted"].as_u64(), first["duplicates"].as_u64()),
        (Some(50), Some(0))
    );
    assert_eq!(
        (second["accepted"].as_u64(), second["duplicates"].as_u64()),
        (Some(50), Some(50))
    );
    assert!(second["first_position"].is_null());
    assert_eq!(app.db.event_count().await, 50);

    // The same id under another tenant is a different event.
    let other = app.db.token("globex", Role::Ingest).await;
    let json: serde_json::Value = app
        .ingest(&other, ssh_event(0, Some("id-0")))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (json["duplicates"].as_u64(), json["first_position"].as_i64()),
        (Some(0), Some(51))
    );
}

#[tokio::test]
async fn malformed_json_gets_400_naming_line_and_offset_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let token = app.db.token("acme", Role::Ingest).await;
    let body = format!("{}\n{{\"message\": \"oops\",}}\n", ssh_event(1, None));
    let resp = app.ingest(&token, body).await;
    assert_eq!(resp.status(), 400);
    let json: serde_json::Value = resp.json().await.unwrap();
    let error = json["error"].as_str().unwrap();
    assert!(error.contains("line 2") && error.contains("byte offset"), "{error}");
    let count = app.db.event_count().await;
    assert_eq!(count, 0, "nothing of a malformed request is stored");
}

#[tokio::test]
async fn the_analyst_action_source_cannot_be_ingested() {
    let app = TestApp::spawn().await;
    let token = app.db.token("acme", Role::Ingest).await;
    let forged = r#"{"event":{"kind":"action","action":"alert.resolve"},"soc":{"objects":["alert:1"]}}"#;
    for path in ["/api/v1/ingest?source=soc", "/api/v1/ingest/raw?source=soc&format=json"] {
        let resp = app
            .http
            .post(app.url(path))
            .bearer_auth(&token)
            .body(forged)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{path}");
        let json: serde_json::Value = resp.json().await.unwrap();
        assert!(json["error"].as_str().unwrap().contains("reserved"), "{path}: {json}");
    }
    // Nor through `event.dataset`, which names the source otherwise.
    let body = r#"{"event":{"kind":"action","dataset":"soc"},"soc":{"objects":["alert:1"]}}"#;
    let json: serde_json::Value = app.ingest(&token, body).await.json().await.unwrap();
    assert_eq!(json["accepted"], 0, "{json}");
    assert!(
        json["rejected"][0]["error"].as_str().unwrap().contains("event.dataset"),
        "{json}"
    );
    let resp = app
        .http
        .post(app.url("/api/v1/ingest/raw?format=json"))
        .bearer_auth(&token)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let stored: Vec<String> = app
        .db
        .client()
        .await
        .query("SELECT source FROM events", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(stored, ["raw"], "raw ingest keeps the record under its own source");
}

#[tokio::test]
async fn tidemarks_own_record_source_cannot_be_ingested() {
    let app = TestApp::spawn().await;
    let token = app.db.token("acme", Role::Ingest).await;
    // Shaped like retention's record of a deletion, which `verify` trusts to explain gaps.
    let forged =
        r#"{"event":{"kind":"action","action":"retention.delete","dataset":"tidemark"},"tidemark":{"path":"x"}}"#;
    let json: serde_json::Value = app.ingest(&token, forged).await.json().await.unwrap();
    assert_eq!(json["accepted"], 0, "{json}");
    let error = json["rejected"][0]["error"].as_str().unwrap();
    assert!(error.contains("event.dataset") && error.contains("reserved"), "{json}");
    let resp = app
        .http
        .post(app.url("/api/v1/ingest?source=tidemark"))
        .bearer_auth(&token)
        .body(r#"{"message":"hello"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(app.db.event_count().await, 0);
}

#[tokio::test]
async fn an_oversize_body_gets_413() {
    let settings = Settings {
        max_body_bytes: 4096,
        ..Settings::default()
    };
    let app = TestApp::spawn_with(settings).await;
    let token = app.db.token("acme", Role::Ingest).await;
    let body: String = (0..100).map(|i| ssh_event(i, None) + "\n").collect();
    let resp = app.ingest(&token, body).await;
    assert_eq!(resp.status(), 413);
    let small = app.ingest(&token, ssh_event(1, None)).await;
    assert_eq!(small.status(), 200);
}

#[tokio::test]
async fn missing_or_invalid_tokens_get_401_and_a_viewer_cannot_ingest() {
    let app = TestApp::spawn().await;
    let viewer = app.db.token("acme", Role::Viewer).await;
    let no_token = app
        .http
        .post(app.url("/api/v1/ingest"))
        .body(ssh_event(1, None))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 401);
    let bad = app
        .ingest(
            "tmk_0000000000000000000000000000000000000000000000000000000000000000",
            ssh_event(1, None),
        )
        .await;
    assert_eq!(bad.status(), 401);
    let garbage = app
        .http
        .get(app.url("/api/v1/replay"))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 401);
    let forbidden = app.ingest(&viewer, ssh_event(1, None)).await;
    assert_eq!(forbidden.status(), 403);
    let ingest_only = app.db.token("acme", Role::Ingest).await;
    let replay = app
        .http
        .get(app.url("/api/v1/replay"))
        .bearer_auth(&ingest_only)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 403, "an ingest token cannot read");
    let health = app.http.get(app.url("/api/health")).send().await.unwrap();
    assert_eq!(health.status(), 200, "health needs no token");
}

#[tokio::test]
async fn another_tenants_token_sees_nothing() {
    let app = TestApp::spawn().await;
    let acme = app.db.token("acme", Role::Admin).await;
    let globex = app.db.token("globex", Role::Admin).await;
    let body: String = (0..10).map(|i| ssh_event(i, None) + "\n").collect();
    assert_eq!(app.ingest(&acme, body).await.status(), 200);
    assert_eq!(app.ingest(&globex, ssh_event(99, None)).await.status(), 200);

    let acme_events = app.replay(&acme, "").await;
    let globex_events = app.replay(&globex, "").await;
    assert_eq!(acme_events.len(), 10);
    assert_eq!(globex_events.len(), 1);
    assert_eq!(globex_events[0]["tidemark"]["position"], 11);
    assert!(globex_events[0]["message"].as_str().unwrap().ends_with("#99"));
    let by_position = app.replay(&globex, "from_position=1&to_position=10").await;
    assert!(by_position.is_empty(), "positions of another tenant stay invisible");
}

#[tokio::test]
async fn replay_filters_by_kind_source_position_and_time() {
    let app = TestApp::spawn().await;
    let token = app.db.token("acme", Role::Admin).await;
    let body = [
        r#"{"@timestamp":"2026-11-01T00:00:00Z","event":{"kind":"log","dataset":"sshd"},"message":"a"}"#,
        r#"{"@timestamp":"2026-11-02T00:00:00Z","event":{"kind":"alert","dataset":"ids","severity":8},"message":"b"}"#,
        r#"{"@timestamp":"2026-11-03T00:00:00Z","event":{"kind":"log","dataset":"sudo"},"message":"c"}"#,
        r#"{"message":"d"}"#,
    ]
    .join("\n");
    assert_eq!(app.ingest(&token, body).await.status(), 200);
    let messages = |events: Vec<serde_json::Value>| -> Vec<String> {
        events
            .iter()
            .map(|e| e["message"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(messages(app.replay(&token, "").await), ["a", "b", "c", "d"]);
    assert_eq!(messages(app.replay(&token, "kind=alert").await), ["b"]);
    assert_eq!(messages(app.replay(&token, "source=sshd,sudo").await), ["a", "c"]);
    assert_eq!(messages(app.replay(&token, "source=http").await), ["d"]);
    assert_eq!(
        messages(app.replay(&token, "from_position=2&to_position=3").await),
        ["b", "c"]
    );
    assert_eq!(
        messages(
            app.replay(&token, "from=2026-11-02T00:00:00Z&to=2026-11-03T00:00:00Z")
                .await
        ),
        ["b"]
    );
    assert_eq!(messages(app.replay(&token, "limit=2").await), ["a", "b"]);
    let all_recorded = app
        .replay(&token, "time_field=recorded_at&from=2020-01-01T00:00:00Z")
        .await;
    assert_eq!(all_recorded.len(), 4);
    let bad = app
        .http
        .get(app.url("/api/v1/replay?kind=weird"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("kind"));
}

#[tokio::test]
async fn replay_streams_many_pages_in_position_order() {
    let settings = Settings {
        replay_page_size: 7,
        ..Settings::default()
    };
    let app = TestApp::spawn_with(settings).await;
    let token = app.db.token("acme", Role::Admin).await;
    for chunk in 0..5 {
        let body: String = (0..20).map(|i| ssh_event(chunk * 20 + i, None) + "\n").collect();
        assert_eq!(app.ingest(&token, body).await.status(), 200);
    }
    let events = app.replay(&token, "").await;
    let positions: Vec<i64> = events
        .iter()
        .map(|e| e["tidemark"]["position"].as_i64().unwrap())
        .collect();
    assert_eq!(positions, (1..=100).collect::<Vec<_>>());
}

#[tokio::test]
async fn metric_samples_are_stored_and_bad_ones_name_their_index() {
    let app = TestApp::spawn().await;
    let token = app.db.token("acme", Role::Ingest).await;
    let ok = app
        .http
        .post(app.url("/api/v1/metrics"))
        .bearer_auth(&token)
        .body(r#"[{"name":"cpu.load","value":0.5,"labels":{"host":"a"}},{"name":"mem","value":3,"timestamp":"2026-11-20T00:00:00Z"}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let bad = app
        .http
        .post(app.url("/api/v1/metrics"))
        .bearer_auth(&token)
        .body("{\"name\":\"a\",\"value\":1}\n{\"name\":\"b\"}\n")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("sample 1"));
    let rows = app
        .db
        .client()
        .await
        .query("SELECT name, value, labels->>'host' FROM metrics ORDER BY name", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "the refused request stored nothing");
    assert_eq!(
        (rows[0].get::<_, String>(0), rows[0].get::<_, f64>(1)),
        ("cpu.load".into(), 0.5)
    );
    assert_eq!(rows[0].get::<_, Option<String>>(2).as_deref(), Some("a"));
}

#[tokio::test]
async fn health_and_prometheus_metrics_report_the_appender() {
    let app = TestApp::spawn().await;
    let admin = app.db.token("acme", Role::Admin).await;
    let analyst = app.db.token("acme", Role::Analyst).await;
    assert_eq!(app.ingest(&admin, ssh_event(1, None)).await.status(), 200);
    let health: serde_json::Value = app
        .http
        .get(app.url("/api/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["migrations"]["current"], true);
    assert_eq!(health["appender"]["connected"], true);
    assert!(health["appender"]["last_commit_age_ms"].as_i64().unwrap() >= 0);

    let metrics = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(text.contains("tidemark_events_appended_total 1"), "{text}");
    assert!(text.contains(r#"route="/api/v1/ingest",status="200""#), "{text}");
    let denied = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth(&analyst)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
}

#[tokio::test]
async fn responses_carry_a_request_id() {
    let app = TestApp::spawn().await;
    let resp = app.http.get(app.url("/api/health")).send().await.unwrap();
    let id = resp.headers().get("x-request-id").expect("x-request-id header");
    assert_eq!(id.to_str().unwrap().len(), 36);
    let echoed = app
        .http
        .get(app.url("/api/health"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "abc-123");
}
