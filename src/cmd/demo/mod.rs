//! `wiretape demo`: the read/accept receipts tutorial, offline, in one command.
//!
//! Starts the mock (playing LivePerson and the agent), starts the recording proxy in front of
//! it, and drives a built-in consumer through the proxy step by step, printing every frame:
//! create a conversation, receive the agent's message, publish ACCEPT then READ for it, one
//! deliberately invalid receipt, a message of its own that the agent reads, and the close.
//! Then it shows where the cassette is and the mock's verdict on every receipt.
//!
//! `--workspace`: the same, slowly, for a person watching the Agent Workspace page of the mock
//! (its URL is the first line): the page opens away (watch only), so the built-in agent still
//! plays the agent and the page shows its conversation read-only, with the "V"s and verdicts;
//! the demo waits for the page to connect, pauses between steps, and keeps the mock up until
//! Ctrl-C. Decisions: docs/workspace.md.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

mod consumer;

use consumer::{change, expect_code, is_agent, receipt, Consumer};

use anyhow::Context as _;
use futures_util::StreamExt as _;
use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use wiretape_fixtures::pki::LocalCa;
use wiretape_mock_server::client;
use wiretape_mock_server::{MockServer, TlsIdentity, Verdict};
use wiretape_proxy::{tls, Config, Proxy, UpstreamTrust, UpstreamUrl};

/// How long the demo waits for any one answer before it calls the step failed.
pub(super) const STEP_TIMEOUT: Duration = Duration::from_secs(10);
/// The sequence the invalid receipt names: no dialog of the demo gets that far.
const MISSING_SEQUENCE: u64 = 99;
/// How long `--workspace` waits for the page to connect before it starts anyway.
const PAGE_WAIT: Duration = Duration::from_secs(60);

/// Arguments of `wiretape demo`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Needs no account, no network and no setup: everything runs on \
    127.0.0.1 with a throw-away CA held in memory.\n\
    Exit codes: 0 every step behaved as the tutorial says (including the invalid receipt \
    being refused); 1 a step did not; 2 the demo could not run.\n\n\
    --workspace: the first stdout line is `agent workspace: https://127.0.0.1:PORT/?account=...` \
    (the mock's Agent Workspace page, opened watch-only); open it in a browser (the certificate \
    is issued by `wiretape ca`). The demo waits up to 60 s for the page, runs the steps \
    --step-delay-ms apart, and keeps the mock up until Ctrl-C."
)]
pub(crate) struct DemoArgs {
    /// Directory for the demo's cassette.
    #[arg(long, default_value = "recordings", value_name = "DIR")]
    out: PathBuf,
    /// Pause before each of the simulated agent's actions, in milliseconds [default: 400,
    /// 1500 with --workspace].
    #[arg(long, value_name = "MS")]
    agent_delay_ms: Option<u64>,
    /// Watch the tutorial in the mock's Agent Workspace page (a browser): print its URL
    /// first, wait for it, run slowly, keep the mock up until Ctrl-C.
    #[arg(long)]
    workspace: bool,
    /// Pause before each step, in milliseconds [default: 0, 2500 with --workspace].
    #[arg(long, value_name = "MS")]
    step_delay_ms: Option<u64>,
}

pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let slow = |normal: u64, watched: u64| if args.workspace { watched } else { normal };
    // Watched in a browser, the page's certificate comes from the CA `wiretape ca` names, so a
    // browser that trusts it shows no warning; otherwise a throw-away CA in memory.
    let ca = if args.workspace {
        super::local_ca()?
    } else {
        LocalCa::generate().context("cannot create the demo's CA")?
    };
    let agent_delay = args.agent_delay_ms.unwrap_or(slow(400, 1500));
    let pause = Duration::from_millis(args.step_delay_ms.unwrap_or(slow(0, 2500)));
    let mock = MockServer::builder()
        .tls(TlsIdentity::from_ca(&ca)?)
        .auto_agent(Duration::from_millis(agent_delay))
        .start()
        .await;
    if args.workspace {
        watch(&mock).await;
    }

    let upstream = UpstreamUrl::parse(&mock.url()).map_err(|e| anyhow::anyhow!(e.one_line()))?;
    let upstream_tls = tls::upstream_client_config(&UpstreamTrust::Roots(ca.root_store()))
        .map_err(|e| anyhow::anyhow!(e.one_line()))?;
    let mut config = Config::new(
        upstream,
        upstream_tls,
        Some(ca.local_leaf()?.server_config()?),
    );
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    config.record.dir = Some(args.out.clone());
    let before = jsonl_files(&args.out);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let proxy = Proxy::start(listener, config)
        .await
        .map_err(|e| anyhow::anyhow!(e.one_line()))?;

    println!("wiretape demo: LivePerson's read/accept receipts tutorial, offline");
    println!(
        "  mock Messaging Window API (plays LivePerson and the agent): {}",
        mock.url()
    );
    println!(
        "  wiretape record in front of it, recording to {}:   {}",
        args.out.display(),
        proxy.url()
    );
    println!("  > client to server   < server to client\n");

    let url = format!(
        "{}/ws_api/account/{}/messaging/consumer?v=3",
        proxy.url(),
        mock.account()
    );
    println!("Connecting: wscat -H \"Authorization: jwt $LP_JWT\" -c \"{url}\"");
    let ws = client::connect(&url, Some(ca.client_config()), Some("demo-consumer-token"))
        .await
        .context("the demo consumer cannot connect through the proxy")?;
    let mut consumer = Consumer {
        ws,
        next_id: 1,
        pause,
    };
    let outcome = tutorial(&mut consumer).await;
    let _ = consumer
        .ws
        .close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "demo done".into(),
        }))
        .await;
    // Wait for the close handshake to pass through the proxy, then finish the cassette.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while consumer.ws.next().await.is_some() {}
    })
    .await;
    proxy.shutdown().await;
    let report = mock.report();

    println!("\nCassette:");
    for path in jsonl_files(&args.out).difference(&before) {
        println!("  {}", path.display());
    }
    println!("\nThe mock's verdict on every receipt the consumer published:");
    println!("  {}", report.summary_line());
    for receipt in &report.receipts {
        println!("  {receipt}");
    }

    let code = verdict(outcome, &report);
    if args.workspace {
        println!("\nThe mock stays up for the Agent Workspace page: press Ctrl-C to stop.");
        super::shutdown_signal().await;
    }
    mock.shutdown().await;
    Ok(code)
}

/// `--workspace`: the page's URL first (watch-only, on the demo's account), then up to
/// [`PAGE_WAIT`] for it to connect.
async fn watch(mock: &MockServer) {
    println!(
        "agent workspace: {}?account={}&availability=AWAY",
        mock.workspace_url(),
        mock.account()
    );
    println!(
        "  open it in a browser to watch; the demo starts when the page connects \
         (at most {} s from now)\n",
        PAGE_WAIT.as_secs()
    );
    let deadline = tokio::time::Instant::now() + PAGE_WAIT;
    while mock.agent_connections() == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if mock.agent_connections() == 0 {
        println!("  no page connected; starting anyway\n");
    }
}

/// Exit code 0 when every step and verdict was as the tutorial says, 1 otherwise (printed).
fn verdict(outcome: anyhow::Result<Steps>, report: &wiretape_mock_server::Report) -> ExitCode {
    let steps = match outcome {
        Ok(steps) => steps,
        Err(err) => {
            println!("\nDEMO FAILED: {err:#}");
            return ExitCode::from(1);
        }
    };
    let verdicts: Vec<_> = report
        .receipts
        .iter()
        .map(|r| (r.request_id.clone(), r.verdict))
        .collect();
    let expected = vec![
        (steps.accept_id, Verdict::Valid),
        (steps.read_id, Verdict::Valid),
        (steps.invalid_id, Verdict::Invalid),
    ];
    if verdicts != expected {
        println!("\nDEMO FAILED: expected the verdicts {expected:?}, the mock gave {verdicts:?}");
        return ExitCode::from(1);
    }
    println!(
        "\nAll steps behaved as the tutorial says: ACCEPT and READ were valid and notified back, \
         the receipt for sequence {MISSING_SEQUENCE} was refused with a precise error."
    );
    ExitCode::SUCCESS
}

/// Request ids of the receipts the demo sent, to match them with the mock's records.
struct Steps {
    accept_id: String,
    read_id: String,
    invalid_id: String,
}

async fn tutorial(c: &mut Consumer) -> anyhow::Result<Steps> {
    c.step("Step 1: create a conversation").await;
    let id = c
        .request(json!({"kind": "req", "id": 0, "type": "cm.ConsumerRequestConversation"}))
        .await?;
    let resp = c.response(&id).await?;
    let conversation = resp["body"]["conversationId"]
        .as_str()
        .context("no conversationId in the response")?
        .to_owned();
    println!("  conversation {conversation}");

    c.step("Step 2: the agent accepts the conversation and sends a message")
        .await;
    let frame = c
        .until("the agent's message", |f| {
            change(f, |ch| {
                ch["event"]["type"] == "ContentEvent" && is_agent(ch)
            })
            .is_some()
        })
        .await?;
    let message = change(&frame, |ch| {
        ch["event"]["type"] == "ContentEvent" && is_agent(ch)
    })
    .context("the agent's message vanished")?;
    let dialog = message["dialogId"]
        .as_str()
        .context("no dialogId")?
        .to_owned();
    let sequence = message["sequence"].as_u64().context("no sequence")?;
    println!(
        "  the agent said {} in dialog {dialog} at sequence {sequence}",
        message["event"]["message"]
    );

    c.step(&format!(
        "Step 3: publish an ACCEPT receipt for sequence {sequence} (the second \"V\")"
    ))
    .await;
    let accept_id = c.request(receipt(&dialog, "ACCEPT", sequence)).await?;
    c.receipt_stored(&accept_id, "ACCEPT", sequence).await?;
    c.step("Step 4: publish a READ receipt for it (the \"V\"s turn orange)")
        .await;
    let read_id = c.request(receipt(&dialog, "READ", sequence)).await?;
    c.receipt_stored(&read_id, "READ", sequence).await?;

    c.step(&format!(
        "Step 5: a deliberately invalid receipt, for sequence {MISSING_SEQUENCE}, which does not exist"
    ))
    .await;
    let invalid_id = c
        .request(receipt(&dialog, "READ", MISSING_SEQUENCE))
        .await?;
    let resp = c.response(&invalid_id).await?;
    expect_code(&resp, 400)?;
    println!("  refused: {}", resp["body"]);

    c.step("Step 6: the consumer writes; the agent answers and publishes its own ACCEPT and READ")
        .await;
    let say = c
        .request(json!({"kind": "req", "id": 0, "type": "ms.PublishEvent", "body": {
            "dialogId": dialog,
            "event": {"type": "ContentEvent", "contentType": "text/plain", "message": "Thanks, all clear!"}
        }}))
        .await?;
    let resp = c.response(&say).await?;
    let mine = resp["body"]["sequence"]
        .as_u64()
        .context("no sequence for the message")?;
    c.until("the agent's READ receipt for the consumer's message", |f| {
        change(f, |ch| {
            is_agent(ch)
                && ch["event"]["type"] == "AcceptStatusEvent"
                && ch["event"]["status"] == "READ"
                && ch["event"]["sequenceList"]
                    .as_array()
                    .is_some_and(|l| l.contains(&json!(mine)))
        })
        .is_some()
    })
    .await?;
    println!("  the agent read the consumer's message (sequence {mine})");

    c.step("Step 7: close the conversation").await;
    let close = c
        .request(json!({"kind": "req", "id": 0, "type": "cm.UpdateConversationField", "body": {
            "conversationId": conversation,
            "conversationField": {"field": "ConversationStateField", "conversationState": "CLOSE"}
        }}))
        .await?;
    expect_code(&c.response(&close).await?, 200)?;
    Ok(Steps {
        accept_id,
        read_id,
        invalid_id,
    })
}

fn jsonl_files(dir: &Path) -> BTreeSet<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                .collect()
        })
        .unwrap_or_default()
}
