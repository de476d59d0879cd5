//! The tutorial driven by the real `wscat` against the `wiretape mock` binary.

use std::io::BufRead as _;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::harness::process::Wiretape;
use crate::harness::wscat;

/// Runs `wscat -x FRAME... -w 1` against `url` (with `Authorization: jwt test`, trusting the
/// CA file `ca`) and returns the JSON frames it printed: wscat sends the frames as soon as it
/// is connected, then waits a second for the answers.
pub(crate) fn wscat_run(ca: &std::path::Path, url: &str, frames: &[String]) -> Vec<Value> {
    let output = wscat_output(ca, url, frames);
    assert!(
        output.status.success(),
        "wscat failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
        .stdout
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| line.find('{').map(|i| line[i..].to_owned()))
        .map(|json| serde_json::from_str(&json).expect("wscat printed JSON"))
        .collect()
}

/// Runs `wscat -x FRAME... -w 1` against `url` with the tutorial's token. Its stdin stays open
/// until it exits: wscat quits at once, silently, when stdin closes.
fn wscat_output(ca: &std::path::Path, url: &str, frames: &[String]) -> std::process::Output {
    let mut cmd = Command::new(wscat::require());
    cmd.arg("--no-color").arg("--ca").arg(ca).args([
        "-H",
        "Authorization: jwt test",
        "-c",
        url,
        "-w",
        "1",
    ]);
    for frame in frames {
        cmd.args(["-x", frame]);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wscat");
    let _stdin = child.stdin.take();
    child.wait_with_output().expect("wscat runs")
}

/// A plain `wiretape mock` serves any account: the tutorial runs on 87654321, a recorded real
/// account, without `--account`, and the report says which account each receipt came on.
#[test]
fn wscat_runs_the_tutorial_against_wiretape_mock() {
    let home = tempfile::tempdir().unwrap();
    let report = home.path().join("report.json");
    let mut mock = Wiretape::start(
        home.path(),
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
    assert!(mock.url.starts_with("wss://127.0.0.1:"), "{}", mock.url);
    let mut line = String::new();
    mock.stdout.read_line(&mut line).unwrap();
    let consumer_url = line
        .trim()
        .strip_prefix("consumer URL: ")
        .unwrap()
        .replace("/account/12345678/", "/account/87654321/");
    let ca = home.path().join("ca.pem");

    // Step 1 and 2: create the conversation; the agent's greeting arrives on the same socket.
    let frames = wscat_run(
        &ca,
        &consumer_url,
        &[r#"{"kind":"req","id":1,"type":"cm.ConsumerRequestConversation"}"#.to_owned()],
    );
    assert_eq!(frames[0]["reqId"], "1", "{frames:?}");
    assert_eq!(frames[0]["type"], "cm.RequestConversationResponse");
    let note = frames
        .iter()
        .find(|f| f["type"] == "ms.MessagingEventNotification")
        .unwrap_or_else(|| panic!("no agent message in {frames:?}"));
    let change = &note["body"]["changes"][0];
    let (dialog, seq) = (change["dialogId"].as_str().unwrap(), &change["sequence"]);
    assert_eq!(dialog, frames[0]["body"]["conversationId"]);

    // Step 3 (same consumer, new socket): ACCEPT, READ, and one invalid receipt.
    let receipt = |id: u32, status: &str, seq: &Value| {
        format!(
            r#"{{"kind":"req","id":{id},"type":"ms.PublishEvent","body":{{"dialogId":"{dialog}","event":{{"type":"AcceptStatusEvent","status":"{status}","sequenceList":[{seq}]}}}}}}"#
        )
    };
    let frames = wscat_run(
        &ca,
        &consumer_url,
        &[
            receipt(2, "ACCEPT", seq),
            receipt(3, "READ", seq),
            receipt(4, "READ", &Value::from(99)),
        ],
    );
    let codes: Vec<(Value, Value)> = frames
        .iter()
        .filter(|f| f["kind"] == "resp")
        .map(|f| (f["reqId"].clone(), f["code"].clone()))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("2".into(), 200.into()),
            ("3".into(), 200.into()),
            ("4".into(), 400.into())
        ],
        "{frames:?}"
    );

    // SIGTERM: the report's summary line is written and the exit code says a receipt was
    // invalid. The report streamed one line per record: 3 receipts, 1 violation, the summary.
    let (status, stderr) = mock.terminate();
    assert_eq!(status.code(), Some(3), "stderr: {stderr}");
    let text = std::fs::read_to_string(&report).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert_eq!(lines[0]["receipt"]["account"], "87654321", "{text}");
    assert_eq!(lines[3]["violation"]["receipt"], 2, "{text}");
    let summary = &lines[4]["summary"];
    assert_eq!(summary["receipts"], 3, "{text}");
    assert_eq!(summary["invalid"], 1, "{text}");
    assert_eq!(summary["rules"]["sequence-exists"], 1, "{text}");
}

/// `--account` pins one account: wscat on another one is refused with 404 and the message
/// names the flag.
#[test]
fn wscat_on_another_account_gets_404_with_account_pinned() {
    let home = tempfile::tempdir().unwrap();
    let mock = Wiretape::start(
        home.path(),
        &["mock", "--listen", "127.0.0.1:0", "--account", "12345678"],
    );
    let url = format!(
        "{}/ws_api/account/87654321/messaging/consumer?v=3",
        mock.url
    );
    let output = wscat_output(&home.path().join("ca.pem"), &url, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Unexpected server response: 404"),
        "{stderr}"
    );
    drop(mock);
}
