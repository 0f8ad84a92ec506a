using System.Globalization;
using System.Net;
using System.Net.Sockets;
using RdmaDiag.Diagnostics.Check;
using RdmaDiag.Latency;

namespace RdmaDiag.Diagnostics.Bundle;

/// <summary>
/// Renders a latency report into bundle files. The JSON and SVG writers live with the CLI's output code,
/// so the CLI hands them in; without one the bundle keeps the percentile table in SUMMARY.txt only.
/// </summary>
public interface ILatencyReportFormat
{
    void WriteJson(Stream stream, LatencyReport report);

    void WriteSvg(Stream stream, LatencyReport report);
}

/// <summary>What <c>rdmadiag bundle</c> collects and where the archive goes.</summary>
public sealed record BundleOptions
{
    /// <summary>The message sizes of the latency run: one small message and one page.</summary>
    public static IReadOnlyList<int> LatencySizes { get; } = [64, 4096];

    public const int DefaultLatencyIterations = 2000;

    /// <summary>The check to run; its Host and Port are the bundle's.</summary>
    public required CheckOptions Check { get; init; }

    /// <summary>The archive path; null for <see cref="DefaultFileName"/> in the current directory.</summary>
    public string? OutputPath { get; init; }

    public bool Latency { get; init; } = true;

    /// <summary>Measured iterations per mode and size (ignored when <see cref="LatencyDuration"/> is set).</summary>
    public long LatencyIterations { get; init; } = DefaultLatencyIterations;

    public TimeSpan? LatencyDuration { get; init; }

    /// <summary>The host's tcp echo responder (serve --soft: 18515).</summary>
    public int LatencyTcpPort { get; init; } = LatencyResponder.DefaultPort;

    /// <summary>The host's soft iWARP latency responder (serve --soft: 18516).</summary>
    public int LatencySoftPort { get; init; } = SoftLatencyProtocol.DefaultPort;

    /// <summary>Captures the user already has, copied in and decoded.</summary>
    public IReadOnlyList<string> ExtraCaptures { get; init; } = [];

    /// <summary>Replace IP and MAC addresses in the text files with stable placeholders.</summary>
    public bool Redact { get; init; }

    /// <summary>How long one environment command may run before it is killed.</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>What `rdmadiag --version` prints, recorded in the bundle.</summary>
    public string ToolVersion { get; init; } = "unknown";

    public ILatencyReportFormat? LatencyFormat { get; init; }

    public string Host => Check.Host;

    public int Port => Check.Port;

    /// <summary><c>rdmadiag-bundle-HOST-YYYYmmdd-HHMMSS.tar.gz</c>, with HOST reduced to characters safe in any file name.</summary>
    public static string DefaultFileName(string host, DateTime localTime)
    {
        string safe = string.Concat(host.Trim().Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '_'));
        return $"rdmadiag-bundle-{safe}-{localTime.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}.tar.gz";
    }

    /// <summary>
    /// Checks everything the user gave before anything runs: the port, the check's options, the host (it must
    /// resolve), the extra captures (they must exist). Returns the address the check will probe.
    /// </summary>
    public IPAddress Validate()
    {
        Check.Validate();
        foreach (var (port, option) in new[] { (LatencyTcpPort, "--latency-tcp-port"), (LatencySoftPort, "--latency-soft-port") })
        {
            if (port is < 1 or > 65535)
            {
                throw new UserInputException($"{option} {port} is out of range; expected a TCP port from 1 to 65535");
            }
        }
        if (LatencyIterations < 1)
        {
            throw new UserInputException($"--iterations {LatencyIterations} is out of range; expected at least 1");
        }
        if (LatencyDuration is { } duration && !(duration > TimeSpan.Zero && duration <= TimeSpan.FromMinutes(10)))
        {
            throw new UserInputException($"--duration {duration.TotalSeconds.ToString(CultureInfo.InvariantCulture)} is out of range; expected more than 0 and at most 600 seconds per mode and size");
        }
        foreach (string pcap in ExtraCaptures)
        {
            if (Directory.Exists(pcap) || !File.Exists(pcap))
            {
                throw new UserInputException($"--pcap '{pcap}': no such file; expected an existing pcap or pcapng capture");
            }
        }
        return Resolve(Check.Host, Check.Timeouts.Resolve);
    }

    /// <summary>The check's own rule: an address literal as given, else the first IPv4 address of the name, else the first address.</summary>
    public static IPAddress Resolve(string hostText, TimeSpan timeout)
    {
        string host = hostText.Trim().TrimStart('[').TrimEnd(']');
        if (IPAddress.TryParse(host, out IPAddress? literal))
        {
            return literal;
        }
        Task<IPAddress[]> lookup = Dns.GetHostAddressesAsync(host);
        try
        {
            if (!lookup.Wait(timeout))
            {
                throw new UserInputException($"HOST '{hostText}' did not resolve within {timeout.TotalSeconds:0.#} s (is a DNS server reachable?); give an IP address or a name in /etc/hosts");
            }
        }
        catch (AggregateException e) when (e.InnerException is SocketException or ArgumentException)
        {
            throw new UserInputException($"HOST '{hostText}' does not resolve ({e.InnerException.Message}); expected a host name or an IP address of the server");
        }
        IPAddress[] addresses = lookup.Result;
        return addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses.FirstOrDefault()
            ?? throw new UserInputException($"HOST '{hostText}' does not resolve (no address); expected a host name or an IP address of the server");
    }
}
