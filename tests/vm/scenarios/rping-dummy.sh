# rping server and client on one siw device (siw0 on dummy0; the traffic flows over lo): 5 verified
# iterations; the capture must hold the MPA handshake and rping's message pattern.
# vm-siw: default
# vm-timeout: 90

guest() {
    siw_on_dummy
    capture_start rping-dummy lo
    rping_verified rping "" "" "$SIW_DUMMY_IP" 5
    capture_stop rping-dummy
}

check() {
    expect_rping_capture rping-dummy.pcap 5 0
}
