//! SQL over both tiers with Apache DataFusion: `events` and `metrics` are each one table, the hot
//! hypertable (streamed from PostgreSQL with filters pushed down) unioned with the cold Parquet
//! files the manifest keeps after pruning. Hunts, named queries and dashboard aggregates all run
//! here, scoped to one tenant below whatever SQL the caller wrote. Knows nothing of HTTP.

pub mod aggregates;
pub mod cli;
mod cold;
mod group_view;
mod hot;
mod hunt;
pub mod named;
pub mod output;
mod prune;
mod pushdown;
mod remote;
mod session;
mod table;
mod udf;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use datafusion::error::DataFusionError;
use datafusion::execution::cache::cache_manager::FileMetadataCache;
use datafusion::execution::cache::default_cache::DefaultCache;
use object_store::ObjectStore;
use tokio::sync::Semaphore;

use crate::config::Settings;
use crate::store::{self, Store};

pub use hunt::{Hunt, HuntRequest, HuntStats, Params, Progress};
pub use output::{Format, encode};

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The SQL does not parse or plan, or fails on the data (a bad cast, division by zero).
    #[error("{0}")]
    Sql(String),
    #[error("hunts are read-only: {0}")]
    ReadOnly(String),
    #[error("invalid parameter: {0}")]
    BadParam(String),
    #[error("{0}")]
    BadRequest(String),
    #[error(
        "the query needed more than its memory limit of {limit_mib} MiB; narrow the time range, aggregate, or add a LIMIT ({detail})"
    )]
    MemoryExceeded { limit_mib: usize, detail: String },
    #[error("the query did not finish within {0} ms; narrow the time range or raise timeout_ms")]
    Timeout(u64),
    #[error("{0} queries are already running; try again shortly")]
    Busy(usize),
    #[error("named query {0:?} does not exist")]
    UnknownQuery(String),
    #[error("the cold tier holds data for this query but its object store is not available")]
    NoObjectStore,
    #[error(transparent)]
    Store(#[from] store::Error),
    /// A failure that is not the caller's: reading Parquet, an internal DataFusion error.
    #[error("query execution failed: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Classifies a DataFusion error: the caller's SQL (400), resource limits, or ours.
    pub(crate) fn from_datafusion(e: DataFusionError, memory_bytes: usize, timeout: Duration) -> Error {
        let message = e.to_string();
        match e.find_root() {
            DataFusionError::ResourcesExhausted(detail) => Error::MemoryExceeded {
                limit_mib: memory_bytes / (1024 * 1024),
                detail: detail.clone(),
            },
            DataFusionError::External(inner) => match inner.downcast_ref::<ScanError>() {
                Some(ScanError::NoObjectStore) => Error::NoObjectStore,
                Some(ScanError::Timeout) => Error::Timeout(timeout.as_millis() as u64),
                Some(ScanError::Store(e)) if e.is_bad_data() => Error::Sql(e.to_string()),
                Some(ScanError::Store(e)) if e.is_transient() => Error::Store(store::Error::Unavailable(e.to_string())),
                Some(ScanError::Store(_)) => Error::Internal(message),
                None => Error::Internal(message),
            },
            DataFusionError::SQL(..)
            | DataFusionError::Plan(_)
            | DataFusionError::SchemaError(..)
            | DataFusionError::NotImplemented(_)
            | DataFusionError::Execution(_)
            | DataFusionError::ArrowError(..) => Error::Sql(message),
            _ => Error::Internal(message),
        }
    }
}

/// An error raised inside a scan, carried through DataFusion as an external error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ScanError {
    #[error("the cold tier holds matching files but no object store is configured")]
    NoObjectStore,
    /// PostgreSQL cancelled the hot scan at the query's deadline.
    #[error("the hot scan reached the query timeout")]
    Timeout,
    #[error(transparent)]
    Store(store::Error),
}

impl From<ScanError> for DataFusionError {
    fn from(e: ScanError) -> Self {
        DataFusionError::External(Box::new(e))
    }
}

/// What one query may use.
#[derive(Debug, Clone)]
pub struct QueryLimits {
    /// The memory pool of one query; operators that would exceed it fail instead of spilling.
    pub memory_bytes: usize,
    pub default_timeout: Duration,
    pub max_timeout: Duration,
    pub default_rows: usize,
    pub max_rows: usize,
    /// Queries running at once per engine (or per [`QueryOptions`], shared by the API's engines).
    pub max_concurrent: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            memory_bytes: 512 * 1024 * 1024,
            default_timeout: Duration::from_secs(30),
            max_timeout: Duration::from_secs(300),
            default_rows: 10_000,
            max_rows: 1_000_000,
            max_concurrent: 4,
        }
    }
}

impl From<&Settings> for QueryLimits {
    fn from(s: &Settings) -> Self {
        QueryLimits {
            memory_bytes: s.hunt_memory_limit_bytes.max(1024 * 1024),
            default_timeout: Duration::from_millis(s.hunt_timeout_ms.clamp(1, s.hunt_max_timeout_ms.max(1))),
            max_timeout: Duration::from_millis(s.hunt_max_timeout_ms.max(1)),
            default_rows: s.hunt_default_rows.clamp(1, s.hunt_max_rows.max(1)),
            max_rows: s.hunt_max_rows.max(1),
            max_concurrent: s.hunt_max_concurrent.max(1),
        }
    }
}

/// The query layer's settings, as the API holds them.
#[derive(Debug, Clone)]
pub struct QueryOptions {
    pub limits: QueryLimits,
    /// Where the named queries (`*.sql`) are read from.
    pub queries_dir: PathBuf,
    /// What every engine the API builds shares.
    pub shared: Shared,
}

/// State the queries of one server share.
#[derive(Clone)]
pub struct Shared {
    /// A query holds one from planning to its last batch.
    slots: Arc<Semaphore>,
    /// Parquet footers and page indexes of the cold files read so far.
    parquet_metadata: Arc<FileMetadataCache>,
}

impl Shared {
    pub fn new(limits: &QueryLimits) -> Self {
        Shared {
            slots: Arc::new(Semaphore::new(limits.max_concurrent)),
            parquet_metadata: Arc::new(
                DefaultCache::new(PARQUET_METADATA_CACHE_BYTES).with_name("tidemark_parquet_metadata"),
            ),
        }
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("free_slots", &self.slots.available_permits())
            .finish_non_exhaustive()
    }
}

/// Memory for cached Parquet metadata (a file's is some tens of KiB).
const PARQUET_METADATA_CACHE_BYTES: usize = 64 * 1024 * 1024;

impl QueryOptions {
    fn new(limits: QueryLimits, queries_dir: PathBuf) -> Self {
        let shared = Shared::new(&limits);
        QueryOptions {
            limits,
            queries_dir,
            shared,
        }
    }
}

impl Default for QueryOptions {
    fn default() -> Self {
        QueryOptions::new(QueryLimits::default(), PathBuf::from("queries"))
    }
}

impl From<&Settings> for QueryOptions {
    fn from(s: &Settings) -> Self {
        QueryOptions::new(QueryLimits::from(s), s.queries_dir.clone())
    }
}

/// Everything a query needs: the database, the cold tier's object store and the limits.
#[derive(Clone)]
pub struct QueryEngine {
    pub(crate) store: Store,
    pub(crate) objects: Option<Arc<dyn ObjectStore>>,
    pub(crate) limits: Arc<QueryLimits>,
    pub(crate) shared: Shared,
}

impl QueryEngine {
    /// An engine with its own `limits.max_concurrent` slots and metadata cache.
    pub fn new(store: Store, objects: Option<Arc<dyn ObjectStore>>, limits: QueryLimits) -> Self {
        let shared = Shared::new(&limits);
        QueryEngine {
            store,
            objects,
            limits: Arc::new(limits),
            shared,
        }
    }

    /// The same engine, sharing slots and caches with others.
    pub fn with_shared(mut self, shared: Shared) -> Self {
        self.shared = shared;
        self
    }

    pub fn limits(&self) -> &QueryLimits {
        &self.limits
    }
}
