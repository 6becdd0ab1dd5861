//! Devices: the only places frames cross into or out of the process.
//!
//! - [`tap`]: a Linux TAP interface, with reader and writer threads.
//! - [`tun`]: a Linux TUN interface (bare IP packets), on the same threads.
//! - [`capture`]: pcap/pcapng writing (the tee of every frame) and reading (replay input).
//! - [`memory`]: an in-memory wire between two stacks, under virtual time.
//! - [`impair`]: seeded loss, duplication, reordering, delay and corruption, for any of them.
//!
//! Every device the runtime drives is a [`Device`]: it hands over the frames that arrived, in
//! batches, takes frames to send into buffers of its own, and says what it is
//! ([`Capabilities`]). Capture ([`capture::Captured`]) and fault injection
//! ([`impair::Impaired`]) are wrappers around any device, in the manner of smoltcp's
//! `PcapWriter<D>` and `FaultInjector<D>`. The wrappers are generic, not boxed; a wrapper made
//! with nothing to do (no capture file, no faults) passes frames straight through.

#[cfg(feature = "capture")]
pub mod capture;
pub mod impair;
pub mod link;
pub mod memory;
#[cfg(feature = "device")]
pub mod tap;
#[cfg(feature = "device")]
pub mod tun;
pub mod vnet;

use core::time::Duration;

use crossbeam_channel::Receiver;

use crate::time::Instant;

/// What the frames of a device carry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Medium {
    /// Ethernet frames (TAP, the in-memory wire, pcap with link type 1).
    #[default]
    Ethernet,
    /// Bare IP packets, no link header and no address resolution (a TUN device).
    Ip,
}

/// Work a device does for the stack: checking checksums of what arrives, and cutting large TCP
/// segments into MTU-sized ones on the way out (TSO). A TAP or TUN device opened with a
/// virtio-net header ([`vnet`]) offers both; the in-memory wire and replay offer neither.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Offloads {
    /// Frames may arrive marked as checked ([`FrameInfo::checksum_valid`]), and may be larger
    /// than the MTU (a run of in-order TCP segments taken whole).
    pub rx_checksum: bool,
    /// TCP segments larger than the MTU may be sent: the device cuts them into segments of
    /// `MTU - IP header - TCP header` payload bytes each.
    pub tso: bool,
    /// Such segments may leave their checksum to the device (only the pseudo-header sum in
    /// the field). Off whenever the frames must be exact as they leave the stack: a capture,
    /// fault injection.
    pub tx_checksum: bool,
}

/// What a device knows of a frame it hands over, beyond its bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FrameInfo {
    /// The TCP or UDP checksum was checked (or filled in) by the device: the stack need not
    /// check it again. Set only by devices whose frames come from a trusted kernel.
    pub checksum_valid: bool,
}

/// What a device is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Capabilities {
    /// What its frames carry.
    pub medium: Medium,
    /// The largest IP packet it carries (the link header comes on top).
    pub mtu: usize,
    /// What it does for the stack.
    pub offloads: Offloads,
}

impl Capabilities {
    /// An IP-only device (TUN) with IP MTU `mtu` and no offloads.
    pub fn ip(mtu: usize) -> Self {
        Capabilities {
            medium: Medium::Ip,
            mtu,
            offloads: Offloads::default(),
        }
    }

    /// An Ethernet device with IP MTU `mtu` and no offloads.
    pub fn ethernet(mtu: usize) -> Self {
        Capabilities {
            medium: Medium::Ethernet,
            mtu,
            offloads: Offloads::default(),
        }
    }
}

/// How a wait for frames ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Frames are ready for [`Device::receive`].
    Ready,
    /// The time ran out.
    Timeout,
    /// A stop was asked for.
    Stopped,
    /// The device went away.
    Closed,
}

/// A device: frames in, frames out, in batches.
///
/// The runtime calls, in a loop: [`Device::wait`], [`Device::receive`] (the stack answers
/// through [`Device::transmit`] while it takes each frame), the stack's poll (more
/// [`Device::transmit`]), then [`Device::send`]. [`Device::poll_at`] adds the device's own
/// deadlines (a delayed frame) to the stack's.
pub trait Device {
    /// What the device is.
    fn capabilities(&self) -> Capabilities;

    /// Waits at most `timeout` for frames (not at all when it is zero), or until `stop` fires.
    fn wait(&mut self, timeout: Duration, stop: &Receiver<()>) -> Wait;

    /// Hands every frame that has arrived by `now` to `frame`, in order, with what the device
    /// knows of it and a transmitter for the answers the stack gives while it takes the frame
    /// (they go where [`Device::transmit`] puts frames); returns how many frames.
    fn receive<F: FnMut(&[u8], FrameInfo, &mut dyn FnMut(&[u8]))>(
        &mut self,
        now: Instant,
        frame: F,
    ) -> usize;

    /// Takes a frame to send at `now` into the device's own buffers.
    fn transmit(&mut self, now: Instant, frame: &[u8]);

    /// Hands the frames taken since the last call to the medium.
    fn send(&mut self, now: Instant);

    /// When the device itself next has something due (none: only when frames arrive).
    fn poll_at(&self) -> Option<Instant> {
        None
    }

    /// Takes a frame past any fault injection (what a clean stop says on leaving).
    fn transmit_unimpaired(&mut self, now: Instant, frame: &[u8]) {
        self.transmit(now, frame);
    }

    /// [`Device::send`] past any fault injection.
    fn send_unimpaired(&mut self, now: Instant) {
        self.send(now);
    }

    /// Makes what the device keeps (a capture file) durable; called every second and at the end.
    fn sync(&mut self) {}
}

/// Which way a frame went, seen from our stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Received by the stack.
    In,
    /// Sent by the stack.
    Out,
}
