//! Syslog connectors end to end: created through the API, fed by the real `logger`
//! (util-linux) and by raw sockets, read back from the events table.

mod common;

use std::process::Command;

use common::connectors::{counter, create_connector, listening_port, local, wait_connector, wait_raw};
use common::{TestApp, TestDb};
use serde_json::json;
use tidemark::event::Role;
use tokio::io::AsyncWriteExt;

fn logger(args: &[&str]) {
    let status = Command::new("logger")
        .args(args)
        .status()
        .expect("logger (util-linux) is installed");
    assert!(status.success(), "logger {args:?} failed");
}

async fn messages(db: &TestDb) -> Vec<(String, Option<String>, Vec<u8>)> {
    let client = db.client().await;
    client
        .query("SELECT process_name, message, raw FROM events ORDER BY position", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get::<_, Option<String>>(0).unwrap_or_default(), r.get(1), r.get(2)))
        .collect()
}

#[tokio::test]
async fn logger_messages_over_udp_and_tcp_are_stored_once_without_framing() {
    let app = TestApp::spawn().await;
    let admin = app.db.token("acme", Role::Admin).await;
    let udp = create_connector(&app, &admin, local("edge-udp", "udp", json!({"format": "syslog"}))).await;
    let tcp = create_connector(&app, &admin, local("edge-tcp", "tcp", json!({"format": "syslog"}))).await;
    let udp_port = listening_port(&app, &admin, &udp).await.to_string();
    let tcp_port = listening_port(&app, &admin, &tcp).await.to_string();

    let sends: [(&[&str], &str); 4] = [
        (&["-d", "--rfc3164", "-P", &udp_port], "udp 3164 message"),
        (&["-d", "--rfc5424", "-P", &udp_port], "udp 5424 message"),
        (&["-T", "--rfc5424", "-P", &tcp_port], "tcp lf message"),
        (
            &["-T", "--rfc5424", "--octet-count", "-P", &tcp_port],
            "tcp octet-counted message",
        ),
    ];
    for (args, text) in sends {
        let mut full = vec!["-n", "127.0.0.1", "-t", "sshd"];
        full.extend_from_slice(args);
        full.push(text);
        logger(&full);
    }
    wait_raw(&app.db, 4).await;
    let rows = messages(&app.db).await;
    assert_eq!(rows.len(), 4, "{rows:?}");
    let mut texts: Vec<&str> = rows.iter().filter_map(|(_, m, _)| m.as_deref()).collect();
    texts.sort_unstable();
    assert_eq!(
        texts,
        [
            "tcp lf message",
            "tcp octet-counted message",
            "udp 3164 message",
            "udp 5424 message"
        ]
    );
    for (process, message, raw) in &rows {
        assert_eq!(process, "sshd");
        let raw = String::from_utf8(raw.clone()).unwrap();
        assert!(
            raw.starts_with('<') && raw.ends_with(message.as_deref().unwrap()),
            "{raw:?}"
        );
    }
    let tcp_view = wait_connector(&app, &admin, tcp["id"].as_i64().unwrap(), |v| counter(v, "stored") == 2).await;
    assert_eq!(counter(&tcp_view, "received"), 2, "{tcp_view}");
    assert_eq!(counter(&tcp_view, "connections"), 2, "{tcp_view}");
    assert!(
        tcp_view["status"]["last_successful_connection"].is_string(),
        "{tcp_view}"
    );
    let client = app.db.client().await;
    let tenants: Vec<String> = client
        .query("SELECT DISTINCT tenant_id FROM events", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(tenants, ["acme"], "events belong to the connector's tenant");
}

#[tokio::test]
async fn raw_is_the_message_byte_for_byte_whatever_the_framing() {
    let app = TestApp::spawn().await;
    let admin = app.db.token("acme", Role::Admin).await;
    let tcp = create_connector(&app, &admin, local("raw-tcp", "tcp", json!({}))).await;
    let udp = create_connector(&app, &admin, local("raw-udp", "udp", json!({}))).await;
    let tcp_port = listening_port(&app, &admin, &tcp).await;
    let udp_port = listening_port(&app, &admin, &udp).await;

    // Invalid UTF-8, tabs, a CEF payload with escapes, an '=' inside a value.
    let messages: Vec<Vec<u8>> = vec![
        b"<134>Nov 21 10:00:00 fw1 CEF:0|Acme|FW|1.0|100|Blocked|7|src=10.0.0.1 msg=a\\=b c\\\\d".to_vec(),
        b"<13>1 2026-11-21T10:00:00Z host app - - - bytes \xff\xfe\tend".to_vec(),
        b"<86>Nov 21 10:00:01 host sshd[42]: Accepted publickey for root".to_vec(),
    ];
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", tcp_port)).await.unwrap();
    // One message octet-counted, one LF-terminated, one CRLF-terminated, on one connection.
    let mut wire = Vec::new();
    wire.extend(format!("{} ", messages[0].len()).as_bytes());
    wire.extend(&messages[0]);
    wire.extend(&messages[1]);
    wire.push(b'\n');
    wire.extend(&messages[2]);
    wire.extend(b"\r\n");
    // Split across writes so frames straddle reads.
    for chunk in wire.chunks(17) {
        stream.write_all(chunk).await.unwrap();
        stream.flush().await.unwrap();
    }
    stream.shutdown().await.unwrap();
    let udp_socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    udp_socket.send_to(&messages[1], ("127.0.0.1", udp_port)).await.unwrap();

    let mut raws = wait_raw(&app.db, 4).await;
    raws.sort();
    let mut expected = [messages.clone(), vec![messages[1].clone()]].concat();
    expected.sort();
    assert_eq!(raws, expected);
    let client = app.db.client().await;
    let cef = client
        .query_one(
            "SELECT kind, source_ip::text, fields->>'observer.vendor' FROM events WHERE raw = $1",
            &[&messages[0]],
        )
        .await
        .unwrap();
    assert_eq!(
        cef.get::<_, Option<String>>(1).as_deref(),
        Some("10.0.0.1/32"),
        "CEF over syslog is parsed"
    );
    assert_eq!(cef.get::<_, Option<String>>(2).as_deref(), Some("Acme"));
}

#[tokio::test]
async fn oversize_messages_are_truncated_counted_and_marked() {
    let app = TestApp::spawn().await;
    let admin = app.db.token("acme", Role::Admin).await;
    let tcp = create_connector(&app, &admin, local("small", "tcp", json!({"max_message_bytes": 100}))).await;
    let port = listening_port(&app, &admin, &tcp).await;
    let long = format!("<13>Nov 21 10:00:00 host app: {}", "x".repeat(300));
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream
        .write_all(format!("{long}\n<13>Nov 21 10:00:01 host app: short one\n").as_bytes())
        .await
        .unwrap();
    stream.shutdown().await.unwrap();
    let raws = wait_raw(&app.db, 2).await;
    assert_eq!(raws.len(), 2, "the connection survives an oversize frame");
    assert_eq!(raws[0], long.as_bytes()[..100]);
    assert_eq!(raws[1], b"<13>Nov 21 10:00:01 host app: short one");
    let client = app.db.client().await;
    let marked: Vec<bool> = client
        .query(
            "SELECT fields ? 'tidemark.truncated' FROM events ORDER BY position",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(marked, [true, false]);
    let view = wait_connector(&app, &admin, tcp["id"].as_i64().unwrap(), |v| {
        counter(v, "truncated") == 1
    })
    .await;
    assert_eq!(counter(&view, "truncated"), 1, "{view}");
    assert_eq!(counter(&view, "stored"), 2, "{view}");
}
