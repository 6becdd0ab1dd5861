//! Bulk TCP transfers between our host and smoltcp on the in-memory wire: a deterministic byte
//! pattern to send, SHA-256 of what is sent and what is received, and the two ends of one
//! connection pumped from a [`Sim::run_until`] condition.
//!
//! Each end sends its own pattern and reads everything the other sends, at once (full duplex);
//! once all is queued it closes its sending side. A transfer is complete when both ends have read
//! every byte and the other's FIN.
//!
//! [`Sim::run_until`]: crate::sim::Sim::run_until

use std::error::Error;
use std::fmt::Write as _;

use core::time::Duration;

use sha2::{Digest, Sha256};
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp as smol_tcp;
use tapstack::tcp::{self, Connection, SocketError, State};
use tapstack::{Instant, Interface};

use crate::sim::{Sim, HOST_END, PEER_END};
use tapstack::device::memory::turn;

/// Bytes the pattern repeats after: odd, so that it never lines up with segment or buffer sizes.
const PERIOD: usize = 1_000_003;
/// The longest slice handed out at once.
const CHUNK: usize = 256 * 1024;
/// smoltcp's socket buffers, each way.
pub const PEER_BUFFER: usize = 256 * 1024;

/// A pseudo-random byte sequence repeating every [`PERIOD`] bytes, cheap to slice.
pub struct Pattern {
    /// The period, followed by its first [`CHUNK`] bytes again, so every slice is contiguous.
    bytes: Vec<u8>,
}

impl Pattern {
    /// The pattern of `seed` (splitmix64).
    pub fn new(seed: u64) -> Self {
        let mut state = seed;
        let mut bytes = Vec::with_capacity(PERIOD + CHUNK);
        while bytes.len() < PERIOD {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            bytes.extend_from_slice(&z.to_le_bytes());
        }
        bytes.truncate(PERIOD);
        bytes.extend_from_within(..CHUNK);
        Pattern { bytes }
    }

    /// Up to `len` (at most [`CHUNK`]) bytes of the sequence from `offset` on.
    pub fn slice(&self, offset: u64, len: usize) -> &[u8] {
        let start = (offset % PERIOD as u64) as usize;
        &self.bytes[start..start + len.min(CHUNK)]
    }
}

/// The sending half of one end: `total` bytes of a pattern, hashed as they are queued.
pub struct Source {
    pattern: Pattern,
    total: u64,
    sent: u64,
    hash: Sha256,
}

impl Source {
    /// `total` bytes of the pattern of `seed`.
    pub fn new(seed: u64, total: u64) -> Self {
        Source {
            pattern: Pattern::new(seed),
            total,
            sent: 0,
            hash: Sha256::new(),
        }
    }

    /// The next bytes to queue, at most `max`.
    pub fn next(&self, max: usize) -> &[u8] {
        let left = usize::try_from(self.total - self.sent).unwrap_or(usize::MAX);
        self.pattern.slice(self.sent, max.min(left))
    }

    /// Records that the first `n` bytes of [`Source::next`] were queued.
    pub fn advance(&mut self, n: usize) {
        let done = self.pattern.slice(self.sent, n);
        assert_eq!(done.len(), n, "advanced past the slice handed out");
        self.hash.update(done);
        self.sent += n as u64;
    }

    /// Bytes queued so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// True once everything is queued.
    pub fn done(&self) -> bool {
        self.sent == self.total
    }

    /// SHA-256 of what was queued.
    pub fn digest(&self) -> [u8; 32] {
        self.hash.clone().finalize().into()
    }
}

/// The receiving half of one end: hashes what arrives and notes the FIN.
#[derive(Default)]
pub struct Sink {
    received: u64,
    hash: Sha256,
    fin: bool,
}

impl Sink {
    fn push(&mut self, data: &[u8]) {
        self.hash.update(data);
        self.received += data.len() as u64;
    }

    /// Bytes read so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// True once the peer's FIN was read (everything before it too).
    pub fn fin(&self) -> bool {
        self.fin
    }

    /// SHA-256 of what was read.
    pub fn digest(&self) -> [u8; 32] {
        self.hash.clone().finalize().into()
    }
}

/// Our end of a transfer, through the [`Interface`] socket calls.
pub struct OurEnd {
    /// The connection, once connected or accepted.
    pub handle: Option<tcp::Handle>,
    /// A listener to accept the connection from.
    pub listener: Option<tcp::ListenHandle>,
    /// What it sends.
    pub source: Source,
    /// What it receives.
    pub sink: Sink,
    shut: bool,
    buf: Vec<u8>,
}

impl OurEnd {
    /// An end that sends `total` bytes of the pattern of `seed` on `handle`, or on the connection
    /// it accepts from `listener`.
    pub fn new(
        handle: Option<tcp::Handle>,
        listener: Option<tcp::ListenHandle>,
        seed: u64,
        total: u64,
    ) -> Self {
        OurEnd {
            handle,
            listener,
            source: Source::new(seed, total),
            sink: Sink::default(),
            shut: false,
            buf: vec![0; CHUNK],
        }
    }

    /// Accepts, queues as much as fits, shuts down once all is queued, reads all there is.
    ///
    /// # Errors
    /// The connection failed or refused data.
    pub fn pump(&mut self, iface: &mut Interface) -> Result<(), SocketError> {
        if self.handle.is_none() {
            if let Some(l) = self.listener {
                self.handle = iface.tcp_accept(l);
            }
        }
        let Some(h) = self.handle else {
            return Ok(());
        };
        while !self.source.done() {
            let n = iface.tcp_send(h, self.source.next(CHUNK))?;
            if n == 0 {
                break;
            }
            self.source.advance(n);
        }
        // A shutdown before the handshake completes would abandon the connection (RFC 9293
        // 3.10.4), so the FIN waits for it.
        let synchronized = iface
            .tcp_connection(h)
            .is_some_and(|c| c.state().synchronized());
        if self.source.done() && !self.shut && synchronized {
            iface.tcp_shutdown(h);
            self.shut = true;
        }
        while !self.sink.fin {
            match iface.tcp_recv(h, &mut self.buf) {
                Ok(0) => break,
                Ok(n) => self.sink.push(&self.buf[..n]),
                Err(SocketError::Closed) => self.sink.fin = true,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The connection, if there is one.
    pub fn connection<'a>(&self, iface: &'a Interface) -> Option<&'a Connection> {
        iface.tcp_connection(self.handle?)
    }

    /// The connection's state (CLOSED before there is one).
    pub fn state(&self, iface: &Interface) -> State {
        self.connection(iface)
            .map_or(State::Closed, Connection::state)
    }
}

/// smoltcp's end of a transfer, on one of its TCP sockets.
pub struct PeerEnd {
    /// The socket.
    pub handle: SocketHandle,
    /// What it sends.
    pub source: Source,
    /// What it receives.
    pub sink: Sink,
    closed: bool,
    established: bool,
}

impl PeerEnd {
    /// An end that sends `total` bytes of the pattern of `seed` on socket `handle`.
    pub fn new(handle: SocketHandle, seed: u64, total: u64) -> Self {
        PeerEnd {
            handle,
            source: Source::new(seed, total),
            sink: Sink::default(),
            closed: false,
            established: false,
        }
    }

    /// Queues as much as fits, closes once all is queued, reads all there is.
    ///
    /// # Errors
    /// The connection ended before both halves finished.
    pub fn pump(&mut self, sim: &mut Sim) -> Result<(), String> {
        let s = sim.peer.sockets.get_mut::<smol_tcp::Socket>(self.handle);
        let state = s.state();
        if !matches!(
            state,
            smol_tcp::State::Closed
                | smol_tcp::State::Listen
                | smol_tcp::State::SynSent
                | smol_tcp::State::SynReceived
        ) {
            self.established = true;
        }
        if !self.established {
            return Ok(());
        }
        let source = &mut self.source;
        while !source.done() && s.can_send() {
            let n = s
                .send(|buf| {
                    let chunk = source.next(buf.len());
                    let n = chunk.len();
                    buf[..n].copy_from_slice(chunk);
                    (n, n)
                })
                .map_err(|e| format!("smoltcp send in {state}: {e}"))?;
            if n == 0 {
                break;
            }
            source.advance(n);
        }
        if source.done() && !self.closed {
            s.close();
            self.closed = true;
        }
        let sink = &mut self.sink;
        while !sink.fin {
            match s.recv(|buf| {
                sink.push(buf);
                (buf.len(), buf.len())
            }) {
                Ok(0) => break,
                Ok(_) => {}
                Err(smol_tcp::RecvError::Finished) => sink.fin = true,
                Err(e) => return Err(format!("smoltcp recv in {state}: {e}")),
            }
        }
        if s.state() == smol_tcp::State::Closed && !(self.sink.fin && self.source.done()) {
            return Err(format!(
                "smoltcp's socket closed early: sent {}, received {}",
                self.source.sent(),
                self.sink.received()
            ));
        }
        Ok(())
    }

    /// The socket's state.
    pub fn state(&self, sim: &Sim) -> smol_tcp::State {
        sim.peer
            .sockets
            .get::<smol_tcp::Socket>(self.handle)
            .state()
    }
}

/// A smoltcp TCP socket with [`PEER_BUFFER`] bytes of buffer each way.
pub fn peer_socket(sim: &mut Sim) -> SocketHandle {
    let rx = smol_tcp::SocketBuffer::new(vec![0; PEER_BUFFER]);
    let tx = smol_tcp::SocketBuffer::new(vec![0; PEER_BUFFER]);
    sim.peer.sockets.add(smol_tcp::Socket::new(rx, tx))
}

/// A connection's Debug output with the buffer contents left out.
pub fn describe(c: &Connection) -> String {
    let full = format!("{c:?}");
    let mut out = String::with_capacity(1024);
    let mut rest = full.as_str();
    while let Some(at) = rest.find("buf: [") {
        out.push_str(&rest[..at]);
        out.push_str("buf: [..]");
        let after = &rest[at + "buf: [".len()..];
        rest = after.find(']').map_or("", |end| &after[end + 1..]);
    }
    out.push_str(rest);
    out
}

/// Where both ends of a transfer stand, for failure messages.
pub fn status(sim: &mut Sim, ours: &OurEnd, theirs: &PeerEnd) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "at {}:", sim.now);
    let _ = writeln!(
        out,
        "  ours: sent {} received {} fin {}; connection {}",
        ours.source.sent(),
        ours.sink.received(),
        ours.sink.fin(),
        ours.connection(sim.host.iface())
            .map_or_else(|| "none".to_owned(), describe)
    );
    let s = sim.peer.sockets.get::<smol_tcp::Socket>(theirs.handle);
    let _ = writeln!(
        out,
        "  smoltcp: sent {} received {} fin {}; {} send queue {} recv queue {}",
        theirs.source.sent(),
        theirs.sink.received(),
        theirs.sink.fin(),
        s.state(),
        s.send_queue(),
        s.recv_queue()
    );
    let _ = write!(
        out,
        "  host poll_at {:?}, its TCP poll_at {:?}, smoltcp poll_at {:?}, wire poll_at {:?}",
        sim.host.poll_at(),
        sim.host.iface().tcp().poll_at(),
        {
            let now = sim.now;
            sim.peer.poll_at(now)
        },
        sim.link.wire.poll_at()
    );
    out
}

/// When a transfer's milestones were reached, in virtual time from its start.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Both ends had read everything and the other's FIN.
    pub data: Duration,
    /// Our connection was in TIME-WAIT or CLOSED and smoltcp's socket closed.
    pub closed: Duration,
    /// Steps taken.
    pub steps: u64,
}

/// Steps a transfer may take without the clock moving.
const MAX_STEPS_PER_INSTANT: u64 = 10_000_000;

/// Moves the transfer until each end has read everything the other sent and its FIN, our
/// connection is in TIME-WAIT or CLOSED and smoltcp's socket is closed.
///
/// This is [`Sim`]'s step with the two applications woken as an event loop would: ours between
/// our host taking in frames and sending (where a [`tapstack::Host`] runs its services), smoltcp's
/// right after smoltcp's poll. So neither application lags a step behind its stack, and a stack
/// that stops asking to be polled is caught at once instead of the clock running out.
///
/// # Errors
/// An end failed, nothing was left scheduled before the end, or the transfer did not finish
/// within `max` of virtual time.
pub fn run(
    sim: &mut Sim,
    ours: &mut OurEnd,
    theirs: &mut PeerEnd,
    max: Duration,
) -> Result<Timing, Box<dyn Error>> {
    run_filtered(sim, ours, theirs, max, &mut |_| true)
}

/// [`run`], with every frame that reaches our host first shown to `keep`, which may drop it.
///
/// # Errors
/// As [`run`].
pub fn run_filtered(
    sim: &mut Sim,
    ours: &mut OurEnd,
    theirs: &mut PeerEnd,
    max: Duration,
    keep: &mut dyn FnMut(&[u8]) -> bool,
) -> Result<Timing, Box<dyn Error>> {
    let start = sim.now;
    let deadline = start + max;
    let mut data_done: Option<Instant> = None;
    let mut steps = 0u64;
    let mut same_instant = 0u64;
    loop {
        steps += 1;
        let fail =
            |sim: &mut Sim, ours: &OurEnd, theirs: &PeerEnd, why: String| -> Box<dyn Error> {
                format!("{why} (step {steps})\n{}", status(sim, ours, theirs)).into()
            };
        let now = sim.now;
        let Sim {
            link, host, peer, ..
        } = &mut *sim;
        while let Some(frame) = link.wire.recv(HOST_END, now) {
            if keep(&frame) {
                host.receive(now, &frame, &mut |out| link.send(HOST_END, now, out));
            }
        }
        let pumped = ours.pump(host.iface_mut());
        host.poll(now, &mut |out| link.send(HOST_END, now, out));
        turn(link, now, PEER_END, peer);
        // The record of frames is not needed here; keep its memory bounded.
        if link.sent.len() > 4096 {
            link.sent.clear();
        }
        if let Err(e) = pumped {
            return Err(fail(sim, ours, theirs, format!("our end: {e}")));
        }
        if let Err(e) = theirs.pump(sim) {
            return Err(fail(sim, ours, theirs, e));
        }

        if data_done.is_none() && ours.sink.fin() && theirs.sink.fin() {
            data_done = Some(now);
        }
        let closed = matches!(
            ours.state(sim.host.iface()),
            State::TimeWait | State::Closed
        ) && theirs.state(sim) == smol_tcp::State::Closed;
        if let (Some(data), true) = (data_done, closed) {
            return Ok(Timing {
                data: data.saturating_duration_since(start),
                closed: now.saturating_duration_since(start),
                steps,
            });
        }

        let next = [
            sim.host.poll_at(),
            sim.peer.poll_at(now),
            sim.link.wire.poll_at(),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else {
            return Err(fail(
                sim,
                ours,
                theirs,
                "stalled: nothing is scheduled and the transfer is not finished".into(),
            ));
        };
        if next <= now {
            same_instant += 1;
            if same_instant > MAX_STEPS_PER_INSTANT {
                return Err(fail(sim, ours, theirs, format!("livelock at {now}")));
            }
        } else {
            same_instant = 0;
            if next > deadline {
                return Err(fail(
                    sim,
                    ours,
                    theirs,
                    format!("not finished by {deadline}; next event at {next}"),
                ));
            }
            sim.now = next;
        }
    }
}
