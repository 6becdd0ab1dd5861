//! tapstack: a userspace TCP/IP stack with a pure, poll-driven core.
//!
//! The core ([`Interface`]) never reads a clock, a random source or a file descriptor: time comes in
//! as [`Instant`], randomness from the seed in [`Config`], frames in through
//! [`Interface::receive`] and out through the `emit` callback of [`Interface::receive`] and
//! [`Interface::poll`]. [`Interface::poll_at`] says when the core next wants to run.
//!
//! Everything that touches the operating system lives in `device` (TAP, capture files, the
//! in-memory wire) and `runtime` (threads, the stack loop).
//!
//! # The sans-IO loop
//!
//! Two hosts on one link, with the loop a device driver or firmware would write: frames in
//! through `receive`, frames out through `emit`, timers through `poll`, and the clock moved on
//! to the next `poll_at` deadline when there is nothing to deliver. The clock is virtual here,
//! so the ARP probes (RFC 5227) that come before the addresses are used take no real time.
//!
//! ```
//! use std::net::{Ipv4Addr, SocketAddrV4};
//! use std::time::Duration;
//!
//! use tapstack::time::earliest;
//! use tapstack::{Config, Instant, Interface, MacAddr};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut a = Interface::new(Config::new(MacAddr([2, 0, 0, 0, 0, 1]), Some("192.0.2.1/24".parse()?)))?;
//! let mut b = Interface::new(Config::new(MacAddr([2, 0, 0, 0, 0, 2]), Some("192.0.2.2/24".parse()?)))?;
//! let client = a.udp_bind(4000)?;
//! let echo = b.udp_bind(7)?;
//! let server = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 7);
//!
//! // The link: frames on their way to each side.
//! let (mut to_a, mut to_b) = (Vec::<Vec<u8>>::new(), Vec::<Vec<u8>>::new());
//! let mut now = Instant::ZERO;
//! let mut sent = false;
//! let mut answer = None;
//! for _ in 0..1_000 {
//!     // Frames in; whatever the stack answers at once goes out through `emit`.
//!     for frame in std::mem::take(&mut to_a) {
//!         a.receive(now, &frame, &mut |out| to_b.push(out.to_vec()));
//!     }
//!     for frame in std::mem::take(&mut to_b) {
//!         b.receive(now, &frame, &mut |out| to_a.push(out.to_vec()));
//!     }
//!     // The applications, on the socket API: B echoes, A asks once its address is in use.
//!     if let Some((from, data)) = b.udp_recv_from(echo) {
//!         b.udp_send_to(echo, from, &data)?;
//!     }
//!     if !sent && a.ipv4().is_some() {
//!         a.udp_send_to(client, server, b"hello")?;
//!         sent = true;
//!     }
//!     if let Some((_, data)) = a.udp_recv_from(client) {
//!         answer = Some(data);
//!         break;
//!     }
//!     // Timers and queued output: ARP, retransmissions, the datagrams just queued.
//!     a.poll(now, &mut |out| to_b.push(out.to_vec()));
//!     b.poll(now, &mut |out| to_a.push(out.to_vec()));
//!     // Next turn: at once if frames are on the link, else at the earliest deadline.
//!     now = if !to_a.is_empty() || !to_b.is_empty() {
//!         now + Duration::from_micros(10)
//!     } else {
//!         earliest(a.poll_at(), b.poll_at()).unwrap_or(now + Duration::from_millis(100)).max(now)
//!     };
//! }
//! assert_eq!(answer.as_deref(), Some(&b"hello"[..]));
//! println!("echo after {now} of virtual time; A: {}", a.stats());
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! - `device` (default): the TAP and TUN devices (opened with `libc` ioctls, with or without
//!   the virtio-net header's offloads) and, with `capture`, the `runtime` that drives a host
//!   over them;
//! - `capture` (default): pcap and pcapng files (`device::capture`) and the `replay` driver;
//! - `services` (default): the DNS and HTTP servers (`services::dns`, `services::http`).
//!
//! With none of them (`default-features = false`) the crate is the sans-IO core: the interface,
//! every protocol, the in-memory wire and fault injection, the echo, discard and chargen
//! services, and [`Host`].
#![warn(missing_docs)]
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
#[cfg(feature = "capture")]
pub mod replay;
pub mod report;
pub mod rng;
#[cfg(all(feature = "device", feature = "capture"))]
pub mod runtime;
pub mod services;
pub mod stats;
pub mod tcp;
pub mod time;
pub mod udp;

pub use config::{Config, ConfigError, Ipv4Cidr, Ipv6Cidr, Ipv6Config, Limits, ParseError};
/// The channel crate whose `Receiver` and `Sender` appear in the device and runtime APIs (the
/// stop signal, the TAP device's batches), re-exported so that users name the same version.
pub use crossbeam_channel as channel;
pub use ethernet::MacAddr;
pub use host::Host;
pub use iface::{Event, Interface};
pub use stats::{DropReason, Stats};
pub use time::Instant;
