//! The cold tier: hypertable chunks older than the hot window move to Parquet files in an
//! object store, listed in a manifest in PostgreSQL, and expire under retention policies.
//! The only code that writes Parquet or the manifest. [`manifest::Snapshot`] is how readers
//! see both tiers consistently while tiering runs.

pub mod action;
pub mod export;
pub mod manifest;
pub mod objects;
pub mod policy;
pub mod read;
pub mod retention;
pub mod rows;
pub mod run;
pub mod schema;

pub use manifest::{ColdFile, FileFilter, Snapshot, Table};
pub use policy::{Policy, PolicyError};
pub use retention::{RetentionReport, retention_run};
pub use run::{TierContext, TierReport, tier_run};

/// What went wrong moving or expiring data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error("object store: {0}")]
    Objects(#[from] object_store::Error),
    #[error("writing Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("building Arrow batches: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("verification failed: {0}")]
    Verify(String),
    /// A registered cold file whose bytes are not a readable events file.
    #[error("cold file {path} cannot be read: {reason}")]
    Unreadable { path: String, reason: String },
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("another tiering or retention run is in progress")]
    Busy,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What one scheduled (or `tidemark tier run`) pass did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PassReport {
    pub hot_window_seconds: i64,
    pub tiering: TierReport,
    pub retention: RetentionReport,
}

/// Loads the policies in `policy_dir`, moves every chunk older than their hot window, then
/// applies retention. `hot_for` overrides the policies' hot window.
pub async fn pass(
    ctx: &TierContext,
    policy_dir: &std::path::Path,
    hot_for: Option<chrono::Duration>,
    dry_run: bool,
) -> Result<PassReport> {
    let policies = policy::load(policy_dir)?;
    let hot_window = hot_for.unwrap_or_else(|| policy::hot_window(&policies));
    let now = chrono::Utc::now();
    let tiering = tier_run(ctx, now - hot_window, dry_run).await?;
    let retention = retention_run(ctx, &policies, now, dry_run).await?;
    Ok(PassReport {
        hot_window_seconds: hot_window.num_seconds(),
        tiering,
        retention,
    })
}
