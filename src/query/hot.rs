//! The hot tier's scan: one parameterized SELECT against a hypertable, streamed as Arrow batches
//! of the session's batch size; a scan cut short cancels its query in PostgreSQL.

use std::fmt;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, Float64Array, Int16Array, Int32Array, Int64Array, RecordBatch, RecordBatchOptions,
    StringArray, StringViewArray, TimestampMicrosecondArray, TimestampNanosecondArray,
};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use chrono::{DateTime, Utc};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchReceiverStream;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties, SendableRecordBatchStream,
};
use futures_util::StreamExt;
use tokio::sync::mpsc::Sender;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::FromSql;

use super::ScanError;
use super::pushdown::Value;
use crate::store::{self, Store};

/// The SELECT a hot scan runs, with its parameters.
#[derive(Debug)]
pub(crate) struct HotQuery {
    pub(crate) sql: String,
    pub(crate) params: Vec<Value>,
    /// PostgreSQL's own deadline for the scan, so an abandoned query does not run on.
    pub(crate) statement_timeout_ms: u64,
}

/// Streams the rows of a [`HotQuery`]; its schema is the projected table schema, in order.
pub(crate) struct HotExec {
    store: Store,
    query: Arc<HotQuery>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl HotExec {
    pub(crate) fn new(store: Store, query: HotQuery, schema: SchemaRef) -> Self {
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        HotExec {
            store,
            query: Arc::new(query),
            schema,
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl fmt::Debug for HotExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HotExec").field("sql", &self.query.sql).finish()
    }
}

impl DisplayAs for HotExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        // Only placeholders: the values are parameters.
        write!(f, "HotExec: {}", self.query.sql)
    }
}

impl ExecutionPlan for HotExec {
    fn name(&self) -> &str {
        "HotExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, _children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let page = context.session_config().batch_size().max(1);
        let rows = MetricBuilder::new(&self.metrics).output_rows(partition);
        let mut builder = RecordBatchReceiverStream::builder(Arc::clone(&self.schema), 2);
        let tx = builder.tx();
        let (store, query, schema) = (self.store.clone(), Arc::clone(&self.query), Arc::clone(&self.schema));
        // The task is aborted when the stream is dropped: the transaction then rolls back.
        builder.spawn(async move { stream_rows(store, &query, schema, page, rows, tx).await });
        Ok(builder.build())
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

fn scan_error(e: tokio_postgres::Error) -> DataFusionError {
    if e.code() == Some(&SqlState::QUERY_CANCELED) {
        ScanError::Timeout.into()
    } else {
        ScanError::Store(store::Error::Query(e)).into()
    }
}

/// The scan's pooled connection while its query runs. Dropped before the query ended (the hunt
/// was cut short or timed out), it cancels the query and leaves the pool, so the next user of
/// the connection never waits for a result nobody reads.
struct Running {
    client: Option<deadpool_postgres::Object>,
    done: bool,
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if let Some(client) = self.client.take() {
            let token = client.cancel_token();
            let client = deadpool_postgres::Object::take(client);
            tokio::spawn(async move {
                if let Err(e) = token.cancel_query(tokio_postgres::NoTls).await {
                    tracing::debug!(error = %e, "cancelling an abandoned hot scan");
                }
                drop(client);
            });
        }
    }
}

async fn stream_rows(
    store: Store,
    query: &HotQuery,
    schema: SchemaRef,
    page: usize,
    rows_out: Count,
    tx: Sender<Result<RecordBatch>>,
) -> Result<()> {
    let client = store
        .client()
        .await
        .map_err(|e| DataFusionError::from(ScanError::Store(e)))?;
    let mut running = Running {
        client: Some(client),
        done: false,
    };
    let pg: &tokio_postgres::Client = running.client.as_ref().expect("set above");
    // UTC: `date_trunc` and `date_bin` of a pushed-down query cut days where DataFusion does.
    let begin = format!(
        "BEGIN READ ONLY; SET LOCAL statement_timeout = {}; SET LOCAL TimeZone = 'UTC'",
        query.statement_timeout_ms
    );
    // Parse, bind and execute in one round trip, all rows in one Execute (a row-limited portal
    // would keep PostgreSQL from planning parallel workers); the connection's bounded buffer
    // holds PostgreSQL back when we lag. The transaction's start goes out ahead of it in the
    // same round trip, and PostgreSQL runs them in order; should it fail, so does the scan,
    // and its connection leaves the pool.
    let params = query.params.iter().map(|v| (v.as_sql(), v.pg_type()));
    let (begun, stream) = futures_util::join!(pg.batch_execute(&begin), pg.query_typed_raw(&query.sql, params));
    begun.map_err(scan_error)?;
    let stream = stream.map_err(scan_error)?;
    let mut stream = std::pin::pin!(stream);
    let mut rows = Vec::with_capacity(page);
    let mut finished = true;
    loop {
        let next = stream.next().await.transpose().map_err(scan_error)?;
        let end = next.is_none();
        rows.extend(next);
        if rows.len() == page || (end && !rows.is_empty()) {
            let batch = to_batch(&schema, &rows)?;
            rows_out.add(rows.len());
            rows.clear();
            if tx.send(Ok(batch)).await.is_err() {
                finished = false;
                break;
            }
        }
        if end {
            break;
        }
    }
    // Read-only: nothing to commit. A connection left mid-transaction never returns to the pool.
    if finished && pg.batch_execute("ROLLBACK").await.is_ok() {
        running.done = true;
    }
    Ok(())
}

fn column<'a, T: FromSql<'a>>(rows: &'a [tokio_postgres::Row], i: usize) -> Result<Vec<Option<T>>> {
    rows.iter()
        .map(|r| {
            r.try_get::<_, Option<T>>(i)
                .map_err(|e| DataFusionError::External(Box::new(e)))
        })
        .collect()
}

/// The rows as one batch of `schema`; columns are read by position.
fn to_batch(schema: &SchemaRef, rows: &[tokio_postgres::Row]) -> Result<RecordBatch> {
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (i, field) in schema.fields().iter().enumerate() {
        let array: ArrayRef = match field.data_type() {
            DataType::Int64 => Arc::new(Int64Array::from(column::<i64>(rows, i)?)),
            DataType::Int32 => Arc::new(Int32Array::from(column::<i32>(rows, i)?)),
            DataType::Int16 => Arc::new(Int16Array::from(column::<i16>(rows, i)?)),
            DataType::Float64 => Arc::new(Float64Array::from(column::<f64>(rows, i)?)),
            DataType::Utf8 => Arc::new(StringArray::from(column::<&str>(rows, i)?)),
            DataType::Utf8View => Arc::new(StringViewArray::from(column::<&str>(rows, i)?)),
            DataType::Binary => Arc::new(BinaryArray::from(column::<&[u8]>(rows, i)?)),
            DataType::Timestamp(TimeUnit::Microsecond, tz) => {
                let micros: Vec<Option<i64>> = column::<DateTime<Utc>>(rows, i)?
                    .into_iter()
                    .map(|t| t.map(|t| t.timestamp_micros()))
                    .collect();
                Arc::new(TimestampMicrosecondArray::from(micros).with_timezone_opt(tz.clone()))
            }
            // A computed instant (`date_bin` works in nanoseconds); PostgreSQL's are microseconds.
            DataType::Timestamp(TimeUnit::Nanosecond, tz) => {
                let nanos: Vec<Option<i64>> = column::<DateTime<Utc>>(rows, i)?
                    .into_iter()
                    .map(|t| t.and_then(|t| t.timestamp_micros().checked_mul(1_000)))
                    .collect();
                Arc::new(TimestampNanosecondArray::from(nanos).with_timezone_opt(tz.clone()))
            }
            other => {
                return Err(DataFusionError::Internal(format!(
                    "hot scan: column {} has unsupported type {other}",
                    field.name()
                )));
            }
        };
        arrays.push(array);
    }
    let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
    Ok(RecordBatch::try_new_with_options(Arc::clone(schema), arrays, &options)?)
}
