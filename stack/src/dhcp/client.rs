//! The DHCP client state machine (RFC 2131 4.4, figure 5).

use std::collections::VecDeque;

use core::net::Ipv4Addr;
use core::time::Duration;

use tracing::{debug, trace};

use super::wire::{MessageType, Op, ParseError, Repr};
use crate::config::Ipv4Cidr;
use crate::ethernet::MacAddr;
use crate::rng::Rng;
use crate::time::Instant;

/// Datagrams waiting in [`Client::poll`] at most; older ones are dropped first.
const MAX_TRANSMITS: usize = 8;
/// Events waiting in [`Client::poll_event`] at most; older ones are dropped first.
const MAX_EVENTS: usize = 32;
/// Options the client asks for (RFC 2132 9.8): mask, router, DNS, lease time, server id, T1, T2.
const PARAMETER_REQUEST_LIST: [u8; 7] = [1, 3, 6, 51, 54, 58, 59];

/// Client settings. [`Config::default`] follows RFC 2131.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// An address to ask for again at start (INIT-REBOOT, RFC 2131 3.2); `None` starts in INIT.
    pub requested_addr: Option<Ipv4Addr>,
    /// Delay before the first retransmission, doubled for each next one (RFC 2131 4.1: 4 s).
    pub retransmit_base: Duration,
    /// Longest retransmission delay (RFC 2131 4.1: 64 s).
    pub max_backoff: Duration,
    /// Each retransmission delay moves by a uniform random amount within ± this (RFC 2131 4.1:
    /// 1 s).
    pub jitter: Duration,
    /// DHCPREQUESTs sent in REQUESTING or REBOOTING before going back to INIT.
    pub request_attempts: u32,
    /// Wait after a DHCPDECLINE before starting again (RFC 2131 3.1.5: at least 10 s).
    pub decline_delay: Duration,
    /// Shortest wait between DHCPREQUESTs in RENEWING and REBINDING (RFC 2131 4.4.5: 60 s).
    pub min_renew_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            requested_addr: None,
            retransmit_base: Duration::from_secs(4),
            max_backoff: Duration::from_secs(64),
            jitter: Duration::from_secs(1),
            request_attempts: 4,
            decline_delay: Duration::from_secs(10),
            min_renew_interval: Duration::from_secs(60),
        }
    }
}

/// Client states: those of RFC 2131 figure 5, plus [`State::Stopped`] and [`State::Probing`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Not started, or released.
    Stopped,
    /// About to broadcast a DHCPDISCOVER (possibly after a delay).
    Init,
    /// DHCPDISCOVER sent; waiting for a DHCPOFFER.
    Selecting,
    /// DHCPREQUEST sent for an offer; waiting for DHCPACK/DHCPNAK.
    Requesting,
    /// DHCPACK received; waiting for the caller's ARP check of the address (RFC 2131 3.1.5).
    Probing,
    /// The lease is in use.
    Bound,
    /// Past T1: renewing with the leasing server by unicast.
    Renewing,
    /// Past T2: rebinding with any server by broadcast.
    Rebinding,
    /// About to ask for a known address again.
    InitReboot,
    /// DHCPREQUEST sent for a known address; waiting for DHCPACK/DHCPNAK.
    Rebooting,
}

/// Where a [`Transmit`] goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination {
    /// 255.255.255.255, Ethernet broadcast.
    Broadcast,
    /// A server, by unicast.
    Unicast(Ipv4Addr),
}

/// A datagram to send from UDP port 68 to port 67.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// IPv4 source: 0.0.0.0 unless the client holds a lease.
    pub src: Ipv4Addr,
    /// IPv4 destination.
    pub dst: Destination,
    /// The DHCP message.
    pub payload: Vec<u8>,
}

/// An address lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The address and the subnet (from option 1; the classful prefix without it).
    pub addr: Ipv4Cidr,
    /// The first router (option 3).
    pub router: Option<Ipv4Addr>,
    /// DNS servers (option 6).
    pub dns: Vec<Ipv4Addr>,
    /// The leasing server (option 54).
    pub server: Ipv4Addr,
    /// Lease length from `acquired_at`; `None` for an infinite lease.
    pub lease_time: Option<Duration>,
    /// Renewal time T1 from `acquired_at` (RFC 2131 4.4.5: 0.5 of the lease by default).
    pub t1: Option<Duration>,
    /// Rebinding time T2 from `acquired_at` (RFC 2131 4.4.5: 0.875 of the lease by default).
    pub t2: Option<Duration>,
    /// When the DHCPREQUEST that obtained the lease was first sent (RFC 2131 4.4.1).
    pub acquired_at: Instant,
}

impl Lease {
    /// The router to use as the default gateway: the first one offered, when it is a host on
    /// the leased subnet other than the leased address.
    pub fn gateway(&self) -> Option<Ipv4Addr> {
        self.router
            .filter(|r| self.addr.contains(*r) && *r != self.addr.addr())
    }

    /// When RENEWING starts.
    pub fn renew_at(&self) -> Option<Instant> {
        self.t1.map(|t| self.acquired_at + t)
    }

    /// When REBINDING starts.
    pub fn rebind_at(&self) -> Option<Instant> {
        self.t2.map(|t| self.acquired_at + t)
    }

    /// When the address must be given up.
    pub fn expires_at(&self) -> Option<Instant> {
        self.lease_time.map(|t| self.acquired_at + t)
    }
}

/// What the client tells its caller, through [`Client::poll_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Check with ARP probes that nobody uses this address (RFC 5227 2.1), then call
    /// [`Client::probe_result`]. The address must not be used before.
    Probe(Ipv4Addr),
    /// A lease to configure on the interface.
    LeaseAcquired(Lease),
    /// The lease was extended (same address; new times and maybe new options).
    LeaseRenewed(Lease),
    /// The address must no longer be used (expiry, DHCPNAK, release).
    LeaseLost,
    /// The address failed the ARP check and was declined.
    Declined(Ipv4Addr),
    /// A server refused the request (DHCPNAK); the client starts again.
    Nak,
}

/// Why [`Client::receive`] refused a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// The message itself is malformed.
    Malformed(ParseError),
    /// Not a BOOTREPLY.
    WrongOp,
    /// Not the transaction in progress.
    WrongXid,
    /// For another client hardware address.
    WrongChaddr,
    /// A well-formed reply this state does not expect (late, duplicate, or of the wrong type).
    Unexpected,
    /// An offer or acknowledgement without a server identifier.
    MissingServerId,
    /// An acknowledgement from a server other than the one selected.
    WrongServer,
    /// An acknowledgement without a lease time.
    MissingLeaseTime,
    /// An offered or assigned address that cannot be a host address.
    BadAddress,
}

/// Refused datagrams, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rejected {
    /// [`ParseError::Truncated`].
    pub truncated: u64,
    /// [`ParseError::BadHardware`].
    pub bad_hardware: u64,
    /// [`ParseError::BadCookie`].
    pub bad_cookie: u64,
    /// [`ParseError::OptionTruncated`].
    pub option_truncated: u64,
    /// [`ParseError::BadOptionLength`].
    pub bad_option_length: u64,
    /// [`ParseError::BadOptionValue`].
    pub bad_option_value: u64,
    /// [`ParseError::Overload`].
    pub overload: u64,
    /// [`ParseError::MissingMessageType`].
    pub missing_message_type: u64,
    /// [`Error::WrongOp`].
    pub wrong_op: u64,
    /// [`Error::WrongXid`].
    pub wrong_xid: u64,
    /// [`Error::WrongChaddr`].
    pub wrong_chaddr: u64,
    /// [`Error::Unexpected`].
    pub unexpected: u64,
    /// [`Error::MissingServerId`].
    pub missing_server_id: u64,
    /// [`Error::WrongServer`].
    pub wrong_server: u64,
    /// [`Error::MissingLeaseTime`].
    pub missing_lease_time: u64,
    /// [`Error::BadAddress`].
    pub bad_address: u64,
}

impl Rejected {
    fn slot(&mut self, e: Error) -> &mut u64 {
        match e {
            Error::Malformed(ParseError::Truncated) => &mut self.truncated,
            Error::Malformed(ParseError::BadHardware) => &mut self.bad_hardware,
            Error::Malformed(ParseError::BadCookie) => &mut self.bad_cookie,
            Error::Malformed(ParseError::OptionTruncated) => &mut self.option_truncated,
            Error::Malformed(ParseError::BadOptionLength) => &mut self.bad_option_length,
            Error::Malformed(ParseError::BadOptionValue) => &mut self.bad_option_value,
            Error::Malformed(ParseError::Overload) => &mut self.overload,
            Error::Malformed(ParseError::MissingMessageType) => &mut self.missing_message_type,
            Error::WrongOp => &mut self.wrong_op,
            Error::WrongXid => &mut self.wrong_xid,
            Error::WrongChaddr => &mut self.wrong_chaddr,
            Error::Unexpected => &mut self.unexpected,
            Error::MissingServerId => &mut self.missing_server_id,
            Error::WrongServer => &mut self.wrong_server,
            Error::MissingLeaseTime => &mut self.missing_lease_time,
            Error::BadAddress => &mut self.bad_address,
        }
    }

    /// How many datagrams were refused for `e`.
    pub fn get(&self, e: Error) -> u64 {
        let mut copy = *self;
        *copy.slot(e)
    }

    /// Every reason with its count, named as in logs and `/stats`.
    pub fn fields(&self) -> [(&'static str, u64); 16] {
        [
            ("truncated", self.truncated),
            ("bad_hardware", self.bad_hardware),
            ("bad_cookie", self.bad_cookie),
            ("option_truncated", self.option_truncated),
            ("bad_option_length", self.bad_option_length),
            ("bad_option_value", self.bad_option_value),
            ("overload", self.overload),
            ("missing_message_type", self.missing_message_type),
            ("wrong_op", self.wrong_op),
            ("wrong_xid", self.wrong_xid),
            ("wrong_chaddr", self.wrong_chaddr),
            ("unexpected", self.unexpected),
            ("missing_server_id", self.missing_server_id),
            ("wrong_server", self.wrong_server),
            ("missing_lease_time", self.missing_lease_time),
            ("bad_address", self.bad_address),
        ]
    }

    /// All refusals.
    pub fn total(&self) -> u64 {
        self.fields().iter().map(|(_, n)| n).sum()
    }
}

impl Counters {
    /// Every counter but the refusals, named as in logs and `/stats`.
    pub fn fields(&self) -> [(&'static str, u64); 11] {
        [
            ("discovers", self.discovers),
            ("requests", self.requests),
            ("offers", self.offers),
            ("acks", self.acks),
            ("naks", self.naks),
            ("declines", self.declines),
            ("releases", self.releases),
            ("renewals", self.renewals),
            ("rebinds", self.rebinds),
            ("expiries", self.expiries),
            ("queue_drops", self.queue_drops),
        ]
    }
}

impl core::fmt::Display for Counters {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (name, n) in self.fields() {
            write!(f, "{name}={n} ")?;
        }
        write!(f, "rejected={}", self.rejected.total())
    }
}

/// What the client did, for statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// DHCPDISCOVERs sent (retransmissions included).
    pub discovers: u64,
    /// DHCPREQUESTs sent (retransmissions included).
    pub requests: u64,
    /// DHCPOFFERs accepted.
    pub offers: u64,
    /// DHCPACKs accepted.
    pub acks: u64,
    /// DHCPNAKs accepted.
    pub naks: u64,
    /// DHCPDECLINEs sent.
    pub declines: u64,
    /// DHCPRELEASEs sent.
    pub releases: u64,
    /// Times RENEWING was entered.
    pub renewals: u64,
    /// Times REBINDING was entered.
    pub rebinds: u64,
    /// Leases that ran out.
    pub expiries: u64,
    /// Datagrams or events dropped because the caller did not drain them.
    pub queue_drops: u64,
    /// Refused datagrams, by reason.
    pub rejected: Rejected,
}

/// The offer being requested.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Offer {
    addr: Ipv4Addr,
    server: Ipv4Addr,
}

/// A DHCPv4 client for one interface.
#[derive(Clone, Debug)]
pub struct Client {
    mac: MacAddr,
    hostname: Option<String>,
    config: Config,
    rng: Rng,
    state: State,
    /// Transaction id of the exchange in progress.
    xid: u32,
    /// When the exchange in progress began (for `secs`).
    exchange_start: Instant,
    /// `secs` of the last DHCPDISCOVER, repeated in the DHCPREQUEST (RFC 2131 4.4.1).
    discover_secs: u16,
    /// When the first DHCPREQUEST of the exchange went out: the lease starts there.
    request_started: Instant,
    /// Messages sent in the current exchange.
    attempts: u32,
    /// When [`Client::poll`] has work to do next.
    deadline: Option<Instant>,
    offer: Option<Offer>,
    /// An acknowledged lease waiting for the ARP check.
    pending: Option<Lease>,
    /// The lease in use (BOUND, RENEWING, REBINDING).
    lease: Option<Lease>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    counters: Counters,
}

impl Client {
    /// A stopped client for the interface with hardware address `mac`. `hostname` is sent in
    /// option 12 (cut at 255 bytes); `seed` drives transaction ids and jitter.
    pub fn new(mac: MacAddr, hostname: Option<String>, seed: u64, config: Config) -> Self {
        let mut rng = Rng::new(seed, "dhcp");
        let xid = rng.next_u32();
        Client {
            mac,
            hostname: hostname.filter(|h| !h.is_empty()).map(cut_hostname),
            config,
            rng,
            state: State::Stopped,
            xid,
            exchange_start: Instant::ZERO,
            discover_secs: 0,
            request_started: Instant::ZERO,
            attempts: 0,
            deadline: None,
            offer: None,
            pending: None,
            lease: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            counters: Counters::default(),
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The lease in use, if any.
    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    /// An acknowledged lease waiting for the address check ([`State::Probing`]).
    pub fn pending(&self) -> Option<&Lease> {
        self.pending.as_ref()
    }

    /// Counters so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Starts acquiring an address: INIT-REBOOT when [`Config::requested_addr`] is set, INIT
    /// otherwise. Does nothing unless the client is stopped.
    pub fn start(&mut self, now: Instant) {
        if self.state != State::Stopped {
            return;
        }
        if let Some(addr) = self.config.requested_addr {
            debug!(%addr, "DHCP: starting, asking for {addr} again");
            self.state = State::InitReboot;
            self.deadline = Some(now);
        } else {
            debug!("DHCP: starting");
            self.enter_init(now);
        }
    }

    /// Gives the lease back with a DHCPRELEASE to its server (RFC 2131 4.4.6) and stops.
    /// A client without a lease just stops.
    pub fn release(&mut self, now: Instant) {
        if let Some(lease) = self.lease.take() {
            let addr = lease.addr.addr();
            debug!(%now, %addr, server = %lease.server, "DHCP: releasing {addr}");
            // RFC 2131 4.4.6 / table 5: ciaddr set, server identifier, no requested address.
            self.xid = self.rng.next_u32();
            let mut r = self.message(MessageType::Release);
            r.ciaddr = addr;
            r.server_id = Some(lease.server);
            r.hostname = None;
            r.parameter_request_list.clear();
            self.counters.releases += 1;
            self.push_transmit(addr, Destination::Unicast(lease.server), &r);
            self.push_event(Event::LeaseLost);
        }
        self.state = State::Stopped;
        self.deadline = None;
        self.offer = None;
        self.pending = None;
    }

    /// Handles a datagram that arrived on UDP port 68 from `src`.
    ///
    /// # Errors
    /// [`Error`] when the datagram is malformed, not for this client and exchange, or not
    /// expected now; it is counted in [`Counters::rejected`] and nothing else changes.
    pub fn receive(&mut self, now: Instant, payload: &[u8], src: Ipv4Addr) -> Result<(), Error> {
        let result = self.handle(now, payload);
        if let Err(e) = result {
            *self.counters.rejected.slot(e) += 1;
            trace!(%src, ?e, state = ?self.state, "DHCP: ignoring a message from {src}: {e:?}");
        }
        result
    }

    /// The ARP check asked for by [`Event::Probe`] is over: `conflict` when another host
    /// answered for the address. Ignored unless the client is probing.
    pub fn probe_result(&mut self, now: Instant, conflict: bool) {
        if self.state != State::Probing {
            return;
        }
        let Some(lease) = self.pending.take() else {
            self.enter_init(now);
            return;
        };
        let addr = lease.addr.addr();
        if conflict {
            // RFC 2131 3.1.5: "the client SHOULD send a DHCPDECLINE message to the server and
            // restart the configuration process. The client SHOULD wait a minimum of ten
            // seconds before restarting".
            debug!(%addr, "DHCP: {addr} is already in use; declining it");
            let mut r = self.message(MessageType::Decline);
            r.requested_addr = Some(addr);
            r.server_id = Some(lease.server);
            r.hostname = None;
            r.parameter_request_list.clear();
            self.counters.declines += 1;
            self.push_transmit(Ipv4Addr::UNSPECIFIED, Destination::Broadcast, &r);
            self.push_event(Event::Declined(addr));
            self.enter_init(now + self.config.decline_delay);
        } else {
            debug!(addr = %lease.addr, server = %lease.server, "DHCP: bound to {}", lease.addr);
            self.state = State::Bound;
            self.deadline = lease.renew_at();
            self.push_event(Event::LeaseAcquired(lease.clone()));
            self.lease = Some(lease);
        }
    }

    /// The next datagram to send, after running the timers due at `now`.
    pub fn poll(&mut self, now: Instant) -> Option<Transmit> {
        // A bounded number of steps: a late call may cross several deadlines at once
        // (expiry, then a new DISCOVER).
        for _ in 0..4 {
            match self.deadline {
                Some(d) if d <= now => self.on_timer(now),
                _ => break,
            }
        }
        self.transmits.pop_front()
    }

    /// When [`Client::poll`] should next be called: [`Instant::ZERO`] when datagrams are
    /// already waiting, `None` when only input can wake the client.
    pub fn poll_at(&self) -> Option<Instant> {
        if self.transmits.is_empty() {
            self.deadline
        } else {
            Some(Instant::ZERO)
        }
    }

    /// The next event for the caller.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn handle(&mut self, now: Instant, payload: &[u8]) -> Result<(), Error> {
        let repr = Repr::parse_bytes(payload).map_err(Error::Malformed)?;
        if repr.op != Op::Reply {
            return Err(Error::WrongOp);
        }
        // RFC 2131 4.4.1: replies are matched to the request by xid and chaddr.
        if repr.xid != self.xid {
            return Err(Error::WrongXid);
        }
        if repr.chaddr != self.mac {
            return Err(Error::WrongChaddr);
        }
        match (self.state, repr.message_type) {
            (State::Selecting, MessageType::Offer) => self.on_offer(now, &repr),
            (
                State::Requesting | State::Rebooting | State::Renewing | State::Rebinding,
                MessageType::Ack,
            ) => self.on_ack(&repr),
            (
                State::Requesting | State::Rebooting | State::Renewing | State::Rebinding,
                MessageType::Nak,
            ) => {
                self.on_nak(now);
                Ok(())
            }
            _ => Err(Error::Unexpected),
        }
    }

    fn on_offer(&mut self, now: Instant, repr: &Repr) -> Result<(), Error> {
        let server = repr.server_id.ok_or(Error::MissingServerId)?;
        check_host_addr(repr.yiaddr)?;
        // RFC 2131 4.4.1: the first acceptable offer is taken.
        debug!(addr = %repr.yiaddr, %server, "DHCP: {server} offers {}", repr.yiaddr);
        self.counters.offers += 1;
        self.offer = Some(Offer {
            addr: repr.yiaddr,
            server,
        });
        self.state = State::Requesting;
        self.attempts = 0;
        self.send_request(now);
        Ok(())
    }

    fn on_ack(&mut self, repr: &Repr) -> Result<(), Error> {
        let server = repr.server_id.ok_or(Error::MissingServerId)?;
        if self.state == State::Requesting && self.offer.map(|o| o.server) != Some(server) {
            return Err(Error::WrongServer);
        }
        check_host_addr(repr.yiaddr)?;
        let secs = repr.lease_time.ok_or(Error::MissingLeaseTime)?;
        let lease = make_lease(repr, server, secs, self.request_started)?;
        self.counters.acks += 1;
        let renewing = matches!(self.state, State::Renewing | State::Rebinding);
        let same = self.lease.as_ref().map(|l| l.addr.addr()) == Some(repr.yiaddr);
        if renewing && same {
            debug!(addr = %lease.addr, "DHCP: lease on {} extended", lease.addr);
            self.state = State::Bound;
            self.deadline = lease.renew_at();
            self.push_event(Event::LeaseRenewed(lease.clone()));
            self.lease = Some(lease);
        } else {
            if renewing {
                // The server moved us to another address: the old one goes.
                self.lease = None;
                self.push_event(Event::LeaseLost);
            }
            debug!(addr = %repr.yiaddr, "DHCP: {server} acknowledged {}; checking it is free", repr.yiaddr);
            self.state = State::Probing;
            self.deadline = None;
            self.push_event(Event::Probe(repr.yiaddr));
            self.pending = Some(lease);
        }
        Ok(())
    }

    fn on_nak(&mut self, now: Instant) {
        // RFC 2131 4.4.1/4.4.2/4.4.5: on DHCPNAK the client restarts at INIT and stops using
        // the address.
        debug!(state = ?self.state, "DHCP: request refused (NAK); starting over");
        self.counters.naks += 1;
        self.push_event(Event::Nak);
        if self.lease.take().is_some() {
            self.push_event(Event::LeaseLost);
        }
        self.enter_init(now);
    }

    fn on_timer(&mut self, now: Instant) {
        match self.state {
            State::Stopped | State::Probing => self.deadline = None,
            State::Init => {
                self.new_exchange(now);
                self.state = State::Selecting;
                self.send_discover(now);
            }
            State::Selecting => self.send_discover(now),
            State::InitReboot => {
                self.new_exchange(now);
                self.state = State::Rebooting;
                self.send_request(now);
            }
            State::Requesting | State::Rebooting => {
                if self.attempts >= self.config.request_attempts {
                    debug!(state = ?self.state, "DHCP: no answer to the request; starting over");
                    self.enter_init(now);
                } else {
                    self.send_request(now);
                }
            }
            State::Bound | State::Renewing | State::Rebinding => self.lease_timer(now),
        }
    }

    /// T1, T2 and expiry (RFC 2131 4.4.5), taking the furthest one passed.
    fn lease_timer(&mut self, now: Instant) {
        let Some(lease) = &self.lease else {
            self.enter_init(now);
            return;
        };
        let past = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        if past(lease.expires_at()) {
            debug!(addr = %lease.addr, "DHCP: lease on {} expired", lease.addr);
            self.counters.expiries += 1;
            self.lease = None;
            self.push_event(Event::LeaseLost);
            self.enter_init(now);
        } else if past(lease.rebind_at()) {
            if self.state != State::Rebinding {
                debug!("DHCP: T2 reached; rebinding with any server");
                self.state = State::Rebinding;
                self.counters.rebinds += 1;
                self.new_exchange(now);
            }
            self.send_request(now);
        } else {
            if self.state == State::Bound {
                debug!(server = %lease.server, "DHCP: T1 reached; renewing with {}", lease.server);
                self.state = State::Renewing;
                self.counters.renewals += 1;
                self.new_exchange(now);
            }
            self.send_request(now);
        }
    }

    fn enter_init(&mut self, at: Instant) {
        self.state = State::Init;
        self.deadline = Some(at);
        self.offer = None;
        self.pending = None;
    }

    fn new_exchange(&mut self, now: Instant) {
        self.xid = self.rng.next_u32();
        self.exchange_start = now;
        self.attempts = 0;
    }

    fn secs(&self, now: Instant) -> u16 {
        let s = now.saturating_duration_since(self.exchange_start).as_secs();
        u16::try_from(s).unwrap_or(u16::MAX)
    }

    /// RFC 2131 4.1: "a delay of 4 seconds before the first retransmission ... doubled on
    /// each subsequent retransmission up to a maximum of 64 seconds ... randomized by the
    /// value of a uniform random number chosen from the range -1 to +1".
    fn backoff(&mut self, now: Instant) -> Instant {
        let exp = self.attempts.saturating_sub(1).min(31);
        let base = duration_micros(self.config.retransmit_base);
        let delay = base
            .saturating_mul(1u64 << exp)
            .min(duration_micros(self.config.max_backoff));
        let jitter = duration_micros(self.config.jitter);
        let r = self.rng.below(jitter.saturating_mul(2).saturating_add(1));
        now + Duration::from_micros(delay.saturating_add(r).saturating_sub(jitter))
    }

    /// RFC 2131 4.4.5: wait "one-half of the remaining time until T2 (in RENEWING state) and
    /// one-half of the remaining lease time (in REBINDING state), down to a minimum of 60
    /// seconds, before retransmitting".
    fn renew_retry(&self, now: Instant, until: Option<Instant>) -> Option<Instant> {
        let until = until?;
        let half = until.saturating_duration_since(now) / 2;
        Some((now + half.max(self.config.min_renew_interval)).min(until))
    }

    /// A BOOTREQUEST of type `t` in the current exchange, with the options every client
    /// message carries.
    fn message(&self, t: MessageType) -> Repr {
        let mut r = Repr::new(Op::Request, t, self.xid, self.mac);
        let mut id = vec![1]; // RFC 2132 9.14: hardware type 1, then the MAC.
        id.extend_from_slice(&self.mac.0);
        r.client_id = Some(id);
        r.hostname = self.hostname.clone();
        r.parameter_request_list = PARAMETER_REQUEST_LIST.to_vec();
        r
    }

    fn send_discover(&mut self, now: Instant) {
        let mut r = self.message(MessageType::Discover);
        r.secs = self.secs(now);
        r.broadcast = true;
        self.discover_secs = r.secs;
        self.attempts += 1;
        self.counters.discovers += 1;
        self.deadline = Some(self.backoff(now));
        debug!(
            xid = self.xid,
            attempt = self.attempts,
            "DHCP: broadcasting DISCOVER"
        );
        self.push_transmit(Ipv4Addr::UNSPECIFIED, Destination::Broadcast, &r);
    }

    /// A DHCPREQUEST as RFC 2131 4.3.2 / table 5 shapes it for the current state.
    fn send_request(&mut self, now: Instant) {
        if self.attempts == 0 {
            self.request_started = now;
        }
        let mut r = self.message(MessageType::Request);
        let (src, dst, deadline) = match self.state {
            State::Requesting => {
                let Some(offer) = self.offer else {
                    self.enter_init(now);
                    return;
                };
                // RFC 2131 4.4.1: same xid and secs as the DISCOVER; server id and requested
                // address name the offer.
                r.secs = self.discover_secs;
                r.broadcast = true;
                r.requested_addr = Some(offer.addr);
                r.server_id = Some(offer.server);
                self.attempts += 1;
                let d = self.backoff(now);
                (Ipv4Addr::UNSPECIFIED, Destination::Broadcast, Some(d))
            }
            State::Rebooting => {
                // RFC 2131 4.3.2 INIT-REBOOT: requested address, no server id, ciaddr zero.
                r.secs = self.secs(now);
                r.broadcast = true;
                r.requested_addr = self.config.requested_addr;
                self.attempts += 1;
                let d = self.backoff(now);
                (Ipv4Addr::UNSPECIFIED, Destination::Broadcast, Some(d))
            }
            State::Renewing | State::Rebinding => {
                let Some(lease) = &self.lease else {
                    self.enter_init(now);
                    return;
                };
                // RFC 2131 4.3.2 RENEWING/REBINDING: ciaddr set, no server id or requested
                // address; unicast to the server, or broadcast once past T2.
                let addr = lease.addr.addr();
                r.secs = self.secs(now);
                r.ciaddr = addr;
                let (dst, until) = if self.state == State::Renewing {
                    (Destination::Unicast(lease.server), lease.rebind_at())
                } else {
                    (Destination::Broadcast, lease.expires_at())
                };
                let d = self.renew_retry(now, until);
                self.attempts += 1;
                (addr, dst, d)
            }
            State::Stopped
            | State::Init
            | State::Selecting
            | State::Probing
            | State::Bound
            | State::InitReboot => return,
        };
        self.counters.requests += 1;
        self.deadline = deadline;
        debug!(xid = self.xid, state = ?self.state, attempt = self.attempts, ?dst, "DHCP: sending REQUEST");
        self.push_transmit(src, dst, &r);
    }

    fn push_transmit(&mut self, src: Ipv4Addr, dst: Destination, r: &Repr) {
        if self.transmits.len() >= MAX_TRANSMITS {
            self.transmits.pop_front();
            self.counters.queue_drops += 1;
        }
        self.transmits.push_back(Transmit {
            src,
            dst,
            payload: r.to_bytes(),
        });
    }

    fn push_event(&mut self, e: Event) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
            self.counters.queue_drops += 1;
        }
        self.events.push_back(e);
    }
}

/// `name` cut to what option 12 can carry (255 bytes), on a character boundary.
fn cut_hostname(mut name: String) -> String {
    let mut n = name.len().min(255);
    while !name.is_char_boundary(n) {
        n -= 1;
    }
    name.truncate(n);
    name
}

fn duration_micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// An address a host may take: not 0.0.0.0, broadcast, multicast or loopback.
fn check_host_addr(a: Ipv4Addr) -> Result<(), Error> {
    if a.is_unspecified() || a.is_broadcast() || a.is_multicast() || a.is_loopback() {
        return Err(Error::BadAddress);
    }
    Ok(())
}

/// The lease an acknowledgement grants, timed from `start`.
fn make_lease(repr: &Repr, server: Ipv4Addr, secs: u32, start: Instant) -> Result<Lease, Error> {
    let prefix = match repr.subnet_mask {
        // A non-contiguous mask is read up to its first zero bit.
        Some(mask) => u32::from(mask).leading_ones() as u8,
        // RFC 1122 3.3.1.1: without a mask, the class of the address decides.
        None => match repr.yiaddr.octets()[0] {
            0..=127 => 8,
            128..=191 => 16,
            192..=223 => 24,
            _ => 32,
        },
    };
    let addr = Ipv4Cidr::new(repr.yiaddr, prefix).ok_or(Error::BadAddress)?;
    // RFC 2132 9.2: 0xffffffff is an infinite lease.
    let (lease_time, t1, t2) = if secs == u32::MAX {
        (None, None, None)
    } else {
        let lease = Duration::from_secs(u64::from(secs));
        // RFC 2131 4.4.5: T1 defaults to 0.5 and T2 to 0.875 of the lease; values from the
        // server are kept only when T1 <= T2 <= lease.
        let t2 = repr
            .rebinding_time
            .map(|s| Duration::from_secs(u64::from(s)))
            .filter(|t| *t <= lease)
            .unwrap_or(lease * 7 / 8);
        let t1 = repr
            .renewal_time
            .map(|s| Duration::from_secs(u64::from(s)))
            .filter(|t| *t <= t2)
            .unwrap_or(lease / 2)
            .min(t2);
        (Some(lease), Some(t1), Some(t2))
    };
    Ok(Lease {
        addr,
        router: repr.routers.first().copied(),
        dns: repr.dns_servers.clone(),
        server,
        lease_time,
        t1,
        t2,
        acquired_at: start,
    })
}

#[cfg(test)]
mod tests;
