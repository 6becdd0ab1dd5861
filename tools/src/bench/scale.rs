//! Scale: the heap an idle TCP connection costs, and how many connections a server with the
//! stack's default configuration holds at once before its connection table refuses more.
//!
//! Both run two of our stacks over the in-memory wire under virtual time; heap is what the
//! counting allocator of the command line sees.

use std::net::{IpAddr, SocketAddr};

use anyhow::{bail, Result};
use tapstack::device::memory::{exchange, turn, End, Pace, Pair, Stepper, Wire};
use tapstack::time::earliest;
use tapstack::{tcp, Config, Instant, Interface, MacAddr};

use super::inmem::{our_config, MTU, PORT, RECEIVER_IP, SENDER_IP};
use super::report::{Figure, Outcome, Target};
use super::{interrupted, Plan};
use crate::alloc;

/// The clock of the runs: straight to the next deadline, 10 us on when one is due now or
/// nothing is scheduled.
const PACE: Pace = Pace {
    max_step: None,
    when_due: std::time::Duration::from_micros(10),
    when_idle: std::time::Duration::from_micros(10),
};

/// Target: this many connections at once...
const TARGET_CONNECTIONS: f64 = 10_000.0;
/// ...at no more than this many heap bytes each when idle.
const TARGET_BYTES_EACH: f64 = 4096.0;

/// Heap bytes an idle established connection costs: `count` connections between two of our
/// stacks, measured by the allocator, over both ends.
fn idle_connection_memory(count: usize) -> Result<f64> {
    // The server on the first end: it takes its frames before the client does.
    let mut net = Pair::between(
        Wire::new(MTU),
        Interface::new(our_config(RECEIVER_IP, 2)?)?,
        Interface::new(our_config(SENDER_IP, 1)?)?,
    );
    net.now = Instant::from_secs(1);
    net.pace = PACE;
    let listener = net.a.tcp_listen(PORT, count)?;
    let before = alloc::allocated();
    let mut accepted = Vec::with_capacity(count);
    let mut conns = Vec::with_capacity(count);
    let mut steps = 0u64;
    while accepted.len() < count {
        steps += 1;
        if steps > 10_000_000 || (steps % 1024 == 0 && interrupted()) {
            bail!("only {} of {count} connections came up", accepted.len());
        }
        let now = net.now;
        if conns.len() < count && net.b.ipv4().is_some() {
            for _ in 0..64.min(count - conns.len()) {
                let to = SocketAddr::new(IpAddr::V4(RECEIVER_IP), PORT);
                conns.push(net.b.tcp_connect(now, to)?);
            }
        }
        net.step();
        while let Some(h) = net.a.tcp_accept(listener) {
            accepted.push(h);
        }
    }
    // Let the last ACKs settle so that every connection is idle.
    for _ in 0..100 {
        let now = net.now;
        exchange(&mut net.wire, now, &mut net.a, &mut net.b);
        net.now = now + std::time::Duration::from_millis(50);
    }
    let used = alloc::allocated().saturating_sub(before);
    let per = used as f64 / (2 * count) as f64;
    drop((conns, accepted));
    Ok(per)
}

/// Frames a stack sent, kept in storage reserved up front so that keeping them allocates
/// nothing while the stack's heap is being counted.
struct Arena {
    data: Vec<u8>,
    ends: Vec<usize>,
}

impl Arena {
    fn new() -> Arena {
        Arena {
            data: Vec::with_capacity(32 << 20),
            ends: Vec::with_capacity(1 << 18),
        }
    }

    fn push(&mut self, frame: &[u8]) {
        self.data.extend_from_slice(frame);
        self.ends.push(self.data.len());
    }

    /// Bytes reserved: growth shows up in the allocator's count and is not the stack's.
    fn reserved(&self) -> usize {
        self.data.capacity() + self.ends.capacity() * std::mem::size_of::<usize>()
    }

    fn drain_to(&mut self, wire: &mut Wire, from: End, now: Instant) {
        let mut start = 0;
        for &end in &self.ends {
            wire.send(from, now, self.data.get(start..end).unwrap_or_default());
            start = end;
        }
        self.data.clear();
        self.ends.clear();
    }
}

/// Live heap bytes gained since `mark`, less the growth of reserved storage from `reserved_before`
/// to `reserved_after`.
fn growth(mark: usize, reserved_before: usize, reserved_after: usize) -> i64 {
    let gained = alloc::allocated() as i64 - mark as i64;
    gained - (reserved_after as i64 - reserved_before as i64)
}

/// What a server with the default configuration held.
#[derive(Clone, Copy, Debug)]
struct Held {
    /// The server's connection table size (`tcp::Config::max_connections`).
    table: usize,
    /// Connections established and accepted at the end.
    held: usize,
    /// The server's heap growth over the run, per held connection.
    bytes_each: f64,
}

/// Opens `table + extra` connections from one client (to two listening ports, so that its
/// ephemeral ports suffice) to a server with the stack's default configuration, lets SYNs
/// past the table be retried for three seconds of virtual time, and counts what the server
/// holds and the heap it grew by (the server's own work only).
fn connections_within_budget(extra: usize) -> Result<Held> {
    let mut server_config = Config::new(
        MacAddr([2, 0, 0, 0, 0, 2]),
        tapstack::Ipv4Cidr::new(RECEIVER_IP, 24),
    );
    server_config.seed = 2;
    server_config.arp.probe_count = 0;
    server_config.arp.announce_count = 0;
    let table = server_config.tcp.max_connections;
    let attempts = table + extra;
    let mut client_config = our_config(SENDER_IP, 1)?;
    client_config.tcp.max_connections = attempts + 16;
    let mut wire = Wire::new(MTU);
    let mut now = Instant::from_secs(1);
    let mut client = Interface::new(client_config)?;
    let mut arena = Arena::new();
    let mut accepted: Vec<tcp::Handle> = Vec::with_capacity(attempts);
    let mut opened = 0usize;
    let mut all_opened_at: Option<Instant> = None;
    let ports = [PORT, PORT + 1];

    // The server's heap: the allocator's count across the server's own calls only, less any
    // growth of the arena its frames go to.
    let mark = alloc::allocated();
    let mut server = Interface::new(server_config)?;
    let listeners = [
        server.tcp_listen(ports[0], 1024)?,
        server.tcp_listen(ports[1], 1024)?,
    ];
    let mut server_heap = growth(mark, 0, 0);
    let mut steps = 0u64;
    loop {
        steps += 1;
        if steps > 20_000_000 || (steps % 1024 == 0 && interrupted()) {
            bail!(
                "gave up after {steps} steps with {} connections accepted",
                accepted.len()
            );
        }
        if opened < attempts && client.ipv4().is_some() {
            for _ in 0..64.min(attempts - opened) {
                let port = ports[opened % 2];
                match client.tcp_connect(now, SocketAddr::new(IpAddr::V4(RECEIVER_IP), port)) {
                    Ok(_) => opened += 1,
                    Err(e) => bail!("the client could not open connection {opened}: {e:?}"),
                }
            }
            if opened == attempts {
                all_opened_at = Some(now);
            }
        }
        turn(&mut wire, now, End::A, &mut client);
        // The server's turn by hand: its frames go to the arena, so that its heap is counted
        // apart from the wire's.
        let frames: Vec<Vec<u8>> = std::iter::from_fn(|| wire.recv(End::B, now)).collect();

        let mark = alloc::allocated();
        let reserved = arena.reserved();
        for f in &frames {
            server.receive(now, f, &mut |o| arena.push(o));
        }
        server.poll(now, &mut |o| arena.push(o));
        for l in listeners {
            while let Some(h) = server.tcp_accept(l) {
                accepted.push(h);
            }
        }
        server_heap += growth(mark, reserved, arena.reserved());

        drop(frames);
        arena.drain_to(&mut wire, End::B, now);
        if all_opened_at.is_some_and(|t| now > t + std::time::Duration::from_secs(3)) {
            break;
        }
        let next = earliest(earliest(client.poll_at(), server.poll_at()), wire.poll_at());
        now = PACE.next(now, next);
    }
    let held = accepted
        .iter()
        .filter(|&&h| {
            server
                .tcp_connection(h)
                .is_some_and(|c| c.state() == tcp::State::Established)
        })
        .count();
    if held == 0 {
        bail!("the server held no connection");
    }
    let bytes_each = server_heap.max(0) as f64 / held as f64;
    drop((client, server, accepted));
    Ok(Held {
        table,
        held,
        bytes_each,
    })
}

/// Adds the scale figures: idle heap per connection, and connections held within the default
/// table with the server's heap per connection.
pub fn bench(plan: &Plan, figures: &mut Vec<Figure>) {
    let count = plan.idle_connections;
    let scenario = format!("Scale: {count} idle connections in memory");
    let figure = "heap per idle connection (both ends' average)";
    let outcome = measure(plan.runs, || idle_connection_memory(count));
    figures.push(
        Figure::new(&scenario, figure, "bytes", outcome)
            .with_target(Target::at_most(TARGET_BYTES_EACH)),
    );

    let mut held = Vec::new();
    let mut bytes = Vec::new();
    let mut table = 0;
    let mut failure = None;
    for _ in 0..plan.runs {
        if interrupted() {
            failure = Some("interrupted".to_owned());
            break;
        }
        match connections_within_budget(1_000) {
            Ok(h) => {
                table = h.table;
                held.push(h.held as f64);
                bytes.push(h.bytes_each);
            }
            Err(e) => {
                failure = Some(format!("{e:#}"));
                break;
            }
        }
    }
    let scenario = if table > 0 {
        format!(
            "Scale: default budget ({table}-connection table), {} more tried",
            1_000
        )
    } else {
        "Scale: default budget".to_owned()
    };
    let (held, bytes) = match failure {
        Some(e) => (Outcome::Failed(e.clone()), Outcome::Failed(e)),
        None => (Outcome::Measured(held), Outcome::Measured(bytes)),
    };
    figures.push(
        Figure::new(&scenario, "connections held at once", "connections", held)
            .with_target(Target::at_least(TARGET_CONNECTIONS)),
    );
    figures.push(
        Figure::new(&scenario, "server heap per held connection", "bytes", bytes)
            .with_target(Target::at_most(TARGET_BYTES_EACH)),
    );
}

/// `runs` values of `f`, or why there are none.
fn measure(runs: usize, mut f: impl FnMut() -> Result<f64>) -> Outcome {
    let mut values = Vec::new();
    for _ in 0..runs {
        if interrupted() {
            return Outcome::Failed("interrupted".to_owned());
        }
        match f() {
            Ok(v) => values.push(v),
            Err(e) => return Outcome::Failed(format!("{e:#}")),
        }
    }
    Outcome::Measured(values)
}
