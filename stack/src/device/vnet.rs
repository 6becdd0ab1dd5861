//! The virtio-net header: what a TAP or TUN device opened with `IFF_VNET_HDR` puts in front of
//! every frame, each way (`struct virtio_net_hdr_v1` of `<linux/virtio_net.h>`, 12 bytes, in
//! the host's byte order).
//!
//! With it the kernel and the stack share the work a NIC would do:
//! - **Receive.** A frame marked `DATA_VALID` had its checksum checked by the kernel; one
//!   marked `NEEDS_CSUM` carries only the pseudo-header sum in its checksum field (the kernel's
//!   own packets, never on a wire), and [`receive`] fills the checksum in, so that the stack,
//!   a capture and a replay all see a correct frame. A frame with a GSO type is a run of
//!   in-order segments sent as one: a TCP one is taken whole (the stack takes a segment
//!   larger than its MSS as it takes any other); a UDP one (USO) is cut back into the
//!   datagrams it stands for ([`split_udp`]), since each is a message of its own.
//! - **Send.** A TCP segment larger than the MTU goes as one frame with `gso_size` set, and the
//!   kernel cuts it ([`transmit`]). Its `gso_size` is what a full-MTU segment carries with this
//!   segment's headers: the stack builds such frames only for connections whose segments
//!   fill the MTU.
//!
//! Everything here is a pure function of bytes, tested with byte vectors; the device
//! ([`super::tap`]) does the reads and writes.

use super::{FrameInfo, Medium};
use crate::checksum;

/// Bytes of the header (`virtio_net_hdr_v1`, set with `TUNSETVNETHDRSZ`).
pub const HEADER_LEN: usize = 12;
/// `flags`: the checksum field holds the pseudo-header sum; the rest is to be computed from
/// `csum_start` and stored at `csum_start + csum_offset`.
pub const NEEDS_CSUM: u8 = 1;
/// `flags`: the checksum was checked.
pub const DATA_VALID: u8 = 2;
/// `gso_type`: not a super-frame.
pub const GSO_NONE: u8 = 0;
/// `gso_type`: TCP over IPv4.
pub const GSO_TCPV4: u8 = 1;
/// `gso_type`: UDP fragmentation offload (UFO), which we do not offer.
pub const GSO_UDP: u8 = 3;
/// `gso_type`: TCP over IPv6.
pub const GSO_TCPV6: u8 = 4;
/// `gso_type`: UDP segmentation (USO): each `gso_size` bytes of payload is a datagram.
pub const GSO_UDP_L4: u8 = 5;
/// `gso_type` bit: the segments carry ECN's CWR as the first did.
pub const GSO_ECN: u8 = 0x80;

/// A virtio-net header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// [`NEEDS_CSUM`], [`DATA_VALID`].
    pub flags: u8,
    /// [`GSO_NONE`], [`GSO_TCPV4`], [`GSO_TCPV6`], [`GSO_UDP_L4`], with [`GSO_ECN`].
    pub gso_type: u8,
    /// Bytes of headers in front of the payload (link, IP and transport).
    pub hdr_len: u16,
    /// Payload bytes per segment of a super-frame.
    pub gso_size: u16,
    /// Where the checksummed part starts (the transport header).
    pub csum_start: u16,
    /// Where the checksum field is, from `csum_start`.
    pub csum_offset: u16,
}

impl Header {
    /// Reads a header from the front of `bytes`.
    pub fn parse(bytes: &[u8]) -> Option<Header> {
        let b = bytes.get(..HEADER_LEN)?;
        let u16_at = |i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
        Some(Header {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u16_at(2),
            gso_size: u16_at(4),
            csum_start: u16_at(6),
            csum_offset: u16_at(8),
        })
    }

    /// The header's bytes (`num_buffers` zero).
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_ne_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_ne_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_ne_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_ne_bytes());
        b
    }
}

/// Why a frame from the kernel was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxError {
    /// `csum_start` and `csum_offset` point past the frame.
    BadChecksumPlace,
    /// A GSO type the device did not ask for, or a super-frame it cannot read.
    BadGso,
}

/// Takes a frame the kernel handed over with `header`, fixing it up in place: a partial
/// checksum is completed when `fill` (for a capture, which must show the frame as a wire would
/// carry it); without, it is left partial, and the frame is taken as checked all the same (it
/// is the kernel's own, never on a wire). Says whether the stack need not check the checksum
/// again. A [`GSO_UDP_L4`] frame is for [`split_udp`], not here.
///
/// # Errors
/// [`RxError`] for a header that does not fit the frame.
pub fn receive(header: &Header, frame: &mut [u8], fill: bool) -> Result<FrameInfo, RxError> {
    match header.gso_type & !GSO_ECN {
        GSO_NONE | GSO_TCPV4 | GSO_TCPV6 => {}
        _ => return Err(RxError::BadGso),
    }
    if header.flags & NEEDS_CSUM != 0 {
        let (start, offset) = (
            usize::from(header.csum_start),
            usize::from(header.csum_offset),
        );
        if fill {
            complete_checksum(frame, start, offset)?;
        } else if start + offset + 2 > frame.len() {
            return Err(RxError::BadChecksumPlace);
        }
        return Ok(FrameInfo {
            checksum_valid: true,
        });
    }
    Ok(FrameInfo {
        checksum_valid: header.flags & DATA_VALID != 0,
    })
}

/// Completes a partial checksum: the one's complement sum from `start` to the end (the field
/// holds the pseudo-header sum), stored at `start + offset`. UDP's zero goes as 0xffff
/// (RFC 768).
///
/// # Errors
/// [`RxError::BadChecksumPlace`] when the field is not inside the frame.
pub fn complete_checksum(frame: &mut [u8], start: usize, offset: usize) -> Result<(), RxError> {
    let at = start.checked_add(offset).ok_or(RxError::BadChecksumPlace)?;
    if at + 2 > frame.len() {
        return Err(RxError::BadChecksumPlace);
    }
    let sum = checksum::finish(checksum::add(0, frame.get(start..).unwrap_or_default()));
    let sum = if sum == 0 && offset == 6 { 0xffff } else { sum };
    if let Some(field) = frame.get_mut(at..at + 2) {
        field.copy_from_slice(&sum.to_ne_bytes());
    }
    Ok(())
}

/// Where the IP header of a frame starts on `medium`, and its IP version (4 or 6), if the
/// frame carries IP.
fn ip_start(frame: &[u8], medium: Medium) -> Option<(usize, u8)> {
    match medium {
        Medium::Ethernet => match frame.get(12..14)? {
            [0x08, 0x00] => Some((14, 4)),
            [0x86, 0xdd] => Some((14, 6)),
            _ => None,
        },
        Medium::Ip => match frame.first()? >> 4 {
            4 => Some((0, 4)),
            6 => Some((0, 6)),
            _ => None,
        },
    }
}

/// The transport header's place, protocol and the pseudo-header sum for `len` bytes of it, for
/// an IP packet at `ip` in `frame` (IPv6 without extension headers).
fn transport(frame: &[u8], ip: usize, version: u8) -> Option<(usize, u8, Addresses)> {
    let hdr = frame.get(ip..)?;
    match version {
        4 => {
            let ihl = usize::from(hdr.first()? & 0x0f) * 4;
            let src: [u8; 4] = hdr.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = hdr.get(16..20)?.try_into().ok()?;
            (ihl >= 20).then_some((ip + ihl, *hdr.get(9)?, Addresses::V4(src, dst)))
        }
        _ => {
            let src: [u8; 16] = hdr.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = hdr.get(24..40)?.try_into().ok()?;
            Some((ip + 40, *hdr.get(6)?, Addresses::V6(src, dst)))
        }
    }
}

#[derive(Clone, Copy)]
enum Addresses {
    V4([u8; 4], [u8; 4]),
    V6([u8; 16], [u8; 16]),
}

impl Addresses {
    fn pseudo(self, protocol: u8, len: usize) -> u64 {
        match self {
            Addresses::V4(s, d) => checksum::pseudo_header_v4(s.into(), d.into(), protocol, len),
            Addresses::V6(s, d) => checksum::pseudo_header_v6(s.into(), d.into(), protocol, len),
        }
    }
}

/// The header for a frame the stack sends, fixing the frame up in place. A TCP segment whose
/// IP packet is larger than `mtu` becomes a super-frame: `gso_size` is what a segment with
/// these headers carries in `mtu`, and its checksum field is set to the pseudo-header sum for
/// the kernel to complete in each segment (`NEEDS_CSUM`). Any other frame goes as it is, its
/// checksums already filled in by the stack.
pub fn transmit(frame: &mut [u8], medium: Medium, mtu: usize) -> Header {
    let Some((ip, version)) = ip_start(frame, medium) else {
        return Header::default();
    };
    if frame.len() - ip <= mtu {
        return Header::default();
    }
    let Some((l4, 6, addrs)) = transport(frame, ip, version) else {
        return Header::default();
    };
    let Some(tcp_len) = frame.get(l4 + 12).map(|b| usize::from(b >> 4) * 4) else {
        return Header::default();
    };
    let headers = l4 + tcp_len;
    let Some(gso_size) = (mtu + ip)
        .checked_sub(headers)
        .filter(|&n| n > 0 && headers < frame.len())
    else {
        return Header::default();
    };
    let segment_len = frame.len() - l4;
    let partial = !checksum::finish(addrs.pseudo(6, segment_len));
    if let Some(field) = frame.get_mut(l4 + 16..l4 + 18) {
        field.copy_from_slice(&partial.to_ne_bytes());
    }
    Header {
        flags: NEEDS_CSUM,
        gso_type: if version == 4 { GSO_TCPV4 } else { GSO_TCPV6 },
        hdr_len: u16::try_from(headers).unwrap_or(u16::MAX),
        gso_size: u16::try_from(gso_size).unwrap_or(u16::MAX),
        csum_start: u16::try_from(l4).unwrap_or(u16::MAX),
        csum_offset: 16,
    }
}

/// Cuts a USO super-frame ([`GSO_UDP_L4`]) into the datagrams it stands for, each `gso_size`
/// bytes of payload (the last may be shorter), with its headers copied and its lengths, IPv4
/// identification and checksums set; hands each to `each`, built in `scratch`.
///
/// # Errors
/// [`RxError::BadGso`] when the frame is not UDP over IPv4 or IPv6, or `gso_size` is zero.
pub fn split_udp(
    header: &Header,
    frame: &[u8],
    medium: Medium,
    scratch: &mut Vec<u8>,
    mut each: impl FnMut(&[u8], FrameInfo),
) -> Result<usize, RxError> {
    let (ip, version) = ip_start(frame, medium).ok_or(RxError::BadGso)?;
    let Some((l4, 17, addrs)) = transport(frame, ip, version) else {
        return Err(RxError::BadGso);
    };
    let size = usize::from(header.gso_size);
    let payload = frame.get(l4 + 8..).ok_or(RxError::BadGso)?;
    if size == 0 {
        return Err(RxError::BadGso);
    }
    let headers = frame.get(..l4 + 8).ok_or(RxError::BadGso)?;
    let mut n = 0;
    for (i, chunk) in payload.chunks(size).enumerate() {
        scratch.clear();
        scratch.extend_from_slice(headers);
        scratch.extend_from_slice(chunk);
        let udp_len = 8 + chunk.len();
        if version == 4 {
            let total = u16::try_from(scratch.len() - ip).map_err(|_| RxError::BadGso)?;
            let id = u16::from_be_bytes([headers[ip + 4], headers[ip + 5]])
                .wrapping_add(u16::try_from(i).unwrap_or(0));
            scratch[ip + 2..ip + 4].copy_from_slice(&total.to_be_bytes());
            scratch[ip + 4..ip + 6].copy_from_slice(&id.to_be_bytes());
            scratch[ip + 10..ip + 12].copy_from_slice(&[0, 0]);
            let sum = checksum::finish(checksum::add(0, &scratch[ip..l4]));
            scratch[ip + 10..ip + 12].copy_from_slice(&sum.to_ne_bytes());
        } else {
            let plen = u16::try_from(scratch.len() - ip - 40).map_err(|_| RxError::BadGso)?;
            scratch[ip + 4..ip + 6].copy_from_slice(&plen.to_be_bytes());
        }
        let udp_len16 = u16::try_from(udp_len).map_err(|_| RxError::BadGso)?;
        scratch[l4 + 4..l4 + 6].copy_from_slice(&udp_len16.to_be_bytes());
        scratch[l4 + 6..l4 + 8].copy_from_slice(&[0, 0]);
        let sum = checksum::finish(checksum::add(addrs.pseudo(17, udp_len), &scratch[l4..]));
        let sum = if sum == 0 { 0xffff } else { sum };
        scratch[l4 + 6..l4 + 8].copy_from_slice(&sum.to_ne_bytes());
        each(
            scratch,
            FrameInfo {
                checksum_valid: true,
            },
        );
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::segment;
    use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    /// An Ethernet frame with an IPv4 header (checksum filled) and `l4` behind it.
    fn ipv4_frame(protocol: u8, l4: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 14];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let total = (20 + l4.len()) as u16;
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip[8] = 64;
        ip[9] = protocol;
        ip[12..16].copy_from_slice(&A.octets());
        ip[16..20].copy_from_slice(&B.octets());
        let sum = checksum::finish(checksum::add(0, &ip));
        ip[10..12].copy_from_slice(&sum.to_ne_bytes());
        f.extend_from_slice(&ip);
        f.extend_from_slice(l4);
        f
    }

    /// A TCP segment (20-byte header, ACK) with `payload` and its checksum filled in.
    fn tcp_segment(payload: &[u8]) -> Vec<u8> {
        let mut s = vec![0u8; 20];
        s[0..2].copy_from_slice(&80u16.to_be_bytes());
        s[2..4].copy_from_slice(&4000u16.to_be_bytes());
        s[12] = 5 << 4;
        s[13] = 0x10;
        s[14..16].copy_from_slice(&65535u16.to_be_bytes());
        s.extend_from_slice(payload);
        let sum = segment::checksum(A.into(), B.into(), &s);
        s[16..18].copy_from_slice(&sum.to_ne_bytes());
        s
    }

    #[test]
    fn headers_read_back_what_was_written() {
        let h = Header {
            flags: NEEDS_CSUM,
            gso_type: GSO_TCPV6,
            hdr_len: 86,
            gso_size: 1428,
            csum_start: 54,
            csum_offset: 16,
        };
        assert_eq!(Header::parse(&h.to_bytes()), Some(h));
        assert_eq!(Header::parse(&[0; 11]), None);
    }

    #[test]
    fn a_needs_csum_frame_gets_its_checksum_and_is_marked_checked() {
        let good = ipv4_frame(6, &tcp_segment(b"hello, kernel"));
        // What the kernel hands over: the field holds the pseudo-header sum only.
        let mut partial = good.clone();
        let seg_len = good.len() - 34;
        let pseudo = !checksum::finish(checksum::pseudo_header_v4(A, B, 6, seg_len));
        partial[34 + 16..34 + 18].copy_from_slice(&pseudo.to_ne_bytes());
        assert_ne!(partial, good);
        let h = Header {
            flags: NEEDS_CSUM,
            csum_start: 34,
            csum_offset: 16,
            ..Header::default()
        };
        let info = receive(&h, &mut partial, true).unwrap();
        assert!(info.checksum_valid);
        assert_eq!(partial, good, "the checksum is the one the stack computes");
        // Left partial when no capture needs it: still taken as checked, bytes untouched.
        let mut left = good.clone();
        left[34 + 16..34 + 18].copy_from_slice(&pseudo.to_ne_bytes());
        let before = left.clone();
        assert!(receive(&h, &mut left, false).unwrap().checksum_valid);
        assert_eq!(left, before);
        // A field past the end is refused, not written.
        let bad = Header {
            csum_start: 40,
            csum_offset: 9000,
            ..h
        };
        assert_eq!(
            receive(&bad, &mut partial.clone(), true),
            Err(RxError::BadChecksumPlace)
        );
        let far = Header {
            csum_start: u16::MAX,
            csum_offset: u16::MAX,
            ..h
        };
        assert_eq!(
            receive(&far, &mut partial.clone(), false),
            Err(RxError::BadChecksumPlace)
        );
    }

    #[test]
    fn data_valid_is_passed_on_and_a_bare_frame_is_left_to_the_stack() {
        let mut f = ipv4_frame(6, &tcp_segment(b"x"));
        let valid = Header {
            flags: DATA_VALID,
            ..Header::default()
        };
        assert!(receive(&valid, &mut f, true).unwrap().checksum_valid);
        assert!(
            !receive(&Header::default(), &mut f, true)
                .unwrap()
                .checksum_valid
        );
        let ufo = Header {
            gso_type: GSO_UDP,
            ..Header::default()
        };
        assert_eq!(receive(&ufo, &mut f, true), Err(RxError::BadGso));
    }

    #[test]
    fn a_large_tcp_segment_goes_as_a_super_frame_with_a_partial_checksum() {
        let payload: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let mut f = ipv4_frame(6, &tcp_segment(&payload));
        let h = transmit(&mut f, Medium::Ethernet, 1500);
        assert_eq!(h.gso_type, GSO_TCPV4);
        assert_eq!(h.flags, NEEDS_CSUM);
        assert_eq!(h.gso_size, 1460);
        assert_eq!((h.hdr_len, h.csum_start, h.csum_offset), (54, 34, 16));
        // The kernel's completion of that partial sum gives a correct segment.
        complete_checksum(&mut f, 34, 16).unwrap();
        assert!(segment::parse(&f[34..], A.into(), B.into()).is_ok());
        // A segment that fits goes as it is.
        let mut small = ipv4_frame(6, &tcp_segment(&payload[..1460]));
        let before = small.clone();
        assert_eq!(
            transmit(&mut small, Medium::Ethernet, 1500),
            Header::default()
        );
        assert_eq!(small, before);
    }

    #[test]
    fn a_super_frame_over_ipv6_on_an_ip_link_counts_its_options() {
        let src = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 1);
        let dst = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 2);
        let mut seg = vec![0u8; 32];
        seg[12] = 8 << 4;
        seg[13] = 0x10;
        seg.extend(std::iter::repeat_n(7u8, 5000));
        let mut f = vec![0u8; 40];
        f[0] = 0x60;
        f[4..6].copy_from_slice(&(seg.len() as u16).to_be_bytes());
        f[6] = 6;
        f[7] = 64;
        f[8..24].copy_from_slice(&src.octets());
        f[24..40].copy_from_slice(&dst.octets());
        f.extend_from_slice(&seg);
        let h = transmit(&mut f, Medium::Ip, 1500);
        assert_eq!(h.gso_type, GSO_TCPV6);
        assert_eq!(h.gso_size, 1500 - 40 - 32);
        assert_eq!(h.csum_start, 40);
        complete_checksum(&mut f, 40, 16).unwrap();
        let sum = checksum::upper_layer(IpAddr::V6(src), IpAddr::V6(dst), 6, &f[40..]);
        assert_eq!(sum, 0);
    }

    #[test]
    fn a_uso_frame_is_cut_into_its_datagrams() {
        let payload: Vec<u8> = (0..2500u32).map(|i| (i % 251) as u8).collect();
        let mut udp = vec![0u8; 8];
        udp[0..2].copy_from_slice(&5000u16.to_be_bytes());
        udp[2..4].copy_from_slice(&53u16.to_be_bytes());
        udp.extend_from_slice(&payload);
        let f = ipv4_frame(17, &udp);
        let h = Header {
            flags: NEEDS_CSUM,
            gso_type: GSO_UDP_L4,
            gso_size: 1000,
            csum_start: 34,
            csum_offset: 6,
            hdr_len: 42,
        };
        let mut scratch = Vec::new();
        let mut got = Vec::new();
        let n = split_udp(&h, &f, Medium::Ethernet, &mut scratch, |d, info| {
            assert!(info.checksum_valid);
            got.push(d.to_vec());
        })
        .unwrap();
        assert_eq!(n, 3);
        let mut joined = Vec::new();
        for (i, d) in got.iter().enumerate() {
            assert_eq!(
                checksum::finish(checksum::add(0, &d[14..34])),
                0,
                "IP header {i}"
            );
            let u = crate::udp::parse(&d[34..], A, B).unwrap();
            assert_eq!((u.src_port, u.dst_port), (5000, 53));
            joined.extend_from_slice(u.payload);
        }
        assert_eq!(got[2].len(), 14 + 20 + 8 + 500);
        assert_eq!(joined, payload);
        let tcp = ipv4_frame(6, &tcp_segment(b"x"));
        assert_eq!(
            split_udp(&h, &tcp, Medium::Ethernet, &mut scratch, |_, _| {}),
            Err(RxError::BadGso)
        );
    }
}
