# Infrastructure check: a guest that never reports back (its in-guest timeout stopped, the scenario
# asleep) is killed after timeout + boot allowance and reported as hung.
# vm-timeout: 5
# vm-boot-allowance: 25
# vm-expect-exit: 4
# vm-expect-verdict: guest hung

guest() {
    kill -STOP "$PPID"
    sleep 600
}
