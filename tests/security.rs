//! Issue 6, item 5: security defaults, each proven on the built binary.
//!
//! Covered elsewhere: the control API refusing a real non-loopback peer
//! (`mock::protocol::the_control_api_refuses_non_loopback_peers`, skipped on a machine without
//! one; the rule itself is unit-tested in `mock-server/src/control.rs`), and an upstream
//! certificate from an untrusted CA (`record::an_upstream_certificate_from_an_untrusted_ca_…`).

use std::fs::File;
use std::io::{BufRead as _, BufReader, Read as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use wiretape_fixtures::pki::LocalCa;

use crate::harness::client::{connect, Client};
use crate::harness::json::{fake_jwt, next_json};
use crate::harness::upstream::{Behavior, Upstream};

const BIN: &str = env!("CARGO_BIN_EXE_wiretape");
const PATH: &str = "/ws_api/account/12345678/messaging/consumer?v=3";

/// Runs `wiretape ARGS` to completion with `$WIRETAPE_HOME` at `home`: (status, stdout, stderr).
fn run(home: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env("WIRETAPE_HOME", home)
        .output()
        .unwrap();
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (out.status.success(), text(out.stdout), text(out.stderr))
}

/// A `wiretape` server whose stderr goes to a file (a trace log can outgrow a pipe) and whose
/// stdout is read as it comes: its first line says it is listening.
struct Logged {
    child: Child,
    /// Everything on stdout, once the process ends.
    out: Option<std::thread::JoinHandle<String>>,
    err: PathBuf,
    /// The URL of the first stdout line, `listening on URL`.
    url: String,
}

impl Logged {
    /// Starts `wiretape ARGS` with `RUST_LOG=log`; returns once it printed `listening on`.
    fn start(home: &Path, name: &str, log: &str, args: &[&str]) -> Self {
        let err = home.join(format!("{name}.err"));
        let mut child = Command::new(BIN)
            .args(args)
            .env("WIRETAPE_HOME", home)
            .env("RUST_LOG", log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&err).unwrap())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let Some(url) = first.trim_end().strip_prefix("listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{name} did not listen: {first:?}; stderr: {}",
                std::fs::read_to_string(&err).unwrap()
            );
        };
        let url = url.to_owned();
        let out = std::thread::spawn(move || {
            let mut text = first;
            let _ = stdout.read_to_string(&mut text);
            text
        });
        Self {
            child,
            out: Some(out),
            err,
            url,
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap()
    }

    /// SIGTERM, then everything it printed (stdout and stderr).
    fn stop(mut self) -> String {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        self.child.wait().unwrap();
        let out = self.out.take().unwrap().join().unwrap();
        out + &self.stderr()
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn record_and_mock_listen_on_127_0_0_1_unless_told_otherwise() {
    let home = tempfile::tempdir().unwrap();
    for command in ["record", "mock"] {
        let (ok, help, _) = run(home.path(), &[command, "--help"]);
        assert!(ok);
        let listen = help.split("--listen").nth(1).expect("a --listen option");
        let default = listen.split("[default: ").nth(1).unwrap().split(']').next();
        // `record --forward` listens on the usual proxy port, on loopback too.
        let expected = match command {
            "record" => "127.0.0.1:8443, or 127.0.0.1:8080 with --forward",
            _ => "127.0.0.1:8443",
        };
        assert_eq!(default, Some(expected), "{command}: {listen}");
    }
    // The library's own default (what `--listen` defaults to for tests and the demo) too.
    let config = wiretape_mock_server::Config::default();
    let wiretape_mock_server::Listen::Addr(addr) = config.listen else {
        panic!("{:?}", config.listen)
    };
    assert!(addr.ip().is_loopback(), "{addr}");
}

#[test]
fn wiretape_mock_without_listen_binds_loopback_8443_only() {
    // Only when 8443 is free; a busy port says nothing about the default.
    if std::net::TcpListener::bind("127.0.0.1:8443").is_err() {
        eprintln!("skipped: 127.0.0.1:8443 is busy here; the --help test covers the default");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let mock = Logged::start(home.path(), "mock", "warn", &["mock", "--plain"]);
    assert_eq!(mock.url, "ws://127.0.0.1:8443");
    // No socket listens on 8443 at any other address (/proc/net/tcp{,6}: state 0A = LISTEN).
    let port = format!(":{:04X} ", 8443);
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text
            .lines()
            .filter(|l| l.contains(&port) && l.contains(" 0A "))
        {
            let local = line.split_whitespace().nth(1).unwrap();
            assert_eq!(local, "0100007F:20FB", "listening at {local} in {table}");
        }
    }
    mock.stop();
}

#[test]
fn the_ca_key_is_0600_and_never_printed() {
    let home = tempfile::tempdir().unwrap();
    let (ok, path, _) = run(home.path(), &["ca"]);
    assert!(ok);
    assert_eq!(path.trim(), home.path().join("ca.pem").to_str().unwrap());
    let key = home.path().join("ca-key.pem");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", key.display());
    let key_pem = std::fs::read_to_string(&key).unwrap();
    let key_body = key_pem.lines().nth(1).unwrap().to_owned();
    let (ok, pem, err) = run(home.path(), &["ca", "--pem"]);
    assert!(
        ok && pem.starts_with("-----BEGIN CERTIFICATE-----"),
        "{pem}"
    );
    let mut printed = vec![path, pem, err];
    for args in [
        ["record", "--upstream", "ws://127.0.0.1:9"],
        ["mock", "--agent", "manual"],
    ] {
        let args = [&args[..], &["--listen", "127.0.0.1:0"]].concat();
        let server = Logged::start(home.path(), args[0], "trace", &args);
        printed.push(server.stop());
    }
    for text in printed {
        assert!(
            !text.contains("PRIVATE KEY") && !text.contains(&key_body),
            "{text}"
        );
    }
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "still 0600 after use");
}

#[tokio::test]
async fn insecure_upstream_connects_to_an_unverifiable_upstream_and_says_so() {
    let stranger = LocalCa::generate().unwrap();
    let upstream = Upstream::start(&stranger, Behavior::Echo).await;
    let home = tempfile::tempdir().unwrap();
    let url = upstream.url();
    let args = [
        "record",
        "--insecure-upstream",
        "--no-record",
        "--upstream",
        &url,
    ];
    let args = [&args[..], &["--listen", "127.0.0.1:0"]].concat();
    let proxy = Logged::start(home.path(), "record", "warn", &args);
    let tls = LocalCa::load_or_create(home.path())
        .unwrap()
        .client_config();
    let (mut client, _) = connect(&format!("{}{PATH}", proxy.url), tls, &[])
        .await
        .unwrap();
    client.send(Message::text("through")).await.unwrap();
    let echo = tokio::time::timeout(Duration::from_secs(5), client.next()).await;
    assert_eq!(echo.unwrap().unwrap().unwrap(), Message::text("through"));
    drop(client);
    // Stopping blocks: off the runtime, so the in-process upstream can answer the proxy's close.
    let printed = tokio::task::spawn_blocking(move || proxy.stop())
        .await
        .unwrap();
    assert!(
        printed.contains("WARN") && printed.contains("the upstream's certificate is NOT verified"),
        "{printed}"
    );
}

/// Sends `frame` and returns the response to `id` (`null` for id-less errors), skipping
/// notifications.
async fn request(client: &mut Client, frame: &str, id: Value) -> Value {
    client.send(Message::text(frame)).await.unwrap();
    loop {
        let got = next_json(client).await;
        if got["kind"] == "resp" && got["reqId"] == id {
            return got;
        }
    }
}

#[tokio::test]
async fn no_token_appears_in_any_cassette_snapshot_report_or_log_even_at_trace_level() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let (header_jwt, init_jwt, refused_jwt) = (fake_jwt("c-1"), fake_jwt("c-2"), fake_jwt("c-3"));
    let opaque = "opaque-bearer-s3cr3t-4f1e";
    let report = h.join("report.json");
    let mock = Logged::start(
        h,
        "mock",
        "trace",
        &[
            "mock",
            "--listen",
            "127.0.0.1:0",
            "--agent-delay",
            "0",
            "--report",
            report.to_str().unwrap(),
        ],
    );
    let ca = h.join("ca.pem");
    let out = h.join("recordings");
    let proxy = Logged::start(
        h,
        "record",
        "trace",
        &[
            "record",
            "--upstream",
            &mock.url,
            "--upstream-ca",
            ca.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let tls = LocalCa::load_or_create(h).unwrap().client_config();
    let url = format!("{}{PATH}", proxy.url);

    // 1. A session authenticated by header, with tokens inside frames and on error paths.
    let auth = format!("jwt {header_jwt}");
    let (mut c, _) = connect(&url, tls.clone(), &[("Authorization", &auth)])
        .await
        .unwrap();
    let created = request(
        &mut c,
        r#"{"kind":"req","id":"1","type":"cm.ConsumerRequestConversation"}"#,
        json!("1"),
    )
    .await;
    let conv = created["body"]["conversationId"]
        .as_str()
        .expect("created")
        .to_owned();
    let said = json!({"kind":"req","id":"2","type":"ms.PublishEvent","body":{"dialogId":conv,
        "event":{"type":"ContentEvent","contentType":"text/plain","message":format!("my token is {header_jwt}")}}});
    assert_eq!(
        request(&mut c, &said.to_string(), json!("2")).await["code"],
        200
    );
    let init = json!({"kind":"req","id":"3","type":"InitConnection","headers":[
        {"type":".ams.headers.ConsumerAuthentication","jwt":init_jwt}]});
    assert_eq!(
        request(&mut c, &init.to_string(), json!("3")).await["code"],
        401,
        "another consumer"
    );
    let not_json = format!("jwt {header_jwt}");
    assert_eq!(request(&mut c, &not_json, Value::Null).await["code"], 400);
    let typed = json!({"kind":"req","id":"5","type":header_jwt}).to_string();
    assert_eq!(
        request(&mut c, &typed, json!("5")).await["code"],
        400,
        "unknown type"
    );
    let kind = json!({"kind":header_jwt,"id":"6","type":"GetClock"}).to_string();
    assert_eq!(
        request(&mut c, &kind, json!("6")).await["code"],
        400,
        "bad kind"
    );
    let read = json!({"kind":"req","id":"7","type":"ms.PublishEvent","body":{"dialogId":conv,
        "event":{"type":"AcceptStatusEvent","status":"READ","sequenceList":[0],"note":header_jwt}}});
    request(&mut c, &read.to_string(), json!("7")).await;
    c.close(None).await.unwrap();
    while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_secs(5), c.next()).await {}

    // 2. Refused upgrades: another scheme, and an opaque token the mock cannot use.
    for value in [format!("Bearer {refused_jwt}"), format!("Bearer {opaque}")] {
        let err = connect(&url, tls.clone(), &[("Authorization", &value)])
            .await
            .unwrap_err();
        assert!(err.to_string().contains("401"), "{err}");
    }
    // 3. A header-less client authenticating with InitConnection.
    let (mut c, _) = connect(&url, tls.clone(), &[]).await.unwrap();
    let init = json!({"kind":"req","id":"0","type":"InitConnection","headers":[
        {"type":".ams.headers.ConsumerAuthentication","jwt":init_jwt}]});
    assert_eq!(
        request(&mut c, &init.to_string(), json!("0")).await["code"],
        200
    );
    c.close(None).await.unwrap();
    while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_secs(5), c.next()).await {}

    // 4. An agent (issue 11): login with a password on the mock (a csrf, a session cookie and
    //    a bearer come back), then its socket through the proxy with the bearer in the path.
    let password = "agent-password-s3cr3t-77";
    let host = mock.url.trim_start_matches("wss://").to_owned();
    let login = Command::new("curl")
        .args(["-s", "-i", "--cacert", ca.to_str().unwrap(), "-X", "POST"])
        .args(["-H", "Content-Type: application/json", "-d"])
        .arg(json!({"username": "bot", "password": password}).to_string())
        .arg(format!("https://{host}/api/account/12345678/login?v=1.3"))
        .output()
        .expect("curl runs");
    let answer = String::from_utf8(login.stdout).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("headers and a body");
    let login: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"));
    let cookie = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie:")
                .then(|| l[11..].trim())
        })
        .and_then(|c| c.split(';').next())
        .and_then(|c| c.split_once('='))
        .map(|(_, value)| value.to_owned())
        .expect("a session cookie");
    let bearer = login["bearer"].as_str().expect("a bearer").to_owned();
    let csrf = login["csrf"].as_str().expect("a csrf").to_owned();
    let agent_url = format!(
        "{}/ws_api/account/12345678/messaging/brand/{bearer}?v=2.1",
        proxy.url
    );
    let (mut a, _) = connect(&agent_url, tls.clone(), &[]).await.unwrap();
    let online = r#"{"kind":"req","id":"a1","type":".ams.routing.SetAgentState","body":{"availability":"ONLINE"}}"#;
    assert_eq!(request(&mut a, online, json!("a1")).await["code"], 200);
    a.close(None).await.unwrap();
    while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_secs(5), a.next()).await {}

    let mut places = vec![
        ("record output", proxy.stop()),
        ("mock output", mock.stop()),
    ];
    let trace_on = places.iter().all(|(_, log)| log.contains("TRACE"));
    assert!(trace_on, "trace level was on");
    places.push(("report", std::fs::read_to_string(&report).unwrap()));
    for entry in std::fs::read_dir(&out).unwrap() {
        let path = entry.unwrap().path();
        places.push(("cassette", std::fs::read_to_string(&path).unwrap()));
        let (ok, snapshot, err) = run(h, &["snapshot", path.to_str().unwrap()]);
        assert!(ok, "{err}");
        places.push(("snapshot", snapshot + &err));
    }
    assert_eq!(
        places.len(),
        2 + 1 + 2 * 5,
        "five cassettes, each snapshotted"
    );
    let mut secrets: Vec<&str> = vec![opaque, password, &bearer, &csrf, &cookie];
    for jwt in [&header_jwt, &init_jwt, &refused_jwt] {
        // The whole token, and its payload and signature on their own.
        secrets.extend(jwt.split('.').skip(1));
    }
    let mut leaks = Vec::new();
    for (place, text) in &places {
        assert!(text.len() > 10, "{place} is empty");
        for secret in &secrets {
            for (at, _) in text.match_indices(secret) {
                let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
                let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
                let line: String = text[line_start..line_end].chars().take(400).collect();
                leaks.push(format!("{place}: {line}"));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "{} leaks:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}
