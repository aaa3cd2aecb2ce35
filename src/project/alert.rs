//! One alert as a fold of its events: created by the first `kind=alert` event of its
//! fingerprint, grown by duplicates within the dedup window, and moved through its workflow
//! by analyst actions. The same code serves the read model, `as_of` and action checks.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::action::{ActionRecord, ObjectRef};
use super::{Result, required_text};
use crate::store::StoredEvent;

/// Severity given to an alert whose event carries none (the middle of the 0-10 scale).
const DEFAULT_SEVERITY: i16 = 5;
const MAX_NAME: usize = 128;
const MAX_TEXT: usize = 10_000;

/// Where an alert is in triage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Open,
    Acknowledged,
    InProgress,
    Resolved,
}

impl AlertStatus {
    pub const ALL: [AlertStatus; 4] = [
        AlertStatus::Open,
        AlertStatus::Acknowledged,
        AlertStatus::InProgress,
        AlertStatus::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Open => "open",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::InProgress => "in_progress",
            AlertStatus::Resolved => "resolved",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl fmt::Display for AlertStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The entities an alert is about, each list sorted and without repeats.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entities {
    pub ips: Vec<String>,
    pub users: Vec<String>,
    pub hosts: Vec<String>,
    pub hashes: Vec<String>,
}

impl Entities {
    /// Source and destination IP, user and host columns, `related.*` lists and file or
    /// process hashes.
    fn of(event: &StoredEvent) -> Self {
        let mut ips = BTreeSet::new();
        let mut users = BTreeSet::new();
        let mut hosts = BTreeSet::new();
        let mut hashes = BTreeSet::new();
        ips.extend(
            event
                .source_ip
                .iter()
                .chain(&event.destination_ip)
                .map(|ip| ip.to_string()),
        );
        users.extend(event.user_name.iter().cloned());
        hosts.extend(event.host_name.iter().cloned());
        let strings = |key: &str| -> Vec<String> {
            match event.fields.get(key) {
                Some(Value::String(s)) => vec![s.clone()],
                Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
                _ => Vec::new(),
            }
        };
        ips.extend(strings("related.ip"));
        users.extend(strings("related.user"));
        hosts.extend(strings("related.hosts"));
        hashes.extend(strings("related.hash"));
        for owner in ["file", "process"] {
            for algo in ["md5", "sha1", "sha256"] {
                hashes.extend(
                    strings(&format!("{owner}.hash.{algo}"))
                        .into_iter()
                        .map(|h| h.to_ascii_lowercase()),
                );
            }
        }
        Entities {
            ips: ips.into_iter().collect(),
            users: users.into_iter().collect(),
            hosts: hosts.into_iter().collect(),
            hashes: hashes.into_iter().collect(),
        }
    }

    /// Every value, for the `entity=` filter.
    pub(crate) fn values(&self) -> Vec<String> {
        let mut all: Vec<String> = [&self.ips, &self.users, &self.hosts, &self.hashes]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

/// A comment left on an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub position: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub text: String,
}

/// An alert, as its events make it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// The position of the alert's first event.
    pub id: i64,
    pub tenant_id: String,
    pub fingerprint: String,
    pub source: String,
    pub signature: String,
    pub title: String,
    pub severity: i16,
    pub status: AlertStatus,
    pub assignee: Option<String>,
    pub resolution: Option<String>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Events folded into this alert (the first and its duplicates).
    pub count: i64,
    pub entities: Entities,
    pub incident_id: Option<i64>,
    pub comments: Vec<Comment>,
    /// Position of the last action on the alert (its id before any): the `If-Match` value.
    pub version: i64,
    /// Position of the last event folded in, action or duplicate.
    pub last_position: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The dedup key of an alert event: source, signature and entities.
pub(crate) fn fingerprint(event: &StoredEvent) -> String {
    let entities = Entities::of(event);
    let mut h = Sha256::new();
    for part in [event.source.as_str(), &signature(event)] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for list in [&entities.ips, &entities.users, &entities.hosts, &entities.hashes] {
        for v in list {
            h.update(v.as_bytes());
            h.update([1]);
        }
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

/// What rule or detection raised the alert: `rule.id`, `rule.name`, `event.action`, or the message.
fn signature(event: &StoredEvent) -> String {
    ["rule.id", "rule.name"]
        .iter()
        .find_map(|k| event.fields.get(*k).and_then(Value::as_str).map(str::to_owned))
        .or_else(|| event.event_action.clone())
        .or_else(|| event.message.clone())
        .unwrap_or_default()
}

/// When an alert event happened: its own time, else when it was recorded.
pub(crate) fn seen_at(event: &StoredEvent) -> DateTime<Utc> {
    event.event_time.unwrap_or(event.recorded_at)
}

impl Alert {
    /// A new alert from its first event.
    pub(crate) fn from_event(event: &StoredEvent) -> Alert {
        let seen = seen_at(event);
        let signature = signature(event);
        let title = event
            .message
            .clone()
            .or_else(|| event.fields.get("rule.name").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| signature.clone());
        Alert {
            id: event.position,
            tenant_id: event.tenant_id.clone(),
            fingerprint: fingerprint(event),
            source: event.source.clone(),
            signature,
            title,
            severity: event.severity.unwrap_or(DEFAULT_SEVERITY),
            status: AlertStatus::Open,
            assignee: None,
            resolution: None,
            first_seen: seen,
            last_seen: seen,
            count: 1,
            entities: Entities::of(event),
            incident_id: None,
            comments: Vec::new(),
            version: event.position,
            last_position: event.position,
            created_at: event.recorded_at,
            updated_at: event.recorded_at,
        }
    }

    /// Whether `event` (same fingerprint) is a duplicate of this alert under `window`.
    pub(crate) fn absorbs(&self, event: &StoredEvent, window: chrono::Duration) -> bool {
        let seen = seen_at(event);
        self.status != AlertStatus::Resolved && seen <= self.last_seen + window && seen >= self.first_seen - window
    }

    /// Folds in a duplicate: one more occurrence, the seen range widened, the highest severity.
    pub(crate) fn add_duplicate(&mut self, event: &StoredEvent) {
        let seen = seen_at(event);
        self.count += 1;
        self.first_seen = self.first_seen.min(seen);
        self.last_seen = self.last_seen.max(seen);
        self.severity = self.severity.max(event.severity.unwrap_or(DEFAULT_SEVERITY));
        self.last_position = event.position;
        self.updated_at = event.recorded_at;
    }

    /// Folds in an action that names this alert. Actions were checked when appended, so the
    /// fold trusts them; one it cannot read changes nothing but the version.
    pub(crate) fn apply(&mut self, action: &ActionRecord) {
        self.version = action.position;
        self.last_position = action.position;
        self.updated_at = action.recorded_at;
        match action.name.as_str() {
            "incident.create" | "incident.link" => {
                self.incident_id = Some(match action.name.as_str() {
                    "incident.create" => action.position,
                    _ => action
                        .payload
                        .get("incident_id")
                        .and_then(Value::as_i64)
                        .unwrap_or_default(),
                });
            }
            "incident.unlink" => self.incident_id = None,
            _ => match serde_json::from_value::<AlertCommand>(action.payload.clone()) {
                Ok(command) => self.apply_command(&command, action),
                Err(e) => tracing::warn!(position = action.position, error = %e, "unreadable alert action skipped"),
            },
        }
    }

    fn apply_command(&mut self, command: &AlertCommand, action: &ActionRecord) {
        match command {
            AlertCommand::Assign { assignee } => self.assignee = Some(assignee.clone()),
            AlertCommand::Acknowledge => self.status = AlertStatus::Acknowledged,
            AlertCommand::Start => self.status = AlertStatus::InProgress,
            AlertCommand::Resolve { reason } => {
                self.status = AlertStatus::Resolved;
                self.resolution = Some(reason.clone());
            }
            AlertCommand::Reopen => {
                self.status = AlertStatus::Open;
                self.resolution = None;
            }
            AlertCommand::Comment { text } => self.comments.push(Comment {
                position: action.position,
                at: action.recorded_at,
                actor: action.actor.clone(),
                text: text.clone(),
            }),
        }
    }

    /// Refuses `command` when the alert's status does not allow it.
    pub(crate) fn check(&self, command: &AlertCommand) -> Result<(), String> {
        use AlertStatus::*;
        let allowed = match command {
            AlertCommand::Comment { .. } => true,
            AlertCommand::Assign { .. } => self.status != Resolved,
            AlertCommand::Acknowledge => self.status == Open,
            AlertCommand::Start => matches!(self.status, Open | Acknowledged),
            AlertCommand::Resolve { .. } => self.status != Resolved,
            AlertCommand::Reopen => self.status == Resolved,
        };
        if allowed {
            Ok(())
        } else {
            Err(format!(
                "cannot {} alert {}: it is {}",
                command.name(),
                self.id,
                self.status
            ))
        }
    }

    /// How actions name this alert.
    pub(crate) fn object(&self) -> ObjectRef {
        ObjectRef::Alert(self.id)
    }
}

/// What an analyst can do to an alert (`POST /api/v1/alerts/{id}/actions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum AlertCommand {
    Assign { assignee: String },
    Acknowledge,
    Start,
    Resolve { reason: String },
    Reopen,
    Comment { text: String },
}

impl AlertCommand {
    pub fn name(&self) -> &'static str {
        match self {
            AlertCommand::Assign { .. } => "assign",
            AlertCommand::Acknowledge => "acknowledge",
            AlertCommand::Start => "start",
            AlertCommand::Resolve { .. } => "resolve",
            AlertCommand::Reopen => "reopen",
            AlertCommand::Comment { .. } => "comment",
        }
    }

    /// Trims and bounds the free-text fields; an empty one is refused by name.
    pub(crate) fn validated(self) -> Result<Self> {
        Ok(match self {
            AlertCommand::Assign { assignee } => AlertCommand::Assign {
                assignee: required_text("assignee", &assignee, MAX_NAME)?,
            },
            AlertCommand::Resolve { reason } => AlertCommand::Resolve {
                reason: required_text("reason", &reason, MAX_TEXT)?,
            },
            AlertCommand::Comment { text } => AlertCommand::Comment {
                text: required_text("text", &text, MAX_TEXT)?,
            },
            other => other,
        })
    }
}

/// Folds an alert from its events in position order: source events (the first creates it)
/// and the actions that name it.
pub(crate) fn fold_alert(events: &[StoredEvent]) -> Option<Alert> {
    let mut alert: Option<Alert> = None;
    for event in events {
        if event.kind == "alert" {
            match alert.as_mut() {
                None => alert = Some(Alert::from_event(event)),
                Some(a) => a.add_duplicate(event),
            }
        } else if let (Some(a), Some(action)) = (alert.as_mut(), ActionRecord::from_event(event))
            && action.touches(a.object())
        {
            a.apply(&action);
        }
    }
    alert
}
