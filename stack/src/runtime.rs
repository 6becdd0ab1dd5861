//! The runtime: runs a [`Host`] over a [`Device`] (the TAP device, wrapped in fault injection
//! and capture as asked).
//!
//! [`drive`] is the one loop, generic over the device: it owns the core, waits (the TAP device
//! waits with `select!` on its reader thread's channel) until a frame arrives, a deadline
//! (`poll_at`, the stack's or the device's) passes or a stop is asked for, hands each burst to
//! the core and polls once. [`run`] puts a TAP device in its wrappers and drives it. Time here
//! is the monotonic clock, turned into core [`Instant`]s; capture timestamps are wall-clock.

use std::ops::ControlFlow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::Receiver;
use tracing::trace;

use crate::device::capture::{CaptureWriter, Captured};
use crate::device::impair::{ImpairConfig, ImpairStats, Impaired};
use crate::device::tap::{Port, TapIo};
use crate::device::{Device, Direction, Medium, Wait};
use crate::host::Host;
use crate::iface::Event;
use crate::time::{earliest, Instant};

/// How the loop runs.
#[derive(Debug, Default)]
pub struct RunOptions {
    /// Where to tee every frame.
    pub capture: Option<CaptureWriter>,
    /// Faults to inject in both directions.
    pub impair: Option<ImpairConfig>,
    /// Faults to inject in received frames instead of `impair`.
    pub impair_in: Option<ImpairConfig>,
    /// Faults to inject in sent frames instead of `impair`.
    pub impair_out: Option<ImpairConfig>,
    /// Seed of the fault injector.
    pub seed: u64,
    /// How long each wait for frames spins before it sleeps (zero: it sleeps at once).
    pub busy_poll: Duration,
}

/// What the loop did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Frames written to the capture.
    pub captured: u64,
    /// A capture error, if writing stopped.
    pub capture_error: Option<String>,
    /// Fault injection on received frames.
    pub impair_in: Option<ImpairStats>,
    /// Fault injection on sent frames.
    pub impair_out: Option<ImpairStats>,
    /// Why the loop ended.
    pub ended: Ending,
}

/// Why the loop ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Ending {
    /// A stop was asked for (Ctrl-C, SIGTERM).
    #[default]
    Stopped,
    /// The event handler asked to stop.
    ByEvent,
    /// The device went away.
    DeviceClosed,
}

/// How often the capture is flushed while running.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// With `-vv` (trace level) every frame is logged, decoded like `tapstack dump`. A bare IP
/// packet (a TUN device) is decoded behind an Ethernet header with zero addresses.
fn trace_frame(dir: Direction, medium: Medium, frame: &[u8]) {
    if tracing::enabled!(tracing::Level::TRACE) {
        let arrow = match dir {
            Direction::In => "in ",
            Direction::Out => "out",
        };
        match medium {
            Medium::Ethernet => trace!("{arrow} {}", crate::decode::summary(frame)),
            Medium::Ip => {
                let ether_type: u16 = match frame.first().map(|b| b >> 4) {
                    Some(6) => 0x86dd,
                    _ => 0x0800,
                };
                let mut framed = vec![0u8; 12];
                framed.extend_from_slice(&ether_type.to_be_bytes());
                framed.extend_from_slice(frame);
                trace!("{arrow} {}", crate::decode::summary(&framed));
            }
        }
    }
}

/// Runs `host` over `io` until `stop` fires, `on_event` breaks, or the device closes, with
/// the capture and fault injection `options` asks for. The capture is flushed before
/// returning, whatever the reason.
pub fn run(
    host: &mut Host,
    io: &TapIo,
    options: RunOptions,
    stop: &Receiver<()>,
    on_event: impl FnMut(&Event) -> ControlFlow<()>,
) -> RunReport {
    let origin = std::time::Instant::now();
    let wall_origin = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mtu = host.iface().config().mtu;
    let rx = options.impair_in.or_else(|| options.impair.clone());
    let tx = options.impair_out.or(options.impair);
    // Frames are exact for a capture and under fault injection (which may corrupt a frame,
    // and then every checksum must be whole and checked): the kernel's partial checksums are
    // filled in, and the stack's super-segments carry full ones. Otherwise both are left to
    // the kernel, a pass over every large frame saved each way.
    let port = Port::new(io, mtu)
        .with_busy_poll(options.busy_poll)
        .filling_checksums(options.capture.is_some() || rx.is_some() || tx.is_some());
    let impaired = Impaired::each_way(port, rx, tx, options.seed, "tap-in", "tap-out");
    let mut device = Captured::new(impaired, options.capture, wall_origin);
    let ended = drive(host, &mut device, origin, stop, on_event);
    let impair = device.inner().stats();
    RunReport {
        captured: device.frames(),
        capture_error: device.error().map(str::to_owned),
        impair_in: impair.map(|(rx, _)| rx),
        impair_out: impair.map(|(_, tx)| tx),
        ended,
    }
}

/// Runs `host` over `device` until `stop` fires, `on_event` breaks, or the device closes; the
/// stack's clock starts at `origin`. A clean stop lets the host say goodbye (a DHCPRELEASE)
/// past any fault injection; the device is synced (the capture flushed) before returning.
pub fn drive<D: Device>(
    host: &mut Host,
    device: &mut D,
    origin: std::time::Instant,
    stop: &Receiver<()>,
    mut on_event: impl FnMut(&Event) -> ControlFlow<()>,
) -> Ending {
    let clock =
        || Instant::from_micros(u64::try_from(origin.elapsed().as_micros()).unwrap_or(u64::MAX));
    let mut last_sync = origin;
    let mut ended = Ending::Stopped;
    let medium = device.capabilities().medium;
    host.iface_mut()
        .set_offloads(device.capabilities().offloads);

    'run: loop {
        let now = clock();
        let deadline = earliest(host.poll_at(), device.poll_at());
        let wait = deadline
            .map_or(FLUSH_EVERY, |d| d.saturating_duration_since(now))
            .min(FLUSH_EVERY);
        match device.wait(wait, stop) {
            Wait::Ready | Wait::Timeout => {}
            Wait::Stopped => break 'run,
            Wait::Closed => {
                ended = Ending::DeviceClosed;
                break 'run;
            }
        }
        let now = clock();
        device.receive(now, |frame, info, send| {
            trace_frame(Direction::In, medium, frame);
            host.receive_with(now, frame, info, &mut |f: &[u8]| {
                trace_frame(Direction::Out, medium, f);
                send(f);
            });
        });
        // The answers to what arrived (an echo reply, an ACK that lets data out) leave before
        // the services and timers run: a ping waits for nothing else.
        device.send(now);
        host.poll(now, &mut |f: &[u8]| {
            trace_frame(Direction::Out, medium, f);
            device.transmit(now, f);
        });
        while let Some(e) = host.iface_mut().poll_event() {
            if on_event(&e).is_break() {
                ended = Ending::ByEvent;
                device.send(now);
                break 'run;
            }
        }
        device.send(now);
        if last_sync.elapsed() >= FLUSH_EVERY {
            device.sync();
            last_sync = std::time::Instant::now();
        }
    }
    if ended != Ending::DeviceClosed {
        // A clean stop: what the stack says on leaving (a DHCPRELEASE) still goes out, past
        // any impairment. The device threads write it before they end.
        let now = clock();
        host.shutdown(now, &mut |f: &[u8]| {
            trace_frame(Direction::Out, medium, f);
            device.transmit_unimpaired(now, f);
        });
        device.send_unimpaired(now);
    }
    device.sync();
    ended
}
