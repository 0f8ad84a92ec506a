#!/bin/sh
# PID 1 of the siw guest, exec'd by the initramfs's /init from the read-only vmlib share (tests/vm).
# Kernel command line (written by run-guest.sh):
#   rdmadiag.siw=default|crc           which siw.ko to load
#   rdmadiag.timeout=SECONDS           the scenario's time limit inside the guest
#   rdmadiag.mounts=TAG:DIR:ro|rw,...  9p shares to mount; "results" and "scenario" are always there
# Results land in /results (the host's --out): stdout.txt, stderr.txt, exit-status, guest-info.txt,
# dmesg.txt and whatever the scenario writes. Then the guest powers off; qemu runs with -no-reboot,
# so a panic (oops=panic panic=-1) ends it too.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LC_ALL=C
umask 022

say() { echo "rdmadiag-vm: $*" > /dev/console; }

power_off() {
    sync
    say "power off"
    echo o > /proc/sysrq-trigger
    sleep 5
    echo b > /proc/sysrq-trigger
}

fatal() {
    say "FATAL: $*"
    [ ! -d /results ] || echo "guest setup failed: $*" > /results/setup-error.txt
    power_off
    exit 1
}

param() {
    # shellcheck disable=SC2013 # the command line is words
    for word in $(cat /proc/cmdline); do
        case "$word" in rdmadiag."$1"=*) echo "${word#*=}"; return 0 ;; esac
    done
    return 0
}

SIW=$(param siw)
TIMEOUT=$(param timeout)
MOUNTS=$(param mounts)
[ -n "$SIW" ] || SIW=default
[ -n "$TIMEOUT" ] || TIMEOUT=120

mount -t tmpfs -o mode=1777 tmpfs /dev/shm 2>/dev/null || { mkdir -p /dev/shm && mount -t tmpfs -o mode=1777 tmpfs /dev/shm; }
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts

old_ifs=$IFS
IFS=,
for spec in $MOUNTS; do
    IFS=$old_ifs
    tag=${spec%%:*}
    rest=${spec#*:}
    dir=${rest%:*}
    mode=${rest##*:}
    case "$mode" in ro|rw) ;; *) fatal "bad mount spec '$spec' (want TAG:DIR:ro|rw)" ;; esac
    # /init has mounted vmlib already to find this script.
    ! mountpoint -q "$dir" || continue
    mkdir -p "$dir"
    # Read-only trees (the .NET runtime, the build output) are cached in the guest: loading the
    # runtime through uncached 9p costs seconds under TCG.
    opts=trans=virtio,version=9p2000.L,msize=524288,$mode
    [ "$mode" = rw ] || opts=$opts,cache=loose
    mount -t 9p -o "$opts" "$tag" "$dir" || fatal "cannot mount 9p share '$tag' at $dir"
done
IFS=$old_ifs
{ [ -d /results ] && [ -f /scenario/scenario.sh ]; } || fatal "the results and scenario shares are missing"

if [ -x /usr/share/dotnet/dotnet ]; then
    ln -sf /usr/share/dotnet/dotnet /usr/bin/dotnet
    export DOTNET_ROOT=/usr/share/dotnet DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 \
        DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1 DOTNET_GENERATE_ASPNET_CERTIFICATE=false
fi

ip link set lo up
# A task stuck in D state for 60 s (a wedged siw connection) panics, which ends qemu at once.
echo 60 > /proc/sys/kernel/hung_task_timeout_secs
echo 1 > /proc/sys/kernel/hung_task_panic

KV=$(uname -r)
[ -f "/lib/siw/$SIW/siw.ko" ] || fatal "unknown siw variant '$SIW' (have: $(cd /lib/siw && echo *))"
# modules.dep names extra/siw.ko; the chosen variant takes its place so modprobe resolves ib_core etc.
cp "/lib/siw/$SIW/siw.ko" "/lib/modules/$KV/extra/siw.ko"
modprobe -a ib_core ib_uverbs iw_cm rdma_cm rdma_ucm configfs crc32c_generic || fatal "cannot load the RDMA core modules"
modprobe siw || fatal "cannot load siw.ko ($SIW)"
# Without numdummies=0, loading dummy.ko makes dummy0 itself and "ip link add dummy0" then fails.
modprobe dummy numdummies=0
modprobe veth

{
    echo "kernel=$KV"
    echo "siw_variant=$SIW"
    echo "siw_sha256=$(sha256sum "/lib/siw/$SIW/siw.ko" | cut -d' ' -f1)"
    echo "cpus=$(nproc)"
    echo "memory_kib=$(awk '/MemTotal/{print $2}' /proc/meminfo)"
    echo "uptime_at_scenario_start=$(cut -d' ' -f1 /proc/uptime)"
    echo "cmdline=$(cat /proc/cmdline)"
} > /results/guest-info.txt

say "scenario start (siw=$SIW, timeout=${TIMEOUT}s)"
cd /results || fatal "cannot enter /results"
# timeout puts the scenario in its own process group, so background tcpdump/rping die with it.
timeout -k 5 "$TIMEOUT" /bin/sh -c '. /vm/guest/lib.sh && . /scenario/scenario.sh && guest' \
    > /results/stdout.txt 2> /results/stderr.txt
status=$?
echo "$status" > /results/exit-status
echo "uptime_at_scenario_end=$(cut -d' ' -f1 /proc/uptime)" >> /results/guest-info.txt
dmesg > /results/dmesg.txt
say "scenario exit $status"
cd /
power_off
