//! Replay across both tiers: a page of a tenant's events in position order, taken from the cold
//! files at or below the watermark first and the hot tier above it, under one snapshot.
//! A chunk's files (one per kind) are merged by position as they stream, so a page costs
//! about one batch per file, whatever the chunk's size.

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
        let mut cursor = after;
        for chunk in by_chunk(files) {
            let want = usize::try_from(limit).unwrap_or(0).saturating_sub(page.len());
            if want == 0 {
                break;
            }
            let events = merge_chunk(objects, &chunk, cursor, want, filter).await?;
            cursor = events.last().map_or(cursor, |e| e.position);
            page.extend(events);
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

/// Files grouped by chunk, in position order (files come sorted by first position).
fn by_chunk(files: Vec<ColdFile>) -> Vec<Vec<ColdFile>> {
    let mut groups: Vec<Vec<ColdFile>> = Vec::new();
    for file in files {
        match groups.iter_mut().find(|g| g[0].chunk == file.chunk) {
            Some(group) => group.push(file),
            None => groups.push(vec![file]),
        }
    }
    groups
}

/// One file being read: its current batch and row.
struct Head {
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

/// Merges the files of one chunk by position: up to `want` events above `after` that pass
/// `filter`.
async fn merge_chunk(
    objects: &Arc<dyn ObjectStore>,
    files: &[ColdFile],
    after: i64,
    want: usize,
    filter: &ReplayFilter,
) -> Result<Vec<StoredEvent>> {
    let mut heads = Vec::with_capacity(files.len());
    for file in files {
        heads.push(open(objects, file, after, want).await?);
    }
    let mut out = Vec::new();
    while out.len() < want {
        let mut best: Option<(usize, i64)> = None;
        for (i, head) in heads.iter_mut().enumerate() {
            if let Some(p) = head.position().await?
                && best.is_none_or(|(_, b)| p < b)
            {
                best = Some((i, p));
            }
        }
        let Some((i, position)) = best else { break };
        let head = &mut heads[i];
        head.row += 1;
        if position <= after || filter.to_position.is_some_and(|to| position > to) {
            continue;
        }
        let batch = head
            .batch
            .as_ref()
            .ok_or_else(|| Error::Verify("cold file batch vanished".into()))?;
        let event = event_at(batch, head.row - 1)?;
        if passes(&event, filter) {
            out.push(event);
        }
    }
    Ok(out)
}

/// A stream over the row groups of `file` that may hold positions above `after`.
async fn open(objects: &Arc<dyn ObjectStore>, file: &ColdFile, after: i64, want: usize) -> Result<Head> {
    let reader = FileReader {
        objects: Arc::clone(objects),
        path: Path::from(file.path.as_str()),
        size: u64::try_from(file.bytes).unwrap_or(0),
    };
    let builder = ParquetRecordBatchStreamBuilder::new(reader).await?;
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
        .with_batch_size(want.clamp(64, 8192))
        .build()?;
    Ok(Head {
        stream,
        batch: None,
        row: 0,
    })
}

/// A cold file read through the object store; its size comes from the manifest, so the footer
/// is one ranged read.
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
