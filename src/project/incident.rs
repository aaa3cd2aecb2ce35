//! One incident as a fold of its actions: created by `incident.create` (its id is that
//! event's position), then assigned, moved through its statuses, noted, given evidence,
//! linked to alerts and closed. The same code serves the read model, `as_of` and checks.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::action::{ActionRecord, ObjectRef};
use super::alert::Comment;
use super::{Error, Result, required_text};
use crate::store::StoredEvent;

const MAX_NAME: usize = 128;
const MAX_TITLE: usize = 512;
const MAX_TEXT: usize = 10_000;
/// Most alerts one action may link or unlink.
pub(crate) const MAX_LINKED: usize = 1_000;

/// Where an incident is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Open,
    Investigating,
    Contained,
    Resolved,
    Closed,
}

impl IncidentStatus {
    pub const ALL: [IncidentStatus; 5] = [
        IncidentStatus::Open,
        IncidentStatus::Investigating,
        IncidentStatus::Contained,
        IncidentStatus::Resolved,
        IncidentStatus::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Investigating => "investigating",
            IncidentStatus::Contained => "contained",
            IncidentStatus::Resolved => "resolved",
            IncidentStatus::Closed => "closed",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl fmt::Display for IncidentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How bad an incident is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentSeverity {
    Low,
    Medium,
    High,
    Critical,
}

impl IncidentSeverity {
    pub const ALL: [IncidentSeverity; 4] = [
        IncidentSeverity::Low,
        IncidentSeverity::Medium,
        IncidentSeverity::High,
        IncidentSeverity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IncidentSeverity::Low => "low",
            IncidentSeverity::Medium => "medium",
            IncidentSeverity::High => "high",
            IncidentSeverity::Critical => "critical",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A file attached to an incident; the bytes live in the object store under `key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
    /// Where the bytes are in the object store (under the tenant's prefix).
    pub key: String,
    pub position: i64,
    pub added_at: DateTime<Utc>,
    pub added_by: String,
}

/// An incident, as its actions make it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    /// The position of the action that created it.
    pub id: i64,
    pub tenant_id: String,
    pub title: String,
    pub description: Option<String>,
    pub status: IncidentStatus,
    pub severity: IncidentSeverity,
    pub assignee: Option<String>,
    pub resolution: Option<String>,
    pub alert_ids: Vec<i64>,
    pub notes: Vec<Comment>,
    pub evidence: Vec<Evidence>,
    pub created_by: String,
    /// Position of the last action on the incident: the `If-Match` value.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// `POST /api/v1/incidents`: a new incident, empty or from alerts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateIncident {
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    pub severity: IncidentSeverity,
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub alert_ids: Vec<i64>,
}

impl CreateIncident {
    pub(crate) fn validated(self) -> Result<Self> {
        Ok(CreateIncident {
            title: required_text("title", &self.title, MAX_TITLE)?,
            description: self
                .description
                .map(|d| required_text("description", &d, MAX_TEXT))
                .transpose()?,
            severity: self.severity,
            assignee: self
                .assignee
                .map(|a| required_text("assignee", &a, MAX_NAME))
                .transpose()?,
            alert_ids: checked_ids(self.alert_ids, true)?,
        })
    }
}

/// What an analyst can do to an incident (`POST /api/v1/incidents/{id}/actions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum IncidentCommand {
    Assign { assignee: String },
    SetStatus { status: IncidentStatus },
    SetSeverity { severity: IncidentSeverity },
    Note { text: String },
    LinkAlerts { alert_ids: Vec<i64> },
    UnlinkAlerts { alert_ids: Vec<i64> },
    Close { resolution: String },
}

impl IncidentCommand {
    /// The action's name in the log (`event.action`).
    pub fn event_name(&self) -> &'static str {
        match self {
            IncidentCommand::Assign { .. } => "incident.assign",
            IncidentCommand::SetStatus { .. } => "incident.set_status",
            IncidentCommand::SetSeverity { .. } => "incident.set_severity",
            IncidentCommand::Note { .. } => "incident.note",
            IncidentCommand::LinkAlerts { .. } => "incident.link",
            IncidentCommand::UnlinkAlerts { .. } => "incident.unlink",
            IncidentCommand::Close { .. } => "incident.close",
        }
    }

    pub(crate) fn validated(self) -> Result<Self> {
        Ok(match self {
            IncidentCommand::Assign { assignee } => IncidentCommand::Assign {
                assignee: required_text("assignee", &assignee, MAX_NAME)?,
            },
            IncidentCommand::SetStatus {
                status: IncidentStatus::Closed,
            } => {
                return Err(Error::BadInput(
                    "field `status`: use the `close` action, which takes a `resolution`, to close an incident".into(),
                ));
            }
            IncidentCommand::Note { text } => IncidentCommand::Note {
                text: required_text("text", &text, MAX_TEXT)?,
            },
            IncidentCommand::LinkAlerts { alert_ids } => IncidentCommand::LinkAlerts {
                alert_ids: checked_ids(alert_ids, false)?,
            },
            IncidentCommand::UnlinkAlerts { alert_ids } => IncidentCommand::UnlinkAlerts {
                alert_ids: checked_ids(alert_ids, false)?,
            },
            IncidentCommand::Close { resolution } => IncidentCommand::Close {
                resolution: required_text("resolution", &resolution, MAX_TEXT)?,
            },
            other => other,
        })
    }

    /// The alerts this command touches besides the incident.
    pub(crate) fn alert_ids(&self) -> &[i64] {
        match self {
            IncidentCommand::LinkAlerts { alert_ids } | IncidentCommand::UnlinkAlerts { alert_ids } => alert_ids,
            _ => &[],
        }
    }
}

/// Sorted, without repeats, bounded; `allow_empty` for incident creation.
fn checked_ids(mut ids: Vec<i64>, allow_empty: bool) -> Result<Vec<i64>> {
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() && !allow_empty {
        return Err(Error::BadInput("field `alert_ids` must name at least one alert".into()));
    }
    if ids.len() > MAX_LINKED {
        return Err(Error::BadInput(format!(
            "field `alert_ids` names more than {MAX_LINKED} alerts"
        )));
    }
    Ok(ids)
}

impl Incident {
    fn created(action: &ActionRecord, tenant_id: &str, create: CreateIncident) -> Incident {
        Incident {
            id: action.position,
            tenant_id: tenant_id.to_owned(),
            title: create.title,
            description: create.description,
            status: IncidentStatus::Open,
            severity: create.severity,
            assignee: create.assignee,
            resolution: None,
            alert_ids: create.alert_ids,
            notes: Vec::new(),
            evidence: Vec::new(),
            created_by: action.actor.clone(),
            version: action.position,
            created_at: action.recorded_at,
            updated_at: action.recorded_at,
            closed_at: None,
        }
    }

    /// Folds in an action that names this incident.
    pub(crate) fn apply(&mut self, action: &ActionRecord) {
        self.version = action.position;
        self.updated_at = action.recorded_at;
        if action.name == "incident.evidence" {
            match serde_json::from_value::<Evidence>(action.payload.clone()) {
                Ok(mut evidence) => {
                    evidence.position = action.position;
                    evidence.added_at = action.recorded_at;
                    evidence.added_by = action.actor.clone();
                    self.evidence.push(evidence);
                }
                Err(e) => tracing::warn!(position = action.position, error = %e, "unreadable evidence action skipped"),
            }
            return;
        }
        // The payload names the incident for the alerts' fold; the command itself does not.
        let mut payload = action.payload.clone();
        if let Value::Object(map) = &mut payload {
            map.remove("incident_id");
        }
        let command = match serde_json::from_value::<IncidentCommand>(payload) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(position = action.position, error = %e, "unreadable incident action skipped");
                return;
            }
        };
        match command {
            IncidentCommand::Assign { assignee } => self.assignee = Some(assignee),
            IncidentCommand::SetStatus { status } => self.status = status,
            IncidentCommand::SetSeverity { severity } => self.severity = severity,
            IncidentCommand::Note { text } => self.notes.push(Comment {
                position: action.position,
                at: action.recorded_at,
                actor: action.actor.clone(),
                text,
            }),
            IncidentCommand::LinkAlerts { alert_ids } => {
                self.alert_ids.extend(alert_ids);
                self.alert_ids.sort_unstable();
                self.alert_ids.dedup();
            }
            IncidentCommand::UnlinkAlerts { alert_ids } => self.alert_ids.retain(|a| !alert_ids.contains(a)),
            IncidentCommand::Close { resolution } => {
                self.status = IncidentStatus::Closed;
                self.resolution = Some(resolution);
                self.closed_at = Some(action.recorded_at);
            }
        }
    }

    /// Refuses an action the incident's state does not allow; `linked` maps each alert the
    /// command names to the incident it is linked to now.
    pub(crate) fn check(&self, command: Option<&IncidentCommand>, linked: &[(i64, Option<i64>)]) -> Result<(), String> {
        if self.status == IncidentStatus::Closed {
            return Err(format!("incident {} is closed", self.id));
        }
        match command {
            Some(IncidentCommand::SetStatus { status }) if *status == self.status => {
                Err(format!("incident {} is already {status}", self.id))
            }
            Some(IncidentCommand::LinkAlerts { .. }) => match linked.iter().find(|(_, i)| i.is_some()) {
                Some((alert, Some(other))) if *other == self.id => {
                    Err(format!("alert {alert} is already linked to incident {}", self.id))
                }
                Some((alert, Some(other))) => Err(format!(
                    "alert {alert} is linked to incident {other}; unlink it there first"
                )),
                _ => Ok(()),
            },
            Some(IncidentCommand::UnlinkAlerts { .. }) => match linked.iter().find(|(_, i)| *i != Some(self.id)) {
                Some((alert, _)) => Err(format!("alert {alert} is not linked to incident {}", self.id)),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }

    pub(crate) fn object(&self) -> ObjectRef {
        ObjectRef::Incident(self.id)
    }
}

/// Folds an incident from its actions in position order; `None` until its creation.
pub(crate) fn fold_incident(id: i64, events: &[StoredEvent]) -> Option<Incident> {
    let mut incident: Option<Incident> = None;
    for event in events {
        let Some(action) = ActionRecord::from_event(event) else {
            continue;
        };
        match incident.as_mut() {
            None if action.position == id && action.name == "incident.create" => {
                incident = created_from(&action, &event.tenant_id);
            }
            Some(i) if action.touches(i.object()) => i.apply(&action),
            _ => {}
        }
    }
    incident
}

/// The incident an `incident.create` action makes, if its payload is readable.
pub(crate) fn created_from(action: &ActionRecord, tenant_id: &str) -> Option<Incident> {
    match serde_json::from_value::<CreateIncident>(action.payload.clone()) {
        Ok(create) => Some(Incident::created(action, tenant_id, create)),
        Err(e) => {
            tracing::warn!(position = action.position, error = %e, "unreadable incident creation skipped");
            None
        }
    }
}

/// The payload of an `incident.evidence` action (position, time and actor come from the event).
pub(crate) fn evidence_payload(e: &Evidence) -> Value {
    serde_json::json!({
        "id": e.id, "name": e.name, "content_type": e.content_type, "size": e.size,
        "sha256": e.sha256, "key": e.key, "position": 0, "added_at": e.added_at, "added_by": "",
    })
}
