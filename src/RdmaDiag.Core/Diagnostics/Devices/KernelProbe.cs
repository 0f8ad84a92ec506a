using System.Globalization;
using System.IO.Compression;

namespace RdmaDiag.Diagnostics.Devices;

/// <summary>
/// The kernel's RDMA side: release, the RDMA options of its build config (/boot/config-REL or
/// /proc/config.gz), which RDMA modules are loaded (/sys/module), whether siw and rxe could be
/// loaded (built in, or a .ko listed in /lib/modules/REL/modules.dep), and the default-route netdev.
/// </summary>
public static class KernelProbe
{
    public static readonly string[] ConfigKeys =
    [
        "CONFIG_INFINIBAND", "CONFIG_INFINIBAND_USER_ACCESS", "CONFIG_INFINIBAND_ADDR_TRANS",
        "CONFIG_RDMA_SIW", "CONFIG_RDMA_RXE", "CONFIG_INFINIBAND_CXGB4", "CONFIG_INFINIBAND_IRDMA",
        "CONFIG_MLX5_INFINIBAND",
    ];

    public static readonly string[] RdmaModules =
    [
        "ib_core", "ib_uverbs", "iw_cm", "ib_cm", "rdma_cm", "rdma_ucm", "siw", "rdma_rxe", "iw_cxgb4", "irdma",
        "mlx5_ib", "bnxt_re", "qedr",
    ];

    public static KernelReport Probe(IHostSource host)
    {
        var release = host.ReadText("/proc/sys/kernel/osrelease");
        var (source, config) = ReadConfig(host, release);
        var loaded = RdmaModules.Where(m => host.DirectoryExists($"/sys/module/{m}")).ToList();
        var onDisk = ModulesOnDisk(host, release);
        bool Available(string module, string key) =>
            loaded.Contains(module) || onDisk.Contains(module) || config.GetValueOrDefault(key) == "y";
        return new KernelReport(
            release,
            source,
            config,
            loaded,
            Available("siw", "CONFIG_RDMA_SIW"),
            Available("rdma_rxe", "CONFIG_RDMA_RXE"),
            DefaultRouteInterface(host.ReadText("/proc/net/route")));
    }

    /// <summary>RDMA option values ("y", "m", or "not set"); empty with a null source when no config is readable.</summary>
    private static (string? Source, IReadOnlyDictionary<string, string> Values) ReadConfig(IHostSource host, string? release)
    {
        string? text = null;
        string? source = null;
        if (release is not null && host.ReadText($"/boot/config-{release}") is { } boot)
        {
            (text, source) = (boot, $"/boot/config-{release}");
        }
        else if (host.ReadBytes("/proc/config.gz") is { } gz)
        {
            try
            {
                using var input = new GZipStream(new MemoryStream(gz), CompressionMode.Decompress);
                using var reader = new StreamReader(input);
                (text, source) = (reader.ReadToEnd(), "/proc/config.gz");
            }
            catch (InvalidDataException)
            {
                text = null;
            }
        }
        var values = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (text is null)
        {
            return (null, values);
        }
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            foreach (var key in ConfigKeys)
            {
                if (line == $"# {key} is not set")
                {
                    values[key] = "not set";
                }
                else if (line.StartsWith(key + "=", StringComparison.Ordinal))
                {
                    values[key] = line[(key.Length + 1)..];
                }
            }
        }
        foreach (var key in ConfigKeys.Where(k => !values.ContainsKey(k)))
        {
            // Options whose dependencies are off are absent from the file altogether: also not set.
            values[key] = "not set";
        }
        return (source, values);
    }

    private static HashSet<string> ModulesOnDisk(IHostSource host, string? release)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        if (release is null)
        {
            return names;
        }
        foreach (var file in new[] { "modules.dep", "modules.builtin" })
        {
            var text = host.ReadText($"/lib/modules/{release}/{file}");
            if (text is null)
            {
                continue;
            }
            foreach (var line in text.Split('\n'))
            {
                var path = line.Split(':', 2)[0].Trim();
                var name = Path.GetFileName(path);
                var ko = name.IndexOf(".ko", StringComparison.Ordinal);
                if (ko > 0)
                {
                    names.Add(name[..ko].Replace('-', '_'));
                }
            }
        }
        return names;
    }

    /// <summary>The Iface of the lowest-metric 0.0.0.0/0 route in /proc/net/route, or null.</summary>
    public static string? DefaultRouteInterface(string? procNetRoute)
    {
        if (procNetRoute is null)
        {
            return null;
        }
        string? best = null;
        var bestMetric = int.MaxValue;
        foreach (var line in procNetRoute.Split('\n').Skip(1))
        {
            var f = line.Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries);
            // Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT
            if (f.Length < 8 || f[1] != "00000000" || f[7] != "00000000")
            {
                continue;
            }
            if (!int.TryParse(f[3], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var flags) || (flags & 0x1) == 0)
            {
                continue; // RTF_UP not set
            }
            if (int.TryParse(f[6], NumberStyles.Integer, CultureInfo.InvariantCulture, out var metric) && metric < bestMetric)
            {
                (best, bestMetric) = (f[0], metric);
            }
        }
        return best;
    }
}
