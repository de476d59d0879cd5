//! The `wiretape` binary as users run it: the real `wscat` through `wiretape record`, and a
//! recording killed with SIGKILL.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;
use wiretape_fixtures::cassette::{Kind, Sender};
use wiretape_fixtures::pki::LocalCa;

use crate::harness::client::connect;
use crate::harness::process::Wiretape;
use crate::harness::proxy::wait_for_cassettes;
use crate::harness::upstream::{Behavior, SelfSigned, Upstream};
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
    record_trusting(home, out, upstream, &ca_file)
}

/// Starts `wiretape record` in front of `upstream` with `--upstream-ca CA_FILE`.
fn record_trusting(
    home: &std::path::Path,
    out: &std::path::Path,
    upstream: &Upstream,
    ca_file: &std::path::Path,
) -> Wiretape {
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
    let output = wscat::exchange(
        &wiretape_ca,
        &url,
        &["Authorization: jwt test-token"],
        request,
    )
    .await;
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
    // The recorder runs behind the relay by design: wait for the last line to be on disk.
    let written = wait_for_cassettes(&out, Duration::from_secs(5), |all| {
        all.first().is_some_and(|c| c.frames.len() == 40)
    });
    assert!(written.await.is_some(), "all 40 frames reach the cassette");
    proxy.kill9();
    let cassettes = cassettes(&out);
    assert_eq!(cassettes.len(), 1);
    let cassette = &cassettes[0];
    assert!(!cassette.complete, "no end line after SIGKILL");
    assert_eq!(cassette.frames.len(), 40, "every relayed frame was on disk");
    assert_eq!(cassette.frames[39].json.as_ref().unwrap()["id"], 19);
}

#[tokio::test]
async fn real_wscat_gets_its_echo_through_a_recording_pinning_an_openssl_self_signed_upstream() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("recordings");
    let served = SelfSigned::openssl(home.path(), "server");
    let upstream = Upstream::start_with_tls(served.tls.clone(), Behavior::Echo).await;
    let proxy = record_trusting(home.path(), &out, &upstream, &served.pem_file);
    let url = format!("{}{PATH}", proxy.url);
    let output = wscat::exchange(&home.path().join("ca.pem"), &url, &[], "hello").await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "wscat failed: {stdout}\n{stderr}");
    assert!(
        stdout.contains("hello"),
        "wscat prints the echo: {stdout}\n{stderr}"
    );
    drop(proxy);

    // With the wrong file, the client and the log get the problem in plain words, with the flag
    // that solves it.
    let other = SelfSigned::openssl(home.path(), "other");
    let proxy = record_trusting(home.path(), &out, &upstream, &other.pem_file);
    let wiretape_ca = LocalCa::load_or_create(home.path()).unwrap();
    let url = format!("{}{PATH}", proxy.url);
    let err = connect(&url, wiretape_ca.client_config(), &[])
        .await
        .unwrap_err();
    let tokio_tungstenite::tungstenite::Error::Http(resp) = err else {
        panic!("expected HTTP 502, got {err:?}")
    };
    assert_eq!(resp.status(), 502);
    let body = String::from_utf8(resp.body().clone().unwrap()).unwrap();
    let says = "upstream certificate for 127.0.0.1 is self-signed and marked as a CA; \
                pass it with --upstream-ca to pin it";
    assert!(body.contains(says), "{body}");
    let (_, log) = proxy.terminate();
    assert!(log.contains(says), "{log}");
}
