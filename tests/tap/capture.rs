//! Checking captures with `tshark` (reading files only; nothing here touches a network).

use std::collections::BTreeMap;
use std::path::Path;

use tapstack_testkit::capture;

/// The stack's MAC address in the TAP tests (derived from 10.77.0.2).
const STACK_MAC: &str = "02:00:0a:4d:00:02";

/// Runs `tshark -r PATH -n ARGS` and returns its stdout; panics if tshark fails.
pub fn tshark(path: &Path, args: &[&str]) -> String {
    capture::tshark(path, args).unwrap_or_else(|e| panic!("{e:#}"))
}

/// The `fields` of every frame matching `filter` (two passes, so that links to later frames
/// such as `icmp.resp_in` are filled in).
pub fn fields(path: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    let mut args = vec!["-2", "-Y", filter, "-T", "fields", "-E", "separator=/t"];
    for f in fields {
        args.extend(["-e", f]);
    }
    tshark(path, &args)
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

/// How many frames match `filter`.
pub fn count(path: &Path, filter: &str) -> usize {
    fields(path, filter, &["frame.number"]).len()
}

/// How many frames the file holds.
pub fn frame_count(path: &Path) -> usize {
    capture::frame_count(path).unwrap_or_else(|e| panic!("{e:#}"))
}

/// The capture is readable, holds frames, and tshark finds nothing malformed, no expert error
/// and no bad checksum (of any protocol: a bad ICMP checksum is only an expert warning) in it;
/// the kernel's 0xffff for a zero checksum (RFC 1624) is not counted against it, the stack's is.
pub fn assert_capture_clean(path: &Path) {
    let frames = frame_count(path);
    assert!(frames > 0, "{} holds no frames", path.display());
    let problems: String = capture::problems(path, STACK_MAC)
        .unwrap_or_else(|e| panic!("{e:#}"))
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        problems.trim().is_empty(),
        "tshark finds problems in {} (frame, message):\n{problems}",
        path.display()
    );
}

/// The capture holds the kernel's ARP request for 10.77.0.2 and the stack's reply.
pub fn assert_arp_exchange(path: &Path) {
    let requests = count(
        path,
        "arp.opcode==1 && arp.src.proto_ipv4==10.77.0.1 && arp.dst.proto_ipv4==10.77.0.2",
    );
    let replies = count(
        path,
        "arp.opcode==2 && arp.src.proto_ipv4==10.77.0.2 && arp.dst.proto_ipv4==10.77.0.1 \
         && arp.src.hw_mac==02:00:0a:4d:00:02",
    );
    assert!(
        requests >= 1 && replies >= 1,
        "{}: {requests} ARP requests for 10.77.0.2, {replies} replies",
        path.display()
    );
}

/// Exactly `n` echo requests to 10.77.0.2 and `n` replies from it, every request linked to the
/// reply with the same identifier and sequence number and back.
pub fn assert_echo_pairs(path: &Path, n: usize) {
    type Key = (String, String);
    let rows = fields(
        path,
        "(icmp.type==8 && ip.dst==10.77.0.2) || (icmp.type==0 && ip.src==10.77.0.2)",
        &[
            "frame.number",
            "icmp.type",
            "icmp.ident",
            "icmp.seq",
            "icmp.resp_in",
            "icmp.resp_to",
        ],
    );
    let mut requests: BTreeMap<String, (Key, String)> = BTreeMap::new();
    let mut replies: BTreeMap<String, (Key, String)> = BTreeMap::new();
    for row in &rows {
        let [frame, kind, ident, seq, resp_in, resp_to] = row.as_slice() else {
            panic!("unexpected tshark row {row:?}");
        };
        let key = (ident.clone(), seq.clone());
        match kind.as_str() {
            "8" => requests.insert(frame.clone(), (key, resp_in.clone())),
            "0" => replies.insert(frame.clone(), (key, resp_to.clone())),
            _ => panic!("unexpected ICMP type in {row:?}"),
        };
    }
    assert_eq!(
        (requests.len(), replies.len()),
        (n, n),
        "{}: (echo requests, replies), expected {n} each: {rows:?}",
        path.display()
    );
    for (frame, (key, resp_in)) in &requests {
        let reply = replies.get(resp_in);
        assert!(
            reply.is_some_and(|(k, back)| k == key && back == frame),
            "{}: request in frame {frame} {key:?} has no matching reply (resp_in '{resp_in}')",
            path.display()
        );
    }
    for (frame, (key, resp_to)) in &replies {
        let request = requests.get(resp_to);
        assert!(
            request.is_some_and(|(k, _)| k == key),
            "{}: reply in frame {frame} {key:?} answers no request (resp_to '{resp_to}')",
            path.display()
        );
    }
}
