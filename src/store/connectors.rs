//! The `connectors` and `connector_status` tables: connector rows as the API writes them, and
//! the status and counters the supervisor saves beside them.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

use super::{Error, Result, Store};
use crate::event::TenantId;
use crate::ingest::stats::{Health, State, Totals};

/// One row of `connectors`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectorRow {
    pub id: i64,
    pub tenant: String,
    pub name: String,
    pub protocol: String,
    pub enabled: bool,
    pub config: serde_json::Value,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a caller asks to change; `None` keeps the current value.
#[derive(Debug, Default, Clone)]
pub struct ConnectorChange {
    pub name: Option<String>,
    pub protocol: Option<String>,
    pub enabled: Option<bool>,
    pub config: Option<serde_json::Value>,
    /// Change only if the row is still at this version (no lost update).
    pub expected_version: Option<i64>,
}

/// One row of `connector_status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SavedStatus {
    pub state: State,
    #[serde(flatten)]
    pub health: Health,
    #[serde(flatten)]
    pub totals: Totals,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, tenant_id, name, protocol, enabled, config, version, created_at, updated_at";

fn connector(row: &Row) -> ConnectorRow {
    ConnectorRow {
        id: row.get(0),
        tenant: row.get(1),
        name: row.get(2),
        protocol: row.get(3),
        enabled: row.get(4),
        config: row.get(5),
        version: row.get(6),
        created_at: row.get(7),
        updated_at: row.get(8),
    }
}

/// Every connector of `tenant`, or of every tenant (for the supervisor), by id.
pub async fn list_connectors(store: &Store, tenant: Option<&TenantId>) -> Result<Vec<ConnectorRow>> {
    let client = store.client().await?;
    let rows = match tenant {
        Some(t) => {
            let sql = format!("SELECT {COLUMNS} FROM connectors WHERE tenant_id = $1 ORDER BY id");
            client.query(&sql, &[&t.as_str()]).await?
        }
        None => {
            client
                .query(&format!("SELECT {COLUMNS} FROM connectors ORDER BY id"), &[])
                .await?
        }
    };
    Ok(rows.iter().map(connector).collect())
}

pub async fn get_connector(store: &Store, tenant: &TenantId, id: i64) -> Result<Option<ConnectorRow>> {
    let client = store.client().await?;
    let sql = format!("SELECT {COLUMNS} FROM connectors WHERE tenant_id = $1 AND id = $2");
    Ok(client
        .query_opt(&sql, &[&tenant.as_str(), &id])
        .await?
        .as_ref()
        .map(connector))
}

/// Inserts a connector; a name the tenant already uses is [`Error::Conflict`].
pub async fn create_connector(
    store: &Store,
    tenant: &TenantId,
    name: &str,
    protocol: &str,
    enabled: bool,
    config: &serde_json::Value,
) -> Result<ConnectorRow> {
    let client = store.client().await?;
    let sql = format!(
        "INSERT INTO connectors (tenant_id, name, protocol, enabled, config) VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    );
    let row = client
        .query_one(&sql, &[&tenant.as_str(), &name, &protocol, &enabled, config])
        .await
        .map_err(|e| name_taken(e, name))?;
    Ok(connector(&row))
}

/// Applies `change` and bumps the version; `None` when the tenant has no such connector, or
/// it is no longer at `change.expected_version`.
pub async fn update_connector(
    store: &Store,
    tenant: &TenantId,
    id: i64,
    change: &ConnectorChange,
) -> Result<Option<ConnectorRow>> {
    let client = store.client().await?;
    let sql = format!(
        "UPDATE connectors SET name = coalesce($3, name), protocol = coalesce($4, protocol), \
         enabled = coalesce($5, enabled), config = coalesce($6, config), version = version + 1, updated_at = now() \
         WHERE tenant_id = $1 AND id = $2 AND ($7::bigint IS NULL OR version = $7) RETURNING {COLUMNS}"
    );
    let row = client
        .query_opt(
            &sql,
            &[
                &tenant.as_str(),
                &id,
                &change.name,
                &change.protocol,
                &change.enabled,
                &change.config,
                &change.expected_version,
            ],
        )
        .await
        .map_err(|e| name_taken(e, change.name.as_deref().unwrap_or_default()))?;
    Ok(row.as_ref().map(connector))
}

/// Deletes a connector and its status; false when the tenant has no such connector.
pub async fn delete_connector(store: &Store, tenant: &TenantId, id: i64) -> Result<bool> {
    let client = store.client().await?;
    let n = client
        .execute(
            "DELETE FROM connectors WHERE tenant_id = $1 AND id = $2",
            &[&tenant.as_str(), &id],
        )
        .await?;
    Ok(n > 0)
}

fn name_taken(e: tokio_postgres::Error, name: &str) -> Error {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        Error::Conflict(format!("a connector named {name:?} already exists"))
    } else {
        Error::Query(e)
    }
}

/// Saved status of the connectors in `ids`.
pub async fn load_status(store: &Store, ids: &[i64]) -> Result<HashMap<i64, SavedStatus>> {
    let client = store.client().await?;
    let rows = client
        .query(
            "SELECT connector_id, state, last_successful_connection, last_error, last_error_at, received, parsed, \
             stored, bytes, connections, truncated, dropped, updated_at FROM connector_status WHERE connector_id = ANY($1)",
            &[&ids],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            let count = |i: usize| row.get::<_, i64>(i).max(0) as u64;
            let dropped: serde_json::Value = row.get(11);
            let dropped: BTreeMap<String, u64> = serde_json::from_value(dropped).unwrap_or_default();
            let status = SavedStatus {
                state: State::parse(row.get(1)),
                health: Health {
                    last_successful_connection: row.get(2),
                    last_error: row.get(3),
                    last_error_at: row.get(4),
                },
                totals: Totals {
                    received: count(5),
                    parsed: count(6),
                    stored: count(7),
                    bytes: count(8),
                    connections: count(9),
                    truncated: count(10),
                    dropped,
                },
                updated_at: row.get(12),
            };
            (row.get(0), status)
        })
        .collect())
}

/// Saves the status of each connector in `statuses`, in one transaction. A connector deleted
/// meanwhile is skipped.
pub async fn save_status(store: &Store, statuses: &[(i64, State, Health, Totals)]) -> Result<()> {
    if statuses.is_empty() {
        return Ok(());
    }
    let mut client = store.client().await?;
    let tx = client.transaction().await?;
    let stmt = tx
        .prepare(
            "INSERT INTO connector_status AS s (connector_id, state, last_successful_connection, last_error, \
             last_error_at, received, parsed, stored, bytes, connections, truncated, dropped, updated_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, now() WHERE EXISTS (SELECT 1 FROM connectors WHERE id = $1) \
             ON CONFLICT (connector_id) DO UPDATE SET state = excluded.state, \
             last_successful_connection = excluded.last_successful_connection, last_error = excluded.last_error, \
             last_error_at = excluded.last_error_at, received = excluded.received, parsed = excluded.parsed, \
             stored = excluded.stored, bytes = excluded.bytes, connections = excluded.connections, \
             truncated = excluded.truncated, dropped = excluded.dropped, updated_at = now()",
        )
        .await?;
    for (id, state, health, totals) in statuses {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let dropped = serde_json::to_value(&totals.dropped).unwrap_or_default();
        tx.execute(
            &stmt,
            &[
                id,
                &state.as_str(),
                &health.last_successful_connection,
                &health.last_error,
                &health.last_error_at,
                &n(totals.received),
                &n(totals.parsed),
                &n(totals.stored),
                &n(totals.bytes),
                &n(totals.connections),
                &n(totals.truncated),
                &dropped,
            ],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
