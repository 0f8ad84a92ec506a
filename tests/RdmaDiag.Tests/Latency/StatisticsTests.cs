using RdmaDiag.Latency;

namespace RdmaDiag.Tests.Latency;

public class StatisticsTests
{
    [Fact]
    public void NearestRank_DecimalPercentileOfRoundCount_IsNotBumpedByFloatingPointNoise()
    {
        Assert.Equal(999, Percentiles.NearestRank(99.9, 1000));
        Assert.Equal(9999, Percentiles.NearestRank(99.99, 10_000));
        Assert.Equal(1000, Percentiles.NearestRank(99.91, 1000));
        Assert.Equal(1, Percentiles.NearestRank(0, 1000));
        Assert.Equal(1000, Percentiles.NearestRank(100, 1000));
    }

    [Fact]
    public void FromSamples_Uniform1To1000_PercentilesAreTheNearestRanks()
    {
        var samples = Enumerable.Range(1, 1000).Select(i => (long)i).Reverse().ToArray();

        var s = LatencyStatistics.FromSamples(samples);

        Assert.Equal((1000L, 1L, 500L, 900L, 990L, 999L, 1000L, 1000L), (s.Count, s.Min, s.P50, s.P90, s.P99, s.P999, s.P9999, s.Max));
        Assert.Equal(500.5, s.Mean, 9);
        // Population variance of 1..n is (n^2 - 1) / 12.
        Assert.Equal(Math.Sqrt((1000.0 * 1000 - 1) / 12), s.StdDev, 6);
        Assert.True(s.Exact);
    }

    [Fact]
    public void FromSamples_Constant_EveryPercentileIsTheConstantAndStdDevIsZero()
    {
        var s = LatencyStatistics.FromSamples(Enumerable.Repeat(4242L, 777).ToArray());

        Assert.All(new[] { s.Min, s.P50, s.P90, s.P99, s.P999, s.P9999, s.Max }, v => Assert.Equal(4242, v));
        Assert.Equal(4242, s.Mean, 9);
        Assert.Equal(0, s.StdDev, 9);
    }

    [Fact]
    public void FromSamples_TwoPoint90To10_PercentilesSwitchAboveP90()
    {
        // 9000 samples of 1 µs and 1000 of 50 µs, shuffled.
        var samples = Enumerable.Repeat(1_000L, 9000).Concat(Enumerable.Repeat(50_000L, 1000)).ToArray();
        new Random(7).Shuffle(samples);

        var s = LatencyStatistics.FromSamples(samples);

        Assert.Equal((1_000L, 1_000L, 1_000L, 50_000L, 50_000L, 50_000L), (s.Min, s.P50, s.P90, s.P99, s.P999, s.Max));
        Assert.Equal(0.9 * 1_000 + 0.1 * 50_000, s.Mean, 6);
        // Two-point population deviation: |b - a| * sqrt(p (1 - p)) = 49000 * 0.3.
        Assert.Equal(49_000 * 0.3, s.StdDev, 6);
    }

    [Fact]
    public void FromSamples_ExponentialQuantileGrid_MatchesTheDistribution()
    {
        // Deterministic exponential sample: the (i - 0.5)/n quantiles of Exp(mean 10 µs).
        const int n = 100_000;
        const double mean = 10_000;
        var samples = new long[n];
        for (var i = 0; i < n; i++)
        {
            samples[i] = (long)Math.Round(-mean * Math.Log(1 - (i + 0.5) / n));
        }

        var s = LatencyStatistics.FromSamples(samples);

        Assert.InRange(s.P50, mean * Math.Log(2) * 0.999, mean * Math.Log(2) * 1.001);
        Assert.InRange(s.P90, mean * Math.Log(10) * 0.999, mean * Math.Log(10) * 1.001);
        Assert.InRange(s.P99, mean * Math.Log(100) * 0.999, mean * Math.Log(100) * 1.001);
        Assert.InRange(s.P999, mean * Math.Log(1000) * 0.999, mean * Math.Log(1000) * 1.001);
        Assert.InRange(s.Mean, mean * 0.999, mean * 1.001);
        Assert.InRange(s.StdDev, mean * 0.98, mean * 1.02);
    }

    [Fact]
    public void FromSamples_Empty_IsAllZero()
    {
        Assert.Equal(LatencyStatistics.Empty, LatencyStatistics.FromSamples([]));
    }

    [Fact]
    public void SampleBuffer_ManyAdds_KeepsEveryValueInOrder()
    {
        var buffer = new SampleBuffer(initialCapacity: 4);
        for (var i = 0; i < 10_000; i++)
        {
            buffer.Add(i * 3);
        }

        Assert.Equal(10_000, buffer.Count);
        Assert.True(buffer.AsSpan().SequenceEqual(Enumerable.Range(0, 10_000).Select(i => (long)i * 3).ToArray()));
    }

    [Fact]
    public void SampleBuffer_PresizedCapacity_DoesNotGrowWhileFilling()
    {
        var buffer = new SampleBuffer(initialCapacity: 5000);
        for (var i = 0; i < 5000; i++)
        {
            buffer.Add(i);
        }

        Assert.Equal(5000, buffer.Capacity);
    }

    [Fact]
    public void LatencyRecorder_PastTheSampleCap_FallsBackToHistogramStatistics()
    {
        var recorder = new LatencyRecorder(expectedCount: 100, maxKeptSamples: 100);
        for (var i = 1; i <= 1000; i++)
        {
            recorder.Record(i * 1000L);
        }

        var s = recorder.Statistics();

        Assert.False(recorder.KeepsEverySample);
        Assert.False(s.Exact);
        Assert.Equal(1000, s.Count);
        Assert.Equal((1000L, 1_000_000L), (s.Min, s.Max));
        Assert.InRange(s.P50, 500_000 * (1 - LatencyHistogram.MaxRelativeError), 500_000 * (1 + LatencyHistogram.MaxRelativeError));
        Assert.Equal(500_500, s.Mean, 3);
    }

    [Fact]
    public void LatencyRecorder_UnderTheCap_GivesExactStatistics()
    {
        var recorder = new LatencyRecorder();
        foreach (var v in new long[] { 5, 1, 9, 3 })
        {
            recorder.Record(v);
        }

        Assert.True(recorder.KeepsEverySample);
        Assert.Equal(LatencyStatistics.FromSamples([5, 1, 9, 3]), recorder.Statistics());
    }

    [Fact]
    public void MeasurementOverhead_OnThisHost_IsPositiveAndBelowAMillisecond()
    {
        var o = MeasurementOverhead.Measure(20_000);

        Assert.InRange(o.TimerNs, 0, 1_000_000);
        Assert.InRange(o.LoopNs, 1e-3, 1_000_000);
        Assert.InRange(o.RealtimeClockNs, 0, 1_000_000);
    }

    [Fact]
    public void Clocks_Realtime_AgreesWithDateTimeUtcNow()
    {
        var realtime = Clocks.RealtimeNanoseconds();
        var utc = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100;

        Assert.InRange(Math.Abs(utc - realtime), 0, 1_000_000_000);
    }
}
