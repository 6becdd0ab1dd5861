//! TCP interoperability with smoltcp on the in-memory wire.
//!
//! smoltcp (10.0.0.1) and our host (10.0.0.2) move 64 MiB each way over one connection at once,
//! with smoltcp as the client and as the server, on a clean wire and on one that loses 5%,
//! reorders 5% and duplicates 1% of the frames (seeded, so every run is the same). Each end
//! hashes what it sends and what it reads; the hashes must match and the connection must close
//! with a FIN each way. A SYN to a port nobody listens on must be answered with a RST. Two
//! narrower tests pin down what the lossy transfers depend on: our TCP timers waking the host
//! (TIME-WAIT ending on its own) and data segments that carry SACK blocks still fitting the MTU.
//!
//! The wire has no delay, so on the clean wire the data moves in no virtual time at all; what
//! takes time is loss recovery and smoltcp's TIME-WAIT. Virtual and wall times of each transfer
//! are printed (`--nocapture`).

// The test target's root is this file, so its modules are named by path.
#[allow(dead_code)]
#[path = "smoltcp/frames.rs"]
mod frames;
#[allow(dead_code)]
#[path = "smoltcp/peer.rs"]
mod peer;
#[allow(dead_code)]
#[path = "smoltcp/sim.rs"]
mod sim;
#[path = "smoltcp/tcp.rs"]
mod tcp;

use std::error::Error;

use core::net::{IpAddr, SocketAddr};
use core::time::Duration;

use smoltcp::socket::tcp as smol_tcp;
use smoltcp::wire::{IpAddress, IpEndpoint, IpProtocol, TcpPacket};
use tapstack::device::impair::ImpairStats;
use tapstack::tcp::State;
use tapstack::DropReason;

use frames::{decode, Decoded};
use sim::{Setup, Sim, HOST_END, HOST_IP, PEER_END, PEER_IP};
use tcp::{OurEnd, PeerEnd};

type TestResult = Result<(), Box<dyn Error>>;

/// Bytes sent each way.
const SIZE: u64 = 64 * 1024 * 1024;
/// The lossy wire.
const LOSSY: &str = "loss=5%,reorder=5%,dup=1%";
/// The lossy wire's seed.
const LOSSY_SEED: u64 = 0x5eed;
/// Pattern seeds of what our end and smoltcp send.
const OUR_SEED: u64 = 1;
const PEER_SEED: u64 = 2;
/// Our listener when smoltcp is the client.
const OUR_PORT: u16 = 5001;
/// smoltcp's listener when we are the client.
const PEER_PORT: u16 = 5002;
/// smoltcp's port when it is the client.
const PEER_CLIENT_PORT: u16 = 49_500;
/// Virtual time a transfer may take.
const MAX_CLEAN: Duration = Duration::from_secs(600);
const MAX_LOSSY: Duration = Duration::from_secs(4 * 3600);

/// Who opens the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Client {
    Smoltcp,
    Ours,
}

fn clean_setup() -> Setup {
    Setup::default()
}

fn lossy_setup() -> Result<Setup, Box<dyn Error>> {
    Ok(Setup {
        impair: LOSSY.parse()?,
        wire_seed: LOSSY_SEED,
        ..Setup::default()
    })
}

/// What a finished transfer looked like.
struct Transfer {
    sim: Sim,
    ours: OurEnd,
    theirs: PeerEnd,
    timing: tcp::Timing,
    wall: Duration,
}

impl Transfer {
    fn print(&self, what: &str) {
        let iface = self.sim.host.iface();
        let c = self.ours.connection(iface);
        let counters = c.map(|c| *c.counters()).unwrap_or_default();
        let mib = (SIZE * 2) as f64 / (1024.0 * 1024.0);
        println!(
            "{what}: {} MiB each way; data and FINs in {:.3} s virtual, closed at {:.3} s; \
             {:.2} s wall ({:.0} MiB/s), {} steps",
            SIZE / (1024 * 1024),
            self.timing.data.as_secs_f64(),
            self.timing.closed.as_secs_f64(),
            self.wall.as_secs_f64(),
            mib / self.wall.as_secs_f64(),
            self.timing.steps
        );
        println!(
            "  our connection: {} srtt {:?} rto {:?} cwnd {} ssthresh {} mss {} sack {} ts {}",
            self.ours.state(iface),
            c.and_then(|c| c.srtt()),
            c.map(|c| c.rto()),
            c.map_or(0, |c| c.cwnd()),
            c.map_or(0, |c| c.ssthresh()),
            c.map_or(0, |c| c.mss()),
            c.is_some_and(|c| c.sack_enabled()),
            c.is_some_and(|c| c.timestamps_enabled()),
        );
        println!("  our counters: {counters:?}");
        println!(
            "  smoltcp socket: {}; wire to us {}; wire to smoltcp {}",
            self.theirs.state(&self.sim),
            impairment(self.sim.link.wire.impairment(HOST_END).stats()),
            impairment(self.sim.link.wire.impairment(PEER_END).stats()),
        );
    }

    /// Everything arrived intact and the connection closed both ways.
    fn check(&self) {
        let iface = self.sim.host.iface();
        assert_eq!(self.ours.source.sent(), SIZE);
        assert_eq!(self.theirs.source.sent(), SIZE);
        assert_eq!(self.ours.sink.received(), SIZE, "bytes we received");
        assert_eq!(self.theirs.sink.received(), SIZE, "bytes smoltcp received");
        assert_eq!(
            self.ours.sink.digest(),
            self.theirs.source.digest(),
            "SHA-256 of smoltcp's bytes as we received them"
        );
        assert_eq!(
            self.theirs.sink.digest(),
            self.ours.source.digest(),
            "SHA-256 of our bytes as smoltcp received them"
        );
        assert!(
            self.ours.sink.fin() && self.theirs.sink.fin(),
            "a FIN each way"
        );
        let state = self.ours.state(iface);
        assert!(
            matches!(state, State::TimeWait | State::Closed),
            "our connection ended in {state}"
        );
        let c = self.ours.connection(iface).expect("our connection");
        assert_eq!(c.error(), None, "our connection failed");
        assert_eq!(self.theirs.state(&self.sim), smol_tcp::State::Closed);
        assert_eq!(iface.tcp().counters().failed, 0);
        assert_eq!(
            iface.stats().ipv4_fragments_tx,
            0,
            "our TCP segments fit the MTU"
        );
    }
}

fn impairment(s: ImpairStats) -> String {
    format!(
        "{} frames, {} lost, {} reordered, {} duplicated",
        s.offered, s.dropped, s.reordered, s.duplicated
    )
}

/// Opens a connection with `client` as the client: our end will send `ours` bytes, smoltcp's
/// `theirs`.
fn open(
    sim: &mut Sim,
    client: Client,
    ours: u64,
    theirs: u64,
) -> Result<(OurEnd, PeerEnd), Box<dyn Error>> {
    let socket = tcp::peer_socket(sim);
    let our_end = match client {
        Client::Smoltcp => {
            let listener = sim.host.iface_mut().tcp_listen(OUR_PORT, 1)?;
            let s = sim.peer.sockets.get_mut::<smol_tcp::Socket>(socket);
            s.connect(
                sim.peer.iface.context(),
                IpEndpoint::new(IpAddress::Ipv4(HOST_IP), OUR_PORT),
                PEER_CLIENT_PORT,
            )?;
            OurEnd::new(None, Some(listener), OUR_SEED, ours)
        }
        Client::Ours => {
            let s = sim.peer.sockets.get_mut::<smol_tcp::Socket>(socket);
            s.listen(PEER_PORT)?;
            let now = sim.now;
            let remote = SocketAddr::new(IpAddr::V4(PEER_IP), PEER_PORT);
            let h = sim.host.iface_mut().tcp_connect(now, remote)?;
            OurEnd::new(Some(h), None, OUR_SEED, ours)
        }
    };
    Ok((our_end, PeerEnd::new(socket, PEER_SEED, theirs)))
}

/// Opens a connection with `client` as the client and moves [`SIZE`] bytes each way.
fn transfer(client: Client, setup: &Setup, max: Duration) -> Result<Transfer, Box<dyn Error>> {
    let mut sim = Sim::new(setup)?;
    sim.wait_ready()?;
    let (mut ours, mut theirs) = open(&mut sim, client, SIZE, SIZE)?;
    let started = std::time::Instant::now();
    let timing = tcp::run(&mut sim, &mut ours, &mut theirs, max)?;
    Ok(Transfer {
        sim,
        ours,
        theirs,
        timing,
        wall: started.elapsed(),
    })
}

#[test]
fn smoltcp_client_and_our_server_move_64_mib_each_way() -> TestResult {
    let t = transfer(Client::Smoltcp, &clean_setup(), MAX_CLEAN)?;
    t.print("clean wire, smoltcp client");
    t.check();
    Ok(())
}

#[test]
fn our_client_and_smoltcp_server_move_64_mib_each_way() -> TestResult {
    let t = transfer(Client::Ours, &clean_setup(), MAX_CLEAN)?;
    t.print("clean wire, our client");
    t.check();
    Ok(())
}

/// The lossy wire really was lossy both ways, and we had to resend.
fn check_lossy(t: &Transfer) {
    for end in [HOST_END, PEER_END] {
        let s = t.sim.link.wire.impairment(end).stats();
        assert!(
            s.dropped > 0 && s.reordered > 0 && s.duplicated > 0,
            "impairment towards {end:?}: {s:?}"
        );
    }
    let c = t
        .ours
        .connection(t.sim.host.iface())
        .expect("our connection");
    assert!(c.counters().retransmits > 0, "{:?}", c.counters());
}

#[test]
fn smoltcp_client_and_our_server_move_64_mib_each_way_over_a_lossy_wire() -> TestResult {
    let t = transfer(Client::Smoltcp, &lossy_setup()?, MAX_LOSSY)?;
    t.print("lossy wire, smoltcp client");
    t.check();
    check_lossy(&t);
    Ok(())
}

#[test]
fn our_client_and_smoltcp_server_move_64_mib_each_way_over_a_lossy_wire() -> TestResult {
    let t = transfer(Client::Ours, &lossy_setup()?, MAX_LOSSY)?;
    t.print("lossy wire, our client");
    t.check();
    check_lossy(&t);
    Ok(())
}

#[test]
fn smoltcp_connecting_to_a_closed_port_is_reset() -> TestResult {
    const CLOSED_PORT: u16 = 5999;
    let mut sim = Sim::clean()?;
    sim.wait_ready()?;
    let since = sim.link.sent.len();
    let socket = tcp::peer_socket(&mut sim);
    let s = sim.peer.sockets.get_mut::<smol_tcp::Socket>(socket);
    s.connect(
        sim.peer.iface.context(),
        IpEndpoint::new(IpAddress::Ipv4(HOST_IP), CLOSED_PORT),
        PEER_CLIENT_PORT,
    )?;
    let mut seen = Vec::new();
    sim.run_until(
        |sim| {
            let state = sim.peer.sockets.get::<smol_tcp::Socket>(socket).state();
            if seen.last() != Some(&state) {
                seen.push(state);
            }
            state == smol_tcp::State::Closed
        },
        Duration::from_secs(5),
    )?;
    sim.settle(Duration::from_secs(1))?;
    assert_eq!(
        seen,
        [smol_tcp::State::SynSent, smol_tcp::State::Closed],
        "smoltcp's socket states"
    );

    let stats = sim.host.iface().stats();
    assert_eq!(stats.drops(DropReason::TcpNoSocket), 1);
    assert_eq!(sim.host.iface().tcp().counters().resets_sent, 1);
    assert_eq!(sim.host.iface().tcp().len(), 0, "no connection was made");

    // smoltcp's SYN, then our RST: <SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK> (RFC 9293 3.10.7.1).
    let tcp_from = |from| -> Vec<Vec<u8>> {
        sim.link
            .sent_by(from, since)
            .filter_map(|s| match decode(&s.frame) {
                Decoded::Ipv4 {
                    protocol: IpProtocol::Tcp,
                    payload,
                    ..
                } => Some(payload),
                _ => None,
            })
            .collect()
    };
    let syns = tcp_from(PEER_END);
    let rsts = tcp_from(HOST_END);
    assert_eq!((syns.len(), rsts.len()), (1, 1), "TCP segments each way");
    let syn = TcpPacket::new_checked(&syns[0][..])?;
    let rst = TcpPacket::new_checked(&rsts[0][..])?;
    assert!(syn.syn() && !syn.ack());
    assert!(rst.verify_checksum(&IpAddress::Ipv4(HOST_IP), &IpAddress::Ipv4(PEER_IP)));
    assert!(rst.rst() && rst.ack() && !rst.syn() && !rst.fin());
    assert_eq!(
        (rst.src_port(), rst.dst_port()),
        (CLOSED_PORT, PEER_CLIENT_PORT)
    );
    assert_eq!(rst.seq_number().0, 0);
    assert_eq!(rst.ack_number().0, syn.seq_number().0.wrapping_add(1));
    assert!(rst.payload().is_empty());
    Ok(())
}

/// Our end finishes sending long before smoltcp, so we close first and wait in TIME-WAIT; its
/// end must come from our own timer, nothing else being left to happen.
#[test]
fn our_time_wait_ends_on_its_own() -> TestResult {
    let mut sim = Sim::clean()?;
    sim.wait_ready()?;
    let (mut ours, mut theirs) = open(&mut sim, Client::Ours, 1000, 1024 * 1024)?;
    tcp::run(&mut sim, &mut ours, &mut theirs, MAX_CLEAN)?;
    let iface = sim.host.iface();
    assert_eq!(ours.state(iface), State::TimeWait);
    let tcp_at = iface.tcp().poll_at();
    let host_at = sim.host.poll_at();
    assert!(tcp_at.is_some(), "TIME-WAIT has a deadline");
    assert!(
        host_at.is_some_and(|h| tcp_at.is_some_and(|t| h <= t)),
        "Host::poll_at() {host_at:?} comes after our TCP's next deadline {tcp_at:?}"
    );
    // TIME-WAIT lasts 2*MSL from its start, give or take a step of the simulation.
    let time_wait = sim.host.iface().config().tcp.time_wait;
    sim.run_for(time_wait - Duration::from_millis(100))?;
    assert_eq!(
        ours.state(sim.host.iface()),
        State::TimeWait,
        "still waiting"
    );
    sim.run_for(Duration::from_secs(1))?;
    assert_eq!(
        ours.state(sim.host.iface()),
        State::Closed,
        "closed by its own timer"
    );
    Ok(())
}

/// A TCP segment in a frame, or in the first fragment of one: (payload length, SACK blocks).
fn tcp_segment(frame: &[u8]) -> Option<(usize, usize)> {
    let Decoded::Ipv4 {
        protocol: IpProtocol::Tcp,
        payload,
        frag_offset: 0,
        ..
    } = decode(frame)
    else {
        return None;
    };
    // A first fragment holds the header but not all the payload: no length checks.
    let p = TcpPacket::new_unchecked(&payload[..]);
    let header = usize::from(p.header_len());
    if payload.len() < 20 || header < 20 || payload.len() < header {
        return None;
    }
    let sack = p
        .selective_ack_ranges()
        .map_or(0, |r| r.iter().flatten().count());
    Some((payload.len() - header, sack))
}

/// smoltcp loses one segment to us while both ends send, so our data segments carry SACK blocks
/// for a while: they must still fit the MTU (smoltcp cannot reassemble a fragmented datagram
/// over 1500 bytes, so a fragmented segment is as good as lost).
#[test]
fn our_segments_with_sack_blocks_fit_the_mtu() -> TestResult {
    const BYTES: u64 = 512 * 1024;
    let mut sim = Sim::clean()?;
    sim.wait_ready()?;
    let since = sim.link.sent.len();
    let (mut ours, mut theirs) = open(&mut sim, Client::Smoltcp, BYTES, BYTES)?;
    let mut data_segments = 0;
    let result = tcp::run_filtered(&mut sim, &mut ours, &mut theirs, MAX_CLEAN, &mut |frame| {
        if tcp_segment(frame).is_some_and(|(len, _)| len > 0) {
            data_segments += 1;
            return data_segments % 50 != 0;
        }
        true
    });
    let sent: Vec<(usize, usize)> = sim
        .link
        .sent_by(HOST_END, since)
        .filter_map(|s| tcp_segment(&s.frame))
        .collect();
    let with_sack = sent
        .iter()
        .filter(|(len, sack)| *len > 0 && *sack > 0)
        .count();
    let fragments = sim.host.iface().stats().ipv4_fragments_tx;
    println!(
        "{} TCP segments from us, {with_sack} with data and SACK blocks; {fragments} fragments",
        sent.len()
    );
    assert!(with_sack > 0, "no data segment carried SACK blocks");
    assert_eq!(fragments, 0, "fragments of our TCP segments");
    result?;
    assert_eq!(ours.sink.digest(), theirs.source.digest());
    assert_eq!(theirs.sink.digest(), ours.source.digest());
    Ok(())
}
