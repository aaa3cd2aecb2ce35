//! Wiring: choose the database (external or embedded), migrate, start the appender and the
//! HTTP server, and shut all of it down in order on Ctrl-C or SIGTERM.

use std::fs::File;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState, Limits};
use crate::config::Settings;
use crate::project::{self, RunnerOptions};
use crate::store::{self, Appender, AppenderOptions, ClusterOptions, EmbeddedCluster, Store};
use crate::telemetry::Metrics;
use crate::tier;

/// Name of the database the embedded cluster keeps the log in.
pub const EMBEDDED_DB: &str = "tidemark";

/// A database connection chosen from the settings, and the embedded cluster behind it, if any.
pub struct Database {
    pub store: Store,
    pub cluster: Option<EmbeddedCluster>,
    /// Held while this process may start or stop the embedded cluster.
    _lock: Option<File>,
}

/// How long a CLI command waits for a starting server's cluster.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(120);

impl Database {
    /// Connects to `DATABASE_URL`, or to the embedded cluster: the running server's if one
    /// holds the data directory, else one this process starts and later stops.
    pub async fn open(settings: &Settings) -> anyhow::Result<Self> {
        if let Some(config) = settings.database_config()? {
            let store = Store::new(config, settings.db_max_connections)?;
            return Ok(Database {
                store,
                cluster: None,
                _lock: None,
            });
        }
        let lock = try_lock_data_dir(settings)?;
        let opts = cluster_options(settings);
        let cluster = match lock {
            Some(_) => tokio::task::spawn_blocking(move || EmbeddedCluster::start(opts)).await??,
            None => tokio::task::spawn_blocking(move || EmbeddedCluster::attach(opts, ATTACH_TIMEOUT)).await??,
        };
        Self::embedded(settings, cluster, lock).await
    }

    /// The server's database: it must hold the data directory, and it owns the cluster.
    async fn open_for_server(settings: &Settings) -> anyhow::Result<Self> {
        if settings.database_url.is_some() {
            return Self::open(settings).await;
        }
        let lock = try_lock_data_dir(settings)?.ok_or_else(|| {
            anyhow::anyhow!(
                "another tidemark process (a server, or a command that started the cluster) holds data directory {}",
                settings.data_dir.display()
            )
        })?;
        let opts = cluster_options(settings);
        let mut cluster = tokio::task::spawn_blocking(move || EmbeddedCluster::start(opts)).await??;
        // Stopped on exit even if it was adopted from a killed process.
        cluster.take_ownership();
        Self::embedded(settings, cluster, Some(lock)).await
    }

    async fn embedded(settings: &Settings, cluster: EmbeddedCluster, lock: Option<File>) -> anyhow::Result<Self> {
        ensure_database(&cluster, EMBEDDED_DB).await?;
        let store = Store::new(cluster.config(EMBEDDED_DB), settings.db_max_connections)?;
        Ok(Database {
            store,
            cluster: Some(cluster),
            _lock: lock,
        })
    }

    /// Stops the embedded cluster if this process started it.
    pub async fn close(self) -> anyhow::Result<()> {
        if let Some(cluster) = self.cluster {
            tokio::task::spawn_blocking(move || cluster.stop()).await??;
        }
        Ok(())
    }
}

fn cluster_options(settings: &Settings) -> ClusterOptions {
    let mut opts = ClusterOptions::new(&settings.data_dir);
    opts.port = settings.pg_port;
    opts
}

/// Creates `name` in the cluster if it does not exist.
pub async fn ensure_database(cluster: &EmbeddedCluster, name: &str) -> anyhow::Result<()> {
    let (client, connection) = cluster.config("postgres").connect(tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?
        .is_some();
    if !exists && let Err(e) = client.batch_execute(&format!("CREATE DATABASE \"{name}\"")).await {
        // Another process (a server and a CLI command starting together) created it first.
        let raced = e.code().is_some_and(|c| {
            *c == tokio_postgres::error::SqlState::DUPLICATE_DATABASE
                || *c == tokio_postgres::error::SqlState::UNIQUE_VIOLATION
        });
        if !raced {
            return Err(e.into());
        }
    }
    Ok(())
}

/// The state the API runs on, with the appender task it owns.
pub fn build_state(store: Store, settings: &Settings) -> (AppState, tokio::task::JoinHandle<()>) {
    let metrics = Arc::new(Metrics::new());
    let opts = AppenderOptions {
        max_batch_events: settings.append_max_batch_events,
        max_queued_events: settings.append_max_queued_events,
        ..AppenderOptions::default()
    };
    let (appender, task) = Appender::start(store.clone(), opts, Arc::clone(&metrics));
    let limits = Limits {
        max_body_bytes: settings.max_body_bytes,
        request_timeout: Duration::from_secs(settings.request_timeout_secs),
        replay_page_size: settings.replay_page_size.clamp(1, 50_000),
    };
    let mut state = with_soc(AppState::new(store, appender, metrics, limits), settings);
    state.query = Arc::new(crate::query::QueryOptions::from(settings));
    state.objects = match tier::objects::open(&settings.object_store_url()) {
        Ok(objects) => Some(objects),
        Err(e) => {
            tracing::error!(error = %e, "cold tier unavailable: cannot open the object store");
            None
        }
    };
    (state, task)
}

/// Adds the SOC workflow to `state`: evidence files in the configured object store, and the
/// projection runners (standbys while another process leads).
fn with_soc(mut state: AppState, settings: &Settings) -> AppState {
    state.soc = state
        .soc
        .clone()
        .with_evidence(settings.object_store_url(), settings.evidence_max_bytes);
    let runners = project::start_runners(&state.store, runner_options(settings), Arc::clone(&state.metrics));
    state.with_projections(runners)
}

/// The projection runner's settings.
pub fn runner_options(settings: &Settings) -> RunnerOptions {
    let window = i64::try_from(settings.alert_dedup_window_secs).unwrap_or(i64::MAX / 1000);
    RunnerOptions {
        batch_events: settings.projection_batch_events.clamp(1, 100_000),
        dedup_window: chrono::Duration::seconds(window),
        ..RunnerOptions::default()
    }
}

/// How often, and past what age, evidence files that no action registered are removed.
const ORPHAN_SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// Removes orphaned evidence files now and then, for as long as the server runs.
fn spawn_orphan_sweep(store: Store, objects: Arc<dyn object_store::ObjectStore>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match project::sweep_orphans(&store, &objects, ORPHAN_SWEEP_EVERY).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "orphaned evidence files removed"),
                Err(e) => tracing::warn!(error = %e, "evidence orphan sweep failed"),
            }
            tokio::time::sleep(ORPHAN_SWEEP_EVERY).await;
        }
    })
}

/// `tidemark serve`: runs until Ctrl-C or SIGTERM.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let db = Database::open_for_server(&settings)
        .await
        .context("opening the database")?;
    let result = run(&settings, db.store.clone()).await;
    db.close().await.context("stopping the embedded PostgreSQL")?;
    result
}

async fn run(settings: &Settings, store: Store) -> anyhow::Result<()> {
    store::migrate(&store).await.context("applying migrations")?;
    let objects = project::open_object_store(&settings.object_store_url()).context("opening the object store")?;
    let sweep = spawn_orphan_sweep(store.clone(), objects);
    let (state, appender_task) = build_state(store, settings);
    let listener = TcpListener::bind(settings.http_addr)
        .await
        .with_context(|| format!("binding {}", settings.http_addr))?;
    let addr: SocketAddr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            shutdown_signal().await;
            shutdown.cancel();
        }
    });
    let connectors = settings
        .run_connectors
        .then(|| tokio::spawn(Arc::clone(&state.connectors).run(shutdown.clone())));
    let tiering = spawn_tiering(&state, settings, shutdown.clone());
    tracing::info!(%addr, connectors = settings.run_connectors, "tidemark listening");
    axum::serve(listener, api::router(state))
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .await?;
    if let Some(task) = connectors {
        tracing::info!("HTTP server stopped; stopping connectors");
        task.await.context("connector supervisor")?;
    }
    sweep.abort();
    if let Some(task) = tiering {
        // A pass in progress is cut short; every step is safe to interrupt.
        task.abort();
        let _ = task.await;
    }
    tracing::info!("draining the appender");
    appender_task.await.context("appender task")?;
    Ok(())
}

/// Runs a tiering and retention pass every `tier_interval_secs` (the first a minute after
/// start), until shutdown. `None` when turned off or the object store cannot be opened.
fn spawn_tiering(
    state: &AppState,
    settings: &Settings,
    shutdown: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    if settings.tier_interval_secs == 0 {
        return None;
    }
    let ctx = tier::TierContext {
        store: state.store.clone(),
        objects: state.objects.clone()?,
        appender: state.appender.clone(),
    };
    let (dir, every) = (
        settings.retention_dir.clone(),
        Duration::from_secs(settings.tier_interval_secs),
    );
    Some(tokio::spawn(async move {
        let mut next = tokio::time::Instant::now() + Duration::from_secs(60).min(every);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep_until(next) => {}
            }
            next = tokio::time::Instant::now() + every;
            match tier::pass(&ctx, &dir, None, false).await {
                Ok(report) => tracing::info!(
                    chunks = report.tiering.chunks.len(),
                    rows = report.tiering.chunks.iter().map(|c| c.rows).sum::<i64>(),
                    expired_files = report.retention.deleted_files,
                    "tiering and retention pass done"
                ),
                Err(tier::Error::Busy) => tracing::info!("tiering pass skipped: another run holds the lock"),
                Err(e) => tracing::error!(error = %e, "tiering and retention pass failed"),
            }
        }
    }))
}

/// Takes `<data_dir>/serve.lock`, or returns `None` if another process (a server) holds it.
fn try_lock_data_dir(settings: &Settings) -> anyhow::Result<Option<File>> {
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating data directory {}", settings.data_dir.display()))?;
    let path = settings.data_dir.join("serve.lock");
    let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", path.display())),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM");
            let _ = ctrl_c.await;
            return;
        }
    };
    tokio::select! {
        _ = ctrl_c => tracing::info!("Ctrl-C received; shutting down"),
        _ = term.recv() => tracing::info!("SIGTERM received; shutting down"),
    }
}
