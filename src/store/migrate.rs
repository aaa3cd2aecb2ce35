//! Schema migrations: refinery SQL files from `migrations/`, embedded in the binary and
//! applied at start under an advisory lock, so concurrent starts apply each one once.

use serde::Serialize;

use super::{Result, Store};

refinery::embed_migrations!("migrations");

/// Advisory lock key held while migrating ("tidemark" in ASCII, truncated).
const MIGRATION_LOCK: i64 = 0x7469_6465_6d61_726b;

/// Applies every pending migration.
#[tracing::instrument(skip_all, err)]
pub async fn migrate(store: &Store) -> Result<()> {
    let mut client = store.connect().await?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let report = migrations::runner().run_async(&mut client).await;
    let unlock = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    let report = report?;
    unlock?;
    for m in report.applied_migrations() {
        tracing::info!(version = m.version(), name = m.name(), "applied migration");
    }
    Ok(())
}

/// The newest migration compiled in and the newest one applied.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MigrationStatus {
    pub expected: i64,
    pub applied: Option<i64>,
}

impl MigrationStatus {
    pub fn is_current(&self) -> bool {
        self.applied == Some(self.expected)
    }
}

pub async fn migration_status(store: &Store) -> Result<MigrationStatus> {
    let expected = migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| i64::from(m.version()))
        .max()
        .unwrap_or(0);
    let client = store.client().await?;
    let exists: bool = client
        .query_one("SELECT to_regclass('refinery_schema_history') IS NOT NULL", &[])
        .await?
        .get(0);
    let applied = if exists {
        client
            .query_one("SELECT max(version)::int8 FROM refinery_schema_history", &[])
            .await?
            .get(0)
    } else {
        None
    };
    Ok(MigrationStatus { expected, applied })
}
