//! STIX 2.1 JSON: a bundle, a JSON array of objects or one object, one record per object.
//! Every object keeps its properties under `stix.<property>` (nested objects flattened with
//! dots; arrays kept whole). Indicators become `threat_intel` events with ECS
//! `threat.indicator.*` fields read from their pattern (`pattern`), sightings become alerts;
//! the format says what these are, so this parser sets `event.kind` and `tidemark.kind_rule`.
//! It knows nothing of transport, TAXII or storage.

mod pattern;

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::csv::utc_timestamp;
use super::{DocRecord, Fields, ParseContext};

/// Why a STIX document could not be read. `offset` is the 0-based byte offset in the document;
/// `index` counts objects from 0 in document order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StixError {
    #[error("malformed JSON at line {line}, column {column} (byte offset {offset}): {reason}")]
    Json {
        line: usize,
        column: usize,
        offset: usize,
        reason: String,
    },
    #[error("the document is neither a JSON object nor an array of objects")]
    NotJsonObject,
    #[error("the bundle's `objects` (byte offset {offset}) is not an array")]
    ObjectsNotAnArray { offset: usize },
    #[error("object {index} (byte offset {offset}) is not a JSON object")]
    NotAnObject { index: usize, offset: usize },
    #[error("object {index} (byte offset {offset}) has no string `type` property")]
    MissingType { index: usize, offset: usize },
}

/// A STIX 2.1 bundle (`"type": "bundle"` with `objects`) or a single STIX object, or a JSON array
/// of objects; one [`DocRecord`] per object (span = the object's bytes in the document). A
/// bundle without `objects` has no records.
pub fn parse(doc: &str, ctx: &ParseContext) -> Result<Vec<DocRecord>, StixError> {
    let body = doc.trim_start_matches('\u{feff}');
    let top: &RawValue = serde_json::from_str(body).map_err(|e| json_error(body, doc, &e))?;
    let text = top.get();
    // The whole document is valid JSON from here on: later reads can only fail on shape.
    let objects: Vec<&RawValue> = match text.as_bytes().first() {
        Some(b'[') => serde_json::from_str(text).map_err(|_| StixError::NotJsonObject)?,
        Some(b'{') => {
            let head: Head<'_> = serde_json::from_str(text).map_err(|_| StixError::NotJsonObject)?;
            match (head.kind.as_ref().and_then(Value::as_str), head.objects) {
                (Some("bundle"), None) => Vec::new(),
                (Some("bundle"), Some(objects)) => {
                    serde_json::from_str(objects.get()).map_err(|_| StixError::ObjectsNotAnArray {
                        offset: offset_in(doc, objects.get()),
                    })?
                }
                _ => vec![top],
            }
        }
        _ => return Err(StixError::NotJsonObject),
    };
    objects
        .into_iter()
        .enumerate()
        .map(|(index, raw)| record(index, raw.get(), doc, ctx))
        .collect()
}

/// True when `doc` (JSON) looks like STIX: a bundle (`bundle--<uuid>`), an object whose `type`
/// is a STIX type (or a custom `x-` type) and whose `id` is `<type>--<uuid>`, or a non-empty
/// array of such objects.
pub fn looks_like_stix(doc: &str) -> bool {
    let doc = doc.trim_start_matches('\u{feff}').trim_start();
    if doc.starts_with('[') {
        return serde_json::from_str::<Vec<Probe<'_>>>(doc)
            .is_ok_and(|objects| !objects.is_empty() && objects.iter().all(Probe::is_object));
    }
    serde_json::from_str::<Probe<'_>>(doc).is_ok_and(|probe| probe.is_bundle() || probe.is_object())
}

/// The top of a document: enough to tell a bundle from an object.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "type")]
    kind: Option<Value>,
    #[serde(borrow)]
    objects: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
}

impl Probe<'_> {
    fn is_bundle(&self) -> bool {
        self.kind.as_deref() == Some("bundle") && self.id.as_deref().is_some_and(|id| is_id_of(id, "bundle"))
    }

    fn is_object(&self) -> bool {
        match (self.kind.as_deref(), self.id.as_deref()) {
            (Some(kind), Some(id)) => (STIX_TYPES.contains(&kind) || kind.starts_with("x-")) && is_id_of(id, kind),
            _ => false,
        }
    }
}

/// The object types of STIX 2.1: domain, relationship, cyber-observable and meta objects.
const STIX_TYPES: &[&str] = &[
    "attack-pattern",
    "campaign",
    "course-of-action",
    "grouping",
    "identity",
    "incident",
    "indicator",
    "infrastructure",
    "intrusion-set",
    "location",
    "malware",
    "malware-analysis",
    "note",
    "observed-data",
    "opinion",
    "report",
    "threat-actor",
    "tool",
    "vulnerability",
    "relationship",
    "sighting",
    "artifact",
    "autonomous-system",
    "directory",
    "domain-name",
    "email-addr",
    "email-message",
    "file",
    "ipv4-addr",
    "ipv6-addr",
    "mac-addr",
    "mutex",
    "network-traffic",
    "process",
    "software",
    "url",
    "user-account",
    "windows-registry-key",
    "x509-certificate",
    "language-content",
    "marking-definition",
    "extension-definition",
];

/// `<kind>--<uuid>`.
fn is_id_of(id: &str, kind: &str) -> bool {
    id.strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix("--"))
        .is_some_and(is_uuid)
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

fn record(index: usize, text: &str, doc: &str, ctx: &ParseContext) -> Result<DocRecord, StixError> {
    let offset = offset_in(doc, text);
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(text) else {
        return Err(StixError::NotAnObject { index, offset });
    };
    let Some(kind) = object.get("type").and_then(Value::as_str) else {
        return Err(StixError::MissingType { index, offset });
    };
    let mut fields = Fields::new();
    flatten("stix", &object, &mut fields);
    let time_keys: &[&str] = match kind {
        "indicator" => {
            indicator(&object, &mut fields);
            &["valid_from", "created"]
        }
        "sighting" => {
            fields.insert("event.kind".into(), Value::from("alert"));
            fields.insert("tidemark.kind_rule".into(), Value::from("stix.sighting"));
            &["last_seen", "created"]
        }
        _ => &["modified", "created"],
    };
    let time = time_keys.iter().find_map(|k| {
        object
            .get(*k)
            .and_then(Value::as_str)
            .and_then(|t| utc_timestamp(t, ctx.tz))
    });
    if let Some(time) = time {
        fields.insert("@timestamp".into(), Value::from(time));
    }
    let message = ["name", "description"]
        .iter()
        .find_map(|k| object.get(*k).and_then(Value::as_str));
    if let Some(message) = message.filter(|m| !m.trim().is_empty()) {
        fields.insert("message".into(), Value::from(message));
    }
    Ok(DocRecord {
        span: offset..offset + text.len(),
        fields,
    })
}

/// An indicator: a `threat_intel` event, with the first supported comparison of its STIX
/// pattern as `threat.indicator.*`.
fn indicator(object: &Map<String, Value>, fields: &mut Fields) {
    fields.insert("event.kind".into(), Value::from("threat_intel"));
    fields.insert("tidemark.kind_rule".into(), Value::from("stix.indicator"));
    if let Some(confidence) = object.get("confidence").filter(|c| c.is_number()) {
        fields.insert("threat.indicator.confidence".into(), confidence.clone());
    }
    let stix_pattern = object
        .get("pattern_type")
        .and_then(Value::as_str)
        .is_none_or(|t| t == "stix");
    let found = object
        .get("pattern")
        .and_then(Value::as_str)
        .filter(|_| stix_pattern)
        .and_then(pattern::first_supported);
    if let Some(found) = found {
        fields.insert("threat.indicator.type".into(), Value::from(found.kind));
        if let Some(field) = found.field {
            fields.insert(field.into_owned(), Value::from(found.value.as_str()));
        }
        fields.insert("threat.indicator.value".into(), Value::from(found.value));
    }
}

/// Writes `object`'s properties under `prefix`; nested objects are flattened with dots, arrays
/// and scalars are leaves (as the ECS normalizer does).
fn flatten(prefix: &str, object: &Map<String, Value>, out: &mut Fields) {
    for (key, value) in object {
        let name = format!("{prefix}.{key}");
        match value {
            Value::Object(inner) if !inner.is_empty() => flatten(&name, inner, out),
            leaf => {
                out.insert(name, leaf.clone());
            }
        }
    }
}

/// Byte offset of `inner`, a slice of `doc`, in `doc`.
fn offset_in(doc: &str, inner: &str) -> usize {
    (inner.as_ptr() as usize)
        .saturating_sub(doc.as_ptr() as usize)
        .min(doc.len())
}

/// A serde_json error in `body` (a suffix of `doc`), placed in `doc`.
fn json_error(body: &str, doc: &str, e: &serde_json::Error) -> StixError {
    let (line, column) = (e.line().max(1), e.column().max(1));
    let line_start = body
        .match_indices('\n')
        .nth(line.saturating_sub(2))
        .filter(|_| line > 1)
        .map_or(0, |(i, _)| i + 1);
    let offset = offset_in(doc, body) + (line_start + column - 1).min(body.len());
    let text = e.to_string();
    let reason = text.rfind(" at line ").map_or(text.as_str(), |i| &text[..i]).to_owned();
    StixError::Json {
        line,
        column,
        offset,
        reason,
    }
}

#[cfg(test)]
mod tests;
