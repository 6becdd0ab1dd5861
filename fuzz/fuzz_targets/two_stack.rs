//! Two stacks on the in-memory wire: ours (every service on) and smoltcp, with a fuzzed
//! impairment schedule: each frame, in either direction, is delivered, dropped, duplicated,
//! delayed, truncated or has one bit flipped (frames to us only: smoltcp built for fuzzing does
//! not verify checksums), as the input says.
//!
//! Two transfers run at once: smoltcp's client sends bytes to our TCP echo service and reads
//! the echo; our client sends a pattern to smoltcp's listener. What must hold: the bytes each
//! side receives are always a prefix of what was sent (never silently wrong bytes); after the
//! schedule runs out the link is clean, and within five virtual minutes each transfer either
//! completes or one side reports an error. Every frame we emit is checked as in the
//! conversation target, and the invariants hold after every round.
#![no_main]

use std::collections::VecDeque;
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use smoltcp::iface::{Config as SmolConfig, Interface as SmolIface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp as smol_tcp;
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};
use tapstack::{Host, Instant};
use tapstack_fuzz::{check_emitted, config, host, Invariants, OUR_IP, PEER_IP, PEER_MAC};

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Fate {
    Deliver,
    Drop,
    Duplicate,
    /// Held back this many milliseconds (later frames overtake it).
    Delay(u8),
    /// Cut to this many bytes.
    Truncate(u16),
    /// One bit flipped: always caught by the Internet checksum (RFC 1071) or the Ethernet
    /// filter, so it must never reach an application.
    Flip(u16),
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// The fate of each frame in turn; once used up, or after 30 virtual seconds, the link is
    /// clean.
    schedule: Vec<Fate>,
    /// Bytes smoltcp sends to our echo service (repeated up to `echo_len`).
    echo_seed: Vec<u8>,
    echo_len: u16,
    /// Bytes our client sends to smoltcp.
    push_len: u16,
    /// Read sizes of the applications, in turn (each reads until nothing is left).
    reads: Vec<u16>,
}

/// Ends of the wire.
const OURS: usize = 0;
const SMOL: usize = 1;

struct Wire {
    schedule: Vec<Fate>,
    next: usize,
    /// Frames in flight: (due, order, to, bytes).
    flight: Vec<(Instant, u64, usize, Vec<u8>)>,
    order: u64,
    /// From then on the link is clean, whatever is left of the schedule.
    clean_from: Instant,
}

impl Wire {
    fn send(&mut self, to: usize, now: Instant, frame: &[u8]) {
        let fate = if now < self.clean_from {
            self.schedule
                .get(self.next)
                .copied()
                .unwrap_or(Fate::Deliver)
        } else {
            Fate::Deliver
        };
        self.next += 1;
        let mut put = |due: Instant, bytes: Vec<u8>| {
            self.order += 1;
            if self.flight.len() < 4096 {
                self.flight.push((due, self.order, to, bytes));
            }
        };
        match fate {
            Fate::Deliver => put(now, frame.to_vec()),
            Fate::Drop => {}
            Fate::Duplicate => {
                put(now, frame.to_vec());
                put(now, frame.to_vec());
            }
            Fate::Delay(ms) => put(now + Duration::from_millis(u64::from(ms)), frame.to_vec()),
            Fate::Truncate(n) => put(now, frame[..usize::from(n) % (frame.len() + 1)].to_vec()),
            // smoltcp built for fuzzing (`cfg(fuzzing)`) skips checksum verification, so a
            // corrupted frame would reach its sockets: frames to it are dropped instead.
            Fate::Flip(_) if to == SMOL => {}
            Fate::Flip(bit) => {
                let mut f = frame.to_vec();
                let bit = usize::from(bit) % (f.len() * 8);
                f[bit / 8] ^= 1 << (bit % 8);
                put(now, f);
            }
        }
    }

    /// The next frame due at `to` by `now`, oldest first.
    fn recv(&mut self, to: usize, now: Instant) -> Option<Vec<u8>> {
        let i = self
            .flight
            .iter()
            .enumerate()
            .filter(|(_, (due, _, t, _))| *t == to && *due <= now)
            .min_by_key(|(_, (due, order, _, _))| (*due, *order))
            .map(|(i, _)| i)?;
        Some(self.flight.swap_remove(i).3)
    }

    fn next_due(&self) -> Option<Instant> {
        self.flight.iter().map(|f| f.0).min()
    }
}

fn to_smol(t: Instant) -> SmolInstant {
    SmolInstant::from_micros(i64::try_from(t.micros()).unwrap_or(i64::MAX))
}

struct Inbox<'a> {
    frames: &'a mut VecDeque<Vec<u8>>,
    out: &'a mut Vec<Vec<u8>>,
}

struct Rx(Vec<u8>);
struct Tx<'a>(&'a mut Vec<Vec<u8>>);

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0; len];
        let r = f(&mut buf);
        self.0.push(buf);
        r
    }
}

impl Device for Inbox<'_> {
    type RxToken<'a>
        = Rx
    where
        Self: 'a;
    type TxToken<'a>
        = Tx<'a>
    where
        Self: 'a;

    fn receive(&mut self, _t: SmolInstant) -> Option<(Rx, Tx<'_>)> {
        let f = self.frames.pop_front()?;
        Some((Rx(f), Tx(self.out)))
    }

    fn transmit(&mut self, _t: SmolInstant) -> Option<Tx<'_>> {
        Some(Tx(self.out))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = 1514;
        caps
    }
}

struct Smol {
    iface: SmolIface,
    sockets: SocketSet<'static>,
    inbox: VecDeque<Vec<u8>>,
    client: SocketHandle,
    server: SocketHandle,
}

impl Smol {
    fn new(now: Instant) -> Smol {
        let mut config = SmolConfig::new(HardwareAddress::Ethernet(EthernetAddress(PEER_MAC.0)));
        config.random_seed = 7;
        let mut inbox = VecDeque::new();
        let mut out = Vec::new();
        let mut dev = Inbox {
            frames: &mut inbox,
            out: &mut out,
        };
        let mut iface = SmolIface::new(config, &mut dev, to_smol(now));
        iface.update_ip_addrs(|a| {
            let _ = a.push(IpCidr::new(IpAddress::Ipv4(PEER_IP), 24));
        });
        let socket = || {
            smol_tcp::Socket::new(
                smol_tcp::SocketBuffer::new(vec![0; 16 * 1024]),
                smol_tcp::SocketBuffer::new(vec![0; 16 * 1024]),
            )
        };
        let mut sockets = SocketSet::new(Vec::new());
        let mut client = socket();
        let ours = IpAddress::Ipv4(OUR_IP);
        if client.connect(iface.context(), (ours, 7), 49152).is_err() {
            panic!("smoltcp connect");
        }
        let mut server = socket();
        if server.listen(5000).is_err() {
            panic!("smoltcp listen");
        }
        let client = sockets.add(client);
        let server = sockets.add(server);
        Smol {
            iface,
            sockets,
            inbox,
            client,
            server,
        }
    }

    fn poll(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        let mut dev = Inbox {
            frames: &mut self.inbox,
            out,
        };
        self.iface.poll(to_smol(now), &mut dev, &mut self.sockets);
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        let at = self.iface.poll_at(to_smol(now), &self.sockets)?;
        Some(Instant::from_micros(
            u64::try_from(at.total_micros()).unwrap_or(0),
        ))
    }
}

/// A line about a frame, for `FUZZ_TRACE=1` runs.
fn summary(f: &[u8]) -> String {
    match etherparse::SlicedPacket::from_ethernet(f) {
        Ok(p) => match p.transport {
            Some(etherparse::TransportSlice::Tcp(t)) => format!(
                "TCP {}>{} seq {} ack {} {}{}{}{} win {} len {}",
                t.source_port(),
                t.destination_port(),
                t.sequence_number(),
                t.acknowledgment_number(),
                if t.syn() { "S" } else { "" },
                if t.ack() { "A" } else { "" },
                if t.fin() { "F" } else { "" },
                if t.rst() { "R" } else { "" },
                t.window_size(),
                t.payload().len()
            ),
            _ => format!("{} bytes", f.len()),
        },
        Err(e) => format!("{} bytes, {e:?}", f.len()),
    }
}

/// Byte `i` of what our client sends.
fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

fuzz_target!(|input: Input| {
    let trace = std::env::var_os("FUZZ_TRACE").is_some();
    if trace {
        eprintln!("{input:?}");
    }
    let echo: Vec<u8> = if input.echo_seed.is_empty() {
        Vec::new()
    } else {
        input
            .echo_seed
            .iter()
            .copied()
            .cycle()
            .take(usize::from(input.echo_len % 12_000))
            .collect()
    };
    let push_total = usize::from(input.push_len % 12_000);
    let start = Instant::from_secs(1);
    let mut wire = Wire {
        schedule: input.schedule.iter().copied().take(512).collect(),
        next: 0,
        flight: Vec::new(),
        order: 0,
        clean_from: start + Duration::from_secs(30),
    };

    let config = config();
    let mtu = config.mtu;
    let mut now = start;
    let mut ours: Host = host(config);
    let mut smol = Smol::new(now);
    let mut invariants = Invariants::default();
    // The first poll starts the interface (its address claimed), then our client connects.
    ours.poll(now, &mut |out| {
        check_emitted(out, mtu);
        wire.send(SMOL, now, out);
    });
    let peer = std::net::SocketAddr::from((PEER_IP, 5000));
    let Ok(mine) = ours.iface_mut().tcp_connect(now, peer) else {
        panic!("our connect");
    };
    let (mut echo_sent, mut echo_back) = (0usize, Vec::new());
    let (mut pushed, mut pushed_got) = (0usize, 0usize);
    let mut reads = input
        .reads
        .iter()
        .cycle()
        .map(|r| usize::from(*r % 8192) + 1);
    let mut buf = vec![0u8; 8192];
    // Once the schedule has run out the link is clean; from then on every retransmission timer
    // (ours backs off to `max_rto`, 60 s) fires within this time, so each transfer completes or
    // fails.
    let clean_time = Duration::from_secs(300);
    let mut deadline = now + clean_time;
    let mut clean = false;
    let mut rounds = 0;
    while now <= deadline && rounds < 50_000 {
        rounds += 1;
        if !clean && (wire.next >= wire.schedule.len() || now >= wire.clean_from) {
            clean = true;
            deadline = now + clean_time;
        }
        // Frames due now.
        while let Some(f) = wire.recv(OURS, now) {
            if trace {
                eprintln!("{now} -> ours {}", summary(&f));
            }
            ours.receive(now, &f, &mut |out| {
                check_emitted(out, mtu);
                wire.send(SMOL, now, out);
            });
        }
        while let Some(f) = wire.recv(SMOL, now) {
            if trace {
                eprintln!("{now} -> smoltcp {}", summary(&f));
            }
            smol.inbox.push_back(f);
        }
        // Applications.
        {
            let s = smol.sockets.get_mut::<smol_tcp::Socket>(smol.client);
            if s.may_send() && echo_sent < echo.len() {
                echo_sent += s.send_slice(&echo[echo_sent..]).unwrap_or(0);
            }
            for _ in 0..64 {
                let n = reads.next().unwrap_or(8192);
                let got = s.recv_slice(&mut buf[..n]).unwrap_or(0);
                if got == 0 {
                    break;
                }
                echo_back.extend_from_slice(&buf[..got]);
                assert!(echo_back.len() <= echo_sent, "echo of bytes never sent");
                assert_eq!(
                    echo_back[..],
                    echo[..echo_back.len()],
                    "echo differs from what was sent"
                );
            }
            let s = smol.sockets.get_mut::<smol_tcp::Socket>(smol.server);
            for _ in 0..64 {
                let n = reads.next().unwrap_or(8192);
                let got = s.recv_slice(&mut buf[..n]).unwrap_or(0);
                if got == 0 {
                    break;
                }
                for (k, b) in buf[..got].iter().enumerate() {
                    assert_eq!(*b, pattern(pushed_got + k), "smoltcp received a wrong byte");
                }
                pushed_got += got;
                assert!(pushed_got <= pushed, "smoltcp received bytes never sent");
            }
        }
        if pushed < push_total {
            let chunk: Vec<u8> = (pushed..push_total.min(pushed + 4096))
                .map(pattern)
                .collect();
            if let Ok(n) = ours.iface_mut().tcp_send(mine, &chunk) {
                pushed += n;
            }
        } else if pushed == push_total {
            ours.iface_mut().tcp_shutdown(mine);
            pushed += 1; // shut down once
        }
        // Both stacks run their timers and send.
        ours.poll(now, &mut |out| {
            check_emitted(out, mtu);
            wire.send(SMOL, now, out);
        });
        while ours.iface_mut().poll_event().is_some() {}
        let mut out = Vec::new();
        smol.poll(now, &mut out);
        for f in out {
            wire.send(OURS, now, &f);
        }
        invariants.check(&ours);

        let echo_done = echo_back.len() == echo.len();
        let push_done = pushed_got == push_total;
        if echo_done && push_done {
            break;
        }
        // Next instant: the earliest deadline, at least 1 ms on.
        let mut next = now + Duration::from_millis(250);
        for t in [wire.next_due(), ours.poll_at(), smol.poll_at(now)]
            .into_iter()
            .flatten()
        {
            if t < next {
                next = t;
            }
        }
        if !smol.inbox.is_empty() {
            next = now;
        }
        now = if next > now {
            next
        } else {
            now + Duration::from_micros(100)
        };
    }

    if trace {
        for c in ours.iface().tcp().iter() {
            eprintln!(
                "ours {} -> {} {:?} recv_queue {} send_queue {} {:?} rto {:?} {:?} poll_at {:?} now {now}",
                c.local(),
                c.remote(),
                c.state(),
                c.recv_queue(),
                c.send_queue(),
                c.sequence(),
                c.rto(),
                c.counters(),
                ours.poll_at()
            );
        }
    }
    // Intact, or an error reported, once the clean link has had its time (a run cut short by
    // the round limit proves nothing).
    let finished = echo_back.len() == echo.len() && pushed_got == push_total;
    if !finished && !(clean && now > deadline) {
        return;
    }
    let client = smol.sockets.get::<smol_tcp::Socket>(smol.client);
    let server = smol.sockets.get::<smol_tcp::Socket>(smol.server);
    let mine = ours.iface().tcp_connection(mine);
    let our_error = mine.is_none_or(|c| c.error().is_some());
    if echo_back.len() != echo.len() {
        let closed = client.state() == smol_tcp::State::Closed;
        assert!(
            closed || our_error || !ours.iface().tcp().iter().any(|c| c.local().port() == 7),
            "echo stalled without an error: {} of {} bytes, smoltcp {:?}",
            echo_back.len(),
            echo.len(),
            client.state()
        );
    }
    if pushed_got != push_total {
        let closed =
            server.state() == smol_tcp::State::Closed || server.state() == smol_tcp::State::Listen;
        assert!(
            closed || our_error,
            "push stalled without an error: {pushed_got} of {push_total}, ours {:?}, smoltcp {:?}",
            mine.map(|c| c.state()),
            server.state()
        );
    }
});
