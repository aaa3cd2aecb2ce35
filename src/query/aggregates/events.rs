//! `GET /api/v1/aggregates/events`: counts per bucket and group, and a field's top values.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{MAX_SERIES, Window, add, int64, run, text};
use crate::event::TenantId;
use crate::query::{HuntStats, Params, QueryEngine, Result};

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
        let key = if names.contains(g) {
            g.clone()
        } else {
            "(other)".to_owned()
        };
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
