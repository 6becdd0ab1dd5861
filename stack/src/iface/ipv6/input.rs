//! IPv6 input (RFC 8200 4): where a packet was addressed, the extension header chain,
//! reassembly (RFC 8200 4.5, RFC 7112) and its timeouts, ICMPv6 (RFC 4443), and the hand-over
//! to NDP or, through the interface's transport layer, to UDP and TCP.

use core::net::IpAddr;

use tracing::{debug, trace};

use crate::ethernet::MacAddr;
use crate::iface::transport::{
    Addrs, Cast, Datagram, Family, IcmpError, Protocol, Route, TransportError,
};
use crate::iface::Interface;
use crate::ipv6::icmp::{self as icmp6, ParamProblemCode};
use crate::ipv6::{self, ext, EmitRepr, NextHeader, HEADER_LEN};
use crate::reassembly::ipv6 as reassembly;
use crate::stats::DropReason;
use crate::time::Instant;

/// How the extension header walk treats options for a packet addressed as `cast`.
pub(super) fn ext_destination(cast: Cast) -> ext::Destination {
    match cast {
        Cast::Unicast => ext::Destination::Unicast,
        Cast::Multicast | Cast::Broadcast => ext::Destination::Multicast,
    }
}

pub(super) fn map_fragment_drop(r: DropReason) -> DropReason {
    match r {
        DropReason::FragmentOverlap => DropReason::Ipv6FragmentOverlap,
        DropReason::FragmentInvalid => DropReason::Ipv6FragmentInvalid,
        DropReason::FragmentTooBig => DropReason::Ipv6FragmentTooBig,
        DropReason::ReassemblyFull => DropReason::Ipv6ReassemblyFull,
        DropReason::FragmentDuplicate => DropReason::Ipv6FragmentDuplicate,
        other => other,
    }
}

/// Where the byte naming the header at `offset` of `payload` sits, from the start of the IPv6
/// header (for Parameter Problem pointers at an unknown Next Header).
pub(super) fn next_header_field(payload: &[u8], first: NextHeader, offset: usize) -> usize {
    let mut field = 6;
    let mut pos = 0usize;
    let mut next = first;
    while pos < offset {
        let (Some(&nh), Some(&len)) = (payload.get(pos), payload.get(pos + 1)) else {
            break;
        };
        field = HEADER_LEN + pos;
        pos += if next == NextHeader::Fragment {
            ext::FRAGMENT_LEN
        } else {
            (usize::from(len) + 1) * 8
        };
        next = NextHeader::from(nh);
    }
    field
}

/// What a received packet is, once its header chain is walked.
pub(super) struct Packet<'a> {
    pub(super) ip: ipv6::Repr,
    pub(super) dest: Cast,
    pub(super) link_group: bool,
    /// The whole packet as received (or rebuilt after reassembly), for error quotes.
    pub(super) original: &'a [u8],
}

impl Packet<'_> {
    /// The packet as the transport layer sees it. A datagram to a group is answered from our
    /// own address, not the group's.
    pub(super) fn transport(&self) -> Datagram<'_> {
        Datagram {
            addrs: Addrs::V6(self.ip.src, self.ip.dst),
            cast: self.dest,
            local: (self.dest == Cast::Unicast).then_some(IpAddr::V6(self.ip.dst)),
            link_group: self.link_group,
            original: self.original,
        }
    }
}

impl Interface {
    /// Drops packets whose fragments did not all come in time. RFC 8200 4.5: "If insufficient
    /// fragments are received to complete reassembly of a packet within 60 seconds of the
    /// reception of the first-arriving fragment of that packet ... If the first fragment (i.e.,
    /// the one with a Fragment Offset of zero) has been received, an ICMP Time Exceeded --
    /// Fragment Reassembly Time Exceeded message should be sent to the source of that fragment."
    pub(super) fn expire_reassembly(&mut self, now: Instant, emit: &mut dyn FnMut(&[u8])) {
        /// Errors sent per expiry round at most (the token bucket limits them too).
        const MAX_QUOTES: usize = 4;
        let Some(v6) = self.ip6.as_mut() else { return };
        let mut quotes: Vec<Vec<u8>> = Vec::new();
        let expired = v6.reassembly.expire_each(now, |key, next_header, data| {
            if quotes.len() < MAX_QUOTES {
                let repr = EmitRepr {
                    src: key.src,
                    dst: key.dst,
                    next_header: NextHeader::from(next_header),
                    // Not kept by the reassembly table; the quote is rebuilt from the key.
                    hop_limit: 0,
                };
                let mut q = Vec::with_capacity(HEADER_LEN + data.len().min(icmp6::MAX_QUOTE));
                ipv6::write_header(&mut q, &repr, data.len());
                q.extend_from_slice(data.get(..icmp6::MAX_QUOTE).unwrap_or(data));
                quotes.push(q);
            }
        });
        if expired == 0 {
            return;
        }
        self.stats.ipv6_reassembly_timeouts += expired as u64;
        debug!(expired, "IPv6: reassembly timed out");
        for q in quotes {
            let error = icmp6::Error::TimeExceeded(1);
            self.send_icmp_error(now, IcmpError::V6(error), &q, false, emit);
        }
    }

    /// RFC 4443 3.4: a Parameter Problem about `pkt`, pointing at byte `pointer` of it.
    pub(super) fn param_problem(
        &mut self,
        now: Instant,
        pkt: &Packet<'_>,
        code: ParamProblemCode,
        pointer: u32,
        emit: &mut dyn FnMut(&[u8]),
    ) {
        let error = IcmpError::V6(icmp6::Error::ParameterProblem { code, pointer });
        self.send_icmp_error(now, error, pkt.original, pkt.link_group, emit);
    }

    pub(in crate::iface) fn process_ipv6(
        &mut self,
        now: Instant,
        link_dst: MacAddr,
        link_src: MacAddr,
        packet: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) -> Result<(), DropReason> {
        let Some(v6) = self.ip6.as_ref() else {
            return Err(DropReason::EthUnsupportedType);
        };
        let (ip, payload) = ipv6::parse(packet).map_err(|e| match e {
            ipv6::ParseError::Truncated => DropReason::Ipv6Truncated,
            ipv6::ParseError::BadVersion => DropReason::Ipv6BadHeader,
            ipv6::ParseError::Jumbogram => DropReason::Ipv6Jumbogram,
            ipv6::ParseError::MulticastSource => DropReason::Ipv6BadSource,
        })?;
        if ip.src.is_loopback() {
            return Err(DropReason::Ipv6BadSource);
        }
        let link_group = link_dst.is_multicast();
        let dest = if ip.dst.is_multicast() {
            if !v6.joined(ip.dst) {
                return Err(DropReason::Ipv6NotForUs);
            }
            Cast::Multicast
        } else {
            let Some(i) = v6.find(ip.dst) else {
                return Err(DropReason::Ipv6NotForUs);
            };
            if link_group {
                // A unicast packet that came as a link-layer group frame (RFC 1122 3.3.6 alike).
                return Err(DropReason::Ipv6NotForUs);
            }
            if v6.addrs.get(i).is_some_and(|a| !a.usable()) {
                // RFC 4862 5.4: "packets addressed to a tentative address are silently
                // discarded" (DAD solicitations go to the solicited-node group).
                return Err(DropReason::Ipv6TentativeDestination);
            }
            Cast::Unicast
        };
        let original = packet.get(..HEADER_LEN + payload.len()).unwrap_or(packet);
        let destination = ext_destination(dest);
        let limits = v6.ext_limits;
        let pkt = Packet {
            ip,
            dest,
            link_group,
            original,
        };
        match ext::walk(
            payload,
            ip.next_header,
            destination,
            ext::Position::AfterFixedHeader,
            limits,
        ) {
            ext::Verdict::Continue {
                next_header,
                offset,
                fragment: None,
            } => {
                let upper = payload.get(offset..).unwrap_or_default();
                let field = next_header_field(payload, ip.next_header, offset);
                self.deliver6(now, &pkt, link_src, next_header, upper, field, emit)
            }
            ext::Verdict::Continue {
                next_header: _,
                offset,
                fragment: Some(f),
            } => self.process_fragment(now, &pkt, link_src, &f, payload, offset, emit),
            ext::Verdict::Discard(d) => Err(match d {
                ext::Discard::Truncated => DropReason::Ipv6Truncated,
                ext::Discard::ChainTooLong => DropReason::Ipv6ChainTooLong,
                ext::Discard::BadOptionLength => DropReason::Ipv6BadOption,
                ext::Discard::UnknownOption => DropReason::Ipv6UnknownOption,
            }),
            ext::Verdict::ParameterProblem { code, pointer } => {
                self.param_problem(now, &pkt, code, pointer, emit);
                // The walk reports an erroneous field only for a Routing header with segments
                // left, an unrecognized Next Header only for a misplaced Hop-by-Hop header.
                Err(match code {
                    ParamProblemCode::UnrecognizedOption => DropReason::Ipv6UnknownOption,
                    ParamProblemCode::ErroneousHeader => DropReason::Ipv6RoutingHeader,
                    _ => DropReason::Ipv6BadExtensionHeader,
                })
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn process_fragment(
        &mut self,
        now: Instant,
        pkt: &Packet<'_>,
        link_src: MacAddr,
        f: &ext::Fragment,
        payload: &[u8],
        offset: usize,
        emit: &mut dyn FnMut(&[u8]),
    ) -> Result<(), DropReason> {
        self.stats.ipv6_fragments_rx += 1;
        let data = payload.get(offset..).unwrap_or_default();
        if data.is_empty() {
            return Err(DropReason::Ipv6FragmentTiny);
        }
        // RFC 8200 4.5: "If the length of a fragment, as derived from the fragment packet's
        // Payload Length field, is not a multiple of 8 octets and the M flag of that fragment
        // is 1, then that fragment must be discarded and an ICMP Parameter Problem, Code 0,
        // message should be sent to the source of the fragment, pointing to the Payload Length
        // field of the fragment packet."
        if f.more && data.len() % 8 != 0 {
            self.param_problem(now, pkt, ParamProblemCode::ErroneousHeader, 4, emit);
            return Err(DropReason::Ipv6FragmentBadLength);
        }
        // Timed-out packets go first (with their Time Exceeded), not silently inside `add`.
        self.expire_reassembly(now, emit);
        let Some(v6) = self.ip6.as_mut() else {
            return Err(DropReason::EthUnsupportedType);
        };
        let limits = v6.ext_limits;
        let evicted = v6.reassembly.evictions();
        let outcome = v6.reassembly.add(now, pkt.ip.src, pkt.ip.dst, f, data);
        let evicted = v6.reassembly.evictions() - evicted;
        if evicted > 0 {
            self.stats.ipv6_reassembly_evictions += evicted;
            debug!(src = %pkt.ip.src, "IPv6: reassembly table full, evicted the oldest packet");
        }
        match outcome {
            reassembly::Outcome::Held => Ok(()),
            reassembly::Outcome::Dropped(r) => Err(map_fragment_drop(r)),
            reassembly::Outcome::IncompleteChain => {
                // RFC 7112 5: Parameter Problem code 3, pointer zero.
                self.param_problem(now, pkt, ParamProblemCode::IncompleteChain, 0, emit);
                Err(DropReason::Ipv6IncompleteChain)
            }
            reassembly::Outcome::Complete {
                next_header,
                payload: whole,
            } => {
                self.stats.ipv6_reassembled += 1;
                trace!(src = %pkt.ip.src, len = whole.len(), "IPv6: packet reassembled");
                // For errors, quote a header describing the whole packet.
                let mut original = Vec::with_capacity(HEADER_LEN + whole.len().min(1240));
                let repr = EmitRepr {
                    src: pkt.ip.src,
                    dst: pkt.ip.dst,
                    next_header,
                    hop_limit: pkt.ip.hop_limit,
                };
                ipv6::write_header(&mut original, &repr, whole.len());
                original.extend_from_slice(whole.get(..icmp6::MAX_QUOTE).unwrap_or(&whole));
                let destination = ext_destination(pkt.dest);
                let ip = ipv6::Repr {
                    next_header,
                    payload_len: whole.len(),
                    ..pkt.ip
                };
                let inner = Packet {
                    ip,
                    dest: pkt.dest,
                    link_group: pkt.link_group,
                    original: &original,
                };
                match ext::walk(
                    &whole,
                    next_header,
                    destination,
                    ext::Position::At(HEADER_LEN),
                    limits,
                ) {
                    ext::Verdict::Continue {
                        next_header: upper_kind,
                        offset,
                        fragment: None,
                    } => {
                        let upper = whole.get(offset..).unwrap_or_default();
                        let field = next_header_field(&whole, next_header, offset);
                        self.deliver6(now, &inner, link_src, upper_kind, upper, field, emit)
                    }
                    // A fragment inside a fragment: nothing sends that.
                    ext::Verdict::Continue { .. } => Err(DropReason::Ipv6FragmentInvalid),
                    ext::Verdict::Discard(_) => Err(DropReason::Ipv6BadExtensionHeader),
                    ext::Verdict::ParameterProblem { code, pointer } => {
                        self.param_problem(now, &inner, code, pointer, emit);
                        Err(DropReason::Ipv6BadExtensionHeader)
                    }
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn deliver6(
        &mut self,
        now: Instant,
        pkt: &Packet<'_>,
        link_src: MacAddr,
        kind: NextHeader,
        upper: &[u8],
        next_header_field: usize,
        emit: &mut dyn FnMut(&[u8]),
    ) -> Result<(), DropReason> {
        if pkt.ip.src.is_unspecified() && kind != NextHeader::Icmp {
            return Err(DropReason::Ipv6BadSource);
        }
        match kind {
            NextHeader::Icmp => self.process_icmpv6(now, pkt, link_src, upper, emit),
            NextHeader::Udp => self.process_udp(now, &pkt.transport(), upper, emit),
            NextHeader::Tcp => self.process_tcp(now, &pkt.transport(), upper, emit),
            NextHeader::NoNext => Err(DropReason::Ipv6NoNextHeader),
            _ => {
                // RFC 8200 4: an unrecognized Next Header: Parameter Problem code 1 pointing
                // at the field that named it.
                let pointer = u32::try_from(next_header_field).unwrap_or(6);
                let code = ParamProblemCode::UnrecognizedNextHeader;
                self.param_problem(now, pkt, code, pointer, emit);
                Err(DropReason::Ipv6UnknownNextHeader)
            }
        }
    }

    pub(super) fn process_icmpv6(
        &mut self,
        now: Instant,
        pkt: &Packet<'_>,
        link_src: MacAddr,
        msg: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) -> Result<(), DropReason> {
        let ip = &pkt.ip;
        let m = icmp6::parse(ip.src, ip.dst, msg).map_err(|e| match e {
            icmp6::ParseError::Truncated => DropReason::Icmpv6Truncated,
            icmp6::ParseError::BadChecksum => DropReason::Icmpv6BadChecksum,
        })?;
        match m {
            icmp6::Message::EchoRequest { ident, seq, data } => {
                if ip.src.is_unspecified() {
                    return Err(DropReason::Ipv6BadSource);
                }
                // RFC 4443 4.2: the reply's source is the request's unicast destination, or an
                // address of ours when the request went to a group.
                let src = match pkt.dest {
                    Cast::Unicast => Some(ip.dst),
                    Cast::Multicast | Cast::Broadcast => self.ipv6_source_for(ip.src),
                };
                let Some(src) = src else {
                    return Err(DropReason::Ipv6NotForUs);
                };
                self.stats.ipv6_delivered += 1;
                debug!(from = %ip.src, ident, seq, len = data.len(), "ICMPv6: echo request from {}, replying", ip.src);
                let mut body = std::mem::take(&mut self.body);
                body.clear();
                icmp6::write_echo_reply(&mut body, src, ip.src, ident, seq, data);
                let route = Route::V6 { src, dst: ip.src };
                self.send_ip(now, route, Protocol::Icmp, &body, emit);
                self.body = body;
                self.stats.icmpv6_echo_replied += 1;
                Ok(())
            }
            icmp6::Message::DestinationUnreachable { code, original } => {
                self.stats.ipv6_delivered += 1;
                self.stats.icmpv6_errors_rx += 1;
                debug!(from = %ip.src, code, "ICMPv6: destination unreachable (code {code}) from {}", ip.src);
                // Administratively prohibited, address and port unreachable end a connect.
                if matches!(code, 1 | 3 | 4) {
                    self.error_to_transport(Family::V6, original, TransportError::Unreachable);
                }
                Ok(())
            }
            icmp6::Message::PacketTooBig { mtu, original } => {
                self.stats.ipv6_delivered += 1;
                self.stats.icmpv6_errors_rx += 1;
                debug!(from = %ip.src, mtu, "ICMPv6: packet too big (MTU {mtu}) from {}", ip.src);
                // RFC 8201 4: a PTB below 1280 is not taken below 1280. The TCP table sizes
                // segments for IPv4's 40 header bytes; IPv6 has 20 more.
                let mtu = mtu.clamp(ipv6::MIN_MTU as u32, u32::from(u16::MAX));
                let as_v4 = u16::try_from(mtu - 20).unwrap_or(u16::MAX);
                self.error_to_transport(Family::V6, original, TransportError::PathMtu(as_v4));
                Ok(())
            }
            icmp6::Message::TimeExceeded { .. } | icmp6::Message::ParameterProblem { .. } => {
                self.stats.ipv6_delivered += 1;
                self.stats.icmpv6_errors_rx += 1;
                Ok(())
            }
            icmp6::Message::Other { kind, .. } if (133..=137).contains(&kind) => {
                self.process_ndp(now, pkt, link_src, msg, emit)
            }
            icmp6::Message::Other { kind, .. } if kind < 128 => {
                // RFC 4443 2.4(a): unknown errors are passed up; nothing of ours uses them.
                self.stats.ipv6_delivered += 1;
                self.stats.icmpv6_errors_rx += 1;
                Ok(())
            }
            icmp6::Message::EchoReply { .. } | icmp6::Message::Other { .. } => {
                Err(DropReason::Icmpv6Ignored)
            }
        }
    }
}
