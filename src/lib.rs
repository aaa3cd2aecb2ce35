//! Tidemark: an event-sourced security analytics store on TimescaleDB.
//!
//! # Layout
//!
//! Follow one event from a socket to a replay:
//!
//! 1. [`api`] receives `POST /api/v1/ingest`, authenticates the bearer token and buffers the body.
//! 2. [`parse`] frames the body into records (JSON array or NDJSON) and normalizes each ECS
//!    object into an [`event::NewEvent`]; records that cannot be normalized become dead letters.
//! 3. [`store`]'s appender batches concurrent requests into one transaction: it locks
//!    `log_head`, assigns dense positions, writes rows with binary `COPY`, extends the hash
//!    chain in `log_batches`, and commits. Only then does the API answer 2xx.
//! 4. `GET /api/v1/replay` reads the log back in position order, page by page, as NDJSON;
//!    `tidemark verify` recomputes the hash chain from the stored rows.
//! 5. [`project`]'s runner folds the log by position into read models (alerts, incidents);
//!    analyst actions on them are checked against their folded state and appended as events.
//! 6. [`query`] answers `POST /api/v1/hunt`: read-only SQL in a DataFusion session where
//!    `events` and `metrics` are the hot hypertable (streamed from PostgreSQL with filters
//!    pushed down) unioned with the cold Parquet files, both scoped to the caller's tenant.
//!
//! [`app`] wires these together (embedded or external PostgreSQL, graceful shutdown);
//! [`config`] and [`telemetry`] hold settings, logs and metrics.

pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod event;
pub mod ingest;
pub mod parse;
pub mod project;
pub mod query;
pub mod store;
pub mod telemetry;
pub mod tier;
