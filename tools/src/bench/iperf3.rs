//! iperf3 against the stack's own iperf3 server over TAP: the kernel's iperf3 client sending
//! (`iperf3 -c`) and receiving (`iperf3 -c -R`), the rate the receiving end reports.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;
use tapstack_testkit::process::missing;
use tapstack_testkit::Netns;

use super::report::{Figure, Outcome, GBITS};
use super::tap::{Peer, OWNER, STACK_IP};
use super::{interrupted, Plan};

/// The two directions, as the figure names them, with the client's extra flags.
const DIRECTIONS: [(&str, &[&str]); 2] = [
    ("kernel -> tapstack (iperf3 -c)", &[]),
    ("tapstack -> kernel (iperf3 -c -R)", &["-R"]),
];

/// Adds one figure a direction: Gbit/s as iperf3's receiving end counts it.
pub fn bench(plan: &Plan, figures: &mut Vec<Figure>) {
    let scenario = format!(
        "iperf3 over TAP: tapstack's server, one TCP stream, {} s",
        plan.wrk_secs
    );
    let outcomes: Vec<Outcome> = match missing(&["iperf3"]) {
        Some(why) => DIRECTIONS
            .iter()
            .map(|_| Outcome::Skipped(why.clone()))
            .collect(),
        None => match measure(plan) {
            Ok(runs) => runs.into_iter().map(Outcome::Measured).collect(),
            Err(e) => {
                let e = format!("{e:#}");
                DIRECTIONS
                    .iter()
                    .map(|_| Outcome::Failed(e.clone()))
                    .collect()
            }
        },
    };
    for ((name, _), outcome) in DIRECTIONS.iter().zip(outcomes) {
        figures.push(Figure::new(&scenario, name, GBITS, outcome));
    }
}

fn measure(plan: &Plan) -> Result<Vec<Vec<f64>>> {
    let ns = Netns::create(OWNER)?;
    let mut stack = Peer::Tapstack.start(&ns)?;
    let secs = plan.wrk_secs.to_string();
    let addr = STACK_IP.to_string();
    let limit = Duration::from_secs(plan.wrk_secs + 30);
    let mut runs = vec![Vec::new(); DIRECTIONS.len()];
    for _ in 0..plan.runs {
        for ((_, flags), rates) in DIRECTIONS.iter().zip(&mut runs) {
            if interrupted() {
                bail!("interrupted");
            }
            let mut argv = vec!["iperf3", "-J", "-c", &addr, "-t", &secs];
            argv.extend_from_slice(flags);
            let out = ns.run(&argv, b"", limit)?;
            let report: Value = serde_json::from_str(&out.stdout_text())
                .with_context(|| format!("iperf3 {flags:?} wrote no report: {}", out.stderr))?;
            if let Some(e) = report.get("error").and_then(Value::as_str) {
                bail!("iperf3 {flags:?}: {e}");
            }
            let bits = report["end"]["sum_received"]["bits_per_second"]
                .as_f64()
                .with_context(|| format!("iperf3 {flags:?}: no received rate in its report"))?;
            rates.push(bits / 1e9);
        }
    }
    if !stack.running() {
        bail!("the stack exited: {}", stack.stop_and_tell());
    }
    Ok(runs)
}
