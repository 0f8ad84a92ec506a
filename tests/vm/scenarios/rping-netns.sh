# rping between two hosts: server on siwA in netns A, client on siwB in netns B, joined by veth;
# 5 verified iterations, captured on vA.
# vm-siw: default
# vm-timeout: 90

guest() {
    netns_pair
    capture_start rping-netns vA A
    rping_verified rping A B "$NS_A_IP" 5
    capture_stop rping-netns
}

check() {
    expect_rping_capture rping-netns.pcap 5 0
    expect_line rping-netns.pcap "Src: $NS_B_IP, Dst: $NS_A_IP"
}
