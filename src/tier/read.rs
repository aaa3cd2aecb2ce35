//! Reading the cold tier back: [`ColdMerge`] streams the events of any set of Parquet files in
//! position order, and replay serves a page of a tenant's events from the cold files at or below
//! the watermark first and the hot tier above it, under one snapshot. Files are merged as they
//! stream, so a page costs about one batch per file, whatever the chunk's size.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Int16Type, Int32Type, Int64Type, TimestampMicrosecondType};
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStream};
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use parquet::file::statistics::Statistics;
use serde_json::{Map, Value};

use super::manifest::{ColdFile, FileFilter, Snapshot, Table};
use super::{Error, Result};
use crate::event::TenantId;
use crate::store::{ReplayFilter, Store, StoredEvent, TimeField};

/// Up to `limit` events of `tenant` with position above `after`, in position order, from
/// both tiers. Without an object store only the hot tier is read.
pub async fn replay_page(
    store: &Store,
    objects: Option<&Arc<dyn ObjectStore>>,
    tenant: &TenantId,
    filter: &ReplayFilter,
    after: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>> {
    let after = after.max(filter.from_position.map_or(0, |p| p - 1));
    let snapshot = Snapshot::take(store).await?;
    let mut page = Vec::new();
    if let Some(objects) = objects
        && after < snapshot.events_watermark
    {
        let files = snapshot
            .files(Table::Events, tenant, &file_filter(filter, after))
            .await?;
        let want = usize::try_from(limit).unwrap_or(0);
        let mut merge = ColdMerge::new(objects, files, after, want.clamp(64, 8192));
        while page.len() < want {
            let Some((event, _)) = merge.next().await? else {
                break;
            };
            if filter.to_position.is_some_and(|to| event.position > to) {
                break;
            }
            if passes(&event, filter) {
                page.push(event);
            }
        }
    }
    let want = limit - page.len() as i64;
    if want > 0 {
        let hot_after = after.max(snapshot.events_watermark);
        page.extend(store.replay_page(tenant, filter, hot_after, want).await?);
    }
    snapshot.release().await;
    Ok(page)
}

fn file_filter(filter: &ReplayFilter, after: i64) -> FileFilter {
    let (recorded, time) = match filter.time_field {
        TimeField::RecordedAt => ((filter.from, filter.to), (None, None)),
        TimeField::EventTime => ((None, None), (filter.from, filter.to)),
    };
    FileFilter {
        kinds: (!filter.kinds.is_empty()).then(|| filter.kinds.iter().map(|k| k.as_str().to_owned()).collect()),
        min_position: Some(after + 1),
        max_position: filter.to_position,
        recorded_from: recorded.0,
        recorded_to: recorded.1,
        time_from: time.0,
        time_to: time.1,
    }
}

/// The events of any set of cold files (tenants, kinds and chunks mixed) merged by position.
/// A file is opened when the merge reaches its first position and let go once read to the end,
/// so memory is one batch of rows per file whose position range the merge is inside.
pub(crate) struct ColdMerge {
    objects: Arc<dyn ObjectStore>,
    /// Files not opened yet, by first position.
    pending: VecDeque<ColdFile>,
    heads: Vec<Head>,
    after: i64,
    batch_rows: usize,
    skip_missing: bool,
    sized_by_store: bool,
    missing: Vec<ColdFile>,
}

impl ColdMerge {
    /// A merge of the events above `after` in `files`, reading `batch_rows` rows of a file at a
    /// time.
    pub(crate) fn new(objects: &Arc<dyn ObjectStore>, mut files: Vec<ColdFile>, after: i64, batch_rows: usize) -> Self {
        files.retain(|f| f.last_position.is_none_or(|last| last > after));
        files.sort_by_key(|f| (f.first_position, f.id));
        ColdMerge {
            objects: Arc::clone(objects),
            pending: files.into(),
            heads: Vec::new(),
            after,
            batch_rows: batch_rows.max(1),
            skip_missing: false,
            sized_by_store: false,
            missing: Vec::new(),
        }
    }

    /// Passes over files the object store does not have, listing them in [`Self::missing`],
    /// instead of failing the read.
    pub(crate) fn skip_missing(mut self) -> Self {
        self.skip_missing = true;
        self
    }

    /// Takes each file's size from the object store rather than the manifest, so that a file
    /// rewritten in place is still read as it now is.
    pub(crate) fn sized_by_store(mut self) -> Self {
        self.sized_by_store = true;
        self
    }

    /// Files passed over so far because the object store does not have them.
    pub(crate) fn missing(&self) -> &[ColdFile] {
        &self.missing
    }

    /// The position of the next event, without taking it.
    pub(crate) async fn peek(&mut self) -> Result<Option<i64>> {
        Ok(self.lowest().await?.map(|(_, position)| position))
    }

    /// The next event in position order, and the file it was read from.
    pub(crate) async fn next(&mut self) -> Result<Option<(StoredEvent, &ColdFile)>> {
        let Some((i, _)) = self.lowest().await? else {
            return Ok(None);
        };
        let head = &mut self.heads[i];
        head.row += 1;
        let batch = head
            .batch
            .as_ref()
            .ok_or_else(|| Error::Verify("cold file batch vanished".into()))?;
        let event = event_at(batch, head.row - 1).map_err(|e| unreadable(&head.file, e))?;
        Ok(Some((event, &head.file)))
    }

    /// The head whose current row has the lowest position above `after`, opening files as the
    /// merge reaches them and dropping those read to the end.
    async fn lowest(&mut self) -> Result<Option<(usize, i64)>> {
        loop {
            let mut best: Option<(usize, i64)> = None;
            let mut i = 0;
            while i < self.heads.len() {
                let head = &mut self.heads[i];
                match head.position().await.map_err(|e| unreadable(&head.file, e))? {
                    Some(p) => {
                        if best.is_none_or(|(_, b)| p < b) {
                            best = Some((i, p));
                        }
                        i += 1;
                    }
                    None => {
                        self.heads.swap_remove(i);
                    }
                }
            }
            let reached = self
                .pending
                .front()
                .is_some_and(|f| best.is_none_or(|(_, b)| f.first_position.is_none_or(|first| first <= b)));
            if reached && let Some(file) = self.pending.pop_front() {
                let size = if self.sized_by_store {
                    self.objects.head(&Path::from(file.path.as_str())).await.map(|m| m.size)
                } else {
                    Ok(u64::try_from(file.bytes).unwrap_or(0))
                };
                let head = match size {
                    Ok(size) => open(&self.objects, &file, size, self.after, self.batch_rows).await,
                    Err(e) => Err(e.into()),
                };
                match head {
                    Ok(head) => self.heads.push(head),
                    Err(Error::Objects(object_store::Error::NotFound { .. })) if self.skip_missing => {
                        self.missing.push(file);
                    }
                    Err(e) => return Err(e),
                }
                continue;
            }
            match best {
                Some((i, p)) if p <= self.after => self.heads[i].row += 1,
                other => return Ok(other),
            }
        }
    }
}

/// An error reading `file`: the object store's own failures stay what they are (they may pass
/// on retry); anything else means the object is not a readable events file.
fn unreadable(file: &ColdFile, e: Error) -> Error {
    let reason = match e {
        Error::Objects(_) => return e,
        Error::Parquet(ParquetError::External(inner)) => match inner.downcast::<object_store::Error>() {
            Ok(e) => return Error::Objects(*e),
            Err(other) => other.to_string(),
        },
        other => other.to_string(),
    };
    Error::Unreadable {
        path: file.path.clone(),
        reason,
    }
}

/// One file being read: its current batch and row.
struct Head {
    file: ColdFile,
    stream: ParquetRecordBatchStream<FileReader>,
    batch: Option<RecordBatch>,
    row: usize,
}

impl Head {
    /// The position of the current row, reading the next batch when this one is done.
    async fn position(&mut self) -> Result<Option<i64>> {
        loop {
            if let Some(batch) = &self.batch
                && self.row < batch.num_rows()
            {
                return Ok(Some(batch.column(0).as_primitive::<Int64Type>().value(self.row)));
            }
            match self.stream.next().await {
                Some(batch) => {
                    self.batch = Some(batch?);
                    self.row = 0;
                }
                None => return Ok(None),
            }
        }
    }
}

/// A stream over the row groups of `file` (`size` bytes) that may hold positions above `after`.
async fn open(
    objects: &Arc<dyn ObjectStore>,
    file: &ColdFile,
    size: u64,
    after: i64,
    batch_rows: usize,
) -> Result<Head> {
    let reader = FileReader {
        objects: Arc::clone(objects),
        path: Path::from(file.path.as_str()),
        size,
    };
    let builder = ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(|e| unreadable(file, e.into()))?;
    let groups: Vec<usize> = builder
        .metadata()
        .row_groups()
        .iter()
        .enumerate()
        .filter(|(_, g)| match g.column(0).statistics() {
            Some(Statistics::Int64(s)) => s.max_opt().is_none_or(|max| *max > after),
            _ => true,
        })
        .map(|(i, _)| i)
        .collect();
    let stream = builder
        .with_row_groups(groups)
        .with_batch_size(batch_rows)
        .build()
        .map_err(|e| unreadable(file, e.into()))?;
    Ok(Head {
        file: file.clone(),
        stream,
        batch: None,
        row: 0,
    })
}

/// A cold file read through the object store; its size is known beforehand, so the footer is
/// one ranged read.
struct FileReader {
    objects: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
}

impl AsyncFileReader for FileReader {
    fn get_bytes(&mut self, range: std::ops::Range<u64>) -> BoxFuture<'_, parquet::errors::Result<bytes::Bytes>> {
        async move {
            self.objects
                .get_range(&self.path, range)
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata = ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

fn passes(event: &StoredEvent, filter: &ReplayFilter) -> bool {
    let time = match filter.time_field {
        TimeField::EventTime => event.event_time,
        TimeField::RecordedAt => Some(event.recorded_at),
    };
    let in_time = match (filter.from, filter.to) {
        (None, None) => true,
        (from, to) => time.is_some_and(|t| from.is_none_or(|f| t >= f) && to.is_none_or(|u| t < u)),
    };
    in_time
        && (filter.kinds.is_empty() || filter.kinds.iter().any(|k| k.as_str() == event.kind))
        && (filter.sources.is_empty() || filter.sources.contains(&event.source))
}

/// Row `i` of a batch in the events schema.
fn event_at(batch: &RecordBatch, i: usize) -> Result<StoredEvent> {
    let text = |c: usize| -> Option<String> {
        let a = batch.column(c).as_string::<i32>();
        (!a.is_null(i)).then(|| a.value(i).to_owned())
    };
    let time = |c: usize| -> Option<DateTime<Utc>> {
        let a = batch.column(c).as_primitive::<TimestampMicrosecondType>();
        (!a.is_null(i))
            .then(|| DateTime::from_timestamp_micros(a.value(i)))
            .flatten()
    };
    let int32 = |c: usize| -> Option<i32> {
        let a = batch.column(c).as_primitive::<Int32Type>();
        (!a.is_null(i)).then(|| a.value(i))
    };
    let ip = |c: usize| -> Result<Option<IpAddr>> {
        text(c)
            .map(|s| {
                s.parse()
                    .map_err(|_| Error::Verify(format!("cold file holds {s:?} as an IP address")))
            })
            .transpose()
    };
    let severity = {
        let a = batch.column(7).as_primitive::<Int16Type>();
        (!a.is_null(i)).then(|| a.value(i))
    };
    let fields = match text(18).map(|f| serde_json::from_str::<Value>(&f)) {
        Some(Ok(Value::Object(map))) => map,
        _ => Map::new(),
    };
    let required =
        |v: Option<String>, name: &str| v.ok_or_else(|| Error::Verify(format!("cold file row without {name}")));
    Ok(StoredEvent {
        position: batch.column(0).as_primitive::<Int64Type>().value(i),
        recorded_at: time(1).ok_or_else(|| Error::Verify("cold file row without recorded_at".into()))?,
        tenant_id: required(text(2), "tenant_id")?,
        event_time: time(3),
        kind: required(text(4), "kind")?,
        source: required(text(5), "source")?,
        event_id: text(6),
        severity,
        host_name: text(8),
        source_ip: ip(9)?,
        source_port: int32(10),
        destination_ip: ip(11)?,
        destination_port: int32(12),
        user_name: text(13),
        process_name: text(14),
        event_action: text(15),
        event_outcome: text(16),
        message: text(17),
        fields,
        raw: batch.column(19).as_binary::<i32>().value(i).to_vec(),
    })
}
