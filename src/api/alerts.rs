//! The triage API: `GET /api/v1/alerts` (filters, sorting, cursor pages), `GET
//! /api/v1/alerts/{id}` (live, or `?as_of=` a past time or position) and `POST
//! /api/v1/alerts/{id}/actions`. Reads need a reading role; actions an analyst or admin.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Authenticated;
use super::error::{ApiError, ApiResult};
use super::{AppState, json_body};
use crate::event::Role;
use crate::project::{AlertCommand, AlertFilter, AlertSort, AlertStatus, Cutoff, alert_queries, fold};

/// Largest page of alerts.
pub(crate) const MAX_PAGE: i64 = 500;
const DEFAULT_PAGE: i64 = 50;
/// Most source positions shown with one alert.
const MAX_SOURCE_POSITIONS: usize = 1_000;

/// Analysts and admins act on alerts and incidents; viewers and ingest tokens do not.
pub(crate) fn can_act(role: Role) -> bool {
    matches!(role, Role::Admin | Role::Analyst)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    status: Option<String>,
    min_severity: Option<i16>,
    max_severity: Option<i16>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    entity: Option<String>,
    /// An assignee, or `none` for unassigned alerts.
    assignee: Option<String>,
    incident_id: Option<i64>,
    sort: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// `limit` within 1..=max, or 400 naming the parameter.
pub(crate) fn page_limit(limit: Option<i64>, default: i64, max: i64) -> ApiResult<i64> {
    let limit = limit.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "query parameter `limit` must be between 1 and {max}"
        )));
    }
    Ok(limit)
}

/// Comma-separated values of `param`, each parsed by `parse`.
pub(crate) fn parse_list<T>(
    param: &str,
    text: Option<&str>,
    parse: fn(&str) -> Option<T>,
    expected: &str,
) -> ApiResult<Vec<T>> {
    text.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            parse(s).ok_or_else(|| {
                ApiError::BadRequest(format!("query parameter `{param}`: {s:?} is not one of {expected}"))
            })
        })
        .collect()
}

pub(crate) async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let caller = auth.require(Role::can_read, "read alerts")?;
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let (sort, descending) = match q.sort.as_deref() {
        Some(text) => AlertSort::parse(text)?,
        None => (AlertSort::LastSeen, true),
    };
    for (name, v) in [("min_severity", q.min_severity), ("max_severity", q.max_severity)] {
        if v.is_some_and(|v| !(0..=10).contains(&v)) {
            return Err(ApiError::BadRequest(format!(
                "query parameter `{name}` must be between 0 and 10"
            )));
        }
    }
    let filter = AlertFilter {
        statuses: parse_list(
            "status",
            q.status.as_deref(),
            AlertStatus::parse,
            "open, acknowledged, in_progress, resolved",
        )?,
        min_severity: q.min_severity,
        max_severity: q.max_severity,
        from: q.from,
        to: q.to,
        entity: q.entity.filter(|e| !e.is_empty()),
        assignee: q.assignee.map(|a| (a != "none").then_some(a)),
        incident_id: q.incident_id,
        sort,
        descending,
        limit: page_limit(q.limit, DEFAULT_PAGE, MAX_PAGE)?,
        cursor: q.cursor,
    };
    let page = alert_queries::list(&state.store, &caller.tenant, &filter).await?;
    Ok(Json(serde_json::to_value(page).unwrap_or_default()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GetQuery {
    as_of: Option<String>,
}

/// One alert with the positions of its source events; `ETag` carries its version.
pub(crate) async fn get(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
    query: Result<Query<GetQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let caller = auth.require(Role::can_read, "read alerts")?;
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let client = state.store.client().await?;
    let (alert, positions, as_of) = match q.as_of.as_deref() {
        Some(text) => {
            let cutoff = Cutoff::parse(text)?;
            let (alert, positions) = fold::load_alert(&**client, &caller.tenant, id, cutoff, true).await?;
            (alert, positions, Some(text.to_owned()))
        }
        None => {
            let alert = alert_queries::get(&state.store, &caller.tenant, id).await?;
            let positions = fold::alert_source_positions(&**client, &caller.tenant, id, false).await?;
            (alert, positions, None)
        }
    };
    let mut body = serde_json::to_value(&alert).unwrap_or_default();
    if let Value::Object(map) = &mut body {
        map.insert(
            "source_positions_truncated".into(),
            json!(positions.len() > MAX_SOURCE_POSITIONS),
        );
        map.insert(
            "source_positions".into(),
            json!(positions[..positions.len().min(MAX_SOURCE_POSITIONS)]),
        );
        if let Some(as_of) = as_of {
            map.insert("as_of".into(), json!(as_of));
        }
    }
    Ok(with_etag(alert.version, Json(body)))
}

/// A response carrying `ETag: "<version>"`.
pub(crate) fn with_etag(version: i64, body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

/// The version an `If-Match` header names: `"123"` or `123`; `*` or no header checks none.
pub(crate) fn if_match(headers: &HeaderMap) -> ApiResult<Option<i64>> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    text.trim_matches('"').parse::<i64>().map(Some).map_err(|_| {
        ApiError::BadRequest(format!(
            "header If-Match: {text:?} is not a version; send the ETag of the object, e.g. \"42\""
        ))
    })
}

pub(crate) async fn act(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let caller = auth.require(can_act, "act on alerts")?;
    let expected = if_match(&headers)?;
    let command: AlertCommand = json_body(&body)?;
    let outcome = state.soc.alert_action(&caller, id, expected, command).await?;
    Ok(with_etag(outcome.version, Json(outcome)))
}
