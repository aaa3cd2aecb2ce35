//! The `tidemark` binary itself: the embedded cluster's life cycle under `serve`, and the
//! `token` and `verify` commands.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestDb, free_port, ssh_event};

const BIN: &str = env!("CARGO_BIN_EXE_tidemark");

/// Kills the server if a test fails before stopping it.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(data_dir: &Path, port: u16) -> Server {
    let child = Command::new(BIN)
        .arg("serve")
        .env_remove("DATABASE_URL")
        .env("TIDEMARK_DATA_DIR", data_dir)
        .env("TIDEMARK_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("TIDEMARK_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Server(child)
}

async fn wait_healthy(http: &reqwest::Client, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(resp) = http.get(format!("http://127.0.0.1:{port}/api/health")).send().await
            && resp.status() == 200
        {
            return;
        }
        assert!(Instant::now() < deadline, "server did not become healthy");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn terminate(mut server: Server) -> std::process::ExitStatus {
    let pid = server.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn cli(data_dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("DATABASE_URL")
        .env("TIDEMARK_DATA_DIR", data_dir)
        .output()
        .unwrap()
}

#[tokio::test]
async fn serve_runs_its_own_cluster_stops_it_on_sigterm_and_reuses_the_data() {
    let dir = tempfile::Builder::new()
        .prefix("tidemark-embedded-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let data = dir.path().join("data");
    let http = reqwest::Client::new();
    let port = free_port();

    let server = serve(&data, port);
    wait_healthy(&http, port).await;
    let out = cli(&data, &["token", "create", "--tenant", "acme", "--role", "admin"]);
    assert!(
        out.status.success(),
        "token create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("tmk_") && token.len() == 68, "{token}");
    let resp = http
        .post(format!("http://127.0.0.1:{port}/api/v1/ingest"))
        .bearer_auth(&token)
        .body(ssh_event(1, Some("first")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let second = serve(&data, free_port());
    let status = {
        let mut second = second;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = second.0.try_wait().unwrap() {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "a second server on the same data directory must refuse to start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    assert!(!status.success());

    let status = terminate(server);
    assert!(status.success(), "serve exits cleanly on SIGTERM: {status}");
    assert!(
        !data.join("pg/postmaster.pid").exists(),
        "the embedded PostgreSQL was stopped"
    );

    let port = free_port();
    let server = serve(&data, port);
    wait_healthy(&http, port).await;
    let resp = http
        .get(format!("http://127.0.0.1:{port}/api/v1/replay"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the token from the first run still works");
    let body = resp.text().await.unwrap();
    assert_eq!(body.lines().count(), 1);
    assert!(body.contains("\"first\""));
    let status = terminate(server);
    assert!(status.success());
}

#[tokio::test]
async fn verify_command_exits_zero_on_an_intact_chain_and_one_on_a_tampered_one() {
    let db = TestDb::new().await;
    let (state, _task) = tidemark::app::build_state(db.store.clone(), &tidemark::config::Settings::default());
    let job_events: Vec<_> = (0..3)
        .map(|i| {
            let raw = ssh_event(i, None);
            tidemark::parse::normalize(serde_json::from_str(&raw).unwrap(), raw.as_bytes(), "test").unwrap()
        })
        .collect();
    let job = tidemark::store::AppendJob {
        tenant: tidemark::event::TenantId::new("acme").unwrap(),
        events: job_events,
        dead_letters: vec![],
    };
    state.appender.append(job).await.unwrap();

    let run = || {
        Command::new(BIN)
            .arg("verify")
            .env("DATABASE_URL", &db.conn)
            .output()
            .unwrap()
    };
    let ok = run();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let report: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(report["events_checked"], 3);

    db.client()
        .await
        .batch_execute("SET session_replication_role = replica; UPDATE events SET raw = 'x' WHERE position = 2;")
        .await
        .unwrap();
    let broken = run();
    assert_eq!(broken.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&broken.stderr).contains("BROKEN at batch 1"));
}

#[test]
fn token_create_refuses_an_unknown_role_and_a_bad_tenant() {
    let out = Command::new(BIN)
        .args(["token", "create", "--tenant", "acme", "--role", "root"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown role"));
    let out = Command::new(BIN)
        .args(["token", "create", "--tenant", "Bad Tenant", "--role", "admin"])
        .env("DATABASE_URL", "host=/nonexistent")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid tenant id"));
}
