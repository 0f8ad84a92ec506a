using RdmaDiag.Diagnostics.Devices;

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
/// The --verbs transport's gate. Its measurement arrives in a later version; until then --verbs says,
/// from the `devices` report, why there is no device to measure on, or that the device is there and
/// only --soft is measured by this build.
/// </summary>
public static class VerbsTransport
{
    /// <exception cref="LatencyUnavailableException">always: the reason, in one line.</exception>
    /// <exception cref="UserInputException">a device was named that does not exist while others do.</exception>
    public static void ThrowUnavailable(string? device) =>
        throw Unavailable(DeviceReportBuilder.Build(HostSource.Live, RdmaUserspace.Instance), device);

    /// <summary>The exception <see cref="ThrowUnavailable"/> throws for <paramref name="report"/>.</summary>
    public static Exception Unavailable(DevicesReport report, string? device)
    {
        var what = device is null ? "--verbs" : $"verbs:{device}";
        if (report.Devices.Count == 0)
        {
            var why = report.Problems.Count > 0 ? report.Problems[0].Message : "no RDMA device is visible (rdmadiag devices shows why)";
            return new LatencyUnavailableException($"{what}: no RDMA device: {why}; measure over the userspace endpoint with --soft instead");
        }
        var names = string.Join(", ", report.Devices.Select(d => $"{d.Name} ({d.Driver})"));
        if (device is not null && report.Devices.All(d => d.Name != device))
        {
            return new UserInputException($"{what}: no RDMA device named '{device}'; this host has {names}");
        }
        return new LatencyUnavailableException($"{what}: this build measures latency over the userspace endpoint only (--soft); the verbs transport for {names} is not in it yet");
    }
}
