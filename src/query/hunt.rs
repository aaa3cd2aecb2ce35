//! One hunt: a tier snapshot taken first and held until the last batch, the SQL planned
//! read-only in a tenant-scoped session, then streamed under a row limit (one row more is
//! read to tell a complete result from a cut one) and a deadline.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, SchemaRef};
use chrono::{DateTime, Utc};
use datafusion::common::ParamValues;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use datafusion::scalar::ScalarValue;
use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::OwnedSemaphorePermit;

use super::hot::HotExec;
use super::table::{ScanScope, ScanStats, retyped};
use super::{Error, QueryEngine, Result, remote, session};
use crate::event::TenantId;
use crate::tier::Snapshot;

/// Values for the SQL's placeholders.
#[derive(Debug, Clone, Default)]
pub enum Params {
    #[default]
    None,
    /// `$1`, `$2`, … from JSON values, converted to the type each placeholder is compared with.
    Positional(Vec<serde_json::Value>),
    /// `$name` placeholders with typed values (named queries).
    Named(HashMap<String, ScalarValue>),
}

/// What to run, and within which bounds.
#[derive(Debug, Clone, Default)]
pub struct HuntRequest {
    pub sql: String,
    pub params: Params,
    /// Lower bound (inclusive) on `events.event_time` and `metrics.time`, applied in the scans.
    pub from: Option<DateTime<Utc>>,
    /// Upper bound (exclusive), likewise.
    pub to: Option<DateTime<Utc>>,
    /// Most rows returned; `None`: the configured default.
    pub limit: Option<usize>,
    /// `None`: the configured default.
    pub timeout: Option<Duration>,
}

/// What a hunt read, for the caller and for tuning.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HuntStats {
    /// Rows the hot scans streamed from PostgreSQL (after the filters pushed there).
    pub hot_rows: u64,
    /// Rows decoded from Parquet (after row-group and page pruning).
    pub cold_rows: u64,
    /// Parquet files opened, after manifest pruning.
    pub cold_files: u64,
    /// Size of those files.
    pub cold_bytes: u64,
    /// Rows returned.
    pub rows: u64,
    pub elapsed_ms: u64,
    /// The whole query ran in PostgreSQL (every row it read was hot), so `hot_rows` counts
    /// the rows of its answer rather than the rows it scanned.
    pub pushed_down: bool,
}

/// A running hunt: pull batches with [`Hunt::next_batch`]; the tiers' snapshot is held until
/// the last one was read, an error ended it, or the hunt is dropped.
pub struct Hunt {
    schema: SchemaRef,
    stream: Option<SendableRecordBatchStream>,
    progress: Progress,
    snapshot: Option<Arc<Snapshot>>,
    /// This hunt's place among the queries allowed to run at once, given back at the end.
    slot: Option<OwnedSemaphorePermit>,
    /// The first batch, read before answering so that most failures still get a status code.
    pending: Option<RecordBatch>,
    deadline: tokio::time::Instant,
    timeout: Duration,
    memory_bytes: usize,
    limit: usize,
    rows: usize,
    partial: bool,
}

/// A live view of a running hunt's statistics, usable while another task drives it.
#[derive(Clone)]
pub struct Progress {
    plan: Arc<dyn ExecutionPlan>,
    pushed_down: bool,
    scans: Arc<ScanStats>,
    rows: Arc<AtomicU64>,
    started: Instant,
    failure: Arc<OnceLock<String>>,
}

impl Progress {
    /// What was read and returned so far.
    pub fn stats(&self) -> HuntStats {
        let (mut hot_rows, mut cold_rows) = (0, 0);
        scan_rows(&self.plan, &mut hot_rows, &mut cold_rows);
        HuntStats {
            hot_rows,
            cold_rows,
            cold_files: self.scans.cold_files.load(Ordering::Relaxed),
            cold_bytes: self.scans.cold_bytes.load(Ordering::Relaxed),
            rows: self.rows.load(Ordering::Relaxed),
            elapsed_ms: self.started.elapsed().as_millis() as u64,
            pushed_down: self.pushed_down,
        }
    }

    /// Why the hunt failed after it started, if it did.
    pub fn failure(&self) -> Option<&str> {
        self.failure.get().map(String::as_str)
    }
}

impl QueryEngine {
    /// Plans `req` for `tenant` and reads its first batch, so that most failures (planning,
    /// limits, a blocking sort or aggregate) surface here rather than midway through a result.
    pub async fn hunt(&self, tenant: &TenantId, req: HuntRequest) -> Result<Hunt> {
        let mut hunt = self.prepare(tenant, req).await?;
        hunt.pending = hunt.pull().await?;
        Ok(hunt)
    }

    /// Plans `req` for `tenant` and starts it, without waiting for a first batch.
    pub async fn prepare(&self, tenant: &TenantId, req: HuntRequest) -> Result<Hunt> {
        let started = Instant::now();
        let limits = &self.limits;
        let timeout = req.timeout.unwrap_or(limits.default_timeout);
        if timeout.is_zero() || timeout > limits.max_timeout {
            return Err(Error::BadRequest(format!(
                "timeout_ms must be between 1 and {}",
                limits.max_timeout.as_millis()
            )));
        }
        let limit = req.limit.unwrap_or(limits.default_rows);
        if limit == 0 || limit > limits.max_rows {
            return Err(Error::BadRequest(format!(
                "limit must be between 1 and {}",
                limits.max_rows
            )));
        }
        if let (Some(from), Some(to)) = (req.from, req.to)
            && from >= to
        {
            return Err(Error::BadRequest("`from` must be before `to`".into()));
        }
        let deadline = tokio::time::Instant::now() + timeout;
        // Waiting for a slot counts against the timeout; a hunt that never got one is Busy.
        let slot = Arc::clone(&self.shared.slots).acquire_owned();
        let Ok(Ok(slot)) = tokio::time::timeout_at(deadline, slot).await else {
            return Err(Error::Busy(self.limits.max_concurrent));
        };
        let start = self.start(tenant, req, limit, timeout, started);
        let mut hunt = tokio::time::timeout_at(deadline, start)
            .await
            .map_err(|_| Error::Timeout(timeout.as_millis() as u64))??;
        hunt.deadline = deadline;
        hunt.slot = Some(slot);
        Ok(hunt)
    }

    async fn start(
        &self,
        tenant: &TenantId,
        req: HuntRequest,
        limit: usize,
        timeout: Duration,
        started: Instant,
    ) -> Result<Hunt> {
        let snapshot = Arc::new(Snapshot::take(&self.store).await?);
        let stats = Arc::new(ScanStats::default());
        let scope = Arc::new(ScanScope {
            store: self.store.clone(),
            tenant: tenant.clone(),
            snapshot: Arc::clone(&snapshot),
            cold: session::cold_tier(self),
            from: req.from,
            to: req.to,
            // PostgreSQL stops a bit after the hunt's own deadline, should the hunt not stop it first.
            statement_timeout_ms: timeout.as_millis() as u64 + 1_000,
            stats: Arc::clone(&stats),
            files: Mutex::default(),
        });
        let df_error = |e| Error::from_datafusion(e, self.limits.memory_bytes, timeout);
        let ctx = session::context(self, scope).map_err(df_error)?;
        let plan = session::plan(&ctx, &req.sql).await?;
        let plan = bind_params(plan, req.params)?;
        // EXPLAIN and DESCRIBE must stay at the root; their few rows are cut by `next_batch` alone.
        let describes = matches!(
            plan,
            LogicalPlan::Explain(_) | LogicalPlan::Analyze(_) | LogicalPlan::DescribeTable(_)
        );
        let mut df = ctx.execute_logical_plan(plan).await.map_err(df_error)?;
        if !describes {
            // One row past the limit tells a complete result from a cut one.
            df = df.limit(0, Some(limit + 1)).map_err(df_error)?;
        }
        let state = ctx.state();
        let optimized = state.optimize(df.logical_plan()).map_err(df_error)?;
        let (physical, pushed_down): (Arc<dyn ExecutionPlan>, _) =
            match remote::compile(&optimized).await.map_err(df_error)? {
                Some((store, query)) => {
                    tracing::debug!(sql = %query.sql, "hunt runs whole in PostgreSQL");
                    let schema = Arc::clone(optimized.schema().inner());
                    (Arc::new(HotExec::new(store, query, schema)), true)
                }
                None => {
                    let planner = state.query_planner();
                    (
                        planner
                            .create_physical_plan(&optimized, &state)
                            .await
                            .map_err(df_error)?,
                        false,
                    )
                }
            };
        let stream = execute_stream(Arc::clone(&physical), ctx.task_ctx()).map_err(df_error)?;
        Ok(Hunt {
            // String views become Utf8, the type callers see.
            schema: retyped(&stream.schema(), &DataType::Utf8View, DataType::Utf8),
            stream: Some(stream),
            progress: Progress {
                plan: physical,
                pushed_down,
                scans: stats,
                rows: Arc::default(),
                started,
                failure: Arc::default(),
            },
            snapshot: Some(snapshot),
            slot: None,
            pending: None,
            deadline: tokio::time::Instant::now() + timeout,
            timeout,
            memory_bytes: self.limits.memory_bytes,
            limit,
            rows: 0,
            partial: false,
        })
    }
}

impl Hunt {
    /// The result's columns.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// The next non-empty batch, or `None` at the end (or at the row limit).
    pub async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let batch = match self.pending.take() {
            Some(batch) => Some(batch),
            None => self.pull().await?,
        };
        let Some(batch) = batch else {
            self.finish();
            return Ok(None);
        };
        let room = self.limit - self.rows;
        let batch = if batch.num_rows() > room {
            self.partial = true;
            self.finish();
            batch.slice(0, room)
        } else {
            batch
        };
        self.rows += batch.num_rows();
        self.progress.rows.store(self.rows as u64, Ordering::Relaxed);
        if batch.num_rows() == 0 {
            return Ok(None);
        }
        Ok(Some(self.with_plain_strings(batch)?))
    }

    /// `batch` in the result's schema: string views become Utf8, the type callers see.
    fn with_plain_strings(&self, batch: RecordBatch) -> Result<RecordBatch> {
        if batch.schema() == self.schema {
            return Ok(batch);
        }
        let columns = batch
            .columns()
            .iter()
            .zip(self.schema.fields())
            .map(|(c, f)| arrow::compute::cast(c, f.data_type()))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::Internal(e.to_string()))?;
        RecordBatch::try_new(Arc::clone(&self.schema), columns).map_err(|e| Error::Internal(e.to_string()))
    }

    /// Reads the next non-empty batch from the plan, within the deadline.
    async fn pull(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            let Some(stream) = self.stream.as_mut() else {
                return Ok(None);
            };
            let Ok(next) = tokio::time::timeout_at(self.deadline, stream.next()).await else {
                return Err(self.fail(Error::Timeout(self.timeout.as_millis() as u64)));
            };
            match next {
                None => return Ok(None),
                Some(Ok(batch)) if batch.num_rows() == 0 => continue,
                Some(Ok(batch)) => return Ok(Some(batch)),
                Some(Err(e)) => {
                    let e = Error::from_datafusion(e, self.memory_bytes, self.timeout);
                    return Err(self.fail(e));
                }
            }
        }
    }

    fn fail(&mut self, e: Error) -> Error {
        let _ = self.progress.failure.set(e.to_string());
        self.finish();
        e
    }

    /// Stops the plan and ends the snapshot, whose unlocking the caller does not wait for.
    fn finish(&mut self) {
        self.stream = None;
        self.slot = None;
        if let Some(snapshot) = self.snapshot.take()
            && let Ok(snapshot) = Arc::try_unwrap(snapshot)
        {
            tokio::spawn(snapshot.release());
        }
    }

    /// True when the row limit cut the result.
    pub fn partial(&self) -> bool {
        self.partial
    }

    /// What was read so far (all of it once `next_batch` returned `None`).
    pub fn stats(&self) -> HuntStats {
        self.progress.stats()
    }

    /// A handle on the statistics for another task, e.g. to print progress.
    pub fn progress(&self) -> Progress {
        self.progress.clone()
    }
}

/// Sums the rows the plan's hot and cold scans produced.
fn scan_rows(plan: &Arc<dyn ExecutionPlan>, hot: &mut u64, cold: &mut u64) {
    let rows = || plan.metrics().and_then(|m| m.output_rows()).unwrap_or(0) as u64;
    match plan.name() {
        "HotExec" => *hot += rows(),
        "DataSourceExec" => *cold += rows(),
        _ => {}
    }
    for child in plan.children() {
        scan_rows(child, hot, cold);
    }
}

/// Replaces the plan's placeholders with `params`, each converted to the type it is used as.
fn bind_params(plan: LogicalPlan, params: Params) -> Result<LogicalPlan> {
    let types = plan.get_parameter_types().map_err(|e| Error::BadParam(e.to_string()))?;
    let convert = |id: &str, value: ScalarValue| -> Result<ScalarValue> {
        match types.get(id) {
            Some(Some(ty)) if value.data_type() != *ty && !value.is_null() => value
                .cast_to(ty)
                .map_err(|e| Error::BadParam(format!("{id}: cannot use {value} as {ty}: {}", e.strip_backtrace()))),
            _ => Ok(value),
        }
    };
    let values = match params {
        Params::None if types.is_empty() => return Ok(plan),
        Params::None => ParamValues::List(vec![]),
        Params::Positional(values) => {
            let mut out = Vec::with_capacity(values.len());
            for (i, value) in values.into_iter().enumerate() {
                let id = format!("${}", i + 1);
                out.push(convert(&id, json_scalar(&id, value)?)?);
            }
            ParamValues::from(out)
        }
        Params::Named(map) => {
            let mut out = HashMap::with_capacity(map.len());
            for (name, value) in map {
                let value = convert(&format!("${name}"), value)?;
                out.insert(name, value.into());
            }
            ParamValues::Map(out)
        }
    };
    if let Some(missing) = types.keys().find(|id| values.get_placeholders_with_values(id).is_err()) {
        return Err(Error::BadParam(format!("no value given for placeholder {missing}")));
    }
    plan.with_param_values(values)
        .map_err(|e| Error::BadParam(e.strip_backtrace()))
}

fn json_scalar(id: &str, value: serde_json::Value) -> Result<ScalarValue> {
    use serde_json::Value as J;
    Ok(match value {
        J::Null => ScalarValue::Null,
        J::Bool(b) => ScalarValue::Boolean(Some(b)),
        J::Number(n) => match n.as_i64() {
            Some(i) => ScalarValue::Int64(Some(i)),
            None => ScalarValue::Float64(n.as_f64()),
        },
        J::String(s) => ScalarValue::Utf8(Some(s)),
        other => {
            return Err(Error::BadParam(format!(
                "{id}: {other} is not a string, number, boolean or null"
            )));
        }
    })
}
