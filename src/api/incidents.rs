//! Incidents: `POST /api/v1/incidents` (empty or from alerts), `GET` list and one (live or
//! `?as_of=`), `POST .../actions`, `GET .../timeline` (NDJSON, position order), and evidence:
//! `POST .../evidence?name=` (the body is the file), list, and download.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use super::alerts::{can_act, if_match, page_limit, parse_list, with_etag};
use super::auth::Authenticated;
use super::error::{ApiError, ApiResult};
use super::{AppState, json_body};
use crate::event::Role;
use crate::project::{
    CreateIncident, Cutoff, EvidenceUpload, IncidentCommand, IncidentFilter, IncidentSeverity, IncidentStatus, fold,
    incidents, timeline_page, timeline_positions,
};

const MAX_PAGE: i64 = 200;
const DEFAULT_PAGE: i64 = 50;
/// Events per database round trip while streaming a timeline.
const TIMELINE_PAGE: usize = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    status: Option<String>,
    severity: Option<String>,
    assignee: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    q.map(|Query(v)| v).map_err(|e| ApiError::BadRequest(e.body_text()))
}

pub(crate) async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let caller = auth.require(Role::can_read, "read incidents")?;
    let q = query(q)?;
    let before_id = q
        .cursor
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| ApiError::BadRequest("query parameter `cursor` is not a cursor this list issued".into()))
        })
        .transpose()?;
    let filter = IncidentFilter {
        statuses: parse_list(
            "status",
            q.status.as_deref(),
            IncidentStatus::parse,
            "open, investigating, contained, resolved, closed",
        )?,
        severities: parse_list(
            "severity",
            q.severity.as_deref(),
            IncidentSeverity::parse,
            "low, medium, high, critical",
        )?,
        assignee: q.assignee,
        limit: page_limit(q.limit, DEFAULT_PAGE, MAX_PAGE)?,
        before_id,
    };
    let page = incidents::list(&state.store, &caller.tenant, &filter).await?;
    Ok(Json(serde_json::to_value(page).unwrap_or_default()))
}

pub(crate) async fn create(State(state): State<AppState>, auth: Authenticated, body: Bytes) -> ApiResult<Response> {
    let caller = auth.require(can_act, "create incidents")?;
    let create: CreateIncident = json_body(&body)?;
    let outcome = state.soc.create_incident(&caller, create).await?;
    let version = outcome.version;
    Ok(with_etag(version, (StatusCode::CREATED, Json(outcome))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GetQuery {
    as_of: Option<String>,
}

pub(crate) async fn get(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
    q: Result<Query<GetQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let caller = auth.require(Role::can_read, "read incidents")?;
    let q = query(q)?;
    let (incident, as_of) = match q.as_of {
        Some(text) => {
            let cutoff = Cutoff::parse(&text)?;
            let client = state.store.client().await?;
            (
                fold::load_incident(&**client, &caller.tenant, id, cutoff).await?,
                Some(text),
            )
        }
        None => (incidents::get(&state.store, &caller.tenant, id).await?, None),
    };
    let mut body = serde_json::to_value(&incident).unwrap_or_default();
    if let (Value::Object(map), Some(as_of)) = (&mut body, as_of) {
        map.insert("as_of".into(), json!(as_of));
    }
    Ok(with_etag(incident.version, Json(body)))
}

pub(crate) async fn act(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let caller = auth.require(can_act, "act on incidents")?;
    let expected = if_match(&headers)?;
    let command: IncidentCommand = json_body(&body)?;
    let outcome = state.soc.incident_action(&caller, id, expected, command).await?;
    Ok(with_etag(outcome.version, Json(outcome)))
}

/// Streams the incident's timeline as NDJSON ECS events, in position order.
pub(crate) async fn timeline(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    let caller = auth.require(Role::can_read, "read incidents")?;
    let positions = timeline_positions(&state.store, &caller.tenant, id).await?;
    let store = state.store.clone();
    let tenant = caller.tenant;
    let chunks: Vec<Vec<i64>> = positions.chunks(TIMELINE_PAGE).map(<[i64]>::to_vec).collect();
    let stream = futures_util::stream::iter(chunks).then(move |chunk| {
        let (store, tenant) = (store.clone(), tenant.clone());
        async move {
            let events = timeline_page(&store, &tenant, &chunk).await.map_err(|e| {
                tracing::error!(error = %e, "timeline aborted");
                std::io::Error::other(e.to_string())
            })?;
            let mut out = Vec::with_capacity(events.len() * 512);
            for event in &events {
                // Serializing a Value into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut out, &event.to_ecs(false));
                out.push(b'\n');
            }
            Ok::<_, std::io::Error>(Bytes::from(out))
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UploadQuery {
    name: Option<String>,
}

/// `POST .../evidence?name=FILE`: the request body is the file.
pub(crate) async fn upload_evidence(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
    headers: HeaderMap,
    q: Result<Query<UploadQuery>, QueryRejection>,
    body: Body,
) -> ApiResult<Response> {
    let caller = auth.require(can_act, "add evidence")?;
    let expected = if_match(&headers)?;
    let name = query(q)?
        .name
        .ok_or_else(|| ApiError::BadRequest("query parameter `name` (the file name) is required".into()))?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let upload = EvidenceUpload { name, content_type };
    let (outcome, evidence) = state
        .soc
        .add_evidence(&caller, id, expected, upload, body.into_data_stream())
        .await?;
    let body = json!({ "evidence": evidence, "position": outcome.position, "version": outcome.version });
    Ok(with_etag(outcome.version, (StatusCode::CREATED, Json(body))))
}

pub(crate) async fn list_evidence(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let caller = auth.require(Role::can_read, "read evidence")?;
    let client = state.store.client().await?;
    let incident = fold::load_incident(&**client, &caller.tenant, id, Cutoff::Now).await?;
    Ok(Json(json!({ "incident_id": id, "evidence": incident.evidence })))
}

pub(crate) async fn download_evidence(
    State(state): State<AppState>,
    auth: Authenticated,
    Path((id, evidence_id)): Path<(i64, String)>,
) -> ApiResult<Response> {
    let caller = auth.require(Role::can_read, "read evidence")?;
    let (evidence, bytes) = state.soc.evidence_file(&caller.tenant, id, &evidence_id).await?;
    let mut response = Body::from_stream(bytes).into_response();
    let headers = response.headers_mut();
    let mut set = |name: header::HeaderName, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    set(header::CONTENT_TYPE, evidence.content_type.clone());
    set(header::CONTENT_LENGTH, evidence.size.to_string());
    set(
        header::CONTENT_DISPOSITION,
        format!("attachment; filename=\"{}\"", evidence.name.replace(['"', '\\'], "_")),
    );
    set(
        header::HeaderName::from_static("x-content-sha256"),
        evidence.sha256.clone(),
    );
    Ok(response)
}
