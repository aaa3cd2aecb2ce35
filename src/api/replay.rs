//! `GET /api/v1/replay`: the caller's events as NDJSON, in position order, from the cold tier
//! and then the hot tier, streamed page by page so memory stays constant whatever the range.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use object_store::ObjectStore;
use serde::Deserialize;

use super::AppState;
use super::auth::Authenticated;
use super::error::{ApiError, ApiResult};
use crate::event::{EventKind, Role, TenantId};
use crate::store::{ReplayFilter, Store, TimeField};
use crate::tier;

#[derive(Debug, Deserialize)]
pub(crate) struct ReplayQuery {
    from_position: Option<i64>,
    to_position: Option<i64>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    #[serde(default)]
    time_field: TimeField,
    /// Comma-separated kinds.
    kind: Option<String>,
    /// Comma-separated sources.
    source: Option<String>,
    /// Stop after this many events.
    limit: Option<u64>,
    #[serde(default)]
    include_raw: bool,
}

impl ReplayQuery {
    fn into_filter(self) -> ApiResult<(ReplayFilter, Option<u64>, bool)> {
        if self.from_position.is_some_and(|p| p < 1) || self.to_position.is_some_and(|p| p < 0) {
            return Err(ApiError::BadRequest(
                "from_position must be at least 1 and to_position at least 0".into(),
            ));
        }
        if let (Some(a), Some(b)) = (self.from_position, self.to_position)
            && a > b
        {
            return Err(ApiError::BadRequest(format!(
                "from_position {a} is after to_position {b}"
            )));
        }
        if let (Some(a), Some(b)) = (self.from, self.to)
            && a >= b
        {
            return Err(ApiError::BadRequest("`from` must be before `to`".into()));
        }
        let kinds = split_list(self.kind.as_deref())
            .map(|k| {
                k.parse::<EventKind>()
                    .map_err(|e| ApiError::BadRequest(format!("query parameter `kind`: {e}")))
            })
            .collect::<ApiResult<Vec<_>>>()?;
        let sources = split_list(self.source.as_deref()).map(str::to_owned).collect();
        let filter = ReplayFilter {
            from_position: self.from_position,
            to_position: self.to_position,
            from: self.from,
            to: self.to,
            time_field: self.time_field,
            kinds,
            sources,
        };
        Ok((filter, self.limit, self.include_raw))
    }
}

fn split_list(list: Option<&str>) -> impl Iterator<Item = &str> {
    list.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

struct Cursor {
    store: Store,
    objects: Option<Arc<dyn ObjectStore>>,
    tenant: TenantId,
    filter: ReplayFilter,
    after: i64,
    remaining: u64,
    page_size: i64,
    include_raw: bool,
    done: bool,
}

pub(crate) async fn replay(
    State(state): State<AppState>,
    auth: Authenticated,
    query: Query<ReplayQuery>,
) -> ApiResult<Response> {
    let caller = auth.require(Role::can_read, "replay events")?;
    let (filter, limit, include_raw) = query.0.into_filter()?;
    let cursor = Cursor {
        store: state.store.clone(),
        objects: state.objects.clone(),
        tenant: caller.tenant,
        filter,
        after: 0,
        remaining: limit.unwrap_or(u64::MAX),
        page_size: state.limits.replay_page_size,
        include_raw,
        done: false,
    };
    let stream = futures_util::stream::unfold(cursor, |mut c| async move {
        if c.done || c.remaining == 0 {
            return None;
        }
        let limit = c.page_size.min(i64::try_from(c.remaining).unwrap_or(i64::MAX));
        match tier::read::replay_page(&c.store, c.objects.as_ref(), &c.tenant, &c.filter, c.after, limit).await {
            Ok(page) => {
                if page.is_empty() {
                    return None;
                }
                c.done = (page.len() as i64) < limit;
                c.remaining -= page.len() as u64;
                let mut out = Vec::with_capacity(page.len() * 512);
                for event in &page {
                    // Serializing a Value into a Vec cannot fail.
                    let _ = serde_json::to_writer(&mut out, &event.to_ecs(c.include_raw));
                    out.push(b'\n');
                }
                c.after = page.last().map_or(c.after, |e| e.position);
                Some((Ok::<_, std::io::Error>(Bytes::from(out)), c))
            }
            Err(e) => {
                tracing::error!(error = %e, after = c.after, "replay aborted");
                c.done = true;
                Some((Err(std::io::Error::other(e.to_string())), c))
            }
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}
