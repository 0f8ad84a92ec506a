# rping between two hosts: server on siwA in netns A, client on siwB in netns B, joined by veth;
# 5 verified iterations, captured on vA.
# vm-siw: default
# vm-timeout: 90

guest() {
    netns_pair
    capture_start rping-netns vA A
    with_timeout 60 ip netns exec A rping -s -a "$NS_A_IP" -p 7174 -C 5 -v -V > rping-server.txt 2>&1 &
    server=$!
    wait_listen 7174 A
    with_timeout 30 ip netns exec B rping -c -a "$NS_A_IP" -p 7174 -C 5 -v -V > rping-client.txt 2>&1 \
        || fail "rping client in B exited $?: $(tail -3 rping-client.txt | tr '\n' ' ')"
    wait "$server" || fail "rping server in A exited $?: $(tail -3 rping-server.txt | tr '\n' ' ')"
    capture_stop rping-netns
    expect_rping_iterations 5 rping-client.txt rping-server.txt
}

check() {
    expect_rping_capture rping-netns.pcap 5 0
    expect_line rping-netns.pcap "Src: $NS_B_IP, Dst: $NS_A_IP"
}
