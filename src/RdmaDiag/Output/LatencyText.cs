using System.Globalization;
using RdmaDiag.Latency;

namespace RdmaDiag.Cli.Output;

/// <summary>The latency report as a table: one row per mode, variant and size, all percentiles, in µs.</summary>
internal static class LatencyText
{
    public static void Write(TextWriter output, LatencyReport report)
    {
        output.WriteLine($"latency {report.Mode}: {RunLine(report.Settings)}");
        output.WriteLine(OverheadLine(report.Overhead));
        foreach (var note in report.Notes)
        {
            output.WriteLine($"  {note}");
        }
        output.WriteLine();

        var table = new TextTable("mode", "variant", "size", "metric", "count", "dropped",
            "min", "p50", "p90", "p99", "p99.9", "p99.99", "max", "mean", "stddev")
            .AlignRight(2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14);
        foreach (var series in report.Series)
        {
            var st = series.Statistics;
            table.Add(series.Mode, series.Variant.Length == 0 ? "-" : series.Variant, series.Size.ToString(CultureInfo.InvariantCulture),
                series.Metric, st.Count.ToString(CultureInfo.InvariantCulture), series.Dropped.ToString(CultureInfo.InvariantCulture),
                Micro(st.Min), Micro(st.P50), Micro(st.P90), Micro(st.P99), Micro(st.P999), Micro(st.P9999), Micro(st.Max),
                Micro(st.Mean), Micro(st.StdDev));
        }
        table.Write(output);
        output.WriteLine("times in µs; percentiles are nearest-rank" +
            (report.Series.Any(x => !x.Statistics.Exact) ? $"; rows over {LatencyRecorder.DefaultMaxKeptSamples} samples come from the histogram (±{LatencyHistogram.MaxRelativeError:P2})" : "; every sample kept"));
    }

    /// <summary>"10000 iterations per size after 500 warm-up, blocking, unpinned[, CRC required]".</summary>
    public static string RunLine(LatencyRunSettings s)
    {
        var amount = s.Duration is { } d ? $"{d.TotalSeconds:0.###} s per size" : $"{s.Iterations} iterations per size";
        return $"{amount} after {s.Warmup} warm-up, {(s.BusyPoll ? "busy-poll" : "blocking")}, {(s.Cpu is { } cpu ? $"CPU {cpu}" : "unpinned")}{(s.Crc ? ", CRC required" : "")}";
    }

    public static string OverheadLine(MeasurementOverhead o) =>
        string.Create(CultureInfo.InvariantCulture,
            $"overhead: Stopwatch read {o.TimerNs:0} ns, empty measured iteration {o.LoopNs:0.#} ns, clock_gettime(CLOCK_REALTIME) {o.RealtimeClockNs:0} ns (medians of {o.Iterations})");

    public static string Micro(double nanoseconds) => (nanoseconds / 1000).ToString("0.00", CultureInfo.InvariantCulture);
}
