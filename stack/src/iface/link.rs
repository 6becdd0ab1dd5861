//! The link layer under IP: framing (Ethernet II, RFC 894) and the receive filter.
//!
//! The IP layers meet the link through three questions only: "which IP packet does this
//! frame hand up, from which hardware address" ([`State::receive`]), "does the next hop need
//! resolving" ([`State::without_resolution`]; ARP and NDP answer when it does) and "put this
//! IP packet on the wire toward this next hop" ([`Interface::transmit_pieces`], or
//! [`State::begin`] for a frame written in place). A medium without link headers or
//! resolution (an IP-only device) is a new [`Medium`] arm here, with nothing to change in the
//! IP or transport layers.

use etherparse::{EtherType, Ethernet2Header};

use super::Interface;
use crate::ethernet::{self, MacAddr};
use crate::stats::DropReason;

/// What kind of link the interface sits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Medium {
    /// Ethernet II frames with 48-bit hardware addresses.
    Ethernet,
}

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
    /// The link destination (ours, broadcast or a group).
    pub(super) dst: MacAddr,
    /// The sender's hardware address.
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
    /// Reused for every frame written (no allocation per packet).
    pub(super) frame: Vec<u8>,
}

impl State {
    pub(super) fn new(mac: MacAddr, mtu: usize) -> Self {
        State {
            medium: Medium::Ethernet,
            mac,
            mtu,
            frame: Vec::with_capacity(mtu + ethernet::HEADER_LEN),
        }
    }

    /// Our hardware address.
    pub(super) fn mac(&self) -> MacAddr {
        self.mac
    }

    /// Bytes of link header in front of every packet.
    pub(super) fn header_len(&self) -> usize {
        match self.medium {
            Medium::Ethernet => ethernet::HEADER_LEN,
        }
    }

    /// The link address for a unicast next hop when the medium resolves none: an IP-only
    /// link has no link header, so any address does. `None` on Ethernet, where ARP or NDP
    /// finds it.
    pub(super) fn without_resolution(&self) -> Option<MacAddr> {
        match self.medium {
            Medium::Ethernet => None,
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
                if payload.len() > self.mtu + 8 {
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
