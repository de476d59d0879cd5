//! The agent side under load (issue 11, item 7): one echo bot on the agent socket and N
//! consumers, against `wiretape mock --agent manual` in its own process (as the receipts
//! figure runs it, so the mock's CPU and memory are its own).
//!
//! The bot does what node-agent-sdk's agent-bot example does, minus the greeting: ONLINE,
//! `SubscribeExConversations` (OPEN) and `SubscribeRoutingTasks`; it accepts every WAITING
//! ring, and for each consumer `ContentEvent` it receives (`.ams.ms.OnlineEventDistribution`)
//! publishes an `AcceptStatusEvent` READ of it and an echo `ContentEvent`. It never waits for
//! a response before sending the next request: a writer task sends whatever is queued and
//! flushes once, and responses are only counted (any refusal is reported).
//!
//! Each consumer subscribes to its conversations' metadata once, then, from its start time
//! (the N starts are spread evenly over the first quarter of the window, see [`ramp`]), loops
//! until the window ends: create a conversation, wait for the metadata naming an ASSIGNED_AGENT (the bot
//! accepted the ring), publish a message, wait for its echo, close. Echo latency is publish →
//! echo; a conversation counts when its echo arrives within the window. The consumer-only
//! figure for the same N runs the same consumers against a fresh mock with no agent: create,
//! then close.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio::time::{timeout_at, Instant};
use tokio_tungstenite::tungstenite::Message;
use wiretape_fixtures::pki::LocalCa;
use wiretape_mock_server::client::{self, ConsumerSocket};

const ACCOUNT: &str = "12345678";
/// Longest a setup step (starting the mock, connecting, subscribing) may take.
const SETUP_LIMIT: Duration = Duration::from_secs(60);

/// As `client::connect` (`wss://` only), with TCP_NODELAY on the client's socket, as the
/// other load clients of this harness set it: the library's connector leaves Nagle on, and a
/// client's second small write would then wait for the server's delayed ACK (40 ms).
pub(crate) async fn connect(
    url: &str,
    tls: Arc<rustls::ClientConfig>,
    jwt: Option<&str>,
) -> Result<ConsumerSocket, String> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let mut request = url
        .into_client_request()
        .map_err(|e| format!("{url}: {e}"))?;
    if let Some(jwt) = jwt {
        let value = format!("jwt {jwt}")
            .parse()
            .map_err(|_| "a bad token".to_owned())?;
        request.headers_mut().insert("Authorization", value);
    }
    let port = request.uri().port_u16().ok_or("no port")?;
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    let io = client::ClientIo::Tls(Box::new(stream));
    let (ws, _) = tokio_tungstenite::client_async(request, io)
        .await
        .map_err(|e| format!("WebSocket upgrade: {e}"))?;
    Ok(ws)
}

/// What one case (N consumers, with or without the bot) measured.
#[derive(Debug, Default)]
pub(crate) struct Case {
    /// Conversations completed within the window (echoed, or created and closed without bot).
    pub conversations: u64,
    pub seconds: f64,
    /// Publish → echo, µs, sorted.
    pub echo_us: Vec<f64>,
    /// Create request → echo, µs, sorted.
    pub cycle_us: Vec<f64>,
    /// CPU the mock process spent in the window.
    pub mock_cpu: Duration,
    /// Its peak RSS over the whole case, KiB.
    pub mock_peak_rss_kib: u64,
    /// What the bot did (with the bot).
    pub bot: BotStats,
    /// The bot's READs the consumers saw.
    pub reads_seen: u64,
    /// What the consumers were waiting for when the window ended, and how many.
    pub waiting: Vec<(String, usize)>,
}

impl Case {
    pub(crate) fn rate(&self) -> f64 {
        self.conversations as f64 / self.seconds
    }
}

/// The `q` quantile of sorted samples (NaN when there are none).
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

#[derive(Debug, Default, Clone)]
pub(crate) struct BotStats {
    pub rings_accepted: u64,
    pub echoes: u64,
    pub responses: u64,
    /// Responses to its READ receipts (their request ids start with `r`).
    pub read_responses: u64,
    pub refused: u64,
    pub first_refusal: Option<String>,
    /// Why the bot's socket ended, if it did before the case was over.
    pub ended: Option<String>,
}

/// The echo bot: ONLINE and subscribed when this returns; runs until dropped (aborted).
struct Bot {
    stats: Arc<Mutex<BotStats>>,
    reader: tokio::task::JoinHandle<()>,
    writer: tokio::task::JoinHandle<()>,
}

impl Drop for Bot {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
    }
}

type Tx = SplitSink<ConsumerSocket, Message>;
type Rx = SplitStream<ConsumerSocket>;

async fn next_text(rx: &mut Rx, until: Instant, what: &str) -> Result<String, String> {
    loop {
        match timeout_at(until, rx.next()).await {
            Err(_) => return Err(format!("timed out waiting for {what}")),
            Ok(None) => return Err(format!("connection ended waiting for {what}")),
            Ok(Some(Err(e))) => return Err(format!("{e} waiting for {what}")),
            Ok(Some(Ok(Message::Text(t)))) => return Ok(t.as_str().to_owned()),
            Ok(Some(Ok(Message::Close(c)))) => {
                return Err(format!("closed ({c:?}) waiting for {what}"))
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

impl Bot {
    async fn start(url: &str, ca: &LocalCa) -> Result<Self, String> {
        // No login: the mock derives a stable agent from a bearer it never issued.
        let bearer = concat!("bench", "-echo-bot");
        let agent_url = format!("{url}/ws_api/account/{ACCOUNT}/messaging/brand/{bearer}?v=2.1");
        let until = Instant::now() + SETUP_LIMIT;
        let ws = timeout_at(until, connect(&agent_url, ca.client_config(), None))
            .await
            .map_err(|_| "the bot could not connect in time".to_owned())?
            .map_err(|e| format!("the bot could not connect: {e}"))?;
        let (mut tx, mut rx) = ws.split();
        // Set up one request at a time: what agent-bot does on `connected`.
        let setup = [
            (
                ".ams.routing.SetAgentState",
                json!({"availability": "ONLINE"}),
            ),
            (
                ".ams.aam.SubscribeExConversations",
                json!({"convState": ["OPEN"]}),
            ),
            (".ams.routing.SubscribeRoutingTasks", json!({})),
        ];
        for (i, (kind, body)) in setup.into_iter().enumerate() {
            let id = format!("setup-{i}");
            let req = json!({"kind": "req", "id": id, "type": kind, "body": body});
            tx.send(Message::text(req.to_string()))
                .await
                .map_err(|e| format!("the bot could not send {kind}: {e}"))?;
            loop {
                let text = next_text(&mut rx, until, &format!("the response to {kind}")).await?;
                let v: Value = serde_json::from_str(&text).unwrap_or_default();
                if v["kind"] == "resp" && v["reqId"] == id.as_str() {
                    if v["code"].as_u64().unwrap_or(0) >= 400 {
                        return Err(format!("the bot's {kind} was refused: {text}"));
                    }
                    break;
                }
            }
        }
        let stats = Arc::new(Mutex::new(BotStats::default()));
        let (queue, mut queued) = tokio::sync::mpsc::unbounded_channel::<String>();
        // The writer: everything queued goes out, then one flush.
        let writer = tokio::spawn(async move {
            while let Some(first) = queued.recv().await {
                if tx.feed(Message::text(first)).await.is_err() {
                    return;
                }
                while let Ok(next) = queued.try_recv() {
                    if tx.feed(Message::text(next)).await.is_err() {
                        return;
                    }
                }
                if tx.flush().await.is_err() {
                    return;
                }
            }
        });
        let reader = {
            let stats = stats.clone();
            tokio::spawn(async move {
                let ended = bot_loop(&mut rx, &queue, &stats).await;
                stats.lock().unwrap().ended = Some(ended);
            })
        };
        Ok(Self {
            stats,
            reader,
            writer,
        })
    }

    fn stats(&self) -> BotStats {
        self.stats.lock().unwrap().clone()
    }
}

/// Reads the bot's socket and answers it until it ends; returns why it ended.
async fn bot_loop(
    rx: &mut Rx,
    queue: &tokio::sync::mpsc::UnboundedSender<String>,
    stats: &Mutex<BotStats>,
) -> String {
    let mut next_id = 0u64;
    let mut request = |kind: &str, body: Value| {
        next_id += 1;
        json!({"kind": "req", "id": next_id, "type": kind, "body": body}).to_string()
    };
    loop {
        let text = match rx.next().await {
            None => return "the mock ended the bot's connection".to_owned(),
            Some(Err(e)) => return format!("the bot's connection failed: {e}"),
            Some(Ok(Message::Close(c))) => {
                return format!("the mock closed the bot's socket: {c:?}")
            }
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(_)) => continue,
        };
        let text = text.as_str();
        // Cheap checks first: the mock writes `kind` first and `type` last.
        if text.starts_with(r#"{"kind":"resp""#) {
            let mut s = stats.lock().unwrap();
            s.responses += 1;
            if text.starts_with(r#"{"kind":"resp","reqId":"r"#) {
                s.read_responses += 1;
            }
            if !text.contains(r#","code":2"#) {
                s.refused += 1;
                s.first_refusal.get_or_insert_with(|| text.to_owned());
            }
            continue;
        }
        let ring = text.ends_with(r#""type":".ams.routing.RoutingTaskNotification"}"#);
        let event = text.ends_with(r#""type":".ams.ms.OnlineEventDistribution"}"#);
        if !ring && !event {
            continue; // metadata, agent state: nothing to do
        }
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            continue;
        };
        let body = &v["body"];
        let mut out = Vec::new();
        if ring {
            let changes = body["changes"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            for change in changes {
                let rings = change["result"]["ringsDetails"].as_array();
                for r in rings.map(Vec::as_slice).unwrap_or(&[]) {
                    if r["ringState"] == "WAITING" {
                        out.push(request(
                            ".ams.routing.UpdateRingState",
                            json!({"ringId": r["ringId"], "ringState": "ACCEPTED"}),
                        ));
                    }
                }
            }
            stats.lock().unwrap().rings_accepted += out.len() as u64;
        } else if body["event"]["type"] == "ContentEvent"
            && body["originatorMetadata"]["role"] == "CONSUMER"
        {
            let dialog = &body["dialogId"];
            let read = json!({"type": "AcceptStatusEvent", "status": "READ",
                "sequenceList": [body["sequence"]]});
            let mut read = request(
                ".ams.ms.PublishEvent",
                json!({"dialogId": dialog, "event": read}),
            );
            // READs get ids `r{n}`, so their responses can be counted apart.
            read =
                read.replacen(r#""id":"#, r#""id":"r"#, 1)
                    .replacen(r#","type""#, r#"","type""#, 1);
            out.push(read);
            let message = format!("echo : {}", body["event"]["message"].as_str().unwrap_or(""));
            let echo =
                json!({"type": "ContentEvent", "contentType": "text/plain", "message": message});
            out.push(request(
                ".ams.ms.PublishEvent",
                json!({"dialogId": dialog, "event": echo}),
            ));
            stats.lock().unwrap().echoes += 1;
        }
        for frame in out {
            if queue.send(frame).is_err() {
                return "the bot's writer ended".to_owned();
            }
        }
    }
}

/// Where a consumer is in its loop.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Creating { req: String },
    WaitingAgent { conv: String },
    WaitingEcho { conv: String, published: Instant },
    Closing { req: String },
}

impl Step {
    fn name(&self) -> &'static str {
        match self {
            Step::Creating { .. } => "the conversation's creation",
            Step::WaitingAgent { .. } => "the ASSIGNED_AGENT",
            Step::WaitingEcho { .. } => "the echo",
            Step::Closing { .. } => "the close",
        }
    }
}

#[derive(Debug, Default)]
struct ConsumerResult {
    done: u64,
    echo_us: Vec<f64>,
    cycle_us: Vec<f64>,
    reads: u64,
    /// What it was waiting for at the end of the window.
    waiting: Option<&'static str>,
}

async fn send(tx: &mut Tx, v: Value) -> Result<(), String> {
    tx.send(Message::text(v.to_string()))
        .await
        .map_err(|e| format!("a consumer could not send: {e}"))
}

/// One consumer's loop until `stop` (see the module's doc). `Err` on a refusal or a broken
/// connection.
async fn consumer_loop(
    ws: ConsumerSocket,
    index: usize,
    with_bot: bool,
    (first, stop): (Instant, Instant),
) -> Result<ConsumerResult, String> {
    let (mut tx, mut rx) = ws.split();
    let mut out = ConsumerResult::default();
    let mut id = 10u64;
    let mut assigned: Vec<String> = Vec::new();
    let mut step = Step::Creating {
        req: id.to_string(),
    };
    tokio::time::sleep_until(first).await;
    let mut created = Instant::now();
    send(
        &mut tx,
        json!({"kind":"req","id":id,"type":"cm.ConsumerRequestConversation"}),
    )
    .await?;
    loop {
        let text = match timeout_at(stop, rx.next()).await {
            Err(_) => {
                out.waiting = Some(step.name());
                return Ok(out);
            }
            Ok(None) => return Err(format!("consumer {index}: the mock ended the connection")),
            Ok(Some(Err(e))) => return Err(format!("consumer {index}: {e}")),
            Ok(Some(Ok(Message::Text(t)))) => t,
            Ok(Some(Ok(Message::Close(c)))) => {
                return Err(format!(
                    "consumer {index}: the mock closed the socket: {c:?}"
                ))
            }
            Ok(Some(Ok(_))) => continue,
        };
        let now = Instant::now();
        let v: Value = serde_json::from_str(text.as_str()).unwrap_or_default();
        let mut next = None;
        if v["kind"] == "resp" {
            let req = v["reqId"].as_str().unwrap_or_default();
            let mine =
                matches!(&step, Step::Creating { req: r } | Step::Closing { req: r } if r == req);
            let code = v["code"].as_u64().unwrap_or(0);
            if code >= 400 {
                return Err(format!(
                    "consumer {index}: request refused while waiting for {}: {text}",
                    step.name()
                ));
            }
            if mine {
                match &step {
                    Step::Creating { .. } => {
                        let conv = v["body"]["conversationId"].as_str().unwrap_or_default();
                        if !with_bot || assigned.iter().any(|c| c == conv) {
                            next = Some(Step::WaitingAgent {
                                conv: conv.to_owned(),
                            });
                        } else {
                            step = Step::WaitingAgent {
                                conv: conv.to_owned(),
                            };
                        }
                    }
                    Step::Closing { .. } => {
                        if now >= stop {
                            out.waiting = None;
                            return Ok(out);
                        }
                        id += 1;
                        created = Instant::now();
                        step = Step::Creating {
                            req: id.to_string(),
                        };
                        send(
                            &mut tx,
                            json!({"kind":"req","id":id,"type":"cm.ConsumerRequestConversation"}),
                        )
                        .await?;
                        continue;
                    }
                    _ => {}
                }
            }
        } else if v["type"] == "cqm.ExConversationChangeNotification" {
            for change in v["body"]["changes"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[])
            {
                let result = &change["result"];
                let participants = result["conversationDetails"]["participants"].as_array();
                let has_agent =
                    participants.is_some_and(|ps| ps.iter().any(|p| p["role"] == "ASSIGNED_AGENT"));
                if has_agent && change["type"] == "UPSERT" {
                    let conv = result["convId"].as_str().unwrap_or_default().to_owned();
                    if matches!(&step, Step::WaitingAgent { conv: c } if *c == conv) {
                        next = Some(step.clone());
                    } else {
                        assigned.push(conv);
                        if assigned.len() > 8 {
                            assigned.remove(0);
                        }
                    }
                }
            }
        } else if v["type"] == "ms.MessagingEventNotification" {
            let change = &v["body"]["changes"][0];
            if change["originatorMetadata"]["role"] == "ASSIGNED_AGENT" {
                match change["event"]["type"].as_str() {
                    Some("AcceptStatusEvent") => out.reads += 1,
                    Some("ContentEvent") => {
                        if let Step::WaitingEcho { conv, published } = &step {
                            if change["dialogId"] == conv.as_str() && now <= stop {
                                out.done += 1;
                                out.echo_us.push((now - *published).as_secs_f64() * 1e6);
                                out.cycle_us.push((now - created).as_secs_f64() * 1e6);
                            }
                            let conv = conv.clone();
                            id += 1;
                            step = Step::Closing {
                                req: id.to_string(),
                            };
                            send(&mut tx, close(id, &conv)).await?;
                        }
                    }
                    _ => {}
                }
            }
        }
        // The conversation is assigned (or there is no bot): publish, or close at once.
        if let Some(Step::WaitingAgent { conv }) = next {
            id += 1;
            if with_bot {
                step = Step::WaitingEcho {
                    conv: conv.clone(),
                    published: Instant::now(),
                };
                let event = client::text_message(&format!("hello from {index}, {id}"));
                send(&mut tx, client::publish(id, &conv, event)).await?;
            } else {
                if now <= stop {
                    out.done += 1;
                }
                step = Step::Closing {
                    req: id.to_string(),
                };
                send(&mut tx, close(id, &conv)).await?;
            }
        }
    }
}

fn close(id: u64, conv: &str) -> Value {
    json!({"kind":"req","id":id,"type":"cm.UpdateConversationField","body":{
        "conversationId": conv,
        "conversationField": {"field":"ConversationStateField","conversationState":"CLOSE"}}})
}

/// Connects `n` consumers (64 handshakes at a time), each subscribed to its conversations'
/// metadata.
async fn connect_consumers(
    url: &str,
    ca: &LocalCa,
    n: usize,
) -> Result<Vec<ConsumerSocket>, String> {
    let consumer_url = format!("{url}/ws_api/account/{ACCOUNT}/messaging/consumer?v=3");
    let until = Instant::now() + SETUP_LIMIT;
    let tls = ca.client_config();
    let connecting = futures_util::stream::iter(0..n)
        .map(|i| {
            let (url, tls) = (consumer_url.clone(), tls.clone());
            async move {
                let token = format!("bench-agent-consumer-{i}");
                let mut ws = connect(&url, tls, Some(&token))
                    .await
                    .map_err(|e| format!("consumer {i} could not connect: {e}"))?;
                let sub = json!({"kind":"req","id":1,"type":"cqm.SubscribeExConversations",
                    "body":{"convState":["OPEN"]}});
                ws.send(Message::text(sub.to_string()))
                    .await
                    .map_err(|e| format!("consumer {i}: {e}"))?;
                let (mut tx, mut rx) = ws.split();
                loop {
                    let text = next_text(&mut rx, until, "the metadata subscription").await?;
                    if text.starts_with(r#"{"kind":"resp""#) {
                        if !text.contains(r#","code":200,"#) {
                            return Err(format!("consumer {i}: subscription refused: {text}"));
                        }
                        break;
                    }
                }
                let _ = tx.flush().await;
                Ok::<_, String>(rx.reunite(tx).expect("halves of one socket"))
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>();
    let all = timeout_at(until, connecting)
        .await
        .map_err(|_| format!("{n} consumers could not connect within {SETUP_LIMIT:?}"))?;
    all.into_iter().collect()
}

/// The consumers' first conversations are spread over this much of the window: a quarter,
/// or `WIRETAPE_BENCH_AGENT_RAMP_MS`. All at once (0), a thousand rings and their metadata
/// reach the one agent socket faster than the mock sends them, and the mock closes it (1013,
/// "notification queue full": its queue holds 1024 frames).
pub(crate) fn ramp(window: Duration) -> Duration {
    std::env::var("WIRETAPE_BENCH_AGENT_RAMP_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(window / 4, Duration::from_millis)
}

/// One case: `n` consumers for `window`, with the echo bot or without any agent.
pub(crate) async fn case(
    home: &Path,
    n: usize,
    with_bot: bool,
    window: Duration,
) -> Result<Case, String> {
    let mock = crate::idle_mock(home);
    let run = run_case(home, &mock, (n, with_bot), window, ramp(window), false).await?;
    drop(run.bot);
    drop(mock);
    Ok(run.case)
}

/// The soak's agent side (`soak.rs`): the report file the mock streams to.
pub(crate) struct Soak {
    pub report: std::path::PathBuf,
}

/// What a soak of the agent side measured.
pub(crate) struct SoakRun {
    pub case: Case,
    /// Every second: the mock's RSS and the bot's echoes so far.
    pub samples: Vec<crate::soak::Sample>,
    /// The bot's READ receipts the mock answered (every one has a verdict).
    pub receipts_answered: u64,
    /// The mock's exit code after SIGTERM.
    pub exit_code: Option<i32>,
}

/// One bot and `n` consumers for `window` against `wiretape mock --report`, the mock's RSS
/// sampled every second; then, once the bot has been answered for everything, SIGTERM.
pub(crate) async fn soak(
    home: &Path,
    n: usize,
    window: Duration,
    soak: &Soak,
) -> Result<SoakRun, String> {
    let mut mock = crate::soak::mock_with_report(home, "manual", &soak.report);
    // The first conversations over 5 s: the first minute's throughput is the steady one.
    let ramp = Duration::from_secs(5).min(window / 4);
    let run = run_case(home, &mock, (n, true), window, ramp, true).await?;
    let bot = run.bot.ok_or("no bot")?;
    // The consumers stopped at the end of the window; the bot still answers what reached it.
    let mut last = bot.stats().responses;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = bot.stats().responses;
        if now == last {
            break;
        }
        last = now;
    }
    let receipts_answered = bot.stats().read_responses;
    let _ = Command::new("kill")
        .args(["-TERM", &mock.pid().to_string()])
        .status();
    let exit_code = mock.child.wait().ok().and_then(|s| s.code());
    drop(bot);
    Ok(SoakRun {
        case: run.case,
        samples: run.samples,
        receipts_answered,
        exit_code,
    })
}

/// What [`run_case`] leaves: the figures, the samples (when sampling) and the bot, still
/// running.
struct Run {
    case: Case,
    samples: Vec<crate::soak::Sample>,
    bot: Option<Bot>,
}

/// `n` consumers (`with_bot`: and the echo bot) against `mock` for `window`, the first
/// conversations spread over `ramp`; with `sampling`, the mock's RSS and the bot's echoes
/// every second.
async fn run_case(
    home: &Path,
    mock: &crate::Listening,
    (n, with_bot): (usize, bool),
    window: Duration,
    ramp: Duration,
    sampling: bool,
) -> Result<Run, String> {
    let ca = LocalCa::load_or_create(home).map_err(|e| format!("the CA: {e}"))?;
    let bot = match with_bot {
        true => Some(Bot::start(&mock.url, &ca).await?),
        false => None,
    };
    let sockets = connect_consumers(&mock.url, &ca, n).await?;
    let cpu0 = crate::procstat::cpu(mock.pid()).unwrap_or_default();
    let start = Instant::now();
    let stop = start + window;
    let sampler = match (&bot, sampling) {
        (Some(bot), true) => {
            let stats = bot.stats.clone();
            Some(crate::soak::sample_every_second(
                mock.pid(),
                Arc::new(move || stats.lock().unwrap().echoes),
                start,
                stop,
            ))
        }
        _ => None,
    };
    let tasks: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(i, ws)| {
            let first = start + ramp.mul_f64(i as f64 / n as f64);
            tokio::spawn(consumer_loop(ws, i, with_bot, (first, stop)))
        })
        .collect();
    let mut case = Case::default();
    let mut waiting: HashMap<&'static str, usize> = HashMap::new();
    let mut failure = None;
    for t in tasks {
        // Every consumer returns at `stop`; the margin only guards against a bug here.
        let joined = timeout_at(stop + Duration::from_secs(10), t)
            .await
            .map_err(|_| "a consumer task did not stop at the end of the window".to_owned())?;
        match joined.map_err(|e| format!("a consumer task panicked: {e}"))? {
            Ok(r) => {
                case.conversations += r.done;
                case.echo_us.extend(r.echo_us);
                case.cycle_us.extend(r.cycle_us);
                case.reads_seen += r.reads;
                if let Some(w) = r.waiting {
                    *waiting.entry(w).or_default() += 1;
                }
            }
            Err(e) => {
                failure.get_or_insert(e);
            }
        }
    }
    case.seconds = window.as_secs_f64();
    case.mock_cpu = crate::procstat::cpu(mock.pid())
        .unwrap_or_default()
        .saturating_sub(cpu0);
    case.mock_peak_rss_kib = crate::procstat::peak_rss_kib(mock.pid()).unwrap_or(0);
    case.echo_us.sort_by(f64::total_cmp);
    case.cycle_us.sort_by(f64::total_cmp);
    let mut waiting: Vec<(String, usize)> = waiting
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    waiting.sort();
    case.waiting = waiting;
    if let Some(bot) = &bot {
        case.bot = bot.stats();
    }
    let describe = |case: &Case| {
        let waiting: Vec<String> = case
            .waiting
            .iter()
            .map(|(w, n)| format!("{n} waiting for {w}"))
            .collect();
        format!(
            "bot: {} rings accepted, {} echoes, {} responses, {} refused{}{}; consumers at the end: {}",
            case.bot.rings_accepted,
            case.bot.echoes,
            case.bot.responses,
            case.bot.refused,
            case.bot.first_refusal.as_deref().map(|r| format!(" (first: {r})")).unwrap_or_default(),
            case.bot.ended.as_deref().map(|e| format!("; {e}")).unwrap_or_default(),
            if waiting.is_empty() { "none".to_owned() } else { waiting.join(", ") },
        )
    };
    if let Some(e) = failure {
        return Err(format!("{e} ({})", describe(&case)));
    }
    if case.conversations == 0 {
        return Err(format!(
            "no conversation completed in {window:?} ({})",
            describe(&case)
        ));
    }
    if case.bot.refused > 0 || case.bot.ended.is_some() {
        return Err(format!("the bot failed ({})", describe(&case)));
    }
    let samples = match sampler {
        Some(sampler) => sampler
            .await
            .map_err(|e| format!("the sampler panicked: {e}"))?,
        None => Vec::new(),
    };
    Ok(Run { case, samples, bot })
}
