//! Syslog listeners: UDP datagrams and TCP streams (framed by [`super::framing`]), each
//! message parsed with the listener's options and appended through the store's appender.
//! A TCP connection is not read further while its messages are being committed, so a slow
//! database slows the sender instead of growing memory.

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::Utc;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use super::framing::Framer;
use crate::event::{NewEvent, TenantId};
use crate::parse::{Format, ParseContext, parse_record};
use crate::store::{AppendJob, Appender};

/// How a listener treats what it receives.
#[derive(Debug, Clone)]
pub struct ListenerOptions {
    pub tenant: TenantId,
    pub source: String,
    pub format: Format,
    pub tz: Option<chrono_tz::Tz>,
    /// Longest message kept; longer ones are truncated and counted.
    pub max_message: usize,
}

/// Most datagrams read before their events are appended together.
const UDP_BATCH: usize = 1_000;
const READ_BUFFER: usize = 64 * 1024;

/// Receives datagrams until the task is aborted. Each datagram is one message.
pub async fn serve_udp(socket: UdpSocket, opts: Arc<ListenerOptions>, appender: Appender) {
    let mut buf = vec![0u8; opts.max_message.max(1)];
    loop {
        let mut events = Vec::new();
        match socket.recv_from(&mut buf).await {
            Ok((n, _)) => events.extend(message(&buf[..n], &opts)),
            Err(e) => {
                tracing::warn!(error = %e, "syslog UDP receive failed");
                continue;
            }
        }
        // Whatever else already waits in the socket joins the same append.
        while events.len() < UDP_BATCH {
            match socket.try_recv_from(&mut buf) {
                Ok((n, _)) => events.extend(message(&buf[..n], &opts)),
                Err(_) => break,
            }
        }
        append(&appender, &opts, events).await;
    }
}

/// Accepts connections until the task is aborted; each connection runs in its own task.
pub async fn serve_tcp(listener: TcpListener, opts: Arc<ListenerOptions>, appender: Appender) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let (opts, appender) = (Arc::clone(&opts), appender.clone());
                tokio::spawn(async move { connection(stream, peer, opts, appender).await });
            }
            Err(e) => tracing::warn!(error = %e, "syslog TCP accept failed"),
        }
    }
}

async fn connection(mut stream: TcpStream, peer: SocketAddr, opts: Arc<ListenerOptions>, appender: Appender) {
    let mut framer = Framer::new(opts.max_message);
    let mut buf = vec![0u8; READ_BUFFER];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "syslog TCP connection failed");
                0
            }
        };
        let mut events = Vec::new();
        if n == 0 {
            while let Some(frame) = framer.finish() {
                events.extend(message(&frame.bytes, &opts));
            }
            append(&appender, &opts, events).await;
            return;
        }
        framer.push(&buf[..n]);
        while let Some(frame) = framer.next_frame() {
            events.extend(message(&frame.bytes, &opts));
        }
        append(&appender, &opts, events).await;
    }
}

/// One message as an event; trailing line ends and NULs are not part of it.
fn message(bytes: &[u8], opts: &ListenerOptions) -> Option<NewEvent> {
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b'\n' | b'\r' | b'\0'))
        .map_or(0, |i| i + 1);
    let bytes = &bytes[..end];
    if bytes.is_empty() {
        return None;
    }
    let ctx = ParseContext {
        received_at: Utc::now(),
        tz: opts.tz,
    };
    Some(parse_record(bytes, opts.format, &opts.source, &ctx).event)
}

/// Appends `events`; a refusal is logged (the connector's counters will carry it).
async fn append(appender: &Appender, opts: &ListenerOptions, events: Vec<NewEvent>) {
    if events.is_empty() {
        return;
    }
    let count = events.len();
    let job = AppendJob {
        tenant: opts.tenant.clone(),
        events,
        dead_letters: Vec::new(),
    };
    if let Err(e) = appender.append(job).await {
        tracing::warn!(error = %e, count, source = %opts.source, "syslog messages not stored");
    }
}
