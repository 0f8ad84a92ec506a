using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using RdmaDiag.Diagnostics.Devices;

namespace RdmaDiag.Diagnostics.Bundle;

/// <summary>
/// The host's side of the story, under <c>environment/</c>: RDMA devices, kernel and OS, addresses, routes,
/// neighbours, the port's sockets, TCP sysctls, firewall rules, RDMA modules and their parameters, the
/// iwpm daemon and the route's NIC. Every file is written even when its source is missing (it then says
/// why), and environment/commands.txt lists each command with its exit status, time and stderr.
/// </summary>
public sealed partial class EnvironmentCollector(BundleArchive archive, IPAddress target, int port, TimeSpan timeout, string toolVersion)
{
    public const string Folder = "environment/";

    /// <summary>The modules whose parameters decide iWARP interop (MPA revision, CRC, markers, iwpm).</summary>
    public static IReadOnlyList<string> RdmaModules { get; } = ["iw_cxgb4", "irdma", "siw", "rdma_rxe", "ib_core", "iw_cm", "rdma_cm"];

    private readonly StringBuilder _log = new();
    private readonly List<string> _missing = [];

    /// <summary>What could not be collected, one line each with the reason.</summary>
    public IReadOnlyList<string> Missing => _missing;

    /// <summary>The interface of the route to the target (from `ip route get`), null when unknown.</summary>
    public string? RouteInterface { get; private set; }

    public void CollectAll(CancellationToken cancel)
    {
        Steps(cancel).ToList();
        archive.AddText(Folder + "commands.txt", _log.ToString(), "rdmadiag bundle: each environment command, its exit status, time and stderr");
    }

    // One step per file so a Ctrl-C is noticed between commands.
    private IEnumerable<bool> Steps(CancellationToken cancel)
    {
        var devices = DeviceReportBuilder.Build(HostSource.Live, RdmaUserspace.Instance);
        archive.AddText(Folder + "devices.json", DevicesOutput.ToJson(devices) + "\n", "rdmadiag devices --json");
        archive.AddText(Folder + "devices.txt", DevicesOutput.ToText(devices), "rdmadiag devices");
        archive.AddText(Folder + "rdmadiag-version.txt", $"rdmadiag {toolVersion}\n", "rdmadiag --version");
        yield return Next(cancel);
        Command("uname.txt", "uname", ["-a"]);
        yield return Next(cancel);
        ReadFile("os-release.txt", "/etc/os-release");
        ReadFile("kernel-cmdline.txt", "/proc/cmdline");
        yield return Next(cancel);
        Command("ip-addr.txt", "ip", ["-d", "addr"], "iproute2");
        yield return Next(cancel);
        Command("ip-route.txt", "ip", ["route"], "iproute2");
        yield return Next(cancel);
        Command("ip6-route.txt", "ip", ["-6", "route"], "iproute2");
        yield return Next(cancel);
        Command("ip-neigh.txt", "ip", ["neigh"], "iproute2");
        yield return Next(cancel);
        var route = Command("ip-route-get.txt", "ip", ["route", "get", target.ToString()], "iproute2");
        RouteInterface = route is { Ran: true, ExitCode: 0 } && RouteDevice().Match(route.Stdout) is { Success: true } m ? m.Groups[1].Value : null;
        yield return Next(cancel);
        Command("ss.txt", "ss", ["-tanpi", $"( sport = :{port} or dport = :{port} )"], "iproute2");
        yield return Next(cancel);
        archive.AddText(Folder + "sysctl.txt", Sysctls(), "read from /proc/sys: net.ipv4.tcp_*, net.core.[rw]mem_*, net.ipv4.ip_no_pmtu_disc");
        yield return Next(cancel);
        Command("nft-ruleset.txt", "nft", ["list", "ruleset"], "nftables");
        yield return Next(cancel);
        Command("iptables-save.txt", "iptables-save", [], "iptables");
        yield return Next(cancel);
        archive.AddText(Folder + "rdma-modules.txt", Modules(), "read from /proc/modules and /sys/module/*/parameters");
        yield return Next(cancel);
        Command("rdma-link.txt", "rdma", ["link"], "iproute2");
        Command("rdma-dev.txt", "rdma", ["dev"], "iproute2");
        yield return Next(cancel);
        archive.AddText(Folder + "iwpmd.txt", Iwpmd(cancel), "/proc/*/comm and systemctl status iwpmd");
        yield return Next(cancel);
        if (RouteInterface is { } dev)
        {
            Command("ethtool-i.txt", "ethtool", ["-i", dev], "ethtool");
            Command("ethtool-k.txt", "ethtool", ["-k", dev], "ethtool");
        }
        else
        {
            foreach (string name in new[] { "ethtool-i.txt", "ethtool-k.txt" })
            {
                NotCollected(name, "ethtool", "the route's interface is unknown (ip route get gave none)");
            }
        }
        yield return Next(cancel);
    }

    private static bool Next(CancellationToken cancel)
    {
        cancel.ThrowIfCancellationRequested();
        return true;
    }

    private HostCommandResult Command(string file, string tool, IReadOnlyList<string> arguments, string? package = null)
    {
        var result = HostCommand.Run(tool, arguments, timeout, package);
        _log.Append("$ ").AppendLine(result.CommandLine);
        _log.AppendLine(result.Ran
            ? $"  exit {result.ExitCode} after {result.Elapsed.TotalMilliseconds:0} ms"
            : $"  not run: {result.Problem}");
        if (result.Stderr.Length > 0)
        {
            foreach (string line in result.Stderr.TrimEnd().Split('\n'))
            {
                _log.Append("  stderr: ").AppendLine(line);
            }
        }
        if (!result.Ran)
        {
            NotCollected(file, result.CommandLine, result.Problem!, result.Stdout);
            return result;
        }
        if (result.ExitCode != 0)
        {
            _missing.Add($"{Folder}{file}: `{result.CommandLine}` exited {result.ExitCode}{FirstLine(result.Stderr)}");
        }
        archive.AddText(Folder + file, result.Stdout, $"{result.CommandLine} (exit {result.ExitCode})");
        return result;
    }

    private void NotCollected(string file, string what, string why, string partial = "")
    {
        _missing.Add($"{Folder}{file}: {why}");
        archive.AddText(Folder + file, $"not collected: {why}\n{partial}", $"{what} (not collected)");
    }

    private static string FirstLine(string stderr) =>
        stderr.Trim().Split('\n')[0] is { Length: > 0 } line ? $": {line.Trim()}" : "";

    private void ReadFile(string file, string path)
    {
        try
        {
            archive.AddText(Folder + file, File.ReadAllText(path), $"read from {path}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            NotCollected(file, path, $"{path}: {e.Message}");
        }
    }

    internal static string Sysctls(string root = "/proc/sys")
    {
        var text = new StringBuilder();
        var names = new List<string>();
        string ipv4 = Path.Combine(root, "net/ipv4");
        if (Directory.Exists(ipv4))
        {
            names.AddRange(Directory.GetFiles(ipv4, "tcp_*").Select(f => "net/ipv4/" + Path.GetFileName(f)).Order(StringComparer.Ordinal));
        }
        names.AddRange(["net/ipv4/ip_no_pmtu_disc", "net/core/rmem_default", "net/core/rmem_max", "net/core/wmem_default", "net/core/wmem_max"]);
        foreach (string name in names)
        {
            string key = name.Replace('/', '.');
            try
            {
                text.Append(key).Append(" = ").AppendLine(File.ReadAllText(Path.Combine(root, name)).Trim().Replace('\t', ' '));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                text.Append(key).Append(": unreadable: ").AppendLine(e.Message);
            }
        }
        return text.ToString();
    }

    internal static string Modules(string sysModule = "/sys/module", string procModules = "/proc/modules")
    {
        var text = new StringBuilder("# RDMA-related modules loaded (/proc/modules)\n");
        try
        {
            foreach (string line in File.ReadLines(procModules).Where(l => RdmaModuleName().IsMatch(l.Split(' ')[0])))
            {
                text.AppendLine(line);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            text.AppendLine($"{procModules}: {e.Message}");
        }
        foreach (string module in RdmaModules)
        {
            string parameters = Path.Combine(sysModule, module, "parameters");
            text.AppendLine().AppendLine($"# {module}");
            if (!Directory.Exists(Path.Combine(sysModule, module)))
            {
                text.AppendLine("not loaded");
                continue;
            }
            if (!Directory.Exists(parameters))
            {
                text.AppendLine("loaded, no parameters");
                continue;
            }
            foreach (string file in Directory.GetFiles(parameters).Order(StringComparer.Ordinal))
            {
                string value;
                try
                {
                    value = File.ReadAllText(file).Trim();
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    value = $"unreadable: {e.Message}";
                }
                text.AppendLine($"{Path.GetFileName(file)} = {value}");
            }
        }
        return text.ToString();
    }

    private string Iwpmd(CancellationToken cancel)
    {
        var text = new StringBuilder();
        var pids = new List<string>();
        foreach (string dir in Directory.EnumerateDirectories("/proc").Where(d => Path.GetFileName(d).All(char.IsAsciiDigit)))
        {
            try
            {
                if (File.ReadAllText(Path.Combine(dir, "comm")).Trim() == "iwpmd")
                {
                    pids.Add(Path.GetFileName(dir));
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The process ended while the list was read.
            }
        }
        text.AppendLine(pids.Count > 0
            ? $"iwpmd running: pid {string.Join(", ", pids)}"
            : "iwpmd is not running (iWARP port mapping for kernel RNICs needs it: apt-get install rdma-core; systemctl start iwpmd)");
        cancel.ThrowIfCancellationRequested();
        if (HostCommand.Find("systemctl") is not null)
        {
            var status = HostCommand.Run("systemctl", ["status", "--no-pager", "iwpmd"], timeout);
            _log.Append("$ ").AppendLine(status.CommandLine).AppendLine(status.Ran ? $"  exit {status.ExitCode} after {status.Elapsed.TotalMilliseconds:0} ms" : $"  not run: {status.Problem}");
            text.AppendLine().AppendLine($"$ {status.CommandLine} (exit {status.ExitCode?.ToString() ?? status.Problem})").Append(status.Stdout).Append(status.Stderr);
        }
        return text.ToString();
    }

    [GeneratedRegex(@"\bdev (\S+)")]
    private static partial Regex RouteDevice();

    [GeneratedRegex(@"^(ib_|rdma_|iw_|siw$|irdma$|cxgb4$|i40iw$|qedr$|bnxt_re$|mlx[45]_ib$|erdma$)")]
    private static partial Regex RdmaModuleName();
}
