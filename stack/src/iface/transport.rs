//! The transport layer over both IP families: one path for TCP (RFC 9293), UDP (RFC 768) and
//! the ICMP/ICMPv6 errors that concern them (RFC 1122 4.2.3.9, RFC 4443 3, RFC 8201).
//!
//! The IPv4 and IPv6 layers check their headers, reassemble and decide where a packet was
//! addressed, then hand a [`Datagram`] (addresses, cast, the quote for errors) to this file;
//! what the transports send leaves through [`Interface::send_ip`] to the family's output.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use tracing::{debug, trace};

use super::Interface;
use crate::icmp::{self, ErrorKind};
use crate::ipv6::icmp as icmp6;
use crate::ipv6::{self, NextHeader};
use crate::stats::DropReason;
use crate::tcp;
use crate::time::Instant;
use crate::udp;

/// The source and destination of a packet, of one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Addrs {
    V4(Ipv4Addr, Ipv4Addr),
    V6(Ipv6Addr, Ipv6Addr),
}

impl Addrs {
    pub(super) fn src(self) -> IpAddr {
        match self {
            Addrs::V4(s, _) => IpAddr::V4(s),
            Addrs::V6(s, _) => IpAddr::V6(s),
        }
    }

    pub(super) fn dst(self) -> IpAddr {
        match self {
            Addrs::V4(_, d) => IpAddr::V4(d),
            Addrs::V6(_, d) => IpAddr::V6(d),
        }
    }
}

/// An IP family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Family {
    V4,
    V6,
}

/// How a destination address relates to us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cast {
    /// One of our unicast addresses.
    Unicast,
    /// The limited or directed broadcast (IPv4).
    Broadcast,
    /// A group we joined.
    Multicast,
}

/// A received packet as the transports see it, whatever its family.
#[derive(Clone, Copy, Debug)]
pub(super) struct Datagram<'a> {
    pub(super) addrs: Addrs,
    pub(super) cast: Cast,
    /// Our address it was sent to, as UDP sockets report it (a reply leaves from it).
    pub(super) local: Option<IpAddr>,
    /// It came as a link-layer group frame.
    pub(super) link_group: bool,
    /// The packet from its IP header on (rebuilt after reassembly), for error quotes.
    pub(super) original: &'a [u8],
}

/// Where a packet we originate goes: IPv4 leaves from the interface's one address, IPv6 from a
/// source chosen per packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Route {
    V4 { dst: Ipv4Addr },
    V6 { src: Ipv6Addr, dst: Ipv6Addr },
}

/// The upper-layer protocols originated through [`Interface::send_ip`] (TCP segments leave
/// through [`Interface::flush_tcp`], which writes them in place).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Protocol {
    Icmp,
    Udp,
}

impl From<Protocol> for crate::ipv4::Protocol {
    fn from(p: Protocol) -> Self {
        match p {
            Protocol::Icmp => crate::ipv4::Protocol::Icmp,
            Protocol::Udp => crate::ipv4::Protocol::Udp,
        }
    }
}

impl From<Protocol> for NextHeader {
    fn from(p: Protocol) -> Self {
        match p {
            Protocol::Icmp => NextHeader::Icmp,
            Protocol::Udp => NextHeader::Udp,
        }
    }
}

/// An ICMP or ICMPv6 error we send about a received packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum IcmpError {
    V4(ErrorKind),
    V6(icmp6::Error),
}

/// What a received ICMP or ICMPv6 error tells the transport that sent the quoted packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TransportError {
    /// The destination cannot be reached: a hard error during a connect.
    Unreachable,
    /// The path takes segments of at most this MTU (counted with IPv4's 40 header bytes).
    PathMtu(u16),
}

fn tcp_drop(e: tcp::segment::ParseError) -> DropReason {
    match e {
        tcp::segment::ParseError::Truncated | tcp::segment::ParseError::BadDataOffset => {
            DropReason::TcpBadHeader
        }
        tcp::segment::ParseError::BadOption => DropReason::TcpBadOption,
        tcp::segment::ParseError::BadChecksum => DropReason::TcpBadChecksum,
        tcp::segment::ParseError::BadFlags => DropReason::TcpBadFlags,
    }
}

impl Interface {
    /// Counts a packet handed to an upper layer.
    pub(super) fn count_delivered(&mut self, addrs: Addrs) {
        match addrs {
            Addrs::V4(..) => self.stats.ipv4_delivered += 1,
            Addrs::V6(..) => self.stats.ipv6_delivered += 1,
        }
    }

    /// A TCP segment to one of our addresses.
    pub(super) fn process_tcp(
        &mut self,
        now: Instant,
        pkt: &Datagram<'_>,
        payload: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) -> Result<(), DropReason> {
        if pkt.cast != Cast::Unicast {
            return Err(DropReason::TcpNotUnicast);
        }
        let (src, dst) = (pkt.addrs.src(), pkt.addrs.dst());
        let verify = !self.rx_checksum_valid;
        let (seg, data) =
            tcp::segment::parse_checked(payload, src, dst, verify).map_err(tcp_drop)?;
        self.count_delivered(pkt.addrs);
        let local = SocketAddr::new(dst, seg.dst_port);
        let remote = SocketAddr::new(src, seg.src_port);
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

    /// A UDP datagram to one of our addresses or groups.
    pub(super) fn process_udp(
        &mut self,
        now: Instant,
        pkt: &Datagram<'_>,
        payload: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) -> Result<(), DropReason> {
        let src = pkt.addrs.src();
        let verify = !self.rx_checksum_valid;
        let d =
            udp::parse_checked(payload, src, pkt.addrs.dst(), verify).map_err(DropReason::from)?;
        self.count_delivered(pkt.addrs);
        let from = SocketAddr::new(src, d.src_port);
        match self.udp.deliver(d.dst_port, from, pkt.local, d.payload) {
            udp::Delivery::Queued => {
                self.stats.udp_delivered += 1;
                trace!(from = %src, port = d.dst_port, len = d.payload.len(), "UDP: datagram queued");
                Ok(())
            }
            udp::Delivery::QueueFull => Err(DropReason::UdpQueueFull),
            udp::Delivery::NoSocket => {
                if pkt.cast == Cast::Unicast {
                    debug!(from = %src, port = d.dst_port, "UDP: port {} closed, sending port unreachable", d.dst_port);
                    let error = match pkt.addrs {
                        Addrs::V4(..) => IcmpError::V4(ErrorKind::PortUnreachable),
                        Addrs::V6(..) => IcmpError::V6(icmp6::Error::DestinationUnreachable(4)),
                    };
                    self.send_icmp_error(now, error, pkt.original, pkt.link_group, emit);
                }
                Err(DropReason::UdpNoSocket)
            }
        }
    }

    /// Tells the TCP connection an ICMP or ICMPv6 error quotes (its IP header, then the first
    /// bytes of the segment) what happened to it.
    pub(super) fn error_to_transport(
        &mut self,
        family: Family,
        original: &[u8],
        error: TransportError,
    ) {
        let quoted = match family {
            Family::V4 => crate::ipv4::quoted(original)
                .map(|q| (Addrs::V4(q.src, q.dst), q.protocol, q.upper)),
            Family::V6 => ipv6::quoted(original)
                .map(|q| (Addrs::V6(q.src, q.dst), q.next_header, ipv6::HEADER_LEN)),
        };
        let Some((addrs, protocol, upper)) = quoted else {
            return;
        };
        // The quote holds at least the first 8 bytes of the segment (RFC 792, RFC 4443):
        // ports and sequence number.
        let Some(head) = original.get(upper..upper + 8) else {
            return;
        };
        if protocol != 6 {
            return;
        }
        let local = SocketAddr::new(addrs.src(), u16::from_be_bytes([head[0], head[1]]));
        let remote = SocketAddr::new(addrs.dst(), u16::from_be_bytes([head[2], head[3]]));
        // RFC 5927 4.1: the connection takes the error only if this sequence number is in
        // flight (SND.UNA =< SEG.SEQ < SND.NXT); a blind attacker must guess it.
        let seq = tcp::Seq(u32::from_be_bytes([head[4], head[5], head[6], head[7]]));
        match error {
            TransportError::Unreachable => self.tcp.on_icmp_unreachable(local, remote, seq),
            TransportError::PathMtu(mtu) => self.tcp.on_path_mtu(local, remote, mtu, seq),
        }
    }

    /// Sends an error about `original` (a received packet from its IP header on).
    ///
    /// RFC 1122 3.2.2: never about a datagram whose source names no single host or about a
    /// non-initial fragment; RFC 4443 2.4 (e) likewise, and not about a packet sent to a group
    /// (`link_group`: as a link-layer group frame) with its exceptions. Both families: rate
    /// limited (RFC 1812 4.3.2.8, RFC 4443 2.4 (f)).
    pub(super) fn send_icmp_error(
        &mut self,
        now: Instant,
        error: IcmpError,
        original: &[u8],
        link_group: bool,
        emit: &mut dyn FnMut(&[u8]),
    ) {
        // Whom the error goes to, if the family's rules allow one at all.
        let about = match error {
            IcmpError::V4(_) => crate::ipv4::quoted(original)
                .filter(|q| {
                    q.frag_offset == 0
                        && !q.src.is_unspecified()
                        && !crate::ipv4::is_martian_source(q.src)
                })
                .map(|q| Addrs::V4(q.src, q.dst)),
            IcmpError::V6(e) => self.ipv6_error_about(e, original, link_group),
        };
        let Some(about) = about else { return };
        let (bucket, limited) = match about {
            Addrs::V4(..) => (
                &mut self.v4.icmp_errors,
                &mut self.stats.icmp_errors_rate_limited,
            ),
            Addrs::V6(..) => match self.ip6.as_mut() {
                Some(v6) => (
                    &mut v6.icmp_errors,
                    &mut self.stats.icmpv6_errors_rate_limited,
                ),
                None => return,
            },
        };
        if !bucket.take(now) {
            *limited += 1;
            return;
        }
        let route = match about {
            Addrs::V4(src, _) => Route::V4 { dst: src },
            Addrs::V6(src, dst) => {
                // RFC 4443 2.2: the source is the destination of the packet if it was ours,
                // otherwise the address we would use towards its source.
                let Some(ours) = self.ipv6_error_source(dst, src) else {
                    return;
                };
                Route::V6 {
                    src: ours,
                    dst: src,
                }
            }
        };
        // The message itself is the family's (`about`, and so `route`, follows the error's).
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        match (error, route) {
            (IcmpError::V4(kind), _) => icmp::write_error(&mut body, kind, original),
            (IcmpError::V6(e), Route::V6 { src, dst }) => {
                icmp6::write_error(&mut body, src, dst, e, original);
            }
            (IcmpError::V6(_), Route::V4 { .. }) => {}
        }
        self.send_ip(now, route, Protocol::Icmp, &body, emit);
        self.body = body;
        match route {
            Route::V4 { .. } => self.stats.icmp_errors_sent += 1,
            Route::V6 { .. } => self.stats.icmpv6_errors_sent += 1,
        }
    }

    /// Originates a packet: the family's output routes it, resolves the next hop (queueing
    /// while resolution works) and fragments it to the MTU.
    pub(super) fn send_ip(
        &mut self,
        now: Instant,
        route: Route,
        protocol: Protocol,
        payload: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) {
        match route {
            Route::V4 { dst } => self.send_ipv4(now, dst, protocol.into(), payload, emit),
            Route::V6 { src, dst } => {
                self.send_ipv6(now, src, dst, protocol.into(), payload, emit);
            }
        }
    }

    /// Sends a datagram a UDP socket queued.
    pub(super) fn send_udp(
        &mut self,
        now: Instant,
        port: u16,
        dst: SocketAddr,
        local: Option<IpAddr>,
        data: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) {
        // IPv4 leaves from our one address; IPv6 from the address the request came to, if
        // that is still ours.
        let from = match dst {
            SocketAddr::V4(_) => self.ipv4().map(|c| IpAddr::V4(c.addr())),
            SocketAddr::V6(d) => self.ipv6_reply_source(local, *d.ip()).map(IpAddr::V6),
        };
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        let (route, written) = match (from, dst) {
            (Some(IpAddr::V4(src)), SocketAddr::V4(d)) => (
                Route::V4 { dst: *d.ip() },
                udp::write(&mut body, SocketAddrV4::new(src, port), d, data),
            ),
            (Some(IpAddr::V6(src)), SocketAddr::V6(d)) => (
                Route::V6 { src, dst: *d.ip() },
                udp::write6(&mut body, SocketAddrV6::new(src, port, 0, 0), d, data),
            ),
            (_, SocketAddr::V4(_)) => {
                self.stats.ipv4_tx_dropped += 1;
                self.body = body;
                return;
            }
            (_, SocketAddr::V6(_)) => {
                self.stats.ipv6_tx_dropped += 1;
                self.body = body;
                return;
            }
        };
        if written {
            self.stats.udp_sent += 1;
            self.send_ip(now, route, Protocol::Udp, &body, emit);
        }
        self.body = body;
    }

    /// Sends every segment the TCP table has ready.
    pub(super) fn flush_tcp(&mut self, now: Instant, emit: &mut dyn FnMut(&[u8])) {
        if !self.any_address() {
            return;
        }
        // Segments are written straight into the frame, after room for the link and IP
        // headers of either family, so the payload is copied once (from the socket's ring);
        // the family's output fills the headers in front of it.
        let headroom = self.link.header_len() + ipv6::HEADER_LEN;
        let mut frame = std::mem::take(&mut self.segment);
        loop {
            frame.clear();
            frame.resize(headroom, 0);
            let Some((local, remote)) = self.tcp.next_segment(now, &mut frame) else {
                break;
            };
            match (local.ip(), remote.ip()) {
                (_, IpAddr::V4(dst)) => {
                    self.stats.tcp_segments_sent += 1;
                    self.tcp_out_v4(now, dst, &mut frame, headroom, emit);
                }
                (IpAddr::V6(src), IpAddr::V6(dst)) => {
                    self.stats.tcp_segments_sent += 1;
                    self.tcp_out_v6(now, src, dst, &mut frame, headroom, emit);
                }
                (IpAddr::V4(_), IpAddr::V6(_)) => {}
            }
        }
        self.segment = frame;
    }
}
