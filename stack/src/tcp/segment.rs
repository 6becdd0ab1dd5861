//! TCP segment format (RFC 9293 3.1) and options: MSS (RFC 9293 3.7.1), window scale and
//! timestamps (RFC 7323), SACK (RFC 2018).
//!
//! The fixed header goes through etherparse. Options are parsed here because RFC 9293 MUST-64
//! asks that unknown options be skipped by their length, and a malformed length must not let a
//! reader run past the header.

use core::net::IpAddr;

use crate::checksum;

use super::seq::Seq;

/// Fixed header length.
pub const HEADER_LEN: usize = 20;

/// Control bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// Synchronize sequence numbers.
    pub syn: bool,
    /// The acknowledgment field is significant.
    pub ack: bool,
    /// No more data from sender.
    pub fin: bool,
    /// Reset the connection.
    pub rst: bool,
    /// Push function.
    pub psh: bool,
    /// Urgent pointer significant (RFC 9293 3.8.5, RFC 6093).
    pub urg: bool,
}

/// Up to four SACK blocks `[left, right)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SackBlocks {
    blocks: [(Seq, Seq); 4],
    len: u8,
}

impl SackBlocks {
    /// Adds a block; ignored when four are there.
    pub fn push(&mut self, left: Seq, right: Seq) {
        if let Some(b) = self.blocks.get_mut(usize::from(self.len)) {
            *b = (left, right);
            self.len += 1;
        }
    }

    /// The blocks.
    pub fn as_slice(&self) -> &[(Seq, Seq)] {
        self.blocks.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The options tapstack reads and writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Maximum segment size (SYN only).
    pub mss: Option<u16>,
    /// Window scale shift (SYN only), capped at 14 (RFC 7323 2.3).
    pub window_scale: Option<u8>,
    /// SACK permitted (SYN only).
    pub sack_permitted: bool,
    /// Timestamps: (TSval, TSecr).
    pub timestamps: Option<(u32, u32)>,
    /// SACK blocks.
    pub sack: SackBlocks,
}

/// A TCP header, parsed or to be emitted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Repr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: Seq,
    /// Acknowledgment number (meaningful when `flags.ack`).
    pub ack: Seq,
    /// Control bits.
    pub flags: Flags,
    /// Window field (unscaled, as on the wire).
    pub window: u16,
    /// Options.
    pub options: Options,
    /// Urgent pointer (meaningful when `flags.urg`): the offset from `seq` of the octet following
    /// the urgent data (RFC 9293 MUST-62, RFC 6093).
    pub urgent: u16,
}

impl Repr {
    /// Sequence space the segment occupies: data plus one for SYN and one for FIN.
    pub fn seq_len(&self, payload: usize) -> usize {
        payload + usize::from(self.flags.syn) + usize::from(self.flags.fin)
    }
}

/// Why a segment was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than the header.
    Truncated,
    /// Data offset under 5 words or past the end of the segment.
    BadDataOffset,
    /// An option's length is under 2 or runs past the header.
    BadOption,
    /// Checksum mismatch.
    BadChecksum,
    /// A combination of control bits no sender produces (SYN with FIN or RST, or no flag at all).
    BadFlags,
}

/// The checksum of `segment` (checksum field included as it stands) carried from `src` to
/// `dst`, over the pseudo-header (RFC 9293 3.1; RFC 8200 8.1 for IPv6) and the segment, in
/// native byte order: zero for a correct segment, else the value to write with `to_ne_bytes`
/// when the field holds zero.
pub fn checksum(src: IpAddr, dst: IpAddr, segment: &[u8]) -> u16 {
    checksum::upper_layer(src, dst, 6, segment)
}

/// Parses and checks a segment carried from `src` to `dst`.
///
/// # Errors
/// [`ParseError`] for anything to be dropped.
pub fn parse(buf: &[u8], src: IpAddr, dst: IpAddr) -> Result<(Repr, &[u8]), ParseError> {
    parse_checked(buf, src, dst, true)
}

/// [`parse`], checking the checksum only when `verify` (a device that checked it says so).
///
/// # Errors
/// [`ParseError`] for anything to be dropped.
pub fn parse_checked(
    buf: &[u8],
    src: IpAddr,
    dst: IpAddr,
    verify: bool,
) -> Result<(Repr, &[u8]), ParseError> {
    let Some(fixed) = buf.get(..HEADER_LEN) else {
        return Err(ParseError::Truncated);
    };
    let be16 = |i: usize| u16::from_be_bytes([fixed[i], fixed[i + 1]]);
    let be32 = |i: usize| u32::from_be_bytes([fixed[i], fixed[i + 1], fixed[i + 2], fixed[i + 3]]);
    let header_len = usize::from(fixed[12] >> 4) * 4;
    if header_len < HEADER_LEN || header_len > buf.len() {
        return Err(ParseError::BadDataOffset);
    }
    if verify && checksum(src, dst, buf) != 0 {
        return Err(ParseError::BadChecksum);
    }
    let bits = fixed[13];
    let flags = Flags {
        fin: bits & 0x01 != 0,
        syn: bits & 0x02 != 0,
        rst: bits & 0x04 != 0,
        psh: bits & 0x08 != 0,
        ack: bits & 0x10 != 0,
        urg: bits & 0x20 != 0,
    };
    if (flags.syn && (flags.fin || flags.rst))
        || !(flags.syn || flags.ack || flags.rst || flags.fin)
    {
        return Err(ParseError::BadFlags);
    }
    let options = parse_options(buf.get(HEADER_LEN..header_len).unwrap_or_default())?;
    let repr = Repr {
        src_port: be16(0),
        dst_port: be16(2),
        seq: Seq(be32(4)),
        ack: Seq(be32(8)),
        flags,
        window: be16(14),
        options,
        urgent: be16(18),
    };
    Ok((repr, buf.get(header_len..).unwrap_or_default()))
}

fn parse_options(mut opts: &[u8]) -> Result<Options, ParseError> {
    let mut o = Options::default();
    while let Some(&kind) = opts.first() {
        match kind {
            0 => break,
            1 => {
                opts = opts.get(1..).unwrap_or_default();
                continue;
            }
            _ => {}
        }
        let len = usize::from(*opts.get(1).ok_or(ParseError::BadOption)?);
        if len < 2 {
            return Err(ParseError::BadOption);
        }
        let body = opts.get(2..len).ok_or(ParseError::BadOption)?;
        match (kind, body.len()) {
            (2, 2) => o.mss = Some(u16::from_be_bytes([body[0], body[1]])),
            (3, 1) => o.window_scale = Some(body[0].min(14)),
            (4, 0) => o.sack_permitted = true,
            (5, n) if n % 8 == 0 && n > 0 => {
                for b in body.chunks_exact(8) {
                    let l = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                    let r = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
                    o.sack.push(Seq(l), Seq(r));
                }
            }
            (8, 8) => {
                let val = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                let ecr = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
                o.timestamps = Some((val, ecr));
            }
            // RFC 9293 MUST-64: unknown options (and known ones of an odd size) are skipped.
            _ => {}
        }
        opts = opts.get(len..).unwrap_or_default();
    }
    Ok(o)
}

/// The options of one segment as they are written, up to the header's 40 bytes.
struct OptionBytes {
    buf: [u8; 40],
    len: usize,
}

impl OptionBytes {
    /// Appends an option; one that does not fit is left out rather than failing the segment.
    fn put(&mut self, bytes: &[u8]) {
        if let Some(dst) = self.buf.get_mut(self.len..self.len + bytes.len()) {
            dst.copy_from_slice(bytes);
            self.len += bytes.len();
        }
    }
}

/// Appends the segment (header, options, payload) with its checksum. `payload` may come in two
/// pieces (a ring buffer's wrap-around).
pub fn emit(out: &mut Vec<u8>, repr: &Repr, src: IpAddr, dst: IpAddr, payload: [&[u8]; 2]) {
    emit_with(out, repr, src, dst, payload, false);
}

/// [`emit`], with only the pseudo-header sum in the checksum field when `partial`: for a
/// device that completes the checksum (a virtio-net `NEEDS_CSUM` super-frame), which saves a
/// pass over the payload.
pub fn emit_with(
    out: &mut Vec<u8>,
    repr: &Repr,
    src: IpAddr,
    dst: IpAddr,
    payload: [&[u8]; 2],
    partial: bool,
) {
    // Written by hand rather than through etherparse's `TcpHeader`: this runs for every
    // segment, and building the options as elements cost more than the rest of the header.
    // The layout follows Linux's: MSS, SACK-permitted and timestamps, NOP + window scale; on
    // other segments NOP NOP + timestamps, then NOP NOP + SACK blocks.
    let o = &repr.options;
    let mut opts = OptionBytes {
        buf: [0; 40],
        len: 0,
    };
    let mut put = |bytes: &[u8]| opts.put(bytes);
    if let Some(mss) = o.mss {
        let m = mss.to_be_bytes();
        put(&[2, 4, m[0], m[1]]);
    }
    match (o.sack_permitted, o.timestamps) {
        (true, Some((val, ecr))) => {
            put(&[4, 2, 8, 10]);
            put(&val.to_be_bytes());
            put(&ecr.to_be_bytes());
        }
        (sack_permitted, ts) => {
            if sack_permitted {
                put(&[1, 1, 4, 2]);
            }
            if let Some((val, ecr)) = ts {
                put(&[1, 1, 8, 10]);
                put(&val.to_be_bytes());
                put(&ecr.to_be_bytes());
            }
        }
    }
    if let Some(ws) = o.window_scale {
        put(&[1, 3, 3, ws]);
    }
    let blocks = o.sack.as_slice();
    if !blocks.is_empty() {
        // 40 bytes of options hold 4 blocks alone, 3 next to timestamps.
        let room = (40usize.saturating_sub(opts.len + 4) / 8).min(blocks.len());
        if room > 0 {
            opts.put(&[1, 1, 5, 2 + 8 * room as u8]);
            for &(l, r) in blocks.iter().take(room) {
                opts.put(&l.0.to_be_bytes());
                opts.put(&r.0.to_be_bytes());
            }
        }
    }
    // Padding to a multiple of four (zeros: end of option list).
    let opt_len = opts.len.div_ceil(4) * 4;
    let f = &repr.flags;
    let bits = u8::from(f.fin)
        | u8::from(f.syn) << 1
        | u8::from(f.rst) << 2
        | u8::from(f.psh) << 3
        | u8::from(f.ack) << 4
        | u8::from(f.urg) << 5;
    let ack = if f.ack { repr.ack.0 } else { 0 };
    let start = out.len();
    out.extend_from_slice(&repr.src_port.to_be_bytes());
    out.extend_from_slice(&repr.dst_port.to_be_bytes());
    out.extend_from_slice(&repr.seq.0.to_be_bytes());
    out.extend_from_slice(&ack.to_be_bytes());
    out.push(((HEADER_LEN + opt_len) / 4) as u8 * 16);
    out.push(bits);
    out.extend_from_slice(&repr.window.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    let urgent = if f.urg { repr.urgent } else { 0 };
    out.extend_from_slice(&urgent.to_be_bytes());
    out.extend_from_slice(opts.buf.get(..opt_len).unwrap_or_default());
    out.extend_from_slice(payload[0]);
    out.extend_from_slice(payload[1]);
    let seg = out.get(start..).unwrap_or_default();
    let sum = if partial {
        !checksum::finish(checksum::pseudo_header(src, dst, 6, seg.len()))
    } else {
        checksum(src, dst, seg)
    };
    if let Some(c) = out.get_mut(start + 16..start + 18) {
        // Native order: the sum was taken over the bytes as they lie in memory.
        c.copy_from_slice(&sum.to_ne_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

    /// A SYN from Linux: MSS 1460, SACK permitted, timestamps, NOP, window scale 7.
    const LINUX_SYN: [u8; 40] = [
        0xa2, 0x5c, 0x00, 0x50, 0x8e, 0x3c, 0x5b, 0x21, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa,
        0xf0, 0x00, 0x00, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x1d, 0x5a,
        0x6c, 0x5f, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
    ];

    fn with_checksum(mut seg: Vec<u8>) -> Vec<u8> {
        seg[16] = 0;
        seg[17] = 0;
        let sum = checksum(A, B, &seg);
        seg[16..18].copy_from_slice(&sum.to_ne_bytes());
        seg
    }

    #[test]
    fn parses_linux_syn() {
        let seg = with_checksum(LINUX_SYN.to_vec());
        let (r, payload) = parse(&seg, A, B).unwrap();
        assert!(payload.is_empty());
        assert_eq!(
            (r.src_port, r.dst_port, r.seq, r.window),
            (41564, 80, Seq(0x8e3c5b21), 64240)
        );
        assert!(r.flags.syn && !r.flags.ack);
        assert_eq!(r.options.mss, Some(1460));
        assert!(r.options.sack_permitted);
        assert_eq!(r.options.timestamps, Some((0x1d5a6c5f, 0)));
        assert_eq!(r.options.window_scale, Some(7));
        assert_eq!(r.seq_len(0), 1);
    }

    #[test]
    fn emit_parses_back() {
        let mut repr = Repr {
            src_port: 80,
            dst_port: 41564,
            seq: Seq(7),
            ack: Seq(0x8e3c5b22),
            window: 1000,
            ..Default::default()
        };
        repr.flags = Flags {
            syn: true,
            ack: true,
            ..Default::default()
        };
        repr.options = Options {
            mss: Some(1460),
            window_scale: Some(8),
            sack_permitted: true,
            timestamps: Some((1, 2)),
            sack: SackBlocks::default(),
        };
        let mut out = Vec::new();
        emit(&mut out, &repr, B, A, [b"ab", b"c"]);
        let (back, payload) = parse(&out, B, A).unwrap();
        assert_eq!(back, repr);
        assert_eq!(payload, b"abc");
        let mut sack = SackBlocks::default();
        for i in 0..4u32 {
            sack.push(Seq(100 * i), Seq(100 * i + 50));
        }
        let repr = Repr {
            flags: Flags {
                ack: true,
                ..Default::default()
            },
            options: Options {
                timestamps: Some((5, 6)),
                sack,
                ..Default::default()
            },
            ..repr
        };
        out.clear();
        emit(&mut out, &repr, B, A, [&[], &[]]);
        let (back, _) = parse(&out, B, A).unwrap();
        assert_eq!(
            back.options.sack.as_slice().len(),
            3,
            "three blocks fit beside timestamps"
        );
        assert_eq!(back.options.timestamps, Some((5, 6)));
    }

    #[test]
    fn rejects_malformed() {
        let seg = with_checksum(LINUX_SYN.to_vec());
        for n in 0..20 {
            assert_eq!(parse(&seg[..n], A, B).err(), Some(ParseError::Truncated));
        }
        let mut off = LINUX_SYN.to_vec();
        off[12] = 0x40; // 16-byte header
        assert_eq!(
            parse(&with_checksum(off.clone()), A, B).err(),
            Some(ParseError::BadDataOffset)
        );
        off[12] = 0xf0; // 60-byte header in 40 bytes
        assert_eq!(
            parse(&with_checksum(off), A, B).err(),
            Some(ParseError::BadDataOffset)
        );
        let mut opt = LINUX_SYN.to_vec();
        opt[21] = 0x30; // MSS option claims 48 bytes
        assert_eq!(
            parse(&with_checksum(opt.clone()), A, B).err(),
            Some(ParseError::BadOption)
        );
        opt[21] = 0x01; // length 1
        assert_eq!(
            parse(&with_checksum(opt), A, B).err(),
            Some(ParseError::BadOption)
        );
        let mut synfin = LINUX_SYN.to_vec();
        synfin[13] = 0x03;
        assert_eq!(
            parse(&with_checksum(synfin), A, B).err(),
            Some(ParseError::BadFlags)
        );
        let mut none = LINUX_SYN.to_vec();
        none[13] = 0x00;
        assert_eq!(
            parse(&with_checksum(none), A, B).err(),
            Some(ParseError::BadFlags)
        );
        let mut sum = seg.clone();
        sum[30] ^= 1;
        assert_eq!(parse(&sum, A, B).err(), Some(ParseError::BadChecksum));
        let mut unknown = LINUX_SYN.to_vec();
        unknown[37] = 0x1e; // NOP, then kind 30 of length 3: skipped
        assert_eq!(
            parse(&with_checksum(unknown), A, B)
                .unwrap()
                .0
                .options
                .window_scale,
            None
        );
    }
}
