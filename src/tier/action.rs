//! Tiering and retention record what they do as action events of the tenant whose data moved
//! or expired, so the history of the data replays with the data.

use serde_json::Value;

use crate::event::{NewEvent, TenantId};
use crate::store::{AppendJob, Appender};

/// `source` of the events tiering and retention append.
pub const SOURCE: &str = crate::event::SYSTEM_SOURCE;

/// Appends one action event; a failure is logged, never fatal: the manifest already holds
/// the change, and the next run's events continue the history.
pub(crate) async fn record(appender: &Appender, tenant: &str, name: &str, message: String, fields: Value) {
    let Ok(tenant) = TenantId::new(tenant) else {
        tracing::warn!(tenant, "cannot record {name}: invalid tenant id");
        return;
    };
    let Value::Object(fields) = fields else {
        return;
    };
    let job = AppendJob {
        tenant,
        events: vec![NewEvent::action(SOURCE, name, SOURCE, message, fields)],
        dead_letters: Vec::new(),
    };
    if let Err(e) = appender.append_waiting(job).await {
        tracing::warn!(error = %e, action = name, "cannot record a tiering action");
    }
}
