//! Logs and metrics: `tracing` set up once at start (JSON or pretty), and the Prometheus
//! registry every component reports into.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing_subscriber::EnvFilter;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Installs the global subscriber. `RUST_LOG` overrides `default_filter`.
pub fn init(format: LogFormat, default_filter: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
    // A second call (tests) keeps the first subscriber.
    drop(installed);
}

/// Labels of one HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

/// Every metric Tidemark exports on `/metrics`.
pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_seconds: Family<HttpLabels, Histogram>,
    pub events_appended: Counter,
    pub events_duplicate: Counter,
    pub dead_letters: Counter,
    pub ingest_refused: Counter,
    pub append_batches: Counter,
    pub append_failures: Counter,
    pub append_batch_events: Histogram,
    pub append_commit_seconds: Histogram,
    pub append_queue_events: Gauge,
    pub append_connected: Gauge,
    pub append_last_commit_age_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub metric_samples: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tidemark");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_seconds = Family::<HttpLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 16))
        });
        let m = Metrics {
            http_requests,
            http_seconds,
            events_appended: Counter::default(),
            events_duplicate: Counter::default(),
            dead_letters: Counter::default(),
            ingest_refused: Counter::default(),
            append_batches: Counter::default(),
            append_failures: Counter::default(),
            append_batch_events: Histogram::new(exponential_buckets(1.0, 4.0, 9)),
            append_commit_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            append_queue_events: Gauge::default(),
            append_connected: Gauge::default(),
            append_last_commit_age_seconds: Gauge::default(),
            metric_samples: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            m.http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            m.http_seconds.clone(),
        );
        registry.register(
            "events_appended",
            "Events committed to the log",
            m.events_appended.clone(),
        );
        registry.register(
            "events_duplicate",
            "Events skipped because their event.id was already stored",
            m.events_duplicate.clone(),
        );
        registry.register(
            "dead_letters",
            "Records stored in the dead-letter table",
            m.dead_letters.clone(),
        );
        registry.register(
            "ingest_refused",
            "Ingest requests refused with 503 (overload or database down)",
            m.ingest_refused.clone(),
        );
        registry.register(
            "append_batches",
            "Group-commit transactions committed",
            m.append_batches.clone(),
        );
        registry.register(
            "append_failures",
            "Group-commit transactions that failed",
            m.append_failures.clone(),
        );
        registry.register(
            "append_batch_events",
            "Events per committed batch",
            m.append_batch_events.clone(),
        );
        registry.register(
            "append_commit_seconds",
            "Time to write and commit one batch",
            m.append_commit_seconds.clone(),
        );
        registry.register(
            "append_queue_events",
            "Events waiting for the appender",
            m.append_queue_events.clone(),
        );
        registry.register(
            "append_connected",
            "1 when the appender holds a database connection",
            m.append_connected.clone(),
        );
        registry.register(
            "append_last_commit_age_seconds",
            "Seconds since the last commit",
            m.append_last_commit_age_seconds.clone(),
        );
        registry.register("metric_samples", "Metric samples stored", m.metric_samples.clone());
        Metrics { registry, ..m }
    }

    /// The registry in Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
