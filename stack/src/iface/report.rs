//! The interface's report: its addresses and MAC, the ARP cache (RFC 826), the IPv6 state
//! (addresses RFC 4862, default router and prefixes RFC 4861 6.3.4, neighbour cache RFC 4861
//! 7.3.2) and its memory footprint.

use core::net::{Ipv4Addr, Ipv6Addr};

use crate::arp;
use crate::ipv6::neighbor;
use crate::report::Writer;
use crate::time::Instant;

use super::{Footprint, Interface};

impl Interface {
    /// Writes the link as an object: `mac`, `ipv4` (with its prefix, or `null`), `gateway`
    /// and `mtu`.
    pub fn report(&self, w: &mut Writer<'_>) {
        let c = self.config();
        w.object(|w| {
            w.key("mac").display(c.mac);
            w.key("ipv4").display_or_null(self.ipv4());
            w.key("gateway").display_or_null(self.gateway());
            w.key("mtu").number(c.mtu);
        });
    }

    /// Writes the ARP cache as an array of entries, expiry times in milliseconds from `now`.
    pub fn report_arp(&self, now: Instant, w: &mut Writer<'_>) {
        w.array(|w| {
            for (ip, entry) in self.arp_cache() {
                arp_entry(ip, &entry, now, w);
            }
        });
    }

    /// Writes the IPv6 state as an object (`null` with IPv6 off): addresses with their origin,
    /// state and remaining valid time, the default router, on-link prefixes, the hop limit and
    /// MTU in use, and the neighbour cache.
    pub fn report_ipv6(&self, now: Instant, w: &mut Writer<'_>) {
        if self.config().ipv6.is_none() {
            w.null();
            return;
        }
        w.object(|w| {
            w.key("addresses").array(|w| {
                for a in self.ipv6_addresses() {
                    w.object(|w| {
                        w.key("address").display(a.cidr);
                        w.key("origin").str(a.origin.name());
                        w.key("state").str(a.state.name());
                        if let Some(t) = a.valid_until {
                            w.key("valid_for_ms")
                                .number(t.saturating_duration_since(now).as_millis());
                        }
                    });
                }
            });
            w.key("router")
                .display_or_null(self.ipv6_router().map(|r| r.addr));
            w.key("prefixes").array(|w| {
                for p in self.ipv6_prefixes() {
                    w.display(p.cidr);
                }
            });
            w.key("hop_limit")
                .number(self.ipv6_hop_limit().unwrap_or(0));
            w.key("mtu").number(self.ipv6_mtu().unwrap_or(0));
            w.key("ndp").array(|w| {
                for (ip, entry) in self.ndp_cache() {
                    ndp_entry(ip, &entry, w);
                }
            });
        });
    }
}

/// One ARP cache entry: resolved (MAC and time left) or incomplete (requests sent).
fn arp_entry(ip: Ipv4Addr, entry: &arp::Entry, now: Instant, w: &mut Writer<'_>) {
    w.object(|w| {
        w.key("ip").display(ip);
        match entry {
            arp::Entry::Resolved { mac, expires } => {
                w.key("state").str("resolved");
                w.key("mac").display(mac);
                w.key("expires_in_ms")
                    .number(expires.saturating_duration_since(now).as_millis());
            }
            arp::Entry::Incomplete { requests, .. } => {
                w.key("state").str("incomplete");
                w.key("requests").number(*requests);
            }
        }
    });
}

/// One neighbour cache entry: its RFC 4861 state, MAC (`null` while INCOMPLETE) and router
/// flag.
fn ndp_entry(ip: Ipv6Addr, entry: &neighbor::Entry, w: &mut Writer<'_>) {
    w.object(|w| {
        w.key("ip").display(ip);
        w.key("state").str(entry.state.name());
        w.key("mac").display_or_null(entry.mac);
        w.key("router").bool(entry.router);
    });
}

impl Footprint {
    /// Writes the memory held now, as an object: cache entries, packets and bytes waiting,
    /// reassembly, UDP and TCP.
    pub fn report(&self, w: &mut Writer<'_>) {
        w.object(|w| {
            w.key("arp_entries").number(self.arp_entries);
            w.key("pending_packets").number(self.pending_packets);
            w.key("pending_bytes").number(self.pending_bytes);
            w.key("reassembly_datagrams")
                .number(self.reassembly_datagrams);
            w.key("reassembly_bytes").number(self.reassembly_bytes);
            w.key("udp_sockets").number(self.udp_sockets);
            w.key("udp_bytes").number(self.udp_bytes);
            w.key("tcp_connections").number(self.tcp_connections);
            w.key("tcp_buffer_bytes").number(self.tcp_buffer_bytes);
            w.key("tcp_buffer_budget").number(self.tcp_buffer_budget);
        });
    }
}
