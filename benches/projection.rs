//! Projection throughput and analyst action latency, each against an anchor from the same run.
//!
//! Run with `TIDEMARK_CLUSTER_DURABLE=1 scripts/with-test-cluster.sh cargo bench --bench projection`
//! (a throwaway local cluster named by `TIDEMARK_TEST_PG`). `TIDEMARK_BENCH_EVENTS` sets the
//! alert event count (default 100,000), `TIDEMARK_BENCH_ACTIONS` the concurrent actions
//! (default 1,000).
//!
//! - Throughput: alert events (2,000 fingerprints; one in ten starts an alert, the rest are
//!   duplicates) are
//!   appended, then the alerts projection is built from position 0 (`project::rebuild`, the
//!   runner's own batch loop). Anchor: a plain replay read of the same events, page by page.
//! - Latency: as many alerts as actions are projected, then every action (`acknowledge`, one
//!   per alert) is sent at once over HTTP to the in-process API on 127.0.0.1; each round trip
//!   is timed. Anchor: as many one-event ingest requests sent at once, the same appender path
//!   without the lock and the fold.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use common::{cluster_conn, env_count};
use serde_json::json;
use tidemark::config::Settings;
use tidemark::event::{EventKind, Role, TenantId};
use tidemark::project::{ProjectionKind, RunnerOptions};
use tidemark::store::{self, AppendJob, Appender, ReplayFilter, Store};
use tidemark::telemetry::Metrics;
use tokio_postgres::NoTls;

const TENANT: &str = "bench";
const FINGERPRINTS: usize = 2_000;
/// Events per appended job while loading (not timed).
const LOAD_JOB: usize = 5_000;
/// Longest any one measured phase may run before the bench gives up.
const PHASE_LIMIT: Duration = Duration::from_secs(300);

#[tokio::main]
async fn main() -> Result<()> {
    let base = cluster_conn()?;
    let events = env_count("TIDEMARK_BENCH_EVENTS", 100_000)?;
    let actions = env_count("TIDEMARK_BENCH_ACTIONS", 1_000)?;
    let (admin, _conn) = tokio_postgres::connect(&format!("{base} dbname=postgres"), NoTls).await?;
    tokio::spawn(_conn);
    let mut created = Vec::new();
    let outcome = async {
        let (db, conn) = fresh(&admin, &base, "projection", &mut created).await?;
        throughput(&db, &conn, events).await?;
        let (db, _) = fresh(&admin, &base, "actions", &mut created).await?;
        latency(&db, actions).await
    }
    .await;
    for name in created {
        let _ = admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
    }
    outcome
}

/// A fresh, migrated database and its connection string.
async fn fresh(
    admin: &tokio_postgres::Client,
    base: &str,
    what: &str,
    created: &mut Vec<String>,
) -> Result<(Store, String)> {
    let name = format!("bench_{what}_{}", std::process::id());
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    admin.batch_execute(&format!("CREATE DATABASE {name}")).await?;
    created.push(name.clone());
    let conn = format!("{base} dbname={name}");
    let store = Store::new(conn.parse()?, 32)?;
    store::migrate(&store).await?;
    Ok((store, conn))
}

/// Alert event `i`: fingerprint `i % FINGERPRINTS`, rounds of all fingerprints 8 minutes
/// apart (within the 15-minute window: duplicates) with a 38-minute gap after every tenth
/// round (outside it: new alerts).
fn alert_event(i: usize) -> Result<tidemark::event::NewEvent> {
    let fp = i % FINGERPRINTS;
    let round = i / FINGERPRINTS;
    let minute = round * 8 + round / 10 * 30;
    let line = json!({
        "@timestamp": format!("2026-11-{:02}T{:02}:{:02}:00Z", 1 + minute / 1440, minute / 60 % 24, minute % 60),
        "event": {"kind": "alert", "severity": i % 11, "dataset": "ids"},
        "rule": {"name": format!("rule-{}", fp % 50)},
        "source": {"ip": format!("10.{}.{}.{}", fp / 65536 % 256, fp / 256 % 256, fp % 256)},
        "destination": {"ip": "192.0.2.10", "port": 443},
        "user": {"name": format!("user{}", fp % 97)},
        "host": {"name": format!("web-{}", fp % 13)},
        "message": format!("rule-{} matched", fp % 50),
    })
    .to_string();
    Ok(tidemark::parse::normalize(
        serde_json::from_str(&line)?,
        line.as_bytes(),
        "ids",
    )?)
}

async fn load_alerts(store: &Store, count: usize) -> Result<()> {
    let (appender, task) = Appender::start(store.clone(), Default::default(), Arc::new(Metrics::new()));
    let tenant = TenantId::new(TENANT)?;
    for start in (0..count).step_by(LOAD_JOB) {
        let events = (start..(start + LOAD_JOB).min(count))
            .map(alert_event)
            .collect::<Result<Vec<_>>>()?;
        appender
            .append(AppendJob {
                tenant: tenant.clone(),
                events,
                dead_letters: Vec::new(),
            })
            .await?;
    }
    drop(appender);
    task.await?;
    Ok(())
}

async fn throughput(store: &Store, conn: &str, events: usize) -> Result<()> {
    eprintln!("appending {events} alert events");
    load_alerts(store, events).await?;

    let tenant = TenantId::new(TENANT)?;
    let filter = ReplayFilter {
        kinds: vec![EventKind::Alert],
        ..ReplayFilter::default()
    };
    let started = Instant::now();
    let (mut after, mut read) = (0, 0);
    loop {
        let page = store.replay_page(&tenant, &filter, after, 2_000).await?;
        let Some(last) = page.last() else { break };
        after = last.position;
        read += page.len();
        ensure!(started.elapsed() < PHASE_LIMIT, "replay read took too long");
    }
    let replay_secs = started.elapsed().as_secs_f64();
    ensure!(read == events, "replay read {read} of {events} events");

    let opts = RunnerOptions::default();
    let report = tokio::time::timeout(
        PHASE_LIMIT,
        tidemark::project::rebuild(store, ProjectionKind::Alerts, &opts, |_, _| {}),
    )
    .await
    .context("the projection took too long")??;
    ensure!(
        report.events == events,
        "projected {} of {events} events",
        report.events
    );
    let (client, connection) = tokio_postgres::connect(conn, NoTls).await?;
    tokio::spawn(connection);
    let alerts: i64 = client.query_one("SELECT count(*) FROM alerts", &[]).await?.get(0);

    let replay_rate = events as f64 / replay_secs;
    let project_rate = events as f64 / report.seconds;
    println!(
        "projection throughput ({events} alert events -> {alerts} alerts, batches of {})",
        opts.batch_events
    );
    println!("  replay read (anchor)   {replay_rate:>10.0} events/s   1.00");
    println!(
        "  alerts projection      {project_rate:>10.0} events/s   {:.2}",
        project_rate / replay_rate
    );
    Ok(())
}

async fn latency(store: &Store, actions: usize) -> Result<()> {
    let settings = Settings {
        db_max_connections: 32,
        ..Settings::default()
    };
    load_alerts_distinct(store, actions).await?;
    let (state, _appender) = tidemark::app::build_state(store.clone(), &settings);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, tidemark::api::router(state)).await });
    let token = store::create_token(store, &TenantId::new(TENANT)?, Role::Admin, Some("bench")).await?;
    let started = Instant::now();
    loop {
        let status = tidemark::project::projection_status(store).await?;
        if status.iter().filter(|p| p.live).all(|p| p.lag == 0) {
            break;
        }
        ensure!(started.elapsed() < PHASE_LIMIT, "the alerts were not projected in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let http = reqwest::Client::builder().pool_max_idle_per_host(actions).build()?;

    // Anchor: one-event ingests, all at once.
    let ingest = burst(actions, |i| {
        http.post(format!("{base}/api/v1/ingest"))
            .bearer_auth(&token)
            .body(format!("{{\"message\":\"probe {i}\"}}"))
    })
    .await?;
    // Actions: one acknowledge per alert, all at once.
    let acts = burst(actions, |i| {
        http.post(format!("{base}/api/v1/alerts/{}/actions", i + 1))
            .bearer_auth(&token)
            .json(&json!({"action": "acknowledge"}))
    })
    .await?;
    println!("action latency ({actions} concurrent requests, 127.0.0.1)");
    println!(
        "  ingest of one event (anchor)  p50 {:>7.1} ms  p99 {:>7.1} ms",
        ingest.0, ingest.1
    );
    println!(
        "  alert action (acknowledge)    p50 {:>7.1} ms  p99 {:>7.1} ms   ratio p50 {:.2}, p99 {:.2}",
        acts.0,
        acts.1,
        acts.0 / ingest.0,
        acts.1 / ingest.1
    );
    Ok(())
}

/// `count` alerts with distinct fingerprints, so their ids are positions 1..=count.
async fn load_alerts_distinct(store: &Store, count: usize) -> Result<()> {
    let (appender, task) = Appender::start(store.clone(), Default::default(), Arc::new(Metrics::new()));
    let events = (0..count)
        .map(|i| {
            let line = json!({"event": {"kind": "alert"}, "rule": {"name": format!("distinct-{i}")}}).to_string();
            Ok(tidemark::parse::normalize(
                serde_json::from_str(&line)?,
                line.as_bytes(),
                "ids",
            )?)
        })
        .collect::<Result<Vec<_>>>()?;
    appender
        .append(AppendJob {
            tenant: TenantId::new(TENANT)?,
            events,
            dead_letters: Vec::new(),
        })
        .await?;
    drop(appender);
    task.await?;
    Ok(())
}

/// Sends `count` requests at once; every one must succeed. Returns p50 and p99 in ms.
async fn burst(count: usize, request: impl Fn(usize) -> reqwest::RequestBuilder) -> Result<(f64, f64)> {
    let tasks: Vec<_> = (0..count)
        .map(|i| {
            let req = request(i).timeout(PHASE_LIMIT);
            tokio::spawn(async move {
                let started = Instant::now();
                let resp = req.send().await?;
                let status = resp.status();
                let body = resp.text().await?;
                anyhow::ensure!(status.is_success(), "{status}: {body}");
                Ok::<_, anyhow::Error>(started.elapsed().as_secs_f64() * 1000.0)
            })
        })
        .collect();
    let mut times = Vec::with_capacity(count);
    for task in tasks {
        times.push(task.await??);
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
    Ok((at(0.50), at(0.99)))
}
