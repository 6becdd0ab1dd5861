//! The smallest real host: tapstack on a TAP device answering ping and UDP echo, in ~40 lines.
//!
//! Run as root: `cargo run -p tapstack-examples --example tap_echo`, then from the same machine
//! `ping 10.78.0.2` or `echo hi | socat - UDP:10.78.0.2:7`. Ctrl-C stops it.

use std::ops::ControlFlow;

use anyhow::Result;
use tapstack::device::tap::Tap;
use tapstack::runtime::{self, RunOptions};
use tapstack::{Config, Event, Host, Interface, Ipv4Cidr, MacAddr};

fn main() -> Result<()> {
    let ours: Ipv4Cidr = "10.78.0.2/24".parse()?;
    let kernel_side: Ipv4Cidr = "10.78.0.1/24".parse()?;
    let iface = Interface::new(Config::new(MacAddr([0x02, 0, 0, 0x78, 0, 2]), Some(ours)))?;
    let mut host = Host::with_standard_services(iface)?;

    let tap = Tap::open("tapecho0")?;
    tap.configure_host(Some(kernel_side), 1500)?;
    let io = tap.spawn()?;

    let (stop_tx, stop_rx) = crossbeam_channel::bounded(1);
    ctrlc::set_handler(move || {
        let _ = stop_tx.try_send(());
    })?;
    println!("tapecho0 is up: try `ping 10.78.0.2`; Ctrl-C stops");
    runtime::run(&mut host, &io, RunOptions::default(), &stop_rx, |event| {
        if let Event::AddressReady(a) = event {
            println!("{a} answers now");
        }
        ControlFlow::Continue(())
    });
    io.shutdown();
    println!("{}", host.iface().stats());
    Ok(())
}
