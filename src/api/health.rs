//! `GET /api/health` (no token): database reachability, migrations, appender state,
//! projection lag; 503 when degraded. `GET /metrics`: Prometheus text, for admin tokens.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use super::AppState;
use super::auth::Authenticated;
use super::error::ApiResult;
use crate::event::Role;
use crate::ingest::stats::State as ConnectorState;
use crate::project::projection_status;
use crate::store::migration_status;
use crate::telemetry::ProjectionLabels;

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let database = state.store.ping(PROBE_TIMEOUT).await;
    let migrations = match &database {
        Ok(()) => tokio::time::timeout(PROBE_TIMEOUT, migration_status(&state.store))
            .await
            .ok()
            .and_then(Result::ok),
        Err(_) => None,
    };
    let appender = state.appender.status();
    let connectors = connector_health(&state).await;
    let projections = match &database {
        Ok(()) => tokio::time::timeout(PROBE_TIMEOUT, projection_status(&state.store))
            .await
            .ok()
            .and_then(Result::ok),
        Err(_) => None,
    };
    let current = migrations.as_ref().is_some_and(|m| m.is_current());
    let healthy = database.is_ok() && current;
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if healthy { "ok" } else { "degraded" },
        "database": { "reachable": database.is_ok(), "error": database.err().map(|e| e.to_string()) },
        "migrations": migrations.map(|m| json!({ "expected": m.expected, "applied": m.applied, "current": m.is_current() })),
        "appender": appender,
        "connectors": connectors,
        "projections": projections,
    });
    (status, Json(body))
}

/// How many connectors this server runs in each state, and the ones that need attention.
/// A failing listener does not make the server unhealthy: HTTP ingest and queries still work.
async fn connector_health(state: &AppState) -> serde_json::Value {
    let live = state.connectors.all_live().await;
    let mut counts = serde_json::Map::new();
    let mut attention = Vec::new();
    for (id, labels, live) in &live {
        let key = live.state.as_str();
        let n = counts.get(key).and_then(serde_json::Value::as_u64).unwrap_or(0);
        counts.insert(key.to_owned(), (n + 1).into());
        if matches!(live.state, ConnectorState::Warning | ConnectorState::Error) {
            attention.push(json!({
                "id": id,
                "tenant": labels.tenant,
                "name": labels.connector,
                "state": live.state,
                "last_error": live.health.last_error,
                "last_error_at": live.health.last_error_at,
            }));
        }
    }
    json!({
        "running_here": state.connectors.is_active(),
        "total": live.len(),
        "by_state": counts,
        "attention": attention,
    })
}

pub(crate) async fn prometheus(State(state): State<AppState>, auth: Authenticated) -> ApiResult<impl IntoResponse> {
    auth.require(Role::is_admin, "read process metrics")?;
    let status = state.appender.status();
    let m = &state.metrics;
    m.append_queue_events.set(status.queued_events as i64);
    m.append_connected.set(i64::from(status.connected));
    m.append_last_commit_age_seconds
        .set(status.last_commit_age_ms.map_or(f64::NAN, |ms| ms as f64 / 1000.0));
    // Read from the database, so the lag is right whichever process leads a projection.
    if let Ok(Ok(projections)) = tokio::time::timeout(PROBE_TIMEOUT, projection_status(&state.store)).await {
        for p in projections.iter().filter(|p| p.live) {
            let labels = ProjectionLabels {
                projection: p.name.clone(),
            };
            m.projection_lag_events.get_or_create(&labels).set(p.lag);
            m.projection_position.get_or_create(&labels).set(p.position);
        }
    }
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        m.render(),
    ))
}
