using System.Diagnostics;
using RdmaDiag.Endpoint;

namespace RdmaDiag.Latency;

/// <summary>
/// Waits for the last octet of a registered buffer to change, as ib_write_lat polls: the peer's RDMA
/// Write is placed by the connection's receive thread, and its last octet lands last (TCP delivers
/// the segments in order). With busy-poll the loop never gives up the CPU; without, it yields between
/// looks (sched_yield) so the receive thread can run when both share a core.
/// </summary>
internal static class LastOctetPoller
{
    /// <summary>Empty looks between two reads of the clock (a dead peer is noticed within a few ms).</summary>
    private const int ClockEvery = 1024;

    /// <summary>
    /// Returns the octet once it differs from <paramref name="previous"/>, or -1 when
    /// <paramref name="watchCompletions"/> is set and a completion arrived first (in <paramref name="completion"/>).
    /// Throws the connection's error once it fails, and <see cref="TimeoutException"/> after <paramref name="timeoutTicks"/>.
    /// </summary>
    public static int WaitForChange(byte[] buffer, byte previous, IwarpConnection connection, bool busyPoll, long timeoutTicks,
        bool watchCompletions, out Completion completion)
    {
        ref byte last = ref buffer[^1];
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
            if (watchCompletions && connection.TryPollCompletion(out completion))
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
            if (connection.Error is { } error)
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
                throw new TimeoutException(
                    $"write: the last octet of the {buffer.Length}-octet region stayed 0x{previous:X2} for {timeoutTicks * 1000 / Stopwatch.Frequency} ms; the peer's RDMA Write did not arrive ({connection.BytesReceived} octets received so far)");
            }
        }
    }
}
