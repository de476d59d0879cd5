//! A plain `ws://` echo server: the upstream of the WebSocket conformance run
//! (`conformance/run.sh`), where the Autobahn cases are played against it directly and through
//! `wiretape record`.
//!
//! ```sh
//! cargo run --release --example echo_server -- 127.0.0.1:0   # prints `listening on ws://ADDR`
//! ```
//!
//! Every text and binary message comes back as it arrived; pings, pongs and the close
//! handshake are tungstenite's. Any path is accepted. A protocol error drops the connection,
//! as in tokio-tungstenite's own Autobahn example server.

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::{TcpListener, TcpStream};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    // The first stdout line tells scripts where to connect (as `wiretape record` does).
    println!("listening on ws://{}", listener.local_addr()?);
    loop {
        let (tcp, _) = listener.accept().await?;
        tokio::spawn(echo(tcp));
    }
}

/// Echoes one connection's messages until it closes or fails.
async fn echo(tcp: TcpStream) {
    let _ = tcp.set_nodelay(true);
    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    while let Some(Ok(msg)) = ws.next().await {
        if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
            return;
        }
    }
}
