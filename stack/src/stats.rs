//! Counters: what the core received, sent, and why it dropped what it dropped.
//!
//! Every received frame ends in exactly one place: it is handled (`rx_handled`) or dropped under
//! one [`DropReason`]. So `rx_frames == rx_handled + total_drops()` always holds, which the tests
//! check after feeding the core garbage.

use core::fmt;

use crate::report::Writer;

macro_rules! drop_reasons {
    ($($(#[doc = $doc:literal])* $name:ident => $label:literal,)*) => {
        /// Why a received frame was discarded.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum DropReason {
            $($(#[doc = $doc])* $name,)*
        }

        impl DropReason {
            /// Every reason, in declaration order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$name,)*];

            /// A short snake_case name, stable for logs and JSON.
            pub const fn name(self) -> &'static str {
                match self {
                    $(DropReason::$name => $label,)*
                }
            }
        }
    };
}

drop_reasons! {
    /// Shorter than an Ethernet header.
    EthTruncated => "eth_truncated",
    /// Longer than the MTU allows (the link header aside).
    EthOversize => "eth_oversize",
    /// Destination MAC is neither ours, broadcast, nor a group we joined.
    EthNotForUs => "eth_not_for_us",
    /// Source MAC is ours (a looped-back frame) or a group address.
    EthBadSource => "eth_bad_source",
    /// An EtherType we do not speak (IPv6 before it is enabled, VLAN tags, ...); on an IP-only
    /// link, a packet that is neither IPv4 nor IPv6 by its version nibble (or is empty).
    EthUnsupportedType => "eth_unsupported_type",
    /// ARP packet shorter than its fixed part.
    ArpTruncated => "arp_truncated",
    /// ARP for a hardware or protocol type other than Ethernet/IPv4, or an unknown opcode.
    ArpUnsupported => "arp_unsupported",
    /// ARP whose sender addresses cannot be a neighbour (group MAC, broadcast or foreign-subnet IP).
    ArpBadSender => "arp_bad_sender",
    /// ARP neither for us nor about a neighbour we know (nothing to learn or answer).
    ArpNotForUs => "arp_not_for_us",
    /// ARP claiming our own address from another MAC (an address conflict).
    ArpConflict => "arp_conflict",
    /// IPv4 packet shorter than its header or its total length.
    Ipv4Truncated => "ipv4_truncated",
    /// IPv4 header with a bad version or header length.
    Ipv4BadHeader => "ipv4_bad_header",
    /// IPv4 header checksum mismatch.
    Ipv4BadChecksum => "ipv4_bad_checksum",
    /// Source address no host may use (multicast, broadcast, ours, loopback).
    Ipv4BadSource => "ipv4_bad_source",
    /// Destination is not one of our addresses (we do not forward).
    Ipv4NotForUs => "ipv4_not_for_us",
    /// We have no usable IPv4 address yet (unconfigured or still probing).
    Ipv4NoAddress => "ipv4_no_address",
    /// A transport protocol we do not implement (protocol unreachable is sent).
    Ipv4UnknownProtocol => "ipv4_unknown_protocol",
    /// Fragment with an impossible offset or length.
    FragmentInvalid => "fragment_invalid",
    /// Fragment overlapping data already received: the whole datagram is discarded.
    FragmentOverlap => "fragment_overlap",
    /// Fragment that would make the datagram larger than the reassembly limit.
    FragmentTooBig => "fragment_too_big",
    /// No reassembly slot or memory left for a new fragment.
    ReassemblyFull => "reassembly_full",
    /// Exact copy of a fragment already held.
    FragmentDuplicate => "fragment_duplicate",
    /// ICMP message shorter than its header.
    IcmpTruncated => "icmp_truncated",
    /// ICMP checksum mismatch.
    IcmpBadChecksum => "icmp_bad_checksum",
    /// Echo request to a broadcast or multicast address (not answered, like Linux by default).
    IcmpBroadcastEcho => "icmp_broadcast_echo",
    /// ICMP message that needs no action from a host (replies, errors for nothing of ours, ...).
    IcmpIgnored => "icmp_ignored",
    /// UDP length field inconsistent with the packet.
    UdpBadLength => "udp_bad_length",
    /// UDP checksum mismatch.
    UdpBadChecksum => "udp_bad_checksum",
    /// No socket on the destination port (port unreachable is sent for unicast).
    UdpNoSocket => "udp_no_socket",
    /// The socket's receive queue is full.
    UdpQueueFull => "udp_queue_full",
    /// TCP segment shorter than its header, or a data offset outside the segment.
    TcpBadHeader => "tcp_bad_header",
    /// TCP option whose length is impossible.
    TcpBadOption => "tcp_bad_option",
    /// TCP checksum mismatch.
    TcpBadChecksum => "tcp_bad_checksum",
    /// TCP control bits no sender produces (SYN+FIN, SYN+RST, none).
    TcpBadFlags => "tcp_bad_flags",
    /// TCP segment to a broadcast or multicast address.
    TcpNotUnicast => "tcp_not_unicast",
    /// No connection or listener (answered with RST).
    TcpNoSocket => "tcp_no_socket",
    /// SYN to a listener whose backlog is full.
    TcpBacklogFull => "tcp_backlog_full",
    /// SYN while the connection table is full.
    TcpTableFull => "tcp_table_full",
    /// TCP segment needing no action (a stray RST, a non-SYN to a listener).
    TcpIgnored => "tcp_ignored",
    /// A DHCP reply the client refused (malformed, another exchange, not expected now).
    DhcpRejected => "dhcp_rejected",
    /// UDP over IPv6 without a checksum (RFC 8200 8.1: zero is not allowed).
    UdpZeroChecksum => "udp_zero_checksum",
    /// IPv6 packet shorter than its header, its payload length or an extension header.
    Ipv6Truncated => "ipv6_truncated",
    /// IPv6 header with a version other than 6.
    Ipv6BadHeader => "ipv6_bad_header",
    /// Jumbogram (payload length 0 with Hop-by-Hop, RFC 2675): not taken.
    Ipv6Jumbogram => "ipv6_jumbogram",
    /// Source address no host may use (multicast, loopback, one of ours).
    Ipv6BadSource => "ipv6_bad_source",
    /// Destination is neither one of our addresses nor a group we joined.
    Ipv6NotForUs => "ipv6_not_for_us",
    /// Sent to an address still under Duplicate Address Detection (RFC 4862 5.4).
    Ipv6TentativeDestination => "ipv6_tentative_destination",
    /// More extension headers (or header bytes) than the limits allow.
    Ipv6ChainTooLong => "ipv6_chain_too_long",
    /// An option running past the end of its extension header.
    Ipv6BadOption => "ipv6_bad_option",
    /// An unknown option whose action bits say discard (RFC 8200 4.2).
    Ipv6UnknownOption => "ipv6_unknown_option",
    /// Hop-by-Hop header not first, or an erroneous header field (Parameter Problem sent).
    Ipv6BadExtensionHeader => "ipv6_bad_extension_header",
    /// Routing header with segments left (we route nothing; Parameter Problem sent).
    Ipv6RoutingHeader => "ipv6_routing_header",
    /// An upper-layer protocol we do not speak (Parameter Problem code 1 sent).
    Ipv6UnknownNextHeader => "ipv6_unknown_next_header",
    /// No Next Header (59): nothing to deliver.
    Ipv6NoNextHeader => "ipv6_no_next_header",
    /// First fragment without the whole header chain (RFC 7112 5).
    Ipv6IncompleteChain => "ipv6_incomplete_chain",
    /// Non-final fragment whose length is not a multiple of 8 (RFC 8200 4.5).
    Ipv6FragmentBadLength => "ipv6_fragment_bad_length",
    /// Fragment without data.
    Ipv6FragmentTiny => "ipv6_fragment_tiny",
    /// Fragment overlapping data already received: the datagram is discarded (RFC 5722).
    Ipv6FragmentOverlap => "ipv6_fragment_overlap",
    /// Fragment with an impossible offset or length.
    Ipv6FragmentInvalid => "ipv6_fragment_invalid",
    /// Fragment that would make the packet larger than the reassembly limit.
    Ipv6FragmentTooBig => "ipv6_fragment_too_big",
    /// No reassembly slot or memory left.
    Ipv6ReassemblyFull => "ipv6_reassembly_full",
    /// Exact copy of a fragment already held.
    Ipv6FragmentDuplicate => "ipv6_fragment_duplicate",
    /// ICMPv6 message shorter than its header.
    Icmpv6Truncated => "icmpv6_truncated",
    /// ICMPv6 checksum mismatch (pseudo-header included).
    Icmpv6BadChecksum => "icmpv6_bad_checksum",
    /// ICMPv6 message needing no action (replies, MLD, unknown informational types).
    Icmpv6Ignored => "icmpv6_ignored",
    /// NDP message with a hop limit other than 255: it crossed a router (RFC 4861 6.1, 7.1).
    NdpBadHopLimit => "ndp_bad_hop_limit",
    /// NDP message too short, with a non-zero code, or otherwise malformed.
    NdpInvalid => "ndp_invalid",
    /// NDP option with length 0, running past the message, or of the wrong size.
    NdpBadOption => "ndp_bad_option",
    /// NS, NA or Redirect whose target is a multicast address.
    NdpMulticastTarget => "ndp_multicast_target",
    /// NDP from the unspecified address breaking RFC 4861 7.1.1 (link-layer option, wrong group),
    /// or a solicited NA to a multicast address.
    NdpBadSource => "ndp_bad_source",
    /// RA or Redirect from a source that is not link-local (RFC 4861 6.1.2, 8.1).
    NdpSourceNotLinkLocal => "ndp_source_not_link_local",
    /// NS for an address that is not ours.
    NdpNotForUs => "ndp_not_for_us",
    /// Address resolution for an address still tentative (RFC 4862 5.4.3: ignored).
    NdpTentativeTarget => "ndp_tentative_target",
    /// NS or NA showing that another host has (or tries) an address we are checking.
    NdpDuplicateAddress => "ndp_duplicate_address",
    /// NA from another host for an address we already use.
    NdpConflict => "ndp_conflict",
    /// NDP a host takes no action on (RS, Redirect, an NA nobody asked for).
    NdpIgnored => "ndp_ignored",
}

impl DropReason {
    /// How many reasons there are.
    pub const COUNT: usize = Self::ALL.len();
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The core's counters. Plain fields: cheap to bump, easy to print.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames given to `receive`.
    pub rx_frames: u64,
    /// Bytes given to `receive`.
    pub rx_bytes: u64,
    /// Received frames that were handled (answered, learned from, delivered or held).
    pub rx_handled: u64,
    /// Frames emitted.
    pub tx_frames: u64,
    /// Bytes emitted.
    pub tx_bytes: u64,

    /// ARP requests we answered.
    pub arp_replies_sent: u64,
    /// ARP requests we sent to resolve a neighbour.
    pub arp_requests_sent: u64,
    /// ARP probes and announcements we sent for our own address.
    pub arp_probes_sent: u64,
    /// Neighbour mappings learned or refreshed.
    pub arp_learned: u64,
    /// Neighbours given up on after the last request went unanswered.
    pub arp_resolution_failed: u64,
    /// Entries evicted because the cache was full.
    pub arp_evictions: u64,
    /// Packets dropped while waiting for resolution (queue full or resolution failed).
    pub arp_pending_dropped: u64,
    /// Other hosts seen claiming our address.
    pub arp_conflicts: u64,

    /// IPv4 datagrams delivered to a transport (after reassembly).
    pub ipv4_delivered: u64,
    /// IPv4 datagrams we sent.
    pub ipv4_sent: u64,
    /// Fragments received.
    pub ipv4_fragments_rx: u64,
    /// Datagrams reassembled.
    pub ipv4_reassembled: u64,
    /// Incomplete datagrams discarded at their timeout.
    pub ipv4_reassembly_timeouts: u64,
    /// Incomplete datagrams evicted, oldest first, to make room for new ones.
    pub ipv4_reassembly_evictions: u64,
    /// Fragments we sent (datagrams larger than the MTU).
    pub ipv4_fragments_tx: u64,
    /// Outgoing datagrams dropped: no route, too big, or no address.
    pub ipv4_tx_dropped: u64,

    /// Echo requests answered.
    pub icmp_echo_replied: u64,
    /// ICMP errors sent (unreachable, ...).
    pub icmp_errors_sent: u64,
    /// ICMP errors not sent because of the rate limit.
    pub icmp_errors_rate_limited: u64,
    /// ICMP errors received (unreachable, time exceeded, ...).
    pub icmp_errors_rx: u64,

    /// UDP datagrams queued to a socket.
    pub udp_delivered: u64,
    /// UDP datagrams sent.
    pub udp_sent: u64,
    /// TCP segments sent.
    pub tcp_segments_sent: u64,

    /// IPv6 packets delivered to an upper layer (after reassembly).
    pub ipv6_delivered: u64,
    /// IPv6 packets we sent.
    pub ipv6_sent: u64,
    /// IPv6 fragments received.
    pub ipv6_fragments_rx: u64,
    /// IPv6 packets reassembled.
    pub ipv6_reassembled: u64,
    /// Incomplete IPv6 packets discarded at their timeout.
    pub ipv6_reassembly_timeouts: u64,
    /// Incomplete IPv6 packets evicted, oldest first, to make room for new ones.
    pub ipv6_reassembly_evictions: u64,
    /// IPv6 fragments we sent (packets larger than the MTU).
    pub ipv6_fragments_tx: u64,
    /// Outgoing IPv6 packets dropped: no route, no source address, too big.
    pub ipv6_tx_dropped: u64,
    /// ICMPv6 echo requests answered.
    pub icmpv6_echo_replied: u64,
    /// ICMPv6 errors sent.
    pub icmpv6_errors_sent: u64,
    /// ICMPv6 errors not sent because of the rate limit.
    pub icmpv6_errors_rate_limited: u64,
    /// ICMPv6 errors received.
    pub icmpv6_errors_rx: u64,
    /// Neighbor Solicitations sent (resolution and unreachability detection).
    pub ndp_solicits_sent: u64,
    /// Neighbor Advertisements sent.
    pub ndp_adverts_sent: u64,
    /// Router Solicitations sent.
    pub ndp_router_solicits_sent: u64,
    /// Router Advertisements taken.
    pub ndp_router_adverts_rx: u64,
    /// Neighbour cache entries learned or updated.
    pub ndp_learned: u64,
    /// Neighbours given up on (resolution or unreachability detection failed).
    pub ndp_resolution_failed: u64,
    /// Neighbour cache entries evicted because the cache was full.
    pub ndp_evictions: u64,
    /// Packets dropped while waiting for resolution (queue full or resolution failed).
    pub ndp_pending_dropped: u64,
    /// Duplicate Address Detection solicitations sent.
    pub ndp_dad_sent: u64,
    /// Addresses found duplicate (not used).
    pub ndp_dad_duplicates: u64,

    drops: DropCounts,
}

/// One counter per [`DropReason`].
#[derive(Clone, Debug, PartialEq, Eq)]
struct DropCounts([u64; DropReason::COUNT]);

impl Default for DropCounts {
    fn default() -> Self {
        DropCounts([0; DropReason::COUNT])
    }
}

impl Stats {
    /// Counts one dropped frame.
    pub fn record_drop(&mut self, reason: DropReason) {
        if let Some(c) = self.drops.0.get_mut(reason as usize) {
            *c += 1;
        }
    }

    /// Frames dropped for `reason`.
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops.0.get(reason as usize).copied().unwrap_or(0)
    }

    /// Every reason with a non-zero count.
    pub fn nonzero_drops(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL
            .iter()
            .map(|&r| (r, self.drops(r)))
            .filter(|&(_, n)| n > 0)
    }

    /// Frames dropped for any reason.
    pub fn total_drops(&self) -> u64 {
        self.drops.0.iter().sum()
    }

    /// The named counters, in a fixed order, for printing.
    pub fn counters(&self) -> [(&'static str, u64); 52] {
        [
            ("rx_frames", self.rx_frames),
            ("rx_bytes", self.rx_bytes),
            ("rx_handled", self.rx_handled),
            ("rx_dropped", self.total_drops()),
            ("tx_frames", self.tx_frames),
            ("tx_bytes", self.tx_bytes),
            ("arp_replies_sent", self.arp_replies_sent),
            ("arp_requests_sent", self.arp_requests_sent),
            ("arp_probes_sent", self.arp_probes_sent),
            ("arp_learned", self.arp_learned),
            ("arp_resolution_failed", self.arp_resolution_failed),
            ("arp_evictions", self.arp_evictions),
            ("arp_pending_dropped", self.arp_pending_dropped),
            ("arp_conflicts", self.arp_conflicts),
            ("ipv4_delivered", self.ipv4_delivered),
            ("ipv4_sent", self.ipv4_sent),
            ("ipv4_fragments_rx", self.ipv4_fragments_rx),
            ("ipv4_reassembled", self.ipv4_reassembled),
            ("ipv4_reassembly_timeouts", self.ipv4_reassembly_timeouts),
            ("ipv4_reassembly_evictions", self.ipv4_reassembly_evictions),
            ("ipv4_fragments_tx", self.ipv4_fragments_tx),
            ("ipv4_tx_dropped", self.ipv4_tx_dropped),
            ("icmp_echo_replied", self.icmp_echo_replied),
            ("icmp_errors_sent", self.icmp_errors_sent),
            ("icmp_errors_rate_limited", self.icmp_errors_rate_limited),
            ("icmp_errors_rx", self.icmp_errors_rx),
            ("udp_delivered", self.udp_delivered),
            ("udp_sent", self.udp_sent),
            ("tcp_segments_sent", self.tcp_segments_sent),
            ("ipv6_delivered", self.ipv6_delivered),
            ("ipv6_sent", self.ipv6_sent),
            ("ipv6_fragments_rx", self.ipv6_fragments_rx),
            ("ipv6_reassembled", self.ipv6_reassembled),
            ("ipv6_reassembly_timeouts", self.ipv6_reassembly_timeouts),
            ("ipv6_reassembly_evictions", self.ipv6_reassembly_evictions),
            ("ipv6_fragments_tx", self.ipv6_fragments_tx),
            ("ipv6_tx_dropped", self.ipv6_tx_dropped),
            ("icmpv6_echo_replied", self.icmpv6_echo_replied),
            ("icmpv6_errors_sent", self.icmpv6_errors_sent),
            (
                "icmpv6_errors_rate_limited",
                self.icmpv6_errors_rate_limited,
            ),
            ("icmpv6_errors_rx", self.icmpv6_errors_rx),
            ("ndp_solicits_sent", self.ndp_solicits_sent),
            ("ndp_adverts_sent", self.ndp_adverts_sent),
            ("ndp_router_solicits_sent", self.ndp_router_solicits_sent),
            ("ndp_router_adverts_rx", self.ndp_router_adverts_rx),
            ("ndp_learned", self.ndp_learned),
            ("ndp_resolution_failed", self.ndp_resolution_failed),
            ("ndp_evictions", self.ndp_evictions),
            ("ndp_pending_dropped", self.ndp_pending_dropped),
            ("ndp_dad_sent", self.ndp_dad_sent),
            ("ndp_dad_duplicates", self.ndp_dad_duplicates),
            ("drop_reasons", self.nonzero_drops().count() as u64),
        ]
    }
}

impl fmt::Display for Stats {
    /// A human-readable summary: non-zero counters, then drops by reason.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (name, v) in self.counters() {
            if v == 0 || name == "drop_reasons" {
                continue;
            }
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            write!(f, "{name}={v}")?;
        }
        if self.total_drops() > 0 {
            f.write_str("\ndrops:")?;
            for (r, n) in self.nonzero_drops() {
                write!(f, " {r}={n}")?;
            }
        }
        Ok(())
    }
}

impl Stats {
    /// Writes two members into the object `w` is writing: `counters` (every named counter, in
    /// the order of [`Stats::counters`]) and `drops` (the reasons with a non-zero count).
    pub fn report(&self, w: &mut Writer<'_>) {
        w.key("counters").object(|w| {
            for (name, v) in self.counters() {
                w.key(name).number(v);
            }
        });
        w.key("drops").object(|w| {
            for (reason, n) in self.nonzero_drops() {
                w.key(reason.name()).number(n);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_are_counted_by_reason() {
        let mut s = Stats::default();
        s.record_drop(DropReason::UdpNoSocket);
        s.record_drop(DropReason::UdpNoSocket);
        s.record_drop(DropReason::EthTruncated);
        assert_eq!(s.drops(DropReason::UdpNoSocket), 2);
        assert_eq!(s.total_drops(), 3);
        assert_eq!(s.nonzero_drops().count(), 2);
        assert!(s.to_string().contains("udp_no_socket=2"));
        let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DropReason::COUNT);
    }
}
