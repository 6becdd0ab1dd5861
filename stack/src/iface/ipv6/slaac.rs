//! Stateless address autoconfiguration (RFC 4862 5.5) from Prefix Information options, on-link
//! prefixes (RFC 4861 6.3.4) and the lifetimes of both.

use core::net::Ipv6Addr;
use core::time::Duration;

use tracing::{debug, info, warn};

use super::{AddrState, Address, OnLinkPrefix, Origin};
use crate::config::Ipv6Cidr;
use crate::iface::{Event, Interface};
use crate::ipv6::{self, ndp};
use crate::time::Instant;

/// RFC 4862 5.5.3 (e): lifetimes below two hours are not shortened by unauthenticated RAs.
const TWO_HOURS: Duration = Duration::from_secs(2 * 3600);

pub(super) fn lifetime(now: Instant, secs: u32) -> Option<Instant> {
    (secs != u32::MAX).then(|| now + Duration::from_secs(u64::from(secs)))
}

impl Interface {
    /// RFC 4862 5.5.4: addresses deprecated and removed at the end of their lifetimes; routers
    /// and on-link prefixes likewise (RFC 4861 6.3.5).
    pub(super) fn poll_lifetimes(&mut self, now: Instant) {
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

    /// A Prefix Information option (RFC 4861 6.3.4 for on-link, RFC 4862 5.5.3 for SLAAC).
    pub(super) fn on_prefix(&mut self, now: Instant, p: &ndp::PrefixInfo) {
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
            tail.copy_from_slice(&v6.iid);
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
        // No DAD on an IP-only link (IFF_NOARP), as for the configured addresses.
        let transmits = if v6.dad { v6.cfg.dad_transmits } else { 0 };
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
