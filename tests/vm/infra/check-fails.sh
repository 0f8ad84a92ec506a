# Infrastructure check: the guest part passes, the host-side check finds its capture wrong, and
# run-guest.sh fails with the check's reason.
# vm-timeout: 60
# vm-expect-exit: 1
# vm-expect-verdict: host check: empty.pcap: 0 'Send' messages, expected 1

guest() {
    siw_on_dummy
    capture_start empty lo
    capture_stop empty
}

check() {
    expect_opcodes empty.pcap "Send=1"
}
