//! Syslog listeners: UDP datagrams, and TCP or TLS streams framed by [`super::framing`]. Each
//! message goes through one [`Intake`]: severity and facility filters, the per-source-IP rate
//! limit, then the parser with the connector's options, then the appender. Every message that
//! is not stored is counted in [`Stats`] under its reason.

mod pri;
mod tcp;
mod udp;

use std::net::IpAddr;
use std::sync::Arc;

use chrono::Utc;

pub use pri::{Filter, Severity, facility_from_json};
pub use tcp::{serve_tcp, serve_tls};
pub use udp::{bind_udp, serve_udp};

use super::ratelimit::RateLimiter;
use super::stats::{DropReason, Stats};
use crate::event::{NewEvent, TenantId, canonical_json};
use crate::parse::{Format, ParseContext, parse_record};
use crate::store::{AppendJob, Appender};

/// How a listener treats what it receives.
#[derive(Debug, Clone)]
pub struct ListenerOptions {
    pub source: String,
    pub format: Format,
    pub tz: Option<chrono_tz::Tz>,
    /// Longest message kept; longer ones are truncated and counted.
    pub max_message: usize,
    pub filter: Filter,
    /// Messages per second and burst, per source IP.
    pub rate_limit: Option<(f64, u32)>,
}

impl ListenerOptions {
    /// Options with no filter and no rate limit.
    pub fn new(source: impl Into<String>, format: Format) -> Self {
        ListenerOptions {
            source: source.into(),
            format,
            tz: None,
            max_message: crate::ingest::connector::DEFAULT_MAX_MESSAGE,
            filter: Filter::default(),
            rate_limit: None,
        }
    }
}

/// What every listener of one connector shares: its options, tenant, counters, rate limiter
/// and the appender.
pub struct Intake {
    pub tenant: TenantId,
    pub opts: ListenerOptions,
    pub stats: Arc<Stats>,
    limiter: Option<RateLimiter>,
    appender: Appender,
}

impl Intake {
    pub fn new(tenant: TenantId, opts: ListenerOptions, stats: Arc<Stats>, appender: Appender) -> Self {
        let limiter = opts
            .rate_limit
            .map(|(per_second, burst)| RateLimiter::new(per_second, burst));
        Intake {
            tenant,
            opts,
            stats,
            limiter,
            appender,
        }
    }

    /// One message from `peer`, as an event unless a filter or the rate limit drops it.
    /// Trailing line ends and NULs are framing, not message.
    pub fn message(&self, bytes: &[u8], truncated: bool, peer: IpAddr) -> Option<NewEvent> {
        self.stats.received.inc();
        if truncated {
            self.stats.truncated.inc();
        }
        let end = bytes
            .iter()
            .rposition(|b| !matches!(b, b'\n' | b'\r' | b'\0'))
            .map_or(0, |i| i + 1);
        let bytes = &bytes[..end];
        if bytes.is_empty() {
            self.stats.dropped(DropReason::Empty, 1);
            return None;
        }
        if let Some(reason) = self.opts.filter.refuses(pri::priority(bytes)) {
            self.stats.dropped(reason, 1);
            return None;
        }
        if let Some(limiter) = &self.limiter
            && !limiter.allow(peer)
        {
            self.stats.dropped(DropReason::RateLimited, 1);
            return None;
        }
        let ctx = ParseContext {
            received_at: Utc::now(),
            tz: self.opts.tz,
        };
        let parsed = parse_record(bytes, self.opts.format, &self.opts.source, &ctx);
        if parsed.parse_error.is_none() {
            self.stats.parsed.inc();
        }
        let mut event = parsed.event;
        if truncated {
            mark_truncated(&mut event);
        }
        Some(event)
    }

    /// Stores `events`, waiting for room when the appender's queue is full and retrying while
    /// the database is unreachable, for as long as `keep_trying` says: a stream's sender then
    /// feels the slowdown. Returns false if the events were dropped.
    pub async fn store_waiting(&self, mut events: Vec<NewEvent>, keep_trying: impl Fn() -> bool + Sync) -> bool {
        // One read can hold more messages than the appender's whole queue.
        while events.len() > self.max_batch() {
            let rest = events.split_off(self.max_batch());
            if !self.store_chunk(events, &keep_trying).await {
                self.failed_quietly(rest.len() as u64);
                return false;
            }
            events = rest;
        }
        self.store_chunk(events, &keep_trying).await
    }

    async fn store_chunk(&self, events: Vec<NewEvent>, keep_trying: &(dyn Fn() -> bool + Sync)) -> bool {
        const RETRY: std::time::Duration = std::time::Duration::from_millis(500);
        if events.is_empty() {
            return true;
        }
        let count = events.len() as u64;
        loop {
            let job = self.job(events.clone());
            match self.appender.append_waiting(job).await {
                Ok(receipt) => return self.stored(count, &receipt),
                Err(e) if e.is_transient() && keep_trying() => {
                    self.stats.error(&format!("storing messages: {e}; retrying"));
                    tokio::time::sleep(RETRY).await;
                }
                Err(e) => {
                    self.failed(count, &e);
                    return false;
                }
            }
        }
    }

    /// Most messages one append may carry.
    pub fn max_batch(&self) -> usize {
        self.appender.max_job_events().max(1)
    }

    /// Stores `events` if the appender takes them now; a full queue or an unreachable
    /// database drops them (datagrams cannot be pushed back to their sender).
    pub async fn store_or_drop(&self, events: Vec<NewEvent>) {
        if events.is_empty() {
            return;
        }
        let count = events.len() as u64;
        match self.appender.append(self.job(events)).await {
            Ok(receipt) => {
                self.stored(count, &receipt);
            }
            Err(e) => self.failed(count, &e),
        }
    }

    fn job(&self, events: Vec<NewEvent>) -> AppendJob {
        AppendJob {
            tenant: self.tenant.clone(),
            events,
            dead_letters: Vec::new(),
        }
    }

    fn stored(&self, count: u64, receipt: &crate::store::Receipt) -> bool {
        let duplicates = receipt.duplicates as u64;
        self.stats.stored.inc_by(count.saturating_sub(duplicates));
        if duplicates > 0 {
            self.stats.dropped(DropReason::Duplicate, duplicates);
        }
        true
    }

    /// Messages given up on after an earlier part of their batch failed (already logged).
    fn failed_quietly(&self, count: u64) {
        if count > 0 {
            self.stats.dropped(DropReason::StoreFailed, count);
        }
    }

    fn failed(&self, count: u64, e: &crate::store::Error) {
        let reason = match e {
            crate::store::Error::Overloaded { .. } => DropReason::QueueFull,
            _ => DropReason::StoreFailed,
        };
        self.stats.dropped(reason, count);
        self.stats.error(&format!("{count} messages not stored: {e}"));
        tracing::warn!(error = %e, count, source = %self.opts.source, "syslog messages not stored");
    }
}

/// Adds `tidemark.truncated: true` so a reader knows `raw` is only the message's start.
fn mark_truncated(event: &mut NewEvent) {
    if let Ok(serde_json::Value::Object(mut map)) = serde_json::from_str(&event.fields_json) {
        map.insert("tidemark.truncated".into(), serde_json::Value::Bool(true));
        event.fields_json = canonical_json(&map);
    }
}
