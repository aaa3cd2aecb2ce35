//! Classification into `event.kind`, by named rules tried in order; the rule that decided is
//! recorded in `tidemark.kind_rule`.

use serde_json::Value;

use super::Fields;

/// Severity from which a record with a signature counts as an alert.
const ALERT_MIN_SEVERITY: f64 = 4.0;

/// Fields that name a detection signature.
const SIGNATURE_FIELDS: [&str; 5] = [
    "rule.name",
    "event.code",
    "alert.signature",
    "rule.id",
    "threat.technique.id",
];

/// Sets `event.kind` and `tidemark.kind_rule` unless the parser already did (STIX).
pub(crate) fn classify(fields: &mut Fields) {
    if fields.contains_key("event.kind") {
        fields
            .entry("tidemark.kind_rule")
            .or_insert_with(|| Value::from("source.kind"));
        return;
    }
    let (kind, rule) = decide(fields);
    fields.insert("event.kind".into(), Value::from(kind));
    fields.insert("tidemark.kind_rule".into(), Value::from(rule));
}

fn decide(fields: &Fields) -> (&'static str, &'static str) {
    let has = |k: &str| fields.get(k).is_some_and(|v| !v.is_null());
    if has("metric.name") && fields.get("metric.value").is_some_and(Value::is_number) {
        return ("metric", "metric.name+value");
    }
    let severity = fields.get("event.severity").and_then(Value::as_f64);
    let signed = SIGNATURE_FIELDS.iter().any(|k| has(k));
    if signed && severity.is_some_and(|s| s >= ALERT_MIN_SEVERITY) {
        return ("alert", "signature+severity");
    }
    let endpoints = has("source.ip") && has("destination.ip") && (has("source.port") || has("destination.port"));
    let bytes = has("source.bytes") || has("destination.bytes") || has("network.bytes");
    if endpoints && bytes {
        return ("network_traffic", "flow.endpoints+bytes");
    }
    ("log", "default")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kind_of(value: Value) -> (String, String) {
        let Value::Object(mut fields) = value else {
            unreachable!()
        };
        classify(&mut fields);
        (
            fields["event.kind"].as_str().unwrap().into(),
            fields["tidemark.kind_rule"].as_str().unwrap().into(),
        )
    }

    #[test]
    fn a_signed_record_with_medium_severity_is_an_alert() {
        assert_eq!(kind_of(json!({"event.code": "4000", "event.severity": 8})).0, "alert");
        assert_eq!(kind_of(json!({"event.code": "4000", "event.severity": 2})).0, "log");
    }

    #[test]
    fn a_record_with_both_endpoints_and_bytes_is_network_traffic() {
        let flow =
            json!({"source.ip": "10.0.0.1", "destination.ip": "10.0.0.2", "destination.port": 443, "source.bytes": 10});
        assert_eq!(kind_of(flow), ("network_traffic".into(), "flow.endpoints+bytes".into()));
        assert_eq!(
            kind_of(json!({"source.ip": "10.0.0.1", "destination.ip": "10.0.0.2"})).0,
            "log"
        );
    }

    #[test]
    fn a_kind_set_by_the_parser_is_kept_with_its_rule() {
        let stix = json!({"event.kind": "threat_intel", "tidemark.kind_rule": "stix.indicator"});
        assert_eq!(kind_of(stix), ("threat_intel".into(), "stix.indicator".into()));
        assert_eq!(kind_of(json!({"metric.name": "cpu", "metric.value": 0.5})).0, "metric");
        assert_eq!(kind_of(json!({"message": "hello"})), ("log".into(), "default".into()));
    }
}
