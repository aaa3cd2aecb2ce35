//! Reading the log back: rows as stored, and replay pages in position order for one tenant.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use tokio_postgres::types::ToSql;

use super::copy::EventRow;
use super::{Result, Store};
use crate::event::canonical_json;
use crate::event::{EventKind, TenantId};

/// Columns selected for a stored event, in [`StoredEvent::from_row`] order.
pub(crate) const SELECT_COLUMNS: &str = "position, recorded_at, tenant_id, event_time, kind, source, event_id, \
     severity, host_name, source_ip, source_port, destination_ip, destination_port, user_name, \
     process_name, event_action, event_outcome, message, fields, raw";

/// An event as the log holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub position: i64,
    pub recorded_at: DateTime<Utc>,
    pub tenant_id: String,
    pub event_time: Option<DateTime<Utc>>,
    pub kind: String,
    pub source: String,
    pub event_id: Option<String>,
    pub severity: Option<i16>,
    pub host_name: Option<String>,
    pub source_ip: Option<IpAddr>,
    pub source_port: Option<i32>,
    pub destination_ip: Option<IpAddr>,
    pub destination_port: Option<i32>,
    pub user_name: Option<String>,
    pub process_name: Option<String>,
    pub event_action: Option<String>,
    pub event_outcome: Option<String>,
    pub message: Option<String>,
    pub fields: Map<String, Value>,
    pub raw: Vec<u8>,
}

impl StoredEvent {
    pub(crate) fn from_row(row: &tokio_postgres::Row) -> Self {
        let fields = match row.get::<_, Value>(18) {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        StoredEvent {
            position: row.get(0),
            recorded_at: row.get(1),
            tenant_id: row.get(2),
            event_time: row.get(3),
            kind: row.get(4),
            source: row.get(5),
            event_id: row.get(6),
            severity: row.get(7),
            host_name: row.get(8),
            source_ip: row.get(9),
            source_port: row.get(10),
            destination_ip: row.get(11),
            destination_port: row.get(12),
            user_name: row.get(13),
            process_name: row.get(14),
            event_action: row.get(15),
            event_outcome: row.get(16),
            message: row.get(17),
            fields,
            raw: row.get(19),
        }
    }

    /// Calls `f` with this event in its canonical row form (the hash chain's input).
    pub(crate) fn with_row<T>(&self, f: impl FnOnce(&EventRow<'_>) -> T) -> T {
        let fields_json = canonical_json(&self.fields);
        f(&EventRow {
            position: self.position,
            recorded_at: self.recorded_at,
            tenant_id: &self.tenant_id,
            event_time: self.event_time,
            kind: &self.kind,
            source: &self.source,
            event_id: self.event_id.as_deref(),
            severity: self.severity,
            host_name: self.host_name.as_deref(),
            source_ip: self.source_ip,
            source_port: self.source_port,
            destination_ip: self.destination_ip,
            destination_port: self.destination_port,
            user_name: self.user_name.as_deref(),
            process_name: self.process_name.as_deref(),
            event_action: self.event_action.as_deref(),
            event_outcome: self.event_outcome.as_deref(),
            message: self.message.as_deref(),
            fields_json: &fields_json,
            raw: &self.raw,
        })
    }

    /// The event as nested ECS JSON, with the log's own attributes under `tidemark`.
    pub fn to_ecs(&self, include_raw: bool) -> Value {
        let mut doc = Map::new();
        for (key, value) in &self.fields {
            insert_dotted(&mut doc, key, value.clone());
        }
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(v) = value {
                insert_dotted(&mut doc, key, v);
            }
        };
        put("@timestamp", self.event_time.map(|t| Value::String(rfc3339(t))));
        put("event.kind", Some(Value::String(self.kind.clone())));
        put("event.id", self.event_id.clone().map(Value::String));
        put("event.severity", self.severity.map(Value::from));
        put("event.action", self.event_action.clone().map(Value::String));
        put("event.outcome", self.event_outcome.clone().map(Value::String));
        put("host.name", self.host_name.clone().map(Value::String));
        put("source.ip", self.source_ip.map(|ip| Value::String(ip.to_string())));
        put("source.port", self.source_port.map(Value::from));
        put(
            "destination.ip",
            self.destination_ip.map(|ip| Value::String(ip.to_string())),
        );
        put("destination.port", self.destination_port.map(Value::from));
        put("user.name", self.user_name.clone().map(Value::String));
        put("process.name", self.process_name.clone().map(Value::String));
        put("message", self.message.clone().map(Value::String));
        put("tidemark.position", Some(Value::from(self.position)));
        put("tidemark.recorded_at", Some(Value::String(rfc3339(self.recorded_at))));
        put("tidemark.source", Some(Value::String(self.source.clone())));
        if include_raw {
            put(
                "tidemark.raw",
                Some(Value::String(String::from_utf8_lossy(&self.raw).into_owned())),
            );
        }
        Value::Object(doc)
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Inserts `value` at the dotted path `key`, creating objects on the way. Where a path is
/// already taken by a non-object, the dotted key is kept flat instead.
fn insert_dotted(doc: &mut Map<String, Value>, key: &str, value: Value) {
    let mut parts = key.split('.').peekable();
    let mut node = &mut *doc;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            node.insert(part.to_owned(), value);
            return;
        }
        let entry = node.entry(part.to_owned()).or_insert_with(|| Value::Object(Map::new()));
        match entry {
            Value::Object(inner) => node = inner,
            _ => {
                doc.insert(key.to_owned(), value);
                return;
            }
        }
    }
}

/// Which timestamp a `from`/`to` range applies to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeField {
    #[default]
    EventTime,
    RecordedAt,
}

/// What to replay. Ranges are inclusive for positions, `[from, to)` for time.
#[derive(Debug, Clone, Default)]
pub struct ReplayFilter {
    pub from_position: Option<i64>,
    pub to_position: Option<i64>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub time_field: TimeField,
    pub kinds: Vec<EventKind>,
    pub sources: Vec<String>,
}

impl Store {
    /// Up to `limit` events of `tenant` with position above `after`, in position order.
    pub async fn replay_page(
        &self,
        tenant: &TenantId,
        filter: &ReplayFilter,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>> {
        let after = after.max(filter.from_position.map_or(0, |p| p - 1));
        let kinds: Vec<&str> = filter.kinds.iter().map(|k| k.as_str()).collect();
        let time_column = match filter.time_field {
            TimeField::EventTime => "event_time",
            TimeField::RecordedAt => "recorded_at",
        };
        let tenant = tenant.as_str();
        let mut sql = format!("SELECT {SELECT_COLUMNS} FROM events WHERE tenant_id = $1 AND position > $2");
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&tenant, &after];
        if let Some(to) = &filter.to_position {
            params.push(to);
            sql.push_str(&format!(" AND position <= ${}", params.len()));
        }
        if let Some(from) = &filter.from {
            params.push(from);
            sql.push_str(&format!(" AND {time_column} >= ${}", params.len()));
        }
        if let Some(to) = &filter.to {
            params.push(to);
            sql.push_str(&format!(" AND {time_column} < ${}", params.len()));
        }
        if !kinds.is_empty() {
            params.push(&kinds);
            sql.push_str(&format!(" AND kind = ANY(${})", params.len()));
        }
        if !filter.sources.is_empty() {
            params.push(&filter.sources);
            sql.push_str(&format!(" AND source = ANY(${})", params.len()));
        }
        params.push(&limit);
        sql.push_str(&format!(" ORDER BY position LIMIT ${}", params.len()));
        let client = self.client().await?;
        let rows = client.query(&sql, &params).await?;
        Ok(rows.iter().map(StoredEvent::from_row).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_fields_are_nested_and_conflicts_stay_flat() {
        let mut doc = Map::new();
        insert_dotted(&mut doc, "http.request.method", json!("GET"));
        insert_dotted(&mut doc, "http.version", json!("1.1"));
        insert_dotted(&mut doc, "tag", json!("x"));
        insert_dotted(&mut doc, "tag.extra", json!(1));
        assert_eq!(
            Value::Object(doc),
            json!({"http": {"request": {"method": "GET"}, "version": "1.1"}, "tag": "x", "tag.extra": 1})
        );
    }
}
