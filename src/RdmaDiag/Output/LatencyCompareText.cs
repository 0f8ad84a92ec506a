using System.Globalization;
using RdmaDiag.Latency;

namespace RdmaDiag.Cli.Output;

/// <summary>`compare` as a table: per mode and size, p50, p99 and p99.9 of A and B side by side with B/A.</summary>
internal static class LatencyCompareText
{
    public static void Write(TextWriter output, LatencyComparison comparison)
    {
        var s = comparison.Settings;
        output.WriteLine($"compare: A = {comparison.A.Path.Spec}, B = {comparison.B.Path.Spec}; {LatencyText.RunLine(s)}");
        output.WriteLine(LatencyText.OverheadLine(comparison.Overhead));
        foreach (var (name, path) in new[] { ("A", comparison.A), ("B", comparison.B) })
        {
            foreach (var note in path.Notes)
            {
                output.WriteLine($"  {name}: {note}");
            }
        }
        output.WriteLine();

        var table = new TextTable("mode", "size", "A p50", "B p50", "B/A", "A p99", "B p99", "B/A", "A p99.9", "B p99.9", "B/A", "A n", "B n")
            .AlignRight(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12);
        foreach (var row in comparison.Rows)
        {
            var a = row.A.Statistics;
            var b = row.B.Statistics;
            table.Add(row.Mode, row.Size.ToString(CultureInfo.InvariantCulture),
                LatencyText.Micro(a.P50), LatencyText.Micro(b.P50), Ratio(row.RatioP50),
                LatencyText.Micro(a.P99), LatencyText.Micro(b.P99), Ratio(row.RatioP99),
                LatencyText.Micro(a.P999), LatencyText.Micro(b.P999), Ratio(row.RatioP999),
                a.Count.ToString(CultureInfo.InvariantCulture), b.Count.ToString(CultureInfo.InvariantCulture));
        }
        table.Write(output);
        output.WriteLine("times in µs; percentiles are nearest-rank; B/A above 1 means B is slower");
    }

    private static string Ratio(double? ratio) => ratio is { } r ? r.ToString("0.00", CultureInfo.InvariantCulture) + "x" : "-";
}
