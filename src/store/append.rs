//! The group-commit appender. Requests queue in memory (bounded by event count); one task
//! drains the queue into a single transaction that locks `log_head`, assigns dense
//! positions, writes the rows with binary `COPY`, extends the hash chain and commits. Every
//! request is answered only after that commit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::SinkExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use super::copy::{CopyEncoder, EVENT_COLUMNS, EventRow};
use super::{Error, Result, Store, is_connection_error};
use crate::event::{DeadLetter, NewEvent, TenantId};
use crate::parse::ecs::truncate_to_micros;
use crate::telemetry::Metrics;

/// Tuning of the appender.
#[derive(Debug, Clone)]
pub struct AppenderOptions {
    /// Most events written in one transaction.
    pub max_batch_events: usize,
    /// Most events waiting in memory; beyond it, appends are refused with `Overloaded`.
    pub max_queued_events: usize,
    /// Statement timeout on the appender's connection: a stalled database fails the batch.
    pub statement_timeout: Duration,
    /// Pause between reconnection attempts while the database is unreachable.
    pub reconnect_interval: Duration,
}

impl Default for AppenderOptions {
    fn default() -> Self {
        AppenderOptions {
            max_batch_events: 20_000,
            max_queued_events: 200_000,
            statement_timeout: Duration::from_secs(30),
            reconnect_interval: Duration::from_secs(1),
        }
    }
}

/// One request's worth of events for one tenant, plus the records it could not normalize.
#[derive(Debug, Clone)]
pub struct AppendJob {
    pub tenant: TenantId,
    pub events: Vec<NewEvent>,
    pub dead_letters: Vec<DeadLetter>,
}

/// What a committed job got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The position of each event of the job, in order; a duplicate gets the position its
    /// first copy was stored at.
    pub positions: Vec<i64>,
    /// First and last position newly assigned to this job (contiguous), if any.
    pub first_position: Option<i64>,
    pub last_position: Option<i64>,
    /// Events skipped because their `event.id` was already stored.
    pub duplicates: usize,
}

/// A point-in-time view of the appender, for health and metrics.
#[derive(Debug, Clone, Serialize)]
pub struct AppenderStatus {
    pub queued_events: usize,
    pub connected: bool,
    pub last_commit_age_ms: Option<i64>,
    pub last_error: Option<String>,
}

struct Shared {
    permits: Arc<Semaphore>,
    max_queued: usize,
    connected: AtomicBool,
    last_commit_ms: AtomicI64,
    last_error: Mutex<Option<String>>,
}

struct Queued {
    job: AppendJob,
    reply: oneshot::Sender<Result<Receipt>>,
    _permit: OwnedSemaphorePermit,
}

/// Handle to the appender task. Cheap to clone; the task stops when every handle is gone
/// and the queue is drained.
#[derive(Clone)]
pub struct Appender {
    tx: mpsc::UnboundedSender<Queued>,
    shared: Arc<Shared>,
}

impl Appender {
    /// Starts the appender task.
    pub fn start(
        store: Store,
        opts: AppenderOptions,
        metrics: Arc<Metrics>,
    ) -> (Appender, tokio::task::JoinHandle<()>) {
        let shared = Arc::new(Shared {
            permits: Arc::new(Semaphore::new(opts.max_queued_events)),
            max_queued: opts.max_queued_events,
            connected: AtomicBool::new(false),
            last_commit_ms: AtomicI64::new(0),
            last_error: Mutex::new(None),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let task = Task {
            store,
            opts,
            metrics,
            shared: Arc::clone(&shared),
            client: None,
            last_connect_failure: None,
        };
        let handle = tokio::spawn(task.run(rx));
        (Appender { tx, shared }, handle)
    }

    /// The most events one job may carry.
    pub fn max_job_events(&self) -> usize {
        self.shared.max_queued
    }

    /// Queues `job` and waits for its commit. Refuses at once with `Overloaded` when the queue
    /// is full, and with `Unavailable` when the batch could not be committed.
    pub async fn append(&self, job: AppendJob) -> Result<Receipt> {
        let weight = self.weight(&job)?;
        let permit = Arc::clone(&self.shared.permits)
            .try_acquire_many_owned(weight)
            .map_err(|_| Error::Overloaded {
                queued: self.queued_events(),
            })?;
        self.send(job, permit).await
    }

    /// Like [`append`](Self::append), but waits for room in a full queue instead of refusing:
    /// for stream listeners, whose senders should feel a saturated log as a slower socket.
    pub async fn append_waiting(&self, job: AppendJob) -> Result<Receipt> {
        let weight = self.weight(&job)?;
        let permit = Arc::clone(&self.shared.permits)
            .acquire_many_owned(weight)
            .await
            .map_err(|_| Error::Unavailable("the appender has stopped".into()))?;
        self.send(job, permit).await
    }

    /// Queue slots `job` takes; a job larger than the whole queue is refused.
    fn weight(&self, job: &AppendJob) -> Result<u32> {
        let weight = (job.events.len() + job.dead_letters.len()).max(1);
        if weight > self.shared.max_queued {
            return Err(Error::InvalidInput(format!(
                "{weight} records in one request; at most {} are accepted",
                self.shared.max_queued
            )));
        }
        Ok(weight as u32)
    }

    async fn send(&self, job: AppendJob, permit: OwnedSemaphorePermit) -> Result<Receipt> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Queued {
                job,
                reply,
                _permit: permit,
            })
            .map_err(|_| Error::Unavailable("the appender has stopped".into()))?;
        answer
            .await
            .map_err(|_| Error::Unavailable("the appender stopped before committing".into()))?
    }

    fn queued_events(&self) -> usize {
        self.shared.max_queued - self.shared.permits.available_permits()
    }

    pub fn status(&self) -> AppenderStatus {
        let last = self.shared.last_commit_ms.load(Ordering::Relaxed);
        AppenderStatus {
            queued_events: self.queued_events(),
            connected: self.shared.connected.load(Ordering::Relaxed),
            last_commit_age_ms: (last > 0).then(|| (Utc::now().timestamp_millis() - last).max(0)),
            last_error: self.shared.last_error.lock().ok().and_then(|e| e.clone()),
        }
    }
}

struct Task {
    store: Store,
    opts: AppenderOptions,
    metrics: Arc<Metrics>,
    shared: Arc<Shared>,
    client: Option<tokio_postgres::Client>,
    last_connect_failure: Option<(Instant, String)>,
}

impl Task {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Queued>) {
        while let Some(first) = rx.recv().await {
            let mut size = first.job.events.len();
            let mut batch = vec![first];
            while size < self.opts.max_batch_events {
                match rx.try_recv() {
                    Ok(next) => {
                        size += next.job.events.len();
                        batch.push(next);
                    }
                    Err(_) => break,
                }
            }
            self.metrics
                .append_queue_events
                .set((self.shared.max_queued - self.shared.permits.available_permits()) as i64);
            self.process(batch).await;
        }
        tracing::info!("appender stopped: queue drained");
    }

    async fn process(&mut self, batch: Vec<Queued>) {
        let jobs: Vec<&AppendJob> = batch.iter().map(|q| &q.job).collect();
        let outcome = self.commit(&jobs).await;
        let results: Vec<Result<Receipt>> = match outcome {
            Ok(receipts) => receipts.into_iter().map(Ok).collect(),
            Err(e) if !e.is_transient() && batch.len() > 1 => {
                // A statement error: commit each job alone so one bad job fails by itself.
                tracing::warn!(error = %e, jobs = batch.len(), "group commit failed; retrying jobs one by one");
                let mut results = Vec::with_capacity(jobs.len());
                for job in &jobs {
                    results.push(self.commit(std::slice::from_ref(job)).await.map(|mut r| r.remove(0)));
                }
                results
            }
            Err(e) if batch.len() == 1 => vec![Err(e)],
            Err(e) => {
                // Transient: every job of the batch failed for the same reason; none committed.
                let message = e.to_string();
                jobs.iter().map(|_| Err(Error::Unavailable(message.clone()))).collect()
            }
        };
        for (queued, result) in batch.into_iter().zip(results) {
            // A caller that gave up has dropped its receiver; its events are committed anyway.
            let _ = queued.reply.send(result);
        }
    }

    /// Commits `jobs` in one transaction and returns one receipt per job.
    async fn commit(&mut self, jobs: &[&AppendJob]) -> Result<Vec<Receipt>> {
        let started = Instant::now();
        let result = match self.client().await {
            Ok(client) => write_batch(client, jobs).await,
            Err(e) => Err(e),
        };
        match &result {
            Ok(receipts) => {
                let appended: usize = receipts.iter().map(|r| r.positions.len() - r.duplicates).sum();
                self.metrics.events_appended.inc_by(appended as u64);
                self.metrics
                    .events_duplicate
                    .inc_by(receipts.iter().map(|r| r.duplicates as u64).sum());
                self.metrics
                    .dead_letters
                    .inc_by(jobs.iter().map(|j| j.dead_letters.len() as u64).sum());
                self.metrics.append_batches.inc();
                self.metrics.append_batch_events.observe(appended as f64);
                self.metrics
                    .append_commit_seconds
                    .observe(started.elapsed().as_secs_f64());
                self.shared
                    .last_commit_ms
                    .store(Utc::now().timestamp_millis(), Ordering::Relaxed);
                if let Ok(mut last) = self.shared.last_error.lock() {
                    *last = None;
                }
            }
            Err(e) => {
                self.metrics.append_failures.inc();
                tracing::warn!(error = %e, jobs = jobs.len(), "append batch failed");
                if let Ok(mut last) = self.shared.last_error.lock() {
                    *last = Some(e.to_string());
                }
                if matches!(e, Error::Query(q) if is_connection_error(q)) {
                    self.client = None;
                    self.shared.connected.store(false, Ordering::Relaxed);
                }
            }
        }
        result
    }

    /// The appender's own connection, reopened after a failure at most once per interval.
    async fn client(&mut self) -> Result<&mut tokio_postgres::Client> {
        if self.client.as_ref().is_some_and(|c| c.is_closed()) {
            self.client = None;
        }
        if self.client.is_none() {
            if let Some((at, error)) = &self.last_connect_failure
                && at.elapsed() < self.opts.reconnect_interval
            {
                return Err(Error::Unavailable(error.clone()));
            }
            match self.open().await {
                Ok(client) => {
                    self.client = Some(client);
                    self.last_connect_failure = None;
                    self.shared.connected.store(true, Ordering::Relaxed);
                    tracing::info!("appender connected to the database");
                }
                Err(e) => {
                    self.last_connect_failure = Some((Instant::now(), e.to_string()));
                    self.shared.connected.store(false, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        self.client
            .as_mut()
            .ok_or_else(|| Error::Unavailable("no connection".into()))
    }

    async fn open(&self) -> Result<tokio_postgres::Client> {
        let client = self.store.connect().await?;
        let ms = self.opts.statement_timeout.as_millis();
        client
            .batch_execute(&format!(
                "SET statement_timeout = {ms}; SET idle_in_transaction_session_timeout = {ms}; SET synchronous_commit = on"
            ))
            .await?;
        Ok(client)
    }
}

/// The transaction itself.
async fn write_batch(client: &mut tokio_postgres::Client, jobs: &[&AppendJob]) -> Result<Vec<Receipt>> {
    let tx = client.transaction().await?;
    let head = tx
        .query_one(
            "SELECT position, recorded_at, batch_seq, hash FROM log_head WHERE id = 1 FOR UPDATE",
            &[],
        )
        .await?;
    let head_position: i64 = head.get(0);
    let head_recorded_at: DateTime<Utc> = head.get(1);
    let batch_seq: i64 = head.get(2);
    let prev_hash: Vec<u8> = head.get(3);

    let mut seen = existing_ids(&tx, jobs).await?;
    let recorded_at = truncate_to_micros(Utc::now()).max(head_recorded_at);
    let mut position = head_position;
    let mut encoder = CopyEncoder::new();
    let mut hasher = Sha256::new();
    hasher.update(&prev_hash);
    let mut new_ids: (Vec<&str>, Vec<&str>, Vec<i64>) = Default::default();
    let mut receipts = Vec::with_capacity(jobs.len());

    for job in jobs {
        let tenant = job.tenant.as_str();
        let mut receipt = Receipt {
            positions: Vec::with_capacity(job.events.len()),
            first_position: None,
            last_position: None,
            duplicates: 0,
        };
        for event in &job.events {
            if let Some(id) = event.event_id.as_deref()
                && let Some(&existing) = seen.get(&(tenant, id))
            {
                receipt.positions.push(existing);
                receipt.duplicates += 1;
                continue;
            }
            position += 1;
            let row = EventRow {
                position,
                recorded_at,
                tenant_id: tenant,
                event_time: event.event_time,
                kind: event.kind.as_str(),
                source: &event.source,
                event_id: event.event_id.as_deref(),
                severity: event.severity,
                host_name: event.host_name.as_deref(),
                source_ip: event.source_ip,
                source_port: event.source_port,
                destination_ip: event.destination_ip,
                destination_port: event.destination_port,
                user_name: event.user_name.as_deref(),
                process_name: event.process_name.as_deref(),
                event_action: event.event_action.as_deref(),
                event_outcome: event.event_outcome.as_deref(),
                message: event.message.as_deref(),
                fields_json: &event.fields_json,
                raw: &event.raw,
            };
            hasher.update(encoder.push_event(&row));
            if let Some(id) = event.event_id.as_deref() {
                seen.insert((tenant, id), position);
                new_ids.0.push(tenant);
                new_ids.1.push(id);
                new_ids.2.push(position);
            }
            receipt.positions.push(position);
            receipt.first_position.get_or_insert(position);
            receipt.last_position = Some(position);
        }
        receipts.push(receipt);
    }

    let appended = position - head_position;
    if appended > 0 {
        let sink = tx
            .copy_in(&format!("COPY events ({EVENT_COLUMNS}) FROM STDIN (FORMAT binary)"))
            .await?;
        futures_util::pin_mut!(sink);
        sink.send(encoder.finish()).await?;
        sink.finish().await?;
    }
    if !new_ids.0.is_empty() {
        tx.execute(
            "INSERT INTO event_ids (tenant_id, event_id, position) SELECT * FROM unnest($1::text[], $2::text[], $3::int8[])",
            &[&new_ids.0, &new_ids.1, &new_ids.2],
        )
        .await?;
    }
    write_dead_letters(&tx, jobs).await?;
    if appended > 0 {
        let hash = hasher.finalize().to_vec();
        let seq = batch_seq + 1;
        tx.execute(
            "INSERT INTO log_batches (seq, first_position, last_position, event_count, recorded_at, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &seq,
                &(head_position + 1),
                &position,
                &(appended as i32),
                &recorded_at,
                &prev_hash,
                &hash,
            ],
        )
        .await?;
        tx.execute(
            "UPDATE log_head SET position = $1, recorded_at = $2, batch_seq = $3, hash = $4 WHERE id = 1",
            &[&position, &recorded_at, &seq, &hash],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(receipts)
}

/// Positions of the jobs' client event ids that are already stored.
async fn existing_ids<'a>(
    tx: &tokio_postgres::Transaction<'_>,
    jobs: &[&'a AppendJob],
) -> Result<HashMap<(&'a str, &'a str), i64>> {
    let mut tenants = Vec::new();
    let mut ids = Vec::new();
    for job in jobs {
        for id in job.events.iter().filter_map(|e| e.event_id.as_deref()) {
            tenants.push(job.tenant.as_str());
            ids.push(id);
        }
    }
    let mut found = HashMap::new();
    if ids.is_empty() {
        return Ok(found);
    }
    let rows = tx
        .query(
            "SELECT k.i, e.position FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(t, id, i) \
             JOIN event_ids e ON e.tenant_id = k.t AND e.event_id = k.id",
            &[&tenants, &ids],
        )
        .await?;
    for row in rows {
        let i: i64 = row.get(0);
        let i = (i - 1) as usize;
        found.insert((tenants[i], ids[i]), row.get(1));
    }
    Ok(found)
}

async fn write_dead_letters(tx: &tokio_postgres::Transaction<'_>, jobs: &[&AppendJob]) -> Result<()> {
    let letters: Vec<(&str, &DeadLetter)> = jobs
        .iter()
        .flat_map(|j| j.dead_letters.iter().map(move |d| (j.tenant.as_str(), d)))
        .collect();
    if letters.is_empty() {
        return Ok(());
    }
    let tenants: Vec<&str> = letters.iter().map(|(t, _)| *t).collect();
    let sources: Vec<&str> = letters.iter().map(|(_, d)| d.source.as_str()).collect();
    let indexes: Vec<i32> = letters
        .iter()
        .map(|(_, d)| i32::try_from(d.index).unwrap_or(i32::MAX))
        .collect();
    let reasons: Vec<&str> = letters.iter().map(|(_, d)| d.reason.as_str()).collect();
    let raws: Vec<&[u8]> = letters.iter().map(|(_, d)| d.raw.as_slice()).collect();
    tx.execute(
        "INSERT INTO dead_letters (tenant_id, source, record_index, reason, raw) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::int4[], $4::text[], $5::bytea[])",
        &[&tenants, &sources, &indexes, &reasons, &raws],
    )
    .await?;
    Ok(())
}
