//! `tidemark hunt 'SQL'`: the same hunt as `POST /api/v1/hunt`, written to stdout, with a
//! progress line on stderr every second while a long scan runs.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use object_store::ObjectStore;
use std::io::Write;

use super::{Format, HuntRequest, Params, Progress, QueryEngine, QueryLimits, encode};
use crate::event::TenantId;
use crate::store::Store;
use crate::tier::objects::UrlError;

/// `tidemark hunt` arguments.
#[derive(Debug, clap::Args)]
pub struct HuntArgs {
    /// The SQL: a SELECT over `events` and `metrics`.
    sql: String,
    /// Whose rows; may be left out when the database holds one tenant.
    #[arg(long)]
    tenant: Option<String>,
    /// json, ndjson, csv, arrow or parquet.
    #[arg(long, default_value = "json")]
    format: String,
    /// Most rows printed (default: the server's default).
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Values of `$1`, `$2`, … in order: JSON (`42`, `true`, `"x"`) or else taken as text.
    #[arg(long = "param")]
    params: Vec<String>,
    /// RFC 3339 bounds on `events.event_time` and `metrics.time`.
    #[arg(long)]
    from: Option<DateTime<Utc>>,
    #[arg(long)]
    to: Option<DateTime<Utc>>,
}

/// Runs the hunt and prints it; returns the exit code.
pub async fn hunt(
    store: Store,
    objects: Result<Arc<dyn ObjectStore>, UrlError>,
    limits: QueryLimits,
    args: HuntArgs,
) -> anyhow::Result<i32> {
    let format: Format = args.format.parse()?;
    let objects = objects
        .inspect_err(|e| eprintln!("warning: cold tier unavailable: {e}"))
        .ok();
    let tenant = match args.tenant {
        Some(t) => TenantId::new(&t)?,
        None => only_tenant(&store).await?,
    };
    let params = args
        .params
        .iter()
        .map(|p| serde_json::from_str(p).unwrap_or_else(|_| serde_json::Value::String(p.clone())))
        .collect();
    let req = HuntRequest {
        sql: args.sql,
        params: Params::Positional(params),
        from: args.from,
        to: args.to,
        limit: args.limit,
        timeout: args.timeout_ms.map(Duration::from_millis),
    };
    let engine = QueryEngine::new(store, objects, limits);
    let hunt = engine.prepare(&tenant, req).await?;
    let progress = hunt.progress();
    let mut output = Box::pin(encode(hunt, format));
    let mut stdout = std::io::stdout().lock();
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    loop {
        tokio::select! {
            chunk = output.next() => match chunk {
                Some(chunk) => stdout.write_all(&chunk.context("hunt failed")?)?,
                None => break,
            },
            _ = tick.tick() => report(&progress),
        }
    }
    stdout.flush()?;
    if let Some(failure) = progress.failure() {
        eprintln!("hunt failed: {failure}");
        return Ok(1);
    }
    Ok(0)
}

fn report(progress: &Progress) {
    let s = progress.stats();
    eprintln!(
        "hunt: {} rows so far; scanned {} hot rows, {} cold rows in {} files; {:.1} s",
        s.rows,
        s.hot_rows,
        s.cold_rows,
        s.cold_files,
        s.elapsed_ms as f64 / 1000.0
    );
}

/// The database's one tenant, or an error naming them all.
async fn only_tenant(store: &Store) -> anyhow::Result<TenantId> {
    let client = store.client().await?;
    let rows = client.query("SELECT id FROM tenants ORDER BY id LIMIT 20", &[]).await?;
    let ids: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    match ids.as_slice() {
        [one] => Ok(TenantId::new(one)?),
        [] => anyhow::bail!("the database has no tenants yet"),
        many => anyhow::bail!("several tenants ({}); pass --tenant", many.join(", ")),
    }
}
