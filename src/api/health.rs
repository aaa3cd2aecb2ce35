//! `GET /api/health` (no token): database reachability, migrations, appender state; 503 when
//! degraded. `GET /metrics`: Prometheus text, for admin tokens.

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
use crate::store::migration_status;

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
    });
    (status, Json(body))
}

pub(crate) async fn prometheus(State(state): State<AppState>, auth: Authenticated) -> ApiResult<impl IntoResponse> {
    auth.require(Role::is_admin, "read process metrics")?;
    let status = state.appender.status();
    let m = &state.metrics;
    m.append_queue_events.set(status.queued_events as i64);
    m.append_connected.set(i64::from(status.connected));
    m.append_last_commit_age_seconds
        .set(status.last_commit_age_ms.map_or(f64::NAN, |ms| ms as f64 / 1000.0));
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        m.render(),
    ))
}
