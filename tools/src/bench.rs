//! `tapstack bench`: every figure the stack is held to, side by side in one run.
//!
//! Scenarios (each in its own module):
//! - TCP bulk transfer over the in-memory wire, tapstack and smoltcp in all four pairings, on a
//!   clean and a lossy wire ([`inmem`]);
//! - the replay driver's speed on a synthetic million-frame capture ([`replay_speed`]);
//! - heap per idle connection and connections held within the default budget ([`scale`]);
//! - with the kernel as the peer, in namespaces the bench makes and deletes: TCP throughput over
//!   TAP (tapstack, and smoltcp for comparison) and over veth (kernel to kernel, the ceiling),
//!   ping round trips, and HTTP load with `wrk` ([`tap`], [`smoltcp_tap`]); iperf3 against
//!   the stack's iperf3 server ([`iperf3`]); TCP over a TAP link with loss, delay or
//!   reordering, the kernel and tapstack as the sender in turn ([`lossy`]).
//!
//! Each scenario runs `--runs` times; the table shows min, median and max, and the target beside
//! each figure it applies to, judged by the median. Scenarios that cannot run here (not root, a
//! tool missing) leave a "skipped: <reason>" row.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod bare;
mod inmem;
mod iperf3;
mod lossy;
mod plot;
mod replay_speed;
mod report;
mod scale;
mod smoltcp_tap;
mod tap;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;

use report::{Figure, Outcome, RunInfo};

/// Options of `tapstack bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A short run (under a minute) that checks the harness; figures are rough.
    #[arg(long)]
    quick: bool,
    /// Runs per scenario (min/median/max are reported); default 3, or 1 with --quick.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=100))]
    runs: Option<u16>,
    /// Also write the figures as JSON to this file (and the plot beside it, as .svg).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the throughput chart (SVG) to this file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Leave out the scenarios that need network namespaces (TAP, veth, ping, wrk).
    #[arg(long)]
    no_netns: bool,
    /// Run only these scenarios (comma-separated): inmem, replay, scale, tap, tun, veth, ping,
    /// http, iperf3, lossy.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(SCENARIOS))]
    only: Vec<String>,
    /// Serve discard and chargen with smoltcp on this TAP device (the bench starts this itself,
    /// inside a namespace).
    #[arg(long, value_name = "TAP", hide = true)]
    smoltcp_tap_peer: Option<String>,
    /// The same on this TUN device, with smoltcp's `Medium::Ip`.
    #[arg(long, value_name = "TUN", hide = true)]
    smoltcp_tun_peer: Option<String>,
    /// Answer ping and ARP on this TAP device with no stack behind: the latency floor.
    #[arg(long, value_name = "TAP", hide = true)]
    bare_tap_echo: Option<String>,
    #[command(flatten)]
    pub log: crate::log::Verbosity,
}

/// Payload of one full-size segment at MTU 1500 with TCP timestamps (1500 - 20 - 20 - 12): the
/// unit of the "CPU ns per segment" figures.
const SEGMENT_PAYLOAD: usize = 1448;

/// What one run of the bench measures, and how much.
#[derive(Clone, Debug)]
pub struct Plan {
    quick: bool,
    runs: usize,
    /// Bytes per in-memory transfer on the clean wire (a quarter of it on the lossy one).
    inmem_bytes: usize,
    replay_frames: usize,
    idle_connections: usize,
    /// Bytes per transfer over TAP (four times as many over veth, which is much faster).
    tap_bytes: u64,
    /// How long one such transfer may take.
    transfer_limit: Duration,
    /// Bytes per transfer over the impaired TAP link.
    lossy_bytes: u64,
    ping_count: usize,
    /// Seconds between pings, as `ping -i` takes it. Closely spaced pings find the stack's
    /// threads awake and come back several times faster than pings of an idle host do, so
    /// they are 100 ms apart.
    ping_interval: &'static str,
    wrk_secs: u64,
}

impl Plan {
    fn new(quick: bool, runs: Option<u16>) -> Plan {
        let runs = runs.map_or(if quick { 1 } else { 3 }, usize::from);
        if quick {
            Plan {
                quick,
                runs,
                inmem_bytes: 64 << 20,
                replay_frames: 1_000_000,
                idle_connections: 10_000,
                tap_bytes: 256 << 20,
                transfer_limit: Duration::from_secs(20),
                lossy_bytes: 8 << 20,
                ping_count: 40,
                ping_interval: "0.1",
                wrk_secs: 3,
            }
        } else {
            Plan {
                quick,
                runs,
                inmem_bytes: 1 << 30,
                replay_frames: 1_000_000,
                idle_connections: 10_000,
                tap_bytes: 1 << 30,
                transfer_limit: Duration::from_secs(60),
                lossy_bytes: 32 << 20,
                ping_count: 200,
                ping_interval: "0.1",
                wrk_secs: 10,
            }
        }
    }
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether Ctrl-C (or SIGTERM) asked the bench to stop.
fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill, and a clock every Linux kernel has.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

/// Runs `f` and tells on stderr how long it took, so that a long run shows progress.
fn step(what: &str, f: impl FnOnce()) {
    if interrupted() {
        return;
    }
    eprint!("tapstack bench: {what} ... ");
    let started = Instant::now();
    f();
    eprintln!("{:.1} s", started.elapsed().as_secs_f64());
}

/// The scenario keys `--only` takes.
const SCENARIOS: [&str; 10] = [
    "inmem", "replay", "scale", "tap", "tun", "veth", "ping", "http", "iperf3", "lossy",
];

/// A scenario that needs namespaces: its `--only` key, its name, and what adds its figures.
type NetnsScenario<'a> = (&'a str, &'a str, &'a dyn Fn(&mut Vec<Figure>));

/// Rows for a scenario left out on purpose.
fn left_out(figures: &mut Vec<Figure>, scenario: &str, why: &str) {
    figures.push(Figure::new(
        scenario,
        "all figures",
        "-",
        Outcome::Skipped(why.to_owned()),
    ));
}

/// Runs the benchmark and prints the table.
pub fn run(args: BenchArgs) -> Result<ExitCode> {
    if let Some(tap) = &args.smoltcp_tap_peer {
        return smoltcp_tap::serve(tap);
    }
    if let Some(tap) = &args.bare_tap_echo {
        return bare::serve(tap);
    }
    if let Some(tun) = &args.smoltcp_tun_peer {
        return smoltcp_tap::serve_on(tun, smoltcp::phy::Medium::Ip);
    }
    let plan = Plan::new(args.quick, args.runs);
    // Ctrl-C ends the bench early but still tears down what it made and prints what it has.
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::Relaxed));
    let started = Instant::now();
    println!(
        "# tapstack bench{}",
        if plan.quick { " --quick" } else { "" }
    );
    println!();
    println!(
        "{} run(s) per scenario; min / median / max over the runs; targets are judged by the median.",
        plan.runs
    );
    if plan.quick {
        println!("Quick run: smaller transfers and shorter loads, so the figures are rough.");
    }
    println!();

    let chosen = |key: &str| args.only.is_empty() || args.only.iter().any(|k| k == key);
    let mut figures = Vec::new();
    if chosen("inmem") {
        step("TCP bulk in memory", || {
            if let Err(e) = inmem::bench(&plan, &mut figures) {
                left_out(&mut figures, "TCP bulk in memory", &format!("{e:#}"));
            }
        });
    }
    if chosen("replay") {
        step("replay", || replay_speed::bench(&plan, &mut figures));
    }
    if chosen("scale") {
        step("scale", || scale::bench(&plan, &mut figures));
    }
    let netns_scenarios: [NetnsScenario<'_>; 14] = [
        ("tap", "TCP over TAP: tapstack", &|f| {
            tap::throughput(&plan, tap::Peer::Tapstack, f)
        }),
        ("tap", "TCP over TAP: tapstack, offloads off", &|f| {
            tap::throughput(&plan, tap::Peer::TapstackPlain, f)
        }),
        ("tap", "TCP over TAP: smoltcp", &|f| {
            tap::throughput(&plan, tap::Peer::Smoltcp, f)
        }),
        ("tun", "TCP over TUN: tapstack", &|f| {
            tap::throughput_tun(&plan, tap::Peer::Tapstack, f)
        }),
        ("tun", "TCP over TUN: tapstack, offloads off", &|f| {
            tap::throughput_tun(&plan, tap::Peer::TapstackPlain, f)
        }),
        ("tun", "TCP over TUN: smoltcp", &|f| {
            tap::throughput_tun(&plan, tap::Peer::Smoltcp, f)
        }),
        ("veth", "TCP over veth: kernel", &|f| tap::veth(&plan, f)),
        ("ping", "ping over TAP: tapstack", &|f| {
            tap::latency(&plan, tap::PingTarget::Tap(tap::Peer::Tapstack), f)
        }),
        ("ping", "ping over TAP: smoltcp", &|f| {
            tap::latency(&plan, tap::PingTarget::Tap(tap::Peer::Smoltcp), f)
        }),
        ("ping", "ping over TAP: bare echo", &|f| {
            tap::latency(&plan, tap::PingTarget::Bare, f)
        }),
        ("ping", "ping over veth: kernel", &|f| {
            tap::latency(&plan, tap::PingTarget::Veth, f)
        }),
        ("http", "HTTP with wrk: tapstack", &|f| tap::http(&plan, f)),
        ("iperf3", "iperf3 over TAP: tapstack", &|f| {
            iperf3::bench(&plan, f)
        }),
        ("lossy", "TCP over impaired TAP: kernel vs tapstack", &|f| {
            lossy::bench(&plan, f)
        }),
    ];
    for (key, name, scenario) in netns_scenarios {
        if !chosen(key) {
            continue;
        }
        if args.no_netns {
            left_out(&mut figures, name, "--no-netns given");
        } else {
            step(name, || scenario(&mut figures));
        }
    }
    if interrupted() {
        eprintln!("tapstack bench: interrupted; the table has what was measured");
    }

    let seconds = started.elapsed().as_secs_f64();
    print!("{}", report::table(&figures));
    println!();
    println!(
        "Targets: over TAP and TUN at MTU 1500 >= {} Gbit/s each way with offloads, >= {} without; \
         ping RTT over TAP <= 55 us on average; in-memory TCP >= 2x smoltcp -> smoltcp; replay >= 1 M frames/s; 10k connections at \
         <= 4 KiB each; over an impaired TAP link tapstack as sender >= 0.8x the kernel, and <= 0.1 \
         RTOs per MiB at 1% loss. CPU ns per segment: per {SEGMENT_PAYLOAD} payload bytes (a full \
         1500-byte segment).",
        tap::TARGET_OFFLOAD_GBITS,
        tap::TARGET_GBITS
    );

    let info = RunInfo {
        quick: plan.quick,
        runs: plan.runs,
        seconds,
    };
    if let Some(path) = &args.json {
        std::fs::write(path, report::json(&info, &figures))
            .with_context(|| format!("writing {}", path.display()))?;
        println!("JSON written to {}", path.display());
    }
    let plot_path = args
        .plot
        .clone()
        .or_else(|| args.json.as_ref().map(|j| j.with_extension("svg")));
    match plot_path {
        Some(path) => {
            let title = format!(
                "tapstack bench{}: throughput (median of {} run(s))",
                if plan.quick { " --quick" } else { "" },
                plan.runs
            );
            match plot::write(&path, &figures, &title, tap::TARGET_GBITS) {
                Ok(bars) => println!("Plot written to {} ({bars} bars)", path.display()),
                Err(e) => println!("Plot not written to {}: {e:#}", path.display()),
            }
        }
        None => println!("Plot: not written (--plot FILE.svg, or --json FILE for one beside it)"),
    }
    println!("Took {seconds:.0} s.");

    if interrupted() {
        return Ok(ExitCode::from(130));
    }
    let failed = figures.iter().filter(|f| f.failed()).count();
    if failed > 0 {
        eprintln!("tapstack bench: {failed} figure(s) failed; see the table");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
