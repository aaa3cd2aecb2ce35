//! The projection runner: one leader per projection and version (a session advisory lock),
//! reading the log by position and applying each batch and its checkpoint in one transaction,
//! so a crash between batches neither loses nor repeats an event. Rebuilds reuse its steps.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::{Error, Result};
use crate::store::read::SELECT_COLUMNS;
use crate::store::{Store, StoredEvent};
use crate::telemetry::{Metrics, ProjectionLabels};

/// The read models the runner maintains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectionKind {
    Alerts,
    Incidents,
}

impl ProjectionKind {
    pub const ALL: [ProjectionKind; 2] = [ProjectionKind::Alerts, ProjectionKind::Incidents];

    pub fn name(self) -> &'static str {
        match self {
            ProjectionKind::Alerts => "alerts",
            ProjectionKind::Incidents => "incidents",
        }
    }

    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| Error::UnknownProjection(name.to_owned()))
    }

    /// The event kinds this projection folds; the checkpoint moves past all others.
    fn kinds(self) -> &'static [&'static str] {
        match self {
            ProjectionKind::Alerts => &["alert", "action"],
            ProjectionKind::Incidents => &["action"],
        }
    }

    async fn apply(
        self,
        tx: &tokio_postgres::Transaction<'_>,
        version: i32,
        events: &[StoredEvent],
        opts: &RunnerOptions,
    ) -> Result<()> {
        match self {
            ProjectionKind::Alerts => super::alerts::apply_batch(tx, version, events, opts.dedup_window).await,
            ProjectionKind::Incidents => super::incidents::apply_batch(tx, version, events).await,
        }
    }

    pub(super) async fn clear(self, c: &tokio_postgres::Client, version: i32) -> Result<()> {
        let tables: &[&str] = match self {
            ProjectionKind::Alerts => &["alerts", "alert_sources"],
            ProjectionKind::Incidents => &["incidents"],
        };
        for table in tables {
            c.execute(&format!("DELETE FROM {table} WHERE version = $1"), &[&version])
                .await?;
        }
        Ok(())
    }
}

/// Tuning of the runner.
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// Most events applied in one transaction.
    pub batch_events: i64,
    /// Pause between polls of the log head once caught up.
    pub idle_poll: Duration,
    /// Alert events with the same fingerprint this close in time become one alert.
    pub dedup_window: chrono::Duration,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        RunnerOptions {
            batch_events: 2_000,
            idle_poll: Duration::from_millis(100),
            dedup_window: chrono::Duration::minutes(15),
        }
    }
}

pub(super) fn lock_key(name: &str, version: i32) -> String {
    format!("tidemark.projection:{name}:{version}")
}

/// The running projections of this process; they stop when the set is dropped.
pub struct RunnerSet {
    stop: watch::Sender<bool>,
}

impl Drop for RunnerSet {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Starts one runner per projection. Each waits as a standby while another process leads.
pub fn start_runners(store: &Store, opts: RunnerOptions, metrics: Arc<Metrics>) -> RunnerSet {
    let (stop, stopped) = watch::channel(false);
    for kind in ProjectionKind::ALL {
        let (store, opts, metrics, stopped) = (store.clone(), opts.clone(), Arc::clone(&metrics), stopped.clone());
        tokio::spawn(async move { supervise(store, kind, opts, metrics, stopped).await });
    }
    RunnerSet { stop }
}

/// Runs `kind` until stopped, reconnecting after any error.
async fn supervise(
    store: Store,
    kind: ProjectionKind,
    opts: RunnerOptions,
    metrics: Arc<Metrics>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let outcome = tokio::select! {
            r = lead(&store, kind, &opts, &metrics) => r,
            _ = stopped.changed() => return,
        };
        if let Err(e) = outcome {
            tracing::warn!(projection = kind.name(), error = %e, "projection runner failed; retrying");
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stopped.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Takes the lead of the live version when free, and follows it across switches.
async fn lead(store: &Store, kind: ProjectionKind, opts: &RunnerOptions, metrics: &Metrics) -> Result<()> {
    let mut conn = store.connect().await?;
    let labels = ProjectionLabels {
        projection: kind.name().to_owned(),
    };
    loop {
        let live = live_version(&conn, kind).await?;
        if !try_lock(&conn, kind, live).await? {
            tokio::time::sleep(opts.idle_poll * 5).await;
            continue;
        }
        tracing::info!(projection = kind.name(), version = live, "leading projection");
        loop {
            let started = Instant::now();
            let step = step(&mut conn, kind, live, opts).await?;
            metrics
                .projection_lag_events
                .get_or_create(&labels)
                .set(step.head - step.checkpoint);
            metrics.projection_position.get_or_create(&labels).set(step.checkpoint);
            if step.applied > 0 {
                metrics
                    .projection_events
                    .get_or_create(&labels)
                    .inc_by(step.applied as u64);
                metrics
                    .projection_batch_seconds
                    .get_or_create(&labels)
                    .observe(started.elapsed().as_secs_f64());
            }
            if step.checkpoint >= step.head {
                tokio::time::sleep(opts.idle_poll).await;
                if live_version(&conn, kind).await? != live {
                    break;
                }
            }
        }
        unlock(&conn, kind, live).await?;
        tracing::info!(
            projection = kind.name(),
            version = live,
            "projection switched; following the new version"
        );
        cleanup_retired(&conn, kind).await?;
    }
}

pub(super) async fn live_version(c: &tokio_postgres::Client, kind: ProjectionKind) -> Result<i32> {
    let row = c
        .query_opt("SELECT live_version FROM projections WHERE name = $1", &[&kind.name()])
        .await?;
    row.map(|r| r.get(0))
        .ok_or_else(|| Error::UnknownProjection(kind.name().to_owned()))
}

pub(super) async fn try_lock(c: &tokio_postgres::Client, kind: ProjectionKind, version: i32) -> Result<bool> {
    let row = c
        .query_one(
            "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
            &[&lock_key(kind.name(), version)],
        )
        .await?;
    Ok(row.get(0))
}

pub(super) async fn unlock(c: &tokio_postgres::Client, kind: ProjectionKind, version: i32) -> Result<()> {
    c.execute(
        "SELECT pg_advisory_unlock(hashtextextended($1, 0))",
        &[&lock_key(kind.name(), version)],
    )
    .await?;
    Ok(())
}

/// What one step did.
pub(super) struct Step {
    pub(super) applied: usize,
    pub(super) checkpoint: i64,
    pub(super) head: i64,
}

/// Applies the next batch after the checkpoint and advances it, in one transaction.
pub(super) async fn step(
    conn: &mut tokio_postgres::Client,
    kind: ProjectionKind,
    version: i32,
    opts: &RunnerOptions,
) -> Result<Step> {
    // Positions are commit-ordered: every event at or below the head read here is visible.
    let head: i64 = conn
        .query_one("SELECT position FROM log_head WHERE id = 1", &[])
        .await?
        .get(0);
    let tx = conn.transaction().await?;
    let checkpoint: i64 = tx
        .query_opt(
            "SELECT position FROM projection_checkpoints WHERE name = $1 AND version = $2 FOR UPDATE",
            &[&kind.name(), &version],
        )
        .await?
        .map(|r| r.get(0))
        .ok_or_else(|| Error::UnknownProjection(format!("{} version {version}", kind.name())))?;
    if checkpoint >= head {
        tx.commit().await?;
        return Ok(Step {
            applied: 0,
            checkpoint,
            head,
        });
    }
    let kinds: Vec<&str> = kind.kinds().to_vec();
    let rows = tx
        .query(
            &format!(
                "SELECT {SELECT_COLUMNS} FROM events WHERE position > $1 AND position <= $2 AND kind = ANY($3) \
                 ORDER BY position LIMIT $4"
            ),
            &[&checkpoint, &head, &kinds, &opts.batch_events],
        )
        .await?;
    let events: Vec<StoredEvent> = rows.iter().map(StoredEvent::from_row).collect();
    let next = match events.last() {
        Some(last) if events.len() as i64 == opts.batch_events => last.position,
        _ => head,
    };
    kind.apply(&tx, version, &events, opts).await?;
    tx.execute(
        "UPDATE projection_checkpoints SET position = $3, updated_at = now() WHERE name = $1 AND version = $2",
        &[&kind.name(), &version, &next],
    )
    .await?;
    tx.commit().await?;
    Ok(Step {
        applied: events.len(),
        checkpoint: next,
        head,
    })
}

/// Deletes the rows and checkpoints of every version that is not live and that no runner or
/// rebuild holds.
pub(super) async fn cleanup_retired(c: &tokio_postgres::Client, kind: ProjectionKind) -> Result<usize> {
    let rows = c
        .query(
            "SELECT c.version FROM projection_checkpoints c JOIN projections p ON p.name = c.name \
             WHERE c.name = $1 AND c.version <> p.live_version",
            &[&kind.name()],
        )
        .await?;
    let mut removed = 0;
    for row in rows {
        let version: i32 = row.get(0);
        if !try_lock(c, kind, version).await? {
            continue;
        }
        let cleared = async {
            kind.clear(c, version).await?;
            c.execute(
                "DELETE FROM projection_checkpoints WHERE name = $1 AND version = $2",
                &[&kind.name(), &version],
            )
            .await?;
            Ok::<_, Error>(())
        }
        .await;
        unlock(c, kind, version).await?;
        cleared?;
        tracing::info!(projection = kind.name(), version, "retired projection version removed");
        removed += 1;
    }
    Ok(removed)
}
