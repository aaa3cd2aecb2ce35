//! A tiering run: finish drops a crashed run still owes, remove unregistered files, then move
//! every chunk older than the hot window: export and verify its files, register them, record
//! the move as events, and only then drop the chunk — under the handoff lock, after checking
//! that the chunk holds exactly the rows the files hold.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::Serialize;
use serde_json::json;

use super::export::{Chunk, WrittenFile, export_chunk, read_back};
use super::manifest::HANDOFF_LOCK;
use super::{Error, Result, Table};
use crate::store::{Appender, Store};

/// Advisory lock key held for a whole tiering or retention run ("trun").
pub const RUN_LOCK: i64 = 0x7472_756e;

/// What a run works with.
#[derive(Clone)]
pub struct TierContext {
    pub store: Store,
    pub objects: Arc<dyn ObjectStore>,
    /// Where the run records its actions as events.
    pub appender: Appender,
}

/// One chunk moved (or, in a dry run, that would be).
#[derive(Debug, Clone, Serialize)]
pub struct ChunkReport {
    pub table: Table,
    pub chunk: String,
    pub range_start: DateTime<Utc>,
    pub range_end: DateTime<Utc>,
    /// The chunk's size in PostgreSQL (table, indexes, TOAST) before the move.
    pub hot_bytes: i64,
    pub files: usize,
    pub rows: i64,
    pub parquet_bytes: i64,
    pub dropped: bool,
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TierReport {
    pub dry_run: bool,
    pub cutoff: Option<DateTime<Utc>>,
    pub chunks: Vec<ChunkReport>,
    /// Chunks a previous run registered but did not drop, dropped now.
    pub owed_drops: usize,
    /// Unregistered files (left by a crashed run) removed.
    pub orphans_removed: usize,
    pub elapsed_ms: u128,
}

/// Holds [`RUN_LOCK`] on a connection of its own for as long as it lives.
pub(crate) struct RunLock(tokio_postgres::Client);

impl RunLock {
    pub(crate) async fn take(store: &Store) -> Result<RunLock> {
        let client = store.connect().await?;
        let got: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&RUN_LOCK])
            .await
            .map_err(crate::store::Error::from)?
            .get(0);
        if got { Ok(RunLock(client)) } else { Err(Error::Busy) }
    }

    pub(crate) fn client(&self) -> &tokio_postgres::Client {
        &self.0
    }
}

/// Moves every chunk of `events` and `metrics` whose range ends before `cutoff` (never after
/// now) to the cold tier. A dry run only lists them.
pub async fn tier_run(ctx: &TierContext, cutoff: DateTime<Utc>, dry_run: bool) -> Result<TierReport> {
    let started = Instant::now();
    let cutoff = cutoff.min(Utc::now());
    let lock = RunLock::take(&ctx.store).await?;
    let mut report = TierReport {
        dry_run,
        cutoff: Some(cutoff),
        ..TierReport::default()
    };
    if !dry_run {
        report.owed_drops = finish_owed_drops(ctx, &lock).await?;
        report.orphans_removed = remove_orphans(ctx, &lock).await?;
        barrier(&lock).await?;
    }
    for table in [Table::Events, Table::Metrics] {
        for chunk in chunks_before(&lock, table, cutoff).await? {
            let hot_bytes: i64 = lock
                .client()
                .query_one(
                    &format!("SELECT pg_total_relation_size('{}')", chunk.name.replace('\'', "''")),
                    &[],
                )
                .await
                .map_err(crate::store::Error::from)?
                .get(0);
            let mut entry = ChunkReport {
                table,
                chunk: chunk.name.clone(),
                range_start: chunk.range_start,
                range_end: chunk.range_end,
                hot_bytes,
                files: 0,
                rows: 0,
                parquet_bytes: 0,
                dropped: false,
            };
            if !dry_run {
                let files = export_chunk(&ctx.store, &ctx.objects, &chunk).await?;
                entry.files = files.len();
                entry.rows = files.iter().map(|f| f.rows).sum();
                entry.parquet_bytes = files.iter().map(|f| f.bytes).sum();
                register(&lock, &chunk, &files).await?;
                record_actions(ctx, &chunk, &files).await;
                drop_chunk(&lock, table, &chunk.name).await?;
                entry.dropped = true;
                tracing::info!(chunk = %chunk.name, table = table.as_str(), files = entry.files, rows = entry.rows,
                    hot_bytes, parquet_bytes = entry.parquet_bytes, "chunk moved to the cold tier");
            }
            report.chunks.push(entry);
        }
    }
    report.elapsed_ms = started.elapsed().as_millis();
    Ok(report)
}

/// Chunks of `table` whose whole range lies before `cutoff`, oldest first.
async fn chunks_before(lock: &RunLock, table: Table, cutoff: DateTime<Utc>) -> Result<Vec<Chunk>> {
    let rows = lock
        .client()
        .query(
            "SELECT format('%I.%I', chunk_schema, chunk_name), range_start, range_end \
             FROM timescaledb_information.chunks WHERE hypertable_schema = current_schema() \
             AND hypertable_name = $1 AND range_end <= $2 ORDER BY range_start",
            &[&table.as_str(), &cutoff],
        )
        .await
        .map_err(crate::store::Error::from)?;
    Ok(rows
        .iter()
        .map(|r| Chunk {
            table,
            name: r.get(0),
            range_start: r.get(1),
            range_end: r.get(2),
        })
        .collect())
}

/// Waits for any append that started before now: afterwards no transaction can still add a
/// row with an earlier `recorded_at` (the appender assigns it under the `log_head` lock).
async fn barrier(lock: &RunLock) -> Result<()> {
    lock.client()
        .batch_execute("BEGIN; SELECT 1 FROM log_head FOR UPDATE; COMMIT;")
        .await
        .map_err(crate::store::Error::from)?;
    Ok(())
}

/// Registers a chunk and its files in one transaction; from its commit on, readers take the
/// rows from the files.
async fn register(lock: &RunLock, chunk: &Chunk, files: &[WrittenFile]) -> Result<()> {
    let client = lock.client();
    let err = crate::store::Error::from;
    client.batch_execute("BEGIN").await.map_err(err)?;
    let result = async {
        let first = files.iter().filter_map(|f| f.first_position).min();
        let last = files.iter().filter_map(|f| f.last_position).max();
        let rows: i64 = files.iter().map(|f| f.rows).sum();
        client
            .execute(
                "INSERT INTO cold_chunks (table_name, chunk, range_start, range_end, first_position, last_position, row_count, files) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[&chunk.table.as_str(), &chunk.name, &chunk.range_start, &chunk.range_end, &first, &last, &rows, &(files.len() as i32)],
            )
            .await?;
        for f in files {
            client
                .execute(
                    "INSERT INTO cold_files (table_name, chunk, tenant_id, kind, path, first_position, last_position, \
                     min_recorded_at, max_recorded_at, min_time, max_time, row_count, bytes, sha256) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                    &[&chunk.table.as_str(), &chunk.name, &f.tenant, &f.kind, &f.path, &f.first_position, &f.last_position,
                      &f.min_recorded_at, &f.max_recorded_at, &f.min_time, &f.max_time, &f.rows, &f.bytes, &f.sha256],
                )
                .await?;
        }
        Ok::<_, tokio_postgres::Error>(())
    }
    .await;
    match result {
        Ok(()) => client.batch_execute("COMMIT").await.map_err(err)?,
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(err(e).into());
        }
    }
    Ok(())
}

/// Drops a registered chunk once no reader holds a snapshot, if it still holds exactly the
/// registered rows; otherwise leaves it and fails.
async fn drop_chunk(lock: &RunLock, table: Table, chunk: &str) -> Result<()> {
    let client = lock.client();
    let err = crate::store::Error::from;
    client.batch_execute("BEGIN").await.map_err(err)?;
    let result = async {
        client
            .execute("SELECT pg_advisory_xact_lock($1)", &[&HANDOFF_LOCK])
            .await?;
        client
            .batch_execute(&format!("LOCK TABLE {chunk} IN ACCESS EXCLUSIVE MODE"))
            .await?;
        let hot: i64 = client
            .query_one(&format!("SELECT count(*) FROM {chunk}"), &[])
            .await?
            .get(0);
        let cold: i64 = client
            .query_one(
                "SELECT row_count FROM cold_chunks WHERE table_name = $1 AND chunk = $2",
                &[&table.as_str(), &chunk],
            )
            .await?
            .get(0);
        if hot != cold {
            return Ok(Some((hot, cold)));
        }
        client.batch_execute(&format!("DROP TABLE {chunk}")).await?;
        client
            .execute(
                "UPDATE cold_chunks SET dropped_at = now() WHERE table_name = $1 AND chunk = $2",
                &[&table.as_str(), &chunk],
            )
            .await?;
        Ok::<_, tokio_postgres::Error>(None)
    }
    .await;
    match result {
        Ok(None) => {
            client.batch_execute("COMMIT").await.map_err(err)?;
            Ok(())
        }
        Ok(Some((hot, cold))) => {
            let _ = client.batch_execute("ROLLBACK").await;
            Err(Error::Verify(format!(
                "chunk {chunk} holds {hot} rows but its files hold {cold}; it was not dropped"
            )))
        }
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            Err(err(e).into())
        }
    }
}

/// Drops chunks a crashed run registered but did not drop, after re-verifying their files.
async fn finish_owed_drops(ctx: &TierContext, lock: &RunLock) -> Result<usize> {
    let owed = lock
        .client()
        .query(
            "SELECT c.table_name, c.chunk, f.path, f.bytes, f.sha256 FROM cold_chunks c JOIN cold_files f USING (table_name, chunk) \
             WHERE c.dropped_at IS NULL ORDER BY c.range_start",
            &[],
        )
        .await
        .map_err(crate::store::Error::from)?;
    let mut chunks: Vec<(String, String)> = Vec::new();
    for row in &owed {
        let (table, chunk, path): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        let (bytes, sha): (i64, Vec<u8>) = (row.get(3), row.get(4));
        let (hash, len) = read_back(&ctx.objects, &Path::from(path.as_str())).await?;
        if hash != sha || i64::try_from(len).ok() != Some(bytes) {
            return Err(Error::Verify(format!(
                "registered file {path} does not match its manifest entry"
            )));
        }
        if !chunks.iter().any(|(t, c)| *t == table && *c == chunk) {
            chunks.push((table, chunk));
        }
    }
    for (table, chunk) in &chunks {
        let table = if table == "events" {
            Table::Events
        } else {
            Table::Metrics
        };
        drop_chunk(lock, table, chunk).await?;
        tracing::info!(%chunk, "dropped a chunk a previous run had registered");
    }
    Ok(chunks.len())
}

/// Deletes files under `cold/` that the manifest does not list: uploads of a run that
/// crashed before registering them. Runs under the run lock, so no upload is in progress.
async fn remove_orphans(ctx: &TierContext, lock: &RunLock) -> Result<usize> {
    let registered: HashSet<String> = lock
        .client()
        .query("SELECT path FROM cold_files", &[])
        .await
        .map_err(crate::store::Error::from)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let prefix = Path::from("cold");
    let mut listing = ctx.objects.list(Some(&prefix));
    let mut orphans = Vec::new();
    while let Some(meta) = listing.next().await {
        let meta = meta?;
        if !registered.contains(meta.location.as_ref()) {
            orphans.push(meta.location);
        }
    }
    for path in &orphans {
        ctx.objects.delete(path).await?;
        tracing::info!(%path, "removed an unregistered cold file");
    }
    Ok(orphans.len())
}

/// Records each file's move as an action event of its tenant. A failure is logged: the files
/// and manifest are already consistent, and the manifest itself keeps the history.
async fn record_actions(ctx: &TierContext, chunk: &Chunk, files: &[WrittenFile]) {
    for f in files {
        let fields = json!({
            "tidemark.action": "tier.move",
            "tidemark.table": chunk.table.as_str(),
            "tidemark.chunk": chunk.name,
            "tidemark.path": f.path,
            "tidemark.kind_moved": f.kind,
            "tidemark.rows": f.rows,
            "tidemark.bytes": f.bytes,
            "tidemark.sha256": hex::encode(&f.sha256),
            "tidemark.first_position": f.first_position,
            "tidemark.last_position": f.last_position,
        });
        let message = format!(
            "moved {} {} rows of chunk {} to {}",
            f.rows,
            chunk.table.as_str(),
            chunk.name,
            f.path
        );
        super::action::record(&ctx.appender, &f.tenant, "tier.move", message, fields).await;
    }
}
