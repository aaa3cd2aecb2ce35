//! TCP and TLS syslog streams. A connection reads ahead by at most one batch while the previous
//! one commits, so a saturated log slows the sender instead of growing memory: each connection
//! holds at most one read buffer, one framer and two batches.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::Intake;
use crate::ingest::framing::Framer;
use crate::ingest::stats::DropReason;

/// Bytes taken per read: a few thousand typical messages, one append.
const READ_BUFFER: usize = 256 * 1024;
/// A TLS client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts plain TCP connections until `cancel`, then waits for open connections to store
/// what they have read.
pub async fn serve_tcp(listener: TcpListener, intake: Arc<Intake>, max_connections: usize, cancel: CancellationToken) {
    accept_loop(
        listener,
        intake,
        max_connections,
        cancel,
        |stream| async move { Ok(stream) },
    )
    .await;
}

/// Like [`serve_tcp`], with a TLS handshake (and the client-certificate check the acceptor's
/// configuration asks for) before the first byte is read.
pub async fn serve_tls(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    intake: Arc<Intake>,
    max_connections: usize,
    cancel: CancellationToken,
) {
    accept_loop(listener, intake, max_connections, cancel, move |stream| {
        let acceptor = acceptor.clone();
        async move { acceptor.accept(stream).await }
    })
    .await;
}

async fn accept_loop<H, F, S>(
    listener: TcpListener,
    intake: Arc<Intake>,
    max_connections: usize,
    cancel: CancellationToken,
    handshake: H,
) where
    H: Fn(TcpStream) -> F,
    F: Future<Output = std::io::Result<S>> + Send + 'static,
    S: AsyncRead + Unpin + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(max_connections));
    let mut connections = JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = cancel.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, most likely: pause instead of spinning.
                    intake.stats.error(&format!("accepting a connection: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            intake.stats.dropped(DropReason::ConnectionLimit, 1);
            intake
                .stats
                .error(&format!("refused {peer}: {max_connections} connections already open"));
            continue;
        };
        let handshake = handshake(stream);
        let (intake, cancel) = (Arc::clone(&intake), cancel.clone());
        connections.spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => return handshake_failed(&intake, peer, &e.to_string()),
                Err(_) => return handshake_failed(&intake, peer, "timed out"),
            };
            intake.stats.connections.inc();
            intake.stats.connected();
            connection(stream, peer, intake, cancel).await;
            drop(slot);
        });
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

fn handshake_failed(intake: &Intake, peer: SocketAddr, why: &str) {
    intake.stats.dropped(DropReason::TlsHandshake, 1);
    intake.stats.error(&format!("TLS handshake with {peer} failed: {why}"));
    tracing::info!(%peer, reason = why, source = %intake.opts.source, "TLS handshake failed");
}

/// Reads one connection until it ends or the listener stops. One batch may be committing while
/// the next read is parsed; the read after that waits for the commit, so a connection holds at
/// most two batches and a slow log still slows the sender.
async fn connection<S: AsyncRead + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    intake: Arc<Intake>,
    cancel: CancellationToken,
) {
    let mut framer = Framer::new(intake.opts.max_message);
    let mut buf = vec![0u8; READ_BUFFER];
    let mut committing: Option<JoinHandle<bool>> = None;
    loop {
        let n = tokio::select! {
            () = cancel.cancelled() => 0,
            read = stream.read(&mut buf) => read.unwrap_or_else(|e| {
                tracing::debug!(%peer, error = %e, "syslog connection failed");
                0
            }),
        };
        let mut events = Vec::new();
        if n == 0 {
            while let Some(frame) = framer.finish() {
                events.extend(intake.message(&frame.bytes, frame.truncated, peer.ip()));
            }
        } else {
            intake.stats.bytes.inc_by(n as u64);
            framer.push(&buf[..n]);
            while let Some(frame) = framer.next_frame() {
                events.extend(intake.message(&frame.bytes, frame.truncated, peer.ip()));
            }
        }
        let previous_stored = match committing.take() {
            Some(task) => task.await.unwrap_or(false),
            None => true,
        };
        if n == 0 || (!previous_stored && cancel.is_cancelled()) {
            store(&intake, events, &cancel).await;
            return;
        }
        if !events.is_empty() {
            let (intake, cancel) = (Arc::clone(&intake), cancel.clone());
            committing = Some(tokio::spawn(async move { store(&intake, events, &cancel).await }));
        }
    }
}

async fn store(intake: &Intake, events: Vec<crate::event::NewEvent>, cancel: &CancellationToken) -> bool {
    intake.store_waiting(events, || !cancel.is_cancelled()).await
}
