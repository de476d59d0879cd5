//! The forward proxy (`wiretape record --forward`, issue 13 item 1) with real clients that
//! keep their real URLs: wscat 6.1 `--proxy`, curl `-x`, and LivePerson's node-agent-sdk 1.2.0
//! under `HTTPS_PROXY`, in front of real TLS upstreams on 127.0.0.1 (the mock, the harness's
//! echo server). The proxy runs in-process with a CA of its own; each upstream's certificate
//! comes from another CA that the proxy trusts for its upstream leg.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use wiretape_fixtures::assert_cassette_snapshot;
use wiretape_fixtures::cassette::Cassette;
use wiretape_fixtures::pki::LocalCa;
use wiretape_mock_server::{MockServer, TlsIdentity};
use wiretape_proxy::{tls, Config, ForwardConfig, HostPattern, Proxy, ProxyHandle, UpstreamTrust};

use crate::harness::json::fake_jwt;
use crate::harness::upstream::{Behavior, Upstream};

// --hosts, errors, plain http/ws and the built binary.
mod edges;

/// The forward proxy in-process on `127.0.0.1:0`, recording to a temporary directory.
pub(super) struct Forward {
    pub(super) proxy: ProxyHandle,
    /// Cassettes.
    pub(super) dir: tempfile::TempDir,
    /// `ca.pem` (the proxy's CA, what clients trust) and other files of the test.
    pub(super) files: tempfile::TempDir,
}

impl Forward {
    /// A forward proxy intercepting `hosts` (all when empty) that trusts `upstream_ca` only.
    pub(super) async fn start(upstream_ca: &LocalCa, hosts: &[&str]) -> Self {
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
    pub(super) fn url(&self) -> String {
        self.proxy.url()
    }

    /// The proxy's CA certificate file.
    pub(super) fn ca(&self) -> PathBuf {
        self.files.path().join("ca.pem")
    }

    /// The upstream's CA certificate file.
    pub(super) fn upstream_ca(&self) -> PathBuf {
        self.files.path().join("upstream-ca.pem")
    }

    /// Stops the proxy (every cassette is complete then); its cassettes and, for the
    /// no-secret checks, every file's text.
    pub(super) async fn finish(self) -> (Vec<Cassette>, String) {
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
pub(super) use crate::harness::wscat::run_to_end as run;

/// Logs in as `bot` with `password` at the agentVep `login_url` through the forward proxy,
/// with curl (and `extra` arguments): the answer's head and JSON, checked to be a 200.
pub(super) async fn curl_login(
    fwd: &Forward,
    login_url: &str,
    password: &str,
    extra: &[&str],
) -> (String, serde_json::Value) {
    let ca = fwd.ca().display().to_string();
    let login_body = format!(r#"{{"username":"bot","password":"{password}"}}"#);
    let mut args = vec![
        "--cacert",
        &ca,
        "-H",
        "Content-Type: application/json",
        "-d",
        &login_body,
    ];
    args.extend_from_slice(extra);
    args.push(login_url);
    let (head, body) = curl(&fwd.url(), &args).await;
    assert_eq!(status(&head), 200, "{head}\n{body}");
    (head, serde_json::from_str(&body).unwrap())
}

/// `curl -sS -x PROXY ARGS...`: the answer's head and body on stdout (`-D -`).
pub(super) async fn curl(proxy: &str, args: &[&str]) -> (String, String) {
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
pub(super) async fn wscat(
    proxy: &str,
    ca: &Path,
    url: &str,
    headers: &[&str],
    message: &str,
) -> Output {
    let mut command = Command::new(crate::harness::wscat::require());
    command.args(["--proxy", proxy]).arg("--ca").arg(ca);
    for header in headers {
        command.args(["-H", header]);
    }
    command.args(["-c", url, "-x", message, "-w", "1"]);
    run(command).await
}

/// The status code of an answer's head (`HTTP/1.1 502 Bad Gateway`).
pub(super) fn status(head: &str) -> u16 {
    head.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A port on 127.0.0.1 that nothing listens on.
pub(super) async fn dead_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

/// A mock whose certificate `ca` signs; agents log in as `user`/`pass`.
pub(super) async fn mock(ca: &LocalCa, login: (&str, &str)) -> MockServer {
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

    let (head, answer) = curl_login(
        &fwd,
        &format!("{origin}/api/account/{account}/login?v=1.3"),
        password,
        &["-H", "Cookie: visitor=cookie-not-on-disk"],
    )
    .await;
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
