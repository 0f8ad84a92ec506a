using RdmaDiag.Diagnostics.Devices;
using RdmaDiag.Verbs;

namespace RdmaDiag.Latency;

/// <summary>Where the RDMA latency modes run: RdmaDiag's userspace iWARP endpoint, or a verbs device.</summary>
public enum RdmaTransport
{
    Soft,
    Verbs,
}

/// <summary>
/// The environment lacks what a run needs (an RDMA device for --verbs). The CLI prints the message as
/// one line and exits 3.
/// </summary>
public sealed class LatencyUnavailableException(string message) : Exception(message);

/// <summary>
/// The --verbs transport's gate: before a run (compare checks both paths before measuring either) and
/// when rdma_cm finds no device, it says from the `devices` report why there is nothing to measure on.
/// </summary>
public static class VerbsTransport
{
    /// <exception cref="LatencyUnavailableException">this host has no RDMA device.</exception>
    /// <exception cref="UserInputException">a device was named that does not exist while others do.</exception>
    public static void CheckAvailable(string? device)
    {
        if (Unavailable(DeviceReportBuilder.Build(HostSource.Live, RdmaUserspace.Instance), device) is { } failure)
        {
            throw failure;
        }
    }

    /// <summary>Why <paramref name="report"/> leaves nothing to measure <paramref name="device"/> (or any device) on; null when it is there.</summary>
    public static Exception? Unavailable(DevicesReport report, string? device)
    {
        var what = device is null ? "--verbs" : $"verbs:{device}";
        if (report.Devices.Count == 0)
        {
            var why = report.Problems.Count > 0 ? report.Problems[0].Message : "no RDMA device is visible (rdmadiag devices shows why)";
            return new LatencyUnavailableException($"{what}: no RDMA device: {why}; measure over the userspace endpoint with --soft instead");
        }
        if (device is not null && report.Devices.All(d => d.Name != device))
        {
            var names = string.Join(", ", report.Devices.Select(d => $"{d.Name} ({d.Driver})"));
            return new UserInputException($"{what}: no RDMA device named '{device}'; this host has {names}");
        }
        return null;
    }

    /// <summary>rdma_cm's refusal (no rdma-core, no RDMA kernel, no device on the route) as the exit-3 failure.</summary>
    public static LatencyUnavailableException Unavailable(VerbsUnavailableException e, string? device) =>
        new($"{(device is null ? "--verbs" : $"verbs:{device}")}: {e.Message}; measure over the userspace endpoint with --soft instead");
}
