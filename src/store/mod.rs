//! The event store: connections, migrations, the group-commit appender, the hash chain,
//! replay, tokens and metric samples. The only code that writes the event tables.

pub(crate) mod append;
pub(crate) mod auth;
pub(crate) mod chain;
pub mod connectors;
pub(crate) mod copy;
pub mod embedded;
pub(crate) mod migrate;
pub(crate) mod read;
pub(crate) mod samples;

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

pub use append::{AppendJob, Appender, AppenderOptions, AppenderStatus, Receipt};
pub use auth::{Caller, create_token};
pub use chain::{ChainReport, verify_chain};
pub use embedded::{ClusterOptions, EmbeddedCluster};
pub use migrate::{MigrationStatus, migrate, migration_status};
pub use read::{ReplayFilter, StoredEvent, TimeField};

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("embedded PostgreSQL: {0}")]
    Embedded(String),
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] tokio_postgres::Error),
    #[error("no database connection available: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("database error: {0}")]
    Query(#[from] tokio_postgres::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] refinery::Error),
    #[error("the appender queue is full ({queued} events waiting); retry shortly")]
    Overloaded { queued: usize },
    #[error("the event log is unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    InvalidInput(String),
    /// The request clashes with what is stored (a name already taken).
    #[error("{0}")]
    Conflict(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// True when retrying later may succeed: the database is down, restarting or saturated.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Connect(_) | Error::Pool(_) | Error::Overloaded { .. } | Error::Unavailable(_) => true,
            Error::Query(e) => is_connection_error(e) || is_resource_error(e),
            _ => false,
        }
    }

    /// True when the database refused the data itself (SQLSTATE classes 22 and 23): the
    /// caller must change the request, not retry it.
    pub fn is_bad_data(&self) -> bool {
        match self {
            Error::InvalidInput(_) => true,
            Error::Query(e) => e
                .code()
                .is_some_and(|c| c.code().starts_with("22") || c.code().starts_with("23")),
            _ => false,
        }
    }
}

/// A lost or refused connection, as opposed to an error in the statement.
pub(crate) fn is_connection_error(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        None => true,
        Some(code) => {
            code.code().starts_with("08")
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
                || *code == SqlState::QUERY_CANCELED
        }
    }
}

/// Deadlocks and serialization failures (class 40), exhausted resources (class 53) and lock
/// timeouts: the same request may succeed later.
fn is_resource_error(e: &tokio_postgres::Error) -> bool {
    e.code()
        .is_some_and(|c| c.code().starts_with("40") || c.code().starts_with("53") || *c == SqlState::LOCK_NOT_AVAILABLE)
}

/// Connections to the database: a pool for requests, a second pool for readers' tier
/// snapshots (held for a whole hunt or replay page, so they never take a request's place), and
/// the settings to open dedicated connections (the appender keeps one of its own).
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    snapshots: Pool,
    config: Arc<tokio_postgres::Config>,
}

impl Store {
    /// Builds the pool; connections are opened lazily.
    pub fn new(mut config: tokio_postgres::Config, max_connections: usize) -> Result<Self> {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        if config.get_application_name().is_none() {
            config.application_name("tidemark");
        }
        let pool = |size: usize| {
            let manager = Manager::from_config(
                config.clone(),
                NoTls,
                ManagerConfig {
                    recycling_method: RecyclingMethod::Fast,
                },
            );
            Pool::builder(manager)
                .max_size(size)
                .runtime(Runtime::Tokio1)
                .wait_timeout(Some(Duration::from_secs(10)))
                .create_timeout(Some(Duration::from_secs(5)))
                .recycle_timeout(Some(Duration::from_secs(5)))
                .build()
                .map_err(|e| Error::Unavailable(format!("cannot build the connection pool: {e}")))
        };
        Ok(Store {
            pool: pool(max_connections)?,
            snapshots: pool(max_connections)?,
            config: Arc::new(config),
        })
    }

    /// A connection for a tier snapshot's lock, from its own pool: a warm connection costs a
    /// fraction of a new one, whose first queries load the catalog.
    pub(crate) async fn snapshot_client(&self) -> Result<deadpool_postgres::Object> {
        Ok(self.snapshots.get().await?)
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object> {
        Ok(self.pool.get().await?)
    }

    /// Opens a dedicated connection, outside the pool.
    pub(crate) async fn connect(&self) -> Result<tokio_postgres::Client> {
        let (client, connection) = self.config.connect(NoTls).await.map_err(Error::Connect)?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "database connection closed");
            }
        });
        Ok(client)
    }

    /// Answers whether the database takes a trivial query within `timeout`.
    pub async fn ping(&self, timeout: Duration) -> Result<()> {
        let probe = async {
            let client = self.client().await?;
            client.simple_query("SELECT 1").await?;
            Ok::<_, Error>(())
        };
        tokio::time::timeout(timeout, probe)
            .await
            .map_err(|_| Error::Unavailable(format!("no answer within {timeout:?}")))?
    }
}
