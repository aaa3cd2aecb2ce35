//! The alerts read model: every `kind=alert` event becomes an alert or, within the dedup
//! window, a duplicate of the newest alert with its fingerprint; actions that name an alert
//! are folded into it.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::action::{ActionRecord, ObjectRef};
use super::alert::{Alert, AlertStatus, Comment, Entities, fingerprint};
use super::{Error, Result};
use crate::store::StoredEvent;

/// Columns read back into an [`Alert`], in [`from_row`] order.
pub(super) const COLUMNS: &str = "id, tenant_id, fingerprint, source, signature, title, severity, status, assignee, resolution, \
     first_seen, last_seen, count, entities, incident_id, comments, state_version, last_position, created_at, updated_at";

pub(crate) fn from_row(row: &tokio_postgres::Row) -> Result<Alert> {
    let status: String = row.get(7);
    let decode = |e: serde_json::Error| Error::BadInput(format!("stored alert is unreadable: {e}"));
    Ok(Alert {
        id: row.get(0),
        tenant_id: row.get(1),
        fingerprint: row.get(2),
        source: row.get(3),
        signature: row.get(4),
        title: row.get(5),
        severity: row.get(6),
        status: AlertStatus::parse(&status).unwrap_or(AlertStatus::Open),
        assignee: row.get(8),
        resolution: row.get(9),
        first_seen: row.get(10),
        last_seen: row.get(11),
        count: row.get(12),
        entities: serde_json::from_value::<Entities>(row.get(13)).map_err(decode)?,
        incident_id: row.get(14),
        comments: serde_json::from_value::<Vec<Comment>>(row.get(15)).map_err(decode)?,
        version: row.get(16),
        last_position: row.get(17),
        created_at: row.get(18),
        updated_at: row.get(19),
    })
}

use super::Key;

/// Folds `events` (alerts and actions, in position order) into version `version`.
pub(crate) async fn apply_batch(
    tx: &tokio_postgres::Transaction<'_>,
    version: i32,
    events: &[StoredEvent],
    window: chrono::Duration,
) -> Result<()> {
    let mut by_fingerprint: Vec<(String, String)> = Vec::new();
    let mut by_id: Vec<Key> = Vec::new();
    let mut fingerprints = Vec::with_capacity(events.len());
    for event in events {
        if event.kind == "alert" {
            let fp = fingerprint(event);
            by_fingerprint.push((event.tenant_id.clone(), fp.clone()));
            fingerprints.push(Some(fp));
        } else {
            fingerprints.push(None);
            if let Some(action) = ActionRecord::from_event(event) {
                for object in &action.objects {
                    if let ObjectRef::Alert(id) = object {
                        by_id.push((event.tenant_id.clone(), *id));
                    }
                }
            }
        }
    }
    let mut alerts: HashMap<Key, Alert> = HashMap::new();
    let mut newest: HashMap<(String, String), i64> = HashMap::new();
    for alert in load_newest(tx, version, &by_fingerprint).await? {
        newest.insert((alert.tenant_id.clone(), alert.fingerprint.clone()), alert.id);
        alerts.insert((alert.tenant_id.clone(), alert.id), alert);
    }
    by_id.retain(|k| !alerts.contains_key(k));
    for alert in load_by_id(tx, version, &by_id).await? {
        alerts.insert((alert.tenant_id.clone(), alert.id), alert);
    }

    let mut dirty: HashSet<Key> = HashSet::new();
    let mut sources: (Vec<String>, Vec<i64>, Vec<i64>) = (Vec::new(), Vec::new(), Vec::new());
    for (event, fp) in events.iter().zip(fingerprints) {
        if let Some(fp) = fp {
            let fp_key = (event.tenant_id.clone(), fp);
            let existing = newest
                .get(&fp_key)
                .and_then(|id| alerts.get_mut(&(event.tenant_id.clone(), *id)))
                .filter(|a| a.absorbs(event, window));
            let id = match existing {
                Some(alert) => {
                    alert.add_duplicate(event);
                    alert.id
                }
                None => {
                    let alert = Alert::from_event(event);
                    newest.insert(fp_key, alert.id);
                    alerts.insert((event.tenant_id.clone(), alert.id), alert);
                    event.position
                }
            };
            dirty.insert((event.tenant_id.clone(), id));
            sources.0.push(event.tenant_id.clone());
            sources.1.push(id);
            sources.2.push(event.position);
        } else if let Some(action) = ActionRecord::from_event(event) {
            for object in &action.objects {
                let ObjectRef::Alert(id) = *object else { continue };
                let key = (event.tenant_id.clone(), id);
                match alerts.get_mut(&key) {
                    Some(alert) => {
                        alert.apply(&action);
                        dirty.insert(key);
                    }
                    None => tracing::warn!(
                        position = event.position,
                        alert = id,
                        "action names an unknown alert; skipped"
                    ),
                }
            }
        }
    }
    let rows: Vec<Value> = dirty.iter().filter_map(|k| alerts.get(k)).map(to_row).collect();
    store_rows(tx, version, rows).await?;
    if !sources.0.is_empty() {
        tx.execute(
            "INSERT INTO alert_sources (version, tenant_id, alert_id, position) \
             SELECT $1, * FROM unnest($2::text[], $3::int8[], $4::int8[])",
            &[&version, &sources.0, &sources.1, &sources.2],
        )
        .await?;
    }
    Ok(())
}

/// The newest alert of each (tenant, fingerprint).
async fn load_newest(
    tx: &tokio_postgres::Transaction<'_>,
    version: i32,
    keys: &[(String, String)],
) -> Result<Vec<Alert>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let (tenants, fps): (Vec<&str>, Vec<&str>) = keys.iter().map(|(t, f)| (t.as_str(), f.as_str())).unzip();
    let rows = tx
        .query(
            &format!(
                "SELECT DISTINCT ON (tenant_id, fingerprint) {COLUMNS} FROM alerts \
                 WHERE version = $1 AND (tenant_id, fingerprint) IN (SELECT * FROM unnest($2::text[], $3::text[])) \
                 ORDER BY tenant_id, fingerprint, id DESC"
            ),
            &[&version, &tenants, &fps],
        )
        .await?;
    rows.iter().map(from_row).collect()
}

async fn load_by_id(tx: &tokio_postgres::Transaction<'_>, version: i32, keys: &[Key]) -> Result<Vec<Alert>> {
    let rows = super::rows_by_key(tx, "alerts", COLUMNS, version, keys).await?;
    rows.iter().map(from_row).collect()
}

fn to_row(a: &Alert) -> Value {
    serde_json::json!({
        "tenant_id": a.tenant_id, "id": a.id, "fingerprint": a.fingerprint, "source": a.source,
        "signature": a.signature, "title": a.title, "severity": a.severity, "status": a.status,
        "assignee": a.assignee, "resolution": a.resolution, "first_seen": a.first_seen,
        "last_seen": a.last_seen, "count": a.count, "entities": a.entities,
        "entity_values": a.entities.values(), "incident_id": a.incident_id, "comments": a.comments,
        "state_version": a.version, "last_position": a.last_position, "created_at": a.created_at,
        "updated_at": a.updated_at,
    })
}

/// Inserts or replaces whole rows, sent as one JSON array.
async fn store_rows(tx: &tokio_postgres::Transaction<'_>, version: i32, rows: Vec<Value>) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let rows = Value::Array(rows);
    tx.execute(
        "INSERT INTO alerts (version, tenant_id, id, fingerprint, source, signature, title, severity, status, \
             assignee, resolution, first_seen, last_seen, count, entities, entity_values, incident_id, comments, \
             state_version, last_position, created_at, updated_at) \
         SELECT $1, r.* FROM jsonb_to_recordset($2::jsonb) AS r(tenant_id text, id bigint, fingerprint text, \
             source text, signature text, title text, severity smallint, status text, assignee text, \
             resolution text, first_seen timestamptz, last_seen timestamptz, count bigint, entities jsonb, \
             entity_values text[], incident_id bigint, comments jsonb, state_version bigint, \
             last_position bigint, created_at timestamptz, updated_at timestamptz) \
         ON CONFLICT (version, tenant_id, id) DO UPDATE SET severity = EXCLUDED.severity, \
             status = EXCLUDED.status, assignee = EXCLUDED.assignee, resolution = EXCLUDED.resolution, \
             first_seen = EXCLUDED.first_seen, last_seen = EXCLUDED.last_seen, count = EXCLUDED.count, \
             incident_id = EXCLUDED.incident_id, comments = EXCLUDED.comments, \
             state_version = EXCLUDED.state_version, last_position = EXCLUDED.last_position, \
             updated_at = EXCLUDED.updated_at",
        &[&version, &rows],
    )
    .await?;
    Ok(())
}
