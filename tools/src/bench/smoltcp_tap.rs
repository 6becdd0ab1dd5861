//! smoltcp as the peer stack over TAP, for comparison: what smoltcp's own `benchmark` example
//! does (a TCP source and a sink on a TAP device), serving discard (port 9) and chargen (port 19)
//! at tapstack's address, with tapstack's default socket buffers.
//!
//! It runs as a hidden mode of `tapstack bench` (`--smoltcp-tap-peer TAP`, or
//! `--smoltcp-tun-peer TUN` for smoltcp's `Medium::Ip` on a TUN device) that the bench starts
//! inside a namespace of its own. Its device is tapstack's TAP device, opened without offloads
//! (smoltcp has none), through the same [`Port`] tapstack's runtime uses, so the two stacks are
//! compared on the same frame path: smoltcp's loop waits on the device, takes every frame
//! there, polls, and hands what it sent to the port in one batch.

use std::io::Write as _;
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::{Duration, Instant as WallClock};

use anyhow::{anyhow, Context, Result};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::Medium;
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};
use tapstack::device::tap::{Port, Tap};
use tapstack::device::{Device, Wait};

// smoltcp's device: frames from the reader thread, frames for the writer thread, the same
// queues as in memory.
use super::inmem::Queues;
use tapstack::Ipv4Cidr;

const STACK_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const HOST_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const MTU: usize = 1500;
const DISCARD: u16 = 9;
const CHARGEN: u16 = 19;

fn socket() -> tcp::Socket<'static> {
    let size = tapstack::tcp::Config::default().rx_buffer;
    tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; size]),
        tcp::SocketBuffer::new(vec![0; size]),
    )
}

/// Runs smoltcp on the TAP device `name` until killed.
///
/// # Errors
/// When the device cannot be opened or set up.
pub fn serve(name: &str) -> Result<ExitCode> {
    serve_on(name, Medium::Ethernet)
}

/// Runs smoltcp on the TAP (`Medium::Ethernet`) or TUN (`Medium::Ip`) device `name` until
/// killed.
///
/// # Errors
/// When the device cannot be opened or set up.
pub fn serve_on(name: &str, medium: Medium) -> Result<ExitCode> {
    let tap = match medium {
        Medium::Ip => tapstack::device::tun::open(name)?,
        _ => Tap::open(name)?,
    };
    tap.configure_host(Ipv4Cidr::new(HOST_IP, 24), MTU)?;
    if medium == Medium::Ip {
        tap.configure_peer(STACK_IP)?;
    }
    let io = tap.spawn()?;
    let mut port = Port::new(&io, MTU);
    let (_keep, never) = crossbeam_channel::bounded::<()>(1);
    let o = STACK_IP.octets();
    let mac = EthernetAddress([0x02, 0x00, o[0], o[1], o[2], o[3]]);
    let hardware = match medium {
        Medium::Ip => HardwareAddress::Ip,
        _ => HardwareAddress::Ethernet(mac),
    };
    let mut config = Config::new(hardware);
    config.random_seed = 1;
    let mut device = Queues {
        medium,
        ..Queues::default()
    };
    let epoch = WallClock::now();
    let now = || Instant::from_micros(i64::try_from(epoch.elapsed().as_micros()).unwrap_or(0));
    let mut iface = Interface::new(config, &mut device, now());
    iface.update_ip_addrs(|a| {
        let _ = a.push(IpCidr::new(IpAddress::v4(o[0], o[1], o[2], o[3]), 24));
    });
    let mut sockets = SocketSet::new(Vec::new());
    let discard = sockets.add(socket());
    let chargen = sockets.add(socket());
    let pattern: Vec<u8> = (0..95u8)
        .flat_map(|line| {
            (0..72u8)
                .map(move |i| b' ' + (line + i) % 95)
                .chain(*b"\r\n")
        })
        .collect();
    let mut offset = 0usize;
    println!("smoltcp: {STACK_IP} is up and answering");
    std::io::stdout().flush().context("writing to stdout")?;
    loop {
        let t = now();
        iface.poll(t, &mut device, &mut sockets);
        serve_discard(&mut sockets, discard)?;
        serve_chargen(&mut sockets, chargen, &pattern, &mut offset)?;
        // What the services queued goes out in the same round.
        iface.poll(t, &mut device, &mut sockets);
        // The same way out as tapstack's runtime: small batches written at once when the
        // writer thread is idle, a full queue dropping frames like a congested link.
        let stamp = tapstack::Instant::ZERO;
        for f in device.tx.drain(..) {
            port.transmit(stamp, &f);
        }
        port.send(stamp);
        if !device.rx.is_empty() {
            continue;
        }
        let wait = iface
            .poll_delay(now(), &sockets)
            .map_or(Duration::from_millis(100), |d| {
                Duration::from_micros(d.total_micros()).min(Duration::from_millis(100))
            });
        match port.wait(wait, &never) {
            Wait::Ready => {
                port.receive(stamp, |f, _, _| device.rx.push_back(f.to_vec()));
            }
            Wait::Timeout | Wait::Stopped => {}
            Wait::Closed => return Err(anyhow!("the TAP device closed")),
        }
    }
}

/// Reads and drops; closes when the peer has; listens again when closed.
fn serve_discard(sockets: &mut SocketSet<'static>, h: SocketHandle) -> Result<()> {
    let s = sockets.get_mut::<tcp::Socket>(h);
    if !s.is_open() {
        s.listen(DISCARD).map_err(|e| anyhow!("listen: {e:?}"))?;
    }
    while s.can_recv() {
        let n = s.recv(|buf| (buf.len(), buf.len())).unwrap_or(0);
        if n == 0 {
            break;
        }
    }
    if s.state() == tcp::State::CloseWait {
        s.close();
    }
    Ok(())
}

/// Fills the send buffer with the RFC 864 pattern; closes when the peer has.
fn serve_chargen(
    sockets: &mut SocketSet<'static>,
    h: SocketHandle,
    pattern: &[u8],
    offset: &mut usize,
) -> Result<()> {
    let s = sockets.get_mut::<tcp::Socket>(h);
    if !s.is_open() {
        s.listen(CHARGEN).map_err(|e| anyhow!("listen: {e:?}"))?;
        *offset = 0;
    }
    if !s.may_recv() && s.state() == tcp::State::CloseWait {
        s.close();
        return Ok(());
    }
    // Whatever the peer sends is dropped.
    while s.can_recv() {
        if s.recv(|buf| (buf.len(), buf.len())).unwrap_or(0) == 0 {
            break;
        }
    }
    while s.can_send() {
        let n = s
            .send(|buf| {
                let mut n = 0;
                while n < buf.len() {
                    let from = pattern.get(*offset..).unwrap_or_default();
                    let k = from.len().min(buf.len() - n);
                    if k == 0 {
                        break;
                    }
                    if let (Some(dst), Some(src)) = (buf.get_mut(n..n + k), from.get(..k)) {
                        dst.copy_from_slice(src);
                    }
                    n += k;
                    *offset = (*offset + k) % pattern.len().max(1);
                }
                (n, n)
            })
            .unwrap_or(0);
        if n == 0 {
            break;
        }
    }
    Ok(())
}
