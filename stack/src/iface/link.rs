//! The link layer under IP: framing (Ethernet II, RFC 894, or none on an IP-only link such as
//! a TUN device) and the receive filter.
//!
//! The IP layers meet the link through three questions only: "which IP packet does this
//! frame hand up, from which hardware address" ([`State::receive`]), "does the next hop need
//! resolving" ([`State::without_resolution`]; ARP and NDP answer when it does) and "put this
//! IP packet on the wire toward this next hop" ([`Interface::transmit_pieces`], or
//! [`State::begin`] for a frame written in place).
//!
//! On [`Medium::Ip`] (a TUN device, like smoltcp's `Medium::Ip`) a frame is a bare IPv4 or
//! IPv6 packet, told apart by its version nibble; there is no link header, no hardware address
//! and nothing to resolve: the link is point-to-point, so every packet that is not for us
//! goes out of the one link, whatever the routing table of an Ethernet link would say. The
//! layers above ask [`State::point_to_point`] where that matters (no ARP probes or
//! announcements, no Duplicate Address Detection, no link-layer address options in NDP).

use etherparse::{EtherType, Ethernet2Header};

use super::Interface;
use crate::device::Medium;
use crate::ethernet::{self, MacAddr};
use crate::stats::DropReason;

/// What a received frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Payload {
    Arp,
    Ipv4,
    Ipv6,
    Other,
}

/// A frame the filter let through.
#[derive(Clone, Copy, Debug)]
pub(super) struct Received<'a> {
    /// The link destination (ours, broadcast or a group). On an IP-only link, what Ethernet
    /// would have carried: the group of an IP multicast destination, broadcast for
    /// 255.255.255.255, otherwise ours.
    pub(super) dst: MacAddr,
    /// The sender's hardware address ([`MacAddr::ZERO`] on an IP-only link: it has none).
    pub(super) src: MacAddr,
    pub(super) kind: Payload,
    pub(super) payload: &'a [u8],
}

/// The link: medium, our hardware address, MTU and the frame buffer packets are built in.
#[derive(Debug)]
pub(super) struct State {
    medium: Medium,
    mac: MacAddr,
    mtu: usize,
    /// The largest IP packet taken: the MTU, or 64 KiB when the device hands over runs of
    /// segments as one (a virtio-net device's GSO).
    rx_max: usize,
    /// Reused for every frame written (no allocation per packet).
    pub(super) frame: Vec<u8>,
}

impl State {
    pub(super) fn new(medium: Medium, mac: MacAddr, mtu: usize) -> Self {
        State {
            medium,
            mac,
            mtu,
            rx_max: mtu,
            frame: Vec::with_capacity(mtu + ethernet::HEADER_LEN),
        }
    }

    /// Takes IP packets of up to 64 KiB (`large`), or of up to the MTU.
    pub(super) fn set_large_rx(&mut self, large: bool) {
        self.rx_max = if large { 65_535 } else { self.mtu };
    }

    /// Our hardware address.
    pub(super) fn mac(&self) -> MacAddr {
        self.mac
    }

    /// Our link-layer address for NDP's source/target link-layer address options: none on
    /// an IP-only link (Linux leaves the option out when the device has no address,
    /// `dev->addr_len == 0`, in net/ipv6/ndisc.c).
    pub(super) fn ndp_address(&self) -> Option<MacAddr> {
        match self.medium {
            Medium::Ethernet => Some(self.mac),
            Medium::Ip => None,
        }
    }

    /// Bytes of link header in front of every packet.
    pub(super) fn header_len(&self) -> usize {
        match self.medium {
            Medium::Ethernet => ethernet::HEADER_LEN,
            Medium::Ip => 0,
        }
    }

    /// True on a point-to-point link without hardware addresses (IFF_POINTOPOINT | IFF_NOARP
    /// in Linux terms): nothing is resolved, probed or announced on it.
    pub(super) fn point_to_point(&self) -> bool {
        self.medium == Medium::Ip
    }

    /// The link address for a unicast next hop when the medium resolves none: an IP-only
    /// link has no link header, so any address does. `None` on Ethernet, where ARP or NDP
    /// finds it.
    pub(super) fn without_resolution(&self) -> Option<MacAddr> {
        match self.medium {
            Medium::Ethernet => None,
            Medium::Ip => Some(MacAddr::ZERO),
        }
    }

    /// Checks a frame's link header: its size, destination (`accepts` says which groups
    /// besides broadcast we joined) and source.
    pub(super) fn receive<'a>(
        &self,
        frame: &'a [u8],
        accepts: impl Fn(MacAddr) -> bool,
    ) -> Result<Received<'a>, DropReason> {
        match self.medium {
            Medium::Ethernet => {
                let (eth, payload) =
                    Ethernet2Header::from_slice(frame).map_err(|_| DropReason::EthTruncated)?;
                // Room for a VLAN tag or FCS some drivers leave on.
                if payload.len() > self.rx_max + 8 {
                    return Err(DropReason::EthOversize);
                }
                let dst = MacAddr(eth.destination);
                let src = MacAddr(eth.source);
                if dst != self.mac && !dst.is_broadcast() && !accepts(dst) {
                    return Err(DropReason::EthNotForUs);
                }
                if src == self.mac || src.is_multicast() {
                    return Err(DropReason::EthBadSource);
                }
                let kind = match eth.ether_type {
                    EtherType::ARP => Payload::Arp,
                    EtherType::IPV4 => Payload::Ipv4,
                    EtherType::IPV6 => Payload::Ipv6,
                    _ => Payload::Other,
                };
                Ok(Received {
                    dst,
                    src,
                    kind,
                    payload,
                })
            }
            Medium::Ip => {
                if frame.len() > self.rx_max {
                    return Err(DropReason::EthOversize);
                }
                let (kind, dst) = match frame.first().map(|b| b >> 4) {
                    Some(4) => {
                        // The destination address sits at bytes 16..20 of the IPv4 header;
                        // a shorter packet is the IPv4 layer's to drop as truncated.
                        let dst = frame
                            .get(16..20)
                            .and_then(|d| <[u8; 4]>::try_from(d).ok())
                            .map(core::net::Ipv4Addr::from)
                            .map_or(self.mac, |ip| {
                                if ip.is_broadcast() {
                                    MacAddr::BROADCAST
                                } else if ip.is_multicast() {
                                    MacAddr::for_ipv4_multicast(ip)
                                } else {
                                    self.mac
                                }
                            });
                        (Payload::Ipv4, dst)
                    }
                    Some(6) => {
                        let dst = frame
                            .get(24..40)
                            .and_then(|d| <[u8; 16]>::try_from(d).ok())
                            .map(core::net::Ipv6Addr::from)
                            .filter(core::net::Ipv6Addr::is_multicast)
                            .map_or(self.mac, crate::ipv6::multicast_mac);
                        (Payload::Ipv6, dst)
                    }
                    // Neither IPv4 nor IPv6 (or an empty packet): nothing we speak.
                    _ => (Payload::Other, self.mac),
                };
                Ok(Received {
                    dst,
                    src: MacAddr::ZERO,
                    kind,
                    payload: frame,
                })
            }
        }
    }

    /// Clears `out` and writes the link header of a frame to `to` carrying `kind`.
    pub(super) fn begin(&self, out: &mut Vec<u8>, to: MacAddr, kind: EtherType) {
        out.clear();
        self.write_header(out, to, kind);
    }

    /// Appends the link header of a frame to `to` carrying `kind`.
    pub(super) fn write_header(&self, out: &mut Vec<u8>, to: MacAddr, kind: EtherType) {
        match self.medium {
            Medium::Ethernet => {
                let h = Ethernet2Header {
                    destination: to.0,
                    source: self.mac.0,
                    ether_type: kind,
                };
                out.extend_from_slice(&h.to_bytes());
            }
            Medium::Ip => {}
        }
    }
}

impl Interface {
    /// Puts an IP packet on the wire toward the next hop at `to`: one frame for each piece of
    /// `plan` (`(offset, length, more_fragments)` of `payload`), `header` writing the IP
    /// header(s) of each piece. Returns the frames sent.
    pub(super) fn transmit_pieces(
        &mut self,
        to: MacAddr,
        kind: EtherType,
        payload: &[u8],
        plan: impl Iterator<Item = (usize, usize, bool)>,
        mut header: impl FnMut(&mut Vec<u8>, usize, usize, bool),
        emit: &mut dyn FnMut(&[u8]),
    ) -> u64 {
        let mut frame = std::mem::take(&mut self.link.frame);
        let mut pieces = 0;
        for (offset, len, more) in plan {
            self.link.begin(&mut frame, to, kind);
            header(&mut frame, offset, len, more);
            frame.extend_from_slice(payload.get(offset..offset + len).unwrap_or_default());
            self.transmit(&frame, emit);
            pieces += 1;
        }
        self.link.frame = frame;
        pieces
    }

    /// Hands a finished frame to the device.
    pub(super) fn transmit(&mut self, frame: &[u8], emit: &mut dyn FnMut(&[u8])) {
        self.stats.tx_frames += 1;
        self.stats.tx_bytes += frame.len() as u64;
        emit(frame);
    }
}
