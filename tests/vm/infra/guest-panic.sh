# Infrastructure check: a kernel crash in the guest (oops=panic panic=-1, -no-reboot) ends qemu at
# once and run-guest.sh reports it as a crash, not as a timeout.
# vm-timeout: 60
# vm-expect-exit: 3
# vm-expect-verdict: guest kernel crashed

guest() {
    echo c > /proc/sysrq-trigger
    sleep 60
}
