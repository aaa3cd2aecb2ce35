//! Metric samples on the wire: `{"name", "value", "labels"?, "timestamp"?}`.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::event::MetricSample;

/// Why a sample was refused; names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {reason}")]
pub struct SampleError {
    pub field: &'static str,
    pub reason: String,
}

fn err(field: &'static str, reason: impl Into<String>) -> SampleError {
    SampleError {
        field,
        reason: reason.into(),
    }
}

/// Reads one sample; a missing timestamp means `now`.
pub fn sample(value: Value, now: DateTime<Utc>) -> Result<MetricSample, SampleError> {
    let Value::Object(mut obj) = value else {
        return Err(err("(record)", "expected a JSON object"));
    };
    let name = match obj.remove("name") {
        Some(Value::String(s)) if valid_name(&s) => s,
        Some(Value::String(s)) => {
            return Err(err(
                "name",
                format!("{s:?} is not a metric name (1-200 of [A-Za-z0-9_:.], not starting with a digit)"),
            ));
        }
        _ => return Err(err("name", "required, a string")),
    };
    let value = match obj.remove("value") {
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|v| v.is_finite())
            .ok_or_else(|| err("value", "must be a finite number"))?,
        _ => return Err(err("value", "required, a number")),
    };
    let labels = match obj.remove("labels") {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(map)) => {
            if let Some((k, _)) = map
                .iter()
                .find(|(k, v)| !v.is_string() || k.contains('\0') || v.as_str().is_some_and(|s| s.contains('\0')))
            {
                return Err(err("labels", format!("label {k:?} must be a string without NUL")));
            }
            map
        }
        Some(_) => return Err(err("labels", "must be an object of string values")),
    };
    let time = match obj.remove("timestamp").or_else(|| obj.remove("@timestamp")) {
        None | Some(Value::Null) => now,
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| err("timestamp", format!("{s:?} is not RFC 3339: {e}")))?,
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(DateTime::from_timestamp_millis)
            .ok_or_else(|| err("timestamp", "not a millisecond epoch timestamp"))?,
        Some(_) => return Err(err("timestamp", "expected RFC 3339 text or epoch milliseconds")),
    };
    if let Some(extra) = obj.keys().next() {
        return Err(err(
            "(record)",
            format!("unknown field {extra:?}; expected name, value, labels, timestamp"),
        ));
    }
    Ok(MetricSample {
        name,
        value,
        time,
        labels,
    })
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_sample_reads_name_value_labels_and_time() {
        let now = Utc::now();
        let s = sample(
            json!({"name": "cpu.load", "value": 0.5, "labels": {"host": "a"}, "timestamp": 1_700_000_000_000_i64}),
            now,
        )
        .unwrap();
        assert_eq!(
            (s.name.as_str(), s.value, s.time.timestamp()),
            ("cpu.load", 0.5, 1_700_000_000)
        );
        assert_eq!(s.labels["host"], "a");
        assert_eq!(sample(json!({"name": "x", "value": 1}), now).unwrap().time, now);
    }

    #[test]
    fn bad_samples_name_their_field() {
        let now = Utc::now();
        assert_eq!(sample(json!({"value": 1}), now).unwrap_err().field, "name");
        assert_eq!(
            sample(json!({"name": "1x", "value": 1}), now).unwrap_err().field,
            "name"
        );
        assert_eq!(
            sample(json!({"name": "x", "value": "1"}), now).unwrap_err().field,
            "value"
        );
        assert_eq!(
            sample(json!({"name": "x", "value": 1, "labels": {"a": 1}}), now)
                .unwrap_err()
                .field,
            "labels"
        );
        assert_eq!(
            sample(json!({"name": "x", "value": 1, "timestamp": "now"}), now)
                .unwrap_err()
                .field,
            "timestamp"
        );
    }
}
