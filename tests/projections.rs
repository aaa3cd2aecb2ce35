//! The projection runner against a real TimescaleDB: alerts folded from the log with
//! deduplication, one leader among several runners, a rebuild that equals the live model, lag
//! on /api/health and /metrics, and exactly-once folding across a kill -9 of the server.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::soc::{alert_line, dump, wait_projected};
use common::{TestApp, TestDb};
use serde_json::{Value, json};
use tidemark::event::Role;
use tidemark::project::{ProjectionKind, RunnerOptions, rebuild};

async fn alerts(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let resp = app
        .http
        .get(app.url(&format!("/api/v1/alerts?{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    body["alerts"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_events_fold_into_deduplicated_alerts_and_a_rebuild_equals_the_live_model() {
    let app = TestApp::spawn().await;
    // A second set of runners on the same database: only one may lead each projection.
    let _standby = tidemark::project::start_runners(
        &app.db.store,
        RunnerOptions::default(),
        std::sync::Arc::new(tidemark::telemetry::Metrics::new()),
    );
    let ingest = app.db.token("acme", Role::Ingest).await;
    let analyst = app.db.token("acme", Role::Analyst).await;
    let lines = [
        alert_line("ssh-brute", "203.0.113.7", "2026-11-20T10:00:00Z", 5),
        common::ssh_event(1, None),
        alert_line("ssh-brute", "203.0.113.7", "2026-11-20T10:05:00Z", 8),
        alert_line("ssh-brute", "198.51.100.1", "2026-11-20T10:06:00Z", 4),
        alert_line("ssh-brute", "203.0.113.7", "2026-11-20T10:02:00Z", 3),
        // An hour after the last duplicate: outside the 15-minute window, a new alert.
        alert_line("ssh-brute", "203.0.113.7", "2026-11-20T11:30:00Z", 2),
    ];
    let resp = app.ingest(&ingest, lines.join("\n")).await;
    assert_eq!(resp.status(), 200);
    wait_projected(&app.db).await;

    let listed = alerts(&app, &analyst, "sort=id").await;
    let summary: Vec<(i64, i64, i64, String, String)> = listed
        .iter()
        .map(|a| {
            (
                a["id"].as_i64().unwrap(),
                a["count"].as_i64().unwrap(),
                a["severity"].as_i64().unwrap(),
                a["first_seen"].as_str().unwrap().to_owned(),
                a["last_seen"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, 3, 8, "2026-11-20T10:00:00Z".into(), "2026-11-20T10:05:00Z".into()),
            (4, 1, 4, "2026-11-20T10:06:00Z".into(), "2026-11-20T10:06:00Z".into()),
            (6, 1, 2, "2026-11-20T11:30:00Z".into(), "2026-11-20T11:30:00Z".into()),
        ]
    );
    assert_eq!(
        listed[0]["entities"],
        json!({"ips": ["203.0.113.7"], "users": ["root"], "hosts": ["web-1"], "hashes": ["ab12cd"]})
    );
    let one: Value = app
        .http
        .get(app.url("/api/v1/alerts/1"))
        .bearer_auth(&analyst)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["source_positions"], json!([1, 3, 5]));

    // Actions change the model too; the rebuild must fold them the same way.
    for (id, body) in [
        (1, json!({"action": "acknowledge"})),
        (1, json!({"action": "assign", "assignee": "dana"})),
        (4, json!({"action": "resolve", "reason": "false positive"})),
        (6, json!({"action": "comment", "text": "watch this host"})),
    ] {
        let resp = app
            .http
            .post(app.url(&format!("/api/v1/alerts/{id}/actions")))
            .bearer_auth(&analyst)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    }
    // A repeat after the resolve does not join the resolved alert.
    app.ingest(
        &ingest,
        alert_line("ssh-brute", "198.51.100.1", "2026-11-20T10:07:00Z", 4),
    )
    .await;
    wait_projected(&app.db).await;
    let live_alerts = dump(&app.db, "alerts").await;
    let live_sources = dump(&app.db, "alert_sources").await;
    assert_eq!(live_alerts.len(), 4, "{live_alerts:#?}");
    let statuses: Vec<(&str, Option<&str>)> = live_alerts
        .iter()
        .map(|a| (a["status"].as_str().unwrap(), a["assignee"].as_str()))
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("acknowledged", Some("dana")),
            ("resolved", None),
            ("open", None),
            ("open", None)
        ]
    );

    let report = rebuild(
        &app.db.store,
        ProjectionKind::Alerts,
        &RunnerOptions::default(),
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!((report.previous_version, report.version), (1, 2));
    assert_eq!(
        dump(&app.db, "alerts").await,
        live_alerts,
        "the rebuilt model differs from the live one"
    );
    assert_eq!(dump(&app.db, "alert_sources").await, live_sources);
    let sql = app.db.client().await;
    let leftovers: i64 = sql
        .query_one("SELECT count(*) FROM alerts WHERE version = 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(leftovers, 0, "the old version's rows must be removed after the switch");

    // The runners follow the switch: a new alert lands in version 2.
    app.ingest(&ingest, alert_line("new-sig", "192.0.2.9", "2026-11-20T12:00:00Z", 9))
        .await;
    wait_projected(&app.db).await;
    let status = tidemark::project::projection_status(&app.db.store).await.unwrap();
    let alerts_status: Vec<_> = status.iter().filter(|p| p.name == "alerts").collect();
    assert_eq!(alerts_status.len(), 1, "{status:?}");
    assert_eq!((alerts_status[0].version, alerts_status[0].lag), (2, 0));
    assert_eq!(dump(&app.db, "alerts").await.len(), 5);
}

#[tokio::test]
async fn health_and_metrics_report_each_projections_lag() {
    let app = TestApp::spawn().await;
    let admin = app.db.token("acme", Role::Admin).await;
    app.ingest(&admin, alert_line("x", "192.0.2.1", "2026-11-20T10:00:00Z", 5))
        .await;
    wait_projected(&app.db).await;
    let health: Value = app
        .http
        .get(app.url("/api/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let projections = health["projections"].as_array().expect("projections in health");
    let names: Vec<(&str, i64, i64)> = projections
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap(),
                p["position"].as_i64().unwrap(),
                p["lag"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(names, vec![("alerts", 1, 0), ("incidents", 1, 0)]);

    let text = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("tidemark_projection_lag_events{projection=\"alerts\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("tidemark_projection_position{projection=\"alerts\"} 1"),
        "{text}"
    );
}

/// `tidemark serve` as a child process, killed with SIGKILL when dropped.
struct Server(Child);

impl Server {
    fn spawn(db: &TestDb) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let objects = std::env::temp_dir().join(format!("tidemark-objects-{}", db.name));
        let child = Command::new(env!("CARGO_BIN_EXE_tidemark"))
            .arg("serve")
            .env("DATABASE_URL", &db.conn)
            .env("TIDEMARK_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("TIDEMARK_LOG_FILTER", "warn")
            .env("TIDEMARK_PROJECTION_BATCH_EVENTS", "50")
            .env("TIDEMARK_OBJECT_STORE_URL", format!("file://{}", objects.display()))
            .env_remove("TIDEMARK_CONFIG")
            .env_remove("TIDEMARK_DATABASE_URL")
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn `tidemark serve`");
        Server(child)
    }

    fn kill_9(&mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn checkpoint(db: &TestDb) -> i64 {
    db.client()
        .await
        .query_one(
            "SELECT position FROM projection_checkpoints WHERE name = 'alerts' AND version = 1",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alerts_projection_is_exactly_once_across_a_kill_9_between_batches() {
    let db = TestDb::new().await;
    // 4,000 alert events over 40 fingerprints, fed to the log before the server starts, so
    // that the server folds them 50 at a time while it is killed.
    let (appender, _task) = tidemark::store::Appender::start(
        db.store.clone(),
        Default::default(),
        std::sync::Arc::new(tidemark::telemetry::Metrics::new()),
    );
    const EVENTS: usize = 4_000;
    let mut events = Vec::with_capacity(EVENTS);
    for i in 0..EVENTS {
        let minute = (i / 40) % 600;
        let line = alert_line(
            &format!("sig-{}", i % 4),
            &format!("10.0.0.{}", i % 10),
            &format!("2026-11-20T{:02}:{:02}:00Z", 8 + minute / 60, minute % 60),
            (i % 11) as i64,
        );
        let record = serde_json::from_str(&line).unwrap();
        events.push(tidemark::parse::normalize(record, line.as_bytes(), "ids").unwrap());
    }
    appender
        .append(tidemark::store::AppendJob {
            tenant: tidemark::event::TenantId::new("acme").unwrap(),
            events,
            dead_letters: Vec::new(),
        })
        .await
        .unwrap();

    let mut server = Server::spawn(&db);
    let started = Instant::now();
    let mut seen = 0;
    while seen == 0 || seen >= EVENTS as i64 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the projection never started"
        );
        seen = checkpoint(&db).await;
        if seen >= EVENTS as i64 {
            panic!("the projection finished before the kill; make the batches smaller");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill_9();
    let at_kill = checkpoint(&db).await;
    assert!(at_kill > 0 && at_kill < EVENTS as i64, "killed at checkpoint {at_kill}");
    let sources: i64 = db
        .client()
        .await
        .query_one("SELECT count(*) FROM alert_sources WHERE version = 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(sources, at_kill, "rows and checkpoint must commit together");
    eprintln!("killed with the checkpoint at {at_kill} of {EVENTS}");

    let _server = Server::spawn(&db);
    wait_projected(&db).await;
    let live = dump(&db, "alerts").await;
    let live_sources = dump(&db, "alert_sources").await;
    assert_eq!(live_sources.len(), EVENTS, "each event folded exactly once");
    let total: i64 = live.iter().map(|a| a["count"].as_i64().unwrap()).sum();
    assert_eq!(total, EVENTS as i64);
    drop(_server);

    rebuild(&db.store, ProjectionKind::Alerts, &RunnerOptions::default(), |_, _| {})
        .await
        .unwrap();
    assert_eq!(
        dump(&db, "alerts").await,
        live,
        "after the crash the model differs from a rebuild"
    );
    assert_eq!(dump(&db, "alert_sources").await, live_sources);
}
