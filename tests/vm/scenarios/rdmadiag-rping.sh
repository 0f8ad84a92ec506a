# Interop 1: `rdmadiag check --soft --rping` against stock `rping -s` on siw0, and stock `rping -c` on siw0
# against `rdmadiag serve --soft --rping`: 3 pings verified each way (our client compares what the server
# wrote back; rping -c -V does the same against our server, which also checks rping's pattern), and the MPA
# revision siw speaks as responder and as initiator.
# vm-siw: default
# vm-timeout: 240
# vm-needs: build

PINGS=3

guest() {
    need_rdmadiag
    siw_on_dummy
    capture_start rdmadiag-rping lo "" tcp port 7174 or tcp port 7175

    # Our client, siw's server.
    with_timeout 120 rping -s -a "$SIW_DUMMY_IP" -p 7174 -C "$PINGS" -v > rping-server.txt 2>&1 &
    server=$!
    wait_listen 7174
    with_timeout 120 rdmadiag check "$SIW_DUMMY_IP" --soft --rping --count "$PINGS" --no-capture --json > check.json 2> check.err
    record rdmadiag_rping.check_exit $?
    wait "$server"
    record rdmadiag_rping.rping_server_exit $?
    [ "$(json_value check.json verdict)" = ok ] \
        || fail "check --soft --rping against rping -s: $(json_value check.json sentence) $(head -c 300 check.err)"
    n=$(grep -c '^server ping data: rdma-ping-' rping-server.txt)
    [ "$n" = "$PINGS" ] || fail "rping -s saw $n of $PINGS pings from check --rping: $(tail -3 rping-server.txt | tr '\n' ' ')"
    record rdmadiag_rping.siw_reply_revision "$(json_value check.json reply_revision)"
    [ "$(json_value check.json reply_revision)" = 2 ] || fail "siw's MPA Reply is revision $(json_value check.json reply_revision), expected 2"

    # siw's client, our server.
    rdmadiag serve --soft --rping --listen "$SIW_DUMMY_IP" --port 7175 > serve.txt 2>&1 &
    serve=$!
    wait_listen 7175 "" 90
    with_timeout 60 rping -c -a "$SIW_DUMMY_IP" -p 7175 -C "$PINGS" -v -V > rping-client.txt 2>&1
    client_status=$?
    wait_file_line serve.txt 'closed by the peer|failed' 30
    stop_process "$serve" 20 || fail "serve --soft --rping did not exit within 20 s of SIGTERM"
    record rdmadiag_rping.serve_exit "$STOPPED_STATUS"
    record rdmadiag_rping.rping_client_exit "$client_status"
    capture_stop rdmadiag-rping
    [ "$client_status" = 0 ] || fail "rping -c against serve --soft --rping exited $client_status: $(tail -3 rping-client.txt | tr '\n' ' ') / $(tail -2 serve.txt | tr '\n' ' ')"
    n=$(grep -c '^ping data: rdma-ping-' rping-client.txt)
    [ "$n" = "$PINGS" ] || fail "rping -c verified $n of $PINGS pings against serve --rping: $(tail -3 rping-client.txt | tr '\n' ' ')"
    grep -q "$PINGS rping iteration(s), $PINGS verified" serve.txt || fail "serve --rping did not verify $PINGS pings: $(tail -2 serve.txt | tr '\n' ' ')"
    established=$(grep -m1 'established: ' serve.txt | sed 's/.*established: //')
    record rdmadiag_rping.siw_request "$established"
    case "$established" in
        "rev 2/2 "*) ;;
        *) fail "siw's MPA Request as serve saw it: '$established', expected revision 2" ;;
    esac
}

check() {
    # Two connections of 3 pings; each ping is 4 Sends, a Read Request, its Response and a Write.
    expect_opcodes rdmadiag-rping.pcap "Send=$((PINGS * 8))" "Read Request=$((PINGS * 2))" \
        "Read Response=$((PINGS * 2))" "Write=$((PINGS * 2))" "Terminate=0"
    [ "$(grep -cE '^ *Revision: 2$' "$(decode rdmadiag-rping.pcap)")" = 4 ] || fail "not all 4 MPA frames are revision 2"
    n=$(rdmadiag_frames rdmadiag-rping.pcap 'true')
    [ "$n" = $((PINGS * 14)) ] || fail "rdmadiag decode found $n FPDUs, expected $((PINGS * 14))"
    [ "$(jq -r .verdict.status "$(rdmadiag_decode rdmadiag-rping.pcap)")" = ok ] \
        || fail "rdmadiag decode's verdict: $(jq -c .verdict "$(rdmadiag_decode rdmadiag-rping.pcap)")"
    echo "rdmadiag decode: $n FPDUs, verdict $(jq -c .verdict "$(rdmadiag_decode rdmadiag-rping.pcap)")"
}
