//! A connector's counters and health. The counters are the Prometheus counters themselves
//! (labelled by tenant and connector), so `/metrics`, the API and the saved status read one
//! set of numbers.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use prometheus_client::metrics::counter::Counter;
use serde::Serialize;

use crate::telemetry::{ConnectorDropLabels, ConnectorLabels, ConnectorStateLabels, Metrics};

/// How long an error keeps a running connector in `warning`.
const WARNING_FOR: Duration = Duration::from_secs(60);

/// Why a message was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Nothing but line ends or NULs.
    Empty,
    FilteredSeverity,
    FilteredFacility,
    RateLimited,
    /// The appender's queue was full (UDP cannot push back).
    QueueFull,
    /// The database refused or could not take the batch.
    StoreFailed,
    /// The kernel's receive buffer overflowed before the listener read the datagram.
    UdpReceiveBuffer,
    /// An `event.id` already stored.
    Duplicate,
    /// A connection refused because the connector serves its maximum already (counts connections).
    ConnectionLimit,
    /// A TLS handshake that failed (counts connections).
    TlsHandshake,
}

impl DropReason {
    pub const ALL: [DropReason; 10] = [
        DropReason::Empty,
        DropReason::FilteredSeverity,
        DropReason::FilteredFacility,
        DropReason::RateLimited,
        DropReason::QueueFull,
        DropReason::StoreFailed,
        DropReason::UdpReceiveBuffer,
        DropReason::Duplicate,
        DropReason::ConnectionLimit,
        DropReason::TlsHandshake,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Empty => "empty",
            DropReason::FilteredSeverity => "filtered_severity",
            DropReason::FilteredFacility => "filtered_facility",
            DropReason::RateLimited => "rate_limited",
            DropReason::QueueFull => "queue_full",
            DropReason::StoreFailed => "store_failed",
            DropReason::UdpReceiveBuffer => "udp_receive_buffer",
            DropReason::Duplicate => "duplicate",
            DropReason::ConnectionLimit => "connection_limit",
            DropReason::TlsHandshake => "tls_handshake",
        }
    }

    fn index(self) -> usize {
        DropReason::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }

    /// Dropped by the connector's own policy, as configured: not a sign of trouble.
    fn is_policy(self) -> bool {
        matches!(
            self,
            DropReason::Empty | DropReason::FilteredSeverity | DropReason::FilteredFacility | DropReason::RateLimited
        )
    }
}

/// A connector's state as the API and health report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Starting,
    Active,
    /// Running, with an error in the last minute (failed appends, dropped data, failed handshakes).
    Warning,
    /// Not running: it could not bind, its TLS files are unusable, or its task died.
    Error,
    /// Disabled.
    Stopped,
}

impl State {
    pub const ALL: [State; 5] = [
        State::Starting,
        State::Active,
        State::Warning,
        State::Error,
        State::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Active => "active",
            State::Warning => "warning",
            State::Error => "error",
            State::Stopped => "stopped",
        }
    }

    pub fn parse(s: &str) -> State {
        State::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .unwrap_or(State::Error)
    }
}

/// Counter values at one moment, as saved in `connector_status` and shown by the API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub received: u64,
    pub parsed: u64,
    pub stored: u64,
    pub bytes: u64,
    pub connections: u64,
    pub truncated: u64,
    /// Reason → count, only the reasons that occurred.
    pub dropped: std::collections::BTreeMap<String, u64>,
}

/// Status fields besides the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Health {
    pub last_successful_connection: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

#[derive(Debug)]
struct Inner {
    /// Set by the supervisor; `Active` turns into `Warning` while an error is recent.
    base: State,
    health: Health,
    error_seen: Option<Instant>,
}

/// Counters and health of one connector, shared by its listener tasks.
#[derive(Debug)]
pub struct Stats {
    pub received: Counter,
    pub parsed: Counter,
    pub stored: Counter,
    pub bytes: Counter,
    pub connections: Counter,
    pub truncated: Counter,
    dropped: Vec<Counter>,
    labels: ConnectorLabels,
    inner: Mutex<Inner>,
}

impl Stats {
    /// Counters registered under `labels`, starting from `saved` totals and health.
    pub fn new(metrics: &Metrics, labels: ConnectorLabels, saved: &Totals, health: Health) -> Self {
        let counter = |family: &prometheus_client::metrics::family::Family<ConnectorLabels, Counter>, start: u64| {
            let c = family.get_or_create(&labels).clone();
            c.inc_by(start.saturating_sub(c.get()));
            c
        };
        let dropped = DropReason::ALL
            .iter()
            .map(|r| {
                let c = metrics
                    .connector_dropped
                    .get_or_create(&ConnectorDropLabels::new(&labels, r.as_str()))
                    .clone();
                let start = saved.dropped.get(r.as_str()).copied().unwrap_or(0);
                c.inc_by(start.saturating_sub(c.get()));
                c
            })
            .collect();
        let stats = Stats {
            received: counter(&metrics.connector_received, saved.received),
            parsed: counter(&metrics.connector_parsed, saved.parsed),
            stored: counter(&metrics.connector_stored, saved.stored),
            bytes: counter(&metrics.connector_bytes, saved.bytes),
            connections: counter(&metrics.connector_connections, saved.connections),
            truncated: counter(&metrics.connector_truncated, saved.truncated),
            dropped,
            labels,
            inner: Mutex::new(Inner {
                base: State::Starting,
                health,
                error_seen: None,
            }),
        };
        stats.publish_state(metrics);
        stats
    }

    pub fn labels(&self) -> &ConnectorLabels {
        &self.labels
    }

    /// Counts `n` messages (or connections, for the connection reasons) dropped for `reason`.
    pub fn dropped(&self, reason: DropReason, n: u64) {
        if let Some(c) = self.dropped.get(reason.index()) {
            c.inc_by(n);
        }
        if !reason.is_policy() {
            self.lock().error_seen = Some(Instant::now());
        }
    }

    /// Records an error that leaves the connector running (it shows as `warning` for a minute).
    pub fn error(&self, message: &str) {
        let mut inner = self.lock();
        inner.health.last_error = Some(message.to_owned());
        inner.health.last_error_at = Some(Utc::now());
        inner.error_seen = Some(Instant::now());
    }

    /// A connection accepted (TCP), a handshake completed (TLS) or a datagram received (UDP).
    pub fn connected(&self) {
        self.lock().health.last_successful_connection = Some(Utc::now());
    }

    /// Sets the state the supervisor knows of; `error` keeps `message` as the last error.
    pub fn set_state(&self, metrics: &Metrics, state: State, message: Option<&str>) {
        {
            let mut inner = self.lock();
            inner.base = state;
            if let Some(message) = message {
                inner.health.last_error = Some(message.to_owned());
                inner.health.last_error_at = Some(Utc::now());
            }
        }
        self.publish_state(metrics);
    }

    /// The current state: `active` reads as `warning` while an error is recent.
    pub fn state(&self) -> State {
        let inner = self.lock();
        match inner.base {
            State::Active if inner.error_seen.is_some_and(|at| at.elapsed() < WARNING_FOR) => State::Warning,
            other => other,
        }
    }

    /// Sets the `connector_state` gauge: 1 for the current state, 0 for the others.
    pub fn publish_state(&self, metrics: &Metrics) {
        let current = self.state();
        for state in State::ALL {
            metrics
                .connector_state
                .get_or_create(&ConnectorStateLabels::new(&self.labels, state.as_str()))
                .set(i64::from(state == current));
        }
    }

    pub fn health(&self) -> Health {
        self.lock().health.clone()
    }

    pub fn totals(&self) -> Totals {
        Totals {
            received: self.received.get(),
            parsed: self.parsed.get(),
            stored: self.stored.get(),
            bytes: self.bytes.get(),
            connections: self.connections.get(),
            truncated: self.truncated.get(),
            dropped: DropReason::ALL
                .iter()
                .zip(&self.dropped)
                .filter(|(_, c)| c.get() > 0)
                .map(|(r, c)| (r.as_str().to_owned(), c.get()))
                .collect(),
        }
    }

    /// Removes this connector's series from `/metrics` (it was deleted or renamed).
    pub fn unregister(&self, metrics: &Metrics) {
        let l = &self.labels;
        for family in [
            &metrics.connector_received,
            &metrics.connector_parsed,
            &metrics.connector_stored,
            &metrics.connector_bytes,
            &metrics.connector_connections,
            &metrics.connector_truncated,
        ] {
            family.remove(l);
        }
        for r in DropReason::ALL {
            metrics
                .connector_dropped
                .remove(&ConnectorDropLabels::new(l, r.as_str()));
        }
        for s in State::ALL {
            metrics
                .connector_state
                .remove(&ConnectorStateLabels::new(l, s.as_str()));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}
