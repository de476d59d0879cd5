//! The mock under sustained load and abuse (issue 15): authentication before the body, the
//! journal's memory window with exact counters and paging, the streamed report (a killed mock
//! still leaves every verdict), closed conversations forgotten beyond `--keep-closed`. The
//! soak itself is a benchmark (`cargo bench --bench wiretape -- soak`).

use serde_json::{json, Value};
use wiretape_fixtures::pki::LocalCa;
use wiretape_mock_server::client::{self, Consumer};
use wiretape_mock_server::{MockServer, ReceiptStatus, Report, Rule};

use crate::harness::https;
use crate::harness::process::Wiretape;

#[tokio::test]
async fn an_unauthenticated_socket_gets_401_before_its_body_is_looked_at() {
    let server = MockServer::builder().manual_agent().start().await;
    let mut c = Consumer::connect_with_token(&server, None).await;
    for (id, request) in [
        // A malformed publish (no `event`) used to get `400 body.event is missing`.
        (
            "1",
            json!({"kind":"req","id":"1","type":"ms.PublishEvent","body":{"dialogId":"d"}}),
        ),
        ("2", json!({"kind":"req","id":"2","type":"ms.PublishEvent"})),
        ("3", json!({"kind":"req","id":"3","type":"no.SuchRequest"})),
        (
            "4",
            json!({"kind":"req","id":"4","type":"ms.SubscribeMessagingEvents","body":7}),
        ),
    ] {
        let resp = c.request(request).await;
        assert_eq!(resp["reqId"], id, "{resp}");
        assert_eq!(resp["code"], 401, "{resp}");
    }
    // A frame that is not a request envelope at all still gets its 400.
    c.send_text("this is not JSON").await;
    let resp = c.next_frame().await;
    assert_eq!(resp["code"], 400, "{resp}");
    let resp = c.request(json!({"kind":"req","id":"5"})).await;
    assert_eq!(resp["code"], 400, "a request without a type: {resp}");
    // InitConnection is looked at, and then the body is.
    let init = c
        .request(json!({"kind":"req","id":"6","type":"InitConnection","headers":[
            {"type":".ams.headers.ConsumerAuthentication","jwt":crate::harness::json::fake_jwt("c")}]}))
        .await;
    assert_eq!(init["code"], 200, "{init}");
    let resp = c
        .request(json!({"kind":"req","id":"7","type":"ms.PublishEvent","body":{"dialogId":"d"}}))
        .await;
    assert_eq!(
        resp["code"], 400,
        "authenticated, the body is checked: {resp}"
    );
    let rules: Vec<Rule> = server.violations().iter().map(|v| v.finding.rule).collect();
    assert_eq!(rules[..4], [Rule::Auth; 4], "{rules:?}");
}

/// A conversation with one agent line, and `n` receipts: READ of the line (valid) then READs
/// of sequences that do not exist (invalid).
async fn receipts(server: &MockServer, c: &mut Consumer, invalid: u64) -> String {
    let conv = c.create_conversation().await;
    server.agent().join(&conv).unwrap();
    let line = server.agent().say(&conv, "hello").unwrap();
    let ok = c
        .request(client::receipt(
            100,
            &conv,
            ReceiptStatus::Read,
            [line.sequence],
        ))
        .await;
    assert_eq!(ok["code"], 200, "{ok}");
    for i in 0..invalid {
        let bad = c
            .request(client::receipt(101 + i, &conv, ReceiptStatus::Read, [99]))
            .await;
        assert_eq!(bad["code"], 400, "{bad}");
    }
    conv
}

#[tokio::test]
async fn only_the_newest_records_stay_in_memory_counters_stay_exact_and_the_file_gets_all() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.jsonl");
    let server = MockServer::builder()
        .manual_agent()
        .keep_records(3)
        .report(&path)
        .start()
        .await;
    let mut c = Consumer::connect(&server).await;
    receipts(&server, &mut c, 5).await;

    let report = server.report();
    let s = &report.summary;
    // READ without ACCEPT is valid with a warning.
    assert_eq!(
        (s.receipts, s.with_warnings, s.invalid),
        (6, 1, 5),
        "{report}"
    );
    assert_eq!(
        (s.dropped_receipts, s.dropped_violations),
        (3, 2),
        "{report}"
    );
    assert_eq!(s.rules.get(&Rule::SequenceExists), Some(&5), "{report}");
    let kept: Vec<usize> = report.receipts.iter().map(|r| r.index).collect();
    assert_eq!(kept, [3, 4, 5], "indexes stay global");
    assert!(report.has_invalid_receipts());

    // Every record is in the file the moment it exists, before any summary.
    let streamed = std::fs::read_to_string(&path).unwrap();
    assert_eq!(streamed.lines().count(), 6 + 5, "{streamed}");
    let finished = server.finish_report().unwrap();
    assert_eq!(finished.summary, report.summary);
    let all = Report::read_stream(&path).unwrap();
    assert_eq!(all.summary, report.summary);
    assert_eq!(all.receipts.len(), 6);
    assert_eq!(all.violations.len(), 5);
    assert_eq!(all.receipts[3..], report.receipts[..]);
    assert!(all.violations.iter().all(|v| v.receipt.is_some()));
}

fn headers(resp: &https::HttpResponse) -> [Option<String>; 4] {
    [
        "x-wiretape-total",
        "x-wiretape-dropped",
        "x-wiretape-next",
        "link",
    ]
    .map(|h| resp.header(h).map(str::to_owned))
}

#[tokio::test]
async fn the_record_lists_page_by_global_index_and_say_what_was_dropped() {
    let server = MockServer::builder()
        .manual_agent()
        .keep_records(4)
        .start()
        .await;
    let mut c = Consumer::connect(&server).await;
    receipts(&server, &mut c, 5).await;
    let get = |target: &'static str| https::request(&server, "GET", target, &[], b"");

    let all = get("/mock/api/receipts").await;
    let indexes = |resp: &https::HttpResponse| -> Vec<u64> {
        resp.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["index"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(indexes(&all), [2, 3, 4, 5]);
    assert_eq!(
        headers(&all),
        [Some("6".into()), Some("2".into()), Some("6".into()), None]
    );

    let page = get("/mock/api/receipts?since=3&limit=2&account=12345678").await;
    assert_eq!(indexes(&page), [3, 4]);
    assert_eq!(
        headers(&page),
        [
            Some("6".into()),
            Some("2".into()),
            Some("5".into()),
            Some(r#"</mock/api/receipts?since=5&limit=2&account=12345678>; rel="next""#.into())
        ]
    );
    let rest = get("/mock/api/receipts?since=5&limit=2&account=12345678").await;
    assert_eq!(indexes(&rest), [5]);
    assert_eq!(headers(&rest)[3], None, "the last page has no next");
    let other = get("/mock/api/receipts?account=87654321").await;
    assert_eq!(other.json(), json!([]));
    assert_eq!(headers(&other)[2], Some("6".into()), "polling moves on");

    let violations = get("/mock/api/violations?since=0&limit=1").await;
    assert_eq!(indexes(&violations), [1]);
    assert_eq!(headers(&violations)[1], Some("1".into()), "{violations:?}");
    let report = get("/mock/api/report").await.json();
    assert_eq!(report["summary"]["droppedReceipts"], 2, "{report}");
    assert_eq!(report["summary"]["rules"]["sequence-exists"], 5, "{report}");
}

#[tokio::test]
async fn closed_conversations_beyond_keep_closed_are_forgotten_oldest_first() {
    let server = MockServer::builder()
        .manual_agent()
        .keep_closed(2)
        .start()
        .await;
    let mut c = Consumer::connect(&server).await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        let conv = c.create_conversation().await;
        server.agent().close(&conv).unwrap();
        ids.push(conv);
    }
    let open = c.create_conversation().await;
    let kept: Vec<String> = server
        .conversations()
        .into_iter()
        .map(|c| c.conversation_id)
        .collect();
    assert_eq!(kept, [ids[2].clone(), ids[3].clone(), open.clone()]);
    assert_eq!(server.report().summary.forgotten_conversations, 2);
    // A forgotten conversation is unknown; the open one works.
    let gone = c
        .request(client::receipt(50, &ids[0], ReceiptStatus::Read, [0]))
        .await;
    assert_eq!(gone["code"], 400, "{gone}");
    server.agent().join(&open).unwrap();
    let said = server.agent().say(&open, "still here").unwrap();
    assert_eq!(said.conversation_id, open);
}

/// `wiretape mock --report FILE` killed with SIGKILL: every verdict given is in the file.
#[tokio::test]
async fn a_killed_mock_leaves_every_verdict_in_the_report() {
    let home = tempfile::tempdir().unwrap();
    let report = home.path().join("report.jsonl");
    let mock = Wiretape::start(
        home.path(),
        &[
            "mock",
            "--listen",
            "127.0.0.1:0",
            "--agent",
            "manual",
            "--keep-records",
            "1",
            "--report",
            report.to_str().unwrap(),
        ],
    );
    let ca = LocalCa::load_or_create(home.path()).unwrap();
    let url = format!(
        "{}/ws_api/account/12345678/messaging/consumer?v=3",
        mock.url
    );
    let ws = client::connect(&url, Some(ca.client_config()), Some("killed"))
        .await
        .unwrap();
    let mut c = Consumer::from_socket(ws);
    let conv = c.create_conversation().await;
    for i in 0..3 {
        let bad = c
            .request(client::receipt(10 + i, &conv, ReceiptStatus::Read, [99]))
            .await;
        assert_eq!(bad["code"], 400, "{bad}");
    }
    mock.kill9();
    let lines: Vec<Value> = std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = lines
        .iter()
        .map(|l| l.as_object().unwrap().keys().next().unwrap().as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "receipt",
            "violation",
            "receipt",
            "violation",
            "receipt",
            "violation"
        ]
    );
    let read = Report::read_stream(&report).unwrap();
    assert_eq!((read.summary.receipts, read.summary.invalid), (3, 3));
    assert_eq!(read.summary.violations, 3);
}
