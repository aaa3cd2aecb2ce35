//! SQL hunts over HTTP against a real TimescaleDB: results and every output format, limits and
//! `partial`, parameters and time bounds, tenant isolation under hostile SQL, refused
//! statements, timeouts and memory limits, dashboard aggregates, and the same answers after
//! the data moved to the cold tier.

mod common;

use std::io::Cursor;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type};
use chrono::{DateTime, Utc};
use common::TestApp;
use common::hunt::{Gen, base_time, ingest_range};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Value, json};
use tidemark::config::Settings;
use tidemark::event::Role;

const N: usize = 40;

/// Tens of billions of joined rows, streamed in constant memory: far beyond any timeout a test sets.
const SLOW: &str = "SELECT count(*) FROM events, generate_series(1, 1000000000) WHERE severity + value = 17";

/// An app with `N` events for acme (positions 1..=N), then `N` for rival; acme's analyst token.
async fn two_tenants(settings: Settings) -> (TestApp, String, String) {
    let app = TestApp::spawn_with(settings).await;
    let acme_admin = app.db.token("acme", Role::Admin).await;
    let rival = app.db.token("rival", Role::Admin).await;
    ingest_range(&app, &acme_admin, "acme", 0..N).await;
    ingest_range(&app, &rival, "rival", 0..N).await;
    let acme = app.db.token("acme", Role::Analyst).await;
    (app, acme, rival)
}

fn event_i(i: usize) -> Gen<'static> {
    Gen { tenant: "acme", i }
}

/// (position, user_name, severity) of every row, whatever the integer and string types.
fn triples(batches: &[RecordBatch]) -> Vec<(i64, String, i64)> {
    let mut out = Vec::new();
    for b in batches {
        let pos = arrow::compute::cast(b.column(0), &DataType::Int64).unwrap();
        let user = arrow::compute::cast(b.column(1), &DataType::Utf8).unwrap();
        let sev = arrow::compute::cast(b.column(2), &DataType::Int64).unwrap();
        let (pos, user, sev) = (
            pos.as_primitive::<Int64Type>(),
            user.as_string::<i32>(),
            sev.as_primitive::<Int64Type>(),
        );
        for i in 0..b.num_rows() {
            out.push((pos.value(i), user.value(i).to_owned(), sev.value(i)));
        }
    }
    out
}

fn expected_triples() -> Vec<(i64, String, i64)> {
    (0..N)
        .map(|i| (i as i64 + 1, event_i(i).user(), event_i(i).severity()))
        .collect()
}

#[tokio::test]
async fn a_hunt_returns_only_the_callers_rows_with_columns_and_stats() {
    let (app, acme, _) = two_tenants(Settings::default()).await;
    let sql = "SELECT position, user_name, severity, event_time, source_ip, kind FROM events ORDER BY position";
    let doc = app.hunt_ok(&acme, json!({ "sql": sql })).await;
    let columns: Vec<&str> = doc["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        ["position", "user_name", "severity", "event_time", "source_ip", "kind"]
    );
    let rows = doc["rows"].as_array().unwrap();
    assert_eq!(rows.len(), N);
    for (i, row) in rows.iter().enumerate() {
        let g = event_i(i);
        assert_eq!(row["position"], json!(i + 1));
        assert_eq!(
            (row["user_name"].as_str(), row["severity"].as_i64()),
            (Some(g.user().as_str()), Some(g.severity()))
        );
        assert_eq!(
            row["source_ip"],
            json!(g.source_ip()),
            "inet comes back as a bare address"
        );
        assert_eq!(row["kind"], json!(g.kind()));
        let t: DateTime<Utc> = row["event_time"].as_str().unwrap().parse().unwrap();
        assert_eq!(t, g.time());
    }
    assert_eq!(doc["partial"], json!(false));
    let stats = &doc["stats"];
    assert_eq!(
        (stats["hot_rows"].as_u64(), stats["rows"].as_u64()),
        (Some(N as u64), Some(N as u64))
    );
    assert_eq!(
        (stats["cold_rows"].as_u64(), stats["cold_files"].as_u64()),
        (Some(0), Some(0))
    );
}

#[tokio::test]
async fn every_output_format_parses_back_to_the_same_rows() {
    let (app, acme, _) = two_tenants(Settings::default()).await;
    let sql = "SELECT position, user_name, severity FROM events ORDER BY position";
    let fetch = |format: &'static str| {
        let app = &app;
        let acme = &acme;
        async move {
            let resp = app.hunt(acme, json!({ "sql": sql, "format": format })).await;
            assert_eq!(resp.status(), 200, "{format}");
            let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
            (ct, resp.bytes().await.unwrap())
        }
    };
    let expected = expected_triples();

    let (ct, body) = fetch("ndjson").await;
    assert_eq!(ct, "application/x-ndjson");
    let mut lines: Vec<Value> = body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let summary = lines.pop().unwrap();
    assert_eq!(
        (summary["partial"].clone(), summary["stats"]["rows"].clone()),
        (json!(false), json!(N))
    );
    let got: Vec<(i64, String, i64)> = lines
        .iter()
        .map(|r| {
            (
                r["position"].as_i64().unwrap(),
                r["user_name"].as_str().unwrap().to_owned(),
                r["severity"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, expected, "ndjson");

    let (ct, body) = fetch("csv").await;
    assert!(ct.starts_with("text/csv"), "{ct}");
    let mut reader = csv::Reader::from_reader(Cursor::new(body.to_vec()));
    assert_eq!(reader.headers().unwrap(), vec!["position", "user_name", "severity"]);
    let got: Vec<(i64, String, i64)> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].parse().unwrap(), r[1].to_owned(), r[2].parse().unwrap())
        })
        .collect();
    assert_eq!(got, expected, "csv");

    let (ct, body) = fetch("arrow").await;
    assert_eq!(ct, "application/vnd.apache.arrow.stream");
    let reader = arrow::ipc::reader::StreamReader::try_new(Cursor::new(body.to_vec()), None).unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    assert_eq!(triples(&batches), expected, "arrow");

    let (ct, body) = fetch("parquet").await;
    assert_eq!(ct, "application/vnd.apache.parquet");
    let builder = ParquetRecordBatchReaderBuilder::try_new(body).unwrap();
    let kv = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .cloned()
        .unwrap_or_default();
    let stats = kv
        .iter()
        .find(|k| k.key == "tidemark.stats")
        .and_then(|k| k.value.clone())
        .unwrap();
    let stats: Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["rows"], json!(N), "the footer carries the statistics");
    let batches: Vec<RecordBatch> = builder.build().unwrap().map(Result::unwrap).collect();
    assert_eq!(triples(&batches), expected, "parquet");

    let resp = app.hunt(&acme, json!({ "sql": sql, "format": "xml" })).await;
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn a_limit_cuts_the_result_and_marks_it_partial_only_when_rows_were_left_out() {
    let (app, acme, _) = two_tenants(Settings::default()).await;
    let sql = "SELECT position FROM events ORDER BY position";
    for (limit, rows, partial) in [(7, 7, true), (N - 1, N - 1, true), (N, N, false), (N + 5, N, false)] {
        let doc = app.hunt_ok(&acme, json!({ "sql": sql, "limit": limit })).await;
        let got: Vec<u64> = doc["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["position"].as_u64().unwrap())
            .collect();
        assert_eq!(got, (1..=rows as u64).collect::<Vec<_>>(), "limit {limit}");
        assert_eq!(doc["partial"], json!(partial), "limit {limit}");
    }
    for limit in [0, 10_000_000] {
        let resp = app.hunt(&acme, json!({ "sql": sql, "limit": limit })).await;
        assert_eq!(resp.status(), 400, "limit {limit}");
    }
}

#[tokio::test]
async fn positional_params_and_from_to_bound_the_rows() {
    let (app, acme, _) = two_tenants(Settings::default()).await;
    let count = |doc: &Value| doc["rows"][0]["n"].as_i64().unwrap();
    let doc = app
        .hunt_ok(&acme, json!({"sql": "SELECT count(*) AS n FROM events WHERE severity >= $1 AND user_name = $2", "params": [5, "acme-user-1"]}))
        .await;
    let expected = (0..N)
        .filter(|&i| event_i(i).severity() >= 5 && event_i(i).user() == "acme-user-1")
        .count();
    assert_eq!(count(&doc), expected as i64);
    assert_eq!(
        (&doc["stats"]["pushed_down"], &doc["stats"]["hot_rows"]),
        (&json!(true), &json!(1)),
        "the whole count ran in PostgreSQL, which sent one row"
    );

    let cutoff = base_time() + chrono::Duration::minutes(120);
    let doc = app
        .hunt_ok(
            &acme,
            json!({"sql": "SELECT count(*) AS n FROM events WHERE event_time < $1", "params": [cutoff.to_rfc3339()]}),
        )
        .await;
    assert_eq!(
        count(&doc),
        (0..N).filter(|&i| event_i(i).time() < cutoff).count() as i64,
        "a text param compared with a timestamp"
    );

    let (from, to) = (
        base_time() + chrono::Duration::hours(1),
        base_time() + chrono::Duration::hours(3),
    );
    let doc = app
        .hunt_ok(&acme, json!({"sql": "SELECT count(*) AS n, min(event_time) AS lo, max(event_time) AS hi FROM events", "from": from, "to": to}))
        .await;
    let inside: Vec<usize> = (0..N)
        .filter(|&i| event_i(i).time() >= from && event_i(i).time() < to)
        .collect();
    assert_eq!(count(&doc), inside.len() as i64);
    let lo: DateTime<Utc> = doc["rows"][0]["lo"].as_str().unwrap().parse().unwrap();
    let hi: DateTime<Utc> = doc["rows"][0]["hi"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        (lo, hi),
        (event_i(inside[0]).time(), event_i(*inside.last().unwrap()).time())
    );

    for (params, what) in [(json!([]), "$1"), (json!(["high"]), "$1")] {
        let resp = app
            .hunt(
                &acme,
                json!({"sql": "SELECT * FROM events WHERE severity > $1", "params": params}),
            )
            .await;
        assert_eq!(resp.status(), 400, "{params}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["code"], "invalid_parameter", "{body}");
        assert!(body["error"].as_str().unwrap().contains(what), "{body}");
    }
}

#[tokio::test]
async fn hostile_sql_never_shows_another_tenants_rows() {
    let (app, acme, rival) = two_tenants(Settings::default()).await;
    let now = Utc::now();
    common::hunt::ingest_metrics(&app, &rival, &[("rival-host", now, 1.0)]).await;
    let acme_admin = app.db.token("acme", Role::Admin).await;
    common::hunt::ingest_metrics(&app, &acme_admin, &[("acme-host", now, 2.0)]).await;
    let n = N as i64;
    // (SQL, rows it must return for acme)
    let visible: &[(&str, i64)] = &[
        ("SELECT * FROM events WHERE tenant_id <> 'acme'", 0),
        ("SELECT * FROM events WHERE tenant_id = 'rival'", 0),
        ("SELECT user_name FROM events WHERE user_name LIKE 'rival%' OR 1 = 1", n),
        (
            "SELECT user_name FROM events WHERE tenant_id = 'rival' OR tenant_id IS NULL OR true",
            n,
        ),
        (
            "SELECT * FROM events WHERE position IN (SELECT position FROM events WHERE tenant_id = 'rival')",
            0,
        ),
        (
            "SELECT * FROM events WHERE EXISTS (SELECT 1 FROM events e2 WHERE e2.tenant_id = 'rival')",
            0,
        ),
        (
            "SELECT user_name FROM events UNION ALL SELECT user_name FROM events WHERE tenant_id = 'rival'",
            n,
        ),
        (
            "WITH other AS (SELECT * FROM events WHERE tenant_id != 'acme') SELECT * FROM other",
            0,
        ),
        // Rival's positions lie in the generated range; none of them may join.
        (
            "WITH RECURSIVE r(p) AS (SELECT max(position) FROM events UNION ALL SELECT p + 1 FROM r WHERE p < 1000) \
          SELECT e.user_name FROM events e JOIN r ON e.position = r.p",
            1,
        ),
        (
            "SELECT * FROM events WHERE CAST(tenant_id AS BYTEA) = CAST('rival' AS BYTEA)",
            0,
        ),
        (
            "SELECT * FROM events WHERE CAST(position AS VARCHAR) > '0' AND tenant_id::varchar <> 'acme'",
            0,
        ),
        ("SELECT CAST(raw AS VARCHAR) AS r FROM events", n),
        (
            "SELECT a.user_name FROM events a JOIN events b ON a.tenant_id <> b.tenant_id",
            0,
        ),
        ("SELECT * FROM datafusion.public.events WHERE tenant_id = 'rival'", 0),
        ("SELECT * FROM metrics WHERE tenant_id <> 'acme'", 0),
        ("SELECT labels FROM metrics", 1),
    ];
    for (sql, rows) in visible {
        let resp = app.hunt(&acme, json!({ "sql": sql })).await;
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert_eq!(status, 200, "{sql}: {text}");
        assert!(
            !text.contains("rival") && !text.contains("10.2.0."),
            "{sql} leaked: {text}"
        );
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["rows"].as_array().unwrap().len() as i64, *rows, "{sql}: {text}");
    }
    let sql = "EXPLAIN SELECT * FROM events WHERE tenant_id <> 'acme' AND severity > 2";
    let doc = app.hunt_ok(&acme, json!({ "sql": sql })).await;
    let plan: Vec<&str> = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["plan"].as_str().unwrap())
        .collect();
    let plan = plan.join("\n");
    assert!(
        plan.contains("HotExec") && plan.contains("tenant_id = $1::text"),
        "{plan}"
    );
    assert!(
        plan.contains("\"severity\" > $3::bigint"),
        "the filter runs in PostgreSQL, as a parameter: {plan}"
    );
    let hot = plan.lines().find(|l| l.contains("HotExec")).unwrap();
    assert!(
        !hot.contains("rival") && !hot.contains("acme"),
        "values stay out of the SQL text: {hot}"
    );
    let doc = app
        .hunt_ok(
            &acme,
            json!({"sql": "SELECT count(*) AS n, max(position) AS p FROM events"}),
        )
        .await;
    assert_eq!(
        (doc["rows"][0]["n"].as_i64(), doc["rows"][0]["p"].as_i64()),
        (Some(n), Some(n)),
        "rival holds N+1..=2N"
    );

    for sql in [
        "SELECT * FROM information_schema.tables",
        "SHOW TABLES",
        "SELECT * FROM tenants",
        "SELECT * FROM api_tokens",
        "SELECT * FROM pg_catalog.pg_tables",
    ] {
        let resp = app.hunt(&acme, json!({ "sql": sql })).await;
        assert_eq!(resp.status(), 400, "{sql}");
        assert!(!resp.text().await.unwrap().contains("rival"), "{sql}");
    }
}

#[tokio::test]
async fn statements_that_write_or_read_files_are_refused_with_400() {
    let (app, acme, _) = two_tenants(Settings::default()).await;
    let copy_target = std::env::temp_dir().join(format!("tidemark-hunt-copy-{}.csv", std::process::id()));
    let copy = format!("COPY (SELECT * FROM events) TO '{}'", copy_target.display());
    let read_only = [
        "CREATE TABLE stolen AS SELECT * FROM events",
        "CREATE TABLE t (a INT)",
        "CREATE VIEW v AS SELECT * FROM events",
        "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'",
        "INSERT INTO events SELECT * FROM events",
        "DELETE FROM events",
        "UPDATE events SET kind = 'log'",
        "DROP TABLE events",
        copy.as_str(),
        "SET datafusion.execution.batch_size = 1",
        "PREPARE p AS SELECT 1",
    ];
    for sql in read_only {
        let resp = app.hunt(&acme, json!({ "sql": sql })).await;
        assert_eq!(resp.status(), 400, "{sql}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["code"], "read_only", "{sql}: {body}");
        assert!(body["error"].as_str().unwrap().contains("read-only"), "{sql}: {body}");
    }
    for sql in [
        "SELECT * FROM read_parquet('/etc/passwd')",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM '/etc/passwd'",
        "SELECT 1; DROP TABLE events",
    ] {
        let resp = app.hunt(&acme, json!({ "sql": sql })).await;
        assert_eq!(resp.status(), 400, "{sql}");
        let body: Value = resp.json().await.unwrap();
        assert!(!body["error"].as_str().unwrap().contains("root:"), "{sql}: {body}");
    }
    assert!(!copy_target.exists(), "COPY must not write a file");
    assert_eq!(app.db.event_count().await, 2 * N as i64);
    let rows = app.hunt_rows(&acme, "SELECT count(*) AS n FROM events").await;
    assert_eq!(rows[0]["n"], json!(N));
}

#[tokio::test]
async fn a_query_past_its_timeout_gets_408_and_the_server_keeps_answering() {
    let (app, acme, _) = two_tenants(Settings::default()).await;
    let started = Instant::now();
    let sql = SLOW;
    let resp = app.hunt(&acme, json!({ "sql": sql, "timeout_ms": 200 })).await;
    assert_eq!(resp.status(), 408);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "query_timeout", "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the timeout stopped the query: {:?}",
        started.elapsed()
    );
    for timeout in [0, 10_000_000] {
        let resp = app
            .hunt(&acme, json!({ "sql": "SELECT 1", "timeout_ms": timeout }))
            .await;
        assert_eq!(resp.status(), 400, "timeout {timeout}");
    }
    assert_eq!(
        app.hunt_rows(&acme, "SELECT count(*) AS n FROM events").await[0]["n"],
        json!(N)
    );
}

#[tokio::test]
async fn hunts_beyond_the_concurrency_limit_wait_for_a_slot_within_their_timeout() {
    let settings = Settings {
        hunt_max_concurrent: 1,
        ..Settings::default()
    };
    let (app, acme, _) = two_tenants(settings).await;
    let app = Arc::new(app);
    let slow = {
        let (app, acme) = (Arc::clone(&app), acme.clone());
        tokio::spawn(async move {
            app.hunt(&acme, json!({ "sql": SLOW, "timeout_ms": 3_000 }))
                .await
                .status()
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The one slot is taken: a short hunt gives up when its own timeout passes while waiting.
    let resp = app
        .hunt(
            &acme,
            json!({ "sql": "SELECT count(*) AS n FROM events", "timeout_ms": 300 }),
        )
        .await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "busy", "{body}");
    // A patient one runs as soon as the slow hunt times out and gives the slot back.
    let waited = app
        .hunt_ok(
            &acme,
            json!({ "sql": "SELECT count(*) AS n FROM events", "timeout_ms": 20_000 }),
        )
        .await;
    assert_eq!(waited["rows"][0]["n"], json!(N));
    assert_eq!(slow.await.unwrap(), 408);
}

#[tokio::test]
async fn a_query_over_its_memory_limit_gets_422_and_the_server_keeps_answering() {
    let settings = Settings {
        hunt_memory_limit_bytes: 1024 * 1024,
        ..Settings::default()
    };
    let (app, acme, _) = two_tenants(settings).await;
    for sql in [
        "SELECT value % 300000 AS k, count(*) AS n FROM generate_series(1, 3000000) GROUP BY 1",
        "SELECT count(DISTINCT value) AS n FROM generate_series(1, 3000000)",
    ] {
        let resp = app.hunt(&acme, json!({ "sql": sql })).await;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, 422, "{sql}: {body}");
        assert_eq!(body["code"], "memory_limit_exceeded", "{body}");
        assert!(
            body["error"].as_str().unwrap().contains("memory limit of 1 MiB"),
            "{body}"
        );
    }
    assert_eq!(
        app.hunt_rows(&acme, "SELECT count(*) AS n FROM events").await[0]["n"],
        json!(N)
    );
}

#[tokio::test]
async fn readers_may_hunt_and_ingest_tokens_may_not() {
    let (app, _, _) = two_tenants(Settings::default()).await;
    let viewer = app.db.token("acme", Role::Viewer).await;
    assert_eq!(
        app.hunt_rows(&viewer, "SELECT count(*) AS n FROM events").await[0]["n"],
        json!(N)
    );
    let ingest = app.db.token("acme", Role::Ingest).await;
    assert_eq!(app.hunt(&ingest, json!({"sql": "SELECT 1"})).await.status(), 403);
    let resp = app
        .http
        .get(app.url("/api/v1/aggregates/events"))
        .bearer_auth(&ingest)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn event_aggregates_count_per_bucket_and_group_with_top_values() {
    let (app, acme, _) = two_tenants(Settings::default()).await;
    let (from, to) = (base_time(), base_time() + chrono::Duration::minutes(10 * N as i64));
    let url = format!(
        "/api/v1/aggregates/events?from={}&to={}&bucket=1h&group_by=kind&top=host_name&n=2",
        from.to_rfc3339().replace('+', "%2B"),
        to.to_rfc3339().replace('+', "%2B")
    );
    let resp = app.http.get(app.url(&url)).bearer_auth(&acme).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let doc: Value = resp.json().await.unwrap();
    let buckets = doc["buckets"].as_array().unwrap();
    let hours = (N * 10).div_ceil(60);
    assert_eq!(buckets.len(), hours);
    for (h, b) in buckets.iter().enumerate() {
        let start = base_time() + chrono::Duration::hours(h as i64);
        assert_eq!(b["t"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap(), start);
        let in_bucket: Vec<usize> = (0..N)
            .filter(|&i| event_i(i).time() >= start && event_i(i).time() < start + chrono::Duration::hours(1))
            .collect();
        let alerts = in_bucket.iter().filter(|&&i| event_i(i).kind() == "alert").count();
        assert_eq!(b["series"]["alert"], json!(alerts), "hour {h}");
        assert_eq!(b["series"]["log"], json!(in_bucket.len() - alerts), "hour {h}");
        assert_eq!(b["total"], json!(in_bucket.len()));
    }
    let mut hosts: Vec<(String, usize)> = (0..3)
        .map(|k| (format!("acme-host-{k}"), (0..N).filter(|i| i % 3 == k).count()))
        .collect();
    hosts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let top: Vec<(String, usize)> = doc["top"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["value"].as_str().unwrap().to_owned(),
                v["count"].as_u64().unwrap() as usize,
            )
        })
        .collect();
    assert_eq!(top, hosts[..2].to_vec());
}

#[tokio::test]
async fn metric_aggregates_give_avg_min_max_and_p95_per_bucket_and_series() {
    let app = TestApp::spawn().await;
    let acme = app.db.token("acme", Role::Admin).await;
    let rival = app.db.token("rival", Role::Admin).await;
    let start = base_time();
    let samples: Vec<(&str, DateTime<Utc>, f64)> = (0..60)
        .map(|m| ("web-1", start + chrono::Duration::minutes(m), (m + 1) as f64))
        .collect();
    common::hunt::ingest_metrics(&app, &acme, &samples).await;
    common::hunt::ingest_metrics(&app, &rival, &[("rival-host", start, 1e9)]).await;
    let url = format!(
        "/api/v1/aggregates/metrics?name=cpu&from={}&to={}&bucket=30m",
        start.to_rfc3339().replace('+', "%2B"),
        (start + chrono::Duration::hours(1)).to_rfc3339().replace('+', "%2B")
    );
    let resp = app.http.get(app.url(&url)).bearer_auth(&acme).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let doc: Value = resp.json().await.unwrap();
    let series = doc["series"].as_array().unwrap();
    assert_eq!(series.len(), 1, "only acme's series: {doc}");
    assert_eq!(series[0]["labels"], json!({"host": "web-1"}));
    let points = series[0]["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    for (k, p) in points.iter().enumerate() {
        let values: Vec<f64> = (1..=30).map(|v| (v + 30 * k) as f64).collect();
        let rank = 0.95 * (values.len() - 1) as f64;
        let p95 = values[rank.floor() as usize]
            + (rank - rank.floor()) * (values[rank.ceil() as usize] - values[rank.floor() as usize]);
        let avg = values.iter().sum::<f64>() / values.len() as f64;
        assert_eq!(
            (p["min"].as_f64(), p["max"].as_f64(), p["count"].as_u64()),
            (Some(values[0]), Some(values[29]), Some(30))
        );
        assert!((p["avg"].as_f64().unwrap() - avg).abs() < 1e-9, "{p}");
        assert!((p["p95"].as_f64().unwrap() - p95).abs() < 1e-4, "{p}: p95 {p95}");
    }
}

#[tokio::test]
async fn hunts_give_the_same_answers_after_chunks_move_to_the_cold_tier() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        object_store_url: Some(format!("file://{}", dir.path().display())),
        ..Settings::default()
    };
    let app = TestApp::spawn_with(settings).await;
    let sql = app.db.client().await;
    sql.execute("SELECT set_chunk_time_interval('events', INTERVAL '1 second')", &[])
        .await
        .unwrap();
    let admin = app.db.token("acme", Role::Admin).await;
    let rival = app.db.token("rival", Role::Admin).await;
    for burst in 0..3 {
        ingest_range(&app, &admin, "acme", burst * 20..burst * 20 + 20).await;
        ingest_range(&app, &rival, "rival", burst * 20..burst * 20 + 20).await;
        tokio::time::sleep(Duration::from_millis(1_100)).await;
    }
    // Tiering records its own `action` events; the ingested ones are what must not change.
    let queries = [
        "SELECT position, user_name, kind, source_ip, event_time FROM events WHERE kind <> 'action' ORDER BY position",
        "SELECT kind, count(*) AS n, max(severity) AS s FROM events WHERE kind <> 'action' GROUP BY kind ORDER BY kind",
        "SELECT position FROM events WHERE position BETWEEN 5 AND 12 AND kind = 'log' ORDER BY position",
        "SELECT * FROM events WHERE tenant_id <> 'acme'",
        "SELECT count(*) AS n FROM events WHERE kind <> 'action'",
        // Aggregates, functions and orderings that run whole in PostgreSQL while hot.
        "SELECT date_trunc('minute', event_time) AS m, count(*) AS n, count(DISTINCT user_name) AS u, \
         sum(position) AS s, min(user_name) AS lo, max(event_time) AS hi \
         FROM events WHERE kind <> 'action' GROUP BY 1 ORDER BY 1",
        "SELECT user_name, count(*) AS n FROM events WHERE message LIKE '%message 1%' AND kind <> 'action' \
         GROUP BY user_name ORDER BY n DESC, user_name DESC LIMIT 3",
        "SELECT coalesce(host_name, '(none)') AS h, to_unixtime(date_bin(INTERVAL '7 seconds', event_time, \
         TIMESTAMP '1970-01-01T00:00:00Z')) AS t, count(*) AS n FROM events \
         WHERE kind <> 'action' AND severity IN (1, 3, 5) GROUP BY 1, 2 ORDER BY 2, 1",
        "SELECT position, host_name FROM events WHERE kind <> 'action' AND host_name IS NOT NULL \
         ORDER BY host_name DESC NULLS FIRST, position LIMIT 7 OFFSET 2",
        "SELECT date_bin(INTERVAL '25 minutes', event_time, TIMESTAMP '2026-11-20T00:03:00Z') AS b, \
         CASE WHEN severity > 4 THEN 'high' ELSE 'low' END AS level, count(*) AS n FROM events \
         WHERE kind <> 'action' GROUP BY 1, 2 ORDER BY 1, 2",
        // Addresses: grouped and counted as addresses while hot, ordered and compared as text.
        "SELECT source_ip, count(*) AS n, count(DISTINCT user_name) AS u, count(DISTINCT destination_ip) AS d \
         FROM events WHERE kind <> 'action' GROUP BY source_ip ORDER BY source_ip DESC",
        "SELECT count(DISTINCT source_ip) AS ips, min(source_ip) AS lo, max(source_ip) AS hi \
         FROM events WHERE kind <> 'action'",
        "SELECT s, count(*) AS n FROM (SELECT source_ip AS s FROM events WHERE kind <> 'action') AS e \
         WHERE s > '10.1.0.13' GROUP BY s ORDER BY n, s",
    ];
    let mut before = Vec::new();
    for q in queries {
        before.push(app.hunt_ok(&admin, json!({ "sql": q })).await);
    }
    for (q, doc) in queries.iter().zip(&before).skip(5).take(5) {
        assert!(doc["rows"].as_array().unwrap().len() > 1, "{q}: {doc}");
    }
    // Text order, not address order, on the PostgreSQL side too.
    let by_address: Vec<&Value> = before[10]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["source_ip"])
        .collect();
    assert_eq!(
        by_address,
        ["10.1.0.9", "10.1.0.5", "10.1.0.17", "10.1.0.13", "10.1.0.1"],
        "{}",
        before[10]
    );
    assert_eq!(
        before[11]["rows"],
        json!([{"ips": 5, "lo": "10.1.0.1", "hi": "10.1.0.9"}]),
        "{}",
        before[11]
    );
    assert_eq!(before[12]["rows"].as_array().unwrap().len(), 3, "{}", before[12]);
    let pushed = |doc: &Value| doc["stats"]["pushed_down"].as_bool().unwrap();
    for (q, doc) in queries.iter().zip(&before) {
        assert!(pushed(doc), "{q} runs whole in PostgreSQL while all is hot: {doc}");
    }
    let objects = tidemark::tier::objects::open(&format!("file://{}", dir.path().display())).unwrap();
    let (appender, _task) = tidemark::store::Appender::start(
        app.db.store.clone(),
        tidemark::store::AppenderOptions::default(),
        Arc::new(tidemark::telemetry::Metrics::new()),
    );
    let ctx = tidemark::tier::TierContext {
        store: app.db.store.clone(),
        objects,
        appender,
    };
    // Hunts run while the chunks move: each sees every ingested event exactly once.
    let tiering = tokio::spawn(async move { tidemark::tier::tier_run(&ctx, Utc::now(), false).await });
    let mut during = 0;
    while !tiering.is_finished() || during == 0 {
        let doc = app.hunt_ok(&admin, json!({ "sql": queries[0] })).await;
        assert_eq!(doc["rows"], before[0]["rows"], "hunt {during} while tiering");
        during += 1;
    }
    let report = tiering.await.unwrap().unwrap();
    assert!(!report.chunks.is_empty(), "closed chunks moved");
    for (q, was) in queries.iter().zip(&before) {
        let now = app.hunt_ok(&admin, json!({ "sql": q })).await;
        assert_eq!(now["rows"], was["rows"], "{q}");
        assert!(!pushed(&now), "{q} reads cold files through DataFusion");
        assert!(!now.to_string().contains("rival"), "{q}");
    }
    let all = app.hunt_ok(&admin, json!({ "sql": queries[0] })).await;
    let stats = &all["stats"];
    assert!(
        stats["cold_files"].as_u64().unwrap() > 0 && stats["cold_rows"].as_u64().unwrap() > 0,
        "{stats}"
    );
    assert_eq!(
        stats["cold_rows"].as_u64().unwrap() + stats["hot_rows"].as_u64().unwrap(),
        60,
        "each row read once: {stats}"
    );
    let narrow = app.hunt_ok(&admin, json!({ "sql": queries[2] })).await;
    assert!(
        narrow["stats"]["cold_files"].as_u64().unwrap() < stats["cold_files"].as_u64().unwrap(),
        "the manifest pruned files: {}",
        narrow["stats"]
    );
}

#[tokio::test]
async fn the_hunt_command_prints_rows_and_reports_progress_on_long_scans() {
    let (app, _, _) = two_tenants(Settings::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_tidemark"))
            .arg("hunt")
            .args(args)
            .env("DATABASE_URL", &app.db.conn)
            .env("TIDEMARK_DATA_DIR", dir.path())
            .env(
                "TIDEMARK_OBJECT_STORE_URL",
                format!("file://{}/objects", dir.path().display()),
            )
            .output()
            .unwrap()
    };
    let out = run(&[
        "SELECT user_name FROM events ORDER BY position",
        "--tenant",
        "acme",
        "--format",
        "ndjson",
        "--limit",
        "5",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let users: Vec<&str> = lines[..5].iter().map(|l| l["user_name"].as_str().unwrap()).collect();
    assert_eq!(users, (0..5).map(|i| event_i(i).user()).collect::<Vec<_>>());
    assert_eq!(lines[5]["partial"], json!(true));

    let out = run(&["SELECT 1"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("acme, rival") && stderr.contains("--tenant"),
        "{stderr}"
    );

    let out = run(&[SLOW, "--tenant", "acme", "--timeout-ms", "2500"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("hunt: 0 rows so far"),
        "a progress line each second: {stderr}"
    );
    assert!(stderr.contains("did not finish within 2500 ms"), "{stderr}");
}
