# rping between two siw devices built with mpa_crc_required = true: the MPA Request and Reply both set
# the CRC flag and every FPDU carries a non-zero CRC-32C that tshark finds correct.
# vm-siw: crc
# vm-timeout: 90

guest() {
    netns_pair
    capture_start rping-crc vA A
    with_timeout 60 ip netns exec A rping -s -a "$NS_A_IP" -p 7174 -C 5 -v -V > rping-server.txt 2>&1 &
    server=$!
    wait_listen 7174 A
    with_timeout 30 ip netns exec B rping -c -a "$NS_A_IP" -p 7174 -C 5 -v -V > rping-client.txt 2>&1 \
        || fail "rping client in B exited $?: $(tail -3 rping-client.txt | tr '\n' ' ')"
    wait "$server" || fail "rping server in A exited $?: $(tail -3 rping-server.txt | tr '\n' ' ')"
    capture_stop rping-crc
    expect_rping_iterations 5 rping-client.txt rping-server.txt
}

check() {
    expect_rping_capture rping-crc.pcap 5 1
    crcs=$(mpa_crcs rping-crc.pcap)
    total=$(echo "$crcs" | grep -c .)
    good=$(echo "$crcs" | grep -c ' Good$')
    zero=$(echo "$crcs" | grep -c '^0x00000000 ')
    [ "$total" = 35 ] || fail "rping-crc.pcap: $total FPDU CRC fields, expected 35 (7 FPDUs per iteration)"
    [ "$zero" = 0 ] || fail "rping-crc.pcap: $zero of $total FPDUs carry a zero CRC"
    [ "$good" = "$total" ] || fail "rping-crc.pcap: tshark finds $good of $total CRCs good: $(echo "$crcs" | grep -v ' Good$' | head -3 | tr '\n' ' ')"
    echo "rping-crc.pcap: $total FPDUs, every CRC non-zero and good per tshark (first: $(echo "$crcs" | head -1))"
}
