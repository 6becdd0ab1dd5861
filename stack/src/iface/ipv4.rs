//! IPv4 on the interface (RFC 791, RFC 1122 3.2): header checks, where a datagram was
//! addressed, reassembly (RFC 815), ICMP echo and errors (RFC 792), routing to the next hop and
//! fragmentation of what we send. Address resolution and the address claim (RFC 826, RFC 5227)
//! are in `arp.rs`; TCP and UDP in `transport.rs`.

use core::net::{IpAddr, Ipv4Addr};

use etherparse::EtherType;
use tracing::{debug, trace};

use super::link;
use super::transport::{self, Addrs, Cast, Datagram, Family, IcmpError, Route, TransportError};
use super::{AddressState, Interface};
use crate::arp;
use crate::config::{Config, Ipv4Cidr};
use crate::ethernet::MacAddr;
use crate::icmp::{self, ErrorKind, TokenBucket};
use crate::ipv4::{self, EmitRepr, Protocol};
use crate::reassembly::ipv4 as reassembly;
use crate::rng::Rng;
use crate::stats::DropReason;
use crate::time::Instant;

/// The all-hosts group every IPv4 host belongs to (RFC 1112).
pub(super) const ALL_HOSTS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 1);

/// The IPv4 half of the interface: address, router, neighbours, reassembly.
#[derive(Debug)]
pub(super) struct State {
    /// The address assigned (static, or leased): probed, then used.
    pub(super) addr: Option<Ipv4Cidr>,
    pub(super) gateway: Option<Ipv4Addr>,
    /// Where the address claim stands (RFC 5227).
    pub(super) address: AddressState,
    pub(super) last_defence: Option<Instant>,
    pub(super) arp: arp::Cache,
    /// Datagrams waiting for ARP.
    pub(super) pending: arp::Pending,
    pub(super) due: Vec<arp::Due>,
    pub(super) reassembly: reassembly::Reassembler,
    ident: u16,
    pub(super) icmp_errors: TokenBucket,
}

impl State {
    pub(super) fn new(config: &Config) -> Self {
        let l = &config.limits;
        let mut rng = Rng::new(config.seed, "ipv4");
        let ident = (rng.next_u32() & 0xffff) as u16;
        let bounds = reassembly::Bounds {
            datagrams: l.reassembly_datagrams,
            bytes: l.reassembly_bytes,
            max_payload: l.reassembly_max_datagram - ipv4::HEADER_LEN,
            max_fragments: l.reassembly_max_fragments,
            timeout: l.reassembly_timeout,
        };
        State {
            addr: config.ipv4,
            gateway: config.gateway,
            address: AddressState::None,
            last_defence: None,
            arp: arp::Cache::new(l.arp_cache_entries, config.arp.entry_lifetime),
            pending: arp::Pending::new(l.arp_pending_packets, l.arp_pending_bytes),
            due: Vec::new(),
            reassembly: reassembly::Reassembler::new(bounds),
            ident,
            icmp_errors: TokenBucket::new(l.icmp_errors_per_sec, l.icmp_error_burst),
        }
    }

    /// The address once it is in use.
    pub(super) fn ready(&self) -> Option<Ipv4Cidr> {
        match self.address {
            AddressState::Ready { .. } => self.addr,
            _ => None,
        }
    }

    /// The header of the next datagram we originate from `src`.
    fn next_header(
        &mut self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: Protocol,
        ttl: u8,
    ) -> EmitRepr {
        self.ident = self.ident.wrapping_add(1);
        EmitRepr {
            src,
            dst,
            protocol,
            ttl,
            ident: self.ident,
            dont_fragment: protocol == Protocol::Tcp,
        }
    }

    /// The MAC address a datagram to `dst` goes to, if known without asking ARP.
    fn resolved_next_hop(
        &self,
        now: Instant,
        dst: Ipv4Addr,
        link: &link::State,
    ) -> Option<MacAddr> {
        let cidr = self.ready()?;
        if dst.is_broadcast() || Some(dst) == cidr.broadcast() {
            return Some(MacAddr::BROADCAST);
        }
        if dst.is_multicast() {
            return Some(MacAddr::for_ipv4_multicast(dst));
        }
        // A point-to-point link takes everything that is not ours, without a route.
        if let Some(mac) = link.without_resolution() {
            return Some(mac);
        }
        let hop = if cidr.contains(dst) {
            dst
        } else {
            self.gateway?
        };
        self.arp.lookup(hop, now)
    }
}

impl Interface {
    pub(super) fn process_ipv4(
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
        let link_group = link_dst.is_multicast();
        if cast == Cast::Unicast && link_group {
            return Err(DropReason::Ipv4NotForUs);
        }
        if !ip.is_fragment() {
            let original = packet
                .get(..ip.header_len + payload.len())
                .unwrap_or(packet);
            return self.deliver_ipv4(now, &ip, cast, link_group, payload, original, emit);
        }
        self.stats.ipv4_fragments_rx += 1;
        let key = reassembly::Key {
            src: ip.src,
            dst: ip.dst,
            protocol: u8::from(ip.protocol),
            ident: ip.ident,
        };
        let evicted = self.v4.reassembly.evictions();
        let outcome = self
            .v4
            .reassembly
            .add(now, key, ip.frag_offset, ip.more_fragments, payload);
        let evicted = self.v4.reassembly.evictions() - evicted;
        if evicted > 0 {
            self.stats.ipv4_reassembly_evictions += evicted;
            debug!(src = %ip.src, "IPv4: reassembly table full, evicted the oldest datagram");
        }
        match outcome {
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
                self.deliver_ipv4(now, &whole, cast, link_group, &datagram, &original, emit)
            }
        }
    }

    /// Hands a whole datagram to ICMP or, through the transport layer, to TCP or UDP.
    #[allow(clippy::too_many_arguments)]
    fn deliver_ipv4(
        &mut self,
        now: Instant,
        ip: &ipv4::Repr,
        cast: Cast,
        link_group: bool,
        payload: &[u8],
        original: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) -> Result<(), DropReason> {
        let pkt = Datagram {
            addrs: Addrs::V4(ip.src, ip.dst),
            cast,
            local: Some(IpAddr::V4(ip.dst)),
            link_group,
            original,
        };
        match ip.protocol {
            Protocol::Icmp => self.process_icmp(now, ip, cast, payload, emit),
            Protocol::Udp => self.process_udp(now, &pkt, payload, emit),
            Protocol::Tcp => self.process_tcp(now, &pkt, payload, emit),
            Protocol::Unknown(_) => {
                if cast == Cast::Unicast {
                    let error = IcmpError::V4(ErrorKind::ProtocolUnreachable);
                    self.send_icmp_error(now, error, original, link_group, emit);
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
                let route = Route::V4 { dst: ip.src };
                self.send_ip(now, route, transport::Protocol::Icmp, &body, emit);
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
                // RFC 1122 4.2.3.9: port, protocol and host unreachable during a connect are
                // hard errors; "fragmentation needed" (RFC 1191) lowers the path MTU.
                let error = match (kind, code) {
                    (3, 1..=3) => Some(TransportError::Unreachable),
                    (3, 4) => Some(TransportError::PathMtu(mtu)),
                    _ => None,
                };
                if let Some(error) = error {
                    self.error_to_transport(Family::V4, original, error);
                }
                Ok(())
            }
            icmp::Message::EchoReply { .. } | icmp::Message::Other { .. } => {
                Err(DropReason::IcmpIgnored)
            }
        }
    }

    /// Originates a datagram: routes it, resolves the next hop (queueing while ARP works) and
    /// fragments it to the MTU.
    pub(super) fn send_ipv4(
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
            let mac = MacAddr::for_ipv4_multicast(dst);
            self.emit_ipv4(mac, dst, protocol, payload, emit);
            return;
        }
        // A point-to-point link takes everything that is not ours, without a route.
        if let Some(mac) = self.link.without_resolution() {
            self.emit_ipv4(mac, dst, protocol, payload, emit);
            return;
        }
        let next_hop = if cidr.contains(dst) {
            dst
        } else if let Some(gw) = self.v4.gateway {
            gw
        } else {
            debug!(%dst, "IPv4: no route to {dst}");
            self.stats.ipv4_tx_dropped += 1;
            return;
        };
        if let Some(mac) = self.v4.arp.lookup(next_hop, now) {
            self.emit_ipv4(mac, dst, protocol, payload, emit);
            return;
        }
        self.resolve_then_send(now, next_hop, dst, protocol, payload, emit);
    }

    /// Sends from our address to the next hop at `mac`.
    pub(super) fn emit_ipv4(
        &mut self,
        mac: MacAddr,
        dst: Ipv4Addr,
        protocol: Protocol,
        payload: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) {
        let Some(cidr) = self.v4.addr else { return };
        self.emit_ipv4_from(cidr.addr(), mac, dst, protocol, payload, emit);
    }

    /// Writes the datagram in one frame, or in fragments when it is larger than the MTU.
    pub(super) fn emit_ipv4_from(
        &mut self,
        src: Ipv4Addr,
        mac: MacAddr,
        dst: Ipv4Addr,
        protocol: Protocol,
        payload: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) {
        let repr = self.v4.next_header(src, dst, protocol, self.config.ttl);
        let plan = ipv4::fragments(payload.len(), self.config.mtu);
        let header = |out: &mut Vec<u8>, offset, len, more| {
            ipv4::write_header(out, &repr, len, offset, more);
        };
        let pieces = self.transmit_pieces(mac, EtherType::IPV4, payload, plan, header, emit);
        if pieces > 1 {
            self.stats.ipv4_fragments_tx += pieces;
        }
        self.stats.ipv4_sent += 1;
    }

    /// Sends a TCP segment written at `headroom` in `frame`: with a resolved next hop and no
    /// need to fragment, the link and IPv4 headers go in front of it in the same buffer.
    pub(super) fn tcp_out_v4(
        &mut self,
        now: Instant,
        dst: Ipv4Addr,
        frame: &mut [u8],
        headroom: usize,
        emit: &mut dyn FnMut(&[u8]),
    ) {
        let segment_len = frame.len() - headroom;
        let headers = self.link.header_len() + ipv4::HEADER_LEN;
        let start = headroom - headers;
        match (
            self.v4.resolved_next_hop(now, dst, &self.link),
            self.v4.addr,
        ) {
            (Some(mac), Some(cidr))
                if segment_len + ipv4::HEADER_LEN <= self.config.mtu
                    || (self.offloads.tso && segment_len <= super::TSO_MAX_PAYLOAD + 60) =>
            {
                let repr = self
                    .v4
                    .next_header(cidr.addr(), dst, Protocol::Tcp, self.config.ttl);
                let mut written = std::mem::take(&mut self.body);
                self.link.begin(&mut written, mac, EtherType::IPV4);
                ipv4::write_header(&mut written, &repr, segment_len, 0, false);
                if let Some(room) = frame.get_mut(start..headroom) {
                    room.copy_from_slice(&written);
                }
                self.body = written;
                self.stats.ipv4_sent += 1;
                self.transmit(frame.get(start..).unwrap_or_default(), emit);
            }
            (_, addr) => {
                if let (Some(cidr), Some(segment)) = (addr, frame.get_mut(headroom..)) {
                    self.complete_tcp_checksum(cidr.addr().into(), dst.into(), segment);
                }
                let segment = frame.get(headroom..).unwrap_or_default();
                self.send_ipv4(now, dst, Protocol::Tcp, segment, emit);
            }
        }
    }
}

impl Interface {
    /// Drops datagrams whose fragments did not all come in time (RFC 1122 3.3.2).
    pub(super) fn expire_ipv4_reassembly(&mut self, now: Instant) {
        let expired = self.v4.reassembly.expire(now);
        if expired > 0 {
            self.stats.ipv4_reassembly_timeouts += expired as u64;
            debug!(expired, "IPv4: reassembly timed out");
        }
    }
}
