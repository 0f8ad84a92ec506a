#!/bin/bash
# Boots the siw guest built by build-guest.sh under qemu TCG, runs one scenario inside and brings back
# its stdout, stderr, exit status and files. See tests/vm/README.md for the scenario format.
#
# Exit status: 0 scenario (and its host-side check) passed; 1 scenario or check failed; 2 usage;
# 3 guest kernel crashed; 4 timed out (scenario in the guest, or the whole guest hung); 5 could not run
# (no guest built, qemu failed, setup in the guest failed). OUT/verdict holds the one-line reason.
set -uo pipefail

usage() {
    cat <<'EOF'
usage: run-guest.sh --scenario FILE [--siw default|crc] [--timeout S] [--boot-allowance S]
                    [--out DIR] [--build DIR] [--share HOSTDIR:TAG[:rw] ...] [--cache DIR] [--verbose]
  --scenario FILE   shell file defining guest() (run in the guest) and optionally check() (run on the
                    host in OUT afterwards); header lines "# vm-siw: crc", "# vm-timeout: S" and
                    "# vm-boot-allowance: S" set defaults
  --siw VARIANT     siw.ko to load: default (no MPA CRC) or crc (mpa_crc_required = true)
  --timeout S       the scenario's time limit inside the guest (default 120)
  --boot-allowance S  the guest as a whole gets timeout + S (default 60) before qemu is killed
  --out DIR         results directory (created; must be empty or an earlier run's --out)
  --build DIR       the repository's build output, read-only at /opt/rdmadiag in the guest
  --share H:T[:rw]  extra host directory H at /mnt/T in the guest (read-only unless :rw)
  --cache DIR       build-guest.sh's cache (default /var/cache/rdmadiag-vm)
  --verbose         copy the guest console to stderr as it runs
EOF
}

HERE=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
CACHE=/var/cache/rdmadiag-vm
SCENARIO=""
SIW=""
TIMEOUT=""
ALLOWANCE=""
OUT=""
BUILD=""
VERBOSE=0
SHARES=()
while [ $# -gt 0 ]; do
    case "$1" in
        --scenario|--siw|--timeout|--boot-allowance|--out|--build|--share|--cache)
            [ $# -ge 2 ] || { echo "run-guest: $1 needs a value" >&2; usage >&2; exit 2; } ;;
    esac
    case "$1" in
        --scenario) SCENARIO=$2; shift 2 ;;
        --siw) SIW=$2; shift 2 ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        --boot-allowance) ALLOWANCE=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --build) BUILD=$2; shift 2 ;;
        --share) SHARES+=("$2"); shift 2 ;;
        --cache) CACHE=$2; shift 2 ;;
        --verbose) VERBOSE=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run-guest: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done

usage_error() { echo "run-guest: $*" >&2; exit 2; }
[ -n "$SCENARIO" ] || usage_error "--scenario FILE is required"
[ -f "$SCENARIO" ] || usage_error "scenario '$SCENARIO' is not a file"
SCENARIO=$(readlink -f "$SCENARIO")
header() { sed -n "s/^# vm-$1: *\([^ ]*\).*/\1/p" "$SCENARIO" | head -1; }
[ -n "$SIW" ] || SIW=$(header siw)
[ -n "$SIW" ] || SIW=default
[ -n "$TIMEOUT" ] || TIMEOUT=$(header timeout)
[ -n "$TIMEOUT" ] || TIMEOUT=120
[ -n "$ALLOWANCE" ] || ALLOWANCE=$(header boot-allowance)
[ -n "$ALLOWANCE" ] || ALLOWANCE=60
case "$SIW" in default|crc) ;; *) usage_error "--siw is '$SIW'; expected default or crc" ;; esac
[[ "$TIMEOUT" =~ ^[1-9][0-9]*$ ]] || usage_error "--timeout is '$TIMEOUT'; expected a whole number of seconds"
[[ "$ALLOWANCE" =~ ^[1-9][0-9]*$ ]] || usage_error "--boot-allowance is '$ALLOWANCE'; expected a whole number of seconds"
[ -z "$BUILD" ] || [ -d "$BUILD" ] || usage_error "--build '$BUILD' is not a directory"
for spec in "${SHARES[@]}"; do
    IFS=: read -r host tag mode <<<"$spec"
    [ -d "$host" ] || usage_error "--share '$spec': '$host' is not a directory"
    [[ "$tag" =~ ^[A-Za-z0-9_]+$ ]] || usage_error "--share '$spec': tag '$tag' must be letters, digits or _"
    case "${mode:-ro}" in ro|rw) ;; *) usage_error "--share '$spec': mode '$mode' must be ro or rw" ;; esac
    case "$tag" in vmlib|scenario|results|dotnet|build) usage_error "--share '$spec': tag '$tag' is reserved" ;; esac
done

GUEST=$CACHE/current
T0=$EPOCHREALTIME
elapsed() { awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

if [ -z "$OUT" ]; then
    OUT=$(mktemp -d /tmp/rdmadiag-vm.XXXXXX)
elif [ -e "$OUT" ]; then
    [ -d "$OUT" ] || usage_error "--out '$OUT' exists and is not a directory"
    if [ -n "$(ls -A "$OUT")" ]; then
        [ -f "$OUT/.rdmadiag-vm-out" ] || usage_error "--out '$OUT' is not empty and was not made by run-guest.sh; refusing to clear it"
        find "$OUT" -mindepth 1 -delete
    fi
else
    mkdir -p "$OUT"
fi
OUT=$(readlink -f "$OUT")
touch "$OUT/.rdmadiag-vm-out"

verdict() {
    local code=$1
    shift
    echo "$*" > "$OUT/verdict"
    if [ "$code" = 0 ]; then
        echo "run-guest: PASS $(basename "$SCENARIO" .sh) ($(elapsed)s, out: $OUT)"
    else
        echo "run-guest: FAIL $(basename "$SCENARIO" .sh): $* ($(elapsed)s, out: $OUT)" >&2
    fi
    exit "$code"
}

{ [ -f "$GUEST/vmlinuz" ] && [ -f "$GUEST/initramfs.cpio.zst" ]; } \
    || verdict 5 "no guest in $GUEST: run tests/vm/build-guest.sh${CACHE:+ --cache $CACHE} first"
command -v qemu-system-x86_64 >/dev/null || verdict 5 "qemu-system-x86_64 is not installed (build-guest.sh installs qemu-system-x86)"

STAGE=$(mktemp -d /tmp/rdmadiag-vm-stage.XXXXXX)
QEMU_PID=""
TAIL_PID=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    # timeout(1) passes TERM on to qemu.
    [ -z "$QEMU_PID" ] || kill -TERM "$QEMU_PID" 2>/dev/null
    [ -z "$TAIL_PID" ] || kill "$TAIL_PID" 2>/dev/null
    rm -rf "$STAGE"
}
trap cleanup EXIT
trap 'verdict 5 "interrupted"' INT TERM
cp "$SCENARIO" "$STAGE/scenario.sh"

VIRTFS=()
MOUNTS=""
share() {
    local host=$1 tag=$2 dir=$3 mode=$4 ro=",readonly=on"
    [ "$mode" = rw ] && ro=""
    VIRTFS+=(-virtfs "local,path=$host,mount_tag=$tag,security_model=none$ro")
    MOUNTS="$MOUNTS${MOUNTS:+,}$tag:$dir:$mode"
}
share "$HERE" vmlib /vm ro
share "$STAGE" scenario /scenario ro
share "$OUT" results /results rw

# The .NET runtime: DOTNET_ROOT, else wherever the dotnet on PATH really lives.
DOTNET_DIR=${DOTNET_ROOT:-}
if [ -z "$DOTNET_DIR" ] && command -v dotnet >/dev/null; then
    DOTNET_DIR=$(dirname "$(readlink -f "$(command -v dotnet)")")
fi
if [ -n "$DOTNET_DIR" ] && [ -d "$DOTNET_DIR/shared/Microsoft.NETCore.App" ]; then
    share "$DOTNET_DIR" dotnet /usr/share/dotnet ro
fi
[ -z "$BUILD" ] || share "$(readlink -f "$BUILD")" build /opt/rdmadiag ro
for spec in "${SHARES[@]}"; do
    IFS=: read -r host tag mode <<<"$spec"
    share "$(readlink -f "$host")" "$tag" "/mnt/$tag" "${mode:-ro}"
done

HOST_TIMEOUT=$((TIMEOUT + ALLOWANCE))
APPEND="console=ttyS0 quiet no_timer_check oops=panic panic=-1 hung_task_panic=1 rdmadiag.siw=$SIW rdmadiag.timeout=$TIMEOUT rdmadiag.mounts=$MOUNTS"
: > "$OUT/console.log"
echo "run-guest: booting $(cat "$GUEST/kernel-version" 2>/dev/null) with siw=$SIW for $(basename "$SCENARIO") (limit ${TIMEOUT}s + ${ALLOWANCE}s boot), out: $OUT" >&2
timeout -k 5 "$HOST_TIMEOUT" qemu-system-x86_64 -accel tcg -smp 2 -m 2048 -no-reboot \
    -nodefaults -no-user-config -display none -serial "file:$OUT/console.log" \
    -kernel "$GUEST/vmlinuz" -initrd "$GUEST/initramfs.cpio.zst" -append "$APPEND" \
    "${VIRTFS[@]}" 2> "$STAGE/qemu.stderr" &
QEMU_PID=$!
if [ "$VERBOSE" = 1 ]; then
    tail -n +1 -f "$OUT/console.log" >&2 &
    TAIL_PID=$!
fi
wait "$QEMU_PID"
QEMU_STATUS=$?
QEMU_PID=""
if [ -n "$TAIL_PID" ]; then
    sleep 0.2
    kill "$TAIL_PID" 2>/dev/null
    TAIL_PID=""
fi
cp "$STAGE/qemu.stderr" "$OUT/qemu.stderr"

console_tail() { grep -v '^\s*$' "$OUT/console.log" | tail -n "${1:-5}" | tr -d '\r' | tr '\n' '|' | sed 's/|$//'; }
show_tail() {
    local f
    for f in stderr.txt stdout.txt; do
        if [ -s "$OUT/$f" ]; then
            echo "--- guest $f (last 15 lines) ---" >&2
            tail -n 15 "$OUT/$f" >&2
        fi
    done
}

if [ ! -f "$OUT/exit-status" ]; then
    if grep -q "Kernel panic\|Oops\|BUG:\|general protection fault" "$OUT/console.log"; then
        first=$(grep -m1 "BUG:\|Oops\|general protection fault\|Kernel panic" "$OUT/console.log" | tr -d '\r')
        panic=$(grep -m1 "Kernel panic" "$OUT/console.log" | tr -d '\r')
        show_tail
        [ "$panic" != "$first" ] || panic=""
        verdict 3 "guest kernel crashed: ${first}${panic:+ / $panic} (see $OUT/console.log)"
    fi
    if [ "$QEMU_STATUS" = 124 ] || [ "$QEMU_STATUS" = 137 ]; then
        show_tail
        verdict 4 "guest hung: no result after ${HOST_TIMEOUT}s, qemu killed; console ends: $(console_tail 3)"
    fi
    if [ -f "$OUT/setup-error.txt" ]; then
        verdict 5 "$(cat "$OUT/setup-error.txt")"
    fi
    if [ "$QEMU_STATUS" != 0 ]; then
        verdict 5 "qemu exited with status $QEMU_STATUS: $(tr '\n' ' ' < "$STAGE/qemu.stderr")"
    fi
    verdict 5 "guest stopped without a result; console ends: $(console_tail 5)"
fi

STATUS=$(cat "$OUT/exit-status")
if [ "$STATUS" = 124 ] || [ "$STATUS" = 137 ]; then
    show_tail
    verdict 4 "scenario timed out after ${TIMEOUT}s inside the guest"
fi
if [ "$STATUS" != 0 ]; then
    reason=$(grep -m1 '^FAIL: ' "$OUT/stderr.txt" | sed 's/^FAIL: //')
    show_tail
    verdict 1 "${reason:-scenario exited with status $STATUS}"
fi

if grep -q '^check *()' "$SCENARIO"; then
    # The host-side check reads the captures with tshark; it runs in OUT like the guest part did.
    # shellcheck disable=SC1090,SC1091 # the scenario is an argument
    (set +u; [ -z "$BUILD" ] || export RDMADIAG_BUILD="$(readlink -f "$BUILD")"
     cd "$OUT" && . "$HERE/guest/addresses.sh" && . "$HERE/lib/host.sh" && . "$SCENARIO" && check) \
        > "$OUT/check.txt" 2>&1
    CHECK=$?
    if [ "$CHECK" != 0 ]; then
        reason=$(grep -m1 '^FAIL: ' "$OUT/check.txt" | sed 's/^FAIL: //')
        echo "--- host check ---" >&2
        tail -n 15 "$OUT/check.txt" >&2
        verdict 1 "host check: ${reason:-exited with status $CHECK}"
    fi
fi
verdict 0 "passed"
