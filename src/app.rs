//! Wiring: choose the database (external or embedded), migrate, start the appender and the
//! HTTP server, and shut all of it down in order on Ctrl-C or SIGTERM.

use std::fs::File;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::api::{self, AppState, Limits};
use crate::config::Settings;
use crate::store::{self, Appender, AppenderOptions, ClusterOptions, EmbeddedCluster, Store};
use crate::telemetry::Metrics;

/// Name of the database the embedded cluster keeps the log in.
pub const EMBEDDED_DB: &str = "tidemark";

/// A database connection chosen from the settings, and the embedded cluster behind it, if any.
pub struct Database {
    pub store: Store,
    pub cluster: Option<EmbeddedCluster>,
}

impl Database {
    /// Connects to `DATABASE_URL`, or starts (or adopts) the embedded cluster.
    pub async fn open(settings: &Settings) -> anyhow::Result<Self> {
        if let Some(config) = settings.database_config()? {
            let store = Store::new(config, settings.db_max_connections)?;
            return Ok(Database { store, cluster: None });
        }
        let mut opts = ClusterOptions::new(&settings.data_dir);
        opts.port = settings.pg_port;
        let cluster = tokio::task::spawn_blocking(move || EmbeddedCluster::start(opts)).await??;
        ensure_database(&cluster, EMBEDDED_DB).await?;
        let store = Store::new(cluster.config(EMBEDDED_DB), settings.db_max_connections)?;
        Ok(Database {
            store,
            cluster: Some(cluster),
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

/// Creates `name` in the cluster if it does not exist.
pub async fn ensure_database(cluster: &EmbeddedCluster, name: &str) -> anyhow::Result<()> {
    let (client, connection) = cluster.config("postgres").connect(tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?
        .is_some();
    if !exists {
        client.batch_execute(&format!("CREATE DATABASE \"{name}\"")).await?;
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
    (AppState::new(store, appender, metrics, limits), task)
}

/// `tidemark serve`: runs until Ctrl-C or SIGTERM.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let _lock = if settings.database_url.is_none() {
        Some(lock_data_dir(&settings)?)
    } else {
        None
    };
    let mut db = Database::open(&settings).await.context("opening the database")?;
    if let Some(cluster) = db.cluster.as_mut() {
        // The server owns the embedded cluster: it stops it on exit even if it adopted it.
        cluster.take_ownership();
    }
    let result = run(&settings, db.store.clone()).await;
    db.close().await.context("stopping the embedded PostgreSQL")?;
    result
}

async fn run(settings: &Settings, store: Store) -> anyhow::Result<()> {
    store::migrate(&store).await.context("applying migrations")?;
    let (state, appender_task) = build_state(store, settings);
    let listener = TcpListener::bind(settings.http_addr)
        .await
        .with_context(|| format!("binding {}", settings.http_addr))?;
    let addr: SocketAddr = listener.local_addr()?;
    tracing::info!(%addr, "tidemark listening");
    axum::serve(listener, api::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!("HTTP server stopped; draining the appender");
    appender_task.await.context("appender task")?;
    Ok(())
}

/// Holds `<data_dir>/serve.lock` so two servers never share one embedded cluster.
fn lock_data_dir(settings: &Settings) -> anyhow::Result<File> {
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating data directory {}", settings.data_dir.display()))?;
    let path = settings.data_dir.join("serve.lock");
    let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    file.try_lock().map_err(|_| {
        anyhow::anyhow!(
            "another `tidemark serve` is running on data directory {}",
            settings.data_dir.display()
        )
    })?;
    Ok(file)
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
