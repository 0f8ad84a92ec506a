# RdmaDiag's latency modes over real kernel siw through rdma_cm: `rdmadiag latency serve --verbs` in
# netns A (siwA), `rdmadiag latency send|write|read --verbs` from netns B (siwB), 1000 iterations of
# 64 bytes each with --json. Each mode must report positive percentiles and its data check (echo
# sequence numbers, Write tags and both regions, Read pattern) must have run; p50/p99 are recorded,
# not judged: TCG makes them noisy. Then `compare --a verbs@A --b soft:A:18600` puts kernel siw and the
# userspace endpoint side by side (a `latency serve --soft` on 18600 in A: siw holds TCP 18516 there)
# for send and read: soft write's first exchange under TCG can miss the 2 s reply timeout (main's
# build too: four polling and receive threads on two emulated CPUs), so write is proven above on verbs only.
# vm-siw: default
# vm-timeout: 600
# vm-needs: build

ITERATIONS=1000


# JSON escapes the apostrophe (\u0027), hence the .* in the patterns below.
# The value of the first "KEY": NUMBER in FILE (the 64-byte series is the only one).
json_number() {
    sed -n "s/^ *\"$2\": *\\([0-9.]*\\),*\$/\\1/p" "$1" | head -n 1
}

guest() {
    [ -f /opt/rdmadiag/rdmadiag.dll ] || fail "no build output at /opt/rdmadiag (run-guest.sh --build DIR with a Release build of src/RdmaDiag)"
    netns_pair
    ip netns exec A dotnet /opt/rdmadiag/rdmadiag.dll latency serve --verbs --listen "$NS_A_IP" > serve.txt 2>&1 &
    serve=$!
    wait_listen 18516 A 120
    # siw listens inside rdma_listen, before the banner is printed.
    i=0
    while ! grep -q 'listening on\|rdmadiag:' serve.txt && [ "$i" -lt 300 ]; do
        i=$((i + 1))
        sleep 0.2
    done
    grep -q 'verbs latency responder on' serve.txt || fail "latency serve --verbs: $(tr '\n' ' ' < serve.txt | head -c 600)"

    for mode in send write read; do
        with_timeout 300 ip netns exec B dotnet /opt/rdmadiag/rdmadiag.dll latency "$mode" --verbs "$NS_A_IP" \
            -n "$ITERATIONS" --json > "$mode.json" 2> "$mode.err"
        status=$?
        record "latency_verbs.$mode.exit" "$status"
        [ "$status" = 0 ] || fail "latency $mode --verbs exited $status: $(head -c 600 "$mode.err") / serve: $(tail -n 3 serve.txt | tr '\n' ' ')"
        grep -q "\"$mode: verbs through rdma_cm, siwB" "$mode.json" \
            || fail "latency $mode --verbs did not run on siwB: $(grep -A6 '"notes"' "$mode.json" | tr '\n' ' ')"
        count=$(json_number "$mode.json" count)
        [ "$count" = "$ITERATIONS" ] || fail "latency $mode --verbs: $count samples, expected $ITERATIONS"
        for key in min_ns p50_ns p99_ns max_ns; do
            value=$(json_number "$mode.json" "$key")
            [ -n "$value" ] && [ "$(awk -v v="$value" 'BEGIN { print (v > 0) }')" = 1 ] \
                || fail "latency $mode --verbs: $key is '$value', expected a positive number"
        done
        record "latency_verbs.$mode.p50_ns" "$(json_number "$mode.json" p50_ns)"
        record "latency_verbs.$mode.p99_ns" "$(json_number "$mode.json" p99_ns)"
        case $mode in
            send) verified='echoes carried their own sequence number; the last echo of each size matched' ;;
            write) verified='polled octets were their exchange.*s tag; after each of 1 size(s) both regions held' ;;
            read) verified='Reads (the first and last of each size) matched the responder.*s pattern' ;;
        esac
        grep -q "$verified" "$mode.json" || fail "latency $mode --verbs: no data check in the notes: $(grep -A6 '"notes"' "$mode.json" | tr '\n' ' ')"
        record "latency_verbs.$mode.verified" "$(grep -o "\"$mode: [0-9]* [^\"]*" "$mode.json" | tail -n 1 | cut -c2-80)"
    done

    ip netns exec A dotnet /opt/rdmadiag/rdmadiag.dll latency serve --soft --listen "$NS_A_IP" --port 18600 > serve-soft.txt 2>&1 &
    serve_soft=$!
    wait_listen 18600 A 120
    with_timeout 300 ip netns exec B dotnet /opt/rdmadiag/rdmadiag.dll compare --a "verbs@$NS_A_IP" --b "soft:$NS_A_IP:18600" \
        send read -n "$ITERATIONS" --json > compare.json 2> compare.err
    status=$?
    record latency_verbs.compare.exit "$status"
    [ "$status" = 0 ] || fail "compare verbs@A soft:A exited $status: $(head -c 600 compare.err) / serve: $(tail -n 3 serve.txt | tr '\n' ' ')"
    grep -q '"send: verbs through rdma_cm, siwB' compare.json || fail "compare: path A did not run on siwB: $(head -c 600 compare.json)"
    grep -q '"send: userspace iWARP endpoint' compare.json || fail "compare: path B did not run on the userspace endpoint: $(head -c 600 compare.json)"
    record latency_verbs.compare.rows "$(grep -c '"mode": "[a-z]*",$' compare.json)"

    kill -TERM "$serve" "$serve_soft"
    wait "$serve"
    record latency_verbs.serve_exit $?
    wait "$serve_soft"
    record latency_verbs.serve_soft_exit $?
    [ "$(grep -c 'closed by the peer' serve.txt)" = 5 ] \
        || fail "latency serve --verbs did not see 5 clean closes: $(grep -v listening serve.txt | tr '\n' ' ' | head -c 600)"
}
