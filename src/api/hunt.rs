//! SQL hunts and named queries: `POST /api/v1/hunt`, `GET /api/v1/queries`,
//! `POST /api/v1/queries/{name}`. The result streams in the requested format.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::auth::Authenticated;
use super::error::ApiResult;
use super::{AppState, json_body};
use crate::event::{Role, TenantId};
use crate::query::{self, Format, HuntRequest, Params, named};

/// Bounds shared by hunts and named queries.
struct Bounds {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    limit: Option<usize>,
    timeout_ms: Option<u64>,
    format: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HuntBody {
    sql: String,
    /// Values of `$1`, `$2`, …
    #[serde(default)]
    params: Vec<Value>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    limit: Option<usize>,
    timeout_ms: Option<u64>,
    format: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NamedBody {
    /// Values by parameter name.
    #[serde(default)]
    params: Map<String, Value>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    limit: Option<usize>,
    timeout_ms: Option<u64>,
    format: Option<String>,
}

pub(crate) async fn hunt(State(state): State<AppState>, auth: Authenticated, body: Bytes) -> ApiResult<Response> {
    let caller = auth.require(Role::can_read, "run hunts")?;
    let body: HuntBody = json_body(&body)?;
    let bounds = Bounds {
        from: body.from,
        to: body.to,
        limit: body.limit,
        timeout_ms: body.timeout_ms,
        format: body.format,
    };
    run(
        &state,
        &caller.tenant,
        body.sql,
        Params::Positional(body.params),
        bounds,
    )
    .await
}

pub(crate) async fn list_queries(State(state): State<AppState>, auth: Authenticated) -> ApiResult<Json<Value>> {
    auth.require(Role::can_read, "list queries")?;
    let queries = named::load_dir(&state.query.queries_dir)?;
    Ok(Json(json!({ "queries": queries })))
}

pub(crate) async fn run_query(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let caller = auth.require(Role::can_read, "run queries")?;
    let body: NamedBody = if body.is_empty() {
        NamedBody::default()
    } else {
        json_body(&body)?
    };
    let query = named::find(&state.query.queries_dir, &name)?;
    let params = Params::Named(query.bind(&body.params)?);
    let bounds = Bounds {
        from: body.from,
        to: body.to,
        limit: body.limit,
        timeout_ms: body.timeout_ms,
        format: body.format,
    };
    run(&state, &caller.tenant, query.sql, params, bounds).await
}

async fn run(state: &AppState, tenant: &TenantId, sql: String, params: Params, bounds: Bounds) -> ApiResult<Response> {
    let format: Format = bounds.format.as_deref().unwrap_or("json").parse()?;
    let req = HuntRequest {
        sql,
        params,
        from: bounds.from,
        to: bounds.to,
        limit: bounds.limit,
        timeout: bounds.timeout_ms.map(std::time::Duration::from_millis),
    };
    let hunt = state.query_engine().hunt(tenant, req).await?;
    Ok((
        [(header::CONTENT_TYPE, format.content_type())],
        Body::from_stream(query::encode(hunt, format)),
    )
        .into_response())
}
