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

/// Labels of one connector's series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectorLabels {
    pub tenant: String,
    pub connector: String,
}

/// A connector's dropped-message series, one per reason.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectorDropLabels {
    pub tenant: String,
    pub connector: String,
    pub reason: &'static str,
}

impl ConnectorDropLabels {
    pub fn new(c: &ConnectorLabels, reason: &'static str) -> Self {
        ConnectorDropLabels {
            tenant: c.tenant.clone(),
            connector: c.connector.clone(),
            reason,
        }
    }
}

/// A connector's state series: 1 for the state it is in, 0 for the others.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectorStateLabels {
    pub tenant: String,
    pub connector: String,
    pub state: &'static str,
}

impl ConnectorStateLabels {
    pub fn new(c: &ConnectorLabels, state: &'static str) -> Self {
        ConnectorStateLabels {
            tenant: c.tenant.clone(),
            connector: c.connector.clone(),
            state,
        }
    }
}

/// Labels of one projection's series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProjectionLabels {
    pub projection: String,
}

/// Labels of analyst actions: the action and how it ended (ok, conflict, stale_version, ...).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    pub action: String,
    pub outcome: String,
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
    pub projection_lag_events: Family<ProjectionLabels, Gauge>,
    pub projection_position: Family<ProjectionLabels, Gauge>,
    pub projection_events: Family<ProjectionLabels, Counter>,
    pub projection_batch_seconds: Family<ProjectionLabels, Histogram>,
    pub soc_actions: Family<ActionLabels, Counter>,
    pub evidence_bytes: Counter,
    pub connector_received: Family<ConnectorLabels, Counter>,
    pub connector_parsed: Family<ConnectorLabels, Counter>,
    pub connector_stored: Family<ConnectorLabels, Counter>,
    pub connector_bytes: Family<ConnectorLabels, Counter>,
    pub connector_connections: Family<ConnectorLabels, Counter>,
    pub connector_truncated: Family<ConnectorLabels, Counter>,
    pub connector_dropped: Family<ConnectorDropLabels, Counter>,
    pub connector_state: Family<ConnectorStateLabels, Gauge>,
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
            projection_lag_events: Family::default(),
            projection_position: Family::default(),
            projection_events: Family::default(),
            projection_batch_seconds: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.0005, 2.0, 16))
            }),
            soc_actions: Family::default(),
            evidence_bytes: Counter::default(),
            connector_received: Family::default(),
            connector_parsed: Family::default(),
            connector_stored: Family::default(),
            connector_bytes: Family::default(),
            connector_connections: Family::default(),
            connector_truncated: Family::default(),
            connector_dropped: Family::default(),
            connector_state: Family::default(),
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
        registry.register(
            "projection_lag_events",
            "Log positions not yet folded into a projection's live version",
            m.projection_lag_events.clone(),
        );
        registry.register(
            "projection_position",
            "Checkpoint of a projection's live version",
            m.projection_position.clone(),
        );
        registry.register(
            "projection_events",
            "Events folded into a projection by this process",
            m.projection_events.clone(),
        );
        registry.register(
            "projection_batch_seconds",
            "Time to apply one projection batch and its checkpoint",
            m.projection_batch_seconds.clone(),
        );
        registry.register(
            "soc_actions",
            "Analyst actions on alerts and incidents, by outcome",
            m.soc_actions.clone(),
        );
        registry.register(
            "evidence_bytes",
            "Bytes of evidence files stored",
            m.evidence_bytes.clone(),
        );
        for (name, help, family) in [
            (
                "connector_received",
                "Messages a connector received",
                &m.connector_received,
            ),
            (
                "connector_parsed",
                "Messages a parser understood (the rest are stored as text)",
                &m.connector_parsed,
            ),
            (
                "connector_stored",
                "Messages a connector committed to the log",
                &m.connector_stored,
            ),
            (
                "connector_bytes",
                "Bytes a connector read off the wire",
                &m.connector_bytes,
            ),
            (
                "connector_connections",
                "Connections accepted (TCP, TLS)",
                &m.connector_connections,
            ),
            (
                "connector_truncated",
                "Messages cut to the connector's maximum size",
                &m.connector_truncated,
            ),
        ] {
            registry.register(name, help, family.clone());
        }
        registry.register(
            "connector_dropped",
            "Messages (or connections, for connection_limit and tls_handshake) a connector dropped, by reason",
            m.connector_dropped.clone(),
        );
        registry.register(
            "connector_state",
            "1 for the state a connector is in (starting, active, warning, error, stopped)",
            m.connector_state.clone(),
        );
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
