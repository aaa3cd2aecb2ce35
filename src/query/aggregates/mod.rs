//! Dashboard aggregates over both tiers, shaped for plotting: event counts per time bucket
//! grouped by one field (dense buckets, a bounded number of series), top values of a field,
//! and per-series metric statistics per bucket.

mod events;
mod metrics;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::{Error, HuntRequest, HuntStats, Params, QueryEngine, Result};
use crate::event::TenantId;

pub use events::{Bucket, EventCounts, GroupBy, Top, TopField, TopValue, events};
pub use metrics::{MetricPoint, MetricSeries, MetricStats, metrics};

/// Most buckets one aggregate may span.
pub const MAX_BUCKETS: i64 = 2_000;
/// Most series (groups, or metric label sets) one aggregate returns.
pub const MAX_SERIES: usize = 100;

/// The time range and bucket width of an aggregate.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub bucket_secs: i64,
}

impl Window {
    /// `to` defaults to now, `from` to a day before `to`, `bucket` (`30s`, `5m`, `1h`, `1d`) to 1h.
    pub fn new(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>, bucket: Option<&str>) -> Result<Window> {
        let to = to.unwrap_or_else(Utc::now);
        let from = from.unwrap_or(to - Duration::days(1));
        if from >= to {
            return Err(Error::BadRequest("`from` must be before `to`".into()));
        }
        let bucket_secs = bucket.map_or(Ok(3600), parse_bucket)?;
        let buckets = (to - from).num_seconds() / bucket_secs + 1;
        if buckets > MAX_BUCKETS {
            return Err(Error::BadRequest(format!(
                "{buckets} buckets of {bucket_secs} s between from and to; at most {MAX_BUCKETS}: widen the bucket or narrow the range"
            )));
        }
        Ok(Window { from, to, bucket_secs })
    }

    /// Bucket starts (aligned to the Unix epoch) covering `[from, to)`, in seconds.
    pub(crate) fn starts(&self) -> impl Iterator<Item = i64> + use<> {
        let first = self.from.timestamp().div_euclid(self.bucket_secs) * self.bucket_secs;
        let (end, step) = (self.to.timestamp(), self.bucket_secs);
        (0..).map(move |i| first + i * step).take_while(move |t| *t < end)
    }

    /// `date_bin` of `column` as Unix seconds; the width is our own number, never caller text.
    pub(crate) fn bin(&self, column: &str) -> String {
        format!(
            "to_unixtime(date_bin(INTERVAL '{} seconds', {column}, TIMESTAMP '1970-01-01T00:00:00Z'))",
            self.bucket_secs
        )
    }
}

fn parse_bucket(s: &str) -> Result<i64> {
    let bad = || Error::BadRequest(format!("bucket {s:?}: use a number and a unit s, m, h or d, e.g. 5m"));
    let s = s.trim();
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = digits.parse().map_err(|_| bad())?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(bad()),
    };
    if secs <= 0 { Err(bad()) } else { Ok(secs) }
}

/// Runs `sql` over the window and collects every row.
pub(crate) async fn run(
    engine: &QueryEngine,
    tenant: &TenantId,
    window: &Window,
    sql: String,
    params: Params,
) -> Result<(Vec<RecordBatch>, HuntStats)> {
    let req = HuntRequest {
        sql,
        params,
        from: Some(window.from),
        to: Some(window.to),
        limit: Some(engine.limits.max_rows),
        timeout: None,
    };
    let mut hunt = engine.hunt(tenant, req).await?;
    let mut batches = Vec::new();
    while let Some(batch) = hunt.next_batch().await? {
        batches.push(batch);
    }
    Ok((batches, hunt.stats()))
}

pub(crate) fn add(a: &mut HuntStats, b: &HuntStats) {
    a.hot_rows += b.hot_rows;
    a.cold_rows += b.cold_rows;
    a.cold_files += b.cold_files;
    a.cold_bytes += b.cold_bytes;
    a.elapsed_ms += b.elapsed_ms;
    a.pushed_down &= b.pushed_down;
}

/// Column `i` of every batch cast to `ty`.
fn column(batches: &[RecordBatch], i: usize, ty: &DataType) -> Result<Vec<ArrayRef>> {
    batches
        .iter()
        .map(|b| arrow::compute::cast(b.column(i), ty).map_err(|e| Error::Internal(e.to_string())))
        .collect()
}

pub(crate) fn int64(batches: &[RecordBatch], i: usize) -> Result<Vec<i64>> {
    let arrays = column(batches, i, &DataType::Int64)?;
    Ok(arrays
        .iter()
        .flat_map(|a| {
            let a = a.as_primitive::<Int64Type>();
            (0..a.len()).map(move |j| if a.is_null(j) { 0 } else { a.value(j) })
        })
        .collect())
}

pub(crate) fn float64(batches: &[RecordBatch], i: usize) -> Result<Vec<f64>> {
    let arrays = column(batches, i, &DataType::Float64)?;
    Ok(arrays
        .iter()
        .flat_map(|a| {
            let a = a.as_primitive::<Float64Type>();
            (0..a.len()).map(move |j| if a.is_null(j) { f64::NAN } else { a.value(j) })
        })
        .collect())
}

pub(crate) fn text(batches: &[RecordBatch], i: usize) -> Result<Vec<String>> {
    let arrays: Vec<ArrayRef> = column(batches, i, &DataType::Utf8)?;
    Ok(arrays
        .iter()
        .flat_map(|a| {
            let a = a.as_string::<i32>();
            (0..a.len()).map(move |j| {
                if a.is_null(j) {
                    String::new()
                } else {
                    a.value(j).to_owned()
                }
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_parse_and_their_count_is_bounded() {
        assert_eq!(parse_bucket("90s").unwrap(), 90);
        assert_eq!(parse_bucket("5m").unwrap(), 300);
        assert_eq!(parse_bucket("2d").unwrap(), 172_800);
        assert!(parse_bucket("0h").is_err() && parse_bucket("1w").is_err() && parse_bucket("h").is_err());
        let to = DateTime::parse_from_rfc3339("2026-11-20T00:00:00Z").unwrap().to_utc();
        let e = Window::new(Some(to - Duration::days(30)), Some(to), Some("1m")).unwrap_err();
        assert!(e.to_string().contains("at most 2000"), "{e}");
        let w = Window::new(Some(to - Duration::minutes(90)), Some(to), Some("1h")).unwrap();
        let starts: Vec<i64> = w.starts().collect();
        assert_eq!(
            starts,
            vec![to.timestamp() - 7200, to.timestamp() - 3600],
            "epoch-aligned, covering from"
        );
    }
}
