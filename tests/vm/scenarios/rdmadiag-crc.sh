# Interop 2: the userspace endpoint against the CRC-required siw build (mpa_crc_required): check --soft
# --rping --crc required against rping -s, and rping -c against serve --soft --rping, 10000-octet pings so
# Read Responses and Writes span several FPDUs. Both MPA exchanges must negotiate CRC (C=1 both ways) and
# every FPDU's CRC must verify, by tshark and by rdmadiag decode (and by the endpoint itself, which
# terminates on a bad one). Pinned siw behaviour: as responder the CRC-required build does not force CRC on
# an initiator that asks for none (mpa_crc_required only sets C when the Request has it; without
# mpa_crc_strict nothing rejects), so a plain check (C=0) runs without CRC; that first connection is on
# port 7176, outside the capture.
# vm-siw: crc
# vm-timeout: 300
# vm-needs: build
PINGS=3
SIZE=10000

guest() {
    need_rdmadiag
    siw_on_dummy
    capture_start rdmadiag-crc lo "" tcp port 7174 or tcp port 7175

    with_timeout 60 rping -s -a "$SIW_DUMMY_IP" -p 7176 -C 1 > rping-server-nocrc.txt 2>&1 &
    server=$!
    wait_listen 7176
    with_timeout 120 rdmadiag check "$SIW_DUMMY_IP" --port 7176 --soft --rping --no-capture --json > check-nocrc.json 2> check-nocrc.err
    record rdmadiag_crc.check_crc_off_exit $?
    wait "$server"
    record rdmadiag_crc.siw_crc_build_replies_crc_to_c0 "$(json_value check-nocrc.json crc)"
    [ "$(json_value check-nocrc.json verdict)" = ok ] || fail "check (C=0) against the CRC-required siw: $(json_value check-nocrc.json sentence)"
    [ "$(json_value check-nocrc.json crc)" = false ] \
        || fail "the CRC-required siw now forces CRC on a C=0 Request (crc $(json_value check-nocrc.json crc)); update this scenario and README"

    with_timeout 120 rping -s -a "$SIW_DUMMY_IP" -p 7174 -C "$PINGS" -S "$SIZE" > rping-server.txt 2>&1 &
    server=$!
    wait_listen 7174
    with_timeout 120 rdmadiag check "$SIW_DUMMY_IP" --soft --rping --crc required --count "$PINGS" --rping-size "$SIZE" --no-capture --json > check.json 2> check.err
    record rdmadiag_crc.check_exit $?
    wait "$server"
    record rdmadiag_crc.rping_server_exit $?
    [ "$(json_value check.json verdict)" = ok ] \
        || fail "check --soft --rping against the CRC-required rping -s: $(json_value check.json sentence) $(head -c 300 check.err)"
    record rdmadiag_crc.check_crc "$(json_value check.json crc)"
    [ "$(json_value check.json crc)" = true ] || fail "check did not negotiate CRC with the CRC-required siw: $(grep -m1 '"negotiated' check.json)"

    rdmadiag serve --soft --rping --listen "$SIW_DUMMY_IP" --port 7175 > serve.txt 2>&1 &
    serve=$!
    wait_listen 7175 "" 90
    with_timeout 60 rping -c -a "$SIW_DUMMY_IP" -p 7175 -C "$PINGS" -S "$SIZE" -V > rping-client.txt 2>&1
    client_status=$?
    wait_file_line serve.txt 'closed by the peer|failed' 30
    stop_process "$serve" 20 || fail "serve --soft --rping did not exit within 20 s of SIGTERM"
    record rdmadiag_crc.serve_exit "$STOPPED_STATUS"
    capture_stop rdmadiag-crc
    record rdmadiag_crc.rping_client_exit "$client_status"
    [ "$client_status" = 0 ] || fail "the CRC-required rping -c against serve --soft --rping exited $client_status: $(tail -3 rping-client.txt | tr '\n' ' ') / $(tail -2 serve.txt | tr '\n' ' ')"
    grep -q "$PINGS rping iteration(s), $PINGS verified" serve.txt || fail "serve --rping did not verify $PINGS pings: $(tail -2 serve.txt | tr '\n' ' ')"
    established=$(grep -m1 'established: ' serve.txt | sed 's/.*established: //')
    record rdmadiag_crc.serve_established "$established"
    case "$established" in
        *" crc on "*) ;;
        *) fail "serve did not run CRC with the CRC-required siw initiator: '$established'" ;;
    esac
}

check() {
    [ "$(grep -cE '= CRC flag: True$' "$(decode rdmadiag-crc.pcap)")" = 4 ] \
        || fail "the 4 MPA frames should all carry C=1: $(grep -E '= CRC flag' "$(decode rdmadiag-crc.pcap)" | sed 's/^ *//' | tr '\n' ' ')"
    total=$(mpa_crcs rdmadiag-crc.pcap | grep -c .)
    good=$(mpa_crcs rdmadiag-crc.pcap | grep -c ' Good$')
    [ "$total" -gt 0 ] && [ "$good" = "$total" ] || fail "tshark: $good of $total FPDU CRCs Good"
    echo "tshark: all $total FPDU CRCs Good"
    ours=$(rdmadiag_frames rdmadiag-crc.pcap 'true')
    ok=$(rdmadiag_frames rdmadiag-crc.pcap '.["rdmadiag.crc_ok"] == true')
    [ "$ours" -gt 0 ] && [ "$ok" = "$ours" ] || fail "rdmadiag decode: $ok of $ours FPDU CRCs verified"
    [ "$ours" = "$total" ] || fail "rdmadiag decode found $ours FPDUs, tshark $total"
    echo "rdmadiag decode: all $ours FPDU CRCs verified"
    [ "$(jq -r .verdict.status "$(rdmadiag_decode rdmadiag-crc.pcap)")" = ok ] \
        || fail "rdmadiag decode's verdict: $(jq -c .verdict "$(rdmadiag_decode rdmadiag-crc.pcap)")"
}
