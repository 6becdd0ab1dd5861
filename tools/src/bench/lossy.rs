//! TCP over an impaired TAP link: the kernel as the sender and tapstack as the sender over the
//! same link, in the same run.
//!
//! For each impairment spec, `tapstack up --impair SPEC` runs on a fresh TAP device in a
//! namespace of its own (the faults hit the frames it receives and those it sends). A kernel
//! socket in the namespace sends to the stack's discard service (the kernel is the sender) and
//! reads from its chargen service (tapstack is the sender). Around each chargen transfer the
//! bench reads `tcp.loss` from the stack's `/stats` (over the same link, so the fetches take
//! their own small share of the faults) and reports the retransmission timeouts (RFC 6298) and
//! tail loss probes (RFC 8985 7) the stack took per MiB sent.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use tapstack_testkit::process::missing;
use tapstack_testkit::Netns;

use super::report::{Figure, Outcome, Target, MBITS};
use super::tap::{kernel_transfer, start_tapstack, IO_TIMEOUT, OWNER, STACK_IP};
use super::{interrupted, Plan};

/// The links measured, as `tapstack up --impair` takes them.
const SPECS: [&str; 4] = ["loss=1%", "loss=2%", "reorder=5%", "loss=1%,delay=5ms"];
/// The stack's seed, so that each spec drops the same frames run after run.
const SEED: &str = "5";
/// How long one transfer may take, whatever its size.
const TRANSFER_LIMIT: Duration = Duration::from_secs(60);
/// The transfer each way before the runs: ARP resolved, first-use costs paid.
const WARM_UP: u64 = 1 << 20;
const MIB: f64 = (1u64 << 20) as f64;
/// The stack's HTTP server, which serves `/stats`.
const HTTP: u16 = 80;
/// The most of a `/stats` reply read.
const MAX_REPLY: u64 = 4 << 20;
/// How long the counters may take to settle after a transfer (its connection closes shortly
/// after the last byte), and how often they are read meanwhile.
const SETTLE_WITHIN: Duration = Duration::from_secs(1);
const SETTLE_STEP: Duration = Duration::from_millis(200);
/// Why the loss figures are missing on a stack that does not count them.
const NO_LOSS: &str = "the stack's /stats has no tcp.loss";
/// The target for tapstack's throughput as a share of the kernel's over the same link.
const TARGET_RATIO: f64 = 0.8;
/// The target for retransmission timeouts per MiB, on the link with 1% loss only.
const TARGET_RTOS: f64 = 0.1;

/// Adds the figures of every spec.
pub fn bench(plan: &Plan, figures: &mut Vec<Figure>) {
    let mib = plan.lossy_bytes >> 20;
    for spec in SPECS {
        if interrupted() {
            break;
        }
        let scenario = format!("TCP over TAP, impaired ({spec}), {mib} MiB");
        let outcomes: [Outcome; 5] = match missing(&[]) {
            Some(why) => std::array::from_fn(|_| Outcome::Skipped(why.clone())),
            None => match measure(plan, spec) {
                Ok(runs) => runs.outcomes(),
                Err(e) => {
                    let e = format!("{e:#}");
                    std::array::from_fn(|_| Outcome::Failed(e.clone()))
                }
            },
        };
        let names = [
            ("kernel as sender", MBITS),
            ("tapstack as sender", MBITS),
            ("tapstack / kernel", "x"),
            ("tapstack RTOs per MiB", "per MiB"),
            ("tapstack tail loss probes per MiB", "per MiB"),
        ];
        for (i, ((name, unit), outcome)) in names.into_iter().zip(outcomes).enumerate() {
            let mut f = Figure::new(&scenario, name, unit, outcome);
            if i == 2 {
                f = f.with_target(Target::at_least(TARGET_RATIO));
            }
            if i == 3 && spec == "loss=1%" {
                f = f.with_target(Target::at_most(TARGET_RTOS));
            }
            figures.push(f);
        }
    }
}

/// What the runs over one link measured.
#[derive(Debug, Default)]
struct Runs {
    /// Mbit/s with the kernel sending, one a run.
    kernel: Vec<f64>,
    /// Mbit/s with tapstack sending.
    tapstack: Vec<f64>,
    /// tapstack's loss counters per MiB it sent.
    loss: Counts,
}

impl Runs {
    /// Kernel and tapstack Mbit/s, their ratio, RTOs and TLPs per MiB.
    fn outcomes(self) -> [Outcome; 5] {
        let ratio = ratios(&self.kernel, &self.tapstack);
        let (rtos, tlps) = self.loss.outcomes();
        [
            Outcome::Measured(self.kernel),
            Outcome::Measured(self.tapstack),
            Outcome::Measured(ratio),
            rtos,
            tlps,
        ]
    }
}

/// tapstack's throughput over the kernel's, run by run.
fn ratios(kernel: &[f64], tapstack: &[f64]) -> Vec<f64> {
    kernel
        .iter()
        .zip(tapstack)
        .map(|(&k, &t)| if k > 0.0 { t / k } else { f64::NAN })
        .collect()
}

fn mbits(bytes: u64, took: Duration) -> f64 {
    bytes as f64 * 8.0 / took.as_secs_f64().max(1e-9) / 1e6
}

/// The table-wide loss counters of the stack's TCP (`tcp.loss` in `/stats`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Loss {
    /// Retransmission timeouts of all connections, open and closed.
    timeouts: u64,
    /// Tail loss probes, when the stack counts them.
    tail_loss_probes: Option<u64>,
}

/// What one transfer cost in losses, per MiB sent.
#[derive(Clone, Copy, Debug, PartialEq)]
struct PerMib {
    timeouts: f64,
    tail_loss_probes: Option<f64>,
}

impl Loss {
    /// The counts from `self` to `after`, over `bytes` sent.
    fn per_mib(self, after: Loss, bytes: u64) -> PerMib {
        let mib = (bytes as f64 / MIB).max(1e-9);
        let per = |a: u64, b: u64| b.saturating_sub(a) as f64 / mib;
        PerMib {
            timeouts: per(self.timeouts, after.timeouts),
            tail_loss_probes: self
                .tail_loss_probes
                .zip(after.tail_loss_probes)
                .map(|(a, b)| per(a, b)),
        }
    }
}

/// The loss counters in a reply to `GET /stats`: `None` when the stack has no `tcp.loss`.
///
/// # Errors
/// When the reply is not a 200 with a JSON body.
fn loss_in(reply: &str) -> Result<Option<Loss>> {
    let (head, body) = reply
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("the /stats reply has no end of headers"))?;
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        bail!("/stats answered {status:?}");
    }
    let stats: Value = serde_json::from_str(body).context("the /stats body is not JSON")?;
    let loss = &stats["tcp"]["loss"];
    Ok(loss["timeouts"].as_u64().map(|timeouts| Loss {
        timeouts,
        tail_loss_probes: loss["tail_loss_probes"].as_u64(),
    }))
}

/// The reply to `GET /stats` from the stack, fetched by a thread in `ns`.
fn fetch_stats(ns: &Netns) -> Result<String> {
    let addr = SocketAddr::new(IpAddr::V4(STACK_IP), HTTP);
    let pending = ns.spawn("stats", move || {
        let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
            .with_context(|| format!("connecting to {addr}"))?;
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        s.set_write_timeout(Some(IO_TIMEOUT))?;
        s.write_all(b"GET /stats HTTP/1.0\r\nHost: x\r\n\r\n")?;
        let mut reply = Vec::new();
        s.take(MAX_REPLY)
            .read_to_end(&mut reply)
            .context("reading /stats")?;
        Ok(String::from_utf8_lossy(&reply).into_owned())
    })?;
    pending.wait(IO_TIMEOUT * 3)
}

fn read_loss(ns: &Netns) -> Result<Option<Loss>> {
    loss_in(&fetch_stats(ns)?)
}

/// The counters once they stop changing (read until two reads agree, for at most
/// [`SETTLE_WITHIN`]).
fn settled_loss(ns: &Netns) -> Result<Option<Loss>> {
    let deadline = Instant::now() + SETTLE_WITHIN;
    let mut last = read_loss(ns)?;
    while last.is_some() && Instant::now() < deadline && !interrupted() {
        std::thread::sleep(SETTLE_STEP);
        let now = read_loss(ns)?;
        if now == last {
            break;
        }
        last = now;
    }
    Ok(last)
}

/// The stack's loss counters over the runs, or why there are none.
#[derive(Debug)]
enum Counts {
    /// One value a run (tail loss probes while the stack counts them).
    Per {
        timeouts: Vec<f64>,
        tail_loss_probes: Option<Vec<f64>>,
    },
    /// The stack does not count them.
    Absent,
    /// Reading them failed.
    Failed(String),
}

impl Default for Counts {
    fn default() -> Counts {
        Counts::Per {
            timeouts: Vec::new(),
            tail_loss_probes: Some(Vec::new()),
        }
    }
}

impl Counts {
    /// Whether another run's counters are worth reading.
    fn wanted(&self) -> bool {
        matches!(self, Counts::Per { .. })
    }

    /// Adds a run: its counts before and after the transfer of `bytes`.
    fn add(&mut self, before: Result<Option<Loss>>, after: Result<Option<Loss>>, bytes: u64) {
        let run = before.and_then(|b| Ok(b.zip(after?)));
        match (&mut *self, run) {
            (Counts::Failed(_) | Counts::Absent, _) => {}
            (_, Err(e)) => *self = Counts::Failed(format!("{e:#}")),
            (_, Ok(None)) => *self = Counts::Absent,
            (
                Counts::Per {
                    timeouts,
                    tail_loss_probes,
                },
                Ok(Some((b, a))),
            ) => {
                let run = b.per_mib(a, bytes);
                timeouts.push(run.timeouts);
                match (run.tail_loss_probes, tail_loss_probes.as_mut()) {
                    (Some(v), Some(all)) => all.push(v),
                    _ => *tail_loss_probes = None,
                }
            }
        }
    }

    /// The RTO and the TLP figure.
    fn outcomes(self) -> (Outcome, Outcome) {
        match self {
            Counts::Per {
                timeouts,
                tail_loss_probes,
            } => (
                Outcome::Measured(timeouts),
                tail_loss_probes.map_or_else(
                    || Outcome::Skipped(format!("{NO_LOSS}.tail_loss_probes")),
                    Outcome::Measured,
                ),
            ),
            Counts::Absent => (
                Outcome::Skipped(NO_LOSS.to_owned()),
                Outcome::Skipped(NO_LOSS.to_owned()),
            ),
            Counts::Failed(e) => (Outcome::Failed(e.clone()), Outcome::Failed(e)),
        }
    }
}

/// One link: a fresh namespace and stack with `--impair spec`, a warm-up each way, then
/// `plan.runs` transfers each way.
fn measure(plan: &Plan, spec: &str) -> Result<Runs> {
    let bytes = plan.lossy_bytes;
    let ns = Netns::create(OWNER)?;
    let mut stack = start_tapstack(&ns, SEED, &["--no-ip6", "--impair", spec])?;
    let to = SocketAddr::new(IpAddr::V4(STACK_IP), 0);
    kernel_transfer(&ns, to, true, WARM_UP, TRANSFER_LIMIT).context("warm-up send")?;
    kernel_transfer(&ns, to, false, WARM_UP, TRANSFER_LIMIT).context("warm-up receive")?;
    let mut runs = Runs::default();
    for _ in 0..plan.runs {
        if interrupted() {
            bail!("interrupted");
        }
        let took = kernel_transfer(&ns, to, true, bytes, TRANSFER_LIMIT)
            .context("the kernel as sender")?;
        runs.kernel.push(mbits(bytes, took));
        let counted = runs.loss.wanted();
        let before = if counted { read_loss(&ns) } else { Ok(None) };
        let took =
            kernel_transfer(&ns, to, false, bytes, TRANSFER_LIMIT).context("tapstack as sender")?;
        runs.tapstack.push(mbits(bytes, took));
        if counted {
            runs.loss.add(before, settled_loss(&ns), bytes);
        }
        if !stack.running() {
            bail!(
                "the stack exited during the transfers: {}",
                stack.stop_and_tell()
            );
        }
    }
    stack.stop_and_tell();
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(body: &str) -> String {
        format!("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{body}\n")
    }

    #[test]
    fn loss_counters_are_read_from_stats() {
        let body = r#"{"uptime_ms":5,"http":{"timeouts":7},"tcp":{"active_opens":0,
            "loss":{"timeouts":12,"tail_loss_probes":3},"connections":[]}}"#;
        assert_eq!(
            loss_in(&reply(body)).unwrap(),
            Some(Loss {
                timeouts: 12,
                tail_loss_probes: Some(3)
            })
        );
        let body = r#"{"tcp":{"loss":{"timeouts":4}}}"#;
        assert_eq!(
            loss_in(&reply(body)).unwrap(),
            Some(Loss {
                timeouts: 4,
                tail_loss_probes: None
            })
        );
    }

    #[test]
    fn stats_without_loss_is_none_and_bad_replies_fail() {
        // The HTTP server's own "timeouts" is not the TCP one.
        let body = r#"{"tcp":{"active_opens":1},"http":{"timeouts":7}}"#;
        assert_eq!(loss_in(&reply(body)).unwrap(), None);
        assert!(loss_in("HTTP/1.0 404 Not Found\r\n\r\n{}").is_err());
        assert!(loss_in(&reply("{\"tcp\":")).is_err());
        assert!(loss_in("HTTP/1.0 200 OK\r\n").is_err());
    }

    #[test]
    fn counts_per_mib_over_the_runs() {
        let at = |timeouts, tlps| {
            Ok(Some(Loss {
                timeouts,
                tail_loss_probes: tlps,
            }))
        };
        let mut c = Counts::default();
        c.add(at(10, Some(1)), at(14, Some(3)), 8 << 20);
        c.add(at(14, None), at(14, None), 8 << 20);
        let (rtos, tlps) = c.outcomes();
        assert!(matches!(rtos, Outcome::Measured(v) if v == [0.5, 0.0]));
        assert!(matches!(tlps, Outcome::Skipped(_)));

        let mut c = Counts::default();
        c.add(Ok(None), Ok(None), 8 << 20);
        assert!(!c.wanted());
        let (rtos, _) = c.outcomes();
        assert!(matches!(rtos, Outcome::Skipped(why) if why == NO_LOSS));

        let mut c = Counts::default();
        c.add(at(1, None), Err(anyhow!("no answer")), 8 << 20);
        c.add(at(1, None), at(2, None), 8 << 20);
        assert!(matches!(c.outcomes().0, Outcome::Failed(e) if e == "no answer"));
    }

    #[test]
    fn ratios_run_by_run() {
        let r = ratios(&[100.0, 200.0, 0.0], &[80.0, 300.0, 5.0]);
        assert_eq!(r[..2], [0.8, 1.5]);
        assert!(r[2].is_nan());
        assert!((mbits(1 << 20, Duration::from_secs(1)) - 8.388608).abs() < 1e-9);
    }
}
