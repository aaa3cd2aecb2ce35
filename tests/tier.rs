//! The cold tier against a real TimescaleDB and real object stores (a local directory, and an
//! S3-compatible `moto_server` through the `tidemark tier run` command): chunks move, replay
//! is unchanged across tiers, a crash between registering and dropping is finished later,
//! unregistered files are removed, retention expires files under its policies, and `verify`
//! checks the hash chain over both tiers.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use common::{TestApp, free_port, ssh_event};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde_json::{Value, json};
use tidemark::config::Settings;
use tidemark::event::{Role, TenantId};
use tidemark::store::{Appender, AppenderOptions, ReplayFilter, verify_chain};
use tidemark::telemetry::Metrics;
use tidemark::tier::{self, TierContext};

/// An app whose object store is a fresh directory and whose chunks span one second, so that
/// chunks close while the test runs.
async fn app_with_cold_tier(page_size: i64) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        object_store_url: Some(format!("file://{}", dir.path().display())),
        replay_page_size: page_size,
        tier_interval_secs: 0,
        ..Settings::default()
    };
    let app = TestApp::spawn_with(settings).await;
    for table in ["events", "metrics"] {
        app.db
            .client()
            .await
            .execute(
                &format!("SELECT set_chunk_time_interval('{table}', INTERVAL '1 second')"),
                &[],
            )
            .await
            .unwrap();
    }
    (app, dir)
}

fn context(app: &TestApp, dir: &tempfile::TempDir) -> TierContext {
    let objects: Arc<dyn ObjectStore> = tier::objects::open(&format!("file://{}", dir.path().display())).unwrap();
    let (appender, _task) = Appender::start(
        app.db.store.clone(),
        AppenderOptions::default(),
        Arc::new(Metrics::new()),
    );
    TierContext {
        store: app.db.store.clone(),
        objects,
        appender,
    }
}

/// Ingests `n` events for `tenant`: sshd logs and every fifth an alert.
async fn ingest(app: &TestApp, token: &str, start: usize, n: usize) {
    let body: Vec<String> = (start..start + n)
        .map(|i| {
            let mut e: Value = serde_json::from_str(&ssh_event(i, None)).unwrap();
            if i % 5 == 0 {
                e["event"]["kind"] = json!("alert");
                e["event"]["severity"] = json!(7);
            }
            e.to_string()
        })
        .collect();
    let resp = app.ingest(token, body.join("\n")).await;
    assert_eq!(resp.status(), 200);
}

/// A cold-tier app whose acme and globex (their admin tokens returned) have events in three
/// closed chunks.
async fn two_tenants_in_closed_chunks(page_size: i64) -> (TestApp, tempfile::TempDir, String, String) {
    let (app, dir) = app_with_cold_tier(page_size).await;
    let acme = app.db.token("acme", Role::Admin).await;
    let globex = app.db.token("globex", Role::Admin).await;
    three_closed_chunks(&app, &acme, &globex).await;
    (app, dir, acme, globex)
}

/// Ingests three bursts a chunk apart, and waits until their chunks have closed.
async fn three_closed_chunks(app: &TestApp, acme: &str, globex: &str) {
    for burst in 0..3 {
        ingest(app, acme, burst * 100, 40).await;
        ingest(app, globex, burst * 100, 10).await;
        tokio::time::sleep(Duration::from_millis(1_100)).await;
    }
}

async fn hot_chunks(app: &TestApp) -> i64 {
    scalar(app, "SELECT count(*) FROM show_chunks('events')").await
}

/// The one bigint `sql` returns.
async fn scalar(app: &TestApp, sql: &str) -> i64 {
    app.db.client().await.query_one(sql, &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn closed_chunks_move_to_parquet_and_replay_is_unchanged_across_tiers() {
    let (app, dir, acme, globex) = two_tenants_in_closed_chunks(7).await;
    let before_acme = app.replay(&acme, "include_raw=true").await;
    let before_globex = app.replay(&globex, "include_raw=true").await;
    assert_eq!((before_acme.len(), before_globex.len()), (120, 30));
    let chunks_before = hot_chunks(&app).await;

    let ctx = context(&app, &dir);
    let report = tier::tier_run(&ctx, Utc::now(), false).await.unwrap();
    let moved: Vec<_> = report
        .chunks
        .iter()
        .filter(|c| c.table == tier::Table::Events)
        .collect();
    assert!(moved.len() >= 3, "{report:?}");
    assert_eq!(moved.iter().map(|c| c.rows).sum::<i64>(), 150, "{report:?}");
    assert!(moved.iter().all(|c| c.dropped && c.parquet_bytes > 0));
    let client = app.db.client().await;
    let remaining: Vec<String> = client
        .query("SELECT c::text FROM show_chunks('events') c", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(moved.iter().all(|c| !remaining.contains(&c.chunk)), "{remaining:?}");
    assert!(
        hot_chunks(&app).await < chunks_before + 1,
        "only the tiering's own events are hot"
    );
    let files = client
        .query(
            "SELECT path, bytes, row_count, tenant_id, kind FROM cold_files ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    // One file per tenant and kind in each chunk; every file is where the manifest says.
    for f in &files {
        let path: String = f.get(0);
        let on_disk = std::fs::metadata(dir.path().join(&path)).unwrap().len();
        assert_eq!(on_disk as i64, f.get::<_, i64>(1), "{path}");
        assert!(path.contains(&format!("tenant={}", f.get::<_, String>(3))), "{path}");
    }
    assert!(
        files
            .iter()
            .any(|f| f.get::<_, Option<String>>(4).as_deref() == Some("alert"))
    );

    // Replay pages (7 events each) cross from the cold files to the hot tier: the same events,
    // byte for byte, then the tiering's own action events.
    let after_acme = app.replay(&acme, "include_raw=true").await;
    assert_eq!(after_acme[..before_acme.len()], before_acme[..]);
    let actions = &after_acme[before_acme.len()..];
    let acme_files = files.iter().filter(|f| f.get::<_, String>(3) == "acme").count();
    assert_eq!(actions.len(), acme_files, "one tier.move event per file: {actions:?}");
    assert!(
        actions
            .iter()
            .all(|a| a["event"]["action"] == "tier.move" && a["event"]["kind"] == "action")
    );
    let after_globex = app.replay(&globex, "include_raw=true").await;
    assert_eq!(after_globex[..before_globex.len()], before_globex[..]);

    // Filters behave the same on both tiers.
    ingest(&app, &acme, 1_000, 10).await;
    let alerts = app.replay(&acme, "kind=alert").await;
    assert_eq!(alerts.len(), 24 + 2, "{}", alerts.len());
    let positions: Vec<i64> = alerts
        .iter()
        .map(|a| a["tidemark"]["position"].as_i64().unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    let middle = app.replay(&acme, "from_position=30&to_position=200").await;
    assert!(
        middle
            .iter()
            .all(|e| (30..=200).contains(&e["tidemark"]["position"].as_i64().unwrap()))
    );
    // The same events as the unfiltered replay (checked above) has in that range.
    let everything = app.replay(&acme, "").await;
    let expected: Vec<&Value> = everything
        .iter()
        .filter(|e| (30..=200).contains(&e["tidemark"]["position"].as_i64().unwrap()))
        .collect();
    assert_eq!(middle.iter().collect::<Vec<_>>(), expected);
}

#[tokio::test]
async fn a_run_cut_off_after_registering_is_finished_by_the_next_and_readers_see_each_event_once() {
    let (app, dir, acme, _globex) = two_tenants_in_closed_chunks(2_000).await;
    let before = app.replay(&acme, "include_raw=true").await;
    let ctx = context(&app, &dir);

    // A reader's snapshot keeps the drop waiting; the run is cut off there, as by a crash.
    let reader = tier::Snapshot::take(&app.db.store).await.unwrap();
    let cut = tokio::time::timeout(Duration::from_secs(3), tier::tier_run(&ctx, Utc::now(), false)).await;
    assert!(cut.is_err(), "the drop must wait for the reader");
    reader.release().await;
    let client = app.db.client().await;
    let owed: i64 = client
        .query_one("SELECT count(*) FROM cold_chunks WHERE dropped_at IS NULL", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(owed, 1, "the first chunk is registered but not dropped");
    // Registered and still hot: every event is seen exactly once.
    let during = app.replay(&acme, "include_raw=true").await;
    assert_eq!(during[..before.len()], before[..]);

    // An unregistered file, as a crash during upload leaves.
    let orphan = object_store::path::Path::from("cold/events/tenant=acme/kind=log/orphan.parquet");
    ctx.objects
        .put(&orphan, PutPayload::from_static(b"partial"))
        .await
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    let report = loop {
        // The cut-off run's connection lets go of the run lock once its backend notices.
        match tier::tier_run(&ctx, Utc::now(), false).await {
            Err(tier::Error::Busy) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(200)).await,
            other => break other.unwrap(),
        }
    };
    assert_eq!(report.owed_drops, 1, "{report:?}");
    assert_eq!(report.orphans_removed, 1, "{report:?}");
    assert!(ctx.objects.head(&orphan).await.is_err(), "the orphan is gone");
    let owed: i64 = client
        .query_one("SELECT count(*) FROM cold_chunks WHERE dropped_at IS NULL", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(owed, 0);
    let after = app.replay(&acme, "include_raw=true").await;
    assert_eq!(after[..before.len()], before[..]);
    let positions: Vec<i64> = after
        .iter()
        .map(|e| e["tidemark"]["position"].as_i64().unwrap())
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "each position once, in order"
    );
}

#[tokio::test]
async fn a_registered_file_that_no_longer_verifies_keeps_its_chunk() {
    let (app, dir, _acme, _globex) = two_tenants_in_closed_chunks(2_000).await;
    let ctx = context(&app, &dir);
    let reader = tier::Snapshot::take(&app.db.store).await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(3), tier::tier_run(&ctx, Utc::now(), false)).await;
    reader.release().await;
    let client = app.db.client().await;
    let row = client
        .query_one(
            "SELECT f.path, c.chunk FROM cold_files f JOIN cold_chunks c USING (table_name, chunk) WHERE c.dropped_at IS NULL LIMIT 1",
            &[],
        )
        .await
        .unwrap();
    let (path, chunk): (String, String) = (row.get(0), row.get(1));
    std::fs::write(dir.path().join(&path), b"not the bytes that were registered").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let err = loop {
        match tier::tier_run(&ctx, Utc::now(), false).await {
            Err(tier::Error::Busy) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(200)).await,
            other => break other.unwrap_err(),
        }
    };
    assert!(matches!(err, tier::Error::Verify(_)), "{err}");
    assert!(err.to_string().contains(&path), "{err}");
    let still_there: i64 = client
        .query_one(
            "SELECT count(*) FROM show_chunks('events') c WHERE c::text = $1",
            &[&chunk],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(still_there, 1, "the chunk is not dropped");
}

/// Two retention policies: everything cold forever, but acme's logs deleted a second after
/// they move.
fn keep_all_but_acme_logs() -> Vec<tier::policy::Policy> {
    [
        (
            "all.toml",
            "tenants = [\"*\"]\nkinds = [\"*\"]\nhot_for = \"0s\"\ncold_for = \"forever\"",
        ),
        (
            "acme-logs.toml",
            "tenants = [\"acme\"]\nkinds = [\"log\"]\nhot_for = \"0s\"\ncold_for = \"1s\"",
        ),
    ]
    .into_iter()
    .map(|(name, text)| tier::policy::parse(name, text).unwrap())
    .collect()
}

#[tokio::test]
async fn retention_deletes_expired_files_except_under_legal_hold_and_records_it() {
    let (app, dir, acme, globex) = two_tenants_in_closed_chunks(2_000).await;
    let ctx = context(&app, &dir);
    tier::tier_run(&ctx, Utc::now(), false).await.unwrap();
    let mut policies = keep_all_but_acme_logs();
    policies.push(
        tier::policy::parse(
            "globex-hold.toml",
            "tenants = [\"globex\"]\nkinds = [\"*\"]\nhot_for = \"0s\"\ncold_for = \"1s\"\nlegal_hold = true",
        )
        .unwrap(),
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let client = app.db.client().await;
    let count_files = || async {
        client
            .query_one("SELECT count(*) FROM cold_files", &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    let files_before = count_files().await;
    let plan = tier::retention_run(&ctx, &policies, Utc::now(), true).await.unwrap();
    assert_eq!(count_files().await, files_before, "a dry run changes nothing");
    let doomed: Vec<_> = plan.files.iter().filter(|f| f.decision == "delete").collect();
    assert!(
        !doomed.is_empty() && doomed.iter().all(|f| f.tenant == "acme" && f.kind == "log"),
        "{plan:?}"
    );
    assert!(
        plan.files
            .iter()
            .filter(|f| f.tenant == "globex")
            .all(|f| f.decision == "legal_hold")
    );
    assert!(
        plan.files
            .iter()
            .filter(|f| f.kind == "alert")
            .all(|f| f.decision != "delete")
    );

    let done = tier::retention_run(&ctx, &policies, Utc::now(), false).await.unwrap();
    assert_eq!(done.deleted_files, doomed.len());
    assert_eq!(count_files().await, files_before - doomed.len() as i64);
    for f in &doomed {
        assert!(!dir.path().join(&f.path).exists(), "{} deleted", f.path);
    }
    // acme's cold logs are gone; its alerts and globex's events remain, and the deletions are events.
    let acme_now = app.replay(&acme, "").await;
    assert!(acme_now.iter().filter(|e| e["event"]["kind"] == "log").count() == 0);
    assert_eq!(acme_now.iter().filter(|e| e["event"]["kind"] == "alert").count(), 24);
    let deletions = acme_now
        .iter()
        .filter(|e| e["event"]["action"] == "retention.delete")
        .count();
    assert_eq!(deletions, doomed.len());
    assert_eq!(app.replay(&globex, "kind=log").await.len(), 24);
}

#[tokio::test]
async fn tier_run_writes_to_an_s3_compatible_store_through_the_command_line() {
    let port = free_port();
    let mut moto = std::process::Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("moto_server is installed (make test installs moto[server])");
    let endpoint = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.put(format!("{endpoint}/cold-bucket")).send().await.is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let (app, _dir, acme, _globex) = two_tenants_in_closed_chunks(2_000).await;
    let before = app.replay(&acme, "include_raw=true").await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_tidemark"))
        .args(["tier", "run", "--hot-for", "0s"])
        .env("DATABASE_URL", &app.db.conn)
        .env("TIDEMARK_OBJECT_STORE_URL", "s3://cold-bucket/tidemark")
        .env("TIDEMARK_DATA_DIR", _dir.path())
        .env("AWS_ENDPOINT", &endpoint)
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let moved: Vec<&Value> = report["tiering"]["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["table"] == "events")
        .collect();
    assert_eq!(
        moved.iter().map(|c| c["rows"].as_i64().unwrap()).sum::<i64>(),
        150,
        "{report}"
    );

    // The files are in the bucket under the prefix, and replay reads them back unchanged.
    let s3 = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(&endpoint)
        .with_allow_http(true)
        .with_bucket_name("cold-bucket")
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .with_region("us-east-1")
        .build()
        .unwrap();
    let objects: Arc<dyn ObjectStore> = Arc::new(object_store::prefix::PrefixStore::new(s3, "tidemark"));
    let registered: Vec<String> = app
        .db
        .client()
        .await
        .query("SELECT path FROM cold_files WHERE table_name = 'events'", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        registered.len() as i64,
        moved.iter().map(|c| c["files"].as_i64().unwrap()).sum::<i64>()
    );
    for path in &registered {
        objects
            .head(&object_store::path::Path::from(path.as_str()))
            .await
            .unwrap();
    }
    let tenant = TenantId::new("acme").unwrap();
    let page = tier::read::replay_page(
        &app.db.store,
        Some(&objects),
        &tenant,
        &ReplayFilter::default(),
        0,
        10_000,
    )
    .await
    .unwrap();
    let replayed: Vec<Value> = page.iter().map(|e| e.to_ecs(true)).collect();
    let _ = moto.kill();
    let _ = moto.wait();
    assert_eq!(replayed[..before.len()], before[..]);
}

#[tokio::test]
async fn hunts_running_beside_tiering_see_every_event_exactly_once() {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Int64Type;
    use tidemark::query::{HuntRequest, QueryEngine, QueryLimits};

    let (app, dir) = app_with_cold_tier(2_000).await;
    let acme = app.db.token("acme", Role::Admin).await;
    for burst in 0..6 {
        ingest(&app, &acme, burst * 100, 50).await;
        tokio::time::sleep(Duration::from_millis(1_100)).await;
    }
    let (count, sum): (i64, i64) = {
        let row = app
            .db
            .client()
            .await
            .query_one(
                "SELECT count(*), sum(position)::bigint FROM events WHERE tenant_id = 'acme'",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(count, 300);
    let ctx = context(&app, &dir);
    let engine = QueryEngine::new(
        app.db.store.clone(),
        Some(Arc::clone(&ctx.objects)),
        QueryLimits::default(),
    );
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hunters: Vec<_> = (0..2)
        .map(|_| {
            let (engine, stop) = (engine.clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                let tenant = TenantId::new("acme").unwrap();
                let mut seen = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let req = HuntRequest {
                        sql: "SELECT count(*) AS n, sum(position) AS s FROM events WHERE kind <> 'action'".into(),
                        ..HuntRequest::default()
                    };
                    let mut hunt = engine.hunt(&tenant, req).await.unwrap();
                    let batch = hunt.next_batch().await.unwrap().expect("one row");
                    let n = batch.column(0).as_primitive::<Int64Type>().value(0);
                    let s = batch.column(1).as_primitive::<Int64Type>();
                    let s = (!s.is_null(0)).then(|| s.value(0));
                    while hunt.next_batch().await.unwrap().is_some() {}
                    let stats = hunt.stats();
                    seen.push((n, s, stats.hot_rows, stats.cold_rows));
                }
                seen
            })
        })
        .collect();
    let report = tier::tier_run(&ctx, Utc::now(), false).await.unwrap();
    assert!(
        report.chunks.iter().filter(|c| c.table == tier::Table::Events).count() >= 6,
        "{report:?}"
    );
    // A few more hunts once everything is cold.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut observations = Vec::new();
    for h in hunters {
        observations.extend(h.await.unwrap());
    }
    assert!(observations.len() >= 4, "{observations:?}");
    for (n, s, _, _) in &observations {
        assert_eq!((*n, *s), (count, Some(sum)), "a hunt saw an event twice or missed one");
    }
    // Hunts ran while some chunks were cold and others hot, and after all moved.
    assert!(
        observations.iter().any(|(_, _, hot, cold)| *hot > 0 && *cold > 0),
        "{observations:?}"
    );
    assert!(
        observations.iter().any(|(_, _, _, cold)| *cold >= 300),
        "{observations:?}"
    );
}

/// The number of events in the log: the chain head's position.
async fn head_position(app: &TestApp) -> i64 {
    scalar(app, "SELECT position FROM log_head WHERE id = 1").await
}

/// The seq of the batch that holds `position`.
async fn batch_of(app: &TestApp, position: i64) -> i64 {
    app.db
        .client()
        .await
        .query_one(
            "SELECT seq FROM log_batches WHERE $1 BETWEEN first_position AND last_position",
            &[&position],
        )
        .await
        .unwrap()
        .get(0)
}

/// A registered events file.
#[derive(Debug, Clone)]
struct Registered {
    path: String,
    tenant: String,
    kind: String,
    first_position: i64,
    rows: i64,
}

/// The registered events files, in position order.
async fn cold_event_files(app: &TestApp) -> Vec<Registered> {
    app.db
        .client()
        .await
        .query(
            "SELECT path, tenant_id, kind, first_position, row_count FROM cold_files \
             WHERE table_name = 'events' ORDER BY first_position, id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| Registered {
            path: r.get(0),
            tenant: r.get(1),
            kind: r.get(2),
            first_position: r.get(3),
            rows: r.get(4),
        })
        .collect()
}

/// Rewrites the Parquet file at `path` in place, still valid Parquet, with the message of row
/// `row` changed; returns that row's position.
fn rewrite_message(path: &std::path::Path, row: usize) -> i64 {
    use arrow::array::{Array, AsArray, RecordBatch, StringArray};
    use arrow::datatypes::Int64Type;
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let mut batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    let schema = batches[0].schema();
    let message = schema.index_of("message").unwrap();
    let first = &batches[0];
    let position = first.column(0).as_primitive::<Int64Type>().value(row);
    let old = first.column(message).as_string::<i32>();
    let new: StringArray = (0..old.len())
        .map(|i| {
            if i == row {
                Some("rewritten by hand")
            } else {
                (!old.is_null(i)).then(|| old.value(i))
            }
        })
        .collect();
    let mut columns = first.columns().to_vec();
    columns[message] = Arc::new(new);
    batches[0] = RecordBatch::try_new(Arc::clone(&schema), columns).unwrap();
    let mut writer = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    for batch in &batches {
        writer.write(batch).unwrap();
    }
    writer.close().unwrap();
    position
}

#[tokio::test]
async fn verify_reads_tiered_batches_from_parquet_and_checks_every_event_of_both_tiers() {
    let (app, dir, acme, _globex) = two_tenants_in_closed_chunks(2_000).await;
    let ctx = context(&app, &dir);
    tier::tier_run(&ctx, Utc::now(), false).await.unwrap();
    ingest(&app, &acme, 1_000, 10).await;
    let client = app.db.client().await;
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM events), \
             (SELECT coalesce(sum(row_count), 0)::bigint FROM cold_files WHERE table_name = 'events'), \
             (SELECT count(*) FROM log_batches), \
             (SELECT count(*) FROM log_batches WHERE last_position <= \
                (SELECT max(last_position) FROM cold_chunks WHERE table_name = 'events'))",
            &[],
        )
        .await
        .unwrap();
    let (hot, cold, batches, cold_batches): (i64, i64, i64, i64) = (row.get(0), row.get(1), row.get(2), row.get(3));
    let total = head_position(&app).await;
    assert_eq!(cold, 150, "the three bursts are cold");
    assert!(
        hot > 0 && cold_batches > 0,
        "{hot} hot events, {cold_batches} cold batches"
    );
    assert_eq!(hot + cold, total);

    let report = verify_chain(&app.db.store, Some(&ctx.objects), |_| {}).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events_checked as i64, total, "{report:?}");
    assert_eq!(
        (report.hot_events_checked as i64, report.cold_events_checked as i64),
        (hot, cold)
    );
    assert_eq!(report.batches_checked as i64, batches);
    assert_eq!((report.batches_expired, report.batches_unchecked), (0, 0));

    // Without the object store the cold batches are neither broken nor claimed intact.
    let blind = verify_chain(&app.db.store, None, |_| {}).await.unwrap();
    assert_eq!(blind.first_broken, None);
    assert!(!blind.is_intact());
    assert_eq!(blind.batches_unchecked as i64, cold_batches);
    assert_eq!(blind.events_checked as i64, hot);

    // The command line opens the configured store, and says so when it cannot.
    let run = |url: String| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_tidemark"))
            .arg("verify")
            .env("DATABASE_URL", &app.db.conn)
            .env("TIDEMARK_OBJECT_STORE_URL", url)
            .env("TIDEMARK_DATA_DIR", dir.path())
            .output()
    };
    let ok = run(format!("file://{}", dir.path().display())).await.unwrap();
    let stderr = String::from_utf8_lossy(&ok.stderr);
    assert_eq!(ok.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains(&format!("({hot} hot, {cold} cold)")), "{stderr}");
    let json: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(json["cold_events_checked"], cold);
    let unread = run("gs://nowhere".into()).await.unwrap();
    let stderr = String::from_utf8_lossy(&unread.stderr);
    assert_eq!(unread.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("NOT fully verified") && stderr.contains("TIDEMARK_OBJECT_STORE_URL"),
        "{stderr}"
    );
    let json: Value = serde_json::from_slice(&unread.stdout).unwrap();
    assert_eq!(json["batches_unchecked"], cold_batches);
}

#[tokio::test]
async fn verify_names_the_batch_whose_cold_file_was_rewritten() {
    let (app, dir, _acme, _globex) = two_tenants_in_closed_chunks(2_000).await;
    let ctx = context(&app, &dir);
    tier::tier_run(&ctx, Utc::now(), false).await.unwrap();
    // The last cold chunk's acme logs, so that earlier batches verify first.
    let file = cold_event_files(&app)
        .await
        .into_iter()
        .rfind(|f| f.tenant == "acme" && f.kind == "log")
        .unwrap();
    let position = rewrite_message(&dir.path().join(&file.path), 3);
    let seq = batch_of(&app, position).await;

    let report = verify_chain(&app.db.store, Some(&ctx.objects), |_| {}).await.unwrap();
    let broken = report.first_broken.clone().expect("the rewritten message is detected");
    assert_eq!(broken.seq, seq, "{broken:?}");
    // Read, not refused: the file is valid Parquet whose events no longer hash to the batch.
    assert!(
        broken.reason.contains("altered") && broken.reason.contains(&file.path),
        "{}",
        broken.reason
    );
    assert_eq!(report.batches_checked as i64, seq - 1);
}

#[tokio::test]
async fn verify_counts_batches_retention_deleted_as_expired_but_not_files_deleted_by_hand() {
    let (app, dir, acme, _globex) = two_tenants_in_closed_chunks(2_000).await;
    let ctx = context(&app, &dir);
    tier::tier_run(&ctx, Utc::now(), false).await.unwrap();
    let acme_logs: Vec<i64> = app
        .replay(&acme, "kind=log")
        .await
        .iter()
        .map(|e| e["tidemark"]["position"].as_i64().unwrap())
        .collect();
    assert_eq!(acme_logs.len(), 96);
    let policies = keep_all_but_acme_logs();
    let later = Utc::now() + chrono::Duration::seconds(10);
    let done = tier::retention_run(&ctx, &policies, later, false).await.unwrap();
    assert_eq!(done.deleted_rows, 96, "{done:?}");
    let client = app.db.client().await;
    let row = client
        .query_one(
            "SELECT count(*), coalesce(sum(event_count), 0)::bigint FROM log_batches b \
             WHERE EXISTS (SELECT 1 FROM unnest($1::bigint[]) p WHERE p BETWEEN b.first_position AND b.last_position)",
            &[&acme_logs],
        )
        .await
        .unwrap();
    let (expired_batches, events_in_expired): (i64, i64) = (row.get(0), row.get(1));
    let files = cold_event_files(&app).await;
    let acme_alerts: Vec<&Registered> = files.iter().filter(|f| f.tenant == "acme").collect();
    assert!(
        !acme_alerts.is_empty() && acme_alerts.iter().all(|f| f.kind == "alert"),
        "{files:?}"
    );
    let total = head_position(&app).await;

    let verify = || verify_chain(&app.db.store, Some(&ctx.objects), |_| {});
    let report = verify().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.batches_expired as i64, expired_batches, "{report:?}");
    assert_eq!(report.events_expired, 96);
    assert_eq!(report.events_checked as i64, total - events_in_expired);
    assert_eq!(report.cold_files_checked as usize, acme_alerts.len(), "{report:?}");

    // The rest of an expired batch is checked by its file's hash as recorded when it was tiered.
    let alerts = dir.path().join(&acme_alerts[0].path);
    let original = std::fs::read(&alerts).unwrap();
    rewrite_message(&alerts, 1);
    let broken = verify()
        .await
        .unwrap()
        .first_broken
        .expect("the rewritten file is detected");
    assert_eq!(broken.seq, batch_of(&app, acme_alerts[0].first_position).await);
    assert!(
        broken.reason.contains("SHA-256") && broken.reason.contains(&acme_alerts[0].path),
        "{}",
        broken.reason
    );
    std::fs::write(&alerts, original).unwrap();
    assert!(verify().await.unwrap().is_intact());

    // Files removed without a recorded deletion leave missing events, not expired ones.
    let last_alerts = acme_alerts.last().unwrap();
    std::fs::remove_file(dir.path().join(&last_alerts.path)).unwrap();
    let broken = verify()
        .await
        .unwrap()
        .first_broken
        .expect("the removed file is detected");
    assert_eq!(broken.seq, batch_of(&app, last_alerts.first_position).await);
    assert!(
        broken.reason.contains("missing") && broken.reason.contains(&last_alerts.path),
        "{}",
        broken.reason
    );
    let globex_logs = files.iter().find(|f| f.tenant == "globex" && f.kind == "log").unwrap();
    assert!(globex_logs.rows > 0 && globex_logs.first_position < last_alerts.first_position);
    std::fs::remove_file(dir.path().join(&globex_logs.path)).unwrap();
    let broken = verify()
        .await
        .unwrap()
        .first_broken
        .expect("the removed file is detected");
    assert_eq!(broken.seq, batch_of(&app, globex_logs.first_position).await);
    assert!(broken.reason.contains("missing"), "{}", broken.reason);
}
