//! Faults through the recording proxy: `wiretape record --fault` does to the client what the
//! rule says while the real upstream (here the mock) is untouched, and the cassette says what
//! was done.

use std::time::Duration;

use futures_util::StreamExt as _;

use serde_json::json;
use wiretape_fixtures::cassette::{EndedBy, Sender};
use wiretape_fixtures::pki::LocalCa;
use wiretape_fixtures::transcript;
use wiretape_mock_server::MockServer;

use super::recover_from_4401;
use crate::harness::cassettes;
use crate::harness::json::fake_jwt;
use crate::harness::process::Wiretape;

/// `wiretape record --fault RULE` in front of `mock`, in a home of its own.
struct RecordWithFault {
    home: tempfile::TempDir,
    out: std::path::PathBuf,
    proxy: Wiretape,
    /// The consumer URL through the proxy.
    url: String,
    /// A client configuration trusting the proxy's CA.
    tls: std::sync::Arc<rustls::ClientConfig>,
}

impl RecordWithFault {
    fn start(mock: &MockServer, rule: &str) -> Self {
        let home = tempfile::tempdir().unwrap();
        let out = home.path().join("recordings");
        let proxy = Wiretape::start(
            home.path(),
            &[
                "record",
                "--upstream",
                &mock.url(),
                "--listen",
                "127.0.0.1:0",
                "--out",
                out.to_str().unwrap(),
                "--fault",
                rule,
            ],
        );
        let path = format!("/ws_api/account/{}/messaging/consumer?v=3", mock.account());
        let url = format!("{}{path}", proxy.url);
        let tls = LocalCa::load_or_create(home.path())
            .unwrap()
            .client_config();
        Self {
            home,
            out,
            proxy,
            url,
            tls,
        }
    }
}

/// Done when: `wiretape record --upstream … --fault 'close 4401 after 2s times 1'` closes the
/// consumer with 4401 after about 2 s, it recovers through the proxy as it does on the mock,
/// and the cassette shows the injected close as a fault (and the live view as a `!` line).
#[tokio::test]
async fn wiretape_record_fault_close_4401_after_2s_and_the_cassette_shows_it() {
    let mock = MockServer::builder()
        .plain()
        .auto_agent(Duration::ZERO)
        .start()
        .await;
    let RecordWithFault {
        home: _home,
        out,
        proxy,
        url,
        tls,
    } = RecordWithFault::start(&mock, "close 4401 after 2s times 1");
    let jwt = fake_jwt("c0000000-0000-4000-8000-000000000015");
    let closed_after = recover_from_4401(&url, tls, &jwt).await;
    assert!(
        closed_after >= Duration::from_millis(1900) && closed_after < Duration::from_secs(4),
        "closed after {closed_after:?}"
    );
    let (status, stderr) = proxy.terminate();
    assert!(status.success(), "{status}: {stderr}");
    assert!(
        stderr.contains("! fault close 4401 to client (close 4401 after 2s times 1)"),
        "{stderr}"
    );

    let recorded = cassettes(&out);
    assert_eq!(recorded.len(), 2, "{recorded:#?}");
    let [(before, fault)] = &recorded[0].faults[..] else {
        panic!("one fault line: {:?}", recorded[0].faults)
    };
    assert_eq!(
        (
            fault.action.as_str(),
            fault.code,
            fault.to,
            fault.rule.as_str()
        ),
        (
            "close",
            Some(4401),
            Sender::Client,
            "close 4401 after 2s times 1"
        )
    );
    assert!((1900..4000).contains(&fault.ms), "{fault:?}");
    // The fault comes after the frames relayed before it, none after it reached the client.
    assert_eq!(
        *before,
        recorded[0].frames.len(),
        "{:#?}",
        recorded[0].frames
    );
    let end = recorded[0].end.as_ref().unwrap();
    assert_eq!(end.by, EndedBy::Proxy, "{end:?}");
    // Snapshots keep it.
    let kept = transcript(&recorded[0]);
    assert_eq!(kept["faults"][0]["action"], "close", "{kept}");
    assert_eq!(kept["faults"][0]["code"], 4401, "{kept}");
    // `times 1`: the reconnection was relayed untouched.
    assert!(recorded[1].faults.is_empty());
    assert_eq!(transcript(&recorded[1]).get("faults"), None);
    // The upstream saw a normal end, and nothing it would call a violation.
    assert_eq!(mock.report().summary.violations, 0, "{}", mock.report());
    assert_eq!(json!(mock.report().faults), json!([]));
}

/// `refuse 503 times 1` through the proxy: the handshake is answered with 503 without
/// contacting the upstream, the cassette records the refusal and its fault; the next
/// connection is relayed.
#[tokio::test]
async fn wiretape_record_refuses_a_handshake_without_contacting_the_upstream() {
    let mock = MockServer::builder().plain().manual_agent().start().await;
    let RecordWithFault {
        home: _home,
        out,
        proxy,
        url,
        tls,
    } = RecordWithFault::start(&mock, "refuse 429 3s times 1");
    let refused = wiretape_mock_server::client::connect(&url, Some(tls.clone()), Some("test"))
        .await
        .expect_err("refused");
    let refused = format!("{refused:?}");
    assert!(refused.contains("429"), "{refused}");
    wiretape_mock_server::client::Consumer::connect_to(&url, Some(tls), Some("test"))
        .await
        .assert_alive()
        .await;
    let (status, stderr) = proxy.terminate();
    assert!(status.success(), "{status}: {stderr}");
    let recorded = cassettes(&out);
    assert_eq!(recorded[0].open.status, 429);
    assert_eq!(recorded[0].faults[0].1.status, Some(429));
    assert_eq!(recorded[0].faults[0].1.to, Sender::Client);
    assert_eq!(recorded[1].open.status, 101);
}

/// Snapshots keep what was done to a recording: frame faults through the in-process proxy,
/// in their place among the frames (the duplicated response is there twice, the dropped
/// request is absent).
#[tokio::test]
async fn a_faulted_recording_snapshots_with_its_faults() {
    use wiretape_mock_server::client::Consumer;
    use wiretape_mock_server::TlsIdentity;

    let ca = LocalCa::generate().unwrap();
    let mock = MockServer::builder()
        .tls(TlsIdentity::from_ca(&ca).unwrap())
        .manual_agent()
        .start()
        .await;
    let rules = [
        "duplicate on .GetClock$Response times 1",
        "drop-frame on frame 3",
    ];
    let proxied = crate::harness::proxy::Proxied::configured(ca, &mock.url(), |config| {
        config.faults = wiretape_fixtures::Faults::with_rules(
            rules
                .iter()
                .map(|r| wiretape_fixtures::Fault::parse(r).unwrap()),
            None,
        );
    })
    .await;
    let path = format!("/ws_api/account/{}/messaging/consumer?v=3", mock.account());
    let mut c = Consumer::connect_to(
        &proxied.url(&path),
        Some(proxied.ca.client_config()),
        Some(&fake_jwt("c0000000-0000-4000-8000-000000000016")),
    )
    .await;
    let clock = |id: &str| json!({"kind":"req","id":id,"type":"GetClock"});
    assert_eq!(c.request(clock("1")).await["code"], 200);
    assert_eq!(c.next_frame().await["reqId"], "1", "the duplicate");
    c.send(&clock("2")).await; // frame 3: dropped on its way to the mock
    assert_eq!(c.request(clock("3")).await["reqId"], "3");
    let mut ws = c.into_socket();
    ws.close(None).await.unwrap();
    while let Some(Ok(_)) = ws.next().await {}
    proxied.proxy.shutdown().await;

    let recorded = cassettes(proxied.dir.path());
    assert_eq!(recorded.len(), 1);
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots");
    let _guard = settings.bind_to_scope();
    insta::assert_json_snapshot!(transcript(&recorded[0]));
}
