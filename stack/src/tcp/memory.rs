//! The TCP memory budget: one limit over the storage of every connection's send and receive
//! buffers, out-of-order data included.
//!
//! Buffers grow on demand ([`super::buffer`]); before a connection may take storage (a segment
//! arrives, the application sends) the table grants it an allowance: no more than its fair
//! share and no more than what is left of the budget. The shares split seven eighths of the
//! budget among the connections in the table (with a floor), so that the last eighth stays
//! for connections that come later while the others hold their shares. Past three quarters
//! of the budget the stack is under pressure (as Linux's
//! `tcp_mem` "pressure" threshold): out-of-order data is dropped first (RFC 2018 8 lets a
//! receiver discard SACKed data; the sender keeps it until it is acknowledged) and may not take
//! more storage, receive windows stop growing, and connections advertise only the room they
//! may still fill. The right edge of a window already advertised is never moved left (RFC 9293
//! 3.8.6.2.2): data that arrives inside it with no memory left is dropped and counted, and the
//! peer sends it again. Pressure ends once use falls below five eighths of the budget.

use core::time::Duration;

use crate::report::Writer;
use crate::time::Instant;

/// Default budget: 256 MiB, a 14 KiB share (the floor, 16 KiB, applies) for each connection of
/// a full default table.
pub const DEFAULT_BUDGET: usize = 256 * 1024 * 1024;

/// The least share a connection is granted, however many connections there are (the budget
/// still bounds the sum).
pub const SHARE_FLOOR: usize = 16 * 1024;

/// Least time between two sweeps that drop out-of-order data while under pressure.
const PRUNE_INTERVAL: Duration = Duration::from_millis(100);

/// What the budget counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Times the stack went under memory pressure.
    pub pressure_events: u64,
    /// Bytes of out-of-order data dropped to give memory back.
    pub out_of_order_dropped: u64,
    /// Segments whose data was cut because no memory was left for it.
    pub memory_drops: u64,
}

/// The budget and what is in use, for `/stats` and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// The budget in bytes.
    pub budget: usize,
    /// Bytes of buffer storage held by all connections.
    pub in_use: usize,
    /// The most that was ever in use.
    pub peak: usize,
    /// Under pressure now.
    pub pressure: bool,
    /// Counters.
    pub counters: Counters,
}

/// The memory budget of a socket table.
#[derive(Debug)]
pub(super) struct Budget {
    limit: usize,
    in_use: usize,
    peak: usize,
    pressure: bool,
    /// The latest time the table saw (input or output), for pacing the sweeps.
    now: Instant,
    last_prune: Option<Instant>,
    pub(super) counters: Counters,
}

impl Budget {
    pub(super) fn new(limit: usize) -> Self {
        Budget {
            limit,
            in_use: 0,
            peak: 0,
            pressure: false,
            now: Instant::ZERO,
            last_prune: None,
            counters: Counters::default(),
        }
    }

    /// A connection's fair share with `connections` in the table.
    pub(super) fn share(&self, connections: usize) -> usize {
        ((self.limit - self.limit / 8) / connections.max(1))
            .max(SHARE_FLOOR)
            .min(self.limit)
    }

    /// The storage a connection holding `held` bytes may have: its share, and no more than the
    /// budget has left.
    pub(super) fn allowance(&self, held: usize, connections: usize) -> usize {
        self.share(connections)
            .min(held.saturating_add(self.left()))
    }

    /// Bytes of the budget not in use.
    pub(super) fn left(&self) -> usize {
        self.limit.saturating_sub(self.in_use)
    }

    /// A connection's storage went from `old` to `new` bytes.
    pub(super) fn update(&mut self, old: usize, new: usize) {
        self.in_use = self.in_use.saturating_sub(old).saturating_add(new);
        self.peak = self.peak.max(self.in_use);
        if !self.pressure && self.in_use >= self.limit - self.limit / 4 {
            self.pressure = true;
            self.counters.pressure_events += 1;
        } else if self.pressure && self.in_use < self.limit - self.limit * 3 / 8 {
            self.pressure = false;
        }
    }

    /// Under pressure now.
    pub(super) fn pressure(&self) -> bool {
        self.pressure
    }

    /// Notes the time the table runs at.
    pub(super) fn tick(&mut self, now: Instant) {
        self.now = self.now.max(now);
    }

    /// True when out-of-order data should be dropped now (under pressure, at most once per
    /// [`PRUNE_INTERVAL`]); notes the sweep.
    pub(super) fn prune_due(&mut self) -> bool {
        if !self.pressure
            || self
                .last_prune
                .is_some_and(|t| self.now < t + PRUNE_INTERVAL)
        {
            return false;
        }
        self.last_prune = Some(self.now);
        true
    }

    pub(super) fn usage(&self) -> Usage {
        Usage {
            budget: self.limit,
            in_use: self.in_use,
            peak: self.peak,
            pressure: self.pressure,
            counters: self.counters,
        }
    }
}

impl Usage {
    /// Writes the usage as an object.
    pub fn report(&self, w: &mut Writer<'_>) {
        w.object(|w| {
            w.key("budget").number(self.budget);
            w.key("in_use").number(self.in_use);
            w.key("peak").number(self.peak);
            w.key("pressure").bool(self.pressure);
            w.key("pressure_events")
                .number(self.counters.pressure_events);
            w.key("out_of_order_dropped")
                .number(self.counters.out_of_order_dropped);
            w.key("memory_drops").number(self.counters.memory_drops);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_is_the_budget_over_connections_with_a_floor() {
        let b = Budget::new(1024 * 1024);
        assert_eq!(b.share(0), 7 * 128 * 1024, "seven eighths are shared");
        assert_eq!(b.share(4), 7 * 32 * 1024);
        assert_eq!(b.share(1000), SHARE_FLOOR, "never below the floor");
        assert_eq!(Budget::new(1000).share(1), 1000, "never above the budget");
    }

    #[test]
    fn allowance_is_cut_to_what_is_left_and_pressure_has_hysteresis() {
        let mut b = Budget::new(800_000);
        assert_eq!(b.allowance(0, 2), 350_000);
        b.update(0, 550_000);
        assert!(!b.pressure());
        assert_eq!(b.allowance(0, 2), 250_000, "only what is left");
        assert_eq!(b.allowance(100_000, 2), 350_000);
        b.update(550_000, 650_000);
        assert!(b.pressure(), "past three quarters");
        assert_eq!(
            b.allowance(600_000, 2),
            350_000,
            "a share, however much is held"
        );
        assert_eq!(b.usage().counters.pressure_events, 1);
        b.update(650_000, 550_000);
        assert!(b.pressure(), "still above five eighths");
        b.update(550_000, 100_000);
        assert!(!b.pressure());
        b.update(100_000, 790_000);
        assert_eq!(b.usage().counters.pressure_events, 2);
        assert_eq!(b.usage().peak, 790_000);
    }

    /// State-machine tests of the budget at explicit times: one socket table, the peer's
    /// segments written by hand.
    mod table {
        // A test module: it may unwrap.

        use core::net::{IpAddr, Ipv4Addr, SocketAddr};
        use core::time::Duration;

        use crate::tcp::segment::{self, Flags, Options, Repr};
        use crate::tcp::{Config, Handle, ListenHandle, Seq, Sockets};
        use crate::time::Instant;

        const US: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        const PORT: u16 = 7;
        const MSS: usize = 1460;
        /// The peer's initial sequence number.
        const PEER_ISS: u32 = 1000;

        struct Peer {
            port: u16,
            handle: Handle,
            /// Our ISS + 1: what the peer acknowledges.
            our_next: Seq,
        }

        fn at(ms: u64) -> Instant {
            Instant::from_millis(ms)
        }

        fn table(budget: usize) -> (Sockets, ListenHandle) {
            let config = Config {
                memory: budget,
                timestamps: false,
                ..Config::default()
            };
            let mut t = Sockets::new(config, MSS as u16, 7);
            let l = t.listen(PORT, 64).unwrap();
            (t, l)
        }

        fn local() -> SocketAddr {
            SocketAddr::new(US, PORT)
        }

        fn remote(port: u16) -> SocketAddr {
            SocketAddr::new(PEER, port)
        }

        /// Every segment the table sends now, parsed, with its payload length.
        fn drain(t: &mut Sockets, now: Instant) -> Vec<(Repr, usize)> {
            let mut out = Vec::new();
            for _ in 0..10_000 {
                let mut buf = Vec::new();
                let Some((l, r)) = t.next_segment(now, &mut buf) else {
                    break;
                };
                let (repr, payload) = segment::parse(&buf, l.ip(), r.ip()).unwrap();
                out.push((repr, payload.len()));
            }
            out
        }

        fn from_peer(port: u16, seq: Seq, ack: Option<Seq>, flags: Flags) -> Repr {
            Repr {
                src_port: port,
                dst_port: PORT,
                seq,
                ack: ack.unwrap_or_default(),
                flags: Flags {
                    ack: ack.is_some(),
                    ..flags
                },
                window: 65_535,
                urgent: 0,
                options: Options::default(),
            }
        }

        /// A handshake from peer port `port` (window scale 7, SACK); returns the accepted
        /// connection.
        fn open(t: &mut Sockets, l: ListenHandle, now: Instant, port: u16) -> (Peer, Repr) {
            let mut syn = from_peer(
                port,
                Seq(PEER_ISS),
                None,
                Flags {
                    syn: true,
                    ..Flags::default()
                },
            );
            syn.options.mss = Some(MSS as u16);
            syn.options.window_scale = Some(7);
            syn.options.sack_permitted = true;
            t.on_segment(now, local(), remote(port), &syn, &[]);
            let out = drain(t, now);
            let syn_ack = out.iter().find(|(r, _)| r.flags.syn).unwrap().0;
            let our_next = syn_ack.seq + 1;
            let ack = from_peer(port, Seq(PEER_ISS + 1), Some(our_next), Flags::default());
            t.on_segment(now, local(), remote(port), &ack, &[]);
            let handle = t.accept(l).unwrap();
            (
                Peer {
                    port,
                    handle,
                    our_next,
                },
                syn_ack,
            )
        }

        /// Sends `len` bytes of data from the peer, MSS by MSS, starting `offset` bytes into
        /// its stream; returns our last answer.
        fn send(t: &mut Sockets, now: Instant, p: &Peer, offset: usize, len: usize) -> Repr {
            let data = vec![0x5a; MSS];
            let mut sent = 0;
            let mut last = None;
            while sent < len {
                let n = MSS.min(len - sent);
                let seq = Seq(PEER_ISS + 1) + (offset + sent);
                let seg = from_peer(p.port, seq, Some(p.our_next), Flags::default());
                t.on_segment(now, local(), remote(p.port), &seg, &data[..n]);
                sent += n;
                // Our answers as they go (an ACK at least every second segment).
                last = drain(t, now).last().map(|(r, _)| *r).or(last);
            }
            let delayed = drain(t, now + Duration::from_millis(200));
            delayed.last().map(|(r, _)| *r).or(last).unwrap()
        }

        /// The right edge of the window an ACK of ours advertises (our window scale is 3).
        fn edge(r: &Repr) -> Seq {
            r.ack + (usize::from(r.window) << 3)
        }

        #[test]
        fn connections_keep_to_their_share_and_a_late_one_is_offered_a_smaller_window() {
            let budget = 256 * 1024;
            let (mut t, l) = table(budget);
            let (a, _) = open(&mut t, l, at(0), 40_001);
            let (b, _) = open(&mut t, l, at(0), 40_002);
            // Two connections: a share is seven eighths of the budget over two.
            let share = (budget - budget / 8) / 2;
            // Each peer sends 150 KiB that the application does not read.
            let first = send(&mut t, at(10), &a, 0, 150 * 1024);
            let held_a = t.get(a.handle).unwrap().recv_queue();
            assert!(held_a <= share, "{held_a} > {share}");
            assert!(held_a > share - MSS, "the share is used: {held_a}");
            assert!(t.get(a.handle).unwrap().buffer_memory() <= share);
            assert_eq!(
                first.ack,
                Seq(PEER_ISS + 1) + held_a,
                "only what fit is acknowledged"
            );
            // The window never offered more than the share: the rest was out of window.
            assert!(edge(&first) <= Seq(PEER_ISS + 1) + share, "{first:?}");
            let m = t.memory();
            assert_eq!(m.counters.pressure_events, 0, "{m:?}");
            send(&mut t, at(20), &b, 0, 150 * 1024);
            let m = t.memory();
            assert!(m.in_use <= budget && m.peak <= budget, "{m:?}");
            assert!(t.get(b.handle).unwrap().buffer_memory() <= share);
            assert_eq!(
                m.counters.pressure_events, 1,
                "three quarters in use: {m:?}"
            );
            assert!(m.pressure);

            // The right edge advertised to A never moved left, however little room is left.
            let again = send(&mut t, at(30), &a, held_a, MSS);
            assert_eq!(again.ack, first.ack, "no room: the data is dropped");
            assert!(edge(&again) >= edge(&first));

            // A third connection gets what is left of the budget, not the 256 KiB window an
            // unpressed connection is offered.
            let left = budget - m.in_use;
            let (c, syn_ack) = open(&mut t, l, at(40), 40_003);
            assert!(usize::from(syn_ack.window) <= left, "{syn_ack:?}");
            let conn = t.get(c.handle).unwrap();
            assert!(conn.memory_allowance() <= left);
            let ack = send(&mut t, at(50), &c, 0, MSS);
            let offered = usize::from(ack.window) << 3;
            assert!(offered <= left, "{offered} > {left}");
            assert!(t.memory().in_use <= budget);
            assert_eq!(t.memory().in_use, t.buffer_memory(), "the count is the sum");
        }

        #[test]
        fn out_of_order_data_is_dropped_first_under_pressure() {
            let budget = 256 * 1024;
            let (mut t, l) = table(budget);
            let (a, _) = open(&mut t, l, at(0), 40_001);
            let others: Vec<Peer> = (2..=5)
                .map(|i| open(&mut t, l, at(0), 40_000 + i).0)
                .collect();
            let share = (budget - budget / 8) / 5;
            // A: a hole of one segment, then 8 KiB out of order.
            let sack = send(&mut t, at(10), &a, MSS, 8 * 1024);
            assert!(
                !sack.options.sack.is_empty(),
                "SACK blocks while data is held"
            );
            assert!(t.get(a.handle).unwrap().holds_out_of_order());
            let ooo_memory = t.get(a.handle).unwrap().buffer_memory();
            assert!(ooo_memory >= 8 * 1024);

            // The others fill their shares in order: the stack goes under pressure and A's
            // out-of-order data, which its sender still holds, is what goes.
            for (i, p) in others.iter().enumerate() {
                assert_eq!(t.memory().counters.pressure_events, 0);
                send(&mut t, at(20 + i as u64), p, 0, share);
            }
            let m = t.memory();
            assert_eq!(m.counters.pressure_events, 1, "{m:?}");
            assert!(m.pressure, "{m:?}");
            assert_eq!(m.counters.out_of_order_dropped, 8 * 1024, "{m:?}");
            let conn_a = t.get(a.handle).unwrap();
            assert!(!conn_a.holds_out_of_order());
            assert_eq!(conn_a.buffer_memory(), 0, "A's storage given back");
            for p in &others {
                let held = t.get(p.handle).unwrap().recv_queue();
                assert!(held > share - 2 * MSS, "in-order data kept: {held}");
            }
            assert!(m.in_use <= budget);

            // Under pressure A takes no new storage for out-of-order data...
            let ack = send(&mut t, at(200), &a, MSS, MSS);
            assert!(ack.options.sack.is_empty(), "{ack:?}");
            assert!(!t.get(a.handle).unwrap().holds_out_of_order());
            // ...but the hole filled in order moves the stream on, and what was dropped is
            // sent again and taken.
            let ack = send(&mut t, at(210), &a, 0, 8 * MSS);
            assert_eq!(ack.ack, Seq(PEER_ISS + 1) + 8 * MSS);
            assert_eq!(t.get(a.handle).unwrap().recv_queue(), 8 * MSS);
        }

        #[test]
        fn memory_is_given_back_when_buffers_drain_and_connections_close() {
            let (mut t, l) = table(1024 * 1024);
            let (a, _) = open(&mut t, l, at(0), 40_001);
            send(&mut t, at(10), &a, 0, 100 * 1024);
            // The application answers: the send side takes storage too.
            assert_eq!(t.send(a.handle, &[1; 10_000]).unwrap(), 10_000);
            let held = t.memory().in_use;
            assert_eq!(held, t.get(a.handle).unwrap().buffer_memory());
            assert!(held >= 110 * 1024, "{held}");
            let out = drain(&mut t, at(20));
            let sent: usize = out.iter().map(|(_, n)| n).sum();
            assert!(sent > 0);

            // All read, all acknowledged: a second later the storage goes back.
            let mut buf = vec![0; 200 * 1024];
            assert_eq!(t.recv(a.handle, &mut buf).unwrap(), 100 * 1024);
            let ack = from_peer(
                a.port,
                Seq(PEER_ISS + 1) + 100 * 1024,
                Some(a.our_next + sent),
                Flags::default(),
            );
            t.on_segment(at(30), local(), remote(a.port), &ack, &[]);
            // The rest (held back by Nagle) goes out and is acknowledged.
            let out = drain(&mut t, at(30));
            let rest: usize = out.iter().map(|(_, n)| n).sum();
            assert_eq!(sent + rest, 10_000);
            let ack = from_peer(
                a.port,
                Seq(PEER_ISS + 1) + 100 * 1024,
                Some(a.our_next + 10_000),
                Flags::default(),
            );
            t.on_segment(at(30), local(), remote(a.port), &ack, &[]);
            drain(&mut t, at(30));
            assert_eq!(t.get(a.handle).unwrap().send_queue(), 0);
            assert!(t.memory().in_use > 0, "kept a while for the next burst");
            drain(&mut t, at(30) + Duration::from_secs(1));
            assert_eq!(t.memory().in_use, 0);
            assert_eq!(t.buffer_memory(), 0);

            // A connection that goes away with data held gives it back as well.
            let (b, _) = open(&mut t, l, at(2000), 40_002);
            send(&mut t, at(2010), &b, 0, 50 * 1024);
            assert!(t.memory().in_use >= 50 * 1024);
            t.abort(b.handle);
            drain(&mut t, at(2020));
            assert_eq!(t.memory().in_use, 0);
            assert_eq!(t.memory().peak, held.max(t.memory().peak));
        }

        #[test]
        fn receive_window_grows_when_the_application_keeps_up() {
            let (mut t, l) = table(64 * 1024 * 1024);
            let (a, _) = open(&mut t, l, at(0), 40_001);
            let start = t.get(a.handle).unwrap().receive_window_target();
            assert_eq!(start, Config::default().rx_buffer);
            // One RTT sample: our data acknowledged 10 ms later.
            t.send(a.handle, b"hello").unwrap();
            drain(&mut t, at(0));
            let ack = from_peer(
                a.port,
                Seq(PEER_ISS + 1),
                Some(a.our_next + 5),
                Flags::default(),
            );
            t.on_segment(at(10), local(), remote(a.port), &ack, &[]);
            assert!(t.get(a.handle).unwrap().srtt().is_some());

            // Round after round the peer fills most of the window and the application reads
            // it all at once: the window grows, up to what scale 3 can announce.
            let mut buf = vec![0; 1 << 20];
            let mut offset = 0;
            let mut now = 20;
            let mut last = start;
            let mut widest = 0;
            for _ in 0..4 {
                let len = last * 3 / 4;
                let ack = send(&mut t, at(now), &a, offset, len);
                widest = widest.max(usize::from(ack.window) << 3);
                offset += len;
                assert_eq!(t.recv(a.handle, &mut buf).unwrap(), len);
                now += 20;
                let target = t.get(a.handle).unwrap().receive_window_target();
                assert!(target >= last, "{target} < {last}");
                last = target;
            }
            assert!(last > start, "grew from {start} to {last}");
            assert_eq!(last, 65_535 << 3, "to the largest window scale 3 announces");
            let ack = send(&mut t, at(now), &a, offset, MSS);
            assert!(usize::from(ack.window) << 3 > start, "{ack:?}");
        }

        #[test]
        fn receive_window_does_not_grow_under_pressure() {
            let budget = 512 * 1024;
            let (mut t, l) = table(budget);
            let (a, _) = open(&mut t, l, at(0), 40_001);
            let (b, _) = open(&mut t, l, at(0), 40_002);
            t.send(a.handle, b"hello").unwrap();
            drain(&mut t, at(0));
            let ack = from_peer(
                a.port,
                Seq(PEER_ISS + 1),
                Some(a.our_next + 5),
                Flags::default(),
            );
            t.on_segment(at(10), local(), remote(a.port), &ack, &[]);
            // B holds most of its share unread: the stack is under pressure.
            send(&mut t, at(15), &b, 0, 224 * 1024);
            // A fills its own rx, which puts the stack past three quarters.
            send(&mut t, at(20), &a, 0, 180 * 1024);
            assert!(t.memory().pressure, "{:?}", t.memory());
            let mut buf = vec![0; 1 << 20];
            t.recv(a.handle, &mut buf).unwrap();
            let target = t.get(a.handle).unwrap().receive_window_target();
            assert_eq!(
                target,
                Config::default().rx_buffer,
                "no growth under pressure"
            );
        }
    }

    /// Two of our stacks on the in-memory wire: transfers under a tight budget stay intact.
    mod transfers {
        // A test module: it may unwrap.

        use core::net::{IpAddr, Ipv4Addr, SocketAddr};
        use core::time::Duration;

        use crate::device::impair::ImpairConfig;
        use crate::device::memory::{Pair, Stepper, Wire};
        use crate::tcp::SocketError;
        use crate::{Config, Instant, Interface, MacAddr};

        const A_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
        const B_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

        fn iface(ip: Ipv4Addr, last: u8, seed: u64, memory: usize) -> Interface {
            let mut c = Config::new(
                MacAddr([2, 0, 0, 0, 0, last]),
                Some(format!("{ip}/24").parse().unwrap()),
            );
            c.seed = seed;
            c.arp.probe_count = 0;
            c.arp.announce_count = 0;
            c.tcp.memory = memory;
            Interface::new(c).unwrap()
        }

        fn pattern(n: usize, salt: usize) -> Vec<u8> {
            (0..n)
                .map(|i| ((i * 31 + salt * 7 + i / 251) % 256) as u8)
                .collect()
        }

        /// Between two stacks on a wire that carries super-frames, TCP sends runs of
        /// segments as one frame and takes them whole; the bytes arrive intact under loss,
        /// reordering and duplication, and frames average far more than one MTU.
        #[test]
        fn super_segments_cross_an_offloading_wire_intact_under_loss() {
            for spec in ["", "loss=1%,reorder=5%,dup=1%,delay=1ms"] {
                let impair: ImpairConfig = spec.parse().unwrap();
                let wire = Wire::impaired(1500, impair, 5).with_offloads();
                let (mut a, mut b) = (
                    iface(A_IP, 1, 5, super::DEFAULT_BUDGET),
                    iface(B_IP, 2, 6, super::DEFAULT_BUDGET),
                );
                a.set_offloads(wire.offloads());
                b.set_offloads(wire.offloads());
                let mut p = Pair::between(wire, a, b);
                p.step();
                let listener = p.b.tcp_listen(5000, 8).unwrap();
                let to = SocketAddr::new(IpAddr::V4(B_IP), 5000);
                let data = pattern(8 << 20, 3);
                let h = p.a.tcp_connect(p.now, to).unwrap();
                let (mut sent, mut got, mut eof) = (0, Vec::new(), false);
                let mut receiver = None;
                let mut buf = vec![0u8; 256 * 1024];
                p.run_until(
                    |p| {
                        if sent < data.len() {
                            sent += p.a.tcp_send(h, &data[sent..]).unwrap();
                            if sent == data.len() {
                                p.a.tcp_shutdown(h);
                            }
                        }
                        if receiver.is_none() {
                            receiver = p.b.tcp_accept(listener);
                        }
                        if let Some(r) = receiver {
                            loop {
                                match p.b.tcp_recv(r, &mut buf) {
                                    Ok(0) => break,
                                    Ok(k) => got.extend_from_slice(&buf[..k]),
                                    Err(SocketError::Closed) => {
                                        eof = true;
                                        break;
                                    }
                                    Err(e) => panic!("recv: {e}"),
                                }
                            }
                        }
                        eof
                    },
                    Duration::from_secs(300),
                    5_000_000,
                )
                .unwrap();
                assert!(
                    got == data,
                    "{spec}: bytes differ ({} of {})",
                    got.len(),
                    data.len()
                );
                let s = p.a.stats();
                let average = s.tx_bytes / s.tx_frames.max(1);
                assert!(
                    average > 8000,
                    "{spec}: frames of {average} bytes on average: {s}"
                );
            }
        }

        #[test]
        fn transfers_stay_intact_under_a_tight_budget_on_a_lossy_wire() {
            let budget = 256 * 1024;
            let impair: ImpairConfig = "loss=2%,reorder=5%,delay=1ms".parse().unwrap();
            let mut p = Pair::between(
                Wire::impaired(1500, impair, 11),
                iface(A_IP, 1, 11, super::DEFAULT_BUDGET),
                iface(B_IP, 2, 12, budget),
            );
            p.step();
            let listener = p.b.tcp_listen(5000, 8).unwrap();
            let to = SocketAddr::new(IpAddr::V4(B_IP), 5000);
            let n = 4;
            let data: Vec<Vec<u8>> = (0..n).map(|i| pattern(1 << 20, i)).collect();
            let senders: Vec<_> = (0..n)
                .map(|_| p.a.tcp_connect(p.now, to).unwrap())
                .collect();
            let mut sent = vec![0usize; n];
            let mut receivers = Vec::new();
            let mut got: Vec<Vec<u8>> = vec![Vec::new(); n];
            let mut eof = vec![false; n];
            let mut last_read = Instant::ZERO;
            let mut buf = vec![0u8; 16 * 1024];
            let mut peak_in_use = 0;
            p.run_until(
                |p| {
                    for (i, &h) in senders.iter().enumerate() {
                        if sent[i] < data[i].len() {
                            sent[i] += p.a.tcp_send(h, &data[i][sent[i]..]).unwrap();
                            if sent[i] == data[i].len() {
                                p.a.tcp_shutdown(h);
                            }
                        }
                    }
                    while let Some(h) = p.b.tcp_accept(listener) {
                        receivers.push(h);
                    }
                    // The application reads slowly: 16 KiB per connection every 10 ms.
                    if p.now >= last_read + Duration::from_millis(10) {
                        last_read = p.now;
                        for (i, &h) in receivers.iter().enumerate() {
                            match p.b.tcp_recv(h, &mut buf) {
                                Ok(k) => got[i].extend_from_slice(&buf[..k]),
                                Err(SocketError::Closed) => eof[i] = true,
                                Err(e) => panic!("recv: {e}"),
                            }
                        }
                    }
                    let m = p.b.tcp().memory();
                    assert!(m.in_use <= budget, "{m:?}");
                    peak_in_use = peak_in_use.max(m.in_use);
                    eof.iter().filter(|&&e| e).count() == n
                },
                Duration::from_secs(900),
                20_000_000,
            )
            .unwrap();
            // Connections are accepted in the order they were established, which need not
            // be the order they were opened: match them by length and content.
            got.sort();
            let mut want = data;
            want.sort();
            assert!(got == want, "bytes differ");
            let m = p.b.tcp().memory();
            assert!(m.peak <= budget, "{m:?}");
            assert!(m.counters.pressure_events >= 1, "{m:?}");
            assert!(peak_in_use > budget / 2, "{peak_in_use}");
            // Out-of-order data was dropped and in-window data cut, and yet every byte came
            // through.
            assert!(m.counters.out_of_order_dropped > 0, "{m:?}");
            assert!(m.counters.memory_drops > 0, "{m:?}");
        }
    }

    #[test]
    fn sweeps_are_paced() {
        let mut b = Budget::new(1000);
        assert!(!b.prune_due(), "no pressure, no sweep");
        b.update(0, 1000);
        b.tick(Instant::from_millis(10));
        assert!(b.prune_due());
        assert!(!b.prune_due());
        b.tick(Instant::from_millis(110));
        assert!(b.prune_due());
    }
}
