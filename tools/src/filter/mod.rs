//! Capture filters: the subset of tcpdump's filter language (pcap-filter(7)) people type most,
//! for `tapstack dump` and `tapstack replay --filter`. Over Ethernet frames; on the other link
//! types (cooked, raw IP, loopback) the terms look at the network layer the link header carries,
//! and the Ethernet terms (`ether ...`, `vlan`) reject every frame, where tcpdump refuses them.
//!
//! ```text
//! arp | rarp | ip | ip6 | icmp | icmp6 | tcp | udp | sctp
//! [ip|ip6|arp|rarp] [src|dst|src or dst|src and dst] host ADDR       (IPv4 or IPv6)
//! [ip|ip6|arp|rarp] [src|dst|...] net ADDR/LEN | net ADDR mask MASK
//! [ip|ip6] [tcp|udp|sctp] [src|dst|...] port N | portrange N-M
//! ether [src|dst|...] [host] MAC | ether broadcast | ether multicast
//! ip proto N | ip6 proto N  (N a number or icmp, tcp, udp, ...)
//! vlan [ID]                 (later terms look inside the tag, as in tcpdump)
//! less N | greater N        (frame length)
//! tcp syn | tcp ack | tcp fin | tcp rst | tcp push | tcp urg | tcp ece | tcp cwr
//!                           (the simple spelling of a TCP flag test; "tcp syn and not tcp ack")
//! EXPR RELOP EXPR           (relations over lengths and header bytes, such as
//!                            tcp[tcpflags] & tcp-syn != 0, ip[6:2] & 0x1fff = 0, len > 100)
//! not | !   and | &&   or | ||   ( )
//! ```
//!
//! A bare address after a qualified term takes that term's qualifiers, as in tcpdump
//! (`host 10.0.0.1 or 10.0.0.2`, `port 53 or 80`). Numbers are decimal, or hex with `0x`.
//! Arithmetic: `+ - * / % & | ^ << >>`, and `len`; write spaces around `-`.
//!
//! The meaning follows tcpdump's, and the tests check it against tcpdump itself: `host` with an
//! IPv4 address also matches ARP and RARP addresses; `icmp6` and `tcp` over IPv6 look at the
//! IPv6 header's next header, or the one after a fragment header, and no further (an MLD
//! report behind a hop-by-hop header is not `icmp6`); `port` skips IPv4
//! fragments after the first; a relation that reads past the end of the frame rejects the
//! frame; `tcp[...]`, `udp[...]` and `icmp[...]` apply to IPv4 only; `icmp6[...]` reads after a
//! bare 40-byte IPv6 header. Host names are not resolved. A syntax error is one line naming the
//! position: `filter: expected an address after 'host' (at 6): host`.

use std::fmt;
use std::net::IpAddr;

use tapstack::device::capture::Record;
use tapstack::device::link::LinkType;

mod eval;
mod lex;
mod parse;

use eval::Frame;

/// A parsed filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    root: Node,
    text: String,
}

/// A syntax error: what was expected and where (a character offset into the expression).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    /// What went wrong.
    pub message: String,
    /// Character offset into the expression.
    pub at: usize,
    expression: String,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "filter: {} (at {}): {}",
            self.message, self.at, self.expression
        )
    }
}

impl std::error::Error for FilterError {}

impl Filter {
    /// Parses `text`.
    ///
    /// # Errors
    /// [`FilterError`] naming the position of the first mistake.
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        let root = parse::parse(text);
        match root {
            Ok(root) => Ok(Filter {
                root,
                text: text.to_owned(),
            }),
            Err((message, at)) => Err(FilterError {
                message,
                at,
                expression: text.to_owned(),
            }),
        }
    }

    /// The expression as given.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the Ethernet frame `frame` passes the filter.
    pub fn matches(&self, frame: &[u8]) -> bool {
        let f = Frame {
            data: frame,
            net: None,
        };
        self.root.eval(&f).unwrap_or(false)
    }

    /// Whether the capture record `r` passes the filter, whatever its link type.
    pub fn matches_record(&self, r: &Record) -> bool {
        if r.link == LinkType::Ethernet {
            return self.matches(&r.data);
        }
        let Ok(frame) = r.frame() else {
            return false;
        };
        // The network layer is what follows the link header, to the end of the record.
        let Some(at) = r.data.len().checked_sub(frame.payload.len()) else {
            return false;
        };
        let f = Frame {
            data: &r.data,
            net: Some((at, frame.protocol)),
        };
        self.root.eval(&f).unwrap_or(false)
    }
}

// The tree.

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Node {
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Not(Box<Node>),
    /// A primitive, read with `level` VLAN tags skipped.
    Test {
        level: u8,
        test: Test,
    },
    Rel {
        level: u8,
        op: RelOp,
        lhs: Arith,
        rhs: Arith,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RelOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Arith {
    Num(u32),
    Len,
    Load {
        layer: Layer,
        offset: Box<Arith>,
        size: u8,
    },
    Bin(BinOp, Box<Arith>, Box<Arith>),
    Neg(Box<Arith>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    And,
    Or,
    Xor,
    Shl,
    Shr,
}

/// The layer an index `proto[...]` counts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Layer {
    Ether,
    Ip,
    Ip6,
    Arp,
    /// A transport header over IPv4 (protocol number), first fragment only.
    Transport4(u8),
    Icmp6,
}

/// Which protocols a host or net test looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AddrProto {
    /// IPv4: IP, ARP and RARP; IPv6: IPv6.
    Any,
    Ip,
    Ip6,
    Arp,
    Rarp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Dir {
    Src,
    Dst,
    Either,
    Both,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Family {
    Any,
    V4,
    V6,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Test {
    EtherType(u16),
    IpProto {
        family: Family,
        proto: u8,
    },
    Net {
        proto: AddrProto,
        dir: Dir,
        addr: IpAddr,
        prefix: u8,
    },
    Ether {
        dir: Dir,
        mac: [u8; 6],
    },
    EtherBroadcast,
    EtherMulticast,
    Port {
        family: Family,
        /// 0: TCP, UDP or SCTP.
        proto: u8,
        dir: Dir,
        lo: u16,
        hi: u16,
    },
    Vlan(Option<u16>),
    TcpFlag(u8),
    Less(u32),
    Greater(u32),
}

#[cfg(test)]
mod tests;
