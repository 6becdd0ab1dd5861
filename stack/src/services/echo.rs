//! The echo service (RFC 862) over UDP: every datagram goes back to its sender.

use crate::iface::Interface;
use crate::services::Service;
use crate::time::Instant;
use crate::udp;

/// The well-known echo port.
pub const PORT: u16 = 7;

/// UDP echo on one port.
#[derive(Debug)]
pub struct UdpEcho {
    socket: udp::Handle,
    echoed: u64,
    dropped: u64,
}

impl UdpEcho {
    /// Binds the service to `port`.
    ///
    /// # Errors
    /// [`udp::BindError`] when the port is taken or the socket table is full.
    pub fn bind(iface: &mut Interface, port: u16) -> Result<Self, udp::BindError> {
        Ok(UdpEcho {
            socket: iface.udp_bind(port)?,
            echoed: 0,
            dropped: 0,
        })
    }

    /// Datagrams echoed.
    pub fn echoed(&self) -> u64 {
        self.echoed
    }

    /// Datagrams not echoed because the send queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

impl Service for UdpEcho {
    fn name(&self) -> &'static str {
        "udp-echo"
    }

    fn poll(&mut self, _now: Instant, iface: &mut Interface) {
        while let Some((from, to, data)) = iface.udp_recv_from_to(self.socket) {
            match iface.udp_send_from(self.socket, to, from, &data) {
                Ok(()) => self.echoed += 1,
                Err(_) => self.dropped += 1,
            }
        }
    }
}
