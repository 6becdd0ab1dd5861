//! The latency floor of the ping scenario: a bare responder on a TAP device that polls, reads
//! a frame and writes the reply, with no stack behind it. It answers ARP requests and ICMP echo
//! requests for the stack's address and nothing else, through the same device code
//! ([`Port`]) as tapstack's runtime, so what a stack adds to a ping is the difference.
//!
//! It runs as a hidden mode of `tapstack bench` (`--bare-tap-echo TAP`) that the bench starts
//! inside a namespace of its own.

use std::io::Write as _;
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use tapstack::device::tap::{Port, Tap};
use tapstack::device::{Device, Wait};
use tapstack::{Instant, Ipv4Cidr};

const STACK_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const HOST_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const MAC: [u8; 6] = [0x02, 0x00, 10, 77, 0, 2];

/// Answers ping and ARP on the TAP device `name` until killed.
///
/// # Errors
/// When the device cannot be opened or set up.
pub fn serve(name: &str) -> Result<ExitCode> {
    let tap = Tap::open(name)?;
    tap.configure_host(Ipv4Cidr::new(HOST_IP, 24), 1500)?;
    let io = tap.spawn()?;
    let mut port = Port::new(&io, 1500);
    let (_keep, never) = crossbeam_channel::bounded::<()>(1);
    println!("bare echo: {STACK_IP} is up and answering");
    std::io::stdout().flush().context("writing to stdout")?;
    let mut reply = Vec::with_capacity(1514);
    loop {
        match port.wait(Duration::from_millis(100), &never) {
            Wait::Ready => {
                port.receive(Instant::ZERO, |f, _, send| {
                    if answer(f, &mut reply) {
                        send(&reply);
                    }
                });
                port.send(Instant::ZERO);
            }
            Wait::Timeout | Wait::Stopped => {}
            Wait::Closed => return Err(anyhow!("the TAP device closed")),
        }
    }
}

/// Writes into `out` the answer to an ARP request or ICMP echo request for [`STACK_IP`];
/// false for anything else.
fn answer(f: &[u8], out: &mut Vec<u8>) -> bool {
    let (Some(dst_src), Some(ether_type)) = (f.get(..12), f.get(12..14)) else {
        return false;
    };
    out.clear();
    match ether_type {
        [0x08, 0x06] => {
            let Some(arp) = f.get(14..42) else {
                return false;
            };
            if arp[6..8] != [0, 1] || arp[24..28] != STACK_IP.octets() {
                return false;
            }
            out.extend_from_slice(&dst_src[6..12]);
            out.extend_from_slice(&MAC);
            out.extend_from_slice(&[0x08, 0x06]);
            out.extend_from_slice(&arp[..6]);
            out.extend_from_slice(&[0, 2]);
            out.extend_from_slice(&MAC);
            out.extend_from_slice(&STACK_IP.octets());
            out.extend_from_slice(&arp[8..18]);
            true
        }
        [0x08, 0x00] => {
            let Some(ip) = f.get(14..34) else {
                return false;
            };
            if ip[0] != 0x45 || ip[9] != 1 || ip[16..20] != STACK_IP.octets() {
                return false;
            }
            if f.get(34) != Some(&8) {
                return false;
            }
            out.extend_from_slice(&dst_src[6..12]);
            out.extend_from_slice(&MAC);
            out.extend_from_slice(&[0x08, 0x00]);
            out.extend_from_slice(&ip[..12]);
            out.extend_from_slice(&ip[16..20]);
            out.extend_from_slice(&ip[12..16]);
            out.extend_from_slice(f.get(34..).unwrap_or_default());
            // Echo reply: type 0; the checksum moves by the type's change (RFC 1624).
            out[34] = 0;
            let sum = u32::from(u16::from_be_bytes([out[36], out[37]])) + 0x0800;
            let sum = (sum & 0xffff) + (sum >> 16);
            out[36..38].copy_from_slice(&(sum as u16).to_be_bytes());
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_echo_request_gets_a_reply_with_a_correct_checksum() {
        let mut f = vec![0u8; 14];
        f[..6].copy_from_slice(&MAC);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[3] = 28;
        ip[8] = 64;
        ip[9] = 1;
        ip[12..16].copy_from_slice(&HOST_IP.octets());
        ip[16..20].copy_from_slice(&STACK_IP.octets());
        f.extend_from_slice(&ip);
        let mut icmp = [8u8, 0, 0, 0, 0, 7, 0, 1];
        let sum = !icmp
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .sum::<u32>() as u16;
        icmp[2..4].copy_from_slice(&sum.to_be_bytes());
        f.extend_from_slice(&icmp);
        let mut out = Vec::new();
        assert!(answer(&f, &mut out));
        assert_eq!(out[34], 0);
        assert_eq!(&out[26..30], &STACK_IP.octets());
        let total: u32 = out[34..]
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .sum();
        let folded = (total & 0xffff) + (total >> 16);
        assert_eq!(folded, 0xffff, "ICMP checksum");
    }
}
