//! The DataFusion session of one query: only `events` and `metrics` (scoped to the caller's
//! tenant) are registered, no information_schema, no URL tables, no spilling to disk, a memory
//! pool of fixed size, and SQL options that refuse DDL, DML and statements.

use std::num::NonZeroUsize;
use std::sync::Arc;

use datafusion::error::Result;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{GreedyMemoryPool, TrackConsumersPool};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::{LogicalPlan, ScalarUDF};
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};

use super::group_view::ViewGroupRule;
use super::table::{ColdTier, ScanScope, TableDef, TieredTable};
use super::udf::UtcDateTrunc;
use super::{Error, QueryEngine};

/// The URL the cold tier's object store is registered under in every session.
const COLD_URL: &str = "tidemark://cold/";

/// The cold tier as a session sees it, if the engine has an object store.
pub(crate) fn cold_tier(engine: &QueryEngine) -> Option<ColdTier> {
    engine.objects.as_ref().map(|objects| ColdTier {
        url: ObjectStoreUrl::parse(COLD_URL).expect("a valid constant URL"),
        objects: Arc::clone(objects),
        metadata: Arc::clone(&engine.shared.parquet_metadata),
    })
}

/// A session that sees only `scope`'s tenant, through `events` and `metrics`.
pub(crate) fn context(engine: &QueryEngine, scope: Arc<ScanScope>) -> Result<SessionContext> {
    let pool = TrackConsumersPool::new(
        GreedyMemoryPool::new(engine.limits.memory_bytes),
        NonZeroUsize::new(3).expect("non-zero"),
    );
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(pool))
        // Without a disk manager an operator over its budget fails instead of filling the disk.
        .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled))
        .build_arc()?;
    if let Some(cold) = &scope.cold {
        runtime.register_object_store(cold.url.as_ref(), Arc::clone(&cold.objects));
    }
    let mut config = SessionConfig::new()
        .with_information_schema(false)
        .with_target_partitions(std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8));
    let options = config.options_mut();
    // The tables' text columns are string views: read them from Parquet as such.
    options.execution.parquet.schema_force_view_types = true;
    options.sql_parser.enable_ident_normalization = true;
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .with_physical_optimizer_rule(Arc::new(ViewGroupRule))
        .build();
    let ctx = SessionContext::new_with_state(state);
    ctx.register_udf(ScalarUDF::new_from_impl(UtcDateTrunc::new()));
    ctx.register_table(
        "events",
        Arc::new(TieredTable::new(TableDef::events(), Arc::clone(&scope))),
    )?;
    ctx.register_table("metrics", Arc::new(TieredTable::new(TableDef::metrics(), scope)))?;
    Ok(ctx)
}

/// Plans `sql` as a read-only query, refusing anything that would change or read other state.
pub(crate) async fn plan(ctx: &SessionContext, sql: &str) -> Result<LogicalPlan, Error> {
    let plan = ctx
        .state()
        .create_logical_plan(sql)
        .await
        .map_err(|e| Error::Sql(e.to_string()))?;
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
        .verify_plan(&plan)
        .map_err(|e| Error::ReadOnly(format!("only SELECT queries may run ({})", e.strip_backtrace())))?;
    Ok(plan)
}
