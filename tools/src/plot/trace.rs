//! Reading the trace of `tapstack replay --trace` (JSON lines), bounded.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::{anyhow, Context, Result};

use super::MAX_SAMPLES;

#[derive(Debug, Clone)]
pub(super) struct Sample {
    pub(super) t: f64,
    pub(super) cwnd: f64,
    pub(super) ssthresh: Option<f64>,
    pub(super) srtt_ms: Option<f64>,
    pub(super) events: Vec<String>,
}

/// The samples of each connection of a trace, by its (local, remote) endpoints.
pub(super) type Trace = HashMap<(SocketAddr, SocketAddr), Vec<Sample>>;

pub(super) fn read_trace(path: &Path) -> Result<Trace> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read trace {}", path.display()))?;
    let mut out: Trace = HashMap::new();
    let mut kept = 0usize;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |what: &str| anyhow!("{}: line {}: {what}", path.display(), i + 1);
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(&format!("not JSON: {e}")))?;
        let addr = |k: &str| -> Result<SocketAddr> {
            v.get(k)
                .and_then(serde_json::Value::as_str)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad(&format!("no address \"{k}\"")))
        };
        let key = (addr("local")?, addr("remote")?);
        let num = |k: &str| v.get(k).and_then(serde_json::Value::as_f64);
        let sample = Sample {
            t: num("time_us").ok_or_else(|| bad("no \"time_us\""))? / 1e6,
            cwnd: num("cwnd").ok_or_else(|| bad("no \"cwnd\""))?,
            ssthresh: num("ssthresh"),
            srtt_ms: num("srtt_us").map(|u| u / 1e3),
            events: v
                .get("events")
                .and_then(serde_json::Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|e| e.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        };
        if kept >= MAX_SAMPLES {
            break;
        }
        out.entry(key).or_default().push(sample);
        kept += 1;
    }
    Ok(out)
}
