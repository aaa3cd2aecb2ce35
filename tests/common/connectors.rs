//! Helpers for connector tests: create connectors through the API, wait for their status, and
//! read what they stored.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{TestApp, TestDb};

/// POSTs a connector and returns its view; panics unless the API answers 201.
pub async fn create_connector(app: &TestApp, token: &str, body: Value) -> Value {
    let resp = app
        .http
        .post(app.url("/api/v1/connectors"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let view: Value = resp.json().await.unwrap();
    assert_eq!(status, 201, "create connector {body}: {view}");
    view
}

/// A connector on 127.0.0.1 with a port the kernel picks.
pub fn local(name: &str, protocol: &str, extra: Value) -> Value {
    let mut config = json!({ "bind": "127.0.0.1:0" });
    if let (Value::Object(c), Value::Object(e)) = (&mut config, extra) {
        c.extend(e);
    }
    json!({ "name": name, "protocol": protocol, "config": config })
}

pub async fn get_connector(app: &TestApp, token: &str, id: i64) -> Value {
    let resp = app
        .http
        .get(app.url(&format!("/api/v1/connectors/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// Polls the connector until `ready` holds for its view (10 s at most), and returns the view.
pub async fn wait_connector(app: &TestApp, token: &str, id: i64, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let view = get_connector(app, token, id).await;
        if ready(&view) || Instant::now() > deadline {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The port a live connector listens on, once it does.
pub async fn listening_port(app: &TestApp, token: &str, view: &Value) -> u16 {
    let id = view["id"].as_i64().unwrap();
    let view = wait_connector(app, token, id, |v| v["status"]["state"] == "active").await;
    let addr = view["status"]["listening_on"]
        .as_str()
        .unwrap_or_else(|| panic!("connector is not listening: {view}"));
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

/// A counter from the connector's live status (0 when absent).
pub fn counter(view: &Value, name: &str) -> u64 {
    view["status"][name].as_u64().unwrap_or(0)
}

pub fn dropped(view: &Value, reason: &str) -> u64 {
    view["status"]["dropped"][reason].as_u64().unwrap_or(0)
}

/// `raw` of every stored event in position order, once at least `n` are stored (20 s at most).
pub async fn wait_raw(db: &TestDb, n: usize) -> Vec<Vec<u8>> {
    let client = db.client().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows = client
            .query("SELECT raw FROM events ORDER BY position", &[])
            .await
            .unwrap();
        if rows.len() >= n || Instant::now() > deadline {
            return rows.iter().map(|r| r.get(0)).collect();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
