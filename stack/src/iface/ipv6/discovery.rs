//! Neighbor Discovery on the interface (RFC 4861 7): answering solicitations, taking
//! advertisements, resolving next hops and detecting unreachability, with the messages of
//! routers and DAD handed to `router.rs` and `dad.rs`.

use core::net::Ipv6Addr;

use tracing::{debug, trace, warn};

use super::input::Packet;
use super::{AddrState, ALL_NODES};
use crate::ethernet::MacAddr;
use crate::iface::{Event, Interface};
use crate::ipv6::neighbor::{Advert, Due};
use crate::ipv6::{self, ndp, NextHeader};
use crate::stats::DropReason;
use crate::time::Instant;

pub(super) fn ndp_drop(e: ndp::Error) -> DropReason {
    use ndp::Error as E;
    match e {
        E::HopLimit => DropReason::NdpBadHopLimit,
        E::ZeroOptionLength
        | E::OptionOverrun
        | E::BadLinkLayerOption
        | E::BadPrefixOption
        | E::BadMtuOption => DropReason::NdpBadOption,
        E::MulticastTarget | E::MulticastRedirectDestination => DropReason::NdpMulticastTarget,
        E::UnspecifiedSourceWithLinkLayer
        | E::UnspecifiedSourceNotSolicitedNode
        | E::SolicitedToMulticast => DropReason::NdpBadSource,
        E::SourceNotLinkLocal => DropReason::NdpSourceNotLinkLocal,
        E::NotNdp | E::Truncated | E::Code | E::RedirectTargetInvalid => DropReason::NdpInvalid,
    }
}

impl Interface {
    /// RFC 4861 7.3.3: solicitations due, probes of stale neighbours, resolutions given up.
    pub(super) fn poll_neighbours(&mut self, now: Instant, emit: &mut dyn FnMut(&[u8])) {
        let Some(v6) = self.ip6.as_mut() else { return };
        let mut due = std::mem::take(&mut v6.due);
        due.clear();
        let timing = v6.timing;
        v6.neighbors.poll(now, &timing, &mut due);
        for d in &due {
            match *d {
                Due::Solicit(ip) => self.send_solicit(now, ip, None, emit),
                Due::Probe(ip, mac) => {
                    trace!(%ip, "NDP: probing {ip} (unreachability detection)");
                    self.send_solicit(now, ip, Some(mac), emit);
                }
                Due::Failed(ip) => {
                    debug!(%ip, "NDP: no answer from {ip}, giving up");
                    self.ndp_give_up(ip);
                }
            }
        }
        if let Some(v6) = self.ip6.as_mut() {
            v6.due = due;
        }
    }

    pub(super) fn ndp_give_up(&mut self, ip: Ipv6Addr) {
        let Some(v6) = self.ip6.as_mut() else { return };
        let dropped = v6.pending.take_for(ip).len() as u64;
        if v6.router.is_some_and(|r| r.addr == ip) {
            // RFC 4861 6.3.6: an unreachable router is not used.
            v6.router = None;
        }
        self.stats.ndp_pending_dropped += dropped;
        self.stats.ndp_resolution_failed += 1;
        self.push_event(Event::Ipv6NeighbourUnreachable(ip));
    }

    /// A Neighbor Solicitation for `target`: multicast to its solicited-node group for address
    /// resolution, or unicast to `mac` to probe reachability (RFC 4861 7.2.2, 7.3.3).
    pub(super) fn send_solicit(
        &mut self,
        now: Instant,
        target: Ipv6Addr,
        mac: Option<MacAddr>,
        emit: &mut dyn FnMut(&[u8]),
    ) {
        let Some(v6) = self.ip6.as_ref() else { return };
        let Some(src) = v6.select_source(target) else {
            return;
        };
        let (dst, link) = match mac {
            Some(m) => (target, m),
            None => {
                let g = ipv6::solicited_node(target);
                (g, ipv6::multicast_mac(g))
            }
        };
        trace!(%target, %src, "NDP: who has {target}? tell {src}");
        let solicit = ndp::Repr::NeighborSolicit {
            target,
            source_ll: self.link.ndp_address(),
        };
        self.send_ndp(now, Some(link), src, dst, &solicit, emit);
        self.stats.ndp_solicits_sent += 1;
    }

    pub(super) fn ndp_after_insert(&mut self, evictions_before: u64) {
        let Some(v6) = self.ip6.as_mut() else { return };
        self.stats.ndp_evictions += v6.neighbors.evictions() - evictions_before;
        for ip in v6.neighbors.take_abandoned() {
            debug!(%ip, "NDP: cache full, abandoning resolution of {ip}");
            self.ndp_give_up(ip);
        }
    }

    /// Sends what waited for `ip` to be resolved.
    pub(super) fn ndp_flush(&mut self, ip: Ipv6Addr, mac: MacAddr, emit: &mut dyn FnMut(&[u8])) {
        let Some(v6) = self.ip6.as_mut() else { return };
        for p in v6.pending.take_for(ip) {
            self.emit_ipv6(
                mac,
                p.src,
                p.dst,
                NextHeader::from(p.next_header),
                p.hop_limit,
                &p.payload,
                emit,
            );
        }
    }

    pub(super) fn process_ndp(
        &mut self,
        now: Instant,
        pkt: &Packet<'_>,
        link_src: MacAddr,
        msg: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) -> Result<(), DropReason> {
        let ip = &pkt.ip;
        let info = ndp::IpInfo {
            src: ip.src,
            dst: ip.dst,
            hop_limit: ip.hop_limit,
        };
        let m = ndp::parse(&info, msg).map_err(ndp_drop)?;
        match m {
            ndp::Message::NeighborSolicit { target, source_ll } => {
                self.on_solicit(now, ip, link_src, target, source_ll, emit)
            }
            ndp::Message::NeighborAdvert {
                router,
                solicited,
                override_entry,
                target,
                target_ll,
            } => {
                let advert = Advert {
                    mac: target_ll,
                    solicited,
                    override_entry,
                    router,
                };
                self.on_advert(now, link_src, target, advert, emit)
            }
            ra @ ndp::Message::RouterAdvert { .. } => self.on_router_advert(now, ip, &ra, emit),
            ndp::Message::RouterSolicit { .. } | ndp::Message::Redirect { .. } => {
                Err(DropReason::NdpIgnored)
            }
        }
    }

    pub(super) fn learn6(
        &mut self,
        ip: Ipv6Addr,
        mac: MacAddr,
        now: Instant,
        emit: &mut dyn FnMut(&[u8]),
    ) {
        let Some(v6) = self.ip6.as_mut() else { return };
        let before = v6.neighbors.evictions();
        let resolved = v6.neighbors.on_link_layer(ip, mac, now);
        self.ndp_after_insert(before);
        self.stats.ndp_learned += 1;
        if resolved {
            debug!(%ip, %mac, "NDP: {ip} is at {mac}");
            self.ndp_flush(ip, mac, emit);
        }
    }

    /// RFC 4861 7.2.3 and 7.2.4, with RFC 4862 5.4.3 for tentative targets.
    pub(super) fn on_solicit(
        &mut self,
        now: Instant,
        ip: &ipv6::Repr,
        link_src: MacAddr,
        target: Ipv6Addr,
        source_ll: Option<MacAddr>,
        emit: &mut dyn FnMut(&[u8]),
    ) -> Result<(), DropReason> {
        let Some(v6) = self.ip6.as_ref() else {
            return Err(DropReason::EthUnsupportedType);
        };
        let Some(i) = v6.find(target) else {
            return Err(DropReason::NdpNotForUs);
        };
        let tentative = v6
            .addrs
            .get(i)
            .is_some_and(|a| matches!(a.state, AddrState::Tentative { .. }));
        if tentative {
            // RFC 4862 5.4.3: a solicitation from the unspecified address is another node's
            // DAD for the same address: it is a duplicate. From a unicast address it is
            // address resolution, which a tentative address ignores.
            if ip.src.is_unspecified() {
                self.duplicate(i, link_src);
                return Err(DropReason::NdpDuplicateAddress);
            }
            return Err(DropReason::NdpTentativeTarget);
        }
        let (dst, solicited, link) = if ip.src.is_unspecified() {
            // RFC 4861 7.2.4: "If the source of the solicitation is the unspecified address,
            // the node MUST set the Solicited flag to zero and multicast the advertisement to
            // the all-nodes address."
            warn!(%target, mac = %link_src, "NDP: {link_src} checks whether {target} is free; it is ours, defending it");
            (ALL_NODES, false, Some(ipv6::multicast_mac(ALL_NODES)))
        } else {
            if let Some(mac) = source_ll {
                self.learn6(ip.src, mac, now, emit);
            }
            (ip.src, true, source_ll)
        };
        debug!(from = %ip.src, %target, "NDP: {} asks who has {target}; answering {}", ip.src, self.link.mac());
        let advert = ndp::Repr::NeighborAdvert {
            router: false,
            solicited,
            override_entry: true,
            target,
            target_ll: self.link.ndp_address(),
        };
        // Without a link-layer option the asker is resolved first (RFC 4861 7.2.4).
        self.send_ndp(now, link, target, dst, &advert, emit);
        self.stats.ndp_adverts_sent += 1;
        Ok(())
    }

    /// Sends an NDP message, hop limit 255 (RFC 4861 7.1): to the link address `to` when it
    /// is known, otherwise through address resolution of `dst`.
    pub(super) fn send_ndp(
        &mut self,
        now: Instant,
        to: Option<MacAddr>,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        repr: &ndp::Repr,
        emit: &mut dyn FnMut(&[u8]),
    ) {
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        ndp::emit(&mut body, src, dst, repr);
        let hop_limit = ndp::HOP_LIMIT;
        match to {
            Some(mac) => self.emit_ipv6(mac, src, dst, NextHeader::Icmp, hop_limit, &body, emit),
            None => {
                if let Some(v6) = self.ip6.as_mut() {
                    let saved = v6.hop_limit;
                    v6.hop_limit = hop_limit;
                    self.send_ipv6(now, src, dst, NextHeader::Icmp, &body, emit);
                    if let Some(v6) = self.ip6.as_mut() {
                        v6.hop_limit = saved;
                    }
                }
            }
        }
        self.body = body;
    }

    /// RFC 4861 7.2.5, with RFC 4862 5.4.4 for our own addresses.
    pub(super) fn on_advert(
        &mut self,
        now: Instant,
        link_src: MacAddr,
        target: Ipv6Addr,
        advert: Advert,
        emit: &mut dyn FnMut(&[u8]),
    ) -> Result<(), DropReason> {
        let Some(v6) = self.ip6.as_mut() else {
            return Err(DropReason::EthUnsupportedType);
        };
        if let Some(i) = v6.find(target) {
            let tentative = v6
                .addrs
                .get(i)
                .is_some_and(|a| matches!(a.state, AddrState::Tentative { .. }));
            if tentative {
                self.duplicate(i, link_src);
                return Err(DropReason::NdpDuplicateAddress);
            }
            let mac = advert.mac.unwrap_or(link_src);
            warn!(addr = %target, %mac, "NDP: address conflict: {mac} also claims {target}");
            self.push_event(Event::Ipv6AddressConflict { addr: target, mac });
            return Err(DropReason::NdpConflict);
        }
        let timing = v6.timing;
        let known = v6.neighbors.get(target).is_some();
        let resolved = v6.neighbors.on_advert(target, advert, now, &timing);
        if !known {
            return Err(DropReason::NdpIgnored);
        }
        self.stats.ndp_learned += 1;
        if resolved {
            if let Some(mac) = advert.mac {
                debug!(ip = %target, %mac, "NDP: {target} is at {mac}");
                self.ndp_flush(target, mac, emit);
            }
        }
        Ok(())
    }
}
