//! Filter expressions: evaluation over a frame. A read past the end rejects the frame, as BPF
//! does.

use super::*;

pub(super) struct Frame<'a> {
    /// The record's bytes, link header included.
    pub(super) data: &'a [u8],
    /// Where the network header starts and its EtherType, when the link is not Ethernet.
    pub(super) net: Option<(usize, u16)>,
}

/// A read past the end of the frame.
pub(super) struct Short;

pub(super) type EResult<T> = Result<T, Short>;

impl Frame<'_> {
    /// The Ethernet frame; a link without an Ethernet header rejects the frame.
    fn ethernet(&self) -> EResult<&[u8]> {
        match self.net {
            None => Ok(self.data),
            Some(_) => Err(Short),
        }
    }

    fn byte(&self, at: usize) -> EResult<u8> {
        self.data.get(at).copied().ok_or(Short)
    }

    fn load(&self, at: usize, size: u8) -> EResult<u32> {
        let end = at.checked_add(usize::from(size)).ok_or(Short)?;
        let bytes = self.data.get(at..end).ok_or(Short)?;
        Ok(bytes.iter().fold(0u32, |v, &b| (v << 8) | u32::from(b)))
    }

    /// Where the network header starts with `level` VLAN tags skipped, and its EtherType.
    fn link(&self, level: u8) -> EResult<(usize, u16)> {
        if let Some(net) = self.net {
            return if level == 0 { Ok(net) } else { Err(Short) };
        }
        let off = 14 + 4 * usize::from(level);
        let ty = self.load(off - 2, 2)?;
        Ok((off, ty as u16))
    }

    fn ethertype_is(&self, level: u8, ty: u16) -> EResult<bool> {
        Ok(self.link(level)?.1 == ty)
    }

    /// The IPv4 header offset, if this is IPv4.
    fn ipv4(&self, level: u8) -> EResult<Option<usize>> {
        let (off, ty) = self.link(level)?;
        Ok((ty == 0x0800).then_some(off))
    }

    fn ipv6(&self, level: u8) -> EResult<Option<usize>> {
        let (off, ty) = self.link(level)?;
        Ok((ty == 0x86dd).then_some(off))
    }

    /// The transport header offset over IPv4 when the protocol is `proto` and this is the
    /// first fragment (or not a fragment).
    fn transport4(&self, level: u8, proto: Option<u8>) -> EResult<Option<usize>> {
        let Some(ip) = self.ipv4(level)? else {
            return Ok(None);
        };
        let p = self.byte(ip + 9)?;
        if proto.is_some_and(|want| want != p) {
            return Ok(None);
        }
        if self.load(ip + 6, 2)? & 0x1fff != 0 {
            return Ok(None);
        }
        let ihl = usize::from(self.byte(ip)? & 0x0f) * 4;
        Ok(Some(ip + ihl))
    }
}

pub(super) fn dir_match(dir: Dir, src: bool, dst: bool) -> bool {
    match dir {
        Dir::Src => src,
        Dir::Dst => dst,
        Dir::Either => src || dst,
        Dir::Both => src && dst,
    }
}

pub(super) fn in_net(bytes: &[u8], addr: &IpAddr, prefix: u8) -> bool {
    let want: Vec<u8> = match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    if bytes.len() != want.len() {
        return false;
    }
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    if bytes[..full] != want[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    bytes[full] & mask == want[full] & mask
}

impl Node {
    pub(super) fn eval(&self, f: &Frame<'_>) -> EResult<bool> {
        match self {
            Node::And(a, b) => Ok(a.eval(f)? && b.eval(f)?),
            Node::Or(a, b) => Ok(a.eval(f)? || b.eval(f)?),
            Node::Not(a) => Ok(!a.eval(f)?),
            Node::Test { level, test } => test.eval(f, *level),
            Node::Rel {
                level,
                op,
                lhs,
                rhs,
            } => {
                let (Some(a), Some(b)) = (lhs.eval(f, *level)?, rhs.eval(f, *level)?) else {
                    return Ok(false);
                };
                Ok(match op {
                    RelOp::Eq => a == b,
                    RelOp::Ne => a != b,
                    RelOp::Lt => a < b,
                    RelOp::Le => a <= b,
                    RelOp::Gt => a > b,
                    RelOp::Ge => a >= b,
                })
            }
        }
    }
}

impl Arith {
    /// The value; `None` when a header it reads is absent (the relation is then false).
    fn eval(&self, f: &Frame<'_>, level: u8) -> EResult<Option<u32>> {
        Ok(Some(match self {
            Arith::Num(n) => *n,
            Arith::Len => u32::try_from(f.data.len()).unwrap_or(u32::MAX),
            Arith::Neg(a) => match a.eval(f, level)? {
                Some(v) => v.wrapping_neg(),
                None => return Ok(None),
            },
            Arith::Bin(op, a, b) => {
                let (Some(a), Some(b)) = (a.eval(f, level)?, b.eval(f, level)?) else {
                    return Ok(None);
                };
                match op {
                    BinOp::Add => a.wrapping_add(b),
                    BinOp::Sub => a.wrapping_sub(b),
                    BinOp::Mul => a.wrapping_mul(b),
                    // BPF rejects the frame on a division by zero.
                    BinOp::Div => a.checked_div(b).ok_or(Short)?,
                    BinOp::Mod => a.checked_rem(b).ok_or(Short)?,
                    BinOp::And => a & b,
                    BinOp::Or => a | b,
                    BinOp::Xor => a ^ b,
                    BinOp::Shl => a.checked_shl(b).unwrap_or(0),
                    BinOp::Shr => a.checked_shr(b).unwrap_or(0),
                }
            }
            Arith::Load {
                layer,
                offset,
                size,
            } => {
                let Some(off) = offset.eval(f, level)? else {
                    return Ok(None);
                };
                let off = usize::try_from(off).map_err(|_| Short)?;
                let base = match layer {
                    Layer::Ether => {
                        f.ethernet()?;
                        Some(0)
                    }
                    Layer::Ip => f.ipv4(level)?,
                    Layer::Ip6 => f.ipv6(level)?,
                    Layer::Arp => {
                        let (o, ty) = f.link(level)?;
                        matches!(ty, 0x0806 | 0x8035).then_some(o)
                    }
                    Layer::Transport4(p) => f.transport4(level, Some(*p))?,
                    Layer::Icmp6 => match f.ipv6(level)? {
                        Some(ip) if f.byte(ip + 6)? == 58 => Some(ip + 40),
                        _ => None,
                    },
                };
                let Some(base) = base else { return Ok(None) };
                f.load(base.checked_add(off).ok_or(Short)?, *size)?
            }
        }))
    }
}

impl Test {
    fn eval(&self, f: &Frame<'_>, level: u8) -> EResult<bool> {
        match *self {
            Test::EtherType(ty) => f.ethertype_is(level, ty),
            Test::IpProto { family, proto } => {
                if family != Family::V6 {
                    if let Some(ip) = f.ipv4(level)? {
                        return Ok(f.byte(ip + 9)? == proto);
                    }
                }
                if family != Family::V4 {
                    if let Some(ip) = f.ipv6(level)? {
                        // As libpcap: the next header, or the one after a fragment header.
                        let next = f.byte(ip + 6)?;
                        return Ok(next == proto || (next == 44 && f.byte(ip + 40)? == proto));
                    }
                }
                Ok(false)
            }
            Test::Net {
                proto,
                dir,
                ref addr,
                prefix,
            } => {
                let (off, ty) = f.link(level)?;
                let (src, dst) = match (addr, ty, proto) {
                    (IpAddr::V4(_), 0x0800, AddrProto::Any | AddrProto::Ip) => (off + 12, off + 16),
                    (IpAddr::V4(_), 0x0806, AddrProto::Any | AddrProto::Arp)
                    | (IpAddr::V4(_), 0x8035, AddrProto::Any | AddrProto::Rarp) => {
                        (off + 14, off + 24)
                    }
                    (IpAddr::V6(_), 0x86dd, AddrProto::Any | AddrProto::Ip6) => (off + 8, off + 24),
                    _ => return Ok(false),
                };
                let n = if addr.is_ipv4() { 4 } else { 16 };
                let s = f.data.get(src..src + n).ok_or(Short)?;
                let d = f.data.get(dst..dst + n).ok_or(Short)?;
                Ok(dir_match(
                    dir,
                    in_net(s, addr, prefix),
                    in_net(d, addr, prefix),
                ))
            }
            Test::Ether { dir, mac } => {
                let eth = f.ethernet()?;
                let d = eth.get(0..6).ok_or(Short)?;
                let s = eth.get(6..12).ok_or(Short)?;
                Ok(dir_match(dir, s == mac, d == mac))
            }
            Test::EtherBroadcast => Ok(f.ethernet()?.get(0..6).ok_or(Short)? == [0xff; 6]),
            Test::EtherMulticast => Ok(f.ethernet()?.first().ok_or(Short)? & 1 != 0),
            Test::Port {
                family,
                proto,
                dir,
                lo,
                hi,
            } => {
                let ok_proto = |p: u8| {
                    if proto == 0 {
                        matches!(p, 6 | 17 | 132)
                    } else {
                        p == proto
                    }
                };
                let mut l4 = None;
                if family != Family::V6 {
                    if let Some(ip) = f.ipv4(level)? {
                        if ok_proto(f.byte(ip + 9)?) {
                            l4 = f.transport4(level, None)?;
                        }
                    }
                }
                if family != Family::V4 && l4.is_none() {
                    if let Some(ip) = f.ipv6(level)? {
                        if ok_proto(f.byte(ip + 6)?) {
                            l4 = Some(ip + 40);
                        }
                    }
                }
                let Some(l4) = l4 else { return Ok(false) };
                let sp = f.load(l4, 2)? as u16;
                let dp = f.load(l4 + 2, 2)? as u16;
                let r = lo..=hi;
                Ok(dir_match(dir, r.contains(&sp), r.contains(&dp)))
            }
            Test::Vlan(id) => {
                // The tag at this level: TPID 0x8100, 0x88a8 or 0x9100.
                let (off, ty) = f.link(level)?;
                if !matches!(ty, 0x8100 | 0x88a8 | 0x9100) {
                    return Ok(false);
                }
                match id {
                    None => Ok(true),
                    Some(id) => Ok(f.load(off, 2)? & 0x0fff == u32::from(id)),
                }
            }
            Test::TcpFlag(bit) => match f.transport4(level, Some(6))? {
                Some(l4) => Ok(f.byte(l4 + 13)? & bit != 0),
                None => match f.ipv6(level)? {
                    Some(ip) if f.byte(ip + 6)? == 6 => Ok(f.byte(ip + 40 + 13)? & bit != 0),
                    _ => Ok(false),
                },
            },
            Test::Less(n) => Ok(f.data.len() as u64 <= u64::from(n)),
            Test::Greater(n) => Ok(f.data.len() as u64 >= u64::from(n)),
        }
    }
}
