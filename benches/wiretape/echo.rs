//! The echo upstream: tokio-tungstenite over rustls, echoing every text and binary message.

use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::Message;

/// Serves until the process ends; returns the bound address.
pub(crate) async fn start(tls: Arc<rustls::ServerConfig>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind echo upstream");
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(tls);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(ws) = tokio_tungstenite::accept_async(tls).await else {
                    return;
                };
                let (mut tx, mut rx) = ws.split();
                while let Some(Ok(msg)) = rx.next().await {
                    if !is_data(&msg) {
                        continue;
                    }
                    if tx.feed(msg).await.is_err() {
                        return;
                    }
                    // Echo whatever else is already readable before flushing once.
                    for _ in 0..64 {
                        match futures_util::FutureExt::now_or_never(rx.next()) {
                            Some(Some(Ok(next))) if is_data(&next) => {
                                if tx.feed(next).await.is_err() {
                                    return;
                                }
                            }
                            Some(Some(Ok(_))) => {}
                            Some(None | Some(Err(_))) => return,
                            None => break,
                        }
                    }
                    if tx.flush().await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn is_data(msg: &Message) -> bool {
    matches!(msg, Message::Text(_) | Message::Binary(_))
}
