//! SQL hunts: the hot tier against `psql`, then the cold tier against DuckDB on the very same
//! Parquet files, with the tiering itself measured in between.
//!
//! Run with `make bench-hunt` (a throwaway TimescaleDB cluster; `TIDEMARK_TEST_PG` names it;
//! DuckDB from PyPI). `TIDEMARK_BENCH_EVENTS` sets the event count (default 1,000,000).
//!
//! 1. Generated sshd/sudo events are appended through the appender into a database whose
//!    chunks span 10 seconds, so the load spreads over several chunks.
//! 2. Hot: each hunt through Tidemark's query layer (tenant-scoped, hot tier only) and the same
//!    SQL through `psql` with `\timing` (plus the tenant predicate Tidemark adds itself).
//! 3. `tier_run` moves every chunk to Parquet in a local directory: rows/s, hot and cold bytes.
//! 4. Cold: each hunt through Tidemark (manifest pruning, DataFusion over the files) and through
//!    DuckDB's `read_parquet` over the same file list.
//!
//! Each figure is the best of [`RUNS`] runs, after one warm-up run.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use chrono::Utc;
use common::auth::{generate_events, normalize_line};
use common::{BenchDb, Cluster, cluster_conn, env_count, thousands};
use tidemark::event::TenantId;
use tidemark::query::{HuntRequest, QueryEngine, QueryLimits};
use tidemark::store::{AppendJob, Appender, AppenderOptions};
use tidemark::telemetry::Metrics;
use tidemark::tier::{self, TierContext};

const DEFAULT_EVENTS: usize = 1_000_000;
const TENANT: &str = "bench";
const RUNS: usize = 10;

/// The hunts: (name, SQL). The same text runs in DataFusion, PostgreSQL and DuckDB.
fn hunts(ip: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "LIKE scan",
            "SELECT count(*) FROM events WHERE message LIKE '%invalid user admin%'".to_owned(),
        ),
        (
            "group by user",
            "SELECT user_name, count(*) AS n FROM events GROUP BY user_name ORDER BY n DESC, user_name LIMIT 10"
                .to_owned(),
        ),
        (
            "time buckets",
            "SELECT date_trunc('hour', event_time) AS hour, count(*) AS n FROM events GROUP BY 1 ORDER BY 1".to_owned(),
        ),
        (
            "point lookup by IP",
            format!("SELECT position, event_time, user_name FROM events WHERE source_ip = '{ip}' ORDER BY position"),
        ),
        (
            "time range",
            "SELECT count(*) AS n, count(DISTINCT source_ip) AS ips FROM events \
             WHERE event_time >= TIMESTAMP '2026-11-20 02:00:00+00' AND event_time < TIMESTAMP '2026-11-20 02:10:00+00'"
                .to_owned(),
        ),
    ]
}

#[tokio::main]
async fn main() -> Result<()> {
    let base = cluster_conn()?;
    let n = env_count("TIDEMARK_BENCH_EVENTS", DEFAULT_EVENTS)?;
    let mut cluster = Cluster::connect(&base).await?;
    let outcome = run(&mut cluster, &base, n).await;
    cluster.drop_databases().await;
    outcome
}

async fn run(cluster: &mut Cluster, base: &str, n: usize) -> Result<()> {
    let db = cluster.fresh_database("hunt").await?;
    let objects_dir = tempfile::tempdir()?;
    eprintln!("loading {n} events");
    let ip = load(&db, n).await?;
    let objects = tier::objects::open(&format!("file://{}", objects_dir.path().display()))?;
    let limits = QueryLimits {
        memory_bytes: 2 << 30,
        default_rows: 1_000_000,
        ..QueryLimits::default()
    };
    let engine = QueryEngine::new(db.store.clone(), Some(Arc::clone(&objects)), limits);
    let tenant = TenantId::new(TENANT)?;
    let hunts = hunts(&ip);

    eprintln!("hot hunts");
    let mut hot = Vec::new();
    for (name, sql) in &hunts {
        let ours = best(|| tidemark_hunt(&engine, &tenant, sql)).await?;
        let theirs = psql_best(base, &db.name, &with_tenant(sql))?;
        hot.push((*name, ours, theirs));
    }

    eprintln!("tiering");
    let hot_bytes = relation_bytes(&db).await?;
    // Every chunk must have closed before it can move.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let (appender, appender_task) =
        Appender::start(db.store.clone(), AppenderOptions::default(), Arc::new(Metrics::new()));
    let ctx = TierContext {
        store: db.store.clone(),
        objects: Arc::clone(&objects),
        appender,
    };
    let started = Instant::now();
    let report = tier::tier_run(&ctx, Utc::now(), false).await?;
    let tiering = started.elapsed();
    drop(ctx);
    appender_task.await?;
    let moved: i64 = report
        .chunks
        .iter()
        .filter(|c| c.table == tier::Table::Events)
        .map(|c| c.rows)
        .sum();
    ensure!(moved == n as i64, "tiering moved {moved} of {n} events");
    let parquet_bytes: i64 = report.chunks.iter().map(|c| c.parquet_bytes).sum();
    let files: Vec<String> = db
        .client()
        .await?
        .query(
            "SELECT path FROM cold_files WHERE table_name = 'events' ORDER BY id",
            &[],
        )
        .await?
        .iter()
        .map(|r| objects_dir.path().join(r.get::<_, String>(0)).display().to_string())
        .collect();

    eprintln!("cold hunts");
    let duck = duckdb_best(&files, &hunts)?;
    let mut cold = Vec::new();
    for ((name, sql), theirs) in hunts.iter().zip(duck) {
        let ours = best(|| tidemark_hunt(&engine, &tenant, sql)).await?;
        cold.push((*name, ours, theirs));
    }
    report_all(n, &hot, &cold, hot_bytes, parquet_bytes, files.len(), tiering);
    Ok(())
}

/// Appends `n` generated events and returns a source IP that occurs among them.
async fn load(db: &BenchDb, n: usize) -> Result<String> {
    db.client()
        .await?
        .execute("SELECT set_chunk_time_interval('events', INTERVAL '10 seconds')", &[])
        .await?;
    let lines = generate_events(n);
    let (appender, task) = Appender::start(db.store.clone(), AppenderOptions::default(), Arc::new(Metrics::new()));
    let tenant = TenantId::new(TENANT)?;
    let mut ip = None;
    for chunk in lines.chunks(5_000) {
        let events = chunk.iter().map(|l| normalize_line(l)).collect::<Result<Vec<_>>>()?;
        if ip.is_none() {
            ip = events.iter().find_map(|e| e.source_ip).map(|ip| ip.to_string());
        }
        appender
            .append_waiting(AppendJob {
                tenant: tenant.clone(),
                events,
                dead_letters: Vec::new(),
            })
            .await?;
    }
    drop(appender);
    task.await?;
    db.check_count(n).await?;
    db.client().await?.batch_execute("VACUUM ANALYZE events").await?;
    ip.context("no generated event has a source IP")
}

/// Runs `sql` to the end through the query layer; returns the time and the rows returned.
async fn tidemark_hunt(engine: &QueryEngine, tenant: &TenantId, sql: &str) -> Result<(Duration, u64)> {
    let started = Instant::now();
    let req = HuntRequest {
        sql: sql.to_owned(),
        limit: Some(1_000_000),
        timeout: Some(Duration::from_secs(300)),
        ..HuntRequest::default()
    };
    let mut hunt = engine.hunt(tenant, req).await?;
    let mut rows = 0u64;
    while let Some(batch) = hunt.next_batch().await? {
        rows += batch.num_rows() as u64;
    }
    Ok((started.elapsed(), rows))
}

/// The best of [`RUNS`] runs after a warm-up; all runs must return the same row count.
async fn best<F, Fut>(mut f: F) -> Result<(Duration, u64)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(Duration, u64)>>,
{
    let (_, rows) = f().await?;
    let mut fastest = Duration::MAX;
    for _ in 0..RUNS {
        let (t, r) = f().await?;
        ensure!(r == rows, "a rerun returned {r} rows instead of {rows}");
        fastest = fastest.min(t);
    }
    Ok((fastest, rows))
}

/// The hunt as PostgreSQL must run it to return the same rows: with the tenant predicate.
fn with_tenant(sql: &str) -> String {
    let predicate = format!("tenant_id = '{TENANT}'");
    if let Some((head, tail)) = sql.split_once(" WHERE ") {
        format!("{head} WHERE {predicate} AND {tail}")
    } else if let Some((head, tail)) = sql.split_once(" GROUP BY ") {
        format!("{head} WHERE {predicate} GROUP BY {tail}")
    } else {
        format!("{sql} WHERE {predicate}")
    }
}

/// Best `\timing` of [`RUNS`] runs of `sql` in `psql`, after a warm-up, with the row count.
fn psql_best(base: &str, dbname: &str, sql: &str) -> Result<(Duration, u64)> {
    let conn = format!("{base} dbname={dbname}");
    let mut args = vec!["-X", "-q", "-d", &conn, "-c", "\\timing on", "-c", "\\o /dev/null"];
    for _ in 0..=RUNS {
        args.extend(["-c", sql]);
    }
    let out = Command::new("psql").args(&args).output().context("running psql")?;
    ensure!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let times: Vec<f64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("Time: "))
        .filter_map(|t| t.split_whitespace().next()?.parse().ok())
        .collect();
    ensure!(times.len() == RUNS + 1, "psql printed {} timings: {text}", times.len());
    let fastest = times[1..].iter().copied().fold(f64::MAX, f64::min);
    let count = Command::new("psql")
        .args(["-X", "-q", "-t", "-A", "-d", &format!("{base} dbname={dbname}"), "-c"])
        .arg(format!("SELECT count(*) FROM ({sql}) q"))
        .output()?;
    let rows = String::from_utf8_lossy(&count.stdout).trim().parse().unwrap_or(0);
    Ok((Duration::from_secs_f64(fastest / 1000.0), rows))
}

/// Best of [`RUNS`] DuckDB runs of each hunt over `files` (as the `events` view), after a
/// warm-up, in one Python process.
fn duckdb_best(files: &[String], hunts: &[(&'static str, String)]) -> Result<Vec<(Duration, u64)>> {
    let script = r#"
import duckdb, json, sys, time
spec = json.load(sys.stdin)
con = duckdb.connect()
# Timestamps with a zone are truncated in UTC, as Tidemark and PostgreSQL (set to UTC) do.
con.execute("SET TimeZone = 'UTC'")
files = ", ".join("'" + f.replace("'", "''") + "'" for f in spec["files"])
con.execute("CREATE VIEW events AS SELECT * FROM read_parquet([" + files + "])")
for sql in spec["hunts"]:
    rows = len(con.execute(sql).fetchall())
    best = None
    for _ in range(spec["runs"]):
        t = time.perf_counter()
        con.execute(sql).fetchall()
        e = time.perf_counter() - t
        best = e if best is None else min(best, e)
    print(json.dumps({"seconds": best, "rows": rows}))
"#;
    let spec = serde_json::json!({
        "files": files,
        "hunts": hunts.iter().map(|(_, sql)| sql).collect::<Vec<_>>(),
        "runs": RUNS,
    });
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("running python3 with duckdb (make bench-hunt installs it)")?;
    serde_json::to_writer(child.stdin.take().context("python stdin")?, &spec)?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("duckdb: {}", String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)?;
            Ok((
                Duration::from_secs_f64(v["seconds"].as_f64().context("seconds")?),
                v["rows"].as_u64().context("rows")?,
            ))
        })
        .collect()
}

async fn relation_bytes(db: &BenchDb) -> Result<i64> {
    Ok(db
        .client()
        .await?
        .query_one(
            "SELECT sum(total_bytes)::bigint FROM hypertable_detailed_size('events')",
            &[],
        )
        .await?
        .get(0))
}

type Row = (&'static str, (Duration, u64), (Duration, u64));

fn report_all(
    n: usize,
    hot: &[Row],
    cold: &[Row],
    hot_bytes: i64,
    parquet_bytes: i64,
    files: usize,
    tiering: Duration,
) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!();
    println!("tidemark hunts: {n} sshd/sudo events, one tenant; best of {RUNS} runs after a warm-up");
    for (title, rows, anchor) in [("hot tier", hot, "psql"), ("cold tier", cold, "DuckDB")] {
        println!();
        println!("{title}: Tidemark against {anchor} on the same data");
        println!(
            "{:<20} {:>8} {:>12} {:>12} {:>9}",
            "hunt",
            "rows",
            "tidemark ms",
            format!("{anchor} ms"),
            "ratio"
        );
        for (name, (ours, our_rows), (theirs, their_rows)) in rows {
            let check = if our_rows == their_rows {
                ""
            } else {
                "  (row counts differ!)"
            };
            println!(
                "{name:<20} {our_rows:>8} {:>12.1} {:>12.1} {:>8.2}x{check}",
                ms(*ours),
                ms(*theirs),
                ours.as_secs_f64() / theirs.as_secs_f64()
            );
        }
        let total = |f: &dyn Fn(&Row) -> Duration| rows.iter().map(f).sum::<Duration>();
        println!(
            "{:<20} {:>8} {:>12.1} {:>12.1} {:>8.2}x",
            "all five",
            "",
            ms(total(&|r| r.1.0)),
            ms(total(&|r| r.2.0)),
            total(&|r| r.1.0).as_secs_f64() / total(&|r| r.2.0).as_secs_f64()
        );
    }
    println!();
    println!(
        "tiering: {n} rows in {:.1} s ({} rows/s) into {files} Parquet files",
        tiering.as_secs_f64(),
        thousands(n as f64 / tiering.as_secs_f64())
    );
    println!(
        "storage: hypertable {:.1} MB, Parquet {:.1} MB ({:.1}x smaller)",
        hot_bytes as f64 / 1e6,
        parquet_bytes as f64 / 1e6,
        hot_bytes as f64 / parquet_bytes.max(1) as f64
    );
}
