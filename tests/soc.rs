//! The SOC workflow over HTTP against a real TimescaleDB: triage lists, alert actions with
//! 409 and 412 under concurrency, incidents, evidence in the object store, `as_of`
//! reconstruction, the incident timeline, and tenant isolation on every endpoint.

mod common;

use common::TestApp;
use common::soc::{alert_line, wait_projected};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tidemark::config::Settings;
use tidemark::event::Role;
use tidemark::project::{ProjectionKind, RunnerOptions, rebuild};

struct Soc {
    app: TestApp,
    objects: tempfile::TempDir,
    ingest: String,
    analyst: String,
}

impl Soc {
    async fn start() -> Soc {
        let objects = tempfile::tempdir().unwrap();
        let settings = Settings {
            object_store_url: Some(format!("file://{}", objects.path().display())),
            evidence_max_bytes: 1 << 20,
            ..Settings::default()
        };
        let app = TestApp::spawn_with(settings).await;
        let ingest = app.db.token("acme", Role::Ingest).await;
        let analyst = app.db.token("acme", Role::Analyst).await;
        Soc {
            app,
            objects,
            ingest,
            analyst,
        }
    }

    /// Ingests alert lines and waits until they are projected.
    async fn alerts(&self, lines: &[String]) {
        let resp = self.app.ingest(&self.ingest, lines.join("\n")).await;
        assert_eq!(resp.status(), 200);
        wait_projected(&self.app.db).await;
    }

    async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let resp = self
            .app
            .http
            .get(self.app.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, token: &str, path: &str, body: Value, if_match: Option<i64>) -> (StatusCode, Value) {
        let mut req = self.app.http.post(self.app.url(path)).bearer_auth(token).json(&body);
        if let Some(v) = if_match {
            req = req.header("if-match", format!("\"{v}\""));
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn act(&self, id: i64, body: Value) -> (StatusCode, Value) {
        self.post(&self.analyst, &format!("/api/v1/alerts/{id}/actions"), body, None)
            .await
    }
}

fn ids(page: &Value) -> Vec<i64> {
    page["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn actions_take_a_json_body_whatever_its_content_type() {
    let soc = Soc::start().await;
    soc.alerts(&[alert_line("a", "192.0.2.1", "2026-11-20T10:00:00Z", 5)])
        .await;
    // As `curl -d` sends it: form-encoded by name, JSON in fact.
    let resp = soc
        .app
        .http
        .post(soc.app.url("/api/v1/alerts/1/actions"))
        .bearer_auth(&soc.analyst)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(r#"{"action":"assign","assignee":"dana"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["state"]["assignee"], "dana", "{body}");
    let resp = soc
        .app
        .http
        .post(soc.app.url("/api/v1/alerts/1/actions"))
        .bearer_auth(&soc.analyst)
        .body(r#"{"action":"assign",}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("column"), "{body}");
}

#[tokio::test]
async fn the_alert_list_filters_sorts_and_pages_with_a_cursor() {
    let soc = Soc::start().await;
    soc.alerts(&[
        alert_line("a", "192.0.2.1", "2026-11-20T10:00:00Z", 3),
        alert_line("b", "192.0.2.2", "2026-11-20T11:00:00Z", 9),
        alert_line("c", "192.0.2.3", "2026-11-20T12:00:00Z", 6),
        alert_line("d", "192.0.2.4", "2026-11-20T13:00:00Z", 1),
        alert_line("e", "192.0.2.5", "2026-11-20T14:00:00Z", 7),
    ])
    .await;
    assert_eq!(soc.act(2, json!({"action": "assign", "assignee": "dana"})).await.0, 200);
    assert_eq!(soc.act(3, json!({"action": "acknowledge"})).await.0, 200);
    wait_projected(&soc.app.db).await;
    let t = &soc.analyst;

    assert_eq!(
        ids(&soc.get(t, "/api/v1/alerts").await.1),
        vec![5, 4, 3, 2, 1],
        "newest last_seen first"
    );
    assert_eq!(
        ids(&soc.get(t, "/api/v1/alerts?sort=-severity").await.1),
        vec![2, 5, 3, 1, 4]
    );
    assert_eq!(
        ids(&soc.get(t, "/api/v1/alerts?min_severity=6&sort=id").await.1),
        vec![2, 3, 5]
    );
    assert_eq!(ids(&soc.get(t, "/api/v1/alerts?status=acknowledged").await.1), vec![3]);
    assert_eq!(ids(&soc.get(t, "/api/v1/alerts?assignee=dana").await.1), vec![2]);
    assert_eq!(
        ids(&soc.get(t, "/api/v1/alerts?assignee=none&sort=id").await.1),
        vec![1, 3, 4, 5]
    );
    assert_eq!(ids(&soc.get(t, "/api/v1/alerts?entity=192.0.2.4").await.1), vec![4]);
    assert_eq!(
        ids(&soc
            .get(
                t,
                "/api/v1/alerts?from=2026-11-20T11:00:00Z&to=2026-11-20T13:00:00Z&sort=id"
            )
            .await
            .1),
        vec![2, 3]
    );

    // Pages of two by severity, ascending, follow the cursor to the end.
    let mut seen = Vec::new();
    let mut query = "/api/v1/alerts?sort=severity&limit=2".to_owned();
    loop {
        let (status, page) = soc.get(t, &query).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => query = format!("/api/v1/alerts?sort=severity&limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, vec![4, 1, 3, 5, 2]);

    for (query, field) in [
        ("limit=501", "limit"),
        ("status=closed", "status"),
        ("sort=color", "sort"),
        ("cursor=zz", "cursor"),
        ("min_severity=11", "min_severity"),
    ] {
        let (status, body) = soc.get(t, &format!("/api/v1/alerts?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body["error"].as_str().unwrap().contains(field), "{query}: {body}");
    }
}

#[tokio::test]
async fn alert_actions_follow_the_workflow_and_an_invalid_transition_gets_409_with_the_current_state() {
    let soc = Soc::start().await;
    soc.alerts(&[alert_line("a", "192.0.2.1", "2026-11-20T10:00:00Z", 5)])
        .await;

    let (status, body) = soc.act(1, json!({"action": "acknowledge"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["state"]["status"].as_str(), body["version"].as_i64()),
        (Some("acknowledged"), Some(2))
    );
    let (status, body) = soc.act(1, json!({"action": "acknowledge"})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["current"]["status"], "acknowledged");
    assert_eq!(body["current"]["version"], 2);

    assert_eq!(soc.act(1, json!({"action": "start"})).await.0, 200);
    assert_eq!(soc.act(1, json!({"action": "reopen"})).await.0, 409);
    let (status, body) = soc.act(1, json!({"action": "resolve", "reason": "  "})).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("reason"), "{body}");
    assert_eq!(
        soc.act(1, json!({"action": "resolve"})).await.0,
        400,
        "a resolve needs its reason"
    );
    assert_eq!(
        soc.act(1, json!({"action": "resolve", "reason": "benign scanner"}))
            .await
            .0,
        200
    );
    assert_eq!(soc.act(1, json!({"action": "assign", "assignee": "dana"})).await.0, 409);
    assert_eq!(soc.act(1, json!({"action": "reopen"})).await.0, 200);
    assert_eq!(
        soc.act(1, json!({"action": "comment", "text": "seen again"})).await.0,
        200
    );
    assert_eq!(soc.act(1, json!({"action": "explode"})).await.0, 400);
    assert_eq!(soc.act(99, json!({"action": "acknowledge"})).await.0, 404);

    // Every accepted action is an event with its actor.
    let sql = soc.app.db.client().await;
    let rows = sql
        .query(
            "SELECT event_action, user_name FROM events WHERE kind = 'action' ORDER BY position",
            &[],
        )
        .await
        .unwrap();
    let actions: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let names: Vec<&str> = actions.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "alert.acknowledge",
            "alert.start",
            "alert.resolve",
            "alert.reopen",
            "alert.comment"
        ]
    );
    assert!(
        actions.iter().all(|(_, actor)| actor.starts_with("token-")),
        "{actions:?}"
    );

    wait_projected(&soc.app.db).await;
    let (status, alert) = soc.get(&soc.analyst, "/api/v1/alerts/1").await;
    assert_eq!(status, 200);
    assert_eq!(
        (alert["status"].as_str(), alert["resolution"].as_str()),
        (Some("open"), None)
    );
    assert_eq!(alert["comments"][0]["text"], "seen again");
    assert_eq!(alert["version"], 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_conflicting_actions_one_wins_and_the_others_get_412_or_409() {
    let soc = std::sync::Arc::new(Soc::start().await);
    soc.alerts(&[
        alert_line("a", "192.0.2.1", "2026-11-20T10:00:00Z", 5),
        alert_line("b", "192.0.2.2", "2026-11-20T10:00:00Z", 5),
    ])
    .await;
    // A second server on the same database (its own pool, appender and runners), as another
    // process would be: racers alternate between the two.
    let (state, _appender) = tidemark::app::build_state(soc.app.db.store.clone(), &Settings::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let second = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, tidemark::api::router(state)).await });
    let base = |i: usize| {
        if i.is_multiple_of(2) {
            soc.app.url("")
        } else {
            second.clone()
        }
    };
    const RACERS: usize = 12;
    // With If-Match on the same version: exactly one resolve is applied, the rest get 412.
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let (soc, url) = (
                std::sync::Arc::clone(&soc),
                format!("{}/api/v1/alerts/1/actions", base(i)),
            );
            tokio::spawn(async move {
                let body = json!({"action": "resolve", "reason": format!("racer {i}")});
                let resp = soc
                    .app
                    .http
                    .post(url)
                    .bearer_auth(&soc.analyst)
                    .header("if-match", "\"1\"");
                resp.json(&body).send().await.unwrap().status()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap().as_u16());
    }
    statuses.sort_unstable();
    let mut expected = vec![200];
    expected.extend([412; RACERS - 1]);
    assert_eq!(statuses, expected);

    // Without If-Match: one acknowledge passes, the others see it and get 409.
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let (soc, url) = (
                std::sync::Arc::clone(&soc),
                format!("{}/api/v1/alerts/2/actions", base(i)),
            );
            tokio::spawn(async move {
                let resp = soc.app.http.post(url).bearer_auth(&soc.analyst);
                resp.json(&json!({"action": "acknowledge"}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort_unstable();
    let mut expected = vec![200];
    expected.extend([409; RACERS - 1]);
    assert_eq!(statuses, expected);

    let sql = soc.app.db.client().await;
    let counts: Vec<(String, i64)> = sql
        .query(
            "SELECT event_action, count(*) FROM events WHERE kind = 'action' GROUP BY 1 ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        counts,
        vec![("alert.acknowledge".into(), 1), ("alert.resolve".into(), 1)]
    );
}

#[tokio::test]
async fn as_of_returns_the_earlier_state_of_an_alert_and_an_incident_after_later_changes() {
    let soc = Soc::start().await;
    soc.alerts(&[alert_line("a", "192.0.2.1", "2026-11-20T10:00:00Z", 5)])
        .await;
    soc.act(1, json!({"action": "assign", "assignee": "dana"})).await;
    let (_, created) = soc
        .post(
            &soc.analyst,
            "/api/v1/incidents",
            json!({"title": "Brute force", "severity": "medium"}),
            None,
        )
        .await;
    let incident = created["position"].as_i64().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let between = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    // Later: a duplicate occurrence, a resolve, and incident changes.
    soc.alerts(&[alert_line("a", "192.0.2.1", "2026-11-20T10:01:00Z", 9)])
        .await;
    soc.act(1, json!({"action": "resolve", "reason": "blocked at the edge"}))
        .await;
    let path = format!("/api/v1/incidents/{incident}/actions");
    soc.post(
        &soc.analyst,
        &path,
        json!({"action": "set_severity", "severity": "critical"}),
        None,
    )
    .await;
    soc.post(
        &soc.analyst,
        &path,
        json!({"action": "set_status", "status": "investigating"}),
        None,
    )
    .await;
    wait_projected(&soc.app.db).await;

    let (_, now) = soc.get(&soc.analyst, "/api/v1/alerts/1").await;
    assert_eq!(
        (now["status"].as_str(), now["count"].as_i64()),
        (Some("resolved"), Some(2))
    );
    for as_of in ["2".to_owned(), between.replace('+', "%2B")] {
        let (status, then) = soc.get(&soc.analyst, &format!("/api/v1/alerts/1?as_of={as_of}")).await;
        assert_eq!(status, 200, "{then}");
        assert_eq!(then["status"], "open", "as_of={as_of}");
        assert_eq!(then["assignee"], "dana");
        assert_eq!((then["count"].as_i64(), then["severity"].as_i64()), (Some(1), Some(5)));
        assert_eq!(then["source_positions"], json!([1]));
    }
    // As of the head, the fold equals the read model.
    let head = now["last_position"].as_i64().unwrap();
    let (_, folded) = soc.get(&soc.analyst, &format!("/api/v1/alerts/1?as_of={head}")).await;
    let mut folded = folded;
    folded.as_object_mut().unwrap().remove("as_of");
    assert_eq!(folded, now);
    assert_eq!(
        soc.get(&soc.analyst, "/api/v1/alerts/1?as_of=0").await.0,
        404,
        "before it existed"
    );
    assert_eq!(soc.get(&soc.analyst, "/api/v1/alerts/1?as_of=yesterday").await.0, 400);

    let (_, then) = soc
        .get(
            &soc.analyst,
            &format!("/api/v1/incidents/{incident}?as_of={}", between.replace('+', "%2B")),
        )
        .await;
    assert_eq!(
        (then["severity"].as_str(), then["status"].as_str()),
        (Some("medium"), Some("open"))
    );
    let (_, now) = soc.get(&soc.analyst, &format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(
        (now["severity"].as_str(), now["status"].as_str()),
        (Some("critical"), Some("investigating"))
    );
}

#[tokio::test]
async fn incidents_are_created_from_alerts_linked_moved_through_their_statuses_and_closed() {
    let soc = Soc::start().await;
    soc.alerts(&[
        alert_line("a", "192.0.2.1", "2026-11-20T10:00:00Z", 5),
        alert_line("b", "192.0.2.2", "2026-11-20T10:00:00Z", 5),
        alert_line("c", "192.0.2.3", "2026-11-20T10:00:00Z", 5),
    ])
    .await;
    let t = &soc.analyst;
    let (status, created) = soc
        .post(
            t,
            "/api/v1/incidents",
            json!({"title": "Intrusion", "severity": "high", "alert_ids": [1, 2]}),
            None,
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["position"].as_i64().unwrap();
    assert_eq!(created["state"]["alert_ids"], json!([1, 2]));
    let (status, body) = soc
        .post(
            t,
            "/api/v1/incidents",
            json!({"title": "Again", "severity": "low", "alert_ids": [2]}),
            None,
        )
        .await;
    assert_eq!(status, 409, "alert 2 already belongs to incident {id}: {body}");
    assert_eq!(
        soc.post(
            t,
            "/api/v1/incidents",
            json!({"title": "x", "severity": "urgent"}),
            None
        )
        .await
        .0,
        400
    );
    assert_eq!(
        soc.post(
            t,
            "/api/v1/incidents",
            json!({"title": "x", "severity": "low", "alert_ids": [77]}),
            None
        )
        .await
        .0,
        404
    );

    let path = format!("/api/v1/incidents/{id}/actions");
    let steps = [
        (json!({"action": "assign", "assignee": "lee"}), 200),
        (json!({"action": "set_status", "status": "investigating"}), 200),
        (json!({"action": "set_status", "status": "investigating"}), 409),
        (json!({"action": "set_status", "status": "closed"}), 400),
        (json!({"action": "link_alerts", "alert_ids": [3]}), 200),
        (json!({"action": "link_alerts", "alert_ids": [3]}), 409),
        (json!({"action": "unlink_alerts", "alert_ids": [1]}), 200),
        (json!({"action": "unlink_alerts", "alert_ids": [1]}), 409),
        (json!({"action": "note", "text": "egress blocked"}), 200),
        (json!({"action": "set_severity", "severity": "critical"}), 200),
        (json!({"action": "set_status", "status": "contained"}), 200),
    ];
    for (body, expected) in steps {
        let (status, answer) = soc.post(t, &path, body.clone(), None).await;
        assert_eq!(status.as_u16(), expected, "{body}: {answer}");
    }
    // A stale If-Match is refused with 412 and the current version.
    let (status, body) = soc
        .post(t, &path, json!({"action": "note", "text": "late"}), Some(id))
        .await;
    assert_eq!(status, 412, "{body}");
    let version = body["current"]["version"].as_i64().unwrap();
    let (status, closed) = soc
        .post(
            t,
            &path,
            json!({"action": "close", "resolution": "re-imaged host"}),
            Some(version),
        )
        .await;
    assert_eq!(status, 200, "{closed}");
    assert_eq!(
        soc.post(t, &path, json!({"action": "note", "text": "after"}), None)
            .await
            .0,
        409
    );

    wait_projected(&soc.app.db).await;
    let (_, incident) = soc.get(t, &format!("/api/v1/incidents/{id}")).await;
    assert_eq!(incident["status"], "closed");
    assert_eq!(incident["resolution"], "re-imaged host");
    assert_eq!(incident["severity"], "critical");
    assert_eq!(incident["assignee"], "lee");
    assert_eq!(incident["alert_ids"], json!([2, 3]));
    assert_eq!(incident["notes"][0]["text"], "egress blocked");
    let (_, listed) = soc.get(t, &format!("/api/v1/alerts?incident_id={id}&sort=id")).await;
    assert_eq!(ids(&listed), vec![2, 3]);
    let (_, one) = soc.get(t, "/api/v1/alerts/1").await;
    assert_eq!(one["incident_id"], Value::Null);
    let (_, list) = soc.get(t, "/api/v1/incidents?status=closed").await;
    assert_eq!(list["incidents"].as_array().unwrap().len(), 1);
    assert_eq!(
        soc.get(t, "/api/v1/incidents?status=open").await.1["incidents"],
        json!([])
    );

    // Both read models rebuilt from the log equal the live ones.
    for (kind, table) in [
        (ProjectionKind::Incidents, "incidents"),
        (ProjectionKind::Alerts, "alerts"),
    ] {
        let live = common::soc::dump(&soc.app.db, table).await;
        rebuild(&soc.app.db.store, kind, &RunnerOptions::default(), |_, _| {})
            .await
            .unwrap();
        assert_eq!(common::soc::dump(&soc.app.db, table).await, live, "{table}");
    }
}

#[tokio::test]
async fn evidence_is_stored_with_its_sha256_and_size_and_a_failed_upload_leaves_nothing() {
    let soc = Soc::start().await;
    let (_, created) = soc
        .post(
            &soc.analyst,
            "/api/v1/incidents",
            json!({"title": "Phish", "severity": "low"}),
            None,
        )
        .await;
    let id = created["position"].as_i64().unwrap();
    let file: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let resp = soc
        .app
        .http
        .post(soc.app.url(&format!("/api/v1/incidents/{id}/evidence?name=mail.eml")))
        .bearer_auth(&soc.analyst)
        .header("content-type", "message/rfc822")
        .body(file.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.unwrap();
    let sha = hex::encode(Sha256::digest(&file));
    assert_eq!(body["evidence"]["sha256"], sha);
    assert_eq!(body["evidence"]["size"], file.len());
    let evidence_id = body["evidence"]["id"].as_str().unwrap().to_owned();

    let (_, listed) = soc.get(&soc.analyst, &format!("/api/v1/incidents/{id}/evidence")).await;
    assert_eq!(listed["evidence"][0]["name"], "mail.eml");
    let resp = soc
        .app
        .http
        .get(soc.app.url(&format!("/api/v1/incidents/{id}/evidence/{evidence_id}")))
        .bearer_auth(&soc.analyst)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "message/rfc822");
    assert_eq!(resp.headers()["x-content-sha256"], sha.as_str());
    assert_eq!(resp.bytes().await.unwrap().as_ref(), file.as_slice());

    let files_before = count_files(soc.objects.path());
    assert_eq!(files_before, 1);
    // Over the limit (1 MiB here): 413, and nothing is registered or left on disk.
    let resp = soc
        .app
        .http
        .post(soc.app.url(&format!("/api/v1/incidents/{id}/evidence?name=big.bin")))
        .bearer_auth(&soc.analyst)
        .body(vec![7u8; (1 << 20) + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    // A stale If-Match: the file was written before the check under the lock, so it must go.
    let resp = soc
        .app
        .http
        .post(soc.app.url(&format!("/api/v1/incidents/{id}/evidence?name=late.txt")))
        .bearer_auth(&soc.analyst)
        .header("if-match", format!("\"{id}\""))
        .body("late")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 412);
    let no_name = soc
        .app
        .http
        .post(soc.app.url(&format!("/api/v1/incidents/{id}/evidence")))
        .bearer_auth(&soc.analyst)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(no_name.status(), 400);
    assert_eq!(
        count_files(soc.objects.path()),
        1,
        "a refused upload left a file behind"
    );
    let (_, listed) = soc.get(&soc.analyst, &format!("/api/v1/incidents/{id}/evidence")).await;
    assert_eq!(listed["evidence"].as_array().unwrap().len(), 1);

    // A file with no registering action (a crash between the two) is swept; registered ones stay.
    let orphan = soc.objects.path().join(format!("evidence/acme/{id}/deadbeef"));
    std::fs::write(&orphan, b"orphan").unwrap();
    let objects = tidemark::project::open_object_store(&format!("file://{}", soc.objects.path().display())).unwrap();
    let removed = tidemark::project::sweep_orphans(&soc.app.db.store, &objects, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(removed, 1);
    assert!(!orphan.exists());
    assert_eq!(count_files(soc.objects.path()), 1);
}

fn count_files(dir: &std::path::Path) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        n += if path.is_dir() { count_files(&path) } else { 1 };
    }
    n
}

#[tokio::test]
async fn the_timeline_streams_every_event_that_touched_the_incident_in_position_order() {
    let soc = Soc::start().await;
    soc.alerts(&[
        alert_line("a", "192.0.2.1", "2026-11-20T10:00:00Z", 5),
        alert_line("b", "192.0.2.2", "2026-11-20T10:00:00Z", 5),
        alert_line("a", "192.0.2.1", "2026-11-20T10:01:00Z", 5),
        common::ssh_event(1, None),
    ])
    .await;
    soc.act(1, json!({"action": "acknowledge"})).await; // 5
    let (_, created) = soc
        .post(
            &soc.analyst,
            "/api/v1/incidents",
            json!({"title": "t", "severity": "low", "alert_ids": [1]}),
            None,
        )
        .await; // 6
    let id = created["position"].as_i64().unwrap();
    soc.act(2, json!({"action": "comment", "text": "unrelated"})).await; // 7
    let path = format!("/api/v1/incidents/{id}/actions");
    soc.post(&soc.analyst, &path, json!({"action": "note", "text": "n"}), None)
        .await; // 8
    soc.act(1, json!({"action": "start"})).await; // 9
    wait_projected(&soc.app.db).await;

    let resp = soc
        .app
        .http
        .get(soc.app.url(&format!("/api/v1/incidents/{id}/timeline")))
        .bearer_auth(&soc.analyst)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let positions: Vec<i64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["tidemark"]["position"]
                .as_i64()
                .unwrap()
        })
        .collect();
    // Alert 1's source events (1, 3), its actions (5, 9), the incident's actions (6, 8); not
    // alert 2 (2, 7) nor the log event (4).
    assert_eq!(positions, vec![1, 3, 5, 6, 8, 9]);
}

#[tokio::test]
async fn another_tenant_sees_nothing_and_roles_are_enforced_on_every_endpoint() {
    let soc = Soc::start().await;
    soc.alerts(&[alert_line("a", "192.0.2.1", "2026-11-20T10:00:00Z", 5)])
        .await;
    let (_, created) = soc
        .post(
            &soc.analyst,
            "/api/v1/incidents",
            json!({"title": "t", "severity": "low", "alert_ids": [1]}),
            None,
        )
        .await;
    let id = created["position"].as_i64().unwrap();
    let resp = soc
        .app
        .http
        .post(soc.app.url(&format!("/api/v1/incidents/{id}/evidence?name=a.txt")))
        .bearer_auth(&soc.analyst)
        .body("secret")
        .send()
        .await
        .unwrap();
    let evidence: Value = resp.json().await.unwrap();
    let evidence_id = evidence["evidence"]["id"].as_str().unwrap().to_owned();
    wait_projected(&soc.app.db).await;

    let other = soc.app.db.token("globex", Role::Admin).await;
    let reads = [
        "/api/v1/alerts/1".to_owned(),
        "/api/v1/alerts/1?as_of=1".to_owned(),
        format!("/api/v1/incidents/{id}"),
        format!("/api/v1/incidents/{id}?as_of={id}"),
        format!("/api/v1/incidents/{id}/timeline"),
        format!("/api/v1/incidents/{id}/evidence"),
        format!("/api/v1/incidents/{id}/evidence/{evidence_id}"),
    ];
    for path in &reads {
        assert_eq!(soc.get(&other, path).await.0, 404, "{path} leaked to another tenant");
        assert_eq!(soc.get(&soc.analyst, path).await.0, 200, "{path} for its own tenant");
    }
    assert_eq!(soc.get(&other, "/api/v1/alerts").await.1["alerts"], json!([]));
    assert_eq!(soc.get(&other, "/api/v1/incidents").await.1["incidents"], json!([]));
    let writes = [
        ("/api/v1/alerts/1/actions".to_owned(), json!({"action": "acknowledge"})),
        (
            format!("/api/v1/incidents/{id}/actions"),
            json!({"action": "note", "text": "x"}),
        ),
        (
            "/api/v1/incidents".to_owned(),
            json!({"title": "t", "severity": "low", "alert_ids": [1]}),
        ),
    ];
    for (path, body) in &writes {
        assert_eq!(
            soc.post(&other, path, body.clone(), None).await.0,
            404,
            "{path} acted across tenants"
        );
    }
    let resp = soc
        .app
        .http
        .post(soc.app.url(&format!("/api/v1/incidents/{id}/evidence?name=b.txt")))
        .bearer_auth(&other)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    // Roles: ingest tokens read no alerts; viewers read but do not act.
    let viewer = soc.app.db.token("acme", Role::Viewer).await;
    for path in &reads {
        assert_eq!(
            soc.get(&soc.ingest, path).await.0,
            403,
            "{path} readable with an ingest token"
        );
        assert_eq!(soc.get(&viewer, path).await.0, 200, "{path} for a viewer");
    }
    assert_eq!(soc.get(&soc.ingest, "/api/v1/alerts").await.0, 403);
    for (path, body) in &writes {
        assert_eq!(
            soc.post(&viewer, path, body.clone(), None).await.0,
            403,
            "{path} acted by a viewer"
        );
    }
    let actions: i64 = soc
        .app
        .db
        .client()
        .await
        .query_one("SELECT count(*) FROM events WHERE kind = 'action'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(actions, 2, "only the owner's create and evidence actions are stored");
}
