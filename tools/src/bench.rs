//! `tapstack bench`: TCP bulk transfer over the in-memory wire, tapstack and smoltcp side by side
//! in one run, and the memory an idle connection costs.
//!
//! Both stacks run on one thread under the same driver and the same wire, so the figures compare
//! protocol code, not scheduling: Gbit/s is payload bits over wall time, and ns per segment is
//! wall time over data segments sent.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Instant as WallClock;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use smoltcp::iface::{Config as SmolConfig, Interface as SmolIface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp as smol_tcp;
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};
use tapstack::device::impair::ImpairConfig;
use tapstack::device::memory::{End, Wire};
use tapstack::tcp::{self, SocketError};
use tapstack::time::earliest;
use tapstack::{Config, Instant, Interface, MacAddr};

use crate::alloc;

/// Options of `tapstack bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A short run (under a minute) that checks the harness; figures are rough.
    #[arg(long)]
    quick: bool,
    /// Runs per scenario (min/median/max are reported).
    #[arg(long)]
    runs: Option<usize>,
    /// Also write the figures as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

const SENDER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const RECEIVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PORT: u16 = 5001;
const MTU: usize = 1500;
const BUFFER: usize = 256 * 1024;

fn to_smol(t: Instant) -> SmolInstant {
    SmolInstant::from_micros(i64::try_from(t.micros()).unwrap_or(i64::MAX))
}

fn from_smol(t: SmolInstant) -> Instant {
    Instant::from_micros(u64::try_from(t.total_micros()).unwrap_or(0))
}

/// One end of a transfer: a stack with one TCP connection and the application on it.
trait Endpoint {
    fn receive(&mut self, now: Instant, frame: &[u8], out: &mut Vec<Vec<u8>>);
    fn poll(&mut self, now: Instant, out: &mut Vec<Vec<u8>>);
    fn poll_at(&mut self, now: Instant) -> Option<Instant>;
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

fn our_config(ip: Ipv4Addr, last: u8) -> Result<Config> {
    let mut c = Config::new(
        MacAddr([2, 0, 0, 0, 0, last]),
        Some(format!("{ip}/24").parse().map_err(|e: String| anyhow!(e))?),
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
    fn server(ip: Ipv4Addr, last: u8) -> Result<Self> {
        let mut iface = Interface::new(our_config(ip, last)?)?;
        let listener = Some(iface.tcp_listen(PORT, 1024)?);
        Ok(Ours {
            iface,
            listener,
            conn: None,
        })
    }

    fn client(ip: Ipv4Addr, last: u8, now: Instant, dst: Ipv4Addr) -> Result<Self> {
        let mut iface = Interface::new(our_config(ip, last)?)?;
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
    fn receive(&mut self, now: Instant, frame: &[u8], out: &mut Vec<Vec<u8>>) {
        self.iface
            .receive(now, frame, &mut |f| out.push(f.to_vec()));
    }

    fn poll(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        if self.conn.is_none() {
            if let Some(l) = self.listener {
                self.conn = self.iface.tcp_accept(l);
            }
        }
        self.iface.poll(now, &mut |f| out.push(f.to_vec()));
    }

    fn poll_at(&mut self, _now: Instant) -> Option<Instant> {
        self.iface.poll_at()
    }

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

/// smoltcp's device: frames handed over by the driver, frames collected for it.
#[derive(Default)]
struct Queues {
    rx: VecDeque<Vec<u8>>,
    tx: Vec<Vec<u8>>,
}

struct RxToken(Vec<u8>);
struct TxToken<'a>(&'a mut Vec<Vec<u8>>);

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
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MTU + 14;
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
    fn receive(&mut self, _now: Instant, frame: &[u8], _out: &mut Vec<Vec<u8>>) {
        self.device.rx.push_back(frame.to_vec());
    }

    fn poll(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        self.iface
            .poll(to_smol(now), &mut self.device, &mut self.sockets);
        out.append(&mut self.device.tx);
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        if !self.device.rx.is_empty() {
            return Some(now);
        }
        self.iface
            .poll_at(to_smol(now), &self.sockets)
            .map(from_smol)
    }

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
    ns_per_segment: f64,
}

fn endpoint(stack: Stack, server: bool, now: Instant) -> Result<Box<dyn Endpoint>> {
    Ok(match (stack, server) {
        (Stack::Ours, true) => Box::new(Ours::server(RECEIVER_IP, 2)?),
        (Stack::Ours, false) => Box::new(Ours::client(SENDER_IP, 1, now, RECEIVER_IP)?),
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
) -> Result<Run> {
    let mut wire = match impair {
        Some(c) => Wire::impaired(MTU, c.clone(), seed),
        None => Wire::new(MTU),
    };
    let mut now = Instant::from_secs(1);
    let mut rx = endpoint(receiver, true, now)?;
    let mut tx = endpoint(sender, false, now)?;
    let pattern: Vec<u8> = (0..65_536u32).map(|i| (i * 7 + i / 256) as u8).collect();
    let mut buf = vec![0u8; 65_536];
    let (mut sent, mut received, mut offset) = (0usize, 0usize, 0usize);
    let mut out = Vec::new();
    let mut data_segments = 0u64;
    let deadline = now + std::time::Duration::from_secs(3600);
    let start = WallClock::now();
    let mut steps = 0u64;
    while received < bytes {
        steps += 1;
        if now > deadline || steps > 500_000_000 {
            if std::env::var_os("TAPSTACK_BENCH_DEBUG").is_some() {
                eprintln!("sender: {}\nreceiver: {}", tx.describe(), rx.describe());
            }
            bail!(
                "{} -> {} stalled at {received} of {bytes} bytes (seed {seed})",
                sender.name(),
                receiver.name()
            );
        }
        while let Some(f) = wire.recv(End::B, now) {
            rx.receive(now, &f, &mut out);
            for f in out.drain(..) {
                wire.send(End::B, now, &f);
            }
        }
        while let Some(f) = wire.recv(End::A, now) {
            tx.receive(now, &f, &mut out);
            for f in out.drain(..) {
                data_segments += u64::from(f.len() > 100);
                wire.send(End::A, now, &f);
            }
        }
        if tx.established() && sent < bytes {
            let want = (bytes - sent).min(pattern.len() - offset);
            let n = tx.send(&pattern[offset..offset + want]);
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
        tx.poll(now, &mut out);
        for f in out.drain(..) {
            data_segments += u64::from(f.len() > 100);
            wire.send(End::A, now, &f);
        }
        rx.poll(now, &mut out);
        for f in out.drain(..) {
            wire.send(End::B, now, &f);
        }
        let next = earliest(earliest(tx.poll_at(now), rx.poll_at(now)), wire.poll_at());
        now = match next {
            Some(t) if t > now => t,
            Some(_) => now,
            None => now + std::time::Duration::from_millis(1),
        };
    }
    let secs = start.elapsed().as_secs_f64();
    if std::env::var_os("TAPSTACK_BENCH_DEBUG").is_some() {
        eprintln!("{} -> {}: {data_segments} data segments, {steps} steps, virtual {now}\nsender: {}\nreceiver: {}", sender.name(), receiver.name(), tx.describe(), rx.describe());
    }
    Ok(Run {
        gbits: bytes as f64 * 8.0 / secs / 1e9,
        ns_per_segment: secs * 1e9 / data_segments.max(1) as f64,
    })
}

/// Heap bytes an idle established connection costs: `count` connections between two of our
/// stacks, measured by the allocator, over both ends.
fn idle_connection_memory(count: usize) -> Result<f64> {
    let mut wire = Wire::new(MTU);
    let mut now = Instant::from_secs(1);
    let mut server = Interface::new(our_config(RECEIVER_IP, 2)?)?;
    let mut client = Interface::new(our_config(SENDER_IP, 1)?)?;
    let listener = server.tcp_listen(PORT, count)?;
    let before = alloc::allocated();
    let mut accepted = Vec::with_capacity(count);
    let mut conns = Vec::with_capacity(count);
    let mut steps = 0u64;
    while accepted.len() < count {
        steps += 1;
        if steps > 10_000_000 {
            bail!("only {} of {count} connections came up", accepted.len());
        }
        if conns.len() < count && client.ipv4().is_some() {
            for _ in 0..64.min(count - conns.len()) {
                conns
                    .push(client.tcp_connect(now, SocketAddr::new(IpAddr::V4(RECEIVER_IP), PORT))?);
            }
        }
        while let Some(f) = wire.recv(End::B, now) {
            server.receive(now, &f, &mut |o| wire.send(End::B, now, o));
        }
        while let Some(f) = wire.recv(End::A, now) {
            client.receive(now, &f, &mut |o| wire.send(End::A, now, o));
        }
        client.poll(now, &mut |o| wire.send(End::A, now, o));
        server.poll(now, &mut |o| wire.send(End::B, now, o));
        while let Some(h) = server.tcp_accept(listener) {
            accepted.push(h);
        }
        let next = earliest(earliest(client.poll_at(), server.poll_at()), wire.poll_at());
        now = match next {
            Some(t) if t > now => t,
            _ => now + std::time::Duration::from_micros(10),
        };
    }
    // Let the last ACKs settle so that every connection is idle.
    for _ in 0..100 {
        client.poll(now, &mut |o| wire.send(End::A, now, o));
        server.poll(now, &mut |o| wire.send(End::B, now, o));
        while let Some(f) = wire.recv(End::B, now) {
            server.receive(now, &f, &mut |o| wire.send(End::B, now, o));
        }
        while let Some(f) = wire.recv(End::A, now) {
            client.receive(now, &f, &mut |o| wire.send(End::A, now, o));
        }
        now = now + std::time::Duration::from_millis(50);
    }
    let used = alloc::allocated().saturating_sub(before);
    let per = used as f64 / (2 * count) as f64;
    drop((conns, accepted));
    Ok(per)
}

/// Replay speed: `count` frames (an ARP request, then echo requests and UDP echo datagrams from
/// one peer, 1 µs apart) through the replay driver, our answers counted but not written.
fn replay_speed(count: usize) -> Result<f64> {
    use tapstack::device::capture::Record;
    use tapstack::ipv4::{self, EmitRepr, Protocol};
    let ours = MacAddr([2, 0, 0, 0, 0, 2]);
    let peer = MacAddr([2, 0, 0, 0, 0, 1]);
    let eth = |ether_type: u16, body: &[u8]| {
        let mut f = Vec::with_capacity(14 + body.len());
        f.extend_from_slice(&ours.0);
        f.extend_from_slice(&peer.0);
        f.extend_from_slice(&ether_type.to_be_bytes());
        f.extend_from_slice(body);
        f
    };
    let arp = tapstack::arp::Repr::request(peer, SENDER_IP, RECEIVER_IP).to_bytes();
    let mut frames = vec![{
        let mut f = eth(0x0806, &arp);
        f[..6].copy_from_slice(&MacAddr::BROADCAST.0);
        f
    }];
    for i in 0..64u16 {
        let mut icmp = Vec::new();
        tapstack::icmp::write_echo_request(&mut icmp, 7, i, &[0x5a; 56]);
        let repr = EmitRepr {
            src: SENDER_IP,
            dst: RECEIVER_IP,
            protocol: Protocol::Icmp,
            ttl: 64,
            ident: i,
            dont_fragment: false,
        };
        let mut ip = Vec::new();
        ipv4::write_header(&mut ip, &repr, icmp.len(), 0, false);
        ip.extend_from_slice(&icmp);
        frames.push(eth(0x0800, &ip));
        let mut udp = Vec::new();
        let from = std::net::SocketAddrV4::new(SENDER_IP, 40_000);
        let to = std::net::SocketAddrV4::new(RECEIVER_IP, 7);
        tapstack::udp::write(&mut udp, from, to, &[0xa5; 32]);
        let repr = EmitRepr {
            protocol: Protocol::Udp,
            ..repr
        };
        let mut ip = Vec::new();
        ipv4::write_header(&mut ip, &repr, udp.len(), 0, false);
        ip.extend_from_slice(&udp);
        frames.push(eth(0x0800, &ip));
    }
    let mut config = our_config(RECEIVER_IP, 2)?;
    config.mac = ours;
    let host = tapstack::Host::with_standard_services(Interface::new(config)?)?;
    let mut driver = tapstack::replay::Driver::new(host, tapstack::replay::Options::default());
    let mut sent = 0u64;
    let mut sink = |_: std::time::Duration, _: tapstack::device::Direction, _: &[u8]| sent += 1;
    let start = WallClock::now();
    let mut record = Record {
        timestamp: std::time::Duration::ZERO,
        data: Vec::new(),
        orig_len: 0,
        direction: None,
    };
    for i in 0..count {
        let f = if i == 0 {
            &frames[0]
        } else {
            &frames[1 + (i - 1) % (frames.len() - 1)]
        };
        record.timestamp = std::time::Duration::from_micros(i as u64);
        record.data.clear();
        record.data.extend_from_slice(f);
        record.orig_len = f.len() as u32;
        driver.push(&record, &mut sink);
    }
    driver.finish(&mut sink);
    let secs = start.elapsed().as_secs_f64();
    if sent < count as u64 / 2 {
        bail!("replay answered only {sent} of {count} frames");
    }
    Ok(count as f64 / secs)
}

fn stats(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let min = values.first().copied().unwrap_or(0.0);
    let max = values.last().copied().unwrap_or(0.0);
    let median = values.get(values.len() / 2).copied().unwrap_or(0.0);
    (min, median, max)
}

/// Runs the benchmark and prints the table.
pub fn run(args: BenchArgs) -> Result<std::process::ExitCode> {
    let runs = args.runs.unwrap_or(if args.quick { 1 } else { 3 }).max(1);
    let bytes: usize = if args.quick { 16 << 20 } else { 256 << 20 };
    let lossy_bytes = bytes / 4;
    let lossy: ImpairConfig = "loss=1%".parse().map_err(|e: String| anyhow!(e))?;
    let pairs = [
        (Stack::Ours, Stack::Ours),
        (Stack::Ours, Stack::Smol),
        (Stack::Smol, Stack::Ours),
        (Stack::Smol, Stack::Smol),
    ];
    println!(
        "# tapstack bench{}",
        if args.quick { " --quick" } else { "" }
    );
    println!();
    println!(
        "In-memory TCP bulk transfer, MTU {MTU}, {BUFFER}-byte socket buffers, {runs} run(s) each;"
    );
    println!("clean: {} MiB, lossy (loss=1% both ways): {} MiB. Single thread, both stacks and the wire.", bytes >> 20, lossy_bytes >> 20);
    println!();
    println!("| sender -> receiver | wire | Gbit/s min | median | max | ns/segment (median) |");
    println!("|---|---|---:|---:|---:|---:|");
    let mut json = Vec::new();
    for (wire_name, impair, size) in [("clean", None, bytes), ("lossy", Some(&lossy), lossy_bytes)]
    {
        for (s, r) in pairs {
            let mut gbits = Vec::new();
            let mut ns = Vec::new();
            for i in 0..runs {
                let run = transfer(s, r, size, impair, 42 + i as u64)
                    .with_context(|| format!("{} -> {} ({wire_name})", s.name(), r.name()))?;
                gbits.push(run.gbits);
                ns.push(run.ns_per_segment);
            }
            let (min, med, max) = stats(&mut gbits);
            let (_, ns_med, _) = stats(&mut ns);
            println!(
                "| {} -> {} | {wire_name} | {min:.2} | {med:.2} | {max:.2} | {ns_med:.0} |",
                s.name(),
                r.name()
            );
            json.push(format!(
                "{{\"scenario\":\"tcp-bulk\",\"sender\":\"{}\",\"receiver\":\"{}\",\"wire\":\"{wire_name}\",\"gbits_min\":{min:.3},\"gbits_median\":{med:.3},\"gbits_max\":{max:.3},\"ns_per_segment\":{ns_med:.1}}}",
                s.name(),
                r.name()
            ));
        }
    }
    let frames = if args.quick { 100_000 } else { 1_000_000 };
    let mut rates: Vec<f64> = (0..runs)
        .map(|_| replay_speed(frames))
        .collect::<Result<_>>()?;
    let (rmin, rmed, rmax) = stats(&mut rates);
    println!();
    println!(
        "Replay: {frames} frames (pings and UDP echoes, 1 us apart) through the replay driver: {:.2} / {:.2} / {:.2} M frames/s (min / median / max).",
        rmin / 1e6,
        rmed / 1e6,
        rmax / 1e6
    );
    json.push(format!("{{\"scenario\":\"replay\",\"frames\":{frames},\"fps_min\":{rmin:.0},\"fps_median\":{rmed:.0},\"fps_max\":{rmax:.0}}}"));
    let count = if args.quick { 1000 } else { 10_000 };
    let per = idle_connection_memory(count)?;
    println!();
    println!("Idle TCP connection: {per:.0} bytes of heap each ({count} established connections, both ends counted).");
    json.push(format!("{{\"scenario\":\"idle-connection-memory\",\"connections\":{count},\"bytes_each\":{per:.0}}}"));
    if let Some(path) = args.json {
        std::fs::write(&path, format!("[{}]\n", json.join(",\n")))
            .with_context(|| format!("writing {}", path.display()))?;
        println!("JSON written to {}", path.display());
    }
    Ok(std::process::ExitCode::SUCCESS)
}
