//! smoltcp as a client of our services on the in-memory wire: its TCP socket fetches
//! `/bytes/1048576` from our HTTP server, and its UDP socket queries our DNS server with a
//! hand-built message.

// The test target's root is this file, so its modules are named by path.
#[allow(dead_code)]
#[path = "smoltcp/frames.rs"]
mod frames;
#[allow(dead_code)]
#[path = "smoltcp/peer.rs"]
mod peer;
#[allow(dead_code)]
#[path = "smoltcp/sim.rs"]
mod sim;
#[allow(dead_code)]
#[path = "smoltcp/tcp.rs"]
mod tcp;

use std::error::Error;

use core::time::Duration;

use smoltcp::socket::tcp as smol_tcp;
use smoltcp::wire::{IpAddress, IpEndpoint};

use sim::{Sim, HOST_IP};

type TestResult = Result<(), Box<dyn Error>>;

fn host() -> IpAddress {
    let o = HOST_IP.octets();
    IpAddress::v4(o[0], o[1], o[2], o[3])
}

#[test]
fn smoltcp_fetches_a_megabyte_from_our_http_server() -> TestResult {
    let mut sim = Sim::clean()?;
    sim.wait_ready()?;
    let h = tcp::peer_socket(&mut sim);
    let ctx = sim.peer.iface.context();
    sim.peer
        .sockets
        .get_mut::<smol_tcp::Socket>(h)
        .connect(ctx, (host(), 80), 49_080)
        .map_err(|e| format!("{e:?}"))?;
    let request =
        b"GET /bytes/1048576 HTTP/1.1\r\nHost: tapstack.test\r\nConnection: close\r\n\r\n";
    let mut sent = false;
    let mut response = Vec::new();
    sim.run_until(
        |s| {
            let sock = s.peer.sockets.get_mut::<smol_tcp::Socket>(h);
            if !sent && sock.can_send() {
                sent = sock.send_slice(request).is_ok_and(|n| n == request.len());
            }
            while sock.can_recv() {
                let _ = sock.recv(|b| {
                    response.extend_from_slice(b);
                    (b.len(), ())
                });
            }
            // The server closes after the response (Connection: close).
            sent && !sock.may_recv()
        },
        Duration::from_secs(60),
    )?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let body = &response[split + 4..];
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-length: 1048576"), "{head}");
    assert_eq!(body.len(), 1_048_576);
    // Byte i of /bytes/N is i % 251 (documented in the HTTP service).
    assert!(
        body.iter()
            .enumerate()
            .all(|(i, &b)| usize::from(b) == i % 251),
        "body pattern"
    );
    Ok(())
}

/// A query for `name`/`qtype` with id 0x4242 and RD set.
fn query(name: &str, qtype: u16) -> Vec<u8> {
    let mut q = vec![0x42, 0x42, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q
}

#[test]
fn smoltcp_queries_our_dns_server() -> TestResult {
    let mut sim = Sim::clean()?;
    sim.wait_ready()?;
    let h = sim.peer.udp_socket(40_053, 8, 1500);
    let server = IpEndpoint::new(host(), 53);
    sim.peer.send_udp(h, server, &query("tapstack.test", 1))?;
    sim.peer
        .send_udp(h, server, &query("nothere.tapstack.test", 1))?;
    let mut replies = Vec::new();
    sim.run_until(
        |s| {
            while let Some((from, data)) = s.peer.recv_udp(h) {
                assert_eq!(from, server);
                replies.push(data);
            }
            replies.len() == 2
        },
        Duration::from_secs(3),
    )?;
    // The A record: id echoed, QR and AA set, NOERROR, one answer ending in our address.
    let a = &replies[0];
    assert_eq!(&a[..2], &[0x42, 0x42]);
    assert_eq!(a[2] & 0x84, 0x84, "QR and AA");
    assert_eq!(a[3] & 0x0f, 0, "NOERROR");
    assert_eq!(u16::from_be_bytes([a[6], a[7]]), 1, "one answer");
    assert_eq!(&a[a.len() - 4..], &HOST_IP.octets());
    // An unknown name in our zone: NXDOMAIN with the SOA in the authority section.
    let nx = &replies[1];
    assert_eq!(nx[3] & 0x0f, 3, "NXDOMAIN");
    assert_eq!(u16::from_be_bytes([nx[6], nx[7]]), 0, "no answer");
    assert_eq!(u16::from_be_bytes([nx[8], nx[9]]), 1, "SOA in authority");
    Ok(())
}
