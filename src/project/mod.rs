//! Projections and the SOC workflow: the runner that folds the log into read models, the
//! alert and incident states those read models hold, the analyst actions that change them
//! (checked and appended as `kind=action` events), forensic rebuilds as of a past point, and
//! evidence files. Knows nothing of HTTP; writes events only through `store::Appender`.

pub(crate) mod action;
pub(crate) mod alert;
pub(crate) mod alert_queries;
pub(crate) mod alerts;
pub(crate) mod commands;
pub(crate) mod evidence;
pub(crate) mod fold;
pub(crate) mod incident;
pub(crate) mod incidents;
pub(crate) mod rebuild;
pub(crate) mod runner;
pub(crate) mod timeline;

use serde_json::Value;

pub use action::ObjectRef;
pub use alert::{Alert, AlertCommand, AlertStatus, Entities};
pub use alert_queries::{AlertFilter, AlertPage, AlertSort};
pub use commands::{ActionOutcome, Soc};
pub use evidence::{EvidenceUpload, open_object_store, sweep_orphans};
pub use fold::Cutoff;
pub use incident::{CreateIncident, Evidence, Incident, IncidentCommand, IncidentSeverity, IncidentStatus};
pub use incidents::{IncidentFilter, IncidentPage};
pub use rebuild::{ProjectionStatus, RebuildReport, projection_status, rebuild};
pub use runner::{ProjectionKind, RunnerOptions, RunnerSet, start_runners};
pub use timeline::{timeline_page, timeline_positions};

/// What went wrong in a projection or a SOC action.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0} not found")]
    NotFound(String),
    /// The action is not allowed in the object's current state.
    #[error("{message}")]
    InvalidTransition { message: String, current: Box<Value> },
    /// `If-Match` named a version that is no longer current.
    #[error("version {expected} is not current; the current version is {actual}")]
    VersionMismatch {
        expected: i64,
        actual: i64,
        current: Box<Value>,
    },
    /// A request field is missing or wrong; the message names the field.
    #[error("{0}")]
    BadInput(String),
    #[error("evidence exceeds the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("unknown projection {0:?}; expected alerts or incidents")]
    UnknownProjection(String),
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("object store URL {url:?}: {reason}")]
    ObjectStoreUrl { url: String, reason: String },
    #[error("no object store is configured for evidence")]
    NoObjectStore,
    #[error("cannot read the upload: {0}")]
    Upload(String),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
        Error::Store(crate::store::Error::Query(e))
    }
}

impl From<deadpool_postgres::PoolError> for Error {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Error::Store(crate::store::Error::Pool(e))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Checks a free-text request field: present after trimming and at most `max` bytes.
pub(crate) fn required_text(field: &str, value: &str, max: usize) -> Result<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::BadInput(format!("field `{field}` must not be empty")));
    }
    if value.len() > max {
        return Err(Error::BadInput(format!("field `{field}` is longer than {max} bytes")));
    }
    Ok(value.to_owned())
}

/// A read-model row's key: tenant and id.
pub(crate) type Key = (String, i64);

/// The rows of read-model `table` at `version` whose keys are in `keys`, with `columns`.
pub(crate) async fn rows_by_key(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    columns: &str,
    version: i32,
    keys: &[Key],
) -> Result<Vec<tokio_postgres::Row>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let (tenants, ids): (Vec<&str>, Vec<i64>) = keys.iter().map(|(t, i)| (t.as_str(), *i)).unzip();
    Ok(tx
        .query(
            &format!(
                "SELECT {columns} FROM {table} WHERE version = $1 \
                 AND (tenant_id, id) IN (SELECT * FROM unnest($2::text[], $3::int8[]))"
            ),
            &[&version, &tenants, &ids],
        )
        .await?)
}
