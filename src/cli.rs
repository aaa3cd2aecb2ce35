//! The command line: `serve`, `migrate`, `token create`, `verify`, `project rebuild|status`,
//! `tier run`, `retention run`.

use clap::{Parser, Subcommand};

use crate::app::{self, Database};
use crate::config::Settings;
use crate::event::{Role, TenantId};
use crate::project;
use crate::store;
use crate::tier;

#[derive(Debug, Parser)]
#[command(name = "tidemark", version, about = "Event-sourced security analytics store")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (embedded PostgreSQL unless DATABASE_URL is set).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Walk the hash chain over both tiers and name the first broken batch. Exits 1 if the chain
    /// is broken, 3 if batches in the cold tier could not be read.
    Verify,
    /// Projections (read models folded from the log).
    Project {
        #[command(subcommand)]
        command: ProjectCommand,
    },
    /// The cold tier: move chunks older than the hot window to Parquet, then apply retention.
    Tier {
        #[command(subcommand)]
        command: TierCommand,
    },
    /// Retention policies (`retention/*.toml`).
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Run a read-only SQL hunt over `events` and `metrics` (hot and cold) and print the result.
    Hunt(crate::query::cli::HuntArgs),
}

#[derive(Debug, Subcommand)]
enum TierCommand {
    /// Move every chunk older than the hot window (the longest `hot_for` of the policies) to
    /// the object store, then apply retention; print what was done as JSON.
    Run {
        /// Only list what would move and expire.
        #[arg(long)]
        dry_run: bool,
        /// Hot window to use instead of the policies' (e.g. 1d, 12h; 0s moves every closed chunk).
        #[arg(long, value_parser = parse_duration)]
        hot_for: Option<chrono::Duration>,
    },
}

#[derive(Debug, Subcommand)]
enum RetentionCommand {
    /// Apply the policies to the cold tier; print each file's fate as JSON.
    Run {
        /// Only show what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
}

fn parse_duration(s: &str) -> Result<chrono::Duration, String> {
    crate::tier::policy::duration(s)
}

#[derive(Debug, Subcommand)]
enum ProjectCommand {
    /// Rebuild a projection (alerts or incidents) from position 0 beside the live version,
    /// switch reads to it once it has caught up, and remove the old version.
    Rebuild { name: String },
    /// Print each projection's versions, checkpoints and lag as JSON.
    Status,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token for a tenant (the tenant is created if new) and print it.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long)]
        label: Option<String>,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse().map_err(|e: crate::event::UnknownRole| e.to_string())
}

/// Parses the command line and runs it; returns the process exit code.
pub async fn run(cli: Cli, settings: Settings) -> anyhow::Result<i32> {
    match cli.command {
        Command::Serve => app::serve(settings).await.map(|()| 0),
        // `with_store` applies pending migrations before anything else.
        Command::Migrate => with_store(&settings, |_| async { Ok(()) }).await.map(|()| 0),
        Command::Token {
            command: TokenCommand::Create { tenant, role, label },
        } => {
            let tenant = TenantId::new(&tenant)?;
            let token = with_store(&settings, |db| async move {
                Ok(store::create_token(&db, &tenant, role, label.as_deref()).await?)
            })
            .await?;
            println!("{token}");
            Ok(0)
        }
        Command::Project { command } => project_command(command, &settings).await,
        Command::Hunt(args) => {
            let objects = tier::objects::open(&settings.object_store_url());
            let limits = crate::query::QueryLimits::from(&settings);
            with_store(&settings, |db| crate::query::cli::hunt(db, objects, limits, args)).await
        }
        Command::Tier {
            command: TierCommand::Run { dry_run, hot_for },
        } => {
            let dir = settings.retention_dir.clone();
            let report = with_tier(&settings, |ctx| async move {
                Ok(tier::pass(&ctx, &dir, hot_for, dry_run).await?)
            })
            .await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(0)
        }
        Command::Retention {
            command: RetentionCommand::Run { dry_run },
        } => {
            let dir = settings.retention_dir.clone();
            let report = with_tier(&settings, |ctx| async move {
                let policies = tier::policy::load(&dir)?;
                Ok(tier::retention_run(&ctx, &policies, chrono::Utc::now(), dry_run).await?)
            })
            .await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(0)
        }
        Command::Verify => verify(&settings).await,
    }
}

/// Walks the hash chain over both tiers and prints the report: exit 0 when intact, 1 when a
/// batch is broken, 3 when cold batches could not be read.
async fn verify(settings: &Settings) -> anyhow::Result<i32> {
    let objects = match tier::objects::open(&settings.object_store_url()) {
        Ok(objects) => Some(objects),
        Err(e) => {
            eprintln!("{e}: batches in the cold tier will not be checked (set TIDEMARK_OBJECT_STORE_URL)");
            None
        }
    };
    let report = with_store(settings, |db| async move {
        let report = store::verify_chain(&db, objects.as_ref(), |r| {
            if r.batches_walked() % 1000 == 0 {
                eprintln!("verified {} batches, {} events", r.batches_walked(), r.events_checked);
            }
        })
        .await?;
        Ok(report)
    })
    .await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    if let Some(b) = &report.first_broken {
        eprintln!(
            "chain BROKEN at batch {} (positions {}..={}): {}",
            b.seq, b.first_position, b.last_position, b.reason
        );
        return Ok(1);
    }
    if report.batches_unchecked > 0 {
        eprintln!(
            "chain NOT fully verified: {} batches in the cold tier were not read (only their links were checked) \
             because the object store could not be opened; set TIDEMARK_OBJECT_STORE_URL to the store \
             `tidemark tier run` writes to. The other {} batches ({} events) are intact",
            report.batches_unchecked, report.batches_checked, report.events_checked
        );
        return Ok(3);
    }
    eprintln!(
        "chain intact: {} batches, {} events ({} hot, {} cold)",
        report.batches_checked, report.events_checked, report.hot_events_checked, report.cold_events_checked
    );
    if report.batches_expired > 0 {
        eprintln!(
            "{} batches expired under retention: {} events deleted, every deletion recorded in the chain; \
             {} cold files holding their other events checked whole",
            report.batches_expired, report.events_expired, report.cold_files_checked
        );
    }
    Ok(0)
}

async fn project_command(command: ProjectCommand, settings: &Settings) -> anyhow::Result<i32> {
    match command {
        ProjectCommand::Rebuild { name } => {
            let kind = project::ProjectionKind::parse(&name)?;
            let opts = app::runner_options(settings);
            let report = with_store(settings, |db| async move {
                let progress = |position: i64, head: i64| {
                    if position % 100_000 < opts.batch_events || position >= head {
                        eprintln!("{name}: position {position} of {head}");
                    }
                };
                Ok(project::rebuild(&db, kind, &opts, progress).await?)
            })
            .await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(0)
        }
        ProjectCommand::Status => {
            let status = with_store(settings, |db| async move { Ok(project::projection_status(&db).await?) }).await?;
            println!("{}", serde_json::to_string_pretty(&status)?);
            Ok(0)
        }
    }
}

/// Runs `f` with what tiering needs: the database, the object store and an appender for its
/// action events (drained before returning).
async fn with_tier<T, F, Fut>(settings: &Settings, f: F) -> anyhow::Result<T>
where
    F: FnOnce(tier::TierContext) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let objects = tier::objects::open(&settings.object_store_url())?;
    with_store(settings, |db| async move {
        let metrics = std::sync::Arc::new(crate::telemetry::Metrics::new());
        let (appender, task) = store::Appender::start(db.clone(), store::AppenderOptions::default(), metrics);
        let ctx = tier::TierContext {
            store: db,
            objects,
            appender,
        };
        let result = f(ctx).await;
        // The context's appender was moved into `f`; once it is dropped the task drains and ends.
        task.await?;
        result
    })
    .await
}

/// Runs `f` against the configured database, stopping an embedded cluster it had to start.
async fn with_store<T, F, Fut>(settings: &Settings, f: F) -> anyhow::Result<T>
where
    F: FnOnce(store::Store) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let db = Database::open(settings).await?;
    // Under an advisory lock, so safe beside a server that is migrating too.
    let result = match store::migrate(&db.store).await {
        Ok(()) => f(db.store.clone()).await,
        Err(e) => Err(e.into()),
    };
    db.close().await?;
    result
}
