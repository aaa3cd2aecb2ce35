//! What the benches share: the throwaway cluster and its fresh databases, the raw `COPY`
//! anchor's CSV encoding, and number formatting. Included by each bench with `mod common;`.
#![allow(dead_code, unreachable_pub)]

pub mod auth;

use std::io::Write as _;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::SinkExt;
use tidemark::config::Settings;
use tidemark::event::NewEvent;
use tidemark::store::{self, Store};
use tokio_postgres::NoTls;
use tokio_postgres::config::Host;

/// Size of the CopyData chunks on the COPY path: large, as `psql \copy` streams a file.
const COPY_CHUNK_BYTES: usize = 8 << 20;
/// The `events` columns, in the order the appender writes them.
pub const EVENT_COLUMNS: &str = "position, recorded_at, tenant_id, event_time, kind, source, event_id, severity, \
     host_name, source_ip, source_port, destination_ip, destination_port, user_name, process_name, event_action, \
     event_outcome, message, fields, raw";

// ---------------------------------------------------------------------------------------
// Settings

/// The test cluster's connection string, refused unless it is local: the bench creates and
/// drops databases, which must never happen on a shared server.
pub fn cluster_conn() -> Result<String> {
    let Ok(conn) = std::env::var("TIDEMARK_TEST_PG") else {
        bail!("TIDEMARK_TEST_PG is not set: run the bench with `make bench`, which starts a throwaway cluster");
    };
    let config: tokio_postgres::Config = conn.parse().context("parsing TIDEMARK_TEST_PG")?;
    for host in config.get_hosts() {
        if let Host::Tcp(name) = host {
            let loopback = name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
            ensure!(
                loopback,
                "TIDEMARK_TEST_PG points at {name}; the bench only runs on a local cluster"
            );
        }
    }
    Ok(conn)
}

/// A positive count from the environment; `1_000_000` is accepted as written in Rust.
pub fn env_count(name: &str, default: usize) -> Result<usize> {
    let Ok(text) = std::env::var(name) else {
        return Ok(default);
    };
    let n: usize = text
        .replace('_', "")
        .parse()
        .with_context(|| format!("{name}={text:?} is not a number"))?;
    ensure!(n > 0, "{name} must be at least 1");
    Ok(n)
}

// ---------------------------------------------------------------------------------------
// Databases

/// The admin connection to the cluster and the databases this run created.
pub struct Cluster {
    base: String,
    admin: tokio_postgres::Client,
    created: Vec<String>,
}

/// One fresh, migrated database.
pub struct BenchDb {
    pub name: String,
    pub conn: String,
    pub store: Store,
}

impl Cluster {
    pub async fn connect(base: &str) -> Result<Self> {
        let admin = connect(&format!("{base} dbname=postgres")).await?;
        Ok(Cluster {
            base: base.to_owned(),
            admin,
            created: Vec::new(),
        })
    }

    /// Creates and migrates a database, then checkpoints so the previous run's dirty pages
    /// are not flushed on this run's clock.
    pub async fn fresh_database(&mut self, label: &str) -> Result<BenchDb> {
        let name = format!("bench_{}_{label}", std::process::id());
        // The process id keeps the name apart from any earlier run's.
        self.admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .with_context(|| format!("creating database {name}"))?;
        self.created.push(name.clone());
        let conn = format!("{} dbname={name}", self.base);
        let store = Store::new(conn.parse()?, Settings::default().db_max_connections)?;
        store::migrate(&store).await.context("migrating")?;
        self.admin.batch_execute("CHECKPOINT").await?;
        Ok(BenchDb { name, conn, store })
    }

    /// Drops `db` at once, so a many-round run does not fill the disk.
    pub async fn drop_database(&mut self, db: BenchDb) {
        let BenchDb { name, store, .. } = db;
        // Close the pool's connections first; FORCE would end them anyway.
        drop(store);
        if self.drop_named(&name).await {
            self.created.retain(|n| *n != name);
        }
    }

    /// Drops every database still listed.
    pub async fn drop_databases(&self) {
        for name in &self.created {
            self.drop_named(name).await;
        }
    }

    /// Best effort: a failure here only leaves a database in a throwaway cluster.
    async fn drop_named(&self, name: &str) -> bool {
        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        match self.admin.batch_execute(&sql).await {
            Ok(()) => true,
            Err(e) => {
                eprintln!("warning: could not drop database {name}: {e}");
                false
            }
        }
    }
}

impl BenchDb {
    pub async fn client(&self) -> Result<tokio_postgres::Client> {
        connect(&self.conn).await
    }

    /// Fails unless `events` holds exactly `expected` rows.
    pub async fn check_count(&self, expected: usize) -> Result<()> {
        let stored: i64 = self
            .client()
            .await?
            .query_one("SELECT count(*) FROM events", &[])
            .await?
            .get(0);
        ensure!(
            usize::try_from(stored) == Ok(expected),
            "events holds {stored} rows, expected {expected}"
        );
        Ok(())
    }
}

pub async fn connect(conn: &str) -> Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(conn, NoTls)
        .await
        .context("connecting to the test cluster")?;
    tokio::spawn(connection);
    Ok(client)
}

/// The anchor: `events` as CSV chunks ([`csv_chunks`]) in one `COPY ... FROM STDIN`
/// transaction, as `psql \copy` would load them. Returns the time the load took.
pub async fn copy_load(db: &BenchDb, chunks: Vec<Bytes>, expected: usize) -> Result<Duration> {
    let mut client = db.client().await?;
    let started = Instant::now();
    let tx = client.transaction().await?;
    let sink = tx
        .copy_in(&format!("COPY events ({EVENT_COLUMNS}) FROM STDIN (FORMAT csv)"))
        .await?;
    futures_util::pin_mut!(sink);
    for chunk in chunks {
        sink.send(chunk).await?;
    }
    let rows = sink.finish().await?;
    tx.commit().await?;
    let elapsed = started.elapsed();
    ensure!(
        rows == expected as u64,
        "COPY reported {rows} rows, expected {expected}"
    );
    db.check_count(expected).await?;
    Ok(elapsed)
}

// ---------------------------------------------------------------------------------------
// CSV encoding for the COPY anchor

/// `events` as the appender would write them in one batch (positions 1..=n, one
/// `recorded_at`), in CSV chunks of about [`COPY_CHUNK_BYTES`].
pub fn csv_chunks(tenant: &str, events: impl IntoIterator<Item = Result<NewEvent>>) -> Result<Vec<Bytes>> {
    let recorded_at = DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap_or_default();
    let mut chunks = Vec::new();
    let mut chunk = Vec::with_capacity(COPY_CHUNK_BYTES + 4096);
    for (i, event) in events.into_iter().enumerate() {
        write_csv_row(&mut chunk, tenant, i as i64 + 1, recorded_at, &event?)?;
        if chunk.len() >= COPY_CHUNK_BYTES {
            chunks.push(Bytes::from(std::mem::replace(
                &mut chunk,
                Vec::with_capacity(COPY_CHUNK_BYTES + 4096),
            )));
        }
    }
    if !chunk.is_empty() {
        chunks.push(Bytes::from(chunk));
    }
    Ok(chunks)
}

/// One row in [`EVENT_COLUMNS`] order. An unquoted empty field is NULL in CSV, so every
/// present text value is quoted.
pub fn write_csv_row(
    out: &mut Vec<u8>,
    tenant: &str,
    position: i64,
    recorded_at: DateTime<Utc>,
    e: &NewEvent,
) -> Result<()> {
    write!(out, "{position},")?;
    csv_time(out, Some(recorded_at));
    csv_text(out, Some(tenant));
    csv_time(out, e.event_time);
    csv_text(out, Some(e.kind.as_str()));
    csv_text(out, Some(&e.source));
    csv_text(out, e.event_id.as_deref());
    csv_plain(out, e.severity);
    csv_text(out, e.host_name.as_deref());
    csv_plain(out, e.source_ip);
    csv_plain(out, e.source_port);
    csv_plain(out, e.destination_ip);
    csv_plain(out, e.destination_port);
    csv_text(out, e.user_name.as_deref());
    csv_text(out, e.process_name.as_deref());
    csv_text(out, e.event_action.as_deref());
    csv_text(out, e.event_outcome.as_deref());
    csv_text(out, e.message.as_deref());
    csv_text(out, Some(&e.fields_json));
    // bytea in hex input format; the last field takes the newline instead of a comma.
    out.extend_from_slice(b"\\x");
    out.extend_from_slice(hex::encode(&e.raw).as_bytes());
    out.push(b'\n');
    Ok(())
}

fn csv_text(out: &mut Vec<u8>, value: Option<&str>) {
    if let Some(s) = value {
        out.push(b'"');
        for b in s.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    }
    out.push(b',');
}

/// A value whose text form needs no quoting (numbers, addresses).
fn csv_plain(out: &mut Vec<u8>, value: Option<impl std::fmt::Display>) {
    if let Some(v) = value {
        // Writing to a Vec cannot fail.
        let _ = write!(out, "{v}");
    }
    out.push(b',');
}

fn csv_time(out: &mut Vec<u8>, value: Option<DateTime<Utc>>) {
    csv_plain(out, value.map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true)));
}

/// `1234567.8` as `1,234,568`.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A 64-bit linear congruential generator (Knuth's MMIX constants): deterministic inputs
/// without a dependency, good enough to vary log fields.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}
