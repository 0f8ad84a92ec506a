namespace RdmaDiag.Diagnostics.Devices;

/// <summary>
/// Why there is no usable RDMA device, and the exact fix, from what the report read. Problems are
/// ordered: the first one is the cause to fix first.
/// </summary>
public static class DeviceDiagnosis
{
    public static IReadOnlyList<Problem> Diagnose(
        HostContext host, KernelReport kernel, LibrariesReport libraries, IReadOnlyList<RdmaDeviceReport> devices,
        IwpmdReport iwpmd, bool classDirExists, bool uverbsClassExists, bool rdmaCmNodeExists)
    {
        var problems = new List<Problem>();
        var infiniband = kernel.Config.GetValueOrDefault("CONFIG_INFINIBAND");

        if (!classDirExists && infiniband == "not set")
        {
            problems.Add(new Problem(
                "kernel_without_rdma",
                $"this kernel ({kernel.Release ?? "release unknown"}) is built without RDMA support: CONFIG_INFINIBAND is not set, so no RDMA device (hardware, siw or rxe) can exist",
                [$"{kernel.ConfigSource}: # CONFIG_INFINIBAND is not set", "/sys/class/infiniband does not exist", .. ListErrorEvidence(libraries)],
                [
                    "boot a kernel built with CONFIG_INFINIBAND=m, CONFIG_INFINIBAND_USER_ACCESS=m and CONFIG_RDMA_SIW=m (Debian's stock kernels have RDMA and rxe but not siw; tests/vm builds siw.ko out of tree)",
                    .. host.InContainer ? ["in a container the host's kernel decides: check it on the host, not here"] : Array.Empty<string>(),
                    "meanwhile, test iWARP peers with RdmaDiag's userspace endpoint, which needs no kernel RDMA: rdmadiag check HOST --soft",
                ]));
        }
        else if (!classDirExists && !kernel.LoadedModules.Contains("ib_core"))
        {
            var evidence = new List<string> { "/sys/class/infiniband does not exist", "ib_core is not loaded (/sys/module/ib_core missing)" };
            if (kernel.ConfigSource is null)
            {
                evidence.Add("no kernel config readable (/boot/config-RELEASE, /proc/config.gz)");
            }
            problems.Add(new Problem(
                "rdma_core_not_loaded",
                "the kernel's RDMA core is not loaded",
                [.. evidence, .. ListErrorEvidence(libraries)],
                [
                    "modprobe ib_core ib_uverbs rdma_ucm iw_cm",
                    "if modprobe finds no such module, the kernel lacks RDMA support: boot one with CONFIG_INFINIBAND=m",
                ]));
        }

        if (!libraries.Libibverbs.Available || !libraries.Librdmacm.Available)
        {
            var missing = new[] { libraries.Libibverbs, libraries.Librdmacm }.Where(l => !l.Available).ToList();
            problems.Add(new Problem(
                "rdma_core_libraries_missing",
                $"rdma-core userspace is missing: {string.Join(", ", missing.Select(l => l.Soname))}",
                missing.Select(l => l.Reason ?? l.Soname).ToList(),
                [$"apt-get install {string.Join(' ', missing.Select(l => l.DebianPackage))} ibverbs-providers rdma-core"]));
        }
        else if (libraries.Providers.Count == 0)
        {
            problems.Add(new Problem(
                "rdma_core_providers_missing",
                "libibverbs has no provider drivers, so it will list no device even where the kernel has one",
                ["/etc/libibverbs.d has no *.driver files"],
                ["apt-get install ibverbs-providers"]));
        }

        if (classDirExists && devices.Count > 0)
        {
            if (!uverbsClassExists)
            {
                problems.Add(new Problem(
                    "uverbs_not_loaded",
                    "RDMA devices exist but userspace cannot reach them: ib_uverbs is not loaded",
                    ["/sys/class/infiniband_verbs does not exist", .. ListErrorEvidence(libraries)],
                    ["modprobe ib_uverbs"]));
            }
            if (!rdmaCmNodeExists)
            {
                problems.Add(new Problem(
                    "rdma_ucm_not_loaded",
                    "the RDMA connection manager is not reachable from userspace (/dev/infiniband/rdma_cm missing)",
                    ["/dev/infiniband/rdma_cm does not exist"],
                    host.InContainer
                        ? ["modprobe rdma_ucm on the host, and pass /dev/infiniband into the container (--device /dev/infiniband/rdma_cm --device /dev/infiniband/uverbs0 --cap-add IPC_LOCK)"]
                        : ["modprobe rdma_ucm"]));
            }
        }

        if (classDirExists && devices.Count == 0)
        {
            problems.Add(NoDevice(host, kernel));
        }

        if (iwpmd.Needed && !iwpmd.Running)
        {
            problems.Add(new Problem(
                "iwpmd_not_running",
                "a hardware iWARP device is present but the iWARP port mapper (iwpmd) is not running; rdma_cm connects on it may fail or use unmapped ports",
                ["no process named iwpmd in /proc"],
                ["apt-get install rdma-core && systemctl enable --now iwpmd"]));
        }
        return problems;
    }

    private static Problem NoDevice(HostContext host, KernelReport kernel)
    {
        var evidence = new List<string> { "/sys/class/infiniband exists but is empty" };
        evidence.Add($"loaded RDMA modules: {(kernel.LoadedModules.Count == 0 ? "none" : string.Join(", ", kernel.LoadedModules))}");
        var netdev = kernel.DefaultRouteInterface;
        if (netdev is not null)
        {
            evidence.Add($"default route via {netdev} (/proc/net/route)");
        }
        var ifName = netdev ?? "IF";
        var fixes = new List<string>();
        if (kernel.SiwAvailable)
        {
            if (!kernel.LoadedModules.Contains("siw"))
            {
                fixes.Add("modprobe siw");
            }
            fixes.Add($"rdma link add siw0 type siw netdev {ifName}");
            if (netdev is null)
            {
                fixes.Add("no default route was found: use the interface that carries traffic to the peer as IF");
            }
            if (kernel.RxeAvailable)
            {
                fixes.Add($"(RoCEv2 instead of iWARP: rdma link add rxe0 type rxe netdev {ifName})");
            }
            if (host.InContainer)
            {
                fixes.Add("in a container, run these on the host and pass /dev/infiniband in (--device ... --cap-add IPC_LOCK)");
            }
            return new Problem("siw_not_linked",
                "the RDMA core is loaded and the soft-iWARP driver siw is available, but no device is linked to a netdev",
                [.. evidence, kernel.LoadedModules.Contains("siw") ? "siw is loaded (/sys/module/siw)" : "siw.ko is available for this kernel"],
                fixes);
        }
        fixes.Add("load the RNIC's RDMA driver if one is installed: modprobe iw_cxgb4 (Chelsio), modprobe irdma (Intel E810/X722)");
        if (kernel.RxeAvailable)
        {
            fixes.Add($"no siw for this kernel; for a RoCEv2 soft device: rdma link add rxe0 type rxe netdev {ifName}");
        }
        fixes.Add("for soft iWARP, build siw.ko for this kernel (CONFIG_RDMA_SIW=m), then rdma link add siw0 type siw netdev " + ifName);
        if (host.InVm)
        {
            fixes.Add("in a VM an RNIC is only visible when passed through (PCI passthrough or an SR-IOV VF)");
        }
        if (host.InContainer)
        {
            fixes.Add("in a container the devices are the host's: create them there and pass /dev/infiniband in");
        }
        return new Problem("no_device", "the RDMA core is loaded but there is no RDMA device, and no soft-iWARP driver (siw) for this kernel", evidence, fixes);
    }

    private static IEnumerable<string> ListErrorEvidence(LibrariesReport libraries) =>
        libraries.DeviceListError is { } e ? [e] : [];
}
