namespace RdmaDiag.Diagnostics.Devices;

/// <summary>
/// Bare metal, VM (and which hypervisor) or container, from DMI, the cpuinfo hypervisor flag,
/// /sys/hypervisor, /proc/1/cgroup, /.dockerenv, /run/.containerenv and systemd-detect-virt.
/// </summary>
public static class HostContextDetector
{
    // DMI sys_vendor / product_name fragments → hypervisor.
    private static readonly (string Fragment, string Hypervisor)[] DmiVendors =
    [
        ("QEMU", "qemu"),
        ("KVM", "kvm"),
        ("VMware", "vmware"),
        ("VirtualBox", "oracle"),
        ("innotek", "oracle"),
        ("Xen", "xen"),
        ("Amazon EC2", "amazon"),
        ("Google Compute Engine", "google"),
        ("Parallels", "parallels"),
        ("OpenStack", "kvm"),
        ("Bochs", "bochs"),
    ];

    private static readonly (string Fragment, string Container)[] CgroupMarkers =
    [
        ("kubepods", "kubernetes"),
        ("docker", "docker"),
        ("libpod", "podman"),
        ("containerd", "containerd"),
        ("lxc", "lxc"),
    ];

    public static HostContext Detect(IHostSource host)
    {
        var evidence = new List<string>();

        string? container = null;
        if (host.FileExists("/.dockerenv"))
        {
            container = "docker";
            evidence.Add("/.dockerenv exists");
        }
        if (host.FileExists("/run/.containerenv"))
        {
            container ??= "podman";
            evidence.Add("/run/.containerenv exists");
        }
        if (host.ReadText("/proc/1/cgroup") is { } cgroup)
        {
            foreach (var (fragment, name) in CgroupMarkers)
            {
                if (cgroup.Contains(fragment, StringComparison.Ordinal))
                {
                    container ??= name;
                    evidence.Add($"/proc/1/cgroup mentions {fragment}");
                    break;
                }
            }
        }
        if (Tool(host, "--container") is { } detectedContainer)
        {
            container ??= detectedContainer;
            evidence.Add($"systemd-detect-virt --container: {detectedContainer}");
        }

        string? hypervisor = null;
        var inVm = false;
        var vendor = host.ReadText("/sys/class/dmi/id/sys_vendor");
        var product = host.ReadText("/sys/class/dmi/id/product_name");
        if (vendor is not null || product is not null)
        {
            var dmi = $"{vendor} {product}";
            foreach (var (fragment, name) in DmiVendors)
            {
                if (dmi.Contains(fragment, StringComparison.OrdinalIgnoreCase))
                {
                    hypervisor = name;
                    inVm = true;
                    evidence.Add($"DMI: {dmi.Trim()}");
                    break;
                }
            }
            if (!inVm && vendor == "Microsoft Corporation" && product == "Virtual Machine")
            {
                (hypervisor, inVm) = ("microsoft", true);
                evidence.Add($"DMI: {dmi.Trim()}");
            }
        }
        if (host.ReadText("/sys/hypervisor/type") is { Length: > 0 } hvType)
        {
            hypervisor ??= hvType;
            inVm = true;
            evidence.Add($"/sys/hypervisor/type: {hvType}");
        }
        if (CpuHasHypervisorFlag(host))
        {
            inVm = true;
            evidence.Add("/proc/cpuinfo flags include hypervisor");
        }
        if (Tool(host, "--vm") is { } detectedVm)
        {
            hypervisor ??= detectedVm;
            inVm = true;
            evidence.Add($"systemd-detect-virt --vm: {detectedVm}");
        }

        var kind = container is not null ? "container" : inVm ? "vm" : "bare_metal";
        var vm = inVm ? $"a VM (hypervisor: {hypervisor ?? "not identified"})" : null;
        var summary = (container, vm) switch
        {
            (not null, not null) => $"container ({container}) inside {vm}",
            (not null, null) => $"container ({container})",
            (null, not null) => vm,
            _ => "bare metal",
        };
        if (evidence.Count == 0)
        {
            evidence.Add("no DMI hypervisor vendor, no cpuinfo hypervisor flag, no container markers");
        }
        return new HostContext(kind, container is not null, container, inVm, hypervisor, summary, evidence);
    }

    private static bool CpuHasHypervisorFlag(IHostSource host)
    {
        var cpuinfo = host.ReadText("/proc/cpuinfo");
        if (cpuinfo is null)
        {
            return false;
        }
        foreach (var line in cpuinfo.Split('\n'))
        {
            if (line.StartsWith("flags", StringComparison.Ordinal) && line.IndexOf(':') is var colon and >= 0)
            {
                return line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains("hypervisor");
            }
        }
        return false;
    }

    private static string? Tool(IHostSource host, string mode)
    {
        var text = host.RunTool("systemd-detect-virt", mode)?.Trim();
        return string.IsNullOrEmpty(text) || text == "none" ? null : text;
    }
}
