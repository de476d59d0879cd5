//! `wiretape record`: the proxy between a client and an upstream, over real TLS sockets.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use wiretape_fixtures::cassette::{EndedBy, Kind, Sender};
use wiretape_fixtures::pki::LocalCa;

use crate::harness::cassettes;
use crate::harness::client::connect;
use crate::harness::proxy::Proxied;
use crate::harness::upstream::{start_raw, Behavior, Upstream};

const PATH: &str = "/ws_api/account/12345/messaging/consumer?v=3&extra=yes";
// A fake token, assembled so that no JWT-shaped literal sits in the source.
const JWT: &str = concat!(
    "eyJhbGciOiJSUzI1NiJ9",
    ".",
    "eyJzdWIiOiJhYmMifQ",
    ".",
    "c2lnbmF0dXJlLXNpZ25hdHVyZQ"
);

/// Reads the next message, with a deadline so a broken relay fails instead of hanging.
async fn next(client: &mut crate::harness::client::Client) -> Message {
    tokio::time::timeout(Duration::from_secs(5), client.next())
        .await
        .expect("a message within 5 s")
        .expect("the stream is open")
        .expect("a valid message")
}

#[tokio::test]
async fn every_frame_type_is_relayed_and_recorded_without_secrets() {
    let (Proxied { ca, dir, proxy }, upstream) = Proxied::behind(Behavior::Echo).await;

    let headers = [
        ("Authorization", &*format!("jwt {JWT}")),
        ("Sec-WebSocket-Protocol", "lp-v3, other"),
        ("Origin", "https://example.test"),
        ("X-Custom", "kept"),
        ("Cookie", "session=s3cr3t"),
    ];
    let (mut client, response) = connect(
        &format!("{}{PATH}", proxy.url()),
        ca.client_config(),
        &headers,
    )
    .await
    .unwrap();
    assert_eq!(
        response.headers().get("sec-websocket-protocol").unwrap(),
        "lp-v3",
        "the upstream's subprotocol choice reaches the client"
    );

    let json = r#"{"kind":"req","id":1,"type":"cm.ConsumerRequestConversation"}"#;
    let spaced = r#"{"kind" : "req", "id" : 2, "body" : {"jwt": "x"}}"#;
    let binary = vec![0u8, 0xff, 0xfe, 0x80, 7];
    let sent = vec![
        Message::text("plain text"),
        Message::text(json),
        Message::text(spaced),
        Message::binary(binary.clone()),
    ];
    for msg in &sent {
        client.send(msg.clone()).await.unwrap();
        assert_eq!(&next(&mut client).await, msg, "echoed back exactly");
    }
    client
        .send(Message::Ping(b"ping-1".to_vec().into()))
        .await
        .unwrap();
    assert_eq!(
        next(&mut client).await,
        Message::Pong(b"ping-1".to_vec().into())
    );
    client
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::from(4001),
            reason: "client done".into(),
        })))
        .await
        .unwrap();
    match next(&mut client).await {
        Message::Close(Some(frame)) => {
            assert_eq!(u16::from(frame.code), 4001);
            assert_eq!(frame.reason.as_str(), "client done");
        }
        other => panic!("expected the upstream's close, got {other:?}"),
    }
    assert!(
        client.next().await.is_none(),
        "the connection ends after the close handshake"
    );
    proxy.shutdown().await;

    // The upstream saw exactly what the client sent, with the handshake forwarded.
    let seen = upstream.seen(0);
    assert_eq!(seen.uri, PATH);
    assert_eq!(seen.headers["authorization"], format!("jwt {JWT}").as_str());
    assert_eq!(seen.headers["origin"], "https://example.test");
    assert_eq!(seen.headers["x-custom"], "kept");
    assert_eq!(seen.headers["cookie"], "session=s3cr3t");
    assert_eq!(seen.headers["host"], upstream.addr.to_string().as_str());
    let mut expected = sent.clone();
    expected.push(Message::Ping(b"ping-1".to_vec().into()));
    assert_eq!(seen.messages[..5], expected[..]);
    assert!(matches!(&seen.messages[5], Message::Close(Some(f)) if u16::from(f.code) == 4001));

    // The cassette: secrets gone, every frame there, bytes recoverable.
    let cassettes = cassettes(dir.path());
    assert_eq!(cassettes.len(), 1);
    let cassette = &cassettes[0];
    let raw = std::fs::read_to_string(&cassette.path).unwrap();
    assert!(
        !raw.contains(JWT) && !raw.contains("s3cr3t"),
        "secrets on disk:\n{raw}"
    );
    assert!(cassette.complete);
    assert_eq!(cassette.open.url, PATH);
    assert_eq!(cassette.open.status, 101);
    assert_eq!(cassette.open.subprotocol.as_deref(), Some("lp-v3"));
    let header = |name: &str| {
        cassette
            .open
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("authorization"), Some("jwt <redacted>"));
    assert_eq!(header("x-custom"), Some("kept"));
    assert_eq!(header("sec-websocket-key"), None, "volatile, never stored");

    let frames = &cassette.frames;
    let kinds: Vec<_> = frames.iter().map(|f| (f.from, f.kind)).collect();
    use Kind::*;
    use Sender::*;
    assert_eq!(
        kinds,
        vec![
            (Client, Text),
            (Server, Text),
            (Client, Text),
            (Server, Text),
            (Client, Text),
            (Server, Text),
            (Client, Binary),
            (Server, Binary),
            (Client, Ping),
            (Server, Pong),
            (Client, Close),
            (Server, Close),
        ]
    );
    assert_eq!(frames[0].payload_bytes().unwrap(), b"plain text");
    assert_eq!(frames[2].payload_bytes().unwrap(), json.as_bytes());
    assert_eq!(
        frames[2].json.as_ref().unwrap()["type"],
        "cm.ConsumerRequestConversation"
    );
    assert_eq!(
        frames[4].json.as_ref().unwrap()["body"]["jwt"],
        "<redacted>"
    );
    assert_eq!(frames[4].redacted, vec!["/body/jwt"]);
    assert_eq!(frames[6].payload_bytes().unwrap(), binary);
    assert_eq!(frames[8].payload_bytes().unwrap(), b"ping-1");
    assert_eq!(
        (frames[10].code, frames[10].reason.as_deref()),
        (Some(4001), Some("client done"))
    );
    let end = cassette.end.as_ref().unwrap();
    assert_eq!(
        (end.by, end.code, end.error.as_deref()),
        (EndedBy::Client, Some(4001), None)
    );
    assert!(
        frames.windows(2).all(|w| w[0].ms <= w[1].ms),
        "time only moves forward"
    );
}

#[tokio::test]
async fn the_client_sees_the_upstreams_own_pong_and_close_and_nothing_from_the_proxy() {
    let ca = LocalCa::generate().unwrap();
    let (addr, upstream) = start_raw(&ca).await;
    let Proxied {
        ca,
        dir: _dir,
        proxy,
    } = Proxied::in_front_of(ca, &format!("wss://{addr}")).await;
    let (mut client, _) = connect(&format!("{}/x", proxy.url()), ca.client_config(), &[])
        .await
        .unwrap();
    client
        .send(Message::Ping(b"hello".to_vec().into()))
        .await
        .unwrap();
    assert_eq!(
        next(&mut client).await,
        Message::Pong(b"upstream-pong".to_vec().into())
    );
    client
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::from(4001),
            reason: "bye".into(),
        })))
        .await
        .unwrap();
    match next(&mut client).await {
        Message::Close(Some(frame)) => {
            assert_eq!(
                (u16::from(frame.code), frame.reason.as_str()),
                (1000, "upstream says bye")
            );
        }
        other => panic!("expected the upstream's close, got {other:?}"),
    }
    // Nothing else: no second pong, no close of the proxy's own.
    let rest: Vec<_> = tokio::time::timeout(Duration::from_secs(5), client.collect::<Vec<_>>())
        .await
        .unwrap();
    assert!(
        rest.iter().all(|r| r.is_err()),
        "unexpected extra messages: {rest:?}"
    );
    assert_eq!(
        upstream.await.unwrap(),
        vec![0x9, 0x8],
        "upstream saw the ping and the close"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn an_upstream_refusal_reaches_the_client_with_its_status_and_is_recorded() {
    let (Proxied { ca, dir, proxy }, _upstream) = Proxied::behind(Behavior::Refuse(401)).await;
    let err = connect(
        &format!("{}{PATH}", proxy.url()),
        ca.client_config(),
        &[("Authorization", "jwt expired")],
    )
    .await
    .unwrap_err();
    match err {
        WsError::Http(resp) => assert_eq!(resp.status(), 401),
        other => panic!("expected HTTP 401, got {other:?}"),
    }
    // The refusal's body comes along too (tungstenite's client only shows body bytes that
    // arrived with the headers, so read the raw answer).
    let raw =
        crate::harness::client::raw_upgrade(proxy.local_addr(), ca.client_config(), PATH).await;
    assert!(raw.starts_with("HTTP/1.1 401"), "{raw}");
    assert!(raw.ends_with("go away: bad token"), "{raw}");
    proxy.shutdown().await;
    let cassettes = cassettes(dir.path());
    assert_eq!(cassettes.len(), 2, "both attempts are recorded");
    assert_eq!(cassettes[0].open.status, 401);
    assert!(cassettes[0].frames.is_empty());
    let end = cassettes[0].end.as_ref().unwrap();
    assert!(end.error.as_deref().unwrap().contains("401"), "{end:?}");
}

#[tokio::test]
async fn an_unreachable_upstream_gives_502_with_a_reason_and_is_recorded() {
    let ca = LocalCa::generate().unwrap();
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let Proxied { ca, dir, proxy } =
        Proxied::in_front_of(ca, &format!("wss://127.0.0.1:{port}")).await;
    let err = connect(&format!("{}{PATH}", proxy.url()), ca.client_config(), &[])
        .await
        .unwrap_err();
    let WsError::Http(resp) = err else {
        panic!("expected HTTP 502, got {err:?}")
    };
    assert_eq!(resp.status(), 502);
    let body = String::from_utf8(resp.body().clone().unwrap()).unwrap();
    assert!(body.contains("connecting (upstream) failed"), "{body}");
    assert_eq!(body.trim_end().lines().count(), 1, "one line: {body}");
    proxy.shutdown().await;
    let cassettes = cassettes(dir.path());
    assert_eq!(cassettes[0].open.status, 502);
    assert!(cassettes[0]
        .end
        .as_ref()
        .unwrap()
        .error
        .as_deref()
        .unwrap()
        .contains("refused"));
}

#[tokio::test]
async fn an_upstream_certificate_from_an_untrusted_ca_gives_502_and_relays_nothing() {
    let ca = LocalCa::generate().unwrap();
    let stranger = LocalCa::generate().unwrap();
    let upstream = Upstream::start(&stranger, Behavior::Echo).await;
    let Proxied {
        ca,
        dir: _dir,
        proxy,
    } = Proxied::in_front_of(ca, &upstream.url()).await;
    let err = connect(&format!("{}{PATH}", proxy.url()), ca.client_config(), &[])
        .await
        .unwrap_err();
    let WsError::Http(resp) = err else {
        panic!("expected HTTP 502, got {err:?}")
    };
    assert_eq!(resp.status(), 502);
    let body = String::from_utf8(resp.body().clone().unwrap()).unwrap();
    assert!(
        body.contains("TLS handshake (upstream) failed") && body.contains("certificate"),
        "{body}"
    );
    assert!(upstream
        .seen
        .lock()
        .unwrap()
        .iter()
        .all(|s| s.messages.is_empty()));
    proxy.shutdown().await;
}

#[tokio::test]
async fn an_upstream_that_drops_mid_stream_closes_the_client_promptly_and_is_recorded() {
    let (Proxied { ca, dir, proxy }, _upstream) = Proxied::behind(Behavior::DropAfterFirst).await;
    let (mut client, _) = connect(&format!("{}{PATH}", proxy.url()), ca.client_config(), &[])
        .await
        .unwrap();
    client.send(Message::text("hello")).await.unwrap();
    match next(&mut client).await {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1011),
        other => panic!("expected close 1011, got {other:?}"),
    }
    drop(client);
    proxy.shutdown().await;
    let cassette = &cassettes(dir.path())[0];
    let end = cassette.end.as_ref().unwrap();
    assert_eq!(end.by, EndedBy::Server);
    assert!(
        end.error
            .as_deref()
            .unwrap()
            .contains("without a close frame"),
        "{end:?}"
    );
}

#[tokio::test]
async fn shutdown_closes_open_connections_with_1001_and_finishes_their_cassettes() {
    let (Proxied { ca, dir, proxy }, upstream) = Proxied::behind(Behavior::Echo).await;
    let (mut client, _) = connect(&format!("{}{PATH}", proxy.url()), ca.client_config(), &[])
        .await
        .unwrap();
    client.send(Message::text("hi")).await.unwrap();
    assert_eq!(next(&mut client).await, Message::text("hi"));
    let shutdown = tokio::spawn(proxy.shutdown());
    match next(&mut client).await {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected close 1001, got {other:?}"),
    }
    drop(client);
    shutdown.await.unwrap();
    let seen = upstream.seen(0);
    assert!(
        matches!(seen.messages.last(), Some(Message::Close(Some(f))) if u16::from(f.code) == 1001),
        "the upstream got 1001 too: {:?}",
        seen.messages
    );
    let cassette = &cassettes(dir.path())[0];
    assert!(cassette.complete);
    assert_eq!(cassette.end.as_ref().unwrap().by, EndedBy::Proxy);
}

/// A bearer token in the URL path (LivePerson's agent socket:
/// `/ws_api/account/{acct}/messaging/brand/{bearer}`) reaches the upstream unchanged but never
/// the cassette, its file name or the live view.
#[tokio::test]
async fn a_token_in_the_url_path_is_forwarded_but_never_recorded() {
    let (proxied, upstream) = Proxied::echo().await;
    // A fake bearer, assembled so that no token sits in a committed URL path.
    let bearer = concat!("s3cr3t", "-bearer-token");
    let path = format!("/ws_api/account/12345/messaging/brand/{bearer}?v=2.1");
    let path = path.as_str();
    let mut client = proxied.connect(path).await;
    client.send(Message::text("hi")).await.unwrap();
    assert_eq!(next(&mut client).await, Message::text("hi"));
    client.close(None).await.unwrap();
    while client.next().await.is_some() {}
    let (cassettes, _dir) = proxied.finish().await;
    assert_eq!(
        upstream.seen(0).uri,
        path,
        "the upstream gets the real path"
    );
    let cassette = &cassettes[0];
    assert_eq!(
        cassette.open.url,
        "/ws_api/account/12345/messaging/brand/<redacted>?v=2.1"
    );
    let file = cassette.path.file_name().unwrap().to_string_lossy();
    assert!(!file.contains("s3cr3t"), "{file}");
    let text = std::fs::read_to_string(&cassette.path).unwrap();
    assert!(!text.contains("s3cr3t"), "{text}");
}
