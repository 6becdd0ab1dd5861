//! Neighbor Discovery for IPv6 (RFC 4861): Router Solicitation and Advertisement, Neighbor
//! Solicitation and Advertisement, Redirect (parsed only), and the options a host uses
//! (source/target link-layer address, prefix information, MTU; RFC 4861 4.6).
//!
//! [`parse`] applies the validity checks of RFC 4861 6.1.1, 6.1.2, 7.1.1, 7.1.2 and 8.1, each
//! failure a distinct [`Error`], on a message whose ICMPv6 checksum [`super::icmp::parse`] has
//! already verified. [`emit`] writes messages with their checksum.

use core::net::Ipv6Addr;

use super::icmp;
use crate::ethernet::MacAddr;

/// The hop limit every NDP message is sent and must be received with (RFC 4861 6.1, 7.1).
pub const HOP_LIMIT: u8 = 255;

/// Why an NDP message is invalid (and silently discarded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Not an NDP type (133-137).
    NotNdp,
    /// Shorter than the fixed part of its type.
    Truncated,
    /// IP hop limit is not 255: the message crossed a router.
    HopLimit,
    /// ICMP code is not 0.
    Code,
    /// An option with length 0.
    ZeroOptionLength,
    /// An option running past the end of the message.
    OptionOverrun,
    /// A link-layer address option whose length is not 1 (8 bytes, Ethernet).
    BadLinkLayerOption,
    /// A prefix information option whose length is not 4 or prefix length over 128.
    BadPrefixOption,
    /// An MTU option whose length is not 1.
    BadMtuOption,
    /// Target address of an NS, NA or Redirect is multicast.
    MulticastTarget,
    /// Unspecified source with a source link-layer address option (RFC 4861 6.1.1, 7.1.1).
    UnspecifiedSourceWithLinkLayer,
    /// NS from the unspecified source not sent to a solicited-node address (RFC 4861 7.1.1).
    UnspecifiedSourceNotSolicitedNode,
    /// NA to a multicast address with the Solicited flag set (RFC 4861 7.1.2).
    SolicitedToMulticast,
    /// RA or Redirect from a source that is not link-local (RFC 4861 6.1.2, 8.1).
    SourceNotLinkLocal,
    /// Redirect whose destination is multicast (RFC 4861 8.1).
    MulticastRedirectDestination,
    /// Redirect whose target is neither link-local nor the destination (RFC 4861 8.1).
    RedirectTargetInvalid,
}

/// A Prefix Information option (RFC 4861 4.6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrefixInfo {
    /// Prefix length in bits.
    pub prefix_len: u8,
    /// L flag: the prefix is on-link.
    pub on_link: bool,
    /// A flag: usable for stateless address autoconfiguration (RFC 4862).
    pub autonomous: bool,
    /// Valid lifetime in seconds (`u32::MAX`: infinity).
    pub valid_lifetime: u32,
    /// Preferred lifetime in seconds.
    pub preferred_lifetime: u32,
    /// The prefix.
    pub prefix: Ipv6Addr,
}

/// One NDP option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NdpOption<'a> {
    /// Source link-layer address (type 1).
    SourceLinkLayer(MacAddr),
    /// Target link-layer address (type 2).
    TargetLinkLayer(MacAddr),
    /// Prefix information (type 3).
    Prefix(PrefixInfo),
    /// MTU (type 5).
    Mtu(u32),
    /// Anything else (redirected header, ...), ignored by hosts unless they know it (RFC 4861 4.6).
    Other {
        /// Option type.
        kind: u8,
        /// The whole option.
        data: &'a [u8],
    },
}

/// The options of a message, already validated by [`parse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options<'a>(&'a [u8]);

impl<'a> Options<'a> {
    /// The options in order.
    pub fn iter(&self) -> impl Iterator<Item = NdpOption<'a>> + 'a {
        let mut rest = self.0;
        core::iter::from_fn(move || {
            let (opt, tail) = next_option(rest).ok().flatten()?;
            rest = tail;
            Some(opt)
        })
    }

    /// The prefix information options.
    pub fn prefixes(&self) -> impl Iterator<Item = PrefixInfo> + 'a {
        self.iter().filter_map(|o| match o {
            NdpOption::Prefix(p) => Some(p),
            _ => None,
        })
    }
}

fn mac(b: &[u8]) -> Option<MacAddr> {
    let s = b.get(..6)?;
    let mut m = [0u8; 6];
    m.copy_from_slice(s);
    Some(MacAddr(m))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn addr(b: &[u8], at: usize) -> Option<Ipv6Addr> {
    let s = b.get(at..at + 16)?;
    let mut a = [0u8; 16];
    a.copy_from_slice(s);
    Some(Ipv6Addr::from(a))
}

/// Splits the first option off `buf`; `None` at the end.
fn next_option(buf: &[u8]) -> Result<Option<(NdpOption<'_>, &[u8])>, Error> {
    if buf.is_empty() {
        return Ok(None);
    }
    let (Some(&kind), Some(&units)) = (buf.first(), buf.get(1)) else {
        return Err(Error::OptionOverrun);
    };
    if units == 0 {
        return Err(Error::ZeroOptionLength);
    }
    let len = usize::from(units) * 8;
    let (Some(data), Some(tail)) = (buf.get(..len), buf.get(len..)) else {
        return Err(Error::OptionOverrun);
    };
    let opt = match kind {
        1 | 2 => {
            let m = (units == 1)
                .then(|| mac(data.get(2..).unwrap_or(&[])))
                .flatten()
                .ok_or(Error::BadLinkLayerOption)?;
            if kind == 1 {
                NdpOption::SourceLinkLayer(m)
            } else {
                NdpOption::TargetLinkLayer(m)
            }
        }
        3 => {
            let (Some(&prefix_len), Some(&flags), Some(valid), Some(preferred), Some(prefix)) = (
                data.get(2),
                data.get(3),
                be32(data, 4),
                be32(data, 8),
                addr(data, 16),
            ) else {
                return Err(Error::BadPrefixOption);
            };
            if units != 4 || prefix_len > 128 {
                return Err(Error::BadPrefixOption);
            }
            NdpOption::Prefix(PrefixInfo {
                prefix_len,
                on_link: flags & 0x80 != 0,
                autonomous: flags & 0x40 != 0,
                valid_lifetime: valid,
                preferred_lifetime: preferred,
                prefix,
            })
        }
        5 => match (units, be32(data, 4)) {
            (1, Some(mtu)) => NdpOption::Mtu(mtu),
            _ => return Err(Error::BadMtuOption),
        },
        _ => NdpOption::Other { kind, data },
    };
    Ok(Some((opt, tail)))
}

/// A received NDP message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// Router Solicitation (133).
    RouterSolicit {
        /// Source link-layer address option.
        source_ll: Option<MacAddr>,
    },
    /// Router Advertisement (134).
    RouterAdvert {
        /// Hop limit hosts should use (0: unspecified).
        cur_hop_limit: u8,
        /// M flag: addresses by DHCPv6.
        managed: bool,
        /// O flag: other configuration by DHCPv6.
        other: bool,
        /// Router lifetime in seconds (0: not a default router).
        router_lifetime: u16,
        /// Reachable time in milliseconds (0: unspecified).
        reachable_time: u32,
        /// Retransmission timer in milliseconds (0: unspecified).
        retrans_timer: u32,
        /// Source link-layer address option.
        source_ll: Option<MacAddr>,
        /// MTU option.
        mtu: Option<u32>,
        /// All options (prefixes through [`Options::prefixes`]).
        options: Options<'a>,
    },
    /// Neighbor Solicitation (135).
    NeighborSolicit {
        /// The address being resolved or checked.
        target: Ipv6Addr,
        /// Source link-layer address option.
        source_ll: Option<MacAddr>,
    },
    /// Neighbor Advertisement (136).
    NeighborAdvert {
        /// R flag: the sender is a router.
        router: bool,
        /// S flag: sent in answer to a solicitation.
        solicited: bool,
        /// O flag: override an existing cache entry.
        override_entry: bool,
        /// The advertised address.
        target: Ipv6Addr,
        /// Target link-layer address option.
        target_ll: Option<MacAddr>,
    },
    /// Redirect (137).
    Redirect {
        /// The better first hop.
        target: Ipv6Addr,
        /// The destination being redirected.
        destination: Ipv6Addr,
        /// Target link-layer address option.
        target_ll: Option<MacAddr>,
    },
}

/// The IP-layer facts NDP validation needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpInfo {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Hop limit as received.
    pub hop_limit: u8,
}

/// Parses and validates an NDP message (the whole ICMPv6 message, checksum already checked).
///
/// # Errors
/// The first failed check, as an [`Error`].
pub fn parse<'a>(ip: &IpInfo, msg: &'a [u8]) -> Result<Message<'a>, Error> {
    let (Some(&kind), Some(&code)) = (msg.first(), msg.get(1)) else {
        return Err(Error::Truncated);
    };
    let fixed = match kind {
        133 => 8,
        134 => 16,
        135 | 136 => 24,
        137 => 40,
        _ => return Err(Error::NotNdp),
    };
    if ip.hop_limit != HOP_LIMIT {
        return Err(Error::HopLimit);
    }
    if code != 0 {
        return Err(Error::Code);
    }
    let Some(raw) = msg.get(fixed..) else {
        return Err(Error::Truncated);
    };
    let (mut source_ll, mut target_ll, mut mtu) = (None, None, None);
    let mut rest = raw;
    while let Some((opt, tail)) = next_option(rest)? {
        match opt {
            NdpOption::SourceLinkLayer(m) => source_ll = source_ll.or(Some(m)),
            NdpOption::TargetLinkLayer(m) => target_ll = target_ll.or(Some(m)),
            NdpOption::Mtu(m) => mtu = mtu.or(Some(m)),
            _ => {}
        }
        rest = tail;
    }
    let unspecified = ip.src.is_unspecified();
    let target = addr(msg, 8);
    match kind {
        133 => {
            if unspecified && source_ll.is_some() {
                return Err(Error::UnspecifiedSourceWithLinkLayer);
            }
            Ok(Message::RouterSolicit { source_ll })
        }
        134 => {
            if !super::is_link_local(ip.src) {
                return Err(Error::SourceNotLinkLocal);
            }
            let (Some(&cur_hop_limit), Some(&flags), Some(life), Some(reach), Some(retrans)) = (
                msg.get(4),
                msg.get(5),
                msg.get(6..8),
                be32(msg, 8),
                be32(msg, 12),
            ) else {
                return Err(Error::Truncated);
            };
            Ok(Message::RouterAdvert {
                cur_hop_limit,
                managed: flags & 0x80 != 0,
                other: flags & 0x40 != 0,
                router_lifetime: u16::from_be_bytes([life[0], life[1]]),
                reachable_time: reach,
                retrans_timer: retrans,
                source_ll,
                mtu,
                options: Options(raw),
            })
        }
        135 => {
            let target = target.ok_or(Error::Truncated)?;
            if target.is_multicast() {
                return Err(Error::MulticastTarget);
            }
            if unspecified && !super::is_solicited_node(ip.dst) {
                return Err(Error::UnspecifiedSourceNotSolicitedNode);
            }
            if unspecified && source_ll.is_some() {
                return Err(Error::UnspecifiedSourceWithLinkLayer);
            }
            Ok(Message::NeighborSolicit { target, source_ll })
        }
        136 => {
            let target = target.ok_or(Error::Truncated)?;
            let flags = msg.get(4).copied().unwrap_or(0);
            if target.is_multicast() {
                return Err(Error::MulticastTarget);
            }
            let solicited = flags & 0x40 != 0;
            if solicited && ip.dst.is_multicast() {
                return Err(Error::SolicitedToMulticast);
            }
            Ok(Message::NeighborAdvert {
                router: flags & 0x80 != 0,
                solicited,
                override_entry: flags & 0x20 != 0,
                target,
                target_ll,
            })
        }
        _ => {
            let (Some(target), Some(destination)) = (target, addr(msg, 24)) else {
                return Err(Error::Truncated);
            };
            if !super::is_link_local(ip.src) {
                return Err(Error::SourceNotLinkLocal);
            }
            if destination.is_multicast() {
                return Err(Error::MulticastRedirectDestination);
            }
            if target.is_multicast() {
                return Err(Error::MulticastTarget);
            }
            if !super::is_link_local(target) && target != destination {
                return Err(Error::RedirectTargetInvalid);
            }
            Ok(Message::Redirect {
                target,
                destination,
                target_ll,
            })
        }
    }
}

/// An NDP message to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repr<'a> {
    /// Router Solicitation; no link-layer option from the unspecified address.
    RouterSolicit {
        /// Our link-layer address.
        source_ll: Option<MacAddr>,
    },
    /// Router Advertisement.
    RouterAdvert {
        /// Hop limit hosts should use.
        cur_hop_limit: u8,
        /// M flag.
        managed: bool,
        /// O flag.
        other: bool,
        /// Router lifetime in seconds.
        router_lifetime: u16,
        /// Reachable time in milliseconds.
        reachable_time: u32,
        /// Retransmission timer in milliseconds.
        retrans_timer: u32,
        /// Our link-layer address.
        source_ll: Option<MacAddr>,
        /// Link MTU.
        mtu: Option<u32>,
        /// Prefixes.
        prefixes: &'a [PrefixInfo],
    },
    /// Neighbor Solicitation (address resolution, unreachability detection or, from the
    /// unspecified address without `source_ll`, duplicate address detection).
    NeighborSolicit {
        /// The address asked about.
        target: Ipv6Addr,
        /// Our link-layer address.
        source_ll: Option<MacAddr>,
    },
    /// Neighbor Advertisement.
    NeighborAdvert {
        /// R flag.
        router: bool,
        /// S flag.
        solicited: bool,
        /// O flag.
        override_entry: bool,
        /// The advertised address.
        target: Ipv6Addr,
        /// Our link-layer address.
        target_ll: Option<MacAddr>,
    },
}

fn ll_option(out: &mut Vec<u8>, kind: u8, m: Option<MacAddr>) {
    if let Some(m) = m {
        out.extend_from_slice(&[kind, 1]);
        out.extend_from_slice(&m.0);
    }
}

/// Appends the ICMPv6 message for `repr` from `src` to `dst`, checksum included. Send it with
/// hop limit [`HOP_LIMIT`].
pub fn emit(out: &mut Vec<u8>, src: Ipv6Addr, dst: Ipv6Addr, repr: &Repr<'_>) {
    let start = out.len();
    match *repr {
        Repr::RouterSolicit { source_ll } => {
            out.extend_from_slice(&[133, 0, 0, 0, 0, 0, 0, 0]);
            ll_option(out, 1, source_ll);
        }
        Repr::RouterAdvert {
            cur_hop_limit,
            managed,
            other,
            router_lifetime,
            reachable_time,
            retrans_timer,
            source_ll,
            mtu,
            prefixes,
        } => {
            let flags = (u8::from(managed) << 7) | (u8::from(other) << 6);
            out.extend_from_slice(&[134, 0, 0, 0, cur_hop_limit, flags]);
            out.extend_from_slice(&router_lifetime.to_be_bytes());
            out.extend_from_slice(&reachable_time.to_be_bytes());
            out.extend_from_slice(&retrans_timer.to_be_bytes());
            ll_option(out, 1, source_ll);
            if let Some(mtu) = mtu {
                out.extend_from_slice(&[5, 1, 0, 0]);
                out.extend_from_slice(&mtu.to_be_bytes());
            }
            for p in prefixes {
                let flags = (u8::from(p.on_link) << 7) | (u8::from(p.autonomous) << 6);
                out.extend_from_slice(&[3, 4, p.prefix_len, flags]);
                out.extend_from_slice(&p.valid_lifetime.to_be_bytes());
                out.extend_from_slice(&p.preferred_lifetime.to_be_bytes());
                out.extend_from_slice(&[0; 4]);
                out.extend_from_slice(&p.prefix.octets());
            }
        }
        Repr::NeighborSolicit { target, source_ll } => {
            out.extend_from_slice(&[135, 0, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&target.octets());
            ll_option(out, 1, source_ll);
        }
        Repr::NeighborAdvert {
            router,
            solicited,
            override_entry,
            target,
            target_ll,
        } => {
            let flags = (u8::from(router) << 7)
                | (u8::from(solicited) << 6)
                | (u8::from(override_entry) << 5);
            out.extend_from_slice(&[136, 0, 0, 0, flags, 0, 0, 0]);
            out.extend_from_slice(&target.octets());
            ll_option(out, 2, target_ll);
        }
    }
    icmp::fill_checksum(out, start, src, dst);
}

#[cfg(test)]
mod tests {
    use super::super::icmp::{self as icmp6, Message as Icmp};
    use super::*;

    const MAC: MacAddr = MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn info(src: &str, dst: &str) -> IpInfo {
        IpInfo {
            src: a(src),
            dst: a(dst),
            hop_limit: 255,
        }
    }

    /// A Linux address-resolution NS for fe80::2 from fe80::5054:ff:fe12:3456, to the
    /// solicited-node group, with a source link-layer address option.
    fn linux_ns() -> Vec<u8> {
        let mut m = vec![135, 0, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&a("fe80::2").octets());
        m.extend_from_slice(&[1, 1, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
        let (src, dst) = (a("fe80::5054:ff:fe12:3456"), a("ff02::1:ff00:2"));
        icmp::fill_checksum(&mut m, 0, src, dst);
        m
    }

    /// A router advertisement as radvd sends it: hop limit 64, O flag, lifetime 1800 s, MTU 1500,
    /// prefix 2001:db8::/64 with L and A, lifetimes 86400/14400.
    fn radvd_ra() -> Vec<u8> {
        let mut m = vec![134, 0, 0, 0, 64, 0x40, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&[1, 1, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
        m.extend_from_slice(&[5, 1, 0, 0, 0, 0, 0x05, 0xdc]);
        m.extend_from_slice(&[
            3, 4, 64, 0xc0, 0, 1, 0x51, 0x80, 0, 0, 0x38, 0x40, 0, 0, 0, 0,
        ]);
        m.extend_from_slice(&a("2001:db8::").octets());
        m
    }

    const PREFIX: PrefixInfo = PrefixInfo {
        prefix_len: 64,
        on_link: true,
        autonomous: true,
        valid_lifetime: 86_400,
        preferred_lifetime: 14_400,
        prefix: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
    };

    #[test]
    fn neighbor_solicit_vector() {
        let m = linux_ns();
        let ip = info("fe80::5054:ff:fe12:3456", "ff02::1:ff00:2");
        assert!(matches!(
            icmp6::parse(ip.src, ip.dst, &m),
            Ok(Icmp::Other { kind: 135, .. })
        ));
        assert_eq!(
            parse(&ip, &m),
            Ok(Message::NeighborSolicit {
                target: a("fe80::2"),
                source_ll: Some(MAC)
            })
        );
        let mut out = Vec::new();
        emit(
            &mut out,
            ip.src,
            ip.dst,
            &Repr::NeighborSolicit {
                target: a("fe80::2"),
                source_ll: Some(MAC),
            },
        );
        assert_eq!(out, m, "emit matches the vector, checksum included");
    }

    #[test]
    fn router_advert_vector() {
        let m = radvd_ra();
        let ip = info("fe80::1", "ff02::1");
        let Ok(Message::RouterAdvert {
            cur_hop_limit,
            managed,
            other,
            router_lifetime,
            reachable_time,
            retrans_timer,
            source_ll,
            mtu,
            options,
        }) = parse(&ip, &m)
        else {
            panic!("{:?}", parse(&ip, &m));
        };
        assert_eq!((cur_hop_limit, managed, other), (64, false, true));
        assert_eq!(
            (router_lifetime, reachable_time, retrans_timer),
            (1800, 0, 0)
        );
        assert_eq!((source_ll, mtu), (Some(MAC), Some(1500)));
        assert_eq!(options.prefixes().collect::<Vec<_>>(), [PREFIX]);
        assert_eq!(options.iter().count(), 3);
        let mut out = Vec::new();
        emit(
            &mut out,
            ip.src,
            ip.dst,
            &Repr::RouterAdvert {
                cur_hop_limit: 64,
                managed: false,
                other: true,
                router_lifetime: 1800,
                reachable_time: 0,
                retrans_timer: 0,
                source_ll: Some(MAC),
                mtu: Some(1500),
                prefixes: &[PREFIX],
            },
        );
        assert_eq!(&out[4..], &m[4..]);
        assert_eq!(
            super::super::upper_layer_checksum(ip.src, ip.dst, 58, &out),
            0
        );
    }

    #[test]
    fn emitted_messages_parse_back() {
        let (src, dst) = (a("fe80::2"), a("fe80::5054:ff:fe12:3456"));
        let na = Repr::NeighborAdvert {
            router: false,
            solicited: true,
            override_entry: true,
            target: src,
            target_ll: Some(MAC),
        };
        let mut out = Vec::new();
        emit(&mut out, src, dst, &na);
        assert_eq!(out[4], 0x60);
        assert!(icmp6::parse(src, dst, &out).is_ok(), "checksum verifies");
        assert_eq!(
            parse(
                &IpInfo {
                    src,
                    dst,
                    hop_limit: 255
                },
                &out
            ),
            Ok(Message::NeighborAdvert {
                router: false,
                solicited: true,
                override_entry: true,
                target: src,
                target_ll: Some(MAC)
            })
        );
        let mut rs = Vec::new();
        let all_routers = a("ff02::2");
        emit(
            &mut rs,
            src,
            all_routers,
            &Repr::RouterSolicit {
                source_ll: Some(MAC),
            },
        );
        assert_eq!(rs.len(), 16);
        assert!(icmp6::parse(src, all_routers, &rs).is_ok());
        assert_eq!(
            parse(
                &IpInfo {
                    src,
                    dst: all_routers,
                    hop_limit: 255
                },
                &rs
            ),
            Ok(Message::RouterSolicit {
                source_ll: Some(MAC)
            })
        );
    }

    #[test]
    fn validation_failures() {
        let ns = linux_ns();
        let ip = info("fe80::5054:ff:fe12:3456", "ff02::1:ff00:2");
        let hop = IpInfo {
            hop_limit: 254,
            ..ip
        };
        assert_eq!(parse(&hop, &ns), Err(Error::HopLimit));
        let mut code = ns.clone();
        code[1] = 1;
        assert_eq!(parse(&ip, &code), Err(Error::Code));
        assert_eq!(parse(&ip, &ns[..20]), Err(Error::Truncated));
        let mut not = ns.clone();
        not[0] = 128;
        assert_eq!(parse(&ip, &not), Err(Error::NotNdp));
        let mut zero = ns.clone();
        zero[25] = 0;
        assert_eq!(parse(&ip, &zero), Err(Error::ZeroOptionLength));
        let mut over = ns.clone();
        over[25] = 2;
        assert_eq!(parse(&ip, &over), Err(Error::OptionOverrun));
        assert_eq!(parse(&ip, &ns[..30]), Err(Error::OptionOverrun));
        let mut mc = ns.clone();
        mc[8] = 0xff;
        assert_eq!(parse(&ip, &mc), Err(Error::MulticastTarget));
        // Duplicate address detection: unspecified source, solicited-node destination, no option.
        let dad = info("::", "ff02::1:ff00:2");
        assert_eq!(parse(&dad, &ns), Err(Error::UnspecifiedSourceWithLinkLayer));
        assert!(parse(&dad, &ns[..24]).is_ok());
        let dad_unicast = info("::", "fe80::2");
        assert_eq!(
            parse(&dad_unicast, &ns[..24]),
            Err(Error::UnspecifiedSourceNotSolicitedNode)
        );
        // RS from the unspecified address with a link-layer option.
        let mut rs = vec![133, 0, 0, 0, 0, 0, 0, 0, 1, 1];
        rs.extend_from_slice(&MAC.0);
        assert_eq!(
            parse(&info("::", "ff02::2"), &rs),
            Err(Error::UnspecifiedSourceWithLinkLayer)
        );
        let mut bad_ll = rs.clone();
        bad_ll[9] = 2;
        bad_ll.extend_from_slice(&[0; 8]);
        assert_eq!(
            parse(&info("fe80::1", "ff02::2"), &bad_ll),
            Err(Error::BadLinkLayerOption)
        );
        // NA: solicited to multicast.
        let mut na = vec![136, 0, 0, 0, 0x40, 0, 0, 0];
        na.extend_from_slice(&a("fe80::2").octets());
        assert_eq!(
            parse(&info("fe80::2", "ff02::1"), &na),
            Err(Error::SolicitedToMulticast)
        );
        assert!(parse(&info("fe80::2", "fe80::1"), &na).is_ok());
        // RA: global source, bad prefix and MTU options.
        let ra = radvd_ra();
        assert_eq!(
            parse(&info("2001:db8::1", "ff02::1"), &ra),
            Err(Error::SourceNotLinkLocal)
        );
        let router = info("fe80::1", "ff02::1");
        let mut plen = ra.clone();
        plen[34] = 129;
        assert_eq!(parse(&router, &plen), Err(Error::BadPrefixOption));
        let mut mtu3 = ra[..16].to_vec();
        mtu3.extend_from_slice(&[5, 2, 0, 0, 0, 0, 5, 0xdc, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(parse(&router, &mtu3), Err(Error::BadMtuOption));
        let mut short_prefix = ra[..16].to_vec();
        short_prefix.extend_from_slice(&[3, 3]);
        short_prefix.resize(40, 0);
        assert_eq!(parse(&router, &short_prefix), Err(Error::BadPrefixOption));
        // Unknown options are skipped.
        let mut unknown = ra[..16].to_vec();
        unknown.extend_from_slice(&[200, 1, 0, 0, 0, 0, 0, 0]);
        assert!(parse(&router, &unknown).is_ok());
    }

    #[test]
    fn redirect_checks() {
        let mut r = vec![137, 0, 0, 0, 0, 0, 0, 0];
        r.extend_from_slice(&a("fe80::9").octets());
        r.extend_from_slice(&a("2001:db8::7").octets());
        let router = info("fe80::1", "fe80::2");
        assert_eq!(
            parse(&router, &r),
            Ok(Message::Redirect {
                target: a("fe80::9"),
                destination: a("2001:db8::7"),
                target_ll: None
            })
        );
        assert_eq!(
            parse(&info("2001:db8::1", "fe80::2"), &r),
            Err(Error::SourceNotLinkLocal)
        );
        let mut off_link = r.clone();
        off_link[8] = 0x20;
        assert_eq!(parse(&router, &off_link), Err(Error::RedirectTargetInvalid));
        let mut mc = r.clone();
        mc[24] = 0xff;
        assert_eq!(
            parse(&router, &mc),
            Err(Error::MulticastRedirectDestination)
        );
        assert_eq!(parse(&router, &r[..39]), Err(Error::Truncated));
    }
}
