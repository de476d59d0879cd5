//! Authentication, protocol-level closes and the control API (bad input: `bad_input.rs`).

use std::time::Duration;

use futures_util::StreamExt as _;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use wiretape_mock_server::client::{self, Consumer};
use wiretape_mock_server::{MockServer, ReceiptStatus, Timeouts};

#[tokio::test]
async fn a_wrong_token_is_refused_at_the_upgrade_with_401() {
    let server = MockServer::builder()
        .manual_agent()
        .jwt("right")
        .start()
        .await;
    let err = client::connect(&server.consumer_url(), server.client_tls(), Some("wrong"))
        .await
        .expect_err("refused");
    let text = format!("{:?}", err);
    assert!(text.contains("401"), "{text}");
    Consumer::connect_with_token(&server, Some("right"))
        .await
        .assert_alive()
        .await;
}

#[tokio::test]
async fn a_wrong_init_connection_token_closes_4401() {
    let server = MockServer::builder()
        .manual_agent()
        .jwt("right")
        .start()
        .await;
    let mut c = Consumer::connect_with_token(&server, None).await;
    let resp = c
        .request(json!({"kind":"req","id":"0","type":"InitConnection","headers":[{"type":".ams.headers.ConsumerAuthentication","jwt":"wrong"}]}))
        .await;
    assert_eq!(resp["code"], 401, "{resp}");
    assert!(
        !resp.to_string().contains("wrong"),
        "the token is never echoed: {resp}"
    );
    assert_eq!(c.closed().await.0, 4401);
}

#[tokio::test]
async fn no_init_connection_in_time_closes_4401() {
    let server = MockServer::builder()
        .manual_agent()
        .timeouts(Timeouts {
            init_connection: Duration::from_millis(100),
            ..Timeouts::default()
        })
        .start()
        .await;
    let mut c = Consumer::connect_with_token(&server, None).await;
    let (code, reason) = c.closed().await;
    assert_eq!(code, 4401);
    assert!(reason.contains("InitConnection"), "{reason}");
}

#[tokio::test]
async fn other_consumer_requests_have_their_documented_shapes() {
    let server = MockServer::builder().manual_agent().start().await;
    let mut c = Consumer::connect(&server).await;
    let clock = c
        .request(json!({"kind":"req","id":1,"type":".GetClock"}))
        .await;
    assert!(clock["body"]["currentTime"].as_u64().unwrap() > 1_600_000_000_000);
    let keep = c
        .request(json!({"kind":"req","id":2,"type":"KeepAlive"}))
        .await;
    assert_eq!(keep["type"], "StringResponse");
    let up = c
        .request(json!({"kind":"req","id":3,"type":"ms.GenerateURLForUploadFile","body":{"fileSize":"5020","fileType":"PNG"}}))
        .await;
    assert_eq!(up["type"], "ms.BaseGenerateURLResponse");
    assert!(up["body"]["queryParams"]["temp_url_sig"].is_string());
    let profile = c
        .request(json!({"kind":"req","id":4,"type":"userprofile.GetUserProfile","body":server.agent().id()}))
        .await;
    assert_eq!(profile["body"]["role"], "ASSIGNED_AGENT", "{profile}");
    let created = c
        .request(json!({"kind":"req","id":5,"type":"cm.ConsumerRequestConversation"}))
        .await;
    let twice = c
        .request(json!({"kind":"req","id":6,"type":"cm.ConsumerRequestConversation"}))
        .await;
    assert_eq!(
        twice["code"], 400,
        "one open conversation per consumer: {twice}"
    );
    let conv = created["body"]["conversationId"].as_str().unwrap();
    let typing = c
        .request(client::publish(
            7,
            conv,
            json!({"type":"ChatStateEvent","chatState":"COMPOSING"}),
        ))
        .await;
    assert_eq!(typing["body"], json!({"sequence": 0}));
    let echo = c.notification("ms.MessagingEventNotification").await;
    assert!(echo["body"]["changes"][0].get("serverTimestamp").is_none());
    assert!(
        server.latest_conversation().unwrap().events.is_empty(),
        "not stored"
    );
}

/// One HTTP/1.1 request to a plain server's control API; returns status and JSON body.
async fn http(server: &MockServer, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    http_to(server.address(), method, path, body).await
}

async fn http_to(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} /mock/api{path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let json = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| serde_json::from_str(b).unwrap_or(Value::String(b.to_owned())))
        .unwrap();
    (status, json)
}

#[tokio::test]
async fn the_control_api_drives_the_agent_and_lists_receipts() {
    let server = MockServer::builder().plain().manual_agent().start().await;
    assert!(server.url().starts_with("ws://"));
    let mut c = Consumer::connect(&server).await;
    let conv = c.create_conversation().await;

    let (status, _) = http(
        &server,
        "POST",
        "/conversations/latest/say",
        Some(json!({"text":"hi"})),
    )
    .await;
    assert_eq!(status, 409, "the agent must join first");
    let (status, _) = http(
        &server,
        "POST",
        &format!("/conversations/{conv}/join"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, said) = http(
        &server,
        "POST",
        "/conversations/latest/say",
        Some(json!({"text":"hi"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        said,
        json!({"conversationId": conv, "dialogId": conv, "sequence": 0})
    );
    let note = c.notification("ms.MessagingEventNotification").await;
    assert_eq!(note["body"]["changes"][0]["event"]["message"], "hi");

    c.request(client::receipt(2, &conv, ReceiptStatus::Read, [0]))
        .await;
    let (_, receipts) = http(&server, "GET", "/receipts", None).await;
    assert_eq!(receipts[0]["verdict"], "valid-with-warnings", "{receipts}");
    let (_, conversations) = http(&server, "GET", "/conversations", None).await;
    assert_eq!(conversations[0]["events"].as_array().unwrap().len(), 2);
    assert_eq!(conversations[0]["receipts"].as_array().unwrap().len(), 1);

    let (status, _) = http(&server, "POST", "/conversations/latest/close", None).await;
    assert_eq!(status, 200);
    let (status, _) = http(&server, "GET", "/conversations/nope", None).await;
    assert_eq!(status, 404);
    let (status, _) = http(&server, "POST", "/shutdown", None).await;
    assert_eq!(status, 202);
    tokio::time::timeout(Duration::from_secs(5), server.stopped())
        .await
        .expect("stopped");
    let (code, _) = c.closed().await;
    assert_eq!(code, 1001);
}

#[tokio::test]
async fn a_client_close_is_answered_and_forgotten() {
    let server = MockServer::builder().manual_agent().start().await;
    let c = Consumer::connect(&server).await;
    let mut ws = c.into_socket();
    ws.close(None).await.unwrap();
    while let Some(Ok(_)) = ws.next().await {}
}

/// This machine's address on its default route, if it has one (no packet is sent).
fn non_loopback_ip() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test]
async fn the_control_api_refuses_non_loopback_peers() {
    let Some(ip) = non_loopback_ip() else {
        eprintln!("skipped: this machine has no non-loopback address");
        return;
    };
    let server = MockServer::builder()
        .plain()
        .manual_agent()
        .listen("0.0.0.0:0".parse().unwrap())
        .start()
        .await;
    let port = server.address().port();
    let (status, body) = http_to((ip, port).into(), "GET", "/receipts", None).await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = http_to(([127, 0, 0, 1], port).into(), "GET", "/receipts", None).await;
    assert_eq!(status, 200);
}
