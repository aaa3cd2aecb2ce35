//! The cold tier's scan: the tenant's Parquet files that survive manifest pruning, read with
//! DataFusion's Parquet source (row-group statistics, page index and bloom filters), with the
//! filters the hot side evaluates exactly applied here too, so both halves return the same rows.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use datafusion::catalog::Session;
use datafusion::common::DFSchema;
use datafusion::common::config::TableParquetOptions;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::CachedParquetFileReaderFactory;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, col, lit};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::filter::FilterExecBuilder;
use datafusion::scalar::ScalarValue;

use super::ScanError;
use super::prune::narrow;
use super::pushdown::Pred;
use super::table::{ScanScope, TableDef};
use crate::tier::{ColdFile, FileFilter, Table};

/// `t` as a literal of the tables' timestamp type.
fn micros(t: chrono::DateTime<chrono::Utc>) -> Expr {
    lit(ScalarValue::TimestampMicrosecond(
        Some(t.timestamp_micros()),
        Some("UTC".into()),
    ))
}

/// The files of `scope`'s tenant that may hold rows matching `pushed`, all at or below the
/// snapshot's watermark; `None` when there are none.
pub(crate) async fn files(scope: &ScanScope, def: &TableDef, pushed: &[Pred]) -> Result<Option<Vec<ColdFile>>> {
    let mut filter = FileFilter {
        time_from: scope.from,
        time_to: scope.to,
        ..FileFilter::default()
    };
    for pred in pushed {
        narrow(&mut filter, pred, def.time_column);
    }
    // Files registered after the snapshot lie above its watermark and are still read hot:
    // the cold side keeps to the snapshot's watermark, or a row would be counted twice.
    let snapshot = &scope.snapshot;
    match (def.table, snapshot.events_watermark, snapshot.metrics_watermark) {
        (Table::Events, w, _) if w > 0 => {
            filter.max_position = Some(filter.max_position.map_or(w, |m| m.min(w)));
        }
        (Table::Metrics, _, Some(w)) => {
            filter.recorded_to = Some(filter.recorded_to.map_or(w, |m| m.min(w)));
        }
        _ => return Ok(None),
    }
    let known = || scope.files.lock().unwrap_or_else(PoisonError::into_inner);
    let asked = known()
        .iter()
        .find(|(table, f, _)| *table == def.table && *f == filter)
        .map(|(_, _, files)| files.clone());
    let files = match asked {
        Some(files) => files,
        None => {
            let files = scope
                .snapshot
                .files(def.table, &scope.tenant, &filter)
                .await
                .map_err(ScanError::Store)?;
            known().push((def.table, filter, files.clone()));
            files
        }
    };
    Ok((!files.is_empty()).then_some(files))
}

/// The cold half of a scan, or `None` when no file may hold a matching row.
pub(crate) async fn plan(
    scope: &ScanScope,
    def: &TableDef,
    state: &dyn Session,
    pushed: &[(Expr, Pred)],
    projection: Option<&Vec<usize>>,
    limit: Option<usize>,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let preds: Vec<Pred> = pushed.iter().map(|(_, p)| p.clone()).collect();
    let Some(files) = files(scope, def, &preds).await? else {
        return Ok(None);
    };
    let Some(cold) = scope.cold.as_ref() else {
        return Err(ScanError::NoObjectStore.into());
    };
    scope.stats.cold_files.fetch_add(files.len() as u64, Ordering::Relaxed);
    let bytes: i64 = files.iter().map(|f| f.bytes).sum();
    scope.stats.cold_bytes.fetch_add(bytes.max(0) as u64, Ordering::Relaxed);

    // Every row must satisfy the filters reported exact and the time range.
    let mut exact: Vec<Expr> = pushed.iter().map(|(e, _)| e.clone()).collect();
    if let Some(from) = scope.from {
        exact.push(col(def.time_column).gt_eq(micros(from)));
    }
    if let Some(to) = scope.to {
        exact.push(col(def.time_column).lt(micros(to)));
    }
    // The tenant and the watermark need no test: every row of the files the manifest gave
    // meets them (one tenant's rows each, all at or below the watermark). The exact filters
    // prune row groups and pages by their statistics and the columns' bloom filters.
    let schema = Arc::clone(&def.schema);
    let options = TableParquetOptions {
        global: state.config_options().execution.parquet.clone(),
        ..TableParquetOptions::default()
    };
    let reader = CachedParquetFileReaderFactory::new(Arc::clone(&cold.objects), Arc::clone(&cold.metadata));
    let mut source = ParquetSource::new(Arc::clone(&schema))
        .with_table_parquet_options(options)
        .with_parquet_file_reader_factory(Arc::new(reader));
    let filter = conjunction(exact);
    if let Some(filter) = &filter {
        let prune = state.create_physical_expr(filter.clone(), &DFSchema::try_from(Arc::clone(&schema))?)?;
        source = source.with_predicate(prune);
    }

    // Read the projected columns plus those the filters need, then project those away.
    let wanted: Vec<usize> = projection
        .cloned()
        .unwrap_or_else(|| (0..schema.fields().len()).collect());
    let mut read = wanted.clone();
    if let Some(filter) = &filter {
        for column in filter.column_refs() {
            let i = schema.index_of(&column.name)?;
            if !read.contains(&i) {
                read.push(i);
            }
        }
    }
    let config = FileScanConfigBuilder::new(cold.url.clone(), Arc::new(source))
        .with_file_groups(groups(&files, state.config_options().execution.target_partitions))
        .with_projection_indices(Some(read.clone()))?
        .with_limit(if filter.is_none() { limit } else { None })
        .build();
    let scan: Arc<dyn ExecutionPlan> = DataSourceExec::from_data_source(config);
    let Some(filter) = filter else {
        return Ok(Some(scan));
    };
    let physical = state.create_physical_expr(filter, &DFSchema::try_from(scan.schema())?)?;
    let keep: Vec<usize> = (0..wanted.len()).collect();
    let filtered = FilterExecBuilder::new(physical, scan)
        .apply_projection(Some(keep))?
        .with_fetch(limit)
        .build()?;
    Ok(Some(Arc::new(filtered)))
}

/// Up to `partitions` groups of consecutive files (the manifest lists them in position order).
fn groups(files: &[ColdFile], partitions: usize) -> Vec<FileGroup> {
    let per_group = files.len().div_ceil(partitions.max(1));
    files
        .chunks(per_group.max(1))
        .map(|chunk| {
            FileGroup::new(
                chunk
                    .iter()
                    .map(|f| PartitionedFile::new(f.path.clone(), f.bytes.max(0) as u64))
                    .collect(),
            )
        })
        .collect()
}
