//! The seed tutorial end to end: typed exactly as the tutorial shows, through `wiretape record`
//! in front of `wiretape mock`, kept as a snapshot of the normalized cassette; and
//! `wiretape demo`, the README's one command (and `--workspace`, watched in headless Chromium).

use std::process::Command;
use std::time::Duration;

use futures_util::StreamExt as _;
use serde_json::Value;
use wiretape_fixtures::pki::LocalCa;
use wiretape_fixtures::transcript;
use wiretape_mock_server::client::Consumer;
use wiretape_mock_server::{ExpectedReceipt, MockServer, TlsIdentity};

use crate::harness::json::fake_jwt;
use crate::harness::{cassettes, spawn_proxy};

/// Sends a frame as typed and waits for the response to it and then `notifications`
/// notifications, in that order, so the cassette's interleaving is deterministic.
async fn type_and_wait(consumer: &mut Consumer, typed: &str, notifications: usize) -> Value {
    consumer.send_text(typed).await;
    let resp = consumer.next_frame().await;
    assert_eq!(resp["kind"], "resp", "{resp}");
    for _ in 0..notifications {
        let n = consumer.next_frame().await;
        assert_eq!(n["kind"], "notification", "{n}");
    }
    resp
}

#[tokio::test]
async fn the_tutorial_through_the_recording_proxy_in_front_of_the_mock() {
    let ca = LocalCa::generate().unwrap();
    // The agent is driven by the test (as a person in the Agent Workspace would), so the
    // order of frames is fixed.
    let mock = MockServer::builder()
        .tls(TlsIdentity::from_ca(&ca).unwrap())
        .manual_agent()
        .start()
        .await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = spawn_proxy(&ca, &mock.url(), dir.path()).await;
    let url = format!(
        "{}/ws_api/account/{}/messaging/consumer?v=3",
        proxy.url(),
        mock.account()
    );
    let jwt = fake_jwt("f0000000-0000-4000-8000-000000000001");
    let mut client = Consumer::connect_to(&url, Some(ca.client_config()), Some(&jwt)).await;

    // Step 1: the tutorial's exact request.
    let resp = type_and_wait(
        &mut client,
        r#"{"kind":"req","id":1,"type":"cm.ConsumerRequestConversation"}"#,
        0,
    )
    .await;
    let conversation = resp["body"]["conversationId"].as_str().unwrap().to_owned();

    // Step 2: the agent accepts and types.
    let agent = mock.agent();
    agent.join(&conversation).unwrap();
    let said = agent.say(&conversation, "some agent text").unwrap();
    let notification = client.next_frame().await;
    assert_eq!(notification["type"], "ms.MessagingEventNotification");
    let change = &notification["body"]["changes"][0];
    assert_eq!(change["sequence"], said.sequence);
    assert_eq!(
        change["dialogId"],
        conversation.as_str(),
        "MAIN dialog id = conversation id"
    );

    // Step 3: ACCEPT then READ, typed with the tutorial's spacing and its reused id 2.
    for status in ["ACCEPT", "READ"] {
        let typed = format!(
            r#"{{"kind":"req","id":2,"type":"ms.PublishEvent","body":{{"dialogId":"{conversation}","event":{{"type" : "AcceptStatusEvent" , "status" : "{status}", "sequenceList" : [ {} ]}}}}}}"#,
            said.sequence
        );
        let resp = type_and_wait(&mut client, &typed, 1).await;
        assert_eq!(resp["code"], 200, "{resp}");
    }
    mock.wait_for_receipt_within(
        &ExpectedReceipt::read(said.sequence),
        Duration::from_secs(5),
    )
    .await
    .unwrap_or_else(|unmet| panic!("{unmet}"));
    let mut ws = client.into_socket();
    ws.close(None).await.unwrap();
    while ws.next().await.is_some() {}
    proxy.shutdown().await;
    assert!(!mock.report().has_invalid_receipts(), "{}", mock.report());

    let cassettes = cassettes(dir.path());
    assert_eq!(cassettes.len(), 1);
    let raw = std::fs::read_to_string(&cassettes[0].path).unwrap();
    assert!(!raw.contains(&jwt), "the JWT never reaches the disk");
    // The tutorial's spaced JSON keeps its exact text beside the readable JSON.
    let spaced = &cassettes[0].frames[3];
    assert!(spaced
        .text
        .as_deref()
        .unwrap()
        .contains(r#""type" : "AcceptStatusEvent""#));
    insta::assert_json_snapshot!(
        "tutorial_through_record_in_front_of_mock",
        transcript(&cassettes[0])
    );
}

#[test]
fn wiretape_demo_runs_the_whole_tutorial_offline() {
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_wiretape"))
        .args(["demo", "--agent-delay-ms", "20", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for step in 1..=7 {
        assert!(
            stdout.contains(&format!("Step {step}:")),
            "step {step} missing:\n{stdout}"
        );
    }
    assert!(stdout.contains(r#""status":"ACCEPT""#), "{stdout}");
    // Each receipt's notification is printed under its own step, before the next one starts.
    let steps: Vec<&str> = stdout.split("\nStep ").collect();
    for (step, status) in [(3, "ACCEPT"), (4, "READ")] {
        let section = steps[step];
        assert!(
            section
                .lines()
                .any(|l| l.starts_with(r#"  < {"kind":"notification""#)
                    && l.contains(&format!(r#""status":"{status}""#))),
            "the {status} notification is under step {step}:\n{section}"
        );
        let next = steps[step + 1];
        assert!(
            !next
                .lines()
                .any(|l| l.starts_with(r#"  < {"kind":"notification""#)
                    && l.contains(r#""type":"AcceptStatusEvent""#)
                    && l.contains(r#""role":"CONSUMER""#)
                    && l.contains(&format!(r#""status":"{status}""#))),
            "the {status} notification is not under step {}:\n{next}",
            step + 1
        );
    }
    assert!(
        stdout.contains("3 receipts: 2 valid, 0 valid with warnings, 1 invalid"),
        "{stdout}"
    );
    assert!(stdout.contains("sequence 99 does not exist"), "{stdout}");
    let cassettes = cassettes(out.path());
    assert_eq!(cassettes.len(), 1, "one cassette for the demo's connection");
    assert!(cassettes[0].complete);
    assert!(
        stdout.contains(&cassettes[0].path.display().to_string()),
        "the path is shown"
    );
}

/// `wiretape demo --workspace`: the page's URL first; the page (watch-only) shows the demo's
/// conversation, held by the built-in agent, with the orange "V"s and the invalid receipt's
/// rule; the mock stays up until SIGTERM, and the exit code is still 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_workspace_plays_the_tutorial_on_the_page() {
    use std::io::BufRead as _;
    use std::process::Stdio;

    use crate::harness::browser::{Browser, Window};
    use crate::workspace::screenshot_dir;

    let Some(browser) = Browser::start(Window::DESKTOP).await else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let mut demo = Command::new(env!("CARGO_BIN_EXE_wiretape"))
        .args(["demo", "--workspace", "--agent-delay-ms", "50"])
        .args(["--step-delay-ms", "200", "--out"])
        .arg(home.path().join("recordings"))
        .env("WIRETAPE_HOME", home.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (lines, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let stdout = demo.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut next_line = async || {
        tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("a line from the demo within 30 s")
            .expect("the demo's stdout is open")
    };
    let first = next_line().await;
    let url = first
        .strip_prefix("agent workspace: ")
        .unwrap_or_else(|| panic!("the first line names the page: {first:?}"));
    assert!(
        url.starts_with("https://127.0.0.1:")
            && url.ends_with("/?account=12345678&availability=AWAY"),
        "{url}"
    );
    browser.client.goto(url).await.unwrap();

    // The built-in agent's conversation, read-only, with the consumer's receipts.
    browser.find("#others li.conv, #closed li.conv").await;
    browser
        .find("#messages li.msg.agent[data-status='read']")
        .await;
    let rule = browser
        .text_of("#verdicts li.verdict[data-verdict='invalid'] .rule")
        .await;
    assert_eq!(rule, "sequence-exists");
    assert_eq!(
        browser
            .attr("textarea#message", "disabled")
            .await
            .as_deref(),
        Some("true"),
        "watching is read-only"
    );
    let mut transcript = Vec::new();
    loop {
        let line = next_line().await;
        let done = line.contains("press Ctrl-C");
        transcript.push(line);
        if done {
            break;
        }
    }
    let transcript = transcript.join("\n");
    assert!(
        transcript.contains("All steps behaved as the tutorial says"),
        "{transcript}"
    );
    browser
        .screenshot(screenshot_dir().as_deref(), "8-demo.png")
        .await;
    browser.close().await;
    let pid = demo.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = demo.wait().unwrap();
    assert!(
        status.success(),
        "demo --workspace exits 0 after SIGTERM: {status}"
    );
}
