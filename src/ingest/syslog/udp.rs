//! UDP syslog: one message per datagram. Whatever already waits in the socket joins the same
//! batch, and a few batches may be parsed and appended at once; beyond that, datagrams wait in the
//! kernel's buffer, and what overflows it is read from `/proc/net/udp` and counted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Intake;
use crate::ingest::stats::DropReason;

/// Most datagrams appended together.
const BATCH: usize = 1_000;
/// Batches being parsed or appended at once; bounds memory to about this many batches.
const IN_FLIGHT: usize = 4;
/// Receive buffer asked of the kernel (capped by `net.core.rmem_max`).
const RECEIVE_BUFFER: usize = 8 * 1024 * 1024;
/// How often the kernel's drop count is read.
const DROP_POLL: Duration = Duration::from_secs(1);

/// Binds `addr` with a large receive buffer, so a burst waits in the kernel instead of being lost.
pub fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = std::net::UdpSocket::bind(addr)?;
    if let Err(e) = socket2::SockRef::from(&socket).set_recv_buffer_size(RECEIVE_BUFFER) {
        tracing::warn!(%addr, error = %e, "cannot enlarge the UDP receive buffer");
    }
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket)
}

/// Receives datagrams until `cancel`, then waits for the appends in flight.
pub async fn serve_udp(socket: UdpSocket, intake: Arc<Intake>, cancel: CancellationToken) {
    // One byte more than the limit tells a datagram that was cut from one that fits exactly.
    let mut buf = vec![0u8; intake.opts.max_message + 1];
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut appends = JoinSet::new();
    let mut kernel = KernelDrops::new(&socket);
    let mut poll = tokio::time::interval(DROP_POLL);
    loop {
        let first = tokio::select! {
            () = cancel.cancelled() => break,
            _ = poll.tick() => {
                kernel.count(&intake);
                continue;
            }
            received = socket.recv_from(&mut buf) => received,
        };
        // The loop only drains the socket; parsing happens in the append task, so a burst
        // waits in memory (bounded by the slots) rather than overflowing the kernel's buffer.
        let mut datagrams = Vec::new();
        let mut received = Some(first);
        while let Some(result) = received.take() {
            match result {
                Ok((n, peer)) => {
                    intake.stats.bytes.inc_by(n as u64);
                    let len = n.min(intake.opts.max_message);
                    datagrams.push((buf[..len].to_vec(), n > len, peer.ip()));
                }
                Err(e) => intake.stats.error(&format!("receiving a datagram: {e}")),
            }
            if datagrams.len() < BATCH.min(intake.max_batch()) {
                received = socket.try_recv_from(&mut buf).ok().map(Ok);
            }
        }
        if !datagrams.is_empty() {
            intake.stats.connected();
        }
        while appends.try_join_next().is_some() {}
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        let intake = Arc::clone(&intake);
        appends.spawn(async move {
            let events = datagrams
                .iter()
                .filter_map(|(bytes, truncated, peer)| intake.message(bytes, *truncated, *peer))
                .collect();
            intake.store_or_drop(events).await;
            drop(slot);
        });
    }
    while appends.join_next().await.is_some() {}
    kernel.count(&intake);
}

/// The kernel's count of datagrams dropped on this socket, from `/proc/net/udp{,6}`.
struct KernelDrops {
    inode: Option<u64>,
    seen: u64,
}

impl KernelDrops {
    fn new(socket: &UdpSocket) -> Self {
        use std::os::unix::fs::MetadataExt;
        use std::os::unix::io::AsRawFd;
        let inode = std::fs::metadata(format!("/proc/self/fd/{}", socket.as_raw_fd()))
            .ok()
            .map(|m| m.ino());
        let mut drops = KernelDrops { inode, seen: 0 };
        drops.seen = drops.read().unwrap_or(0);
        drops
    }

    /// Adds drops since the last call to the connector's counters.
    fn count(&mut self, intake: &Intake) {
        if let Some(now) = self.read()
            && now > self.seen
        {
            let lost = now - self.seen;
            self.seen = now;
            intake.stats.dropped(DropReason::UdpReceiveBuffer, lost);
            intake.stats.error(&format!(
                "{lost} datagrams lost in the kernel's receive buffer: the listener fell behind"
            ));
        }
    }

    fn read(&self) -> Option<u64> {
        let inode = self.inode?.to_string();
        ["/proc/net/udp", "/proc/net/udp6"].iter().find_map(|path| {
            let table = std::fs::read_to_string(path).ok()?;
            // Columns: sl local rem st queues tr retrnsmt uid timeout inode ref pointer drops.
            table.lines().skip(1).find_map(|line| {
                let cols: Vec<&str> = line.split_whitespace().collect();
                (cols.get(9) == Some(&inode.as_str())).then(|| cols.get(12)?.parse().ok())?
            })
        })
    }
}
