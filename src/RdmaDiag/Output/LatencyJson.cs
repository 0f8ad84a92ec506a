using System.Text;
using System.Text.Json;
using RdmaDiag.Latency;

namespace RdmaDiag.Cli.Output;

/// <summary>The latency report as JSON; times are integer or fractional nanoseconds (fields end in _ns).</summary>
internal static class LatencyJson
{
    public static void Write(TextWriter output, LatencyReport report, string? svgPath)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            var s = report.Settings;
            json.WriteStartObject();
            json.WriteString("mode", report.Mode);
            if (s.Host is not null)
            {
                json.WriteString("host", s.Host);
            }
            if (s.Duration is { } d)
            {
                json.WriteNumber("duration_s", d.TotalSeconds);
            }
            else
            {
                json.WriteNumber("iterations", s.Iterations);
            }
            json.WriteNumber("warmup", s.Warmup);
            json.WriteBoolean("busy_poll", s.BusyPoll);
            if (s.Cpu is { } cpu)
            {
                json.WriteNumber("cpu", cpu);
            }
            json.WriteString("percentile_definition", "nearest-rank");
            json.WriteStartObject("overhead");
            json.WriteNumber("timer_ns", report.Overhead.TimerNs);
            json.WriteNumber("loop_ns", report.Overhead.LoopNs);
            json.WriteNumber("clock_realtime_ns", report.Overhead.RealtimeClockNs);
            json.WriteEndObject();
            json.WriteStartArray("notes");
            foreach (var note in report.Notes)
            {
                json.WriteStringValue(note);
            }
            json.WriteEndArray();
            json.WriteStartArray("series");
            foreach (var series in report.Series)
            {
                var st = series.Statistics;
                json.WriteStartObject();
                json.WriteString("mode", series.Mode);
                json.WriteString("variant", series.Variant);
                json.WriteNumber("size", series.Size);
                json.WriteString("metric", series.Metric);
                json.WriteNumber("count", st.Count);
                json.WriteNumber("dropped", series.Dropped);
                json.WriteBoolean("exact", st.Exact);
                json.WriteNumber("min_ns", st.Min);
                json.WriteNumber("p50_ns", st.P50);
                json.WriteNumber("p90_ns", st.P90);
                json.WriteNumber("p99_ns", st.P99);
                json.WriteNumber("p99_9_ns", st.P999);
                json.WriteNumber("p99_99_ns", st.P9999);
                json.WriteNumber("max_ns", st.Max);
                json.WriteNumber("mean_ns", Math.Round(st.Mean, 1));
                json.WriteNumber("stddev_ns", Math.Round(st.StdDev, 1));
                json.WriteEndObject();
            }
            json.WriteEndArray();
            if (svgPath is not null)
            {
                json.WriteString("svg", svgPath);
            }
            json.WriteEndObject();
        }
        output.WriteLine(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
    }
}
