//! A Linux TAP device: frames to and from the kernel.
//!
//! `tun-tap` creates or attaches the device (TUNSETIFF). What it lacks is here, in a few ioctls of
//! our own: non-blocking reads with `poll(2)` so that a reader thread can batch frames and notice
//! shutdown, and the kernel-side setup (MTU, IPv4 address, link up) that `tapstack up` does for the
//! user without shelling out to `ip`.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use core::fmt;
use core::net::Ipv4Addr;

use crossbeam_channel::{select, Receiver, Sender};

use crate::config::{Ipv4Cidr, Ipv6Cidr};
use crate::device::{Capabilities, Device, Medium, Offloads, Wait};
use crate::time::Instant;

/// A batch of frames moved across a channel at once.
pub type Batch = Vec<Vec<u8>>;

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

/// An open TAP device (or TUN device, see [`super::tun`]: the same threads move its packets).
#[derive(Debug)]
pub struct Tap {
    pub(super) iface: Arc<tun_tap::Iface>,
    medium: Medium,
}

/// Counters of the device threads.
#[derive(Debug, Default)]
pub struct TapCounters {
    /// Frames read from the kernel.
    pub rx_frames: AtomicU64,
    /// Frames written to the kernel.
    pub tx_frames: AtomicU64,
    /// Writes the kernel refused.
    pub tx_errors: AtomicU64,
}

/// The running device: batches in, batches out.
#[derive(Debug)]
pub struct TapIo {
    /// Frames from the kernel.
    pub rx: Receiver<Batch>,
    /// Frames to the kernel (see [`TapIo::send`], which also writes small batches at once).
    pub tx: Sender<Batch>,
    /// Device counters.
    pub counters: Arc<TapCounters>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    device: Arc<tun_tap::Iface>,
    /// Frames handed to the writer thread and not written yet.
    queued: Arc<AtomicUsize>,
    medium: Medium,
}

/// Batches up to this many frames are written by the caller of [`TapIo::send`] itself when the
/// writer thread has nothing in hand.
const WRITE_AT_ONCE: usize = 8;

impl TapIo {
    /// Hands `batch` to the kernel, in order after everything sent before; false when the
    /// writer's queue is full and the batch was dropped (a congested link). A small batch while
    /// the writer thread has nothing in hand is written at once by the calling thread: waking
    /// another thread costs more than the writes, and is most of a ping's round trip. Call it
    /// from one thread (the stack loop).
    pub fn send(&self, batch: Batch) -> bool {
        if batch.is_empty() {
            return true;
        }
        if batch.len() <= WRITE_AT_ONCE && self.queued.load(Ordering::Acquire) == 0 {
            for frame in &batch {
                write_frame(&self.device, frame, &self.counters);
            }
            return true;
        }
        self.queued.fetch_add(batch.len(), Ordering::AcqRel);
        match self.tx.try_send(batch) {
            Ok(()) => true,
            Err(e) => {
                self.queued
                    .fetch_sub(e.into_inner().len(), Ordering::AcqRel);
                false
            }
        }
    }

    /// What the device's frames carry: Ethernet (TAP) or bare IP packets (TUN).
    pub fn medium(&self) -> Medium {
        self.medium
    }

    /// Stops the device threads and waits for them.
    pub fn shutdown(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let (dummy_tx, _) = crossbeam_channel::bounded(1);
        // Dropping our sender lets the writer thread finish.
        drop(std::mem::replace(&mut self.tx, dummy_tx));
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The stack's side of a running TAP device, as a [`Device`]: the batches of the reader
/// thread come in, frames to send gather in a batch of its own that [`Device::send`] hands to
/// [`TapIo::send`].
#[derive(Debug)]
pub struct Port<'a> {
    io: &'a TapIo,
    mtu: usize,
    /// A batch taken off the channel by [`Device::wait`], not received yet.
    arrived: Option<Batch>,
    /// Frames to send.
    out: Batch,
}

/// Batches taken off the channel in one [`Device::receive`]: one poll per burst, not per frame.
const BATCHES_PER_RECEIVE: usize = 64;

impl<'a> Port<'a> {
    /// The stack's side of `io`, whose IP MTU is `mtu`.
    pub fn new(io: &'a TapIo, mtu: usize) -> Self {
        Port {
            io,
            mtu,
            arrived: None,
            out: Vec::new(),
        }
    }
}

impl Device for Port<'_> {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            medium: self.io.medium,
            mtu: self.mtu,
            offloads: Offloads::default(),
        }
    }

    fn wait(&mut self, timeout: Duration, stop: &Receiver<()>) -> Wait {
        if self.arrived.is_some() {
            return Wait::Ready;
        }
        if timeout.is_zero() {
            return match self.io.rx.try_recv() {
                Ok(b) => {
                    self.arrived = Some(b);
                    Wait::Ready
                }
                Err(_) => Wait::Timeout,
            };
        }
        select! {
            recv(self.io.rx) -> batch => match batch {
                Ok(b) => {
                    self.arrived = Some(b);
                    Wait::Ready
                }
                Err(_) => Wait::Closed,
            },
            recv(stop) -> _ => Wait::Stopped,
            default(timeout) => Wait::Timeout,
        }
    }

    fn receive<F: FnMut(&[u8], &mut dyn FnMut(&[u8]))>(
        &mut self,
        _now: Instant,
        mut frame: F,
    ) -> usize {
        let mut n = 0;
        let Port {
            io, arrived, out, ..
        } = self;
        // Everything already queued is taken now.
        let batches = arrived
            .take()
            .into_iter()
            .chain(std::iter::from_fn(|| io.rx.try_recv().ok()))
            .take(BATCHES_PER_RECEIVE);
        for batch in batches {
            for f in &batch {
                frame(f, &mut |answer| out.push(answer.to_vec()));
                n += 1;
            }
        }
        n
    }

    fn transmit(&mut self, _now: Instant, frame: &[u8]) {
        self.out.push(frame.to_vec());
    }

    fn send(&mut self, _now: Instant) {
        // A full queue means the kernel is not keeping up; the frames are dropped like on a
        // congested link rather than stalling the stack.
        let _ = self.io.send(std::mem::take(&mut self.out));
    }
}

/// Largest frame read from the device.
const MAX_FRAME: usize = 65_536;
/// Frames read before a batch is handed over.
const BATCH: usize = 64;

impl Tap {
    /// Creates the TAP device `name`, or attaches to an existing persistent one.
    ///
    /// # Errors
    /// [`TapError`] naming what stopped it.
    pub fn open(name: &str) -> Result<Tap, TapError> {
        Tap::create(name, Medium::Ethernet)
    }

    /// Creates (or attaches to) the TAP (`Medium::Ethernet`) or TUN (`Medium::Ip`) device
    /// `name`, without packet information (IFF_NO_PI).
    pub(super) fn create(name: &str, medium: Medium) -> Result<Tap, TapError> {
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
        let mode = match medium {
            Medium::Ethernet => tun_tap::Mode::Tap,
            Medium::Ip => tun_tap::Mode::Tun,
        };
        let iface = tun_tap::Iface::without_packet_info(name, mode).map_err(|e| {
            match (e.raw_os_error(), medium) {
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
                        format!("not allowed to create TUN device {name}: run as root (or with CAP_NET_ADMIN)"),
                    ),
                ),
                (Some(libc::EBUSY) | Some(libc::EINVAL), Medium::Ip) => TapError::Other(
                    "opening TUN device",
                    io::Error::new(
                        e.kind(),
                        format!("TUN device {name} is busy or is not a TUN device"),
                    ),
                ),
                (_, Medium::Ethernet) => TapError::Other("opening TAP device", e),
                (_, Medium::Ip) => TapError::Other("opening TUN device", e),
            }
        })?;
        Ok(Tap {
            iface: Arc::new(iface),
            medium,
        })
    }

    /// What the device's frames carry.
    pub fn medium(&self) -> Medium {
        self.medium
    }

    /// The interface name the kernel gave the device.
    pub fn name(&self) -> &str {
        self.iface.name()
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

    /// Starts the reader and writer threads.
    ///
    /// # Errors
    /// [`TapError::Other`] when the descriptor cannot be made non-blocking.
    pub fn spawn(self) -> Result<TapIo, TapError> {
        self.iface
            .set_non_blocking()
            .map_err(|e| TapError::Other("making the TAP device non-blocking", e))?;
        let (rx_send, rx) = crossbeam_channel::bounded::<Batch>(256);
        let (tx, tx_recv) = crossbeam_channel::bounded::<Batch>(256);
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(TapCounters::default());

        let reader = {
            let iface = Arc::clone(&self.iface);
            let stop = Arc::clone(&stop);
            let counters = Arc::clone(&counters);
            std::thread::Builder::new()
                .name(thread_name(self.medium, "rx"))
                .spawn(move || read_loop(&iface, &rx_send, &stop, &counters))
                .map_err(|e| TapError::Other("starting the reader thread", e))?
        };
        let queued = Arc::new(AtomicUsize::new(0));
        let writer = {
            let iface = Arc::clone(&self.iface);
            let counters = Arc::clone(&counters);
            let queued = Arc::clone(&queued);
            std::thread::Builder::new()
                .name(thread_name(self.medium, "tx"))
                .spawn(move || write_loop(&iface, &tx_recv, &counters, &queued))
                .map_err(|e| TapError::Other("starting the writer thread", e))?
        };
        Ok(TapIo {
            rx,
            tx,
            counters,
            stop,
            threads: vec![reader, writer],
            device: Arc::clone(&self.iface),
            queued,
            medium: self.medium,
        })
    }
}

fn thread_name(medium: Medium, dir: &str) -> String {
    match medium {
        Medium::Ethernet => format!("tap-{dir}"),
        Medium::Ip => format!("tun-{dir}"),
    }
}

fn read_loop(
    iface: &tun_tap::Iface,
    out: &Sender<Batch>,
    stop: &AtomicBool,
    counters: &TapCounters,
) {
    let mut buf = vec![0u8; MAX_FRAME];
    let mut pfd = libc::pollfd {
        fd: iface.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: one valid pollfd, its count, and a timeout.
        let ready = unsafe { libc::poll(&mut pfd, 1, 100) };
        if ready <= 0 {
            continue;
        }
        let mut batch = Vec::with_capacity(BATCH);
        while batch.len() < BATCH {
            match iface.recv(&mut buf) {
                Ok(n) => batch.push(buf.get(..n).unwrap_or_default().to_vec()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    // The device went away; let the stack loop find out through the channel.
                    return;
                }
            }
        }
        if batch.is_empty() {
            continue;
        }
        counters
            .rx_frames
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        if out.send(batch).is_err() {
            return;
        }
    }
}

fn write_loop(
    iface: &tun_tap::Iface,
    input: &Receiver<Batch>,
    counters: &TapCounters,
    queued: &AtomicUsize,
) {
    for batch in input {
        for frame in &batch {
            write_frame(iface, frame, counters);
            queued.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

fn write_frame(iface: &tun_tap::Iface, frame: &[u8], counters: &TapCounters) {
    match iface.send(frame) {
        Ok(_) => counters.tx_frames.fetch_add(1, Ordering::Relaxed),
        Err(_) => counters.tx_errors.fetch_add(1, Ordering::Relaxed),
    };
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
