//! Devices: the only places frames cross into or out of the process.
//!
//! - [`tap`]: a Linux TAP interface, with reader and writer threads.
//! - [`capture`]: pcap/pcapng writing (the tee of every frame) and reading (replay input).
//! - [`memory`]: an in-memory wire between two stacks, under virtual time.
//! - [`impair`]: seeded loss, duplication, reordering, delay and corruption, for any of them.

pub mod capture;
pub mod impair;
pub mod memory;
pub mod tap;

/// Which way a frame went, seen from our stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Received by the stack.
    In,
    /// Sent by the stack.
    Out,
}
