//! The accept loop behind every listener: HTTP/1.1 only (no h2c, whose preface detection waits
//! for bytes with no timeout), TLS when configured, a cap on open connections, a deadline for
//! every request's headers — which also closes a connection that sits idle between requests —
//! and graceful shutdown. The request-level limits (body size and read time, JSON complexity,
//! requests in flight) are the router's, in `strongroom-http`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt as _;

/// What a listener allows a connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnectionLimits {
    /// How long a client may take to send a request's headers, counted from when the
    /// connection opens or the previous response was sent (Vault's `http_read_header_timeout`).
    pub(crate) header_read_timeout: Duration,
    /// Connections open at once; more are closed as they are accepted.
    pub(crate) max_connections: usize,
    /// How long a write may make no progress before the connection is closed: a client that
    /// stops reading (its TCP window at zero) would otherwise hold its connection slot, and the
    /// header deadline does not run while a response is being written.
    pub(crate) write_stall_timeout: Duration,
}

/// The default connection cap: 4096, or three quarters of the process's file-descriptor limit
/// when that is lower (so the vault keeps descriptors for storage, audit files and operators).
pub(crate) fn default_max_connections() -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|line| line.starts_with("Max open files"))
                .and_then(|line| line.split_whitespace().nth(3))
                .and_then(|soft| soft.parse::<usize>().ok())
        });
    match soft {
        Some(soft) => (soft / 4 * 3).clamp(16, 4096),
        None => 4096,
    }
}

/// Serves `app` on `listener` until `shutdown` turns true; then every connection is asked to
/// finish its current request, and the call returns once they all did or `grace` passed.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: ConnectionLimits,
    mut shutdown: watch::Receiver<bool>,
    grace: Duration,
) -> Result<()> {
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let mut refused_logged = false;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(err) => {
                // Out of file descriptors (or a transient error): back off, never stop serving.
                tracing::warn!(error = %err, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            if !refused_logged {
                tracing::warn!(
                    max,
                    "the connection cap is reached; new connections are closed until some end"
                );
                refused_logged = true;
            }
            drop(stream);
            continue;
        };
        refused_logged = false;
        let app = app.clone();
        let tls = tls.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _slot = slot;
            connection(stream, peer, app, tls, limits, shutdown).await;
        });
    }
    // Every slot back means every connection ended.
    let drained = tokio::time::timeout(
        grace,
        slots.acquire_many(u32::try_from(max).unwrap_or(u32::MAX)),
    );
    if drained.await.is_err() {
        tracing::warn!("connections still open after the grace period; closing them");
    }
    Ok(())
}

/// A stream whose writes fail once one has made no progress for `limit`.
struct StallGuard<S> {
    inner: S,
    limit: Duration,
    /// Armed while a write is pending.
    deadline: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<S> StallGuard<S> {
    fn new(inner: S, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            deadline: None,
        }
    }

    /// After a write-side poll: disarm on progress; on no progress, arm the deadline (or
    /// fail once it has passed).
    fn watch<T>(
        &mut self,
        cx: &mut std::task::Context<'_>,
        polled: std::task::Poll<std::io::Result<T>>,
    ) -> std::task::Poll<std::io::Result<T>> {
        use std::future::Future as _;
        if polled.is_ready() {
            self.deadline = None;
            return polled;
        }
        let limit = self.limit;
        let deadline = self
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match deadline.as_mut().poll(cx) {
            std::task::Poll::Ready(()) => std::task::Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client stopped reading the response",
            ))),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for StallGuard<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for StallGuard<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, polled)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, polled)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_shutdown(cx);
        self.watch(cx, polled)
    }
}

/// One connection: the TLS handshake (within the header deadline), then HTTP/1.1.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: ConnectionLimits,
    shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let stream = StallGuard::new(stream, limits.write_stall_timeout);
    match tls {
        Some(acceptor) => {
            let handshake =
                tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream)).await;
            match handshake {
                Ok(Ok(stream)) => http(TokioIo::new(stream), peer, app, limits, shutdown).await,
                Ok(Err(err)) => tracing::debug!(%peer, error = %err, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        }
        None => http(TokioIo::new(stream), peer, app, limits, shutdown).await,
    }
}

async fn http<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    limits: ConnectionLimits,
    mut shutdown: watch::Receiver<bool>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service =
        hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            // The TCP peer (no proxy headers are trusted): CIDR bounds are checked against it.
            request.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(request.map(axum::body::Body::new))
        });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(err) = result {
                tracing::debug!(%peer, error = %err, "connection ended");
            }
        }
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
