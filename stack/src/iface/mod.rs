//! The interface: one Ethernet link with its addresses, neighbour cache, reassembly buffers and
//! sockets, driven by `receive(now, frame)` and `poll(now)`.
//!
//! Order of work for a received frame (RFC 1122 layering):
//! Ethernet filter -> ARP | IPv4 (checks, reassembly) -> ICMP | UDP -> sockets.
//! Every frame ends handled or dropped under one [`DropReason`].

use std::collections::VecDeque;

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

use etherparse::{EtherType, Ethernet2Header};
use tracing::{debug, info, trace, warn};

use crate::arp;
use crate::config::{Config, ConfigError, Ipv4Cidr};
use crate::dhcp;
use crate::ethernet::{self, MacAddr};
use crate::icmp::{self, ErrorKind, TokenBucket};
use crate::ipv4::{self, EmitRepr, Protocol};
use crate::reassembly::ipv4 as reassembly;
use crate::rng::Rng;
use crate::stats::{DropReason, Stats};
use crate::tcp;
use crate::time::{earliest, Instant};
use crate::udp;

/// Something the user of the interface should know about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Our IPv4 address passed conflict detection and is in use.
    AddressReady(Ipv4Addr),
    /// Another host (at `mac`) uses or probes for our address.
    AddressConflict {
        /// The contested address.
        addr: Ipv4Addr,
        /// The other host's MAC.
        mac: MacAddr,
    },
    /// Another host (at `mac`) answered while we probed: the address was not taken into use.
    AddressRejected {
        /// The address we wanted.
        addr: Ipv4Addr,
        /// The host that has it.
        mac: MacAddr,
    },
    /// A neighbour did not answer ARP; packets waiting for it were dropped.
    NeighbourUnreachable(Ipv4Addr),
    /// A DHCP server leased us an address, which passed the conflict check and is in use.
    LeaseAcquired {
        /// The address and prefix.
        addr: Ipv4Cidr,
        /// The server.
        server: Ipv4Addr,
    },
    /// The lease was extended (renewing or rebinding).
    LeaseRenewed {
        /// The address and prefix.
        addr: Ipv4Cidr,
        /// The server that extended it.
        server: Ipv4Addr,
    },
    /// The leased address is no longer ours (expired, refused, released).
    LeaseLost(Ipv4Addr),
    /// Another host answered for the address a server offered: it was declined.
    LeaseDeclined(Ipv4Addr),
    /// An IPv6 address passed Duplicate Address Detection and is in use.
    Ipv6AddressReady(Ipv6Addr),
    /// Duplicate Address Detection found another host (at `mac`) with the address: not used.
    Ipv6AddressDuplicate {
        /// The address we wanted.
        addr: Ipv6Addr,
        /// The host that has it.
        mac: MacAddr,
    },
    /// Another host (at `mac`) advertises an IPv6 address we use.
    Ipv6AddressConflict {
        /// The contested address.
        addr: Ipv6Addr,
        /// The other host's MAC.
        mac: MacAddr,
    },
    /// An autoconfigured IPv6 address reached the end of its valid lifetime.
    Ipv6AddressExpired(Ipv6Addr),
    /// An IPv6 neighbour did not answer; packets waiting for it were dropped.
    Ipv6NeighbourUnreachable(Ipv6Addr),
}

/// Where our IPv4 address stands (RFC 5227).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressState {
    /// No IPv4 address configured.
    None,
    /// Probing: the address is not used until no one objects.
    Probing {
        /// Probes sent.
        sent: u32,
        /// Next probe (or the claim).
        next: Instant,
    },
    /// In use; `announcements` still to send.
    Ready {
        /// Announcements left.
        announcements: u32,
        /// When the next one is due.
        next: Instant,
    },
    /// Another host had the address while we probed: it is not used.
    Conflict,
}

/// How a destination address relates to us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cast {
    Unicast,
    Broadcast,
    Multicast,
}

/// Sizes of everything the interface holds, for checking bounds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    /// ARP cache entries.
    pub arp_entries: usize,
    /// Packets waiting for ARP.
    pub pending_packets: usize,
    /// Bytes waiting for ARP.
    pub pending_bytes: usize,
    /// Datagrams in reassembly.
    pub reassembly_datagrams: usize,
    /// Bytes in reassembly buffers.
    pub reassembly_bytes: usize,
    /// UDP sockets open.
    pub udp_sockets: usize,
    /// Bytes queued in UDP sockets.
    pub udp_bytes: usize,
    /// Events not yet taken.
    pub events: usize,
    /// TCP connections in any state.
    pub tcp_connections: usize,
    /// IPv6 neighbour cache entries.
    pub ndp_entries: usize,
    /// Packets waiting for IPv6 address resolution.
    pub ndp_pending_packets: usize,
    /// Bytes waiting for IPv6 address resolution.
    pub ndp_pending_bytes: usize,
    /// IPv6 packets in reassembly.
    pub ipv6_reassembly_datagrams: usize,
    /// Bytes held in TCP send and receive buffers.
    pub tcp_buffer_bytes: usize,
}

/// Rounds of DHCP events and datagrams handled in one go (each round makes progress).
const DHCP_ROUNDS: usize = 8;

/// The all-hosts group every IPv4 host belongs to (RFC 1112).
const ALL_HOSTS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 1);

mod ipv6;

pub use self::ipv6::{
    AddrState as Ipv6AddrState, Address as Ipv6Address, OnLinkPrefix, Origin as Ipv6Origin,
    Router as Ipv6Router, ALL_NODES, ALL_ROUTERS,
};

/// A network interface: the sans-IO core of the stack.
#[derive(Debug)]
pub struct Interface {
    config: Config,
    stats: Stats,
    /// The IPv4 address assigned (static, or leased): probed, then used.
    addr: Option<Ipv4Cidr>,
    gateway: Option<Ipv4Addr>,
    dhcp: Option<dhcp::Client>,
    /// Where the frame with the last acknowledgement came from: the server's (or relay's)
    /// MAC, so that a DHCPRELEASE can leave without asking ARP first.
    dhcp_server_mac: Option<MacAddr>,
    arp: arp::Cache,
    pending: arp::Pending,
    address: AddressState,
    last_defence: Option<Instant>,
    reassembly: reassembly::Reassembler,
    ident: u16,
    icmp_errors: TokenBucket,
    udp: udp::Sockets,
    tcp: tcp::Sockets,
    /// IPv6, when configured.
    ip6: Option<Box<ipv6::State>>,
    events: VecDeque<Event>,
    started: bool,
    frame: Vec<u8>,
    body: Vec<u8>,
    due: Vec<arp::Due>,
}

impl Interface {
    /// A new interface. Nothing is sent until the first `poll`.
    ///
    /// # Errors
    /// [`ConfigError`] when the configuration is inconsistent.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        let l = &config.limits;
        let mut rng = Rng::new(config.seed, "ipv4");
        let ident = (rng.next_u32() & 0xffff) as u16;
        let ephemeral = (Rng::new(config.seed, "udp-port").next_u32() & 0xffff) as u16;
        let bounds = reassembly::Bounds {
            datagrams: l.reassembly_datagrams,
            bytes: l.reassembly_bytes,
            max_payload: l.reassembly_max_datagram - ipv4::HEADER_LEN,
            max_fragments: l.reassembly_max_fragments,
            timeout: l.reassembly_timeout,
        };
        let dhcp = config
            .dhcp
            .clone()
            .map(|c| dhcp::Client::new(config.mac, config.hostname.clone(), config.seed, c));
        Ok(Interface {
            stats: Stats::default(),
            addr: config.ipv4,
            gateway: config.gateway,
            dhcp,
            dhcp_server_mac: None,
            arp: arp::Cache::new(l.arp_cache_entries, config.arp.entry_lifetime),
            pending: arp::Pending::new(l.arp_pending_packets, l.arp_pending_bytes),
            address: AddressState::None,
            last_defence: None,
            reassembly: reassembly::Reassembler::new(bounds),
            ident,
            icmp_errors: TokenBucket::new(l.icmp_errors_per_sec, l.icmp_error_burst),
            udp: udp::Sockets::new(
                l.udp_sockets,
                l.udp_queue_datagrams,
                l.udp_queue_bytes,
                ephemeral,
            ),
            tcp: tcp::Sockets::new(
                config.tcp,
                u16::try_from(config.mtu - 40).unwrap_or(1460),
                config.seed,
            ),
            ip6: config.ipv6.clone().map(|c| {
                Box::new(ipv6::State::new(
                    c,
                    config.mac,
                    config.mtu,
                    config.seed,
                    &config.limits,
                ))
            }),
            events: VecDeque::new(),
            started: false,
            frame: Vec::with_capacity(config.mtu + ethernet::HEADER_LEN),
            body: Vec::with_capacity(config.mtu),
            due: Vec::new(),
            config,
        })
    }

    /// The configuration as given (a DHCP lease shows in [`Interface::ipv4_assigned`] and
    /// [`Interface::gateway`], not here).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The IPv4 address assigned to the interface, static or leased, whether it is still being
    /// checked (RFC 5227) or in use.
    pub fn ipv4_assigned(&self) -> Option<Ipv4Cidr> {
        self.addr
    }

    /// The default router in use.
    pub fn gateway(&self) -> Option<Ipv4Addr> {
        self.gateway
    }

    /// The DHCP client, when the address comes from DHCP.
    pub fn dhcp(&self) -> Option<&dhcp::Client> {
        self.dhcp.as_ref()
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Where our IPv4 address stands.
    pub fn address_state(&self) -> AddressState {
        self.address
    }

    /// Our IPv4 address, once it is in use.
    pub fn ipv4(&self) -> Option<Ipv4Cidr> {
        match self.address {
            AddressState::Ready { .. } => self.addr,
            _ => None,
        }
    }

    /// The ARP cache, in address order.
    pub fn arp_cache(&self) -> impl Iterator<Item = (Ipv4Addr, arp::Entry)> + '_ {
        self.arp.iter()
    }

    /// Sizes of every bounded table.
    pub fn footprint(&self) -> Footprint {
        Footprint {
            arp_entries: self.arp.len(),
            pending_packets: self.pending.len(),
            pending_bytes: self.pending.bytes(),
            reassembly_datagrams: self.reassembly.len(),
            reassembly_bytes: self.reassembly.bytes(),
            udp_sockets: self.udp.len(),
            udp_bytes: self.udp.queued_bytes(),
            events: self.events.len(),
            tcp_connections: self.tcp.len(),
            tcp_buffer_bytes: self.tcp.buffer_memory(),
            ndp_entries: self.ip6.as_ref().map_or(0, |v| v.neighbors().len()),
            ndp_pending_packets: self.ip6.as_ref().map_or(0, |v| v.pending().len()),
            ndp_pending_bytes: self.ip6.as_ref().map_or(0, |v| v.pending().bytes()),
            ipv6_reassembly_datagrams: self.ip6.as_ref().map_or(0, |v| v.reassembly().len()),
        }
    }

    /// Takes the oldest event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Opens a UDP socket on `port` (0: an ephemeral port).
    ///
    /// # Errors
    /// [`udp::BindError`] when the port is taken or the table is full.
    pub fn udp_bind(&mut self, port: u16) -> Result<udp::Handle, udp::BindError> {
        self.udp.bind(port)
    }

    /// Queues a datagram to an IPv4 or IPv6 destination; it is sent at the next `poll` once an
    /// address of that family is in use.
    ///
    /// # Errors
    /// [`udp::SendError`] when the handle is stale, the queue full or the datagram unsendable.
    pub fn udp_send_to(
        &mut self,
        h: udp::Handle,
        dst: impl Into<SocketAddr>,
        data: &[u8],
    ) -> Result<(), udp::SendError> {
        self.udp.send_to(h, dst.into(), data)
    }

    /// Takes the oldest datagram received on the socket, with its sender (IPv4 or IPv6).
    pub fn udp_recv_from(&mut self, h: udp::Handle) -> Option<(SocketAddr, Vec<u8>)> {
        self.udp.recv_from(h)
    }

    /// Takes the oldest datagram received on the socket: its sender, our address it was sent
    /// to (which a reply should leave from: a host with several IPv6 addresses), and payload.
    pub fn udp_recv_from_to(
        &mut self,
        h: udp::Handle,
    ) -> Option<(SocketAddr, Option<IpAddr>, Vec<u8>)> {
        self.udp.recv_from_to(h)
    }

    /// Like [`Interface::udp_send_to`], leaving from our address `local` when it is one of
    /// ours (unicast, in use) at sending time; otherwise the interface picks the source.
    ///
    /// # Errors
    /// [`udp::SendError`] when the handle is stale, the queue full or the datagram unsendable.
    pub fn udp_send_from(
        &mut self,
        h: udp::Handle,
        local: Option<IpAddr>,
        dst: impl Into<SocketAddr>,
        data: &[u8],
    ) -> Result<(), udp::SendError> {
        self.udp.send_from(h, local, dst.into(), data)
    }

    /// The local port of a UDP socket.
    pub fn udp_port(&self, h: udp::Handle) -> Option<u16> {
        self.udp.port(h)
    }

    /// Closes a UDP socket.
    pub fn udp_close(&mut self, h: udp::Handle) {
        self.udp.close(h);
    }

    /// Opens a TCP listener on `port`.
    ///
    /// # Errors
    /// [`tcp::ListenError`] when the port has a listener.
    pub fn tcp_listen(
        &mut self,
        port: u16,
        backlog: usize,
    ) -> Result<tcp::ListenHandle, tcp::ListenError> {
        self.tcp.listen(port, backlog)
    }

    /// Takes an established connection from a listener.
    pub fn tcp_accept(&mut self, l: tcp::ListenHandle) -> Option<tcp::Handle> {
        self.tcp.accept(l)
    }

    /// Closes a listener, resetting connections not yet accepted.
    pub fn tcp_unlisten(&mut self, l: tcp::ListenHandle) {
        self.tcp.unlisten(l);
    }

    /// Opens a TCP connection to `remote` (IPv4 or IPv6); the SYN leaves at the next `poll`.
    ///
    /// # Errors
    /// [`tcp::ConnectError`] when there is no address of that family yet or the table is full.
    pub fn tcp_connect(
        &mut self,
        now: Instant,
        remote: SocketAddr,
    ) -> Result<tcp::Handle, tcp::ConnectError> {
        let local = match remote.ip() {
            IpAddr::V4(_) => self.ipv4().map(|c| IpAddr::V4(c.addr())),
            IpAddr::V6(dst) => self.ipv6_source_for(dst).map(IpAddr::V6),
        };
        let Some(local) = local else {
            return Err(tcp::ConnectError::NoAddress);
        };
        self.tcp.connect(now, local, remote)
    }

    /// Queues data on a connection; returns how much fit.
    ///
    /// # Errors
    /// [`tcp::SocketError`] when the connection is gone, failed or shut down.
    pub fn tcp_send(&mut self, h: tcp::Handle, data: &[u8]) -> Result<usize, tcp::SocketError> {
        self.tcp.send(h, data)
    }

    /// Reads received data; `Ok(0)` means nothing yet.
    ///
    /// # Errors
    /// [`tcp::SocketError::Closed`] after the peer's FIN, `Failed` after a reset or timeout.
    pub fn tcp_recv(&mut self, h: tcp::Handle, out: &mut [u8]) -> Result<usize, tcp::SocketError> {
        self.tcp.recv(h, out)
    }

    /// Closes the sending side of a connection.
    pub fn tcp_shutdown(&mut self, h: tcp::Handle) {
        self.tcp.shutdown(h);
    }

    /// Closes a connection and lets go of its handle.
    pub fn tcp_close(&mut self, h: tcp::Handle) {
        self.tcp.close(h);
    }

    /// Resets a connection and lets go of its handle.
    pub fn tcp_abort(&mut self, h: tcp::Handle) {
        self.tcp.abort(h);
    }

    /// Turns keepalive on (probing after `idle` without a segment) or off (`None`).
    pub fn tcp_set_keepalive(&mut self, h: tcp::Handle, idle: Option<core::time::Duration>) {
        self.tcp.set_keepalive(h, idle);
    }

    /// Turns Nagle's algorithm off (`true`) or on.
    pub fn tcp_set_nodelay(&mut self, h: tcp::Handle, nodelay: bool) {
        self.tcp.set_nodelay(h, nodelay);
    }

    /// A connection's state, counters, RTT and windows.
    pub fn tcp_connection(&self, h: tcp::Handle) -> Option<&tcp::Connection> {
        self.tcp.get(h)
    }

    /// The TCP socket table (every connection, table counters).
    pub fn tcp(&self) -> &tcp::Sockets {
        &self.tcp
    }

    /// Handles one received Ethernet frame; replies go to `emit`.
    pub fn receive(&mut self, now: Instant, frame: &[u8], emit: &mut dyn FnMut(&[u8])) {
        self.start(now);
        self.stats.rx_frames += 1;
        self.stats.rx_bytes += frame.len() as u64;
        match self.process_frame(now, frame, emit) {
            Ok(()) => self.stats.rx_handled += 1,
            Err(reason) => {
                self.stats.record_drop(reason);
                trace!(%reason, len = frame.len(), "frame dropped");
            }
        }
    }

    /// Runs timers (address claim, ARP, reassembly) and sends queued datagrams.
    pub fn poll(&mut self, now: Instant, emit: &mut dyn FnMut(&[u8])) {
        self.start(now);
        self.poll_address(now, emit);
        self.poll_dhcp(now, emit);
        self.poll_ipv6(now, emit);

        let mut due = std::mem::take(&mut self.due);
        due.clear();
        self.arp.poll(
            now,
            self.config.arp.retry_interval,
            self.config.arp.max_requests,
            &mut due,
        );
        for d in &due {
            match *d {
                arp::Due::Request(ip) => self.send_arp_request(ip, emit),
                arp::Due::Failed(ip) => {
                    debug!(%ip, "ARP: no answer from {ip}, giving up");
                    self.give_up_on(ip);
                }
            }
        }
        self.due = due;

        let expired = self.reassembly.expire(now);
        if expired > 0 {
            self.stats.ipv4_reassembly_timeouts += expired as u64;
            debug!(expired, "IPv4: reassembly timed out");
        }

        self.flush_tcp(now, emit);
        let v4 = self.ipv4();
        let v6 = self.ipv6_addresses().iter().any(|a| a.usable());
        let sendable = |d: &SocketAddr| match d {
            SocketAddr::V4(_) => v4.is_some(),
            SocketAddr::V6(_) => v6,
        };
        while let Some((port, dst, local, data)) = self.udp.pop_tx(sendable) {
            match (dst, v4) {
                (SocketAddr::V4(dst), Some(cidr)) => {
                    let mut body = std::mem::take(&mut self.body);
                    body.clear();
                    if udp::write(&mut body, SocketAddrV4::new(cidr.addr(), port), dst, &data) {
                        self.stats.udp_sent += 1;
                        self.send_ipv4(now, *dst.ip(), Protocol::Udp, &body, emit);
                    }
                    self.body = body;
                }
                (SocketAddr::V6(dst), _) => self.send_udp6(now, port, dst, local, &data, emit),
                (SocketAddr::V4(_), None) => self.stats.ipv4_tx_dropped += 1,
            }
        }
    }

    /// True when an address of either family is in use.
    fn any_address(&self) -> bool {
        self.ipv4().is_some() || self.ipv6_addresses().iter().any(|a| a.usable())
    }

    /// When `poll` should next run; an instant in the past means now.
    pub fn poll_at(&self) -> Option<Instant> {
        if !self.started {
            return Some(Instant::ZERO);
        }
        let address = match self.address {
            AddressState::Probing { next, .. } => Some(next),
            AddressState::Ready {
                announcements,
                next,
            } if announcements > 0 => Some(next),
            _ => None,
        };
        let v4 = self.ipv4().is_some();
        let v6 = self.ipv6_addresses().iter().any(|a| a.usable());
        let sendable = |d: &SocketAddr| match d {
            SocketAddr::V4(_) => v4,
            SocketAddr::V6(_) => v6,
        };
        let udp = self.udp.has_tx(sendable).then_some(Instant::ZERO);
        let tcp = if v4 || v6 { self.tcp.poll_at() } else { None };
        let timers = earliest(self.arp.poll_at(), self.reassembly.poll_at());
        let dhcp = self.dhcp.as_ref().and_then(dhcp::Client::poll_at);
        let ip6 = self.ip6.as_ref().and_then(|v| v.poll_at());
        earliest(
            earliest(earliest(address, udp), ip6),
            earliest(earliest(tcp, timers), dhcp),
        )
    }

    /// A clean stop: a leased address is given back to its server (DHCPRELEASE, RFC 2131
    /// 4.4.6) and no longer used. Call it once, before the device closes.
    pub fn shutdown(&mut self, now: Instant, emit: &mut dyn FnMut(&[u8])) {
        let Some(client) = &mut self.dhcp else { return };
        if client.state() == dhcp::State::Probing {
            // Acknowledged but still being checked: the address was never ours to release.
            self.addr = None;
            self.gateway = None;
            self.address = AddressState::None;
        }
        client.release(now);
        self.poll_dhcp(now, emit);
    }

    fn start(&mut self, now: Instant) {
        if self.started {
            return;
        }
        self.started = true;
        if let Some(client) = &mut self.dhcp {
            client.start(now);
        }
        self.ipv6_start(now);
        if self.addr.is_some() {
            self.address = if self.config.arp.probe_count == 0 {
                self.claimed(now)
            } else {
                AddressState::Probing { sent: 0, next: now }
            };
        }
    }

    fn claimed(&mut self, now: Instant) -> AddressState {
        if let Some(c) = self.addr {
            info!(addr = %c, "IPv4: {c} is ours");
            self.push_event(Event::AddressReady(c.addr()));
        }
        AddressState::Ready {
            announcements: self.config.arp.announce_count,
            next: now,
        }
    }

    /// RFC 5227 2.1-2.3: probe, then claim and announce.
    fn poll_address(&mut self, now: Instant, emit: &mut dyn FnMut(&[u8])) {
        let Some(cidr) = self.addr else { return };
        let mac = self.config.mac;
        match self.address {
            AddressState::Probing { sent, next } if next <= now => {
                if sent < self.config.arp.probe_count {
                    debug!(addr = %cidr.addr(), probe = sent + 1, "ARP: probing whether {} is free", cidr.addr());
                    self.send_arp(
                        MacAddr::BROADCAST,
                        &arp::Repr::probe(mac, cidr.addr()),
                        emit,
                    );
                    self.stats.arp_probes_sent += 1;
                    self.address = AddressState::Probing {
                        sent: sent + 1,
                        next: now + self.config.arp.probe_interval,
                    };
                } else {
                    self.address = self.claimed(now);
                    if let Some(client) = &mut self.dhcp {
                        client.probe_result(now, false);
                    }
                    self.poll_address(now, emit);
                }
            }
            AddressState::Ready {
                announcements,
                next,
            } if announcements > 0 && next <= now => {
                debug!(addr = %cidr.addr(), "ARP: announcing {} is at {mac}", cidr.addr());
                self.send_arp(
                    MacAddr::BROADCAST,
                    &arp::Repr::announcement(mac, cidr.addr()),
                    emit,
                );
                self.stats.arp_probes_sent += 1;
                self.address = AddressState::Ready {
                    announcements: announcements - 1,
                    next: now + self.config.arp.announce_interval,
                };
            }
            _ => {}
        }
    }

    fn process_frame(
        &mut self,
        now: Instant,
        frame: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) -> Result<(), DropReason> {
        let (eth, payload) =
            Ethernet2Header::from_slice(frame).map_err(|_| DropReason::EthTruncated)?;
        // Room for a VLAN tag or FCS some drivers leave on.
        if payload.len() > self.config.mtu + 8 {
            return Err(DropReason::EthOversize);
        }
        let dst = MacAddr(eth.destination);
        let src = MacAddr(eth.source);
        let ours = self.config.mac;
        if dst != ours
            && !dst.is_broadcast()
            && dst != MacAddr::for_ipv4_multicast(ALL_HOSTS)
            && !self.ipv6_accepts_mac(dst)
        {
            return Err(DropReason::EthNotForUs);
        }
        if src == ours || src.is_multicast() {
            return Err(DropReason::EthBadSource);
        }
        match eth.ether_type {
            EtherType::ARP => self.process_arp(now, payload, emit),
            EtherType::IPV4 => self.process_ipv4(now, dst, src, payload, emit),
            EtherType::IPV6 if self.ip6.is_some() => {
                self.process_ipv6(now, dst, src, payload, emit)
            }
            _ => Err(DropReason::EthUnsupportedType),
        }
    }

    /// RFC 826 "Packet reception", with RFC 5227 conflict detection in front.
    fn process_arp(
        &mut self,
        now: Instant,
        payload: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) -> Result<(), DropReason> {
        let r = arp::Repr::parse(payload).map_err(|e| match e {
            arp::ParseError::Truncated => DropReason::ArpTruncated,
            arp::ParseError::Unsupported => DropReason::ArpUnsupported,
        })?;
        // Our own hardware address as sender is our own packet coming back (a bridge, a loop),
        // never a conflict: RFC 5227 2.4 requires a sender hardware address that is not ours.
        if !r.sender_mac.is_unicast() || r.sender_mac == self.config.mac {
            return Err(DropReason::ArpBadSender);
        }
        let Some(cidr) = self.addr else {
            return Err(DropReason::ArpNotForUs);
        };
        let mine = cidr.addr();
        let probing = matches!(self.address, AddressState::Probing { .. });
        // RFC 5227 2.1.1: while probing, a packet with our address as sender, or a probe for it
        // from someone else, means the address is taken. 2.4: afterwards, a packet with our
        // address as sender is a conflict to report and defend against.
        let someone_probes_ours = probing && r.sender_ip.is_unspecified() && r.target_ip == mine;
        if r.sender_ip == mine || someone_probes_ours {
            self.conflict(now, r.sender_mac, emit);
            return Err(DropReason::ArpConflict);
        }
        if r.sender_ip.is_unspecified() {
            return Err(DropReason::ArpNotForUs);
        }
        if !cidr.contains(r.sender_ip)
            || Some(r.sender_ip) == cidr.broadcast()
            || r.sender_ip == cidr.network()
        {
            return Err(DropReason::ArpBadSender);
        }
        // RFC 826: "If the pair <protocol type, sender protocol address> is already in my
        // translation table, update the sender hardware address field of the entry".
        let merged = self.arp.contains(r.sender_ip);
        if merged {
            self.learn(now, r.sender_ip, r.sender_mac, emit);
        }
        // "Am I the target protocol address?"
        let for_us = r.target_ip == mine && matches!(self.address, AddressState::Ready { .. });
        if !for_us {
            return if merged {
                Ok(())
            } else {
                Err(DropReason::ArpNotForUs)
            };
        }
        if !merged {
            self.learn(now, r.sender_ip, r.sender_mac, emit);
        }
        if r.op == arp::Operation::Request {
            debug!(who = %r.sender_ip, "ARP: {} asks who has {mine}; replying {}", r.sender_ip, self.config.mac);
            let reply = arp::Repr {
                op: arp::Operation::Reply,
                sender_mac: self.config.mac,
                sender_ip: mine,
                target_mac: r.sender_mac,
                target_ip: r.sender_ip,
            };
            self.send_arp(r.sender_mac, &reply, emit);
            self.stats.arp_replies_sent += 1;
        }
        Ok(())
    }

    /// Resolution of `ip` ended without an answer: drop what waits for it.
    fn give_up_on(&mut self, ip: Ipv4Addr) {
        let dropped = self.pending.take_for(ip).len() as u64;
        self.stats.arp_pending_dropped += dropped;
        self.stats.arp_resolution_failed += 1;
        self.push_event(Event::NeighbourUnreachable(ip));
    }

    /// Counts evictions made by the last cache insertion; resolutions evicted while in
    /// progress are given up on, so that nothing waits for them forever.
    fn after_cache_insert(&mut self, evictions_before: u64) {
        self.stats.arp_evictions += self.arp.evictions() - evictions_before;
        for ip in self.arp.take_abandoned() {
            debug!(%ip, "ARP: cache full, abandoning resolution of {ip}");
            self.give_up_on(ip);
        }
    }

    fn conflict(&mut self, now: Instant, mac: MacAddr, emit: &mut dyn FnMut(&[u8])) {
        let Some(cidr) = self.addr else { return };
        self.stats.arp_conflicts += 1;
        warn!(addr = %cidr.addr(), %mac, "ARP: address conflict: {mac} also claims {}", cidr.addr());
        match self.address {
            AddressState::Probing { .. }
                if self
                    .dhcp
                    .as_ref()
                    .is_some_and(|c| c.state() == dhcp::State::Probing) =>
            {
                // RFC 2131 3.1.5: the leased address is declined and configuration starts over.
                self.addr = None;
                self.gateway = None;
                self.address = AddressState::None;
                if let Some(client) = &mut self.dhcp {
                    client.probe_result(now, true);
                }
                self.poll_dhcp(now, emit);
            }
            AddressState::Probing { .. } => {
                self.address = AddressState::Conflict;
                self.push_event(Event::AddressRejected {
                    addr: cidr.addr(),
                    mac,
                });
            }
            AddressState::Ready { .. } => {
                self.push_event(Event::AddressConflict {
                    addr: cidr.addr(),
                    mac,
                });
                // RFC 5227 2.4 (c): a configured address is defended, at most once per DEFEND_INTERVAL.
                let may_defend = self
                    .last_defence
                    .is_none_or(|t| now >= t + self.config.arp.defend_interval);
                if may_defend {
                    self.last_defence = Some(now);
                    self.send_arp(
                        MacAddr::BROADCAST,
                        &arp::Repr::announcement(self.config.mac, cidr.addr()),
                        emit,
                    );
                    self.stats.arp_probes_sent += 1;
                }
            }
            AddressState::None | AddressState::Conflict => {}
        }
    }

    fn learn(&mut self, now: Instant, ip: Ipv4Addr, mac: MacAddr, emit: &mut dyn FnMut(&[u8])) {
        let before = self.arp.evictions();
        let was_waiting = self.arp.learn(ip, mac, now);
        self.after_cache_insert(before);
        self.stats.arp_learned += 1;
        if was_waiting {
            debug!(%ip, %mac, "ARP: {ip} is at {mac}");
            for p in self.pending.take_for(ip) {
                self.emit_ipv4(mac, p.dst, Protocol::from(p.protocol), &p.payload, emit);
            }
        }
    }

    fn process_ipv4(
        &mut self,
        now: Instant,
        link_dst: MacAddr,
        link_src: MacAddr,
        packet: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) -> Result<(), DropReason> {
        let (ip, payload) = ipv4::parse(packet).map_err(|e| match e {
            ipv4::ParseError::Truncated => DropReason::Ipv4Truncated,
            ipv4::ParseError::BadHeader => DropReason::Ipv4BadHeader,
            ipv4::ParseError::BadChecksum => DropReason::Ipv4BadChecksum,
        })?;
        if self.is_dhcp_reply(&ip, payload) {
            return self.process_dhcp(now, &ip, link_src, payload, emit);
        }
        let Some(cidr) = self.ipv4() else {
            return Err(DropReason::Ipv4NoAddress);
        };
        if ipv4::is_martian_source(ip.src)
            || ip.src.is_unspecified()
            || ip.src == cidr.addr()
            || Some(ip.src) == cidr.broadcast()
        {
            return Err(DropReason::Ipv4BadSource);
        }
        let cast = if ip.dst == cidr.addr() {
            Cast::Unicast
        } else if ip.dst.is_broadcast() || Some(ip.dst) == cidr.broadcast() {
            Cast::Broadcast
        } else if ip.dst == ALL_HOSTS {
            Cast::Multicast
        } else {
            return Err(DropReason::Ipv4NotForUs);
        };
        // RFC 1122 3.3.6: a unicast datagram that came as a link-layer broadcast is discarded.
        if cast == Cast::Unicast && link_dst.is_multicast() {
            return Err(DropReason::Ipv4NotForUs);
        }
        if !ip.is_fragment() {
            let original = packet
                .get(..ip.header_len + payload.len())
                .unwrap_or(packet);
            return self.deliver(now, &ip, cast, payload, original, emit);
        }
        self.stats.ipv4_fragments_rx += 1;
        let key = reassembly::Key {
            src: ip.src,
            dst: ip.dst,
            protocol: u8::from(ip.protocol),
            ident: ip.ident,
        };
        match self
            .reassembly
            .add(now, key, ip.frag_offset, ip.more_fragments, payload)
        {
            reassembly::Outcome::Held => Ok(()),
            reassembly::Outcome::Dropped(reason) => Err(reason),
            reassembly::Outcome::Complete(datagram) => {
                self.stats.ipv4_reassembled += 1;
                trace!(src = %ip.src, len = datagram.len(), "IPv4: datagram reassembled");
                // For ICMP errors, quote a header describing the whole datagram.
                let mut original = Vec::with_capacity(ipv4::HEADER_LEN + 8);
                let repr = EmitRepr {
                    src: ip.src,
                    dst: ip.dst,
                    protocol: ip.protocol,
                    ttl: ip.ttl,
                    ident: ip.ident,
                    dont_fragment: false,
                };
                ipv4::write_header(&mut original, &repr, datagram.len(), 0, false);
                original.extend_from_slice(datagram.get(..8).unwrap_or(&datagram));
                let whole = ipv4::Repr {
                    more_fragments: false,
                    frag_offset: 0,
                    ..ip
                };
                self.deliver(now, &whole, cast, &datagram, &original, emit)
            }
        }
    }

    fn deliver(
        &mut self,
        now: Instant,
        ip: &ipv4::Repr,
        cast: Cast,
        payload: &[u8],
        original: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) -> Result<(), DropReason> {
        match ip.protocol {
            Protocol::Icmp => self.process_icmp(now, ip, cast, payload, emit),
            Protocol::Udp => self.process_udp(now, ip, cast, payload, original, emit),
            Protocol::Tcp => self.process_tcp(now, ip, cast, payload, emit),
            Protocol::Unknown(_) => {
                if cast == Cast::Unicast {
                    self.send_icmp_error(now, ErrorKind::ProtocolUnreachable, ip, original, emit);
                }
                Err(DropReason::Ipv4UnknownProtocol)
            }
        }
    }

    fn process_icmp(
        &mut self,
        now: Instant,
        ip: &ipv4::Repr,
        cast: Cast,
        payload: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) -> Result<(), DropReason> {
        let msg = icmp::parse(payload).map_err(|e| match e {
            icmp::ParseError::Truncated => DropReason::IcmpTruncated,
            icmp::ParseError::BadChecksum => DropReason::IcmpBadChecksum,
        })?;
        self.stats.ipv4_delivered += 1;
        match msg {
            icmp::Message::EchoRequest { ident, seq, data } => {
                if cast != Cast::Unicast {
                    return Err(DropReason::IcmpBroadcastEcho);
                }
                debug!(from = %ip.src, ident, seq, len = data.len(), "ICMP: echo request from {}, replying", ip.src);
                let mut body = std::mem::take(&mut self.body);
                body.clear();
                icmp::write_echo_reply(&mut body, ident, seq, data);
                self.send_ipv4(now, ip.src, Protocol::Icmp, &body, emit);
                self.body = body;
                self.stats.icmp_echo_replied += 1;
                Ok(())
            }
            icmp::Message::Error {
                kind,
                code,
                original,
                mtu,
            } => {
                self.stats.icmp_errors_rx += 1;
                debug!(from = %ip.src, kind, code, "ICMP: error type {kind} code {code} from {}", ip.src);
                // RFC 1122 4.2.3.9: port, protocol and host unreachable during a connect are hard errors.
                if kind == 3 {
                    self.icmp_unreachable_to_tcp(code, mtu, original);
                }
                Ok(())
            }
            icmp::Message::EchoReply { .. } | icmp::Message::Other { .. } => {
                Err(DropReason::IcmpIgnored)
            }
        }
    }

    fn process_tcp(
        &mut self,
        now: Instant,
        ip: &ipv4::Repr,
        cast: Cast,
        payload: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) -> Result<(), DropReason> {
        if cast != Cast::Unicast {
            return Err(DropReason::TcpNotUnicast);
        }
        let (seg, data) = tcp::segment::parse(payload, IpAddr::V4(ip.src), IpAddr::V4(ip.dst))
            .map_err(|e| match e {
                tcp::segment::ParseError::Truncated | tcp::segment::ParseError::BadDataOffset => {
                    DropReason::TcpBadHeader
                }
                tcp::segment::ParseError::BadOption => DropReason::TcpBadOption,
                tcp::segment::ParseError::BadChecksum => DropReason::TcpBadChecksum,
                tcp::segment::ParseError::BadFlags => DropReason::TcpBadFlags,
            })?;
        self.stats.ipv4_delivered += 1;
        let local = SocketAddr::new(IpAddr::V4(ip.dst), seg.dst_port);
        let remote = SocketAddr::new(IpAddr::V4(ip.src), seg.src_port);
        // What the segment calls for (ACKs, data the ACK lets out, RSTs) leaves at once: the
        // duplicate ACKs of RFC 5681 4.2 are how a peer without SACK finds its losses, and a
        // segment that fills a gap is acknowledged at once (4.2 again). Only the ACK for
        // routine in-order data waits for the next poll, which follows the batch of frames
        // just received: one ACK per batch, as a receiver coalescing segments (GRO) sends.
        let outcome = self.tcp.on_segment(now, local, remote, &seg, data);
        if outcome != tcp::Outcome::HandledInOrder {
            self.flush_tcp(now, emit);
        }
        match outcome {
            tcp::Outcome::Handled | tcp::Outcome::HandledInOrder => Ok(()),
            tcp::Outcome::NoSocket => {
                debug!(%remote, port = seg.dst_port, "TCP: nothing on port {}, sending RST", seg.dst_port);
                Err(DropReason::TcpNoSocket)
            }
            tcp::Outcome::BacklogFull => Err(DropReason::TcpBacklogFull),
            tcp::Outcome::TableFull => Err(DropReason::TcpTableFull),
            tcp::Outcome::Ignored => Err(DropReason::TcpIgnored),
        }
    }

    /// Sends every segment the TCP table has ready.
    fn flush_tcp(&mut self, now: Instant, emit: &mut dyn FnMut(&[u8])) {
        if !self.any_address() {
            return;
        }
        // Segments are written straight into the frame, after room for the Ethernet and IP
        // headers, so the payload is copied once (from the socket's ring). Only a segment whose
        // next hop is unresolved takes the general path.
        const HEADERS: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN;
        let mut frame = std::mem::take(&mut self.frame);
        loop {
            frame.clear();
            frame.resize(HEADERS, 0);
            let Some((local, remote)) = self.tcp.next_segment(now, &mut frame) else {
                break;
            };
            let dst = match (local.ip(), remote.ip()) {
                (_, IpAddr::V4(dst)) => dst,
                (IpAddr::V6(src), IpAddr::V6(dst)) => {
                    self.stats.tcp_segments_sent += 1;
                    let segment = frame.split_off(HEADERS);
                    self.send_ipv6(now, src, dst, crate::ipv6::NextHeader::Tcp, &segment, emit);
                    continue;
                }
                (IpAddr::V4(_), IpAddr::V6(_)) => continue,
            };
            self.stats.tcp_segments_sent += 1;
            let segment_len = frame.len() - HEADERS;
            match self.resolved_next_hop(now, dst) {
                Some(mac) if segment_len + ipv4::HEADER_LEN <= self.config.mtu => {
                    if let Some(headers) = frame.get_mut(..HEADERS) {
                        self.fill_headers(headers, mac, dst, Protocol::Tcp, segment_len);
                    }
                    self.stats.ipv4_sent += 1;
                    self.transmit(&frame, emit);
                }
                _ => {
                    let segment = frame.split_off(HEADERS);
                    self.send_ipv4(now, dst, Protocol::Tcp, &segment, emit);
                }
            }
        }
        self.frame = frame;
    }

    /// The MAC address a datagram to `dst` goes to, if known without asking ARP.
    fn resolved_next_hop(&self, now: Instant, dst: Ipv4Addr) -> Option<MacAddr> {
        let cidr = self.ipv4()?;
        if dst.is_broadcast() || Some(dst) == cidr.broadcast() {
            return Some(MacAddr::BROADCAST);
        }
        if dst.is_multicast() {
            return Some(MacAddr::for_ipv4_multicast(dst));
        }
        let hop = if cidr.contains(dst) {
            dst
        } else {
            self.gateway?
        };
        self.arp.lookup(hop, now)
    }

    /// Writes the Ethernet and IPv4 headers of a whole (unfragmented) datagram into the first
    /// 34 bytes of a frame.
    fn fill_headers(
        &mut self,
        out: &mut [u8],
        mac: MacAddr,
        dst: Ipv4Addr,
        protocol: Protocol,
        payload_len: usize,
    ) {
        let Some(cidr) = self.addr else { return };
        self.ident = self.ident.wrapping_add(1);
        let repr = EmitRepr {
            src: cidr.addr(),
            dst,
            protocol,
            ttl: self.config.ttl,
            ident: self.ident,
            dont_fragment: protocol == Protocol::Tcp,
        };
        let mut headers = std::mem::take(&mut self.body);
        headers.clear();
        write_eth_header(&mut headers, mac, self.config.mac, EtherType::IPV4);
        ipv4::write_header(&mut headers, &repr, payload_len, 0, false);
        if let Some(dst) = out.get_mut(..headers.len()) {
            dst.copy_from_slice(&headers);
        }
        self.body = headers;
    }

    /// Finds the connection an ICMP error quotes (its IP header and first 8 TCP bytes).
    fn icmp_unreachable_to_tcp(&mut self, code: u8, mtu: u16, original: &[u8]) {
        let Some(&first) = original.first() else {
            return;
        };
        let ihl = usize::from(first & 0x0f) * 4;
        let (Some(hdr), Some(ports)) = (original.get(..20), original.get(ihl..ihl + 4)) else {
            return;
        };
        if hdr[9] != 6 {
            return;
        }
        let src = Ipv4Addr::new(hdr[12], hdr[13], hdr[14], hdr[15]);
        let dst = Ipv4Addr::new(hdr[16], hdr[17], hdr[18], hdr[19]);
        let local = SocketAddr::new(IpAddr::V4(src), u16::from_be_bytes([ports[0], ports[1]]));
        let remote = SocketAddr::new(IpAddr::V4(dst), u16::from_be_bytes([ports[2], ports[3]]));
        match code {
            1..=3 => self.tcp.on_icmp_unreachable(local, remote),
            4 => self.tcp.on_path_mtu(local, remote, mtu),
            _ => {}
        }
    }

    fn process_udp(
        &mut self,
        now: Instant,
        ip: &ipv4::Repr,
        cast: Cast,
        payload: &[u8],
        original: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) -> Result<(), DropReason> {
        let d = udp::parse(payload, ip.src, ip.dst).map_err(DropReason::from)?;
        self.stats.ipv4_delivered += 1;
        let from = SocketAddr::V4(SocketAddrV4::new(ip.src, d.src_port));
        match self
            .udp
            .deliver(d.dst_port, from, Some(IpAddr::V4(ip.dst)), d.payload)
        {
            udp::Delivery::Queued => {
                self.stats.udp_delivered += 1;
                trace!(from = %ip.src, port = d.dst_port, len = d.payload.len(), "UDP: datagram queued");
                Ok(())
            }
            udp::Delivery::QueueFull => Err(DropReason::UdpQueueFull),
            udp::Delivery::NoSocket => {
                if cast == Cast::Unicast {
                    debug!(from = %ip.src, port = d.dst_port, "UDP: port {} closed, sending port unreachable", d.dst_port);
                    self.send_icmp_error(now, ErrorKind::PortUnreachable, ip, original, emit);
                }
                Err(DropReason::UdpNoSocket)
            }
        }
    }

    /// RFC 1122 3.2.2: errors only about unicast datagrams from a single host, never about a
    /// non-initial fragment, rate limited.
    fn send_icmp_error(
        &mut self,
        now: Instant,
        kind: ErrorKind,
        ip: &ipv4::Repr,
        original: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) {
        if ip.frag_offset != 0 || ip.src.is_unspecified() || ipv4::is_martian_source(ip.src) {
            return;
        }
        if !self.icmp_errors.take(now) {
            self.stats.icmp_errors_rate_limited += 1;
            return;
        }
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        icmp::write_error(&mut body, kind, original);
        self.send_ipv4(now, ip.src, Protocol::Icmp, &body, emit);
        self.body = body;
        self.stats.icmp_errors_sent += 1;
    }

    /// Originates a datagram: routes it, resolves the next hop (queueing while ARP works) and
    /// fragments it to the MTU.
    fn send_ipv4(
        &mut self,
        now: Instant,
        dst: Ipv4Addr,
        protocol: Protocol,
        payload: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) {
        let Some(cidr) = self.ipv4() else {
            self.stats.ipv4_tx_dropped += 1;
            return;
        };
        if payload.len() + ipv4::HEADER_LEN > usize::from(u16::MAX) {
            self.stats.ipv4_tx_dropped += 1;
            return;
        }
        if dst.is_broadcast() || Some(dst) == cidr.broadcast() {
            self.emit_ipv4(MacAddr::BROADCAST, dst, protocol, payload, emit);
            return;
        }
        if dst.is_multicast() {
            self.emit_ipv4(
                MacAddr::for_ipv4_multicast(dst),
                dst,
                protocol,
                payload,
                emit,
            );
            return;
        }
        let next_hop = if cidr.contains(dst) {
            dst
        } else if let Some(gw) = self.gateway {
            gw
        } else {
            debug!(%dst, "IPv4: no route to {dst}");
            self.stats.ipv4_tx_dropped += 1;
            return;
        };
        if let Some(mac) = self.arp.lookup(next_hop, now) {
            self.emit_ipv4(mac, dst, protocol, payload, emit);
            return;
        }
        let p = arp::PendingPacket {
            next_hop,
            dst,
            protocol: u8::from(protocol),
            payload: payload.to_vec(),
        };
        if self.pending.push(p).is_err() {
            self.stats.arp_pending_dropped += 1;
        }
        let before = self.arp.evictions();
        let first = self
            .arp
            .start(next_hop, now, self.config.arp.retry_interval);
        self.after_cache_insert(before);
        if first {
            self.send_arp_request(next_hop, emit);
        }
    }

    fn emit_ipv4(
        &mut self,
        mac: MacAddr,
        dst: Ipv4Addr,
        protocol: Protocol,
        payload: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) {
        let Some(cidr) = self.addr else { return };
        self.emit_ipv4_from(cidr.addr(), mac, dst, protocol, payload, emit);
    }

    fn emit_ipv4_from(
        &mut self,
        src: Ipv4Addr,
        mac: MacAddr,
        dst: Ipv4Addr,
        protocol: Protocol,
        payload: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) {
        self.ident = self.ident.wrapping_add(1);
        let repr = EmitRepr {
            src,
            dst,
            protocol,
            ttl: self.config.ttl,
            ident: self.ident,
            dont_fragment: protocol == Protocol::Tcp,
        };
        let mut frame = std::mem::take(&mut self.frame);
        let mut pieces = 0;
        for (offset, len, more) in ipv4::fragments(payload.len(), self.config.mtu) {
            frame.clear();
            write_eth_header(&mut frame, mac, self.config.mac, EtherType::IPV4);
            ipv4::write_header(&mut frame, &repr, len, offset, more);
            frame.extend_from_slice(payload.get(offset..offset + len).unwrap_or_default());
            self.transmit(&frame, emit);
            pieces += 1;
        }
        if pieces > 1 {
            self.stats.ipv4_fragments_tx += pieces;
        }
        self.stats.ipv4_sent += 1;
        self.frame = frame;
    }

    fn send_arp_request(&mut self, ip: Ipv4Addr, emit: &mut dyn FnMut(&[u8])) {
        let Some(cidr) = self.addr else { return };
        debug!(%ip, "ARP: who has {ip}? tell {}", cidr.addr());
        self.send_arp(
            MacAddr::BROADCAST,
            &arp::Repr::request(self.config.mac, cidr.addr(), ip),
            emit,
        );
        self.stats.arp_requests_sent += 1;
    }

    fn send_arp(&mut self, dst: MacAddr, repr: &arp::Repr, emit: &mut dyn FnMut(&[u8])) {
        let mut frame = std::mem::take(&mut self.frame);
        frame.clear();
        write_eth_header(&mut frame, dst, self.config.mac, EtherType::ARP);
        frame.extend_from_slice(&repr.to_bytes());
        self.transmit(&frame, emit);
        self.frame = frame;
    }

    fn transmit(&mut self, frame: &[u8], emit: &mut dyn FnMut(&[u8])) {
        self.stats.tx_frames += 1;
        self.stats.tx_bytes += frame.len() as u64;
        emit(frame);
    }

    /// A UDP datagram to the DHCP client port while a DHCP client runs: broadcast, to the
    /// address being leased or used, or (no address yet) unicast to the address on offer.
    fn is_dhcp_reply(&self, ip: &ipv4::Repr, payload: &[u8]) -> bool {
        if self.dhcp.is_none() || ip.protocol != Protocol::Udp || ip.is_fragment() {
            return false;
        }
        let port = payload.get(2..4).map(|p| u16::from_be_bytes([p[0], p[1]]));
        if port != Some(dhcp::CLIENT_PORT) {
            return false;
        }
        match self.addr {
            None => true,
            Some(c) => ip.dst == c.addr() || ip.dst.is_broadcast() || Some(ip.dst) == c.broadcast(),
        }
    }

    fn process_dhcp(
        &mut self,
        now: Instant,
        ip: &ipv4::Repr,
        link_src: MacAddr,
        payload: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) -> Result<(), DropReason> {
        let d = udp::parse(payload, ip.src, ip.dst).map_err(DropReason::from)?;
        let Some(client) = &mut self.dhcp else {
            return Err(DropReason::UdpNoSocket);
        };
        let acks = client.counters().acks;
        let result = client.receive(now, d.payload, ip.src);
        if client.counters().acks != acks {
            self.dhcp_server_mac = Some(link_src);
        }
        self.poll_dhcp(now, emit);
        result.map_err(|_| DropReason::DhcpRejected)
    }

    /// Acts on the DHCP client's events and sends what it has to send.
    fn poll_dhcp(&mut self, now: Instant, emit: &mut dyn FnMut(&[u8])) {
        for _ in 0..DHCP_ROUNDS {
            let Some(client) = &mut self.dhcp else { return };
            let event = client.poll_event();
            let transmit = if event.is_none() {
                client.poll(now)
            } else {
                None
            };
            match (event, transmit) {
                (Some(e), _) => self.on_dhcp_event(now, e),
                (None, Some(t)) => self.send_dhcp(now, t, emit),
                (None, None) => return,
            }
        }
    }

    fn on_dhcp_event(&mut self, now: Instant, event: dhcp::Event) {
        match event {
            dhcp::Event::Probe(addr) => {
                let lease = self.dhcp.as_ref().and_then(dhcp::Client::pending);
                let Some(lease) = lease else { return };
                let cidr = lease.addr;
                self.addr = Some(cidr);
                self.gateway = lease.gateway();
                info!(%addr, "DHCP: offered {cidr}; checking no one else has it");
                self.address = if self.config.arp.probe_count == 0 {
                    let claimed = self.claimed(now);
                    if let Some(client) = &mut self.dhcp {
                        client.probe_result(now, false);
                    }
                    claimed
                } else {
                    AddressState::Probing { sent: 0, next: now }
                };
            }
            dhcp::Event::LeaseAcquired(lease) => {
                info!(addr = %lease.addr, server = %lease.server, "DHCP: leased {} from {}", lease.addr, lease.server);
                self.push_event(Event::LeaseAcquired {
                    addr: lease.addr,
                    server: lease.server,
                });
            }
            dhcp::Event::LeaseRenewed(lease) => {
                debug!(addr = %lease.addr, server = %lease.server, "DHCP: lease on {} extended", lease.addr);
                let cidr = lease.addr;
                self.addr = Some(cidr);
                self.gateway = lease.gateway();
                self.push_event(Event::LeaseRenewed {
                    addr: cidr,
                    server: lease.server,
                });
            }
            dhcp::Event::LeaseLost => {
                if let Some(c) = self.addr.take() {
                    info!(addr = %c, "DHCP: {c} is no longer ours");
                    self.push_event(Event::LeaseLost(c.addr()));
                }
                self.gateway = None;
                self.address = AddressState::None;
            }
            dhcp::Event::Declined(addr) => {
                warn!(%addr, "DHCP: another host has {addr}; declined it");
                self.push_event(Event::LeaseDeclined(addr));
            }
            dhcp::Event::Nak => info!("DHCP: the server refused our request (NAK); starting over"),
        }
    }

    /// Sends a DHCP datagram from port 68 to port 67: broadcast (from 0.0.0.0 until an
    /// address is in use), or unicast to the server.
    fn send_dhcp(&mut self, now: Instant, t: dhcp::Transmit, emit: &mut dyn FnMut(&[u8])) {
        let dst = match t.dst {
            dhcp::Destination::Broadcast => Ipv4Addr::BROADCAST,
            dhcp::Destination::Unicast(a) => a,
        };
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        let ok = udp::write(
            &mut body,
            SocketAddrV4::new(t.src, dhcp::CLIENT_PORT),
            SocketAddrV4::new(dst, dhcp::SERVER_PORT),
            &t.payload,
        );
        if ok {
            self.stats.udp_sent += 1;
            // A DHCPRELEASE leaves after the address is given up, so it cannot wait for ARP.
            let known = self.arp.lookup(dst, now).or(self.dhcp_server_mac);
            match (t.dst, known) {
                (dhcp::Destination::Broadcast, _) => {
                    self.emit_ipv4_from(t.src, MacAddr::BROADCAST, dst, Protocol::Udp, &body, emit);
                }
                (dhcp::Destination::Unicast(_), Some(mac)) => {
                    self.emit_ipv4_from(t.src, mac, dst, Protocol::Udp, &body, emit);
                }
                (dhcp::Destination::Unicast(_), None) => {
                    self.send_ipv4(now, dst, Protocol::Udp, &body, emit);
                }
            }
        }
        self.body = body;
    }

    fn push_event(&mut self, e: Event) {
        if self.events.len() >= self.config.limits.events {
            self.events.pop_front();
        }
        self.events.push_back(e);
    }
}

fn write_eth_header(out: &mut Vec<u8>, dst: MacAddr, src: MacAddr, ether_type: EtherType) {
    let h = Ethernet2Header {
        destination: dst.0,
        source: src.0,
        ether_type,
    };
    out.extend_from_slice(&h.to_bytes());
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod dhcp_tests;
