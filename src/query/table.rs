//! `events` and `metrics` as DataFusion tables: each scan is the hot hypertable above the
//! snapshot's watermark unioned with the cold files at or below it, both limited to the
//! caller's tenant and the hunt's time range whatever the SQL says.

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::Result;
use datafusion::execution::cache::cache_manager::FileMetadataCache;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::union::UnionExec;
use object_store::ObjectStore;

use super::cold;
use super::hot::{HotExec, HotQuery};
use super::pushdown::{Pred, SqlBuilder, Value, translate};
use crate::event::TenantId;
use crate::store::Store;
use crate::tier::{ColdFile, FileFilter, Snapshot, Table, schema};

/// What distinguishes the two tables.
#[derive(Debug, Clone)]
pub(crate) struct TableDef {
    pub(crate) table: Table,
    pub(crate) schema: SchemaRef,
    /// The time `from`/`to` apply to: the source's own timestamp.
    pub(crate) time_column: &'static str,
}

impl TableDef {
    pub(crate) fn events() -> Self {
        TableDef {
            table: Table::Events,
            schema: with_string_views(&schema::events()),
            time_column: "event_time",
        }
    }

    pub(crate) fn metrics() -> Self {
        TableDef {
            table: Table::Metrics,
            schema: with_string_views(&schema::metrics()),
            time_column: "time",
        }
    }
}

/// `schema` with its text columns as string views, which DataFusion decodes from Parquet
/// without copying short values and groups faster; results turn them back into Utf8.
fn with_string_views(schema: &Schema) -> SchemaRef {
    retyped(schema, &DataType::Utf8, DataType::Utf8View)
}

/// `schema` with every column of type `from` as type `to`.
pub(crate) fn retyped(schema: &Schema, from: &DataType, to: DataType) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let field = f.as_ref().clone();
            if field.data_type() == from {
                field.with_data_type(to.clone())
            } else {
                field
            }
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// Counters a hunt reports that the plan's own metrics do not hold.
#[derive(Debug, Default)]
pub(crate) struct ScanStats {
    pub(crate) cold_files: AtomicU64,
    pub(crate) cold_bytes: AtomicU64,
}

/// One query's view: whose rows, which snapshot of the tiers, which time range.
pub(crate) struct ScanScope {
    pub(crate) store: Store,
    pub(crate) tenant: TenantId,
    pub(crate) snapshot: Arc<Snapshot>,
    /// The cold tier's object store, where the session knows it, and its Parquet metadata
    /// cache; `None` without an object store.
    pub(crate) cold: Option<ColdTier>,
    pub(crate) from: Option<DateTime<Utc>>,
    pub(crate) to: Option<DateTime<Utc>>,
    pub(crate) statement_timeout_ms: u64,
    pub(crate) stats: Arc<ScanStats>,
    /// The manifest's answers so far: planning asks twice for each scan (may the whole query
    /// run in PostgreSQL, then which files to read), and the snapshot's answer cannot change.
    pub(crate) files: Mutex<Vec<(Table, FileFilter, Vec<ColdFile>)>>,
}

/// The object store of the cold files as a session sees it.
#[derive(Clone)]
pub(crate) struct ColdTier {
    pub(crate) url: ObjectStoreUrl,
    pub(crate) objects: Arc<dyn ObjectStore>,
    /// Footers and page indexes of files already opened, shared by an engine's queries: the
    /// files never change once registered.
    pub(crate) metadata: Arc<FileMetadataCache>,
}

/// A table over both tiers, for one [`ScanScope`].
pub(crate) struct TieredTable {
    def: TableDef,
    scope: Arc<ScanScope>,
}

impl TieredTable {
    pub(crate) fn new(def: TableDef, scope: Arc<ScanScope>) -> Self {
        TieredTable { def, scope }
    }

    pub(crate) fn def(&self) -> &TableDef {
        &self.def
    }

    pub(crate) fn scope(&self) -> &Arc<ScanScope> {
        &self.scope
    }

    /// The hot half's SELECT, its parameters bound in `b` (whose text is left as it was): the
    /// tenant, the watermark and the time range always; then the pushed filters. Addresses
    /// are read as text, or left `inet` with `raw_addresses`.
    pub(crate) fn hot_select(
        &self,
        b: &mut SqlBuilder,
        pushed: &[Pred],
        projection: &Schema,
        limit: Option<usize>,
        raw_addresses: bool,
    ) -> String {
        let outer = std::mem::take(&mut b.sql);
        let scope = &self.scope;
        let columns: Vec<String> = projection
            .fields()
            .iter()
            .map(|f| match f.name() {
                name if raw_addresses && schema::is_address(name) => name.clone(),
                name => schema::select_expr(name),
            })
            .collect();
        let tenant = b.bind(Value::Text(scope.tenant.as_str().to_owned()));
        b.sql = format!(
            "SELECT {} FROM {} WHERE tenant_id = {tenant}",
            columns.join(", "),
            self.def.table.as_str()
        );
        match self.def.table {
            // With nothing cold the bound would only cost PostgreSQL its index-only scans.
            Table::Events if scope.snapshot.events_watermark > 0 => {
                let p = b.bind(Value::Int(scope.snapshot.events_watermark));
                b.sql.push_str(&format!(" AND position > {p}"));
            }
            Table::Events => {}
            Table::Metrics => {
                if let Some(w) = scope.snapshot.metrics_watermark {
                    let p = b.bind(Value::Time(w));
                    b.sql.push_str(&format!(" AND recorded_at >= {p}"));
                }
            }
        }
        let time = self.def.time_column;
        if let Some(from) = scope.from {
            let p = b.bind(Value::Time(from));
            b.sql.push_str(&format!(" AND \"{time}\" >= {p}"));
        }
        if let Some(to) = scope.to {
            let p = b.bind(Value::Time(to));
            b.sql.push_str(&format!(" AND \"{time}\" < {p}"));
        }
        for pred in pushed {
            b.sql.push_str(" AND ");
            b.push_pred(pred);
        }
        if let Some(limit) = limit {
            b.sql.push_str(&format!(" LIMIT {limit}"));
        }
        std::mem::replace(&mut b.sql, outer)
    }
}

impl fmt::Debug for TieredTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TieredTable")
            .field("table", &self.def.table)
            .field("tenant", &self.scope.tenant)
            .finish()
    }
}

#[async_trait]
impl TableProvider for TieredTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.def.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        // Exact only where both halves apply the filter: SQL in PostgreSQL, a filter on the Parquet scan.
        Ok(filters
            .iter()
            .map(|f| match translate(f, &self.def.schema) {
                Some(_) => TableProviderFilterPushDown::Exact,
                None => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let pushed: Vec<(Expr, Pred)> = filters
            .iter()
            .filter_map(|f| translate(f, &self.def.schema).map(|p| (f.clone(), p)))
            .collect();
        let projected = match projection {
            Some(p) => Arc::new(self.def.schema.project(p)?),
            None => Arc::clone(&self.def.schema),
        };
        let preds: Vec<Pred> = pushed.iter().map(|(_, p)| p.clone()).collect();
        let mut b = SqlBuilder::default();
        let sql = self.hot_select(&mut b, &preds, &projected, limit, false);
        let query = HotQuery {
            sql,
            params: b.params,
            statement_timeout_ms: self.scope.statement_timeout_ms,
        };
        let hot = HotExec::new(self.scope.store.clone(), query, projected);
        let hot: Arc<dyn ExecutionPlan> = Arc::new(hot);
        match cold::plan(&self.scope, &self.def, state, &pushed, projection, limit).await? {
            Some(cold) => UnionExec::try_new(vec![hot, cold]),
            None => Ok(hot),
        }
    }
}
