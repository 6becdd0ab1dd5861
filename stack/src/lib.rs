//! tapstack: a userspace TCP/IP stack with a pure, poll-driven core.
//!
//! The core ([`Interface`]) never reads a clock, a random source or a file descriptor: time comes in
//! as [`Instant`], randomness from the seed in [`Config`], frames in through
//! [`Interface::receive`] and out through the `emit` callback of [`Interface::receive`] and
//! [`Interface::poll`]. [`Interface::poll_at`] says when the core next wants to run.
//!
//! Everything that touches the operating system lives in [`device`] (TAP, capture files, the
//! in-memory wire) and [`runtime`] (threads, the stack loop).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod arp;
pub mod checksum;
pub mod config;
pub mod decode;
pub mod device;
pub mod dhcp;
pub mod ethernet;
pub mod host;
pub mod icmp;
pub mod iface;
pub mod ipv4;
pub mod ipv6;
pub mod neighbor;
pub mod reassembly;
pub mod replay;
pub mod report;
pub mod rng;
pub mod runtime;
pub mod services;
pub mod stats;
pub mod tcp;
pub mod time;
pub mod udp;

pub use config::{Config, ConfigError, Ipv4Cidr, Ipv6Cidr, Ipv6Config, Limits};
pub use ethernet::MacAddr;
pub use host::Host;
pub use iface::{Event, Interface};
pub use stats::{DropReason, Stats};
pub use time::Instant;
