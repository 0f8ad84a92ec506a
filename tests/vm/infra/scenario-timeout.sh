# Infrastructure check: a scenario that overruns its vm-timeout is stopped inside the guest, the
# guest still powers off cleanly, and run-guest.sh says which limit was hit.
# vm-timeout: 5
# vm-expect-exit: 4
# vm-expect-verdict: scenario timed out after 5s

guest() {
    sleep 60
}
