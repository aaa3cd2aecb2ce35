//! `POST /api/v1/ingest` (ECS events, JSON array or NDJSON) and `POST /api/v1/metrics`
//! (metric samples). Both answer only after the data is committed.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::Authenticated;
use super::error::{ApiError, ApiResult};
use crate::event::{DeadLetter, Role};
use crate::parse;
use crate::store::AppendJob;

#[derive(Debug, Deserialize)]
pub(crate) struct IngestQuery {
    source: Option<String>,
}

/// A record refused by index.
#[derive(Debug, Serialize)]
pub(crate) struct Rejected {
    index: usize,
    error: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct IngestResponse {
    accepted: usize,
    duplicates: usize,
    rejected: Vec<Rejected>,
    first_position: Option<i64>,
    last_position: Option<i64>,
}

const MAX_SOURCE_LEN: usize = 128;

pub(crate) async fn ingest(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(query): Query<IngestQuery>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<IngestResponse>> {
    let caller = auth.require(Role::can_ingest, "ingest events")?;
    let body = body.map_err(|r| ApiError::from_body(r, state.limits.max_body_bytes))?;
    let source = checked_source(query.source, "http")?;
    let records = parse::split_records(&body)?;
    let mut events = Vec::with_capacity(records.len());
    let mut dead_letters = Vec::new();
    let mut rejected = Vec::new();
    for record in records {
        match parse::normalize(record.value, record.raw, &source) {
            Ok(event) => events.push(event),
            Err(e) => {
                let reason = e.to_string();
                rejected.push(Rejected {
                    index: record.index,
                    error: reason.clone(),
                });
                dead_letters.push(DeadLetter {
                    index: record.index,
                    source: source.clone(),
                    reason,
                    raw: record.raw.to_vec(),
                });
            }
        }
    }
    let accepted = events.len();
    if accepted == 0 && dead_letters.is_empty() {
        return Ok(Json(IngestResponse {
            accepted,
            duplicates: 0,
            rejected,
            first_position: None,
            last_position: None,
        }));
    }
    let job = AppendJob {
        tenant: caller.tenant,
        events,
        dead_letters,
    };
    let receipt = append(&state, job).await?;
    Ok(Json(IngestResponse {
        accepted,
        duplicates: receipt.duplicates,
        rejected,
        first_position: receipt.first_position,
        last_position: receipt.last_position,
    }))
}

#[derive(Debug, Deserialize)]
pub(crate) struct RawQuery {
    format: Option<String>,
    source: Option<String>,
    /// Zone for timestamps that carry none, e.g. `Europe/Berlin`.
    tz: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct RawResponse {
    accepted: usize,
    duplicates: usize,
    /// Records stored as plain text (or with a field set aside), by index, and why.
    parse_errors: Vec<Rejected>,
    first_position: Option<i64>,
    last_position: Option<i64>,
}

/// `POST /api/v1/ingest/raw`: lines or one document in a vendor format, parsed and stored
/// through the same appender. Nothing is dropped: what no parser understands is stored as text.
pub(crate) async fn ingest_raw(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(query): Query<RawQuery>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<RawResponse>> {
    let caller = auth.require(Role::can_ingest, "ingest events")?;
    let body = body.map_err(|r| ApiError::from_body(r, state.limits.max_body_bytes))?;
    let source = checked_source(query.source, "raw")?;
    let format = match query.format.as_deref() {
        None => parse::Format::Auto,
        Some(f) => f
            .parse()
            .map_err(|e: parse::UnknownFormat| ApiError::BadRequest(format!("query parameter `format`: {e}")))?,
    };
    let mut ctx = parse::ParseContext::new(chrono::Utc::now());
    if let Some(tz) = &query.tz {
        ctx.tz = Some(
            tz.parse()
                .map_err(|_| ApiError::BadRequest(format!("query parameter `tz`: unknown time zone {tz:?}")))?,
        );
    }
    let parsed = tokio::task::spawn_blocking(move || parse::parse_body(&body, format, &source, &ctx))
        .await
        .map_err(|e| ApiError::BadRequest(format!("parsing failed: {e}")))?;
    let parse_errors: Vec<Rejected> = parsed
        .iter()
        .filter_map(|p| {
            p.parse_error.as_ref().map(|e| Rejected {
                index: p.index,
                error: e.clone(),
            })
        })
        .collect();
    let events: Vec<_> = parsed.into_iter().map(|p| p.event).collect();
    let accepted = events.len();
    if accepted == 0 {
        return Ok(Json(RawResponse {
            accepted,
            duplicates: 0,
            parse_errors,
            first_position: None,
            last_position: None,
        }));
    }
    let job = AppendJob {
        tenant: caller.tenant,
        events,
        dead_letters: Vec::new(),
    };
    let receipt = append(&state, job).await?;
    Ok(Json(RawResponse {
        accepted,
        duplicates: receipt.duplicates,
        parse_errors,
        first_position: receipt.first_position,
        last_position: receipt.last_position,
    }))
}

/// Commits `job`, counting refusals; a commit not confirmed in time is a 503.
async fn append(state: &AppState, job: AppendJob) -> ApiResult<crate::store::Receipt> {
    match tokio::time::timeout(state.limits.request_timeout, state.appender.append(job)).await {
        Ok(Ok(receipt)) => Ok(receipt),
        Ok(Err(e)) => {
            state.metrics.ingest_refused.inc();
            Err(e.into())
        }
        Err(_) => {
            state.metrics.ingest_refused.inc();
            Err(ApiError::CommitTimeout(state.limits.request_timeout.as_secs()))
        }
    }
}

/// The `source` query parameter, or `default`.
fn checked_source(source: Option<String>, default: &str) -> ApiResult<String> {
    let source = source.unwrap_or_else(|| default.to_owned());
    if source.is_empty() || source.len() > MAX_SOURCE_LEN || source.contains('\0') {
        return Err(ApiError::BadRequest(format!(
            "query parameter `source` must be 1 to {MAX_SOURCE_LEN} bytes without NUL"
        )));
    }
    if let Some(owner) = crate::event::reserved_source(&source) {
        return Err(ApiError::BadRequest(format!(
            "query parameter `source`: {source:?} is reserved for {owner}"
        )));
    }
    Ok(source)
}

#[derive(Debug, Serialize)]
pub(crate) struct SamplesResponse {
    accepted: u64,
}

pub(crate) async fn metrics(
    State(state): State<AppState>,
    auth: Authenticated,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<SamplesResponse>> {
    let caller = auth.require(Role::can_ingest, "ingest metric samples")?;
    let body = body.map_err(|r| ApiError::from_body(r, state.limits.max_body_bytes))?;
    let now = chrono::Utc::now();
    let samples = parse::split_records(&body)?
        .into_iter()
        .map(|r| parse::sample(r.value, now).map_err(|e| ApiError::BadRequest(format!("sample {}: {e}", r.index))))
        .collect::<ApiResult<Vec<_>>>()?;
    let accepted = state.store.insert_samples(&caller.tenant, &samples).await?;
    state.metrics.metric_samples.inc_by(accepted);
    Ok(Json(SamplesResponse { accepted }))
}
