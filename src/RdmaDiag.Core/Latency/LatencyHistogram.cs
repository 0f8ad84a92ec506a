using System.Numerics;

namespace RdmaDiag.Latency;

/// <summary>
/// Log-linear histogram of non-negative nanosecond values (HdrHistogram's layout, written here).
/// Values below 256 are counted exactly; above, each power-of-two range [2^m, 2^(m+1)) is split into
/// 128 equal sub-buckets of width 2^(m-7). A bucket is reported by its midpoint, which lies within
/// width/2 = 2^(m-8) of any value in it, so the relative error is at most 2^(m-8)/2^m = 1/256 (0.39 %).
/// Count, min, max, mean and standard deviation are kept exactly beside the buckets.
/// </summary>
public sealed class LatencyHistogram
{
    private const int SubBucketBits = 7;
    private const int SubBucketCount = 1 << SubBucketBits;
    /// <summary>Values below this are their own bucket.</summary>
    private const int LinearLimit = 2 * SubBucketCount;
    private const int FirstLogExponent = SubBucketBits + 1;
    /// <summary>Power-of-two ranges 2^8 .. 2^62 cover every positive long.</summary>
    private const int LogRanges = 63 - FirstLogExponent;

    public const int BucketCount = LinearLimit + LogRanges * SubBucketCount;

    /// <summary>The largest relative difference between a recorded value and the value reported for it.</summary>
    public const double MaxRelativeError = 1.0 / LinearLimit;

    private readonly long[] _counts = new long[BucketCount];
    private long _min = long.MaxValue;
    private long _max = long.MinValue;
    // Sums are taken around the first value (shifted data) so the variance keeps its precision when the
    // spread is small next to the mean.
    private long _shift;
    private double _shiftedSum;
    private double _shiftedSumOfSquares;

    public long TotalCount { get; private set; }

    public long Min => TotalCount == 0 ? 0 : _min;

    public long Max => TotalCount == 0 ? 0 : _max;

    public double Mean => TotalCount == 0 ? 0 : _shift + _shiftedSum / TotalCount;

    /// <summary>Population standard deviation (divides by N).</summary>
    public double StdDev
    {
        get
        {
            if (TotalCount == 0)
            {
                return 0;
            }
            var meanShifted = _shiftedSum / TotalCount;
            var variance = _shiftedSumOfSquares / TotalCount - meanShifted * meanShifted;
            return variance <= 0 ? 0 : Math.Sqrt(variance);
        }
    }

    public void Record(long value) => Record(value, 1);

    public void Record(long value, long count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(value);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (count == 0)
        {
            return;
        }
        if (TotalCount == 0)
        {
            _shift = value;
        }
        _counts[IndexOf(value)] += count;
        TotalCount += count;
        if (value < _min)
        {
            _min = value;
        }
        if (value > _max)
        {
            _max = value;
        }
        double d = value - _shift;
        _shiftedSum += d * count;
        _shiftedSumOfSquares += d * d * count;
    }

    /// <summary>Adds every count of <paramref name="other"/>; min, max, mean and deviation stay exact.</summary>
    public void Add(LatencyHistogram other)
    {
        if (other.TotalCount == 0)
        {
            return;
        }
        if (TotalCount == 0)
        {
            _shift = other._shift;
        }
        for (var i = 0; i < BucketCount; i++)
        {
            _counts[i] += other._counts[i];
        }
        // Re-centre the other's sums on this shift: sum(x - s) = sum(x - s') + n (s' - s).
        double delta = other._shift - _shift;
        double n = other.TotalCount;
        _shiftedSumOfSquares += other._shiftedSumOfSquares + 2 * delta * other._shiftedSum + n * delta * delta;
        _shiftedSum += other._shiftedSum + n * delta;
        TotalCount += other.TotalCount;
        _min = Math.Min(_min, other._min);
        _max = Math.Max(_max, other._max);
    }

    /// <summary>
    /// Nearest-rank percentile: the value of the ceil(p/100 * N)-th smallest sample, reported as its
    /// bucket's midpoint and clamped to the exact min and max.
    /// </summary>
    public long ValueAtPercentile(double percentile)
    {
        if (TotalCount == 0)
        {
            return 0;
        }
        var rank = Percentiles.NearestRank(percentile, TotalCount);
        long seen = 0;
        for (var i = 0; i < BucketCount; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
            {
                return Math.Clamp(Representative(i), _min, _max);
            }
        }
        return _max;
    }

    /// <summary>The non-empty buckets in increasing order: inclusive value range and count.</summary>
    public IEnumerable<HistogramBucket> Buckets()
    {
        for (var i = 0; i < BucketCount; i++)
        {
            if (_counts[i] != 0)
            {
                yield return new HistogramBucket(LowestValue(i), HighestValue(i), _counts[i]);
            }
        }
    }

    internal static int IndexOf(long value)
    {
        if (value < LinearLimit)
        {
            return (int)value;
        }
        var exponent = 63 - BitOperations.LeadingZeroCount((ulong)value);
        var sub = (int)(value >> (exponent - SubBucketBits)) - SubBucketCount;
        return LinearLimit + (exponent - FirstLogExponent) * SubBucketCount + sub;
    }

    internal static long LowestValue(int index)
    {
        if (index < LinearLimit)
        {
            return index;
        }
        var j = index - LinearLimit;
        var exponent = j / SubBucketCount + FirstLogExponent;
        var sub = j % SubBucketCount;
        return (long)(SubBucketCount + sub) << (exponent - SubBucketBits);
    }

    internal static long Width(int index) =>
        index < LinearLimit ? 1 : 1L << ((index - LinearLimit) / SubBucketCount + FirstLogExponent - SubBucketBits);

    internal static long HighestValue(int index) => LowestValue(index) + (Width(index) - 1);

    internal static long Representative(int index) => LowestValue(index) + (Width(index) - 1) / 2;
}

/// <summary>One histogram bucket: every value in [Low, High] (inclusive) was counted here.</summary>
public readonly record struct HistogramBucket(long Low, long High, long Count)
{
    public long Midpoint => Low + (High - Low) / 2;
}
