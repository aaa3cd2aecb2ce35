//! `GET /api/v1/aggregates/metrics`: avg, min, max and p95 per bucket of each series.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use datafusion::scalar::ScalarValue;
use serde::Serialize;

use super::{MAX_SERIES, Window, float64, int64, run, text};
use crate::event::TenantId;
use crate::query::{HuntStats, Params, QueryEngine, Result};

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
pub async fn metrics(
    engine: &QueryEngine,
    tenant: &TenantId,
    window: Window,
    name: Option<&str>,
) -> Result<MetricStats> {
    let (filter, params) = match name {
        Some(name) => (
            "WHERE name = $metric",
            Params::Named(HashMap::from([(
                "metric".to_owned(),
                ScalarValue::Utf8(Some(name.to_owned())),
            )])),
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
        // Rows come ordered by name and labels: a new pair starts a new series.
        let same = i > 0 && names[i] == names[i - 1] && labels[i] == labels[i - 1];
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
