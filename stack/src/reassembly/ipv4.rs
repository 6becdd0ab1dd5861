//! The IPv4 layer of reassembly (RFC 791 3.2): fragments are keyed by source, destination,
//! protocol and identification; the table itself is the shared [`super::Reassembler`].

use core::net::{IpAddr, Ipv4Addr};

pub use super::{Bounds, Outcome, Source};

/// Fragments belong together when these match (RFC 791: source, destination, protocol, id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Protocol number.
    pub protocol: u8,
    /// Identification.
    pub ident: u16,
}

impl super::Source for Key {
    fn source(&self) -> IpAddr {
        IpAddr::V4(self.src)
    }
}

/// The IPv4 reassembly table.
pub type Reassembler = super::Reassembler<Key>;
