using FsCheck;
using FsCheck.Fluent;
using RdmaDiag.Latency;

namespace RdmaDiag.Tests.Latency;

public class HistogramTests
{
    [Fact]
    public void Histogram_ValuesBelow256_AreCountedExactly()
    {
        var h = new LatencyHistogram();
        for (long v = 0; v < 256; v++)
        {
            h.Record(v);
        }

        Assert.Equal(256, h.Buckets().Count());
        Assert.All(h.Buckets(), b => Assert.Equal(b.Low, b.High));
        Assert.Equal(127, h.ValueAtPercentile(50));
    }

    [Fact]
    public void Histogram_Buckets_TileEveryLongWithoutGapsOrOverlap()
    {
        for (var i = 1; i < LatencyHistogram.BucketCount; i++)
        {
            Assert.Equal(LatencyHistogram.HighestValue(i - 1) + 1, LatencyHistogram.LowestValue(i));
        }
        Assert.Equal(long.MaxValue, LatencyHistogram.HighestValue(LatencyHistogram.BucketCount - 1));
        Assert.Equal(LatencyHistogram.BucketCount - 1, LatencyHistogram.IndexOf(long.MaxValue));
    }

    [Fact]
    public void Histogram_EveryBucketRepresentative_IsWithinTheStatedRelativeError()
    {
        for (var i = 1; i < LatencyHistogram.BucketCount; i++)
        {
            var low = LatencyHistogram.LowestValue(i);
            var high = LatencyHistogram.HighestValue(i);
            var rep = LatencyHistogram.Representative(i);
            Assert.True((double)(rep - low) / low <= LatencyHistogram.MaxRelativeError, $"bucket {i} [{low},{high}] low end");
            Assert.True((double)(high - rep) / high <= LatencyHistogram.MaxRelativeError, $"bucket {i} [{low},{high}] high end");
        }
        Assert.True(LatencyHistogram.MaxRelativeError <= 0.01);
    }

    [Fact]
    public void Histogram_RandomValues_RecordedValueMapsBackWithinOnePercent()
    {
        // Values spread log-uniformly over 1 ns .. 2^62 ns: the record/report round trip of each one.
        var values = Gen.Choose(0, 61).SelectMany(bits => Gen.Choose(0, int.MaxValue).Select(r => Math.Max(1L, (long)(Math.Pow(2, bits) * (1 + r / (double)int.MaxValue)) )));
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(2000), Prop.ForAll(values.ToArbitrary(), v =>
        {
            var rep = LatencyHistogram.Representative(LatencyHistogram.IndexOf(v));
            return Math.Abs((double)rep - v) / v <= LatencyHistogram.MaxRelativeError;
        }));
    }

    [Fact]
    public void Histogram_RandomSamples_PercentilesWithinOnePercentOfExactNearestRank()
    {
        var sample = Gen.Choose(1, 400).SelectMany(n =>
            Gen.ArrayOf(Gen.Choose(0, 40).SelectMany(bits => Gen.Choose(0, 1 << 20).Select(r => (long)((1L << bits) + ((long)r << bits >> 20)))), n));
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(300), Prop.ForAll(sample.ToArbitrary(), values =>
        {
            var h = new LatencyHistogram();
            foreach (var v in values)
            {
                h.Record(v);
            }
            var sorted = values.OrderBy(v => v).ToArray();
            foreach (var p in new[] { 0.0, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100 })
            {
                var exact = Percentiles.OfSorted(sorted, p);
                var approx = h.ValueAtPercentile(p);
                if (Math.Abs(approx - exact) > exact * LatencyHistogram.MaxRelativeError)
                {
                    return false;
                }
            }
            return h.Min == sorted[0] && h.Max == sorted[^1] && h.TotalCount == values.Length;
        }));
    }

    [Fact]
    public void Histogram_MeanAndStdDev_MatchTheExactSampleStatistics()
    {
        var random = new Random(11);
        var values = Enumerable.Range(0, 50_000).Select(_ => 1_000_000L + random.NextInt64(0, 2_000)).ToArray();
        var h = new LatencyHistogram();
        foreach (var v in values)
        {
            h.Record(v);
        }

        var exact = LatencyStatistics.FromSamples(values);

        Assert.Equal(exact.Mean, h.Mean, 6);
        Assert.Equal(exact.StdDev, h.StdDev, 6);
    }

    [Fact]
    public void Histogram_Add_EqualsRecordingBothSets()
    {
        var a = new LatencyHistogram();
        var b = new LatencyHistogram();
        var both = new LatencyHistogram();
        var random = new Random(3);
        for (var i = 0; i < 5000; i++)
        {
            var v = random.NextInt64(100, 10_000_000);
            (i % 3 == 0 ? a : b).Record(v);
            both.Record(v);
        }

        a.Add(b);

        Assert.Equal(both.Buckets(), a.Buckets());
        Assert.Equal((both.Min, both.Max, both.TotalCount), (a.Min, a.Max, a.TotalCount));
        Assert.Equal(both.Mean, a.Mean, 6);
        Assert.Equal(both.StdDev, a.StdDev, 3);
    }

    [Fact]
    public void Histogram_NegativeValue_IsRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new LatencyHistogram().Record(-1));
    }
}
