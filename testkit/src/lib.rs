//! Test support for tapstack, shared by its tests and by `tapstack bench`.
//!
//! - [`process`]: commands bounded in time, long-running programs whose lines can be awaited,
//!   signals, temporary directories;
//! - [`netns`]: network namespaces with everything in them cleaned up on drop;
//! - [`testing`]: the same with panics instead of errors, and skipping, for tests;
//! - [`capture`]: the `tshark` gate every capture a test writes goes through;
//! - [`linktype`]: Ethernet captures rewritten as other link types (cooked, raw IP, loopback);
//! - [`frame`]: frame builders (Ethernet, ARP, IPv4, IPv6, ICMP, ICMPv6, UDP, TCP) with
//!   correct checksums, computed here independently of the stack.
//!
//! The fallible API returns `anyhow` results; this crate does not depend on the stack, so that
//! the stack's own unit tests can use it.

pub mod capture;
pub mod frame;
pub mod linktype;
pub mod netns;
pub mod process;
pub mod testing;

pub use netns::{Netns, Pending};
pub use process::{Exit, OnDrop, Output, Process, TempDir, Wait};
