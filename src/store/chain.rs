//! Verification of the hash chain across both tiers. Each batch's events are read from the cold
//! files at or below a snapshot's watermark and from the hot table above it, re-encoded in their
//! canonical form and hashed; the hash must match the batch's record and its successor's link.
//! Events retention deleted cannot be hashed: their batch passes as expired only when deletions
//! recorded in the chain account for every missing event, and the cold files holding the rest of
//! it still have the SHA-256 recorded when they were tiered.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::BytesMut;
use object_store::ObjectStore;
use object_store::path::Path;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::copy::encode_event;
use super::read::{SELECT_COLUMNS, StoredEvent};
use super::{Error, Store};
use crate::tier::read::ColdMerge;
use crate::tier::{self, ColdFile, Snapshot};

/// Rows a cold file yields at a time while verifying; one such batch is held per open file.
const COLD_BATCH_ROWS: usize = 1024;

/// The outcome of a walk over the chain.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ChainReport {
    /// Batches whose hash was recomputed from their events and matched.
    pub batches_checked: u64,
    /// Events hashed in those batches: `hot_events_checked` from the hypertable plus
    /// `cold_events_checked` from Parquet files.
    pub events_checked: u64,
    pub hot_events_checked: u64,
    pub cold_events_checked: u64,
    /// Batches some of whose events retention deleted, each deletion recorded in the chain:
    /// their links are checked, their hash cannot be recomputed.
    pub batches_expired: u64,
    /// Events of those batches that retention deleted.
    pub events_expired: u64,
    /// Cold files holding the rest of the expired batches' events, each checked whole against
    /// the SHA-256 recorded when it was tiered.
    pub cold_files_checked: u64,
    /// Batches in the cold tier that were not read because no object store was given: their
    /// links are checked, their events are not.
    pub batches_unchecked: u64,
    /// The first batch that does not verify, if any.
    pub first_broken: Option<BrokenBatch>,
}

impl ChainReport {
    /// Nothing is broken and every batch was checked or accounted for.
    pub fn is_intact(&self) -> bool {
        self.first_broken.is_none() && self.batches_unchecked == 0
    }

    /// Batches the walk has passed, whatever their outcome.
    pub fn batches_walked(&self) -> u64 {
        self.batches_checked + self.batches_expired + self.batches_unchecked
    }
}

/// A batch that fails verification, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BrokenBatch {
    pub seq: i64,
    pub first_position: i64,
    pub last_position: i64,
    pub reason: String,
}

/// Walks the chain from the first batch under one tier snapshot, calling `progress` after each,
/// and stops at the first broken batch. Without an object store, batches in the cold tier are
/// counted as unchecked.
#[tracing::instrument(skip_all, err)]
pub async fn verify_chain(
    store: &Store,
    objects: Option<&Arc<dyn ObjectStore>>,
    mut progress: impl FnMut(&ChainReport),
) -> tier::Result<ChainReport> {
    let snapshot = Snapshot::take(store).await?;
    let result = walk(store, &snapshot, objects, &mut progress).await;
    snapshot.release().await;
    result
}

async fn walk(
    store: &Store,
    snapshot: &Snapshot,
    objects: Option<&Arc<dyn ObjectStore>>,
    progress: &mut impl FnMut(&ChainReport),
) -> tier::Result<ChainReport> {
    let mut walk = Walk {
        client: store.client().await?,
        watermark: snapshot.events_watermark,
        cold: match objects {
            Some(objects) => Some(Cold::open(snapshot, objects).await?),
            None => None,
        },
        report: ChainReport::default(),
        buf: BytesMut::new(),
    };
    let mut expected_prev = vec![0u8; 32];
    let mut expected_first = 1i64;
    let mut expected_seq = 1i64;
    let mut last_seq = 0i64;
    loop {
        let rows = walk
            .client
            .query(
                "SELECT seq, first_position, last_position, event_count, prev_hash, hash \
                 FROM log_batches WHERE seq > $1 ORDER BY seq LIMIT 1000",
                &[&last_seq],
            )
            .await
            .map_err(Error::from)?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let batch = Batch {
                seq: row.get(0),
                first: row.get(1),
                last: row.get(2),
                hash: row.get(5),
            };
            let (count, prev): (i32, Vec<u8>) = (row.get(3), row.get(4));
            last_seq = batch.seq;
            let broken = if batch.seq != expected_seq {
                Some(format!("batch {expected_seq} is missing"))
            } else if prev != expected_prev {
                Some("prev_hash does not match the previous batch's hash".to_owned())
            } else if batch.first != expected_first || batch.last - batch.first + 1 != i64::from(count) {
                Some(format!(
                    "position range {}..={} ({count} events) does not continue from position {}",
                    batch.first,
                    batch.last,
                    expected_first - 1
                ))
            } else {
                walk.check(&batch, &prev).await?
            };
            if let Some(reason) = broken {
                walk.report.first_broken = Some(batch.broken(reason));
                return Ok(walk.report);
            }
            expected_first = batch.last + 1;
            expected_seq = batch.seq + 1;
            expected_prev = batch.hash;
            progress(&walk.report);
        }
    }
    walk.finish(expected_seq, expected_first, &expected_prev).await
}

/// One batch as `log_batches` records it.
struct Batch {
    seq: i64,
    first: i64,
    last: i64,
    hash: Vec<u8>,
}

impl Batch {
    fn broken(&self, reason: String) -> BrokenBatch {
        BrokenBatch {
            seq: self.seq,
            first_position: self.first,
            last_position: self.last,
            reason,
        }
    }
}

/// The walk's readers and its running report.
struct Walk {
    client: deadpool_postgres::Object,
    /// Positions at or below it are in the cold tier.
    watermark: i64,
    /// `None` without an object store.
    cold: Option<Cold>,
    report: ChainReport,
    buf: BytesMut,
}

impl Walk {
    /// Reads the events of `batch` (whose links are already checked) and checks them; returns
    /// why the batch is broken, if it is.
    async fn check(&mut self, batch: &Batch, prev: &[u8]) -> tier::Result<Option<String>> {
        if batch.first <= self.watermark && self.cold.is_none() {
            self.report.batches_unchecked += 1;
            return Ok(None);
        }
        let mut read = BatchRead::new(batch.first, prev);
        if let Some(cold) = &mut self.cold
            && batch.first <= self.watermark
        {
            let upto = batch.last.min(self.watermark);
            match cold.read(&mut read, upto, &mut self.buf).await {
                Err(tier::Error::Unreadable { path, reason }) => {
                    return Ok(Some(format!("cold file {path} cannot be read: {reason}")));
                }
                Err(e) => return Err(e),
                Ok(Some(reason)) => return Ok(Some(reason)),
                Ok(None) => {}
            }
        }
        if batch.last > self.watermark {
            let rows = self
                .client
                .query(
                    &format!("SELECT {SELECT_COLUMNS} FROM events WHERE position BETWEEN $1 AND $2 ORDER BY position"),
                    &[&batch.first.max(self.watermark + 1), &batch.last],
                )
                .await
                .map_err(Error::from)?;
            for row in &rows {
                if let Err(reason) = read.push(&StoredEvent::from_row(row), &mut self.buf) {
                    return Ok(Some(reason));
                }
                read.hot += 1;
            }
        }
        read.end(batch.last);
        if read.missing.is_empty() {
            if read.hasher.finalize().as_slice() != batch.hash.as_slice() {
                let mut reason = "stored events do not match the batch hash: an event was altered".to_owned();
                if !read.files.is_empty() {
                    let paths: Vec<&str> = read.files.iter().map(|f| f.path.as_str()).collect();
                    reason.push_str(&format!(" (events read from cold files {})", paths.join(", ")));
                }
                return Ok(Some(reason));
            }
            self.report.batches_checked += 1;
            self.report.events_checked += read.hot + read.cold;
            self.report.hot_events_checked += read.hot;
            self.report.cold_events_checked += read.cold;
            return Ok(None);
        }
        let first_missing = read.missing[0].0;
        // Retention deletes cold files only: an event missing from the hot tier is never expired.
        let Some(cold) = self.cold.as_mut().filter(|_| batch.last <= self.watermark) else {
            return Ok(Some(format!("event at position {first_missing} is missing")));
        };
        cold.expire(&self.client, batch, &read, &mut self.report).await
    }

    /// The checks after the last batch: deletions that account for the wrong number of events,
    /// a head that does not match the last batch, and events beyond it.
    async fn finish(mut self, next_seq: i64, next_first: i64, last_hash: &[u8]) -> tier::Result<ChainReport> {
        let past_end = |first_position: i64, last_position: i64, reason: String| BrokenBatch {
            seq: next_seq,
            first_position,
            last_position,
            reason,
        };
        if let Some(cold) = &self.cold
            && let Some(expiry) = &cold.expiry
        {
            self.report.first_broken = expiry.unaccounted(cold.merge.missing());
        }
        let head = self
            .client
            .query_one("SELECT position, hash FROM log_head WHERE id = 1", &[])
            .await
            .map_err(Error::from)?;
        let (head_position, head_hash): (i64, Vec<u8>) = (head.get(0), head.get(1));
        if self.report.first_broken.is_none() && (head_position != next_first - 1 || head_hash != last_hash) {
            self.report.first_broken = Some(past_end(
                next_first,
                head_position,
                "log_head does not match the last batch: the chain was cut".into(),
            ));
        }
        let extra: i64 = self
            .client
            .query_one("SELECT count(*) FROM events WHERE position >= $1", &[&next_first])
            .await
            .map_err(Error::from)?
            .get(0);
        if self.report.first_broken.is_none() && extra > 0 {
            self.report.first_broken = Some(past_end(
                next_first,
                next_first + extra - 1,
                format!("{extra} events lie beyond the last batch of the chain"),
            ));
        }
        if self.report.first_broken.is_none()
            && let Some(cold) = &mut self.cold
            && let Some(position) = cold.merge.peek().await?
        {
            self.report.first_broken = Some(past_end(
                position,
                position,
                format!("a cold file holds an event at position {position}, beyond the last batch of the chain"),
            ));
        }
        Ok(self.report)
    }
}

/// The events of one batch as they are read, in position order.
struct BatchRead {
    hasher: Sha256,
    next: i64,
    /// Runs of positions with no event: first and last of each.
    missing: Vec<(i64, i64)>,
    hot: u64,
    cold: u64,
    /// The cold files the events came from.
    files: Vec<ColdFile>,
}

impl BatchRead {
    fn new(first: i64, prev: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(prev);
        BatchRead {
            hasher,
            next: first,
            missing: Vec::new(),
            hot: 0,
            cold: 0,
            files: Vec::new(),
        }
    }

    /// Hashes `event`, noting the positions skipped since the last; a position seen before
    /// breaks the batch.
    fn push(&mut self, event: &StoredEvent, buf: &mut BytesMut) -> Result<(), String> {
        if event.position < self.next {
            return Err(format!("event at position {} is stored twice", event.position));
        }
        if event.position > self.next {
            self.missing.push((self.next, event.position - 1));
        }
        self.next = event.position + 1;
        buf.clear();
        event.with_row(|r| encode_event(buf, r));
        self.hasher.update(&buf[..]);
        Ok(())
    }

    /// Notes the positions up to `last` that no event filled.
    fn end(&mut self, last: i64) {
        if self.next <= last {
            self.missing.push((self.next, last));
        }
    }

    fn missing_count(&self) -> u64 {
        self.missing.iter().map(|(a, b)| (b - a + 1) as u64).sum()
    }
}

/// The cold tier as the walk reads it: every registered event file merged by position.
struct Cold {
    objects: Arc<dyn ObjectStore>,
    watermark: i64,
    merge: ColdMerge,
    /// Paths of the event files the manifest lists.
    registered: HashSet<String>,
    /// The files of `action` events, where tiering and retention records may have moved.
    action_files: Vec<ColdFile>,
    /// Deletions recorded in the chain; loaded at the first missing cold event.
    expiry: Option<Expiry>,
    /// Files already checked whole.
    hashed: HashSet<String>,
}

impl Cold {
    async fn open(snapshot: &Snapshot, objects: &Arc<dyn ObjectStore>) -> tier::Result<Cold> {
        let files = snapshot.event_files().await?;
        let registered = files.iter().map(|f| f.path.clone()).collect();
        let action_files = files
            .iter()
            .filter(|f| f.kind.as_deref() == Some("action"))
            .cloned()
            .collect();
        Ok(Cold {
            objects: Arc::clone(objects),
            watermark: snapshot.events_watermark,
            action_files,
            merge: ColdMerge::new(objects, files, 0, COLD_BATCH_ROWS)
                .skip_missing()
                .sized_by_store(),
            registered,
            expiry: None,
            hashed: HashSet::new(),
        })
    }

    /// Adds the cold events up to position `upto` to `read`; returns why the batch is broken,
    /// if it is.
    async fn read(&mut self, read: &mut BatchRead, upto: i64, buf: &mut BytesMut) -> tier::Result<Option<String>> {
        while self.merge.peek().await?.is_some_and(|p| p <= upto) {
            let Some((event, file)) = self.merge.next().await? else {
                break;
            };
            if let Err(reason) = read.push(&event, buf) {
                return Ok(Some(reason));
            }
            read.cold += 1;
            if !read.files.iter().any(|f| f.id == file.id) {
                read.files.push(file.clone());
            }
        }
        Ok(None)
    }

    /// Accepts a cold batch with missing events as expired when recorded deletions cover every
    /// missing position and its surviving files hash as recorded; otherwise says why not.
    async fn expire(
        &mut self,
        client: &tokio_postgres::Client,
        batch: &Batch,
        read: &BatchRead,
        report: &mut ChainReport,
    ) -> tier::Result<Option<String>> {
        if self.expiry.is_none() {
            match Expiry::load(client, self).await {
                Ok(expiry) => self.expiry = Some(expiry),
                Err(tier::Error::Unreadable { path, reason }) => {
                    return Ok(Some(format!("cold file {path} cannot be read: {reason}")));
                }
                Err(e) => return Err(e),
            }
        }
        let Some(expiry) = self.expiry.as_mut() else {
            return Ok(None);
        };
        if let Err(position) = expiry.charge(batch, &read.missing) {
            return Ok(Some(format!(
                "event at position {position} is missing and no retention deletion recorded in the chain accounts for it{}",
                gone(self.merge.missing(), position, position)
            )));
        }
        for file in &read.files {
            if !self.hashed.insert(file.path.clone()) {
                continue;
            }
            let expected = expiry
                .moved
                .get(&file.path)
                .cloned()
                .unwrap_or_else(|| hex::encode(&file.sha256));
            let (actual, _) = tier::export::read_back(&self.objects, &Path::from(file.path.as_str())).await?;
            if hex::encode(actual) != expected {
                return Ok(Some(format!(
                    "cold file {} does not match the SHA-256 recorded when it was tiered: an event was altered",
                    file.path
                )));
            }
            report.cold_files_checked += 1;
        }
        report.batches_expired += 1;
        report.events_expired += read.missing_count();
        Ok(None)
    }
}

/// What the chain records about cold files: the deletions retention made, and the SHA-256 each
/// file had when it was tiered.
struct Expiry {
    /// Disjoint position ranges in order, each the union of overlapping deleted files' ranges.
    spans: Vec<Span>,
    /// Hex SHA-256 by path, from `tier.move` records.
    moved: HashMap<String, String>,
}

/// Deleted files whose position ranges overlap: the rows they held and the missing events
/// charged to them.
struct Span {
    first: i64,
    last: i64,
    rows: i64,
    missing: i64,
    /// The first batch charged: seq, first and last position.
    batch: Option<(i64, i64, i64)>,
}

impl Expiry {
    /// Reads the `retention.delete` and `tier.move` records of the log, from both tiers. A
    /// deletion of a file the manifest still lists is ignored, and each path counts once.
    async fn load(client: &tokio_postgres::Client, cold: &Cold) -> tier::Result<Expiry> {
        let mut deleted: HashMap<String, (i64, i64, i64)> = HashMap::new();
        let mut moved = HashMap::new();
        let mut note = |event: &StoredEvent| {
            if event.kind != "action" || event.source != tier::action::SOURCE {
                return;
            }
            let text = |key: &str| event.fields.get(key).and_then(Value::as_str);
            let number = |key: &str| event.fields.get(key).and_then(Value::as_i64);
            let Some(path) = text("tidemark.path") else {
                return;
            };
            match event.event_action.as_deref() {
                Some("tier.move") => {
                    if let Some(sha) = text("tidemark.sha256") {
                        moved.insert(path.to_owned(), sha.to_owned());
                    }
                }
                Some("retention.delete") if text("tidemark.table") == Some("events") => {
                    let range = (
                        number("tidemark.first_position"),
                        number("tidemark.last_position"),
                        number("tidemark.rows"),
                    );
                    if let (Some(first), Some(last), Some(rows)) = range
                        && !cold.registered.contains(path)
                    {
                        deleted.entry(path.to_owned()).or_insert((first, last, rows));
                    }
                }
                _ => {}
            }
        };
        let files = cold.action_files.clone();
        let mut merge = ColdMerge::new(&cold.objects, files, 0, COLD_BATCH_ROWS)
            .skip_missing()
            .sized_by_store();
        while let Some((event, _)) = merge.next().await? {
            note(&event);
        }
        let rows = client
            .query(
                &format!(
                    "SELECT {SELECT_COLUMNS} FROM events WHERE kind = 'action' AND source = $1 \
                     AND event_action IN ('retention.delete', 'tier.move') AND position > $2 ORDER BY position"
                ),
                &[&tier::action::SOURCE, &cold.watermark],
            )
            .await
            .map_err(Error::from)?;
        for row in &rows {
            note(&StoredEvent::from_row(row));
        }
        Ok(Expiry {
            spans: spans(deleted.into_values().collect()),
            moved,
        })
    }

    /// Charges the missing positions of `batch` to the spans covering them; the first position
    /// no recorded deletion covers is the error.
    fn charge(&mut self, batch: &Batch, missing: &[(i64, i64)]) -> Result<(), i64> {
        for &(first, last) in missing {
            let mut position = first;
            while position <= last {
                let i = self.spans.partition_point(|s| s.last < position);
                let Some(span) = self.spans.get_mut(i).filter(|s| s.first <= position) else {
                    return Err(position);
                };
                let end = last.min(span.last);
                span.missing += end - position + 1;
                span.batch.get_or_insert((batch.seq, batch.first, batch.last));
                position = end + 1;
            }
        }
        Ok(())
    }

    /// The first span whose missing events are not exactly the rows its deleted files held:
    /// events removed outside retention, or deletions that do not match what is gone.
    fn unaccounted(&self, gone_files: &[ColdFile]) -> Option<BrokenBatch> {
        let span = self.spans.iter().find(|s| s.missing > 0 && s.missing != s.rows)?;
        let (seq, first_position, last_position) = span.batch?;
        let reason = if span.missing > span.rows {
            format!(
                "{} events are missing in positions {}..={} but the retention deletions recorded in the chain \
                 account for {}: events were removed outside retention{}",
                span.missing,
                span.first,
                span.last,
                span.rows,
                gone(gone_files, span.first, span.last)
            )
        } else {
            format!(
                "the retention deletions recorded in the chain for positions {}..={} account for {} events \
                 but {} are missing",
                span.first, span.last, span.rows, span.missing
            )
        };
        Some(BrokenBatch {
            seq,
            first_position,
            last_position,
            reason,
        })
    }
}

/// Deleted files' (first position, last position, rows) merged into disjoint spans in order.
fn spans(mut deleted: Vec<(i64, i64, i64)>) -> Vec<Span> {
    deleted.sort_unstable();
    let mut spans: Vec<Span> = Vec::new();
    for (first, last, rows) in deleted {
        match spans.last_mut() {
            Some(span) if first <= span.last => {
                span.last = span.last.max(last);
                span.rows += rows;
            }
            _ => spans.push(Span {
                first,
                last,
                rows,
                missing: 0,
                batch: None,
            }),
        }
    }
    spans
}

/// Names the registered files overlapping `first..=last` that the object store does not have.
fn gone(files: &[ColdFile], first: i64, last: i64) -> String {
    files
        .iter()
        .filter(|f| f.first_position.is_some_and(|a| a <= last) && f.last_position.is_some_and(|b| b >= first))
        .map(|f| {
            format!(
                "; cold file {} is listed in the manifest but not in the object store",
                f.path
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(seq: i64, first: i64, last: i64) -> Batch {
        Batch {
            seq,
            first,
            last,
            hash: Vec::new(),
        }
    }

    /// Two tenants' files of one chunk (interleaved positions 1..=10) and one file of a later
    /// chunk (20..=29).
    fn expiry() -> Expiry {
        Expiry {
            spans: spans(vec![(20, 29, 10), (1, 9, 5), (2, 10, 5)]),
            moved: HashMap::new(),
        }
    }

    #[test]
    fn overlapping_deletions_form_one_span_with_their_rows_summed() {
        let e = expiry();
        let spans: Vec<_> = e.spans.iter().map(|s| (s.first, s.last, s.rows)).collect();
        assert_eq!(spans, vec![(1, 10, 10), (20, 29, 10)]);
    }

    #[test]
    fn missing_events_the_deleted_rows_account_for_pass() {
        let mut e = expiry();
        assert_eq!(e.charge(&batch(1, 1, 6), &[(1, 6)]), Ok(()));
        assert_eq!(e.charge(&batch(2, 7, 12), &[(7, 10)]), Ok(()));
        assert_eq!(e.charge(&batch(4, 20, 29), &[(20, 29)]), Ok(()));
        assert_eq!(e.unaccounted(&[]), None);
    }

    #[test]
    fn a_missing_event_outside_every_deleted_range_is_named() {
        let mut e = expiry();
        assert_eq!(e.charge(&batch(2, 7, 12), &[(9, 12)]), Err(11));
    }

    #[test]
    fn more_missing_events_than_deleted_rows_name_the_first_batch_charged() {
        // One file of 5 rows among positions 1..=9 was deleted; another file there was removed too.
        let mut e = Expiry {
            spans: spans(vec![(1, 9, 5)]),
            moved: HashMap::new(),
        };
        e.charge(&batch(1, 1, 4), &[(1, 4)]).unwrap();
        e.charge(&batch(2, 5, 9), &[(5, 9)]).unwrap();
        let broken = e.unaccounted(&[]).expect("9 missing where 5 rows were deleted");
        assert_eq!((broken.seq, broken.first_position, broken.last_position), (1, 1, 4));
        assert!(broken.reason.contains("outside retention"), "{}", broken.reason);
    }

    #[test]
    fn fewer_missing_events_than_deleted_rows_break_the_chain_too() {
        let mut e = expiry();
        e.charge(&batch(4, 20, 29), &[(20, 24), (26, 29)]).unwrap();
        let broken = e.unaccounted(&[]).expect("9 missing where 10 rows were deleted");
        assert_eq!(broken.seq, 4);
        assert!(
            broken.reason.contains("account for 10 events but 9"),
            "{}",
            broken.reason
        );
    }
}
