namespace RdmaDiag.Latency;

/// <summary>
/// Collects one series. Every sample is kept up to <see cref="MaxKeptSamples"/>; past that only the
/// histogram goes on (long duration runs), and the statistics say so.
/// </summary>
public sealed class LatencyRecorder
{
    /// <summary>Eight million samples: 64 MiB, an hour of 2 kHz ping-pong.</summary>
    public const int DefaultMaxKeptSamples = 8 << 20;

    private SampleBuffer? _samples;

    public LatencyRecorder(long expectedCount = 0, int maxKeptSamples = DefaultMaxKeptSamples)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxKeptSamples);
        MaxKeptSamples = maxKeptSamples;
        _samples = new SampleBuffer((int)Math.Clamp(expectedCount, 1024, Math.Max(1024, maxKeptSamples)));
    }

    public int MaxKeptSamples { get; }

    public LatencyHistogram Histogram { get; } = new();

    public long Count => Histogram.TotalCount;

    /// <summary>True while every recorded sample is still held in <see cref="Samples"/>.</summary>
    public bool KeepsEverySample => _samples is not null;

    public ReadOnlySpan<long> Samples => _samples is null ? default : _samples.AsSpan();

    public void Record(long nanoseconds)
    {
        Histogram.Record(nanoseconds);
        if (_samples is not null)
        {
            if (_samples.Count < MaxKeptSamples)
            {
                _samples.Add(nanoseconds);
            }
            else
            {
                _samples = null;
            }
        }
    }

    public LatencyStatistics Statistics() =>
        _samples is not null ? LatencyStatistics.FromSamples(_samples.AsSpan()) : LatencyStatistics.FromHistogram(Histogram);
}
