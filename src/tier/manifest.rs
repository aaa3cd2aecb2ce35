//! The manifest (`cold_chunks`, `cold_files`) and the handoff lock. A reader takes a
//! [`Snapshot`]: a shared advisory lock held on a connection of its own for as long as it
//! reads, and the cold watermarks read under it. Dropping a tiered chunk takes the same lock
//! exclusively, so no chunk disappears under a reader, and a reader that reads the hot tier
//! above the watermark and the cold tier at or below it sees every row exactly once.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::event::TenantId;
use crate::store::{self, Store};

/// Advisory lock key of the handoff ("tier" in ASCII).
pub const HANDOFF_LOCK: i64 = 0x7469_6572;

/// The cold tier's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    Events,
    Metrics,
}

impl Table {
    pub fn as_str(self) -> &'static str {
        match self {
            Table::Events => "events",
            Table::Metrics => "metrics",
        }
    }
}

/// One registered Parquet file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColdFile {
    pub id: i64,
    pub table: String,
    pub chunk: String,
    pub tenant: String,
    pub kind: Option<String>,
    pub path: String,
    pub first_position: Option<i64>,
    pub last_position: Option<i64>,
    pub min_recorded_at: DateTime<Utc>,
    pub max_recorded_at: DateTime<Utc>,
    pub min_time: Option<DateTime<Utc>>,
    pub max_time: Option<DateTime<Utc>>,
    pub row_count: i64,
    pub bytes: i64,
    #[serde(serialize_with = "as_hex")]
    pub sha256: Vec<u8>,
}

fn as_hex<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(bytes))
}

/// Bounds a reader can prune files with; `None` is unbounded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileFilter {
    pub kinds: Option<Vec<String>>,
    pub min_position: Option<i64>,
    pub max_position: Option<i64>,
    /// On `recorded_at`.
    pub recorded_from: Option<DateTime<Utc>>,
    pub recorded_to: Option<DateTime<Utc>>,
    /// On `event_time` (events) or `time` (metrics); files with no such time are kept.
    pub time_from: Option<DateTime<Utc>>,
    pub time_to: Option<DateTime<Utc>>,
}

/// A consistent view of the two tiers for one reader; hold it until the reading is done.
pub struct Snapshot {
    /// The connection holding the shared handoff lock.
    guard: LockHolder,
    /// Events with `position <= events_watermark` are cold; the rest are hot. 0: none cold.
    pub events_watermark: i64,
    /// Metrics with `recorded_at < metrics_watermark` are cold; `None`: none cold.
    pub metrics_watermark: Option<DateTime<Utc>>,
}

impl Snapshot {
    /// Takes the shared handoff lock on a pooled connection and reads the watermarks.
    pub async fn take(store: &Store) -> store::Result<Snapshot> {
        let guard = LockHolder {
            client: Some(store.snapshot_client().await?),
            // From before asking: a lock query that fails midway may still have taken it.
            locked: true,
        };
        // Statements cached on the connection; the lock and the read go out in one round
        // trip, PostgreSQL running them in order, so the read waits for the lock.
        let (lock, watermarks) = tokio::try_join!(
            guard.prepare_cached("SELECT pg_advisory_lock_shared($1)"),
            guard.prepare_cached(
                "SELECT coalesce((SELECT max(last_position) FROM cold_chunks WHERE table_name = 'events'), 0), \
                 (SELECT max(range_end) FROM cold_chunks WHERE table_name = 'metrics')",
            ),
        )?;
        let (_, row) = tokio::try_join!(
            guard.execute(&lock, &[&HANDOFF_LOCK]),
            guard.query_one(&watermarks, &[])
        )?;
        Ok(Snapshot {
            guard,
            events_watermark: row.get(0),
            metrics_watermark: row.get(1),
        })
    }

    /// The tenant's files of `table` that may hold rows within `filter`, in position (then
    /// recorded_at) order: only files at or below this snapshot's watermark, since a chunk
    /// registered after it was taken is still read from the hot tier by this snapshot's reader.
    pub async fn files(&self, table: Table, tenant: &TenantId, filter: &FileFilter) -> store::Result<Vec<ColdFile>> {
        let statement = self
            .guard
            .prepare_cached(
                "SELECT id, table_name, chunk, tenant_id, kind, path, first_position, last_position, min_recorded_at, \
                 max_recorded_at, min_time, max_time, row_count, bytes, sha256 FROM cold_files \
                 WHERE table_name = $1 AND tenant_id = $2 \
                 AND ($3::text[] IS NULL OR kind = ANY($3)) \
                 AND ($4::bigint IS NULL OR last_position >= $4) AND ($5::bigint IS NULL OR first_position <= $5) \
                 AND ($6::timestamptz IS NULL OR max_recorded_at >= $6) AND ($7::timestamptz IS NULL OR min_recorded_at <= $7) \
                 AND ($8::timestamptz IS NULL OR max_time IS NULL OR max_time >= $8) \
                 AND ($9::timestamptz IS NULL OR min_time IS NULL OR min_time <= $9) \
                 AND (CASE WHEN table_name = 'events' THEN last_position <= $10 \
                      ELSE $11::timestamptz IS NOT NULL AND max_recorded_at < $11 END) \
                 ORDER BY first_position NULLS LAST, min_recorded_at, id",
            )
            .await?;
        let rows = self
            .guard
            .query(
                &statement,
                &[
                    &table.as_str(),
                    &tenant.as_str(),
                    &filter.kinds,
                    &filter.min_position,
                    &filter.max_position,
                    &filter.recorded_from,
                    &filter.recorded_to,
                    &filter.time_from,
                    &filter.time_to,
                    &self.events_watermark,
                    &self.metrics_watermark,
                ],
            )
            .await?;
        Ok(rows.iter().map(cold_file).collect())
    }

    /// Every tenant's event files at or below this snapshot's watermark, in position order: the
    /// whole cold tier of the log, as `verify` walks it.
    pub async fn event_files(&self) -> store::Result<Vec<ColdFile>> {
        let rows = self
            .guard
            .query(
                &format!(
                    "SELECT {FILE_COLUMNS} FROM cold_files WHERE table_name = 'events' AND last_position <= $1 \
                     ORDER BY first_position, id"
                ),
                &[&self.events_watermark],
            )
            .await?;
        Ok(rows.iter().map(cold_file).collect())
    }

    /// Ends the snapshot now; the connection goes back to its pool.
    pub async fn release(mut self) {
        let unlock = self.guard.prepare_cached("SELECT pg_advisory_unlock_shared($1)").await;
        let unlocked = match unlock {
            Ok(unlock) => self
                .guard
                .query_one(&unlock, &[&HANDOFF_LOCK])
                .await
                .is_ok_and(|row| row.get::<_, bool>(0)),
            Err(_) => false,
        };
        self.guard.locked = !unlocked;
    }
}

/// A pooled connection that may hold the shared handoff lock. Dropped while it may (a reader
/// ended without `release`, or unlocking failed), it leaves the pool and closes, which ends
/// the lock, so the pool never hands out a connection still holding it.
struct LockHolder {
    client: Option<deadpool_postgres::Object>,
    locked: bool,
}

impl std::ops::Deref for LockHolder {
    type Target = deadpool_postgres::ClientWrapper;

    fn deref(&self) -> &deadpool_postgres::ClientWrapper {
        self.client.as_ref().expect("held until dropped")
    }
}

impl Drop for LockHolder {
    fn drop(&mut self) {
        if let Some(client) = self.client.take()
            && self.locked
        {
            drop(deadpool_postgres::Object::take(client));
        }
    }
}

/// The `cold_files` columns [`cold_file`] reads, in its order.
const FILE_COLUMNS: &str = "id, table_name, chunk, tenant_id, kind, path, first_position, last_position, \
     min_recorded_at, max_recorded_at, min_time, max_time, row_count, bytes, sha256";

fn cold_file(row: &tokio_postgres::Row) -> ColdFile {
    ColdFile {
        id: row.get(0),
        table: row.get(1),
        chunk: row.get(2),
        tenant: row.get(3),
        kind: row.get(4),
        path: row.get(5),
        first_position: row.get(6),
        last_position: row.get(7),
        min_recorded_at: row.get(8),
        max_recorded_at: row.get(9),
        min_time: row.get(10),
        max_time: row.get(11),
        row_count: row.get(12),
        bytes: row.get(13),
        sha256: row.get(14),
    }
}

/// Every registered file, for retention and `verify`.
pub async fn all_files(store: &Store) -> store::Result<Vec<ColdFile>> {
    let client = store.connect().await?;
    let rows = client
        .query(
            "SELECT id, table_name, chunk, tenant_id, kind, path, first_position, last_position, min_recorded_at, \
             max_recorded_at, min_time, max_time, row_count, bytes, sha256 FROM cold_files ORDER BY id",
            &[],
        )
        .await?;
    Ok(rows.iter().map(cold_file).collect())
}
