//! Connector management and behaviour: the CRUD API and its checks, TLS with client
//! certificates through the real `openssl s_client`, filters and rate limits counted by reason,
//! a port changed live, status in `/metrics` and `/api/health`, and what happens when the
//! appender is saturated.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::TestApp;
use common::connectors::{
    counter, create_connector, dropped, get_connector, listening_port, local, wait_connector, wait_raw,
};
use serde_json::{Value, json};
use tidemark::config::Settings;
use tidemark::event::Role;
use tokio::io::AsyncWriteExt;

async fn send(app: &TestApp, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = app.http.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn logger(port: u16, priority: &str, text: &str) {
    let status = Command::new("logger")
        .args([
            "-n",
            "127.0.0.1",
            "-P",
            &port.to_string(),
            "-d",
            "--rfc5424",
            "-p",
            priority,
            "-t",
            "app",
            text,
        ])
        .status()
        .expect("logger (util-linux) is installed");
    assert!(status.success());
}

#[tokio::test]
async fn the_api_checks_each_field_and_keeps_tenants_apart() {
    let app = TestApp::spawn().await;
    let admin = app.db.token("acme", Role::Admin).await;
    let analyst = app.db.token("acme", Role::Analyst).await;
    let other = app.db.token("globex", Role::Admin).await;
    let post = reqwest::Method::POST;

    let (status, body) = send(
        &app,
        post.clone(),
        "/api/v1/connectors",
        &analyst,
        Some(local("a", "udp", json!({}))),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    for (bad, field) in [
        (
            json!({"name": "a", "protocol": "udp", "config": {"bind": "localhost"}}),
            "config.bind",
        ),
        (
            json!({"name": "a", "protocol": "sctp", "config": {"bind": "127.0.0.1:0"}}),
            "protocol",
        ),
        (
            json!({"name": "-a", "protocol": "udp", "config": {"bind": "127.0.0.1:0"}}),
            "name",
        ),
        (
            json!({"name": "a", "protocol": "tls", "config": {"bind": "127.0.0.1:0"}}),
            "config.tls",
        ),
        (
            json!({"name": "a", "protocol": "udp", "config": {"bind": "127.0.0.1:0", "rate_limit": {"per_second": 0}}}),
            "config.rate_limit.per_second",
        ),
        (json!({"name": "a", "protocol": "udp"}), "config"),
    ] {
        let (status, body) = send(&app, post.clone(), "/api/v1/connectors", &admin, Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"].as_str().unwrap().contains(field), "{bad}: {body}");
    }
    let created = create_connector(&app, &admin, local("edge", "udp", json!({"tz": "Europe/Berlin"}))).await;
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["tenant"], "acme");
    assert_eq!(created["version"], 1);
    let (status, _) = send(
        &app,
        post.clone(),
        "/api/v1/connectors",
        &admin,
        Some(local("edge", "tcp", json!({}))),
    )
    .await;
    assert_eq!(status, 409, "names are unique per tenant");
    // The same name in another tenant is a different connector.
    create_connector(&app, &other, local("edge", "tcp", json!({}))).await;

    let path = format!("/api/v1/connectors/{id}");
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let (status, _) = send(&app, method, &path, &other, None).await;
        assert_eq!(status, 404, "another tenant cannot see or delete it");
    }
    let (status, _) = send(
        &app,
        reqwest::Method::PATCH,
        &path,
        &other,
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(status, 404);
    let (_, list) = send(&app, reqwest::Method::GET, "/api/v1/connectors", &admin, None).await;
    let names: Vec<&str> = list["connectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["edge"]);

    // A merge patch: only the named keys change; a bad value is refused and nothing changes.
    let (status, body) = send(
        &app,
        reqwest::Method::PATCH,
        &path,
        &admin,
        Some(json!({"config": {"tz": "Asia/Tokyo"}})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["config"], json!({"bind": "127.0.0.1:0", "tz": "Asia/Tokyo"}));
    assert_eq!(body["version"], 2);
    let (status, body) = send(
        &app,
        reqwest::Method::PATCH,
        &path,
        &admin,
        Some(json!({"config": {"tz": "Nowhere/Land"}})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(get_connector(&app, &admin, id).await["version"], 2);

    let (status, _) = send(&app, reqwest::Method::DELETE, &path, &admin, None).await;
    assert_eq!(status, 204);
    let (status, _) = send(&app, reqwest::Method::GET, &path, &admin, None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn filters_and_rate_limits_drop_messages_and_count_each_reason() {
    let app = TestApp::spawn().await;
    let admin = app.db.token("acme", Role::Admin).await;
    let filtered = create_connector(
        &app,
        &admin,
        local(
            "auth-only",
            "udp",
            json!({"filter": {"max_severity": "warning", "facilities": ["auth", "authpriv"]}}),
        ),
    )
    .await;
    let port = listening_port(&app, &admin, &filtered).await;
    logger(port, "auth.err", "kept one");
    logger(port, "auth.info", "too mild");
    logger(port, "mail.err", "wrong facility");
    logger(port, "authpriv.warning", "kept two");
    let raws = wait_raw(&app.db, 2).await;
    assert_eq!(raws.len(), 2);
    let id = filtered["id"].as_i64().unwrap();
    let view = wait_connector(&app, &admin, id, |v| counter(v, "received") == 4).await;
    assert_eq!(counter(&view, "stored"), 2, "{view}");
    assert_eq!(dropped(&view, "filtered_severity"), 1, "{view}");
    assert_eq!(dropped(&view, "filtered_facility"), 1, "{view}");
    assert_eq!(
        view["status"]["state"], "active",
        "policy drops are not trouble: {view}"
    );

    let limited = create_connector(
        &app,
        &admin,
        local(
            "limited",
            "tcp",
            json!({"rate_limit": {"per_second": 0.001, "burst": 3}}),
        ),
    )
    .await;
    let port = listening_port(&app, &admin, &limited).await;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    for i in 0..10 {
        stream
            .write_all(format!("<13>Nov 21 10:00:00 host app: burst {i}\n").as_bytes())
            .await
            .unwrap();
    }
    stream.shutdown().await.unwrap();
    let id = limited["id"].as_i64().unwrap();
    let view = wait_connector(&app, &admin, id, |v| {
        counter(v, "stored") + dropped(v, "rate_limited") == 10
    })
    .await;
    assert_eq!(counter(&view, "received"), 10, "{view}");
    assert_eq!(counter(&view, "stored"), 3, "{view}");
    assert_eq!(dropped(&view, "rate_limited"), 7, "{view}");
    assert_eq!(
        wait_raw(&app.db, 5).await.len(),
        5,
        "2 filtered-in + 3 within the burst"
    );
}

#[tokio::test]
async fn the_port_is_changed_live() {
    let app = TestApp::spawn().await;
    let admin = app.db.token("acme", Role::Admin).await;
    let created = create_connector(&app, &admin, local("moving", "tcp", json!({}))).await;
    let id = created["id"].as_i64().unwrap();
    let old_port = listening_port(&app, &admin, &created).await;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", old_port)).await.unwrap();
    stream
        .write_all(b"<13>Nov 21 10:00:00 host app: before the move\n")
        .await
        .unwrap();
    stream.shutdown().await.unwrap();
    wait_raw(&app.db, 1).await;

    let new_port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let (status, body) = send(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/v1/connectors/{id}"),
        &admin,
        Some(json!({"config": {"bind": format!("127.0.0.1:{new_port}")}})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["status"]["listening_on"],
        format!("127.0.0.1:{new_port}"),
        "{body}"
    );
    assert_eq!(body["status"]["state"], "active", "{body}");
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", old_port)).await.is_err(),
        "the old port is closed"
    );
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", new_port)).await.unwrap();
    stream
        .write_all(b"<13>Nov 21 10:00:01 host app: after the move\n")
        .await
        .unwrap();
    stream.shutdown().await.unwrap();
    let raws = wait_raw(&app.db, 2).await;
    assert_eq!(raws[1], b"<13>Nov 21 10:00:01 host app: after the move");
    // Counters carry over the restart, and the restart saved them.
    let view = wait_connector(&app, &admin, id, |v| counter(v, "stored") == 2).await;
    assert_eq!(counter(&view, "stored"), 2, "{view}");
    let client = app.db.client().await;
    let saved: i64 = client
        .query_one("SELECT stored FROM connector_status WHERE connector_id = $1", &[&id])
        .await
        .unwrap()
        .get(0);
    assert!(saved >= 1, "status saved at the restart: {saved}");

    // Disabled: the port closes and the state says so.
    let (_, body) = send(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/v1/connectors/{id}"),
        &admin,
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(body["status"]["state"], "stopped", "{body}");
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", new_port)).await.is_err());
}

#[tokio::test]
async fn status_shows_in_metrics_and_health_and_a_port_clash_is_an_error() {
    let app = TestApp::spawn().await;
    let admin = app.db.token("acme", Role::Admin).await;
    let first = create_connector(&app, &admin, local("first", "udp", json!({}))).await;
    let port = listening_port(&app, &admin, &first).await;
    logger(port, "user.notice", "counted");
    wait_connector(&app, &admin, first["id"].as_i64().unwrap(), |v| {
        counter(v, "stored") == 1
    })
    .await;
    let clash = create_connector(
        &app,
        &admin,
        json!({"name": "clash", "protocol": "udp", "config": {"bind": format!("127.0.0.1:{port}")}}),
    )
    .await;
    assert_eq!(clash["status"]["state"], "error", "{clash}");
    assert!(
        clash["status"]["last_error"]
            .as_str()
            .unwrap()
            .contains("cannot listen"),
        "{clash}"
    );

    let metrics = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"tidemark_connector_stored_total{tenant="acme",connector="first"} 1"#,
        r#"tidemark_connector_received_total{tenant="acme",connector="first"} 1"#,
        r#"tidemark_connector_state{tenant="acme",connector="clash",state="error"} 1"#,
        r#"tidemark_connector_state{tenant="acme",connector="first",state="active"} 1"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} missing from /metrics");
    }
    let health: Value = app
        .http
        .get(app.url("/api/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let connectors = &health["connectors"];
    assert_eq!(connectors["total"], 2, "{health}");
    assert_eq!(connectors["by_state"]["active"], 1, "{health}");
    assert_eq!(connectors["by_state"]["error"], 1, "{health}");
    assert_eq!(connectors["attention"][0]["name"], "clash", "{health}");
}

#[tokio::test]
async fn a_saturated_appender_slows_tcp_senders_and_counts_every_udp_message() {
    let settings = Settings {
        append_max_queued_events: 50,
        ..Settings::default()
    };
    let app = TestApp::spawn_with(settings).await;
    let admin = app.db.token("acme", Role::Admin).await;
    let tcp = create_connector(&app, &admin, local("tcp", "tcp", json!({}))).await;
    let udp = create_connector(&app, &admin, local("udp", "udp", json!({}))).await;
    let tcp_port = listening_port(&app, &admin, &tcp).await;
    let udp_port = listening_port(&app, &admin, &udp).await;

    // Four TCP senders of 1,000 messages each against a 50-event queue: all are stored.
    let senders: Vec<_> = (0..4)
        .map(|c| {
            tokio::spawn(async move {
                let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", tcp_port)).await.unwrap();
                let mut wire = Vec::new();
                for i in 0..1_000 {
                    wire.extend(format!("<13>Nov 21 10:00:00 host app: c{c} m{i}\n").as_bytes());
                }
                stream.write_all(&wire).await.unwrap();
                stream.shutdown().await.unwrap();
            })
        })
        .collect();
    for s in senders {
        s.await.unwrap();
    }
    let id = tcp["id"].as_i64().unwrap();
    let view = wait_connector(&app, &admin, id, |v| counter(v, "stored") == 4_000).await;
    assert_eq!(counter(&view, "stored"), 4_000, "{view}");
    assert!(view["status"]["dropped"].as_object().unwrap().is_empty(), "{view}");

    // UDP cannot push back: every datagram sent is stored or counted as dropped.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sent = 5_000u64;
    for i in 0..sent {
        socket
            .send_to(
                format!("<13>Nov 21 10:00:00 host app: u{i}").as_bytes(),
                ("127.0.0.1", udp_port),
            )
            .unwrap();
    }
    let id = udp["id"].as_i64().unwrap();
    let accounted = |v: &Value| {
        counter(v, "stored")
            + v["status"]["dropped"]
                .as_object()
                .unwrap()
                .values()
                .map(|n| n.as_u64().unwrap())
                .sum::<u64>()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let view = loop {
        let view = get_connector(&app, &admin, id).await;
        if accounted(&view) >= sent || Instant::now() > deadline {
            break view;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(accounted(&view), sent, "{view}");
    let stored_rows = app
        .db
        .client()
        .await
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(stored_rows as u64, 4_000 + counter(&view, "stored"), "{view}");
}

/// A CA, a server certificate for 127.0.0.1, a client certificate from the CA and one from
/// nowhere, made with the openssl command line.
fn make_certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl is installed");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let key = |name: &str| {
        run(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            name,
        ])
    };
    key("ca.key");
    run(&[
        "req",
        "-x509",
        "-new",
        "-key",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Tidemark Test CA",
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for (name, ext) in [("server", "server.ext"), ("client", "client.ext")] {
        key(&format!("{name}.key"));
        run(&[
            "req",
            "-new",
            "-key",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={name}"),
        ]);
        run(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-extfile",
            ext,
        ]);
    }
    key("rogue.key");
    run(&[
        "req",
        "-x509",
        "-new",
        "-key",
        "rogue.key",
        "-out",
        "rogue.pem",
        "-days",
        "2",
        "-subj",
        "/CN=rogue",
    ]);
}

/// Sends `input` through `openssl s_client` and waits for it to finish.
fn s_client(dir: &Path, port: u16, cert: &str, input: &[u8]) -> std::process::Output {
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-CAfile",
            "ca.pem",
            "-verify_return_error",
            "-cert",
            &format!("{cert}.pem"),
            "-key",
            &format!("{cert}.key"),
            "-quiet",
            "-no_ign_eof",
        ])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl is installed");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn tls_with_required_client_certificates_through_openssl_s_client() {
    let dir = tempfile::tempdir().unwrap();
    make_certificates(dir.path());
    let app = TestApp::spawn().await;
    let admin = app.db.token("acme", Role::Admin).await;
    let path = |f: &str| dir.path().join(f).display().to_string();
    let tls = json!({"tls": {"cert": path("server.pem"), "key": path("server.key"), "client_ca": path("ca.pem"), "client_auth": "required"}});
    let created = create_connector(&app, &admin, local("secure", "tls", tls)).await;
    let id = created["id"].as_i64().unwrap();
    let port = listening_port(&app, &admin, &created).await;

    let messages = b"<38>1 2026-11-21T10:00:00Z vpn sshd 1 - - TLS one\n16 <38>Nov 21 two x\n";
    let out = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || s_client(&dir, port, "client", messages)
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "s_client: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let raws = wait_raw(&app.db, 2).await;
    assert_eq!(
        raws,
        [
            b"<38>1 2026-11-21T10:00:00Z vpn sshd 1 - - TLS one".to_vec(),
            b"<38>Nov 21 two x".to_vec()
        ]
    );
    let view = wait_connector(&app, &admin, id, |v| counter(v, "connections") == 1).await;
    assert_eq!(counter(&view, "connections"), 1, "{view}");

    // A certificate the CA did not sign is refused in the handshake, and nothing is stored.
    let _ = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || s_client(&dir, port, "rogue", b"<38>Nov 21 10:00:00 rogue: let me in\n")
    })
    .await
    .unwrap();
    let view = wait_connector(&app, &admin, id, |v| dropped(v, "tls_handshake") == 1).await;
    assert_eq!(dropped(&view, "tls_handshake"), 1, "{view}");
    assert_eq!(view["status"]["state"], "warning", "{view}");
    assert!(
        view["status"]["last_error"].as_str().unwrap().contains("TLS handshake"),
        "{view}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.db.event_count().await, 2);

    // Unreadable key file: the connector is in error and says which file.
    let (_, body) = send(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/v1/connectors/{id}"),
        &admin,
        Some(json!({"config": {"tls": {"key": path("missing.key")}}})),
    )
    .await;
    assert_eq!(body["status"]["state"], "error", "{body}");
    assert!(
        body["status"]["last_error"]
            .as_str()
            .unwrap()
            .contains("config.tls.key"),
        "{body}"
    );
}
