//! Comparing a replay's output with the expected one, frame by frame and field by field.

use core::fmt;
use core::time::Duration;

use crate::decode::{self, Field, Value};
use crate::device::capture::Record;
use crate::device::Direction;

/// Fields left out of a comparison: `time` (timestamps), `dir` (direction), a field by its
/// name (`tcp.seq`, `ipv4.id`), or a whole layer (`tcp`, `payload`).
///
/// A checksum is not compared when a field it covers is masked: masking `tcp.seq` masks
/// `tcp.checksum`, masking `ipv4.id` masks `ipv4.checksum`, and masking an IP address masks
/// the TCP, UDP and ICMPv6 checksums, whose pseudo-header holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mask {
    names: Vec<String>,
}

/// A mask name that is neither a field nor a layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownField(pub String);

impl fmt::Display for UnknownField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a field or layer (try time, dir, eth, arp, ipv4, ipv6, tcp, udp, icmp, \
             icmpv6, payload, or a field such as tcp.seq or ipv4.id)",
            self.0
        )
    }
}

impl std::error::Error for UnknownField {}

impl Mask {
    /// Nothing masked.
    pub fn none() -> Self {
        Mask::default()
    }

    /// A mask from names separated by commas or spaces, e.g. `time,tcp.seq,tcp.ack`.
    ///
    /// # Errors
    /// [`UnknownField`] for a name that is neither a field nor a layer.
    pub fn parse(list: &str) -> Result<Self, UnknownField> {
        let mut mask = Mask::none();
        for name in list.split([',', ' ']).filter(|s| !s.is_empty()) {
            mask.add(name)?;
        }
        Ok(mask)
    }

    /// Masks one more field or layer.
    ///
    /// # Errors
    /// [`UnknownField`] for a name that is neither a field nor a layer.
    pub fn add(&mut self, name: &str) -> Result<(), UnknownField> {
        let known = name == "time"
            || name == "dir"
            || decode::FIELD_NAMES.contains(&name)
            || decode::FIELD_NAMES
                .iter()
                .any(|f| f.split_once('.').is_some_and(|(l, _)| l == name));
        if !known {
            return Err(UnknownField(name.to_owned()));
        }
        if !self.names.iter().any(|n| n == name) {
            self.names.push(name.to_owned());
        }
        Ok(())
    }

    /// True when nothing is masked.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// True when `name` (a field, `time` or `dir`) is masked, itself or by its layer.
    pub fn masks(&self, name: &str) -> bool {
        let layer = name.split_once('.').map_or(name, |(l, _)| l);
        self.names.iter().any(|n| n == name || n == layer)
    }

    /// True when the checksum field `name` covers a masked field.
    pub(super) fn masks_checksum(&self, name: &str) -> bool {
        let covered: &[&str] = match name {
            "ipv4.checksum" => &["ipv4"],
            "tcp.checksum" => &[
                "tcp", "payload", "ipv4.src", "ipv4.dst", "ipv6.src", "ipv6.dst",
            ],
            "udp.checksum" => &[
                "udp", "payload", "ipv4.src", "ipv4.dst", "ipv6.src", "ipv6.dst",
            ],
            "icmp.checksum" => &["icmp", "payload"],
            "icmpv6.checksum" => &["icmpv6", "payload", "ipv6.src", "ipv6.dst"],
            _ => return false,
        };
        self.names.iter().any(|n| {
            covered.iter().any(|c| {
                n == c
                    || n.starts_with(c)
                        && n.as_bytes().get(c.len()) == Some(&b'.')
                        && !n.ends_with(".checksum")
            })
        })
    }

    pub(super) fn skips(&self, name: &str) -> bool {
        self.masks(name) || self.masks_checksum(name)
    }
}

/// The first difference between two frames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldDiff {
    /// The field (`time`, `dir`, `tcp.seq`, ...), or `fields` when the two frames have
    /// different headers.
    pub field: String,
    /// Its value in the expected frame.
    pub expected: String,
    /// Its value in ours.
    pub got: String,
}

impl fmt::Display for FieldDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: expected {}, got {}",
            self.field, self.expected, self.got
        )
    }
}

/// One place where the output and the expected output disagree. Indices count from 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Difference {
    /// Both have a frame here, and they differ.
    Changed {
        /// Index in the expected capture.
        expected: usize,
        /// Index in ours.
        got: usize,
        /// The first field that differs.
        first: FieldDiff,
    },
    /// An expected frame we did not produce.
    Missing {
        /// Index in the expected capture.
        expected: usize,
    },
    /// A frame we produced that was not expected.
    Extra {
        /// Index in ours.
        got: usize,
    },
}

/// The outcome of [`compare`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Frames that matched.
    pub matched: usize,
    /// Every difference, in order.
    pub differences: Vec<Difference>,
}

impl Comparison {
    /// True when nothing differs.
    pub fn is_same(&self) -> bool {
        self.differences.is_empty()
    }
}

/// How far ahead [`compare`] looks for the two captures to agree again after a difference.
const RESYNC_WINDOW: usize = 8;

/// Compares `got` with `expected` frame by frame, ignoring what `mask` masks. Timestamps are
/// compared relative to each capture's first frame. After a difference the two are realigned
/// when a frame was dropped or added, so one extra retransmission shows as one difference.
pub fn compare(expected: &[Record], got: &[Record], mask: &Mask) -> Comparison {
    let e0 = expected.first().map_or(Duration::ZERO, |r| r.timestamp);
    let g0 = got.first().map_or(Duration::ZERO, |r| r.timestamp);
    let diff = |i: usize, j: usize| -> Option<FieldDiff> {
        match (expected.get(i), got.get(j)) {
            (Some(e), Some(g)) => first_difference(e, e0, g, g0, mask),
            _ => Some(FieldDiff {
                field: "frame".to_owned(),
                expected: String::new(),
                got: String::new(),
            }),
        }
    };
    let same = |i: usize, j: usize| diff(i, j).is_none();
    let mut out = Comparison::default();
    let (mut i, mut j) = (0, 0);
    while i < expected.len() || j < got.len() {
        if i >= expected.len() {
            out.differences.push(Difference::Extra { got: j });
            j += 1;
            continue;
        }
        if j >= got.len() {
            out.differences.push(Difference::Missing { expected: i });
            i += 1;
            continue;
        }
        let Some(first) = diff(i, j) else {
            out.matched += 1;
            i += 1;
            j += 1;
            continue;
        };
        // Realign: the smallest skip (a expected frames, b of ours) after which two frames in a
        // row agree (or the captures end together).
        let agrees = |a: usize, b: usize| {
            let (x, y) = (i + a, j + b);
            (x < expected.len() && y < got.len() && same(x, y))
                && (x + 1 >= expected.len() && y + 1 >= got.len() || same(x + 1, y + 1))
        };
        let skip = (1..=RESYNC_WINDOW).find_map(|total| {
            (0..=total)
                .map(|a| (a, total - a))
                .find(|&(a, b)| agrees(a, b))
        });
        match skip {
            Some((a, b)) if a == 0 || b == 0 => {
                for k in 0..a {
                    out.differences
                        .push(Difference::Missing { expected: i + k });
                }
                for k in 0..b {
                    out.differences.push(Difference::Extra { got: j + k });
                }
                i += a;
                j += b;
            }
            _ => {
                out.differences.push(Difference::Changed {
                    expected: i,
                    got: j,
                    first,
                });
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// The first difference between two records, in the order time, direction, then the frame's
/// fields in wire order; `None` when they agree under `mask`.
pub fn first_difference(
    expected: &Record,
    expected_origin: Duration,
    got: &Record,
    got_origin: Duration,
    mask: &Mask,
) -> Option<FieldDiff> {
    if !mask.masks("time") {
        let e = expected.timestamp.saturating_sub(expected_origin);
        let g = got.timestamp.saturating_sub(got_origin);
        if e != g {
            return Some(FieldDiff {
                field: "time".to_owned(),
                expected: seconds(e),
                got: seconds(g),
            });
        }
    }
    if !mask.masks("dir") && expected.direction != got.direction {
        return Some(FieldDiff {
            field: "dir".to_owned(),
            expected: direction_name(expected.direction).to_owned(),
            got: direction_name(got.direction).to_owned(),
        });
    }
    if mask.is_empty() && expected.data == got.data {
        return None;
    }
    let ef = decode::fields_of(expected.link, &expected.data);
    let gf = decode::fields_of(got.link, &got.data);
    let keep = |f: &&Field<'_>| !mask.skips(f.name);
    let mut e_iter = ef.iter().filter(keep);
    let mut g_iter = gf.iter().filter(keep);
    loop {
        match (e_iter.next(), g_iter.next()) {
            (None, None) => return None,
            (Some(e), None) => {
                return Some(FieldDiff {
                    field: e.name.to_owned(),
                    expected: e.value.to_string(),
                    got: "(absent)".to_owned(),
                })
            }
            (None, Some(g)) => {
                return Some(FieldDiff {
                    field: g.name.to_owned(),
                    expected: "(absent)".to_owned(),
                    got: g.value.to_string(),
                })
            }
            (Some(e), Some(g)) if e.name != g.name => {
                return Some(FieldDiff {
                    field: format!("{} / {}", e.name, g.name),
                    expected: format!("{}={}", e.name, e.value),
                    got: format!("{}={}", g.name, g.value),
                })
            }
            (Some(e), Some(g)) if e.value != g.value => {
                return Some(value_difference(e, g));
            }
            _ => {}
        }
    }
}

fn value_difference(e: &Field<'_>, g: &Field<'_>) -> FieldDiff {
    if let (Value::Bytes(a), Value::Bytes(b)) = (&e.value, &g.value) {
        let at = a.iter().zip(b.iter()).position(|(x, y)| x != y);
        return match at {
            Some(k) => FieldDiff {
                field: format!("{} (byte {k} of {})", e.name, a.len()),
                expected: a.get(k).map_or_else(String::new, |&b| decode::byte_text(b)),
                got: b.get(k).map_or_else(String::new, |&b| decode::byte_text(b)),
            },
            None => FieldDiff {
                field: format!("{} (length)", e.name),
                expected: format!("{} bytes", a.len()),
                got: format!("{} bytes", b.len()),
            },
        };
    }
    FieldDiff {
        field: e.name.to_owned(),
        expected: e.value.to_string(),
        got: g.value.to_string(),
    }
}

/// Seconds with nanoseconds, as the dump prints relative times.
pub fn seconds(d: Duration) -> String {
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// `in`, `out` or `-` (not marked).
pub fn direction_name(d: Option<Direction>) -> &'static str {
    match d {
        Some(Direction::In) => "in",
        Some(Direction::Out) => "out",
        None => "-",
    }
}
