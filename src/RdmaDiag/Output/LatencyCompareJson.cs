using System.Text.Json;
using RdmaDiag.Latency;

namespace RdmaDiag.Cli.Output;

/// <summary>
/// `compare --json`: both paths with their notes, then one row per mode and size holding each path's
/// series (as in `latency --json`) and the B/A ratios of p50, p99 and p99.9 (null when a side is 0).
/// </summary>
internal static class LatencyCompareJson
{
    public static void Write(TextWriter output, LatencyComparison comparison, string? svgPath) =>
        LatencyJson.WriteDocument(output, json =>
        {
            WritePath(json, "a", comparison.A);
            WritePath(json, "b", comparison.B);
            LatencyJson.WriteSettings(json, comparison.Settings);
            LatencyJson.WriteOverhead(json, comparison.Overhead);
            json.WriteString("ratio_definition", "b / a");
            json.WriteStartArray("rows");
            foreach (var row in comparison.Rows)
            {
                json.WriteStartObject();
                json.WriteString("mode", row.Mode);
                json.WriteNumber("size", row.Size);
                foreach (var (name, series) in new[] { ("a", row.A), ("b", row.B) })
                {
                    json.WriteStartObject(name);
                    LatencyJson.WriteSeries(json, series);
                    json.WriteEndObject();
                }
                json.WriteStartObject("ratio");
                Ratio(json, "p50", row.RatioP50);
                Ratio(json, "p99", row.RatioP99);
                Ratio(json, "p99_9", row.RatioP999);
                json.WriteEndObject();
                json.WriteEndObject();
            }
            json.WriteEndArray();
            if (svgPath is not null)
            {
                json.WriteString("svg", svgPath);
            }
        });

    private static void WritePath(Utf8JsonWriter json, string name, ComparedPath path)
    {
        json.WriteStartObject(name);
        json.WriteString("spec", path.Path.Spec);
        json.WriteString("kind", path.Path.Kind.ToString().ToLowerInvariant());
        if (path.Path.Host is not null)
        {
            json.WriteString("host", path.Path.Host);
        }
        LatencyJson.WriteNotes(json, "notes", path.Notes);
        json.WriteEndObject();
    }

    private static void Ratio(Utf8JsonWriter json, string name, double? ratio)
    {
        if (ratio is { } r)
        {
            json.WriteNumber(name, Math.Round(r, 3));
        }
        else
        {
            json.WriteNull(name);
        }
    }
}
