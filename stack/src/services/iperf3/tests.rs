//! The iperf3 server on one interface, a scripted iperf3 client on another (raw TCP sockets
//! speaking the control protocol byte by byte), over the in-memory wire under virtual time.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde_json::Value;

use super::*;
use crate::device::memory::{Pace, Pair, Served, Stepper, Wire};
use crate::{Config, MacAddr};

const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const COOKIE: &[u8; 37] = b"abcdefghijklmnopqrstuvwxyz0123456789\0";

fn iface(ip: Ipv4Addr, last: u8) -> Interface {
    let mut c = Config::new(
        MacAddr([2, 0, 0, 0, 0, last]),
        Some(format!("{ip}/24").parse().unwrap()),
    );
    c.seed = u64::from(last);
    c.arp.probe_count = 0;
    c.arp.announce_count = 0;
    Interface::new(c).unwrap()
}

type Net<'a> = Pair<Interface, Served<'a, Server>>;

/// A client interface and `host` running `server` on one wire, both addresses in use.
fn client_and<'a>(host: &'a mut Interface, server: &'a mut Server) -> Net<'a> {
    let mut net = Pair::between(
        Wire::new(1500),
        iface(CLIENT_IP, 1),
        Served {
            iface: host,
            service: server,
        },
    );
    net.pace = Pace::ticks(Duration::from_millis(10));
    settle(&mut net, |n| {
        n.a.ipv4().is_some() && n.b.iface.ipv4().is_some()
    });
    net
}

fn settle(net: &mut Net<'_>, done: impl FnMut(&mut Net<'_>) -> bool) {
    net.run_until(done, Duration::from_secs(30), 1_000_000)
        .unwrap();
}

fn connect(net: &mut Net<'_>) -> tcp::Handle {
    let now = net.now;
    let h = net
        .a
        .tcp_connect(now, SocketAddr::new(IpAddr::V4(SERVER_IP), PORT))
        .unwrap();
    settle(net, |n| {
        n.a.tcp_connection(h)
            .is_some_and(|c| c.state() == tcp::State::Established)
    });
    h
}

fn send(net: &mut Net<'_>, h: tcp::Handle, data: &[u8]) {
    assert_eq!(net.a.tcp_send(h, data).unwrap(), data.len());
}

/// Reads until `n` bytes came on `h`.
fn read(net: &mut Net<'_>, h: tcp::Handle, n: usize) -> Vec<u8> {
    let mut got = Vec::new();
    settle(net, |net| {
        let mut buf = vec![0; n - got.len()];
        if let Ok(k) = net.a.tcp_recv(h, &mut buf) {
            got.extend_from_slice(&buf[..k]);
        }
        got.len() == n
    });
    got
}

fn message(json: &str) -> Vec<u8> {
    let mut m = (json.len() as u32).to_be_bytes().to_vec();
    m.extend_from_slice(json.as_bytes());
    m
}

fn closed_by_server(net: &mut Net<'_>, h: tcp::Handle) {
    settle(net, |n| {
        let mut buf = [0u8; 64];
        n.a.tcp_recv(h, &mut buf).is_err()
    });
}

#[test]
fn a_tcp_test_with_two_streams_runs_to_the_end() {
    let mut host = iface(SERVER_IP, 2);
    let mut server = Server::listen(&mut host, PORT).unwrap();
    let mut net = client_and(&mut host, &mut server);

    let control = connect(&mut net);
    send(&mut net, control, COOKIE);
    assert_eq!(read(&mut net, control, 1), [State::ParamExchange.byte()]);
    send(
        &mut net,
        control,
        &message(
            r#"{"tcp":true,"omit":0,"time":1,"parallel":2,"len":8192,"client_version":"3.12"}"#,
        ),
    );
    assert_eq!(read(&mut net, control, 1), [State::CreateStreams.byte()]);

    // A second client while streams are being set up is told the server is busy.
    let other = connect(&mut net);
    send(&mut net, other, b"another-cookie-xxxxxxxxxxxxxxxxxxxxx\0");
    assert_eq!(read(&mut net, other, 1), [0xff]);
    closed_by_server(&mut net, other);

    let streams = [connect(&mut net), connect(&mut net)];
    for s in streams {
        send(&mut net, s, COOKIE);
    }
    assert_eq!(
        read(&mut net, control, 2),
        [State::TestStart.byte(), State::TestRunning.byte()]
    );
    let data = vec![7u8; 100_000];
    for s in streams {
        let mut sent = 0;
        settle(&mut net, |n| {
            sent += n.a.tcp_send(s, &data[sent..]).unwrap();
            sent == data.len() && n.a.tcp_connection(s).unwrap().send_queue() == 0
        });
    }
    send(&mut net, control, &[State::TestEnd.byte()]);
    assert_eq!(read(&mut net, control, 1), [State::ExchangeResults.byte()]);
    send(
        &mut net,
        control,
        &message(r#"{"cpu_util_total":1,"streams":[]}"#),
    );
    // The server's results are there as soon as the client has written its own.
    let mut now_there = [0u8; 4];
    assert_eq!(net.a.tcp_recv(control, &mut now_there).unwrap(), 4);
    let len = now_there.to_vec();
    let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    let results: Value = serde_json::from_slice(&read(&mut net, control, len)).unwrap();
    assert_eq!(read(&mut net, control, 1), [State::DisplayResults.byte()]);
    let streams_json = results["streams"].as_array().unwrap();
    let ids: Vec<u64> = streams_json
        .iter()
        .map(|s| s["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [1, 3]);
    for s in streams_json {
        assert_eq!(s["bytes"], 100_000);
    }
    assert_eq!(results["sender_has_retransmits"], -1);
    send(&mut net, control, &[State::IperfDone.byte()]);
    closed_by_server(&mut net, control);
    drop(net);
    assert_eq!(
        server.counters(),
        Counters {
            completed: 1,
            aborted: 0,
            busy: 1
        }
    );
}

#[test]
fn a_malformed_message_ends_the_test_and_the_server_takes_the_next_client() {
    let mut host = iface(SERVER_IP, 2);
    let mut server = Server::listen(&mut host, PORT).unwrap();
    let mut net = client_and(&mut host, &mut server);

    for bad in [
        u32::MAX.to_be_bytes().to_vec(),
        message("not json"),
        message(r#"{"tcp":true,"parallel":100000}"#),
    ] {
        let control = connect(&mut net);
        send(&mut net, control, COOKIE);
        assert_eq!(read(&mut net, control, 1), [State::ParamExchange.byte()]);
        send(&mut net, control, &bad);
        closed_by_server(&mut net, control);
    }
    // A client that never sends its parameters is given up on.
    let silent = connect(&mut net);
    send(&mut net, silent, COOKIE);
    assert_eq!(read(&mut net, silent, 1), [State::ParamExchange.byte()]);
    closed_by_server(&mut net, silent);

    let next = connect(&mut net);
    send(&mut net, next, COOKIE);
    assert_eq!(read(&mut net, next, 1), [State::ParamExchange.byte()]);
    drop(net);
    assert_eq!(server.counters().aborted, 4);
}
