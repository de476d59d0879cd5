//! The forward proxy (`wiretape record --forward`, issue 13 item 1) with real clients that
//! keep their real URLs: wscat 6.1 `--proxy`, curl `-x`, and LivePerson's node-agent-sdk 1.2.0
//! under `HTTPS_PROXY`, in front of real TLS upstreams on 127.0.0.1 (the mock, the harness's
//! echo server). The proxy runs in-process with a CA of its own; each upstream's certificate
//! comes from another CA that the proxy trusts for its upstream leg.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use wiretape_fixtures::assert_cassette_snapshot;
use wiretape_fixtures::cassette::Cassette;
use wiretape_fixtures::pki::LocalCa;
use wiretape_mock_server::{MockServer, TlsIdentity};
use wiretape_proxy::{tls, Config, ForwardConfig, HostPattern, Proxy, ProxyHandle, UpstreamTrust};

use crate::harness::json::fake_jwt;
use crate::harness::upstream::{Behavior, Upstream};

/// The forward proxy in-process on `127.0.0.1:0`, recording to a temporary directory.
struct Forward {
    proxy: ProxyHandle,
    /// Cassettes.
    dir: tempfile::TempDir,
    /// `ca.pem` (the proxy's CA, what clients trust) and other files of the test.
    files: tempfile::TempDir,
}

impl Forward {
    /// A forward proxy intercepting `hosts` (all when empty) that trusts `upstream_ca` only.
    async fn start(upstream_ca: &LocalCa, hosts: &[&str]) -> Self {
        let ca = LocalCa::generate().unwrap();
        let files = tempfile::tempdir().unwrap();
        std::fs::write(files.path().join("ca.pem"), ca.cert_pem()).unwrap();
        std::fs::write(files.path().join("upstream-ca.pem"), upstream_ca.cert_pem()).unwrap();
        let hosts = hosts
            .iter()
            .map(|h| HostPattern::parse(h).unwrap())
            .collect();
        let upstream_tls =
            tls::upstream_client_config(&UpstreamTrust::Roots(upstream_ca.root_store())).unwrap();
        let mut config = Config::forward(ForwardConfig::new(ca, hosts), upstream_tls);
        let dir = tempfile::tempdir().unwrap();
        config.record.dir = Some(dir.path().to_path_buf());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Proxy::start(listener, config).await.unwrap();
        Self { proxy, dir, files }
    }

    /// `http://127.0.0.1:PORT`.
    fn url(&self) -> String {
        self.proxy.url()
    }

    /// The proxy's CA certificate file.
    fn ca(&self) -> PathBuf {
        self.files.path().join("ca.pem")
    }

    /// The upstream's CA certificate file.
    fn upstream_ca(&self) -> PathBuf {
        self.files.path().join("upstream-ca.pem")
    }

    /// Stops the proxy (every cassette is complete then); its cassettes and, for the
    /// no-secret checks, every file's text.
    async fn finish(self) -> (Vec<Cassette>, String) {
        self.proxy.shutdown().await;
        let cassettes = crate::harness::cassettes(self.dir.path());
        let mut disk = String::new();
        for entry in std::fs::read_dir(self.dir.path()).unwrap() {
            let path = entry.unwrap().path();
            disk.push_str(&path.display().to_string());
            disk.push_str(&std::fs::read_to_string(&path).unwrap());
        }
        (cassettes, disk)
    }
}

/// Runs a client to completion off the async runtime.
async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the client runs");
        // wscat exits as soon as its stdin closes: keep it open until the client is done.
        let stdin = child.stdin.take();
        let output = child.wait_with_output().unwrap();
        drop(stdin);
        output
    })
    .await
    .unwrap()
}

/// `curl -sS -x PROXY ARGS...`: the answer's head and body on stdout (`-D -`).
async fn curl(proxy: &str, args: &[&str]) -> (String, String) {
    let mut command = Command::new("curl");
    command.args([
        "-sS",
        "--max-time",
        "20",
        "--suppress-connect-headers",
        "-D",
        "-",
        "-x",
        proxy,
    ]);
    command.args(args);
    let out = run(command).await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| {
        panic!(
            "curl {args:?}: no answer: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (head.to_owned(), body.to_owned())
}

/// `wscat --proxy PROXY --ca CA [-H H].. -c URL -x MESSAGE -w 1`: wscat's output.
async fn wscat(proxy: &str, ca: &Path, url: &str, headers: &[&str], message: &str) -> Output {
    let mut command = Command::new(crate::harness::wscat::require());
    command.args(["--proxy", proxy]).arg("--ca").arg(ca);
    for header in headers {
        command.args(["-H", header]);
    }
    command.args(["-c", url, "-x", message, "-w", "1"]);
    run(command).await
}

/// The status code of an answer's head (`HTTP/1.1 502 Bad Gateway`).
fn status(head: &str) -> u16 {
    head.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A port on 127.0.0.1 that nothing listens on.
async fn dead_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

/// A mock whose certificate `ca` signs; agents log in as `user`/`pass`.
async fn mock(ca: &LocalCa, login: (&str, &str)) -> MockServer {
    MockServer::builder()
        .tls(TlsIdentity::from_ca(ca).unwrap())
        .manual_agent()
        .agent_login(login.0, login.1)
        .start()
        .await
}

/// Done-when 1: the real wscat, pointed at the real (echo) endpoint with `--proxy`, gets its
/// answer through the forward proxy, which relays the upgrade with the client's headers and
/// leaves a cassette (the reverse mode's relay and redaction: no JWT on disk).
#[tokio::test]
async fn wscat_through_the_forward_proxy_reaches_the_endpoint_and_leaves_a_cassette() {
    let upstream_ca = LocalCa::generate().unwrap();
    let upstream = Upstream::start(&upstream_ca, Behavior::Echo).await;
    let fwd = Forward::start(&upstream_ca, &[]).await;
    let jwt = fake_jwt("consumer-through-proxy");
    let url = format!(
        "wss://127.0.0.1:{}/ws_api/account/12345678/messaging/consumer?v=3",
        upstream.addr.port()
    );
    let message = r#"{"kind":"req","id":1,"type":"GetClock"}"#;
    let out = wscat(
        &fwd.url(),
        &fwd.ca(),
        &url,
        &[&format!("Authorization: jwt {jwt}")],
        message,
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(message),
        "wscat got no echo: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = upstream.seen(0);
    assert_eq!(seen.uri, "/ws_api/account/12345678/messaging/consumer?v=3");
    assert_eq!(seen.headers["authorization"], format!("jwt {jwt}"));

    let (cassettes, disk) = fwd.finish().await;
    assert_eq!(cassettes.len(), 1, "{cassettes:#?}");
    let cassette = &cassettes[0];
    assert_eq!(
        cassette.open.upstream.as_deref(),
        Some(format!("wss://127.0.0.1:{}", upstream.addr.port()).as_str())
    );
    assert!(cassette.complete);
    assert!(!disk.contains(&jwt), "the JWT reached the disk: {disk}");
    assert_cassette_snapshot!("forward_wscat_echo", cassette);
}

/// Done-when 2: curl `-x` to an HTTPS endpoint (the mock's agentVep login and CSDS) leaves
/// recorded exchanges with the password, bearer, csrf and cookies redacted before the disk.
#[tokio::test]
async fn curl_through_the_forward_proxy_leaves_recorded_redacted_exchanges() {
    let upstream_ca = LocalCa::generate().unwrap();
    let password = concat!("hunter2", "-not-on-disk");
    let server = mock(&upstream_ca, ("bot", password)).await;
    let fwd = Forward::start(&upstream_ca, &[]).await;
    let origin = format!("https://{}", server.address());
    let account = server.account().to_owned();
    let ca = fwd.ca().display().to_string();

    let login_body = format!(r#"{{"username":"bot","password":"{password}"}}"#);
    let (head, body) = curl(
        &fwd.url(),
        &[
            "--cacert",
            &ca,
            "-H",
            "Content-Type: application/json",
            "-H",
            "Cookie: visitor=cookie-not-on-disk",
            "-d",
            &login_body,
            &format!("{origin}/api/account/{account}/login?v=1.3"),
        ],
    )
    .await;
    assert_eq!(status(&head), 200, "{head}\n{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let bearer = answer["bearer"].as_str().unwrap().to_owned();
    let csrf = answer["csrf"].as_str().unwrap().to_owned();
    let session = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie:")
                .then(|| l.to_owned())
        })
        .and_then(|l| {
            l.split_once('=')
                .map(|(_, v)| v.split(';').next().unwrap().to_owned())
        })
        .expect("the login sets a session cookie");

    let (head, body) = curl(
        &fwd.url(),
        &[
            "--cacert",
            &ca,
            &format!("{origin}/api/account/{account}/service/baseURI.json?version=1.0"),
        ],
    )
    .await;
    assert_eq!(status(&head), 200, "{head}\n{body}");
    assert!(body.contains("agentVep"), "{body}");

    let (cassettes, disk) = fwd.finish().await;
    assert_eq!(cassettes.len(), 2, "{cassettes:#?}");
    for secret in [password, &bearer, &csrf, &session, "cookie-not-on-disk"] {
        assert!(
            !disk.contains(secret),
            "{secret:?} reached the disk: {disk}"
        );
    }
    let login = &cassettes[0];
    assert_eq!(login.open.method.as_deref(), Some("POST"));
    assert_eq!(login.open.status, 200);
    let exchange = &login.exchanges[0];
    assert_eq!(
        exchange
            .request_body
            .as_ref()
            .unwrap()
            .json
            .as_ref()
            .unwrap()["password"],
        "<redacted>"
    );
    let csds = &cassettes[1];
    assert_eq!(csds.open.method.as_deref(), Some("GET"));
    assert!(csds.exchanges[0]
        .response_body
        .as_ref()
        .unwrap()
        .json
        .is_some());
    assert_cassette_snapshot!("forward_curl_login", login, {
        ".upstream" => "[upstream]",
        ".http[].response_body.json.config.serverCurrentTime" => "[time]",
    });
}

/// node-agent-sdk 1.2.0 under `HTTPS_PROXY`: its CSDS and login calls (the `request` library,
/// which honours the variable) go through the proxy and are recorded; its agent socket (`ws`
/// 1.x, which ignores the variable) goes straight to the endpoint and is not.
#[tokio::test]
async fn node_agent_sdk_under_https_proxy_has_csds_and_login_recorded() {
    let upstream_ca = LocalCa::generate().unwrap();
    let password = concat!("sdk", "-password-not-on-disk");
    let server = mock(&upstream_ca, ("sdk-bot", password)).await;
    let fwd = Forward::start(&upstream_ca, &[]).await;
    // The SDK trusts both: the proxy's CA (CSDS, login) and the endpoint's (the agent socket).
    let both = fwd.files.path().join("both.pem");
    let ca_pem = std::fs::read_to_string(fwd.ca()).unwrap();
    std::fs::write(&both, format!("{ca_pem}{}", upstream_ca.cert_pem())).unwrap();
    let mut child = Command::new("node")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node/bot.js"))
        .args(["login", server.account(), "sdk-bot", password])
        .arg(server.address().to_string())
        .env("NODE_PATH", crate::harness::npm::require())
        .env("NODE_EXTRA_CA_CERTS", &both)
        .env("HTTPS_PROXY", fwd.url())
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .env_remove("https_proxy")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs");
    let stdout = child.stdout.take().unwrap();
    let connected = tokio::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains(r#""event":"connected""#) {
                return Ok(line);
            }
            seen.push(line);
        }
        Err(seen)
    });
    let connected = tokio::time::timeout(Duration::from_secs(30), connected).await;
    let _ = child.kill();
    let _ = child.wait();
    let connected = connected.expect("the SDK connects within 30 s").unwrap();
    assert!(connected.is_ok(), "the SDK did not connect: {connected:?}");

    let (cassettes, disk) = fwd.finish().await;
    let calls: Vec<String> = cassettes
        .iter()
        .map(|c| {
            format!(
                "{} {} {}",
                c.open.method.as_deref().unwrap_or("WS"),
                c.open.url.split('?').next().unwrap(),
                c.open.status
            )
        })
        .collect();
    let account = server.account();
    assert!(
        calls.contains(&format!(
            "GET /api/account/{account}/service/baseURI.json 200"
        )),
        "{calls:#?}"
    );
    assert!(
        calls.contains(&format!("POST /api/account/{account}/login 200")),
        "{calls:#?}"
    );
    assert!(
        calls.iter().all(|c| !c.starts_with("WS ")),
        "the agent socket does not honour HTTPS_PROXY (ws 1.x): {calls:#?}"
    );
    assert!(!disk.contains(password), "the password reached the disk");
    let login = cassettes
        .iter()
        .find(|c| c.open.method.as_deref() == Some("POST"))
        .unwrap();
    let exchange = &login.exchanges[0];
    let sent = exchange
        .request_body
        .as_ref()
        .unwrap()
        .json
        .as_ref()
        .unwrap();
    assert_eq!(sent["password"], "<redacted>", "{sent}");
    let got = exchange
        .response_body
        .as_ref()
        .unwrap()
        .json
        .as_ref()
        .unwrap();
    assert_eq!(
        (&got["bearer"], &got["csrf"]),
        (&"<redacted>".into(), &"<redacted>".into())
    );
}

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
