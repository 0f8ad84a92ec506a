# rping -S 100 against a server with the default 64-byte buffer: the server's RDMA Read of the
# client's 100 bytes overruns its 64-byte sink, so siw ends the connection with a Terminate
# (DDP layer, tagged buffer error, base or bounds violation). The capture must hold it.
# vm-siw: default
# vm-timeout: 90

guest() {
    siw_on_dummy
    capture_start rping-terminate lo
    with_timeout 30 rping -s -a "$SIW_DUMMY_IP" -p 7174 -C 1 -v > rping-server.txt 2>&1 &
    server=$!
    wait_listen 7174
    with_timeout 30 rping -c -a "$SIW_DUMMY_IP" -p 7174 -C 1 -S 100 -v > rping-client.txt 2>&1
    client_status=$?
    wait "$server"
    server_status=$?
    capture_stop rping-terminate
    record rping_terminate.client_exit "$client_status"
    record rping_terminate.server_exit "$server_status"
    { [ "$client_status" != 124 ] && [ "$server_status" != 124 ]; } \
        || fail "rping hung after the Terminate (client $client_status, server $server_status)"
    grep -q 'cq completion failed' rping-server.txt \
        || fail "the rping server did not see its Read fail: $(tr '\n' ' ' < rping-server.txt)"
    dmesg | grep 'siw: got TERMINATE' > terminate-dmesg.txt \
        || fail "siw did not log the Terminate it received: $(dmesg | tail -5 | tr '\n' ' ')"
    record rping_terminate.dmesg "$(sed 's/^\[[^]]*\] //' terminate-dmesg.txt | head -1)"
}

check() {
    expect_opcodes rping-terminate.pcap "Terminate=1" "Read Request=1" "Read Response=1"
    expect_line rping-terminate.pcap 'RDMA Read Message Size: 100 bytes'
    expect_line rping-terminate.pcap '= Layer: DDP \(0x1\)$'
    expect_line rping-terminate.pcap '= Error Types for DDP layer: Tagged Buffer Error \(0x1\)$'
    expect_line rping-terminate.pcap 'Error Code for DDP Tagged Buffer: Base or bounds violation \(0x01\)$'
    # siw 6.1 lays the Terminate Control out with little-endian bitfields: it means M=1 D=1 but
    # sends them as 0x03 in the third octet (RFC 5040: 0x80, 0x40), so tshark shows "Reserved: 0x0300".
    sed -n '/OpCode: Terminate/,/^$/p' "$(decode rping-terminate.pcap)"
}
