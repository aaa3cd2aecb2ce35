//! One hypertable chunk into Parquet files, one per tenant (and per kind, for events), sorted
//! by position: zstd, row groups of 128Ki rows, page-level statistics and bloom filters on the
//! lookup columns. Each file is hashed as it is uploaded, then read back from the store and
//! hashed again; only a file whose bytes and row count match is reported as written.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::AsyncArrowWriter;
use parquet::arrow::async_writer::AsyncFileWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::rows::RowBatcher;
use super::{Error, Result, Table, schema};
use crate::store::Store;

/// Rows per Parquet row group.
const ROW_GROUP_ROWS: usize = 128 * 1024;
/// Rows per Arrow batch handed to the writer.
const BATCH_ROWS: usize = 8 * 1024;

/// A hypertable chunk to move.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub table: Table,
    /// `schema.table`, quoted for SQL.
    pub name: String,
    pub range_start: DateTime<Utc>,
    pub range_end: DateTime<Utc>,
}

/// A file written, read back and verified; not yet registered.
#[derive(Debug, Clone)]
pub struct WrittenFile {
    pub tenant: String,
    pub kind: Option<String>,
    pub path: String,
    pub first_position: Option<i64>,
    pub last_position: Option<i64>,
    pub min_recorded_at: DateTime<Utc>,
    pub max_recorded_at: DateTime<Utc>,
    pub min_time: Option<DateTime<Utc>>,
    pub max_time: Option<DateTime<Utc>>,
    pub rows: i64,
    pub bytes: i64,
    pub sha256: Vec<u8>,
}

/// Writes every row of `chunk` to files under `cold/`, one per tenant (and kind).
pub async fn export_chunk(store: &Store, objects: &Arc<dyn ObjectStore>, chunk: &Chunk) -> Result<Vec<WrittenFile>> {
    let schema = match chunk.table {
        Table::Events => schema::events(),
        Table::Metrics => schema::metrics(),
    };
    let columns: Vec<String> = schema.fields().iter().map(|f| schema::select_expr(f.name())).collect();
    let order = match chunk.table {
        Table::Events => "tenant_id, kind, position",
        Table::Metrics => "tenant_id, recorded_at, name",
    };
    let sql = format!("SELECT {} FROM {} ORDER BY {order}", columns.join(", "), chunk.name);
    let client = store.connect().await?;
    let rows = client
        .query_raw(&sql, std::iter::empty::<i32>())
        .await
        .map_err(crate::store::Error::from)?;
    futures_util::pin_mut!(rows);
    let mut files = Vec::new();
    let mut current: Option<GroupWriter> = None;
    while let Some(row) = rows.next().await {
        let row = row.map_err(crate::store::Error::from)?;
        let key = Key::of(chunk.table, &row)?;
        if current.as_ref().is_none_or(|g| g.key != key) {
            if let Some(group) = current.take() {
                files.push(group.finish(objects).await?);
            }
            current = Some(GroupWriter::new(objects, chunk, key, Arc::clone(&schema))?);
        }
        if let Some(group) = current.as_mut() {
            group.push(&row).await?;
        }
    }
    if let Some(group) = current.take() {
        files.push(group.finish(objects).await?);
    }
    Ok(files)
}

/// What one file holds: a tenant, and for events one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    tenant: String,
    kind: Option<String>,
}

impl Key {
    fn of(table: Table, row: &tokio_postgres::Row) -> Result<Key> {
        let get =
            |name: &str| -> Result<String> { Ok(row.try_get::<_, String>(name).map_err(crate::store::Error::from)?) };
        Ok(Key {
            tenant: get("tenant_id")?,
            kind: match table {
                Table::Events => Some(get("kind")?),
                Table::Metrics => None,
            },
        })
    }
}

struct GroupWriter {
    key: Key,
    path: Path,
    table: Table,
    writer: AsyncArrowWriter<HashingUpload>,
    batcher: RowBatcher,
    digest: Arc<Mutex<(Sha256, u64)>>,
    rows: i64,
    positions: Option<(i64, i64)>,
    recorded: Option<(DateTime<Utc>, DateTime<Utc>)>,
    times: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

impl GroupWriter {
    fn new(
        objects: &Arc<dyn ObjectStore>,
        chunk: &Chunk,
        key: Key,
        schema: arrow::datatypes::SchemaRef,
    ) -> Result<Self> {
        let stamp = chunk.range_start.format("%Y%m%dT%H%M%SZ");
        let chunk_table = chunk.name.rsplit('.').next().unwrap_or(&chunk.name).trim_matches('"');
        let path = match &key.kind {
            Some(kind) => format!(
                "cold/{}/tenant={}/kind={kind}/{stamp}_{chunk_table}.parquet",
                chunk.table.as_str(),
                key.tenant
            ),
            None => format!(
                "cold/{}/tenant={}/{stamp}_{chunk_table}.parquet",
                chunk.table.as_str(),
                key.tenant
            ),
        };
        let path = Path::from(path);
        let digest = Arc::new(Mutex::new((Sha256::new(), 0u64)));
        let upload = HashingUpload {
            inner: BufWriter::new(Arc::clone(objects), path.clone()),
            digest: Arc::clone(&digest),
        };
        let writer = AsyncArrowWriter::try_new(upload, Arc::clone(&schema), Some(properties(chunk.table)))?;
        Ok(GroupWriter {
            key,
            path,
            table: chunk.table,
            writer,
            batcher: RowBatcher::new(schema)?,
            digest,
            rows: 0,
            positions: None,
            recorded: None,
            times: None,
        })
    }

    async fn push(&mut self, row: &tokio_postgres::Row) -> Result<()> {
        let err = crate::store::Error::from;
        let recorded: DateTime<Utc> = row.try_get("recorded_at").map_err(err)?;
        let (time, position): (Option<DateTime<Utc>>, Option<i64>) = match self.table {
            Table::Events => (
                row.try_get("event_time").map_err(err)?,
                Some(row.try_get("position").map_err(err)?),
            ),
            Table::Metrics => (Some(row.try_get("time").map_err(err)?), None),
        };
        if let Some(p) = position {
            self.positions = Some(self.positions.map_or((p, p), |(lo, hi)| (lo.min(p), hi.max(p))));
        }
        self.recorded = Some(
            self.recorded
                .map_or((recorded, recorded), |(lo, hi)| (lo.min(recorded), hi.max(recorded))),
        );
        if let Some(t) = time {
            self.times = Some(self.times.map_or((t, t), |(lo, hi)| (lo.min(t), hi.max(t))));
        }
        self.batcher.push(row).map_err(err)?;
        self.rows += 1;
        if self.batcher.len() >= BATCH_ROWS {
            self.writer.write(&self.batcher.finish()?).await?;
        }
        Ok(())
    }

    /// Closes the file, then reads it back from the store and checks bytes and row count.
    async fn finish(mut self, objects: &Arc<dyn ObjectStore>) -> Result<WrittenFile> {
        if !self.batcher.is_empty() {
            self.writer.write(&self.batcher.finish()?).await?;
        }
        let metadata = self.writer.finish().await?;
        let (written_hash, written_bytes) = {
            let digest = self.digest.lock().unwrap_or_else(|e| e.into_inner());
            (digest.0.clone().finalize().to_vec(), digest.1)
        };
        let footer_rows = metadata.file_metadata().num_rows();
        let (read_hash, read_bytes) = read_back(objects, &self.path).await?;
        if read_hash != written_hash || read_bytes != written_bytes || footer_rows != self.rows {
            return Err(Error::Verify(format!(
                "{}: wrote {written_bytes} bytes and {} rows, read back {read_bytes} bytes (hash {}) with {footer_rows} rows in its footer",
                self.path,
                self.rows,
                if read_hash == written_hash {
                    "equal"
                } else {
                    "different"
                }
            )));
        }
        let (min_recorded_at, max_recorded_at) = self.recorded.unwrap_or_default();
        Ok(WrittenFile {
            tenant: self.key.tenant,
            kind: self.key.kind,
            path: self.path.to_string(),
            first_position: self.positions.map(|p| p.0),
            last_position: self.positions.map(|p| p.1),
            min_recorded_at,
            max_recorded_at,
            min_time: self.times.map(|t| t.0),
            max_time: self.times.map(|t| t.1),
            rows: self.rows,
            bytes: i64::try_from(written_bytes).unwrap_or(i64::MAX),
            sha256: written_hash,
        })
    }
}

/// SHA-256 and length of the object at `path`, streamed.
pub async fn read_back(objects: &Arc<dyn ObjectStore>, path: &Path) -> Result<(Vec<u8>, u64)> {
    let mut stream = objects.get(path).await?.into_stream();
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        hasher.update(&chunk);
        bytes += chunk.len() as u64;
    }
    Ok((hasher.finalize().to_vec(), bytes))
}

fn properties(table: Table) -> WriterProperties {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Page);
    if table == Table::Events {
        props = props.set_sorting_columns(Some(vec![SortingColumn {
            column_idx: 0,
            descending: false,
            nulls_first: false,
        }]));
        for column in schema::BLOOM_COLUMNS {
            props = props.set_column_bloom_filter_enabled(ColumnPath::from(column), true);
        }
    }
    props.build()
}

/// An upload to the object store that hashes every byte on its way.
struct HashingUpload {
    inner: BufWriter,
    digest: Arc<Mutex<(Sha256, u64)>>,
}

impl AsyncFileWriter for HashingUpload {
    fn write(&mut self, bs: Bytes) -> BoxFuture<'_, parquet::errors::Result<()>> {
        {
            let mut digest = self.digest.lock().unwrap_or_else(|e| e.into_inner());
            digest.0.update(&bs);
            digest.1 += bs.len() as u64;
        }
        async move {
            self.inner
                .put(bs)
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))
        }
        .boxed()
    }

    fn complete(&mut self) -> BoxFuture<'_, parquet::errors::Result<()>> {
        async move {
            self.inner
                .shutdown()
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))
        }
        .boxed()
    }
}
