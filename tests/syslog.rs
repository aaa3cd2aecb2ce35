//! The syslog listeners with the real `logger` (util-linux) as the sender: RFC 3164 and RFC
//! 5424 over UDP and TCP, with and without octet counting.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TestDb;
use tidemark::event::TenantId;
use tidemark::ingest::syslog::{ListenerOptions, serve_tcp, serve_udp};
use tidemark::parse::Format;

fn logger(args: &[&str]) {
    let status = Command::new("logger")
        .args(args)
        .status()
        .expect("logger (util-linux) is installed");
    assert!(status.success(), "logger {args:?} failed");
}

async fn wait_for(db: &TestDb, n: i64) -> Vec<(String, Option<String>, Vec<u8>)> {
    let client = db.client().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows = client
            .query("SELECT process_name, message, raw FROM events ORDER BY position", &[])
            .await
            .unwrap();
        if rows.len() as i64 >= n || Instant::now() > deadline {
            return rows
                .iter()
                .map(|r| (r.get::<_, Option<String>>(0).unwrap_or_default(), r.get(1), r.get(2)))
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn logger_messages_over_udp_and_tcp_are_stored_with_their_exact_bytes() {
    let db = TestDb::new().await;
    let (state, _task) = tidemark::app::build_state(db.store.clone(), &tidemark::config::Settings::default());
    let opts = Arc::new(ListenerOptions {
        tenant: TenantId::new("acme").unwrap(),
        source: "syslog-test".into(),
        format: Format::Syslog,
        tz: None,
        max_message: 64 * 1024,
    });
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (udp_port, tcp_port) = (
        udp.local_addr().unwrap().port().to_string(),
        tcp.local_addr().unwrap().port().to_string(),
    );
    let udp_task = tokio::spawn(serve_udp(udp, Arc::clone(&opts), state.appender.clone()));
    let tcp_task = tokio::spawn(serve_tcp(tcp, Arc::clone(&opts), state.appender.clone()));

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
    let rows = wait_for(&db, 4).await;
    udp_task.abort();
    tcp_task.abort();
    assert_eq!(rows.len(), 4, "{rows:?}");
    let mut messages: Vec<&str> = rows.iter().filter_map(|(_, m, _)| m.as_deref()).collect();
    messages.sort_unstable();
    assert_eq!(
        messages,
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
            "raw is the message as sent: {raw:?}"
        );
        assert!(
            !raw.starts_with(|c: char| c.is_ascii_digit()),
            "no octet-count prefix in raw: {raw:?}"
        );
    }
}
