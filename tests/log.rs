//! The event log's invariants: dense commit-ordered positions under concurrency, a tailing
//! reader that never skips, immutability, and the hash chain.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{TestApp, ssh_event};
use tidemark::event::Role;
use tidemark::store::verify_chain;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_ingest_gives_positions_one_to_n_and_stores_each_acknowledged_event_once() {
    let app = Arc::new(TestApp::spawn().await);
    let token = app.db.token("acme", Role::Admin).await;
    let (clients, batches, per_batch) = (16, 10, 25);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (app, token) = (Arc::clone(&app), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for b in 0..batches {
                let ids: Vec<String> = (0..per_batch).map(|i| format!("c{c}-b{b}-{i}")).collect();
                let body: String = ids
                    .iter()
                    .enumerate()
                    .map(|(i, id)| ssh_event(i, Some(id)) + "\n")
                    .collect();
                let resp = app.ingest(&token, body).await;
                assert_eq!(resp.status(), 200);
                let json: serde_json::Value = resp.json().await.unwrap();
                let (first, last) = (
                    json["first_position"].as_i64().unwrap(),
                    json["last_position"].as_i64().unwrap(),
                );
                assert_eq!(
                    last - first + 1,
                    per_batch as i64,
                    "one request's events are contiguous"
                );
                acked.extend(ids);
            }
            acked
        }));
    }
    let mut acked = HashSet::new();
    for task in tasks {
        acked.extend(task.await.unwrap());
    }
    let n = (clients * batches * per_batch) as i64;
    assert_eq!(acked.len() as i64, n);

    let client = app.db.client().await;
    let row = client
        .query_one(
            "SELECT min(position), max(position), count(*), count(DISTINCT position) FROM events",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            row.get::<_, i64>(0),
            row.get::<_, i64>(1),
            row.get::<_, i64>(2),
            row.get::<_, i64>(3)
        ),
        (1, n, n, n)
    );
    let stored: HashSet<String> = client
        .query("SELECT event_id FROM events", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(stored, acked);
    let backwards: i64 = client
        .query_one(
            "SELECT count(*) FROM (SELECT recorded_at < lag(recorded_at) OVER (ORDER BY position) AS back FROM events) t WHERE back",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(backwards, 0, "recorded_at never decreases as position grows");

    let replayed = app.replay(&token, "").await;
    let positions: Vec<i64> = replayed
        .iter()
        .map(|e| e["tidemark"]["position"].as_i64().unwrap())
        .collect();
    assert_eq!(positions, (1..=n).collect::<Vec<_>>());
    let report = verify_chain(&app.db.store, None, |_| {}).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events_checked as i64, n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_tailing_by_position_never_skips_an_event_while_writers_run() {
    let app = Arc::new(TestApp::spawn().await);
    let token = app.db.token("acme", Role::Admin).await;
    let done = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..8 {
        let (app, token) = (Arc::clone(&app), token.clone());
        writers.push(tokio::spawn(async move {
            for b in 0..15 {
                let body: String = (0..(1 + (w + b) % 9)).map(|i| ssh_event(i, None) + "\n").collect();
                assert_eq!(app.ingest(&token, body).await.status(), 200);
            }
        }));
    }
    let reader = {
        let (db_conn, done) = (app.db.conn.clone(), Arc::clone(&done));
        tokio::spawn(async move {
            let client = common::psql_client(&db_conn).await;
            let mut cursor = 0i64;
            let mut seen = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let finished = done.load(Ordering::SeqCst);
                let rows = client
                    .query(
                        "SELECT position FROM events WHERE position > $1 ORDER BY position LIMIT 50",
                        &[&cursor],
                    )
                    .await
                    .unwrap();
                for row in &rows {
                    let p: i64 = row.get(0);
                    assert_eq!(p, cursor + 1, "the reader skipped from {cursor} to {p}");
                    cursor = p;
                    seen.push(p);
                }
                if (finished && rows.is_empty()) || Instant::now() > deadline {
                    break;
                }
            }
            seen
        })
    };
    for w in writers {
        w.await.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let seen = reader.await.unwrap();
    let total = app.db.event_count().await;
    assert_eq!(seen.len() as i64, total);
}

#[tokio::test]
async fn update_delete_and_truncate_on_the_log_fail_with_a_clear_message() {
    let app = TestApp::spawn().await;
    let token = app.db.token("acme", Role::Ingest).await;
    assert_eq!(app.ingest(&token, ssh_event(1, None)).await.status(), 200);
    let sample = app
        .http
        .post(app.url("/api/v1/metrics"))
        .bearer_auth(&token)
        .body(r#"{"name":"cpu","value":1}"#);
    assert_eq!(sample.send().await.unwrap().status(), 200);
    let client = app.db.client().await;
    for sql in [
        "UPDATE events SET message = 'rewritten'",
        "DELETE FROM events",
        "TRUNCATE events",
        "UPDATE log_batches SET hash = ''",
        "DELETE FROM log_batches",
        "UPDATE metrics SET value = 0",
        "TRUNCATE metrics",
    ] {
        let err = client.batch_execute(sql).await.expect_err(sql);
        let message = err.as_db_error().map(|e| e.message().to_owned()).unwrap_or_default();
        assert!(message.contains("append-only"), "{sql}: {message}");
    }
    let message: String = client
        .query_one("SELECT message FROM events", &[])
        .await
        .unwrap()
        .get(0);
    assert!(message.starts_with("Failed password"));
}

#[tokio::test]
async fn verify_passes_on_an_intact_chain_and_names_the_first_tampered_batch() {
    let app = TestApp::spawn().await;
    let token = app.db.token("acme", Role::Ingest).await;
    for b in 0..4 {
        let body: String = (0..5).map(|i| ssh_event(b * 5 + i, None) + "\n").collect();
        assert_eq!(app.ingest(&token, body).await.status(), 200);
    }
    let report = verify_chain(&app.db.store, None, |_| {}).await.unwrap();
    assert_eq!((report.batches_checked, report.events_checked), (4, 20));
    assert!(report.is_intact());

    // A superuser bypasses the triggers and rewrites one event of the third batch.
    let client = app.db.client().await;
    client
        .batch_execute(
            "SET session_replication_role = replica; \
             UPDATE events SET user_name = 'alice' WHERE position = 12; \
             SET session_replication_role = origin;",
        )
        .await
        .unwrap();
    let report = verify_chain(&app.db.store, None, |_| {}).await.unwrap();
    let broken = report.first_broken.expect("tampering is detected");
    assert_eq!((broken.seq, broken.first_position, broken.last_position), (3, 11, 15));
    assert!(broken.reason.contains("altered"), "{}", broken.reason);
    assert_eq!(report.batches_checked, 2);
}

#[tokio::test]
async fn verify_detects_a_deleted_event_and_a_cut_chain() {
    let app = TestApp::spawn().await;
    let token = app.db.token("acme", Role::Ingest).await;
    for b in 0..3 {
        let body: String = (0..4).map(|i| ssh_event(b * 4 + i, None) + "\n").collect();
        assert_eq!(app.ingest(&token, body).await.status(), 200);
    }
    let client = app.db.client().await;
    client
        .batch_execute("SET session_replication_role = replica; DELETE FROM events WHERE position = 6; SET session_replication_role = origin;")
        .await
        .unwrap();
    let broken = verify_chain(&app.db.store, None, |_| {})
        .await
        .unwrap()
        .first_broken
        .unwrap();
    assert_eq!(broken.seq, 2);
    assert!(broken.reason.contains("position 6"), "{}", broken.reason);

    let cut = TestApp::spawn().await;
    let token = cut.db.token("acme", Role::Ingest).await;
    for i in 0..3 {
        assert_eq!(cut.ingest(&token, ssh_event(i, None)).await.status(), 200);
    }
    cut.db
        .client()
        .await
        .batch_execute("SET session_replication_role = replica; DELETE FROM log_batches WHERE seq = 3; SET session_replication_role = origin;")
        .await
        .unwrap();
    let broken = verify_chain(&cut.db.store, None, |_| {})
        .await
        .unwrap()
        .first_broken
        .unwrap();
    assert!(
        broken.reason.contains("cut") || broken.reason.contains("beyond"),
        "{}",
        broken.reason
    );
}
