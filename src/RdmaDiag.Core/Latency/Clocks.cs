using System.Diagnostics;
using RdmaDiag.Native;

namespace RdmaDiag.Latency;

/// <summary>
/// The two clocks a latency run reads. Intervals measured by this process use the monotonic
/// <see cref="Stopwatch"/>; kernel packet timestamps are CLOCK_REALTIME and are only ever compared with
/// <see cref="RealtimeNanoseconds"/>.
/// </summary>
public static class Clocks
{
    private static readonly double NanosecondsPerTick = 1e9 / Stopwatch.Frequency;

    public static long TicksToNanoseconds(long ticks) =>
        Stopwatch.Frequency == 1_000_000_000 ? ticks : (long)(ticks * NanosecondsPerTick);

    public static unsafe long RealtimeNanoseconds()
    {
        Interop.Libc.Timespec ts;
        if (Interop.Libc.clock_gettime(Interop.Libc.CLOCK_REALTIME, &ts) != 0)
        {
            throw Interop.Libc.LastError("clock_gettime(CLOCK_REALTIME)");
        }
        return ts.TotalNanoseconds;
    }

    public static unsafe long MonotonicNanoseconds()
    {
        Interop.Libc.Timespec ts;
        if (Interop.Libc.clock_gettime(Interop.Libc.CLOCK_MONOTONIC, &ts) != 0)
        {
            throw Interop.Libc.LastError("clock_gettime(CLOCK_MONOTONIC)");
        }
        return ts.TotalNanoseconds;
    }
}
