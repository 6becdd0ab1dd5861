//! The scenarios with the Linux kernel as the peer: TCP throughput over TAP and over TUN
//! (tapstack, and smoltcp on the same device threads; on TUN smoltcp runs `Medium::Ip`) and over a veth pair (kernel to kernel, the ceiling),
//! ping round trips, and HTTP load with `wrk`.
//!
//! Each scenario makes its own namespace(s), starts the stack under test in it as a child
//! (`tapstack up`, or the bench's own smoltcp server), measures, and tears everything down. The
//! kernel's side of a TCP transfer is a thread of the bench that has entered the namespace: it
//! sends to the discard service (port 9) or reads from chargen (port 19), and is timed from the
//! end of the handshake until the peer has everything (its close after ours) or the last byte is
//! read. The stack's CPU time is the scheduler's count over all threads of its process.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use tapstack_testkit::process::missing;
use tapstack_testkit::{Netns, Process};

use super::report::{percentile, Figure, Outcome, Target, GBITS};
use super::{interrupted, Plan, SEGMENT_PAYLOAD};

/// Who the bench's namespaces belong to (`tapstack-bench-PID-N`, warnings).
pub(super) const OWNER: &str = "tapstack bench";
/// The stack's address on the TAP link (`tapstack up`'s default).
pub(super) const STACK_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
/// The kernel's address on the TAP link.
const HOST_IP: &str = "10.77.0.1/24";
/// The TAP device, inside the scenario's namespace.
const TAP: &str = "tap0";
/// The TUN device, inside the scenario's namespace.
const TUN: &str = "tun0";

/// The kind of device the stack under test sits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    /// TAP: Ethernet frames.
    Tap,
    /// TUN: bare IP packets, point-to-point.
    Tun,
}

impl Link {
    fn name(self) -> &'static str {
        match self {
            Link::Tap => "TAP",
            Link::Tun => "TUN",
        }
    }
}
/// The veth pair's addresses, one in each namespace.
const VETH_A: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 1);
const VETH_B: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 2);
const DISCARD: u16 = 9;
const CHARGEN: u16 = 19;
/// How long a stack may take to say it is up.
const READY_WITHIN: Duration = Duration::from_secs(15);
/// Size of each read and write of the kernel-side sockets.
const CHUNK: usize = 256 * 1024;
/// Transfers over veth are this many times larger than over TAP, so that they too last long
/// enough to time.
const VETH_FACTOR: u64 = 4;
/// Socket timeouts: a stalled transfer fails instead of hanging.
pub(super) const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Target over TAP at MTU 1500, each way, without offloads.
pub const TARGET_GBITS: f64 = 6.0;
/// Target over TAP and TUN at MTU 1500, each way, with the virtio-net offloads.
pub const TARGET_OFFLOAD_GBITS: f64 = 20.0;
/// Target for the average ping round trip over TAP.
const TARGET_RTT_US: f64 = 55.0;

/// The stack on the far side of the TAP device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// tapstack with its defaults: the virtio-net offloads when the kernel offers them.
    Tapstack,
    /// tapstack with `--offload off`: every segment cut and every checksum computed by it.
    TapstackPlain,
    Smoltcp,
}

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::Tapstack => "tapstack",
            Peer::TapstackPlain => "tapstack, offloads off",
            Peer::Smoltcp => "smoltcp",
        }
    }

    /// Starts the stack on a fresh TAP device in `ns`, and waits until it answers.
    pub(super) fn start(self, ns: &Netns) -> Result<Process> {
        self.start_on(ns, Link::Tap)
    }

    /// Starts the stack on a fresh device of kind `link` in `ns`, and waits until it answers.
    fn start_on(self, ns: &Netns, link: Link) -> Result<Process> {
        let exe = own_exe()?;
        let offload = match self {
            Peer::TapstackPlain => "off",
            _ => "auto",
        };
        let argv: Vec<&str> = match (self, link) {
            (Peer::Tapstack | Peer::TapstackPlain, Link::Tun) => vec![
                &exe,
                "up",
                "--tun",
                "--dev",
                TUN,
                "--host-ip",
                HOST_IP,
                "--seed",
                "1",
                "--quiet",
                "--offload",
                offload,
            ],
            (Peer::Smoltcp, Link::Tun) => vec![&exe, "bench", "--smoltcp-tun-peer", TUN],
            (Peer::Tapstack | Peer::TapstackPlain, Link::Tap) => {
                tapstack_tap_argv(&exe, "1", &["--offload", offload])
            }
            (Peer::Smoltcp, Link::Tap) => vec![&exe, "bench", "--smoltcp-tap-peer", TAP],
        };
        ns.start_until(&argv, READY, READY_WITHIN, interrupted)
    }
}

/// What a stack under test prints once it answers.
const READY: &str = "is up and answering";

/// The path of this executable, which is also the stack under test.
fn own_exe() -> Result<String> {
    let exe = std::env::current_exe().context("finding the tapstack executable")?;
    exe.into_os_string()
        .into_string()
        .map_err(|_| anyhow!("the path of the executable is not UTF-8"))
}

/// `tapstack up` on a fresh TAP device with the seed `seed`, then `extra`.
fn tapstack_tap_argv<'a>(exe: &'a str, seed: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut argv = vec![
        exe,
        "up",
        "--tap",
        TAP,
        "--host-ip",
        HOST_IP,
        "--arp-probes",
        "0",
        "--seed",
        seed,
        "--quiet",
    ];
    argv.extend_from_slice(extra);
    argv
}

/// Starts `tapstack up` on a fresh TAP device in `ns` with the seed `seed` and the further
/// arguments `extra` (such as `--impair SPEC`), and waits until it answers.
pub(super) fn start_tapstack(ns: &Netns, seed: &str, extra: &[&str]) -> Result<Process> {
    let exe = own_exe()?;
    let argv = tapstack_tap_argv(&exe, seed, extra);
    ns.start_until(&argv, READY, READY_WITHIN, interrupted)
}

/// Sends `bytes` to `addr` (a discard service); returns the time from the end of the handshake
/// until the peer closed after reading everything.
fn send_to(addr: SocketAddr, bytes: u64, limit: Duration) -> Result<Duration> {
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .with_context(|| format!("connecting to {addr}"))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    let buf = vec![0x5au8; CHUNK];
    let start = Instant::now();
    let mut left = bytes;
    while left > 0 {
        if interrupted() {
            bail!("interrupted");
        }
        if start.elapsed() > limit {
            bail!("sent only {} of {bytes} bytes in {limit:?}", bytes - left);
        }
        let want = usize::try_from(left).unwrap_or(CHUNK).min(CHUNK);
        let n = s
            .write(buf.get(..want).unwrap_or_default())
            .with_context(|| format!("sending to {addr} after {} bytes", bytes - left))?;
        if n == 0 {
            bail!("{addr} stopped taking data");
        }
        left -= n as u64;
    }
    s.shutdown(Shutdown::Write)?;
    // Discard closes once it has read everything up to our FIN.
    let mut sink = [0u8; 1024];
    loop {
        if start.elapsed() > limit {
            bail!("{addr} did not close within {limit:?}");
        }
        match s.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).with_context(|| format!("waiting for {addr} to close")),
        }
    }
    Ok(start.elapsed())
}

/// Reads `bytes` from `addr` (a chargen service); returns the time from the end of the handshake
/// until the last byte was read.
fn receive_from(addr: SocketAddr, bytes: u64, limit: Duration) -> Result<Duration> {
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .with_context(|| format!("connecting to {addr}"))?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    let mut buf = vec![0u8; CHUNK];
    let start = Instant::now();
    let mut got = 0u64;
    while got < bytes {
        if interrupted() {
            bail!("interrupted");
        }
        if start.elapsed() > limit {
            bail!("received only {got} of {bytes} bytes in {limit:?}");
        }
        match s.read(&mut buf) {
            Ok(0) => bail!("{addr} closed after {got} of {bytes} bytes"),
            Ok(n) => got += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(e).with_context(|| format!("receiving from {addr} after {got} bytes"))
            }
        }
    }
    let elapsed = start.elapsed();
    let _ = s.shutdown(Shutdown::Both);
    Ok(elapsed)
}

fn gbits(bytes: u64, took: Duration) -> f64 {
    bytes as f64 * 8.0 / took.as_secs_f64().max(1e-9) / 1e9
}

/// One direction's figures over the runs.
#[derive(Default)]
struct Direction {
    gbits: Vec<f64>,
    cpu_ns: Vec<f64>,
}

/// Runs `send` (kernel to stack) or receive (stack to kernel) in `ns` against `stack`,
/// recording Gbit/s and the stack's CPU ns per segment.
fn timed(
    ns: &Netns,
    stack: &mut Process,
    to_stack: bool,
    bytes: u64,
    limit: Duration,
    into: &mut Direction,
) -> Result<()> {
    let cpu_before = stack.cpu();
    let took = kernel_transfer(
        ns,
        SocketAddr::new(IpAddr::V4(STACK_IP), 0),
        to_stack,
        bytes,
        limit,
    )?;
    let cpu = match (cpu_before, stack.cpu()) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    if !stack.running() {
        bail!(
            "the stack exited during the transfer: {}",
            stack.stop_and_tell()
        );
    }
    into.gbits.push(gbits(bytes, took));
    if let Some(cpu) = cpu {
        let segments = (bytes as f64 / SEGMENT_PAYLOAD as f64).max(1.0);
        into.cpu_ns.push(cpu.as_nanos() as f64 / segments);
    }
    Ok(())
}

/// A transfer from a kernel socket in `ns`: to the discard port of `to` when `send`, else from
/// its chargen port. The port of `to` is replaced.
pub(super) fn kernel_transfer(
    ns: &Netns,
    to: SocketAddr,
    send: bool,
    bytes: u64,
    limit: Duration,
) -> Result<Duration> {
    let pending = if send {
        let addr = SocketAddr::new(to.ip(), DISCARD);
        ns.spawn("send", move || send_to(addr, bytes, limit))?
    } else {
        let addr = SocketAddr::new(to.ip(), CHARGEN);
        ns.spawn("receive", move || receive_from(addr, bytes, limit))?
    };
    pending.wait(limit + IO_TIMEOUT * 3)
}

/// Throughput over TAP against `peer`: Gbit/s each way and the stack's CPU ns per segment.
pub fn throughput(plan: &Plan, peer: Peer, figures: &mut Vec<Figure>) {
    throughput_on(plan, peer, Link::Tap, figures);
}

/// Throughput over TUN against `peer` (smoltcp in `Medium::Ip`), as [`throughput`] over TAP.
pub fn throughput_tun(plan: &Plan, peer: Peer, figures: &mut Vec<Figure>) {
    throughput_on(plan, peer, Link::Tun, figures);
}

fn throughput_on(plan: &Plan, peer: Peer, link: Link, figures: &mut Vec<Figure>) {
    let mib = plan.tap_bytes >> 20;
    let scenario = format!(
        "TCP over {}, MTU 1500, {mib} MiB: {}",
        link.name(),
        peer.name()
    );
    let names = [
        (format!("kernel -> {}", peer.name()), GBITS),
        (format!("{} -> kernel", peer.name()), GBITS),
        (
            format!("kernel -> {}, its CPU per segment", peer.name()),
            "ns",
        ),
        (
            format!("{} -> kernel, its CPU per segment", peer.name()),
            "ns",
        ),
    ];
    let outcomes: [Outcome; 4] = match missing(&[]) {
        Some(why) => std::array::from_fn(|_| Outcome::Skipped(why.clone())),
        None => match measure_tap(plan, peer, link) {
            Ok((to_stack, from_stack)) => [
                Outcome::Measured(to_stack.gbits),
                Outcome::Measured(from_stack.gbits),
                cpu_outcome(to_stack.cpu_ns),
                cpu_outcome(from_stack.cpu_ns),
            ],
            Err(e) => {
                let e = format!("{e:#}");
                std::array::from_fn(|_| Outcome::Failed(e.clone()))
            }
        },
    };
    for (i, ((name, unit), outcome)) in names.into_iter().zip(outcomes).enumerate() {
        let mut f = Figure::new(&scenario, &name, unit, outcome);
        if i < 2 {
            f = f.plotted(format!("{}: {name}", link.name()));
        }
        match peer {
            Peer::Tapstack if i < 2 => {
                f = f.with_target(Target::at_least(TARGET_OFFLOAD_GBITS));
            }
            Peer::TapstackPlain if i < 2 => f = f.with_target(Target::at_least(TARGET_GBITS)),
            _ => {}
        }
        figures.push(f);
    }
}

fn cpu_outcome(values: Vec<f64>) -> Outcome {
    if values.is_empty() {
        Outcome::Skipped("the stack's CPU time is not readable (/proc)".to_owned())
    } else {
        Outcome::Measured(values)
    }
}

fn measure_tap(plan: &Plan, peer: Peer, link: Link) -> Result<(Direction, Direction)> {
    let ns = Netns::create(OWNER)?;
    let mut stack = peer.start_on(&ns, link)?;
    let stack_addr = SocketAddr::new(IpAddr::V4(STACK_IP), 0);
    // A first small transfer each way: ARP resolved, first-use costs paid.
    kernel_transfer(&ns, stack_addr, true, 1 << 20, plan.transfer_limit).context("warm-up send")?;
    kernel_transfer(&ns, stack_addr, false, 1 << 20, plan.transfer_limit)
        .context("warm-up receive")?;
    let (mut to_stack, mut from_stack) = (Direction::default(), Direction::default());
    for _ in 0..plan.runs {
        timed(
            &ns,
            &mut stack,
            true,
            plan.tap_bytes,
            plan.transfer_limit,
            &mut to_stack,
        )
        .context("kernel -> stack")?;
        timed(
            &ns,
            &mut stack,
            false,
            plan.tap_bytes,
            plan.transfer_limit,
            &mut from_stack,
        )
        .context("stack -> kernel")?;
    }
    stack.stop_and_tell();
    Ok((to_stack, from_stack))
}

/// Two namespaces joined by a veth pair: (a, b) with VETH_A in a and VETH_B in b.
fn veth_pair() -> Result<(Netns, Netns)> {
    let a = Netns::create(OWNER)?;
    let b = Netns::create(OWNER)?;
    a.add_veth("veth0", &[], &b, "veth1")?;
    a.address("veth0", &format!("{VETH_A}/24"))?;
    b.address("veth1", &format!("{VETH_B}/24"))?;
    Ok((a, b))
}

/// What a kernel server does with a connection.
#[derive(Clone, Copy, Debug)]
enum Serve {
    Discard,
    Chargen,
}

/// Serves one connection on `listener` (waiting at most `limit` for it).
fn serve_one(listener: &TcpListener, how: Serve, limit: Duration) -> Result<()> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + limit;
    let mut s = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    bail!("no connection within {limit:?}");
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e).context("accepting"),
        }
    };
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut buf = vec![0x33u8; CHUNK];
    while Instant::now() < deadline {
        match how {
            Serve::Discard => match s.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e).context("discard"),
            },
            // The reader closes when it has enough: a write error ends the service.
            Serve::Chargen => {
                if s.write_all(&buf).is_err() {
                    return Ok(());
                }
            }
        }
    }
    bail!("the connection outlived {limit:?}")
}

/// Kernel to kernel over veth, both ways: the ceiling for the TAP figures.
pub fn veth(plan: &Plan, figures: &mut Vec<Figure>) {
    let mib = (plan.tap_bytes * VETH_FACTOR) >> 20;
    let scenario = format!("TCP over veth, MTU 1500, {mib} MiB: kernel (ceiling)");
    let names = ["kernel -> kernel (discard)", "kernel -> kernel (chargen)"];
    let outcomes: [Outcome; 2] = match missing(&[]) {
        Some(why) => std::array::from_fn(|_| Outcome::Skipped(why.clone())),
        None => match measure_veth(plan) {
            Ok((to, from)) => [Outcome::Measured(to), Outcome::Measured(from)],
            Err(e) => {
                let e = format!("{e:#}");
                std::array::from_fn(|_| Outcome::Failed(e.clone()))
            }
        },
    };
    for (name, outcome) in names.into_iter().zip(outcomes) {
        figures.push(Figure::new(&scenario, name, GBITS, outcome).plotted(format!("veth: {name}")));
    }
}

fn measure_veth(plan: &Plan) -> Result<(Vec<f64>, Vec<f64>)> {
    let bytes = plan.tap_bytes * VETH_FACTOR;
    let (a, b) = veth_pair()?;
    let listeners = b
        .spawn("listen", || {
            let discard = TcpListener::bind(SocketAddr::new(IpAddr::V4(VETH_B), DISCARD))?;
            let chargen = TcpListener::bind(SocketAddr::new(IpAddr::V4(VETH_B), CHARGEN))?;
            Ok((discard, chargen))
        })?
        .wait(Duration::from_secs(10))?;
    let (discard, chargen) = listeners;
    let to = SocketAddr::new(IpAddr::V4(VETH_B), 0);
    let run = |send: bool, bytes: u64| -> Result<Duration> {
        let listener = if send { &discard } else { &chargen };
        let listener = listener.try_clone()?;
        let how = if send { Serve::Discard } else { Serve::Chargen };
        let limit = plan.transfer_limit;
        let server = std::thread::spawn(move || serve_one(&listener, how, limit + IO_TIMEOUT));
        let took = kernel_transfer(&a, to, send, bytes, limit);
        let served = server
            .join()
            .map_err(|_| anyhow!("the kernel server thread failed"))?;
        let took = took?;
        served?;
        Ok(took)
    };
    run(true, 1 << 20).context("warm-up")?;
    let (mut sent, mut received) = (Vec::new(), Vec::new());
    for _ in 0..plan.runs {
        sent.push(gbits(bytes, run(true, bytes)?));
        received.push(gbits(bytes, run(false, bytes)?));
    }
    drop(b);
    Ok((sent, received))
}

/// Round trips of `count` pings from `ns` to `addr`, in microseconds.
fn ping(ns: &Netns, addr: Ipv4Addr, count: usize, interval: &str) -> Result<Vec<f64>> {
    let ip = addr.to_string();
    // ARP first: a few single pings until one is answered.
    let answered = (0..5).any(|_| {
        ns.run(
            &["ping", "-n", "-c", "1", "-W", "1", &ip],
            b"",
            Duration::from_secs(5),
        )
        .is_ok_and(|o| o.status.success())
    });
    if !answered {
        bail!("{ip} does not answer ping");
    }
    let n = count.to_string();
    let secs = interval.parse::<f64>().unwrap_or(0.01);
    let limit = Duration::from_secs_f64(count as f64 * secs) + Duration::from_secs(10);
    let out = ns.run(
        &["ping", "-n", "-c", &n, "-i", interval, "-W", "1", &ip],
        b"",
        limit,
    )?;
    let rtts = parse_ping(&out.stdout_text());
    if rtts.len() * 10 < count * 9 {
        bail!(
            "only {} of {count} pings to {ip} answered ({}): {}",
            rtts.len(),
            out.status,
            out.stderr.trim()
        );
    }
    Ok(rtts)
}

/// The round trips in `ping` output ("... time=0.052 ms"), in microseconds.
fn parse_ping(text: &str) -> Vec<f64> {
    text.lines()
        .filter_map(|l| {
            let rest = l.split("time=").nth(1)?;
            let mut words = rest.split_whitespace();
            let v: f64 = words.next()?.parse().ok()?;
            let scale = match words.next() {
                Some("ms") | None => 1e3,
                Some("us") | Some("µs") => 1.0,
                Some("s") => 1e6,
                Some(_) => return None,
            };
            Some(v * scale)
        })
        .collect()
}

/// Per run: average, median and 99th percentile of the round trips.
#[derive(Default)]
struct Rtt {
    avg: Vec<f64>,
    median: Vec<f64>,
    p99: Vec<f64>,
    /// Average of closely spaced pings, which find every thread awake.
    busy_avg: Vec<f64>,
}

impl Rtt {
    fn add(&mut self, rtts: &[f64]) {
        if rtts.is_empty() {
            return;
        }
        self.avg.push(rtts.iter().sum::<f64>() / rtts.len() as f64);
        if let Some(m) = super::report::stats(rtts) {
            self.median.push(m.median);
        }
        if let Some(p) = percentile(rtts, 99.0) {
            self.p99.push(p);
        }
    }

    fn add_busy(&mut self, rtts: &[f64]) {
        if !rtts.is_empty() {
            self.busy_avg
                .push(rtts.iter().sum::<f64>() / rtts.len() as f64);
        }
    }
}

/// Pings this far apart keep the threads on both sides awake.
const BUSY_INTERVAL: &str = "0.005";
/// How many of them a run sends.
const BUSY_COUNT: usize = 200;

/// Where the pings go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PingTarget {
    Tap(Peer),
    /// The bare echo responder on TAP: the floor.
    Bare,
    Veth,
}

/// Ping round trips from the kernel: over TAP to a stack, or over veth to the kernel.
pub fn latency(plan: &Plan, target: PingTarget, figures: &mut Vec<Figure>) {
    let scenario = match target {
        PingTarget::Tap(peer) => format!("Ping over TAP: {}", peer.name()),
        PingTarget::Bare => "Ping over TAP: bare echo (poll, read, write the reply)".to_owned(),
        PingTarget::Veth => "Ping over veth: kernel".to_owned(),
    };
    let scenario = format!(
        "{scenario} ({} pings, {} s apart)",
        plan.ping_count, plan.ping_interval
    );
    let outcomes: [Outcome; 4] = match missing(&["ping"]) {
        Some(why) => std::array::from_fn(|_| Outcome::Skipped(why.clone())),
        None => match measure_ping(plan, target) {
            Ok(r) => [
                Outcome::Measured(r.avg),
                Outcome::Measured(r.median),
                Outcome::Measured(r.p99),
                Outcome::Measured(r.busy_avg),
            ],
            Err(e) => {
                let e = format!("{e:#}");
                std::array::from_fn(|_| Outcome::Failed(e.clone()))
            }
        },
    };
    let busy = format!("RTT average of {BUSY_COUNT} more, {BUSY_INTERVAL} s apart");
    let names = ["RTT average", "RTT median", "RTT p99", &busy];
    for (i, (name, outcome)) in names.into_iter().zip(outcomes).enumerate() {
        let mut f = Figure::new(&scenario, name, "us", outcome);
        if target == PingTarget::Tap(Peer::Tapstack) && i == 0 {
            f = f.with_target(Target::at_most(TARGET_RTT_US));
        }
        figures.push(f);
    }
}

fn measure_ping(plan: &Plan, target: PingTarget) -> Result<Rtt> {
    let mut rtt = Rtt::default();
    match target {
        PingTarget::Tap(_) | PingTarget::Bare => {
            let ns = Netns::create(OWNER)?;
            let mut stack = match target {
                PingTarget::Tap(peer) => peer.start(&ns)?,
                _ => {
                    let exe = own_exe()?;
                    let argv = [exe.as_str(), "bench", "--bare-tap-echo", TAP];
                    ns.start_until(&argv, READY, READY_WITHIN, interrupted)?
                }
            };
            for _ in 0..plan.runs {
                rtt.add(&ping(&ns, STACK_IP, plan.ping_count, plan.ping_interval)?);
                rtt.add_busy(&ping(&ns, STACK_IP, BUSY_COUNT, BUSY_INTERVAL)?);
            }
            if !stack.running() {
                bail!("the stack exited: {}", stack.stop_and_tell());
            }
        }
        PingTarget::Veth => {
            let (a, _b) = veth_pair()?;
            for _ in 0..plan.runs {
                rtt.add(&ping(&a, VETH_B, plan.ping_count, plan.ping_interval)?);
                rtt.add_busy(&ping(&a, VETH_B, BUSY_COUNT, BUSY_INTERVAL)?);
            }
        }
    }
    Ok(rtt)
}

/// What one `wrk` run reported.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Wrk {
    requests_per_sec: f64,
    p99_ms: f64,
    errors: u64,
}

/// A duration as `wrk` prints it ("512.00us", "2.41ms", "1.02s"), in milliseconds.
fn wrk_duration(s: &str) -> Option<f64> {
    let (num, scale) = if let Some(v) = s.strip_suffix("us") {
        (v, 1e-3)
    } else if let Some(v) = s.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1e3)
    } else if let Some(v) = s.strip_suffix('m') {
        (v, 60e3)
    } else {
        return None;
    };
    num.parse::<f64>().ok().map(|v| v * scale)
}

fn parse_wrk(text: &str) -> Option<Wrk> {
    let mut w = Wrk::default();
    let mut rps = None;
    let mut p99 = None;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", v] => rps = v.parse::<f64>().ok(),
            ["99%", v] => p99 = wrk_duration(v),
            ["Socket", "errors:", rest @ ..] => {
                w.errors += rest
                    .iter()
                    .filter_map(|x| x.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            ["Non-2xx", "or", "3xx", "responses:", n] => {
                w.errors += n.parse::<u64>().unwrap_or(0);
            }
            _ => {}
        }
    }
    w.requests_per_sec = rps?;
    w.p99_ms = p99?;
    Some(w)
}

/// HTTP load on our `/` with `wrk`: requests per second and the 99th percentile latency.
pub fn http(plan: &Plan, figures: &mut Vec<Figure>) {
    let scenario = format!(
        "HTTP GET / over TAP: tapstack (wrk -t2 -c50, {} s)",
        plan.wrk_secs
    );
    let outcomes: [Outcome; 2] = match missing(&["wrk"]) {
        Some(why) => std::array::from_fn(|_| Outcome::Skipped(why.clone())),
        None => match measure_http(plan) {
            Ok((rps, p99)) => [Outcome::Measured(rps), Outcome::Measured(p99)],
            Err(e) => {
                let e = format!("{e:#}");
                std::array::from_fn(|_| Outcome::Failed(e.clone()))
            }
        },
    };
    let names = [("requests per second", "requests/s"), ("latency p99", "ms")];
    for ((name, unit), outcome) in names.into_iter().zip(outcomes) {
        figures.push(Figure::new(&scenario, name, unit, outcome));
    }
}

fn measure_http(plan: &Plan) -> Result<(Vec<f64>, Vec<f64>)> {
    let ns = Netns::create(OWNER)?;
    let mut stack = Peer::Tapstack.start(&ns)?;
    let url = format!("http://{STACK_IP}/");
    let secs = format!("{}s", plan.wrk_secs);
    let limit = Duration::from_secs(plan.wrk_secs + 20);
    let (mut rps, mut p99) = (Vec::new(), Vec::new());
    for _ in 0..plan.runs {
        if interrupted() {
            bail!("interrupted");
        }
        let out = ns.run(
            &["wrk", "-t2", "-c50", "-d", &secs, "--latency", &url],
            b"",
            limit,
        )?;
        let stdout = out.stdout_text();
        let Some(w) = parse_wrk(&stdout).filter(|_| out.status.success()) else {
            bail!(
                "wrk failed ({}): {} {}",
                out.status,
                stdout.trim(),
                out.stderr.trim()
            );
        };
        if w.errors > 0 {
            eprintln!("tapstack bench: note: wrk saw {} errors", w.errors);
        }
        rps.push(w.requests_per_sec);
        p99.push(w.p99_ms);
    }
    if !stack.running() {
        bail!("the stack exited: {}", stack.stop_and_tell());
    }
    Ok((rps, p99))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_lines_give_microseconds() {
        let text = "PING 10.77.0.2 (10.77.0.2) 56(84) bytes of data.\n\
                    64 bytes from 10.77.0.2: icmp_seq=1 ttl=64 time=0.052 ms\n\
                    64 bytes from 10.77.0.2: icmp_seq=2 ttl=64 time=1.25 ms\n\
                    \n--- 10.77.0.2 ping statistics ---\n\
                    rtt min/avg/max/mdev = 0.052/0.651/1.250/0.599 ms\n";
        let v = parse_ping(text);
        assert_eq!(v.len(), 2);
        assert!(
            (v[0] - 52.0).abs() < 1e-9 && (v[1] - 1250.0).abs() < 1e-9,
            "{v:?}"
        );
    }

    #[test]
    fn wrk_report_is_read() {
        let text = "Running 2s test @ http://10.77.0.2/\n\
  2 threads and 50 connections\n\
  Thread Stats   Avg      Stdev     Max   +/- Stdev\n\
    Latency   612.37us  201.11us   5.88ms   90.00%\n\
    Req/Sec    40.12k     1.20k   42.00k    70.00%\n\
  Latency Distribution\n\
     50%  580.00us\n\
     75%  650.00us\n\
     90%  800.00us\n\
     99%    1.41ms\n\
  160000 requests in 2.00s, 40.00MB read\n\
  Socket errors: connect 0, read 3, write 0, timeout 1\n\
Requests/sec:  79999.50\n\
Transfer/sec:     20.00MB\n";
        let w = parse_wrk(text).unwrap();
        assert_eq!(w.requests_per_sec, 79999.5);
        assert!((w.p99_ms - 1.41).abs() < 1e-9);
        assert_eq!(w.errors, 4);
        assert_eq!(wrk_duration("512.00us"), Some(0.512));
        assert_eq!(wrk_duration("1.50s"), Some(1500.0));
        assert!(parse_wrk("nothing").is_none());
    }
}
