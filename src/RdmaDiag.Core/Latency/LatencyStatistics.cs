namespace RdmaDiag.Latency;

/// <summary>
/// Summary of one series, all in nanoseconds. Percentiles are nearest-rank (<see cref="Percentiles"/>);
/// <see cref="StdDev"/> is the population standard deviation. <see cref="Exact"/> is false when the
/// percentiles came from the histogram (within <see cref="LatencyHistogram.MaxRelativeError"/>).
/// </summary>
public sealed record LatencyStatistics(
    long Count,
    long Min,
    long P50,
    long P90,
    long P99,
    long P999,
    long P9999,
    long Max,
    double Mean,
    double StdDev,
    bool Exact)
{
    public static LatencyStatistics Empty { get; } = new(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, true);

    public static LatencyStatistics FromSamples(ReadOnlySpan<long> samples)
    {
        if (samples.IsEmpty)
        {
            return Empty;
        }
        var sorted = samples.ToArray();
        Array.Sort(sorted);
        double sum = 0;
        foreach (var v in sorted)
        {
            sum += v;
        }
        var mean = sum / sorted.Length;
        double squares = 0;
        foreach (var v in sorted)
        {
            var d = v - mean;
            squares += d * d;
        }
        return new LatencyStatistics(
            sorted.Length,
            sorted[0],
            Percentiles.OfSorted(sorted, 50),
            Percentiles.OfSorted(sorted, 90),
            Percentiles.OfSorted(sorted, 99),
            Percentiles.OfSorted(sorted, 99.9),
            Percentiles.OfSorted(sorted, 99.99),
            sorted[^1],
            mean,
            Math.Sqrt(squares / sorted.Length),
            Exact: true);
    }

    public static LatencyStatistics FromHistogram(LatencyHistogram histogram) =>
        histogram.TotalCount == 0
            ? Empty
            : new LatencyStatistics(
                histogram.TotalCount,
                histogram.Min,
                histogram.ValueAtPercentile(50),
                histogram.ValueAtPercentile(90),
                histogram.ValueAtPercentile(99),
                histogram.ValueAtPercentile(99.9),
                histogram.ValueAtPercentile(99.99),
                histogram.Max,
                histogram.Mean,
                histogram.StdDev,
                Exact: false);
}
