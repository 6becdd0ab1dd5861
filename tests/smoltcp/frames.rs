//! Decoding recorded frames with smoltcp's wire module, for assertions about what crossed the wire.

use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol, IpProtocol,
    Ipv4Address, Ipv4Packet,
};

/// A frame, decoded as far as the tests need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// An ARP packet.
    Arp {
        /// Ethernet destination.
        eth_dst: EthernetAddress,
        /// Request or reply.
        op: ArpOperation,
        /// Sender MAC.
        sender_mac: EthernetAddress,
        /// Sender IP.
        sender_ip: Ipv4Address,
        /// Target MAC.
        target_mac: EthernetAddress,
        /// Target IP.
        target_ip: Ipv4Address,
    },
    /// An IPv4 packet (possibly a fragment).
    Ipv4 {
        /// Ethernet destination.
        eth_dst: EthernetAddress,
        /// Source.
        src: Ipv4Address,
        /// Destination.
        dst: Ipv4Address,
        /// Transport protocol.
        protocol: IpProtocol,
        /// Identification.
        ident: u16,
        /// More fragments follow.
        more_frags: bool,
        /// Fragment offset in bytes.
        frag_offset: u16,
        /// Header checksum verified.
        checksum_ok: bool,
        /// The IP payload (of this fragment).
        payload: Vec<u8>,
    },
    /// Any other EtherType.
    Other(EthernetProtocol),
    /// Not a well-formed frame.
    Malformed,
}

impl Decoded {
    /// True for an IPv4 fragment (not a whole datagram).
    pub fn is_fragment(&self) -> bool {
        matches!(self, Decoded::Ipv4 { more_frags, frag_offset, .. } if *more_frags || *frag_offset != 0)
    }

    /// The Ethernet destination, for ARP and IPv4.
    pub fn eth_dst(&self) -> Option<EthernetAddress> {
        match self {
            Decoded::Arp { eth_dst, .. } | Decoded::Ipv4 { eth_dst, .. } => Some(*eth_dst),
            _ => None,
        }
    }
}

/// Decodes an Ethernet frame.
pub fn decode(frame: &[u8]) -> Decoded {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return Decoded::Malformed;
    };
    let eth_dst = eth.dst_addr();
    match eth.ethertype() {
        EthernetProtocol::Arp => {
            let repr = ArpPacket::new_checked(eth.payload()).and_then(|p| ArpRepr::parse(&p));
            match repr {
                Ok(ArpRepr::EthernetIpv4 {
                    operation,
                    source_hardware_addr,
                    source_protocol_addr,
                    target_hardware_addr,
                    target_protocol_addr,
                }) => Decoded::Arp {
                    eth_dst,
                    op: operation,
                    sender_mac: source_hardware_addr,
                    sender_ip: source_protocol_addr,
                    target_mac: target_hardware_addr,
                    target_ip: target_protocol_addr,
                },
                _ => Decoded::Malformed,
            }
        }
        EthernetProtocol::Ipv4 => match Ipv4Packet::new_checked(eth.payload()) {
            Ok(ip) => Decoded::Ipv4 {
                eth_dst,
                src: ip.src_addr(),
                dst: ip.dst_addr(),
                protocol: ip.next_header(),
                ident: ip.ident(),
                more_frags: ip.more_frags(),
                frag_offset: ip.frag_offset(),
                checksum_ok: ip.verify_checksum(),
                payload: ip.payload().to_vec(),
            },
            Err(_) => Decoded::Malformed,
        },
        other => Decoded::Other(other),
    }
}
