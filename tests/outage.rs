//! Database outage: while PostgreSQL is down, ingest answers 503 with `Retry-After`; clients
//! that retry with the same `event.id`s lose nothing and store nothing twice once it is back.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tidemark::config::Settings;
use tidemark::event::{Role, TenantId};
use tidemark::store::{self, ClusterOptions, EmbeddedCluster, Store};

const CLIENTS: usize = 4;
const BATCHES_PER_CLIENT: usize = 10;
const BATCH_EVENTS: usize = 100;
/// Pause after each acknowledged batch, so the outage falls mid-stream.
const PACE: Duration = Duration::from_millis(200);
/// Pause before retrying a refused batch (shorter than `Retry-After`, to keep the test short).
const RETRY_PAUSE: Duration = Duration::from_millis(200);
const MAX_ATTEMPTS_PER_BATCH: usize = 1_000;
const OUTAGE: Duration = Duration::from_millis(2_500);
const TEST_TIMEOUT: Duration = Duration::from_secs(90);

/// Stops the cluster with `pg_ctl stop -m immediate` on drop unless disarmed, so a failing test
/// does not leak a running postgres.
struct ClusterGuard {
    opts: ClusterOptions,
    armed: bool,
}

impl Drop for ClusterGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let pg_ctl = self.opts.bin_dir.join("pg_ctl");
        let pgdata = self.opts.data_dir.join("pg");
        let mut cmd = if is_root() {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", &self.opts.os_user, "--"]).arg(pg_ctl);
            cmd
        } else {
            Command::new(pg_ctl)
        };
        let _ = cmd
            .arg("-D")
            .arg(pgdata)
            .args(["stop", "-m", "immediate", "-w", "-t", "30"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

async fn start_cluster(opts: &ClusterOptions) -> EmbeddedCluster {
    let opts = opts.clone();
    tokio::task::spawn_blocking(move || EmbeddedCluster::start(opts))
        .await
        .unwrap()
        .expect("start the embedded cluster")
}

async fn stop_cluster(cluster: EmbeddedCluster) {
    tokio::task::spawn_blocking(move || cluster.stop())
        .await
        .unwrap()
        .expect("stop the embedded cluster");
}

/// What the clients saw, shared between them.
#[derive(Default)]
struct Observed {
    /// Non-2xx answers by status.
    refusals: BTreeMap<u16, usize>,
    /// 503 answers without a `Retry-After` header.
    missing_retry_after: usize,
    /// Transport errors (none expected: the server itself stays up).
    transport_errors: Vec<String>,
    /// Duplicates reported in 2xx answers (batches committed before a refusal, then retried).
    duplicates_reported: u64,
}

fn batch_ids(client: usize, batch: usize) -> Vec<String> {
    (0..BATCH_EVENTS)
        .map(|j| format!("outage-c{client}-b{batch}-e{j}"))
        .collect()
}

/// Sends this client's batches in order, retrying each with the same ids until acknowledged.
async fn run_client(
    client: usize,
    http: reqwest::Client,
    url: String,
    token: String,
    acked_batches: Arc<AtomicUsize>,
    observed: Arc<Mutex<Observed>>,
    deadline: Instant,
) {
    for batch in 0..BATCHES_PER_CLIENT {
        let ids = batch_ids(client, batch);
        let body: String = ids
            .iter()
            .enumerate()
            .map(|(j, id)| common::ssh_event((client * BATCHES_PER_CLIENT + batch) * BATCH_EVENTS + j, Some(id)) + "\n")
            .collect();
        let mut attempts = 0;
        loop {
            attempts += 1;
            assert!(
                attempts <= MAX_ATTEMPTS_PER_BATCH && Instant::now() < deadline,
                "client {client} batch {batch} not acknowledged after {attempts} attempts"
            );
            let sent = http
                .post(&url)
                .bearer_auth(&token)
                .header("content-type", "application/x-ndjson")
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(resp) if resp.status().is_success() => {
                    let answer: serde_json::Value = resp.json().await.expect("a JSON ingest answer");
                    assert_eq!(answer["accepted"], BATCH_EVENTS, "{answer}");
                    let duplicates = answer["duplicates"].as_u64().unwrap_or_default();
                    observed.lock().unwrap().duplicates_reported += duplicates;
                    acked_batches.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let has_retry_after = resp.headers().contains_key(reqwest::header::RETRY_AFTER);
                    let mut seen = observed.lock().unwrap();
                    *seen.refusals.entry(status).or_default() += 1;
                    if status == 503 && !has_retry_after {
                        seen.missing_retry_after += 1;
                    }
                }
                Err(e) => observed.lock().unwrap().transport_errors.push(e.to_string()),
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
        tokio::time::sleep(PACE).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ingest_answers_503_while_the_database_is_down_and_loses_nothing() {
    let deadline = Instant::now() + TEST_TIMEOUT;
    let dir = tempfile::Builder::new()
        .prefix("tidemark-outage-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut opts = ClusterOptions::new(dir.path());
    opts.settings = vec![("timescaledb.max_background_workers".into(), "0".into())];
    // Declared after `dir`, so it runs (and stops postgres) before the directory is removed.
    let mut guard = ClusterGuard {
        opts: opts.clone(),
        armed: true,
    };

    let cluster = start_cluster(&opts).await;
    tidemark::app::ensure_database(&cluster, "tidemark").await.unwrap();
    let store = Store::new(cluster.config("tidemark"), 8).unwrap();
    store::migrate(&store).await.unwrap();
    let token = store::create_token(&store, &TenantId::new("acme").unwrap(), Role::Ingest, None)
        .await
        .unwrap();

    let (state, _appender) = tidemark::app::build_state(store.clone(), &Settings::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, tidemark::api::router(state)).await });
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let health = |http: reqwest::Client| {
        let url = format!("{base}/api/health");
        async move { http.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(health(http.clone()).await, 200);

    let acked_batches = Arc::new(AtomicUsize::new(0));
    let observed = Arc::new(Mutex::new(Observed::default()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            tokio::spawn(run_client(
                c,
                http.clone(),
                format!("{base}/api/v1/ingest"),
                token.clone(),
                Arc::clone(&acked_batches),
                Arc::clone(&observed),
                deadline,
            ))
        })
        .collect();

    // Let some batches through, then take the database away mid-stream.
    while acked_batches.load(Ordering::Relaxed) < CLIENTS * 2 {
        assert!(Instant::now() < deadline, "no batches acknowledged before the outage");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop_cluster(cluster).await;
    let down_since = Instant::now();
    let acked_at_stop = acked_batches.load(Ordering::Relaxed);
    assert!(
        acked_at_stop < CLIENTS * BATCHES_PER_CLIENT,
        "the clients finished before the outage began"
    );
    assert_eq!(health(http.clone()).await, 503, "health must report the database down");
    // The answer to a commit made just before the shutdown may still be on its way; after a
    // second, nothing may be acknowledged until the database is back.
    tokio::time::sleep(Duration::from_secs(1).saturating_sub(down_since.elapsed())).await;
    let acked_settled = acked_batches.load(Ordering::Relaxed);
    tokio::time::sleep(OUTAGE.saturating_sub(down_since.elapsed())).await;
    let refused_during_outage = observed.lock().unwrap().refusals.get(&503).copied().unwrap_or(0);
    assert!(
        refused_during_outage > 0,
        "no ingest request was answered 503 while the database was down"
    );
    let acked_during_outage = acked_batches.load(Ordering::Relaxed) - acked_settled;
    assert_eq!(
        acked_during_outage, 0,
        "batches acknowledged while the database was down"
    );
    let cluster = start_cluster(&opts).await;
    let outage = down_since.elapsed();

    for client in clients {
        tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), client)
            .await
            .expect("clients did not finish within the test timeout")
            .expect("client task panicked");
    }
    let observed = std::mem::take(&mut *observed.lock().unwrap());
    eprintln!(
        "outage of {outage:?}: {acked_at_stop} batches acknowledged before it, refusals by status {:?}, \
         {} duplicates reported on retries",
        observed.refusals, observed.duplicates_reported
    );
    assert!(
        observed.refusals.keys().all(|&s| s == 503),
        "refusals other than 503: {:?}",
        observed.refusals
    );
    assert_eq!(observed.missing_retry_after, 0, "503 answers without Retry-After");
    assert!(
        observed.transport_errors.is_empty(),
        "transport errors: {:?}",
        observed.transport_errors
    );

    // Exactly the sent events, each once, at dense positions.
    let (sql, connection) = cluster.config("tidemark").connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let stored = common::stored_ids_once(&sql).await;
    let sent: HashSet<String> = (0..CLIENTS)
        .flat_map(|c| (0..BATCHES_PER_CLIENT).flat_map(move |b| batch_ids(c, b)))
        .collect();
    let lost: Vec<&String> = sent.difference(&stored).take(10).collect();
    assert!(
        lost.is_empty(),
        "{} events lost, e.g. {lost:?}",
        sent.difference(&stored).count()
    );
    let unknown: Vec<&String> = stored.difference(&sent).take(10).collect();
    assert!(unknown.is_empty(), "stored events that were never sent: {unknown:?}");

    let n = (CLIENTS * BATCHES_PER_CLIENT * BATCH_EVENTS) as i64;
    assert_eq!(common::dense_positions(&sql).await, n);
    let report = store::verify_chain(&store, None, |_| {}).await.unwrap();
    assert!(report.is_intact(), "hash chain broken by the outage: {report:?}");
    assert_eq!(report.events_checked, n as u64);

    assert_eq!(health(http.clone()).await, 200, "health must recover with the database");

    drop(sql);
    stop_cluster(cluster).await;
    guard.armed = false;
}
