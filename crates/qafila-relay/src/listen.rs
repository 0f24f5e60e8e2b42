//! The relay's own accept loop: at most `max_connections` open at once
//! (`max_connections_per_address` from one address, so one client cannot
//! take them all),
//! the TLS handshake and every request's headers within
//! `header_read_timeout_ms`, every request within `request_timeout_ms`,
//! each request tagged with its peer's address (for per-address limits and
//! logs), and a graceful stop that lets requests in flight finish.
//!
//! axum's own `serve` has none of these limits, so a client that opens
//! connections and sends nothing, or half a header, could hold the relay's
//! sockets and memory for ever.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::config::Config;
use crate::http::request_timed_out;

/// How long requests in flight may take to finish once a stop is asked.
const DRAIN: Duration = Duration::from_secs(30);

/// Connections open per address.
type PerAddress = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// One connection counted against its address, until dropped.
struct AddressSlot {
    open: PerAddress,
    ip: IpAddr,
}

impl AddressSlot {
    fn take(open: &PerAddress, ip: IpAddr, most: usize) -> Option<AddressSlot> {
        let mut counts = open.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(ip).or_insert(0);
        if *count >= most {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            open: open.clone(),
            ip,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut counts = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// Serves `app` on `listener` (over TLS when `tls` is given) until
/// `shutdown` completes.
pub(crate) async fn accept_loop(
    app: Router,
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let header_timeout = Duration::from_millis(config.header_read_timeout_ms);
    let request_timeout = Duration::from_millis(config.request_timeout_ms);
    let connections = Arc::new(Semaphore::new(config.max_connections));
    let per_address: PerAddress = Arc::default();
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before
                    // it was accepted: wait a little rather than spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) =
            AddressSlot::take(&per_address, peer.ip(), config.max_connections_per_address)
        else {
            tracing::warn!(%peer, "connection refused: too many connections from this address");
            drop(tcp);
            continue;
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "connection refused: too many connections open");
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let watcher = graceful.watcher();
        let app = app.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _held = (permit, slot);
            match acceptor {
                None => connection(tcp, peer, app, header_timeout, request_timeout, watcher).await,
                Some(acceptor) => {
                    match tokio::time::timeout(header_timeout, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            connection(stream, peer, app, header_timeout, request_timeout, watcher)
                                .await;
                        }
                        Ok(Err(error)) => {
                            tracing::info!(%peer, %error, "TLS handshake refused");
                        }
                        Err(_) => {
                            tracing::warn!(%peer, "TLS handshake timed out: connection closed");
                        }
                    }
                }
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN) => {
            tracing::warn!("requests still running after the stop's grace period were cut");
        }
    }
    Ok(())
}

/// Serves one connection's requests (HTTP/1.1, kept alive).
async fn connection<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    header_timeout: Duration,
    request_timeout: Duration,
    watcher: hyper_util::server::graceful::Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        async move {
            let request = request.map(Body::new);
            match tokio::time::timeout(request_timeout, app.oneshot(request)).await {
                Ok(answered) => answered,
                Err(_) => {
                    tracing::warn!(%peer, "request timed out: answered 408");
                    Ok(request_timed_out())
                }
            }
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(64 << 10);
    let served = watcher.watch(builder.serve_connection(TokioIo::new(io), service));
    if let Err(error) = served.await {
        if error.is_timeout() {
            tracing::warn!(%peer, "headers not sent in time: connection closed");
        } else {
            tracing::debug!(%peer, %error, "connection ended");
        }
    }
}
