#!/bin/bash
# The kernel-siw interop tier: builds the guest (cached), then runs every infra/*.sh (checks that a
# crash, a hang and a failing check are reported as such; they pass when run-guest.sh fails the way
# their "# vm-expect-exit:" and "# vm-expect-verdict:" headers say) and every scenarios/*.sh, each in
# its own guest boot. Prints "PASS name (Ns)" or "FAIL name: reason" per scenario and ends with
# "N passed, N failed"; exits non-zero on any failure. Afterwards every capture the scenarios brought back
# is decoded by rdmadiag and by tshark and compared field by field (the "decode-oracle" entry).
set -uo pipefail

usage() {
    cat <<'EOF'
usage: run-tier.sh [--cache DIR] [--out DIR] [--build DIR] [--only NAME]... [--no-update]
  --cache DIR   build-guest.sh's cache (default /var/cache/rdmadiag-vm)
  --out DIR     where each scenario's results go, as DIR/NAME (default: a new /tmp/rdmadiag-vm-tier.*)
  --build DIR   a Release build of src/RdmaDiag for scenarios marked "# vm-needs: build"
                (default: built here with dotnet build -c Release when such a scenario runs)
  --only NAME   run only this scenario (repeatable)
  --no-update   passed to build-guest.sh: resolve package versions without apt-get update
EOF
}

HERE=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
REPO=$(cd "$HERE/../.." && pwd)
CACHE=/var/cache/rdmadiag-vm
OUT=""
BUILD=""
ONLY=()
BUILD_ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --cache|--out|--build|--only)
            [ $# -ge 2 ] || { echo "run-tier: $1 needs a value" >&2; usage >&2; exit 2; } ;;
    esac
    case "$1" in
        --cache) CACHE=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --build) BUILD=$2; shift 2 ;;
        --only) ONLY+=("$2"); shift 2 ;;
        --no-update) BUILD_ARGS+=(--no-update); shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run-tier: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done

T0=$EPOCHREALTIME
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }'; }

scenario_name() {
    case "$1" in
        */infra/*) echo "infra-$(basename "$1" .sh)" ;;
        *) basename "$1" .sh ;;
    esac
}

SCENARIOS=()
for f in "$HERE"/infra/*.sh "$HERE"/scenarios/*.sh; do
    name=$(scenario_name "$f")
    if [ ${#ONLY[@]} -gt 0 ]; then
        keep=0
        for o in "${ONLY[@]}"; do [ "$o" = "$name" ] && keep=1; done
        [ "$keep" = 1 ] || continue
    fi
    SCENARIOS+=("$f")
done
[ ${#SCENARIOS[@]} -gt 0 ] || { echo "run-tier: no scenario matches ${ONLY[*]:-anything} in $HERE/scenarios" >&2; exit 2; }

if [ -z "$OUT" ]; then
    OUT=$(mktemp -d /tmp/rdmadiag-vm-tier.XXXXXX)
else
    mkdir -p "$OUT"
fi
OUT=$(readlink -f "$OUT")
echo "run-tier: ${#SCENARIOS[@]} scenarios, results in $OUT"

passed=0
failed=0
report() {
    # report PASS|FAIL name detail
    if [ "$1" = PASS ]; then
        passed=$((passed + 1))
        echo "PASS $2 ($3)"
    else
        failed=$((failed + 1))
        echo "FAIL $2: $3"
    fi
}
finish() {
    local f
    for f in "$OUT"/*/results.txt; do
        [ -f "$f" ] && sed "s|^|$(basename "$(dirname "$f")"): |" "$f"
    done > "$OUT/results.txt"
    [ ! -s "$OUT/results.txt" ] || echo "run-tier: recorded numbers and outcomes in $OUT/results.txt"
    echo "run-tier: wall time $(since "$T0")s"
    echo "$passed passed, $failed failed"
    [ "$failed" = 0 ]
    exit
}

t=$EPOCHREALTIME
if ! "$HERE/build-guest.sh" --cache "$CACHE" "${BUILD_ARGS[@]}" > "$OUT/build-guest.log" 2>&1; then
    reason=$(grep -m1 '^build-guest: ' "$OUT/build-guest.log" || tail -n 1 "$OUT/build-guest.log")
    for f in "${SCENARIOS[@]}"; do report FAIL "$(scenario_name "$f")" "not run: the guest did not build ($reason; see $OUT/build-guest.log)"; done
    finish
fi
echo "run-tier: guest ready in $(since "$t")s ($(grep -m1 'cache hit\|building guest' "$OUT/build-guest.log" | sed 's/^\[[^]]*\] //'))"

NEEDS_BUILD=0
for f in "${SCENARIOS[@]}"; do grep -q '^# vm-needs: build' "$f" && NEEDS_BUILD=1; done
BUILD_ERROR=""
if [ "$NEEDS_BUILD" = 1 ] && [ -z "$BUILD" ]; then
    t=$EPOCHREALTIME
    BUILD=$OUT/build
    if dotnet build "$REPO/src/RdmaDiag" -c Release -o "$BUILD" -nologo -v q > "$OUT/dotnet-build.log" 2>&1; then
        echo "run-tier: dotnet build -c Release in $(since "$t")s"
    else
        BUILD_ERROR="dotnet build -c Release src/RdmaDiag failed (see $OUT/dotnet-build.log)"
    fi
fi

for f in "${SCENARIOS[@]}"; do
    name=$(scenario_name "$f")
    args=(--scenario "$f" --out "$OUT/$name" --cache "$CACHE")
    if grep -q '^# vm-needs: build' "$f"; then
        if [ -n "$BUILD_ERROR" ]; then
            report FAIL "$name" "not run: $BUILD_ERROR"
            continue
        fi
        args+=(--build "$BUILD")
    fi
    t=$EPOCHREALTIME
    "$HERE/run-guest.sh" "${args[@]}" > "$OUT/$name.log" 2>&1
    rc=$?
    verdict=$(cat "$OUT/$name/verdict" 2>/dev/null || tail -n 1 "$OUT/$name.log")
    want_rc=$(sed -n 's/^# vm-expect-exit: *//p' "$f" | head -n 1)
    want_verdict=$(sed -n 's/^# vm-expect-verdict: *//p' "$f" | head -n 1)
    if [ -z "$want_rc" ]; then
        want_rc=0
        want_verdict=passed
    fi
    if [ "$rc" = "$want_rc" ] && [[ "$verdict" == *"$want_verdict"* ]]; then
        report PASS "$name" "$(since "$t")s"
    elif [ "$want_rc" = 0 ]; then
        report FAIL "$name" "$verdict (exit $rc, $(since "$t")s, see $OUT/$name)"
    else
        report FAIL "$name" "expected exit $want_rc with '$want_verdict', got exit $rc: $verdict (see $OUT/$name)"
    fi
done

# Interop scenario 7: every capture the guest brought back, decoded by rdmadiag and by tshark, compared field by
# field (tests/RdmaDiag.Tests/Interop/GuestCaptureOracleTests.cs, which reads RDMADIAG_VM_RESULTS).
if [ -n "$(find "$OUT" -mindepth 2 -name '*.pcap' -print -quit)" ]; then
    t=$EPOCHREALTIME
    if RDMADIAG_VM_RESULTS=$OUT dotnet test "$REPO/tests/RdmaDiag.Tests" --filter "FullyQualifiedName~SiwInterop.GuestCaptureOracle" \
            -nologo --logger "console;verbosity=detailed" > "$OUT/decode-oracle.log" 2>&1 \
            && grep -q 'Passed RdmaDiag.Tests.SiwInterop' "$OUT/decode-oracle.log"; then
        report PASS decode-oracle "$(since "$t")s; $(grep -m1 -E '^ *[0-9]+ captures, ' "$OUT/decode-oracle.log" | sed 's/^ *//')"
    else
        report FAIL decode-oracle "rdmadiag decode and tshark differ, or the comparison did not run: $(grep -m1 -E 'frame [0-9]+|error|Skipped' "$OUT/decode-oracle.log" | sed 's/^ *//') (see $OUT/decode-oracle.log)"
    fi
fi
finish
