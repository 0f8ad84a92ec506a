using System.Diagnostics;

namespace RdmaDiag.Wire;

/// <summary>Throughput of one CRC implementation at one buffer size, over every timed round.</summary>
/// <param name="RoundGBps">GB/s (10^9 octets per second) of each round, in measurement order.</param>
public sealed record CrcThroughput(string Implementation, int BufferSize, IReadOnlyList<double> RoundGBps)
{
    public double Median
    {
        get
        {
            var sorted = RoundGBps.Order().ToArray();
            return sorted.Length == 0 ? 0 : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
        }
    }

    public double Min => RoundGBps.Count == 0 ? 0 : RoundGBps.Min();

    public double Max => RoundGBps.Count == 0 ? 0 : RoundGBps.Max();
}

/// <summary>One buffer size: the fast path and the naive loop, measured in alternating rounds of the same run.</summary>
public sealed record CrcBenchmarkRow(int BufferSize, CrcThroughput Fast, CrcThroughput Naive)
{
    public double SpeedUp => Naive.Median > 0 ? Fast.Median / Naive.Median : 0;
}

/// <summary>
/// Measures <see cref="Crc32c.Update"/> against <see cref="Crc32c.UpdateNaive"/> on one thread. Rounds of the
/// two alternate so that load from other processes hits both alike.
/// </summary>
public static class Crc32cBenchmark
{
    public static IReadOnlyList<int> DefaultSizes { get; } = [64, 1024, 64 * 1024];

    /// <summary>
    /// Length of one timed round. Short rounds mostly fit inside one scheduler time slice, so on a shared
    /// machine the upper rounds show the unshared speed while the median shows what the load leaves.
    /// </summary>
    public static readonly TimeSpan RoundLength = TimeSpan.FromMilliseconds(2);

    /// <summary>Fewest rounds per implementation and size, however short the run.</summary>
    public const int MinRounds = 15;

    // Struct type arguments make the JIT specialise the timing loop per implementation, with no
    // delegate call in the way of a 64-octet measurement.
    private interface ICrc
    {
        static abstract uint Update(uint state, ReadOnlySpan<byte> data);
    }

    private readonly struct Fast : ICrc
    {
        public static uint Update(uint state, ReadOnlySpan<byte> data) => Crc32c.Update(state, data);
    }

    private readonly struct Naive : ICrc
    {
        public static uint Update(uint state, ReadOnlySpan<byte> data) => Crc32c.UpdateNaive(state, data);
    }

    /// <param name="perSize">Timed measurement per buffer size, shared by both implementations.</param>
    public static IReadOnlyList<CrcBenchmarkRow> Run(TimeSpan perSize, IReadOnlyList<int>? sizes = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(perSize, TimeSpan.Zero);
        sizes ??= DefaultSizes;
        var buffers = sizes.Select(size =>
        {
            var buffer = new byte[size];
            new Random(size).NextBytes(buffer);
            return buffer;
        }).ToArray();

        // Enough calls (over the 100 ms tiering delay) for tiered compilation to replace the timing loops and
        // both implementations with optimised code before anything is timed.
        long warmUpUntil = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 2;
        uint sink = 0;
        while (Stopwatch.GetTimestamp() < warmUpUntil)
        {
            foreach (var buffer in buffers)
            {
                sink ^= Loop<Fast>(buffer, 4) ^ Loop<Naive>(buffer, 4);
            }
        }

        var rows = new List<CrcBenchmarkRow>();
        foreach (var buffer in buffers)
        {
            int rounds = Math.Max(MinRounds, (int)(perSize / (2 * RoundLength)));
            double roundSeconds = perSize.TotalSeconds / (2 * rounds);
            long fastIterations = Calibrate<Fast>(buffer, roundSeconds, ref sink);
            long naiveIterations = Calibrate<Naive>(buffer, roundSeconds, ref sink);
            var fast = new List<double>(rounds);
            var naive = new List<double>(rounds);
            for (int round = 0; round < rounds; round++)
            {
                fast.Add(Measure<Fast>(buffer, fastIterations, ref sink));
                naive.Add(Measure<Naive>(buffer, naiveIterations, ref sink));
            }
            rows.Add(new CrcBenchmarkRow(buffer.Length,
                new CrcThroughput("fast", buffer.Length, fast), new CrcThroughput("naive", buffer.Length, naive)));
        }
        GC.KeepAlive(sink);
        return rows;
    }

    /// <summary>Iterations that take about <paramref name="seconds"/>.</summary>
    private static long Calibrate<T>(byte[] buffer, double seconds, ref uint sink)
        where T : struct, ICrc
    {
        long iterations = 1;
        while (true)
        {
            long start = Stopwatch.GetTimestamp();
            sink ^= Loop<T>(buffer, iterations);
            double elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
            if (elapsed >= Math.Min(seconds, 0.002) || iterations >= 1L << 40)
            {
                return Math.Max(1, (long)(iterations * seconds / elapsed));
            }
            iterations *= 4;
        }
    }

    private static double Measure<T>(byte[] buffer, long iterations, ref uint sink)
        where T : struct, ICrc
    {
        long start = Stopwatch.GetTimestamp();
        sink ^= Loop<T>(buffer, iterations);
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        return buffer.Length * (double)iterations / seconds / 1e9;
    }

    // Each call starts from the previous register so the calls form one dependency chain, as a CRC carried
    // across a stream's segments would.
    private static uint Loop<T>(byte[] buffer, long iterations)
        where T : struct, ICrc
    {
        uint state = Crc32c.Seed;
        for (long i = 0; i < iterations; i++)
        {
            state = T.Update(state, buffer);
        }
        return state;
    }
}
