using System.Globalization;

namespace RdmaDiag.Diagnostics.Devices;

/// <summary>
/// Reads /sys/class/infiniband/&lt;dev&gt;: node type and GUIDs, firmware, ports with GIDs, the bound
/// netdevs (rdma link, gid_attrs/ndevs, the parent's net/), SR-IOV role of the parent PCI function and
/// the driver's interop settings.
/// </summary>
public static class SysfsDeviceScanner
{
    public const string ClassDir = "/sys/class/infiniband";

    // Parent PCI/auxiliary driver → the rdma-core provider name users know the device by.
    private static readonly Dictionary<string, string> ParentDrivers = new(StringComparer.Ordinal)
    {
        ["cxgb4"] = "cxgb4",
        ["irdma"] = "irdma",
        ["ice"] = "irdma",
        ["i40e"] = "irdma",
        ["i40iw"] = "i40iw",
        ["mlx5_core"] = "mlx5",
        ["mlx4_core"] = "mlx4",
        ["bnxt_en"] = "bnxt_re",
        ["qede"] = "qedr",
        ["qedr"] = "qedr",
        ["efa"] = "efa",
        ["hns3"] = "hns",
        ["erdma"] = "erdma",
        ["vmw_pvrdma"] = "vmw_pvrdma",
    };

    // Kernel device-name prefixes the drivers use before udev renaming.
    private static readonly (string Prefix, string Driver)[] NamePrefixes =
    [
        ("siw", "siw"), ("rxe", "rxe"), ("cxgb4", "cxgb4"), ("irdma", "irdma"), ("i40iw", "i40iw"),
        ("mlx5", "mlx5"), ("mlx4", "mlx4"), ("bnxt_re", "bnxt_re"), ("qedr", "qedr"), ("efa", "efa"),
        ("hns", "hns"), ("erdma", "erdma"),
    ];

    private static readonly HashSet<string> IwarpDrivers = ["cxgb4", "irdma", "i40iw", "siw", "qedr", "erdma"];

    public static IReadOnlyList<RdmaDeviceReport> Scan(IHostSource host, IReadOnlyDictionary<string, string> rdmaLinkNetdevs)
    {
        var devices = new List<RdmaDeviceReport>();
        foreach (var name in host.List(ClassDir))
        {
            devices.Add(ScanDevice(host, name, rdmaLinkNetdevs));
        }
        return devices;
    }

    private static RdmaDeviceReport ScanDevice(IHostSource host, string name, IReadOnlyDictionary<string, string> rdmaLinkNetdevs)
    {
        var dir = $"{ClassDir}/{name}";
        var nodeTypeText = host.ReadText($"{dir}/node_type");
        var nodeType = ParseLeadingInt(nodeTypeText);
        var parentDriver = LinkName(host, $"{dir}/device/driver");
        var ports = ScanPorts(host, dir);
        var driver = Driver(name, host.ReadText($"{dir}/node_desc"), parentDriver);
        var transport = Transport(nodeType, driver, ports);

        var netdevNames = new SortedSet<string>(StringComparer.Ordinal);
        if (rdmaLinkNetdevs.TryGetValue(name, out var linked))
        {
            netdevNames.Add(linked);
        }
        foreach (var gid in ports.SelectMany(p => p.Gids))
        {
            if (gid.Netdev is { Length: > 0 } n)
            {
                netdevNames.Add(n);
            }
        }
        if (netdevNames.Count == 0)
        {
            foreach (var n in host.List($"{dir}/device/net"))
            {
                netdevNames.Add(n);
            }
        }

        var pciAddress = LinkName(host, $"{dir}/device");
        return new RdmaDeviceReport(
            name,
            driver,
            transport,
            NodeTypeName(nodeType, nodeTypeText),
            host.ReadText($"{dir}/node_guid"),
            host.ReadText($"{dir}/sys_image_guid"),
            host.ReadText($"{dir}/fw_ver"),
            host.ReadText($"{dir}/hw_rev"),
            host.ReadText($"{dir}/board_id") ?? host.ReadText($"{dir}/hca_type"),
            pciAddress,
            ports,
            netdevNames.Select(n => Netdev(host, n)).ToList(),
            Sriov(host, $"{dir}/device"),
            DriverSettings.Read(host, driver, name),
            Verbs: null);
    }

    private static IReadOnlyList<PortReport> ScanPorts(IHostSource host, string dir)
    {
        var ports = new List<PortReport>();
        foreach (var portName in host.List($"{dir}/ports").Where(p => int.TryParse(p, out _)).OrderBy(int.Parse))
        {
            var p = $"{dir}/ports/{portName}";
            var gids = new List<GidReport>();
            foreach (var indexName in host.List($"{p}/gids").Where(g => int.TryParse(g, out _)).OrderBy(int.Parse))
            {
                var gid = host.ReadText($"{p}/gids/{indexName}");
                if (gid is null || IsZeroGid(gid))
                {
                    continue;
                }
                gids.Add(new GidReport(int.Parse(indexName, CultureInfo.InvariantCulture), gid,
                    host.ReadText($"{p}/gid_attrs/types/{indexName}"),
                    host.ReadText($"{p}/gid_attrs/ndevs/{indexName}")));
            }
            ports.Add(new PortReport(
                int.Parse(portName, CultureInfo.InvariantCulture),
                StripCode(host.ReadText($"{p}/state")),
                StripCode(host.ReadText($"{p}/phys_state")),
                host.ReadText($"{p}/link_layer"),
                host.ReadText($"{p}/rate"),
                ActiveMtu: null,
                MaxMtu: null,
                gids));
        }
        return ports;
    }

    /// <summary>The driver name: siw/rxe by their node_desc, then the parent device's driver, then the name prefix.</summary>
    internal static string Driver(string name, string? nodeDesc, string? parentDriver)
    {
        if (nodeDesc is not null && nodeDesc.StartsWith("Software iWARP", StringComparison.Ordinal))
        {
            return "siw";
        }
        if (nodeDesc == "rxe")
        {
            return "rxe";
        }
        // siw and rxe sit under their netdev's parent device, so a NIC driver there does not make
        // the device that NIC's RDMA function: the name decides first for the soft drivers.
        foreach (var (prefix, driver) in NamePrefixes)
        {
            if (name.StartsWith(prefix, StringComparison.Ordinal) && driver is "siw" or "rxe")
            {
                return driver;
            }
        }
        if (parentDriver is not null && ParentDrivers.TryGetValue(parentDriver, out var mapped))
        {
            return mapped;
        }
        foreach (var (prefix, driver) in NamePrefixes)
        {
            if (name.StartsWith(prefix, StringComparison.Ordinal))
            {
                return driver;
            }
        }
        return parentDriver ?? "unknown";
    }

    internal static string Transport(int? nodeType, string driver, IReadOnlyList<PortReport> ports)
    {
        if (nodeType == 4 || IwarpDrivers.Contains(driver) && nodeType is null)
        {
            return "iWARP";
        }
        var linkLayer = ports.Select(p => p.LinkLayer).FirstOrDefault(l => l is not null);
        return linkLayer switch
        {
            "Ethernet" => "RoCE",
            "InfiniBand" => "InfiniBand",
            _ => nodeType == 1 ? "InfiniBand" : "unknown",
        };
    }

    public static bool IsIwarpHardware(RdmaDeviceReport device) => device.Transport == "iWARP" && device.Driver != "siw";

    private static NetdevReport Netdev(IHostSource host, string name)
    {
        var dir = $"/sys/class/net/{name}";
        return new NetdevReport(
            name,
            host.ReadText($"{dir}/address"),
            int.TryParse(host.ReadText($"{dir}/mtu"), out var mtu) ? mtu : null,
            host.ReadText($"{dir}/operstate"),
            host.InterfaceAddresses(name));
    }

    private static SriovReport? Sriov(IHostSource host, string deviceDir)
    {
        if (LinkName(host, $"{deviceDir}/physfn") is { } pf)
        {
            return new SriovReport("vf", null, null, pf);
        }
        if (host.ReadText($"{deviceDir}/sriov_totalvfs") is { } total && int.TryParse(total, out var totalVfs))
        {
            var num = int.TryParse(host.ReadText($"{deviceDir}/sriov_numvfs"), out var n) ? n : (int?)null;
            return new SriovReport("pf", num, totalVfs, null);
        }
        return null;
    }

    /// <summary>Reads `rdma link show` lines ("link siw0/1 state ACTIVE physical_state LINK_UP netdev eth0").</summary>
    public static IReadOnlyDictionary<string, string> ParseRdmaLink(string? output)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (output is null)
        {
            return result;
        }
        foreach (var line in output.Split('\n'))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 2 || f[0] != "link")
            {
                continue;
            }
            var device = f[1].Split('/')[0];
            var netdev = Array.IndexOf(f, "netdev");
            if (netdev > 0 && netdev + 1 < f.Length)
            {
                result.TryAdd(device, f[netdev + 1]);
            }
        }
        return result;
    }

    private static string? LinkName(IHostSource host, string path) =>
        host.ReadLink(path) is { } target ? Path.GetFileName(target.TrimEnd('/')) : null;

    private static bool IsZeroGid(string gid) => gid.All(c => c is '0' or ':');

    private static int? ParseLeadingInt(string? text)
    {
        if (text is null)
        {
            return null;
        }
        var colon = text.IndexOf(':');
        return int.TryParse(colon < 0 ? text : text[..colon], NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null;
    }

    /// <summary>"4: ACTIVE" → "ACTIVE"; sysfs prefixes state names with their numeric code.</summary>
    private static string? StripCode(string? text)
    {
        if (text is null)
        {
            return null;
        }
        var colon = text.IndexOf(':');
        return colon < 0 ? text : text[(colon + 1)..].Trim();
    }

    private static string NodeTypeName(int? code, string? text) => code switch
    {
        1 => "CA",
        2 => "switch",
        3 => "router",
        4 => "RNIC",
        5 => "usNIC",
        6 => "usNIC UDP",
        _ => text ?? "unknown",
    };
}
