//! Services: ordinary users of the socket API, run in the stack loop by [`crate::Host`].

#[cfg(feature = "services")]
pub mod dns;
pub mod echo;
#[cfg(feature = "services")]
pub mod http;
#[cfg(feature = "services")]
pub mod iperf3;
pub mod tcp;

use crate::iface::Interface;
use crate::time::Instant;

/// A program living on the stack: polled after frames arrive and before the interface sends.
pub trait Service: std::fmt::Debug + Send {
    /// A short name for logs.
    fn name(&self) -> &'static str;

    /// Reads what arrived on its sockets and queues what it wants to send.
    fn poll(&mut self, now: Instant, iface: &mut Interface);

    /// The interface's addresses changed (a lease came or went); called before the next poll.
    fn addresses_changed(&mut self, _iface: &Interface) {}

    /// When the service next needs polling on its own (timeouts); `None` when only input wakes it.
    fn poll_at(&self) -> Option<Instant> {
        None
    }
}
