//! The Agent Workspace (issue 12) in a real browser: the tutorial's agent half, end to end.
//! A library consumer plays the client under test on a mock with `--agent manual`; headless
//! Chromium (Debian's, through chromedriver and fantoccini) plays the person at the page.
//!
//! Screenshots of each state are taken every run; with `WIRETAPE_UPDATE_SCREENSHOTS=1` they
//! are written to `docs/workspace/` (committed, shown in the README).

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};
use wiretape_mock_server::client::{self, Consumer};
use wiretape_mock_server::{MockServer, ReceiptStatus};

use crate::harness::browser::{Browser, Window};
use crate::harness::https;

/// `docs/workspace/` when the screenshots are to be updated.
pub(crate) fn screenshot_dir() -> Option<PathBuf> {
    std::env::var_os("WIRETAPE_UPDATE_SCREENSHOTS")
        .filter(|v| v == "1")
        .map(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/workspace"))
}

/// The agent's message `text` as the consumer receives it: `(dialogId, sequence)`.
async fn agent_message(consumer: &mut Consumer, text: &str) -> (String, u64) {
    let frame = consumer
        .frame_matching(&format!("the agent's {text:?}"), |f| {
            let c = &f["body"]["changes"][0];
            f["type"] == "ms.MessagingEventNotification"
                && c["event"]["type"] == "ContentEvent"
                && c["event"]["message"] == text
                && c["originatorMetadata"]["role"] == "ASSIGNED_AGENT"
        })
        .await;
    let change = &frame["body"]["changes"][0];
    (
        change["dialogId"].as_str().unwrap().to_owned(),
        change["sequence"].as_u64().unwrap(),
    )
}

/// The agent's receipt `status` for the consumer's message at `sequence`, as the consumer
/// receives it.
async fn agent_receipt(consumer: &mut Consumer, status: &str, sequence: u64) -> Value {
    consumer
        .frame_matching(&format!("the agent's {status} of {sequence}"), |f| {
            let c = &f["body"]["changes"][0];
            f["type"] == "ms.MessagingEventNotification"
                && c["event"]["type"] == "AcceptStatusEvent"
                && c["event"]["status"] == status
                && c["originatorMetadata"]["role"] == "ASSIGNED_AGENT"
                && c["event"]["sequenceList"]
                    .as_array()
                    .is_some_and(|l| l.contains(&json!(sequence)))
        })
        .await
}

/// The consumer's message `text`: its sequence.
async fn say(consumer: &mut Consumer, id: &str, conversation: &str, text: &str) -> u64 {
    let r = consumer
        .request(client::publish(
            id,
            conversation,
            client::text_message(text),
        ))
        .await;
    assert_eq!(r["code"], 200, "{r}");
    r["body"]["sequence"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tutorials_agent_half_in_the_browser() {
    let server = MockServer::builder().manual_agent().start().await;
    let Some(browser) = Browser::start(Window::DESKTOP).await else {
        return;
    };
    let shots = screenshot_dir();
    let shots = shots.as_deref();
    browser.open_connected(&server.workspace_url()).await;

    // Logged in and connected, with nothing kept: no storage, no cookie the page can read, the
    // page's URL as it was opened.
    let kept = browser
        .client
        .execute(
            "return [localStorage.length, sessionStorage.length, document.cookie, location.href]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(kept, json!([0, 0, "", server.workspace_url()]));

    // A consumer asks for a conversation and writes before anyone accepts it.
    let mut consumer = Consumer::connect(&server).await;
    let conversation = consumer.create_conversation().await;
    let first = say(&mut consumer, "c1", &conversation, "Hi, I need help").await;

    // It rings on the page: the button named "Accept".
    assert_eq!(browser.text_of("#waiting button.accept").await, "Accept");
    browser.screenshot(shots, "1-ringing.png").await;
    browser.click("#waiting button.accept").await;

    // The history is there (QueryMessages), the consumer's typing shows, the agent types.
    browser
        .find(&format!(
            "#messages li.msg.consumer[data-sequence='{first}']"
        ))
        .await;
    let typing = client::publish(
        "c2",
        &conversation,
        json!({"type": "ChatStateEvent", "chatState": "COMPOSING"}),
    );
    assert_eq!(consumer.request(typing).await["code"], 200);
    browser
        .until(
            "the consumer's typing is shown",
            "document.getElementById('typing').textContent.includes('typing')",
        )
        .await;
    browser.find("textarea#message:not([disabled])").await;
    let label = browser
        .client
        .execute(
            "return document.querySelector('label[for=message]').textContent",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(label, "Message");
    browser
        .type_into("textarea#message:not([disabled])", "hello\u{E007}")
        .await;

    // The consumer receives it; one "V".
    let (dialog, sequence) = agent_message(&mut consumer, "hello").await;
    let mine = format!("#messages li.msg.agent[data-sequence='{sequence}']");
    browser.find(&format!("{mine}[data-status='sent']")).await;
    let ticks = format!("{mine} .ticks");
    assert_eq!(
        browser.attr(&ticks, "aria-label").await.as_deref(),
        Some("Sent")
    );
    browser.screenshot(shots, "2-sent.png").await;

    // ACCEPT: the second "V".
    let accept = client::receipt("c3", &dialog, ReceiptStatus::Accept, [sequence]);
    assert_eq!(consumer.request(accept).await["code"], 200);
    browser
        .find(&format!("{mine}[data-status='accepted']"))
        .await;
    let ticks = format!("{mine} .ticks");
    assert_eq!(
        browser.attr(&ticks, "aria-label").await.as_deref(),
        Some("Delivered")
    );
    assert_eq!(browser.text_of(&ticks).await.matches('V').count(), 2);
    browser.screenshot(shots, "3-accepted.png").await;

    // READ: the "V"s turn orange.
    let read = client::receipt("c4", &dialog, ReceiptStatus::Read, [sequence]);
    assert_eq!(consumer.request(read).await["code"], 200);
    browser.find(&format!("{mine}[data-status='read']")).await;
    let ticks = format!("{mine} .ticks");
    assert_eq!(
        browser.attr(&ticks, "aria-label").await.as_deref(),
        Some("Read")
    );
    let colour = browser.css_value(&ticks, "color").await;
    assert!(
        colour.contains("194, 84, 0"),
        "read ticks are orange, got {colour}"
    );
    browser
        .until(
            "both verdicts are shown",
            "document.querySelectorAll('#verdicts li.verdict[data-verdict=valid]').length === 2",
        )
        .await;
    browser.screenshot(shots, "4-read.png").await;

    // An invalid receipt: its rule and message in the verdict panel, beside the valid ones.
    let invalid = client::receipt("c5", &dialog, ReceiptStatus::Read, [99]);
    assert_eq!(consumer.request(invalid).await["code"], 400);
    let rule = browser
        .text_of("#verdicts li.verdict[data-verdict='invalid'] .rule")
        .await;
    assert_eq!(rule, "sequence-exists");
    let valid = browser
        .client
        .find_all(fantoccini::Locator::Css(
            "#verdicts li.verdict[data-verdict='valid']",
        ))
        .await
        .unwrap();
    assert_eq!(valid.len(), 2, "ACCEPT and READ were valid");
    browser.screenshot(shots, "5-invalid-receipt.png").await;

    // The agent's own READ for the consumer's message, then the close.
    browser.click("#mark-read:not([disabled])").await;
    agent_receipt(&mut consumer, "READ", first).await;
    browser.click("#close-conversation").await;
    browser
        .find(&format!("#closed li[data-conversation='{conversation}']"))
        .await;
    let closed = server.latest_conversation().unwrap();
    assert_eq!(closed.state, "CLOSE");
    assert!(server.report().has_invalid_receipts());
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyboard_only_at_360_px_wide() {
    // A plain `wiretape mock`: the built-in agent stands back while the page is Online.
    let server = MockServer::builder().start().await;
    let Some(browser) = Browser::start(Window::PHONE).await else {
        return;
    };
    browser.open_connected(&server.workspace_url()).await;
    let mut consumer = Consumer::connect(&server).await;
    let conversation = consumer.create_conversation().await;
    browser.find("#waiting button.accept").await;

    // Tab from the top of the page to the button named "Accept", then Enter.
    let mut reached = false;
    for _ in 0..30 {
        let active = browser.client.active_element().await.unwrap();
        if active.text().await.unwrap_or_default() == "Accept" {
            active.send_keys("\u{E007}").await.unwrap();
            reached = true;
            break;
        }
        active.send_keys("\u{E004}").await.unwrap();
    }
    assert!(reached, "Tab reaches the Accept button");
    // Accepting puts the focus in the message box: type and press Enter, no mouse.
    browser
        .until(
            "the message box has the focus",
            "document.activeElement && document.activeElement.id === 'message' && !document.activeElement.disabled",
        )
        .await;
    let active = browser.client.active_element().await.unwrap();
    active
        .send_keys("hello from the keyboard\u{E007}")
        .await
        .unwrap();
    let (_, sequence) = agent_message(&mut consumer, "hello from the keyboard").await;
    browser
        .find(&format!(
            "#messages li.msg.agent[data-sequence='{sequence}'][data-status='sent']"
        ))
        .await;
    // Nothing wider than the window at 360 px.
    let fits = browser
        .client
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth]",
            vec![],
        )
        .await
        .unwrap();
    let (scroll, inner) = (fits[0].as_u64().unwrap(), fits[1].as_u64().unwrap());
    assert!(inner <= 360, "the viewport is {inner} px wide");
    if scroll > inner {
        let wide = browser
            .client
            .execute(
                "return [...document.querySelectorAll('body *')]\
                 .filter((e) => e.getBoundingClientRect().right > window.innerWidth)\
                 .map((e) => e.tagName + '#' + e.id + '.' + e.className)",
                vec![],
            )
            .await
            .unwrap();
        panic!("horizontal scrolling at {inner} px ({scroll} px wide): {wide}");
    }
    let shots = screenshot_dir();
    browser.screenshot(shots.as_deref(), "6-phone.png").await;
    assert_eq!(
        server.latest_conversation().unwrap().conversation_id,
        conversation
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dark_mode_shows_the_same_states() {
    let server = MockServer::builder().manual_agent().start().await;
    let Some(browser) = Browser::start(Window {
        dark: true,
        ..Window::DESKTOP
    })
    .await
    else {
        return;
    };
    browser.open_connected(&server.workspace_url()).await;
    browser
        .until(
            "dark colours apply",
            "matchMedia('(prefers-color-scheme: dark)').matches",
        )
        .await;
    let mut consumer = Consumer::connect(&server).await;
    let conversation = consumer.create_conversation().await;
    browser.click("#waiting button.accept").await;
    browser
        .type_into("textarea#message:not([disabled])", "hello\u{E007}")
        .await;
    let (dialog, sequence) = agent_message(&mut consumer, "hello").await;
    for (id, status) in [("d1", ReceiptStatus::Accept), ("d2", ReceiptStatus::Read)] {
        let r = consumer
            .request(client::receipt(id, &dialog, status, [sequence]))
            .await;
        assert_eq!(r["code"], 200, "{r}");
    }
    let ticks =
        format!("#messages li.msg.agent[data-sequence='{sequence}'][data-status='read'] .ticks");
    let colour = browser.css_value(&ticks, "color").await;
    assert!(
        colour.contains("255, 154, 60"),
        "dark read ticks are orange, got {colour}"
    );
    browser
        .find("#verdicts li.verdict[data-verdict='valid']")
        .await;
    let shots = screenshot_dir();
    browser.screenshot(shots.as_deref(), "7-dark.png").await;
    assert_eq!(
        server.latest_conversation().unwrap().conversation_id,
        conversation
    );
    browser.close().await;
}

/// The page's headers, without a browser: self-only policy, no referrer, nothing cached; the
/// script is served with them too; the account is the server's.
#[tokio::test]
async fn the_page_is_served_with_a_strict_policy() {
    let server = MockServer::builder()
        .account("555")
        .manual_agent()
        .start()
        .await;
    assert_eq!(
        server.workspace_url(),
        format!("https://{}/", server.address())
    );
    let page = https::request(&server, "GET", "/", &[], b"").await;
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert!(page.text().contains(r#"content="555" data-pinned="yes""#));
    let script = https::request(&server, "GET", "/workspace/app.js", &[], b"").await;
    assert_eq!(script.status, 200);
    assert!(script
        .header("content-type")
        .unwrap()
        .starts_with("text/javascript"));
    assert_eq!(script.header("referrer-policy"), Some("no-referrer"));
    let view = https::request(&server, "GET", "/workspace/view.js", &[], b"").await;
    assert_eq!(view.status, 200);
    assert!(view.header("content-security-policy").is_some());
    let style = https::request(&server, "GET", "/workspace/workspace.css", &[], b"").await;
    assert_eq!(style.status, 200);
    let missing = https::request(&server, "GET", "/workspace/nope.js", &[], b"").await;
    assert_eq!(missing.status, 404);
}

/// `wiretape mock` announces the page after its other lines, with the bound address, and
/// serves it (the real curl, trusting the CA file); `--plain` makes it `http://`.
#[test]
fn wiretape_mock_prints_the_workspace_url_last() {
    use std::io::BufRead as _;

    use crate::harness::process::Wiretape;

    for plain in [false, true] {
        let home = tempfile::tempdir().unwrap();
        let mut args = vec!["mock", "--listen", "127.0.0.1:0", "--agent", "manual"];
        if plain {
            args.push("--plain");
        }
        let mut mock = Wiretape::start(home.path(), &args);
        let host = mock.url.split("://").nth(1).unwrap().to_owned();
        let mut banner = vec![format!("listening on {}", mock.url)];
        while !banner.last().unwrap().starts_with("agent workspace: ") {
            let mut line = String::new();
            mock.stdout.read_line(&mut line).unwrap();
            assert!(!line.is_empty(), "no workspace line in {banner:?}");
            banner.push(line.trim_end().to_owned());
        }
        let scheme = if plain { "http" } else { "https" };
        let page = format!("{scheme}://{host}/");
        assert_eq!(banner.last().unwrap(), &format!("agent workspace: {page}"));
        let before = &banner[banner.len() - 2];
        assert!(before.starts_with("CSDS domain: "), "{banner:?}");
        let ca = home.path().join("ca.pem");
        let mut curl = Command::new("curl");
        curl.args(["-sS", "-D", "-", &page]);
        if !plain {
            curl.arg("--cacert").arg(&ca);
        }
        let out = curl.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
        assert!(text.starts_with("http/1.1 200"), "{text}");
        assert!(text.contains("referrer-policy: no-referrer"), "{text}");
        assert!(text.contains("<title>agent workspace"), "{text}");
        let (status, _) = mock.terminate();
        assert!(status.success(), "{status}");
    }
}
