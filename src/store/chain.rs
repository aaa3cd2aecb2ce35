//! Verification of the hash chain: every batch's hash is recomputed from the stored rows and
//! checked against its record and its successor's link.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::copy::encode_event;
use super::read::{SELECT_COLUMNS, StoredEvent};
use super::{Result, Store};

/// The outcome of a walk over the chain.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ChainReport {
    pub batches_checked: u64,
    pub events_checked: u64,
    /// The first batch that does not verify, if any.
    pub first_broken: Option<BrokenBatch>,
}

impl ChainReport {
    pub fn is_intact(&self) -> bool {
        self.first_broken.is_none()
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

/// Walks the chain from the first batch, calling `progress` after each, and stops at the
/// first broken batch.
#[tracing::instrument(skip_all, err)]
pub async fn verify_chain(store: &Store, mut progress: impl FnMut(&ChainReport)) -> Result<ChainReport> {
    let client = store.client().await?;
    let mut report = ChainReport {
        batches_checked: 0,
        events_checked: 0,
        first_broken: None,
    };
    let mut expected_prev = vec![0u8; 32];
    let mut expected_first = 1i64;
    let mut expected_seq = 1i64;
    let mut last_seq = 0i64;
    let mut buf = bytes::BytesMut::new();
    loop {
        let batches = client
            .query(
                "SELECT seq, first_position, last_position, event_count, prev_hash, hash \
                 FROM log_batches WHERE seq > $1 ORDER BY seq LIMIT 1000",
                &[&last_seq],
            )
            .await?;
        if batches.is_empty() {
            break;
        }
        for b in &batches {
            let (seq, first, last, count): (i64, i64, i64, i32) = (b.get(0), b.get(1), b.get(2), b.get(3));
            let (prev, hash): (Vec<u8>, Vec<u8>) = (b.get(4), b.get(5));
            last_seq = seq;
            let broken = |reason: String| BrokenBatch {
                seq,
                first_position: first,
                last_position: last,
                reason,
            };
            if seq != expected_seq {
                report.first_broken = Some(broken(format!("batch {expected_seq} is missing")));
                return Ok(report);
            }
            if prev != expected_prev {
                report.first_broken = Some(broken("prev_hash does not match the previous batch's hash".into()));
                return Ok(report);
            }
            if first != expected_first || last - first + 1 != i64::from(count) {
                report.first_broken = Some(broken(format!(
                    "position range {first}..={last} ({count} events) does not continue from position {}",
                    expected_first - 1
                )));
                return Ok(report);
            }
            let rows = client
                .query(
                    &format!("SELECT {SELECT_COLUMNS} FROM events WHERE position BETWEEN $1 AND $2 ORDER BY position"),
                    &[&first, &last],
                )
                .await?;
            let mut hasher = Sha256::new();
            hasher.update(&prev);
            let mut next = first;
            for row in &rows {
                let event = StoredEvent::from_row(row);
                if event.position != next {
                    report.first_broken = Some(broken(format!("event at position {next} is missing")));
                    return Ok(report);
                }
                next += 1;
                buf.clear();
                event.with_row(|r| encode_event(&mut buf, r));
                hasher.update(&buf);
            }
            if next != last + 1 {
                report.first_broken = Some(broken(format!("event at position {next} is missing")));
                return Ok(report);
            }
            if hasher.finalize().as_slice() != hash.as_slice() {
                report.first_broken = Some(broken(
                    "stored events do not match the batch hash: an event was altered".into(),
                ));
                return Ok(report);
            }
            report.batches_checked += 1;
            report.events_checked += rows.len() as u64;
            expected_prev = hash;
            expected_first = last + 1;
            expected_seq = seq + 1;
            progress(&report);
        }
    }
    let head = client
        .query_one("SELECT position, hash FROM log_head WHERE id = 1", &[])
        .await?;
    let (head_position, head_hash): (i64, Vec<u8>) = (head.get(0), head.get(1));
    if head_position != expected_first - 1 || head_hash != expected_prev {
        report.first_broken = Some(BrokenBatch {
            seq: expected_seq,
            first_position: expected_first,
            last_position: head_position,
            reason: "log_head does not match the last batch: the chain was cut".into(),
        });
    }
    let extra: i64 = client
        .query_one(
            "SELECT count(*) FROM events WHERE position > $1",
            &[&(expected_first - 1)],
        )
        .await?
        .get(0);
    if report.first_broken.is_none() && extra > 0 {
        report.first_broken = Some(BrokenBatch {
            seq: expected_seq,
            first_position: expected_first,
            last_position: expected_first + extra - 1,
            reason: format!("{extra} events lie beyond the last batch of the chain"),
        });
    }
    Ok(report)
}
