//! Ingest throughput, measured against a raw `COPY` anchor.
//!
//! Run with `make bench` (a throwaway TimescaleDB cluster; `TIDEMARK_TEST_PG` names it).
//! `TIDEMARK_BENCH_EVENTS` sets the event count (default 1,000,000); `TIDEMARK_BENCH_ROUNDS`
//! (default 1) repeats the three runs, interleaved, and reports the median of each: on a
//! small shared machine one run can be off by a quarter.
//!
//! Three paths load the same generated auth events into an identical, freshly migrated
//! database each:
//!
//! - raw COPY: the normalized rows as CSV through `COPY events FROM STDIN` in one
//!   transaction, as `psql \copy` would. The ceiling: no positions, hashing or API.
//! - appender: `AppendJob`s submitted straight to the group-commit appender.
//! - HTTP: NDJSON bodies POSTed to the in-process API, which parses, normalizes and appends.
//!
//! Only the load itself is timed; generating, normalizing and encoding inputs is not.

use std::io::Write as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tidemark::config::Settings;
use tidemark::event::{NewEvent, Role, TenantId};
use tidemark::store::{self, AppendJob, Appender, AppenderOptions, Store};
use tidemark::telemetry::Metrics;
use tokio_postgres::NoTls;
use tokio_postgres::config::Host;

const DEFAULT_EVENTS: usize = 1_000_000;
const TENANT: &str = "bench";
/// Concurrent submitters on the appender and HTTP paths.
const CONCURRENCY: usize = 4;
/// Events per `AppendJob` on the appender path.
const JOB_EVENTS: usize = 1_000;
/// Jobs each appender submitter keeps in flight. 4 x 10 x 1,000 = 40,000 events waiting is
/// two full group-commit batches (20,000 by default): the next batch is always queued while
/// one commits, so the run measures the appender and not the submitters' round trips. It
/// stays well under the 200,000-event queue limit, so nothing is refused as overloaded.
const JOBS_IN_FLIGHT: usize = 10;
/// Events per NDJSON request body on the HTTP path; each client has one request in flight,
/// as a log shipper would.
const BODY_EVENTS: usize = 2_000;
/// Size of the CopyData chunks on the COPY path: large, as `psql \copy` streams a file.
const COPY_CHUNK_BYTES: usize = 8 << 20;
/// The `events` columns, in the order the appender writes them.
const EVENT_COLUMNS: &str = "position, recorded_at, tenant_id, event_time, kind, source, event_id, severity, \
     host_name, source_ip, source_port, destination_ip, destination_port, user_name, process_name, event_action, \
     event_outcome, message, fields, raw";

#[tokio::main]
async fn main() -> Result<()> {
    let base = cluster_conn()?;
    let events = env_count("TIDEMARK_BENCH_EVENTS", DEFAULT_EVENTS)?;
    let rounds = env_count("TIDEMARK_BENCH_ROUNDS", 1)?;
    eprintln!("generating {events} auth events");
    let lines = generate_events(events);
    let mut cluster = Cluster::connect(&base).await?;
    let outcome = run_rounds(&mut cluster, &lines, rounds).await;
    // Whatever a failed run left behind.
    cluster.drop_databases().await;
    print_report(&medians(outcome?), rounds);
    Ok(())
}

/// `rounds` times the three runs, each on its own fresh database, dropped once checked.
/// Interleaving the paths spreads any drift of the machine over all three.
async fn run_rounds(cluster: &mut Cluster, lines: &[String], rounds: usize) -> Result<Vec<Measurement>> {
    let mut results = Vec::new();
    for round in 1..=rounds {
        eprintln!("round {round} of {rounds}");
        let db = cluster.fresh_database(&format!("copy_{round}")).await?;
        results.push(bench_copy(&db, lines).await.context("raw COPY run")?);
        cluster.drop_database(db).await;
        let db = cluster.fresh_database(&format!("appender_{round}")).await?;
        results.push(bench_appender(&db, lines).await.context("appender run")?);
        cluster.drop_database(db).await;
        let db = cluster.fresh_database(&format!("http_{round}")).await?;
        results.push(bench_http(&db, lines).await.context("HTTP run")?);
        cluster.drop_database(db).await;
    }
    Ok(results)
}

// ---------------------------------------------------------------------------------------
// Settings

/// The test cluster's connection string, refused unless it is local: the bench creates and
/// drops databases, which must never happen on a shared server.
fn cluster_conn() -> Result<String> {
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
fn env_count(name: &str, default: usize) -> Result<usize> {
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
struct Cluster {
    base: String,
    admin: tokio_postgres::Client,
    created: Vec<String>,
}

/// One fresh, migrated database.
struct BenchDb {
    name: String,
    conn: String,
    store: Store,
}

impl Cluster {
    async fn connect(base: &str) -> Result<Self> {
        let admin = connect(&format!("{base} dbname=postgres")).await?;
        Ok(Cluster {
            base: base.to_owned(),
            admin,
            created: Vec::new(),
        })
    }

    /// Creates and migrates a database, then checkpoints so the previous run's dirty pages
    /// are not flushed on this run's clock.
    async fn fresh_database(&mut self, label: &str) -> Result<BenchDb> {
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
    async fn drop_database(&mut self, db: BenchDb) {
        let BenchDb { name, store, .. } = db;
        // Close the pool's connections first; FORCE would end them anyway.
        drop(store);
        if self.drop_named(&name).await {
            self.created.retain(|n| *n != name);
        }
    }

    /// Drops every database still listed.
    async fn drop_databases(&self) {
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
    async fn client(&self) -> Result<tokio_postgres::Client> {
        connect(&self.conn).await
    }

    /// Fails unless `events` holds exactly `expected` rows.
    async fn check_count(&self, expected: usize) -> Result<()> {
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

async fn connect(conn: &str) -> Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(conn, NoTls)
        .await
        .context("connecting to the test cluster")?;
    tokio::spawn(connection);
    Ok(client)
}

// ---------------------------------------------------------------------------------------
// Event generation

/// A 64-bit linear congruential generator (Knuth's MMIX constants): deterministic inputs
/// without a dependency, good enough to vary log fields.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const HOSTS: &[&str] = &[
    "bastion-1",
    "bastion-2",
    "web-01",
    "web-02",
    "web-03",
    "db-01",
    "ci-runner-4",
    "vpn-gw",
];
const VALID_USERS: &[&str] = &["root", "ubuntu", "deploy", "alice", "bob", "postgres", "git"];
const GUESSED_USERS: &[&str] = &["admin", "test", "oracle", "user", "pi", "ftpuser", "support", "guest"];
const SUDO_COMMANDS: &[&str] = &[
    "/usr/bin/systemctl restart nginx",
    "/usr/bin/apt-get update",
    "/usr/bin/journalctl -u ssh --since today",
    "/bin/cat /etc/shadow",
    "/usr/bin/docker ps -a",
];
/// First octets of the scanning networks; the rest is random.
const SOURCE_NETS: &[u8] = &[45, 61, 89, 103, 116, 185, 193, 218, 222];
/// 2026-11-20T00:00:00Z: events are spread forward from here, about 37 ms apart.
const START_MS: i64 = 1_795_132_800_000;

/// `n` NDJSON lines: 60 % failed sshd passwords, 25 % accepted public keys, 15 % sudo.
fn generate_events(n: usize) -> Vec<String> {
    let mut rng = Lcg(0x7469_6465);
    (0..n).map(|i| auth_event(i, &mut rng).to_string()).collect()
}

fn auth_event(i: usize, rng: &mut Lcg) -> serde_json::Value {
    let millis = START_MS + i as i64 * 37 + rng.below(37) as i64;
    let timestamp = DateTime::from_timestamp_millis(millis)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true);
    let host = rng.pick(HOSTS);
    let pid = 1_000 + rng.below(60_000);
    match rng.below(100) {
        0..60 => failed_password(rng, &timestamp, host, pid),
        60..85 => accepted_publickey(rng, &timestamp, host, pid),
        _ => sudo_command(rng, &timestamp, host, pid),
    }
}

fn failed_password(rng: &mut Lcg, timestamp: &str, host: &str, pid: usize) -> serde_json::Value {
    let (user, invalid) = if rng.below(2) == 0 {
        (rng.pick(VALID_USERS), "")
    } else {
        (rng.pick(GUESSED_USERS), "invalid user ")
    };
    let (ip, port) = (remote_ip(rng), 1_024 + rng.below(64_000));
    json!({
        "@timestamp": timestamp,
        "event": {"kind": "log", "dataset": "system.auth", "action": "ssh_login", "outcome": "failure"},
        "host": {"name": host},
        "source": {"ip": ip, "port": port},
        "user": {"name": user},
        "process": {"name": "sshd", "pid": pid},
        "log": {"level": "info"},
        "message": format!("Failed password for {invalid}{user} from {ip} port {port} ssh2"),
    })
}

fn accepted_publickey(rng: &mut Lcg, timestamp: &str, host: &str, pid: usize) -> serde_json::Value {
    let user = rng.pick(VALID_USERS);
    let (ip, port) = (remote_ip(rng), 1_024 + rng.below(64_000));
    let fingerprint = key_fingerprint(rng);
    json!({
        "@timestamp": timestamp,
        "event": {"kind": "log", "dataset": "system.auth", "action": "ssh_login", "outcome": "success"},
        "host": {"name": host},
        "source": {"ip": ip, "port": port},
        "user": {"name": user},
        "process": {"name": "sshd", "pid": pid},
        "log": {"level": "info"},
        "message": format!("Accepted publickey for {user} from {ip} port {port} ssh2: ED25519 SHA256:{fingerprint}"),
    })
}

fn sudo_command(rng: &mut Lcg, timestamp: &str, host: &str, pid: usize) -> serde_json::Value {
    let user = rng.pick(VALID_USERS);
    let command = rng.pick(SUDO_COMMANDS);
    let tty = rng.below(8);
    json!({
        "@timestamp": timestamp,
        "event": {"kind": "log", "dataset": "system.auth", "action": "sudo", "outcome": "success"},
        "host": {"name": host},
        "user": {"name": user, "effective": {"name": "root"}},
        "process": {"name": "sudo", "pid": pid},
        "log": {"level": "notice"},
        "message": format!("{user} : TTY=pts/{tty} ; PWD=/home/{user} ; USER=root ; COMMAND={command}"),
    })
}

fn remote_ip(rng: &mut Lcg) -> String {
    let net = SOURCE_NETS[rng.below(SOURCE_NETS.len())];
    format!("{net}.{}.{}.{}", rng.below(256), rng.below(256), 1 + rng.below(254))
}

/// 43 base64 characters, the length of an SSH SHA256 key fingerprint.
fn key_fingerprint(rng: &mut Lcg) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    (0..43).map(|_| char::from(ALPHABET[rng.below(64)])).collect()
}

/// Normalizes one NDJSON line as the ingest handler would (the same default source).
fn normalize_line(line: &str) -> Result<NewEvent> {
    let value = serde_json::from_str(line)?;
    Ok(tidemark::parse::normalize(value, line.as_bytes(), "http")?)
}

// ---------------------------------------------------------------------------------------
// Measurements

/// One timed run.
struct Measurement {
    path: &'static str,
    events: usize,
    elapsed: Duration,
    /// What the client sent, and how many bytes of it (none for the in-process appender).
    payload: &'static str,
    payload_bytes: usize,
    /// Group-commit transactions, for the paths that go through the appender.
    batches: Option<u64>,
    /// Untimed: parsing and normalizing every event on one thread, the work the HTTP path
    /// adds to the appender's (measured while preparing the appender's jobs).
    normalize: Option<Duration>,
}

impl Measurement {
    fn seconds(&self) -> f64 {
        self.elapsed.as_secs_f64()
    }

    fn events_per_second(&self) -> f64 {
        self.events as f64 / self.seconds()
    }

    fn megabytes_per_second(&self) -> f64 {
        self.payload_bytes as f64 / 1e6 / self.seconds()
    }
}

/// The anchor: the rows the appender would write, as CSV, in one COPY transaction.
async fn bench_copy(db: &BenchDb, lines: &[String]) -> Result<Measurement> {
    eprintln!("raw COPY: encoding rows as CSV");
    let chunks = csv_chunks(lines)?;
    let payload_bytes = chunks.iter().map(Bytes::len).sum();
    let mut client = db.client().await?;
    eprintln!("raw COPY: loading");
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
    ensure!(rows == lines.len() as u64, "COPY reported {rows} rows");
    db.check_count(lines.len()).await?;
    Ok(Measurement {
        path: "raw COPY (csv)",
        events: lines.len(),
        elapsed,
        payload: "CSV",
        payload_bytes,
        batches: None,
        normalize: None,
    })
}

/// The appender alone: pre-normalized jobs from concurrent submitters.
async fn bench_appender(db: &BenchDb, lines: &[String]) -> Result<Measurement> {
    eprintln!("appender: normalizing events into jobs");
    let normalizing = Instant::now();
    let tenant = TenantId::new(TENANT)?;
    let mut jobs = Vec::with_capacity(lines.len().div_ceil(JOB_EVENTS));
    for chunk in lines.chunks(JOB_EVENTS) {
        let events = chunk.iter().map(|l| normalize_line(l)).collect::<Result<Vec<_>>>()?;
        jobs.push(AppendJob {
            tenant: tenant.clone(),
            events,
            dead_letters: Vec::new(),
        });
    }
    let normalize = normalizing.elapsed();
    let metrics = Arc::new(Metrics::new());
    let (appender, task) = Appender::start(db.store.clone(), AppenderOptions::default(), Arc::clone(&metrics));
    eprintln!("appender: appending");
    let started = Instant::now();
    let submitters: Vec<_> = deal(jobs, CONCURRENCY)
        .into_iter()
        .map(|lane| tokio::spawn(submit_jobs(appender.clone(), lane)))
        .collect();
    let mut appended = 0;
    for submitter in submitters {
        appended += submitter.await??;
    }
    let elapsed = started.elapsed();
    // The task stops once every handle is gone and its queue is drained.
    drop(appender);
    task.await?;
    ensure!(appended == lines.len(), "receipts cover {appended} events");
    db.check_count(lines.len()).await?;
    Ok(Measurement {
        path: "appender",
        events: lines.len(),
        elapsed,
        payload: "",
        payload_bytes: 0,
        batches: Some(metrics.append_batches.get()),
        normalize: Some(normalize),
    })
}

/// Appends `jobs` with up to [`JOBS_IN_FLIGHT`] waiting at once; returns the events stored.
async fn submit_jobs(appender: Appender, jobs: Vec<AppendJob>) -> Result<usize> {
    let mut receipts = futures_util::stream::iter(jobs)
        .map(|job| appender.append(job))
        .buffer_unordered(JOBS_IN_FLIGHT);
    let mut appended = 0;
    while let Some(receipt) = receipts.next().await {
        let receipt = receipt?;
        ensure!(
            receipt.duplicates == 0,
            "{} events were taken as duplicates",
            receipt.duplicates
        );
        appended += receipt.positions.len();
    }
    Ok(appended)
}

/// The whole API: NDJSON bodies POSTed by concurrent clients to the in-process server.
async fn bench_http(db: &BenchDb, lines: &[String]) -> Result<Measurement> {
    let bodies: Vec<Bytes> = lines.chunks(BODY_EVENTS).map(ndjson_body).collect();
    let payload_bytes = bodies.iter().map(Bytes::len).sum();
    let (state, _appender_task) = tidemark::app::build_state(db.store.clone(), &Settings::default());
    let metrics = Arc::clone(&state.metrics);
    let token = store::create_token(&db.store, &TenantId::new(TENANT)?, Role::Ingest, None).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/api/v1/ingest", listener.local_addr()?);
    // Dropping the server drops the app state, and with it the appender.
    let server = tokio::spawn(async move { axum::serve(listener, tidemark::api::router(state)).await });
    let clients = (0..CONCURRENCY)
        .map(|_| reqwest::Client::builder().no_proxy().build())
        .collect::<reqwest::Result<Vec<_>>>()?;
    eprintln!("HTTP: posting {} bodies", bodies.len());
    let started = Instant::now();
    let posters: Vec<_> = clients
        .into_iter()
        .zip(deal(bodies, CONCURRENCY))
        .map(|(client, lane)| tokio::spawn(post_bodies(client, url.clone(), token.clone(), lane)))
        .collect();
    let mut accepted = 0;
    for poster in posters {
        accepted += poster.await??;
    }
    let elapsed = started.elapsed();
    server.abort();
    ensure!(
        accepted == lines.len(),
        "the API accepted {accepted} of {} events",
        lines.len()
    );
    db.check_count(lines.len()).await?;
    Ok(Measurement {
        path: "HTTP NDJSON",
        events: lines.len(),
        elapsed,
        payload: "NDJSON",
        payload_bytes,
        batches: Some(metrics.append_batches.get()),
        normalize: None,
    })
}

#[derive(Deserialize)]
struct IngestResponse {
    accepted: usize,
    rejected: Vec<serde_json::Value>,
}

/// POSTs `bodies` one after another; returns the events the API accepted.
async fn post_bodies(client: reqwest::Client, url: String, token: String, bodies: Vec<Bytes>) -> Result<usize> {
    let mut accepted = 0;
    for body in bodies {
        let response = client
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            bail!(
                "ingest answered {status}: {}",
                response.text().await.unwrap_or_default()
            );
        }
        let answer: IngestResponse = response.json().await?;
        ensure!(answer.rejected.is_empty(), "records rejected: {:?}", answer.rejected);
        accepted += answer.accepted;
    }
    Ok(accepted)
}

/// Splits `items` round-robin into `lanes` lists, so every lane gets the same share.
fn deal<T>(items: Vec<T>, lanes: usize) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = (0..lanes).map(|_| Vec::new()).collect();
    for (i, item) in items.into_iter().enumerate() {
        out[i % lanes].push(item);
    }
    out
}

fn ndjson_body(lines: &[String]) -> Bytes {
    let mut body = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for line in lines {
        body.extend_from_slice(line.as_bytes());
        body.push(b'\n');
    }
    Bytes::from(body)
}

// ---------------------------------------------------------------------------------------
// CSV encoding for the COPY anchor

/// The normalized rows, positions 1..=n and one `recorded_at`, as the appender would write
/// them in one batch, in CSV chunks of about [`COPY_CHUNK_BYTES`].
fn csv_chunks(lines: &[String]) -> Result<Vec<Bytes>> {
    let recorded_at = DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap_or_default();
    let mut chunks = Vec::new();
    let mut chunk = Vec::with_capacity(COPY_CHUNK_BYTES + 4096);
    for (i, line) in lines.iter().enumerate() {
        let event = normalize_line(line)?;
        write_csv_row(&mut chunk, i as i64 + 1, recorded_at, &event)?;
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
fn write_csv_row(out: &mut Vec<u8>, position: i64, recorded_at: DateTime<Utc>, e: &NewEvent) -> Result<()> {
    write!(out, "{position},")?;
    csv_time(out, Some(recorded_at));
    csv_text(out, Some(TENANT));
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

// ---------------------------------------------------------------------------------------
// Report

/// One path's median run and the spread of its rounds.
struct Summary {
    median: Measurement,
    fastest: Duration,
    slowest: Duration,
}

/// Groups runs by path, in the order the paths first ran, and keeps each path's median run
/// (the lower one for an even count): a real run, so its batches and bytes go with its time.
fn medians(runs: Vec<Measurement>) -> Vec<Summary> {
    let mut groups: Vec<Vec<Measurement>> = Vec::new();
    for run in runs {
        match groups
            .iter_mut()
            .find(|g| g.first().is_some_and(|f| f.path == run.path))
        {
            Some(group) => group.push(run),
            None => groups.push(vec![run]),
        }
    }
    groups
        .into_iter()
        .filter_map(|mut group| {
            group.sort_by_key(|m| m.elapsed);
            let fastest = group.first()?.elapsed;
            let slowest = group.last()?.elapsed;
            let median = group.swap_remove((group.len() - 1) / 2);
            Some(Summary {
                median,
                fastest,
                slowest,
            })
        })
        .collect()
}

fn print_report(summaries: &[Summary], rounds: usize) {
    let Some(anchor) = summaries.first().map(|s| &s.median) else {
        return;
    };
    let ratio = |m: &Measurement| m.events_per_second() / anchor.events_per_second();
    println!();
    println!(
        "tidemark ingest: {} auth events (sshd, sudo), tenant {TENANT:?}, median of {rounds} round(s); \
         {CONCURRENCY} submitters: appender {JOB_EVENTS} events/job x {JOBS_IN_FLIGHT} in flight each, \
         HTTP {BODY_EVENTS} events/body x 1 in flight each",
        anchor.events
    );
    println!(
        "{:<16} {:>10} {:>9} {:>11} {:>8} {:>9} {:>12} {:>15}",
        "path", "events", "seconds", "events/s", "x COPY", "batches", "client MB/s", "seconds range"
    );
    for Summary {
        median: m,
        fastest,
        slowest,
    } in summaries
    {
        let batches = m.batches.map_or_else(|| "-".to_owned(), |b| b.to_string());
        let mbps = if m.payload_bytes > 0 {
            format!("{:.1}", m.megabytes_per_second())
        } else {
            "-".to_owned()
        };
        let range = format!("{:.2}-{:.2}", fastest.as_secs_f64(), slowest.as_secs_f64());
        println!(
            "{:<16} {:>10} {:>9.2} {:>11} {:>7.2}x {:>9} {:>12} {:>15}",
            m.path,
            m.events,
            m.seconds(),
            thousands(m.events_per_second()),
            ratio(m),
            batches,
            mbps,
            range
        );
    }
    println!();
    for m in summaries.iter().skip(1).map(|s| &s.median) {
        println!("{}/COPY = {:.2}x", m.path, ratio(m));
    }
    for m in summaries.iter().map(|s| &s.median) {
        if m.payload_bytes > 0 {
            println!(
                "{}: {:.1} MB of {} ({:.0} bytes/event), {:.1} MB/s",
                m.path,
                m.payload_bytes as f64 / 1e6,
                m.payload,
                m.payload_bytes as f64 / m.events as f64,
                m.megabytes_per_second()
            );
        }
        if let Some(normalize) = m.normalize {
            println!(
                "parse + normalize alone (untimed, one thread): {:.2} s, {} events/s",
                normalize.as_secs_f64(),
                thousands(m.events as f64 / normalize.as_secs_f64())
            );
        }
    }
}

/// `1234567.8` as `1,234,568`.
fn thousands(value: f64) -> String {
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
