//! Helpers for the SOC tests: alert events, waiting for the projections, and read-model dumps.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::TestDb;

/// One `kind=alert` ECS event as an NDJSON line.
pub fn alert_line(signature: &str, ip: &str, time: &str, severity: i64) -> String {
    json!({
        "@timestamp": time,
        "event": {"kind": "alert", "severity": severity, "dataset": "ids"},
        "rule": {"name": signature},
        "source": {"ip": ip},
        "user": {"name": "root"},
        "host": {"name": "web-1"},
        "file": {"hash": {"sha256": "AB12CD"}},
        "message": format!("{signature} from {ip}"),
    })
    .to_string()
}

/// Waits (bounded) until every live projection has folded the whole log.
pub async fn wait_projected(db: &TestDb) {
    let started = Instant::now();
    loop {
        let status = tidemark::project::projection_status(&db.store).await.unwrap();
        if status.iter().filter(|p| p.live).all(|p| p.lag == 0) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "projections did not catch up within 30 s: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every row of the live version of `table`, as JSON without the version column, in key
/// order: two dumps are equal when the read models are.
pub async fn dump(db: &TestDb, table: &str) -> Vec<Value> {
    let projection = if table == "incidents" { "incidents" } else { "alerts" };
    let order = if table == "alert_sources" {
        "tenant_id, alert_id, position"
    } else {
        "tenant_id, id"
    };
    let sql = format!(
        "SELECT to_jsonb(t) - 'version' FROM {table} t \
         WHERE version = (SELECT live_version FROM projections WHERE name = '{projection}') ORDER BY {order}"
    );
    db.client()
        .await
        .query(&sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}
