//! wiretape's benchmark harness. One run measures, on loopback with TLS on every leg, a direct
//! connection to an echo upstream against the same load through `wiretape record` (with and
//! without recording), and reports ratios from the same run: these machines are noisy, so the
//! ratios are the result, not the absolute figures.
//!
//! Run: `cargo bench --bench wiretape` (about 5 minutes on 2 cores), or
//! `cargo bench --bench wiretape -- --quick` (a smoke run). Options: `--out FILE.json`
//! (default `target/bench/wiretape.json`), `--window-ms N` (measuring window per case),
//! `--mitmdump PATH` (also measure mitmproxy: benches/compare-mitmproxy.sh),
//! `--nginx PATH` (default: `nginx` on the PATH or in /usr/sbin; skipped with a note when
//! there is none), `--only relay,forward,latency,handshake,idle,flat,mitmproxy,mock` (some sections only; `mock` is
//! `mock-startup,mock-receipts,mock-conversations,mock-replay,mock-agent`).
//! It prints a markdown table and writes the same figures as JSON for comparing runs.
//!
//! The soak (issue 15) runs only when named, as it takes `--minutes N` (default 5, or
//! `WIRETAPE_SOAK_MINUTES`) per side: `cargo bench --bench wiretape -- soak --minutes 10`
//! (see `soak.rs`; `--only soak-consumers` or `--only soak-agent` for one side).

mod agent;
mod echo;
mod load;
mod mitm;
mod mock;
mod nginx;
mod procstat;
mod soak;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;
use wiretape_fixtures::pki::LocalCa;

use load::{Measured, Target};

/// Starts `cmd` (stdin closed, stdout piped) and reads its first stdout line,
/// `listening on URL`: ready when this returns. Returns the child and the URL.
pub(crate) fn start_listening(cmd: &mut Command) -> (Child, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start a server process");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("expected `listening on ...`, got {first:?}"))
        .to_owned();
    (child, url)
}

/// A server process started with [`start_listening`], killed on drop.
pub(crate) struct Listening {
    pub(crate) child: Child,
    /// The URL of its first line, `listening on URL`.
    pub(crate) url: String,
}

impl Listening {
    /// Starts `cmd` and waits for its `listening on` line.
    pub(crate) fn start(cmd: &mut Command) -> Self {
        let (child, url) = start_listening(cmd);
        Self { child, url }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `wiretape mock --agent manual` with its connection timeouts out of a bench's way: the idle
/// upstream of the memory section and the agent section's mock.
pub(crate) fn idle_mock(home: &Path) -> Listening {
    Listening::start(
        Command::new(env!("CARGO_BIN_EXE_wiretape"))
            .args(["mock", "--listen", "127.0.0.1:0", "--agent", "manual"])
            .args(["--init-timeout", "3600", "--idle-timeout", "3600"])
            .env("WIRETAPE_HOME", home)
            .env("RUST_LOG", "error")
            .stderr(Stdio::null()),
    )
}

/// Waits until something accepts connections on 127.0.0.1:`port`, for a server that says
/// nothing when it is ready (mitmdump, nginx); panics with `why()` after `within`.
pub(crate) async fn wait_for_port(port: u16, within: Duration, why: impl Fn() -> String) {
    let started = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(started.elapsed() < within, "{}", why());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `wiretape mock` as a plain upstream that keeps idle connections open, in its own process
/// so its sockets do not count against this one's open-files limit.
struct IdleUpstream {
    mock: Listening,
    ca_file: PathBuf,
}

impl IdleUpstream {
    const PATH: &'static str = "/ws_api/account/12345678/messaging/consumer?v=3";

    fn spawn(home: &Path) -> Self {
        Self {
            mock: idle_mock(home),
            ca_file: home.join("ca.pem"),
        }
    }
}

/// A `wiretape record` process.
struct ProxyProc;

impl ProxyProc {
    fn spawn(home: &Path, upstream: &str, upstream_ca: &Path, record: Option<&Path>) -> Listening {
        Self::spawn_bin(
            Path::new(env!("CARGO_BIN_EXE_wiretape")),
            home,
            upstream,
            upstream_ca,
            record,
        )
    }

    /// As [`ProxyProc::spawn`], running the `wiretape` binary `bin` (`--baseline`).
    fn spawn_bin(
        bin: &Path,
        home: &Path,
        upstream: &str,
        upstream_ca: &Path,
        record: Option<&Path>,
    ) -> Listening {
        let mut cmd = Command::new(bin);
        cmd.args([
            "record",
            "--upstream",
            upstream,
            "--listen",
            "127.0.0.1:0",
            "--quiet",
        ])
        .arg("--upstream-ca")
        .arg(upstream_ca)
        .env("WIRETAPE_HOME", home)
        .env("RUST_LOG", "error")
        // For experiments: the proxy's worker threads (tokio reads TOKIO_WORKER_THREADS).
        .envs(std::env::var("WIRETAPE_BENCH_PROXY_THREADS").map(|n| ("TOKIO_WORKER_THREADS", n)))
        .stderr(Stdio::inherit());
        match record {
            Some(dir) => cmd.arg("--out").arg(dir),
            None => cmd.arg("--no-record"),
        };
        Listening::start(&mut cmd)
    }
}

struct Args {
    quick: bool,
    /// Sections to run (all when empty): relay, handshake, idle, flat, mock.
    only: Vec<String>,
    /// mitmdump to compare with (`--mitmdump PATH`).
    mitmdump: Option<PathBuf>,
    /// nginx to compare with (`--nginx PATH`; found on its own otherwise).
    nginx: Option<PathBuf>,
    /// Another `wiretape` binary (an earlier build) measured beside this one in the latency
    /// section (`--baseline PATH`).
    baseline: Option<PathBuf>,
    out: PathBuf,
    window: Duration,
    /// Minutes each side of the soak runs (`--minutes N`).
    minutes: u64,
}

fn args() -> Args {
    let mut args = Args {
        quick: false,
        only: Vec::new(),
        mitmdump: None,
        nginx: None,
        baseline: None,
        out: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench/wiretape.json"),
        window: Duration::from_millis(2000),
        minutes: std::env::var("WIRETAPE_SOAK_MINUTES")
            .ok()
            .and_then(|m| m.parse().ok())
            .unwrap_or(5),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => {
                args.quick = true;
                args.window = Duration::from_millis(500);
            }
            "--out" => args.out = it.next().expect("--out FILE").into(),
            "--mitmdump" => args.mitmdump = Some(it.next().expect("--mitmdump PATH").into()),
            "--nginx" => args.nginx = Some(it.next().expect("--nginx PATH").into()),
            "--baseline" => args.baseline = Some(it.next().expect("--baseline PATH").into()),
            "--only" => args.only.extend(
                it.next()
                    .expect("--only SECTION[,SECTION]")
                    .split(',')
                    .map(str::to_owned),
            ),
            "--window-ms" => {
                args.window =
                    Duration::from_millis(it.next().expect("--window-ms N").parse().unwrap())
            }
            "soak" => args.only.push("soak".into()),
            "--minutes" => {
                args.minutes = it
                    .next()
                    .expect("--minutes N")
                    .parse()
                    .expect("--minutes N")
            }
            "--bench" => {} // passed by `cargo bench`
            other => eprintln!("ignoring unknown argument {other}"),
        }
    }
    args
}

impl Args {
    /// Whether `section` runs; `mock-*` parts also run with `mock`.
    fn runs(&self, section: &str) -> bool {
        self.only.is_empty()
            || self
                .only
                .iter()
                .any(|s| s == section || (section.starts_with("mock-") && s == "mock"))
    }
}

fn raise_fd_limit() -> u64 {
    // Root may raise the hard limit; anyone may raise the soft one to the hard one.
    let _ = rlimit::setrlimit(rlimit::Resource::NOFILE, 65536, 65536);
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// `--tcp-forward ADDR`: this binary as a plain TCP pipe to ADDR (no TLS termination, no
/// parsing): the latency floor of any proxy process on this machine.
async fn tcp_forward(upstream: String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("listening on {}", listener.local_addr().unwrap());
    loop {
        let Ok((mut client, _)) = listener.accept().await else {
            continue;
        };
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let _ = client.set_nodelay(true);
            let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                return;
            };
            let _ = server.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        });
    }
}

#[tokio::main]
async fn main() {
    if let Some(upstream) = std::env::args().skip_while(|a| a != "--tcp-forward").nth(1) {
        return tcp_forward(upstream).await;
    }
    let args = args();
    let fds = raise_fd_limit();
    let work = tempfile::tempdir().unwrap();
    // Cassettes go to tmpfs when there is one, so the disk's speed is not what is measured.
    let shm = Path::new("/dev/shm");
    let rec_root = if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };

    let upstream_ca = LocalCa::generate().unwrap();
    let upstream_ca_file = work.path().join("upstream-ca.pem");
    std::fs::write(&upstream_ca_file, upstream_ca.cert_pem()).unwrap();
    let echo = echo::start(upstream_ca.local_leaf().unwrap().server_config().unwrap()).await;
    let upstream_url = format!("wss://{echo}");
    let direct = Target {
        url: format!("{upstream_url}/bench"),
        tls: upstream_ca.client_config(),
        via: None,
    };

    let proxy_rec = ProxyProc::spawn(
        work.path(),
        &upstream_url,
        &upstream_ca_file,
        Some(rec_root.path()),
    );
    let proxy_norec = ProxyProc::spawn(work.path(), &upstream_url, &upstream_ca_file, None);
    let wiretape_ca = LocalCa::load_or_create(work.path()).unwrap();
    let via = |p: &Listening| Target {
        url: format!("{}/bench", p.url),
        tls: wiretape_ca.client_config(),
        via: None,
    };
    let rec = via(&proxy_rec);
    let norec = via(&proxy_norec);
    // nginx, recording nothing, in front of the same echo upstream.
    let nginx = match nginx::find(args.nginx.as_deref()) {
        Some(bin) => Some(
            nginx::Nginx::spawn(&bin, echo.port(), &wiretape_ca, &work.path().join("nginx")).await,
        ),
        None => {
            println!("(nginx not found: its columns are skipped; `apt-get install nginx` or `--nginx PATH`)\n");
            None
        }
    };

    println!("# wiretape benchmark\n");
    println!(
        "{} cores, open-files limit {fds}, window {:?} per case, cassettes on {}\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        args.window,
        rec_root.path().display()
    );

    let mut report = serde_json::Map::new();
    report.insert("window_ms".into(), json!(args.window.as_millis() as u64));

    // ---- throughput and latency
    if args.runs("relay") {
        let conns: &[usize] = if args.quick { &[1, 50] } else { &[1, 50, 1000] };
        let sizes = [200usize, 16 << 10];
        let modes = [("ping-pong", 1usize), ("pipelined", 64)];
        println!(
            "## Relay throughput (frames/s are round trips/s; ratio = through proxy / direct)\n"
        );
        println!("| mode | C | size | direct f/s | nginx f/s | ratio | wiretape recording f/s | ratio | not recording f/s | ratio | p50 µs direct / nginx / rec | p99 µs direct / nginx / rec | proxy CPU s per 100k frames (rec) | proxy peak RSS MiB (rec) | CPU µs/round trip: client+echo / proxy | CPU-bound ceiling |");
        println!(
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        let mut rows = Vec::new();
        for &(mode, in_flight) in &modes {
            for &c in conns {
                for &size in &sizes {
                    let own0 = procstat::cpu(std::process::id()).unwrap_or_default();
                    let mut d = measure(&direct, c, size, in_flight, args.window).await;
                    let own = procstat::cpu(std::process::id())
                        .unwrap_or_default()
                        .saturating_sub(own0);
                    // CPU per round trip of client + echo, and of the proxy alone: on a CPU-bound machine
                    // the ratio cannot exceed direct / (direct + proxy).
                    let direct_us = own.as_secs_f64() * 1e6 / d.frames.max(1) as f64;
                    procstat::reset_peak(proxy_rec.pid());
                    let cpu0 = procstat::cpu(proxy_rec.pid()).unwrap_or_default();
                    let mut r = measure(&rec, c, size, in_flight, args.window).await;
                    let cpu = procstat::cpu(proxy_rec.pid())
                        .unwrap_or_default()
                        .saturating_sub(cpu0);
                    let peak = procstat::peak_rss_kib(proxy_rec.pid()).unwrap_or(0);
                    let n = measure(&norec, c, size, in_flight, args.window).await;
                    let mut x = match &nginx {
                        Some(nginx) => {
                            Some(measure(&nginx.target, c, size, in_flight, args.window).await)
                        }
                        None => None,
                    };
                    let (x_fps, x50, x99) = match x.as_mut() {
                        Some(x) => (x.rate(), x.quantile_us(0.5), x.quantile_us(0.99)),
                        None => (f64::NAN, f64::NAN, f64::NAN),
                    };
                    // Each round trip is two frames through the proxy.
                    let cpu_per_100k = cpu.as_secs_f64() / (2.0 * r.frames.max(1) as f64) * 1e5;
                    let proxy_us = cpu.as_secs_f64() * 1e6 / r.frames.max(1) as f64;
                    let ceiling = direct_us / (direct_us + proxy_us);
                    let row = json!({
                        "mode": mode, "conns": c, "size": size,
                        "direct_fps": d.rate(), "record_fps": r.rate(), "norecord_fps": n.rate(),
                        "nginx_fps": x_fps, "ratio_nginx": x_fps / d.rate(),
                        "p50_us_nginx": x50, "p99_us_nginx": x99,
                        "ratio_record": r.rate() / d.rate(), "ratio_norecord": n.rate() / d.rate(),
                        "p50_us_direct": d.quantile_us(0.5), "p50_us_record": r.quantile_us(0.5),
                        "p99_us_direct": d.quantile_us(0.99), "p99_us_record": r.quantile_us(0.99),
                        "proxy_cpu_s_per_100k_frames": cpu_per_100k,
                        "proxy_peak_rss_mib": mib(peak),
                        "cpu_us_per_round_trip_direct": direct_us,
                        "cpu_us_per_round_trip_proxy": proxy_us,
                        "cpu_bound_ceiling": ceiling,
                    });
                    println!(
                    "| {mode} | {c} | {size} | {:.0} | {x_fps:.0} | {:.2} | {:.0} | {:.2} | {:.0} | {:.2} | {:.0} / {x50:.0} / {:.0} | {:.0} / {x99:.0} / {:.0} | {:.3} | {:.1} | {direct_us:.2} / {proxy_us:.2} | {ceiling:.2} |",
                    d.rate(), x_fps / d.rate(), r.rate(), r.rate() / d.rate(), n.rate(), n.rate() / d.rate(),
                    d.quantile_us(0.5), r.quantile_us(0.5), d.quantile_us(0.99), r.quantile_us(0.99),
                    cpu_per_100k, mib(peak)
                );
                    rows.push(row);
                    // Keep tmpfs small: the cassettes of this case are not needed any more.
                    clear_dir(rec_root.path());
                }
            }
        }
        report.insert("throughput".into(), Value::Array(rows));
    }

    // ---- the forward proxy: the same relay reached through CONNECT (issue 13)
    if args.runs("forward") {
        let (child, url) = start_listening(
            Command::new(env!("CARGO_BIN_EXE_wiretape"))
                .args(["record", "--forward", "--listen", "127.0.0.1:0", "--quiet"])
                .arg("--upstream-ca")
                .arg(&upstream_ca_file)
                .arg("--out")
                .arg(rec_root.path())
                .env("WIRETAPE_HOME", work.path())
                .env("RUST_LOG", "error")
                .stderr(Stdio::inherit()),
        );
        let forward = Listening { child, url };
        let addr = forward
            .url
            .strip_prefix("http://")
            .and_then(|a| a.parse().ok())
            .expect("listening on http://ADDR:PORT");
        let through = Target {
            url: format!("{upstream_url}/bench"),
            tls: wiretape_ca.client_config(),
            via: Some(addr),
        };
        println!("## Forward proxy: the recording relay reached through CONNECT, beside reverse mode (ping-pong, recording)\n");
        println!("| C | size | direct f/s | reverse f/s | forward f/s | forward / reverse | p50 µs direct / reverse / forward | p99 µs direct / reverse / forward |");
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
        let conns: &[usize] = if args.quick { &[1, 50] } else { &[1, 50, 1000] };
        let mut rows = Vec::new();
        for &c in conns {
            let size = 200;
            let mut d = measure(&direct, c, size, 1, args.window).await;
            let mut r = measure(&rec, c, size, 1, args.window).await;
            let mut f = measure(&through, c, size, 1, args.window).await;
            println!(
                "| {c} | {size} | {:.0} | {:.0} | {:.0} | {:.2} | {:.0} / {:.0} / {:.0} | {:.0} / {:.0} / {:.0} |",
                d.rate(), r.rate(), f.rate(), f.rate() / r.rate(),
                d.quantile_us(0.5), r.quantile_us(0.5), f.quantile_us(0.5),
                d.quantile_us(0.99), r.quantile_us(0.99), f.quantile_us(0.99),
            );
            rows.push(json!({
                "conns": c, "size": size,
                "direct_fps": d.rate(), "reverse_fps": r.rate(), "forward_fps": f.rate(),
                "ratio_forward_to_reverse": f.rate() / r.rate(),
                "p50_us_direct": d.quantile_us(0.5), "p50_us_reverse": r.quantile_us(0.5),
                "p50_us_forward": f.quantile_us(0.5),
                "p99_us_reverse": r.quantile_us(0.99), "p99_us_forward": f.quantile_us(0.99),
            }));
            clear_dir(rec_root.path());
        }
        println!();
        report.insert("forward".into(), Value::Array(rows));
        drop(forward);
    }

    // ---- the latency floor: a process hop without TLS termination
    if args.runs("latency") {
        let (mut forward, addr) = start_listening(
            Command::new(std::env::current_exe().unwrap())
                .args(["--tcp-forward", &echo.to_string()]),
        );
        let piped = Target {
            url: format!("wss://{addr}/bench"),
            tls: upstream_ca.client_config(),
            via: None,
        };
        let mut paths = vec![
            ("direct", direct.clone()),
            ("plain TCP pipe process (no TLS termination)", piped),
        ];
        if let Some(nginx) = &nginx {
            paths.push((
                "nginx (TLS-terminating proxy_pass, records nothing)",
                nginx.target.clone(),
            ));
        }
        // An earlier build, when given, measured in the same turns.
        let baseline = args.baseline.as_ref().map(|bin| {
            let dir = rec_root.path().join("baseline");
            std::fs::create_dir_all(&dir).unwrap();
            let norec =
                ProxyProc::spawn_bin(bin, work.path(), &upstream_url, &upstream_ca_file, None);
            let rec = ProxyProc::spawn_bin(
                bin,
                work.path(),
                &upstream_url,
                &upstream_ca_file,
                Some(&dir),
            );
            (norec, rec)
        });
        // The proxy processes, for their context switches.
        let mut pids = vec![None; paths.len()];
        if let Some((b_norec, b_rec)) = &baseline {
            paths.push(("baseline --no-record", via(b_norec)));
            paths.push(("baseline, recording", via(b_rec)));
            pids.extend([Some(b_norec.pid()), Some(b_rec.pid())]);
        }
        paths.push(("wiretape record --no-record", norec.clone()));
        paths.push(("wiretape record, recording", rec.clone()));
        pids.extend([Some(proxy_norec.pid()), Some(proxy_rec.pid())]);
        let cycles = if args.quick { 5 } else { 30 };
        let block = Duration::from_millis(200);
        println!("\n## Round-trip latency, ping-pong 200 B, C=1 (µs)\n");
        println!(
            "One connection per path, back-to-back round trips in blocks of {block:?}, the paths \
             taking turns {cycles} times: adjacent blocks see the same machine (its load changes \
             from one second to the next here, and idle vCPUs are slow to wake). p50/p99 pool \
             every block; \"cost\" compares blocks of the same turn.\n"
        );
        let targets: Vec<Target> = paths.iter().map(|(_, t)| t.clone()).collect();
        let blocks = load::ping_pong_in_blocks(&targets, 200, block, cycles).await;
        let pooled = |i: usize| {
            let rtts: Vec<Duration> = blocks[i].iter().flatten().copied().collect();
            load::Measured {
                frames: rtts.len() as u64,
                elapsed: block * cycles as u32,
                rtts,
            }
        };
        let block_p50 = |i: usize, c: usize| {
            let mut m = load::Measured {
                frames: 0,
                elapsed: block,
                rtts: blocks[i][c].clone(),
            };
            m.quantile_us(0.5)
        };
        // Context switches of the proxy process per round trip, over one more block each.
        let mut switches = vec![f64::NAN; paths.len()];
        for (i, pid) in pids.iter().enumerate() {
            let Some(pid) = *pid else { continue };
            let before = procstat::context_switches(pid).unwrap_or(0);
            let m = measure(&paths[i].1, 1, 200, 1, Duration::from_secs(1)).await;
            let after = procstat::context_switches(pid).unwrap_or(0);
            switches[i] = after.saturating_sub(before) as f64 / m.frames.max(1) as f64;
        }
        println!("| path | p50 | p99 | added p50 | added p99 | round trips | proxy context switches per round trip |");
        println!("|---|---:|---:|---:|---:|---:|---:|");
        let mut direct_m = pooled(0);
        let (d50, d99) = (direct_m.quantile_us(0.5), direct_m.quantile_us(0.99));
        let mut rows = Vec::new();
        for (i, (name, _)) in paths.iter().enumerate() {
            let mut m = pooled(i);
            let (p50, p99) = (m.quantile_us(0.5), m.quantile_us(0.99));
            println!(
                "| {name} | {p50:.0} | {p99:.0} | {:.0} | {:.0} | {} | {} |",
                p50 - d50,
                p99 - d99,
                m.frames,
                if switches[i].is_nan() {
                    "".to_owned()
                } else {
                    format!("{:.2}", switches[i])
                }
            );
            rows.push(
                json!({"path": name, "p50_us": p50, "p99_us": p99, "added_p50_us": p50 - d50,
                "added_p99_us": p99 - d99, "round_trips": m.frames,
                "proxy_context_switches_per_round_trip": switches[i]}),
            );
        }
        // What recording costs: p50 of recording minus p50 of --no-record, turn by turn.
        let cost = |rec: usize, norec: usize| {
            let mut diffs: Vec<f64> = (0..cycles)
                .map(|c| block_p50(rec, c) - block_p50(norec, c))
                .collect();
            diffs.sort_by(|a, b| a.total_cmp(b));
            (
                diffs[diffs.len() / 2],
                diffs[diffs.len() / 4],
                diffs[diffs.len() * 3 / 4],
            )
        };
        let n = paths.len();
        let (median, q1, q3) = cost(n - 1, n - 2);
        println!(
            "\nRecording adds {median:+.1} µs to the p50 round trip over --no-record (median over \
             {cycles} turns; quartiles {q1:+.1} / {q3:+.1})."
        );
        report.insert(
            "recording_cost_p50_us".into(),
            json!({"median": median, "q1": q1, "q3": q3}),
        );
        if baseline.is_some() {
            let (median, q1, q3) = cost(n - 3, n - 4);
            println!("In the baseline build: {median:+.1} µs (quartiles {q1:+.1} / {q3:+.1}).");
            report.insert(
                "baseline_recording_cost_p50_us".into(),
                json!({"median": median, "q1": q1, "q3": q3}),
            );
        }
        let _ = forward.kill();
        let _ = forward.wait();
        report.insert("latency".into(), Value::Array(rows));
    }

    // ---- handshakes
    if args.runs("handshake") {
        println!("\n## Handshake time (TCP + TLS + WebSocket upgrade)\n");
        println!("| simultaneous | direct ms | through proxy ms | ratio |");
        println!("|---:|---:|---:|---:|");
        let mut hs = Vec::new();
        for n in [1usize, 50] {
            let d = handshakes(&direct, n, if args.quick { 5 } else { 20 }).await;
            let p = handshakes(&rec, n, if args.quick { 5 } else { 20 }).await;
            println!("| {n} | {:.2} | {:.2} | {:.2} |", d * 1e3, p * 1e3, p / d);
            hs.push(
            json!({"simultaneous": n, "direct_ms": d * 1e3, "proxy_ms": p * 1e3, "ratio": p / d}),
        );
        }
        clear_dir(rec_root.path());
        report.insert("handshake".into(), Value::Array(hs));
    }

    // ---- idle memory per proxied connection
    if args.runs("idle") {
        println!("\n## Memory per idle proxied connection (both legs)\n");
        println!(
            "The upstream is `wiretape mock` in its own process, so this process only holds \
             the clients. Open-files limit per process: {fds} (a proxied connection takes 2 \
             sockets, and a cassette when recording).\n"
        );
        println!(
            "| connections | recording | proxy RSS before MiB | after MiB | per connection KiB |"
        );
        println!("|---:|---|---:|---:|---:|");
        let upstream = IdleUpstream::spawn(work.path());
        let mut idle = Vec::new();
        let counts: &[(usize, bool)] = if args.quick {
            &[(1000, true)]
        } else {
            &[(1000, true), (6000, true), (9900, false)]
        };
        for &(n, recording) in counts {
            let record = recording.then_some(rec_root.path());
            let proxy =
                ProxyProc::spawn(work.path(), &upstream.mock.url, &upstream.ca_file, record);
            let target = Target {
                url: format!("{}{}", proxy.url, IdleUpstream::PATH),
                tls: wiretape_ca.client_config(),
                via: None,
            };
            drop(load::connect_many(&target, 1).await);
            tokio::time::sleep(Duration::from_millis(300)).await;
            let before = procstat::rss_kib(proxy.child.id()).unwrap_or(0);
            let clients = load::connect_many(&target, n).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            let after = procstat::rss_kib(proxy.child.id()).unwrap_or(0);
            let per = (after.saturating_sub(before)) as f64 / n as f64;
            println!(
                "| {n} | {} | {:.1} | {:.1} | {per:.1} |",
                if recording { "yes" } else { "no" },
                mib(before),
                mib(after)
            );
            idle.push(
                json!({"connections": n, "recording": recording, "rss_before_mib": mib(before),
                "rss_after_mib": mib(after), "per_connection_kib": per, "held": clients.len()}),
            );
            drop(clients);
            drop(proxy);
            clear_dir(rec_root.path());
        }
        report.insert("idle_memory".into(), Value::Array(idle));
    }

    // ---- RSS stays flat while one connection relays a lot of 16 KiB frames
    if args.runs("flat") {
        let total: u64 = if args.quick { 128 << 20 } else { 1 << 30 };
        println!("\n## Proxy RSS while one connection relays {} MiB of 16 KiB frames each way (recording on)\n", total >> 20);
        let disk = tempfile::tempdir().unwrap();
        let proxy = ProxyProc::spawn(
            work.path(),
            &upstream_url,
            &upstream_ca_file,
            Some(disk.path()),
        );
        let samples = flat_rss(&via(&proxy), proxy.child.id(), total).await;
        println!("| relayed MiB | proxy RSS MiB |");
        println!("|---:|---:|");
        for (done, rss) in &samples {
            println!("| {} | {:.1} |", done >> 20, mib(*rss));
        }
        report.insert(
            "flat_rss".into(),
            json!(samples
                .iter()
                .map(|(d, r)| json!({"relayed_mib": d >> 20, "rss_mib": mib(*r)}))
                .collect::<Vec<_>>()),
        );
        drop(proxy);
    }

    // ---- mitmproxy, the usual tool, under the same load in the same run
    if let Some(mitmdump) = args.mitmdump.as_ref().filter(|_| args.runs("mitmproxy")) {
        let confdir = work.path().join("mitmproxy");
        let mitm = mitm::Mitm::spawn(mitmdump, echo.port(), &confdir).await;
        println!("\n## Against mitmproxy (mitmdump --mode reverse, same run)\n");
        println!("| mode | C | size | direct f/s | wiretape record f/s | ratio | mitmproxy f/s | ratio | p50 µs wiretape / mitmproxy | mitmproxy CPU s per 100k frames | mitmproxy peak RSS MiB |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        let mut rows = Vec::new();
        for (mode, in_flight, c, size) in [
            ("ping-pong", 1, 1, 200),
            ("ping-pong", 1, 50, 200),
            ("pipelined", 64, 1, 200),
            ("pipelined", 64, 50, 200),
            ("pipelined", 64, 1, 16 << 10),
        ] {
            let d = measure(&direct, c, size, in_flight, args.window).await;
            let mut w = measure(&rec, c, size, in_flight, args.window).await;
            procstat::reset_peak(mitm.pid());
            let cpu0 = procstat::cpu(mitm.pid()).unwrap_or_default();
            let mut m = measure(&mitm.target, c, size, in_flight, args.window).await;
            let cpu = procstat::cpu(mitm.pid())
                .unwrap_or_default()
                .saturating_sub(cpu0);
            let peak = procstat::peak_rss_kib(mitm.pid()).unwrap_or(0);
            let cpu_per_100k = cpu.as_secs_f64() / (2.0 * m.frames.max(1) as f64) * 1e5;
            println!(
                "| {mode} | {c} | {size} | {:.0} | {:.0} | {:.3} | {:.0} | {:.3} | {:.0} / {:.0} | {cpu_per_100k:.2} | {:.1} |",
                d.rate(), w.rate(), w.rate() / d.rate(), m.rate(), m.rate() / d.rate(),
                w.quantile_us(0.5), m.quantile_us(0.5), mib(peak)
            );
            rows.push(json!({"mode": mode, "conns": c, "size": size, "direct_fps": d.rate(),
                "wiretape_fps": w.rate(), "mitmproxy_fps": m.rate(),
                "wiretape_ratio": w.rate() / d.rate(), "mitmproxy_ratio": m.rate() / d.rate(),
                "mitmproxy_cpu_s_per_100k_frames": cpu_per_100k, "mitmproxy_peak_rss_mib": mib(peak)}));
            clear_dir(rec_root.path());
        }
        let hd = handshakes(&direct, 50, 5).await;
        let hw = handshakes(&rec, 50, 5).await;
        let hm = handshakes(&mitm.target, 50, 5).await;
        println!(
            "\n50 simultaneous handshakes: direct {:.1} ms, wiretape {:.1} ms, mitmproxy {:.1} ms",
            hd * 1e3,
            hw * 1e3,
            hm * 1e3
        );
        report.insert(
            "mitmproxy".into(),
            json!({"relay": rows,
            "handshake_50_ms": {"direct": hd * 1e3, "wiretape": hw * 1e3, "mitmproxy": hm * 1e3}}),
        );
    }

    // ---- the mock server
    let mut mock_json = serde_json::Map::new();
    if [
        "mock-startup",
        "mock-receipts",
        "mock-conversations",
        "mock-replay",
    ]
    .iter()
    .any(|s| args.runs(s))
    {
        println!("\n## Mock server\n");
        println!("| measure | value | target |");
        println!("|---|---:|---|");
    }
    if args.runs("mock-startup") {
        let (listening, accepting) =
            mock::startup(work.path(), if args.quick { 3 } else { 10 }).await;
        println!("| process start to `listening on` (median) | {listening:.1} ms | |");
        println!("| process start to first TLS WebSocket handshake (median) | {accepting:.1} ms | < 50 ms |");
        mock_json.insert("startup_listening_ms".into(), json!(listening));
        mock_json.insert("startup_accepting_ms".into(), json!(accepting));
    }
    if args.runs("mock-receipts") {
        let (clients, messages) = if args.quick { (10, 200) } else { (50, 1000) };
        let r = mock::receipts(work.path(), clients, messages, None).await;
        let receipts_per_s = r.validated as f64 / r.seconds;
        let cpu_us = r.mock_cpu.as_secs_f64() * 1e6 / r.validated as f64;
        // What the mock alone could do with both cores, without the load client beside it.
        let capacity = 2e6 / cpu_us;
        let client_us = r.client_cpu.as_secs_f64() * 1e6 / r.validated as f64;
        // What two shared cores allow end to end: 2 s of CPU per second over both sides' cost.
        let shared = 2e6 / (cpu_us + client_us);
        println!("| receipts validated ({clients} clients x {} receipts, 64 in flight each), end to end | {receipts_per_s:.0} /s | >= 100,000 /s |", messages * 2);
        println!("| mock CPU per receipt (its own process) -> capacity on 2 cores | {cpu_us:.1} µs -> {capacity:.0} /s | |");
        mock_json.insert("receipts_per_s".into(), json!(receipts_per_s));
        mock_json.insert("mock_cpu_us_per_receipt".into(), json!(cpu_us));
        println!("| load client CPU per receipt (this process) -> most two shared cores allow end to end | {client_us:.1} µs -> {shared:.0} /s | |");
        mock_json.insert("client_cpu_us_per_receipt".into(), json!(client_us));
        mock_json.insert("receipts_shared_cores_ceiling".into(), json!(shared));
        mock_json.insert("receipt_capacity_2_cores".into(), json!(capacity));
        mock_json.insert("receipt_clients".into(), json!(clients));
        mock_json.insert("receipts_per_client".into(), json!(messages * 2));
        // The same with every record streamed to a file (issue 15): one write per record.
        let file = work.path().join("receipts-report.jsonl");
        let streamed = mock::receipts(work.path(), clients, messages, Some(&file)).await;
        let _ = std::fs::remove_file(&file);
        let streamed_per_s = streamed.validated as f64 / streamed.seconds;
        let streamed_cpu_us = streamed.mock_cpu.as_secs_f64() * 1e6 / streamed.validated as f64;
        println!("| the same with `--report FILE` (every record written as it happens): end to end, mock CPU per receipt | {streamed_per_s:.0} /s ({:.2} of without), {streamed_cpu_us:.1} µs | |", streamed_per_s / receipts_per_s);
        mock_json.insert("receipts_with_report_per_s".into(), json!(streamed_per_s));
        mock_json.insert(
            "mock_cpu_us_per_receipt_with_report".into(),
            json!(streamed_cpu_us),
        );
    }
    if args.runs("mock-conversations") {
        let per_s = mock::conversations(50, args.window).await;
        println!("| conversations created (50 clients, create + close) | {per_s:.0} /s | |");
        mock_json.insert("conversations_per_s".into(), json!(per_s));
    }
    if args.runs("mock-replay") {
        let frames = if args.quick { 20_000 } else { 100_000 };
        let (load_s, replay_s) = mock::replay(frames).await;
        println!("| replay of a {frames}-frame cassette at --speed 0 (load + replay) | {load_s:.3} s + {replay_s:.3} s | < 1 s |");
        mock_json.insert("replay_frames".into(), json!(frames));
        mock_json.insert("replay_load_s".into(), json!(load_s));
        mock_json.insert("replay_s".into(), json!(replay_s));
    }
    if args.runs("mock-agent") {
        let consumer_only = mock_json.get("conversations_per_s").and_then(Value::as_f64);
        let rows = agent_side(work.path(), &args, consumer_only).await;
        mock_json.insert("agent".into(), rows);
    }
    if !mock_json.is_empty() {
        report.insert("mock".into(), Value::Object(mock_json));
    }
    let sides = ["soak-consumers", "soak-agent"]
        .map(|side| args.only.iter().any(|s| s == "soak" || s == side));
    if sides.contains(&true) {
        report.insert(
            "soak".into(),
            soak::run(work.path(), args.minutes, sides).await,
        );
    }

    if let Some(dir) = args.out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(
        &args.out,
        serde_json::to_string_pretty(&Value::Object(report)).unwrap(),
    )
    .unwrap();
    println!("\nJSON: {}", args.out.display());
}

/// The mock's agent side (issue 11, item 7): one echo bot and N consumers, beside the same N
/// consumers without any agent (see `agent.rs`). `consumer_only` is the run's in-process
/// conversations/s (50 clients, create + close), when it ran.
async fn agent_side(home: &Path, args: &Args, consumer_only: Option<f64>) -> Value {
    let counts: &[usize] = if args.quick {
        &[1, 100]
    } else {
        &[1, 100, 1000]
    };
    let window = args.window * 2;
    println!("\n## Mock server, agent side: one echo bot, N consumers (issue 11)\n");
    println!(
        "`wiretape mock --agent manual` in its own process, a fresh one per case; {window:?} per \
         case, the consumers' first conversations spread over the first {:?}. Each consumer loops: create a conversation, wait for the bot to accept (its \
         metadata names an ASSIGNED_AGENT), publish a message, wait for the echo (the bot READs \
         it, then echoes it), close. Echo = publish -> echo; cycle = create -> echo. Without \
         agent: the same consumers against a fresh mock with no agent, create then close.\n",
        agent::ramp(window)
    );
    println!("| N | conversations/s with the bot | echo p50 ms | echo p99 ms | cycle p50 ms | cycle p99 ms | mock CPU µs per conversation | mock CPU (cores) | mock peak RSS MiB | without agent: conversations/s | mock CPU µs per conversation | ratio with bot / without |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut rows = Vec::new();
    for &n in counts {
        let bot = agent::case(home, n, true, window).await;
        let plain = agent::case(home, n, false, window).await;
        let (bot, plain) = match (bot, plain) {
            (Ok(b), Ok(p)) => (b, p),
            (b, p) => {
                let why: Vec<String> = [("with the bot", b.err()), ("without agent", p.err())]
                    .into_iter()
                    .filter_map(|(k, e)| e.map(|e| format!("{k}: {e}")))
                    .collect();
                println!("| {n} | FAILED: {} |", why.join("; "));
                rows.push(json!({"consumers": n, "failed": why}));
                continue;
            }
        };
        let per_conv = |c: &agent::Case| c.mock_cpu.as_secs_f64() * 1e6 / c.conversations as f64;
        let ms = |v: &[f64], q: f64| agent::quantile(v, q) / 1e3;
        let ratio = bot.rate() / plain.rate();
        println!(
            "| {n} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} | {:.2} | {:.1} | {:.0} | {:.0} | {ratio:.3} |",
            bot.rate(),
            ms(&bot.echo_us, 0.5),
            ms(&bot.echo_us, 0.99),
            ms(&bot.cycle_us, 0.5),
            ms(&bot.cycle_us, 0.99),
            per_conv(&bot),
            bot.mock_cpu.as_secs_f64() / bot.seconds,
            mib(bot.mock_peak_rss_kib),
            plain.rate(),
            per_conv(&plain),
        );
        rows.push(json!({
            "consumers": n, "window_s": bot.seconds,
            "conversations_per_s": bot.rate(), "conversations": bot.conversations,
            "echo_p50_ms": ms(&bot.echo_us, 0.5), "echo_p99_ms": ms(&bot.echo_us, 0.99),
            "cycle_p50_ms": ms(&bot.cycle_us, 0.5), "cycle_p99_ms": ms(&bot.cycle_us, 0.99),
            "mock_cpu_us_per_conversation": per_conv(&bot),
            "mock_cpu_cores": bot.mock_cpu.as_secs_f64() / bot.seconds,
            "mock_peak_rss_mib": mib(bot.mock_peak_rss_kib),
            "bot_rings_accepted": bot.bot.rings_accepted, "bot_echoes": bot.bot.echoes,
            "bot_reads_seen_by_consumers": bot.reads_seen,
            "without_agent_conversations_per_s": plain.rate(),
            "without_agent_mock_cpu_us_per_conversation": per_conv(&plain),
            "without_agent_mock_peak_rss_mib": mib(plain.mock_peak_rss_kib),
            "ratio_to_without_agent": ratio,
            "ratio_to_consumer_only_in_process": consumer_only.map(|c| bot.rate() / c),
        }));
    }
    if let Some(c) = consumer_only {
        let best = rows
            .iter()
            .filter_map(|r| r["conversations_per_s"].as_f64())
            .fold(0.0, f64::max);
        println!(
            "\nConsumer-only conversations/s of this run (in-process, 50 clients, create + close): \
             {c:.0}; the best with the bot is {:.3} of it.",
            best / c
        );
    }
    Value::Array(rows)
}

async fn measure(
    target: &Target,
    conns: usize,
    size: usize,
    in_flight: usize,
    window: Duration,
) -> Measured {
    let clients = load::connect_many(target, conns).await;
    load::run(clients, size, in_flight, window).await
}

/// Median time for `n` simultaneous connections to all be open, over `rounds` rounds, in s.
async fn handshakes(target: &Target, n: usize, rounds: usize) -> f64 {
    let mut times = Vec::new();
    for _ in 0..rounds {
        let start = Instant::now();
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let t = target.clone();
                tokio::spawn(async move { load::connect(&t).await })
            })
            .collect();
        let mut clients = Vec::new();
        for t in tasks {
            clients.push(t.await.unwrap());
        }
        times.push(start.elapsed().as_secs_f64());
        drop(clients);
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    times[times.len() / 2]
}

/// Relays `total` bytes each way over one connection in 16 KiB frames, sampling the proxy's
/// RSS ten times.
async fn flat_rss(target: &Target, pid: u32, total: u64) -> Vec<(u64, u64)> {
    use futures_util::{SinkExt as _, StreamExt as _};
    let size = 16usize << 10;
    let frames = total / size as u64;
    let (mut tx, mut rx) = load::connect(target).await.split();
    let msg = load::payload(size);
    let writer = tokio::spawn(async move {
        for _ in 0..frames {
            if tx.send(msg.clone()).await.is_err() {
                break;
            }
        }
        tx
    });
    let mut samples = Vec::new();
    let step = (frames / 10).max(1);
    let mut got = 0u64;
    while got < frames {
        match rx.next().await {
            Some(Ok(_)) => got += 1,
            _ => break,
        }
        if got % step == 0 {
            samples.push((got * size as u64, procstat::rss_kib(pid).unwrap_or(0)));
        }
    }
    let _ = writer.await;
    samples
}

fn clear_dir(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}
