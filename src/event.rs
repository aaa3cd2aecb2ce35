//! The vocabulary of the event log: kinds, roles, tenants and the normalized event that the
//! appender stores. No I/O lives here; every other module speaks these types.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What an event is, as `event.kind` names it on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Log,
    Alert,
    Metric,
    ThreatIntel,
    NetworkTraffic,
    Action,
}

impl EventKind {
    /// Every kind, in the order the schema lists them.
    pub const ALL: [EventKind; 6] = [
        EventKind::Log,
        EventKind::Alert,
        EventKind::Metric,
        EventKind::ThreatIntel,
        EventKind::NetworkTraffic,
        EventKind::Action,
    ];

    /// The wire and column spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Log => "log",
            EventKind::Alert => "alert",
            EventKind::Metric => "metric",
            EventKind::ThreatIntel => "threat_intel",
            EventKind::NetworkTraffic => "network_traffic",
            EventKind::Action => "action",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `source` of analyst actions, which only the SOC API appends: ingest paths refuse it, so
/// nobody can forge an action by sending an event shaped like one.
pub const ANALYST_SOURCE: &str = "soc";

/// The `source` of Tidemark's own records (tiering moves, retention deletions), which
/// `verify` trusts to account for expired events: ingest paths refuse it too.
pub const SYSTEM_SOURCE: &str = "tidemark";

/// Why `source` may not be given to an ingested event, if it is reserved.
pub fn reserved_source(source: &str) -> Option<&'static str> {
    match source {
        ANALYST_SOURCE => Some("analyst actions"),
        SYSTEM_SOURCE => Some("Tidemark's records of tiering and retention"),
        _ => None,
    }
}

/// An `event.kind` value that is not one of the six kinds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event kind {0:?}; expected one of log, alert, metric, threat_intel, network_traffic, action")]
pub struct UnknownKind(pub String);

impl FromStr for EventKind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

/// What a token may do. Each token is scoped to exactly one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Analyst,
    Ingest,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Analyst => "analyst",
            Role::Ingest => "ingest",
            Role::Viewer => "viewer",
        }
    }

    /// May append events and metric samples.
    pub fn can_ingest(self) -> bool {
        matches!(self, Role::Admin | Role::Ingest)
    }

    /// May read the tenant's events (replay, hunts).
    pub fn can_read(self) -> bool {
        matches!(self, Role::Admin | Role::Analyst | Role::Viewer)
    }

    /// May read operator data (process metrics) and manage the tenant.
    pub fn is_admin(self) -> bool {
        matches!(self, Role::Admin)
    }
}

/// A role name that is not admin, analyst, ingest or viewer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}; expected one of admin, analyst, ingest, viewer")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "analyst" => Ok(Role::Analyst),
            "ingest" => Ok(Role::Ingest),
            "viewer" => Ok(Role::Viewer),
            other => Err(UnknownRole(other.to_owned())),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tenant identifier: 1–63 characters of `a-z 0-9 _ -`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct TenantId(String);

/// A tenant id that breaks the naming rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid tenant id {0:?}: use 1-63 characters of a-z, 0-9, '_' or '-', starting with a letter or digit")]
pub struct InvalidTenant(pub String);

impl TenantId {
    pub fn new(id: &str) -> Result<Self, InvalidTenant> {
        let ok = !id.is_empty()
            && id.len() <= 63
            && id
                .bytes()
                .enumerate()
                .all(|(i, b)| b.is_ascii_lowercase() || b.is_ascii_digit() || (i > 0 && (b == b'_' || b == b'-')));
        if ok {
            Ok(TenantId(id.to_owned()))
        } else {
            Err(InvalidTenant(id.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A normalized event on its way into the log: ECS fields with a column of their own, the
/// rest in `fields` (dotted keys), and the original bytes. Position and `recorded_at` are
/// assigned by the appender.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event_time: Option<DateTime<Utc>>,
    pub kind: EventKind,
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
    /// Every other field, keyed by its dotted ECS name, as canonical JSON ([`canonical_json`]),
    /// computed once at normalization: it is both the stored `fields` and the hashed bytes.
    pub fields_json: String,
    pub raw: Vec<u8>,
}

impl NewEvent {
    /// An action (kind `action`) of `source`, done by `actor` now, such as an analyst's
    /// triage step or a tiering move. Its raw bytes are the canonical JSON of the action's name
    /// and fields, so the log keeps exactly what was recorded.
    pub fn action(
        source: &str,
        name: &str,
        actor: &str,
        message: String,
        fields: serde_json::Map<String, serde_json::Value>,
    ) -> NewEvent {
        let fields_json = canonical_json(&fields);
        let mut doc = serde_json::Map::new();
        doc.insert("event.action".into(), serde_json::Value::String(name.to_owned()));
        doc.insert("fields".into(), serde_json::Value::Object(fields));
        let now = Utc::now();
        NewEvent {
            event_time: Some(DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)),
            kind: EventKind::Action,
            source: source.to_owned(),
            event_id: None,
            severity: None,
            host_name: None,
            source_ip: None,
            source_port: None,
            destination_ip: None,
            destination_port: None,
            user_name: Some(actor.to_owned()),
            process_name: None,
            event_action: Some(name.to_owned()),
            event_outcome: Some("success".to_owned()),
            message: Some(message),
            fields_json,
            raw: canonical_json(&doc).into_bytes(),
        }
    }
}

/// A record that could not become an event: kept with its bytes in the dead-letter table.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// Index of the record in its request.
    pub index: usize,
    pub source: String,
    pub reason: String,
    pub raw: Vec<u8>,
}

/// One metric sample for the narrow `metrics` hypertable.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSample {
    pub name: String,
    pub value: f64,
    pub time: DateTime<Utc>,
    pub labels: serde_json::Map<String, serde_json::Value>,
}

/// JSON with object keys sorted at every level: the same text whichever order the keys came
/// in, so a value read back from `jsonb` serializes to what was hashed on append.
pub fn canonical_json(map: &serde_json::Map<String, serde_json::Value>) -> String {
    let mut out = Vec::with_capacity(128);
    write_object(&mut out, map);
    // Only JSON text was written, and serde_json escapes strings into valid UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

fn write_object(out: &mut Vec<u8>, map: &serde_json::Map<String, serde_json::Value>) {
    let mut entries: Vec<(&String, &serde_json::Value)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.push(b'{');
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_scalar(out, key);
        out.push(b':');
        write_value(out, value);
    }
    out.push(b'}');
}

fn write_value(out: &mut Vec<u8>, value: &serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => write_object(out, map),
        serde_json::Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        scalar => write_scalar(out, scalar),
    }
}

fn write_scalar(out: &mut Vec<u8>, scalar: &(impl serde::Serialize + ?Sized)) {
    // Writing a string, number, bool or null into a Vec cannot fail.
    let _ = serde_json::to_writer(out, scalar);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a = serde_json::json!({"b": {"y": 1, "x": [{"d": 1, "c": 2}]}, "a": "q\"uote"});
        let serde_json::Value::Object(map) = a else {
            unreachable!()
        };
        assert_eq!(
            canonical_json(&map),
            r#"{"a":"q\"uote","b":{"x":[{"c":2,"d":1}],"y":1}}"#
        );
    }

    #[test]
    fn kinds_round_trip_through_their_wire_names() {
        for kind in EventKind::ALL {
            assert_eq!(kind.as_str().parse::<EventKind>(), Ok(kind));
        }
        assert!("Alert".parse::<EventKind>().is_err());
    }

    #[test]
    fn tenant_ids_follow_the_naming_rule() {
        assert!(TenantId::new("acme-soc_1").is_ok());
        assert!(TenantId::new("").is_err());
        assert!(TenantId::new("-acme").is_err());
        assert!(TenantId::new("Acme").is_err());
        assert!(TenantId::new(&"a".repeat(64)).is_err());
    }

    #[test]
    fn roles_grant_what_their_names_say() {
        assert!(Role::Ingest.can_ingest() && !Role::Ingest.can_read());
        assert!(Role::Viewer.can_read() && !Role::Viewer.can_ingest());
        assert!(Role::Admin.can_ingest() && Role::Admin.can_read() && Role::Admin.is_admin());
        assert!(!Role::Analyst.is_admin());
    }
}
