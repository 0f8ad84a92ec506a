# The .NET runtime runs in the guest from the host's dotnet directory shared over 9p, and so does the
# repository's build output (run-guest.sh --build DIR, at /opt/rdmadiag): the rdmadiag scenarios
# depend on both.
# vm-siw: default
# vm-timeout: 180
# vm-needs: build

guest() {
    [ -x /usr/share/dotnet/dotnet ] || fail "no .NET runtime shared at /usr/share/dotnet (is dotnet on the host's PATH?)"
    t0=$(now_s)
    with_timeout 60 dotnet --list-runtimes > dotnet-runtimes.txt 2>&1 \
        || fail "dotnet --list-runtimes exited $?: $(tail -n 3 dotnet-runtimes.txt | tr '\n' ' ')"
    record dotnet.list_runtimes_seconds "$(elapsed_since "$t0")"
    grep -q '^Microsoft.NETCore.App ' dotnet-runtimes.txt \
        || fail "dotnet lists no Microsoft.NETCore.App runtime: $(tr '\n' ' ' < dotnet-runtimes.txt)"
    record dotnet.runtime "$(grep '^Microsoft.NETCore.App ' dotnet-runtimes.txt | tail -n 1 | cut -d' ' -f2)"

    [ -f /opt/rdmadiag/rdmadiag.dll ] || fail "no build output at /opt/rdmadiag (run-guest.sh --build DIR with a Release build of src/RdmaDiag)"
    t0=$(now_s)
    with_timeout 120 dotnet /opt/rdmadiag/rdmadiag.dll --version > rdmadiag-version.txt 2>&1 \
        || fail "rdmadiag --version exited $?: $(tail -n 3 rdmadiag-version.txt | tr '\n' ' ')"
    record dotnet.rdmadiag_version_seconds "$(elapsed_since "$t0")"
    record rdmadiag.version "$(head -n 1 rdmadiag-version.txt)"
    [ -s rdmadiag-version.txt ] || fail "rdmadiag --version printed nothing"
    with_timeout 120 dotnet /opt/rdmadiag/rdmadiag.dll --help > rdmadiag-help.txt 2>&1 \
        || fail "rdmadiag --help exited $?: $(tail -n 3 rdmadiag-help.txt | tr '\n' ' ')"
    grep -q 'Usage:' rdmadiag-help.txt || fail "rdmadiag --help printed no usage: $(head -n 3 rdmadiag-help.txt | tr '\n' ' ')"
}
