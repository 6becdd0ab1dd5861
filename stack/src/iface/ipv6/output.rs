//! IPv6 output: routing to the next hop (on-link or the default router, RFC 4861 5.2),
//! waiting for address resolution, and fragmentation of what does not fit the link MTU (RFC
//! 8200 4.5).

use core::net::Ipv6Addr;

use etherparse::EtherType;
use tracing::debug;

use crate::ethernet::MacAddr;
use crate::iface::Interface;
use crate::ipv6::neighbor::{Lookup, PendingPacket};
use crate::ipv6::{self, ext, EmitRepr, NextHeader, HEADER_LEN};
use crate::time::Instant;

impl Interface {
    /// Originates a packet from `src` to `dst`: routes it, resolves the next hop (queueing
    /// while NDP works) and fragments it to the link MTU.
    pub(in crate::iface) fn send_ipv6(
        &mut self,
        now: Instant,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        next_header: NextHeader,
        payload: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) {
        if let Some((mac, hop_limit)) = self.next_hop6(now, src, dst, next_header, payload, emit) {
            self.emit_ipv6(mac, src, dst, next_header, hop_limit, payload, emit);
        }
    }

    /// Routes a packet and resolves its next hop: the hardware address and hop limit to send
    /// it with now, or `None` when it was dropped or is queued until resolution ends.
    fn next_hop6(
        &mut self,
        now: Instant,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        next_header: NextHeader,
        payload: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) -> Option<(MacAddr, u8)> {
        let v6 = self.ip6.as_mut()?;
        let hop_limit = v6.hop_limit;
        if payload.len() > usize::from(u16::MAX) - ext::FRAGMENT_LEN {
            self.stats.ipv6_tx_dropped += 1;
            return None;
        }
        if dst.is_multicast() {
            return Some((ipv6::multicast_mac(dst), hop_limit));
        }
        // A point-to-point link takes everything that is not ours, without a route.
        if let Some(mac) = self.link.without_resolution() {
            return Some((mac, hop_limit));
        }
        let next_hop = if v6.on_link(dst) {
            dst
        } else if let Some(r) = v6.router {
            r.addr
        } else {
            debug!(%dst, "IPv6: no route to {dst}");
            self.stats.ipv6_tx_dropped += 1;
            return None;
        };
        let timing = v6.timing;
        let before = v6.neighbors.evictions();
        let lookup = v6.neighbors.lookup(next_hop, now, &timing);
        self.ndp_after_insert(before);
        match lookup {
            Lookup::Send(mac) => Some((mac, hop_limit)),
            Lookup::Wait | Lookup::Started => {
                let v6 = self.ip6.as_mut()?;
                let dropped = v6.pending.push_replacing_oldest(PendingPacket {
                    next_hop,
                    src,
                    dst,
                    next_header: u8::from(next_header),
                    hop_limit,
                    payload: payload.to_vec(),
                });
                self.stats.ndp_pending_dropped += dropped as u64;
                if lookup == Lookup::Started {
                    self.send_solicit(now, next_hop, None, emit);
                }
                None
            }
        }
    }

    /// Writes the packet in one frame, or in fragments (RFC 8200 4.5) when it is larger than
    /// the link MTU.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn emit_ipv6(
        &mut self,
        mac: MacAddr,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        next_header: NextHeader,
        hop_limit: u8,
        payload: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) {
        let Some(v6) = self.ip6.as_mut() else { return };
        let mtu = v6.link_mtu;
        let len = payload.len();
        let repr = EmitRepr {
            src,
            dst,
            next_header,
            hop_limit,
        };
        if HEADER_LEN + len <= mtu {
            let whole = core::iter::once((0, len, false));
            let header = |out: &mut Vec<u8>, _, len, _| ipv6::write_header(out, &repr, len);
            self.transmit_pieces(mac, EtherType::IPV6, payload, whole, header, emit);
        } else {
            v6.ident = v6.ident.wrapping_add(1);
            let ident = v6.ident;
            let fragmented = EmitRepr {
                next_header: NextHeader::Fragment,
                ..repr
            };
            let header = |out: &mut Vec<u8>, offset, len, more| {
                ipv6::write_header(out, &fragmented, ext::FRAGMENT_LEN + len);
                ext::Fragment {
                    next_header: u8::from(next_header),
                    offset,
                    more,
                    ident,
                }
                .write(out);
            };
            let plan = ipv6::fragments(len, mtu);
            let pieces = self.transmit_pieces(mac, EtherType::IPV6, payload, plan, header, emit);
            self.stats.ipv6_fragments_tx += pieces;
        }
        self.stats.ipv6_sent += 1;
    }

    /// Sends a TCP segment written at `headroom` in `frame`: with a resolved next hop and no
    /// need to fragment, the link and IPv6 headers go in front of it in the same buffer.
    pub(in crate::iface) fn tcp_out_v6(
        &mut self,
        now: Instant,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        frame: &mut [u8],
        headroom: usize,
        emit: &mut dyn FnMut(&[u8]),
    ) {
        let tcp = NextHeader::Tcp;
        let mtu = self.ip6.as_ref().map_or(0, |v| v.link_mtu);
        let tso = self.offloads.tso
            && mtu == self.config.mtu
            && frame.len() - headroom <= crate::iface::TSO_MAX_PAYLOAD + 60;
        // Will the frame leave at once? (A point-to-point link, or a neighbour whose address
        // is known: what `next_hop6` finds without queueing.)
        let resolved = self.link.without_resolution().is_some()
            || dst.is_multicast()
            || self.ip6.as_ref().is_some_and(|v6| {
                let hop = if v6.on_link(dst) {
                    Some(dst)
                } else {
                    v6.router.map(|r| r.addr)
                };
                hop.and_then(|h| v6.neighbors.get(h)).is_some_and(|e| {
                    e.mac.is_some() && !matches!(e.state, crate::neighbor::State::Incomplete { .. })
                })
            });
        if !(tso && resolved) {
            // Not a super-frame the device completes at once: through fragmentation, or
            // waiting for the neighbour, the checksum must be whole.
            if let Some(segment) = frame.get_mut(headroom..) {
                self.complete_tcp_checksum(src.into(), dst.into(), segment);
            }
        }
        let segment = frame.get(headroom..).unwrap_or_default();
        let Some((mac, hop_limit)) = self.next_hop6(now, src, dst, tcp, segment, emit) else {
            return;
        };
        let segment_len = segment.len();
        // A super-segment for the device to cut goes whole while the link MTU is the one the
        // device cuts to (a router's smaller MTU sends it through fragmentation).
        if HEADER_LEN + segment_len > mtu && !tso {
            self.emit_ipv6(mac, src, dst, tcp, hop_limit, segment, emit);
            return;
        }
        let start = headroom.saturating_sub(self.link.header_len() + HEADER_LEN);
        let repr = EmitRepr {
            src,
            dst,
            next_header: tcp,
            hop_limit,
        };
        let mut written = std::mem::take(&mut self.body);
        self.link.begin(&mut written, mac, EtherType::IPV6);
        ipv6::write_header(&mut written, &repr, segment_len);
        if let Some(room) = frame.get_mut(start..headroom) {
            room.copy_from_slice(&written);
        }
        self.body = written;
        self.transmit(frame.get(start..).unwrap_or_default(), emit);
        self.stats.ipv6_sent += 1;
    }
}
