# Infrastructure check with a real kernel bug (docs/siw-guest.md): siw as the MPA initiator, answered
# by a plain TCP server with non-MPA bytes, oopses (NULL pointer in siw_cm_work_handler) and would
# hang the guest; oops=panic with -no-reboot turns that into a crash report within seconds. The
# server answers only after siw's MPA Request has arrived: a server that spoke first (right after
# accept) did not oops siw here, rping failed after siw's 10 s MPA timer instead
# (RDMA_CM_EVENT_UNREACHABLE, error -110). If this starts passing, the Debian kernel has the fix.
# vm-timeout: 60
# vm-expect-exit: 3
# vm-expect-verdict: BUG: kernel NULL pointer dereference

guest() {
    siw_on_dummy
    mkfifo /tmp/nc-in
    nc -l "$SIW_DUMMY_IP" 7174 < /tmp/nc-in > mpa-request.bin 2> nc.txt &
    exec 3> /tmp/nc-in
    wait_listen 7174
    with_timeout 30 rping -c -a "$SIW_DUMMY_IP" -p 7174 -C 1 -v > rping.txt 2>&1 &
    wait_output mpa-request.bin 20 || fail "siw sent no MPA Request to the plain TCP server"
    printf 'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n' >&3
    wait
    fail "siw survived a non-MPA answer: rping said $(tr '\n' ' ' < rping.txt)"
}
