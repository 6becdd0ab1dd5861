//! DHCPv4 client (RFC 2131, options RFC 2132), with an address check before use (RFC 2131
//! 3.1.5, RFC 5227).
//!
//! [`wire`] holds the message format ([`Packet`], [`Repr`]); [`Client`] is the state machine of
//! RFC 2131 4.4 (figure 5). Like the rest of the core it does no I/O and reads no clock:
//!
//! 1. [`Client::start`] once the interface is up;
//! 2. [`Client::receive`] for every UDP datagram arriving on port 68;
//! 3. [`Client::probe_result`] once the caller has checked the address asked for by
//!    [`Event::Probe`] (RFC 5227 probes, through [`crate::arp`]);
//! 4. after any of those, and whenever [`Client::poll_at`] is reached: [`Client::poll`] until it
//!    returns `None` (each [`Transmit`] is a datagram from port 68 to port 67), then
//!    [`Client::poll_event`] until it returns `None`.

mod client;
mod report;
pub mod wire;

pub use client::{
    Client, Config, Counters, Destination, Error, Event, Lease, Rejected, State, Transmit,
};
pub use wire::{MessageType, Op, Packet, ParseError, Repr, CLIENT_PORT, SERVER_PORT};
