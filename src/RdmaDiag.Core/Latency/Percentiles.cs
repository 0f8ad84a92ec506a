namespace RdmaDiag.Latency;

/// <summary>
/// The percentile definition used everywhere in RdmaDiag: nearest rank. The p-th percentile of N
/// ordered samples is the sample at rank ceil(p/100 * N) (1-based); p = 0 is the minimum. It is always
/// a value that was measured, never an interpolation.
/// </summary>
public static class Percentiles
{
    /// <summary>The percentiles every latency report shows.</summary>
    public static ReadOnlySpan<double> Reported => [50, 90, 99, 99.9, 99.99];

    public static long NearestRank(double percentile, long count)
    {
        if (!(percentile >= 0 && percentile <= 100))
        {
            throw new ArgumentOutOfRangeException(nameof(percentile), percentile, "a percentile lies in [0, 100]");
        }
        if (count <= 0)
        {
            return 0;
        }
        var exact = percentile / 100.0 * count;
        // 99.9 % of 1000 computes as 999.0000000000001 in binary floating point; a product that is an
        // integer up to rounding noise is that integer, not the next rank.
        var rounded = Math.Round(exact);
        var rank = Math.Abs(exact - rounded) <= 1e-9 * Math.Max(1.0, exact) ? rounded : Math.Ceiling(exact);
        return Math.Clamp((long)rank, 1, count);
    }

    /// <summary>Nearest-rank percentile of samples that are already sorted ascending.</summary>
    public static long OfSorted(ReadOnlySpan<long> sorted, double percentile) =>
        sorted.IsEmpty ? 0 : sorted[(int)(NearestRank(percentile, sorted.Length) - 1)];
}
