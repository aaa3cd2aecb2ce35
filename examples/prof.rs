#![allow(non_snake_case)]
#[path = "../benches/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::Utc;
use common::auth::{generate_events, normalize_line};
use tidemark::config::Settings;
use tidemark::event::TenantId;
use tidemark::query::{HuntRequest, QueryEngine, QueryLimits};
use tidemark::store::{self, AppendJob, Appender, AppenderOptions, Store};
use tidemark::telemetry::Metrics;
use tidemark::tier::{self, TierContext};

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let dbname = std::env::var("PROF_DB").unwrap_or_else(|_| "prof".into());
    let conn_s = format!("host=/tmp port=5433 user=postgres dbname={dbname}");
    let CONN = conn_s.as_str();
    let obj_s = format!("/tmp/{dbname}-objects");
    let OBJ = obj_s.as_str();
    let tier_it = std::env::var("PROF_TIER").map_or(true, |v| v != "0");
    let store = Store::new(CONN.parse()?, Settings::default().db_max_connections)?;
    store::migrate(&store).await?;
    let objects = tier::objects::open(&format!("file://{OBJ}"))?;
    let (client, conn) = tokio_postgres::connect(CONN, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    let cold: i64 = client.query_one("SELECT count(*) FROM events", &[]).await?.get(0);
    let cold = cold
        + client
            .query_one("SELECT count(*) FROM cold_files", &[])
            .await?
            .get::<_, i64>(0);
    if cold == 0 {
        client
            .execute("SELECT set_chunk_time_interval('events', INTERVAL '10 seconds')", &[])
            .await?;
        let lines = generate_events(1_000_000);
        let (appender, task) = Appender::start(store.clone(), AppenderOptions::default(), Arc::new(Metrics::new()));
        let tenant = TenantId::new("bench")?;
        for chunk in lines.chunks(5_000) {
            let events = chunk.iter().map(|l| normalize_line(l)).collect::<Result<Vec<_>>>()?;
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
        client.batch_execute("VACUUM ANALYZE events").await?;
        if tier_it {
            tokio::time::sleep(Duration::from_secs(11)).await;
            let (appender, task) = Appender::start(store.clone(), AppenderOptions::default(), Arc::new(Metrics::new()));
            let ctx = TierContext {
                store: store.clone(),
                objects: Arc::clone(&objects),
                appender,
            };
            tier::tier_run(&ctx, Utc::now(), false).await?;
            drop(ctx);
            task.await?;
        }
        eprintln!("loaded and tiered");
    }
    let limits = QueryLimits {
        memory_bytes: 2 << 30,
        default_rows: 1_000_000,
        ..QueryLimits::default()
    };
    let engine = QueryEngine::new(store.clone(), Some(objects), limits);
    let tenant = TenantId::new("bench")?;
    let sql = std::env::args().nth(1).unwrap_or_else(|| {
        "SELECT user_name, count(*) AS n FROM events GROUP BY user_name ORDER BY n DESC, user_name LIMIT 10".into()
    });
    let runs: usize = std::env::args().nth(2).map_or(10, |s| s.parse().unwrap());
    let mut best = Duration::MAX;
    for i in 0..runs {
        let t = Instant::now();
        let req = HuntRequest {
            sql: sql.clone(),
            limit: Some(1_000_000),
            timeout: Some(Duration::from_secs(300)),
            ..HuntRequest::default()
        };
        let mut hunt = engine.hunt(&tenant, req).await?;
        eprintln!("PROF first batch {:?}", t.elapsed());
        let mut rows = 0;
        while let Some(b) = hunt.next_batch().await? {
            rows += b.num_rows();
        }
        let e = t.elapsed();
        best = best.min(e);
        if i == 0 || std::env::var("VERBOSE").is_ok() {
            eprintln!("run {i}: {e:?} rows {rows} stats {:?}", hunt.stats());
        }
    }
    eprintln!("best {best:?}");
    if std::env::var("EXPLAIN").is_ok() {
        let req = HuntRequest {
            sql: format!("EXPLAIN ANALYZE {sql}"),
            limit: Some(1_000_000),
            ..HuntRequest::default()
        };
        let mut hunt = engine.hunt(&tenant, req).await?;
        while let Some(b) = hunt.next_batch().await? {
            println!("{}", arrow::util::pretty::pretty_format_batches(&[b])?);
        }
    }
    Ok(())
}
