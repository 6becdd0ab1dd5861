//! A smoltcp host on one end of the in-memory wire: a `phy::Device` over a [`Link`] end, and a
//! smoltcp interface with its socket set.

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::{icmp, udp};
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{
    EthernetAddress, HardwareAddress, Icmpv4DstUnreachable, Icmpv4Packet, Icmpv4Repr, IpAddress,
    IpCidr, IpEndpoint, IpProtocol, Ipv4Address,
};
use std::collections::VecDeque;

use tapstack::device::memory::Endpoint;
use tapstack::Instant;

/// Our instant as smoltcp's.
pub fn to_smol(t: Instant) -> SmolInstant {
    SmolInstant::from_micros(i64::try_from(t.micros()).unwrap_or(i64::MAX))
}

/// smoltcp's instant as ours (instants before the origin are the origin).
pub fn from_smol(t: SmolInstant) -> Instant {
    Instant::from_micros(u64::try_from(t.total_micros()).unwrap_or(0))
}

/// What the smoltcp device looks like: Ethernet with the wire's MTU.
fn capabilities(mtu: usize) -> DeviceCapabilities {
    let mut caps = DeviceCapabilities::default();
    caps.medium = Medium::Ethernet;
    caps.max_transmission_unit = mtu + tapstack::ethernet::HEADER_LEN;
    caps
}

/// A smoltcp device over the frames the peer has taken off the wire, at one instant: frames
/// sent go to `emit`. It lives for a single poll.
pub struct InboxDevice<'a> {
    inbox: &'a mut VecDeque<Vec<u8>>,
    emit: &'a mut dyn FnMut(&[u8]),
    mtu: usize,
}

impl Device for InboxDevice<'_> {
    type RxToken<'a>
        = RxFrame
    where
        Self: 'a;
    type TxToken<'a>
        = TxFrame<'a>
    where
        Self: 'a;

    fn receive(&mut self, _timestamp: SmolInstant) -> Option<(RxFrame, TxFrame<'_>)> {
        let frame = self.inbox.pop_front()?;
        Some((RxFrame(frame), TxFrame { emit: self.emit }))
    }

    fn transmit(&mut self, _timestamp: SmolInstant) -> Option<TxFrame<'_>> {
        Some(TxFrame { emit: self.emit })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        capabilities(self.mtu)
    }
}

/// A frame taken off the wire.
pub struct RxFrame(Vec<u8>);

impl phy::RxToken for RxFrame {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(&self.0)
    }
}

/// Permission to put one frame on the wire.
pub struct TxFrame<'a> {
    emit: &'a mut dyn FnMut(&[u8]),
}

impl phy::TxToken for TxFrame<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let mut buf = vec![0; len];
        let r = f(&mut buf);
        (self.emit)(&buf);
        r
    }
}

/// An ICMPv4 message received on a smoltcp ICMP socket, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IcmpMessage {
    /// An echo reply.
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
        /// Payload.
        data: Vec<u8>,
    },
    /// A destination unreachable error.
    DstUnreachable {
        /// The code.
        reason: Icmpv4DstUnreachable,
        /// Source of the quoted datagram.
        src: Ipv4Address,
        /// Destination of the quoted datagram.
        dst: Ipv4Address,
        /// Protocol of the quoted datagram.
        protocol: IpProtocol,
        /// The quoted payload (transport header and data).
        data: Vec<u8>,
    },
    /// Anything else, as received.
    Other(Vec<u8>),
}

/// How a [`Peer`] is set up.
#[derive(Clone, Debug)]
pub struct PeerSetup {
    /// Its MAC address.
    pub mac: EthernetAddress,
    /// Its address and subnet.
    pub cidr: IpCidr,
    /// The IP MTU of its device.
    pub mtu: usize,
    /// smoltcp's random seed (IPv4 identification, ports, TCP sequence numbers).
    pub seed: u64,
}

/// The smoltcp host: interface, sockets, and the frames taken off the wire for its next poll.
pub struct Peer {
    /// The smoltcp interface.
    pub iface: Interface,
    /// Its sockets.
    pub sockets: SocketSet<'static>,
    inbox: VecDeque<Vec<u8>>,
    mtu: usize,
}

impl Peer {
    /// A smoltcp host, created at `now`.
    pub fn new(setup: &PeerSetup, now: Instant) -> Peer {
        let mut config = Config::new(HardwareAddress::Ethernet(setup.mac));
        config.random_seed = setup.seed;
        let mut inbox = VecDeque::new();
        let mut device = InboxDevice {
            inbox: &mut inbox,
            emit: &mut |_| {},
            mtu: setup.mtu,
        };
        let mut iface = Interface::new(config, &mut device, to_smol(now));
        iface.update_ip_addrs(|addrs| {
            addrs.push(setup.cidr).expect("room for one address");
        });
        Peer {
            iface,
            sockets: SocketSet::new(Vec::new()),
            inbox,
            mtu: setup.mtu,
        }
    }

    /// When smoltcp next wants to be polled (now, while frames wait in its inbox).
    pub fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        if !self.inbox.is_empty() {
            return Some(now);
        }
        self.iface
            .poll_at(to_smol(now), &self.sockets)
            .map(from_smol)
    }

    /// Opens an ICMP socket bound to `endpoint`, with room for `packets` packets of up to
    /// `max_len` bytes in each direction.
    pub fn icmp_socket(
        &mut self,
        endpoint: icmp::Endpoint,
        packets: usize,
        max_len: usize,
    ) -> SocketHandle {
        let buffer = || {
            icmp::PacketBuffer::new(
                vec![icmp::PacketMetadata::EMPTY; packets],
                vec![0; packets * max_len],
            )
        };
        let mut socket = icmp::Socket::new(buffer(), buffer());
        socket.bind(endpoint).expect("ICMP endpoint");
        self.sockets.add(socket)
    }

    /// Opens a UDP socket on `port`, with room for `packets` datagrams of up to `max_len` bytes in
    /// each direction.
    pub fn udp_socket(&mut self, port: u16, packets: usize, max_len: usize) -> SocketHandle {
        let buffer = || {
            udp::PacketBuffer::new(
                vec![udp::PacketMetadata::EMPTY; packets],
                vec![0; packets * max_len],
            )
        };
        let mut socket = udp::Socket::new(buffer(), buffer());
        socket.bind(port).expect("UDP port");
        self.sockets.add(socket)
    }

    /// Queues an echo request on an ICMP socket.
    ///
    /// # Errors
    /// smoltcp's error when the socket's buffer is full.
    pub fn send_ping(
        &mut self,
        h: SocketHandle,
        dst: Ipv4Address,
        ident: u16,
        seq: u16,
        data: &[u8],
    ) -> Result<(), icmp::SendError> {
        let repr = Icmpv4Repr::EchoRequest {
            ident,
            seq_no: seq,
            data,
        };
        let socket = self.sockets.get_mut::<icmp::Socket>(h);
        let buf = socket.send(repr.buffer_len(), IpAddress::Ipv4(dst))?;
        let mut packet = Icmpv4Packet::new_unchecked(buf);
        repr.emit(&mut packet, &capabilities(self.mtu).checksum);
        Ok(())
    }

    /// Takes the next message from an ICMP socket, parsed (checksum verified).
    pub fn recv_icmp(&mut self, h: SocketHandle) -> Option<(IpAddress, IcmpMessage)> {
        let socket = self.sockets.get_mut::<icmp::Socket>(h);
        let (bytes, from) = socket.recv().ok()?;
        let packet = Icmpv4Packet::new_checked(bytes).ok();
        let repr = packet
            .as_ref()
            .and_then(|p| Icmpv4Repr::parse(p, &capabilities(self.mtu).checksum).ok());
        let msg = match repr {
            Some(Icmpv4Repr::EchoReply {
                ident,
                seq_no,
                data,
            }) => IcmpMessage::EchoReply {
                ident,
                seq: seq_no,
                data: data.to_vec(),
            },
            Some(Icmpv4Repr::DstUnreachable {
                reason,
                header,
                data,
            }) => IcmpMessage::DstUnreachable {
                reason,
                src: header.src_addr,
                dst: header.dst_addr,
                protocol: header.next_header,
                data: data.to_vec(),
            },
            _ => IcmpMessage::Other(bytes.to_vec()),
        };
        Some((from, msg))
    }

    /// Queues a datagram on a UDP socket.
    ///
    /// # Errors
    /// smoltcp's error when the socket's buffer is full.
    pub fn send_udp(
        &mut self,
        h: SocketHandle,
        dst: IpEndpoint,
        data: &[u8],
    ) -> Result<(), udp::SendError> {
        self.sockets.get_mut::<udp::Socket>(h).send_slice(data, dst)
    }

    /// Takes the next datagram from a UDP socket.
    pub fn recv_udp(&mut self, h: SocketHandle) -> Option<(IpEndpoint, Vec<u8>)> {
        let socket = self.sockets.get_mut::<udp::Socket>(h);
        let (data, meta) = socket.recv().ok()?;
        Some((meta.endpoint, data.to_vec()))
    }
}

/// The harness's view of the peer: frames that arrive wait in its inbox, and its poll lets
/// smoltcp take them all and send what it has.
impl Endpoint for Peer {
    fn receive(&mut self, _now: Instant, frame: &[u8], _emit: &mut dyn FnMut(&[u8])) {
        self.inbox.push_back(frame.to_vec());
    }

    fn poll(&mut self, now: Instant, emit: &mut dyn FnMut(&[u8])) {
        let mut device = InboxDevice {
            inbox: &mut self.inbox,
            emit,
            mtu: self.mtu,
        };
        self.iface
            .poll(to_smol(now), &mut device, &mut self.sockets);
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        Peer::poll_at(self, now)
    }
}
