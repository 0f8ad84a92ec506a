# perftest latency between siwA (netns A, server) and siwB (netns B, client): ib_write_lat,
# ib_send_lat and ib_read_lat with -R (rdma_cm; without it siw fails "to modify QP to RTS"),
# 1000 iterations of 64 bytes each. The numbers are recorded, not judged: TCG makes them noisy.
# vm-siw: default
# vm-timeout: 300

# perftest converts cycles with a CPU clock it samples at start; on a loaded TCG host that sample can
# come out 0 and the table reads "inf". Write and send latency are timed on both sides, so the
# server's row stands in; a run where no side has numbers is repeated once.
finite_row() {
    awk '$1 == 64 && $2 == 1000 && NF >= 9 && $3 ~ /^[0-9.]+$/ && $5 ~ /^[0-9.]+$/' "$1"
}

# run_pair TOOL PORT: server in A, client in B; 1 (with RUN_FAILURE set) when either side fails. Under a
# loaded TCG host perftest's rdma_cm exchange has failed once ("Bad wc status 5" on the server, the client
# then hanging until its timeout); that attempt is repeated like one without numbers.
run_pair() {
    tool=$1
    port=$2
    with_timeout 90 ip netns exec A "$tool" -d siwA -R -F -n 1000 -s 64 -p "$port" > "$tool-server.txt" 2>&1 &
    server=$!
    wait_listen "$port" A 20
    with_timeout 60 ip netns exec B "$tool" -d siwB -R -F -n 1000 -s 64 -p "$port" "$NS_A_IP" > "$tool.txt" 2>&1
    client_status=$?
    if [ "$client_status" != 0 ]; then
        RUN_FAILURE="$tool client exited $client_status: $(tail -n 3 "$tool.txt" | tr '\n' ' ') / server: $(tail -n 3 "$tool-server.txt" | tr '\n' ' ')"
        kill "$server" 2>/dev/null
        wait "$server"
        return 1
    fi
    wait "$server" || { RUN_FAILURE="$tool server exited $?: $(tail -n 3 "$tool-server.txt" | tr '\n' ' ')"; return 1; }
}

guest() {
    netns_pair
    port=18515
    for tool in ib_write_lat ib_send_lat ib_read_lat; do
        row=""
        for attempt in 1 2; do
            port=$((port + 1))
            RUN_FAILURE=""
            if ! run_pair "$tool" "$port"; then
                echo "$tool attempt $attempt failed: $RUN_FAILURE"
                record "$tool.attempt$attempt" "failed: $RUN_FAILURE"
                continue
            fi
            side=client
            row=$(finite_row "$tool.txt")
            if [ -z "$row" ]; then
                side=server
                row=$(finite_row "$tool-server.txt")
            fi
            [ -z "$row" ] || break
            echo "$tool attempt $attempt: no finite numbers: $(awk '$1 == 64' "$tool.txt")"
        done
        [ -n "$row" ] || fail "$tool printed no finite 64-byte result in 2 runs: ${RUN_FAILURE:-$(tail -n 3 "$tool.txt" | tr '\n' ' ')}"
        # Columns: #bytes #iterations t_min t_max t_typical t_avg t_stdev 99% 99.9%
        # shellcheck disable=SC2086 # split the row into its columns
        set -- $row
        record "$tool.side" "$side"
        record "$tool.min_us" "$3"
        record "$tool.typical_us" "$5"
        record "$tool.avg_us" "$6"
        record "$tool.p99_us" "$8"
        record "$tool.p99_9_us" "$9"
        record "$tool.max_us" "$4"
    done
}
