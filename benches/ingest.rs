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

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use futures_util::StreamExt;
use serde::Deserialize;
use tidemark::config::Settings;
use tidemark::event::{Role, TenantId};
use tidemark::store::{self, AppendJob, Appender, AppenderOptions};
use tidemark::telemetry::Metrics;

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

mod common;

use common::auth::{generate_events, normalize_line};
use common::{BenchDb, Cluster, cluster_conn, copy_load, csv_chunks, env_count, thousands};

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
    let chunks = csv_chunks(TENANT, lines.iter().map(|l| normalize_line(l)))?;
    let payload_bytes = chunks.iter().map(Bytes::len).sum();
    eprintln!("raw COPY: loading");
    let elapsed = copy_load(db, chunks, lines.len()).await?;
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
