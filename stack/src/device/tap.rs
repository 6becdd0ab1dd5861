//! A Linux TAP device: frames to and from the kernel.
//!
//! The device is opened here, with `TUNSETIFF` on `/dev/net/tun` (the `tun-tap` crate, used
//! before, passes fixed flags from a C shim, and a virtio-net header needs `IFF_VNET_HDR` among
//! them), then
//! `TUNSETVNETHDRSZ` and `TUNSETOFFLOAD` for the offloads ([`OffloadMode`], [`super::vnet`]).
//! Beside it, the kernel-side setup (MTU, addresses, link up) that `tapstack up` does for the
//! user without shelling out to `ip`.
//!
//! Frames move without a thread in between on the way in: the stack loop waits on the
//! descriptor itself (`poll(2)`) and reads every frame that is there straight into one buffer,
//! so a ping costs one wakeup. On the way out, a few frames are written by the stack loop at
//! once; a longer burst is handed, in one buffer, to a writer thread, so that the kernel's work
//! on it runs beside the stack's. The buffers go back to the stack loop for reuse: no
//! allocation per frame either way.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use core::fmt;
use core::net::Ipv4Addr;

use crossbeam_channel::{Receiver, Sender};

use crate::config::{Ipv4Cidr, Ipv6Cidr};
use crate::device::vnet;
use crate::device::{Capabilities, Device, FrameInfo, Medium, Offloads, Wait};
use crate::time::Instant;

/// Why the TAP device could not be opened or set up.
#[derive(Debug)]
pub enum TapError {
    /// /dev/net/tun does not exist.
    NoTunDevice,
    /// Creating a TAP device needs CAP_NET_ADMIN.
    PermissionDenied(String),
    /// The device exists and is held by another process, or is not a TAP device.
    Busy(String),
    /// Anything else, with the step that failed.
    Other(&'static str, io::Error),
}

impl fmt::Display for TapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TapError::NoTunDevice => {
                f.write_str("/dev/net/tun is missing: load the tun module (modprobe tun)")
            }
            TapError::PermissionDenied(name) => {
                write!(
                    f,
                    "not allowed to create TAP device {name}: run as root (or with CAP_NET_ADMIN)"
                )
            }
            TapError::Busy(name) => write!(f, "TAP device {name} is busy or is not a TAP device"),
            TapError::Other(step, e) => write!(f, "{step}: {e}"),
        }
    }
}

impl std::error::Error for TapError {}

/// Whether to open the device with the virtio-net header and ask the kernel for offloads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OffloadMode {
    /// Use them if the kernel offers them, else run without.
    #[default]
    Auto,
    /// Use them; fail to open if the kernel refuses.
    On,
    /// Plain frames: every checksum computed and every segment cut by the stack, and the
    /// capture shows the exact per-segment wire.
    Off,
}

/// What the kernel agreed to for a device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Negotiated {
    /// Every frame, each way, has a [`vnet::Header`] in front.
    pub vnet_hdr: bool,
    /// The `TUN_F_*` bits `TUNSETOFFLOAD` took: what the kernel may hand us (checksum left to
    /// us, TCP super-frames, UDP super-frames).
    pub features: u32,
}

impl Negotiated {
    /// What the stack may leave to the device.
    pub fn offloads(&self) -> Offloads {
        Offloads {
            rx_checksum: self.vnet_hdr,
            tso: self.vnet_hdr,
            tx_checksum: false,
        }
    }

    /// "checksum, TSO4, TSO6, USO4, USO6", or "off".
    pub fn describe(&self) -> String {
        if !self.vnet_hdr {
            return "off".to_owned();
        }
        let names = [
            (libc::TUN_F_CSUM, "checksum"),
            (libc::TUN_F_TSO4, "TSO4"),
            (libc::TUN_F_TSO6, "TSO6"),
            (libc::TUN_F_USO4, "USO4"),
            (libc::TUN_F_USO6, "USO6"),
        ];
        let on: Vec<&str> = names
            .iter()
            .filter(|(bit, _)| self.features & bit != 0)
            .map(|(_, n)| *n)
            .collect();
        if on.is_empty() {
            "virtio-net header (send segmentation only)".to_owned()
        } else {
            on.join(", ")
        }
    }
}

/// An open TAP device (or TUN device, see [`super::tun`]: the same code moves its packets).
#[derive(Debug)]
pub struct Tap {
    fd: Arc<File>,
    name: String,
    medium: Medium,
    negotiated: Negotiated,
}

/// Counters of the device.
#[derive(Debug, Default)]
pub struct TapCounters {
    /// Frames read from the kernel (a super-frame counts once).
    pub rx_frames: AtomicU64,
    /// Frames written to the kernel (a super-frame counts once).
    pub tx_frames: AtomicU64,
    /// Writes the kernel refused.
    pub tx_errors: AtomicU64,
    /// Frames dropped because the writer's queue was full.
    pub tx_dropped: AtomicU64,
    /// Frames read whose virtio-net header did not fit them, dropped.
    pub rx_bad_header: AtomicU64,
    /// Super-frames read (TCP taken whole, UDP cut into datagrams).
    pub rx_super_frames: AtomicU64,
    /// Super-frames sent, for the kernel to cut.
    pub tx_super_frames: AtomicU64,
}

impl fmt::Display for TapCounters {
    /// `rx_frames=N tx_frames=N ...`, the ones that are not zero.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let all = [
            ("rx_frames", &self.rx_frames),
            ("rx_super_frames", &self.rx_super_frames),
            ("rx_bad_header", &self.rx_bad_header),
            ("tx_frames", &self.tx_frames),
            ("tx_super_frames", &self.tx_super_frames),
            ("tx_errors", &self.tx_errors),
            ("tx_dropped", &self.tx_dropped),
        ];
        let mut first = true;
        for (name, v) in all {
            let v = v.load(Ordering::Relaxed);
            if v > 0 {
                write!(f, "{}{name}={v}", if first { "" } else { " " })?;
                first = false;
            }
        }
        Ok(())
    }
}

/// Frames to write, one after another in one buffer (each with its virtio-net header when the
/// device has one).
#[derive(Debug, Default)]
pub struct TxBatch {
    data: Vec<u8>,
    ends: Vec<usize>,
}

impl TxBatch {
    /// Number of frames.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when there is no frame.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The frames, as written.
    pub fn frames(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let starts = core::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(|(a, b)| self.data.get(a..b).unwrap_or_default())
    }

    fn clear(&mut self) {
        self.data.clear();
        self.ends.clear();
        // A batch that once held a long burst does not keep its memory in the pool.
        if self.data.capacity() > MAX_KEPT_BATCH {
            self.data = Vec::new();
        }
    }
}

/// Bytes a recycled batch buffer may keep.
const MAX_KEPT_BATCH: usize = 4 << 20;
/// Batches in the writer's queue at most; a full queue drops frames like a congested link.
const WRITE_QUEUE: usize = 256;

/// The running device.
#[derive(Debug)]
pub struct TapIo {
    /// Device counters.
    pub counters: Arc<TapCounters>,
    fd: Arc<File>,
    medium: Medium,
    negotiated: Negotiated,
    /// Batches to the writer thread.
    tx: Option<Sender<TxBatch>>,
    /// Batches the writer thread is done with.
    free: Receiver<TxBatch>,
    writer: Option<JoinHandle<()>>,
    /// Frames handed to the writer thread and not written yet.
    queued: Arc<AtomicUsize>,
}

/// Batches up to this many frames are written by the stack loop itself when the writer thread
/// has nothing in hand: waking another thread costs more than the writes, and is most of a
/// ping's round trip.
const WRITE_AT_ONCE: usize = 8;
/// Frames read in one [`Device::receive`] at most, before the stack polls.
const READ_BATCH: usize = 64;
/// Largest read: a virtio-net header and a 64 KiB IP super-packet behind a link header.
const MAX_READ: usize = vnet::HEADER_LEN + 14 + 65_535 + 64;
/// How long [`Device::wait`] spins before it sleeps while frames keep coming.
const SPIN_WHILE_FLOWING: Duration = Duration::from_micros(30);
/// Longest single sleep in [`Device::wait`], so that a stop is seen soon.
const WAIT_SLICE: Duration = Duration::from_millis(50);

impl TapIo {
    /// What the device's frames carry: Ethernet (TAP) or bare IP packets (TUN).
    pub fn medium(&self) -> Medium {
        self.medium
    }

    /// What the kernel agreed to.
    pub fn negotiated(&self) -> Negotiated {
        self.negotiated
    }

    /// Hands `batch` to the kernel, in order after everything sent before, and leaves it empty
    /// for reuse; false when the writer's queue is full and the frames were dropped (a
    /// congested link). A small batch while the writer thread has nothing in hand is written
    /// at once by the calling thread. Call it from one thread (the stack loop).
    pub fn send(&self, batch: &mut TxBatch) -> bool {
        if batch.is_empty() {
            return true;
        }
        let Some(tx) = &self.tx else {
            batch.clear();
            return false;
        };
        if batch.len() <= WRITE_AT_ONCE && self.queued.load(Ordering::Acquire) == 0 {
            for frame in batch.frames() {
                write_frame(&self.fd, frame, &self.counters);
            }
            batch.clear();
            return true;
        }
        let n = batch.len();
        let fresh = self.free.try_recv().unwrap_or_default();
        let full = std::mem::replace(batch, fresh);
        self.queued.fetch_add(n, Ordering::AcqRel);
        match tx.try_send(full) {
            Ok(()) => true,
            Err(e) => {
                self.queued.fetch_sub(n, Ordering::AcqRel);
                self.counters
                    .tx_dropped
                    .fetch_add(n as u64, Ordering::Relaxed);
                let mut back = e.into_inner();
                back.clear();
                *batch = back;
                false
            }
        }
    }

    /// Stops the writer thread (after it wrote what it holds) and waits for it.
    pub fn shutdown(mut self) {
        drop(self.tx.take());
        if let Some(t) = self.writer.take() {
            let _ = t.join();
        }
    }
}

/// The stack's side of a running TAP device, as a [`Device`]: frames are read into one buffer
/// and handed over in place; frames to send gather in a [`TxBatch`] that [`Device::send`]
/// hands to [`TapIo::send`].
#[derive(Debug)]
pub struct Port<'a> {
    io: &'a TapIo,
    mtu: usize,
    /// Where frames are read.
    buf: Vec<u8>,
    /// Where a UDP super-frame is cut into datagrams.
    scratch: Vec<u8>,
    /// Frames to send.
    out: TxBatch,
    /// How long [`Device::wait`] spins before it sleeps.
    busy_poll: Duration,
    /// Partial checksums of received frames are filled in (for a capture).
    fill_checksums: bool,
    /// The last [`Device::receive`] found frames: traffic is flowing.
    flowing: bool,
    closed: bool,
}

impl<'a> Port<'a> {
    /// The stack's side of `io`, whose IP MTU is `mtu`.
    pub fn new(io: &'a TapIo, mtu: usize) -> Self {
        Port {
            io,
            mtu,
            buf: vec![0; MAX_READ],
            scratch: Vec::new(),
            out: TxBatch::default(),
            busy_poll: Duration::ZERO,
            fill_checksums: true,
            flowing: false,
            closed: false,
        }
    }

    /// Spins for up to `d`, reading the device without sleeping, before each wait sleeps:
    /// lower latency for a core kept busy.
    #[must_use]
    pub fn with_busy_poll(mut self, d: Duration) -> Self {
        self.busy_poll = d;
        self
    }

    /// Whether the partial checksums the kernel leaves in its own frames (`NEEDS_CSUM`) are
    /// filled in on arrival (the default), and the stack's super-segments carry full
    /// checksums: a capture and fault injection need exact frames; the stack does not, and
    /// saves a pass over every large frame each way without them.
    #[must_use]
    pub fn filling_checksums(mut self, fill: bool) -> Self {
        self.fill_checksums = fill;
        self
    }

    /// Polls the descriptor for input, at most `ms` milliseconds (0: not at all).
    fn ready(&mut self, ms: i32) -> bool {
        let mut pfd = libc::pollfd {
            fd: self.io.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, its count, and a timeout.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n > 0 && pfd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            self.closed = true;
        }
        n > 0
    }
}

impl Device for Port<'_> {
    fn capabilities(&self) -> Capabilities {
        let offloads = self.io.negotiated.offloads();
        Capabilities {
            medium: self.io.medium,
            mtu: self.mtu,
            offloads: Offloads {
                // Frames need not be exact when nothing looks at them before the kernel.
                tx_checksum: offloads.tso && !self.fill_checksums,
                ..offloads
            },
        }
    }

    fn wait(&mut self, timeout: Duration, stop: &Receiver<()>) -> Wait {
        let start = std::time::Instant::now();
        if timeout.is_zero() {
            // No poll first: `receive` tries a read, which says as much, one system call fewer.
            return if self.closed {
                Wait::Closed
            } else {
                Wait::Ready
            };
        }
        // While frames keep coming, the next is usually a few microseconds away: a short spin
        // saves the sleep and the wakeup (as NAPI does). An idle device sleeps at once.
        let spin = if self.flowing {
            self.busy_poll.max(SPIN_WHILE_FLOWING)
        } else {
            self.busy_poll
        }
        .min(timeout);
        while start.elapsed() < spin {
            if self.ready(0) {
                return if self.closed {
                    Wait::Closed
                } else {
                    Wait::Ready
                };
            }
            std::hint::spin_loop();
        }
        loop {
            if stop.try_recv().is_ok() {
                return Wait::Stopped;
            }
            let left = timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Wait::Timeout;
            }
            let slice = left.min(WAIT_SLICE);
            // Rounded up: a deadline 300 us away is not a busy loop of zero-length polls.
            let ms = i32::try_from(slice.as_micros().div_ceil(1000)).unwrap_or(50);
            if self.ready(ms) {
                return if self.closed {
                    Wait::Closed
                } else {
                    Wait::Ready
                };
            }
        }
    }

    fn receive<F: FnMut(&[u8], FrameInfo, &mut dyn FnMut(&[u8]))>(
        &mut self,
        _now: Instant,
        mut frame: F,
    ) -> usize {
        let Port {
            io,
            mtu,
            buf,
            scratch,
            out,
            closed,
            fill_checksums,
            flowing,
            ..
        } = self;
        let (medium, vnet_hdr) = (io.medium, io.negotiated.vnet_hdr);
        let mut n = 0;
        for _ in 0..READ_BATCH {
            let len = match read_frame(&io.fd, buf) {
                Ok(len) => len,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    *closed = true;
                    break;
                }
            };
            io.counters.rx_frames.fetch_add(1, Ordering::Relaxed);
            let mut send = |answer: &[u8]| {
                if out.push(answer, vnet_hdr, medium, *mtu) {
                    io.counters.tx_super_frames.fetch_add(1, Ordering::Relaxed);
                }
            };
            let Some(data) = buf.get_mut(..len) else {
                continue;
            };
            if !vnet_hdr {
                frame(data, FrameInfo::default(), &mut send);
                n += 1;
                continue;
            }
            let (Some(header), Some(body)) =
                (vnet::Header::parse(data), data.get_mut(vnet::HEADER_LEN..))
            else {
                io.counters.rx_bad_header.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            if header.gso_type != vnet::GSO_NONE {
                io.counters.rx_super_frames.fetch_add(1, Ordering::Relaxed);
            }
            if header.gso_type & !vnet::GSO_ECN == vnet::GSO_UDP_L4 {
                match vnet::split_udp(&header, body, medium, scratch, |d, info| {
                    frame(d, info, &mut send);
                }) {
                    Ok(k) => n += k,
                    Err(_) => {
                        io.counters.rx_bad_header.fetch_add(1, Ordering::Relaxed);
                    }
                }
                continue;
            }
            match vnet::receive(&header, body, *fill_checksums) {
                Ok(info) => {
                    frame(body, info, &mut send);
                    n += 1;
                }
                Err(_) => {
                    io.counters.rx_bad_header.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        *flowing = n > 0;
        n
    }

    fn transmit(&mut self, _now: Instant, frame: &[u8]) {
        let (medium, vnet_hdr) = (self.io.medium, self.io.negotiated.vnet_hdr);
        if self.out.push(frame, vnet_hdr, medium, self.mtu) {
            self.io
                .counters
                .tx_super_frames
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    fn send(&mut self, _now: Instant) {
        // A full queue means the kernel is not keeping up; the frames are dropped like on a
        // congested link rather than stalling the stack.
        let _ = self.io.send(&mut self.out);
    }
}

impl TxBatch {
    /// Appends `frame`, behind its virtio-net header when the device takes one; true when it
    /// goes as a super-frame for the kernel to cut.
    pub fn push(&mut self, frame: &[u8], vnet_hdr: bool, medium: Medium, mtu: usize) -> bool {
        let mut cut = false;
        if vnet_hdr {
            let at = self.data.len();
            self.data.extend_from_slice(&[0; vnet::HEADER_LEN]);
            self.data.extend_from_slice(frame);
            let body = self
                .data
                .get_mut(at + vnet::HEADER_LEN..)
                .unwrap_or_default();
            let header = vnet::transmit(body, medium, mtu);
            cut = header.gso_type != vnet::GSO_NONE;
            if let Some(h) = self.data.get_mut(at..at + vnet::HEADER_LEN) {
                h.copy_from_slice(&header.to_bytes());
            }
        } else {
            self.data.extend_from_slice(frame);
        }
        self.ends.push(self.data.len());
        cut
    }
}

fn read_frame(fd: &File, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of its length; the descriptor is open.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

fn write_frame(fd: &File, frame: &[u8], counters: &TapCounters) {
    // SAFETY: `frame` is valid for reads of its length; the descriptor is open.
    let n = unsafe { libc::write(fd.as_raw_fd(), frame.as_ptr().cast(), frame.len()) };
    if n < 0 {
        counters.tx_errors.fetch_add(1, Ordering::Relaxed);
        return;
    }
    counters.tx_frames.fetch_add(1, Ordering::Relaxed);
}

impl Tap {
    /// Creates the TAP device `name`, or attaches to an existing persistent one, without
    /// offloads.
    ///
    /// # Errors
    /// [`TapError`] naming what stopped it.
    pub fn open(name: &str) -> Result<Tap, TapError> {
        Tap::create(name, Medium::Ethernet, OffloadMode::Off)
    }

    /// [`Tap::open`] with the offloads `mode` asks for.
    ///
    /// # Errors
    /// [`TapError`] naming what stopped it; with [`OffloadMode::On`], a kernel that refuses.
    pub fn open_with(name: &str, mode: OffloadMode) -> Result<Tap, TapError> {
        Tap::create(name, Medium::Ethernet, mode)
    }

    /// Creates (or attaches to) the TAP (`Medium::Ethernet`) or TUN (`Medium::Ip`) device
    /// `name`, without packet information (IFF_NO_PI), with the offloads `mode` asks for.
    pub(super) fn create(name: &str, medium: Medium, mode: OffloadMode) -> Result<Tap, TapError> {
        if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains(['/', ' ']) {
            return Err(TapError::Other(
                "bad interface name",
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("'{name}' (1-15 characters, no '/' or spaces)"),
                ),
            ));
        }
        if !std::path::Path::new("/dev/net/tun").exists() {
            return Err(TapError::NoTunDevice);
        }
        let attach = |vnet_hdr: bool| -> Result<(File, String), io::Error> {
            let fd = OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/net/tun")?;
            let mut req = ifreq(name);
            let kind = match medium {
                Medium::Ethernet => libc::IFF_TAP,
                Medium::Ip => libc::IFF_TUN,
            };
            let vnet = if vnet_hdr { libc::IFF_VNET_HDR } else { 0 };
            req.ifr_ifru.ifru_flags = (kind | libc::IFF_NO_PI | vnet) as libc::c_short;
            // SAFETY: TUNSETIFF reads and writes the ifreq it is given.
            let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut req) };
            if r < 0 {
                return Err(io::Error::last_os_error());
            }
            let given: Vec<u8> = req
                .ifr_name
                .iter()
                .take_while(|&&c| c != 0)
                .map(|&c| c as u8)
                .collect();
            Ok((fd, String::from_utf8_lossy(&given).into_owned()))
        };
        let opened = match mode {
            OffloadMode::Off => attach(false).map(|(f, n)| (f, n, false)),
            OffloadMode::On => attach(true).map(|(f, n)| (f, n, true)),
            OffloadMode::Auto => attach(true)
                .map(|(f, n)| (f, n, true))
                .or_else(|_| attach(false).map(|(f, n)| (f, n, false))),
        };
        let (fd, given, vnet_hdr) = opened.map_err(|e| open_error(e, name, medium))?;
        let mut negotiated = Negotiated {
            vnet_hdr,
            features: 0,
        };
        if vnet_hdr {
            let size = vnet::HEADER_LEN as libc::c_int;
            // SAFETY: TUNSETVNETHDRSZ reads one int.
            let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETVNETHDRSZ, &size) };
            if r < 0 {
                return Err(TapError::Other(
                    "setting the virtio-net header size",
                    io::Error::last_os_error(),
                ));
            }
            negotiated.features = offer_offloads(&fd);
            if negotiated.features == 0 && mode == OffloadMode::On {
                return Err(TapError::Other(
                    "turning on offloads (TUNSETOFFLOAD)",
                    io::Error::last_os_error(),
                ));
            }
        }
        Ok(Tap {
            fd: Arc::new(fd),
            name: given,
            medium,
            negotiated,
        })
    }

    /// What the device's frames carry.
    pub fn medium(&self) -> Medium {
        self.medium
    }

    /// What the kernel agreed to.
    pub fn negotiated(&self) -> Negotiated {
        self.negotiated
    }

    /// The interface name the kernel gave the device.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Configures the kernel side: MTU, IPv4 address (if given) and link up.
    ///
    /// # Errors
    /// [`TapError::Other`] naming the ioctl that failed.
    pub fn configure_host(&self, addr: Option<Ipv4Cidr>, mtu: usize) -> Result<(), TapError> {
        let sock = Socket::inet()?;
        let name = self.name();
        let mut req = ifreq(name);
        req.ifr_ifru.ifru_mtu = i32::try_from(mtu).unwrap_or(1500);
        sock.ioctl(libc::SIOCSIFMTU, &mut req, "setting the MTU")?;
        if let Some(cidr) = addr {
            let mut req = ifreq(name);
            req.ifr_ifru.ifru_addr = sockaddr(cidr.addr());
            sock.ioctl(libc::SIOCSIFADDR, &mut req, "setting the host address")?;
            let mut req = ifreq(name);
            req.ifr_ifru.ifru_netmask = sockaddr(cidr.netmask());
            sock.ioctl(libc::SIOCSIFNETMASK, &mut req, "setting the netmask")?;
        }
        let mut req = ifreq(name);
        sock.ioctl(libc::SIOCGIFFLAGS, &mut req, "reading interface flags")?;
        // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
        let flags = unsafe { req.ifr_ifru.ifru_flags };
        req.ifr_ifru.ifru_flags = flags | (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        sock.ioctl(libc::SIOCSIFFLAGS, &mut req, "bringing the link up")?;
        Ok(())
    }

    /// Gives the kernel side an IPv6 address (ioctl `SIOCSIFADDR` on an `AF_INET6` socket with
    /// an `in6_ifreq`, as `ifconfig` does). Call it after [`Tap::configure_host`] brought the
    /// link up.
    ///
    /// # Errors
    /// [`TapError::Other`] naming the step that failed (IPv6 disabled on the device gives
    /// "permission denied").
    pub fn configure_host6(&self, addr: Ipv6Cidr) -> Result<(), TapError> {
        let sock = Socket::open(libc::AF_INET6)?;
        let mut req = ifreq(self.name());
        sock.ioctl(libc::SIOCGIFINDEX, &mut req, "reading the interface index")?;
        // SAFETY: SIOCGIFINDEX filled the ifindex member of the union.
        let index = unsafe { req.ifr_ifru.ifru_ifindex };
        let mut req6 = libc::in6_ifreq {
            ifr6_addr: libc::in6_addr {
                s6_addr: addr.addr().octets(),
            },
            ifr6_prefixlen: u32::from(addr.prefix()),
            ifr6_ifindex: index,
        };
        // SAFETY: `req6` is a valid in6_ifreq, which SIOCSIFADDR on an AF_INET6 socket reads.
        let r =
            unsafe { libc::ioctl(sock.0, libc::SIOCSIFADDR, &mut req6 as *mut libc::in6_ifreq) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EEXIST) {
                return Ok(());
            }
            return Err(TapError::Other("setting the host IPv6 address", e));
        }
        Ok(())
    }

    /// Starts the writer thread.
    ///
    /// # Errors
    /// [`TapError::Other`] when the descriptor cannot be made non-blocking or the thread
    /// cannot start.
    pub fn spawn(self) -> Result<TapIo, TapError> {
        let fd = self.fd.as_raw_fd();
        // SAFETY: F_GETFL/F_SETFL on a descriptor we own.
        let ok = unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) >= 0
        };
        if !ok {
            return Err(TapError::Other(
                "making the TAP device non-blocking",
                io::Error::last_os_error(),
            ));
        }
        let (tx, to_write) = crossbeam_channel::bounded::<TxBatch>(WRITE_QUEUE);
        let (done, free) = crossbeam_channel::bounded::<TxBatch>(WRITE_QUEUE + 2);
        let counters = Arc::new(TapCounters::default());
        let queued = Arc::new(AtomicUsize::new(0));
        let writer = {
            let fd = Arc::clone(&self.fd);
            let counters = Arc::clone(&counters);
            let queued = Arc::clone(&queued);
            std::thread::Builder::new()
                .name(thread_name(self.medium, "tx"))
                .spawn(move || write_loop(&fd, &to_write, &done, &counters, &queued))
                .map_err(|e| TapError::Other("starting the writer thread", e))?
        };
        Ok(TapIo {
            counters,
            fd: self.fd,
            medium: self.medium,
            negotiated: self.negotiated,
            tx: Some(tx),
            free,
            writer: Some(writer),
            queued,
        })
    }
}

/// Offers the kernel every offload it may take, the newest first (USO came with Linux 6.2);
/// returns the `TUN_F_*` bits it took, 0 for none.
fn offer_offloads(fd: &File) -> u32 {
    let csum_tso = libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6;
    let offers = [
        csum_tso | libc::TUN_F_USO4 | libc::TUN_F_USO6,
        csum_tso,
        libc::TUN_F_CSUM,
    ];
    for bits in offers {
        // SAFETY: TUNSETOFFLOAD takes its argument by value.
        let r = unsafe {
            libc::ioctl(
                fd.as_raw_fd(),
                libc::TUNSETOFFLOAD,
                libc::c_ulong::from(bits),
            )
        };
        if r == 0 {
            return bits;
        }
    }
    0
}

/// The error for a `TUNSETIFF` (or open) that failed.
fn open_error(e: io::Error, name: &str, medium: Medium) -> TapError {
    let kind = match medium {
        Medium::Ethernet => "TAP",
        Medium::Ip => "TUN",
    };
    match (e.raw_os_error(), medium) {
        (Some(libc::ENOENT) | Some(libc::ENODEV), _) => TapError::NoTunDevice,
        (Some(libc::EPERM) | Some(libc::EACCES), Medium::Ethernet) => {
            TapError::PermissionDenied(name.to_owned())
        }
        (Some(libc::EBUSY) | Some(libc::EINVAL), Medium::Ethernet) => {
            TapError::Busy(name.to_owned())
        }
        (Some(libc::EPERM) | Some(libc::EACCES), Medium::Ip) => TapError::Other(
            "opening TUN device",
            io::Error::new(
                e.kind(),
                format!(
                    "not allowed to create {kind} device {name}: run as root (or with CAP_NET_ADMIN)"
                ),
            ),
        ),
        (Some(libc::EBUSY) | Some(libc::EINVAL), Medium::Ip) => TapError::Other(
            "opening TUN device",
            io::Error::new(
                e.kind(),
                format!("{kind} device {name} is busy or is not a {kind} device"),
            ),
        ),
        (_, Medium::Ethernet) => TapError::Other("opening TAP device", e),
        (_, Medium::Ip) => TapError::Other("opening TUN device", e),
    }
}

fn thread_name(medium: Medium, dir: &str) -> String {
    match medium {
        Medium::Ethernet => format!("tap-{dir}"),
        Medium::Ip => format!("tun-{dir}"),
    }
}

fn write_loop(
    fd: &File,
    input: &Receiver<TxBatch>,
    done: &Sender<TxBatch>,
    counters: &TapCounters,
    queued: &AtomicUsize,
) {
    for mut batch in input {
        for frame in batch.frames() {
            write_frame(fd, frame, counters);
        }
        queued.fetch_sub(batch.len(), Ordering::AcqRel);
        batch.clear();
        let _ = done.try_send(batch);
    }
}

pub(super) struct Socket(libc::c_int);

impl Socket {
    pub(super) fn inet() -> Result<Socket, TapError> {
        Socket::open(libc::AF_INET)
    }

    pub(super) fn open(family: libc::c_int) -> Result<Socket, TapError> {
        // SAFETY: plain socket(2) call; the descriptor is owned by the returned value.
        let fd = unsafe { libc::socket(family, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(TapError::Other(
                "opening a configuration socket",
                io::Error::last_os_error(),
            ));
        }
        Ok(Socket(fd))
    }

    pub(super) fn ioctl(
        &self,
        request: libc::Ioctl,
        req: &mut libc::ifreq,
        step: &'static str,
    ) -> Result<(), TapError> {
        // SAFETY: `req` is a valid ifreq for these SIOC* requests, which read/write only it.
        let r = unsafe { libc::ioctl(self.0, request, req as *mut libc::ifreq) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EPERM) {
                return Err(TapError::Other(
                    step,
                    io::Error::new(e.kind(), "permission denied (run as root)"),
                ));
            }
            return Err(TapError::Other(step, e));
        }
        Ok(())
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe { libc::close(self.0) };
    }
}

pub(super) fn ifreq(name: &str) -> libc::ifreq {
    // SAFETY: ifreq is plain data; all zeros is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req
        .ifr_name
        .iter_mut()
        .zip(name.bytes().take(libc::IFNAMSIZ - 1))
    {
        *dst = src as libc::c_char;
    }
    req
}

pub(super) fn sockaddr(ip: Ipv4Addr) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(ip.octets()),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in and sockaddr have the same size on Linux; this is how the kernel reads it.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
}

/// How long the stack loop waits at most between checks when idle.
pub const IDLE_WAIT: Duration = Duration::from_millis(500);
