//! The accept loop, and the handle that stops it.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::connection::{self, Shared};
use crate::error::{Error, Phase, Side};
use crate::recorder::Recorder;

/// The recording proxy.
#[derive(Debug)]
pub struct Proxy;

impl Proxy {
    /// Starts serving on an already bound `listener` (bind `127.0.0.1:0` in tests). Ready when
    /// this returns: clients may connect at once.
    ///
    /// # Errors
    /// When the listener has no local address or the recorder thread cannot start.
    pub async fn start(listener: TcpListener, config: Config) -> Result<ProxyHandle, Error> {
        let addr = listener
            .local_addr()
            .map_err(|e| Error::new(Side::Local, Phase::Listen, e))?;
        let (recorder, recorder_thread) = Recorder::start(config.record.clone())
            .map_err(|e| Error::new(Side::Local, Phase::Record, e))?;
        let cancel = CancellationToken::new();
        let scheme = match (&config.mode, config.server_tls.is_some()) {
            (crate::config::Mode::Forward(_), _) => "http",
            (_, true) => "wss",
            (_, false) => "ws",
        };
        let grace = config.grace;
        let permits = Arc::new(Semaphore::new(config.max_connections.max(1)));
        let shared = Arc::new(Shared {
            config,
            recorder,
            tracker: TaskTracker::new(),
            cancel: cancel.clone(),
            next_id: AtomicU64::new(0),
        });
        tracing::info!(%addr, "proxy listening");
        let task = tokio::spawn(accept_loop(
            listener,
            shared,
            permits,
            grace,
            recorder_thread,
        ));
        Ok(ProxyHandle {
            addr,
            scheme,
            cancel,
            task: Some(task),
        })
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    permits: Arc<Semaphore>,
    grace: Duration,
    recorder_thread: std::thread::JoinHandle<()>,
) {
    let mut backoff = Duration::from_millis(5);
    loop {
        let permit = tokio::select! {
            // Shutdown: stop accepting.
            () = shared.cancel.cancelled() => break,
            // A connection slot is free.
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            () = shared.cancel.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(5);
                let shared_conn = shared.clone();
                shared.tracker.spawn(async move {
                    connection::serve(stream, peer, shared_conn).await;
                    drop(permit);
                });
            }
            Err(err) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::warn!(cause = %err, ?backoff, "accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
    drop(listener);
    shared.tracker.close();
    if tokio::time::timeout(grace, shared.tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            ?grace,
            "connections still open after the grace period; closing them"
        );
    }
    // The recorder ends when its last sender is gone: the relays' taps are gone with their
    // tasks, and this was the last reference to the shared state.
    drop(shared);
    let _ = tokio::task::spawn_blocking(move || recorder_thread.join()).await;
}

/// A running proxy. Dropping it starts shutdown without waiting; prefer
/// [`ProxyHandle::shutdown`], which waits until every cassette is finished.
#[derive(Debug)]
pub struct ProxyHandle {
    addr: SocketAddr,
    /// `wss`, `ws`, or `http` for a forward proxy.
    scheme: &'static str,
    cancel: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl ProxyHandle {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `wss://ADDR:PORT` (or `ws://` for a plain listener, `http://` for a forward proxy).
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// A token that shuts the proxy down when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Closes every connection with 1001, waits (up to the grace period) for their close
    /// handshakes, and finishes every cassette.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
