//! IPv6 on the interface (RFC 8200): addresses (link-local from the MAC, static, SLAAC per
//! RFC 4862) checked by Duplicate Address Detection, Neighbor Discovery (RFC 4861: address
//! resolution, unreachability detection, router discovery), ICMPv6 (RFC 4443), extension
//! headers and fragments in and out, and UDP/TCP over IPv6.
//!
//! Order of work for a received packet: header checks -> destination (our addresses, all-nodes,
//! our solicited-node groups) -> extension header chain -> reassembly -> ICMPv6 (NDP) | UDP | TCP.

use core::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use core::time::Duration;

use etherparse::EtherType;
use tracing::{debug, info, trace, warn};

use super::{write_eth_header, Event, Interface};
use crate::config::{Ipv6Cidr, Ipv6Config, Limits};
use crate::ethernet::MacAddr;
use crate::icmp::TokenBucket;
use crate::ipv6::icmp::{self as icmp6, ParamProblemCode};
use crate::ipv6::neighbor::{self, Advert, Due, Lookup, PendingPacket, Timing};
use crate::ipv6::{self, ext, ndp, EmitRepr, NextHeader, HEADER_LEN};
use crate::reassembly::ipv6 as reassembly;
use crate::reassembly::Bounds;
use crate::rng::Rng;
use crate::stats::DropReason;
use crate::tcp;
use crate::time::{earliest, Instant};
use crate::udp;

/// The all-nodes multicast group (RFC 4291 2.7.1).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// The all-routers multicast group (RFC 4291 2.7.1).
pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);

/// RFC 4862 5.5.3 (e): lifetimes below two hours are not shortened by unauthenticated RAs.
const TWO_HOURS: Duration = Duration::from_secs(2 * 3600);
/// Bounds on what routers may set (RFC 4861 6.2.1 MAX for reachable time is one hour).
const MAX_REACHABLE: Duration = Duration::from_secs(3600);
const MIN_RETRANS: Duration = Duration::from_millis(100);
const MAX_RETRANS: Duration = Duration::from_secs(60);

/// Where an address came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `fe80::` plus the modified EUI-64 of the MAC (RFC 4862 5.3).
    LinkLocal,
    /// From the configuration.
    Static,
    /// Stateless autoconfiguration from a router's prefix (RFC 4862 5.5.3).
    Slaac,
}

impl Origin {
    /// A short name for pages and logs.
    pub fn name(self) -> &'static str {
        match self {
            Origin::LinkLocal => "link-local",
            Origin::Static => "static",
            Origin::Slaac => "SLAAC",
        }
    }
}

/// Where an IPv6 address stands (RFC 4862 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrState {
    /// Duplicate Address Detection runs: `sent` solicitations so far, the next step at `next`.
    Tentative {
        /// Solicitations sent.
        sent: u32,
        /// When the next one is due (or the address becomes preferred).
        next: Instant,
    },
    /// In use.
    Preferred,
    /// Still valid, not for new communication (preferred lifetime over).
    Deprecated,
    /// Another host has it: not used.
    Duplicate,
}

impl AddrState {
    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            AddrState::Tentative { .. } => "tentative",
            AddrState::Preferred => "preferred",
            AddrState::Deprecated => "deprecated",
            AddrState::Duplicate => "duplicate",
        }
    }
}

/// One of our IPv6 addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Address {
    /// Address and prefix length.
    pub cidr: Ipv6Cidr,
    /// Where it came from.
    pub origin: Origin,
    /// Its state.
    pub state: AddrState,
    /// When it stops being preferred (`None`: never).
    pub preferred_until: Option<Instant>,
    /// When it goes away (`None`: never).
    pub valid_until: Option<Instant>,
}

impl Address {
    /// True once DAD passed and while valid.
    pub fn usable(&self) -> bool {
        matches!(self.state, AddrState::Preferred | AddrState::Deprecated)
    }
}

/// The default router learned from Router Advertisements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Router {
    /// Its link-local address.
    pub addr: Ipv6Addr,
    /// When the router lifetime ends.
    pub until: Instant,
}

/// An on-link prefix learned from a Router Advertisement (RFC 4861 6.3.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OnLinkPrefix {
    /// The prefix.
    pub cidr: Ipv6Cidr,
    /// When it stops being on-link (`None`: never).
    pub until: Option<Instant>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Solicitation {
    sent: u32,
    next: Option<Instant>,
}

/// The IPv6 half of the interface.
#[derive(Debug)]
pub(super) struct State {
    cfg: Ipv6Config,
    addrs: Vec<Address>,
    max_addrs: usize,
    max_prefixes: usize,
    neighbors: neighbor::Cache,
    pending: neighbor::Pending,
    reassembly: reassembly::Reassembler,
    ext_limits: ext::Limits,
    prefixes: Vec<OnLinkPrefix>,
    router: Option<Router>,
    hop_limit: u8,
    timing: Timing,
    link_mtu: usize,
    ident: u32,
    rng: Rng,
    rs: Solicitation,
    icmp_errors: TokenBucket,
    due: Vec<Due>,
}

impl State {
    pub(super) fn new(cfg: Ipv6Config, mac: MacAddr, mtu: usize, seed: u64, l: &Limits) -> Self {
        let mut rng = Rng::new(seed, "ipv6");
        let ident = rng.next_u32();
        let mut addrs = vec![Address {
            cidr: Ipv6Cidr::clamped(ipv6::link_local_from_mac(mac), 64),
            origin: Origin::LinkLocal,
            state: AddrState::Duplicate,
            preferred_until: None,
            valid_until: None,
        }];
        for c in &cfg.addresses {
            addrs.push(Address {
                cidr: *c,
                origin: Origin::Static,
                state: AddrState::Duplicate,
                preferred_until: None,
                valid_until: None,
            });
        }
        let ext_limits = ext::Limits {
            max_headers: l.ipv6_ext_headers,
            max_bytes: l.ipv6_ext_bytes,
        };
        let bounds = Bounds {
            datagrams: l.reassembly_datagrams,
            bytes: l.reassembly_bytes,
            max_payload: l.reassembly_max_datagram,
            max_fragments: l.reassembly_max_fragments,
            timeout: l.reassembly_timeout,
        };
        let timing = Timing {
            retrans: cfg.retrans_timer,
            reachable: cfg.reachable_time,
            delay: cfg.delay_first_probe,
            max_multicast: cfg.max_multicast_solicit,
            max_unicast: cfg.max_unicast_solicit,
        };
        State {
            hop_limit: cfg.hop_limit,
            addrs,
            max_addrs: l.ipv6_addresses,
            max_prefixes: l.ipv6_prefixes,
            neighbors: neighbor::Cache::new(l.ndp_cache_entries, neighbor::Profile::Nud),
            pending: neighbor::Pending::new(l.ndp_pending_packets, l.ndp_pending_bytes),
            reassembly: reassembly::Reassembler::new(bounds, ext_limits),
            ext_limits,
            prefixes: Vec::new(),
            router: None,
            timing,
            link_mtu: mtu,
            ident,
            rng,
            rs: Solicitation {
                sent: 0,
                next: None,
            },
            icmp_errors: TokenBucket::new(l.icmp_errors_per_sec, l.icmp_error_burst),
            due: Vec::new(),
            cfg,
        }
    }

    pub(super) fn neighbors(&self) -> &neighbor::Cache {
        &self.neighbors
    }

    pub(super) fn pending(&self) -> &neighbor::Pending {
        &self.pending
    }

    pub(super) fn reassembly(&self) -> &reassembly::Reassembler {
        &self.reassembly
    }

    fn random_delay(&mut self) -> Duration {
        let max = u64::try_from(self.cfg.max_start_delay.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(self.rng.below(max))
    }

    /// Starts DAD on every address and schedules router solicitation (RFC 4862 5.4.2: after a
    /// random delay of up to MAX_RTR_SOLICITATION_DELAY; RFC 4861 6.3.7 likewise for the RS).
    fn start(&mut self, now: Instant) -> Vec<Ipv6Addr> {
        let mut ready = Vec::new();
        for i in 0..self.addrs.len() {
            let delay = self.random_delay();
            if let Some(a) = self.addrs.get_mut(i) {
                if self.cfg.dad_transmits == 0 {
                    a.state = AddrState::Preferred;
                    ready.push(a.cidr.addr());
                } else {
                    a.state = AddrState::Tentative {
                        sent: 0,
                        next: now + delay,
                    };
                }
            }
        }
        if self.cfg.router_solicitations > 0 {
            let delay = self.random_delay();
            self.rs.next = Some(now + delay);
        }
        ready
    }

    fn find(&self, addr: Ipv6Addr) -> Option<usize> {
        self.addrs
            .iter()
            .position(|a| a.cidr.addr() == addr && a.state != AddrState::Duplicate)
    }

    /// True for a destination on the link: link-local, in one of our prefixes or in one a
    /// router said is on-link. RFC 4943: nothing else is assumed on-link.
    fn on_link(&self, dst: Ipv6Addr) -> bool {
        ipv6::is_link_local(dst)
            || self
                .addrs
                .iter()
                .any(|a| a.origin == Origin::Static && a.cidr.contains(dst))
            || self.prefixes.iter().any(|p| p.cidr.contains(dst))
    }

    /// The source address for `dst` (RFC 6724 simplified): link-local for link-local and
    /// link-scope multicast destinations; otherwise the usable global address sharing the
    /// longest prefix with `dst`, preferred over deprecated ones; link-local as a last resort.
    pub(super) fn select_source(&self, dst: Ipv6Addr) -> Option<Ipv6Addr> {
        let link_scope =
            ipv6::is_link_local(dst) || (dst.is_multicast() && dst.segments()[0] & 0x000f <= 2);
        let link_local = self
            .addrs
            .iter()
            .find(|a| a.origin == Origin::LinkLocal && a.usable())
            .map(|a| a.cidr.addr());
        if link_scope {
            return link_local;
        }
        let common = |a: Ipv6Addr| (u128::from(a) ^ u128::from(dst)).leading_zeros();
        self.addrs
            .iter()
            .filter(|a| a.origin != Origin::LinkLocal && a.usable())
            .max_by_key(|a| (a.state == AddrState::Preferred, common(a.cidr.addr())))
            .map(|a| a.cidr.addr())
            .or(link_local)
    }

    /// True when the Ethernet destination is one of the groups we joined: all-nodes and the
    /// solicited-node group of every address (tentative ones included, RFC 4862 5.4.2).
    pub(super) fn accepts_mac(&self, dst: MacAddr) -> bool {
        dst == ipv6::multicast_mac(ALL_NODES)
            || self.addrs.iter().any(|a| {
                a.state != AddrState::Duplicate
                    && dst == ipv6::multicast_mac(ipv6::solicited_node(a.cidr.addr()))
            })
    }

    fn joined(&self, group: Ipv6Addr) -> bool {
        group == ALL_NODES
            || self.addrs.iter().any(|a| {
                a.state != AddrState::Duplicate && group == ipv6::solicited_node(a.cidr.addr())
            })
    }

    pub(super) fn poll_at(&self) -> Option<Instant> {
        let mut t = earliest(self.neighbors.poll_at(), self.reassembly.poll_at());
        t = earliest(t, self.rs.next);
        t = earliest(t, self.router.map(|r| r.until));
        for a in &self.addrs {
            if let AddrState::Tentative { next, .. } = a.state {
                t = earliest(t, Some(next));
            }
            if a.state == AddrState::Preferred {
                t = earliest(t, a.preferred_until);
            }
            t = earliest(t, a.valid_until);
        }
        for p in &self.prefixes {
            t = earliest(t, p.until);
        }
        t
    }
}

fn lifetime(now: Instant, secs: u32) -> Option<Instant> {
    (secs != u32::MAX).then(|| now + Duration::from_secs(u64::from(secs)))
}

/// Where the packet was addressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dest {
    /// One of our (usable) unicast addresses.
    Unicast,
    /// All-nodes or one of our solicited-node groups.
    Multicast,
}

fn map_fragment_drop(r: DropReason) -> DropReason {
    match r {
        DropReason::FragmentOverlap => DropReason::Ipv6FragmentOverlap,
        DropReason::FragmentInvalid => DropReason::Ipv6FragmentInvalid,
        DropReason::FragmentTooBig => DropReason::Ipv6FragmentTooBig,
        DropReason::ReassemblyFull => DropReason::Ipv6ReassemblyFull,
        DropReason::FragmentDuplicate => DropReason::Ipv6FragmentDuplicate,
        other => other,
    }
}

fn ndp_drop(e: ndp::Error) -> DropReason {
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

/// Where the byte naming the header at `offset` of `payload` sits, from the start of the IPv6
/// header (for Parameter Problem pointers at an unknown Next Header).
fn next_header_field(payload: &[u8], first: NextHeader, offset: usize) -> usize {
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

/// The TCP connection a quoted packet (IPv6 header, then TCP without extension headers) was
/// sent on: `(local, remote)`.
fn quoted_tcp(original: &[u8]) -> Option<(SocketAddr, SocketAddr)> {
    let hdr = original.get(..HEADER_LEN)?;
    if hdr.get(6) != Some(&6) {
        return None;
    }
    let ports = original.get(HEADER_LEN..HEADER_LEN + 4)?;
    let mut a = [0u8; 16];
    a.copy_from_slice(hdr.get(8..24)?);
    let src = Ipv6Addr::from(a);
    a.copy_from_slice(hdr.get(24..40)?);
    let dst = Ipv6Addr::from(a);
    Some((
        SocketAddr::new(IpAddr::V6(src), u16::from_be_bytes([ports[0], ports[1]])),
        SocketAddr::new(IpAddr::V6(dst), u16::from_be_bytes([ports[2], ports[3]])),
    ))
}

/// What a received packet is, once its header chain is walked.
struct Packet<'a> {
    ip: ipv6::Repr,
    dest: Dest,
    link_group: bool,
    /// The whole packet as received (or rebuilt after reassembly), for error quotes.
    original: &'a [u8],
}

impl Interface {
    /// Our IPv6 addresses in every state (empty with IPv6 off).
    pub fn ipv6_addresses(&self) -> &[Address] {
        self.ip6.as_ref().map_or(&[], |v| v.addrs.as_slice())
    }

    /// Our IPv6 addresses that passed DAD and are valid.
    pub fn ipv6_usable(&self) -> Vec<Ipv6Addr> {
        self.ipv6_addresses()
            .iter()
            .filter(|a| a.usable())
            .map(|a| a.cidr.addr())
            .collect()
    }

    /// The IPv6 neighbour cache, in address order.
    pub fn ndp_cache(&self) -> impl Iterator<Item = (Ipv6Addr, neighbor::Entry)> + '_ {
        self.ip6.iter().flat_map(|v| v.neighbors.iter())
    }

    /// The IPv6 default router, if a router advertised itself.
    pub fn ipv6_router(&self) -> Option<Router> {
        self.ip6.as_ref().and_then(|v| v.router)
    }

    /// On-link prefixes learned from routers.
    pub fn ipv6_prefixes(&self) -> &[OnLinkPrefix] {
        self.ip6.as_ref().map_or(&[], |v| v.prefixes.as_slice())
    }

    /// The hop limit of packets we originate (routers may change it).
    pub fn ipv6_hop_limit(&self) -> Option<u8> {
        self.ip6.as_ref().map(|v| v.hop_limit)
    }

    /// The IPv6 link MTU (routers may lower it).
    pub fn ipv6_mtu(&self) -> Option<usize> {
        self.ip6.as_ref().map(|v| v.link_mtu)
    }

    /// The source address for `dst`, if one is usable.
    pub fn ipv6_source_for(&self, dst: Ipv6Addr) -> Option<Ipv6Addr> {
        self.ip6.as_ref().and_then(|v| v.select_source(dst))
    }

    pub(super) fn ipv6_start(&mut self, now: Instant) {
        let Some(v6) = self.ip6.as_mut() else { return };
        for addr in v6.start(now) {
            info!(%addr, "IPv6: {addr} is ours (no duplicate address detection)");
            self.push_event(Event::Ipv6AddressReady(addr));
        }
    }

    pub(super) fn ipv6_accepts_mac(&self, dst: MacAddr) -> bool {
        self.ip6.as_ref().is_some_and(|v| v.accepts_mac(dst))
    }

    /// Timers: DAD, router solicitation, neighbour cache, reassembly, lifetimes.
    pub(super) fn poll_ipv6(&mut self, now: Instant, emit: &mut dyn FnMut(&[u8])) {
        if self.ip6.is_none() {
            return;
        }
        self.poll_dad(now, emit);
        self.poll_lifetimes(now);
        self.poll_router_solicit(now, emit);

        let Some(v6) = self.ip6.as_mut() else { return };
        let mut due = std::mem::take(&mut v6.due);
        due.clear();
        let timing = v6.timing;
        v6.neighbors.poll(now, &timing, &mut due);
        for d in &due {
            match *d {
                Due::Solicit(ip) => self.send_solicit(ip, None, emit),
                Due::Probe(ip, mac) => {
                    trace!(%ip, "NDP: probing {ip} (unreachability detection)");
                    self.send_solicit(ip, Some(mac), emit);
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
        self.expire_reassembly(now, emit);
    }

    /// Drops packets whose fragments did not all come in time. RFC 8200 4.5: "If insufficient
    /// fragments are received to complete reassembly of a packet within 60 seconds of the
    /// reception of the first-arriving fragment of that packet ... If the first fragment (i.e.,
    /// the one with a Fragment Offset of zero) has been received, an ICMP Time Exceeded --
    /// Fragment Reassembly Time Exceeded message should be sent to the source of that fragment."
    fn expire_reassembly(&mut self, now: Instant, emit: &mut dyn FnMut(&[u8])) {
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
            self.send_icmpv6_error(now, error, &q, false, emit);
        }
    }

    fn ndp_give_up(&mut self, ip: Ipv6Addr) {
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

    /// RFC 4862 5.4.2: DupAddrDetectTransmits solicitations RetransTimer apart, from the
    /// unspecified address to the solicited-node group; no answer by then and the address is
    /// ours.
    fn poll_dad(&mut self, now: Instant, emit: &mut dyn FnMut(&[u8])) {
        let Some(v6) = self.ip6.as_mut() else { return };
        let (transmits, retrans) = (v6.cfg.dad_transmits, v6.timing.retrans);
        let mut probes = Vec::new();
        let mut ready = Vec::new();
        for a in &mut v6.addrs {
            if let AddrState::Tentative { sent, next } = a.state {
                if next > now {
                    continue;
                }
                if sent < transmits {
                    a.state = AddrState::Tentative {
                        sent: sent + 1,
                        next: now + retrans,
                    };
                    probes.push(a.cidr.addr());
                } else {
                    a.state = if a.preferred_until.is_some_and(|t| t <= now) {
                        AddrState::Deprecated
                    } else {
                        AddrState::Preferred
                    };
                    ready.push(a.cidr.addr());
                }
            }
        }
        for addr in probes {
            debug!(%addr, "NDP: checking no one else has {addr} (duplicate address detection)");
            let mut body = std::mem::take(&mut self.body);
            body.clear();
            let group = ipv6::solicited_node(addr);
            ndp::emit(
                &mut body,
                Ipv6Addr::UNSPECIFIED,
                group,
                &ndp::Repr::NeighborSolicit {
                    target: addr,
                    source_ll: None,
                },
            );
            self.emit_ipv6(
                ipv6::multicast_mac(group),
                Ipv6Addr::UNSPECIFIED,
                group,
                NextHeader::Icmp,
                ndp::HOP_LIMIT,
                &body,
                emit,
            );
            self.body = body;
            self.stats.ndp_dad_sent += 1;
        }
        for addr in ready {
            info!(%addr, "IPv6: {addr} is ours (duplicate address detection passed)");
            self.push_event(Event::Ipv6AddressReady(addr));
        }
    }

    /// RFC 4862 5.5.4: addresses deprecated and removed at the end of their lifetimes; routers
    /// and on-link prefixes likewise (RFC 4861 6.3.5).
    fn poll_lifetimes(&mut self, now: Instant) {
        let Some(v6) = self.ip6.as_mut() else { return };
        let mut expired = Vec::new();
        v6.addrs.retain(|a| {
            let gone = a.valid_until.is_some_and(|t| t <= now);
            if gone {
                expired.push(a.cidr.addr());
            }
            !gone
        });
        for a in &mut v6.addrs {
            if a.state == AddrState::Preferred && a.preferred_until.is_some_and(|t| t <= now) {
                debug!(addr = %a.cidr.addr(), "IPv6: {} deprecated", a.cidr.addr());
                a.state = AddrState::Deprecated;
            }
        }
        v6.prefixes.retain(|p| p.until.is_none_or(|t| t > now));
        if v6.router.is_some_and(|r| r.until <= now) {
            if let Some(r) = v6.router.take() {
                info!(router = %r.addr, "IPv6: default router {} expired", r.addr);
            }
        }
        for addr in expired {
            info!(%addr, "IPv6: {addr} expired (valid lifetime over)");
            self.push_event(Event::Ipv6AddressExpired(addr));
        }
    }

    /// RFC 4861 6.3.7: up to MAX_RTR_SOLICITATIONS, RTR_SOLICITATION_INTERVAL apart, until a
    /// Router Advertisement arrives. From the link-local address once it is ours (with our
    /// link-layer address), from the unspecified address before (without).
    fn poll_router_solicit(&mut self, now: Instant, emit: &mut dyn FnMut(&[u8])) {
        let Some(v6) = self.ip6.as_mut() else { return };
        let Some(next) = v6.rs.next else { return };
        if next > now {
            return;
        }
        v6.rs.sent += 1;
        v6.rs.next = (v6.rs.sent < v6.cfg.router_solicitations).then(|| now + v6.cfg.rs_interval);
        let src = v6
            .select_source(ALL_ROUTERS)
            .unwrap_or(Ipv6Addr::UNSPECIFIED);
        let source_ll = (!src.is_unspecified()).then_some(self.config.mac);
        debug!(%src, "NDP: soliciting routers");
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        ndp::emit(
            &mut body,
            src,
            ALL_ROUTERS,
            &ndp::Repr::RouterSolicit { source_ll },
        );
        self.emit_ipv6(
            ipv6::multicast_mac(ALL_ROUTERS),
            src,
            ALL_ROUTERS,
            NextHeader::Icmp,
            ndp::HOP_LIMIT,
            &body,
            emit,
        );
        self.body = body;
        self.stats.ndp_router_solicits_sent += 1;
    }

    /// A Neighbor Solicitation for `target`: multicast to its solicited-node group for address
    /// resolution, or unicast to `mac` to probe reachability (RFC 4861 7.2.2, 7.3.3).
    fn send_solicit(
        &mut self,
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
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        ndp::emit(
            &mut body,
            src,
            dst,
            &ndp::Repr::NeighborSolicit {
                target,
                source_ll: Some(self.config.mac),
            },
        );
        self.emit_ipv6(
            link,
            src,
            dst,
            NextHeader::Icmp,
            ndp::HOP_LIMIT,
            &body,
            emit,
        );
        self.body = body;
        self.stats.ndp_solicits_sent += 1;
    }

    /// Originates a packet from `src` to `dst`: routes it, resolves the next hop (queueing
    /// while NDP works) and fragments it to the link MTU.
    pub(super) fn send_ipv6(
        &mut self,
        now: Instant,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        next_header: NextHeader,
        payload: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) {
        let Some(v6) = self.ip6.as_mut() else {
            return;
        };
        let hop_limit = v6.hop_limit;
        if payload.len() > usize::from(u16::MAX) - ext::FRAGMENT_LEN {
            self.stats.ipv6_tx_dropped += 1;
            return;
        }
        if dst.is_multicast() {
            self.emit_ipv6(
                ipv6::multicast_mac(dst),
                src,
                dst,
                next_header,
                hop_limit,
                payload,
                emit,
            );
            return;
        }
        let next_hop = if v6.on_link(dst) {
            dst
        } else if let Some(r) = v6.router {
            r.addr
        } else {
            debug!(%dst, "IPv6: no route to {dst}");
            self.stats.ipv6_tx_dropped += 1;
            return;
        };
        let timing = v6.timing;
        let before = v6.neighbors.evictions();
        let lookup = v6.neighbors.lookup(next_hop, now, &timing);
        self.ndp_after_insert(before);
        match lookup {
            Lookup::Send(mac) => {
                self.emit_ipv6(mac, src, dst, next_header, hop_limit, payload, emit);
            }
            Lookup::Wait | Lookup::Started => {
                let Some(v6) = self.ip6.as_mut() else { return };
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
                    self.send_solicit(next_hop, None, emit);
                }
            }
        }
    }

    fn ndp_after_insert(&mut self, evictions_before: u64) {
        let Some(v6) = self.ip6.as_mut() else { return };
        self.stats.ndp_evictions += v6.neighbors.evictions() - evictions_before;
        for ip in v6.neighbors.take_abandoned() {
            debug!(%ip, "NDP: cache full, abandoning resolution of {ip}");
            self.ndp_give_up(ip);
        }
    }

    /// Writes the packet in one frame, or in fragments (RFC 8200 4.5) when it is larger than
    /// the link MTU.
    #[allow(clippy::too_many_arguments)]
    fn emit_ipv6(
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
        let mut frame = std::mem::take(&mut self.frame);
        let mut repr = EmitRepr {
            src,
            dst,
            next_header,
            hop_limit,
        };
        if HEADER_LEN + payload.len() <= mtu {
            frame.clear();
            write_eth_header(&mut frame, mac, self.config.mac, EtherType::IPV6);
            ipv6::write_header(&mut frame, &repr, payload.len());
            frame.extend_from_slice(payload);
            self.transmit(&frame, emit);
        } else {
            v6.ident = v6.ident.wrapping_add(1);
            let ident = v6.ident;
            // Each fragment's data is a multiple of 8 bytes, except the last.
            let chunk = (mtu - HEADER_LEN - ext::FRAGMENT_LEN) & !7;
            repr.next_header = NextHeader::Fragment;
            let mut offset = 0;
            let mut pieces = 0;
            while offset < payload.len() && chunk > 0 {
                let end = (offset + chunk).min(payload.len());
                let more = end < payload.len();
                frame.clear();
                write_eth_header(&mut frame, mac, self.config.mac, EtherType::IPV6);
                ipv6::write_header(&mut frame, &repr, ext::FRAGMENT_LEN + end - offset);
                ext::Fragment {
                    next_header: u8::from(next_header),
                    offset,
                    more,
                    ident,
                }
                .write(&mut frame);
                frame.extend_from_slice(payload.get(offset..end).unwrap_or_default());
                self.transmit(&frame, emit);
                pieces += 1;
                offset = end;
            }
            self.stats.ipv6_fragments_tx += pieces;
        }
        self.stats.ipv6_sent += 1;
        self.frame = frame;
    }

    /// Sends what waited for `ip` to be resolved.
    fn ndp_flush(&mut self, ip: Ipv6Addr, mac: MacAddr, emit: &mut dyn FnMut(&[u8])) {
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

    /// Sends a queued UDP datagram to an IPv6 destination.
    pub(super) fn send_udp6(
        &mut self,
        now: Instant,
        port: u16,
        dst: SocketAddrV6,
        local: Option<IpAddr>,
        data: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) {
        // A reply leaves from the address the request came to, if that is still ours.
        let asked = match local {
            Some(IpAddr::V6(a)) => self
                .ipv6_addresses()
                .iter()
                .find(|x| x.cidr.addr() == a && x.usable())
                .map(|x| x.cidr.addr()),
            _ => None,
        };
        let Some(src) = asked.or_else(|| self.ipv6_source_for(*dst.ip())) else {
            self.stats.ipv6_tx_dropped += 1;
            return;
        };
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        if udp::write6(&mut body, SocketAddrV6::new(src, port, 0, 0), dst, data) {
            self.stats.udp_sent += 1;
            self.send_ipv6(now, src, *dst.ip(), NextHeader::Udp, &body, emit);
        }
        self.body = body;
    }

    /// RFC 4443 2.4: errors rate limited, never about errors, multicast (with the (e)
    /// exceptions) or packets from the unspecified address.
    fn send_icmpv6_error(
        &mut self,
        now: Instant,
        error: icmp6::Error,
        original: &[u8],
        link_group: bool,
        emit: &mut dyn FnMut(&[u8]),
    ) {
        let link = if link_group {
            icmp6::LinkDestination::Group
        } else {
            icmp6::LinkDestination::Unicast
        };
        if !icmp6::error_allowed(error, original, link) {
            return;
        }
        let Ok((ip, _)) = ipv6::parse(original).or_else(|_| {
            original
                .get(..HEADER_LEN)
                .map_or(Err(ipv6::ParseError::Truncated), |h| {
                    let mut fixed = [0u8; HEADER_LEN];
                    fixed.copy_from_slice(h);
                    fixed[4] = 0;
                    fixed[5] = 0;
                    fixed[6] = 59;
                    ipv6::parse(&fixed).map(|(r, _)| (r, &[][..]))
                })
        }) else {
            return;
        };
        let Some(v6) = self.ip6.as_mut() else { return };
        if !v6.icmp_errors.take(now) {
            self.stats.icmpv6_errors_rate_limited += 1;
            return;
        }
        // RFC 4443 2.2: the source is the destination of the packet if it was ours, otherwise
        // the address we would use towards its source.
        let src = if v6
            .find(ip.dst)
            .is_some_and(|i| v6.addrs.get(i).is_some_and(Address::usable))
        {
            ip.dst
        } else if let Some(s) = v6.select_source(ip.src) {
            s
        } else {
            return;
        };
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        icmp6::write_error(&mut body, src, ip.src, error, original);
        self.send_ipv6(now, src, ip.src, NextHeader::Icmp, &body, emit);
        self.body = body;
        self.stats.icmpv6_errors_sent += 1;
    }

    pub(super) fn process_ipv6(
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
            Dest::Multicast
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
            Dest::Unicast
        };
        let original = packet.get(..HEADER_LEN + payload.len()).unwrap_or(packet);
        let destination = match dest {
            Dest::Unicast => ext::Destination::Unicast,
            Dest::Multicast => ext::Destination::Multicast,
        };
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
                let error = icmp6::Error::ParameterProblem { code, pointer };
                self.send_icmpv6_error(now, error, original, link_group, emit);
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
    fn process_fragment(
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
            let error = icmp6::Error::ParameterProblem {
                code: ParamProblemCode::ErroneousHeader,
                pointer: 4,
            };
            self.send_icmpv6_error(now, error, pkt.original, pkt.link_group, emit);
            return Err(DropReason::Ipv6FragmentBadLength);
        }
        // Timed-out packets go first (with their Time Exceeded), not silently inside `add`.
        self.expire_reassembly(now, emit);
        let Some(v6) = self.ip6.as_mut() else {
            return Err(DropReason::EthUnsupportedType);
        };
        let limits = v6.ext_limits;
        match v6.reassembly.add(now, pkt.ip.src, pkt.ip.dst, f, data) {
            reassembly::Outcome::Held => Ok(()),
            reassembly::Outcome::Dropped(r) => Err(map_fragment_drop(r)),
            reassembly::Outcome::IncompleteChain => {
                // RFC 7112 5: Parameter Problem code 3, pointer zero.
                let error = icmp6::Error::ParameterProblem {
                    code: ParamProblemCode::IncompleteChain,
                    pointer: 0,
                };
                self.send_icmpv6_error(now, error, pkt.original, pkt.link_group, emit);
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
                let destination = match pkt.dest {
                    Dest::Unicast => ext::Destination::Unicast,
                    Dest::Multicast => ext::Destination::Multicast,
                };
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
                        let error = icmp6::Error::ParameterProblem { code, pointer };
                        self.send_icmpv6_error(now, error, &original, pkt.link_group, emit);
                        Err(DropReason::Ipv6BadExtensionHeader)
                    }
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn deliver6(
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
            NextHeader::Udp => self.process_udp6(now, pkt, upper, emit),
            NextHeader::Tcp => self.process_tcp6(now, pkt, upper, emit),
            NextHeader::NoNext => Err(DropReason::Ipv6NoNextHeader),
            _ => {
                // RFC 8200 4: an unrecognized Next Header: Parameter Problem code 1 pointing
                // at the field that named it.
                let error = icmp6::Error::ParameterProblem {
                    code: ParamProblemCode::UnrecognizedNextHeader,
                    pointer: u32::try_from(next_header_field).unwrap_or(6),
                };
                self.send_icmpv6_error(now, error, pkt.original, pkt.link_group, emit);
                Err(DropReason::Ipv6UnknownNextHeader)
            }
        }
    }

    fn process_udp6(
        &mut self,
        now: Instant,
        pkt: &Packet<'_>,
        upper: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) -> Result<(), DropReason> {
        let d = udp::parse6(upper, pkt.ip.src, pkt.ip.dst).map_err(DropReason::from)?;
        self.stats.ipv6_delivered += 1;
        let from = SocketAddr::V6(SocketAddrV6::new(pkt.ip.src, d.src_port, 0, 0));
        // A datagram to a group is answered from our own address, not the group's.
        let to = match pkt.dest {
            Dest::Unicast => Some(IpAddr::V6(pkt.ip.dst)),
            Dest::Multicast => None,
        };
        match self.udp.deliver(d.dst_port, from, to, d.payload) {
            udp::Delivery::Queued => {
                self.stats.udp_delivered += 1;
                trace!(from = %pkt.ip.src, port = d.dst_port, len = d.payload.len(), "UDP: datagram queued");
                Ok(())
            }
            udp::Delivery::QueueFull => Err(DropReason::UdpQueueFull),
            udp::Delivery::NoSocket => {
                if pkt.dest == Dest::Unicast {
                    debug!(from = %pkt.ip.src, port = d.dst_port, "UDP: port {} closed, sending port unreachable", d.dst_port);
                    self.send_icmpv6_error(
                        now,
                        icmp6::Error::DestinationUnreachable(4),
                        pkt.original,
                        pkt.link_group,
                        emit,
                    );
                }
                Err(DropReason::UdpNoSocket)
            }
        }
    }

    fn process_tcp6(
        &mut self,
        now: Instant,
        pkt: &Packet<'_>,
        upper: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) -> Result<(), DropReason> {
        if pkt.dest != Dest::Unicast {
            return Err(DropReason::TcpNotUnicast);
        }
        let (src, dst) = (IpAddr::V6(pkt.ip.src), IpAddr::V6(pkt.ip.dst));
        let (seg, data) = tcp::segment::parse(upper, src, dst).map_err(|e| match e {
            tcp::segment::ParseError::Truncated | tcp::segment::ParseError::BadDataOffset => {
                DropReason::TcpBadHeader
            }
            tcp::segment::ParseError::BadOption => DropReason::TcpBadOption,
            tcp::segment::ParseError::BadChecksum => DropReason::TcpBadChecksum,
            tcp::segment::ParseError::BadFlags => DropReason::TcpBadFlags,
        })?;
        self.stats.ipv6_delivered += 1;
        let local = SocketAddr::new(dst, seg.dst_port);
        let remote = SocketAddr::new(src, seg.src_port);
        let outcome = self.tcp.on_segment(now, local, remote, &seg, data);
        // As over IPv4: the ACK for routine in-order data waits for the next poll.
        if outcome != tcp::Outcome::HandledInOrder {
            self.flush_tcp(now, emit);
        }
        match outcome {
            tcp::Outcome::Handled | tcp::Outcome::HandledInOrder => Ok(()),
            tcp::Outcome::NoSocket => Err(DropReason::TcpNoSocket),
            tcp::Outcome::BacklogFull => Err(DropReason::TcpBacklogFull),
            tcp::Outcome::TableFull => Err(DropReason::TcpTableFull),
            tcp::Outcome::Ignored => Err(DropReason::TcpIgnored),
        }
    }

    fn process_icmpv6(
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
                    Dest::Unicast => Some(ip.dst),
                    Dest::Multicast => self.ipv6_source_for(ip.src),
                };
                let Some(src) = src else {
                    return Err(DropReason::Ipv6NotForUs);
                };
                self.stats.ipv6_delivered += 1;
                debug!(from = %ip.src, ident, seq, len = data.len(), "ICMPv6: echo request from {}, replying", ip.src);
                let mut body = std::mem::take(&mut self.body);
                body.clear();
                icmp6::write_echo_reply(&mut body, src, ip.src, ident, seq, data);
                self.send_ipv6(now, src, ip.src, NextHeader::Icmp, &body, emit);
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
                    if let Some((local, remote)) = quoted_tcp(original) {
                        self.tcp.on_icmp_unreachable(local, remote);
                    }
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
                if let Some((local, remote)) = quoted_tcp(original) {
                    let as_v4 = u16::try_from(mtu - 20).unwrap_or(u16::MAX);
                    self.tcp.on_path_mtu(local, remote, as_v4);
                }
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

    fn process_ndp(
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
            ndp::Message::RouterAdvert {
                cur_hop_limit,
                router_lifetime,
                reachable_time,
                retrans_timer,
                source_ll,
                mtu,
                options,
                ..
            } => {
                self.stats.ndp_router_adverts_rx += 1;
                let Some(v6) = self.ip6.as_mut() else {
                    return Err(DropReason::EthUnsupportedType);
                };
                v6.rs.next = None;
                if cur_hop_limit != 0 {
                    v6.hop_limit = cur_hop_limit;
                }
                if reachable_time != 0 {
                    v6.timing.reachable =
                        Duration::from_millis(u64::from(reachable_time)).min(MAX_REACHABLE);
                }
                if retrans_timer != 0 {
                    v6.timing.retrans = Duration::from_millis(u64::from(retrans_timer))
                        .clamp(MIN_RETRANS, MAX_RETRANS);
                }
                if let Some(mtu) = mtu.and_then(|m| usize::try_from(m).ok()) {
                    // RFC 4861 6.3.4: an MTU below the minimum or above the link's is ignored.
                    if (ipv6::MIN_MTU..=self.config.mtu).contains(&mtu) {
                        v6.link_mtu = mtu;
                    }
                }
                if router_lifetime == 0 {
                    if v6.router.is_some_and(|r| r.addr == ip.src) {
                        v6.router = None;
                    }
                } else {
                    let until = now + Duration::from_secs(u64::from(router_lifetime));
                    if v6.router.is_none_or(|r| r.addr != ip.src) {
                        info!(router = %ip.src, "IPv6: default router {}", ip.src);
                    }
                    v6.router = Some(Router {
                        addr: ip.src,
                        until,
                    });
                }
                let prefixes: Vec<ndp::PrefixInfo> = options.prefixes().collect();
                for p in prefixes {
                    self.on_prefix(now, &p);
                }
                if let Some(mac) = source_ll {
                    self.learn6(ip.src, mac, now, emit);
                }
                if let Some(v6) = self.ip6.as_mut() {
                    v6.neighbors.set_router(ip.src);
                }
                Ok(())
            }
            ndp::Message::RouterSolicit { .. } | ndp::Message::Redirect { .. } => {
                Err(DropReason::NdpIgnored)
            }
        }
    }

    fn learn6(&mut self, ip: Ipv6Addr, mac: MacAddr, now: Instant, emit: &mut dyn FnMut(&[u8])) {
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
    fn on_solicit(
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
        debug!(from = %ip.src, %target, "NDP: {} asks who has {target}; answering {}", ip.src, self.config.mac);
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        ndp::emit(
            &mut body,
            target,
            dst,
            &ndp::Repr::NeighborAdvert {
                router: false,
                solicited,
                override_entry: true,
                target,
                target_ll: Some(self.config.mac),
            },
        );
        match link {
            Some(mac) => self.emit_ipv6(
                mac,
                target,
                dst,
                NextHeader::Icmp,
                ndp::HOP_LIMIT,
                &body,
                emit,
            ),
            None => {
                // No link-layer option: resolve the asker first (RFC 4861 7.2.4).
                self.send_ipv6_ndp(now, target, dst, &body, emit);
            }
        }
        self.body = body;
        self.stats.ndp_adverts_sent += 1;
        Ok(())
    }

    /// An NDP message (hop limit 255) through resolution.
    fn send_ipv6_ndp(
        &mut self,
        now: Instant,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        body: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) {
        let Some(v6) = self.ip6.as_mut() else { return };
        let saved = v6.hop_limit;
        v6.hop_limit = ndp::HOP_LIMIT;
        self.send_ipv6(now, src, dst, NextHeader::Icmp, body, emit);
        if let Some(v6) = self.ip6.as_mut() {
            v6.hop_limit = saved;
        }
    }

    /// RFC 4861 7.2.5, with RFC 4862 5.4.4 for our own addresses.
    fn on_advert(
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

    /// DAD found another host with address `i` (RFC 4862 5.4.5): it is not used.
    fn duplicate(&mut self, i: usize, mac: MacAddr) {
        let Some(v6) = self.ip6.as_mut() else { return };
        let Some(a) = v6.addrs.get_mut(i) else { return };
        a.state = AddrState::Duplicate;
        let addr = a.cidr.addr();
        self.stats.ndp_dad_duplicates += 1;
        warn!(%addr, %mac, "IPv6: duplicate address: {mac} already uses {addr}; not using it");
        self.push_event(Event::Ipv6AddressDuplicate { addr, mac });
    }

    /// A Prefix Information option (RFC 4861 6.3.4 for on-link, RFC 4862 5.5.3 for SLAAC).
    fn on_prefix(&mut self, now: Instant, p: &ndp::PrefixInfo) {
        let Some(v6) = self.ip6.as_mut() else { return };
        // RFC 4862 5.5.3 (b), RFC 4861 6.3.4: the link-local prefix is ignored; so are prefixes
        // that cannot hold unicast addresses (multicast, and the all-zero network of
        // ::/128 and ::1).
        if ipv6::is_link_local(p.prefix)
            || p.prefix.is_multicast()
            || u128::from(p.prefix) >> 64 == 0
        {
            return;
        }
        let Some(cidr) = Ipv6Cidr::new(p.prefix, p.prefix_len) else {
            return;
        };
        let network = Ipv6Cidr::clamped(cidr.network(), p.prefix_len);
        if p.on_link {
            let until = lifetime(now, p.valid_lifetime);
            let at = v6.prefixes.iter().position(|q| q.cidr == network);
            match (at, p.valid_lifetime) {
                (Some(i), 0) => {
                    v6.prefixes.remove(i);
                }
                (Some(i), _) => {
                    if let Some(q) = v6.prefixes.get_mut(i) {
                        q.until = until;
                    }
                }
                (None, 0) => {}
                (None, _) if v6.prefixes.len() < v6.max_prefixes => {
                    v6.prefixes.push(OnLinkPrefix {
                        cidr: network,
                        until,
                    });
                }
                (None, _) => debug!(prefix = %network, "IPv6: on-link prefix table full"),
            }
        }
        // RFC 4862 5.5.3 (c), (d): preferred within valid; prefix plus our 64-bit interface
        // identifier must make 128 bits.
        if !p.autonomous
            || !v6.cfg.slaac
            || p.preferred_lifetime > p.valid_lifetime
            || p.prefix_len != 64
        {
            return;
        }
        let mut octets = network.network().octets();
        if let Some(tail) = octets.get_mut(8..) {
            tail.copy_from_slice(&ipv6::interface_id(self.config.mac));
        }
        let addr = Ipv6Addr::from(octets);
        let preferred = lifetime(now, p.preferred_lifetime);
        let received = lifetime(now, p.valid_lifetime);
        if let Some(a) = v6.addrs.iter_mut().find(|a| a.cidr.addr() == addr) {
            if a.origin != Origin::Slaac {
                return;
            }
            a.preferred_until = preferred;
            if a.state == AddrState::Deprecated && p.preferred_lifetime > 0 {
                a.state = AddrState::Preferred;
            }
            // RFC 4862 5.5.3 (e): "If the received Valid Lifetime is greater than 2 hours or
            // greater than RemainingLifetime, set the valid lifetime of the corresponding
            // address to the advertised Valid Lifetime"; else, if RemainingLifetime is at most
            // 2 hours, ignore it; otherwise reset the valid lifetime to 2 hours.
            let remaining = a.valid_until.map(|t| t.saturating_duration_since(now));
            let advertised = Duration::from_secs(u64::from(p.valid_lifetime));
            let longer = match remaining {
                None => false,
                Some(r) => advertised > r,
            };
            if received.is_none() || advertised > TWO_HOURS || longer {
                a.valid_until = received;
            } else if remaining.is_some_and(|r| r > TWO_HOURS) {
                a.valid_until = Some(now + TWO_HOURS);
            }
            return;
        }
        if p.valid_lifetime == 0 {
            return;
        }
        if v6.addrs.len() >= v6.max_addrs {
            warn!(%addr, "IPv6: address table full; not configuring {addr}");
            return;
        }
        let transmits = v6.cfg.dad_transmits;
        let delay = v6.random_delay();
        info!(%addr, prefix = %network, "IPv6: router advertises {network}; configuring {addr}");
        v6.addrs.push(Address {
            cidr: Ipv6Cidr::clamped(addr, 64),
            origin: Origin::Slaac,
            state: if transmits == 0 {
                AddrState::Preferred
            } else {
                AddrState::Tentative {
                    sent: 0,
                    next: now + delay,
                }
            },
            preferred_until: preferred,
            valid_until: received,
        });
        if transmits == 0 {
            self.push_event(Event::Ipv6AddressReady(addr));
        }
    }
}
