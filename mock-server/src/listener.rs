//! The accept loop and one HTTP connection's life: TLS handshake (named timeout), then hyper
//! serving the router with upgrades (each request head within its own named timeout), until
//! the connection ends or the server shuts down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::{Extension, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::hub::Hub;

/// The peer address of the HTTP connection a request came on (inserted per connection, read
/// by the control API's loopback rule).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub SocketAddr);

/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Accepts connections until the server is cancelled.
pub(crate) async fn run(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    hub: Arc<Hub>,
) {
    loop {
        let (stream, peer) = tokio::select! {
            // Shutdown: stop accepting; connections wind down on the same token.
            () = hub.cancel.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    tracing::warn!(cause = %err, "accept failed; retrying");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        // Frames other connections queue for this socket (an agent's notifications) leave in
        // writes of their own: with Nagle's algorithm each waited for the peer's delayed ACK
        // (40 ms on Linux). A failure only costs latency.
        let _ = stream.set_nodelay(true);
        let router = router.clone().layer(Extension(Peer(peer)));
        let (tls, hub) = (tls.clone(), hub.clone());
        hub.clone()
            .tracker
            .spawn(async move { connection(stream, peer, tls, router, &hub).await });
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    router: Router,
    hub: &Hub,
) {
    let head = hub.settings.timeouts.request_head;
    let Some(acceptor) = tls else {
        return serve_http(stream, router, head, &hub.cancel).await;
    };
    let limit = hub.settings.timeouts.tls_handshake;
    match tokio::time::timeout(limit, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => serve_http(stream, router, head, &hub.cancel).await,
        Ok(Err(err)) => tracing::debug!(%peer, cause = %err, "TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out after {limit:?}"),
    }
}

/// Serves HTTP on one connection; a request head not complete within `head` (a client that
/// sends half a request, or keeps an idle connection without sending the next one) ends it.
async fn serve_http<IO>(io: IO, router: Router, head: Duration, cancel: &CancellationToken)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(router);
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(head)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    let result = tokio::select! {
        // The connection ended (or was handed over to a WebSocket session).
        result = conn.as_mut() => result,
        // Shutdown: let an in-flight request finish, then stop.
        () = cancel.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(err) = result {
        tracing::debug!(cause = %err, "HTTP connection ended with an error");
    }
}
