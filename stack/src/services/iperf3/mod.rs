//! An iperf3 server on port 5201, so that `iperf3 -c` measures the stack as it measures any
//! host: TCP and UDP tests, the server sending (`-R`), parallel streams (`-P`), IPv4 and IPv6.
//!
//! One test runs at a time, as with iperf3 itself: a client that connects while another test
//! runs is told the server is busy ([`State::AccessDenied`]) and its connection closed. A test
//! runs through the phases of the iperf3 control protocol: the client's cookie, the parameter
//! exchange, the creation of the data streams (TCP connections that send the same cookie, or
//! UDP streams opened by a connect datagram), the test itself, the exchange of results and the
//! client's goodbye. Anything the protocol does not allow at that point (a malformed or
//! oversized message, an unknown state byte, a phase that takes too long) ends the test: its
//! connections are closed and the server waits for the next client. Bidirectional tests are
//! refused the same way.
//!
//! Resources are bounded: at most [`wire::MAX_STREAMS`] streams, [`MAX_WAITING`] connections
//! waiting to send their cookie, messages of at most [`wire::MAX_JSON`] bytes, and a deadline
//! on every phase. The CPU figures of the results are zero.

pub mod wire;

use core::time::Duration;
use std::net::{IpAddr, SocketAddr};

use tracing::{debug, info};

use crate::iface::Interface;
use crate::services::Service;
use crate::tcp::{self, SocketError};
use crate::time::{earliest, Instant};
use crate::udp;

pub use wire::{Params, Protocol, State};

/// The iperf3 port.
pub const PORT: u16 = 5201;

/// Connections at most that have not yet sent their cookie.
pub const MAX_WAITING: usize = 16;
/// How long a new connection may take to send its cookie.
const COOKIE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the client may take for each step of the protocol outside the test itself.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long past its time a test may run before the server gives up on the client.
const GRACE: Duration = Duration::from_secs(10);
/// Datagrams a UDP stream sends at most in one poll.
const UDP_BURST: u64 = 64;

/// What the server has done, for logs and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Tests that ran to the client's goodbye.
    pub completed: u64,
    /// Tests ended early: malformed messages, timeouts, a client that went away.
    pub aborted: u64,
    /// Clients told the server is busy.
    pub busy: u64,
}

#[derive(Debug)]
struct Waiting {
    handle: tcp::Handle,
    cookie: Vec<u8>,
    since: Instant,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the parameters (length and JSON).
    Params,
    /// Waiting for the data streams.
    Streams,
    /// The test runs.
    Running,
    /// The server's results sent; waiting for the client's (length and JSON).
    Results,
    /// Results exchanged; waiting for the client's goodbye.
    Done,
}

#[derive(Debug)]
enum Transport {
    Tcp(tcp::Handle),
    Udp {
        peer: SocketAddr,
        local: Option<IpAddr>,
    },
}

#[derive(Debug)]
struct Stream {
    transport: Transport,
    bytes: u64,
    packets: u64,
    /// UDP: datagrams missing from the numbering seen so far.
    errors: u64,
    /// UDP: the next packet number expected.
    next_count: u64,
    /// UDP: interarrival jitter in seconds (RFC 3550 6.4.1, as iperf3 computes it).
    jitter: f64,
    last_transit: Option<f64>,
    /// The sender's stream is done (its bytes or blocks are out).
    finished: bool,
}

impl Stream {
    fn new(transport: Transport) -> Self {
        Stream {
            transport,
            bytes: 0,
            packets: 0,
            errors: 0,
            next_count: 1,
            jitter: 0.0,
            last_transit: None,
            finished: false,
        }
    }
}

#[derive(Debug)]
struct Test {
    control: tcp::Handle,
    cookie: Vec<u8>,
    phase: Phase,
    /// Control bytes received and not yet understood.
    inbox: Vec<u8>,
    params: Option<Params>,
    streams: Vec<Stream>,
    /// When the current phase must be over.
    deadline: Instant,
    /// When data started to flow.
    started: Instant,
}

/// Why a test ends early.
#[derive(Debug)]
enum Abort {
    Protocol(&'static str),
    Params(wire::ParamsError),
    Timeout(Phase),
    ControlClosed,
}

impl core::fmt::Display for Abort {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Abort::Protocol(what) => write!(f, "protocol error: {what}"),
            Abort::Params(e) => write!(f, "{e}"),
            Abort::Timeout(phase) => write!(f, "the client took too long ({phase:?})"),
            Abort::ControlClosed => f.write_str("the control connection closed"),
        }
    }
}

/// The iperf3 server.
#[derive(Debug)]
pub struct Server {
    listener: tcp::ListenHandle,
    udp: udp::Handle,
    waiting: Vec<Waiting>,
    test: Option<Test>,
    counters: Counters,
    /// Scratch space for reads; the data the server sends.
    buf: Vec<u8>,
    block: Vec<u8>,
}

impl Server {
    /// Listens on `port` for TCP and binds it for UDP.
    ///
    /// # Errors
    /// [`BindError`] when either port is taken.
    pub fn listen(iface: &mut Interface, port: u16) -> Result<Self, BindError> {
        let listener = iface.tcp_listen(port, 64).map_err(|_| BindError)?;
        let udp = match iface.udp_bind(port) {
            Ok(h) => h,
            Err(_) => {
                iface.tcp_unlisten(listener);
                return Err(BindError);
            }
        };
        Ok(Server {
            listener,
            udp,
            waiting: Vec::new(),
            test: None,
            counters: Counters::default(),
            buf: vec![0; 64 * 1024],
            block: Vec::new(),
        })
    }

    /// What the server has done.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    fn accept(&mut self, now: Instant, iface: &mut Interface) {
        while self.waiting.len() < MAX_WAITING {
            let Some(handle) = iface.tcp_accept(self.listener) else {
                break;
            };
            self.waiting.push(Waiting {
                handle,
                cookie: Vec::with_capacity(wire::COOKIE_LEN),
                since: now,
            });
        }
        let mut i = 0;
        while let Some(w) = self.waiting.get_mut(i) {
            let want = wire::COOKIE_LEN - w.cookie.len();
            let mut chunk = [0u8; wire::COOKIE_LEN];
            let got = match iface.tcp_recv(w.handle, chunk.get_mut(..want).unwrap_or_default()) {
                Ok(n) => n,
                Err(_) => {
                    iface.tcp_close(w.handle);
                    self.waiting.swap_remove(i);
                    continue;
                }
            };
            w.cookie
                .extend_from_slice(chunk.get(..got).unwrap_or_default());
            if w.cookie.len() == wire::COOKIE_LEN {
                let w = self.waiting.swap_remove(i);
                self.admit(now, iface, w);
                continue;
            }
            if now.saturating_duration_since(w.since) >= COOKIE_TIMEOUT {
                iface.tcp_close(w.handle);
                self.waiting.swap_remove(i);
                continue;
            }
            i += 1;
        }
    }

    /// A connection sent its cookie: a new test, a stream of the test being set up, or a
    /// client told the server is busy.
    fn admit(&mut self, now: Instant, iface: &mut Interface, w: Waiting) {
        match &mut self.test {
            None => {
                debug!(remote = ?iface.tcp_connection(w.handle).map(tcp::Connection::remote), "iperf3: a test begins");
                let mut test = Test {
                    control: w.handle,
                    cookie: w.cookie,
                    phase: Phase::Params,
                    inbox: Vec::new(),
                    params: None,
                    streams: Vec::new(),
                    deadline: now + STEP_TIMEOUT,
                    started: now,
                };
                iface.tcp_set_nodelay(test.control, true);
                if send_state(iface, test.control, State::ParamExchange).is_err() {
                    iface.tcp_close(test.control);
                    return;
                }
                test.inbox.reserve(64);
                self.test = Some(test);
            }
            Some(test)
                if test.phase == Phase::Streams
                    && test.cookie == w.cookie
                    && test.params.as_ref().is_some_and(|p| {
                        p.protocol == Protocol::Tcp && test.streams.len() < p.parallel
                    }) =>
            {
                test.streams.push(Stream::new(Transport::Tcp(w.handle)));
            }
            Some(_) => {
                self.counters.busy += 1;
                let _ = send_state(iface, w.handle, State::AccessDenied);
                iface.tcp_close(w.handle);
            }
        }
    }

    /// Datagrams on the UDP port: stream openings while streams are set up, test data while
    /// a test runs; anything else is dropped.
    fn receive_udp(&mut self, now: Instant, iface: &mut Interface) {
        while let Some((from, to, data)) = iface.udp_recv_from_to(self.udp) {
            let Some(test) = self.test.as_mut() else {
                continue;
            };
            let Some(params) = test.params.as_ref() else {
                continue;
            };
            if params.protocol != Protocol::Udp {
                continue;
            }
            let known = test
                .streams
                .iter()
                .position(|s| matches!(s.transport, Transport::Udp { peer, .. } if peer == from));
            match (test.phase, known) {
                (Phase::Streams, None)
                    if wire::UDP_CONNECT.iter().any(|m| data == m)
                        && test.streams.len() < params.parallel =>
                {
                    let replied = iface.udp_send_from(self.udp, to, from, &wire::UDP_CONNECT_REPLY);
                    if replied.is_ok() {
                        test.streams.push(Stream::new(Transport::Udp {
                            peer: from,
                            local: to,
                        }));
                    }
                }
                (Phase::Running, Some(i)) if !params.reverse => {
                    let wide = params.counters_64bit;
                    if let (Some(s), Some(h)) =
                        (test.streams.get_mut(i), wire::UdpHeader::parse(&data, wide))
                    {
                        s.on_datagram(now, &h, data.len());
                    }
                }
                _ => {}
            }
        }
    }

    fn run_test(&mut self, now: Instant, iface: &mut Interface) {
        let Some(test) = self.test.as_mut() else {
            return;
        };
        let outcome = test.step(now, iface, &mut self.buf, &mut self.block, self.udp);
        match outcome {
            Ok(false) => {}
            Ok(true) => {
                self.counters.completed += 1;
                info!("iperf3: test complete");
                test.close(iface);
                self.test = None;
            }
            Err(e) => {
                self.counters.aborted += 1;
                info!("iperf3: test ended early: {e}");
                test.close(iface);
                self.test = None;
            }
        }
    }
}

impl Stream {
    /// A UDP test datagram arrived: count it, its losses (iperf3's way: a gap adds the
    /// missing numbers, a late packet takes one back) and the jitter of its transit time.
    fn on_datagram(&mut self, now: Instant, h: &wire::UdpHeader, len: usize) {
        self.bytes += len as u64;
        self.packets += 1;
        if h.count >= self.next_count {
            self.errors += h.count - self.next_count;
            self.next_count = h.count + 1;
        } else {
            self.errors = self.errors.saturating_sub(1);
        }
        let arrival = now.micros() as f64 / 1e6;
        let transit = arrival - h.time();
        if let Some(last) = self.last_transit {
            let d = (transit - last).abs();
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.last_transit = Some(transit);
    }
}

impl Test {
    /// Runs the test as far as it can go now. `Ok(true)` when it is over.
    fn step(
        &mut self,
        now: Instant,
        iface: &mut Interface,
        buf: &mut [u8],
        block: &mut Vec<u8>,
        udp: udp::Handle,
    ) -> Result<bool, Abort> {
        self.read_control(iface, buf)?;
        // Data first, so that what arrived with the client's TEST_END is counted.
        if matches!(self.phase, Phase::Running | Phase::Results | Phase::Done) {
            self.move_data(now, iface, buf, block, udp);
        }
        loop {
            let before = self.phase;
            if self.advance(now, iface, block)? {
                return Ok(true);
            }
            if self.phase == before {
                break;
            }
        }
        if self.phase == Phase::Running {
            self.move_data(now, iface, buf, block, udp);
        }
        if now >= self.deadline {
            return Err(Abort::Timeout(self.phase));
        }
        Ok(false)
    }

    fn read_control(&mut self, iface: &mut Interface, buf: &mut [u8]) -> Result<(), Abort> {
        loop {
            let room = (wire::MAX_JSON + 8).saturating_sub(self.inbox.len());
            if room == 0 {
                return Err(Abort::Protocol("control message too long"));
            }
            let want = room.min(buf.len());
            match iface.tcp_recv(self.control, buf.get_mut(..want).unwrap_or_default()) {
                Ok(0) => return Ok(()),
                Ok(n) => self
                    .inbox
                    .extend_from_slice(buf.get(..n).unwrap_or_default()),
                Err(SocketError::Closed) if self.phase == Phase::Done => return Ok(()),
                Err(_) => return Err(Abort::ControlClosed),
            }
        }
    }

    /// Takes a length-prefixed JSON message from the inbox, when all of it is there.
    fn take_message(&mut self) -> Result<Option<Vec<u8>>, Abort> {
        let Some(head) = self.inbox.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        if len == 0 || len > wire::MAX_JSON {
            return Err(Abort::Protocol("bad message length"));
        }
        if self.inbox.len() < 4 + len {
            return Ok(None);
        }
        let message = self.inbox.get(4..4 + len).unwrap_or_default().to_vec();
        self.inbox.drain(..4 + len);
        Ok(Some(message))
    }

    /// Takes a state byte the client sent, if any.
    fn take_state(&mut self) -> Result<Option<State>, Abort> {
        let Some(&byte) = self.inbox.first() else {
            return Ok(None);
        };
        self.inbox.remove(0);
        State::from_client(byte)
            .map(Some)
            .ok_or(Abort::Protocol("unexpected state byte"))
    }

    /// One move of the protocol; `Ok(true)` when the test is over.
    fn advance(
        &mut self,
        now: Instant,
        iface: &mut Interface,
        block: &mut Vec<u8>,
    ) -> Result<bool, Abort> {
        match self.phase {
            Phase::Params => {
                let Some(json) = self.take_message()? else {
                    return Ok(false);
                };
                let params = Params::parse(&json).map_err(Abort::Params)?;
                debug!(?params, "iperf3: parameters");
                block.clear();
                block.extend((0..params.len).map(|i| (i % 251) as u8));
                self.params = Some(params);
                self.send(iface, State::CreateStreams)?;
                self.phase = Phase::Streams;
                self.deadline = now + STEP_TIMEOUT;
            }
            Phase::Streams => {
                if !self.inbox.is_empty() {
                    return Err(Abort::Protocol("control data while streams open"));
                }
                let parallel = self.params.as_ref().map_or(1, |p| p.parallel);
                if self.streams.len() < parallel {
                    return Ok(false);
                }
                self.send(iface, State::TestStart)?;
                self.send(iface, State::TestRunning)?;
                self.phase = Phase::Running;
                self.started = now;
                let length = self.params.as_ref().map_or(Duration::ZERO, Params::length);
                self.deadline = now + length + GRACE;
            }
            Phase::Running => {
                let reverse = self.params.as_ref().is_some_and(|p| p.reverse);
                match self.take_state()? {
                    Some(State::TestEnd) => {}
                    Some(State::ClientTerminate) => {
                        return Err(Abort::Protocol("the client terminated the test"))
                    }
                    Some(_) => return Err(Abort::Protocol("unexpected state while running")),
                    None if reverse && self.sender_done(now) => {}
                    None => return Ok(false),
                }
                // The server's results and the state after them go out with the call for
                // results, ahead of the client's own: the protocol orders them the other way,
                // but an iperf3 client reads the server's results at once after writing its
                // own, without waiting (iperf 3.12 gives up on a read that finds nothing), so
                // they must already be there. The client reads them in its order.
                let results = self.results(now, iface);
                let len = u32::try_from(results.len())
                    .unwrap_or(u32::MAX)
                    .to_be_bytes();
                self.send(iface, State::ExchangeResults)?;
                send_all(iface, self.control, &len)?;
                send_all(iface, self.control, &results)?;
                self.send(iface, State::DisplayResults)?;
                self.phase = Phase::Results;
                self.deadline = now + STEP_TIMEOUT;
            }
            Phase::Results => {
                // The client's results; the server does not use them.
                if self.take_message()?.is_none() {
                    return Ok(false);
                }
                self.phase = Phase::Done;
                self.deadline = now + STEP_TIMEOUT;
            }
            Phase::Done => match self.take_state()? {
                Some(State::IperfDone) => return Ok(true),
                Some(_) => return Err(Abort::Protocol("unexpected state after the results")),
                None => {
                    let closed = iface
                        .tcp_connection(self.control)
                        .is_none_or(|c| c.recv_finished());
                    return if closed {
                        Err(Abort::ControlClosed)
                    } else {
                        Ok(false)
                    };
                }
            },
        }
        Ok(false)
    }

    fn send(&self, iface: &mut Interface, state: State) -> Result<(), Abort> {
        send_state(iface, self.control, state)
    }

    /// In a reverse test: every stream has sent what it was asked to, or the time is up.
    fn sender_done(&self, now: Instant) -> bool {
        let Some(p) = self.params.as_ref() else {
            return true;
        };
        if p.bytes > 0 || p.blocks > 0 {
            return self.streams.iter().all(|s| s.finished);
        }
        now >= self.started + p.length()
    }

    /// Reads what the client's streams sent, or sends on them in a reverse test.
    fn move_data(
        &mut self,
        now: Instant,
        iface: &mut Interface,
        buf: &mut [u8],
        block: &[u8],
        udp: udp::Handle,
    ) {
        let Some(p) = self.params.clone() else {
            return;
        };
        let sending = p.reverse && self.phase == Phase::Running && !self.sender_done(now);
        let elapsed = now.saturating_duration_since(self.started).as_secs_f64();
        for s in &mut self.streams {
            match s.transport {
                Transport::Tcp(h) if !p.reverse => loop {
                    match iface.tcp_recv(h, buf) {
                        Ok(0) => break,
                        Ok(n) => s.bytes += n as u64,
                        Err(_) => break,
                    }
                },
                Transport::Tcp(h) => {
                    while sending && !s.finished {
                        let want = s.remaining(&p, block.len());
                        let Ok(n) = iface.tcp_send(h, block.get(..want).unwrap_or_default()) else {
                            break;
                        };
                        if n == 0 {
                            break;
                        }
                        s.bytes += n as u64;
                        if n == want {
                            s.packets += 1;
                        }
                        s.finished = s.limit_reached(&p);
                    }
                }
                Transport::Udp { peer, local } if p.reverse => {
                    let mut datagram = block.to_vec();
                    let mut burst = 0;
                    while sending && !s.finished && burst < UDP_BURST && s.udp_due(&p, elapsed) {
                        let count = s.packets + 1;
                        let header = wire::UdpHeader {
                            sec: (now.micros() / 1_000_000) as u32,
                            usec: (now.micros() % 1_000_000) as u32,
                            count,
                        };
                        header.write(&mut datagram, p.counters_64bit);
                        if iface.udp_send_from(udp, local, peer, &datagram).is_err() {
                            break;
                        }
                        s.packets = count;
                        s.bytes += datagram.len() as u64;
                        s.finished = s.limit_reached(&p);
                        burst += 1;
                    }
                }
                Transport::Udp { .. } => {}
            }
        }
    }

    /// When a reverse UDP test next has a datagram due.
    fn next_udp_due(&self) -> Option<Instant> {
        let p = self.params.as_ref()?;
        if self.phase != Phase::Running || !p.reverse || p.protocol != Protocol::Udp {
            return None;
        }
        if p.bandwidth == 0 {
            return Some(self.started);
        }
        let sent = self.streams.iter().map(|s| s.packets).min()?;
        let per_packet = (p.len as f64 * 8.0) / p.bandwidth as f64;
        let at = Duration::from_secs_f64((sent as f64 * per_packet).min(86_400.0 * 2.0));
        Some(self.started + at)
    }

    fn results(&self, now: Instant, iface: &Interface) -> Vec<u8> {
        let reverse = self.params.as_ref().is_some_and(|p| p.reverse);
        let tcp = self
            .params
            .as_ref()
            .is_none_or(|p| p.protocol == Protocol::Tcp);
        let end_time = now.saturating_duration_since(self.started).as_secs_f64();
        let streams: Vec<wire::StreamResult> = self
            .streams
            .iter()
            .enumerate()
            .map(|(i, s)| wire::StreamResult {
                id: wire::stream_id(i),
                bytes: s.bytes,
                retransmits: match s.transport {
                    Transport::Tcp(h) if reverse => {
                        iface.tcp_connection(h).map(|c| c.counters().retransmits)
                    }
                    _ => None,
                },
                jitter: s.jitter,
                errors: s.errors,
                packets: s.packets,
                end_time,
            })
            .collect();
        wire::results(reverse && tcp, &streams)
    }

    fn close(&self, iface: &mut Interface) {
        for s in &self.streams {
            if let Transport::Tcp(h) = s.transport {
                iface.tcp_close(h);
            }
        }
        iface.tcp_close(self.control);
    }
}

impl Stream {
    /// Bytes of the next write: a block, or less when a byte count ends the stream sooner.
    fn remaining(&self, p: &Params, block: usize) -> usize {
        if p.bytes > 0 {
            let left = p.bytes.saturating_sub(self.bytes);
            block.min(usize::try_from(left).unwrap_or(usize::MAX))
        } else {
            block
        }
    }

    fn limit_reached(&self, p: &Params) -> bool {
        (p.bytes > 0 && self.bytes >= p.bytes) || (p.blocks > 0 && self.packets >= p.blocks)
    }

    /// Whether the rate allows another datagram `elapsed` seconds into the test.
    fn udp_due(&self, p: &Params, elapsed: f64) -> bool {
        if p.bandwidth == 0 {
            return true;
        }
        let allowed = elapsed * p.bandwidth as f64 / (p.len as f64 * 8.0);
        (self.packets as f64) <= allowed
    }
}

fn send_state(iface: &mut Interface, h: tcp::Handle, state: State) -> Result<(), Abort> {
    send_all(iface, h, &[state.byte()])
}

/// Control messages are small: all of one fits the send buffer, or the connection is broken.
fn send_all(iface: &mut Interface, h: tcp::Handle, data: &[u8]) -> Result<(), Abort> {
    match iface.tcp_send(h, data) {
        Ok(n) if n == data.len() => Ok(()),
        Ok(_) => Err(Abort::Protocol("control connection backed up")),
        Err(_) => Err(Abort::ControlClosed),
    }
}

/// The port is taken (TCP or UDP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BindError;

impl core::fmt::Display for BindError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the iperf3 port is taken")
    }
}

impl std::error::Error for BindError {}

impl Service for Server {
    fn name(&self) -> &'static str {
        "iperf3"
    }

    fn poll(&mut self, now: Instant, iface: &mut Interface) {
        self.accept(now, iface);
        self.receive_udp(now, iface);
        self.run_test(now, iface);
    }

    fn poll_at(&self) -> Option<Instant> {
        let waiting = self.waiting.iter().map(|w| w.since + COOKIE_TIMEOUT).min();
        let test = self
            .test
            .as_ref()
            .map(|t| earliest(Some(t.deadline), t.next_udp_due()));
        let reverse_end = self.test.as_ref().and_then(|t| {
            let p = t.params.as_ref()?;
            (t.phase == Phase::Running && p.reverse).then(|| t.started + p.length())
        });
        earliest(earliest(waiting, test.flatten()), reverse_end)
    }
}

#[cfg(test)]
mod tests;
