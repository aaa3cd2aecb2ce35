//! Runs every enabled connector's listener and keeps the running set equal to the table: it
//! rescans every few seconds, and at once when the API changes a row ([`Supervisor::apply`]). A changed row restarts
//! its listener (a new port is bound before the API's next read shows it); a deleted row stops
//! it. Status and counters are saved every few seconds and when a connector stops.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::config::{ConnectorConfig, Protocol};
use crate::event::TenantId;
use crate::ingest::stats::{Health, State, Stats, Totals};
use crate::ingest::syslog::{Intake, serve_tcp, serve_tls, serve_udp};
use crate::ingest::{syslog, tls};
use crate::store::connectors::{self as table, ConnectorRow, SavedStatus};
use crate::store::{Appender, Store};
use crate::telemetry::{ConnectorLabels, Metrics};

/// How often the table is read even when nobody says it changed (another server's API).
const RESCAN: Duration = Duration::from_secs(2);
/// How often status and counters are saved.
const SAVE: Duration = Duration::from_secs(5);
/// How long a listener that failed to start waits before trying again (a port still held).
const RETRY: Duration = Duration::from_secs(10);
/// How long a stopping listener may take to store what it has read.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A connector as this server runs it right now.
#[derive(Debug, Clone, Serialize)]
pub struct Live {
    pub state: State,
    /// The address the listener is bound to (the real port when the configuration says 0).
    pub listening_on: Option<SocketAddr>,
    #[serde(flatten)]
    pub health: Health,
    #[serde(flatten)]
    pub totals: Totals,
}

/// The listeners of every connector in the table.
pub struct Supervisor {
    store: Store,
    appender: Appender,
    metrics: Arc<Metrics>,
    running: Mutex<HashMap<i64, Running>>,
    /// Set while [`run`](Self::run) runs: only then does this server run listeners.
    active: AtomicBool,
}

struct Running {
    version: i64,
    stats: Arc<Stats>,
    listener: Option<Listener>,
    /// When a failed start may be tried again.
    retry_at: Option<Instant>,
}

struct Listener {
    cancel: CancellationToken,
    task: JoinHandle<()>,
    addr: SocketAddr,
}

impl Supervisor {
    pub fn new(store: Store, appender: Appender, metrics: Arc<Metrics>) -> Self {
        Supervisor {
            store,
            appender,
            metrics,
            running: Mutex::new(HashMap::new()),
            active: AtomicBool::new(false),
        }
    }

    /// Brings the listeners in line with the table now (a row was written), so the caller's
    /// next read sees the result. Does nothing on a server that runs no listeners.
    pub async fn apply(&self) {
        if self.active.load(Ordering::Acquire) {
            self.reconcile().await;
        }
    }

    /// True when this server runs the listeners.
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Runs until `shutdown`, then stops every listener and saves their status.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut rescan = tokio::time::interval(RESCAN);
        let mut save = tokio::time::interval(SAVE);
        self.active.store(true, Ordering::Release);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = rescan.tick() => self.reconcile().await,
                _ = save.tick() => self.save().await,
            }
        }
        self.active.store(false, Ordering::Release);
        let stopping: Vec<(i64, Running)> = self.running.lock().await.drain().collect();
        for (id, mut run) in stopping {
            stop(&mut run).await;
            run.stats.set_state(&self.metrics, State::Stopped, None);
            self.save_one(id, &run.stats).await;
        }
        tracing::info!("connectors stopped");
    }

    /// What this server runs for connector `id`, if it runs it.
    pub async fn live(&self, id: i64) -> Option<Live> {
        let running = self.running.lock().await;
        running.get(&id).map(|run| Live {
            state: run.stats.state(),
            listening_on: run.listener.as_ref().map(|l| l.addr),
            health: run.stats.health(),
            totals: run.stats.totals(),
        })
    }

    /// Every connector this server runs, by id, with tenant and name.
    pub async fn all_live(&self) -> Vec<(i64, ConnectorLabels, Live)> {
        let ids: Vec<i64> = self.running.lock().await.keys().copied().collect();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let labels = self.running.lock().await.get(&id).map(|r| r.stats.labels().clone());
            if let (Some(labels), Some(live)) = (labels, self.live(id).await) {
                out.push((id, labels, live));
            }
        }
        out.sort_by_key(|(id, _, _)| *id);
        out
    }

    /// Makes the running set match the table.
    async fn reconcile(&self) {
        let rows = match table::list_connectors(&self.store, None).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the connectors table; listeners keep running");
                return;
            }
        };
        let mut running = self.running.lock().await;
        let gone: Vec<i64> = running
            .keys()
            .filter(|id| !rows.iter().any(|r| r.id == **id))
            .copied()
            .collect();
        for id in gone {
            if let Some(mut run) = running.remove(&id) {
                stop(&mut run).await;
                run.stats.unregister(&self.metrics);
                tracing::info!(connector = %run.stats.labels().connector, "connector deleted; listener stopped");
            }
        }
        let new: Vec<i64> = rows
            .iter()
            .map(|r| r.id)
            .filter(|id| !running.contains_key(id))
            .collect();
        let saved = if new.is_empty() {
            HashMap::new()
        } else {
            table::load_status(&self.store, &new).await.unwrap_or_default()
        };
        for row in &rows {
            let changed = running.get(&row.id).is_none_or(|r| r.version != row.version);
            let due = running
                .get(&row.id)
                .is_some_and(|r| r.listener.is_none() && r.retry_at.is_some_and(|at| Instant::now() >= at));
            let died = running
                .get(&row.id)
                .and_then(|r| r.listener.as_ref())
                .is_some_and(|l| l.task.is_finished() && !l.cancel.is_cancelled());
            if !(changed || due || died) {
                continue;
            }
            let run = match running.remove(&row.id) {
                Some(mut run) => {
                    stop(&mut run).await;
                    self.relabel(run, row)
                }
                None => self.fresh(row, saved.get(&row.id)),
            };
            let run = self.start(row, run).await;
            self.save_one(row.id, &run.stats).await;
            running.insert(row.id, run);
        }
    }

    /// Counters for a connector this server has not run yet, continuing its saved totals.
    fn fresh(&self, row: &ConnectorRow, saved: Option<&SavedStatus>) -> Running {
        let (totals, health) = saved.map(|s| (s.totals.clone(), s.health.clone())).unwrap_or_default();
        Running {
            version: row.version,
            stats: Arc::new(Stats::new(&self.metrics, labels(row), &totals, health)),
            listener: None,
            retry_at: None,
        }
    }

    /// The same counters under the row's (possibly new) tenant and name.
    fn relabel(&self, run: Running, row: &ConnectorRow) -> Running {
        if *run.stats.labels() == labels(row) {
            return Running {
                version: row.version,
                ..run
            };
        }
        run.stats.unregister(&self.metrics);
        let stats = Stats::new(&self.metrics, labels(row), &run.stats.totals(), run.stats.health());
        Running {
            version: row.version,
            stats: Arc::new(stats),
            listener: None,
            retry_at: None,
        }
    }

    /// Starts `row`'s listener; on failure the connector is in `error` with the reason.
    async fn start(&self, row: &ConnectorRow, mut run: Running) -> Running {
        run.retry_at = None;
        if !row.enabled {
            run.stats.set_state(&self.metrics, State::Stopped, None);
            return run;
        }
        run.stats.set_state(&self.metrics, State::Starting, None);
        match self.listen(row, Arc::clone(&run.stats)).await {
            Ok(listener) => {
                tracing::info!(connector = %row.name, tenant = %row.tenant, protocol = %row.protocol, addr = %listener.addr, "connector listening");
                run.listener = Some(listener);
                run.stats.set_state(&self.metrics, State::Active, None);
            }
            Err(reason) => {
                tracing::warn!(connector = %row.name, tenant = %row.tenant, %reason, "connector cannot start");
                run.retry_at = Some(Instant::now() + RETRY);
                run.stats.set_state(&self.metrics, State::Error, Some(&reason));
            }
        }
        run
    }

    async fn listen(&self, row: &ConnectorRow, stats: Arc<Stats>) -> Result<Listener, String> {
        let protocol = Protocol::parse(&row.protocol).map_err(|e| e.to_string())?;
        let checked = ConnectorConfig::from_json(row.config.clone())
            .and_then(|c| c.check(protocol, &row.name))
            .map_err(|e| e.to_string())?;
        let tenant = TenantId::new(&row.tenant).map_err(|e| e.to_string())?;
        let intake = Arc::new(Intake::new(tenant, checked.listener, stats, self.appender.clone()));
        let cancel = CancellationToken::new();
        let bind_error = |e: std::io::Error| format!("cannot listen on {} ({}): {e}", checked.bind, protocol.as_str());
        let (task, addr) = match protocol {
            Protocol::Udp => {
                let socket = syslog::bind_udp(checked.bind).map_err(bind_error)?;
                let addr = socket.local_addr().map_err(bind_error)?;
                (tokio::spawn(serve_udp(socket, intake, cancel.clone())), addr)
            }
            Protocol::Tcp | Protocol::Tls => {
                let acceptor = match (&checked.tls, protocol) {
                    (Some(cfg), Protocol::Tls) => Some(tls::acceptor(cfg).map_err(|e| e.to_string())?),
                    _ => None,
                };
                let listener = tokio::net::TcpListener::bind(checked.bind).await.map_err(bind_error)?;
                let addr = listener.local_addr().map_err(bind_error)?;
                let max = checked.max_connections;
                let task = match acceptor {
                    Some(acceptor) => tokio::spawn(serve_tls(listener, acceptor, intake, max, cancel.clone())),
                    None => tokio::spawn(serve_tcp(listener, intake, max, cancel.clone())),
                };
                (task, addr)
            }
        };
        Ok(Listener { cancel, task, addr })
    }

    async fn save(&self) {
        let statuses: Vec<(i64, State, Health, Totals)> = {
            let running = self.running.lock().await;
            running
                .iter()
                .map(|(id, run)| {
                    run.stats.publish_state(&self.metrics);
                    (*id, run.stats.state(), run.stats.health(), run.stats.totals())
                })
                .collect()
        };
        if let Err(e) = table::save_status(&self.store, &statuses).await {
            tracing::warn!(error = %e, "cannot save connector status");
        }
    }

    async fn save_one(&self, id: i64, stats: &Stats) {
        let status = [(id, stats.state(), stats.health(), stats.totals())];
        if let Err(e) = table::save_status(&self.store, &status).await {
            tracing::warn!(error = %e, "cannot save connector status");
        }
    }
}

fn labels(row: &ConnectorRow) -> ConnectorLabels {
    ConnectorLabels {
        tenant: row.tenant.clone(),
        connector: row.name.clone(),
    }
}

/// Stops a listener: no new reads, what was read is stored, then the socket is closed.
async fn stop(run: &mut Running) {
    if let Some(listener) = run.listener.take() {
        listener.cancel.cancel();
        let abort = listener.task.abort_handle();
        if tokio::time::timeout(STOP_TIMEOUT, listener.task).await.is_err() {
            tracing::warn!(connector = %run.stats.labels().connector, "listener did not stop in time; aborted");
            abort.abort();
        }
    }
}
