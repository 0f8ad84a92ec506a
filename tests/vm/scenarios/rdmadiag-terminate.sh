# Interop 3: siw's Terminate decoded by our endpoint and by `rdmadiag decode`. check --soft --rping
# --rping-size 100 against a stock rping -s (64-octet buffer): siw's RDMA Read of our 100 octets overruns its
# sink, so siw terminates (DDP layer, tagged buffer, base or bounds violation) in its little-endian bitfield
# layout. check's verdict must be `terminate` naming that layer/type/code; decode must read the same from the
# capture, with the DDP header copy tshark cannot find.
# vm-siw: default
# vm-timeout: 180
# vm-needs: build

guest() {
    need_rdmadiag
    siw_on_dummy
    capture_start rdmadiag-terminate lo "" tcp port 7174
    with_timeout 60 rping -s -a "$SIW_DUMMY_IP" -p 7174 -C 1 -v > rping-server.txt 2>&1 &
    server=$!
    wait_listen 7174
    with_timeout 120 rdmadiag check "$SIW_DUMMY_IP" --soft --rping --rping-size 100 --no-capture --json > check.json 2> check.err
    record rdmadiag_terminate.check_exit $?
    wait "$server"
    record rdmadiag_terminate.rping_server_exit $?
    capture_stop rdmadiag-terminate
    dmesg | grep 'siw: got TERMINATE' > terminate-dmesg.txt || true
    record rdmadiag_terminate.cause "$(json_value check.json cause)"
    record rdmadiag_terminate.sentence "$(json_value check.json sentence)"
    [ "$(json_value check.json cause)" = terminate ] || fail "check's cause is '$(json_value check.json cause)', expected terminate: $(json_value check.json sentence) $(head -c 300 check.err)"
    grep -q 'Terminate layer Ddp (1), type 1, code 0x01 (ddp.tagged.base_bounds)' check.json \
        || fail "check's verdict does not name DDP / tagged buffer / base or bounds: $(json_value check.json sentence)"
    grep -q "little-endian bitfield layout" check.json \
        || fail "check's evidence does not say the Terminate came in siw's bitfield layout"
}

check() {
    expect_opcodes rdmadiag-terminate.pcap "Terminate=1" "Read Request=1" "Read Response=1"
    # tshark reads siw's control word in the RFC's order: M and D not set, "Reserved: 0x0300".
    expect_line rdmadiag-terminate.pcap 'Reserved: 0x0300'
    n=$(rdmadiag_frames rdmadiag-terminate.pcap '.["iwarp_rdma.opcode"] == 7 and .["iwarp_rdma.term_layer"] == 1 and .["iwarp_rdma.term_etype"] == 1
        and .["iwarp_rdma.term_errcode"] == 1 and .["iwarp_rdma.term_hdrct_m"] and .["iwarp_rdma.hdrct_d"] and (.["iwarp_rdma.hdrct_r"] | not)
        and .["rdmadiag.term_siw_bitfield_layout"] and .["iwarp_rdma.term_ddp_seg_len"] == 100 and (.["iwarp_rdma.term_ddp_h"] | length) == 28')
    [ "$n" = 1 ] || fail "rdmadiag decode: no Terminate 1/1/0x01 with M, D, segment length 100 and a 14-octet tagged copy: $(jq -c '.frames[] | select(.["iwarp_rdma.opcode"] == 7)' "$(rdmadiag_decode rdmadiag-terminate.pcap)")"
    # The copy names the Read Response our endpoint sent (opcode 0x42 in the copied RDMAP control).
    jq -e '.frames[] | select(.["iwarp_rdma.opcode"] == 7) | .["iwarp_rdma.term_ddp_h"] | startswith("c142")' \
        "$(rdmadiag_decode rdmadiag-terminate.pcap)" > /dev/null || fail "the Terminate's DDP copy is not our Read Response's tagged header"
    jq -e '.findings[] | select(.message | contains("little-endian bitfield layout"))' "$(rdmadiag_decode rdmadiag-terminate.pcap)" > /dev/null \
        || fail "rdmadiag decode has no finding that names siw's bitfield layout"
    jq -c '.frames[] | select(.["iwarp_rdma.opcode"] == 7)' "$(rdmadiag_decode rdmadiag-terminate.pcap)"
}
