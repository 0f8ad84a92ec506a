# shellcheck shell=dash
# Guest-side helpers, sourced (dash) before a scenario's guest() runs. The working directory is
# /results, the read-write share that comes back to the host as run-guest.sh's --out. Helpers keep
# their variables local (dash has "local"), so a scenario's own names are never clobbered.
#
#   fail MSG                          print "FAIL: MSG" to stderr and end the scenario (exit 1)
#   record KEY VALUE                  append KEY=VALUE to /results/results.txt (numbers for the report)
#   with_timeout SECS CMD...          run CMD, killed after SECS (exit 124); rping hangs after errors
#   in_ns NS CMD...                   run CMD in network namespace NS ("" for the initial one)
#   siw_on_dummy                      dummy0 10.9.9.1/24 with siw0 on it (siw on lo does not work on 6.1);
#                                     its traffic flows over lo
#   netns_pair                        namespaces A (vA 10.9.8.1) and B (vB 10.9.8.2) joined by veth,
#                                     siwA on vA and siwB on vB
#   wait_listen PORT [NS] [SECS]      wait until a TCP listener on PORT exists (siw listens in-kernel)
#   capture_start NAME IFACE [NS [FILTER...]]
#                                     tcpdump IFACE (in NS; "" for the initial namespace) into
#                                     /results/NAME.pcap; returns once tcpdump listens
#   capture_stop NAME                 stop it and flush the file; prints tcpdump's packet counts
#   wait_output FILE SECS             wait until FILE is not empty; 1 if SECS pass first
#   elapsed_since T0                  seconds since T0 (a value of now_s), 2 decimals
#   now_s                             monotonic seconds with centiseconds, from /proc/uptime
#   need_rdmadiag                     put an `rdmadiag` command on PATH (the shared Release build under the
#                                     shared .NET runtime); fails when run-guest.sh got no --build
#   json_value FILE KEY               the first "KEY": value of an indented JSON file (strings unquoted)
#   wait_file_line FILE REGEX SECS    wait until FILE has a line matching REGEX; 1 if SECS pass first
#   stop_process PID SECS             SIGTERM, then wait up to SECS for PID (a child of this shell) to exit;
#                                     its exit status in STOPPED_STATUS; SIGKILL and return 1 after SECS

RESULTS=/results
# shellcheck source=SCRIPTDIR/addresses.sh
. /vm/guest/addresses.sh

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

record() {
    echo "$1=$2" >> "$RESULTS/results.txt"
    echo "record: $1=$2"
}

with_timeout() {
    local secs=$1
    shift
    timeout -k 2 "$secs" "$@"
}

in_ns() {
    local ns=$1
    shift
    if [ -n "$ns" ]; then
        ip netns exec "$ns" "$@"
    else
        "$@"
    fi
}

now_s() {
    cut -d' ' -f1 /proc/uptime
}

elapsed_since() {
    awk -v a="$1" -v b="$(now_s)" 'BEGIN { printf "%.2f", b - a }'
}

wait_rdma_dev() {
    local dev=$1 i=0
    while [ ! -e "/sys/class/infiniband/$dev" ]; do
        i=$((i + 1))
        [ "$i" -le 50 ] || fail "RDMA device $dev did not appear (rdma link: $(rdma link show 2>&1 | tr '\n' ' '))"
        sleep 0.1
    done
}

siw_on_dummy() {
    ip link add dummy0 type dummy || fail "cannot create dummy0"
    ip addr add "$SIW_DUMMY_IP/24" dev dummy0
    ip link set dummy0 up
    rdma link add siw0 type siw netdev dummy0 || fail "rdma link add siw0 on dummy0 failed"
    wait_rdma_dev siw0
}

netns_pair() {
    local ns
    ip netns add A || fail "cannot create netns A"
    ip netns add B || fail "cannot create netns B"
    # Distinct ifindexes matter: a wildcard rdma_cm listen in A (perftest's server) also listens on
    # siwB, which is visible in A (rdma netns mode "shared"); siw binds each listener to its
    # netdev's ifindex, and with vA and vB both at index 2 in their namespaces the second bind
    # fails with EADDRINUSE ("cma_listen_on_dev, error -98").
    ip link add vA index 12 netns A type veth peer name vB index 13 netns B || fail "cannot create the veth pair"
    in_ns A ip addr add "$NS_A_IP/24" dev vA
    in_ns B ip addr add "$NS_B_IP/24" dev vB
    for ns in A B; do
        in_ns "$ns" ip link set lo up
        in_ns "$ns" ip link set "v$ns" up
    done
    # rdma netns mode is "shared": siwA and siwB are visible everywhere but bound to their netdevs.
    in_ns A rdma link add siwA type siw netdev vA || fail "rdma link add siwA on vA failed"
    in_ns B rdma link add siwB type siw netdev vB || fail "rdma link add siwB on vB failed"
    wait_rdma_dev siwA
    wait_rdma_dev siwB
}

wait_listen() {
    local port=$1 ns=${2:-} secs=${3:-10} t0 out
    t0=$(now_s)
    while :; do
        out=$(in_ns "$ns" ss -Hltn "sport = :$port")
        [ -z "$out" ] || return 0
        [ "$(awk -v e="$(elapsed_since "$t0")" -v s="$secs" 'BEGIN { print (e >= s) }')" = 0 ] \
            || fail "nothing listens on TCP port $port${ns:+ in netns $ns} after ${secs}s"
        sleep 0.1
    done
}

# tcpdump writes to tmpfs: per-packet writes to the 9p share are slow enough under TCG that tcpdump
# falls behind and loses what is still queued when it is stopped. Its ring holds buffer / snaplen
# frames: the default 2 MiB at lo's 64 KiB frames is 31 packets, which a starved tcpdump overran
# on a loaded host, so the buffer is 64 MiB.
wait_output() {
    local file=$1 secs=$2 t0
    t0=$(now_s)
    until [ -s "$file" ]; do
        [ "$(awk -v e="$(elapsed_since "$t0")" -v s="$secs" 'BEGIN { print (e >= s) }')" = 0 ] || return 1
        sleep 0.1
    done
}

capture_start() {
    local name=$1 iface=$2 ns="" i=0
    shift 2
    if [ $# -gt 0 ]; then
        ns=$1
        shift
    fi
    rm -f "/tmp/$name.pcap"
    # Not via in_ns: a backgrounded function is a subshell, and $! must be tcpdump itself so that
    # capture_stop's SIGINT makes it flush and exit.
    if [ -n "$ns" ]; then
        ip netns exec "$ns" tcpdump -i "$iface" --immediate-mode -U -n -s 0 -B 65536 -w "/tmp/$name.pcap" "$@" \
            2> "$RESULTS/$name.tcpdump.txt" &
    else
        tcpdump -i "$iface" --immediate-mode -U -n -s 0 -B 65536 -w "/tmp/$name.pcap" "$@" \
            2> "$RESULTS/$name.tcpdump.txt" &
    fi
    echo $! > "/tmp/capture.$name.pid"
    until grep -q "listening on" "$RESULTS/$name.tcpdump.txt" 2>/dev/null; do
        i=$((i + 1))
        kill -0 "$(cat "/tmp/capture.$name.pid")" 2>/dev/null \
            || fail "tcpdump on $iface exited: $(cat "$RESULTS/$name.tcpdump.txt")"
        [ "$i" -le 100 ] || fail "tcpdump on $iface did not start within 10 s"
        sleep 0.1
    done
}

capture_stop() {
    local name=$1 pid last=-1 size i=0 dropped
    pid=$(cat "/tmp/capture.$name.pid")
    # Let tcpdump drain what the kernel has queued: stop once the file has not grown for 0.4 s.
    while [ "$i" -lt 50 ]; do
        size=$(stat -c %s "/tmp/$name.pcap" 2>/dev/null || echo 0)
        [ "$size" != "$last" ] || break
        last=$size
        i=$((i + 1))
        sleep 0.4
    done
    kill -INT "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rm -f "/tmp/capture.$name.pid"
    cp "/tmp/$name.pcap" "$RESULTS/$name.pcap" || fail "capture $name: no pcap written"
    grep "packets captured\|dropped by kernel" "$RESULTS/$name.tcpdump.txt" | sed "s/^/capture $name: /"
    dropped=$(sed -n 's/^\([0-9]*\) packets\{0,1\} dropped by kernel$/\1/p' "$RESULTS/$name.tcpdump.txt")
    [ "${dropped:-0}" = 0 ] || fail "capture $name is incomplete: tcpdump lost $dropped packets (host too loaded?)"
}

# rping_verified NAME SERVER_NS CLIENT_NS ADDR COUNT: rping -s on ADDR:7174 in SERVER_NS and rping -c
# in CLIENT_NS ("" for the initial namespace), COUNT iterations with -v -V; output in
# NAME-server.txt and NAME-client.txt. Fails unless both exit 0 and every iteration was verified.
rping_verified() {
    local name=$1 sns=$2 cns=$3 addr=$4 count=$5 server
    in_ns "$sns" timeout -k 2 60 rping -s -a "$addr" -p 7174 -C "$count" -v -V > "$name-server.txt" 2>&1 &
    server=$!
    wait_listen 7174 "$sns"
    in_ns "$cns" timeout -k 2 30 rping -c -a "$addr" -p 7174 -C "$count" -v -V > "$name-client.txt" 2>&1 \
        || fail "rping client${cns:+ in $cns} exited $?: $(tail -n 3 "$name-client.txt" | tr '\n' ' ')"
    wait "$server" || fail "rping server${sns:+ in $sns} exited $?: $(tail -n 3 "$name-server.txt" | tr '\n' ' ')"
    expect_rping_iterations "$count" "$name-client.txt" "$name-server.txt"
}

# rping -v prints each iteration's payload; -V makes the client compare what it read back.
expect_rping_iterations() {
    local want=$1 client=$2 server=$3 n
    n=$(grep -c '^ping data: rdma-ping-' "$client")
    [ "$n" = "$want" ] || fail "rping client completed $n of $want iterations: $(tail -3 "$client" | tr '\n' ' ')"
    n=$(grep -c '^server ping data: rdma-ping-' "$server")
    [ "$n" = "$want" ] || fail "rping server saw $n of $want iterations: $(tail -3 "$server" | tr '\n' ' ')"
    ! grep -qi 'mismatch\|error\|failed' "$client" "$server" \
        || fail "rping reported: $(grep -hi 'mismatch\|error\|failed' "$client" "$server" | head -2 | tr '\n' ' ')"
    echo "rping: $want iterations verified"
}

# A script rather than a function so that `ip netns exec`, `timeout` and `$!` see rdmadiag itself (exec:
# the signal a scenario sends reaches dotnet).
need_rdmadiag() {
    [ -f /opt/rdmadiag/rdmadiag.dll ] || fail "no build output at /opt/rdmadiag (run-guest.sh --build DIR with a Release build of src/RdmaDiag)"
    [ -x /usr/share/dotnet/dotnet ] || fail "no .NET runtime shared at /usr/share/dotnet"
    printf '#!/bin/sh\nexec /usr/share/dotnet/dotnet /opt/rdmadiag/rdmadiag.dll "$@"\n' > /usr/bin/rdmadiag
    chmod 755 /usr/bin/rdmadiag
}

json_value() {
    sed -n -e "s/^ *\"$2\": \"\(.*\)\",\{0,1\}$/\1/p" -e "s/^ *\"$2\": \([^\"{[][^,]*\),\{0,1\}$/\1/p" "$1" | head -n 1
}

wait_file_line() {
    local file=$1 regex=$2 secs=$3 t0
    t0=$(now_s)
    until grep -qE "$regex" "$file" 2>/dev/null; do
        [ "$(awk -v e="$(elapsed_since "$t0")" -v s="$secs" 'BEGIN { print (e >= s) }')" = 0 ] || return 1
        sleep 0.2
    done
}

# SIGTERM, not SIGINT: a non-interactive shell starts background commands with SIGINT ignored, and a process
# cannot catch a signal it inherited as ignored.
stop_process() {
    local pid=$1 secs=$2 i=0
    kill -TERM "$pid" 2>/dev/null
    while kill -0 "$pid" 2>/dev/null; do
        i=$((i + 1))
        if [ "$i" -gt $((secs * 10)) ]; then
            kill -KILL "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
            STOPPED_STATUS=killed
            return 1
        fi
        sleep 0.1
    done
    wait "$pid" 2>/dev/null
    STOPPED_STATUS=$?
}
