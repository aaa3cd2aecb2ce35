//! The incidents read model: `incident.create` actions make incidents, later actions that name
//! one are folded into it. Also the tenant-filtered queries the API lists incidents with.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde_json::Value;

use super::action::{ActionRecord, ObjectRef};
use super::alert::Comment;
use super::alert_queries::Sql;
use super::incident::{Evidence, Incident, IncidentSeverity, IncidentStatus, created_from};
use super::{Error, Result};
use crate::event::TenantId;
use crate::store::{Store, StoredEvent};

const LIVE: &str = "(SELECT live_version FROM projections WHERE name = 'incidents')";

const COLUMNS: &str = "id, tenant_id, title, description, status, severity, assignee, resolution, alert_ids, notes, \
     evidence, created_by, state_version, created_at, updated_at, closed_at";

fn from_row(row: &tokio_postgres::Row) -> Result<Incident> {
    let decode = |e: serde_json::Error| Error::BadInput(format!("stored incident is unreadable: {e}"));
    let status: String = row.get(4);
    let severity: String = row.get(5);
    Ok(Incident {
        id: row.get(0),
        tenant_id: row.get(1),
        title: row.get(2),
        description: row.get(3),
        status: IncidentStatus::parse(&status).unwrap_or(IncidentStatus::Open),
        severity: IncidentSeverity::parse(&severity).unwrap_or(IncidentSeverity::Medium),
        assignee: row.get(6),
        resolution: row.get(7),
        alert_ids: row.get(8),
        notes: serde_json::from_value::<Vec<Comment>>(row.get(9)).map_err(decode)?,
        evidence: serde_json::from_value::<Vec<Evidence>>(row.get(10)).map_err(decode)?,
        created_by: row.get(11),
        version: row.get(12),
        created_at: row.get(13),
        updated_at: row.get(14),
        closed_at: row.get(15),
    })
}

use super::Key;

/// Folds the actions among `events` into version `version`.
pub(crate) async fn apply_batch(
    tx: &tokio_postgres::Transaction<'_>,
    version: i32,
    events: &[StoredEvent],
) -> Result<()> {
    let actions: Vec<(&StoredEvent, ActionRecord)> = events
        .iter()
        .filter_map(|e| ActionRecord::from_event(e).map(|a| (e, a)))
        .filter(|(_, a)| a.name.starts_with("incident."))
        .collect();
    let mut wanted: Vec<Key> = Vec::new();
    for (event, action) in &actions {
        for object in &action.objects {
            if let ObjectRef::Incident(id) = object {
                wanted.push((event.tenant_id.clone(), *id));
            }
        }
    }
    let mut incidents: HashMap<Key, Incident> = HashMap::new();
    for incident in load(tx, version, &wanted).await? {
        incidents.insert((incident.tenant_id.clone(), incident.id), incident);
    }
    let mut dirty: HashSet<Key> = HashSet::new();
    for (event, action) in &actions {
        if action.name == "incident.create" {
            if let Some(incident) = created_from(action, &event.tenant_id) {
                let key = (event.tenant_id.clone(), incident.id);
                incidents.insert(key.clone(), incident);
                dirty.insert(key);
            }
            continue;
        }
        for object in &action.objects {
            let ObjectRef::Incident(id) = *object else { continue };
            let key = (event.tenant_id.clone(), id);
            match incidents.get_mut(&key) {
                Some(incident) => {
                    incident.apply(action);
                    dirty.insert(key);
                }
                None => tracing::warn!(
                    position = action.position,
                    incident = id,
                    "action names an unknown incident; skipped"
                ),
            }
        }
    }
    let rows: Vec<Value> = dirty.iter().filter_map(|k| incidents.get(k)).map(to_row).collect();
    if rows.is_empty() {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO incidents (version, tenant_id, id, title, description, status, severity, assignee, resolution, \
             alert_ids, notes, evidence, created_by, state_version, created_at, updated_at, closed_at) \
         SELECT $1, r.* FROM jsonb_to_recordset($2::jsonb) AS r(tenant_id text, id bigint, title text, \
             description text, status text, severity text, assignee text, resolution text, alert_ids bigint[], \
             notes jsonb, evidence jsonb, created_by text, state_version bigint, created_at timestamptz, \
             updated_at timestamptz, closed_at timestamptz) \
         ON CONFLICT (version, tenant_id, id) DO UPDATE SET status = EXCLUDED.status, \
             severity = EXCLUDED.severity, assignee = EXCLUDED.assignee, resolution = EXCLUDED.resolution, \
             alert_ids = EXCLUDED.alert_ids, notes = EXCLUDED.notes, evidence = EXCLUDED.evidence, \
             state_version = EXCLUDED.state_version, updated_at = EXCLUDED.updated_at, \
             closed_at = EXCLUDED.closed_at",
        &[&version, &Value::Array(rows)],
    )
    .await?;
    Ok(())
}

async fn load(tx: &tokio_postgres::Transaction<'_>, version: i32, keys: &[Key]) -> Result<Vec<Incident>> {
    let rows = super::rows_by_key(tx, "incidents", COLUMNS, version, keys).await?;
    rows.iter().map(from_row).collect()
}

fn to_row(i: &Incident) -> Value {
    serde_json::json!({
        "tenant_id": i.tenant_id, "id": i.id, "title": i.title, "description": i.description,
        "status": i.status, "severity": i.severity, "assignee": i.assignee, "resolution": i.resolution,
        "alert_ids": i.alert_ids, "notes": i.notes, "evidence": i.evidence, "created_by": i.created_by,
        "state_version": i.version, "created_at": i.created_at, "updated_at": i.updated_at,
        "closed_at": i.closed_at,
    })
}

/// Which incidents to list (newest first).
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub statuses: Vec<IncidentStatus>,
    pub severities: Vec<IncidentSeverity>,
    pub assignee: Option<String>,
    pub limit: i64,
    /// List incidents with an id below this one.
    pub before_id: Option<i64>,
}

/// One page of incidents and the cursor of the next, if there may be one.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentPage {
    pub incidents: Vec<Incident>,
    pub next_cursor: Option<String>,
}

/// Lists the tenant's incidents from the live read model.
pub(crate) async fn list(store: &Store, tenant: &TenantId, f: &IncidentFilter) -> Result<IncidentPage> {
    let tenant = tenant.as_str();
    let statuses: Vec<&str> = f.statuses.iter().map(|s| s.as_str()).collect();
    let severities: Vec<&str> = f.severities.iter().map(|s| s.as_str()).collect();
    let mut q = Sql::new(
        format!("SELECT {COLUMNS} FROM incidents WHERE version = {LIVE} AND tenant_id = $1"),
        &tenant,
    );
    if !statuses.is_empty() {
        q.and("status = ANY($?)", &statuses);
    }
    if !severities.is_empty() {
        q.and("severity = ANY($?)", &severities);
    }
    if let Some(v) = &f.assignee {
        q.and("assignee = $?", v);
    }
    if let Some(v) = &f.before_id {
        q.and("id < $?", v);
    }
    let fetch = f.limit + 1;
    q.params.push(&fetch);
    q.sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", q.params.len()));
    let client = store.client().await?;
    let rows = client.query(&q.sql, &q.params).await?;
    let more = rows.len() as i64 > f.limit;
    let incidents: Vec<Incident> = rows
        .iter()
        .take(f.limit as usize)
        .map(from_row)
        .collect::<Result<_>>()?;
    let next_cursor = if more {
        incidents.last().map(|i| i.id.to_string())
    } else {
        None
    };
    Ok(IncidentPage { incidents, next_cursor })
}

/// One incident of the tenant from the live read model.
pub(crate) async fn get(store: &Store, tenant: &TenantId, id: i64) -> Result<Incident> {
    let client = store.client().await?;
    let row = client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM incidents WHERE version = {LIVE} AND tenant_id = $1 AND id = $2"),
            &[&tenant.as_str(), &id],
        )
        .await?
        .ok_or_else(|| Error::NotFound(format!("incident {id}")))?;
    from_row(&row)
}
