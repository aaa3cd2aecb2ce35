//! Analyst actions as log events: how an action names the objects it touches, who made it and
//! what it carries, and how a stored `kind=action` event is read back. The folds in `alert` and
//! `incident` are written against [`ActionRecord`] only.

use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::event::{EventKind, NewEvent};
use crate::store::StoredEvent;

/// The `source` of every action event the SOC API appends.
pub(crate) const ACTION_SOURCE: &str = crate::event::ANALYST_SOURCE;
/// Field listing the objects an action touches, e.g. `["alert:12", "incident:40"]`.
pub(crate) const OBJECTS_FIELD: &str = "soc.objects";
/// Field holding the action's parameters.
pub(crate) const PAYLOAD_FIELD: &str = "soc.payload";
/// Field holding who acted (the token's label, or its id).
pub(crate) const ACTOR_FIELD: &str = "soc.actor";

/// An alert or incident, as actions name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectRef {
    Alert(i64),
    Incident(i64),
}

impl ObjectRef {
    fn parse(s: &str) -> Option<Self> {
        let (kind, id) = s.split_once(':')?;
        let id = id.parse().ok()?;
        match kind {
            "alert" => Some(ObjectRef::Alert(id)),
            "incident" => Some(ObjectRef::Incident(id)),
            _ => None,
        }
    }

    /// The JSON containment probe that finds this object's actions through the GIN index.
    pub(crate) fn probe(&self) -> Value {
        json!([self.to_string()])
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectRef::Alert(id) => write!(f, "alert:{id}"),
            ObjectRef::Incident(id) => write!(f, "incident:{id}"),
        }
    }
}

/// An action read back from the log.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ActionRecord {
    pub position: i64,
    pub recorded_at: DateTime<Utc>,
    /// `alert.assign`, `incident.create`, ...
    pub name: String,
    pub actor: String,
    pub objects: Vec<ObjectRef>,
    pub payload: Value,
}

impl ActionRecord {
    /// The action an event records, or `None` for any other event (including an action event
    /// that did not come from the SOC API and so does not follow its shape).
    pub(crate) fn from_event(event: &StoredEvent) -> Option<Self> {
        if event.kind != EventKind::Action.as_str() || event.source != ACTION_SOURCE {
            return None;
        }
        let objects = event
            .fields
            .get(OBJECTS_FIELD)?
            .as_array()?
            .iter()
            .filter_map(|v| v.as_str().and_then(ObjectRef::parse))
            .collect();
        Some(ActionRecord {
            position: event.position,
            recorded_at: event.recorded_at,
            name: event.event_action.clone()?,
            actor: event.fields.get(ACTOR_FIELD)?.as_str()?.to_owned(),
            objects,
            payload: event.fields.get(PAYLOAD_FIELD).cloned().unwrap_or(Value::Null),
        })
    }

    pub(crate) fn touches(&self, object: ObjectRef) -> bool {
        self.objects.contains(&object)
    }
}

/// The event recording one action. Its raw bytes are the canonical JSON of the action.
pub(crate) fn action_event(
    name: &str,
    actor: &str,
    objects: &[ObjectRef],
    payload: Value,
    message: String,
) -> NewEvent {
    let mut fields = Map::new();
    fields.insert(
        OBJECTS_FIELD.into(),
        Value::Array(objects.iter().map(|o| Value::String(o.to_string())).collect()),
    );
    fields.insert(PAYLOAD_FIELD.into(), payload);
    fields.insert(ACTOR_FIELD.into(), Value::String(actor.to_owned()));
    NewEvent::action(ACTION_SOURCE, name, actor, message, fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_refs_round_trip_through_their_names() {
        for o in [ObjectRef::Alert(7), ObjectRef::Incident(42)] {
            assert_eq!(ObjectRef::parse(&o.to_string()), Some(o));
        }
        assert_eq!(ObjectRef::parse("case:1"), None);
        assert_eq!(ObjectRef::parse("alert:x"), None);
    }
}
