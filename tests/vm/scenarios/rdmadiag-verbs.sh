# Interop 5: RdmaDiag's rdma_cm/verbs code on real kernel siw, between siwA (netns A) and siwB (netns B):
# `serve --verbs --rping` ↔ `check --verbs --rping`, then each against stock rping in the other role
# (`check --verbs --rping` against `rping -s`, `rping -c -V` against `serve --verbs --rping`). Every ping
# verified; vA captured for the decode comparison.
# vm-siw: default
# vm-timeout: 300
# vm-needs: build

PINGS=3

guest() {
    need_rdmadiag
    netns_pair
    capture_start rdmadiag-verbs vA A tcp port 7174 or tcp port 7175

    ip netns exec A rdmadiag serve --verbs --rping --listen "$NS_A_IP" --port 7174 > serve.txt 2>&1 &
    serve=$!
    wait_listen 7174 A 90 || true
    wait_file_line serve.txt 'listening on|rdmadiag:' 30 || fail "serve --verbs --rping said nothing in 30 s"
    grep -q 'listening on' serve.txt || fail "serve --verbs --rping: $(tr '\n' ' ' < serve.txt | head -c 600)"

    # Ours against ours.
    with_timeout 120 ip netns exec B rdmadiag check "$NS_A_IP" --verbs --rping --count "$PINGS" --no-capture --json > check-verbs-serve.json 2> check-verbs-serve.err
    record rdmadiag_verbs.check_vs_serve_exit $?
    record rdmadiag_verbs.check_vs_serve "$(json_value check-verbs-serve.json sentence)"
    [ "$(json_value check-verbs-serve.json verdict)" = ok ] \
        || fail "check --verbs --rping against serve --verbs --rping: $(json_value check-verbs-serve.json sentence) $(head -c 400 check-verbs-serve.err) / serve: $(tail -2 serve.txt | tr '\n' ' ')"

    # Stock rping -c against our server.
    with_timeout 60 ip netns exec B rping -c -a "$NS_A_IP" -p 7174 -C "$PINGS" -v -V > rping-client.txt 2>&1
    client_status=$?
    record rdmadiag_verbs.rping_client_exit "$client_status"
    i=0
    while [ "$(grep -c 'closed by the peer\|failed' serve.txt)" -lt 2 ] && [ "$i" -lt 100 ]; do
        i=$((i + 1))
        sleep 0.2
    done
    stop_process "$serve" 20 || fail "serve --verbs --rping did not exit within 20 s of SIGTERM"
    record rdmadiag_verbs.serve_exit "$STOPPED_STATUS"
    [ "$client_status" = 0 ] || fail "rping -c against serve --verbs --rping exited $client_status: $(tail -3 rping-client.txt | tr '\n' ' ') / serve: $(tail -2 serve.txt | tr '\n' ' ')"
    n=$(grep -c '^ping data: rdma-ping-' rping-client.txt)
    [ "$n" = "$PINGS" ] || fail "rping -c verified $n of $PINGS pings against serve --verbs --rping: $(tail -3 rping-client.txt | tr '\n' ' ')"
    [ "$(grep -c "$PINGS rping iteration(s), $PINGS verified" serve.txt)" = 2 ] \
        || fail "serve --verbs --rping did not serve both clients fully: $(grep -v listening serve.txt | tr '\n' ' ' | head -c 600)"

    # Our client against stock rping -s.
    with_timeout 120 ip netns exec A rping -s -a "$NS_A_IP" -p 7175 -C "$PINGS" -v > rping-server.txt 2>&1 &
    server=$!
    wait_listen 7175 A
    with_timeout 120 ip netns exec B rdmadiag check "$NS_A_IP" --port 7175 --verbs --rping --count "$PINGS" --no-capture --json > check-verbs-rping.json 2> check-verbs-rping.err
    record rdmadiag_verbs.check_vs_rping_exit $?
    wait "$server"
    record rdmadiag_verbs.rping_server_exit $?
    capture_stop rdmadiag-verbs
    [ "$(json_value check-verbs-rping.json verdict)" = ok ] \
        || fail "check --verbs --rping against rping -s: $(json_value check-verbs-rping.json sentence) $(head -c 400 check-verbs-rping.err)"
    n=$(grep -c '^server ping data: rdma-ping-' rping-server.txt)
    [ "$n" = "$PINGS" ] || fail "rping -s saw $n of $PINGS pings from check --verbs --rping: $(tail -3 rping-server.txt | tr '\n' ' ')"
}

check() {
    # Three connections of 3 pings, siw on both ends of each.
    expect_opcodes rdmadiag-verbs.pcap "Send=$((PINGS * 12))" "Read Request=$((PINGS * 3))" \
        "Read Response=$((PINGS * 3))" "Write=$((PINGS * 3))" "Terminate=0"
    [ "$(jq -r .verdict.status "$(rdmadiag_decode rdmadiag-verbs.pcap)")" = ok ] \
        || fail "rdmadiag decode's verdict: $(jq -c .verdict "$(rdmadiag_decode rdmadiag-verbs.pcap)")"
}
