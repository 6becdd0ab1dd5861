//! Reading a capture: the TCP segment in each record, whatever its link type, gathered into
//! connections (bounded).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use anyhow::Result;
use tapstack::device::link::LinkType;

use super::{MAX_CONNECTIONS, MAX_SEGMENTS};
use crate::replay::{open_capture, read_error};

/// One TCP segment as the graph needs it.
#[derive(Clone, Debug)]
pub(super) struct Segment {
    /// Seconds since the capture's first record.
    pub(super) t: f64,
    pub(super) src: SocketAddr,
    pub(super) seq: u32,
    pub(super) ack: Option<u32>,
    pub(super) syn: bool,
    pub(super) len: u32,
    pub(super) window: u16,
    pub(super) wscale: Option<u8>,
    pub(super) sack: Vec<(u32, u32)>,
}

pub(super) fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

pub(super) fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

/// The TCP segment in an Ethernet frame (IPv4 or IPv6, VLAN tags skipped), or else in a bare IP
/// packet (a capture of link type RAW, as a TUN device gives), or `None`.
pub(super) fn decode(frame: &[u8], t: f64) -> Option<(Segment, SocketAddr)> {
    decode_ethernet(frame, t).or_else(|| {
        let ethertype = match frame.first()? >> 4 {
            4 => 0x0800,
            6 => 0x86dd,
            _ => return None,
        };
        decode_ip(ethertype, frame, t)
    })
}

pub(super) fn decode_ethernet(frame: &[u8], t: f64) -> Option<(Segment, SocketAddr)> {
    let mut at = 12;
    let mut ethertype = be16(frame, at)?;
    while matches!(ethertype, 0x8100 | 0x88a8) {
        at += 4;
        ethertype = be16(frame, at)?;
    }
    decode_ip(ethertype, frame.get(at + 2..)?, t)
}

/// The TCP segment in the IP packet `ip` of `ethertype`.
pub(super) fn decode_ip(ethertype: u16, ip: &[u8], t: f64) -> Option<(Segment, SocketAddr)> {
    let (src, dst, tcp) = match ethertype {
        0x0800 => {
            if ip.first()? >> 4 != 4 || ip.get(9)? != &6 {
                return None;
            }
            // Only first fragments carry the header.
            if be16(ip, 6)? & 0x1fff != 0 {
                return None;
            }
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            let total = usize::from(be16(ip, 2)?);
            let src = IpAddr::V4(Ipv4Addr::from(be32(ip, 12)?));
            let dst = IpAddr::V4(Ipv4Addr::from(be32(ip, 16)?));
            (src, dst, ip.get(ihl..total.min(ip.len()))?)
        }
        0x86dd => {
            if ip.first()? >> 4 != 6 || ip.get(6)? != &6 {
                return None;
            }
            let plen = usize::from(be16(ip, 4)?);
            let a: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let b: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            let end = (40 + plen).min(ip.len());
            (
                IpAddr::V6(Ipv6Addr::from(a)),
                IpAddr::V6(Ipv6Addr::from(b)),
                ip.get(40..end)?,
            )
        }
        _ => return None,
    };
    let off = usize::from(tcp.get(12)? >> 4) * 4;
    if off < 20 || off > tcp.len() {
        return None;
    }
    let flags = *tcp.get(13)?;
    let syn = flags & 0x02 != 0;
    let mut seg = Segment {
        t,
        src: SocketAddr::new(src, be16(tcp, 0)?),
        seq: be32(tcp, 4)?,
        ack: (flags & 0x10 != 0).then_some(be32(tcp, 8)?),
        syn,
        len: u32::try_from(tcp.len() - off).ok()?,
        window: be16(tcp, 14)?,
        wscale: None,
        sack: Vec::new(),
    };
    let dst = SocketAddr::new(dst, be16(tcp, 2)?);
    let mut opts = tcp.get(20..off)?;
    while let Some(&kind) = opts.first() {
        match kind {
            0 => break,
            1 => opts = opts.get(1..)?,
            _ => {
                let len = usize::from(*opts.get(1)?);
                if len < 2 {
                    break;
                }
                let body = opts.get(2..len)?;
                match kind {
                    3 if syn => seg.wscale = body.first().map(|s| (*s).min(14)),
                    5 => {
                        for b in body.chunks_exact(8).take(4) {
                            seg.sack.push((be32(b, 0)?, be32(b, 4)?));
                        }
                    }
                    _ => {}
                }
                opts = opts.get(len..)?;
            }
        }
    }
    Some((seg, dst))
}

/// One TCP connection: its two endpoints in the order first seen, and its segments.
#[derive(Debug)]
pub(super) struct Connection {
    pub(super) a: SocketAddr,
    pub(super) b: SocketAddr,
    pub(super) segments: Vec<Segment>,
    pub(super) left_out: u64,
}

impl Connection {
    pub(super) fn bytes_from(&self, who: SocketAddr) -> u64 {
        self.segments
            .iter()
            .filter(|s| s.src == who)
            .map(|s| u64::from(s.len))
            .sum()
    }

    /// The endpoint that sent more payload (the first one seen on a tie).
    pub(super) fn sender(&self) -> SocketAddr {
        if self.bytes_from(self.b) > self.bytes_from(self.a) {
            self.b
        } else {
            self.a
        }
    }

    pub(super) fn span(&self) -> (f64, f64) {
        let first = self.segments.first().map_or(0.0, |s| s.t);
        let last = self.segments.last().map_or(0.0, |s| s.t);
        (first, last)
    }
}

/// Every TCP connection of a capture, in the order they first appear.
pub(super) struct Capture {
    pub(super) connections: Vec<Connection>,
    pub(super) connections_left_out: u64,
}

pub(super) fn read_capture(path: &Path) -> Result<Capture> {
    let reader = open_capture(path)?;
    let mut connections: Vec<Connection> = Vec::new();
    let mut index: HashMap<(SocketAddr, SocketAddr), usize> = HashMap::new();
    let mut connections_left_out = 0u64;
    let mut kept = 0usize;
    let mut origin = None;
    for r in reader {
        let r = r.map_err(|e| read_error(path, e))?;
        let o = *origin.get_or_insert(r.timestamp);
        let t = r.timestamp.saturating_sub(o).as_secs_f64();
        // Ethernet frames as they are (VLAN tags skipped); any other link type by its own
        // header (cooked, loopback, raw IP).
        let decoded = match r.link {
            LinkType::Ethernet => decode(&r.data, t),
            _ => r
                .frame()
                .ok()
                .and_then(|f| decode_ip(f.protocol, f.payload, t)),
        };
        let Some((seg, dst)) = decoded else {
            continue;
        };
        let key = if seg.src <= dst {
            (seg.src, dst)
        } else {
            (dst, seg.src)
        };
        let i = match index.get(&key) {
            Some(&i) => i,
            None if connections.len() >= MAX_CONNECTIONS => {
                connections_left_out += 1;
                continue;
            }
            None => {
                connections.push(Connection {
                    a: seg.src,
                    b: dst,
                    segments: Vec::new(),
                    left_out: 0,
                });
                index.insert(key, connections.len() - 1);
                connections.len() - 1
            }
        };
        let Some(c) = connections.get_mut(i) else {
            continue;
        };
        if kept >= MAX_SEGMENTS {
            c.left_out += 1;
        } else {
            c.segments.push(seg);
            kept += 1;
        }
    }
    Ok(Capture {
        connections,
        connections_left_out,
    })
}
