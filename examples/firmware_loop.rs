//! Firmware style: two tapstack hosts on an in-memory wire, driven by one hand-written loop.
//!
//! Nothing here reads a clock or spawns a thread. Time is a counter the loop advances to the next
//! deadline any side reports (`poll_at`), the way a microcontroller would sleep until its timer.
//! Memory is bounded by `Limits` and the TCP memory budget, chosen small here as a device with
//! little RAM would.
//!
//! Run: `cargo run -p tapstack-examples --example firmware_loop`

use std::net::{Ipv4Addr, SocketAddrV4};

use anyhow::{anyhow, Result};
use tapstack::config::Limits;
use tapstack::device::memory::{exchange, Pace, Pair, Wire};
use tapstack::{Config, Host, Instant, Interface, Ipv4Cidr, MacAddr};

fn small_limits() -> Limits {
    Limits {
        arp_cache_entries: 8,
        arp_pending_packets: 4,
        arp_pending_bytes: 4096,
        reassembly_datagrams: 2,
        reassembly_bytes: 16 * 1024,
        udp_sockets: 4,
        udp_queue_datagrams: 4,
        udp_queue_bytes: 4096,
        ..Limits::default()
    }
}

fn host(last_octet: u8, echo: bool) -> Result<Host> {
    let mut config = Config::new(
        MacAddr([0x02, 0, 0, 0, 0, last_octet]),
        Some(format!("192.0.2.{last_octet}/24").parse::<Ipv4Cidr>()?),
    );
    config.limits = small_limits();
    // All TCP buffers together hold at most 256 KiB; they take storage only as data arrives.
    config.tcp.memory = 256 * 1024;
    config.seed = u64::from(last_octet);
    let iface = Interface::new(config)?;
    Ok(if echo {
        Host::with_standard_services(iface)?
    } else {
        Host::new(iface)
    })
}

fn main() -> Result<()> {
    // The device on End::A; the server on End::B runs UDP echo on port 7.
    let mut net = Pair::between(Wire::new(1500), host(10, false)?, host(20, true)?);
    // When something is due at once, the loop still moves on by 10 us, as a timer tick would.
    let pace = Pace {
        max_step: None,
        when_due: core::time::Duration::from_micros(10),
        when_idle: core::time::Duration::from_micros(10),
    };
    let socket = net.a.iface_mut().udp_bind(0)?;
    let server_addr = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 20), 7);

    let mut now = Instant::ZERO;
    let mut sent = false;
    for step in 0..10_000 {
        // Deliver what has arrived, then let each side run its timers and send.
        exchange(&mut net.wire, now, &mut net.a, &mut net.b);
        let Pair {
            a: device,
            b: server,
            ..
        } = &mut net;

        if !sent && device.iface().ipv4().is_some() {
            device
                .iface_mut()
                .udp_send_to(socket, server_addr, b"hello from the firmware loop")?;
            println!("{now}: sent a datagram to {server_addr}");
            sent = true;
        }
        if let Some((from, data)) = device.iface_mut().udp_recv_from(socket) {
            println!(
                "{now}: echo from {from}: {:?} (after {step} loop turns)",
                String::from_utf8_lossy(&data)
            );
            println!("device: {}", device.iface().stats());
            println!("server: {}", server.iface().stats());
            return Ok(());
        }
        // Sleep until the next deadline; nothing busy-waits.
        now = pace.next(now, net.poll_at());
    }
    Err(anyhow!("no echo within 10000 loop turns"))
}
