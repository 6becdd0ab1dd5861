//! UDP (RFC 768; host rules RFC 1122 4.1): datagram parsing and the poll-driven socket table.
//!
//! Sockets are addressed by [`Handle`]s. Each has bounded receive and send queues; a datagram that
//! does not fit is dropped and counted, never blocks the stack.

use std::collections::VecDeque;

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use etherparse::UdpHeader;

/// UDP header length.
pub const HEADER_LEN: usize = 8;

/// A parsed UDP datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload.
    pub payload: &'a [u8],
}

/// Why a UDP datagram was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than 8 bytes, or the length field disagrees with the IP payload.
    BadLength,
    /// Checksum mismatch.
    BadChecksum,
    /// No checksum over IPv6 (RFC 8200 8.1).
    ZeroChecksum,
}

impl From<ParseError> for crate::stats::DropReason {
    fn from(e: ParseError) -> Self {
        match e {
            ParseError::BadLength => crate::stats::DropReason::UdpBadLength,
            ParseError::BadChecksum => crate::stats::DropReason::UdpBadChecksum,
            ParseError::ZeroChecksum => crate::stats::DropReason::UdpZeroChecksum,
        }
    }
}

/// Parses a UDP datagram carried between `src` and `dst` (of one family), checking length and
/// checksum. Over IPv4 a zero checksum means the sender did not compute one (RFC 768); over
/// IPv6 it is not allowed (RFC 8200 8.1: [`ParseError::ZeroChecksum`]).
///
/// # Errors
/// [`ParseError`] when the datagram is inconsistent, corrupt or without a required checksum.
pub fn parse_ip(buf: &[u8], src: IpAddr, dst: IpAddr) -> Result<Datagram<'_>, ParseError> {
    parse_checked(buf, src, dst, true)
}

/// [`parse_ip`], checking the checksum only when `verify` (a device that checked it says so).
///
/// # Errors
/// [`ParseError`] when the datagram is inconsistent, corrupt or without a required checksum.
pub fn parse_checked(
    buf: &[u8],
    src: IpAddr,
    dst: IpAddr,
    verify: bool,
) -> Result<Datagram<'_>, ParseError> {
    let Some(hdr) = buf.get(..HEADER_LEN) else {
        return Err(ParseError::BadLength);
    };
    let field = |i: usize| u16::from_be_bytes([hdr[i], hdr[i + 1]]);
    let (src_port, dst_port, length, checksum) =
        (field(0), field(2), usize::from(field(4)), field(6));
    // RFC 2675 4 allows length 0 over IPv6 only in jumbograms, which we do not take.
    if length < HEADER_LEN {
        return Err(ParseError::BadLength);
    }
    let (Some(datagram), Some(payload)) = (buf.get(..length), buf.get(HEADER_LEN..length)) else {
        return Err(ParseError::BadLength);
    };
    match (checksum, src) {
        (0, IpAddr::V4(_)) => {}
        (0, IpAddr::V6(_)) => return Err(ParseError::ZeroChecksum),
        _ if verify && crate::checksum::upper_layer(src, dst, 17, datagram) != 0 => {
            return Err(ParseError::BadChecksum);
        }
        _ => {}
    }
    Ok(Datagram {
        src_port,
        dst_port,
        payload,
    })
}

/// Parses a UDP datagram carried over IPv4 (see [`parse_ip`]).
///
/// # Errors
/// [`ParseError`] when the datagram is inconsistent or corrupt.
pub fn parse(buf: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> Result<Datagram<'_>, ParseError> {
    parse_ip(buf, src.into(), dst.into())
}

/// Parses a UDP datagram carried over IPv6 (see [`parse_ip`]).
///
/// # Errors
/// [`ParseError`] when the datagram is inconsistent, corrupt or without checksum.
pub fn parse6(buf: &[u8], src: Ipv6Addr, dst: Ipv6Addr) -> Result<Datagram<'_>, ParseError> {
    parse_ip(buf, src.into(), dst.into())
}

/// Appends a UDP header with its checksum (over the IPv6 pseudo-header), then the payload.
/// Returns false (writing nothing) when the payload is too large for one datagram.
pub fn write6(out: &mut Vec<u8>, src: SocketAddrV6, dst: SocketAddrV6, payload: &[u8]) -> bool {
    let (s, d) = (IpAddr::V6(*src.ip()), IpAddr::V6(*dst.ip()));
    write_with(out, src.port(), dst.port(), payload, (s, d))
}

/// Appends a UDP header with its checksum, then the payload. Returns false (writing nothing)
/// when the payload is too large for one datagram.
pub fn write(out: &mut Vec<u8>, src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> bool {
    let (s, d) = (IpAddr::V4(*src.ip()), IpAddr::V4(*dst.ip()));
    write_with(out, src.port(), dst.port(), payload, (s, d))
}

fn write_with(
    out: &mut Vec<u8>,
    src_port: u16,
    dst_port: u16,
    payload: &[u8],
    (src, dst): (IpAddr, IpAddr),
) -> bool {
    let Ok(h) = UdpHeader::without_ipv4_checksum(src_port, dst_port, payload.len()) else {
        return false;
    };
    let sum = crate::checksum::pseudo_header(src, dst, 17, HEADER_LEN + payload.len());
    let sum = crate::checksum::add(crate::checksum::add(sum, &h.to_bytes()), payload);
    // RFC 768: a computed checksum of zero is sent as all ones (zero means none).
    let checksum = match crate::checksum::finish(sum) {
        0 => 0xffff,
        c => u16::from_be_bytes(c.to_ne_bytes()),
    };
    let h = UdpHeader { checksum, ..h };
    out.extend_from_slice(&h.to_bytes());
    out.extend_from_slice(payload);
    true
}

/// A socket handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Handle {
    index: u32,
    generation: u32,
}

/// Why `bind` failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindError {
    /// Another socket has the port.
    PortInUse(u16),
    /// The socket table is full.
    TooManySockets,
    /// No ephemeral port is free.
    NoFreePort,
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindError::PortInUse(p) => write!(f, "UDP port {p} is already bound"),
            BindError::TooManySockets => f.write_str("UDP socket table is full"),
            BindError::NoFreePort => f.write_str("no ephemeral UDP port is free"),
        }
    }
}

impl std::error::Error for BindError {}

/// Why `send_to` failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The handle does not name an open socket.
    InvalidHandle,
    /// The send queue is full; try after the next poll.
    QueueFull,
    /// Payload larger than one UDP datagram.
    TooLarge,
    /// Port 0 or an unspecified destination address.
    Unaddressable,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::InvalidHandle => "no such UDP socket",
            SendError::QueueFull => "UDP send queue is full",
            SendError::TooLarge => "payload too large for one UDP datagram",
            SendError::Unaddressable => "destination address or port is unspecified",
        })
    }
}

impl std::error::Error for SendError {}

/// Largest UDP payload over IPv4 (65535 - 20 - 8).
pub const MAX_PAYLOAD: usize = 65_507;

/// A queued datagram: the peer, our address it came to or is to leave from (`None`: the
/// interface chooses), and the payload.
type Item = (SocketAddr, Option<IpAddr>, Vec<u8>);

#[derive(Debug)]
struct Queue {
    items: VecDeque<Item>,
    bytes: usize,
}

impl Queue {
    fn new() -> Self {
        Queue {
            items: VecDeque::new(),
            bytes: 0,
        }
    }

    fn push(
        &mut self,
        peer: SocketAddr,
        local: Option<IpAddr>,
        data: Vec<u8>,
        max_items: usize,
        max_bytes: usize,
    ) -> bool {
        if self.items.len() >= max_items || self.bytes + data.len() > max_bytes {
            return false;
        }
        self.bytes += data.len();
        self.items.push_back((peer, local, data));
        true
    }

    fn pop(&mut self) -> Option<Item> {
        let item = self.items.pop_front()?;
        self.bytes -= item.2.len();
        Some(item)
    }
}

#[derive(Debug)]
struct Socket {
    port: u16,
    generation: u32,
    rx: Queue,
    tx: Queue,
    rx_dropped: u64,
}

/// The UDP socket table.
#[derive(Debug)]
pub struct Sockets {
    slots: Vec<Option<Socket>>,
    generation: u32,
    max_sockets: usize,
    max_items: usize,
    max_bytes: usize,
    next_ephemeral: u16,
}

/// First port of the ephemeral range (RFC 6335).
pub const EPHEMERAL_START: u16 = 49152;

impl Sockets {
    /// An empty table: at most `max_sockets`, each queue bounded by `max_items` and `max_bytes`.
    /// `ephemeral_seed` picks where the ephemeral port search starts.
    pub fn new(
        max_sockets: usize,
        max_items: usize,
        max_bytes: usize,
        ephemeral_seed: u16,
    ) -> Self {
        Sockets {
            slots: Vec::new(),
            generation: 0,
            max_sockets,
            max_items,
            max_bytes,
            next_ephemeral: EPHEMERAL_START + ephemeral_seed % (u16::MAX - EPHEMERAL_START),
        }
    }

    /// Opens a socket on `port` (0 picks a free ephemeral port).
    ///
    /// # Errors
    /// [`BindError`] when the port is taken or the table is full.
    pub fn bind(&mut self, port: u16) -> Result<Handle, BindError> {
        let port = if port == 0 {
            self.free_ephemeral()?
        } else {
            port
        };
        if self.find(port).is_some() {
            return Err(BindError::PortInUse(port));
        }
        let free = self.slots.iter().position(Option::is_none);
        let index = match free {
            Some(i) => i,
            None if self.slots.len() < self.max_sockets => {
                self.slots.push(None);
                self.slots.len() - 1
            }
            None => return Err(BindError::TooManySockets),
        };
        self.generation = self.generation.wrapping_add(1);
        let generation = self.generation;
        if let Some(slot) = self.slots.get_mut(index) {
            *slot = Some(Socket {
                port,
                generation,
                rx: Queue::new(),
                tx: Queue::new(),
                rx_dropped: 0,
            });
        }
        Ok(Handle {
            index: u32::try_from(index).map_err(|_| BindError::TooManySockets)?,
            generation,
        })
    }

    /// Closes a socket; queued datagrams are discarded. Unknown handles are ignored.
    pub fn close(&mut self, h: Handle) {
        if self.get(h).is_some() {
            if let Some(slot) = self.slots.get_mut(h.index as usize) {
                *slot = None;
            }
        }
    }

    /// The local port of a socket.
    pub fn port(&self, h: Handle) -> Option<u16> {
        self.get(h).map(|s| s.port)
    }

    /// Queues `data` for `dst`; it leaves at the next poll.
    ///
    /// # Errors
    /// [`SendError`] when the handle is stale, the queue full, or the datagram unsendable.
    pub fn send_to(&mut self, h: Handle, dst: SocketAddr, data: &[u8]) -> Result<(), SendError> {
        self.send_from(h, None, dst, data)
    }

    /// Queues `data` for `dst`, to leave from our address `local` (when it is still ours then;
    /// otherwise the interface chooses, as it does for `None`).
    ///
    /// # Errors
    /// [`SendError`] when the handle is stale, the queue full, or the datagram unsendable.
    pub fn send_from(
        &mut self,
        h: Handle,
        local: Option<IpAddr>,
        dst: SocketAddr,
        data: &[u8],
    ) -> Result<(), SendError> {
        if dst.port() == 0 || dst.ip().is_unspecified() {
            return Err(SendError::Unaddressable);
        }
        if data.len() > MAX_PAYLOAD {
            return Err(SendError::TooLarge);
        }
        let (max_items, max_bytes) = (self.max_items, self.max_bytes);
        let s = self.get_mut(h).ok_or(SendError::InvalidHandle)?;
        if s.tx.push(dst, local, data.to_vec(), max_items, max_bytes) {
            Ok(())
        } else {
            Err(SendError::QueueFull)
        }
    }

    /// Takes the oldest received datagram: its sender and payload.
    pub fn recv_from(&mut self, h: Handle) -> Option<(SocketAddr, Vec<u8>)> {
        self.get_mut(h)?.rx.pop().map(|(from, _, d)| (from, d))
    }

    /// Takes the oldest received datagram: its sender, our address it was sent to, and payload.
    pub fn recv_from_to(&mut self, h: Handle) -> Option<(SocketAddr, Option<IpAddr>, Vec<u8>)> {
        self.get_mut(h)?.rx.pop()
    }

    /// Datagrams dropped because this socket's receive queue was full.
    pub fn rx_dropped(&self, h: Handle) -> u64 {
        self.get(h).map_or(0, |s| s.rx_dropped)
    }

    /// Delivers a received datagram to the socket on `port`.
    pub(crate) fn deliver(
        &mut self,
        port: u16,
        from: SocketAddr,
        to: Option<IpAddr>,
        data: &[u8],
    ) -> Delivery {
        let (max_items, max_bytes) = (self.max_items, self.max_bytes);
        let Some(s) = self.slots.iter_mut().flatten().find(|s| s.port == port) else {
            return Delivery::NoSocket;
        };
        if s.rx.push(from, to, data.to_vec(), max_items, max_bytes) {
            Delivery::Queued
        } else {
            s.rx_dropped += 1;
            Delivery::QueueFull
        }
    }

    /// True when some socket has a datagram to send whose destination `sendable` accepts.
    pub(crate) fn has_tx(&self, sendable: impl Fn(&SocketAddr) -> bool) -> bool {
        self.slots
            .iter()
            .flatten()
            .any(|s| s.tx.items.front().is_some_and(|(d, _, _)| sendable(d)))
    }

    /// Takes one queued outgoing datagram from each socket in turn: `(local port, dst, local
    /// address, payload)`;
    /// only sockets whose oldest datagram goes where `sendable` accepts are served (the others
    /// keep theirs, in order, until an address of that family is in use).
    pub(crate) fn pop_tx(
        &mut self,
        sendable: impl Fn(&SocketAddr) -> bool,
    ) -> Option<(u16, SocketAddr, Option<IpAddr>, Vec<u8>)> {
        self.slots.iter_mut().flatten().find_map(|s| {
            if !s.tx.items.front().is_some_and(|(d, _, _)| sendable(d)) {
                return None;
            }
            s.tx.pop().map(|(dst, local, d)| (s.port, dst, local, d))
        })
    }

    /// Open sockets.
    pub fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    /// True when none is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The open sockets: port, bytes queued to be read, bytes queued to be sent.
    pub fn sockets(&self) -> impl Iterator<Item = (u16, usize, usize)> + '_ {
        self.slots
            .iter()
            .flatten()
            .map(|s| (s.port, s.rx.bytes, s.tx.bytes))
    }

    /// Bytes queued over all sockets.
    pub fn queued_bytes(&self) -> usize {
        self.slots
            .iter()
            .flatten()
            .map(|s| s.rx.bytes + s.tx.bytes)
            .sum()
    }

    fn find(&self, port: u16) -> Option<&Socket> {
        self.slots.iter().flatten().find(|s| s.port == port)
    }

    fn get(&self, h: Handle) -> Option<&Socket> {
        self.slots
            .get(h.index as usize)?
            .as_ref()
            .filter(|s| s.generation == h.generation)
    }

    fn get_mut(&mut self, h: Handle) -> Option<&mut Socket> {
        self.slots
            .get_mut(h.index as usize)?
            .as_mut()
            .filter(|s| s.generation == h.generation)
    }

    fn free_ephemeral(&mut self) -> Result<u16, BindError> {
        let span = u16::MAX - EPHEMERAL_START + 1;
        for _ in 0..span {
            let p = self.next_ephemeral;
            self.next_ephemeral = if p == u16::MAX {
                EPHEMERAL_START
            } else {
                p + 1
            };
            if self.find(p).is_none() {
                return Ok(p);
            }
        }
        Err(BindError::NoFreePort)
    }
}

/// What happened to a received datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    Queued,
    QueueFull,
    NoSocket,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);

    /// "hi" from 10.77.0.1:40000 to 10.77.0.2:7, checksum as Linux computes it.
    const DATAGRAM: [u8; 10] = [0x9c, 0x40, 0x00, 0x07, 0x00, 0x0a, 0xe6, 0x8c, b'h', b'i'];

    #[test]
    fn parse_known_datagram() {
        let d = parse(&DATAGRAM, SRC, DST).unwrap();
        assert_eq!((d.src_port, d.dst_port, d.payload), (40000, 7, &b"hi"[..]));
        let mut out = Vec::new();
        assert!(write(
            &mut out,
            SocketAddrV4::new(SRC, 40000),
            SocketAddrV4::new(DST, 7),
            b"hi"
        ));
        assert_eq!(out, DATAGRAM);
    }

    #[test]
    fn parse_rejects() {
        for n in 0..8 {
            assert_eq!(parse(&DATAGRAM[..n], SRC, DST), Err(ParseError::BadLength));
        }
        assert_eq!(
            parse(&DATAGRAM[..9], SRC, DST),
            Err(ParseError::BadLength),
            "length field says 10"
        );
        let mut short = DATAGRAM;
        short[5] = 7;
        assert_eq!(parse(&short, SRC, DST), Err(ParseError::BadLength));
        let mut bad = DATAGRAM;
        bad[9] = b'o';
        assert_eq!(parse(&bad, SRC, DST), Err(ParseError::BadChecksum));
        assert_eq!(
            parse(&DATAGRAM, SRC, Ipv4Addr::new(10, 77, 0, 3)),
            Err(ParseError::BadChecksum),
            "pseudo-header"
        );
        let mut none = bad;
        none[6] = 0;
        none[7] = 0;
        assert!(
            parse(&none, SRC, DST).is_ok(),
            "zero checksum: not computed"
        );
    }

    #[test]
    fn sockets_bind_send_receive() {
        let mut s = Sockets::new(2, 2, 100, 0);
        let a = s.bind(7).unwrap();
        assert_eq!(s.bind(7), Err(BindError::PortInUse(7)));
        let b = s.bind(0).unwrap();
        assert!(s.port(b).unwrap() >= EPHEMERAL_START);
        assert_eq!(s.bind(9), Err(BindError::TooManySockets));
        let peer = SocketAddr::V4(SocketAddrV4::new(SRC, 5000));
        let to = Some(IpAddr::V4(DST));
        assert_eq!(s.deliver(7, peer, to, b"one"), Delivery::Queued);
        assert_eq!(s.deliver(7, peer, to, b"two"), Delivery::Queued);
        assert_eq!(s.deliver(7, peer, to, b"three"), Delivery::QueueFull);
        assert_eq!(s.deliver(8, peer, to, b"x"), Delivery::NoSocket);
        assert_eq!(s.rx_dropped(a), 1);
        assert_eq!(s.recv_from(a), Some((peer, b"one".to_vec())));
        s.send_to(a, peer, b"back").unwrap();
        assert_eq!(
            s.send_to(a, SocketAddr::V4(SocketAddrV4::new(SRC, 0)), b"x"),
            Err(SendError::Unaddressable)
        );
        assert_eq!(
            s.send_to(a, peer, &vec![0; 70_000]),
            Err(SendError::TooLarge)
        );
        assert!(s.has_tx(|_| true));
        assert!(!s.has_tx(SocketAddr::is_ipv6));
        assert_eq!(s.pop_tx(SocketAddr::is_ipv6), None);
        assert_eq!(s.pop_tx(|_| true), Some((7, peer, None, b"back".to_vec())));
        assert_eq!(s.recv_from_to(a), Some((peer, to, b"two".to_vec())));
        s.close(a);
        assert_eq!(s.recv_from(a), None);
        assert_eq!(s.send_to(a, peer, b"x"), Err(SendError::InvalidHandle));
        let c = s.bind(7).unwrap();
        assert_ne!(a, c, "a stale handle does not reach the new socket");
        assert_eq!(s.recv_from(a), None);
    }

    #[test]
    fn queue_byte_bound() {
        let mut s = Sockets::new(1, 100, 10, 0);
        let a = s.bind(1).unwrap();
        let peer = SocketAddr::V4(SocketAddrV4::new(SRC, 1));
        s.send_to(a, peer, &[0; 8]).unwrap();
        assert_eq!(s.send_to(a, peer, &[0; 8]), Err(SendError::QueueFull));
        assert_eq!(s.queued_bytes(), 8);
    }

    #[test]
    fn ipv6_checksum_and_zero_checksum() {
        let (a, b): (Ipv6Addr, Ipv6Addr) = ("fd77::1".parse().unwrap(), "fd77::2".parse().unwrap());
        let mut out = Vec::new();
        assert!(write6(
            &mut out,
            SocketAddrV6::new(a, 40000, 0, 0),
            SocketAddrV6::new(b, 53, 0, 0),
            b"query"
        ));
        let d = parse6(&out, a, b).unwrap();
        assert_eq!(
            (d.src_port, d.dst_port, d.payload),
            (40000, 53, &b"query"[..])
        );
        assert_eq!(
            parse6(&out, a, "fd77::3".parse().unwrap()),
            Err(ParseError::BadChecksum)
        );
        let mut zero = out.clone();
        zero[6] = 0;
        zero[7] = 0;
        assert_eq!(parse6(&zero, a, b), Err(ParseError::ZeroChecksum));
        assert_eq!(parse6(&out[..12], a, b), Err(ParseError::BadLength));
    }
}
