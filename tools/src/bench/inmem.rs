//! TCP bulk transfer over the in-memory wire: tapstack and smoltcp in all four pairings, on a
//! clean and a lossy wire.
//!
//! Both stacks run on one thread under the same driver and the same wire, so the figures compare
//! protocol code, not scheduling: Gbit/s is payload bits over wall time, and CPU ns per segment
//! is the thread's CPU time over the full-size segments the payload fills (1448 bytes each, the
//! payload of a 1500-byte packet with TCP timestamps), wire and driver included.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant as WallClock;

use anyhow::{anyhow, bail, Result};
use smoltcp::iface::{Config as SmolConfig, Interface as SmolIface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp as smol_tcp;
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};
use tapstack::device::impair::ImpairConfig;
use tapstack::device::memory::{Endpoint, Pace, Pair, Wire};
use tapstack::device::Offloads;
use tapstack::tcp::{self, SocketError};
use tapstack::{Config, Instant, Interface, MacAddr};

use super::report::{Figure, Outcome, Target, GBITS};
use super::{interrupted, thread_cpu, Plan, SEGMENT_PAYLOAD};

pub(super) const SENDER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub(super) const RECEIVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub(super) const PORT: u16 = 5001;
pub(super) const MTU: usize = 1500;
pub(super) const BUFFER: usize = 256 * 1024;

fn to_smol(t: Instant) -> SmolInstant {
    SmolInstant::from_micros(i64::try_from(t.micros()).unwrap_or(i64::MAX))
}

fn from_smol(t: SmolInstant) -> Instant {
    Instant::from_micros(u64::try_from(t.total_micros()).unwrap_or(0))
}

/// One end of a transfer: a stack on the wire (an [`Endpoint`]) with one TCP connection and the
/// application on it.
trait Transfer: Endpoint {
    /// Queues as much of `data` as fits; returns how much.
    fn send(&mut self, data: &[u8]) -> usize;
    /// Reads what arrived; returns how much.
    fn recv(&mut self, buf: &mut [u8]) -> usize;
    fn established(&self) -> bool;
    /// The connection's state, for a stall report.
    fn describe(&self) -> String;
}

struct Ours {
    iface: Interface,
    listener: Option<tcp::ListenHandle>,
    conn: Option<tcp::Handle>,
}

pub(super) fn our_config(ip: Ipv4Addr, last: u8) -> Result<Config> {
    let mut c = Config::new(
        MacAddr([2, 0, 0, 0, 0, last]),
        Some(
            format!("{ip}/24")
                .parse()
                .map_err(|e: tapstack::ParseError| anyhow!(e))?,
        ),
    );
    c.seed = u64::from(last);
    c.arp.probe_count = 0;
    c.arp.announce_count = 0;
    c.tcp.rx_buffer = BUFFER;
    c.tcp.tx_buffer = BUFFER;
    c.tcp.max_connections = 65_536;
    c.limits.arp_pending_packets = 1024;
    c.limits.arp_pending_bytes = 4 << 20;
    Ok(c)
}

impl Ours {
    fn server(ip: Ipv4Addr, last: u8, offloads: Offloads) -> Result<Self> {
        let mut iface = Interface::new(our_config(ip, last)?)?;
        iface.set_offloads(offloads);
        let listener = Some(iface.tcp_listen(PORT, 1024)?);
        Ok(Ours {
            iface,
            listener,
            conn: None,
        })
    }

    fn client(
        ip: Ipv4Addr,
        last: u8,
        now: Instant,
        dst: Ipv4Addr,
        offloads: Offloads,
    ) -> Result<Self> {
        let mut iface = Interface::new(our_config(ip, last)?)?;
        iface.set_offloads(offloads);
        iface.poll(now, &mut |_| {});
        let conn = Some(iface.tcp_connect(now, SocketAddr::new(IpAddr::V4(dst), PORT))?);
        Ok(Ours {
            iface,
            listener: None,
            conn,
        })
    }
}

impl Endpoint for Ours {
    fn receive(&mut self, now: Instant, frame: &[u8], emit: &mut dyn FnMut(&[u8])) {
        self.iface.receive(now, frame, emit);
    }

    fn poll(&mut self, now: Instant, emit: &mut dyn FnMut(&[u8])) {
        if self.conn.is_none() {
            if let Some(l) = self.listener {
                self.conn = self.iface.tcp_accept(l);
            }
        }
        self.iface.poll(now, emit);
    }

    fn poll_at(&mut self, _now: Instant) -> Option<Instant> {
        self.iface.poll_at()
    }
}

impl Transfer for Ours {
    fn send(&mut self, data: &[u8]) -> usize {
        self.conn
            .and_then(|h| self.iface.tcp_send(h, data).ok())
            .unwrap_or(0)
    }

    fn recv(&mut self, buf: &mut [u8]) -> usize {
        let Some(h) = self.conn else { return 0 };
        match self.iface.tcp_recv(h, buf) {
            Ok(n) => n,
            Err(SocketError::Closed) | Err(_) => 0,
        }
    }

    fn established(&self) -> bool {
        self.conn
            .and_then(|h| self.iface.tcp_connection(h))
            .is_some_and(|c| c.state() == tcp::State::Established)
    }

    fn describe(&self) -> String {
        format!("{:?}", self.conn.and_then(|h| self.iface.tcp_connection(h)))
    }
}

/// smoltcp's device: frames handed over by the driver, frames collected for it; Ethernet
/// frames unless `medium` says bare IP packets (a TUN device).
#[derive(Default)]
pub(super) struct Queues {
    pub(super) rx: VecDeque<Vec<u8>>,
    pub(super) tx: Vec<Vec<u8>>,
    pub(super) medium: Medium,
}

pub(super) struct RxToken(Vec<u8>);
pub(super) struct TxToken<'a>(&'a mut Vec<Vec<u8>>);

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0; len];
        let r = f(&mut buf);
        self.0.push(buf);
        r
    }
}

impl Device for Queues {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _t: SmolInstant) -> Option<(RxToken, TxToken<'_>)> {
        let frame = self.rx.pop_front()?;
        Some((RxToken(frame), TxToken(&mut self.tx)))
    }

    fn transmit(&mut self, _t: SmolInstant) -> Option<TxToken<'_>> {
        Some(TxToken(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = self.medium;
        caps.max_transmission_unit = match self.medium {
            Medium::Ip => MTU,
            _ => MTU + 14,
        };
        caps
    }
}

struct Smol {
    iface: SmolIface,
    sockets: SocketSet<'static>,
    device: Queues,
    socket: SocketHandle,
}

impl Smol {
    fn new(ip: Ipv4Addr, last: u8, now: Instant) -> Self {
        let mut config = SmolConfig::new(HardwareAddress::Ethernet(EthernetAddress([
            2, 0, 0, 0, 1, last,
        ])));
        config.random_seed = u64::from(last);
        let mut device = Queues::default();
        let mut iface = SmolIface::new(config, &mut device, to_smol(now));
        iface.update_ip_addrs(|a| {
            let o = ip.octets();
            let _ = a.push(IpCidr::new(IpAddress::v4(o[0], o[1], o[2], o[3]), 24));
        });
        let socket = smol_tcp::Socket::new(
            smol_tcp::SocketBuffer::new(vec![0; BUFFER]),
            smol_tcp::SocketBuffer::new(vec![0; BUFFER]),
        );
        let mut sockets = SocketSet::new(Vec::new());
        let socket = sockets.add(socket);
        Smol {
            iface,
            sockets,
            device,
            socket,
        }
    }

    fn server(ip: Ipv4Addr, last: u8, now: Instant) -> Result<Self> {
        let mut s = Smol::new(ip, last, now);
        s.sockets
            .get_mut::<smol_tcp::Socket>(s.socket)
            .listen(PORT)
            .map_err(|e| anyhow!("{e:?}"))?;
        Ok(s)
    }

    fn client(ip: Ipv4Addr, last: u8, now: Instant, dst: Ipv4Addr) -> Result<Self> {
        let mut s = Smol::new(ip, last, now);
        let o = dst.octets();
        let ctx = s.iface.context();
        s.sockets
            .get_mut::<smol_tcp::Socket>(s.socket)
            .connect(ctx, (IpAddress::v4(o[0], o[1], o[2], o[3]), PORT), 40_000)
            .map_err(|e| anyhow!("{e:?}"))?;
        Ok(s)
    }

    fn socket(&mut self) -> &mut smol_tcp::Socket<'static> {
        self.sockets.get_mut::<smol_tcp::Socket>(self.socket)
    }
}

impl Endpoint for Smol {
    fn receive(&mut self, _now: Instant, frame: &[u8], _emit: &mut dyn FnMut(&[u8])) {
        self.device.rx.push_back(frame.to_vec());
    }

    fn poll(&mut self, now: Instant, emit: &mut dyn FnMut(&[u8])) {
        self.iface
            .poll(to_smol(now), &mut self.device, &mut self.sockets);
        for f in self.device.tx.drain(..) {
            emit(&f);
        }
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        if !self.device.rx.is_empty() {
            return Some(now);
        }
        self.iface
            .poll_at(to_smol(now), &self.sockets)
            .map(from_smol)
    }
}

impl Transfer for Smol {
    fn send(&mut self, data: &[u8]) -> usize {
        let s = self.socket();
        if !s.can_send() {
            return 0;
        }
        s.send_slice(data).unwrap_or(0)
    }

    fn recv(&mut self, buf: &mut [u8]) -> usize {
        let s = self.socket();
        if !s.can_recv() {
            return 0;
        }
        s.recv_slice(buf).unwrap_or(0)
    }

    fn established(&self) -> bool {
        self.sockets.get::<smol_tcp::Socket>(self.socket).state() == smol_tcp::State::Established
    }

    fn describe(&self) -> String {
        format!("{:?}", self.sockets.get::<smol_tcp::Socket>(self.socket))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stack {
    Ours,
    Smol,
}

impl Stack {
    fn name(self) -> &'static str {
        match self {
            Stack::Ours => "tapstack",
            Stack::Smol => "smoltcp",
        }
    }
}

/// One run's outcome.
#[derive(Clone, Copy, Debug)]
struct Run {
    gbits: f64,
    cpu_ns_per_segment: f64,
}

fn endpoint(
    stack: Stack,
    server: bool,
    now: Instant,
    offloads: Offloads,
) -> Result<Box<dyn Transfer>> {
    Ok(match (stack, server) {
        (Stack::Ours, true) => Box::new(Ours::server(RECEIVER_IP, 2, offloads)?),
        (Stack::Ours, false) => Box::new(Ours::client(SENDER_IP, 1, now, RECEIVER_IP, offloads)?),
        (Stack::Smol, true) => Box::new(Smol::server(RECEIVER_IP, 2, now)?),
        (Stack::Smol, false) => Box::new(Smol::client(SENDER_IP, 1, now, RECEIVER_IP)?),
    })
}

/// Moves `bytes` from a `sender` client to a `receiver` server over one wire.
fn transfer(
    sender: Stack,
    receiver: Stack,
    bytes: usize,
    impair: Option<&ImpairConfig>,
    seed: u64,
    offload: bool,
) -> Result<Run> {
    let wire = match impair {
        Some(c) => Wire::impaired(MTU, c.clone(), seed),
        None => Wire::new(MTU),
    };
    let wire = if offload { wire.with_offloads() } else { wire };
    let start_at = Instant::from_secs(1);
    let rx = endpoint(receiver, true, start_at, wire.offloads())?;
    let tx = endpoint(sender, false, start_at, wire.offloads())?;
    // The sender is on end A, the receiver on end B; the clock goes straight to the next
    // deadline, 1 ms on when nothing is scheduled.
    let mut pair = Pair::between(wire, tx, rx);
    pair.now = start_at;
    pair.pace = Pace {
        max_step: None,
        when_due: std::time::Duration::ZERO,
        when_idle: std::time::Duration::from_millis(1),
    };
    let pattern: Vec<u8> = (0..65_536u32).map(|i| (i * 7 + i / 256) as u8).collect();
    let mut buf = vec![0u8; 65_536];
    let (mut sent, mut received, mut offset) = (0usize, 0usize, 0usize);
    let deadline = start_at + std::time::Duration::from_secs(3600);
    let start = WallClock::now();
    let cpu_start = thread_cpu();
    let mut steps = 0u64;
    let debug = std::env::var_os("TAPSTACK_BENCH_DEBUG").is_some();
    while received < bytes {
        steps += 1;
        if steps % 4096 == 0 && interrupted() {
            bail!("interrupted");
        }
        if pair.now > deadline || steps > 500_000_000 {
            if debug {
                eprintln!(
                    "sender: {}\nreceiver: {}",
                    pair.a.describe(),
                    pair.b.describe()
                );
            }
            bail!(
                "{} -> {} stalled at {received} of {bytes} bytes (seed {seed})",
                sender.name(),
                receiver.name()
            );
        }
        // The applications act between the delivery of what arrived and the polls, as a
        // host's services do.
        pair.step_with(|tx, rx| {
            if tx.established() && sent < bytes {
                let want = (bytes - sent).min(pattern.len() - offset);
                let n = tx.send(pattern.get(offset..offset + want).unwrap_or_default());
                sent += n;
                offset = (offset + n) % pattern.len();
            }
            loop {
                let n = rx.recv(&mut buf);
                if n == 0 {
                    break;
                }
                received += n;
            }
        });
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = thread_cpu().saturating_sub(cpu_start).as_secs_f64();
    if debug {
        eprintln!(
            "{} -> {}: {steps} steps, virtual {}\nsender: {}\nreceiver: {}",
            sender.name(),
            receiver.name(),
            pair.now,
            pair.a.describe(),
            pair.b.describe()
        );
    }
    let segments = (bytes as f64 / SEGMENT_PAYLOAD as f64).max(1.0);
    Ok(Run {
        gbits: bytes as f64 * 8.0 / secs / 1e9,
        cpu_ns_per_segment: cpu * 1e9 / segments,
    })
}

/// The runs of one pairing, or why they stopped.
type Runs = Result<Vec<Run>, String>;

/// The four pairings, ours first, and ours with the wire's offloads (TSO and receive
/// coalescing, which smoltcp has not: 64 KiB super-frames between two tapstacks).
const PAIRS: [(Stack, Stack, bool); 5] = [
    (Stack::Ours, Stack::Ours, false),
    (Stack::Ours, Stack::Ours, true),
    (Stack::Ours, Stack::Smol, false),
    (Stack::Smol, Stack::Ours, false),
    (Stack::Smol, Stack::Smol, false),
];

/// Measures every pairing on a clean and a lossy wire; adds Gbit/s and CPU ns per segment of each.
pub fn bench(plan: &Plan, figures: &mut Vec<Figure>) -> Result<()> {
    let lossy: ImpairConfig = "loss=1%"
        .parse()
        .map_err(|e: tapstack::ParseError| anyhow!(e))?;
    let clean_size = plan.inmem_bytes;
    let lossy_size = plan.inmem_bytes / 4;
    for (wire_name, short, impair, size) in [
        ("clean", "clean", None, clean_size),
        ("lossy (1% each way)", "lossy", Some(&lossy), lossy_size),
    ] {
        let scenario = format!("TCP bulk in memory, {wire_name}, {} MiB", size >> 20);
        let mut results: Vec<(Stack, Stack, bool, Runs)> = Vec::new();
        for (s, r, offload) in PAIRS {
            let mut runs = Vec::new();
            let mut failure = None;
            for i in 0..plan.runs {
                if interrupted() {
                    failure = Some("interrupted".to_owned());
                    break;
                }
                match transfer(s, r, size, impair, 42 + i as u64, offload) {
                    Ok(run) => runs.push(run),
                    Err(e) => {
                        failure = Some(format!("{e:#}"));
                        break;
                    }
                }
            }
            results.push((s, r, offload, failure.map_or(Ok(runs), Err)));
        }
        // The target: ours at least twice smoltcp-to-smoltcp, on the clean wire, in this run.
        let smol_median = results
            .iter()
            .find(|(s, r, _, _)| (*s, *r) == (Stack::Smol, Stack::Smol))
            .and_then(|(_, _, _, runs)| runs.as_ref().ok())
            .and_then(|runs| {
                super::report::stats(&runs.iter().map(|r| r.gbits).collect::<Vec<_>>())
            })
            .map(|s| s.median);
        for (s, r, offload, runs) in results {
            let name = format!(
                "{} -> {}{}",
                s.name(),
                r.name(),
                if offload { ", offloads" } else { "" }
            );
            let (gbits, cpu) = match runs {
                Ok(runs) => (
                    Outcome::Measured(runs.iter().map(|r| r.gbits).collect()),
                    Outcome::Measured(runs.iter().map(|r| r.cpu_ns_per_segment).collect()),
                ),
                Err(e) => (Outcome::Failed(e.clone()), Outcome::Failed(e)),
            };
            let mut figure = Figure::new(&scenario, &name, GBITS, gbits)
                .plotted(format!("memory, {short}: {name}"));
            if let (Some(smol), None, (Stack::Ours, Stack::Ours)) = (smol_median, impair, (s, r)) {
                figure = figure.with_target(Target {
                    label: format!(">= 2x smoltcp -> smoltcp ({:.2})", 2.0 * smol),
                    ..Target::at_least(2.0 * smol)
                });
            }
            figures.push(figure);
            figures.push(Figure::new(
                &scenario,
                &format!("{name}, CPU per segment"),
                "ns",
                cpu,
            ));
        }
    }
    Ok(())
}
