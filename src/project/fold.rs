//! Reading one object's events from the log and folding them: the current state that actions
//! are checked against, and the state as of a past time or position (forensics). Reads only.

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use super::action::ObjectRef;
use super::alert::{Alert, fold_alert};
use super::incident::{Incident, fold_incident};
use super::{Error, Result};
use crate::event::TenantId;
use crate::store::StoredEvent;
use crate::store::read::SELECT_COLUMNS;

/// How far into the log a fold reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cutoff {
    /// Everything committed.
    Now,
    /// Events at or below this position.
    Position(i64),
    /// Events recorded at or before this time.
    Time(DateTime<Utc>),
}

impl Cutoff {
    /// Parses `as_of`: a position (digits) or an RFC 3339 time.
    pub fn parse(text: &str) -> Result<Self> {
        if let Ok(p) = text.parse::<i64>() {
            return if p >= 0 {
                Ok(Cutoff::Position(p))
            } else {
                Err(Error::BadInput(
                    "query parameter `as_of`: a position must be 0 or more".into(),
                ))
            };
        }
        DateTime::parse_from_rfc3339(text)
            .map(|t| Cutoff::Time(t.with_timezone(&Utc)))
            .map_err(|e| {
                Error::BadInput(format!(
                    "query parameter `as_of`: {text:?} is neither a log position nor an RFC 3339 time ({e})"
                ))
            })
    }

    /// The SQL condition and its parameter, numbered `$n`.
    fn condition(&self, n: usize) -> Option<(String, Box<dyn ToSql + Sync + Send>)> {
        match *self {
            Cutoff::Now => None,
            Cutoff::Position(p) => Some((format!(" AND position <= ${n}"), Box::new(p))),
            Cutoff::Time(t) => Some((format!(" AND recorded_at <= ${n}"), Box::new(t))),
        }
    }
}

/// The live version of a projection's read model.
pub(crate) const LIVE_ALERTS: &str = "(SELECT live_version FROM projections WHERE name = 'alerts')";

/// The actions that name `object`, up to `cutoff`, in position order.
async fn actions_of<C: GenericClient>(
    c: &C,
    tenant: &TenantId,
    object: ObjectRef,
    cutoff: Cutoff,
) -> Result<Vec<StoredEvent>> {
    let probe = object.probe();
    let tenant = tenant.as_str();
    let mut sql = format!(
        "SELECT {SELECT_COLUMNS} FROM events WHERE tenant_id = $1 AND kind = 'action' \
         AND (fields -> 'soc.objects') @> $2::jsonb"
    );
    let cond = cutoff.condition(3);
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&tenant, &probe];
    if let Some((text, value)) = &cond {
        sql.push_str(text);
        params.push(value.as_ref() as &(dyn ToSql + Sync));
    }
    sql.push_str(" ORDER BY position");
    let rows = c.query(&sql, &params).await?;
    Ok(rows.iter().map(StoredEvent::from_row).collect())
}

/// The tenant's events at `positions`, up to `cutoff`, in position order.
pub(crate) async fn events_at<C: GenericClient>(
    c: &C,
    tenant: &TenantId,
    positions: &[i64],
    cutoff: Cutoff,
) -> Result<Vec<StoredEvent>> {
    if positions.is_empty() {
        return Ok(Vec::new());
    }
    let tenant = tenant.as_str();
    let mut sql = format!("SELECT {SELECT_COLUMNS} FROM events WHERE tenant_id = $1 AND position = ANY($2)");
    let cond = cutoff.condition(3);
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&tenant, &positions];
    if let Some((text, value)) = &cond {
        sql.push_str(text);
        params.push(value.as_ref() as &(dyn ToSql + Sync));
    }
    sql.push_str(" ORDER BY position");
    let rows = c.query(&sql, &params).await?;
    Ok(rows.iter().map(StoredEvent::from_row).collect())
}

/// Merges two position-ordered lists.
fn merge(mut a: Vec<StoredEvent>, b: Vec<StoredEvent>) -> Vec<StoredEvent> {
    a.extend(b);
    a.sort_by_key(|e| e.position);
    a.dedup_by_key(|e| e.position);
    a
}

/// Positions of an alert's source events, per the live read model (only the first with
/// `first_only`). Empty when the tenant has no such alert.
pub(crate) async fn alert_source_positions<C: GenericClient>(
    c: &C,
    tenant: &TenantId,
    id: i64,
    first_only: bool,
) -> Result<Vec<i64>> {
    let limit = if first_only { " LIMIT 1" } else { "" };
    let rows = c
        .query(
            &format!(
                "SELECT position FROM alert_sources WHERE version = {LIVE_ALERTS} AND tenant_id = $1 \
                 AND alert_id = $2 ORDER BY position{limit}"
            ),
            &[&tenant.as_str(), &id],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Folds alert `id` of `tenant` up to `cutoff`, with the positions of its source events.
/// Without `duplicates`, only its first event and its actions are read: enough for status,
/// assignee, incident and version, which duplicates never change.
pub(crate) async fn load_alert<C: GenericClient>(
    c: &C,
    tenant: &TenantId,
    id: i64,
    cutoff: Cutoff,
    duplicates: bool,
) -> Result<(Alert, Vec<i64>)> {
    let not_found = || Error::NotFound(format!("alert {id}"));
    let positions = alert_source_positions(c, tenant, id, !duplicates).await?;
    if positions.first() != Some(&id) {
        return Err(not_found());
    }
    let sources = events_at(c, tenant, &positions, cutoff).await?;
    let source_positions = sources.iter().map(|e| e.position).collect();
    let actions = actions_of(c, tenant, ObjectRef::Alert(id), cutoff).await?;
    let alert = fold_alert(&merge(sources, actions)).ok_or_else(not_found)?;
    Ok((alert, source_positions))
}

/// Folds incident `id` of `tenant` up to `cutoff`.
pub(crate) async fn load_incident<C: GenericClient>(
    c: &C,
    tenant: &TenantId,
    id: i64,
    cutoff: Cutoff,
) -> Result<Incident> {
    let created = events_at(c, tenant, &[id], cutoff).await?;
    let actions = actions_of(c, tenant, ObjectRef::Incident(id), cutoff).await?;
    fold_incident(id, &merge(created, actions)).ok_or_else(|| Error::NotFound(format!("incident {id}")))
}
