//! Crash safety of the real binary: an event the API acknowledged survives a SIGKILL of the
//! server, is stored exactly once, and the log (positions, hash chain) continues intact after a
//! restart.

mod common;

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tidemark::event::Role;

const CLIENTS: usize = 4;
const BATCH_EVENTS: usize = 50;
const MAX_BATCHES_PER_CLIENT: usize = 2_000;
const HEALTH_TIMEOUT: Duration = Duration::from_secs(30);

/// `tidemark serve` as a child process; killed with SIGKILL and reaped when dropped, so a
/// failing assertion never leaks a server.
struct Server {
    child: Child,
}

impl Server {
    fn spawn(conn: &str, addr: &str) -> Server {
        let child = Command::new(env!("CARGO_BIN_EXE_tidemark"))
            .arg("serve")
            .env("DATABASE_URL", conn)
            .env("TIDEMARK_HTTP_ADDR", addr)
            .env("TIDEMARK_LOG_FILTER", "warn")
            .env_remove("TIDEMARK_CONFIG")
            .env_remove("TIDEMARK_DATABASE_URL")
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn `tidemark serve`");
        Server { child }
    }

    /// Waits (bounded) for `GET /api/health` to answer 200; fails early if the server exits.
    async fn wait_healthy(&mut self, http: &reqwest::Client, base: &str) {
        let started = Instant::now();
        let mut last = String::from("no answer yet");
        while started.elapsed() < HEALTH_TIMEOUT {
            if let Some(status) = self.child.try_wait().expect("poll the server process") {
                panic!("`tidemark serve` exited before becoming healthy: {status}");
            }
            match http.get(format!("{base}/api/health")).send().await {
                Ok(resp) if resp.status() == 200 => return,
                Ok(resp) => last = format!("{}: {}", resp.status(), resp.text().await.unwrap_or_default()),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("server not healthy within {HEALTH_TIMEOUT:?}; last answer: {last}");
    }

    /// SIGKILL, then reap.
    fn kill_9(&mut self) {
        self.child.kill().expect("SIGKILL the server");
        self.child.wait().expect("reap the server");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn batch_ids(client: usize, batch: usize) -> Vec<String> {
    (0..BATCH_EVENTS)
        .map(|j| format!("crash-c{client}-b{batch}-e{j}"))
        .collect()
}

fn ndjson(client: usize, batch: usize, ids: &[String]) -> String {
    ids.iter()
        .enumerate()
        .map(|(j, id)| {
            let i = (client * MAX_BATCHES_PER_CLIENT + batch) * BATCH_EVENTS + j;
            common::ssh_event(i, Some(id)) + "\n"
        })
        .collect()
}

/// What one client saw before the server died.
#[derive(Default)]
struct ClientLog {
    /// Every id sent, whether or not an answer came back.
    sent: Vec<String>,
    /// Ids of batches answered 2xx.
    acked: Vec<String>,
    /// Non-2xx answers (status and body): none are expected.
    refused: Vec<String>,
    /// The transport error that ended the client, if any.
    ended_by: Option<String>,
}

/// POSTs batches until told to stop or until the server stops answering.
async fn run_client(
    client: usize,
    http: reqwest::Client,
    url: String,
    token: String,
    stop: Arc<AtomicBool>,
    acked_batches: Arc<AtomicUsize>,
) -> ClientLog {
    let mut log = ClientLog::default();
    for batch in 0..MAX_BATCHES_PER_CLIENT {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let ids = batch_ids(client, batch);
        let body = ndjson(client, batch, &ids);
        log.sent.extend(ids.iter().cloned());
        let sent = http
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await;
        match sent {
            Ok(resp) if resp.status().is_success() => {
                log.acked.extend(ids);
                acked_batches.fetch_add(1, Ordering::Relaxed);
            }
            Ok(resp) => {
                let status = resp.status();
                log.refused
                    .push(format!("{status}: {}", resp.text().await.unwrap_or_default()));
            }
            Err(e) => {
                log.ended_by = Some(e.to_string());
                break;
            }
        }
    }
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_events_survive_a_kill_9_of_the_server_exactly_once() {
    let db = common::TestDb::new().await;
    let token = db.token("acme", Role::Ingest).await;
    let addr = format!("127.0.0.1:{}", common::free_port());
    let base = format!("http://{addr}");
    let ingest_url = format!("{base}/api/v1/ingest");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let mut server = Server::spawn(&db.conn, &addr);
    server.wait_healthy(&http, &base).await;

    // Clients hammer the server; once enough batches are acknowledged, SIGKILL it mid-stream.
    let stop = Arc::new(AtomicBool::new(false));
    let acked_batches = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            tokio::spawn(run_client(
                c,
                http.clone(),
                ingest_url.clone(),
                token.clone(),
                Arc::clone(&stop),
                Arc::clone(&acked_batches),
            ))
        })
        .collect();
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500) || acked_batches.load(Ordering::Relaxed) < 8 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "only {} batches acknowledged in 30 s",
            acked_batches.load(Ordering::Relaxed)
        );
        assert!(
            !clients.iter().all(|c| c.is_finished()),
            "every client stopped before the kill"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.kill_9();
    stop.store(true, Ordering::Relaxed);

    let mut sent = HashSet::new();
    let mut acked = HashSet::new();
    let mut refused = Vec::new();
    let mut ended_by_error = 0;
    for client in clients {
        let log = tokio::time::timeout(Duration::from_secs(30), client)
            .await
            .expect("a client did not stop within 30 s of the kill")
            .expect("client task panicked");
        sent.extend(log.sent);
        acked.extend(log.acked);
        refused.extend(log.refused);
        ended_by_error += usize::from(log.ended_by.is_some());
    }
    assert!(
        refused.is_empty(),
        "the server refused batches before the kill: {refused:?}"
    );
    assert!(!acked.is_empty());
    assert!(
        ended_by_error > 0,
        "no request was in flight when the server was killed"
    );
    eprintln!(
        "killed after {:?}: {} events sent, {} acknowledged; {ended_by_error} of {CLIENTS} clients saw the connection fail",
        started.elapsed(),
        sent.len(),
        acked.len()
    );

    // Restart on the same database and port.
    let mut server = Server::spawn(&db.conn, &addr);
    server.wait_healthy(&http, &base).await;

    let sql = db.client().await;
    // Taking the log_head lock waits out any transaction of the killed server that could still
    // commit (a commit can only be in flight while its transaction holds this lock).
    sql.batch_execute("BEGIN; SELECT 1 FROM log_head WHERE id = 1 FOR UPDATE; COMMIT")
        .await
        .unwrap();

    let stored = common::stored_ids_once(&sql).await;
    let lost: Vec<&String> = acked.difference(&stored).take(10).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events are missing after the crash, e.g. {lost:?}",
        acked.difference(&stored).count()
    );
    let unknown: Vec<&String> = stored.difference(&sent).take(10).collect();
    assert!(unknown.is_empty(), "stored events that were never sent: {unknown:?}");

    let n = common::dense_positions(&sql).await;
    assert_eq!(n as usize, stored.len());
    eprintln!(
        "after the restart: {n} events stored, {} of them from batches whose answer was lost",
        n as usize - acked.len()
    );
    let head: i64 = sql
        .query_one("SELECT position FROM log_head WHERE id = 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(head, n, "log_head must point at the last stored position");
    let indexed: i64 = sql
        .query_one(
            "SELECT count(*) FROM events e JOIN event_ids i \
             ON i.tenant_id = e.tenant_id AND i.event_id = e.event_id AND i.position = e.position",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(indexed, n, "every stored event must have its idempotency key");

    let report = tidemark::store::verify_chain(&db.store, None, |_| {}).await.unwrap();
    assert!(report.is_intact(), "hash chain broken after the crash: {report:?}");
    assert_eq!(report.events_checked, n as u64);

    // An acknowledged batch retried after the crash is recognized as already stored.
    let (client, retried_ids) = (0..CLIENTS)
        .map(|c| (c, batch_ids(c, 0)))
        .find(|(_, ids)| ids.iter().all(|id| acked.contains(id)))
        .expect("some client's first batch was acknowledged");
    let resp = http
        .post(&ingest_url)
        .bearer_auth(&token)
        .header("content-type", "application/x-ndjson")
        .body(ndjson(client, 0, &retried_ids))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["duplicates"], BATCH_EVENTS, "{body}");
    assert!(body["first_position"].is_null(), "{body}");

    // New events continue the log at N+1.
    let fresh: Vec<String> = (0..5).map(|j| format!("after-restart-{j}")).collect();
    let body: String = fresh
        .iter()
        .enumerate()
        .map(|(j, id)| common::ssh_event(900_000_000 + j, Some(id)) + "\n")
        .collect();
    let resp = http
        .post(&ingest_url)
        .bearer_auth(&token)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        (body["accepted"].as_i64(), body["duplicates"].as_i64()),
        (Some(5), Some(0)),
        "{body}"
    );
    assert_eq!(
        (body["first_position"].as_i64(), body["last_position"].as_i64()),
        (Some(n + 1), Some(n + 5)),
        "{body}"
    );
    let rows = sql
        .query(
            "SELECT event_id, position FROM events WHERE position > $1 ORDER BY position",
            &[&n],
        )
        .await
        .unwrap();
    let after: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let expected: Vec<(String, i64)> = fresh.iter().cloned().zip(n + 1..=n + 5).collect();
    assert_eq!(after, expected);
    let report = tidemark::store::verify_chain(&db.store, None, |_| {}).await.unwrap();
    assert!(report.is_intact(), "hash chain broken after the restart: {report:?}");
    assert_eq!(report.events_checked, n as u64 + 5);

    drop(server);
}
