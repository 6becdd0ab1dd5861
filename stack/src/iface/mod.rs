//! The interface: one link with its addresses, neighbour caches, reassembly buffers and
//! sockets, driven by `receive(now, frame)` and `poll(now)`.
//!
//! One file per layer (RFC 1122 layering), each working on its own part of the state:
//! `link.rs` (framing, receive filter) -> `arp.rs` (RFC 826, RFC 5227) | `ipv4.rs` (checks,
//! reassembly, ICMP, output) | `ipv6/` (RFC 8200, NDP, DAD, SLAAC, routers, ICMPv6) ->
//! `transport.rs` (TCP, UDP and ICMP errors to transports, once for both families) -> sockets.
//! `lease.rs` runs the DHCP client. Every frame ends handled or dropped under one
//! [`DropReason`].

use std::collections::VecDeque;

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tracing::trace;

use crate::config::{Config, ConfigError, Ipv4Cidr};
use crate::device::{FrameInfo, Offloads};
use crate::dhcp;
use crate::ethernet::MacAddr;
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
    /// Bytes of storage held by TCP send and receive buffers (out-of-order data included).
    pub tcp_buffer_bytes: usize,
    /// The bound on `tcp_buffer_bytes`: the TCP memory budget (`tcp::Config::memory`).
    pub tcp_buffer_budget: usize,
}

mod arp;
mod ipv4;
mod ipv6;
mod lease;
mod link;
mod report;
mod transport;

pub use self::ipv6::{
    AddrState as Ipv6AddrState, Address as Ipv6Address, OnLinkPrefix, Origin as Ipv6Origin,
    Router as Ipv6Router, ALL_NODES, ALL_ROUTERS,
};

/// A network interface: the sans-IO core of the stack.
#[derive(Debug)]
pub struct Interface {
    config: Config,
    stats: Stats,
    link: link::State,
    v4: ipv4::State,
    dhcp: Option<dhcp::Client>,
    /// Where the frame with the last acknowledgement came from: the server's (or relay's)
    /// MAC, so that a DHCPRELEASE can leave without asking ARP first.
    dhcp_server_mac: Option<MacAddr>,
    udp: udp::Sockets,
    tcp: tcp::Sockets,
    /// IPv6, when configured.
    ip6: Option<Box<ipv6::State>>,
    events: VecDeque<Event>,
    started: bool,
    /// Upper-layer messages are built here before the IP output frames them.
    body: Vec<u8>,
    /// TCP segments are written here, after room for the headers (see `flush_tcp`).
    segment: Vec<u8>,
    /// The frame being received was checked by the device (see [`Interface::receive_with`]).
    rx_checksum_valid: bool,
    /// What the device does for us.
    offloads: Offloads,
}

/// The largest TCP payload sent in one super-segment when the device cuts segments (TSO):
/// with its headers, within the 64 KiB an IPv4 total length or IPv6 payload length counts.
pub const TSO_MAX_PAYLOAD: usize = 65_000;

impl Interface {
    /// A new interface. Nothing is sent until the first `poll`.
    ///
    /// # Errors
    /// [`ConfigError`] when the configuration is inconsistent.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        let l = &config.limits;
        let ephemeral = (Rng::new(config.seed, "udp-port").next_u32() & 0xffff) as u16;
        let dhcp = config
            .dhcp
            .clone()
            .map(|c| dhcp::Client::new(config.mac, config.hostname.clone(), config.seed, c));
        Ok(Interface {
            stats: Stats::default(),
            link: link::State::new(config.medium, config.mac, config.mtu),
            v4: ipv4::State::new(&config),
            dhcp,
            dhcp_server_mac: None,
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
                    config.medium,
                    config.mac,
                    config.mtu,
                    config.seed,
                    &config.limits,
                ))
            }),
            events: VecDeque::new(),
            started: false,
            body: Vec::with_capacity(config.mtu),
            segment: Vec::with_capacity(config.mtu + 64),
            rx_checksum_valid: false,
            offloads: Offloads::default(),
            config,
        })
    }

    /// Tells the interface what its device does for it (the runtime does, from the device's
    /// capabilities): with TSO, TCP connections opened from now on send new data in segments
    /// of up to [`TSO_MAX_PAYLOAD`] bytes, which the device cuts to the MTU.
    pub fn set_offloads(&mut self, offloads: Offloads) {
        self.offloads = offloads;
        self.link.set_large_rx(offloads.rx_checksum);
        self.tcp
            .set_tso_max(if offloads.tso { TSO_MAX_PAYLOAD } else { 0 });
        self.tcp
            .set_partial_checksums(offloads.tso && offloads.tx_checksum);
    }

    /// Completes the checksum of a TCP segment sent with only its pseudo-header sum (see
    /// [`Offloads::tx_checksum`]) when it must go another way than as a super-frame (through
    /// IP fragmentation, or a queue waiting for address resolution).
    pub(super) fn complete_tcp_checksum(&self, src: IpAddr, dst: IpAddr, segment: &mut [u8]) {
        if !(self.offloads.tso && self.offloads.tx_checksum)
            || segment.len() + 20 <= self.config.mtu
        {
            return;
        }
        if let Some(field) = segment.get_mut(16..18) {
            field.copy_from_slice(&[0, 0]);
        }
        let sum = tcp::segment::checksum(src, dst, segment);
        if let Some(field) = segment.get_mut(16..18) {
            field.copy_from_slice(&sum.to_ne_bytes());
        }
    }

    /// What the device does for the interface (see [`Interface::set_offloads`]).
    pub fn offloads(&self) -> Offloads {
        self.offloads
    }

    /// The configuration as given (a DHCP lease shows in [`Interface::ipv4_assigned`] and
    /// [`Interface::gateway`], not here).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The IPv4 address assigned to the interface, static or leased, whether it is still being
    /// checked (RFC 5227) or in use.
    pub fn ipv4_assigned(&self) -> Option<Ipv4Cidr> {
        self.v4.addr
    }

    /// The default router in use.
    pub fn gateway(&self) -> Option<Ipv4Addr> {
        self.v4.gateway
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
        self.v4.address
    }

    /// Our IPv4 address, once it is in use.
    pub fn ipv4(&self) -> Option<Ipv4Cidr> {
        self.v4.ready()
    }

    /// The ARP cache, in address order.
    pub fn arp_cache(&self) -> impl Iterator<Item = (Ipv4Addr, crate::arp::Entry)> + '_ {
        self.v4.arp.iter()
    }

    /// Sizes of every bounded table.
    pub fn footprint(&self) -> Footprint {
        Footprint {
            arp_entries: self.v4.arp.len(),
            pending_packets: self.v4.pending.len(),
            pending_bytes: self.v4.pending.bytes(),
            reassembly_datagrams: self.v4.reassembly.len(),
            reassembly_bytes: self.v4.reassembly.bytes(),
            udp_sockets: self.udp.len(),
            udp_bytes: self.udp.queued_bytes(),
            events: self.events.len(),
            tcp_connections: self.tcp.len(),
            tcp_buffer_bytes: self.tcp.buffer_memory(),
            tcp_buffer_budget: self.tcp.memory().budget,
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
        // RFC 1122 4.2.3.10 (MUST-46): not to our subnet's broadcast address either (the table
        // refuses the limited broadcast and multicast).
        if let (IpAddr::V4(dst), Some(cidr)) = (remote.ip(), self.ipv4()) {
            if cidr.broadcast() == Some(dst) {
                return Err(tcp::ConnectError::NotUnicast);
            }
        }
        self.tcp.connect(now, local, remote)
    }

    /// Queues data on a connection; returns how much fit.
    ///
    /// # Errors
    /// [`tcp::SocketError`] when the connection is gone, failed or shut down.
    pub fn tcp_send(&mut self, h: tcp::Handle, data: &[u8]) -> Result<usize, tcp::SocketError> {
        self.tcp.send(h, data)
    }

    /// Queues urgent data on a connection (RFC 9293 3.8.5); returns how much fit.
    ///
    /// # Errors
    /// [`tcp::SocketError`] when the connection is gone, failed or shut down.
    pub fn tcp_send_urgent(
        &mut self,
        h: tcp::Handle,
        data: &[u8],
    ) -> Result<usize, tcp::SocketError> {
        self.tcp.send_urgent(h, data)
    }

    /// While urgent data is pending on a connection, how many bytes remain to be read up to
    /// the end of it (the urgent mark); `None` otherwise.
    pub fn tcp_urgent_mark(&self, h: tcp::Handle) -> Option<usize> {
        self.tcp.urgent_mark(h)
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

    /// Sets a connection's user timeout (RFC 5482): unacknowledged data older than this ends
    /// it; `None` leaves it to the retransmission count.
    pub fn tcp_set_user_timeout(&mut self, h: tcp::Handle, timeout: Option<core::time::Duration>) {
        self.tcp.set_user_timeout(h, timeout);
    }

    /// Reads and clears the latest soft error of a connection (an ICMP unreachable, unanswered
    /// retransmissions: RFC 9293 MUST-47).
    pub fn tcp_take_soft_error(&mut self, h: tcp::Handle) -> Option<tcp::SoftError> {
        self.tcp.take_soft_error(h)
    }

    /// A connection's state, counters, RTT and windows.
    pub fn tcp_connection(&self, h: tcp::Handle) -> Option<&tcp::Connection> {
        self.tcp.get(h)
    }

    /// The TCP socket table (every connection, table counters).
    pub fn tcp(&self) -> &tcp::Sockets {
        &self.tcp
    }

    /// The UDP socket table.
    pub fn udp(&self) -> &udp::Sockets {
        &self.udp
    }

    /// Handles one received frame (Ethernet, or a bare IP packet on an IP-only link); replies
    /// go to `emit`.
    pub fn receive(&mut self, now: Instant, frame: &[u8], emit: &mut dyn FnMut(&[u8])) {
        self.receive_with(now, frame, FrameInfo::default(), emit);
    }

    /// [`Interface::receive`] for a frame the device says more about: a TCP or UDP checksum
    /// the device checked ([`FrameInfo::checksum_valid`], a virtio-net device's DATA_VALID or
    /// NEEDS_CSUM) is not checked again. The IPv4 header checksum always is.
    pub fn receive_with(
        &mut self,
        now: Instant,
        frame: &[u8],
        info: FrameInfo,
        emit: &mut dyn FnMut(&[u8]),
    ) {
        self.rx_checksum_valid = info.checksum_valid;
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

        self.poll_arp(now, emit);
        self.expire_ipv4_reassembly(now);

        self.flush_tcp(now, emit);
        let v4 = self.ipv4();
        let v6 = self.ipv6_addresses().iter().any(|a| a.usable());
        let sendable = |d: &SocketAddr| match d {
            SocketAddr::V4(_) => v4.is_some(),
            SocketAddr::V6(_) => v6,
        };
        while let Some((port, dst, local, data)) = self.udp.pop_tx(sendable) {
            self.send_udp(now, port, dst, local, &data, emit);
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
        let address = match self.v4.address {
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
        let timers = earliest(self.v4.arp.poll_at(), self.v4.reassembly.poll_at());
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
            self.v4.addr = None;
            self.v4.gateway = None;
            self.v4.address = AddressState::None;
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
        if self.v4.addr.is_some() {
            // RFC 5227 works through ARP, which a point-to-point IP-only link does not have
            // (Linux runs no conflict detection on IFF_NOARP devices either).
            self.v4.address = if self.config.arp.probe_count == 0 || self.link.point_to_point() {
                self.claimed(now)
            } else {
                AddressState::Probing { sent: 0, next: now }
            };
        }
    }

    fn process_frame(
        &mut self,
        now: Instant,
        frame: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) -> Result<(), DropReason> {
        let accepts = |mac: MacAddr| {
            mac == MacAddr::for_ipv4_multicast(ipv4::ALL_HOSTS) || self.ipv6_accepts_mac(mac)
        };
        let f = self.link.receive(frame, accepts)?;
        match f.kind {
            link::Payload::Arp => self.process_arp(now, f.payload, emit),
            link::Payload::Ipv4 => self.process_ipv4(now, f.dst, f.src, f.payload, emit),
            link::Payload::Ipv6 if self.ip6.is_some() => {
                self.process_ipv6(now, f.dst, f.src, f.payload, emit)
            }
            link::Payload::Ipv6 | link::Payload::Other => Err(DropReason::EthUnsupportedType),
        }
    }

    fn push_event(&mut self, e: Event) {
        if self.events.len() >= self.config.limits.events {
            self.events.pop_front();
        }
        self.events.push_back(e);
    }
}

// The tests take these through `use super::*`.
#[cfg(test)]
use {self::ipv4::ALL_HOSTS, core::net::SocketAddrV4};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod dhcp_tests;

#[cfg(test)]
mod ip_tests;
