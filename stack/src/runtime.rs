//! The runtime: runs a [`Host`] over a TAP device.
//!
//! Device threads move batches of frames through channels; this loop owns the core, waits with
//! `select!` until a frame arrives, a deadline (`poll_at`) passes or a stop is asked for, and tees
//! every frame into the capture. Time here is the monotonic clock, turned into core [`Instant`]s;
//! capture timestamps are wall-clock.

use std::ops::ControlFlow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{select, Receiver};
use tracing::{trace, warn};

use crate::device::capture::CaptureWriter;
use crate::device::impair::{Impair, ImpairConfig, ImpairStats};
use crate::device::tap::{Batch, TapIo};
use crate::device::Direction;
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
    /// Seed of the fault injector.
    pub seed: u64,
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

struct Tee {
    capture: Option<CaptureWriter>,
    error: Option<String>,
    wall_origin: Duration,
}

impl Tee {
    /// Writes a frame stamped with the stack's own clock (the wall-clock time of its origin
    /// plus `now`), so that a replay can give the stack exactly the times it saw live.
    /// With `-vv` (trace level) every frame is also logged, decoded like `tapstack dump`.
    fn write(&mut self, now: Instant, dir: Direction, frame: &[u8]) {
        if tracing::enabled!(tracing::Level::TRACE) {
            let arrow = match dir {
                Direction::In => "in ",
                Direction::Out => "out",
            };
            trace!("{arrow} {}", crate::decode::summary(frame));
        }
        let Some(c) = &mut self.capture else { return };
        let ts = self.wall_origin + now.since_origin();
        if let Err(e) = c.write(ts, dir, frame) {
            warn!("capture stopped: {e}");
            self.error = Some(e.to_string());
            self.capture = None;
        }
    }

    fn flush(&mut self) {
        if let Some(c) = &mut self.capture {
            if let Err(e) = c.flush() {
                warn!("capture flush failed: {e}");
                self.error = Some(e.to_string());
                self.capture = None;
            }
        }
    }
}

/// Runs `host` over `io` until `stop` fires, `on_event` breaks, or the device closes.
/// The capture is flushed before returning, whatever the reason.
pub fn run(
    host: &mut Host,
    io: &TapIo,
    options: RunOptions,
    stop: &Receiver<()>,
    mut on_event: impl FnMut(&Event) -> ControlFlow<()>,
) -> RunReport {
    let mono_origin = std::time::Instant::now();
    let wall_origin = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let clock = || {
        Instant::from_micros(u64::try_from(mono_origin.elapsed().as_micros()).unwrap_or(u64::MAX))
    };
    let mut tee = Tee {
        capture: options.capture,
        error: None,
        wall_origin,
    };
    let mut impair_in = options
        .impair
        .clone()
        .map(|c| Impair::new(c, options.seed, "tap-in"));
    let mut impair_out = options
        .impair
        .map(|c| Impair::new(c, options.seed, "tap-out"));
    let mut out: Batch = Vec::new();
    let mut last_flush = mono_origin;
    let mut ended = Ending::Stopped;

    'run: loop {
        let now = clock();
        let deadline = earliest(
            host.poll_at(),
            earliest(
                impair_in.as_ref().and_then(Impair::next_due),
                impair_out.as_ref().and_then(Impair::next_due),
            ),
        );
        let wait = deadline
            .map_or(FLUSH_EVERY, |d| d.saturating_duration_since(now))
            .min(FLUSH_EVERY);
        let mut arrived: Option<Batch> = None;
        if !wait.is_zero() {
            select! {
                recv(io.rx) -> batch => match batch {
                    Ok(b) => arrived = Some(b),
                    Err(_) => { ended = Ending::DeviceClosed; break 'run; }
                },
                recv(stop) -> _ => break 'run,
                default(wait) => {}
            }
        } else if let Ok(b) = io.rx.try_recv() {
            arrived = Some(b);
        }
        let now = clock();
        // Everything already queued is taken now: one poll per burst, not per frame.
        let mut batches = arrived
            .into_iter()
            .chain(std::iter::from_fn(|| io.rx.try_recv().ok()))
            .take(64);
        for batch in &mut batches {
            for frame in &batch {
                match &mut impair_in {
                    Some(imp) => imp.push(now, frame),
                    None => {
                        tee_in(&mut tee, frame, &mut out, host, now);
                    }
                }
            }
        }
        if let Some(imp) = &mut impair_in {
            while let Some(frame) = imp.pop(now) {
                tee_in(&mut tee, &frame, &mut out, host, now);
            }
        }
        host.poll(now, &mut |f: &[u8]| {
            tee.write(now, Direction::Out, f);
            out.push(f.to_vec());
        });
        while let Some(e) = host.iface_mut().poll_event() {
            if on_event(&e).is_break() {
                ended = Ending::ByEvent;
                send(io, &mut out, &mut impair_out, now);
                break 'run;
            }
        }
        send(io, &mut out, &mut impair_out, now);
        if last_flush.elapsed() >= FLUSH_EVERY {
            tee.flush();
            last_flush = std::time::Instant::now();
        }
    }
    if ended != Ending::DeviceClosed {
        // A clean stop: what the stack says on leaving (a DHCPRELEASE) still goes out, past
        // any impairment. The device threads write it before they end.
        let now = clock();
        host.shutdown(now, &mut |f: &[u8]| {
            tee.write(now, Direction::Out, f);
            out.push(f.to_vec());
        });
        let _ = io.send(std::mem::take(&mut out));
    }
    tee.flush();
    RunReport {
        captured: tee.capture.as_ref().map_or(0, CaptureWriter::frames),
        capture_error: tee.error,
        impair_in: impair_in.map(|i| i.stats()),
        impair_out: impair_out.map(|i| i.stats()),
        ended,
    }
}

fn tee_in(tee: &mut Tee, frame: &[u8], out: &mut Batch, host: &mut Host, now: Instant) {
    tee.write(now, Direction::In, frame);
    let mut emit = |f: &[u8]| {
        tee.write(now, Direction::Out, f);
        out.push(f.to_vec());
    };
    host.receive(now, frame, &mut emit);
}

fn send(io: &TapIo, out: &mut Batch, impair: &mut Option<Impair>, now: Instant) {
    let batch = match impair {
        Some(imp) => {
            for f in out.drain(..) {
                imp.push(now, &f);
            }
            std::iter::from_fn(|| imp.pop(now)).collect()
        }
        None => std::mem::take(out),
    };
    // A full queue means the kernel is not keeping up; the frames are dropped like on a
    // congested link rather than stalling the stack.
    let _ = io.send(batch);
}
