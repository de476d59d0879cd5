//! A WebSocket client over real TLS (tokio-rustls + tokio-tungstenite), for tests.

use std::sync::Arc;

use rustls::ClientConfig;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue, Response};
use tokio_tungstenite::tungstenite::Error;
use tokio_tungstenite::WebSocketStream;

/// A TLS WebSocket client stream.
pub(crate) type Client = WebSocketStream<TlsStream<TcpStream>>;

/// Connects to `url` (`wss://127.0.0.1:PORT/path?query`) trusting `tls`, sending `headers`
/// with the upgrade request.
pub(crate) async fn connect(
    url: &str,
    tls: Arc<ClientConfig>,
    headers: &[(&str, &str)],
) -> Result<(Client, Response<Option<Vec<u8>>>), Error> {
    let mut request = url.into_client_request()?;
    for (name, value) in headers {
        request.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(value).expect("header value"),
        );
    }
    let uri = request.uri().clone();
    let host = uri
        .host()
        .expect("host")
        .trim_matches(['[', ']'])
        .to_owned();
    let port = uri.port_u16().unwrap_or(443);
    let tcp = TcpStream::connect((host.as_str(), port)).await?;
    let name = rustls_pki_types::ServerName::try_from(host).expect("server name");
    let stream = TlsConnector::from(tls).connect(name, tcp).await?;
    tokio_tungstenite::client_async(request, stream).await
}

/// Sends a bare WebSocket upgrade request for `path` over TLS and returns the whole raw HTTP
/// answer (headers and body) as text, for answers a WebSocket client does not show in full.
pub(crate) async fn raw_upgrade(
    addr: std::net::SocketAddr,
    tls: Arc<ClientConfig>,
    path: &str,
) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut stream = TlsConnector::from(tls).connect(name, tcp).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    // Read until the body is complete (Content-Length) or the server is quiet for a while.
    loop {
        match tokio::time::timeout(std::time::Duration::from_millis(500), stream.read(&mut buf))
            .await
        {
            Ok(Ok(n)) if n > 0 => answer.extend_from_slice(&buf[..n]),
            _ => break,
        }
        let text = String::from_utf8_lossy(&answer);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
            });
            if length.is_some_and(|len| body.len() >= len) {
                break;
            }
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}
