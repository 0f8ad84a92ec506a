# Interop 6: `rdmadiag check` verdicts for the firewall cases of siw-guest.md, with siw on the other end:
# check --soft --rping in netns B against 10.9.8.1:7174 in netns A, where a persistent `rping -s -P` on siwA
# listens (none in the first case) and an nft rule on A's input hook rejects or drops the SYN.
# vm-siw: default
# vm-timeout: 300
# vm-needs: build

PORT=7174

# case  nft rule in A ("-" for none)                      check's cause
CASES='no-listener|-|tcp-refused
tcp-reset|tcp dport 7174 reject with tcp reset|tcp-refused
reject|tcp dport 7174 reject|icmp-unreachable
host-unreachable|tcp dport 7174 reject with icmp type host-unreachable|icmp-unreachable
drop|tcp dport 7174 drop|tcp-filtered
open|-|ok'

run_case() {
    name=$1
    rule=$2
    expect=$3
    in_ns A nft flush chain ip fw input
    if [ "$rule" != - ]; then
        # shellcheck disable=SC2086 # the rule is nft's words
        in_ns A nft add rule ip fw input $rule || fail "$name: nft rejected the rule '$rule'"
    fi
    t0=$(now_s)
    with_timeout 90 ip netns exec B rdmadiag check "$NS_A_IP" --port "$PORT" --soft --rping --connect-timeout 4 --json \
        > "fw-$name.json" 2> "fw-$name.err"
    status=$?
    took=$(elapsed_since "$t0")
    cause=$(json_value "fw-$name.json" cause)
    record "rdmadiag_firewall.$name.cause" "$cause"
    record "rdmadiag_firewall.$name.exit" "$status"
    record "rdmadiag_firewall.$name.seconds" "$took"
    record "rdmadiag_firewall.$name.sentence" "$(json_value "fw-$name.json" sentence)"
    [ "$cause" = "$expect" ] || fail "$name: check's cause is '$cause' (exit $status), expected '$expect': $(json_value "fw-$name.json" sentence) $(head -c 300 "fw-$name.err")"
}

guest() {
    need_rdmadiag
    netns_pair
    in_ns B sh -c 'echo 2 > /proc/sys/net/ipv4/tcp_syn_retries'
    in_ns A nft add table ip fw || fail "cannot create the nft table in A"
    in_ns A nft add chain ip fw input '{ type filter hook input priority 0; policy accept; }'
    capture_start rdmadiag-firewall vA A tcp port 7174 or icmp
    first=1
    echo "$CASES" | while IFS='|' read -r name rule expect; do
        if [ "$first" = 1 ]; then
            first=0
        elif [ ! -f /tmp/fw-server.pid ]; then
            with_timeout 250 ip netns exec A rping -s -P -a "$NS_A_IP" -p "$PORT" > fw-rping-server.txt 2>&1 &
            echo $! > /tmp/fw-server.pid
            wait_listen "$PORT" A
        fi
        run_case "$name" "$rule" "$expect"
    done || exit 1
    capture_stop rdmadiag-firewall
    [ ! -f /tmp/fw-server.pid ] || kill "$(cat /tmp/fw-server.pid)" 2>/dev/null
    true
}

check() {
    n=$(tcp_count rdmadiag-firewall.pcap "ip.src == $NS_A_IP && tcp.flags.reset == 1")
    [ "$n" -ge 2 ] || fail "expected the resets of no-listener and tcp-reset, saw $n"
    [ "$(tcp_count rdmadiag-firewall.pcap "icmp.type == 3 && icmp.code == 3")" -ge 1 ] || fail "no ICMP port unreachable for 'reject'"
    [ "$(tcp_count rdmadiag-firewall.pcap "icmp.type == 3 && icmp.code == 1")" -ge 1 ] || fail "no ICMP host unreachable"
    expect_opcodes rdmadiag-firewall.pcap "Read Request=1" "Terminate=0"
}
