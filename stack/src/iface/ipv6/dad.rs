//! Duplicate Address Detection (RFC 4862 5.4): solicitations for tentative addresses, and
//! what happens when another host has one.

use core::net::Ipv6Addr;

use tracing::{debug, info, warn};

use super::AddrState;
use crate::ethernet::MacAddr;
use crate::iface::{Event, Interface};
use crate::ipv6::{self, ndp};
use crate::time::Instant;

impl Interface {
    /// RFC 4862 5.4.2: DupAddrDetectTransmits solicitations RetransTimer apart, from the
    /// unspecified address to the solicited-node group; no answer by then and the address is
    /// ours.
    pub(super) fn poll_dad(&mut self, now: Instant, emit: &mut dyn FnMut(&[u8])) {
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
            let group = ipv6::solicited_node(addr);
            let solicit = ndp::Repr::NeighborSolicit {
                target: addr,
                source_ll: None,
            };
            let mac = ipv6::multicast_mac(group);
            let unspecified = Ipv6Addr::UNSPECIFIED;
            self.send_ndp(now, Some(mac), unspecified, group, &solicit, emit);
            self.stats.ndp_dad_sent += 1;
        }
        for addr in ready {
            info!(%addr, "IPv6: {addr} is ours (duplicate address detection passed)");
            self.push_event(Event::Ipv6AddressReady(addr));
        }
    }

    /// DAD found another host with address `i` (RFC 4862 5.4.5): it is not used.
    pub(super) fn duplicate(&mut self, i: usize, mac: MacAddr) {
        let Some(v6) = self.ip6.as_mut() else { return };
        let Some(a) = v6.addrs.get_mut(i) else { return };
        a.state = AddrState::Duplicate;
        let addr = a.cidr.addr();
        self.stats.ndp_dad_duplicates += 1;
        warn!(%addr, %mac, "IPv6: duplicate address: {mac} already uses {addr}; not using it");
        self.push_event(Event::Ipv6AddressDuplicate { addr, mac });
    }
}
