//! Test harness: one TimescaleDB cluster per test run (from `scripts/with-test-cluster.sh`
//! via `TIDEMARK_TEST_PG`, or else a shared one in `$TMPDIR/tidemark-test-shared`), a fresh
//! database per test, and the app served on 127.0.0.1:0.
#![allow(dead_code, unreachable_pub)]

pub mod soc;

pub mod connectors;

pub mod hunt;

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use tidemark::config::Settings;
use tidemark::event::{Role, TenantId};
use tidemark::store::{self, ClusterOptions, EmbeddedCluster, Store};

static FALLBACK: OnceLock<EmbeddedCluster> = OnceLock::new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// libpq-style connection string of the test cluster (without dbname).
pub fn cluster_conn() -> String {
    if let Ok(conn) = std::env::var("TIDEMARK_TEST_PG") {
        return conn;
    }
    // Without `make test`, every test process shares one cluster, started once and left
    // running for later runs; a file lock keeps two processes from initializing it together.
    let cluster = FALLBACK.get_or_init(|| {
        let dir = std::env::temp_dir().join("tidemark-test-shared");
        std::fs::create_dir_all(&dir).expect("create the shared test cluster directory");
        let lock = std::fs::File::create(dir.with_extension("lock")).expect("create the test cluster lock");
        lock.lock().expect("lock the shared test cluster");
        let mut opts = ClusterOptions::new(&dir);
        opts.settings = vec![
            ("timescaledb.max_background_workers".into(), "0".into()),
            ("fsync".into(), "off".into()),
        ];
        EmbeddedCluster::start(opts).expect("start an embedded test cluster (or run through `make test`)")
    });
    cluster.connection_string("postgres").replace(" dbname=postgres", "")
}

/// A fresh, migrated database.
pub struct TestDb {
    pub name: String,
    pub conn: String,
    pub store: Store,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let base = cluster_conn();
        let name = format!(
            "t_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            chrono::Utc::now().timestamp_micros() % 1_000_000
        );
        let admin = psql_client(&format!("{base} dbname=postgres")).await;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        let conn = format!("{base} dbname={name}");
        let store = Store::new(conn.parse().unwrap(), 16).unwrap();
        store::migrate(&store).await.expect("migrations apply");
        TestDb { name, conn, store }
    }

    /// A direct connection, for assertions and for tampering.
    pub async fn client(&self) -> tokio_postgres::Client {
        psql_client(&self.conn).await
    }

    /// How many events the log holds.
    pub async fn event_count(&self) -> i64 {
        self.client()
            .await
            .query_one("SELECT count(*) FROM events", &[])
            .await
            .unwrap()
            .get(0)
    }

    pub async fn token(&self, tenant: &str, role: Role) -> String {
        store::create_token(&self.store, &TenantId::new(tenant).unwrap(), role, None)
            .await
            .unwrap()
    }
}

pub async fn psql_client(conn: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(conn, tokio_postgres::NoTls)
        .await
        .expect("connect to the test cluster");
    tokio::spawn(connection);
    client
}

/// The app, served in-process on an ephemeral port.
pub struct TestApp {
    pub addr: SocketAddr,
    pub db: TestDb,
    pub http: reqwest::Client,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(Settings::default()).await
    }

    pub async fn spawn_with(settings: Settings) -> TestApp {
        let db = TestDb::new().await;
        let (state, _appender) = tidemark::app::build_state(db.store.clone(), &settings);
        // Connectors run as under `serve`; the token is never cancelled, the test process ends first.
        tokio::spawn(std::sync::Arc::clone(&state.connectors).run(tokio_util::sync::CancellationToken::new()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, tidemark::api::router(state)).await });
        TestApp {
            addr,
            db,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POSTs `body` to the ingest endpoint with `token`.
    pub async fn ingest(&self, token: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.http
            .post(self.url("/api/v1/ingest"))
            .bearer_auth(token)
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Replays with the given query string and returns the parsed lines.
    pub async fn replay(&self, token: &str, query: &str) -> Vec<serde_json::Value> {
        let resp = self
            .http
            .get(self.url(&format!("/api/v1/replay?{query}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            200,
            "replay failed: {}",
            resp.text().await.unwrap_or_default()
        );
        let text = resp.text().await.unwrap();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }
}

/// An sshd-style ECS event as one NDJSON line.
pub fn ssh_event(i: usize, id: Option<&str>) -> String {
    let mut v = serde_json::json!({
        "@timestamp": "2026-11-20T10:00:00Z",
        "event": {"kind": "log", "dataset": "sshd", "action": "ssh_login", "outcome": "failure"},
        "host": {"name": format!("web-{}", i % 7)},
        "source": {"ip": format!("10.0.{}.{}", (i / 250) % 250, i % 250), "port": 40000 + (i % 20000)},
        "user": {"name": "root"},
        "message": format!("Failed password for root from 10.0.0.{} port 22 ssh2 #{i}", i % 250),
    });
    if let Some(id) = id {
        v["event"]["id"] = serde_json::Value::String(id.to_owned());
    }
    v.to_string()
}

/// The stored event ids, after asserting that no id is stored twice and every event has one.
pub async fn stored_ids_once(sql: &tokio_postgres::Client) -> std::collections::HashSet<String> {
    let dupes = sql
        .query(
            "SELECT event_id, count(*) FROM events GROUP BY event_id HAVING count(*) > 1 LIMIT 10",
            &[],
        )
        .await
        .unwrap();
    let dupes: Vec<(Option<String>, i64)> = dupes.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert!(dupes.is_empty(), "events stored more than once: {dupes:?}");
    sql.query("SELECT event_id FROM events", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| {
            r.get::<_, Option<String>>(0)
                .expect("every stored event has an event.id")
        })
        .collect()
}

/// Asserts that positions are exactly 1..=N and returns N.
pub async fn dense_positions(sql: &tokio_postgres::Client) -> i64 {
    let row = sql
        .query_one(
            "SELECT min(position), max(position), count(*), count(DISTINCT position) FROM events",
            &[],
        )
        .await
        .unwrap();
    let n: i64 = row.get(2);
    let found: (Option<i64>, Option<i64>, i64) = (row.get(0), row.get(1), row.get(3));
    assert_eq!(found, (Some(1), Some(n), n), "positions must be exactly 1..={n}");
    n
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().unwrap().port()
}
