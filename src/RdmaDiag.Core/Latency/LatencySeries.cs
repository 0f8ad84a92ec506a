namespace RdmaDiag.Latency;

/// <summary>
/// One measured series: a mode (and variant) at one message size. <see cref="Metric"/> says what a
/// sample is: "rtt/2" (half a round trip, as perftest and sockperf report) or "kernel→user".
/// </summary>
public sealed record LatencySeries(string Mode, string Variant, int Size, string Metric, LatencyRecorder Recorder)
{
    public LatencyStatistics Statistics { get; } = Recorder.Statistics();

    /// <summary>Iterations that produced no sample: lost datagrams, missing kernel timestamps, clock steps.</summary>
    public long Dropped { get; init; }

    public string Label => Variant.Length == 0 ? $"{Mode} {FormatSize(Size)}" : $"{Mode} {Variant} {FormatSize(Size)}";

    public static string FormatSize(int bytes) => bytes switch
    {
        >= 1 << 20 when bytes % (1 << 20) == 0 => $"{bytes >> 20} MiB",
        >= 1 << 10 when bytes % (1 << 10) == 0 => $"{bytes >> 10} KiB",
        _ => $"{bytes} B",
    };
}

/// <summary>Everything one `rdmadiag latency` run produced.</summary>
public sealed record LatencyReport(
    string Mode,
    LatencyRunSettings Settings,
    MeasurementOverhead Overhead,
    IReadOnlyList<string> Notes,
    IReadOnlyList<LatencySeries> Series);
