//! Named queries: every file in `queries/` parses and runs against an empty migrated database,
//! and the HTTP endpoints list them and run them with typed parameters, refusing bad ones by name.

mod common;

use std::path::PathBuf;

use common::TestApp;
use common::hunt::{Gen, base_time, ingest_range};
use serde_json::{Map, Value, json};
use tidemark::config::Settings;
use tidemark::event::{Role, TenantId};
use tidemark::query::named::{self, ParamType};
use tidemark::query::{HuntRequest, Params, QueryEngine, QueryLimits};

fn queries_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("queries")
}

/// A valid value of each type, for parameters without a default.
fn sample(ty: ParamType) -> Value {
    match ty {
        ParamType::Text => json!("sample"),
        ParamType::Int => json!(3),
        ParamType::Float => json!(0.5),
        ParamType::Bool => json!(true),
        ParamType::Timestamp => json!("2026-11-01T00:00:00Z"),
        ParamType::Ip => json!("192.0.2.1"),
    }
}

#[tokio::test]
async fn every_query_file_parses_and_runs_against_an_empty_database() {
    let db = common::TestDb::new().await;
    let engine = QueryEngine::new(db.store.clone(), None, QueryLimits::default());
    let tenant = TenantId::new("acme").unwrap();
    let queries = named::load_dir(&queries_dir()).unwrap();
    let files = std::fs::read_dir(queries_dir())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "sql"))
        .count();
    assert_eq!(queries.len(), files, "every file is a query");
    assert!(queries.len() >= 5);
    for q in &queries {
        assert!(!q.description.is_empty(), "{} has a description", q.name);
        for p in &q.params {
            assert!(
                q.sql.contains(&format!("${}", p.name)),
                "{} declares ${} but does not use it",
                q.name,
                p.name
            );
        }
        let given: Map<String, Value> = q
            .params
            .iter()
            .filter(|p| p.default.is_none())
            .map(|p| (p.name.clone(), sample(p.ty)))
            .collect();
        let req = HuntRequest {
            sql: q.sql.clone(),
            params: Params::Named(q.bind(&given).unwrap()),
            ..HuntRequest::default()
        };
        let mut hunt = engine
            .hunt(&tenant, req)
            .await
            .unwrap_or_else(|e| panic!("{} does not run: {e}", q.name));
        assert!(!hunt.schema().fields().is_empty(), "{}", q.name);
        assert!(
            hunt.next_batch().await.unwrap().is_none(),
            "{}: the database is empty",
            q.name
        );
    }
}

async fn app() -> TestApp {
    TestApp::spawn_with(Settings {
        queries_dir: queries_dir(),
        ..Settings::default()
    })
    .await
}

async fn run(app: &TestApp, token: &str, name: &str, body: Value) -> (u16, Value) {
    let resp = app
        .http
        .post(app.url(&format!("/api/v1/queries/{name}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn named_queries_are_listed_and_run_with_typed_parameters() {
    let app = app().await;
    let admin = app.db.token("acme", Role::Admin).await;
    let n = 30;
    ingest_range(&app, &admin, "acme", 0..n).await;
    let rival = app.db.token("rival", Role::Admin).await;
    ingest_range(&app, &rival, "rival", 0..n).await;
    let analyst = app.db.token("acme", Role::Analyst).await;

    let resp = app
        .http
        .get(app.url("/api/v1/queries"))
        .bearer_auth(&analyst)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let list: Value = resp.json().await.unwrap();
    let failed = list["queries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "failed_logins_by_ip")
        .unwrap();
    assert_eq!(
        failed["params"],
        json!([{"name": "since", "type": "timestamp"}, {"name": "min_count", "type": "int", "default": "5"}])
    );

    let since = base_time() + chrono::Duration::hours(1);
    let (status, doc) = run(
        &app,
        &analyst,
        "failed_logins_by_ip",
        json!({"params": {"since": since, "min_count": 3}}),
    )
    .await;
    assert_eq!(status, 200, "{doc}");
    let mut expected: Vec<(String, u64)> = Vec::new();
    for i in (0..n).filter(|&i| Gen { tenant: "acme", i }.time() >= since) {
        let g = Gen { tenant: "acme", i };
        if g.outcome() == "failure" {
            match expected.iter_mut().find(|(ip, _)| *ip == g.source_ip()) {
                Some((_, c)) => *c += 1,
                None => expected.push((g.source_ip(), 1)),
            }
        }
    }
    expected.retain(|(_, c)| *c >= 3);
    expected.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let got: Vec<(String, u64)> = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["source_ip"].as_str().unwrap().to_owned(),
                r["failures"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(got, expected);

    let ip = Gen { tenant: "acme", i: 2 }.source_ip();
    let (status, doc) = run(
        &app,
        &analyst,
        "events_for_ip",
        json!({"params": {"ip": ip, "since": base_time()}, "limit": 2}),
    )
    .await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["rows"].as_array().unwrap().len(), 2);
    assert_eq!(
        doc["partial"],
        json!(true),
        "{} events have that IP",
        (0..n).filter(|&i| Gen { tenant: "acme", i }.source_ip() == ip).count()
    );
    assert!(
        doc["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["source_ip"] == json!(ip))
    );

    for (body, status_code, needle) in [
        (
            json!({"params": {"since": since, "colour": "red"}}),
            400,
            "unknown parameter `colour`",
        ),
        (json!({"params": {}}), 400, "missing parameter `since`"),
        (
            json!({"params": {"since": since, "min_count": "many"}}),
            400,
            "`min_count` must be of type int",
        ),
        (
            json!({"params": {"since": "yesterday"}}),
            400,
            "`since` must be of type timestamp",
        ),
    ] {
        let (status, doc) = run(&app, &analyst, "failed_logins_by_ip", body.clone()).await;
        assert_eq!(status, status_code, "{body}: {doc}");
        assert!(doc["error"].as_str().unwrap().contains(needle), "{body}: {doc}");
    }
    let (status, _) = run(&app, &analyst, "no_such_query", json!({})).await;
    assert_eq!(status, 404);
}
