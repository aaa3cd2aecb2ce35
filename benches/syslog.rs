//! Syslog over TCP, end to end, against a raw `COPY` anchor; then UDP at the same rate, for
//! its loss.
//!
//! Run with `make bench-syslog` (a throwaway TimescaleDB cluster; `TIDEMARK_TEST_PG` names it).
//! `TIDEMARK_BENCH_EVENTS` sets the message count (default 500,000).
//!
//! - raw COPY: the rows a syslog connector stores for these messages (parsed by the same
//!   parser), as CSV in one `COPY ... FROM STDIN` transaction. Only the load is timed.
//! - TCP: a connector created in the table and started by the supervisor, as `serve` runs it;
//!   [`CONNECTIONS`] clients each stream their share of LF-framed messages. Timed from the
//!   first byte until the connector's `stored` counter reaches the total, i.e. committed.
//! - UDP: two more connectors, sent datagrams paced at the rate TCP reached and at half of it;
//!   the loss is the share of datagrams not stored, with the connector's drop counters by reason.
//!
//! Sender, server and PostgreSQL share the machine's cores.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use chrono::Utc;
use common::{BenchDb, Cluster, Lcg, cluster_conn, copy_load, csv_chunks, env_count, thousands};
use serde_json::json;
use tidemark::api::AppState;
use tidemark::config::Settings;
use tidemark::event::TenantId;
use tidemark::ingest::connector::Live;
use tidemark::parse::{Format, ParseContext, parse_record};
use tidemark::store::connectors::create_connector;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

const DEFAULT_MESSAGES: usize = 500_000;
const TENANT: &str = "bench";
const SOURCE: &str = "syslog:bench";
/// Concurrent TCP senders, as several relays would be.
const CONNECTIONS: usize = 4;
/// Most datagrams sent in the UDP run.
const MAX_DATAGRAMS: usize = 200_000;
/// How long a run may take before the bench gives up.
const RUN_LIMIT: Duration = Duration::from_secs(600);

#[tokio::main]
async fn main() -> Result<()> {
    let base = cluster_conn()?;
    let n = env_count("TIDEMARK_BENCH_EVENTS", DEFAULT_MESSAGES)?;
    eprintln!("generating {n} syslog messages");
    let messages = generate(n);
    let bytes: usize = messages.iter().map(|m| m.len() + 1).sum();
    let mut cluster = Cluster::connect(&base).await?;
    let outcome = run(&mut cluster, &messages).await;
    cluster.drop_databases().await;
    let (copy, tcp, udp) = outcome?;
    report(n, bytes, copy, tcp, &udp);
    Ok(())
}

async fn run(cluster: &mut Cluster, messages: &[Vec<u8>]) -> Result<(Duration, Duration, Vec<UdpRun>)> {
    let db = cluster.fresh_database("syslog_copy").await?;
    eprintln!("raw COPY: parsing and encoding rows");
    let ctx = ParseContext {
        received_at: Utc::now(),
        tz: None,
    };
    let rows = messages
        .iter()
        .map(|m| Ok(parse_record(m, Format::Syslog, SOURCE, &ctx).event));
    let chunks = csv_chunks(TENANT, rows)?;
    eprintln!("raw COPY: loading");
    let copy = copy_load(&db, chunks, messages.len()).await?;
    cluster.drop_database(db).await;

    let db = cluster.fresh_database("syslog_tcp").await?;
    let server = Server::start(&db).await?;
    eprintln!("TCP: {CONNECTIONS} connections");
    let tcp = server.tcp_run(messages).await?;
    db.check_count(messages.len()).await?;
    let rate = messages.len() as f64 / tcp.as_secs_f64();
    let datagrams = &messages[..messages.len().min(MAX_DATAGRAMS)];
    let mut udp = Vec::new();
    for (name, share) in [("bench-udp-full", 1.0), ("bench-udp-half", 0.5)] {
        eprintln!(
            "UDP: {} datagrams at {} per second",
            datagrams.len(),
            thousands(rate * share)
        );
        udp.push(server.udp_run(name, datagrams, rate * share).await?);
    }
    server.stop().await?;
    cluster.drop_database(db).await;
    Ok((copy, tcp, udp))
}

/// The app as `serve` wires it, with its connector supervisor running.
struct Server {
    state: AppState,
    appender: tokio::task::JoinHandle<()>,
    supervisor: tokio::task::JoinHandle<()>,
    shutdown: CancellationToken,
}

struct UdpRun {
    rate: f64,
    sent: usize,
    live: Live,
}

impl Server {
    async fn start(db: &BenchDb) -> Result<Self> {
        db.client()
            .await?
            .execute("INSERT INTO tenants (id) VALUES ($1)", &[&TENANT])
            .await?;
        let (state, appender) = tidemark::app::build_state(db.store.clone(), &Settings::default());
        let shutdown = CancellationToken::new();
        let supervisor = tokio::spawn(Arc::clone(&state.connectors).run(shutdown.clone()));
        Ok(Server {
            state,
            appender,
            supervisor,
            shutdown,
        })
    }

    /// Creates a connector on a free port and returns its id and address.
    async fn connector(&self, name: &str, protocol: &str) -> Result<(i64, std::net::SocketAddr)> {
        let tenant = TenantId::new(TENANT)?;
        let config = json!({ "bind": "127.0.0.1:0", "format": "syslog", "source": SOURCE });
        let row = create_connector(&self.state.store, &tenant, name, protocol, true, &config).await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            self.state.connectors.apply().await;
            if let Some(addr) = self.live(row.id).await?.listening_on {
                return Ok((row.id, addr));
            }
            ensure!(Instant::now() < deadline, "connector {name} did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn live(&self, id: i64) -> Result<Live> {
        self.state
            .connectors
            .live(id)
            .await
            .context("the supervisor does not run the connector")
    }

    /// Streams every message over [`CONNECTIONS`] connections; done when all are stored.
    async fn tcp_run(&self, messages: &[Vec<u8>]) -> Result<Duration> {
        let (id, addr) = self.connector("bench-tcp", "tcp").await?;
        let lanes: Vec<Vec<u8>> = (0..CONNECTIONS)
            .map(|lane| {
                let mut wire = Vec::new();
                for m in messages.iter().skip(lane).step_by(CONNECTIONS) {
                    wire.extend_from_slice(m);
                    wire.push(b'\n');
                }
                wire
            })
            .collect();
        let started = Instant::now();
        let senders: Vec<_> = lanes
            .into_iter()
            .map(|wire| {
                tokio::spawn(async move {
                    let mut stream = tokio::net::TcpStream::connect(addr).await?;
                    stream.write_all(&wire).await?;
                    stream.shutdown().await
                })
            })
            .collect();
        for s in senders {
            s.await??;
        }
        let live = self.wait_stored(id, messages.len(), started).await?;
        let elapsed = started.elapsed();
        ensure!(
            live.totals.dropped.is_empty(),
            "TCP dropped messages: {:?}",
            live.totals.dropped
        );
        Ok(elapsed)
    }

    /// Sends `datagrams` paced at `rate` per second, then waits until the connector's counters
    /// stop moving.
    async fn udp_run(&self, name: &str, datagrams: &[Vec<u8>], rate: f64) -> Result<UdpRun> {
        let (id, addr) = self.connector(name, "udp").await?;
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
        let started = Instant::now();
        for (i, d) in datagrams.iter().enumerate() {
            if i % 100 == 0 {
                let due = started + Duration::from_secs_f64(i as f64 / rate);
                tokio::time::sleep_until(due.into()).await;
            }
            socket.send_to(d, addr).await?;
        }
        let mut last = None;
        loop {
            // The kernel's drop count is read once a second.
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            let live = self.live(id).await?;
            let seen = (live.totals.stored, live.totals.dropped.values().sum::<u64>());
            if last == Some(seen) {
                return Ok(UdpRun {
                    rate,
                    sent: datagrams.len(),
                    live,
                });
            }
            ensure!(started.elapsed() < RUN_LIMIT, "UDP run did not settle");
            last = Some(seen);
        }
    }

    async fn wait_stored(&self, id: i64, n: usize, started: Instant) -> Result<Live> {
        loop {
            let live = self.live(id).await?;
            if live.totals.stored >= n as u64 {
                return Ok(live);
            }
            if started.elapsed() > RUN_LIMIT {
                bail!("only {} of {n} messages stored after {RUN_LIMIT:?}", live.totals.stored);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn stop(self) -> Result<()> {
        self.shutdown.cancel();
        self.supervisor.await?;
        drop(self.state);
        self.appender.await?;
        Ok(())
    }
}

/// `n` messages: 60 % RFC 3164 sshd, 25 % RFC 5424, 15 % CEF over syslog.
fn generate(n: usize) -> Vec<Vec<u8>> {
    const HOSTS: &[&str] = &["bastion-1", "web-01", "web-02", "db-01", "vpn-gw", "fw-edge"];
    const USERS: &[&str] = &["root", "admin", "deploy", "alice", "oracle", "pi", "test"];
    let mut rng = Lcg(0x7379_736c);
    (0..n)
        .map(|i| {
            let host = rng.pick(HOSTS);
            let user = rng.pick(USERS);
            let ip = format!("{}.{}.{}.{}", 45 + rng.below(180), rng.below(256), rng.below(256), 1 + rng.below(254));
            let port = 1024 + rng.below(60_000);
            let (sec, min) = (i % 60, (i / 60) % 60);
            match rng.below(20) {
                0..12 => format!(
                    "<38>Nov 21 10:{min:02}:{sec:02} {host} sshd[{}]: Failed password for invalid user {user} from {ip} port {port} ssh2",
                    1000 + i % 30_000
                ),
                12..17 => format!(
                    "<86>1 2026-11-21T10:{min:02}:{sec:02}.{:03}Z {host} sudo {} - [meta sequenceId=\"{i}\"] {user} : TTY=pts/0 ; PWD=/home/{user} ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx",
                    i % 1000,
                    2000 + i % 30_000
                ),
                _ => format!(
                    "<134>Nov 21 10:{min:02}:{sec:02} {host} CEF:0|Acme|Edge Firewall|4.2|100|Connection blocked|{}|src={ip} spt={port} dst=10.0.0.{} dpt=443 proto=TCP act=blocked suser={user}",
                    3 + rng.below(6),
                    1 + rng.below(254)
                ),
            }
            .into_bytes()
        })
        .collect()
}

fn report(n: usize, bytes: usize, copy: Duration, tcp: Duration, udp: &[UdpRun]) {
    let per_second = |d: Duration| n as f64 / d.as_secs_f64();
    println!();
    println!(
        "tidemark syslog: {n} messages ({:.1} MB, {:.0} bytes/message; 60% RFC 3164 sshd, 25% RFC 5424, 15% CEF)",
        bytes as f64 / 1e6,
        bytes as f64 / n as f64
    );
    println!("{:<28} {:>9} {:>13} {:>8}", "path", "seconds", "messages/s", "x COPY");
    println!(
        "{:<28} {:>9.2} {:>13} {:>7.2}x",
        "raw COPY (csv)",
        copy.as_secs_f64(),
        thousands(per_second(copy)),
        1.0
    );
    println!(
        "{:<28} {:>9.2} {:>13} {:>7.2}x",
        format!("TCP, {CONNECTIONS} connections"),
        tcp.as_secs_f64(),
        thousands(per_second(tcp)),
        copy.as_secs_f64() / tcp.as_secs_f64()
    );
    println!();
    println!("TCP/COPY = {:.2}x", copy.as_secs_f64() / tcp.as_secs_f64());
    for run in udp {
        let stored = run.live.totals.stored;
        let lost = run.sent as u64 - stored.min(run.sent as u64);
        println!(
            "UDP at {} datagrams/s: {} sent, {stored} stored, loss {:.2}% (dropped by reason: {:?})",
            thousands(run.rate),
            run.sent,
            100.0 * lost as f64 / run.sent as f64,
            run.live.totals.dropped
        );
    }
}
