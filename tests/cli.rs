//! The `wiretape` binary as users run it: the real `wscat` through `wiretape record`, and a
//! recording killed with SIGKILL.

use std::process::{Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;
use wiretape_fixtures::cassette::{Kind, Sender};
use wiretape_fixtures::pki::LocalCa;

use crate::harness::client::connect;
use crate::harness::process::Wiretape;
use crate::harness::upstream::{Behavior, Upstream};
use crate::harness::{cassettes, wscat};

const PATH: &str = "/ws_api/account/12345/messaging/consumer?v=3";

/// Starts `wiretape record` in front of `upstream`, trusting the test CA for the upstream leg.
fn record(
    home: &std::path::Path,
    out: &std::path::Path,
    upstream: &Upstream,
    ca: &LocalCa,
) -> Wiretape {
    let ca_file = home.join("upstream-ca.pem");
    std::fs::write(&ca_file, ca.cert_pem()).unwrap();
    Wiretape::start(
        home,
        &[
            "record",
            "--upstream",
            &upstream.url(),
            "--upstream-ca",
            ca_file.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--out",
            out.to_str().unwrap(),
        ],
    )
}

#[tokio::test]
async fn real_wscat_talks_through_wiretape_record_and_the_cassette_has_its_frames() {
    let wscat = wscat::require();
    let ca = LocalCa::generate().unwrap();
    let upstream = Upstream::start(&ca, Behavior::Echo).await;
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("recordings");
    let proxy = record(home.path(), &out, &upstream, &ca);
    assert!(proxy.url.starts_with("wss://127.0.0.1:"), "{}", proxy.url);
    let wiretape_ca = home.path().join("ca.pem");
    assert!(wiretape_ca.exists(), "the CA is created on first use");

    let request = r#"{"kind":"req","id":1,"type":"cm.ConsumerRequestConversation"}"#;
    let url = format!("{}{PATH}", proxy.url);
    let output = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(wscat)
            .args([
                "--ca",
                wiretape_ca.to_str().unwrap(),
                "-H",
                "Authorization: jwt test-token",
            ])
            .args(["-c", &url, "-x", request, "-w", "1"])
            // wscat exits as soon as its stdin closes: keep it open until it is done.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run wscat");
        let stdin = child.stdin.take();
        let output = child.wait_with_output().unwrap();
        drop(stdin);
        output
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "wscat failed: {stdout}\n{stderr}");
    assert!(
        stdout.contains(request),
        "wscat prints the echoed reply: {stdout}\n{stderr}"
    );

    let (status, live) = proxy.terminate();
    assert!(
        status.success(),
        "record exits 0 on SIGTERM: {status:?}\n{live}"
    );
    assert!(
        live.contains("> text   cm.ConsumerRequestConversation id=1"),
        "the live view shows the request: {live}"
    );
    assert!(
        !live.contains("test-token"),
        "no secret in the live view: {live}"
    );

    let seen = upstream.seen(0);
    assert_eq!(seen.headers["authorization"], "jwt test-token");
    assert_eq!(seen.uri, PATH);
    let cassette = &cassettes(&out)[0];
    let frames: Vec<_> = cassette.frames.iter().map(|f| (f.from, f.kind)).collect();
    assert_eq!(
        frames[..2],
        [(Sender::Client, Kind::Text), (Sender::Server, Kind::Text)]
    );
    assert_eq!(
        cassette.frames[0].payload_bytes().unwrap(),
        request.as_bytes()
    );
    assert_eq!(
        cassette
            .open
            .headers
            .iter()
            .find(|(n, _)| n == "authorization")
            .unwrap()
            .1,
        "jwt <redacted>"
    );
    assert!(cassette.complete);
}

#[tokio::test]
async fn a_recording_killed_with_sigkill_leaves_a_cassette_whose_lines_all_parse() {
    let ca = LocalCa::generate().unwrap();
    let upstream = Upstream::start(&ca, Behavior::Echo).await;
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("recordings");
    let proxy = record(home.path(), &out, &upstream, &ca);
    let wiretape_ca = LocalCa::load_or_create(home.path()).unwrap();
    let (mut client, _) = connect(
        &format!("{}{PATH}", proxy.url),
        wiretape_ca.client_config(),
        &[],
    )
    .await
    .unwrap();
    for i in 0..20 {
        let msg = Message::text(format!(r#"{{"kind":"req","id":{i},"type":"GetClock"}}"#));
        client.send(msg.clone()).await.unwrap();
        let echoed = tokio::time::timeout(Duration::from_secs(5), client.next())
            .await
            .unwrap();
        assert_eq!(echoed.unwrap().unwrap(), msg);
    }
    // Let the recorder write the last lines (it runs behind the relay by design).
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.kill9();
    let cassettes = cassettes(&out);
    assert_eq!(cassettes.len(), 1);
    let cassette = &cassettes[0];
    assert!(!cassette.complete, "no end line after SIGKILL");
    assert_eq!(cassette.frames.len(), 40, "every relayed frame was on disk");
    assert_eq!(cassette.frames[39].json.as_ref().unwrap()["id"], 19);
}
