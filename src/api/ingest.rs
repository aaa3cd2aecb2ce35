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
    let source = query.source.unwrap_or_else(|| "http".to_owned());
    if source.is_empty() || source.len() > MAX_SOURCE_LEN || source.contains('\0') {
        return Err(ApiError::BadRequest(format!(
            "query parameter `source` must be 1 to {MAX_SOURCE_LEN} bytes without NUL"
        )));
    }
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
    let receipt = match tokio::time::timeout(state.limits.request_timeout, state.appender.append(job)).await {
        Ok(Ok(receipt)) => receipt,
        Ok(Err(e)) => {
            state.metrics.ingest_refused.inc();
            return Err(e.into());
        }
        Err(_) => {
            state.metrics.ingest_refused.inc();
            return Err(ApiError::CommitTimeout(state.limits.request_timeout.as_secs()));
        }
    };
    Ok(Json(IngestResponse {
        accepted,
        duplicates: receipt.duplicates,
        rejected,
        first_position: receipt.first_position,
        last_position: receipt.last_position,
    }))
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
