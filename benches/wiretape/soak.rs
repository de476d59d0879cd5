//! The soak (issue 15, item 4): `wiretape mock` (release build, its own process, `--report
//! FILE`) under sustained load for `--minutes N` (default 5), its RSS sampled every second.
//! Not part of a plain `cargo bench` run (it takes N minutes per side): `cargo bench --bench
//! wiretape -- soak [--minutes 10]`.
//!
//! - consumers: 100 consumers, each looping as fast as the mock answers: create a
//!   conversation (the agent, a scenario, joins and says 4 lines), then 10 receipts in flight
//!   at once: ACCEPT and READ of each line (8 valid) and 2 READs of sequences that do not exist
//!   (invalid, `sequence-exists`), then close the conversation. Short conversations, so the
//!   10,000 closed ones the mock keeps (`--keep-closed`) are reached well within the first
//!   minute: from then on every conversation closed makes the mock forget one.
//! - agent: one echo bot and 1,000 consumers (`agent.rs`, the agent-side figure's loop).
//!
//! Each side passes when the RSS grew less than 10 MB over the last 4 minutes (end against
//! the sample 4 minutes before it), the last minute's throughput is within 10 % of the first
//! minute's, and the report file, read after SIGTERM, holds one line per receipt and per
//! violation the clients were answered for (plus the summary line).

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio::time::{timeout_at, Instant};
use tokio_tungstenite::tungstenite::Message;
use wiretape_fixtures::pki::LocalCa;
use wiretape_mock_server::client::ConsumerSocket;

use crate::Listening;

/// Agent lines per conversation (each gets an ACCEPT and a READ).
const LINES: u64 = 4;
/// Invalid receipts per conversation (READs of sequences that do not exist).
const INVALID: u64 = 2;
const CONSUMERS: usize = 100;
const AGENT_CONSUMERS: usize = 1000;
/// Limits of the issue: RSS growth over the last 4 minutes, throughput drift.
const MAX_GROWTH_MIB: f64 = 10.0;
const MAX_DRIFT: f64 = 0.10;

/// One sample a second: seconds since the start, the mock's RSS, the work done so far.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    pub secs: f64,
    pub rss_kib: u64,
    pub done: u64,
    /// The mock's CPU time so far (user + system), ms.
    pub cpu_ms: u64,
}

/// Samples `pid`'s RSS and `done()` every second until `stop`.
pub(crate) fn sample_every_second(
    pid: u32,
    done: Arc<dyn Fn() -> u64 + Send + Sync>,
    start: Instant,
    stop: Instant,
) -> tokio::task::JoinHandle<Vec<Sample>> {
    tokio::spawn(async move {
        let mut samples = Vec::new();
        let mut tick = tokio::time::interval_at(start, Duration::from_secs(1));
        loop {
            let at = tick.tick().await;
            samples.push(Sample {
                secs: (at - start).as_secs_f64(),
                rss_kib: crate::procstat::rss_kib(pid).unwrap_or(0),
                done: done(),
                cpu_ms: crate::procstat::cpu(pid).map_or(0, |d| d.as_millis() as u64),
            });
            if at >= stop {
                return samples;
            }
        }
    })
}

/// What the samples say.
#[derive(Debug)]
pub(crate) struct Judged {
    pub rss_first_minute_mib: f64,
    pub rss_end_mib: f64,
    pub rss_peak_after_first_minute_mib: f64,
    /// End against 4 minutes before the end.
    pub growth_last_4_min_mib: f64,
    pub first_minute_per_s: f64,
    pub last_minute_per_s: f64,
    /// The mock's CPU per unit of work in the first and the last minute, µs: whether a
    /// slower last minute is the mock's doing or the machine's (a shared machine gives the
    /// mock less CPU time; the cost per unit says what the mock needed).
    pub first_minute_cpu_us: f64,
    pub last_minute_cpu_us: f64,
}

impl Judged {
    fn of(samples: &[Sample]) -> Self {
        let end = samples.last().copied().expect("samples");
        let at = |secs: f64| {
            samples
                .iter()
                .find(|s| s.secs >= secs)
                .copied()
                .unwrap_or(end)
        };
        let first = at(60.0);
        let last_minute = at(end.secs - 60.0);
        let four_before = at(end.secs - 240.0);
        let mib = |kib: u64| kib as f64 / 1024.0;
        Judged {
            rss_first_minute_mib: mib(first.rss_kib),
            rss_end_mib: mib(end.rss_kib),
            rss_peak_after_first_minute_mib: mib(samples
                .iter()
                .filter(|s| s.secs >= 60.0)
                .map(|s| s.rss_kib)
                .max()
                .unwrap_or(0)),
            growth_last_4_min_mib: mib(end.rss_kib) - mib(four_before.rss_kib),
            first_minute_per_s: first.done as f64 / first.secs.max(1.0),
            last_minute_per_s: (end.done - last_minute.done) as f64
                / (end.secs - last_minute.secs).max(1.0),
            first_minute_cpu_us: first.cpu_ms as f64 * 1e3 / first.done.max(1) as f64,
            last_minute_cpu_us: (end.cpu_ms - last_minute.cpu_ms) as f64 * 1e3
                / (end.done - last_minute.done).max(1) as f64,
        }
    }

    fn drift(&self) -> f64 {
        (self.last_minute_per_s / self.first_minute_per_s - 1.0).abs()
    }

    fn failures(&self) -> Vec<String> {
        let mut failed = Vec::new();
        if self.growth_last_4_min_mib >= MAX_GROWTH_MIB {
            failed.push(format!(
                "RSS grew {:.1} MiB over the last 4 minutes (limit {MAX_GROWTH_MIB})",
                self.growth_last_4_min_mib
            ));
        }
        if self.drift() > MAX_DRIFT {
            failed.push(format!(
                "last minute {:.0}/s against the first {:.0}/s ({:+.1} %, limit 10 %)",
                self.last_minute_per_s,
                self.first_minute_per_s,
                (self.last_minute_per_s / self.first_minute_per_s - 1.0) * 100.0
            ));
        }
        failed
    }

    fn json(&self) -> Value {
        json!({
            "rss_after_first_minute_mib": self.rss_first_minute_mib,
            "rss_end_mib": self.rss_end_mib,
            "rss_peak_after_first_minute_mib": self.rss_peak_after_first_minute_mib,
            "rss_growth_last_4_min_mib": self.growth_last_4_min_mib,
            "first_minute_per_s": self.first_minute_per_s,
            "last_minute_per_s": self.last_minute_per_s,
            "first_minute_mock_cpu_us_per_unit": self.first_minute_cpu_us,
            "last_minute_mock_cpu_us_per_unit": self.last_minute_cpu_us,
        })
    }
}

/// The report file's lines by kind.
#[derive(Debug, Default)]
pub(crate) struct ReportLines {
    pub receipts: u64,
    pub invalid_receipts: u64,
    /// Violation findings the receipt lines hold (each has a violation line).
    pub receipt_violations: u64,
    pub violations: u64,
    /// Violation lines not about a receipt.
    pub other_violations: u64,
    pub summaries: u64,
    pub summary: Value,
    pub total: u64,
}

pub(crate) fn read_report(path: &Path) -> ReportLines {
    let text = std::fs::read_to_string(path).expect("the report file");
    let mut lines = ReportLines::default();
    for line in text.lines() {
        lines.total += 1;
        let v: Value = serde_json::from_str(line).expect("every report line is JSON");
        if let Some(r) = v.get("receipt") {
            lines.receipts += 1;
            if r["verdict"] == "invalid" {
                lines.invalid_receipts += 1;
            }
            lines.receipt_violations += r["findings"].as_array().map_or(0, |f| {
                f.iter().filter(|f| f["severity"] == "violation").count()
            }) as u64;
        } else if let Some(v) = v.get("violation") {
            lines.violations += 1;
            if v["receipt"].is_null() {
                lines.other_violations += 1;
            }
        } else {
            lines.summaries += 1;
            lines.summary = v["summary"].clone();
        }
    }
    lines
}

/// SIGTERM, then the exit code (the report's summary line is written on the way out).
fn terminate(mock: &mut Listening) -> Option<i32> {
    let _ = Command::new("kill")
        .args(["-TERM", &mock.pid().to_string()])
        .status();
    mock.child.wait().ok().and_then(|s| s.code())
}

/// `wiretape mock` with `--report`, timeouts out of the soak's way.
pub(crate) fn mock_with_report(home: &Path, agent: &str, report: &Path) -> Listening {
    Listening::start(
        Command::new(env!("CARGO_BIN_EXE_wiretape"))
            .args(["mock", "--listen", "127.0.0.1:0", "--agent", agent])
            .args(["--init-timeout", "3600", "--idle-timeout", "3600"])
            .arg("--report")
            .arg(report)
            .env("WIRETAPE_HOME", home)
            .env("RUST_LOG", "error")
            .stderr(Stdio::null()),
    )
}

/// Both sides, `minutes` each; prints a table and returns the figures.
/// `[consumers, agent]` say which sides run.
pub(crate) async fn run(home: &Path, minutes: u64, [consumers, agent]: [bool; 2]) -> Value {
    let window = Duration::from_secs(minutes * 60);
    println!("\n## Soak: the mock under sustained load for {minutes} min (issue 15)\n");
    println!(
        "`wiretape mock --report FILE` (release build, its own process), RSS sampled every \
         second. Pass: RSS growth over the last 4 minutes < {MAX_GROWTH_MIB} MiB, last minute's \
         throughput within 10 % of the first minute's, one report line per receipt and per \
         violation the clients were answered for.\n"
    );
    println!("| side | throughput first min | last min | mock CPU per unit, first / last min | RSS after 1 min MiB | peak after 1 min | at end | growth last 4 min MiB | report lines (receipts + violations + summary) | clients were answered | result |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|");
    let mut out = json!({"minutes": minutes});
    if consumers {
        out["consumers"] = consumer_side(home, window).await;
    }
    if agent {
        out["agent"] = agent_side(home, window).await;
    }
    out
}

/// Prints one row and returns its JSON.
fn row(
    side: &str,
    unit: &str,
    judged: &Judged,
    lines: &ReportLines,
    answered: &str,
    mut failed: Vec<String>,
) -> Value {
    failed.extend(judged.failures());
    println!(
        "| {side} | {:.0} {unit}/s | {:.0} {unit}/s | {:.0} / {:.0} µs | {:.1} | {:.1} | {:.1} | {:+.1} | {} ({} + {} + {}) | {answered} | {} |",
        judged.first_minute_per_s,
        judged.last_minute_per_s,
        judged.first_minute_cpu_us,
        judged.last_minute_cpu_us,
        judged.rss_first_minute_mib,
        judged.rss_peak_after_first_minute_mib,
        judged.rss_end_mib,
        judged.growth_last_4_min_mib,
        lines.total,
        lines.receipts,
        lines.violations,
        lines.summaries,
        if failed.is_empty() { "pass".to_owned() } else { format!("FAIL: {}", failed.join("; ")) },
    );
    let mut v = judged.json();
    v["report_lines"] = json!(lines.total);
    v["report_receipt_lines"] = json!(lines.receipts);
    v["report_violation_lines"] = json!(lines.violations);
    v["summary"] = lines.summary.clone();
    v["failed"] = json!(failed);
    v
}

/// What the consumers were answered.
#[derive(Debug, Default)]
struct Answered {
    receipts: AtomicU64,
    invalid: AtomicU64,
    conversations: AtomicU64,
}

async fn consumer_side(home: &Path, window: Duration) -> Value {
    let scenario = home.join("soak-scenario.json");
    let mut steps = vec![json!({"do": "join"})];
    steps.extend((0..LINES).map(|_| json!({"do": "say", "text": "a line to acknowledge"})));
    let rules =
        json!({"description": "soak", "rules": [{"on": "conversation_created", "steps": steps}]});
    std::fs::write(&scenario, rules.to_string()).unwrap();
    let report = home.join("soak-consumers.jsonl");
    let mut mock = mock_with_report(home, scenario.to_str().unwrap(), &report);
    let ca = LocalCa::load_or_create(home).unwrap();
    let url = format!(
        "{}/ws_api/account/12345678/messaging/consumer?v=3",
        mock.url
    );
    let answered = Arc::new(Answered::default());
    let mut sockets = Vec::new();
    for i in 0..CONSUMERS {
        let token = format!("soak-consumer-{i}");
        let ws = crate::agent::connect(&url, ca.client_config(), Some(&token))
            .await
            .expect("a soak consumer connects");
        sockets.push(ws);
    }
    let start = Instant::now();
    let stop = start + window;
    let counted = answered.clone();
    let sampler = sample_every_second(
        mock.pid(),
        Arc::new(move || counted.receipts.load(Ordering::Relaxed)),
        start,
        stop,
    );
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|ws| tokio::spawn(consumer_loop(ws, answered.clone(), stop)))
        .collect();
    let mut failed = Vec::new();
    for t in tasks {
        if let Err(e) = t.await.unwrap() {
            if failed.len() < 3 {
                failed.push(e);
            }
        }
    }
    let samples = sampler.await.unwrap();
    let code = terminate(&mut mock);
    let lines = read_report(&report);
    let receipts = answered.receipts.load(Ordering::Relaxed);
    let invalid = answered.invalid.load(Ordering::Relaxed);
    let conversations = answered.conversations.load(Ordering::Relaxed);
    if code != Some(3) {
        failed.push(format!("exit code {code:?}, expected 3 (invalid receipts)"));
    }
    check_lines(&lines, receipts, invalid, &mut failed);
    let judged = Judged::of(&samples);
    let answered_text =
        format!("{receipts} receipts ({invalid} invalid), {conversations} conversations");
    let mut v = row(
        "100 consumers, receipts",
        "receipts",
        &judged,
        &lines,
        &answered_text,
        failed,
    );
    v["receipts_answered"] = json!(receipts);
    v["invalid_answered"] = json!(invalid);
    v["conversations"] = json!(conversations);
    v["samples"] = samples_json(&samples);
    v
}

/// The report holds one receipt line per receipt answered, one violation line per violation
/// finding of those receipts, and one summary line.
fn check_lines(lines: &ReportLines, receipts: u64, invalid: u64, failed: &mut Vec<String>) {
    if lines.receipts != receipts {
        failed.push(format!(
            "{} receipt lines for {receipts} receipts answered",
            lines.receipts
        ));
    }
    if lines.invalid_receipts != invalid {
        failed.push(format!(
            "{} invalid receipt lines for {invalid} refused",
            lines.invalid_receipts
        ));
    }
    if lines.violations != lines.receipt_violations + lines.other_violations {
        failed.push(format!(
            "{} violation lines for {} receipt violations and {} others",
            lines.violations, lines.receipt_violations, lines.other_violations
        ));
    }
    if lines.summaries != 1 || lines.summary["receipts"] != receipts {
        failed.push(format!(
            "{} summary lines, summary {}",
            lines.summaries, lines.summary
        ));
    }
}

fn samples_json(samples: &[Sample]) -> Value {
    json!(samples
        .iter()
        .map(|s| json!([s.secs.round(), s.rss_kib, s.done, s.cpu_ms]))
        .collect::<Vec<_>>())
}

async fn next_json(rx: &mut ConsumerSocket, until: Instant) -> Result<Value, String> {
    loop {
        let msg = match timeout_at(until, rx.next()).await {
            Err(_) => return Err("no frame within 60 s".into()),
            Ok(None) => return Err("the mock ended the connection".into()),
            Ok(Some(Err(e))) => return Err(e.to_string()),
            Ok(Some(Ok(m))) => m,
        };
        if let Message::Text(t) = msg {
            return serde_json::from_str(t.as_str()).map_err(|e| e.to_string());
        }
    }
}

/// One consumer until `stop` (see the module's doc); every request it sent is answered
/// before it returns.
async fn consumer_loop(
    mut ws: ConsumerSocket,
    answered: Arc<Answered>,
    stop: Instant,
) -> Result<(), String> {
    let mut id = 0u64;
    let limit = Duration::from_secs(60);
    while Instant::now() < stop {
        id += 1;
        let create = id;
        let create_id = create.to_string();
        let req = json!({"kind":"req","id":create,"type":"cm.ConsumerRequestConversation"});
        ws.send(Message::text(req.to_string()))
            .await
            .map_err(|e| e.to_string())?;
        let until = Instant::now() + limit;
        let mut conversation = None;
        let mut lines = 0;
        while conversation.is_none() || lines < LINES {
            let v = next_json(&mut ws, until).await?;
            if v["kind"] == "resp" && v["reqId"].as_str() == Some(create_id.as_str()) {
                let conv = v["body"]["conversationId"].as_str();
                conversation = Some(conv.ok_or(format!("no conversation: {v}"))?.to_owned());
            } else if v["type"] == "ms.MessagingEventNotification"
                && v["body"]["changes"][0]["event"]["type"] == "ContentEvent"
            {
                lines += 1;
            }
        }
        let conversation = conversation.unwrap_or_default();
        let statuses = ["ACCEPT", "READ"];
        let mut receipts = Vec::new();
        for status in statuses {
            for seq in 0..LINES {
                receipts.push((status, seq));
            }
        }
        receipts.extend((0..INVALID).map(|j| ("READ", 1_000_000 + j)));
        let first = id + 1;
        for (status, seq) in &receipts {
            id += 1;
            let req = json!({"kind":"req","id":id,"type":"ms.PublishEvent","body":{
                "dialogId": conversation,
                "event":{"type":"AcceptStatusEvent","status":status,"sequenceList":[seq]}}});
            ws.feed(Message::text(req.to_string()))
                .await
                .map_err(|e| e.to_string())?;
        }
        ws.flush().await.map_err(|e| e.to_string())?;
        let until = Instant::now() + limit;
        let mut left = receipts.len();
        while left > 0 {
            let v = next_json(&mut ws, until).await?;
            let Some(req) = v["reqId"].as_str().and_then(|r| r.parse::<u64>().ok()) else {
                continue;
            };
            if v["kind"] != "resp" || req < first || req > id {
                continue;
            }
            left -= 1;
            answered.receipts.fetch_add(1, Ordering::Relaxed);
            match v["code"].as_u64() {
                Some(200) => {}
                Some(400) if req > id - INVALID => {
                    answered.invalid.fetch_add(1, Ordering::Relaxed);
                }
                _ => return Err(format!("unexpected answer: {v}")),
            }
        }
        id += 1;
        let close = id;
        let close_id = close.to_string();
        let req = json!({"kind":"req","id":close,"type":"cm.UpdateConversationField","body":{
            "conversationId": conversation,
            "conversationField": {"field":"ConversationStateField","conversationState":"CLOSE"}}});
        ws.send(Message::text(req.to_string()))
            .await
            .map_err(|e| e.to_string())?;
        let until = Instant::now() + limit;
        loop {
            let v = next_json(&mut ws, until).await?;
            if v["kind"] == "resp" && v["reqId"].as_str() == Some(close_id.as_str()) {
                if v["code"] != 200 {
                    return Err(format!("close refused: {v}"));
                }
                break;
            }
        }
        answered.conversations.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

async fn agent_side(home: &Path, window: Duration) -> Value {
    let report = home.join("soak-agent.jsonl");
    let soak = crate::agent::Soak {
        report: report.clone(),
    };
    match crate::agent::soak(home, AGENT_CONSUMERS, window, &soak).await {
        Err(e) => {
            println!("| one bot, {AGENT_CONSUMERS} consumers | FAILED: {e} |");
            json!({"failed": [e]})
        }
        Ok(run) => {
            let lines = read_report(&report);
            let mut failed = Vec::new();
            if run.exit_code != Some(0) {
                failed.push(format!("exit code {:?}, expected 0", run.exit_code));
            }
            check_lines(&lines, run.receipts_answered, 0, &mut failed);
            let judged = Judged::of(&run.samples);
            let answered = format!(
                "{} conversations echoed, {} bot READs answered",
                run.case.conversations, run.receipts_answered
            );
            let mut v = row(
                &format!("one bot, {AGENT_CONSUMERS} consumers, conversations"),
                "conversations",
                &judged,
                &lines,
                &answered,
                failed,
            );
            v["conversations"] = json!(run.case.conversations);
            v["samples"] = samples_json(&run.samples);
            v
        }
    }
}
