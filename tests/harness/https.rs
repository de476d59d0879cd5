//! A bare HTTP/1.1-over-TLS client for the mock's HTTP routes (storage, discovery): every byte
//! under the test's control (a declared length with no body, a chunked body that never ends).

use std::time::Duration;

use rustls::pki_types::ServerName;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wiretape_mock_server::MockServer;

/// One HTTP response as read off the wire.
#[derive(Debug)]
pub(crate) struct HttpResponse {
    pub(crate) status: u16,
    head: String,
    pub(crate) body: Vec<u8>,
}

impl HttpResponse {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// A TLS connection to the mock, trusting its CA.
pub(crate) async fn tls(server: &MockServer) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(server.address()).await.unwrap();
    let config = server.client_tls().expect("a wss:// server");
    let name = ServerName::from(server.address().ip());
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .unwrap()
}

/// Reads a whole `Connection: close` response.
pub(crate) async fn read_response(mut io: impl tokio::io::AsyncRead + Unpin) -> HttpResponse {
    let mut raw = Vec::new();
    // A peer closing without close_notify ends the stream with an error after the data.
    let _ = tokio::time::timeout(Duration::from_secs(10), io.read_to_end(&mut raw))
        .await
        .expect("the response within 10 s");
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status = head[9..12].parse().unwrap();
    let response = HttpResponse {
        status,
        head,
        body: raw[end + 4..].to_vec(),
    };
    assert_ne!(response.header("transfer-encoding"), Some("chunked"));
    response
}

/// `METHOD https://HOST:PORT{relativePath}?temp_url_sig=…&temp_url_expires=…` with `body`, as
/// the tutorial's step 4 table and the Publish Images page's `curl --upload-file` show it.
pub(crate) async fn storage(
    server: &MockServer,
    method: &str,
    url: &Value,
    body: &[u8],
) -> HttpResponse {
    let target = target(url);
    let mut io = tls(server).await;
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        server.address(),
        body.len()
    );
    io.write_all(head.as_bytes()).await.unwrap();
    io.write_all(body).await.unwrap();
    io.flush().await.unwrap();
    read_response(io).await
}

/// The request target of a `GenerateURL` response body.
pub(crate) fn target(url: &Value) -> String {
    format!(
        "{}?temp_url_sig={}&temp_url_expires={}",
        url["relativePath"].as_str().unwrap(),
        url["queryParams"]["temp_url_sig"].as_str().unwrap(),
        url["queryParams"]["temp_url_expires"].as_str().unwrap()
    )
}

/// `METHOD target` with extra header lines (`Name: value`) and `body`, on a fresh TLS
/// connection (`Connection: close`).
pub(crate) async fn request(
    server: &MockServer,
    method: &str,
    target: &str,
    headers: &[&str],
    body: &[u8],
) -> HttpResponse {
    let mut io = tls(server).await;
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        server.address(),
        body.len()
    );
    for line in headers {
        head.push_str(line);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    io.write_all(head.as_bytes()).await.unwrap();
    io.write_all(body).await.unwrap();
    io.flush().await.unwrap();
    read_response(io).await
}

impl HttpResponse {
    /// The body as JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {} {}", self.status, self.text()))
    }
}
