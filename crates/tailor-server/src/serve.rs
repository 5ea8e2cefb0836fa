//! Accepting connections: HTTP/1.1 with a header-read timeout (which also closes idle
//! keep-alive connections), at most `max_connections` open at once (kept below the
//! file-descriptor limit, whose soft value is raised to the hard one at start), and a
//! graceful shutdown that lets in-flight requests finish.
//!
//! `axum::serve` does neither the timeout nor the cap: a client that never finishes its
//! request headers held its connection, and its file descriptor, forever.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// File descriptors kept for everything but client connections: the listener, the store,
/// the runtime's epoll and wakers, the package watchers, package files read by a reload,
/// standard streams.
pub const RESERVED_FDS: u64 = 64;

/// How connections are accepted.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A connection whose request headers are not complete this long after it opened, or
    /// after its previous answer (an idle keep-alive connection), is closed.
    pub header_read_timeout: Duration,
    /// At most this many connections are open; further ones wait in the listen queue.
    pub max_connections: usize,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard one; the soft limit in force afterwards
/// (`None` where the platform has none or it cannot be read).
pub fn raise_nofile_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(soft) => Some(soft),
            // An infinite hard limit cannot be the soft one: keep what is in force.
            Err(_) => rlimit::getrlimit(rlimit::Resource::NOFILE)
                .ok()
                .map(|(soft, _)| soft),
        }
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The connection cap in force: the configured one, lowered so that the open connections
/// and [`RESERVED_FDS`] fit in `nofile` descriptors (at least half of them go to
/// connections when the limit is very low).
#[must_use]
pub fn connection_cap(configured: usize, nofile: Option<u64>) -> usize {
    let Some(nofile) = nofile else {
        return configured;
    };
    let room = nofile.saturating_sub(RESERVED_FDS).max(nofile / 2).max(1);
    usize::try_from(room).map_or(configured, |room| configured.min(room))
}

/// Connections the kernel completes and queues for `accept` (capped by
/// `net.core.somaxconn`). Queued connections take no descriptor of the process, so at
/// `max_connections` new clients wait here rather than having their connection attempts
/// dropped and retried a second or more later (the 128 of `TcpListener::bind`).
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` (address reuse on, as `TcpListener::bind` does) with [`LISTEN_BACKLOG`].
///
/// # Errors
///
/// The address cannot be bound.
pub fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Whether an `accept` error concerns only the connection being accepted (retry at once)
/// rather than the process (for example out of file descriptors: wait a little).
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    )
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting and waits
/// for every open connection to finish its in-flight request (idle ones are closed).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        // Take a permit before accepting: at the cap, new connections wait in the
        // kernel's listen queue rather than taking a descriptor each.
        let permit = tokio::select! {
            biased;
            () = &mut shutdown => break,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept a connection; retrying in 100 ms");
                    tokio::select! {
                        biased;
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                    }
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let conn =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_stays_below_the_descriptor_limit() {
        assert_eq!(connection_cap(10_000, Some(512)), 448);
        assert_eq!(connection_cap(100, Some(512)), 100);
        assert_eq!(connection_cap(10_000, Some(100)), 50);
        assert_eq!(connection_cap(10_000, None), 10_000);
        assert_eq!(connection_cap(10_000, Some(u64::MAX)), 10_000);
    }
}
