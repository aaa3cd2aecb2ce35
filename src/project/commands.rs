//! Analyst actions: each is checked against the object's state folded from the log, under a
//! transaction-scoped advisory lock per object, and appended as a `kind=action` event before
//! the lock is released. Two conflicting actions, in any processes, are therefore serialized:
//! the second sees the first and gets a conflict, never a silent overwrite.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use super::action::{ObjectRef, action_event};
use super::alert::{Alert, AlertCommand};
use super::fold::{Cutoff, load_alert, load_incident};
use super::incident::{CreateIncident, Incident, IncidentCommand};
use super::{Error, Result};
use crate::store::{AppendJob, Appender, Caller, Store};
use crate::telemetry::{ActionLabels, Metrics};

/// What a committed action produced.
#[derive(Debug, Clone, Serialize)]
pub struct ActionOutcome {
    /// `alert:12` or `incident:40`.
    pub object: String,
    pub action: String,
    /// Where the action event sits in the log.
    pub position: i64,
    /// The object's new version (for the next `If-Match`).
    pub version: i64,
    /// The object's state right after the action.
    pub state: Value,
}

/// The SOC workflow: where actions are checked and appended, and where evidence is stored.
#[derive(Clone)]
pub struct Soc {
    pub(crate) store: Store,
    pub(crate) appender: Appender,
    pub(crate) metrics: Arc<Metrics>,
    /// Where evidence goes, opened on first use so that a server nobody uploads to touches
    /// no directory.
    pub(crate) object_store_url: Option<String>,
    pub(crate) objects: Arc<tokio::sync::OnceCell<Arc<dyn object_store::ObjectStore>>>,
    pub(crate) evidence_max_bytes: u64,
    pub(crate) timeout: Duration,
}

/// What an alert action's answer and conflicts show of the alert: its workflow fields (the
/// fold behind a check reads no duplicates, so counts are left to `GET`).
pub(crate) fn alert_workflow(a: &Alert) -> Value {
    json!({
        "id": a.id, "status": a.status, "assignee": a.assignee, "resolution": a.resolution,
        "incident_id": a.incident_id, "version": a.version,
    })
}

fn incident_state(i: &Incident) -> Value {
    serde_json::to_value(i).unwrap_or(Value::Null)
}

impl Soc {
    pub fn new(store: Store, appender: Appender, metrics: Arc<Metrics>, timeout: Duration) -> Self {
        Soc {
            store,
            appender,
            metrics,
            object_store_url: None,
            objects: Arc::default(),
            evidence_max_bytes: 64 << 20,
            timeout,
        }
    }

    /// Names the object store evidence files go to, and the largest file accepted.
    pub fn with_evidence(mut self, object_store_url: String, max_bytes: u64) -> Self {
        self.object_store_url = Some(object_store_url);
        self.objects = Arc::default();
        self.evidence_max_bytes = max_bytes;
        self
    }

    fn count(&self, action: &str, outcome: &Result<ActionOutcome>) {
        let outcome = match outcome {
            Ok(_) => "ok",
            Err(Error::InvalidTransition { .. }) => "conflict",
            Err(Error::VersionMismatch { .. }) => "stale_version",
            Err(Error::NotFound(_)) => "not_found",
            Err(_) => "error",
        };
        self.metrics
            .soc_actions
            .get_or_create(&ActionLabels {
                action: action.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Runs `f` inside a transaction holding the locks of `objects` (sorted, so two actions
    /// on overlapping objects cannot deadlock), bounded by the request timeout.
    async fn locked<T, F>(&self, caller: &Caller, objects: &[ObjectRef], f: F) -> Result<T>
    where
        F: AsyncFnOnce(&tokio_postgres::Transaction<'_>) -> Result<T>,
    {
        let work = async {
            let mut client = self.store.client().await?;
            let tx = client.transaction().await?;
            let mut keys: Vec<String> = objects
                .iter()
                .map(|o| format!("tidemark.object:{}:{o}", caller.tenant))
                .collect();
            keys.sort();
            keys.dedup();
            tx.query_one(
                "SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) \
                 FROM (SELECT k FROM unnest($1::text[]) AS k ORDER BY k) AS sorted",
                &[&keys],
            )
            .await?;
            let out = f(&tx).await?;
            tx.commit().await?;
            Ok(out)
        };
        tokio::time::timeout(self.timeout, work).await.map_err(|_| {
            Error::Store(crate::store::Error::Unavailable(format!(
                "no answer within {:?}",
                self.timeout
            )))
        })?
    }

    /// Appends one action event and returns its position.
    async fn append(
        &self,
        caller: &Caller,
        name: &str,
        objects: &[ObjectRef],
        payload: Value,
        message: String,
    ) -> Result<i64> {
        let event = action_event(name, &caller.actor, objects, payload, message);
        let receipt = self
            .appender
            .append(AppendJob {
                tenant: caller.tenant.clone(),
                events: vec![event],
                dead_letters: Vec::new(),
            })
            .await?;
        receipt
            .positions
            .first()
            .copied()
            .ok_or_else(|| Error::Store(crate::store::Error::Unavailable("the action was not stored".into())))
    }

    /// Applies an alert action: 404 if the tenant has no such alert, 412 on a stale
    /// `if_match`, 409 when the alert's status does not allow it.
    #[tracing::instrument(skip_all, fields(alert = id, action = command.name()), err)]
    pub async fn alert_action(
        &self,
        caller: &Caller,
        id: i64,
        if_match: Option<i64>,
        command: AlertCommand,
    ) -> Result<ActionOutcome> {
        let command = command.validated()?;
        let name = format!("alert.{}", command.name());
        let object = ObjectRef::Alert(id);
        let outcome = self
            .locked(caller, &[object], async |tx| {
                let (mut alert, _) = load_alert(tx, &caller.tenant, id, Cutoff::Now, false).await?;
                check_version(if_match, alert.version, || alert_workflow(&alert))?;
                alert.check(&command).map_err(|message| Error::InvalidTransition {
                    message,
                    current: Box::new(alert_workflow(&alert)),
                })?;
                let payload = serde_json::to_value(&command).unwrap_or(Value::Null);
                let message = format!("{} {name} on alert {id}", caller.actor);
                let position = self.append(caller, &name, &[object], payload.clone(), message).await?;
                apply_own(&mut alert, &name, position, caller, payload);
                Ok(ActionOutcome {
                    object: object.to_string(),
                    action: name.clone(),
                    position,
                    version: alert.version,
                    state: alert_workflow(&alert),
                })
            })
            .await;
        self.count(&name, &outcome);
        outcome
    }

    /// Creates an incident, linking `alert_ids` (each must exist and be unlinked).
    #[tracing::instrument(skip_all, err)]
    pub async fn create_incident(&self, caller: &Caller, create: CreateIncident) -> Result<ActionOutcome> {
        let create = create.validated()?;
        let objects: Vec<ObjectRef> = create.alert_ids.iter().map(|a| ObjectRef::Alert(*a)).collect();
        let outcome = self
            .locked(caller, &objects, async |tx| {
                for alert_id in &create.alert_ids {
                    let (alert, _) = load_alert(tx, &caller.tenant, *alert_id, Cutoff::Now, false).await?;
                    if let Some(other) = alert.incident_id {
                        return Err(Error::InvalidTransition {
                            message: format!("alert {alert_id} is linked to incident {other}; unlink it there first"),
                            current: Box::new(alert_workflow(&alert)),
                        });
                    }
                }
                let payload = serde_json::to_value(&create).unwrap_or(Value::Null);
                let message = format!("{} created incident {:?}", caller.actor, create.title);
                let position = self
                    .append(caller, "incident.create", &objects, payload, message)
                    .await?;
                let incident = load_incident(tx, &caller.tenant, position, Cutoff::Now).await?;
                Ok(ActionOutcome {
                    object: ObjectRef::Incident(position).to_string(),
                    action: "incident.create".into(),
                    position,
                    version: incident.version,
                    state: incident_state(&incident),
                })
            })
            .await;
        self.count("incident.create", &outcome);
        outcome
    }

    /// Applies an incident action under the same rules as alert actions; linking and
    /// unlinking also lock and check each alert named.
    #[tracing::instrument(skip_all, fields(incident = id, action = command.event_name()), err)]
    pub async fn incident_action(
        &self,
        caller: &Caller,
        id: i64,
        if_match: Option<i64>,
        command: IncidentCommand,
    ) -> Result<ActionOutcome> {
        let command = command.validated()?;
        let name = command.event_name();
        let incident_ref = ObjectRef::Incident(id);
        let mut objects = vec![incident_ref];
        objects.extend(command.alert_ids().iter().map(|a| ObjectRef::Alert(*a)));
        let outcome = self
            .locked(caller, &objects, async |tx| {
                let incident = load_incident(tx, &caller.tenant, id, Cutoff::Now).await?;
                check_version(if_match, incident.version, || incident_state(&incident))?;
                let mut linked = Vec::new();
                for alert_id in command.alert_ids() {
                    let (alert, _) = load_alert(tx, &caller.tenant, *alert_id, Cutoff::Now, false).await?;
                    linked.push((*alert_id, alert.incident_id));
                }
                incident
                    .check(Some(&command), &linked)
                    .map_err(|message| Error::InvalidTransition {
                        message,
                        current: Box::new(incident_state(&incident)),
                    })?;
                let mut payload = serde_json::to_value(&command).unwrap_or(Value::Null);
                if let Value::Object(map) = &mut payload {
                    map.insert("incident_id".into(), json!(id));
                }
                let message = format!("{} {name} on incident {id}", caller.actor);
                let position = self.append(caller, name, &objects, payload, message).await?;
                let incident = load_incident(tx, &caller.tenant, id, Cutoff::Now).await?;
                Ok(ActionOutcome {
                    object: incident_ref.to_string(),
                    action: name.to_owned(),
                    position,
                    version: incident.version,
                    state: incident_state(&incident),
                })
            })
            .await;
        self.count(name, &outcome);
        outcome
    }

    /// Appends an `incident.evidence` action for a file already in the object store, after
    /// checking the incident under its lock. The caller removes the file if this fails.
    pub(crate) async fn register_evidence(
        &self,
        caller: &Caller,
        id: i64,
        if_match: Option<i64>,
        payload: Value,
    ) -> Result<ActionOutcome> {
        let object = ObjectRef::Incident(id);
        let outcome = self
            .locked(caller, &[object], async |tx| {
                let incident = load_incident(tx, &caller.tenant, id, Cutoff::Now).await?;
                check_version(if_match, incident.version, || incident_state(&incident))?;
                incident.check(None, &[]).map_err(|message| Error::InvalidTransition {
                    message,
                    current: Box::new(incident_state(&incident)),
                })?;
                let message = format!("{} added evidence to incident {id}", caller.actor);
                let position = self
                    .append(caller, "incident.evidence", &[object], payload, message)
                    .await?;
                let incident = load_incident(tx, &caller.tenant, id, Cutoff::Now).await?;
                Ok(ActionOutcome {
                    object: object.to_string(),
                    action: "incident.evidence".into(),
                    position,
                    version: incident.version,
                    state: incident_state(&incident),
                })
            })
            .await;
        self.count("incident.evidence", &outcome);
        outcome
    }
}

/// 412 when `If-Match` names another version than the current one.
fn check_version(if_match: Option<i64>, actual: i64, current: impl FnOnce() -> Value) -> Result<()> {
    match if_match {
        Some(expected) if expected != actual => Err(Error::VersionMismatch {
            expected,
            actual,
            current: Box::new(current()),
        }),
        _ => Ok(()),
    }
}

/// Applies the action just appended to the checked state, for the answer.
fn apply_own(alert: &mut Alert, name: &str, position: i64, caller: &Caller, payload: Value) {
    alert.apply(&super::action::ActionRecord {
        position,
        recorded_at: chrono::Utc::now(),
        name: name.to_owned(),
        actor: caller.actor.clone(),
        objects: vec![alert.object()],
        payload,
    });
}
