//! The forward proxy's edges: `--hosts`, errors (502, 400) while others carry on, plain
//! `http://` and `ws://`, and the built binary's flags.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use wiretape_fixtures::pki::LocalCa;
use wiretape_mock_server::MockServer;

use super::{curl, dead_port, mock, status, wscat, Forward};
use crate::harness::upstream::{Behavior, Upstream};

/// `--hosts`: a CONNECT to a host that matches no pattern is tunnelled byte for byte (the
/// client sees the endpoint's own certificate, signed by a CA the proxy's is not) and leaves
/// no cassette; a matching one is intercepted.
#[tokio::test]
async fn hosts_not_matching_are_tunnelled_untouched_and_unrecorded() {
    let upstream_ca = LocalCa::generate().unwrap();
    let server = mock(&upstream_ca, ("a", "b")).await;
    let port = server.address().port();
    let fwd = Forward::start(&upstream_ca, &["*.liveperson.net", "127.0.0.1:1"]).await;
    let url = format!(
        "https://127.0.0.1:{port}/api/account/{}/service/baseURI.json?version=1.0",
        server.account()
    );
    let upstream_ca_file = fwd.upstream_ca().display().to_string();
    let (head, body) = curl(&fwd.url(), &["--cacert", &upstream_ca_file, &url]).await;
    assert_eq!(status(&head), 200, "{head}\n{body}");
    assert!(body.contains("baseURIs"), "{body}");
    let (cassettes, _) = fwd.finish().await;
    assert!(cassettes.is_empty(), "{cassettes:#?}");

    let fwd = Forward::start(&upstream_ca, &[&format!("127.0.0.1:{port}")]).await;
    let ca = fwd.ca().display().to_string();
    let (head, _) = curl(&fwd.url(), &["--cacert", &ca, &url]).await;
    assert_eq!(status(&head), 200);
    let (cassettes, _) = fwd.finish().await;
    assert_eq!(cassettes.len(), 1);
}

/// Errors as in reverse mode: an unreachable host and an untrusted certificate get 502 with a
/// one-line reason, recorded; garbage gets 400; a client connected all along is still served.
#[tokio::test]
async fn unreachable_and_untrusted_get_502_garbage_gets_400_and_others_carry_on() {
    let upstream_ca = LocalCa::generate().unwrap();
    let stranger = mock(&LocalCa::generate().unwrap(), ("a", "b")).await;
    let plain = MockServer::builder().plain().start().await;
    let fwd = Forward::start(&upstream_ca, &[]).await;
    let addr = fwd.proxy.local_addr();
    let ca = fwd.ca().display().to_string();
    // A client that connected first and has not finished its request yet.
    let mut waiting = tokio::net::TcpStream::connect(addr).await.unwrap();
    waiting
        .write_all(format!("GET http://{}/", plain.address()).as_bytes())
        .await
        .unwrap();

    let dead = dead_port().await;
    let (head, body) = curl(
        &fwd.url(),
        &["--cacert", &ca, &format!("https://127.0.0.1:{dead}/x")],
    )
    .await;
    assert_eq!(status(&head), 502, "{body}");
    assert_eq!(body.lines().count(), 1, "{body}");
    assert!(body.contains("connecting (upstream) failed"), "{body}");

    let (head, body) = curl(
        &fwd.url(),
        &[
            "--cacert",
            &ca,
            &format!("https://{}/x", stranger.address()),
        ],
    )
    .await;
    assert_eq!(status(&head), 502, "{body}");
    assert_eq!(body.lines().count(), 1, "{body}");
    // Both CAs are wiretape CAs of the same name: webpki finds the trusted one and the
    // signature fails (an unknown issuer says "not signed by a trusted authority").
    assert!(
        body.contains("TLS handshake (upstream) failed: upstream certificate for 127.0.0.1"),
        "{body}"
    );

    for garbage in [
        "GARBAGE\r\n\r\n",
        "GET /not-absolute HTTP/1.1\r\nHost: x\r\n\r\n",
        "CONNECT no-port HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
        raw.write_all(garbage.as_bytes()).await.unwrap();
        let mut answer = vec![0; 1024];
        let n = tokio::time::timeout(Duration::from_secs(5), raw.read(&mut answer))
            .await
            .unwrap()
            .unwrap();
        let answer = String::from_utf8_lossy(&answer[..n]);
        assert!(answer.starts_with("HTTP/1.1 400"), "{garbage:?}: {answer}");
    }

    waiting
        .write_all(
            format!(
                "api/account/{}/service/baseURI.json?version=1.0 HTTP/1.1\r\nHost: {}\r\n\
                 Connection: close\r\n\r\n",
                plain.account(),
                plain.address()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), waiting.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("baseURIs"), "{answer}");

    let (cassettes, _) = fwd.finish().await;
    let failed: Vec<_> = cassettes.iter().filter(|c| c.open.status == 502).collect();
    assert_eq!(failed.len(), 2, "{cassettes:#?}");
    for cassette in failed {
        let error = cassette.end.as_ref().unwrap().error.as_deref().unwrap();
        assert!(
            error.contains("connecting (upstream) failed")
                || error.contains("upstream certificate for 127.0.0.1"),
            "{error}"
        );
    }
}

/// Plain `http://` (absolute-form, as curl sends it) and `ws://` (wscat tunnels it with a
/// CONNECT and speaks plain HTTP inside; a raw absolute-form upgrade too), without TLS.
#[tokio::test]
async fn plain_http_and_ws_through_the_forward_proxy() {
    let upstream_ca = LocalCa::generate().unwrap();
    let server = MockServer::builder().plain().start().await;
    let fwd = Forward::start(&upstream_ca, &[]).await;
    let base = server.address();
    let account = server.account().to_owned();

    let (head, body) = curl(
        &fwd.url(),
        &[&format!(
            "http://{base}/api/account/{account}/service/baseURI.json?version=1.0"
        )],
    )
    .await;
    assert_eq!(status(&head), 200, "{head}\n{body}");

    let consumer = format!("/ws_api/account/{account}/messaging/consumer?v=3");
    let out = wscat(
        &fwd.url(),
        &fwd.ca(),
        &format!("ws://{base}{consumer}"),
        &[],
        r#"{"kind":"req","id":1,"type":"GetClock"}"#,
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(r#""reqId":"1""#),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // An absolute-form upgrade written by hand.
    let mut raw = tokio::net::TcpStream::connect(fwd.proxy.local_addr())
        .await
        .unwrap();
    raw.write_all(
        format!(
            "GET ws://{base}{consumer} HTTP/1.1\r\nHost: {base}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        raw.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
        raw,
        tokio_tungstenite::tungstenite::protocol::Role::Client,
        None,
    )
    .await;
    use futures_util::{SinkExt as _, StreamExt as _};
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        r#"{"kind":"req","id":2,"type":"GetClock"}"#,
    ))
    .await
    .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        answer.to_text().unwrap().contains(r#""reqId":"2""#),
        "{answer}"
    );
    ws.close(None).await.unwrap();
    drop(ws);

    let (cassettes, _) = fwd.finish().await;
    let summary: Vec<String> = cassettes
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c.open.method.as_deref().unwrap_or("WS"),
                c.open.upstream.as_deref().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            format!("GET http://{base}"),
            format!("WS ws://{base}"),
            format!("WS ws://{base}"),
        ]
    );
    assert!(cassettes[1].frames.len() >= 2 && cassettes[2].frames.len() >= 2);
}

/// The built binary: `wiretape record --forward` prints `listening on http://ADDR:PORT` first,
/// `--upstream-ca` trusts the endpoint, and `wscat --proxy ... --ca "$(wiretape ca)"` reaches
/// it and leaves a cassette, as the README shows; `--hosts` needs `--forward`.
#[tokio::test]
async fn the_binary_records_wscat_through_record_forward() {
    use crate::harness::process::Wiretape;
    let home = tempfile::tempdir().unwrap();
    let upstream_ca = LocalCa::generate().unwrap();
    let upstream = Upstream::start(&upstream_ca, Behavior::Echo).await;
    let pem = home.path().join("upstream.pem");
    std::fs::write(&pem, upstream_ca.cert_pem()).unwrap();
    let out = home.path().join("rec");
    let proxy = Wiretape::start(
        home.path(),
        &[
            "record",
            "--forward",
            "--listen",
            "127.0.0.1:0",
            "--hosts",
            "127.0.0.1",
            "--upstream-ca",
            pem.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ],
    );
    assert!(proxy.url.starts_with("http://127.0.0.1:"), "{}", proxy.url);
    let ca = Command::new(env!("CARGO_BIN_EXE_wiretape"))
        .arg("ca")
        .env("WIRETAPE_HOME", home.path())
        .output()
        .unwrap();
    let ca = PathBuf::from(String::from_utf8(ca.stdout).unwrap().trim());
    let url = format!("wss://127.0.0.1:{}/ws_api/x?v=3", upstream.addr.port());
    let reply = wscat(&proxy.url, &ca, &url, &[], r#"{"n":1}"#).await;
    assert!(
        String::from_utf8_lossy(&reply.stdout).contains(r#"{"n":1}"#),
        "{}",
        String::from_utf8_lossy(&reply.stderr)
    );
    let (status, _) = proxy.terminate();
    assert!(status.success());
    let cassettes = crate::harness::cassettes(&out);
    assert_eq!(cassettes.len(), 1);
    assert_eq!(cassettes[0].frames.len(), 4, "{:#?}", cassettes[0]);

    // (Under `timeout`: were the flags accepted, the proxy would run until stopped.)
    let refused = Command::new("timeout")
        .args(["10", env!("CARGO_BIN_EXE_wiretape")])
        .args(["record", "--upstream", "wss://a.test", "--hosts", "x"])
        .args(["--listen", "127.0.0.1:0"])
        .env("WIRETAPE_HOME", home.path())
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--hosts"));
}
