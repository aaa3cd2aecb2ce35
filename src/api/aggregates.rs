//! Dashboard aggregates: `GET /api/v1/aggregates/events` and `GET /api/v1/aggregates/metrics`,
//! JSON a chart can plot as is, computed over both tiers.

use axum::Json;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::AppState;
use super::auth::Authenticated;
use super::error::ApiResult;
use crate::event::Role;
use crate::query::aggregates::{self, EventCounts, GroupBy, MetricStats, TopField, Window};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsQuery {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    bucket: Option<String>,
    #[serde(default)]
    group_by: GroupBy,
    top: Option<TopField>,
    /// Series kept (and top values listed); default 10.
    n: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MetricsQuery {
    name: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    bucket: Option<String>,
}

pub(crate) async fn events(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(q): Query<EventsQuery>,
) -> ApiResult<Json<EventCounts>> {
    let caller = auth.require(Role::can_read, "read aggregates")?;
    let window = Window::new(q.from, q.to, q.bucket.as_deref())?;
    let engine = state.query_engine();
    let counts = aggregates::events(&engine, &caller.tenant, window, q.group_by, q.top, q.n.unwrap_or(10)).await?;
    Ok(Json(counts))
}

pub(crate) async fn metrics(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(q): Query<MetricsQuery>,
) -> ApiResult<Json<MetricStats>> {
    let caller = auth.require(Role::can_read, "read aggregates")?;
    let window = Window::new(q.from, q.to, q.bucket.as_deref())?;
    let engine = state.query_engine();
    Ok(Json(
        aggregates::metrics(&engine, &caller.tenant, window, q.name.as_deref()).await?,
    ))
}
