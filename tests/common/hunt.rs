//! Hunt helpers: a deterministic event generator whose expected values tests recompute, and
//! requests to the hunt endpoints.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::TestApp;

/// The first generated event's `@timestamp`; each next one is ten minutes later.
pub fn base_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T00:00:00Z").unwrap().to_utc()
}

/// What event `i` of `tenant` holds, so tests can compute expected results.
pub struct Gen<'a> {
    pub tenant: &'a str,
    pub i: usize,
}

impl Gen<'_> {
    pub fn time(&self) -> DateTime<Utc> {
        base_time() + Duration::minutes(10 * self.i as i64)
    }
    pub fn kind(&self) -> &'static str {
        if self.i.is_multiple_of(4) { "alert" } else { "log" }
    }
    pub fn severity(&self) -> i64 {
        (self.i % 10) as i64
    }
    pub fn host(&self) -> String {
        format!("{}-host-{}", self.tenant, self.i % 3)
    }
    /// The tenant's own address block, so a leaked row would show. Five addresses, whose
    /// order as text (…0.1, …0.13, …0.17, …0.5, …0.9) is not their order as numbers.
    pub fn source_ip(&self) -> String {
        let block = if self.tenant == "acme" { 1 } else { 2 };
        format!("10.{block}.0.{}", self.i % 5 * 4 + 1)
    }
    pub fn user(&self) -> String {
        format!("{}-user-{}", self.tenant, self.i % 4)
    }
    pub fn outcome(&self) -> &'static str {
        if self.i.is_multiple_of(3) { "success" } else { "failure" }
    }
    pub fn ecs(&self) -> Value {
        json!({
            "@timestamp": self.time().to_rfc3339(),
            "event": {"kind": self.kind(), "severity": self.severity(), "id": format!("{}-{}", self.tenant, self.i),
                      "action": "ssh_login", "outcome": self.outcome(), "dataset": "sshd"},
            "host": {"name": self.host()},
            "source": {"ip": self.source_ip(), "port": 40_000 + self.i},
            "destination": {"ip": "192.0.2.10", "port": 22},
            "user": {"name": self.user()},
            "process": {"name": format!("{}-proc-{}", self.tenant, self.i % 6)},
            "message": format!("{} message {}", self.tenant, self.i),
        })
    }
}

/// Ingests events `range` of `tenant` and asserts they were all accepted.
pub async fn ingest_range(app: &TestApp, token: &str, tenant: &str, range: std::ops::Range<usize>) {
    let n = range.len();
    let body: Vec<String> = range.map(|i| Gen { tenant, i }.ecs().to_string()).collect();
    let resp = app.ingest(token, body.join("\n")).await;
    assert_eq!(resp.status(), 200);
    let receipt: Value = resp.json().await.unwrap();
    assert_eq!(receipt["accepted"], json!(n), "{receipt}");
}

/// Metric samples for `tenant`: `cpu` of two hosts, one sample a minute.
pub async fn ingest_metrics(app: &TestApp, token: &str, samples: &[(&str, DateTime<Utc>, f64)]) {
    let body: Vec<Value> = samples
        .iter()
        .map(|(host, t, v)| json!({"name": "cpu", "value": v, "labels": {"host": host}, "timestamp": t.to_rfc3339()}))
        .collect();
    let resp = app
        .http
        .post(app.url("/api/v1/metrics"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap_or_default());
}

impl TestApp {
    /// POSTs `body` to `/api/v1/hunt`.
    pub async fn hunt(&self, token: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url("/api/v1/hunt"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Runs `sql` as JSON and returns the whole document, asserting 200.
    pub async fn hunt_ok(&self, token: &str, body: Value) -> Value {
        let resp = self.hunt(token, body.clone()).await;
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert_eq!(status, 200, "{body} answered {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{body}: not JSON ({e}): {text}"))
    }

    /// The rows of `sql`, as JSON objects.
    pub async fn hunt_rows(&self, token: &str, sql: &str) -> Vec<Value> {
        let doc = self.hunt_ok(token, json!({"sql": sql})).await;
        doc["rows"].as_array().unwrap().clone()
    }
}
