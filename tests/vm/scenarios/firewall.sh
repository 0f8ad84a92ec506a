# How siw's connect fails under each firewall rule (docs/siw-guest.md): rping client on siwB in
# netns B (tcp_syn_retries=2) against 10.9.8.1:7174 in netns A, where an nft rule on A's input
# hook rejects or drops the SYN. Each case records rping's message and how long it took, and
# captures vA so the host can check the TCP/ICMP answer that caused it.
# vm-siw: default
# vm-timeout: 180

PORT=7174

# case  nft rule in A ("-" for none)                     rping must say
CASES='no-listener|-|Connection refused
tcp-reset|tcp dport 7174 reject with tcp reset|Connection refused
reject|tcp dport 7174 reject|Connection refused
host-unreachable|tcp dport 7174 reject with icmp type host-unreachable|No route to host
drop|tcp dport 7174 drop|Connection timed out'

run_case() {
    name=$1
    rule=$2
    expect=$3
    if [ "$rule" != - ]; then
        # shellcheck disable=SC2086 # the rule is nft's words
        in_ns A nft add rule ip fw input $rule || fail "$name: nft rejected the rule '$rule'"
    fi
    capture_start "firewall-$name" vA A
    t0=$(now_s)
    # rping prints its error and then hangs, so the outcome is its first words, timed.
    with_timeout 40 ip netns exec B rping -c -a "$NS_A_IP" -p "$PORT" -C 1 -v > "firewall-$name.txt" 2>&1 &
    client=$!
    wait_output "firewall-$name.txt" 30 || fail "$name: rping said nothing for 30 s"
    took=$(elapsed_since "$t0")
    sleep 0.5
    kill "$client" 2>/dev/null
    wait "$client"
    capture_stop "firewall-$name"
    said=$(grep -v '^$' "firewall-$name.txt" | head -n 2 | tr '\n' ' ' | sed 's/ *$//')
    record "firewall.$name.rule" "$rule"
    record "firewall.$name.rping_says" "$said"
    record "firewall.$name.seconds" "$took"
    grep -q "$expect" "firewall-$name.txt" || fail "$name: rping said '$said', expected '$expect'"
}

guest() {
    netns_pair
    in_ns B sh -c 'echo 2 > /proc/sys/net/ipv4/tcp_syn_retries'
    in_ns A nft add table ip fw || fail "cannot create the nft table in A"
    in_ns A nft add chain ip fw input '{ type filter hook input priority 0; policy accept; }'

    # No listener first; then a persistent rping server so each rule stands between a real
    # listener and the client.
    first=1
    echo "$CASES" | while IFS='|' read -r name rule expect; do
        if [ "$first" = 1 ]; then
            first=0
        elif [ ! -f /tmp/firewall-server.pid ]; then
            with_timeout 120 ip netns exec A rping -s -P -a "$NS_A_IP" -p "$PORT" > firewall-server.txt 2>&1 &
            echo $! > /tmp/firewall-server.pid
            wait_listen "$PORT" A
        fi
        in_ns A nft flush chain ip fw input
        run_case "$name" "$rule" "$expect"
    done || exit 1
    [ ! -f /tmp/firewall-server.pid ] || kill "$(cat /tmp/firewall-server.pid)" 2>/dev/null
    # The drop case has to have waited for the SYN retries (1 + 2 + 4 s), however fast the guest is.
    took=$(sed -n 's/^firewall.drop.seconds=//p' results.txt)
    [ "$(awk -v t="$took" 'BEGIN { print (t >= 5) }')" = 1 ] || fail "drop: rping gave up after ${took}s, before the SYN retries ran out"
}

check() {
    for name in no-listener tcp-reset reject host-unreachable drop; do
        pcap=firewall-$name.pcap
        decode "$pcap" > /dev/null
        ! grep -q 'iWARP Marker Protocol' "$(decode "$pcap")" || fail "$pcap: an MPA frame got through"
        case "$name" in
            no-listener|tcp-reset) filter="ip.src == $NS_A_IP && tcp.flags.reset == 1" ;;
            reject) filter="ip.src == $NS_A_IP && icmp.type == 3 && icmp.code == 3" ;;
            host-unreachable) filter="ip.src == $NS_A_IP && icmp.type == 3 && icmp.code == 1" ;;
            drop) filter="tcp.flags.syn == 1 && tcp.flags.ack == 0" ;;
        esac
        n=$(tcp_count "$pcap" "$filter")
        [ "$n" -ge 1 ] || fail "$pcap: no packet matches '$filter'"
        if [ "$name" = drop ]; then
            [ "$n" = 3 ] || fail "$pcap: $n SYNs, expected 3 (tcp_syn_retries=2)"
            [ "$(tcp_count "$pcap" "tcp.flags.syn == 1 && tcp.flags.ack == 1")" = 0 ] || fail "$pcap: a SYN-ACK got through the drop rule"
        fi
        echo "$pcap: $n x [$filter]"
    done
}
