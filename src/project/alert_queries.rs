//! The triage queries: the tenant's alerts from the live read model, filtered, sorted and
//! paged with a keyset cursor.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::types::ToSql;

use super::alert::{Alert, AlertStatus};
use super::alerts::{COLUMNS, from_row};
use super::fold::LIVE_ALERTS;
use super::{Error, Result};
use crate::event::TenantId;
use crate::store::Store;

/// The column an alert list is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertSort {
    LastSeen,
    FirstSeen,
    Severity,
    Count,
    Id,
}

impl AlertSort {
    /// Parses `last_seen`, `-severity`, ...: a leading `-` sorts descending.
    pub fn parse(text: &str) -> Result<(Self, bool)> {
        let (desc, name) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let sort = match name {
            "last_seen" => AlertSort::LastSeen,
            "first_seen" => AlertSort::FirstSeen,
            "severity" => AlertSort::Severity,
            "count" => AlertSort::Count,
            "id" => AlertSort::Id,
            _ => {
                return Err(Error::BadInput(format!(
                    "query parameter `sort`: {text:?} is not one of last_seen, first_seen, severity, count, id \
                     (prefix - for descending)"
                )));
            }
        };
        Ok((sort, desc))
    }

    fn column(self) -> (&'static str, &'static str) {
        match self {
            AlertSort::LastSeen => ("last_seen", "timestamptz"),
            AlertSort::FirstSeen => ("first_seen", "timestamptz"),
            AlertSort::Severity => ("severity", "smallint"),
            AlertSort::Count => ("count", "bigint"),
            AlertSort::Id => ("id", "bigint"),
        }
    }
}

/// Which alerts to list.
#[derive(Debug, Clone)]
pub struct AlertFilter {
    pub statuses: Vec<AlertStatus>,
    pub min_severity: Option<i16>,
    pub max_severity: Option<i16>,
    /// Alerts last seen at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Alerts first seen before this time.
    pub to: Option<DateTime<Utc>>,
    pub entity: Option<String>,
    /// An assignee, or `Some(None)` for unassigned alerts.
    pub assignee: Option<Option<String>>,
    pub incident_id: Option<i64>,
    pub sort: AlertSort,
    pub descending: bool,
    pub limit: i64,
    pub cursor: Option<String>,
}

/// One page of alerts and the cursor of the next, if there may be one.
#[derive(Debug, Clone, Serialize)]
pub struct AlertPage {
    pub alerts: Vec<Alert>,
    pub next_cursor: Option<String>,
}

/// A statement built from optional conditions, numbering parameters as they are added.
pub(crate) struct Sql<'a> {
    pub sql: String,
    pub params: Vec<&'a (dyn ToSql + Sync)>,
}

impl<'a> Sql<'a> {
    pub(crate) fn new(sql: String, first: &'a (dyn ToSql + Sync)) -> Self {
        Sql {
            sql,
            params: vec![first],
        }
    }

    /// Appends ` AND cond`, where `$?` stands for `value`.
    pub(crate) fn and(&mut self, cond: &str, value: &'a (dyn ToSql + Sync)) {
        self.params.push(value);
        self.sql.push_str(" AND ");
        self.sql
            .push_str(&cond.replace("$?", &format!("${}", self.params.len())));
    }
}

fn decode_cursor(cursor: &str) -> Result<(String, i64)> {
    let bad = || Error::BadInput("query parameter `cursor` is not a cursor this list issued".into());
    let bytes = hex::decode(cursor).map_err(|_| bad())?;
    serde_json::from_slice::<(String, i64)>(&bytes).map_err(|_| bad())
}

/// Lists the tenant's alerts from the live read model.
pub(crate) async fn list(store: &Store, tenant: &TenantId, f: &AlertFilter) -> Result<AlertPage> {
    let (column, cast) = f.sort.column();
    let tenant = tenant.as_str();
    let statuses: Vec<&str> = f.statuses.iter().map(|s| s.as_str()).collect();
    let cursor = f.cursor.as_deref().map(decode_cursor).transpose()?;
    let mut q = Sql::new(
        format!(
            "SELECT {COLUMNS}, {column}::text AS sort_key FROM alerts WHERE version = {LIVE_ALERTS} AND tenant_id = $1"
        ),
        &tenant,
    );
    if !statuses.is_empty() {
        q.and("status = ANY($?)", &statuses);
    }
    if let Some(v) = &f.min_severity {
        q.and("severity >= $?", v);
    }
    if let Some(v) = &f.max_severity {
        q.and("severity <= $?", v);
    }
    if let Some(v) = &f.from {
        q.and("last_seen >= $?", v);
    }
    if let Some(v) = &f.to {
        q.and("first_seen < $?", v);
    }
    if let Some(v) = &f.entity {
        q.and("entity_values @> ARRAY[$?::text]", v);
    }
    match &f.assignee {
        Some(Some(v)) => q.and("assignee = $?", v),
        Some(None) => q.sql.push_str(" AND assignee IS NULL"),
        None => {}
    }
    if let Some(v) = &f.incident_id {
        q.and("incident_id = $?", v);
    }
    let Sql { mut sql, mut params } = q;
    let op = if f.descending { "<" } else { ">" };
    if let Some((value, id)) = &cursor {
        params.push(value);
        let n = params.len();
        params.push(id);
        sql.push_str(&format!(" AND ({column}, id) {op} (${n}::text::{cast}, ${})", n + 1));
    }
    let dir = if f.descending { "DESC" } else { "ASC" };
    let fetch = f.limit + 1;
    params.push(&fetch);
    sql.push_str(&format!(" ORDER BY {column} {dir}, id {dir} LIMIT ${}", params.len()));
    let client = store.client().await?;
    let rows = client.query(&sql, &params).await?;
    let more = rows.len() as i64 > f.limit;
    let rows = &rows[..rows.len().min(f.limit as usize)];
    let next_cursor = match rows.last() {
        Some(last) if more => {
            let key: (String, i64) = (last.get(20), last.get(0));
            Some(hex::encode(serde_json::to_vec(&key).unwrap_or_default()))
        }
        _ => None,
    };
    Ok(AlertPage {
        alerts: rows.iter().map(from_row).collect::<Result<_>>()?,
        next_cursor,
    })
}

/// One alert of the tenant from the live read model.
pub(crate) async fn get(store: &Store, tenant: &TenantId, id: i64) -> Result<Alert> {
    let client = store.client().await?;
    let row = client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM alerts WHERE version = {LIVE_ALERTS} AND tenant_id = $1 AND id = $2"),
            &[&tenant.as_str(), &id],
        )
        .await?
        .ok_or_else(|| Error::NotFound(format!("alert {id}")))?;
    from_row(&row)
}
