//! A Linux TUN device: bare IP packets to and from the kernel (`IFF_TUN | IFF_NO_PI`).
//!
//! The kernel makes a TUN device point-to-point and without ARP (`IFF_POINTOPOINT |
//! IFF_NOARP`, type `ARPHRD_NONE`, no hardware address): what it reads from the device is an
//! IPv4 or IPv6 packet, nothing in front. It is opened like a TAP device and moved by the same
//! code ([`Tap`], [`super::tap::TapIo`], [`super::tap::Port`]), whose
//! [`Capabilities`](super::Capabilities) then say [`Medium::Ip`]; the stack on it runs with
//! [`Config::medium`](crate::Config) set to match. The kernel side is given its address with
//! the stack's as the point-to-point peer, as `ip addr add A peer B dev tun0` does.

use core::net::Ipv4Addr;

use super::tap::{ifreq, sockaddr, OffloadMode, Socket, Tap, TapError};
use super::Medium;

/// Creates the TUN device `name`, or attaches to an existing persistent one.
///
/// # Errors
/// [`TapError`] naming what stopped it.
pub fn open(name: &str) -> Result<Tap, TapError> {
    Tap::create(name, Medium::Ip, OffloadMode::Off)
}

/// [`open`] with the offloads `mode` asks for: the virtio-net header works on TUN as on TAP,
/// its offsets counted from the IP header.
///
/// # Errors
/// [`TapError`] naming what stopped it; with [`OffloadMode::On`], a kernel that refuses.
pub fn open_with(name: &str, mode: OffloadMode) -> Result<Tap, TapError> {
    Tap::create(name, Medium::Ip, mode)
}

impl Tap {
    /// Names `peer` as the far end of the kernel side's IPv4 address (ioctl `SIOCSIFDSTADDR`,
    /// what `ip addr add A peer B` sets). Call it after [`Tap::configure_host`] gave the
    /// address.
    ///
    /// # Errors
    /// [`TapError::Other`] naming the step that failed.
    pub fn configure_peer(&self, peer: Ipv4Addr) -> Result<(), TapError> {
        let sock = Socket::inet()?;
        let mut req = ifreq(self.name());
        req.ifr_ifru.ifru_dstaddr = sockaddr(peer);
        sock.ioctl(libc::SIOCSIFDSTADDR, &mut req, "setting the peer address")
    }
}
