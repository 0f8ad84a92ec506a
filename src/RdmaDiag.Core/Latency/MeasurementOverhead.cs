using System.Diagnostics;

namespace RdmaDiag.Latency;

/// <summary>
/// What measuring costs on this host, reported with every run so a reader can tell the floor from the
/// path: the Stopwatch read itself, one empty measured iteration of a sampler loop, and the
/// clock_gettime(CLOCK_REALTIME) that rx-stamp adds after recvmsg. All medians, in nanoseconds.
/// </summary>
public sealed record MeasurementOverhead(double TimerNs, double LoopNs, double RealtimeClockNs, int Iterations)
{
    public static MeasurementOverhead Measure(int iterations = 100_000)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(iterations, 16);
        // One pass to let the JIT settle on optimised code, one to keep.
        Once(iterations / 8);
        return Once(iterations);
    }

    private static MeasurementOverhead Once(int iterations)
    {
        var stamps = new long[iterations];
        for (var i = 0; i < stamps.Length; i++)
        {
            stamps[i] = Stopwatch.GetTimestamp();
        }
        var deltas = new long[iterations - 1];
        for (var i = 1; i < stamps.Length; i++)
        {
            deltas[i - 1] = Clocks.TicksToNanoseconds(stamps[i] - stamps[i - 1]);
        }
        var timer = Median(deltas);

        // An empty iteration shaped like a sampler's: two timestamps and a record, timed from outside.
        var recorder = new LatencyRecorder(iterations);
        var loops = new long[32];
        var perLoop = iterations / loops.Length;
        for (var l = 0; l < loops.Length; l++)
        {
            var start = Stopwatch.GetTimestamp();
            for (var i = 0; i < perLoop; i++)
            {
                var t0 = Stopwatch.GetTimestamp();
                var t1 = Stopwatch.GetTimestamp();
                recorder.Record(Clocks.TicksToNanoseconds(t1 - t0));
            }
            loops[l] = Clocks.TicksToNanoseconds(Stopwatch.GetTimestamp() - start);
        }
        var loop = (double)Median(loops) / perLoop;

        var real = new long[Math.Min(iterations, 20_000)];
        for (var i = 0; i < real.Length; i++)
        {
            real[i] = Clocks.RealtimeNanoseconds();
        }
        var realDeltas = new long[real.Length - 1];
        for (var i = 1; i < real.Length; i++)
        {
            realDeltas[i - 1] = real[i] - real[i - 1];
        }
        return new MeasurementOverhead(timer, loop, Median(realDeltas), iterations);
    }

    private static long Median(long[] values)
    {
        Array.Sort(values);
        return Percentiles.OfSorted(values, 50);
    }
}
