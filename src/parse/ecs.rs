//! Normalization of one ECS-style JSON object (nested or dotted names) into a [`NewEvent`].
//! Fields with a column of their own are lifted out; every other field stays, under its
//! dotted name, in `fields`.

use std::net::IpAddr;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, Value};

use crate::event::{EventKind, NewEvent};

/// Why a record could not be normalized; each names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormalizeError {
    #[error("record is not a JSON object")]
    NotAnObject,
    #[error("field `{0}` is given twice (once nested, once dotted)")]
    Duplicate(String),
    #[error("field `{field}`: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("field `{0}` contains a NUL character, which cannot be stored")]
    Nul(String),
}

const MAX_EVENT_ID_LEN: usize = 256;

/// Normalizes `value`. `raw` is kept as the event's original bytes; `default_source` names the
/// producer when the event carries no `event.dataset`.
pub fn normalize(value: Value, raw: &[u8], default_source: &str) -> Result<NewEvent, NormalizeError> {
    let Value::Object(object) = value else {
        return Err(NormalizeError::NotAnObject);
    };
    let mut flat = Map::new();
    flatten(String::new(), object, &mut flat)?;
    normalize_flat(&mut flat, raw, default_source)
}

/// Fields with a column of their own; they leave `fields` when the event is built.
const COLUMN_FIELDS: [&str; 15] = [
    "@timestamp",
    "event.kind",
    "event.id",
    "event.severity",
    "event.dataset",
    "host.name",
    "source.ip",
    "source.port",
    "destination.ip",
    "destination.port",
    "user.name",
    "process.name",
    "event.action",
    "event.outcome",
    "message",
];

/// Normalizes fields that are already flat (dotted keys). On error `flat` is left as it was,
/// so a caller can set the named field aside and try again without copying the map first.
pub(crate) fn normalize_flat(
    flat: &mut Map<String, Value>,
    raw: &[u8],
    default_source: &str,
) -> Result<NewEvent, NormalizeError> {
    if let Some((key, _)) = flat.iter().find(|(k, v)| k.contains('\0') || contains_nul(v)) {
        return Err(NormalizeError::Nul(key.replace('\0', "\\0")));
    }
    let event_time = get(flat, "@timestamp").map(parse_timestamp).transpose()?;
    let kind = match get_string(flat, "event.kind")? {
        Some(k) => k
            .parse()
            .map_err(|e: crate::event::UnknownKind| invalid("event.kind", e.to_string()))?,
        None => EventKind::Log,
    };
    let event_id = get_string(flat, "event.id")?;
    if let Some(id) = &event_id
        && (id.is_empty() || id.len() > MAX_EVENT_ID_LEN)
    {
        return Err(invalid(
            "event.id",
            format!("must be 1 to {MAX_EVENT_ID_LEN} bytes long"),
        ));
    }
    let severity = get(flat, "event.severity").map(parse_severity).transpose()?;
    let source = get_string(flat, "event.dataset")?.unwrap_or_else(|| default_source.to_owned());
    if let Some(owner) = crate::event::reserved_source(&source) {
        // Only the SOC API and Tidemark itself append these; an ingested event must not pass for one.
        return Err(invalid("event.dataset", format!("{source:?} is reserved for {owner}")));
    }
    let event = NewEvent {
        event_time,
        kind,
        source,
        event_id,
        severity,
        host_name: get_string(flat, "host.name")?,
        source_ip: get_ip(flat, "source.ip")?,
        source_port: get_port(flat, "source.port")?,
        destination_ip: get_ip(flat, "destination.ip")?,
        destination_port: get_port(flat, "destination.port")?,
        user_name: get_string(flat, "user.name")?,
        process_name: get_string(flat, "process.name")?,
        event_action: get_string(flat, "event.action")?,
        event_outcome: get_string(flat, "event.outcome")?,
        message: get_string(flat, "message")?,
        fields_json: String::new(),
        raw: raw.to_vec(),
    };
    for field in COLUMN_FIELDS {
        flat.remove(field);
    }
    Ok(NewEvent {
        fields_json: crate::event::canonical_json(flat),
        ..event
    })
}

/// Flattens, in place, any nested object among `fields` into dotted keys (a JSON line in a
/// raw body can carry ECS nested); already flat fields are left as they are, uncopied.
pub(crate) fn flatten_nested(fields: &mut Map<String, Value>) -> Result<(), NormalizeError> {
    if !fields.values().any(|v| matches!(v, Value::Object(m) if !m.is_empty())) {
        return Ok(());
    }
    let mut flat = Map::new();
    flatten(String::new(), std::mem::take(fields), &mut flat)?;
    *fields = flat;
    Ok(())
}

/// Flattens nested objects into dotted keys; arrays and scalars are leaves.
fn flatten(prefix: String, object: Map<String, Value>, out: &mut Map<String, Value>) -> Result<(), NormalizeError> {
    for (key, value) in object {
        let name = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Object(inner) if !inner.is_empty() => flatten(name, inner, out)?,
            leaf => {
                if out.insert(name.clone(), leaf).is_some() {
                    return Err(NormalizeError::Duplicate(name));
                }
            }
        }
    }
    Ok(())
}

fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> NormalizeError {
    NormalizeError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// A column field's value, unless absent or null.
fn get<'m>(flat: &'m Map<String, Value>, field: &'static str) -> Option<(&'m Value, &'static str)> {
    flat.get(field).filter(|v| !v.is_null()).map(|v| (v, field))
}

fn get_string(flat: &Map<String, Value>, field: &'static str) -> Result<Option<String>, NormalizeError> {
    match get(flat, field) {
        None => Ok(None),
        Some((Value::String(s), _)) => Ok(Some(s.clone())),
        Some((Value::Number(n), _)) => Ok(Some(n.to_string())),
        Some((Value::Bool(b), _)) => Ok(Some(b.to_string())),
        Some(_) => Err(invalid(field, "expected a string")),
    }
}

fn get_ip(flat: &Map<String, Value>, field: &'static str) -> Result<Option<IpAddr>, NormalizeError> {
    match get_string(flat, field)? {
        None => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| invalid(field, format!("{s:?} is not an IPv4 or IPv6 address"))),
    }
}

fn get_port(flat: &Map<String, Value>, field: &'static str) -> Result<Option<i32>, NormalizeError> {
    let port = match get(flat, field) {
        None => return Ok(None),
        Some((Value::Number(n), _)) => n.as_u64(),
        Some((Value::String(s), _)) => s.trim().parse::<u64>().ok(),
        Some(_) => None,
    };
    match port {
        Some(p) if p <= 65535 => Ok(Some(p as i32)),
        _ => Err(invalid(field, "expected a port number from 0 to 65535")),
    }
}

fn parse_severity((value, field): (&Value, &'static str)) -> Result<i16, NormalizeError> {
    let n = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if (0.0..=10.0).contains(&n) => Ok(n.round() as i16),
        _ => Err(invalid(field, format!("expected a number from 0 to 10, got {value}"))),
    }
}

/// RFC 3339 text, or a number of milliseconds since the epoch. Truncated to microseconds,
/// the precision the database keeps, so the hash chain sees what is stored.
fn parse_timestamp((value, field): (&Value, &'static str)) -> Result<DateTime<Utc>, NormalizeError> {
    let time = match value {
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| invalid(field, format!("{s:?} is not an RFC 3339 timestamp: {e}")))?,
        Value::Number(n) => n
            .as_i64()
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
            .ok_or_else(|| invalid(field, format!("{n} is not a millisecond epoch timestamp")))?,
        _ => return Err(invalid(field, "expected an RFC 3339 string or epoch milliseconds")),
    };
    Ok(truncate_to_micros(time))
}

/// Drops sub-microsecond digits.
pub(crate) fn truncate_to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    Utc.timestamp_micros(t.timestamp_micros()).single().unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_and_dotted_names_land_in_the_same_columns() {
        let nested = json!({"source": {"ip": "10.0.0.1", "port": 22}, "user": {"name": "root"}});
        let dotted = json!({"source.ip": "10.0.0.1", "source.port": "22", "user.name": "root"});
        let a = normalize(nested, b"a", "http").unwrap();
        let b = normalize(dotted, b"b", "http").unwrap();
        assert_eq!(a.source_ip, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(
            (a.source_ip, a.source_port, &a.user_name),
            (b.source_ip, b.source_port, &b.user_name)
        );
        assert_eq!(a.fields_json, "{}");
    }

    #[test]
    fn fields_without_a_column_are_kept_under_their_dotted_names() {
        let e = normalize(
            json!({"http": {"request": {"method": "GET"}}, "tags": ["a"]}),
            b"{}",
            "x",
        )
        .unwrap();
        assert_eq!(e.fields_json, r#"{"http.request.method":"GET","tags":["a"]}"#);
        assert_eq!(e.kind, EventKind::Log);
        assert_eq!(e.source, "x");
    }

    #[test]
    fn timestamp_kind_severity_and_dataset_are_read() {
        let e = normalize(
            json!({"@timestamp": "2026-11-20T10:00:00.1234567Z", "event": {"kind": "alert", "severity": 7, "dataset": "sshd", "id": "e-1"}}),
            b"{}",
            "http",
        )
        .unwrap();
        assert_eq!(e.event_time.unwrap().to_rfc3339(), "2026-11-20T10:00:00.123456+00:00");
        assert_eq!(
            (e.kind, e.severity, e.source.as_str(), e.event_id.as_deref()),
            (EventKind::Alert, Some(7), "sshd", Some("e-1"))
        );
        let ms = normalize(json!({"@timestamp": 1_700_000_000_000_i64}), b"{}", "h").unwrap();
        assert_eq!(ms.event_time.unwrap().timestamp(), 1_700_000_000);
    }

    #[test]
    fn bad_values_name_their_field() {
        let cases = [
            (json!({"source": {"ip": "999.1.1.1"}}), "source.ip"),
            (json!({"destination.port": 70000}), "destination.port"),
            (json!({"event.kind": "weird"}), "event.kind"),
            (json!({"event.severity": 11}), "event.severity"),
            (json!({"@timestamp": "yesterday"}), "@timestamp"),
        ];
        for (value, field) in cases {
            let err = normalize(value, b"", "h").unwrap_err();
            assert!(err.to_string().contains(field), "{err} should name {field}");
        }
    }

    #[test]
    fn duplicates_nul_and_non_objects_are_refused() {
        assert_eq!(
            normalize(json!({"user.name": "a", "user": {"name": "b"}}), b"", "h").unwrap_err(),
            NormalizeError::Duplicate("user.name".into())
        );
        assert_eq!(
            normalize(json!({"message": "a\u{0}b"}), b"", "h").unwrap_err(),
            NormalizeError::Nul("message".into())
        );
        assert_eq!(
            normalize(json!([1]), b"", "h").unwrap_err(),
            NormalizeError::NotAnObject
        );
    }
}
