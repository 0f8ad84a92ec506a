# rping server and client on one siw device (siw0 on dummy0; the traffic flows over lo): 5 verified
# iterations; the capture must hold the MPA handshake and rping's message pattern.
# vm-siw: default
# vm-timeout: 90

guest() {
    siw_on_dummy
    capture_start rping-dummy lo
    with_timeout 60 rping -s -a "$SIW_DUMMY_IP" -p 7174 -C 5 -v -V > rping-server.txt 2>&1 &
    server=$!
    wait_listen 7174
    with_timeout 30 rping -c -a "$SIW_DUMMY_IP" -p 7174 -C 5 -v -V > rping-client.txt 2>&1 \
        || fail "rping client exited $?: $(tail -3 rping-client.txt | tr '\n' ' ')"
    wait "$server" || fail "rping server exited $?: $(tail -3 rping-server.txt | tr '\n' ' ')"
    capture_stop rping-dummy
    expect_rping_iterations 5 rping-client.txt rping-server.txt
}

check() {
    expect_rping_capture rping-dummy.pcap 5 0
}
