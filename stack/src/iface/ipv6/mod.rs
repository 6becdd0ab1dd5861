//! IPv6 on the interface (RFC 8200): addresses (link-local from the MAC, or from a random
//! interface identifier on an IP-only link; static; SLAAC per RFC 4862) checked by Duplicate
//! Address Detection (not on an IP-only link), ICMPv6 (RFC 4443), extension headers and
//! fragments in and out. Neighbor Discovery (RFC 4861) is in `discovery.rs` with routers in
//! `router.rs`, DAD in `dad.rs`, SLAAC and lifetimes in `slaac.rs`, input (destination,
//! extension headers, reassembly, ICMPv6) in `input.rs`, output (routing, resolution,
//! fragmentation) in `output.rs`; UDP and TCP in the interface's `transport.rs`.
//!
//! Order of work for a received packet: header checks -> destination (our addresses, all-nodes,
//! our solicited-node groups) -> extension header chain -> reassembly -> ICMPv6 (NDP) | UDP | TCP.

use core::net::{IpAddr, Ipv6Addr};
use core::time::Duration;

use tracing::info;

use super::transport::Addrs;
use super::{Event, Interface};
use crate::config::{Ipv6Cidr, Ipv6Config, Limits};
use crate::device::Medium;
use crate::ethernet::MacAddr;
use crate::icmp::TokenBucket;
use crate::ipv6::icmp::{self as icmp6};
use crate::ipv6::neighbor::{self, Due, Timing};
use crate::ipv6::{self, ext, HEADER_LEN};
use crate::reassembly::ipv6 as reassembly;
use crate::reassembly::Bounds;
use crate::rng::Rng;
use crate::time::{earliest, Instant};

mod dad;
mod discovery;
mod input;
mod output;
mod router;
mod slaac;

/// The all-nodes multicast group (RFC 4291 2.7.1).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// The all-routers multicast group (RFC 4291 2.7.1).
pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);

/// Where an address came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `fe80::` plus the interface identifier (RFC 4862 5.3): the modified EUI-64 of the MAC,
    /// or a random one on an IP-only link.
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
    pub(super) icmp_errors: TokenBucket,
    due: Vec<Due>,
    /// The 64-bit interface identifier of the link-local and SLAAC addresses.
    iid: [u8; 8],
    /// False on an IP-only link: no Duplicate Address Detection there.
    dad: bool,
}

impl State {
    pub(super) fn new(
        cfg: Ipv6Config,
        medium: Medium,
        mac: MacAddr,
        mtu: usize,
        seed: u64,
        l: &Limits,
    ) -> Self {
        let mut rng = Rng::new(seed, "ipv6");
        let ident = rng.next_u32();
        // Linux on a TUN device (type ARPHRD_NONE, flags IFF_POINTOPOINT | IFF_NOARP, no
        // hardware address: drivers/net/tun.c `tun_net_init`) turns addr_gen_mode EUI64 into
        // RANDOM ("this device type has no EUI support", net/ipv6/addrconf.c
        // `addrconf_dev_config`) and so still forms a link-local address, from a random
        // interface identifier. Ours comes from the seed, so that runs repeat. `addrconf_dad_begin`
        // skips DAD on IFF_NOARP devices: the address is ours at once.
        let (iid, dad) = match medium {
            Medium::Ethernet => (ipv6::interface_id(mac), true),
            Medium::Ip => {
                let mut id = Rng::new(seed, "ipv6-iid").next_u64().to_be_bytes();
                // RFC 4291 2.5.1 / RFC 7136: the u bit says nothing here; keep it clear
                // ("local scope"), as a random identifier is not a universal one.
                id[0] &= !0x02;
                (id, false)
            }
        };
        let mut link_local = [0u8; 16];
        link_local[0] = 0xfe;
        link_local[1] = 0x80;
        if let Some(tail) = link_local.get_mut(8..) {
            tail.copy_from_slice(&iid);
        }
        let mut addrs = vec![Address {
            cidr: Ipv6Cidr::clamped(Ipv6Addr::from(link_local), 64),
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
            iid,
            dad,
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
                if self.cfg.dad_transmits == 0 || !self.dad {
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

    /// The interface identifier of our link-local and autoconfigured addresses.
    pub fn ipv6_interface_id(&self) -> Option<[u8; 8]> {
        self.ip6.as_ref().map(|v| v.iid)
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

        self.poll_neighbours(now, emit);
        self.expire_reassembly(now, emit);
    }

    /// The source of a datagram to `dst`: the address the request came to (`local`) if that
    /// is still ours and usable, otherwise the one source selection picks.
    pub(super) fn ipv6_reply_source(
        &self,
        local: Option<IpAddr>,
        dst: Ipv6Addr,
    ) -> Option<Ipv6Addr> {
        let asked = match local {
            Some(IpAddr::V6(a)) => self
                .ipv6_addresses()
                .iter()
                .find(|x| x.cidr.addr() == a && x.usable())
                .map(|x| x.cidr.addr()),
            _ => None,
        };
        asked.or_else(|| self.ipv6_source_for(dst))
    }

    /// RFC 4443 2.4 (e): whether an error may be sent about `original` at all, and if so the
    /// quoted packet's source and destination.
    pub(super) fn ipv6_error_about(
        &self,
        error: icmp6::Error,
        original: &[u8],
        link_group: bool,
    ) -> Option<Addrs> {
        let link = if link_group {
            icmp6::LinkDestination::Group
        } else {
            icmp6::LinkDestination::Unicast
        };
        if !icmp6::error_allowed(error, original, link) {
            return None;
        }
        let (ip, _) = ipv6::parse(original)
            .or_else(|_| {
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
            })
            .ok()?;
        Some(Addrs::V6(ip.src, ip.dst))
    }

    /// RFC 4443 2.2: an error leaves from the destination of the packet it is about if that
    /// was ours, otherwise from the address we would use towards its source.
    pub(super) fn ipv6_error_source(&self, dst: Ipv6Addr, src: Ipv6Addr) -> Option<Ipv6Addr> {
        let v6 = self.ip6.as_ref()?;
        if v6
            .find(dst)
            .is_some_and(|i| v6.addrs.get(i).is_some_and(Address::usable))
        {
            Some(dst)
        } else {
            v6.select_source(src)
        }
    }
}
