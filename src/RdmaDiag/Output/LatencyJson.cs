using System.Text;
using System.Text.Json;
using RdmaDiag.Latency;

namespace RdmaDiag.Cli.Output;

/// <summary>The latency report as JSON; times are integer or fractional nanoseconds (fields end in _ns).</summary>
internal static class LatencyJson
{
    public static void Write(TextWriter output, LatencyReport report, string? svgPath) =>
        WriteDocument(output, json =>
        {
            json.WriteString("mode", report.Mode);
            WriteSettings(json, report.Settings);
            WriteOverhead(json, report.Overhead);
            WriteNotes(json, "notes", report.Notes);
            json.WriteStartArray("series");
            foreach (var series in report.Series)
            {
                json.WriteStartObject();
                WriteSeries(json, series);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            if (svgPath is not null)
            {
                json.WriteString("svg", svgPath);
            }
        });

    /// <summary>One indented JSON object, its members written by <paramref name="members"/>, as one block of lines.</summary>
    public static void WriteDocument(TextWriter output, Action<Utf8JsonWriter> members)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            members(json);
            json.WriteEndObject();
        }
        output.WriteLine(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
    }

    /// <summary>host, iterations or duration_s, warmup, busy_poll, cpu, crc and the percentile definition.</summary>
    public static void WriteSettings(Utf8JsonWriter json, LatencyRunSettings s)
    {
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
        if (s.Crc)
        {
            json.WriteBoolean("crc", true);
        }
        json.WriteString("percentile_definition", "nearest-rank");
    }

    public static void WriteOverhead(Utf8JsonWriter json, MeasurementOverhead overhead)
    {
        json.WriteStartObject("overhead");
        json.WriteNumber("timer_ns", overhead.TimerNs);
        json.WriteNumber("loop_ns", overhead.LoopNs);
        json.WriteNumber("clock_realtime_ns", overhead.RealtimeClockNs);
        json.WriteEndObject();
    }

    public static void WriteNotes(Utf8JsonWriter json, string name, IReadOnlyList<string> notes)
    {
        json.WriteStartArray(name);
        foreach (var note in notes)
        {
            json.WriteStringValue(note);
        }
        json.WriteEndArray();
    }

    /// <summary>The members of one series object: what was measured, how many samples, every statistic.</summary>
    public static void WriteSeries(Utf8JsonWriter json, LatencySeries series)
    {
        var st = series.Statistics;
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
    }
}
