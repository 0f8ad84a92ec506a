using System.Diagnostics;
using RdmaDiag.Endpoint;
using RdmaDiag.Verbs;

namespace RdmaDiag.Latency;

/// <summary>
/// Waits for the last octet of a registered region to change, as ib_write_lat polls: the peer's RDMA
/// Write is placed by the soft connection's receive thread or by the RNIC (siw's kernel thread), and
/// its last octet lands last (placement follows the stream's order). With busy-poll the loop never
/// gives up the CPU; without, it yields between looks (sched_yield) so the placing thread can run when
/// both share a core.
/// </summary>
internal static class LastOctetPoller
{
    /// <summary>Empty looks between two reads of the clock (a dead peer is noticed within a few ms).</summary>
    private const int ClockEvery = 1024;

    /// <summary>
    /// Returns the octet once it differs from <paramref name="previous"/>, or -1 when
    /// <paramref name="watchCompletions"/> is set and a completion arrived first (in <paramref name="completion"/>).
    /// Throws the transport's error once it fails, and <see cref="TimeoutException"/> after <paramref name="timeoutTicks"/>.
    /// </summary>
    public static int WaitForChange(TransportRegion region, byte previous, IRdmaTransport transport, bool busyPoll, long timeoutTicks,
        bool watchCompletions, out Completion completion)
    {
        // The soft endpoint polls its completion queue without a call into the transport interface;
        // verbs polls its CQ only every ClockEvery looks (a zero-timeout wait), where a miss costs an exception.
        var soft = (transport as SoftTransport)?.Connection;
        ref byte last = ref region.Span[^1];
        long deadline = 0;
        var looks = 0;
        while (true)
        {
            var now = Volatile.Read(ref last);
            if (now != previous)
            {
                completion = default;
                return now;
            }
            if (watchCompletions && soft is not null && soft.TryPollCompletion(out completion))
            {
                return -1;
            }
            if (!busyPoll)
            {
                Thread.Yield();
            }
            if (++looks % ClockEvery != 0)
            {
                continue;
            }
            if (watchCompletions && soft is null && TryPoll(transport, out completion))
            {
                return -1;
            }
            if (transport.Error is { } error)
            {
                throw error;
            }
            var ticks = Stopwatch.GetTimestamp();
            if (deadline == 0)
            {
                deadline = ticks + timeoutTicks;
            }
            else if (ticks > deadline)
            {
                var received = soft is null ? "" : $" ({soft.BytesReceived} octets received so far)";
                throw new TimeoutException(
                    $"write: the last octet of the {region.Length}-octet region stayed 0x{previous:X2} for {timeoutTicks * 1000 / Stopwatch.Frequency} ms; the peer's RDMA Write did not arrive{received}");
            }
        }
    }

    private static bool TryPoll(IRdmaTransport transport, out Completion completion)
    {
        try
        {
            completion = transport.WaitForCompletion(TimeSpan.Zero);
            return true;
        }
        catch (IwarpException e) when (e.Kind == IwarpErrorKind.Stall)
        {
            completion = default;
            return false;
        }
    }
}
