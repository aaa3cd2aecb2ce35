//! Dashboard aggregates over both tiers, shaped for plotting: event counts per time bucket
//! grouped by one field (dense buckets, a bounded number of series), top values of a field,
//! and per-series metric statistics per bucket.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use chrono::{DateTime, Duration, Utc};
use datafusion::scalar::ScalarValue;
use serde::Serialize;

use super::{Error, HuntRequest, HuntStats, Params, QueryEngine, Result};
use crate::event::TenantId;

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
    fn starts(&self) -> impl Iterator<Item = i64> + use<> {
        let first = self.from.timestamp().div_euclid(self.bucket_secs) * self.bucket_secs;
        let (end, step) = (self.to.timestamp(), self.bucket_secs);
        (0..).map(move |i| first + i * step).take_while(move |t| *t < end)
    }

    /// `date_bin` of `column` as Unix seconds; the width is our own number, never caller text.
    fn bin(&self, column: &str) -> String {
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

/// The field event counts are grouped by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    #[default]
    Kind,
    Severity,
    Source,
    Host,
}

/// A field whose most frequent values are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopField {
    SourceIp,
    UserName,
    HostName,
}

impl TopField {
    fn column(self) -> &'static str {
        match self {
            TopField::SourceIp => "source_ip",
            TopField::UserName => "user_name",
            TopField::HostName => "host_name",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Bucket {
    /// The bucket's start.
    pub t: DateTime<Utc>,
    pub total: u64,
    /// Count per group; every series is present in every bucket (0 when none).
    pub series: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize)]
pub struct TopValue {
    pub value: String,
    pub count: u64,
}

#[derive(Debug, Serialize)]
pub struct Top {
    pub field: TopField,
    pub values: Vec<TopValue>,
}

/// `GET /api/v1/aggregates/events`.
#[derive(Debug, Serialize)]
pub struct EventCounts {
    #[serde(flatten)]
    pub window: Window,
    pub group_by: GroupBy,
    /// Series names, largest first; groups past the limit are summed into `(other)`.
    pub series: Vec<String>,
    pub buckets: Vec<Bucket>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top: Option<Top>,
    pub stats: HuntStats,
}

/// Event counts per bucket and group, and optionally the top `n` values of `top`.
pub async fn events(
    engine: &QueryEngine,
    tenant: &TenantId,
    window: Window,
    group_by: GroupBy,
    top: Option<TopField>,
    n: usize,
) -> Result<EventCounts> {
    let n = n.clamp(1, MAX_SERIES);
    let group = match group_by {
        GroupBy::Kind => "kind",
        GroupBy::Severity => "CAST(severity AS VARCHAR)",
        GroupBy::Source => "source",
        GroupBy::Host => "host_name",
    };
    let sql = format!(
        "SELECT {} AS t, COALESCE({group}, '(none)') AS g, count(*) AS n FROM events GROUP BY 1, 2",
        window.bin("event_time")
    );
    let (rows, mut stats) = run(engine, tenant, &window, sql, Params::None).await?;
    let (t, g, c) = (int64(&rows, 0)?, text(&rows, 1)?, int64(&rows, 2)?);
    let mut totals: HashMap<&str, i64> = HashMap::new();
    for (g, c) in g.iter().zip(&c) {
        *totals.entry(g.as_str()).or_default() += c;
    }
    let mut series: Vec<(&str, i64)> = totals.into_iter().collect();
    series.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut names: Vec<String> = series.iter().take(n).map(|(s, _)| (*s).to_owned()).collect();
    if series.len() > n {
        names.push("(other)".to_owned());
    }
    let mut counts: HashMap<i64, BTreeMap<String, u64>> = HashMap::new();
    for ((t, g), c) in t.iter().zip(&g).zip(&c) {
        let key = if names.contains(g) { g.clone() } else { "(other)".to_owned() };
        *counts.entry(*t).or_default().entry(key).or_default() += *c as u64;
    }
    let buckets = window
        .starts()
        .map(|start| {
            let mut series: BTreeMap<String, u64> = names.iter().map(|s| (s.clone(), 0)).collect();
            if let Some(found) = counts.get(&start) {
                series.extend(found.iter().map(|(k, v)| (k.clone(), *v)));
            }
            Bucket {
                t: DateTime::from_timestamp(start, 0).unwrap_or_default(),
                total: series.values().sum(),
                series,
            }
        })
        .collect();
    let top = match top {
        Some(field) => {
            let col = field.column();
            let sql = format!(
                "SELECT {col} AS v, count(*) AS n FROM events WHERE {col} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {n}"
            );
            let (rows, top_stats) = run(engine, tenant, &window, sql, Params::None).await?;
            add(&mut stats, &top_stats);
            let values = text(&rows, 0)?
                .into_iter()
                .zip(int64(&rows, 1)?)
                .map(|(value, count)| TopValue {
                    value,
                    count: count as u64,
                })
                .collect();
            Some(Top { field, values })
        }
        None => None,
    };
    Ok(EventCounts {
        window,
        group_by,
        series: names,
        buckets,
        top,
        stats,
    })
}

#[derive(Debug, Serialize)]
pub struct MetricPoint {
    pub t: DateTime<Utc>,
    pub avg: f64,
    pub min: f64,
    pub max: f64,
    pub p95: f64,
    pub count: u64,
}

#[derive(Debug, Serialize)]
pub struct MetricSeries {
    pub name: String,
    pub labels: serde_json::Value,
    /// Buckets with samples, in time order.
    pub points: Vec<MetricPoint>,
}

/// `GET /api/v1/aggregates/metrics`.
#[derive(Debug, Serialize)]
pub struct MetricStats {
    #[serde(flatten)]
    pub window: Window,
    pub series: Vec<MetricSeries>,
    /// True when more than [`MAX_SERIES`] series matched and the rest were left out.
    pub truncated: bool,
    pub stats: HuntStats,
}

/// avg, min, max and p95 of each series (name and labels) per bucket; `name` selects one metric.
pub async fn metrics(engine: &QueryEngine, tenant: &TenantId, window: Window, name: Option<&str>) -> Result<MetricStats> {
    let (filter, params) = match name {
        Some(name) => (
            "WHERE name = $metric",
            Params::Named(HashMap::from([("metric".to_owned(), ScalarValue::Utf8(Some(name.to_owned())))])),
        ),
        None => ("", Params::None),
    };
    let sql = format!(
        "SELECT name, labels, {} AS t, avg(value), min(value), max(value), \
         percentile_cont(0.95) WITHIN GROUP (ORDER BY value), count(*) \
         FROM metrics {filter} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        window.bin("time")
    );
    let (rows, stats) = run(engine, tenant, &window, sql, params).await?;
    let (names, labels, t) = (text(&rows, 0)?, text(&rows, 1)?, int64(&rows, 2)?);
    let (avg, min, max, p95, count) = (
        float64(&rows, 3)?,
        float64(&rows, 4)?,
        float64(&rows, 5)?,
        float64(&rows, 6)?,
        int64(&rows, 7)?,
    );
    let mut series: Vec<MetricSeries> = Vec::new();
    let mut truncated = false;
    for i in 0..names.len() {
        let same = series
            .last()
            .is_some_and(|s| s.name == names[i] && s.labels == parse_labels(&labels[i]));
        if !same {
            if series.len() == MAX_SERIES {
                truncated = true;
                break;
            }
            series.push(MetricSeries {
                name: names[i].clone(),
                labels: parse_labels(&labels[i]),
                points: Vec::new(),
            });
        }
        if let Some(s) = series.last_mut() {
            s.points.push(MetricPoint {
                t: DateTime::from_timestamp(t[i], 0).unwrap_or_default(),
                avg: avg[i],
                min: min[i],
                max: max[i],
                p95: p95[i],
                count: count[i] as u64,
            });
        }
    }
    Ok(MetricStats {
        window,
        series,
        truncated,
        stats,
    })
}

fn parse_labels(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_owned()))
}

/// Runs `sql` over the window and collects every row.
async fn run(
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

fn add(a: &mut HuntStats, b: &HuntStats) {
    a.hot_rows += b.hot_rows;
    a.cold_rows += b.cold_rows;
    a.cold_files += b.cold_files;
    a.cold_bytes += b.cold_bytes;
    a.elapsed_ms += b.elapsed_ms;
}

/// Column `i` of every batch cast to `ty`.
fn column(batches: &[RecordBatch], i: usize, ty: &DataType) -> Result<Vec<ArrayRef>> {
    batches
        .iter()
        .map(|b| arrow::compute::cast(b.column(i), ty).map_err(|e| Error::Internal(e.to_string())))
        .collect()
}

fn int64(batches: &[RecordBatch], i: usize) -> Result<Vec<i64>> {
    let arrays = column(batches, i, &DataType::Int64)?;
    Ok(arrays
        .iter()
        .flat_map(|a| {
            let a = a.as_primitive::<Int64Type>();
            (0..a.len()).map(move |j| if a.is_null(j) { 0 } else { a.value(j) })
        })
        .collect())
}

fn float64(batches: &[RecordBatch], i: usize) -> Result<Vec<f64>> {
    let arrays = column(batches, i, &DataType::Float64)?;
    Ok(arrays
        .iter()
        .flat_map(|a| {
            let a = a.as_primitive::<Float64Type>();
            (0..a.len()).map(move |j| if a.is_null(j) { f64::NAN } else { a.value(j) })
        })
        .collect())
}

fn text(batches: &[RecordBatch], i: usize) -> Result<Vec<String>> {
    let arrays: Vec<Arc<dyn Array>> = column(batches, i, &DataType::Utf8)?;
    Ok(arrays
        .iter()
        .flat_map(|a| {
            let a = a.as_string::<i32>();
            (0..a.len()).map(move |j| if a.is_null(j) { String::new() } else { a.value(j).to_owned() })
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
        assert_eq!(starts, vec![to.timestamp() - 7200, to.timestamp() - 3600], "epoch-aligned, covering from");
    }
}
