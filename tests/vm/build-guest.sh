#!/bin/bash
# Builds the kernel soft-iWARP (siw) guest from Debian packages only:
#   vmlinuz              Debian's linux-image-6.1.0-*-amd64
#   initramfs.cpio.zst   rdma-core userspace, rping, perftest, tcpdump, nftables, iproute2, the kernel
#                        modules the tests load (depmod'ed) and siw.ko in two variants:
#                        /lib/siw/default/siw.ko and /lib/siw/crc/siw.ko (mpa_crc_required = true)
#   siw/{default,crc}/siw.ko, manifest.txt, key
# Debian ships no siw (CONFIG_RDMA_SIW is not set), so siw.ko is compiled out of tree from linux-source
# against the matching linux-headers. The cache is reused while its key (this script, the package
# versions, the compiler) is unchanged.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: build-guest.sh [--cache DIR] [--no-update] [--force]
  --cache DIR   where the guest is built and kept (default /var/cache/rdmadiag-vm)
  --no-update   do not run apt-get update before resolving package versions
  --force       rebuild even when the cached guest matches its inputs
Prints the guest directory (DIR/current) on stdout; progress goes to stderr.
EOF
}

CACHE=/var/cache/rdmadiag-vm
UPDATE=1
FORCE=0
while [ $# -gt 0 ]; do
    case "$1" in
        --cache) [ $# -ge 2 ] || { usage >&2; exit 2; }; CACHE=$2; shift 2 ;;
        --no-update) UPDATE=0; shift ;;
        --force) FORCE=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "build-guest: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done

SELF=$(readlink -f "${BASH_SOURCE[0]}")
T0=$EPOCHREALTIME
log() { printf '[build-guest %6.1fs] %s\n' "$(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN{print b-a}')" "$*" >&2; }
die() { echo "build-guest: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (apt-get, depmod, mknod); running as uid $(id -u)"

# Host tools: package -> a file it provides, so an installed package is not reinstalled.
HOST_PACKAGES="qemu-system-x86:/usr/bin/qemu-system-x86_64 zstd:/usr/bin/zstd cpio:/usr/bin/cpio
gcc:/usr/bin/gcc make:/usr/bin/make kmod:/usr/bin/kmod xz-utils:/usr/bin/xz
libc-bin:/sbin/ldconfig binutils:/usr/bin/strip tshark:/usr/bin/tshark"

# The guest's root filesystem: the dependency closure of these, resolved against an empty dpkg
# status so nothing installed on the host is assumed present in the guest.
GUEST_PACKAGES="libibverbs1 librdmacm1 ibverbs-providers ibverbs-utils rdmacm-utils perftest
iproute2 tcpdump nftables kmod dash bash coreutils util-linux mount procps grep sed mawk findutils
iputils-ping netcat-openbsd libstdc++6 libgcc-s1 zlib1g libicu72 libssl3 libc-bin"

# Modules the guest loads, plus whole directories whose modules are loaded on demand (nft expressions,
# qdiscs for later loss/delay scenarios). Their dependency closure is added from modules.dep.
MODULES="ib_core ib_uverbs iw_cm ib_cm rdma_cm rdma_ucm configfs libcrc32c crc32c_generic crc32c-intel
veth dummy virtio_pci 9p 9pnet_virtio nf_tables"
MODULE_DIRS="kernel/net/netfilter kernel/net/ipv4/netfilter kernel/net/ipv6/netfilter kernel/net/sched"

install_host_packages() {
    local missing="" entry
    for entry in $HOST_PACKAGES; do
        [ -e "${entry#*:}" ] || missing="$missing ${entry%%:*}"
    done
    if [ -z "$missing" ]; then
        log "host packages present"
        return
    fi
    log "installing host packages:$missing"
    apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9

install_host_packages
if [ "$UPDATE" = 1 ]; then
    log "apt-get update"
    apt-get update -qq || log "apt-get update failed; resolving against the existing package lists"
fi

EMPTY_STATUS=$(mktemp)
WORK=""
cleanup() { rm -f "$EMPTY_STATUS"; [ -z "$WORK" ] || rm -rf "$WORK"; }
trap cleanup EXIT
APT_GUEST=(-o "Dir::State::status=$EMPTY_STATUS" -o APT::Install-Recommends=false -o APT::Install-Suggests=false)

KV=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
KV=${KV#linux-image-}
[ -n "$KV" ] || die "cannot resolve the kernel ABI from linux-image-amd64 (apt-cache depends printed no linux-image-N dependency)"
KVER=$(apt-cache show "linux-headers-$KV" | awk '/^Version:/{print $2; exit}')
COMMON=$(apt-cache show "linux-headers-$KV" | sed -n 's/^Depends:.*\(linux-headers-[^ ,]*-common\).*/\1/p' | head -1)
KBUILD=$(apt-cache show "linux-headers-$KV" | sed -n 's/^Depends:.*\(linux-kbuild-[0-9.]*\).*/\1/p' | head -1)
SRCPKG="linux-source-${KBUILD#linux-kbuild-}"
{ [ -n "$KVER" ] && [ -n "$COMMON" ] && [ -n "$KBUILD" ]; } || die "cannot resolve headers for $KV (version '$KVER', common '$COMMON', kbuild '$KBUILD')"
KERNEL_PKGS="linux-image-$KV linux-headers-$KV $COMMON=$KVER $KBUILD=$KVER $SRCPKG=$KVER"

# shellcheck disable=SC2086
GUEST_LIST=$(apt-get -s "${APT_GUEST[@]}" install $GUEST_PACKAGES 2>/dev/null | awk '/^Inst /{print $2, $3}' | tr -d '(' | sort)
[ -n "$GUEST_LIST" ] || die "apt-get could not resolve the guest packages: $GUEST_PACKAGES"
# shellcheck disable=SC2086
KERNEL_LIST=$(apt-get download --print-uris $KERNEL_PKGS | awk '{print $2}' | sort)
[ "$(echo "$KERNEL_LIST" | wc -l)" = 5 ] || die "expected 5 kernel packages for $KERNEL_PKGS, apt-get resolved: $KERNEL_LIST"

KEY=$( { sha256sum "$SELF" | cut -d' ' -f1; echo "$KERNEL_LIST"; echo "$GUEST_LIST"; gcc --version | head -1; } | sha256sum | cut -d' ' -f1)
if [ "$FORCE" = 0 ] && [ -f "$CACHE/current/key" ] && [ "$(cat "$CACHE/current/key")" = "$KEY" ] \
    && [ -f "$CACHE/current/vmlinuz" ] && [ -f "$CACHE/current/initramfs.cpio.zst" ]; then
    log "cache hit: $CACHE/current (kernel $KV, $(echo "$GUEST_LIST" | wc -l) guest packages)"
    echo "$CACHE/current"
    exit 0
fi
log "building guest: kernel $KV ($KVER), key ${KEY:0:12}"

DEBS=$CACHE/debs
mkdir -p "$DEBS/kernel" "$DEBS/guest/partial"
WORK=$(mktemp -d "$CACHE/build.XXXXXX")

# --- downloads -------------------------------------------------------------------------------------
dl_before=$(du -sb "$DEBS" | cut -f1)
(
    cd "$DEBS/kernel"
    need=""
    for f in $KERNEL_LIST; do [ -f "$f" ] || need="$need $f"; done
    if [ -n "$need" ]; then
        # shellcheck disable=SC2086
        apt-get download -qq -o APT::Sandbox::User=root $KERNEL_PKGS
    fi
)
for f in $KERNEL_LIST; do [ -f "$DEBS/kernel/$f" ] || die "download of $f failed"; done
# shellcheck disable=SC2086
apt-get install -qq -y --download-only -o APT::Sandbox::User=root "${APT_GUEST[@]}" -o "Dir::Cache::archives=$DEBS/guest" \
    -o Debug::NoLocking=1 $GUEST_PACKAGES >/dev/null
GUEST_DEBS=$(echo "$GUEST_LIST" | while read -r name ver; do
    # apt names the file NAME_VERSION_ARCH.deb with ':' in the version written as %3a.
    f=$(find "$DEBS/guest" -maxdepth 1 -name "${name}_${ver//:/%3a}_*.deb" | head -1)
    [ -n "$f" ] || { echo "MISSING:$name=$ver"; continue; }
    echo "$f"
done)
if echo "$GUEST_DEBS" | grep -q '^MISSING:'; then
    die "guest packages not downloaded: $(echo "$GUEST_DEBS" | grep '^MISSING:' | tr '\n' ' ')"
fi
dl_after=$(du -sb "$DEBS" | cut -f1)
mib() { awk '{ s += $1 } END { printf "%d", s / 1048576 }'; }
log "downloads: $(( (dl_after - dl_before) / 1048576 )) MiB new;" \
    "kernel debs $(for f in $KERNEL_LIST; do stat -c %s "$DEBS/kernel/$f"; done | mib) MiB," \
    "guest debs $(for f in $GUEST_DEBS; do stat -c %s "$f"; done | mib) MiB ($(echo "$GUEST_DEBS" | wc -l) packages)"

kdeb() { echo "$DEBS/kernel/$(echo "$KERNEL_LIST" | grep "^$1_")"; }

# --- kernel and headers ----------------------------------------------------------------------------
KROOT=$WORK/kernel
HROOT=$WORK/headers
mkdir -p "$KROOT" "$HROOT"
dpkg-deb -x "$(kdeb "linux-image-$KV")" "$KROOT"
for p in "linux-headers-$KV" "$COMMON" "$KBUILD"; do dpkg-deb -x "$(kdeb "$p")" "$HROOT"; done
HDIR=$HROOT/usr/src/linux-headers-$KV
# The arch headers' Makefile includes the -common tree by absolute path under /usr/src.
grep -q "^include /usr/src/$COMMON/Makefile" "$HDIR/Makefile" || die "unexpected $HDIR/Makefile: $(cat "$HDIR/Makefile")"
echo "include $HROOT/usr/src/$COMMON/Makefile" > "$HDIR/Makefile"
log "kernel and headers extracted"

# --- siw.ko, two variants --------------------------------------------------------------------------
SIWSRC=$WORK/siw-src
mkdir -p "$SIWSRC"
dpkg-deb --fsys-tarfile "$(kdeb "$SRCPKG")" | tar -xO "./usr/src/$SRCPKG.tar.xz" | xz -dc -T0 \
    | tar -x -C "$SIWSRC" --strip-components=5 --wildcards "$SRCPKG/drivers/infiniband/sw/siw/*"
[ -f "$SIWSRC/siw_main.c" ] || die "siw sources not found in $SRCPKG"
for variant in default crc; do
    d=$WORK/siw-$variant
    mkdir -p "$d"
    cp "$SIWSRC"/*.[ch] "$d/"
    cat > "$d/Kbuild" <<'EOF'
obj-m += siw.o
siw-y := siw_cm.o siw_cq.o siw_main.o siw_mem.o siw_qp.o siw_qp_tx.o siw_qp_rx.o siw_verbs.o
EOF
    if [ "$variant" = crc ]; then
        # siw's CRC policy is a compile-time constant, not a module parameter.
        sed -i 's/^const bool mpa_crc_required;$/const bool mpa_crc_required = true;/' "$d/siw_main.c"
        grep -q '^const bool mpa_crc_required = true;$' "$d/siw_main.c" \
            || die "could not set mpa_crc_required in siw_main.c: $(grep -n mpa_crc_required "$d/siw_main.c" | head -3)"
    fi
    make -s -C "$HDIR" M="$d" -j"$(nproc)" modules >"$d/build.log" 2>&1 \
        || die "siw ($variant) did not compile: $(tail -20 "$d/build.log")"
    strip --strip-debug "$d/siw.ko"
done
log "siw.ko compiled (default, crc)"

# --- root filesystem -------------------------------------------------------------------------------
ROOT=$WORK/root
mkdir -p "$ROOT"
for f in $GUEST_DEBS; do dpkg-deb -x "$f" "$ROOT"; done
# Merge /bin, /sbin, /lib* into /usr as a usrmerge'd Debian system has them (no maintainer scripts run).
for d in bin sbin lib lib32 lib64 libx32; do
    if [ -d "$ROOT/$d" ] && [ ! -L "$ROOT/$d" ]; then
        mkdir -p "$ROOT/usr/$d"
        cp -a "$ROOT/$d/." "$ROOT/usr/$d/"
        rm -rf "${ROOT:?}/$d"
    fi
    [ -e "$ROOT/usr/$d" ] && ln -sfn "usr/$d" "$ROOT/$d"
done
# busybox-style shells shadow iproute2's ip; dash is the shell. The links below are what
# update-alternatives would make in the maintainer scripts that never run here.
ln -sfn dash "$ROOT/usr/bin/sh"
ln -sfn mawk "$ROOT/usr/bin/awk"
[ ! -e "$ROOT/usr/bin/which.debianutils" ] || ln -sfn which.debianutils "$ROOT/usr/bin/which"
[ ! -e "$ROOT/usr/bin/nc.openbsd" ] || ln -sfn nc.openbsd "$ROOT/usr/bin/nc"
for f in "$ROOT"/usr/bin/*.procps; do [ ! -e "$f" ] || ln -sfn "$(basename "$f")" "${f%.procps}"; done
rm -rf "$ROOT"/usr/share/{doc,man,info,locale,lintian,bash-completion,bug} "$ROOT"/usr/share/perl* \
    "$ROOT"/usr/lib/x86_64-linux-gnu/perl* "$ROOT"/usr/bin/perl*

KMOD=lib/modules/$KV
depmod -b "$KROOT" "$KV"
{
    for m in $MODULES; do
        awk -v m="$m" -F: '{n=$1; sub(/.*\//, "", n); sub(/\.ko.*$/, "", n); gsub(/-/, "_", n); mm=m; gsub(/-/, "_", mm); if (n == mm) { print $1; print $2 } }' "$KROOT/$KMOD/modules.dep"
    done
    for d in $MODULE_DIRS; do
        grep "^$d/" "$KROOT/$KMOD/modules.dep" | tr ':' '\n'
    done
} | tr ' ' '\n' | grep '\.ko' | sort -u > "$WORK/modules.list"
for m in $MODULES; do
    grep -q "/${m}.ko" "$WORK/modules.list" || die "module $m not found in linux-image-$KV"
done
mkdir -p "$ROOT/$KMOD"
(cd "$KROOT/$KMOD" && xargs -a "$WORK/modules.list" cp --parents -t "$ROOT/$KMOD/" modules.order modules.builtin modules.builtin.modinfo)
mkdir -p "$ROOT/$KMOD/extra" "$ROOT/lib/siw/default" "$ROOT/lib/siw/crc"
cp "$WORK/siw-default/siw.ko" "$ROOT/$KMOD/extra/siw.ko"
for variant in default crc; do cp "$WORK/siw-$variant/siw.ko" "$ROOT/lib/siw/$variant/siw.ko"; done
depmod -b "$ROOT" "$KV"
# Module.symvers' vmlinux entries stand for the kernel proper (the image's System.map is a stub), so
# an unknown symbol here is a module missing from the closure.
unresolved=$(depmod -b "$ROOT" -n -e -E "$HDIR/Module.symvers" "$KV" 2>&1 >/dev/null | grep -i 'unknown symbol' || true)
[ -z "$unresolved" ] || die "modules in the guest have unresolved symbols: $unresolved"
log "modules: $(wc -l < "$WORK/modules.list") from linux-image plus siw.ko, depmod done"

mkdir -p "$ROOT"/{proc,sys,dev,tmp,run,root,mnt,results,scenario,vm,opt/rdmadiag,var/tmp,etc}
chmod 1777 "$ROOT/tmp" "$ROOT/var/tmp"
mknod -m 600 "$ROOT/dev/console" c 5 1
mknod -m 666 "$ROOT/dev/null" c 1 3
printf 'root:x:0:0:root:/root:/bin/sh\ntcpdump:x:0:0:tcpdump:/root:/bin/sh\n' > "$ROOT/etc/passwd"
printf 'root:x:0:\ntcpdump:x:0:\n' > "$ROOT/etc/group"
printf '127.0.0.1 localhost\n' > "$ROOT/etc/hosts"
echo rdmadiag-vm > "$ROOT/etc/hostname"
ldconfig -r "$ROOT"

# The image only boots into the repository's tests/vm/guest/init.sh, shared over 9p, so changing the
# guest's scripts does not need a rebuild.
cat > "$ROOT/init" <<'EOF'
#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
modprobe -a virtio_pci 9pnet_virtio 9p
if mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,ro vmlib /vm && [ -f /vm/guest/init.sh ]; then
    exec /bin/sh /vm/guest/init.sh
fi
echo "rdmadiag-vm: FATAL: the vmlib 9p share with guest/init.sh is missing"
echo o > /proc/sysrq-trigger
EOF
chmod 755 "$ROOT/init"

(cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) \
    | zstd -q -T0 -10 > "$WORK/initramfs.cpio.zst"
log "initramfs: $(du -sm "$ROOT" | cut -f1) MiB unpacked, $(du -m "$WORK/initramfs.cpio.zst" | cut -f1) MiB compressed"

# --- publish ---------------------------------------------------------------------------------------
OUT=$WORK/out
mkdir -p "$OUT/siw/default" "$OUT/siw/crc"
cp "$KROOT/boot/vmlinuz-$KV" "$OUT/vmlinuz"
mv "$WORK/initramfs.cpio.zst" "$OUT/"
for variant in default crc; do cp "$WORK/siw-$variant/siw.ko" "$OUT/siw/$variant/"; done
{
    echo "kernel $KV $KVER"
    echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "key $KEY"
    echo "[kernel packages]"; echo "$KERNEL_LIST"
    echo "[guest packages]"; echo "$GUEST_LIST"
} > "$OUT/manifest.txt"
echo "$KV" > "$OUT/kernel-version"
echo "$KEY" > "$OUT/key"
rm -rf "$CACHE/previous"
[ ! -d "$CACHE/current" ] || mv "$CACHE/current" "$CACHE/previous"
mv "$OUT" "$CACHE/current"
rm -rf "$CACHE/previous"
# Keep only the debs of this build so the cache does not grow with every kernel update.
for f in "$DEBS"/kernel/*.deb; do echo "$KERNEL_LIST" | grep -qxF "$(basename "$f")" || rm -f "$f"; done
for f in "$DEBS"/guest/*.deb; do echo "$GUEST_DEBS" | grep -qxF "$f" || rm -f "$f"; done
log "done: $CACHE/current"
echo "$CACHE/current"
