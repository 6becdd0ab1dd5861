//! Lifetime tests of `tapstack up` against hostile peers over a real TAP device: nothing a peer
//! does may pin the stack. Each module is one kind of abuse from the kernel side of a throwaway
//! network namespace, with a legitimate client that must still be served, and prints its
//! figures (`figures: ...`).
//!
//! Crafted frames come from small Python programs on an `AF_PACKET` socket bound to the TAP
//! device inside the namespace (no frame leaves it); every loop is bounded in count and time.
//! Tests that cannot run here (not root, no /dev/net/tun, a tool missing) print
//! "skipping: <reason>" and pass.

#[path = "tap/capture.rs"]
#[allow(dead_code)]
mod capture;
#[path = "tap/netns.rs"]
#[allow(dead_code)]
mod netns;
#[path = "tap/report.rs"]
#[allow(dead_code)]
mod report;
#[path = "tap/stream.rs"]
#[allow(dead_code)]
mod stream;

// One module per kind of abuse: floods of SYNs and of fragments, clients that never close,
// clients that never read.
#[path = "lifetime/fin_wait.rs"]
mod fin_wait;
#[path = "lifetime/flood.rs"]
mod flood;
#[path = "lifetime/fragments.rs"]
mod fragments;
#[path = "lifetime/memory.rs"]
mod memory;

use std::time::Duration;

use netns::{Exit, Netns, Output, Stack};
use report::{counters, Counters};

/// The stack's addresses with the default options.
pub const ADDR: &str = "10.77.0.2";
pub const ADDR6: &str = "fd77::2";
/// The kernel side's addresses.
pub const HOST: &str = "10.77.0.1";
pub const HOST6: &str = "fd77::1";
/// The stack's MAC with the default options (02:00 and its IPv4 address).
pub const STACK_MAC: &str = "02:00:0a:4d:00:02";
/// The TAP device the stack creates.
pub const TAP: &str = "tap0";
/// No address conflict probing: the namespace is empty, and the stack answers at once.
pub const QUICK: &[&str] = &["--arp-probes", "0"];

/// Runs the Python program `script` with `args` in `ns`, bounded by `limit`; panics unless it
/// succeeds, and returns its output.
pub fn python(ns: &Netns, script: &str, args: &[&str], limit: Duration) -> Output {
    let mut argv = vec!["python3", "-c", script];
    argv.extend_from_slice(args);
    let out = ns.run(&argv, b"", limit);
    assert!(
        out.status.success(),
        "python3 failed: {}\n{}",
        out.stdout_text(),
        out.stderr
    );
    out
}

/// Python helpers the crafting programs start with: the Internet checksum, MAC parsing and an
/// `AF_PACKET` socket on the TAP device with the Ethernet header towards the stack.
pub const PY_PRELUDE: &str = r#"
import socket, struct, sys, time, random
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
def mac(m):
    return bytes.fromhex(m.replace(":", ""))
def link(iface, dst_mac, ethertype):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    src = open("/sys/class/net/%s/address" % iface).read().strip()
    return s, mac(dst_mac) + mac(src) + struct.pack("!H", ethertype)
def send(s, frame):
    # The TAP queue may be full for a moment: retry, bounded.
    for _ in range(1000):
        try:
            s.send(frame)
            return
        except OSError:
            time.sleep(0.001)
    raise SystemExit("cannot send")
"#;

/// Stops the stack and returns how it ended and its counters; panics if it did not exit with
/// status 0 or panicked.
pub fn stop(stack: &mut Stack) -> (Exit, Counters) {
    let exit = stack.stop(libc::SIGINT);
    netns::assert_clean_exit(&exit);
    let c = counters(&exit.stdout);
    (exit, c)
}
