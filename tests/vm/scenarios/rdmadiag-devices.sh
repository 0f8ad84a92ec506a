# Interop 4: `rdmadiag devices` in the guest. With siw.ko loaded but no `rdma link add` it must explain that
# siw is present but not linked (siw_not_linked); after siw_on_dummy it must list siw0: driver siw, iWARP,
# on netdev dummy0, with no hardware settings (no RoCE/iWARP firmware knobs, no SR-IOV).
# vm-siw: default
# vm-timeout: 120
# vm-needs: build

guest() {
    need_rdmadiag
    lsmod | grep -q '^siw ' || fail "siw.ko is not loaded: $(lsmod | head -5 | tr '\n' ' ')"
    with_timeout 60 rdmadiag devices > devices-before.txt 2>&1
    record rdmadiag_devices.before_exit $?
    with_timeout 60 rdmadiag devices --json > devices-before.json 2>&1
    grep -q 'siw_not_linked' devices-before.txt || fail "before rdma link add, devices does not say siw_not_linked: $(tr '\n' ' ' < devices-before.txt | head -c 600)"
    record rdmadiag_devices.before "$(grep -m1 'siw_not_linked' devices-before.txt)"

    siw_on_dummy
    with_timeout 60 rdmadiag devices > devices-after.txt 2>&1
    record rdmadiag_devices.after_exit $?
    with_timeout 60 rdmadiag devices --json > devices-after.json 2>&1
    ! grep -q 'siw_not_linked' devices-after.txt || fail "after rdma link add, devices still says siw_not_linked"
    grep -q 'siw0' devices-after.txt || fail "devices does not list siw0: $(tr '\n' ' ' < devices-after.txt | head -c 600)"
    record rdmadiag_devices.after "$(grep -m1 'siw0' devices-after.txt)"
}

check() {
    jq -e '.devices | length == 1' devices-after.json > /dev/null || fail "devices --json lists $(jq -c '[.devices[]?.name]' devices-after.json), expected siw0 only"
    dev=$(jq -c '.devices[0]' devices-after.json)
    echo "siw0: $dev" | head -c 2000; echo
    [ "$(jq -r '.devices[0].name' devices-after.json)" = siw0 ] || fail "device name: $(jq -r '.devices[0].name' devices-after.json)"
    [ "$(jq -r '.devices[0].driver' devices-after.json)" = siw ] || fail "siw0's driver: $(jq -r '.devices[0].driver' devices-after.json)"
    jq -r '.devices[0] | tostring' devices-after.json | grep -qi 'iwarp' || fail "siw0 is not shown as iWARP: $dev"
    jq -r '.devices[0] | tostring' devices-after.json | grep -q 'dummy0' || fail "siw0's netdev dummy0 is not shown: $dev"
    [ "$(jq -r '.devices[0].transport' devices-after.json)" = iwarp ] || [ "$(jq -r '.devices[0].transport' devices-after.json)" = iWARP ] \
        || fail "siw0's transport: $(jq -r '.devices[0].transport' devices-after.json)"
    [ "$(jq -r '.devices[0].netdevs[0].name' devices-after.json)" = dummy0 ] || fail "siw0's netdev: $(jq -c '.devices[0].netdevs' devices-after.json)"
    # A software device: no PCI function, no SR-IOV, no driver knobs (cxgb4/irdma module settings).
    jq -e '.devices[0] | .pci_address == null and .sriov == null and ((.driver_settings.values // {}) | length == 0)' devices-after.json > /dev/null \
        || fail "siw0 shows hardware settings: $(jq -c '.devices[0] | {pci_address, sriov, driver_settings}' devices-after.json)"
    jq -e '(.problems // []) | map(tostring) | any(contains("siw_not_linked")) | not' devices-after.json > /dev/null || fail "siw_not_linked after the link was added"
    jq -e '(.problems // []) | map(tostring) | any(contains("siw_not_linked"))' devices-before.json > /dev/null \
        || fail "devices --json before the link: no siw_not_linked problem: $(jq -c .problems devices-before.json)"
}
