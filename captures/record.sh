#!/bin/sh
# Records the reference captures from real peers: the Linux kernel's ping and socat talking to
# `tapstack up` over a TAP device, inside a throwaway network namespace (nothing leaves it).
#
#   cargo build --release && sudo captures/record.sh [NAME...]
#
# NAME is one of arp-ping, udp-echo, tcp-echo, tcp-discard, ping-curl, dhcp, ping6 (default: all),
# or tun alone: one `tapstack up --tun` session recorded by tcpdump as tun-sll2, tun-sll, tun-raw
# (needs tcpdump and dig).
# dhcp runs `tapstack up --dhcp` against dnsmasq on the kernel side (needs dnsmasq); ping6 runs
# with IPv6 on both sides (the others with IPv6 off). Each run writes
# captures/NAME.pcapng and captures/NAME.toml (the identity the stack ran with). Afterwards
# regenerate the expected outputs and snapshots (see captures/README.md).
#
# The live stack's clock starts a few microseconds before the first frame it captures, and TCP
# initial sequence numbers follow a 4-microsecond clock (RFC 6528). So after recording, the
# script looks for the `first_frame_at` (0 to 400 us) at which replaying the capture
# reproduces every frame the live stack sent, timestamps aside, and writes it into NAME.toml.
# For a bulk transfer that is not always possible: the live stack reads frames from the device
# in batches and polls once per batch, which the capture does not record, so its ACKs may fall
# differently. Then the value that reproduces the stack's SYN-ACK (its initial sequence number)
# is taken. A recording for which neither exists is made again.
set -eu

BIN=${TAPSTACK:-${CARGO_TARGET_DIR:-target}/release/tapstack}
DIR=$(dirname "$0")
ADDR=10.77.0.2

[ "$(id -u)" = 0 ] || { echo "record.sh: needs root (network namespaces, TAP)" >&2; exit 1; }
[ -x "$BIN" ] || { echo "record.sh: $BIN not found; build with cargo build --release" >&2; exit 1; }

# The peers of each capture (a shell command run inside the namespace once the stack answers).
peers() {
    case $1 in
    arp-ping) printf "%s\n" "ping -n -c 3 -i 0.2 $ADDR" ;;
    ping-curl) printf "%s\n" "ping -n -c 2 -i 0.2 $ADDR; curl -s -o /dev/null http://$ADDR/" ;;
    # The second datagram goes to a closed port: the stack answers ICMP port unreachable.
    udp-echo) printf "%s\n" "echo hello | socat -t1 - UDP:$ADDR:7; echo anyone | socat -t1 - UDP:$ADDR:9; true" ;;
    tcp-echo) printf "%s\n" "printf 'hello tapstack\\n' | socat -t1 - TCP:$ADDR:7" ;;
    tcp-discard) printf "%s\n" "seq 1 3000 | socat -u - TCP:$ADDR:9" ;;
    # dnsmasq (started before the peers) leases 10.77.0.50; wait for the lease, then ping it.
    # Wait for the kernel's own address to pass DAD (tentative) and for ours (about 1 s), then
    # ping the global and the link-local address.
    ping6) printf "%s\n" "i=0; while ip -6 addr show dev tap0 tentative | grep -q inet6; do i=\$((i+1)); [ \$i -lt 100 ] || exit 1; sleep 0.1; done; sleep 2; ping -6 -n -c 2 -i 0.2 fd77::2; ping -6 -n -c 2 -i 0.2 -s 3000 fd77::2; ping -6 -n -c 1 fe80::aff:fe4d:2%tap0" ;;
    dhcp) printf "%s\n" "i=0; until grep -q 10.77.0.50 $LEASES 2>/dev/null; do i=\$((i+1)); [ \$i -lt 300 ] || exit 1; sleep 0.1; done; sleep 1; ping -n -c 2 -i 0.2 10.77.0.50" ;;
    *) echo "record.sh: unknown capture $1" >&2; return 1 ;;
    esac
}

record() {
    name=$1
    ns=tapstack-rec-$name
    ip netns del "$ns" 2>/dev/null || true
    ip netns add "$ns"
    # shellcheck disable=SC2064
    trap "ip netns del $ns 2>/dev/null || true" EXIT INT TERM
    ip netns exec "$ns" ip link set lo up
    # No IPv6 on the link (but for ping6): the kernel would otherwise add MLD and neighbour
    # discovery frames.
    [ "$name" = ping6 ] ||
        ip netns exec "$ns" sh -c 'for k in all default; do echo 1 > /proc/sys/net/ipv6/conf/$k/disable_ipv6; done'
    # The identity in NAME.toml: 10.77.0.2/24, MAC 02:00:0a:4d:00:02, seed 1, no ARP probes;
    # for dhcp: the address by DHCP, one ARP probe.
    case $name in
    dhcp) set -- --dhcp --arp-probes 1 --no-ip6 ;;
    ping6) set -- --ip "$ADDR/24" --arp-probes 0 --ip6 fd77::2/64 --host-ip6 fd77::1/64 ;;
    *) set -- --ip "$ADDR/24" --arp-probes 0 --no-ip6 ;;
    esac
    ip netns exec "$ns" "$BIN" up -q --tap tap0 --seed 1 "$@" \
        --pcap "$DIR/$name.pcapng" >/dev/null &
    pid=$!
    # Wait until the kernel side has its address (the stack announces itself at start).
    i=0
    until ip netns exec "$ns" ip -4 addr show dev tap0 2>/dev/null | grep -q 10.77.0.1; do
        i=$((i + 1)); [ $i -lt 50 ] || { kill -INT $pid; echo "record.sh: tap0 never came up" >&2; exit 1; }
        sleep 0.1
    done
    dnsmasq=
    if [ "$name" = dhcp ]; then
        LEASES=$(mktemp)
        ip netns exec "$ns" dnsmasq --no-daemon --conf-file=/dev/null --port=0 --user=root \
            --interface=tap0 --bind-interfaces --dhcp-range=10.77.0.50,10.77.0.50,255.255.255.0,10m \
            --dhcp-option=option:dns-server,10.77.0.1 --dhcp-leasefile="$LEASES" \
            --pid-file="$LEASES.pid" --log-facility=- 2>/dev/null &
        dnsmasq=$!
    fi
    sleep 0.3
    cmd=$(peers "$name")
    ip netns exec "$ns" sh -c "$cmd"
    sleep 0.5
    kill -INT $pid
    wait $pid
    # dnsmasq outlives the stack so that it takes the DHCPRELEASE.
    if [ -n "$dnsmasq" ]; then
        sleep 0.5
        kill $dnsmasq; wait $dnsmasq || true
        rm -f "$LEASES" "$LEASES.pid"
    fi
    ip netns del "$ns"
    trap - EXIT INT TERM
}

# The identity of `tapstack up` above, with the clock offset found for the recording.
write_config() {
    case $1 in
    dhcp) identity='dhcp = true
dhcp_name = "tapstack"
arp_probes = 1' ;;
    ping6) identity='arp_probes = 0
ip6 = "fd77::2/64"' ;;
    *) identity='arp_probes = 0' ;;
    esac
    cat > "$DIR/$1.toml" <<TOML
# The identity tapstack had when $1.pcapng was recorded (captures/record.sh).
ip = "$ADDR/24"
mac = "02:00:0a:4d:00:02"
seed = 1
$identity
services = ["udp-echo", "tcp-echo", "tcp-discard", "tcp-chargen", "dns", "http"]
# The live stack's clock at the first captured frame. With it, replay reproduces
# $3.
# Check: tapstack replay captures/$1.pcapng --expect captures/$1.pcapng --mask time
first_frame_at = "$2us"
TOML
}

# The stack's SYN-ACKs in a capture, without the frame number, time and direction columns.
synacks() {
    "$BIN" dump "$1" | grep 'Flags \[S\.\]' | awk '{ $1 = $2 = $3 = ""; print }'
}

# "US exact" for the smallest first_frame_at at which replay reproduces every frame the live
# stack sent, else "US syn-ack" for the smallest at which it reproduces its SYN-ACKs, else
# nothing.
find_offset() {
    want=$(synacks "$DIR/$1.pcapng")
    tmp=$(mktemp --suffix .pcapng)
    syn=
    us=0
    while [ $us -le 400 ]; do
        if "$BIN" replay -q "$DIR/$1.pcapng" --first-frame-at "${us}us" --out "$tmp" \
            --expect "$DIR/$1.pcapng" --mask time >/dev/null 2>&1; then
            rm -f "$tmp"
            echo "$us exact"
            return
        fi
        if [ -z "$syn" ] && [ -n "$want" ] && [ "$(synacks "$tmp")" = "$want" ]; then
            syn=$us
        fi
        us=$((us + 1))
    done
    rm -f "$tmp"
    [ -z "$syn" ] || echo "$syn syn-ack"
}

# The TUN session: `tapstack up --tun` (IP medium) on tun0, seen by tcpdump from the kernel side
# three ways: tun-sll2 (-i any, LINUX_SLL2), tun-sll (-i any -y LINUX_SLL) and tun-raw (-i tun0,
# raw IP). tcpdump keeps the kernel's timestamps, so the offset of the stack's clock at the first
# record (seconds, not microseconds) is worked out from its SYN-ACK's initial sequence number
# (a 4-microsecond clock) and then searched for around that value.
record_tun() {
    ns=tapstack-rec-tun
    ip netns del "$ns" 2>/dev/null || true
    ip netns add "$ns"
    # shellcheck disable=SC2064
    trap "ip netns del $ns 2>/dev/null || true" EXIT INT TERM
    X="ip netns exec $ns"
    $X ip link set lo up
    $X "$BIN" up -q --tun --seed 1 >/dev/null 2>&1 &
    pid=$!
    i=0
    until $X ip -4 addr show dev tun0 2>/dev/null | grep -q 10.77.0.1; do
        i=$((i + 1)); [ $i -lt 50 ] || { kill -INT $pid; echo "record.sh: tun0 never came up" >&2; exit 1; }
        sleep 0.1
    done
    sleep 1
    # --immediate-mode: without it tcpdump loses the packets still buffered at SIGINT.
    $X tcpdump -U --immediate-mode -n -i any -w "$DIR/tun-sll2.pcap" not host 127.0.0.1 and not host ::1 2>/dev/null &
    t1=$!
    $X tcpdump -U --immediate-mode -n -i any -y LINUX_SLL -w "$DIR/tun-sll.pcap" not host 127.0.0.1 and not host ::1 2>/dev/null &
    t2=$!
    $X tcpdump -U --immediate-mode -n -i tun0 -w "$DIR/tun-raw.pcap" 2>/dev/null &
    t3=$!
    sleep 2
    $X sh -c "ping -n -c 2 -i 0.2 $ADDR; ping -6 -n -c 2 -i 0.2 fd77::2;
        curl -s -o /dev/null http://$ADDR/;
        dig +short +time=2 +tries=1 @$ADDR tapstack.test;
        dig +short +time=2 +tries=1 -6 @fd77::2 AAAA tapstack.test" >/dev/null
    sleep 1
    kill -INT $t1 $t2 $t3
    wait $t1 $t2 $t3 || true
    kill -INT $pid
    wait $pid || true
    ip netns del "$ns"
    trap - EXIT INT TERM
}

write_tun_config() {
    feed=
    [ "$1" = tun-raw ] || feed='# The packet types are the kernel'"'"'s: feed every packet not from the stack.
feed = "not-ours"'
    cat > "$DIR/$1.toml" <<TOML
# The identity tapstack had when $1.pcap was recorded (captures/record.sh): tapstack up --tun.
medium = "ip"
ip = "$ADDR/24"
ip6 = "fd77::2/64"
seed = 1
arp_probes = 0
services = ["udp-echo", "tcp-echo", "tcp-discard", "tcp-chargen", "dns", "http"]
$feed
# The live stack's clock at the first captured packet. With it, replay sends every packet the
# live stack sent in the capture (and the router solicitation it sent before the capture began).
first_frame_at = "$2us"
TOML
}

# The capture's packets (dump without number, time and direction), in order, are those of the
# replay's output less the ones the capture does not have.
tun_matches() {
    "$BIN" replay -q "$DIR/$1.pcap" --first-frame-at "$2us" --out "$3" >/dev/null 2>&1 || return 1
    "$BIN" dump "$DIR/$1.pcap" | awk '{ $1 = $2 = $3 = ""; print }' > "$3.want"
    "$BIN" dump "$3" | awk '{ $1 = $2 = $3 = ""; print }' | grep -xFf "$3.want" > "$3.got" || true
    cmp -s "$3.want" "$3.got"
}

tun_offset() {
    tmp=$(mktemp --suffix .pcapng)
    write_tun_config "$1" 0
    "$BIN" replay -q "$DIR/$1.pcap" --out "$tmp" >/dev/null 2>&1
    live=$(synacks "$DIR/$1.pcap" | awk '{ print $8 }' | tr -d , | head -n 1)
    ours=$(synacks "$tmp" | awk '{ print $8 }' | tr -d , | head -n 1)
    base=$(( ((live - ours + 4294967296) % 4294967296) * 4 - 8 ))
    us=$base
    while [ $us -le $((base + 16)) ]; do
        if tun_matches "$1" "$us" "$tmp"; then
            rm -f "$tmp" "$tmp.want" "$tmp.got"
            echo "$us"
            return
        fi
        us=$((us + 1))
    done
    rm -f "$tmp" "$tmp.want" "$tmp.got"
}

if [ "${1:-}" = tun ]; then
    try=1
    while :; do
        record_tun
        ok=1
        for name in tun-sll2 tun-sll tun-raw; do
            us=$(tun_offset "$name")
            if [ -n "$us" ]; then
                write_tun_config "$name" "$us"
                echo "recorded $DIR/$name.pcap (try $try, first_frame_at ${us}us)"
            else
                ok=
            fi
        done
        [ -z "$ok" ] || exit 0
        try=$((try + 1))
        [ $try -le 5 ] || { echo "record.sh: tun: replay never matched the live run" >&2; exit 1; }
    done
fi

for name in ${@:-arp-ping udp-echo tcp-echo tcp-discard ping-curl dhcp ping6}; do
    try=1
    while :; do
        record "$name"
        # The identity must be beside the capture while the offset is searched for.
        write_config "$name" 0 "nothing yet (first_frame_at not found)"
        found=$(find_offset "$name")
        if [ -n "$found" ]; then
            us=${found% *}
            case $found in
            *exact) what="every frame the live stack sent" ;;
            *) what="the live stack's SYN-ACK (its later ACKs may fall differently)" ;;
            esac
            write_config "$name" "$us" "$what"
            echo "recorded $DIR/$name.pcapng (try $try, first_frame_at ${us}us, matches $what)"
            break
        fi
        try=$((try + 1))
        [ $try -le 5 ] || { echo "record.sh: $name: replay never matched the live run" >&2; exit 1; }
    done
done
