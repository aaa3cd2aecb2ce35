//! Rebuilding a projection beside the live one (switching reads once it has caught up and
//! removing the old version), and where every projection stands against the log.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::runner::{ProjectionKind, RunnerOptions, cleanup_retired, live_version, lock_key, step, unlock};
use super::{Error, Result};
use crate::store::Store;

/// What a rebuild did.
#[derive(Debug, Clone, Serialize)]
pub struct RebuildReport {
    pub projection: String,
    pub previous_version: i32,
    pub version: i32,
    pub position: i64,
    pub events: usize,
    pub seconds: f64,
}

/// Builds a new version of `kind` from position 0 beside the live one, switches reads to it
/// once it has caught up with the log, and removes the old version.
pub async fn rebuild(
    store: &Store,
    kind: ProjectionKind,
    opts: &RunnerOptions,
    progress: impl Fn(i64, i64),
) -> Result<RebuildReport> {
    let started = Instant::now();
    let mut conn = store.connect().await?;
    let previous = live_version(&conn, kind).await?;
    // The new version is locked before its checkpoint is visible, so no cleanup removes it.
    let tx = conn.transaction().await?;
    let version: i32 = tx
        .query_one(
            "INSERT INTO projection_checkpoints (name, version, position) \
             SELECT $1, max(version) + 1, 0 FROM projection_checkpoints WHERE name = $1 RETURNING version",
            &[&kind.name()],
        )
        .await?
        .get(0);
    let locked: bool = tx
        .query_one(
            "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
            &[&lock_key(kind.name(), version)],
        )
        .await?
        .get(0);
    if !locked {
        return Err(Error::BadInput(format!(
            "version {version} of {} is already being built",
            kind.name()
        )));
    }
    tx.commit().await?;
    kind.clear(&conn, version).await?;
    let mut events = 0;
    let checkpoint = loop {
        let step = step(&mut conn, kind, version, opts).await?;
        events += step.applied;
        progress(step.checkpoint, step.head);
        if step.applied == 0 && step.checkpoint >= step.head {
            break step.checkpoint;
        }
    };
    conn.execute(
        "UPDATE projections SET live_version = $2, switched_at = now() WHERE name = $1",
        &[&kind.name(), &version],
    )
    .await?;
    unlock(&conn, kind, version).await?;
    tracing::info!(
        projection = kind.name(),
        version,
        checkpoint,
        "rebuilt projection is live"
    );
    // The old version's leader lets go within a poll; wait (bounded) to remove its rows.
    let deadline = Instant::now() + Duration::from_secs(30);
    while cleanup_retired(&conn, kind).await? == 0 && version_exists(&conn, kind, previous).await? {
        if Instant::now() > deadline {
            tracing::warn!(
                projection = kind.name(),
                version = previous,
                "old version still held; its leader removes it"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(RebuildReport {
        projection: kind.name().to_owned(),
        previous_version: previous,
        version,
        position: checkpoint,
        events,
        seconds: started.elapsed().as_secs_f64(),
    })
}

async fn version_exists(c: &tokio_postgres::Client, kind: ProjectionKind, version: i32) -> Result<bool> {
    Ok(c.query_opt(
        "SELECT 1 FROM projection_checkpoints WHERE name = $1 AND version = $2",
        &[&kind.name(), &version],
    )
    .await?
    .is_some())
}

/// Where a projection stands against the log.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ProjectionStatus {
    pub name: String,
    pub version: i32,
    pub live: bool,
    pub position: i64,
    pub head: i64,
    /// Events in the log not yet folded (of every kind: the checkpoint moves past all).
    pub lag: i64,
}

/// Every projection version with its checkpoint and lag.
pub async fn projection_status(store: &Store) -> Result<Vec<ProjectionStatus>> {
    let client = store.client().await?;
    let rows = client
        .query(
            "SELECT c.name, c.version, c.version = p.live_version, c.position, h.position \
             FROM projection_checkpoints c JOIN projections p ON p.name = c.name, log_head h \
             ORDER BY c.name, c.version",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let (position, head): (i64, i64) = (r.get(3), r.get(4));
            ProjectionStatus {
                name: r.get(0),
                version: r.get(1),
                live: r.get(2),
                position,
                head,
                lag: (head - position).max(0),
            }
        })
        .collect())
}
