# rping between two siw devices built with mpa_crc_required = true: the MPA Request and Reply both set
# the CRC flag and every FPDU carries a non-zero CRC-32C that tshark finds correct.
# vm-siw: crc
# vm-timeout: 90

guest() {
    netns_pair
    capture_start rping-crc vA A
    rping_verified rping A B "$NS_A_IP" 5
    capture_stop rping-crc
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
