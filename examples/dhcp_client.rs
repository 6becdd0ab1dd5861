//! A host that gets its address from a DHCP server, like a laptop: DISCOVER, OFFER, REQUEST,
//! ACK, an ARP check of the address, renewals, and the lease given back on Ctrl-C.
//!
//! Run as root: `cargo run -p tapstack-examples --example dhcp_client`, then serve DHCP on the
//! device it creates, e.g.
//! `dnsmasq --no-daemon --port=0 --interface=tapdhcp0 --bind-interfaces --dhcp-range=10.79.0.50,10.79.0.99,2m`.

use std::ops::ControlFlow;

use anyhow::Result;
use tapstack::device::tap::Tap;
use tapstack::runtime::{self, RunOptions};
use tapstack::{Config, Event, Host, Interface, MacAddr};

fn main() -> Result<()> {
    let kernel_side: tapstack::Ipv4Cidr = "10.79.0.1/24".parse()?;
    let mut config = Config::new(MacAddr([0x02, 0, 0, 0x79, 0, 2]), None);
    config.dhcp = Some(tapstack::dhcp::Config::default());
    config.hostname = Some("tapstack-example".into());
    let mut host = Host::with_standard_services(Interface::new(config)?)?;

    let tap = Tap::open("tapdhcp0")?;
    tap.configure_host(Some(kernel_side), 1500)?;
    let io = tap.spawn()?;
    let (stop_tx, stop_rx) = crossbeam_channel::bounded(1);
    ctrlc::set_handler(move || {
        let _ = stop_tx.try_send(());
    })?;
    println!("tapdhcp0 is up; asking for an address (start a DHCP server on it); Ctrl-C stops");
    runtime::run(&mut host, &io, RunOptions::default(), &stop_rx, |event| {
        match event {
            Event::LeaseAcquired { addr, server } => println!("leased {addr} from {server}"),
            Event::LeaseRenewed { addr, .. } => println!("lease on {addr} renewed"),
            Event::LeaseLost(a) => println!("{a} is no longer ours"),
            Event::AddressReady(a) => println!("{a} answers now: try `ping {a}`"),
            _ => {}
        }
        ControlFlow::Continue(())
    });
    io.shutdown();
    if let Some(client) = host.iface().dhcp() {
        println!("dhcp: {}", client.counters());
    }
    Ok(())
}
